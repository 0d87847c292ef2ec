#include "trainer/tensor.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "graph/tensor.h"

namespace tfqat {

using tensorflow::DataType;

bool IsFloatType(DataType t) {
  t = BaseType(t);
  return t == tensorflow::DT_FLOAT || t == tensorflow::DT_DOUBLE || t == tensorflow::DT_HALF ||
         t == tensorflow::DT_BFLOAT16;
}

int64_t NumElements(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::vector<float> BufferPool::Take(size_t n) {
  if (n >= kMinFloats) {
    auto it = free_.find(n);
    if (it != free_.end() && !it->second.empty()) {
      std::vector<float> v = std::move(it->second.back());
      it->second.pop_back();
      held_ -= n;
      return v;
    }
  }
  return std::vector<float>(n);
}

void BufferPool::Give(std::vector<float>&& v) {
  const size_t n = v.size();
  if (n < kMinFloats || held_ + n > kMaxFloats) return;
  held_ += n;
  free_[n].push_back(std::move(v));
}

void ResizeUninitialized(Tensor* t, size_t n, BufferPool* pool) {
  if (t->f.size() == n) return;
  if (pool == nullptr) {
    t->f.resize(n);
    return;
  }
  if (t->f.size() >= BufferPool::kMinFloats) pool->Give(std::move(t->f));
  t->f = pool->Take(n);
}

bool Tensor::is_float() const { return IsFloatType(dtype); }
int64_t Tensor::num_elements() const { return NumElements(shape); }
std::string Tensor::ShapeString() const { return absl::StrCat("[", absl::StrJoin(shape, ","), "]"); }

Tensor Tensor::Float(std::vector<int64_t> shape, std::vector<float> values) {
  Tensor t;
  t.dtype = tensorflow::DT_FLOAT;
  t.shape = std::move(shape);
  t.f = std::move(values);
  return t;
}
Tensor Tensor::Float(std::vector<int64_t> shape, float fill) {
  int64_t n = NumElements(shape);
  return Float(std::move(shape), std::vector<float>(n, fill));
}
Tensor Tensor::Int(DataType dtype, std::vector<int64_t> shape, std::vector<int64_t> values) {
  Tensor t;
  t.dtype = dtype;
  t.shape = std::move(shape);
  t.i = std::move(values);
  return t;
}
Tensor Tensor::Zeros(DataType dtype, std::vector<int64_t> shape) {
  Tensor t;
  t.dtype = BaseType(dtype);
  int64_t n = NumElements(shape);
  t.shape = std::move(shape);
  if (t.is_float()) t.f.assign(n, 0.f); else t.i.assign(n, 0);
  return t;
}

absl::StatusOr<Tensor> TensorFromProto(const tensorflow::TensorProto& proto, const std::string& context) {
  Tensor t;
  t.dtype = BaseType(proto.dtype());
  if (t.is_float()) {
    auto d = DecodeTensor<float>(proto, context);
    if (!d.ok()) return d.status();
    t.shape = std::move(d->shape);
    t.f = std::move(d->values);
  } else if (t.dtype == tensorflow::DT_STRING || t.dtype == tensorflow::DT_RESOURCE ||
             t.dtype == tensorflow::DT_VARIANT) {
    return absl::UnimplementedError(
        absl::StrCat(context, ": tensors of type ", DataTypeName(t.dtype), " are not supported"));
  } else {
    auto d = DecodeTensor<int64_t>(proto, context);
    if (!d.ok()) return d.status();
    t.shape = std::move(d->shape);
    t.i = std::move(d->values);
  }
  return t;
}

tensorflow::TensorProto TensorToProto(const Tensor& t) {
  switch (t.dtype) {
    case tensorflow::DT_FLOAT: return EncodeTensor(HostTensor<float>{t.shape, t.f});
    case tensorflow::DT_DOUBLE:
      return EncodeTensor(HostTensor<double>{t.shape, std::vector<double>(t.f.begin(), t.f.end())});
    case tensorflow::DT_INT64: return EncodeTensor(HostTensor<int64_t>{t.shape, t.i});
    case tensorflow::DT_UINT8:
      return EncodeTensor(HostTensor<uint8_t>{t.shape, std::vector<uint8_t>(t.i.begin(), t.i.end())});
    case tensorflow::DT_INT8:
      return EncodeTensor(HostTensor<int8_t>{t.shape, std::vector<int8_t>(t.i.begin(), t.i.end())});
    case tensorflow::DT_BOOL: {
      std::vector<bool> b(t.i.size());
      for (size_t k = 0; k < t.i.size(); ++k) b[k] = t.i[k] != 0;
      return EncodeTensor(HostTensor<bool>{t.shape, b});
    }
    default:
      if (t.is_float()) return EncodeTensor(HostTensor<float>{t.shape, t.f});
      return EncodeTensor(HostTensor<int32_t>{t.shape, std::vector<int32_t>(t.i.begin(), t.i.end())});
  }
}

absl::StatusOr<Tensor> TensorFromNpy(const NpyArray& a) {
  Tensor t;
  t.shape = a.shape;
  int64_t n = a.num_elements();
  switch (a.dtype) {
    case NpyDType::kFloat32:
      t.dtype = tensorflow::DT_FLOAT;
      t.f.assign(a.as<float>(), a.as<float>() + n);
      break;
    case NpyDType::kFloat64:
      t.dtype = tensorflow::DT_FLOAT;
      t.f.assign(a.as<double>(), a.as<double>() + n);
      break;
    case NpyDType::kInt32:
      t.dtype = tensorflow::DT_INT32;
      t.i.assign(a.as<int32_t>(), a.as<int32_t>() + n);
      break;
    case NpyDType::kInt64:
      t.dtype = tensorflow::DT_INT64;
      t.i.assign(a.as<int64_t>(), a.as<int64_t>() + n);
      break;
    case NpyDType::kUInt8:
      t.dtype = tensorflow::DT_UINT8;
      t.i.assign(a.as<uint8_t>(), a.as<uint8_t>() + n);
      break;
    case NpyDType::kInt8:
      t.dtype = tensorflow::DT_INT8;
      t.i.assign(a.as<int8_t>(), a.as<int8_t>() + n);
      break;
  }
  return t;
}

NpyArray TensorToNpy(const Tensor& t) {
  NpyArray a;
  a.shape = t.shape;
  int64_t n = t.num_elements();
  auto fill = [&](NpyDType dt, auto tag) {
    using T = decltype(tag);
    a = NpyArray::Zeros(dt, t.shape);
    T* p = a.mutable_as<T>();
    for (int64_t k = 0; k < n; ++k) p[k] = static_cast<T>(t.i[k]);
  };
  if (t.is_float()) return NpyArray::FromFloat(t.shape, t.f);
  switch (t.dtype) {
    case tensorflow::DT_INT64: fill(NpyDType::kInt64, int64_t{}); break;
    case tensorflow::DT_UINT8:
    case tensorflow::DT_BOOL: fill(NpyDType::kUInt8, uint8_t{}); break;
    case tensorflow::DT_INT8: fill(NpyDType::kInt8, int8_t{}); break;
    default: fill(NpyDType::kInt32, int32_t{}); break;
  }
  return a;
}

}  // namespace tfqat
