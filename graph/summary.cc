#include "graph/summary.h"

#include <algorithm>
#include <cstdio>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "graph/attrs.h"
#include "graph/graph_view.h"
#include "graph/tensor.h"

namespace tfqat {
namespace {

// Ops whose meaning depends on data_format, and the format TensorFlow assumes when the
// attribute is absent.
const absl::flat_hash_map<absl::string_view, absl::string_view>& LayoutOps() {
  static const auto* ops = new absl::flat_hash_map<absl::string_view, absl::string_view>{
      {"Conv2D", "NHWC"}, {"DepthwiseConv2dNative", "NHWC"}, {"Conv2DBackpropInput", "NHWC"},
      {"DepthwiseConv2dNativeBackpropInput", "NHWC"}, {"MaxPool", "NHWC"}, {"MaxPoolV2", "NHWC"},
      {"AvgPool", "NHWC"}, {"FusedBatchNorm", "NHWC"}, {"FusedBatchNormV2", "NHWC"},
      {"FusedBatchNormV3", "NHWC"}, {"SpaceToDepth", "NHWC"}, {"DepthToSpace", "NHWC"},
      {"Conv3D", "NDHWC"}, {"Conv3DBackpropInputV2", "NDHWC"}, {"MaxPool3D", "NDHWC"},
      {"AvgPool3D", "NDHWC"}};
  return *ops;
}

bool IsVariableOp(const std::string& op) {
  return op == "VariableV2" || op == "Variable" || op == "VarHandleOp";
}

std::string Where(const tensorflow::NodeDef& n) {
  return absl::StrCat("node '", n.name(), "' (", n.op(), ")");
}

// Follows Identity-like nodes from input `slot` of node i to the producing node.
int ResolveProducer(const GraphView& view, int i, int slot) {
  const auto& fin = view.fanin(i);
  if (slot >= static_cast<int>(fin.size()) || fin[slot].is_control) return -1;
  int p = fin[slot].node;
  for (int hops = 0; hops < 64; ++hops) {
    const std::string& op = view.node(p).op();
    if (op != "Identity" && op != "Snapshot" && op != "StopGradient") break;
    auto data = view.data_fanin(p);
    if (data.empty()) break;
    p = data[0].node;
  }
  return p;
}

void FillRange(const GraphView& view, int i, FakeQuantNodeSummary* fq) {
  const auto& node = view.node(i);
  if (node.op() == "FakeQuantWithMinMaxArgs") {
    fq->range_source = "attributes";
    // OpDef defaults: min = -6, max = 6.
    fq->min = {GetAttrOr<float>(node, "min", -6.0f).value_or(-6.0f)};
    fq->max = {GetAttrOr<float>(node, "max", 6.0f).value_or(6.0f)};
    return;
  }
  int pmin = ResolveProducer(view, i, 1);
  int pmax = ResolveProducer(view, i, 2);
  if (pmin < 0 || pmax < 0) {
    fq->range_source = "computed";
    return;
  }
  const auto& nmin = view.node(pmin);
  const auto& nmax = view.node(pmax);
  if (nmin.op() == "Const" && nmax.op() == "Const") {
    auto lo = DecodeConst<float>(nmin);
    auto hi = DecodeConst<float>(nmax);
    if (lo.ok() && hi.ok()) {
      fq->range_source = "constant";
      fq->min = std::move(lo->values);
      fq->max = std::move(hi->values);
      return;
    }
  }
  if (IsVariableOp(nmin.op()) || IsVariableOp(nmax.op())) {
    fq->range_source = "variable";
    return;
  }
  fq->range_source = "computed";
}

constexpr char kQuantizeNodesExplanation[] =
    "This graph was quantized the legacy TensorFlow way (graph_transforms quantize_nodes: "
    "QuantizeV2 -> Quantized* ops -> Requantize/RequantizationRange -> Dequantize). TFLite's "
    "converter cannot convert such a graph: these eight-bit ops, and the min/max tensors that "
    "travel beside every value, have no TFLite equivalent, and the float weights are gone. Run "
    "`tfqat rewrite` on the original float graph (the one before quantize_nodes) instead, then "
    "train, freeze and convert that.";
constexpr char kQuantizeWeightsExplanation[] =
    "This graph stores its weights quantized the legacy TensorFlow way (graph_transforms "
    "quantize_weights: 8-bit Const + min/max Consts decoded by Dequantize at run time). That "
    "is a storage format, not quantization-aware training: TFLite's converter cannot take it as "
    "a quantized model, and the original float weights are lost. Run `tfqat rewrite` on the "
    "original float graph (before quantize_weights) instead.";

std::string FormatShape(const InputSummary& in) {
  if (!in.known_rank) return "unknown shape";
  std::vector<std::string> dims;
  for (int64_t d : in.shape) dims.push_back(d < 0 ? "?" : absl::StrCat(d));
  return absl::StrCat("[", absl::StrJoin(dims, ","), "]");
}

std::string FormatFloat(float v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.6g", v);
  return buf;
}

std::string FormatRange(const FakeQuantNodeSummary& fq) {
  if (fq.min.empty() || fq.max.empty()) return fq.range_source;
  if (fq.min.size() == 1 && fq.max.size() == 1) {
    return absl::StrCat("[", FormatFloat(fq.min[0]), ", ", FormatFloat(fq.max[0]), "]");
  }
  float lo = *std::min_element(fq.min.begin(), fq.min.end());
  float hi = *std::max_element(fq.max.begin(), fq.max.end());
  return absl::StrCat(fq.min.size(), " channels within [", FormatFloat(lo), ", ", FormatFloat(hi), "]");
}

std::string WithThousands(int64_t v) {
  std::string digits = absl::StrCat(v < 0 ? -v : v);
  std::string out;
  int k = 0;
  for (auto it = digits.rbegin(); it != digits.rend(); ++it, ++k) {
    if (k > 0 && k % 3 == 0) out.push_back(',');
    out.push_back(*it);
  }
  if (v < 0) out.push_back('-');
  return std::string(out.rbegin(), out.rend());
}

template <typename Map>
std::string JoinCounts(const Map& m) {
  std::vector<std::string> parts;
  for (const auto& [k, v] : m) parts.push_back(absl::StrCat(k, " ", v));
  return absl::StrJoin(parts, ", ");
}

}  // namespace

bool IsFakeQuantOp(const std::string& op) {
  return op == "FakeQuantWithMinMaxArgs" || op == "FakeQuantWithMinMaxVars" ||
         op == "FakeQuantWithMinMaxVarsPerChannel";
}

bool IsLegacyQuantizedOp(const std::string& op) {
  static const absl::flat_hash_set<absl::string_view> kOps = {
      "QuantizeV2", "Dequantize", "Requantize", "RequantizationRange", "RequantizePerChannel",
      "RequantizationRangePerChannel", "QuantizeDownAndShrinkRange"};
  return kOps.contains(op) || absl::StartsWith(op, "Quantized");
}

absl::StatusOr<GraphSummary> SummarizeGraph(const tensorflow::GraphDef& graph) {
  auto view_or = GraphView::Create(graph);
  if (!view_or.ok()) return view_or.status();
  const GraphView& view = *view_or;
  GraphSummary s;
  s.num_nodes = graph.node_size();
  s.num_functions = graph.library().function_size();
  s.producer = graph.versions().producer();

  for (int i : view.Placeholders()) {
    const auto& node = view.node(i);
    InputSummary in;
    in.name = node.name();
    in.op = node.op();
    auto dtype = GetAttr<tensorflow::DataType>(node, "dtype");
    in.dtype = dtype.ok() ? DataTypeName(*dtype) : "unknown";
    auto shape = GetAttr<tensorflow::TensorShapeProto>(node, "shape");
    if (shape.ok() && !shape->unknown_rank()) {
      in.known_rank = true;
      for (const auto& d : shape->dim()) in.shape.push_back(d.size() < 0 ? -1 : d.size());
    }
    s.inputs.push_back(std::move(in));
  }
  for (int i : view.Outputs()) s.outputs.push_back({view.node(i).name(), view.node(i).op()});

  absl::flat_hash_map<std::string, int> hist;
  absl::flat_hash_set<int> dequantize_of_const;
  for (int i = 0; i < view.num_nodes(); ++i) {
    const auto& node = view.node(i);
    ++hist[node.op()];
    for (const auto& p : view.fanin(i)) s.control_edges += p.is_control ? 1 : 0;

    if (node.op() == "Const") {
      ++s.const_nodes;
      auto v = node.attr().find("value");
      if (v != node.attr().end() && v->second.has_tensor()) {
        auto shape = ShapeFromProto(v->second.tensor().tensor_shape());
        if (shape.ok()) {
          int64_t n = 1;
          for (int64_t d : *shape) n *= d;
          s.const_parameters += n;
          s.const_bytes += n * static_cast<int64_t>(DataTypeSize(v->second.tensor().dtype()));
        }
      }
    } else if (IsVariableOp(node.op())) {
      ++s.variable_nodes;
      auto shape = GetAttr<tensorflow::TensorShapeProto>(node, "shape");
      if (shape.ok()) {
        auto dims = ShapeFromProto(*shape);
        if (dims.ok()) {
          int64_t n = 1;
          for (int64_t d : *dims) n *= d;
          s.variable_parameters += n;
        }
      }
    }

    auto layout = LayoutOps().find(node.op());
    auto fmt = GetAttr<std::string>(node, "data_format");
    if (layout != LayoutOps().end()) {
      ++s.data_formats[fmt.ok() && !fmt->empty() ? *fmt : std::string(layout->second)];
    } else if (node.op() == "BiasAdd" && fmt.ok() && *fmt == "NCHW") {
      ++s.data_formats["NCHW"];
    }

    if (IsFakeQuantOp(node.op())) {
      FakeQuantNodeSummary fq;
      fq.name = node.name();
      fq.op = node.op();
      fq.input = node.input_size() > 0 ? node.input(0) : "";
      fq.num_bits = GetAttrOr<int>(node, "num_bits", 8).value_or(8);
      fq.narrow_range = GetAttrOr<bool>(node, "narrow_range", false).value_or(false);
      FillRange(view, i, &fq);
      auto& f = s.fake_quant;
      ++f.count;
      ++f.by_op[fq.op];
      ++f.by_bits[fq.num_bits];
      f.narrow_range += fq.narrow_range ? 1 : 0;
      f.per_channel += fq.op == "FakeQuantWithMinMaxVarsPerChannel" ? 1 : 0;
      ++f.by_range_source[fq.range_source];
      f.nodes.push_back(std::move(fq));
    }

    if (IsLegacyQuantizedOp(node.op())) {
      ++s.legacy.ops[node.op()];
      if (node.op() == "Dequantize") {
        int p = ResolveProducer(view, i, 0);
        if (p >= 0 && view.node(p).op() == "Const") dequantize_of_const.insert(i);
      }
    }
  }

  s.op_histogram.assign(hist.begin(), hist.end());
  std::sort(s.op_histogram.begin(), s.op_histogram.end(), [](const auto& a, const auto& b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;
  });

  if (s.data_formats.empty()) {
    s.data_format = "none";
  } else {
    // NHWC and NDHWC are both channels-last; NCHW and NCDHW channels-first.
    bool last = false, first = false;
    for (const auto& [f, n] : s.data_formats) {
      if (absl::EndsWith(f, "C")) last = true; else first = true;
    }
    s.data_format = last && first ? "mixed" : last ? "NHWC" : "NCHW";
  }

  if (!s.legacy.ops.empty()) {
    s.legacy.detected = true;
    int dequantize = s.legacy.ops.count("Dequantize") ? s.legacy.ops.at("Dequantize") : 0;
    bool only_weight_dequantize = static_cast<int>(s.legacy.ops.size()) == 1 && dequantize > 0 &&
                                  static_cast<int>(dequantize_of_const.size()) == dequantize;
    if (only_weight_dequantize) {
      s.legacy.kind = "quantize_weights";
      s.legacy.explanation = kQuantizeWeightsExplanation;
    } else {
      s.legacy.kind = "quantize_nodes";
      s.legacy.explanation = kQuantizeNodesExplanation;
    }
  }
  return s;
}

std::string SummaryToText(const GraphSummary& s, const SummaryTextOptions& options) {
  std::string out;
  auto line = [&out](auto&&... parts) { absl::StrAppend(&out, parts..., "\n"); };
  std::string head = s.origin.empty() ? "graph" : absl::StrCat("graph ", s.origin);
  std::vector<std::string> facts;
  if (!s.file_format.empty()) facts.push_back(s.file_format);
  facts.push_back(absl::StrCat(WithThousands(s.num_nodes), " nodes"));
  if (s.num_functions > 0) facts.push_back(absl::StrCat(s.num_functions, " library functions"));
  if (s.producer > 0) facts.push_back(absl::StrCat("producer ", s.producer));
  line(head, " (", absl::StrJoin(facts, ", "), ")");

  if (s.inputs.empty()) {
    line("inputs: none (no Placeholder; the graph reads only its own constants/variables)");
  } else {
    line("inputs (", s.inputs.size(), "):");
    for (const auto& in : s.inputs) {
      line("  ", in.name, "  ", in.dtype, " ", FormatShape(in), in.op == "Placeholder" ? "" : absl::StrCat("  (", in.op, ")"));
    }
  }
  if (s.outputs.empty()) {
    line("outputs: none found (every node is consumed)");
  } else {
    line("outputs (", s.outputs.size(), "):");
    int k = 0;
    for (const auto& o : s.outputs) {
      if (k++ >= options.max_output_lines) {
        line("  ... and ", s.outputs.size() - options.max_output_lines, " more");
        break;
      }
      line("  ", o.name, "  (", o.op, ")");
    }
  }
  line("op types (", s.op_histogram.size(), " distinct):");
  for (const auto& [op, n] : s.op_histogram) line("  ", n, "  ", op);
  line("constant parameters: ", WithThousands(s.const_parameters), " in ", WithThousands(s.const_nodes),
       " Const nodes (", WithThousands(s.const_bytes), " bytes)");
  if (s.variable_nodes > 0) {
    line("variables: ", WithThousands(s.variable_nodes), " (", WithThousands(s.variable_parameters),
         " parameters)");
  } else {
    line("variables: 0");
  }
  line("control edges: ", WithThousands(s.control_edges));
  if (s.data_formats.empty()) {
    line("data format: none (no convolution, pooling or batch-norm ops)");
  } else {
    line("data format: ", s.data_format, " (", JoinCounts(s.data_formats), ")");
  }

  const auto& f = s.fake_quant;
  if (f.count == 0) {
    line("fake quantization: none (a float graph; `tfqat rewrite` inserts FakeQuant nodes)");
  } else {
    std::vector<std::string> bits;
    for (const auto& [b, n] : f.by_bits) bits.push_back(absl::StrCat(b, "-bit ", n));
    line("fake quantization: ", f.count, " FakeQuant nodes (", JoinCounts(f.by_op), "); ",
         absl::StrJoin(bits, ", "), "; narrow_range ", f.narrow_range, "; ranges: ",
         JoinCounts(f.by_range_source));
    int k = 0;
    for (const auto& fq : f.nodes) {
      if (k++ >= options.max_fake_quant_lines) {
        line("  ... and ", f.nodes.size() - options.max_fake_quant_lines, " more (all in --json)");
        break;
      }
      line("  ", fq.name, "  ", fq.num_bits, "-bit", fq.narrow_range ? " narrow" : "", "  ", FormatRange(fq));
    }
  }
  if (s.legacy.detected) {
    line("LEGACY QUANTIZED GRAPH (", s.legacy.kind, ": ", JoinCounts(s.legacy.ops), ")");
    line("  ", s.legacy.explanation);
  }
  return out;
}

nlohmann::json SummaryToJson(const GraphSummary& s) {
  using nlohmann::json;
  json j;
  j["origin"] = s.origin;
  j["file_format"] = s.file_format;
  j["num_nodes"] = s.num_nodes;
  j["num_functions"] = s.num_functions;
  j["producer"] = s.producer;
  j["inputs"] = json::array();
  for (const auto& in : s.inputs) {
    json ji = {{"name", in.name}, {"op", in.op}, {"dtype", in.dtype}};
    ji["shape"] = in.known_rank ? json(in.shape) : json(nullptr);
    j["inputs"].push_back(ji);
  }
  j["outputs"] = json::array();
  for (const auto& o : s.outputs) j["outputs"].push_back({{"name", o.name}, {"op", o.op}});
  j["op_histogram"] = json::array();
  for (const auto& [op, n] : s.op_histogram) j["op_histogram"].push_back({{"op", op}, {"count", n}});
  j["const_nodes"] = s.const_nodes;
  j["const_parameters"] = s.const_parameters;
  j["const_bytes"] = s.const_bytes;
  j["variable_nodes"] = s.variable_nodes;
  j["variable_parameters"] = s.variable_parameters;
  j["control_edges"] = s.control_edges;
  j["data_format"] = s.data_format;
  j["data_formats"] = s.data_formats;
  json fq;
  fq["count"] = s.fake_quant.count;
  fq["by_op"] = s.fake_quant.by_op;
  json bits = json::object();
  for (const auto& [b, n] : s.fake_quant.by_bits) bits[std::to_string(b)] = n;
  fq["by_bits"] = bits;
  fq["narrow_range"] = s.fake_quant.narrow_range;
  fq["per_channel"] = s.fake_quant.per_channel;
  fq["by_range_source"] = s.fake_quant.by_range_source;
  fq["nodes"] = json::array();
  for (const auto& n : s.fake_quant.nodes) {
    json jn = {{"name", n.name}, {"op", n.op}, {"input", n.input}, {"num_bits", n.num_bits},
               {"narrow_range", n.narrow_range}, {"range_source", n.range_source}};
    if (!n.min.empty()) {
      jn["min"] = n.min;
      jn["max"] = n.max;
    }
    fq["nodes"].push_back(jn);
  }
  j["fake_quant"] = fq;
  json lq;
  lq["detected"] = s.legacy.detected;
  lq["kind"] = s.legacy.kind;
  lq["ops"] = s.legacy.ops;
  lq["explanation"] = s.legacy.explanation;
  j["legacy_quantization"] = lq;
  return j;
}

}  // namespace tfqat
