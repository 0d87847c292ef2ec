#include "graph/npy.h"

#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "graph/file_util.h"

namespace tfqat {
namespace {

constexpr char kMagic[] = "\x93NUMPY";

absl::StatusOr<NpyDType> DTypeFromDescr(absl::string_view d, const std::string& origin) {
  // '<' little-endian, '|' not applicable (1-byte types), '=' native (little-endian here).
  if (d.size() < 2) return absl::InvalidArgumentError(absl::StrCat(origin, ": bad dtype '", d, "'"));
  char order = d[0];
  absl::string_view t = d.substr(1);
  if (order == '>' && t != "u1" && t != "i1" && t != "b1") {
    return absl::InvalidArgumentError(
        absl::StrCat(origin, ": big-endian dtype '", d, "' is not supported; save with '<' byte order"));
  }
  if (t == "f4") return NpyDType::kFloat32;
  if (t == "f8") return NpyDType::kFloat64;
  if (t == "i4") return NpyDType::kInt32;
  if (t == "i8") return NpyDType::kInt64;
  if (t == "u1" || t == "b1") return NpyDType::kUInt8;
  if (t == "i1") return NpyDType::kInt8;
  if (t == "O") {
    return absl::InvalidArgumentError(
        absl::StrCat(origin, ": object arrays (dtype 'O') cannot be read; save a numeric array"));
  }
  return absl::InvalidArgumentError(absl::StrCat(
      origin, ": unsupported dtype '", d,
      "'; use float32, float64, int32, int64, uint8 or int8"));
}

const char* Descr(NpyDType t) {
  switch (t) {
    case NpyDType::kFloat32: return "<f4";
    case NpyDType::kFloat64: return "<f8";
    case NpyDType::kInt32: return "<i4";
    case NpyDType::kInt64: return "<i8";
    case NpyDType::kUInt8: return "|u1";
    case NpyDType::kInt8: return "|i1";
  }
  return "?";
}

// Extracts the value text after 'key': in the header dict.
absl::StatusOr<std::string> HeaderValue(absl::string_view header, absl::string_view key,
                                        const std::string& origin) {
  std::string k1 = absl::StrCat("'", key, "'");
  size_t pos = header.find(k1);
  if (pos == absl::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat(origin, ": .npy header lacks '", key, "'"));
  }
  pos = header.find(':', pos + k1.size());
  if (pos == absl::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat(origin, ": malformed .npy header"));
  }
  absl::string_view rest = absl::StripLeadingAsciiWhitespace(header.substr(pos + 1));
  if (!rest.empty() && rest[0] == '(') {
    size_t end = rest.find(')');
    if (end == absl::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat(origin, ": malformed shape in .npy header"));
    }
    return std::string(rest.substr(0, end + 1));
  }
  if (!rest.empty() && (rest[0] == '\'' || rest[0] == '"')) {
    size_t end = rest.find(rest[0], 1);
    if (end == absl::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat(origin, ": malformed .npy header"));
    }
    return std::string(rest.substr(1, end - 1));
  }
  size_t end = rest.find_first_of(",}");
  return std::string(absl::StripAsciiWhitespace(rest.substr(0, end)));
}

}  // namespace

const char* NpyDTypeName(NpyDType t) {
  switch (t) {
    case NpyDType::kFloat32: return "float32";
    case NpyDType::kFloat64: return "float64";
    case NpyDType::kInt32: return "int32";
    case NpyDType::kInt64: return "int64";
    case NpyDType::kUInt8: return "uint8";
    case NpyDType::kInt8: return "int8";
  }
  return "?";
}

size_t NpyDTypeSize(NpyDType t) {
  switch (t) {
    case NpyDType::kFloat32: case NpyDType::kInt32: return 4;
    case NpyDType::kFloat64: case NpyDType::kInt64: return 8;
    case NpyDType::kUInt8: case NpyDType::kInt8: return 1;
  }
  return 1;
}

int64_t NpyArray::num_elements() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::vector<float> NpyArray::ToFloat() const {
  int64_t n = num_elements();
  std::vector<float> out(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    switch (dtype) {
      case NpyDType::kFloat32: out[i] = as<float>()[i]; break;
      case NpyDType::kFloat64: out[i] = static_cast<float>(as<double>()[i]); break;
      case NpyDType::kInt32: out[i] = static_cast<float>(as<int32_t>()[i]); break;
      case NpyDType::kInt64: out[i] = static_cast<float>(as<int64_t>()[i]); break;
      case NpyDType::kUInt8: out[i] = static_cast<float>(as<uint8_t>()[i]); break;
      case NpyDType::kInt8: out[i] = static_cast<float>(as<int8_t>()[i]); break;
    }
  }
  return out;
}

NpyArray NpyArray::FromFloat(std::vector<int64_t> shape, const std::vector<float>& values) {
  NpyArray a;
  a.dtype = NpyDType::kFloat32;
  a.shape = std::move(shape);
  a.data.resize(values.size() * sizeof(float));
  if (!values.empty()) std::memcpy(a.data.data(), values.data(), a.data.size());
  return a;
}

