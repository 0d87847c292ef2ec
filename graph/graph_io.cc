#include "graph/graph_io.h"

#include <climits>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/tokenizer.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "google/protobuf/io/zero_copy_stream_impl.h"
#include "google/protobuf/text_format.h"
#include "graph/file_util.h"
#include "graph/status_macros.h"

namespace tfqat {
namespace {

// Text format starts (after whitespace/comments) with a field name of GraphDef.
bool LooksLikeText(absl::string_view bytes) {
  size_t i = 0;
  while (i < bytes.size()) {
    char c = bytes[i];
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') { ++i; continue; }
    if (c == '#') {
      while (i < bytes.size() && bytes[i] != '\n') ++i;
      continue;
    }
    break;
  }
  absl::string_view rest = bytes.substr(i);
  for (absl::string_view field : {"node", "versions", "library", "version"}) {
    if (absl::StartsWith(rest, field)) {
      absl::string_view after = rest.substr(field.size());
      size_t j = 0;
      while (j < after.size() && (after[j] == ' ' || after[j] == '\t' || after[j] == '\n' || after[j] == '\r')) ++j;
      if (j < after.size() && (after[j] == '{' || after[j] == ':')) return true;
    }
  }
  return false;
}

// Printable ASCII/UTF-8 text without NUL or other control bytes in its first 4 KiB. Input like
// that which does not decode as a binary GraphDef is reported with the text parser's error
// ("no field named ..."), which is more useful than "corrupt protobuf".
bool LooksPrintable(absl::string_view bytes) {
  absl::string_view head = bytes.substr(0, 4096);
  for (char ch : head) {
    unsigned char c = static_cast<unsigned char>(ch);
    if (c == '\n' || c == '\r' || c == '\t') continue;
    if (c < 0x20 || c == 0x7f) return false;
  }
  return true;
}

class CollectingErrors : public google::protobuf::io::ErrorCollector {
 public:
  void AddError(int line, int column, const std::string& message) override {
    if (first_.empty()) first_ = absl::StrCat("line ", line + 1, ", column ", column + 1, ": ", message);
  }
  const std::string& first() const { return first_; }

 private:
  std::string first_;
};

}  // namespace

absl::Status ParseGraphDefInto(absl::string_view bytes, const std::string& origin, tensorflow::GraphDef* out) {
  tensorflow::GraphDef& graph = *out;
  graph.Clear();
  if (bytes.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(origin, ": empty file, not a GraphDef"));
  }
  if (bytes.size() > static_cast<size_t>(INT_MAX)) {
    return absl::InvalidArgumentError(
        absl::StrCat(origin, ": ", bytes.size(), " bytes exceeds protobuf's 2 GiB message limit"));
  }
  bool text = LooksLikeText(bytes);
  if (!text) {
    google::protobuf::io::CodedInputStream in(reinterpret_cast<const uint8_t*>(bytes.data()),
                                             static_cast<int>(bytes.size()));
    in.SetTotalBytesLimit(INT_MAX);
    in.SetRecursionLimit(1000);
    bool ok = graph.MergeFromCodedStream(&in) && in.ConsumedEntireMessage();
    if ((!ok || graph.node_size() == 0) && LooksPrintable(bytes)) {
      // Printable input that is no binary GraphDef: report it as text (what it most likely is).
      text = true;
      graph.Clear();
    } else if (!ok) {
      return absl::InvalidArgumentError(absl::StrCat(
          origin, ": not a valid binary GraphDef (corrupt or truncated protobuf); "
                  "expected a TensorFlow .pb or .pbtxt file"));
    }
  }
  if (text) {
    google::protobuf::TextFormat::Parser parser;
    CollectingErrors errors;
    parser.RecordErrorsTo(&errors);
    google::protobuf::io::ArrayInputStream stream(bytes.data(), static_cast<int>(bytes.size()));
    if (!parser.Parse(&stream, &graph)) {
      return absl::InvalidArgumentError(
          absl::StrCat(origin, ": not a valid text GraphDef (", errors.first(), ")"));
    }
    // The text parser accepts escaped bytes in string fields that the binary format rejects
    // (invalid UTF-8); refuse them here so that every graph we load can also be saved and
    // loaded back (found by tests/fuzz).
    std::string bin;
    tensorflow::GraphDef check;
    if (!graph.SerializeToString(&bin) || !check.ParseFromString(bin)) {
      return absl::InvalidArgumentError(absl::StrCat(
          origin, ": text GraphDef holds a string field (name, op, input, ...) that is not valid UTF-8"));
    }
  }
  // A random blob can decode as a GraphDef with nonsense nodes; demand at least a name and an
  // op on every node.
  for (int i = 0; i < graph.node_size(); ++i) {
    const auto& node = graph.node(i);
    if (node.name().empty() || node.op().empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          origin, ": node #", i, " has no ", node.name().empty() ? "name" : "op",
          "; the file is not a GraphDef or is corrupt"));
    }
  }
  if (graph.node_size() == 0 && graph.library().function_size() == 0) {
    return absl::InvalidArgumentError(absl::StrCat(origin, ": GraphDef has no nodes"));
  }
  return absl::OkStatus();
}

absl::StatusOr<tensorflow::GraphDef> ParseGraphDef(absl::string_view bytes, const std::string& origin) {
  tensorflow::GraphDef graph;
  TFQAT_RETURN_IF_ERROR(ParseGraphDefInto(bytes, origin, &graph));
  return graph;
}

absl::StatusOr<tensorflow::GraphDef> LoadGraphDef(const std::string& path) {
  auto bytes = ReadFileToString(path);
  if (!bytes.ok()) return bytes.status();
  return ParseGraphDef(*bytes, path);
}

absl::StatusOr<std::string> SerializeGraphDef(const tensorflow::GraphDef& graph, GraphFormat format) {
  std::string out;
  if (format == GraphFormat::kText) {
    google::protobuf::TextFormat::Printer printer;
    if (!printer.PrintToString(graph, &out)) {
      return absl::InternalError("could not print GraphDef as text");
    }
    return out;
  }
  const size_t size = graph.ByteSizeLong();
  if (size > static_cast<size_t>(INT_MAX)) {
    return absl::InvalidArgumentError(
        absl::StrCat("GraphDef serializes to ", size, " bytes, over protobuf's 2 GiB limit"));
  }
  // Deterministic: map fields (NodeDef.attr) in key order, so the same graph always gives the
  // same bytes (reproducible outputs, byte-comparable round trips).
  {
    google::protobuf::io::StringOutputStream stream(&out);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    graph.SerializeWithCachedSizes(&coded);
    if (coded.HadError()) return absl::InternalError("could not serialize GraphDef");
  }
  return out;
}

absl::Status SaveGraphDef(const tensorflow::GraphDef& graph, const std::string& path,
                          const SaveGraphOptions& options) {
  GraphFormat format = options.format;
  if (format == GraphFormat::kAuto) {
    format = (absl::EndsWith(path, ".pbtxt") || absl::EndsWith(path, ".txt") ||
              absl::EndsWith(path, ".prototxt"))
                 ? GraphFormat::kText
                 : GraphFormat::kBinary;
  }
  auto bytes = SerializeGraphDef(graph, format);
  if (!bytes.ok()) return bytes.status();
  return WriteFileAtomically(path, *bytes);
}

}  // namespace tfqat
