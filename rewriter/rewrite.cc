#include "rewriter/rewrite.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "graph/status_macros.h"
#include "rewriter/fold_batch_norms_internal.h"

namespace tfqat {

FoldBatchNormsPass DefaultFoldBatchNormsPass() { return FoldBatchNorms; }

namespace {

using FoldFn = absl::StatusOr<FoldBatchNormsResult> (*)(const tensorflow::GraphDef&, const FoldBatchNormsOptions&);

bool IsDefaultFoldPass(const FoldBatchNormsPass& pass) {
  const FoldFn* fn = pass.target<FoldFn>();
  return fn != nullptr && *fn == &FoldBatchNorms;
}

// Rewrites `input` into *graph (which is `input` itself for the in-place form; otherwise
// *graph is overwritten, and `input` is copied only when folding changed nothing).
// With `stream` set, *graph is unused (it may be null) and the result is serialized there.
absl::StatusOr<RewriteResult> RewriteInto(const tensorflow::GraphDef& input, tensorflow::GraphDef* graph,
                                          const RewriteOptions& options, SerializedGraph* stream = nullptr) {
  RewriteResult result;
  result.input_nodes = input.node_size();
  const bool train = options.quantize.mode == QuantizeOptions::Mode::kTrain;
  const bool in_place = &input == graph;

  // One view of the graph, shared by the passes as long as the graph does not change.
  TFQAT_ASSIGN_OR_RETURN(GraphView view, GraphView::Create(input));
  // Its topological order, shared by the matchers of both passes while the graph is unchanged.
  TFQAT_ASSIGN_OR_RETURN(std::vector<int> order, view.TopologicalOrder());
  bool view_on_graph = in_place;
  tensorflow::GraphDef folded;  // streaming: the folded graph, when folding changed it

  // 1. Batch-norm folding.
  if (options.fold_batch_norms && !options.fold_pass) {
    result.fold_notes.push_back("batch-norm folding is not available in this build: batch norms left as they are");
  } else if (options.fold_batch_norms) {
    FoldBatchNormsOptions fo;
    fo.mode = train ? FoldBatchNormsOptions::Mode::kTrain : FoldBatchNormsOptions::Mode::kEval;
    fo.freeze_bn_delay = options.freeze_bn_delay;
    fo.scope = options.quantize.scope;
    fo.global_step = options.quantize.global_step;
    fo.update_ops = options.quantize.update_ops;
    FoldBatchNormsResult fr;
    bool changed = true;
    if (IsDefaultFoldPass(options.fold_pass)) {
      TFQAT_ASSIGN_OR_RETURN(changed, bnfold::FoldBatchNormsWithView(view, fo, &fr, &order));
    } else {
      TFQAT_ASSIGN_OR_RETURN(fr, options.fold_pass(input, fo));
    }
    result.folded = std::move(fr.folded);
    result.fold_notes = std::move(fr.notes);
    if (changed && stream != nullptr) {
      folded = std::move(fr.graph);
      TFQAT_ASSIGN_OR_RETURN(view, GraphView::Create(folded));
      TFQAT_ASSIGN_OR_RETURN(order, view.TopologicalOrder());
    } else if (changed) {
      if (graph->GetArena() == fr.graph.GetArena()) {
        graph->Swap(&fr.graph);
      } else {
        graph->CopyFrom(fr.graph);  // one copy onto *graph's arena (Swap would copy twice)
      }
      TFQAT_ASSIGN_OR_RETURN(view, GraphView::Create(*graph));
      TFQAT_ASSIGN_OR_RETURN(order, view.TopologicalOrder());
      view_on_graph = true;
    }
  }
  if (stream != nullptr) {
    TFQAT_ASSIGN_OR_RETURN(result.quantize, InsertFakeQuantSerialized(view, options.quantize, stream, &order));
    result.output_nodes = view.num_nodes() + result.quantize.nodes_added;
    return result;
  }
  if (!view_on_graph) {
    *graph = input;  // a copy: same nodes in the same order, so `order` still holds
    TFQAT_ASSIGN_OR_RETURN(view, GraphView::Create(*graph));
  }

  // 2. Fake-quant insertion, in place.
  TFQAT_ASSIGN_OR_RETURN(result.quantize, InsertFakeQuantWithView(view, graph, options.quantize, &order));
  result.output_nodes = graph->node_size();
  return result;
}

}  // namespace

google::protobuf::ArenaOptions GraphArenaOptions(size_t serialized_bytes) {
  google::protobuf::ArenaOptions o;
  // Blocks stay under glibc's mmap threshold (128 KiB) so that they come from (and go back
  // to) the heap instead of being mapped, faulted in and unmapped one by one.
  const size_t block = std::clamp<size_t>(serialized_bytes / 16, size_t{8} << 10, size_t{120} << 10);
  o.start_block_size = block;
  o.max_block_size = block;
  return o;
}

absl::StatusOr<RewriteResult> RewriteInPlace(tensorflow::GraphDef* graph, const RewriteOptions& options) {
  return RewriteInto(*graph, graph, options);
}

absl::StatusOr<RewriteResult> RewriteSerialized(const tensorflow::GraphDef& graph, const RewriteOptions& options,
                                                SerializedGraph* out) {
  return RewriteInto(graph, nullptr, options, out);
}

absl::StatusOr<RewriteResult> Rewrite(const tensorflow::GraphDef& graph, const RewriteOptions& options) {
  tensorflow::GraphDef out;
  TFQAT_ASSIGN_OR_RETURN(RewriteResult result, RewriteInto(graph, &out, options));
  result.graph = std::move(out);
  return result;
}

namespace {

const char* ModeName(const QuantizeOptions& o) {
  return o.mode == QuantizeOptions::Mode::kTrain ? "train" : "eval";
}

}  // namespace

nlohmann::json RewriteReportJson(const RewriteResult& r, const RewriteOptions& options) {
  using nlohmann::json;
  const QuantizeOptions& q = options.quantize;
  json j;
  j["mode"] = ModeName(q);
  j["options"] = {{"weight_bits", q.weight_bits},
                  {"activation_bits", q.activation_bits},
                  {"symmetric", q.symmetric},
                  {"narrow_range_weights", q.narrow_range_weights},
                  {"per_channel", q.per_channel},
                  {"quant_delay", q.quant_delay},
                  {"freeze_bn_delay", options.freeze_bn_delay},
                  {"ema_decay", q.ema_decay},
                  {"quantize_inputs", q.quantize_inputs},
                  {"scope", q.scope},
                  {"exclude", q.exclude},
                  {"fold_batch_norms", options.fold_batch_norms}};
  json folds = json::array();
  for (const FoldedLayer& f : r.folded) {
    folds.push_back({{"weighted_op", f.weighted_op},
                     {"weighted_type", f.weighted_type},
                     {"batch_norm", f.batch_norm},
                     {"form", f.form == FoldedLayer::Form::kFused ? "fused" : "unfused"},
                     {"had_bias", f.had_bias},
                     {"batch_statistics", f.batch_statistics},
                     {"channels", f.channels},
                     {"output", f.output},
                     {"folded_weights", f.folded_weights}});
  }
  j["batch_norm_folds"] = folds;
  j["batch_norm_notes"] = r.fold_notes;
  json layers = json::array();
  int quantized = 0, skipped = 0;
  for (const LayerReport& l : r.quantize.layers) {
    layers.push_back({{"name", l.name},
                      {"pattern", l.pattern},
                      {"kind", l.kind},
                      {"weighted_op", l.weighted_op},
                      {"output", l.output},
                      {"weights_quantized", l.weights_quantized},
                      {"output_quantized", l.output_quantized},
                      {"inserted", l.inserted},
                      {"skipped", l.skipped},
                      {"notes", l.notes}});
    if (l.weights_quantized || l.output_quantized) ++quantized;
    else ++skipped;
  }
  j["layers"] = layers;
  j["notes"] = r.quantize.notes;
  j["totals"] = {{"layers_quantized", quantized},
                 {"sites_skipped", skipped},
                 {"batch_norms_folded", r.folded.size()},
                 {"fake_quant_inserted", r.quantize.fake_quant_inserted},
                 {"nodes_in", r.input_nodes},
                 {"nodes_out", r.output_nodes},
                 {"changed", r.quantize.changed || !r.folded.empty()}};
  return j;
}

std::string RewriteSummary(const RewriteResult& r, const RewriteOptions& options) {
  std::string s;
  const QuantizeOptions& q = options.quantize;
  absl::StrAppend(&s, "rewrite (", ModeName(q), ", weights ", q.weight_bits, " bit",
                  q.per_channel ? " per-channel" : "", q.symmetric ? " symmetric" : "", ", activations ",
                  q.activation_bits, " bit): ", r.input_nodes, " -> ", r.output_nodes, " nodes\n");
  for (const FoldedLayer& f : r.folded) {
    absl::StrAppend(&s, "  folded batch norm '", f.batch_norm, "' into '", f.weighted_op, "'\n");
  }
  for (const std::string& n : r.fold_notes) absl::StrAppend(&s, "  batch norm: ", n, "\n");
  for (const LayerReport& l : r.quantize.layers) {
    const bool did = l.weights_quantized || l.output_quantized;
    absl::StrAppend(&s, "  ", did ? "quantized " : "skipped   ", l.pattern.empty() ? "-" : l.pattern, " '",
                    l.name, "'", l.kind.empty() ? "" : absl::StrCat(" [", l.kind, "]"));
    if (did) {
      absl::StrAppend(&s, ":", l.weights_quantized ? " weights" : "", l.output_quantized ? " output" : "");
    }
    absl::StrAppend(&s, "\n");
    for (const std::string& k : l.skipped) absl::StrAppend(&s, "      skipped ", k, "\n");
    for (const std::string& n : l.notes) absl::StrAppend(&s, "      note: ", n, "\n");
  }
  for (const std::string& n : r.quantize.notes) absl::StrAppend(&s, "  ", n, "\n");
  absl::StrAppend(&s, "  ", r.quantize.fake_quant_inserted, " FakeQuant inserted, ", r.folded.size(),
                  " batch norms folded\n");
  return s;
}

}  // namespace tfqat
