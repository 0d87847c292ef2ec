// Loading and saving GraphDefs as binary .pb or text .pbtxt.
#pragma once

#include <string>
#include "absl/strings/string_view.h"

#include "absl/status/statusor.h"
#include "proto/graph.pb.h"

namespace tfqat {

enum class GraphFormat { kAuto, kBinary, kText };

struct SaveGraphOptions {
  // kAuto: text for .pbtxt/.txt/.prototxt paths, binary otherwise.
  GraphFormat format = GraphFormat::kAuto;
};

// Detects the format from the content (not the extension); accepts files up to 2 GiB.
// `origin` names the source in errors.
absl::StatusOr<tensorflow::GraphDef> ParseGraphDef(absl::string_view bytes, const std::string& origin);
// The same into *graph (cleared first), which may live on a protobuf Arena: a large graph
// parses faster there and is freed at once (see GraphArenaOptions in rewriter/rewrite.h).
absl::Status ParseGraphDefInto(absl::string_view bytes, const std::string& origin, tensorflow::GraphDef* graph);
absl::StatusOr<tensorflow::GraphDef> LoadGraphDef(const std::string& path);
absl::StatusOr<std::string> SerializeGraphDef(const tensorflow::GraphDef& graph, GraphFormat format);
// Atomic (temp file + rename).
absl::Status SaveGraphDef(const tensorflow::GraphDef& graph, const std::string& path,
                          const SaveGraphOptions& options = {});

}  // namespace tfqat
