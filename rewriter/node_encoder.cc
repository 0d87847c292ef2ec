#include "rewriter/node_encoder.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "rewriter/wire_format.h"

namespace tfqat {

namespace {

using wire::kLen;
using wire::kVarint;
using wire::LenField;
using wire::PutBytes;
using wire::PutLenHeader;
using wire::PutVarint;
using wire::Tag;
using wire::VarintField;
using wire::VarintSize;

// Field numbers: NodeDef (name 1, op 2, input 3, attr 5), map entry (key 1, value 2),
// AttrValue (s 2, i 3, b 5, type 6, shape 7, tensor 8), TensorShapeProto (dim 2),
// TensorShapeProto.Dim (size 1), TensorProto (dtype 1, tensor_shape 2, tensor_content 4,
// float_val 5, int_val 7).

// TensorShapeProto body: one Dim message per dim (size omitted when 0).
size_t ShapeBodySize(absl::Span<const int64_t> dims) {
  size_t n = 0;
  for (int64_t d : dims) n += LenField(d == 0 ? 0 : VarintField(d));
  return n;
}
uint8_t* PutShapeBody(absl::Span<const int64_t> dims, uint8_t* p) {
  for (int64_t d : dims) {
    if (d == 0) {
      p = PutLenHeader(Tag(2, kLen), 0, p);
      continue;
    }
    p = PutLenHeader(Tag(2, kLen), VarintField(d), p);
    *p++ = Tag(1, kVarint);
    p = PutVarint(static_cast<uint64_t>(d), p);
  }
  return p;
}

size_t IntValBytes(absl::Span<const int32_t> v) {
  size_t n = 0;
  for (int32_t x : v) n += VarintSize(static_cast<uint64_t>(static_cast<int64_t>(x)));
  return n;
}

size_t TensorBodySize(const TensorValue& t) {
  size_t n = 0;
  if (t.dtype != 0) n += VarintField(t.dtype);
  if (t.has_shape) n += LenField(ShapeBodySize(t.dims));
  if (!t.content.empty()) n += LenField(t.content.size());
  if (!t.float_val.empty()) n += LenField(4 * t.float_val.size());
  if (!t.int_val.empty()) n += LenField(IntValBytes(t.int_val));
  return n;
}
uint8_t* PutTensorBody(const TensorValue& t, uint8_t* p) {
  if (t.dtype != 0) {
    *p++ = Tag(1, kVarint);
    p = PutVarint(static_cast<uint64_t>(t.dtype), p);
  }
  if (t.has_shape) {
    p = PutLenHeader(Tag(2, kLen), ShapeBodySize(t.dims), p);
    p = PutShapeBody(t.dims, p);
  }
  if (!t.content.empty()) p = PutBytes(Tag(4, kLen), t.content, p);
  if (!t.float_val.empty()) {
    p = PutLenHeader(Tag(5, kLen), 4 * t.float_val.size(), p);
    for (float f : t.float_val) {  // little-endian fixed32, as protobuf writes it
      uint32_t bits;
      std::memcpy(&bits, &f, 4);
      for (int b = 0; b < 4; ++b) *p++ = static_cast<uint8_t>(bits >> (8 * b));
    }
  }
  if (!t.int_val.empty()) {
    p = PutLenHeader(Tag(7, kLen), IntValBytes(t.int_val), p);
    for (int32_t x : t.int_val) p = PutVarint(static_cast<uint64_t>(static_cast<int64_t>(x)), p);
  }
  return p;
}

size_t AttrValueSize(const AttrEntry& a) {
  switch (a.kind) {
    case AttrEntry::Kind::kType:
    case AttrEntry::Kind::kBool:
    case AttrEntry::Kind::kInt:
      return VarintField(a.i);
    case AttrEntry::Kind::kString:
      return LenField(a.s.size());
    case AttrEntry::Kind::kShape:
      return LenField(ShapeBodySize(a.dims));
    case AttrEntry::Kind::kTensor:
      return LenField(TensorBodySize(*a.tensor));
  }
  return 0;
}
uint8_t* PutAttrValue(const AttrEntry& a, uint8_t* p) {
  switch (a.kind) {
    case AttrEntry::Kind::kType:
      *p++ = Tag(6, kVarint);
      return PutVarint(static_cast<uint64_t>(a.i), p);
    case AttrEntry::Kind::kBool:
      *p++ = Tag(5, kVarint);
      return PutVarint(static_cast<uint64_t>(a.i), p);
    case AttrEntry::Kind::kInt:
      *p++ = Tag(3, kVarint);
      return PutVarint(static_cast<uint64_t>(a.i), p);
    case AttrEntry::Kind::kString:
      return PutBytes(Tag(2, kLen), a.s, p);
    case AttrEntry::Kind::kShape:
      p = PutLenHeader(Tag(7, kLen), ShapeBodySize(a.dims), p);
      return PutShapeBody(a.dims, p);
    case AttrEntry::Kind::kTensor:
      p = PutLenHeader(Tag(8, kLen), TensorBodySize(*a.tensor), p);
      return PutTensorBody(*a.tensor, p);
  }
  return p;
}

void FillTensor(const TensorValue& t, tensorflow::TensorProto* out) {
  out->Clear();
  out->set_dtype(t.dtype);
  if (t.has_shape) {
    auto* shape = out->mutable_tensor_shape();
    for (int64_t d : t.dims) shape->add_dim()->set_size(d);
  }
  if (!t.content.empty()) out->set_tensor_content(t.content.data(), t.content.size());
  for (float f : t.float_val) out->add_float_val(f);
  for (int32_t x : t.int_val) out->add_int_val(x);
}

}  // namespace

void FillNodeDef(const NodeSpec& spec, tensorflow::NodeDef* node) {
  node->set_name(spec.name.data(), spec.name.size());
  node->set_op(spec.op.data(), spec.op.size());
  node->clear_input();
  node->mutable_input()->Reserve(static_cast<int>(spec.inputs.size()));
  for (absl::string_view in : spec.inputs) node->add_input(in.data(), in.size());
  auto& attrs = *node->mutable_attr();
  for (const AttrEntry& a : spec.attrs) {
    tensorflow::AttrValue& v = attrs[std::string(a.key)];
    switch (a.kind) {
      case AttrEntry::Kind::kType:
        v.set_type(static_cast<tensorflow::DataType>(a.i));
        break;
      case AttrEntry::Kind::kBool:
        v.set_b(a.i != 0);
        break;
      case AttrEntry::Kind::kInt:
        v.set_i(a.i);
        break;
      case AttrEntry::Kind::kString:
        v.set_s(a.s.data(), a.s.size());
        break;
      case AttrEntry::Kind::kShape: {
        auto* shape = v.mutable_shape();
        shape->Clear();
        for (int64_t d : a.dims) shape->add_dim()->set_size(d);
        break;
      }
      case AttrEntry::Kind::kTensor:
        FillTensor(*a.tensor, v.mutable_tensor());
        break;
    }
  }
}

EncodedNodeRecord::EncodedNodeRecord(const NodeSpec& spec) : spec_(spec) {
  num_attrs_ = static_cast<int>(spec.attrs.size());
  if (num_attrs_ > kMaxAttrs) {
    std::fprintf(stderr, "EncodedNodeRecord: node '%.*s' has %d attributes, at most %d supported\n",
                 static_cast<int>(spec.name.size()), spec.name.data(), num_attrs_, kMaxAttrs);
    std::abort();
  }
  for (int k = 0; k < num_attrs_; ++k) sorted_[k] = &spec.attrs[k];
  // Deterministic map order: keys sorted bytewise (a few attributes: insertion sort).
  for (int k = 1; k < num_attrs_; ++k) {
    for (int j = k; j > 0 && sorted_[j]->key < sorted_[j - 1]->key; --j) std::swap(sorted_[j], sorted_[j - 1]);
  }
  size_t body = LenField(spec.name.size()) + LenField(spec.op.size());
  for (absl::string_view in : spec.inputs) body += LenField(in.size());
  for (int k = 0; k < num_attrs_; ++k) {
    value_size_[k] = static_cast<uint32_t>(AttrValueSize(*sorted_[k]));
    body += LenField(LenField(sorted_[k]->key.size()) + LenField(value_size_[k]));
  }
  body_size_ = body;
  record_size_ = LenField(body);
}

uint8_t* EncodedNodeRecord::Write(uint8_t* p, const char** name_at) const {
  p = PutLenHeader(Tag(1, kLen), body_size_, p);  // GraphDef.node
  p = PutLenHeader(Tag(1, kLen), spec_.name.size(), p);
  *name_at = reinterpret_cast<const char*>(p);
  std::memcpy(p, spec_.name.data(), spec_.name.size());
  p += spec_.name.size();
  p = PutBytes(Tag(2, kLen), spec_.op, p);
  for (absl::string_view in : spec_.inputs) p = PutBytes(Tag(3, kLen), in, p);
  for (int k = 0; k < num_attrs_; ++k) {
    const AttrEntry& a = *sorted_[k];
    p = PutLenHeader(Tag(5, kLen), LenField(a.key.size()) + LenField(value_size_[k]), p);
    p = PutBytes(Tag(1, kLen), a.key, p);
    p = PutLenHeader(Tag(2, kLen), value_size_[k], p);
    p = PutAttrValue(a, p);
  }
  return p;
}

}  // namespace tfqat