NpyArray NpyArray::Zeros(NpyDType dtype, std::vector<int64_t> shape) {
  NpyArray a;
  a.dtype = dtype;
  a.shape = std::move(shape);
  a.data.assign(static_cast<size_t>(a.num_elements()) * NpyDTypeSize(dtype), 0);
  return a;
}

absl::StatusOr<NpyArray> ParseNpy(const std::string& bytes, const std::string& origin) {
  if (bytes.size() < 10 || std::memcmp(bytes.data(), kMagic, 6) != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(origin, ": not a .npy file (missing \\x93NUMPY magic)"));
  }
  int major = static_cast<uint8_t>(bytes[6]);
  size_t header_len = 0;
  size_t offset = 0;
  if (major == 1) {
    header_len = static_cast<uint8_t>(bytes[8]) | (static_cast<uint8_t>(bytes[9]) << 8);
    offset = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12) return absl::InvalidArgumentError(absl::StrCat(origin, ": truncated .npy header"));
    header_len = 0;
    for (int i = 0; i < 4; ++i) header_len |= static_cast<size_t>(static_cast<uint8_t>(bytes[8 + i])) << (8 * i);
    offset = 12;
  } else {
    return absl::InvalidArgumentError(absl::StrCat(origin, ": unsupported .npy version ", major));
  }
  if (offset + header_len > bytes.size()) {
    return absl::InvalidArgumentError(absl::StrCat(origin, ": truncated .npy header"));
  }
  absl::string_view header(bytes.data() + offset, header_len);
  NpyArray out;
  std::string descr, fortran, shape_text;
  {
    auto v = HeaderValue(header, "descr", origin);
    if (!v.ok()) return v.status();
    descr = *v;
  }
  {
    auto v = HeaderValue(header, "fortran_order", origin);
    if (!v.ok()) return v.status();
    fortran = *v;
  }
  {
    auto v = HeaderValue(header, "shape", origin);
    if (!v.ok()) return v.status();
    shape_text = *v;
  }
  auto dt = DTypeFromDescr(descr, origin);
  if (!dt.ok()) return dt.status();
  out.dtype = *dt;
  if (fortran != "False") {
    return absl::InvalidArgumentError(absl::StrCat(
        origin, ": Fortran-order arrays are not supported; save with np.ascontiguousarray"));
  }
  absl::string_view s = shape_text;
  s = absl::StripPrefix(s, "(");
  s = absl::StripSuffix(s, ")");
  for (absl::string_view part : absl::StrSplit(s, ',', absl::SkipWhitespace())) {
    int64_t d;
    if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(part), &d) || d < 0) {
      return absl::InvalidArgumentError(absl::StrCat(origin, ": bad shape '", shape_text, "'"));
    }
    out.shape.push_back(d);
  }
  // Overflow-safe element count.
  __int128 n = 1;
  for (int64_t d : out.shape) {
    n *= d;
    if (n > (static_cast<__int128>(1) << 40)) {
      return absl::InvalidArgumentError(absl::StrCat(origin, ": shape too large"));
    }
  }
  size_t need = static_cast<size_t>(n) * NpyDTypeSize(out.dtype);
  size_t have = bytes.size() - offset - header_len;
  if (have < need) {
    return absl::InvalidArgumentError(absl::StrCat(origin, ": truncated .npy data: shape (",
                                                   absl::StrJoin(out.shape, ","), ") needs ", need,
                                                   " bytes, file has ", have));
  }
  out.data.assign(bytes.begin() + offset + header_len, bytes.begin() + offset + header_len + need);
  return out;
}

absl::StatusOr<NpyArray> ReadNpy(const std::string& path) {
  auto bytes = ReadFileToString(path);
  if (!bytes.ok()) return bytes.status();
  return ParseNpy(*bytes, path);
}

std::string SerializeNpy(const NpyArray& a) {
  std::string shape = "(";
  for (size_t i = 0; i < a.shape.size(); ++i) {
    absl::StrAppend(&shape, a.shape[i], a.shape.size() == 1 ? "," : (i + 1 < a.shape.size() ? ", " : ""));
  }
  shape += ")";
  std::string dict = absl::StrCat("{'descr': '", Descr(a.dtype), "', 'fortran_order': False, 'shape': ",
                                  shape, ", }");
  size_t total = 10 + dict.size() + 1;
  size_t pad = (64 - total % 64) % 64;
  dict.append(pad, ' ');
  dict.push_back('\n');
  std::string out(kMagic, 6);
  out.push_back(1);
  out.push_back(0);
  out.push_back(static_cast<char>(dict.size() & 0xff));
  out.push_back(static_cast<char>((dict.size() >> 8) & 0xff));
  out += dict;
  out.append(reinterpret_cast<const char*>(a.data.data()), a.data.size());
  return out;
}

absl::Status WriteNpy(const std::string& path, const NpyArray& array) {
  return WriteFileAtomically(path, SerializeNpy(array));
}

}  // namespace tfqat
