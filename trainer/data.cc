#include "trainer/data.h"

#include <zlib.h>

#include <cstring>

#include "absl/strings/str_cat.h"
#include "graph/file_util.h"
#include "graph/npy.h"
#include "graph/status_macros.h"

namespace tfqat {
namespace {

absl::StatusOr<std::string> Gunzip(const std::string& in, const std::string& origin) {
  z_stream zs;
  std::memset(&zs, 0, sizeof(zs));
  if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) return absl::InternalError("zlib init failed");
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  std::string out;
  char buf[1 << 16];
  int ret = Z_OK;
  while (true) {
    zs.next_out = reinterpret_cast<Bytef*>(buf);
    zs.avail_out = sizeof(buf);
    ret = inflate(&zs, Z_NO_FLUSH);
    out.append(buf, sizeof(buf) - zs.avail_out);
    if (ret == Z_STREAM_END) break;
    if (ret != Z_OK || (zs.avail_in == 0 && zs.avail_out != 0)) break;
  }
  inflateEnd(&zs);
  if (ret != Z_STREAM_END) return absl::InvalidArgumentError(absl::StrCat(origin, ": corrupt or truncated gzip data"));
  return out;
}

absl::StatusOr<Tensor> ReadAny(const std::string& path) {
  TFQAT_ASSIGN_OR_RETURN(std::string bytes, ReadFileToString(path));
  if (bytes.size() >= 2 && static_cast<uint8_t>(bytes[0]) == 0x1f && static_cast<uint8_t>(bytes[1]) == 0x8b) {
    TFQAT_ASSIGN_OR_RETURN(bytes, Gunzip(bytes, path));
  }
  if (bytes.size() >= 6 && bytes.compare(0, 6, "\x93NUMPY") == 0) {
    TFQAT_ASSIGN_OR_RETURN(NpyArray a, ParseNpy(bytes, path));
    return TensorFromNpy(a);
  }
  return ParseIdx(bytes, path);
}

}  // namespace

absl::StatusOr<Tensor> ParseIdx(const std::string& bytes, const std::string& origin) {
  if (bytes.size() < 4 || bytes[0] != 0 || bytes[1] != 0) {
    return absl::InvalidArgumentError(absl::StrCat(origin, ": neither .npy nor IDX data"));
  }
  const uint8_t type = static_cast<uint8_t>(bytes[2]);
  const int rank = static_cast<uint8_t>(bytes[3]);
  size_t elem = 0;
  switch (type) {
    case 0x08: case 0x09: elem = 1; break;
    case 0x0B: elem = 2; break;
    case 0x0C: case 0x0D: elem = 4; break;
    case 0x0E: elem = 8; break;
    default: return absl::InvalidArgumentError(absl::StrCat(origin, ": unknown IDX type 0x", absl::Hex(type)));
  }
  if (bytes.size() < 4 + 4 * static_cast<size_t>(rank)) return absl::InvalidArgumentError(absl::StrCat(origin, ": truncated IDX header"));
  std::vector<int64_t> shape;
  for (int d = 0; d < rank; ++d) {
    const auto* p = reinterpret_cast<const uint8_t*>(bytes.data() + 4 + 4 * d);
    shape.push_back((int64_t{p[0]} << 24) | (p[1] << 16) | (p[2] << 8) | p[3]);
  }
  const int64_t n = NumElements(shape);
  const size_t off = 4 + 4 * rank;
  if (bytes.size() < off + n * elem) {
    return absl::InvalidArgumentError(absl::StrCat(origin, ": truncated IDX data (", bytes.size() - off, " bytes for ",
                                                   n, " elements)"));
  }
  const auto* d = reinterpret_cast<const uint8_t*>(bytes.data() + off);
  auto be = [&](int64_t e) {
    uint64_t v = 0;
    for (size_t b = 0; b < elem; ++b) v = (v << 8) | d[e * elem + b];
    return v;
  };
  Tensor t;
  t.shape = shape;
  if (type == 0x0D || type == 0x0E) {
    t.dtype = tensorflow::DT_FLOAT;
    t.f.resize(n);
    for (int64_t e = 0; e < n; ++e) {
      uint64_t v = be(e);
      if (type == 0x0D) { uint32_t u = static_cast<uint32_t>(v); float f; std::memcpy(&f, &u, 4); t.f[e] = f; }
      else { double f; std::memcpy(&f, &v, 8); t.f[e] = static_cast<float>(f); }
    }
  } else {
    t.dtype = type == 0x08 ? tensorflow::DT_UINT8 : (type == 0x09 ? tensorflow::DT_INT8 : tensorflow::DT_INT32);
    t.i.resize(n);
    for (int64_t e = 0; e < n; ++e) {
      uint64_t v = be(e);
      if (type == 0x09) t.i[e] = static_cast<int8_t>(v);
      else if (type == 0x0B) t.i[e] = static_cast<int16_t>(v);
      else if (type == 0x0C) t.i[e] = static_cast<int32_t>(v);
      else t.i[e] = static_cast<int64_t>(v);
    }
  }
  return t;
}

absl::StatusOr<Tensor> LoadDataTensor(const std::string& path, float scale) {
  TFQAT_ASSIGN_OR_RETURN(Tensor t, ReadAny(path));
  if (t.shape.empty()) return absl::InvalidArgumentError(absl::StrCat(path, ": data must have an example dimension"));
  if (!t.is_float()) {
    Tensor f = Tensor::Float(t.shape, 0.f);
    for (int64_t e = 0; e < t.num_elements(); ++e) f.f[e] = static_cast<float>(t.i[e]) * scale;
    return f;
  }
  if (scale != 1.f) for (auto& v : t.f) v *= scale;
  t.dtype = tensorflow::DT_FLOAT;
  return t;
}

absl::StatusOr<std::vector<int64_t>> LoadLabels(const std::string& path) {
  TFQAT_ASSIGN_OR_RETURN(Tensor t, ReadAny(path));
  std::vector<int64_t> labels(t.num_elements());
  for (int64_t e = 0; e < t.num_elements(); ++e) {
    double v = t.AsDouble(e);
    if (v != static_cast<double>(static_cast<int64_t>(v)) || v < 0) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": label ", e, " (", v, ") is not a class index"));
    }
    labels[e] = static_cast<int64_t>(v);
  }
  return labels;
}

}  // namespace tfqat
