// libFuzzer target: the GraphDef loader and everything that reads an untrusted graph right
// after it (validation, indexing, topological order, summary, save/load round trip).
// Any crash, sanitizer report, or broken round trip is a bug.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "absl/strings/string_view.h"
#include "google/protobuf/stubs/logging.h"
#include "graph/graph_io.h"
#include "graph/graph_view.h"
#include "graph/summary.h"
#include "graph/validate.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  // Protobuf logs every string field with invalid UTF-8; that is expected noise here.
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto graph = tfqat::ParseGraphDef(bytes, "fuzz");
  if (!graph.ok()) return 0;
  tfqat::ValidateOptions options;
  options.reject_nonfinite_constants = true;
  auto problems = tfqat::ValidateGraphAll(*graph, options);
  auto view = tfqat::GraphView::Create(*graph);
  if (view.ok()) {
    auto order = view->TopologicalOrder();
    if (order.ok() && static_cast<int>(order->size()) != graph->node_size()) std::abort();
    (void)view->Outputs();
  }
  auto summary = tfqat::SummarizeGraph(*graph);
  if (summary.ok()) {
    (void)tfqat::SummaryToText(*summary);
    (void)tfqat::SummaryToJson(*summary).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }
  // What we save must load back to the same graph.
  auto saved = tfqat::SerializeGraphDef(*graph, tfqat::GraphFormat::kBinary);
  if (!saved.ok()) return 0;
  auto back = tfqat::ParseGraphDef(*saved, "fuzz round trip");
  if (!back.ok()) std::abort();
  auto again = tfqat::SerializeGraphDef(*back, tfqat::GraphFormat::kBinary);
  if (!again.ok() || *again != *saved) std::abort();
  return 0;
}
