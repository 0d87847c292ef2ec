#include "graph/tensor.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "graph/attrs.h"

namespace tfqat {

using tensorflow::DataType;

DataType BaseType(DataType t) {
  int v = static_cast<int>(t);
  return v > 100 ? static_cast<DataType>(v - 100) : t;
}

size_t DataTypeSize(DataType t) {
  switch (BaseType(t)) {
    case tensorflow::DT_FLOAT: case tensorflow::DT_INT32: case tensorflow::DT_UINT32:
    case tensorflow::DT_QINT32: return 4;
    case tensorflow::DT_DOUBLE: case tensorflow::DT_INT64: case tensorflow::DT_UINT64:
    case tensorflow::DT_COMPLEX64: return 8;
    case tensorflow::DT_COMPLEX128: return 16;
    case tensorflow::DT_UINT8: case tensorflow::DT_INT8: case tensorflow::DT_BOOL:
    case tensorflow::DT_QINT8: case tensorflow::DT_QUINT8: case tensorflow::DT_FLOAT8_E5M2:
    case tensorflow::DT_FLOAT8_E4M3FN: return 1;
    case tensorflow::DT_INT16: case tensorflow::DT_UINT16: case tensorflow::DT_QINT16:
    case tensorflow::DT_QUINT16: case tensorflow::DT_HALF: case tensorflow::DT_BFLOAT16: return 2;
    default: return 0;
  }
}

std::string DataTypeName(DataType t) {
  std::string suffix = static_cast<int>(t) > 100 ? "_ref" : "";
  switch (BaseType(t)) {
    case tensorflow::DT_FLOAT: return "float" + suffix;
    case tensorflow::DT_DOUBLE: return "double" + suffix;
    case tensorflow::DT_INT32: return "int32" + suffix;
    case tensorflow::DT_UINT8: return "uint8" + suffix;
    case tensorflow::DT_INT16: return "int16" + suffix;
    case tensorflow::DT_INT8: return "int8" + suffix;
    case tensorflow::DT_STRING: return "string" + suffix;
    case tensorflow::DT_COMPLEX64: return "complex64" + suffix;
    case tensorflow::DT_INT64: return "int64" + suffix;
    case tensorflow::DT_BOOL: return "bool" + suffix;
    case tensorflow::DT_QINT8: return "qint8" + suffix;
    case tensorflow::DT_QUINT8: return "quint8" + suffix;
    case tensorflow::DT_QINT32: return "qint32" + suffix;
    case tensorflow::DT_BFLOAT16: return "bfloat16" + suffix;
    case tensorflow::DT_QINT16: return "qint16" + suffix;
    case tensorflow::DT_QUINT16: return "quint16" + suffix;
    case tensorflow::DT_UINT16: return "uint16" + suffix;
    case tensorflow::DT_COMPLEX128: return "complex128" + suffix;
    case tensorflow::DT_HALF: return "half" + suffix;
    case tensorflow::DT_RESOURCE: return "resource" + suffix;
    case tensorflow::DT_VARIANT: return "variant" + suffix;
    case tensorflow::DT_UINT32: return "uint32" + suffix;
    case tensorflow::DT_UINT64: return "uint64" + suffix;
    default: return absl::StrCat("dtype(", static_cast<int>(t), ")");
  }
}

absl::StatusOr<std::vector<int64_t>> ShapeFromProto(const tensorflow::TensorShapeProto& shape) {
  if (shape.unknown_rank()) return absl::InvalidArgumentError("shape has unknown rank");
  std::vector<int64_t> out;
  for (const auto& d : shape.dim()) {
    if (d.size() < 0) return absl::InvalidArgumentError("shape has an unknown dimension");
    out.push_back(d.size());
  }
  return out;
}

tensorflow::TensorShapeProto ShapeToProto(const std::vector<int64_t>& shape) {
  tensorflow::TensorShapeProto p;
  for (int64_t d : shape) p.add_dim()->set_size(d);
  return p;
}

namespace {

// Element count with overflow protection.
absl::StatusOr<int64_t> CountElements(const std::vector<int64_t>& shape, absl::string_view context) {
  __int128 n = 1;
  for (int64_t d : shape) {
    n *= d;
    if (n > (static_cast<__int128>(1) << 42)) {
      return absl::InvalidArgumentError(absl::StrCat(context, ": tensor shape [",
                                                     absl::StrJoin(shape, ","), "] is too large"));
    }
  }
  return static_cast<int64_t>(n);
}

// static_cast, except that floating values converted to an integer type saturate (NaN -> 0)
// instead of being undefined behaviour when out of range.
template <typename T, typename S>
T ConvertValue(S v) {
  if constexpr (std::is_integral_v<T> && std::is_floating_point_v<S>) {
    if (std::isnan(v)) return T{0};
    if (v <= static_cast<S>(std::numeric_limits<T>::lowest())) return std::numeric_limits<T>::lowest();
    if (v >= static_cast<S>(std::numeric_limits<T>::max())) return std::numeric_limits<T>::max();
    return static_cast<T>(v);
  } else {
    return static_cast<T>(v);
  }
}

template <typename Src, typename T>
void FromBytes(const std::string& bytes, int64_t n, std::vector<T>* out) {
  out->resize(n);
  for (int64_t i = 0; i < n; ++i) {
    Src v;
    std::memcpy(&v, bytes.data() + i * sizeof(Src), sizeof(Src));
    (*out)[i] = ConvertValue<T>(v);
  }
}

template <typename T, typename Field>
absl::Status FromField(const Field& field, int64_t n, absl::string_view context, std::vector<T>* out) {
  const int64_t have = field.size();
  if (have > n) {
    return absl::InvalidArgumentError(absl::StrCat(context, ": tensor stores ", have,
                                                   " values but its shape holds ", n));
  }
  out->assign(n, T{});
  for (int64_t i = 0; i < n; ++i) {
    if (have == 0) break;
    (*out)[i] = ConvertValue<T>(field.Get(i < have ? static_cast<int>(i) : static_cast<int>(have - 1)));
  }
  return absl::OkStatus();
}

// IEEE half -> float.
float HalfToFloat(uint16_t h) {
  uint32_t sign = (h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1f;
  uint32_t mant = h & 0x3ff;
  uint32_t f;
  if (exp == 0) {
    if (mant == 0) {
      f = sign;
    } else {
      exp = 127 - 15 + 1;
      while ((mant & 0x400) == 0) { mant <<= 1; --exp; }
      mant &= 0x3ff;
      f = sign | (exp << 23) | (mant << 13);
    }
  } else if (exp == 31) {
    f = sign | 0x7f800000u | (mant << 13);
  } else {
    f = sign | ((exp - 15 + 127) << 23) | (mant << 13);
  }
  float out;
  std::memcpy(&out, &f, 4);
  return out;
}

}  // namespace

absl::Status ValidateTensorProto(const tensorflow::TensorProto& proto, absl::string_view context) {
  auto shape = ShapeFromProto(proto.tensor_shape());
  if (!shape.ok()) return absl::InvalidArgumentError(absl::StrCat(context, ": ", shape.status().message()));
  auto n = CountElements(*shape, context);
  if (!n.ok()) return n.status();
  size_t elem = DataTypeSize(proto.dtype());
  if (!proto.tensor_content().empty()) {
    if (elem == 0) {
      return absl::InvalidArgumentError(absl::StrCat(context, ": tensor_content set for dtype ",
                                                     DataTypeName(proto.dtype())));
    }
    if (proto.tensor_content().size() != static_cast<size_t>(*n) * elem) {
      return absl::InvalidArgumentError(absl::StrCat(
          context, ": tensor of dtype ", DataTypeName(proto.dtype()), " and shape [",
          absl::StrJoin(*shape, ","), "] needs ", *n * static_cast<int64_t>(elem),
          " bytes of tensor_content, has ", proto.tensor_content().size()));
    }
    return absl::OkStatus();
  }
  int64_t have = 0;
  switch (BaseType(proto.dtype())) {
    case tensorflow::DT_FLOAT: have = proto.float_val_size(); break;
    case tensorflow::DT_DOUBLE: have = proto.double_val_size(); break;
    case tensorflow::DT_INT64: have = proto.int64_val_size(); break;
    case tensorflow::DT_BOOL: have = proto.bool_val_size(); break;
    case tensorflow::DT_HALF: case tensorflow::DT_BFLOAT16: have = proto.half_val_size(); break;
    case tensorflow::DT_STRING: have = proto.string_val_size(); break;
    case tensorflow::DT_UINT32: have = proto.uint32_val_size(); break;
    case tensorflow::DT_UINT64: have = proto.uint64_val_size(); break;
    case tensorflow::DT_COMPLEX64: have = proto.scomplex_val_size() / 2; break;
    case tensorflow::DT_COMPLEX128: have = proto.dcomplex_val_size() / 2; break;
    case tensorflow::DT_RESOURCE: have = proto.resource_handle_val_size(); break;
    case tensorflow::DT_VARIANT: have = proto.variant_val_size(); break;
    default: have = proto.int_val_size(); break;
  }
  if (have > *n) {
    return absl::InvalidArgumentError(absl::StrCat(context, ": tensor stores ", have,
                                                   " values but its shape [", absl::StrJoin(*shape, ","),
                                                   "] holds ", *n));
  }
  return absl::OkStatus();
}

template <typename T>
absl::StatusOr<HostTensor<T>> DecodeTensor(const tensorflow::TensorProto& proto, absl::string_view context) {
  auto st = ValidateTensorProto(proto, context);
  if (!st.ok()) return st;
  HostTensor<T> out;
  out.shape = *ShapeFromProto(proto.tensor_shape());
  const int64_t n = out.num_elements();
  const std::string& bytes = proto.tensor_content();
  const bool packed = !bytes.empty();
  switch (BaseType(proto.dtype())) {
    case tensorflow::DT_FLOAT:
      if (packed) FromBytes<float>(bytes, n, &out.values); else st = FromField(proto.float_val(), n, context, &out.values);
      break;
    case tensorflow::DT_DOUBLE:
      if (packed) FromBytes<double>(bytes, n, &out.values); else st = FromField(proto.double_val(), n, context, &out.values);
      break;
    case tensorflow::DT_INT32: case tensorflow::DT_QINT32:
      if (packed) FromBytes<int32_t>(bytes, n, &out.values); else st = FromField(proto.int_val(), n, context, &out.values);
      break;
    case tensorflow::DT_INT64:
      if (packed) FromBytes<int64_t>(bytes, n, &out.values); else st = FromField(proto.int64_val(), n, context, &out.values);
      break;
    case tensorflow::DT_UINT8: case tensorflow::DT_QUINT8:
      if (packed) FromBytes<uint8_t>(bytes, n, &out.values); else st = FromField(proto.int_val(), n, context, &out.values);
      break;
    case tensorflow::DT_INT8: case tensorflow::DT_QINT8:
      if (packed) FromBytes<int8_t>(bytes, n, &out.values); else st = FromField(proto.int_val(), n, context, &out.values);
      break;
    case tensorflow::DT_INT16: case tensorflow::DT_QINT16:
      if (packed) FromBytes<int16_t>(bytes, n, &out.values); else st = FromField(proto.int_val(), n, context, &out.values);
      break;
    case tensorflow::DT_UINT16: case tensorflow::DT_QUINT16:
      if (packed) FromBytes<uint16_t>(bytes, n, &out.values); else st = FromField(proto.int_val(), n, context, &out.values);
      break;
    case tensorflow::DT_UINT32:
      if (packed) FromBytes<uint32_t>(bytes, n, &out.values); else st = FromField(proto.uint32_val(), n, context, &out.values);
      break;
    case tensorflow::DT_UINT64:
      if (packed) FromBytes<uint64_t>(bytes, n, &out.values); else st = FromField(proto.uint64_val(), n, context, &out.values);
      break;
    case tensorflow::DT_BOOL:
      if (packed) FromBytes<uint8_t>(bytes, n, &out.values); else st = FromField(proto.bool_val(), n, context, &out.values);
      break;
    case tensorflow::DT_HALF: {
      std::vector<uint16_t> raw;
      if (packed) FromBytes<uint16_t>(bytes, n, &raw); else st = FromField(proto.half_val(), n, context, &raw);
      out.values.resize(n);
      for (int64_t i = 0; i < n && st.ok(); ++i) out.values[i] = ConvertValue<T>(HalfToFloat(raw[i]));
      break;
    }
    case tensorflow::DT_BFLOAT16: {
      // bfloat16 is the upper half of a float32; half_val holds the raw 16 bits.
      std::vector<uint16_t> raw;
      if (packed) FromBytes<uint16_t>(bytes, n, &raw); else st = FromField(proto.half_val(), n, context, &raw);
      out.values.resize(n);
      for (int64_t i = 0; i < n && st.ok(); ++i) {
        uint32_t bits = static_cast<uint32_t>(raw[i]) << 16;
        float f;
        std::memcpy(&f, &bits, 4);
        out.values[i] = ConvertValue<T>(f);
      }
      break;
    }
    default:
      return absl::UnimplementedError(absl::StrCat(context, ": cannot decode a tensor of dtype ",
                                                   DataTypeName(proto.dtype()), " as numbers"));
  }
  if (!st.ok()) return st;
  return out;
}

template absl::StatusOr<HostTensor<float>> DecodeTensor<float>(const tensorflow::TensorProto&, absl::string_view);
template absl::StatusOr<HostTensor<double>> DecodeTensor<double>(const tensorflow::TensorProto&, absl::string_view);
template absl::StatusOr<HostTensor<int32_t>> DecodeTensor<int32_t>(const tensorflow::TensorProto&, absl::string_view);
template absl::StatusOr<HostTensor<int64_t>> DecodeTensor<int64_t>(const tensorflow::TensorProto&, absl::string_view);
template absl::StatusOr<HostTensor<uint8_t>> DecodeTensor<uint8_t>(const tensorflow::TensorProto&, absl::string_view);
template absl::StatusOr<HostTensor<int8_t>> DecodeTensor<int8_t>(const tensorflow::TensorProto&, absl::string_view);

template <typename T>
absl::StatusOr<HostTensor<T>> DecodeConst(const tensorflow::NodeDef& node) {
  auto value = GetAttr<tensorflow::TensorProto>(node, "value");
  if (!value.ok()) return value.status();
  return DecodeTensor<T>(*value, absl::StrCat("node '", node.name(), "' (", node.op(), ")"));
}

template absl::StatusOr<HostTensor<float>> DecodeConst<float>(const tensorflow::NodeDef&);
template absl::StatusOr<HostTensor<double>> DecodeConst<double>(const tensorflow::NodeDef&);
template absl::StatusOr<HostTensor<int32_t>> DecodeConst<int32_t>(const tensorflow::NodeDef&);
template absl::StatusOr<HostTensor<int64_t>> DecodeConst<int64_t>(const tensorflow::NodeDef&);
template absl::StatusOr<HostTensor<uint8_t>> DecodeConst<uint8_t>(const tensorflow::NodeDef&);
template absl::StatusOr<HostTensor<int8_t>> DecodeConst<int8_t>(const tensorflow::NodeDef&);

namespace {

template <typename T>
tensorflow::TensorProto EncodePacked(const HostTensor<T>& t, DataType dtype) {
  tensorflow::TensorProto p;
  p.set_dtype(dtype);
  *p.mutable_tensor_shape() = ShapeToProto(t.shape);
  if (!t.values.empty()) {
    p.set_tensor_content(std::string(reinterpret_cast<const char*>(t.values.data()),
                                     t.values.size() * sizeof(T)));
  }
  return p;
}

}  // namespace

tensorflow::TensorProto EncodeTensor(const HostTensor<float>& t) {
  if (t.values.size() == 1) {
    tensorflow::TensorProto p;
    p.set_dtype(tensorflow::DT_FLOAT);
    *p.mutable_tensor_shape() = ShapeToProto(t.shape);
    p.add_float_val(t.values[0]);
    return p;
  }
  return EncodePacked(t, tensorflow::DT_FLOAT);
}
tensorflow::TensorProto EncodeTensor(const HostTensor<double>& t) { return EncodePacked(t, tensorflow::DT_DOUBLE); }
tensorflow::TensorProto EncodeTensor(const HostTensor<int32_t>& t) {
  if (t.values.size() == 1) {
    tensorflow::TensorProto p;
    p.set_dtype(tensorflow::DT_INT32);
    *p.mutable_tensor_shape() = ShapeToProto(t.shape);
    p.add_int_val(t.values[0]);
    return p;
  }
  return EncodePacked(t, tensorflow::DT_INT32);
}
tensorflow::TensorProto EncodeTensor(const HostTensor<int64_t>& t) { return EncodePacked(t, tensorflow::DT_INT64); }
tensorflow::TensorProto EncodeTensor(const HostTensor<uint8_t>& t) { return EncodePacked(t, tensorflow::DT_UINT8); }
tensorflow::TensorProto EncodeTensor(const HostTensor<int8_t>& t) { return EncodePacked(t, tensorflow::DT_INT8); }
tensorflow::TensorProto EncodeTensor(const HostTensor<bool>& t) {
  tensorflow::TensorProto p;
  p.set_dtype(tensorflow::DT_BOOL);
  *p.mutable_tensor_shape() = ShapeToProto(t.shape);
  for (bool b : t.values) p.add_bool_val(b);
  return p;
}

}  // namespace tfqat
