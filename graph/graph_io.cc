#include "graph/graph_io.h"

#include <climits>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/tokenizer.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "google/protobuf/text_format.h"
#include "graph/file_util.h"

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

absl::StatusOr<tensorflow::GraphDef> ParseGraphDef(absl::string_view bytes, const std::string& origin) {
  tensorflow::GraphDef graph;
  if (bytes.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(origin, ": empty file, not a GraphDef"));
  }
  if (bytes.size() > static_cast<size_t>(INT_MAX)) {
    return absl::InvalidArgumentError(
        absl::StrCat(origin, ": ", bytes.size(), " bytes exceeds protobuf's 2 GiB message limit"));
  }
  if (LooksLikeText(bytes)) {
    google::protobuf::TextFormat::Parser parser;
    CollectingErrors errors;
    parser.RecordErrorsTo(&errors);
    google::protobuf::io::ArrayInputStream stream(bytes.data(), static_cast<int>(bytes.size()));
    if (!parser.Parse(&stream, &graph)) {
      return absl::InvalidArgumentError(
          absl::StrCat(origin, ": not a valid text GraphDef (", errors.first(), ")"));
    }
    return graph;
  }
  google::protobuf::io::CodedInputStream in(reinterpret_cast<const uint8_t*>(bytes.data()),
                                           static_cast<int>(bytes.size()));
  in.SetTotalBytesLimit(INT_MAX);
  in.SetRecursionLimit(1000);
  if (!graph.MergeFromCodedStream(&in) || !in.ConsumedEntireMessage()) {
    return absl::InvalidArgumentError(absl::StrCat(
        origin, ": not a valid binary GraphDef (corrupt or truncated protobuf); "
                "expected a TensorFlow .pb or .pbtxt file"));
  }
  // A random blob can decode as a GraphDef with nonsense nodes; demand at least names/ops
  // that look like text.
  for (const auto& node : graph.node()) {
    if (node.name().empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          origin, ": decoded a node without a name; the file is not a GraphDef or is corrupt"));
    }
  }
  if (graph.node_size() == 0 && graph.library().function_size() == 0) {
    return absl::InvalidArgumentError(absl::StrCat(origin, ": GraphDef has no nodes"));
  }
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
  if (!graph.SerializeToString(&out)) {
    return absl::InternalError("could not serialize GraphDef (over 2 GiB?)");
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
