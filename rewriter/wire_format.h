// The protobuf wire-format pieces the rewriter's hand-written encoders use
// (rewriter/node_encoder.cc, rewriter/site_template.cc): one-byte tags, varints, and the sizes
// and headers of length-delimited fields.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "absl/strings/string_view.h"
#include "google/protobuf/io/coded_stream.h"

namespace tfqat::wire {

constexpr uint8_t kVarint = 0, kLen = 2;
constexpr uint8_t Tag(uint32_t field, uint8_t wire_type) { return static_cast<uint8_t>(field << 3 | wire_type); }

inline size_t VarintSize(uint64_t v) { return google::protobuf::io::CodedOutputStream::VarintSize64(v); }
// A length-delimited field with a one-byte tag.
inline size_t LenField(size_t len) { return 1 + VarintSize(len) + len; }
// A varint field with a one-byte tag (negative int32/int64/enum values take 10 bytes).
inline size_t VarintField(int64_t v) { return 1 + VarintSize(static_cast<uint64_t>(v)); }

inline uint8_t* PutVarint(uint64_t v, uint8_t* p) {
  return google::protobuf::io::CodedOutputStream::WriteVarint64ToArray(v, p);
}
inline uint8_t* PutLenHeader(uint8_t tag, size_t len, uint8_t* p) {
  *p++ = tag;
  return PutVarint(len, p);
}
// The bytes of s, no header.
inline uint8_t* PutRaw(absl::string_view s, uint8_t* p) {
  std::memcpy(p, s.data(), s.size());
  return p + s.size();
}
inline uint8_t* PutBytes(uint8_t tag, absl::string_view s, uint8_t* p) { return PutRaw(s, PutLenHeader(tag, s.size(), p)); }

}  // namespace tfqat::wire
