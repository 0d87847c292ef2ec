// Fake-quant placement audit: range analysis and placement rules (see audit.h, docs/audit.md).
#include "rewriter/audit.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "graph/attrs.h"
#include "graph/graph_view.h"
#include "graph/status_macros.h"
#include "graph/tensor.h"
#include "graph/validate.h"
#include "patterns/layer_patterns.h"
#include "patterns/matcher.h"
#include "patterns/op_set.h"

namespace tfqat {

const char* AuditSeverityName(AuditSeverity s) {
  switch (s) {
    case AuditSeverity::kError: return "error";
    case AuditSeverity::kWarning: return "warning";
    case AuditSeverity::kInfo: return "info";
  }
  return "?";
}

const char* RangeSourceName(RangeSource s) {
  switch (s) {
    case RangeSource::kFakeQuant: return "fake_quant";
    case RangeSource::kPassThrough: return "pass_through";
    case RangeSource::kFixed: return "fixed";
    case RangeSource::kInput: return "input";
    case RangeSource::kMissing: return "missing";
  }
  return "?";
}

int AuditReport::Count(AuditSeverity s) const {
  int n = 0;
  for (const auto& f : findings) n += f.severity == s ? 1 : 0;
  return n;
}

bool AuditReport::HasProblems() const {
  return Count(AuditSeverity::kError) > 0 || Count(AuditSeverity::kWarning) > 0;
}

NudgedRange NudgeRange(float min, float max, int num_bits, bool narrow_range) {
  // tensorflow/core/kernels/fake_quant_ops_functor.h, Nudge(): float32, same order.
  const float quant_min = narrow_range ? 1.0f : 0.0f;
  const float quant_max = static_cast<float>((1 << num_bits) - 1);
  NudgedRange r;
  r.scale = (max - min) / (quant_max - quant_min);
  const float zero_point_from_min = quant_min - min / r.scale;
  float zp;
  if (zero_point_from_min < quant_min) {
    zp = quant_min;
  } else if (zero_point_from_min > quant_max) {
    zp = quant_max;
  } else {
    zp = std::round(zero_point_from_min);  // half away from zero, as StdRound
  }
  r.zero_point = zp;
  r.min = (quant_min - zp) * r.scale;
  r.max = (quant_max - zp) * r.scale;
  return r;
}

namespace {

namespace pops = patterns::ops;
using patterns::OpSet;

const OpSet kIdentityLike{"Identity", "StopGradient", "Snapshot", "PreventGradient"};
// Same range on input and output (TFLite requires it; the converter propagates it both ways).
const OpSet kSameRange{"AvgPool", "MaxPool", "Reshape", "Squeeze", "Pad", "ExpandDims"};
// Take the input's range when they have no FakeQuant of their own (converter rule 4).
const OpSet kInputRangeOk{"Relu", "Relu6", "Mean"};
// Fused activations of CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED.
const OpSet kFusedActivation{"Relu", "Relu6"};
const OpSet kPlaceholder{"Placeholder", "PlaceholderWithDefault"};
const OpSet kVariables{"VariableV2", "Variable", "VarHandleOp", "ReadVariableOp"};
const OpSet kNotConstant{"Placeholder", "PlaceholderWithDefault", "RandomUniform", "RandomStandardNormal",
                         "TruncatedNormal", "RandomUniformInt", "Multinomial", "RandomShuffle"};
const OpSet kLegacyNamed{"QuantizeV2", "Dequantize", "Requantize", "RequantizationRange",
                         "QuantizeDownAndShrinkRange", "Quantize"};

bool IsLegacyOp(const std::string& op) {
  return kLegacyNamed.Contains(op) || absl::StartsWith(op, "Quantized");
}

std::string Fmt(float v) { return absl::StrFormat("%.6g", v); }
std::string FmtRange(float lo, float hi) { return absl::StrCat("[", Fmt(lo), ", ", Fmt(hi), "]"); }

std::string TensorName(const std::string& node, int port) {
  return port == 0 ? node : absl::StrCat(node, ":", port);
}

// Whether output `port` of `node` is a float tensor (unknown types count as float).
bool OutputIsFloat(const tensorflow::NodeDef& node, int port) {
  auto type_attr = [&](const char* name) -> std::optional<tensorflow::DataType> {
    auto it = node.attr().find(name);
    if (it == node.attr().end() || it->second.value_case() != tensorflow::AttrValue::kType) {
      return std::nullopt;
    }
    return BaseType(it->second.type());
  };
  const std::string& op = node.op();
  if (op == "Shape" || op == "Size" || op == "Rank" || op == "ShapeN") {
    return false;
  }
  if (op == "ArgMax" || op == "ArgMin") return false;
  if (op.rfind("FusedBatchNorm", 0) == 0 && port > 0) return false;  // statistics
  for (const char* name : {"out_type", "output_type", "DstT", "dtype", "T"}) {
    if (auto t = type_attr(name)) return *t == tensorflow::DT_FLOAT;
  }
  return true;
}

struct FakeQuantInfo {
  int node = -1;
  bool per_channel = false;
  bool known = false;  // min/max values read from constants
  std::vector<float> min, max;
  int num_bits = 8;
  bool narrow_range = false;
  int input = -1;  // producer of the quantized tensor, Identity-like nodes skipped
};

class Auditor {
 public:
  Auditor(const GraphView& view, const AuditOptions& options) : view_(view), options_(options) {}

  absl::StatusOr<AuditReport> Run();

 private:
  const tensorflow::NodeDef& N(int i) const { return view_.node(i); }
  const std::string& Op(int i) const { return view_.node(i).op(); }
  const std::string& Name(int i) const { return view_.node(i).name(); }

  int DataInput(int n, int slot) const {
    const auto& fi = view_.fanin(n);
    if (slot >= static_cast<int>(fi.size()) || fi[slot].is_control) return -1;
    return fi[slot].node;
  }
  // Producer of input `slot`, looking through Identity-like nodes.
  int SkipIdentity(int n) const {
    while (n >= 0 && kIdentityLike.Contains(Op(n))) n = DataInput(n, 0);
    return n;
  }
  // Data consumers of output `port`, looking through Identity-like nodes.
  void ConsumersThroughIdentity(int n, int port, std::vector<Consumer>* out) const {
    for (const Consumer& c : view_.consumers(n, port)) {
      if (kIdentityLike.Contains(Op(c.node))) {
        ConsumersThroughIdentity(c.node, 0, out);
      } else {
        out->push_back(c);
      }
    }
  }

  void Add(AuditSeverity sev, const char* rule, int node, std::string message, std::string fix,
           std::vector<std::string> related = {}) {
    AuditFinding f;
    f.severity = sev;
    f.rule = rule;
    f.node = node >= 0 ? Name(node) : "";
    f.op = node >= 0 ? Op(node) : "";
    f.message = std::move(message);
    f.fix = std::move(fix);
    f.related = std::move(related);
    findings_.push_back({node, std::move(f)});
  }

  std::string Describe(int n) const { return absl::StrCat("'", Name(n), "' (", Op(n), ")"); }

  void ComputeConstant();
  void ComputeInferencePath();
  absl::Status FindLayers();
  void ReadFakeQuants();
  void CheckLegacy();
  void CheckFakeQuantRanges();
  void CheckBitWidths();
  void CheckPlacement();
  void CheckLayers();
  void AnalyzeRanges();
  void CheckConcats();

  // Range of a tensor, resolved (memoized).
  struct Resolved {
    RangeSource source = RangeSource::kMissing;
    int from = -1;
    bool has_values = false;
    float min = 0, max = 0;
    int num_bits = 8;
    bool needed = false;   // the converter quantizes this tensor
    bool interior = false;  // inside a fused layer
    std::string rule;
    // Identity of the range: its values when known, else the nodes holding min and max (two
    // FakeQuant nodes reading the same variables share one range).
    std::string key;
  };
  void SetFromFakeQuant(Resolved* r, int fq) const;

  const GraphView& view_;
  const AuditOptions& options_;
  std::vector<int> topo_;
  std::vector<bool> constant_;
  std::vector<bool> on_path_;
  std::vector<int> layer_of_;    // per node: index into layers_ (weighted op, interior or root)
  std::vector<bool> interior_;   // owned by a layer, not its root
  std::vector<patterns::LayerMatch> layers_;
  patterns::MatchSet matches_;
  absl::flat_hash_map<int, FakeQuantInfo> fq_;
  std::vector<Resolved> range_;
  std::vector<std::pair<int, AuditFinding>> findings_;
  bool legacy_ = false;
  AuditReport report_;
};

void Auditor::ComputeConstant() {
  constant_.assign(view_.num_nodes(), false);
  for (int n : topo_) {
    const std::string& op = Op(n);
    if (op == "Const" || kVariables.Contains(op)) {
      constant_[n] = true;
      continue;
    }
    if (kNotConstant.Contains(op)) continue;
    bool any = false, all = true;
    for (const Producer& p : view_.fanin(n)) {
      if (p.is_control) continue;
      any = true;
      all = all && constant_[p.node];
    }
    constant_[n] = any && all;
  }
}

void Auditor::ComputeInferencePath() {
  on_path_.assign(view_.num_nodes(), false);
  std::vector<int> stack;
  for (const std::string& name : options_.outputs) {
    if (auto i = view_.index(NodeNameOf(name))) stack.push_back(*i);
  }
  if (options_.outputs.empty()) stack = view_.Outputs();
  while (!stack.empty()) {
    int n = stack.back();
    stack.pop_back();
    if (on_path_[n]) continue;
    on_path_[n] = true;
    for (const Producer& p : view_.fanin(n)) {
      if (!p.is_control && !on_path_[p.node]) stack.push_back(p.node);
    }
  }
}

absl::Status Auditor::FindLayers() {
  patterns::MatchOptions mo;
  for (const std::string& name : options_.outputs) {
    if (auto i = view_.index(NodeNameOf(name))) mo.protected_nodes.insert(*i);
  }
  TFQAT_ASSIGN_OR_RETURN(matches_, patterns::FindLayers(view_, mo));
  layer_of_.assign(view_.num_nodes(), -1);
  interior_.assign(view_.num_nodes(), false);
  std::vector<std::pair<int, patterns::LayerMatch>> sorted;
  for (const auto& m : matches_.matches) {
    patterns::LayerMatch l = patterns::DecodeLayer(m);
    if (l.weighted < 0) continue;
    sorted.push_back({l.weighted, l});
    (void)m;
  }
  std::sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  for (auto& [w, l] : sorted) layers_.push_back(l);
  for (size_t li = 0; li < layers_.size(); ++li) {
    // Find the match again for its owned nodes.
    for (const auto& m : matches_.matches) {
      if (m.root != layers_[li].output) continue;
      for (int o : m.owned) {
        layer_of_[o] = static_cast<int>(li);
        // Interior: the fused chain from the weighted op up to (not including) the root;
        // constant parts (weights, bias parameters) are constants anyway.
        if (o != m.root && !constant_[o]) interior_[o] = true;
      }
    }
  }
  return absl::OkStatus();
}

void Auditor::ReadFakeQuants() {
  for (int n = 0; n < view_.num_nodes(); ++n) {
    if (!pops::kFakeQuant.Contains(Op(n))) continue;
    const auto& node = N(n);
    FakeQuantInfo info;
    info.node = n;
    info.per_channel = Op(n) == "FakeQuantWithMinMaxVarsPerChannel";
    info.num_bits = static_cast<int>(GetAttrOr<int64_t>(node, "num_bits", 8).value_or(8));
    info.narrow_range = GetAttrOr<bool>(node, "narrow_range", false).value_or(false);
    info.input = SkipIdentity(DataInput(n, 0));
    if (Op(n) == "FakeQuantWithMinMaxArgs") {
      info.min = {GetAttrOr<float>(node, "min", -6.0f).value_or(-6.0f)};
      info.max = {GetAttrOr<float>(node, "max", 6.0f).value_or(6.0f)};
      info.known = true;
    } else {
      int mn = SkipIdentity(DataInput(n, 1));
      int mx = SkipIdentity(DataInput(n, 2));
      if (mn >= 0 && mx >= 0 && Op(mn) == "Const" && Op(mx) == "Const") {
        auto a = DecodeConst<float>(N(mn));
        auto b = DecodeConst<float>(N(mx));
        if (a.ok() && b.ok() && !a->values.empty() && a->values.size() == b->values.size()) {
          info.min = a->values;
          info.max = b->values;
          info.known = true;
        }
      }
    }
    fq_[n] = std::move(info);
  }
  report_.num_fake_quant = static_cast<int>(fq_.size());
}

void Auditor::CheckLegacy() {
  std::map<std::string, int> counts;
  std::vector<int> legacy_nodes;
  bool only_weight_dequantize = true;
  for (int n = 0; n < view_.num_nodes(); ++n) {
    if (!IsLegacyOp(Op(n))) continue;
    ++counts[Op(n)];
    legacy_nodes.push_back(n);
    if (!(Op(n) == "Dequantize" && constant_[n])) only_weight_dequantize = false;
  }
  if (legacy_nodes.empty()) return;
  std::vector<std::string> parts;
  for (const auto& [op, c] : counts) parts.push_back(absl::StrCat(c, " ", op));
  std::vector<std::string> related;
  for (int n : legacy_nodes) related.push_back(Name(n));
  const std::string fix =
      "start again from the float graph (before transform_graph's quantize_weights/quantize_nodes): "
      "`tfqat rewrite` it, train or calibrate, `tfqat freeze`, then `tfqat convert`; for a "
      "performance-only dummy model convert the float graph with "
      "--default-ranges-min/--default-ranges-max";
  if (only_weight_dequantize) {
    Add(AuditSeverity::kWarning, audit_rule::kLegacyWeights, legacy_nodes.front(),
        absl::StrCat("weights stored as 8-bit constants behind Dequantize (", absl::StrJoin(parts, ", "),
                     "): transform_graph's quantize_weights, a file-size optimisation that TensorFlow "
                     "undoes at load time; it carries no activation ranges and is not a "
                     "quantization-aware graph"),
        fix, related);
    return;
  }
  legacy_ = true;
  // The model inputs that feed the legacy ops directly.
  std::vector<std::string> inputs;
  for (int n : view_.Placeholders()) {
    std::vector<Consumer> cs;
    ConsumersThroughIdentity(n, 0, &cs);
    for (const Consumer& c : cs) {
      if (IsLegacyOp(Op(c.node))) {
        inputs.push_back(absl::StrCat("'", Name(n), "' feeds ", Describe(c.node)));
        break;
      }
    }
  }
  std::string msg = absl::StrCat(
      "legacy quantized graph (", absl::StrJoin(parts, ", "),
      "): this is the output of graph_transforms' quantize_nodes, TensorFlow's old eight-bit "
      "method, which computes each op in quint8 with its range carried as separate float min/max "
      "tensors and re-derives ranges at run time (RequantizationRange/Requantize). The TFLite "
      "converter cannot take it: it has no kernels for these ops and no fixed ranges to read, so "
      "conversion fails (for example with \"Input array not found\" or unsupported-op errors) "
      "however the inputs are named");
  if (!inputs.empty()) {
    absl::StrAppend(&msg, "; model input ", absl::StrJoin(inputs, ", "),
                    ": the input exists, it is the quantized form of what follows it that the "
                    "converter cannot import");
  }
  Add(AuditSeverity::kError, audit_rule::kLegacyQuantized, legacy_nodes.front(), std::move(msg), fix,
      related);
}

void Auditor::CheckFakeQuantRanges() {
  for (int n = 0; n < view_.num_nodes(); ++n) {
    auto it = fq_.find(n);
    if (it == fq_.end() || !it->second.known) continue;
    const FakeQuantInfo& fq = it->second;
    if (fq.num_bits < 2 || fq.num_bits > 16) continue;  // reported by the bit-width rule
    std::vector<std::string> empty, excl;
    for (size_t c = 0; c < fq.min.size(); ++c) {
      float lo = fq.min[c], hi = fq.max[c];
      std::string where = fq.per_channel ? absl::StrCat("channel ", c, ": ") : "";
      NudgedRange r = NudgeRange(lo, hi, fq.num_bits, fq.narrow_range);
      if (!(lo < hi)) {
        std::string effect;
        if (lo == hi) {
          effect = "the scale is 0 and TensorFlow's kernel computes 0/0: every output is NaN";
        } else {
          effect = absl::StrCat("the scale ", Fmt(r.scale),
                                " is negative and TensorFlow's kernel maps every input to one value, ",
                                Fmt(r.max));
        }
        empty.push_back(absl::StrCat(where, "min ", Fmt(lo), " >= max ", Fmt(hi), ": ", effect));
      } else if (lo > 0 || hi < 0) {
        excl.push_back(absl::StrCat(where, FmtRange(lo, hi), " does not contain 0; TensorFlow nudges it to ",
                                    FmtRange(r.min, r.max), " (scale ", Fmt(r.scale), ", zero point ",
                                    Fmt(r.zero_point), ")"));
      }
    }
    auto summarize = [](const std::vector<std::string>& v) {
      std::vector<std::string> head(v.begin(), v.begin() + std::min<size_t>(v.size(), 4));
      std::string s = absl::StrJoin(head, "; ");
      if (v.size() > head.size()) absl::StrAppend(&s, "; and ", v.size() - head.size(), " more channels");
      return s;
    };
    if (!empty.empty()) {
      Add(AuditSeverity::kError, audit_rule::kEmptyRange, n,
          absl::StrCat("FakeQuant ", Describe(n), " has an empty range: ", summarize(empty),
                       "; the converter cannot derive a scale"),
          "recompute the range (tfqat rewrite + training/calibration records min < max), or fix the "
          "min/max constants");
    }
    if (!excl.empty()) {
      Add(AuditSeverity::kWarning, audit_rule::kRangeExcludesZero, n,
          absl::StrCat("FakeQuant ", Describe(n), ": ", summarize(excl),
                       "; training and conversion both use the nudged range, so the stored one is "
                       "misleading and part of the grid is wasted"),
          "let the range include 0 (tf.contrib.quantize and tfqat rewrite clamp min <= 0 <= max)");
    }
  }
}

void Auditor::CheckBitWidths() {
  std::map<int, std::vector<int>> by_bits;
  for (int n = 0; n < view_.num_nodes(); ++n) {
    auto it = fq_.find(n);
    if (it == fq_.end()) continue;
    by_bits[it->second.num_bits].push_back(n);
    if (it->second.num_bits != 8) {
      Add(AuditSeverity::kError, audit_rule::kBitWidth, n,
          absl::StrCat("FakeQuant ", Describe(n), " has num_bits=", it->second.num_bits,
                       ": TFLite's integer kernels are 8-bit, the converter refuses it (it would have "
                       "to drop the ", it->second.num_bits, "-bit grid training used)"),
          "re-run `tfqat rewrite` with 8-bit quantization (--weight-bits 8 --activation-bits 8), or "
          "convert with --inference-type float");
    }
  }
  if (by_bits.size() > 1) {
    std::vector<std::string> parts;
    int minority = -1;
    size_t fewest = SIZE_MAX;
    for (const auto& [bits, nodes] : by_bits) {
      parts.push_back(absl::StrCat(nodes.size(), " FakeQuant at ", bits, " bits"));
      if (nodes.size() < fewest) {
        fewest = nodes.size();
        minority = nodes.front();
      }
    }
    Add(AuditSeverity::kError, audit_rule::kMixedBitWidths, minority,
        absl::StrCat("mixed bit widths (", absl::StrJoin(parts, ", "),
                     "): one TFLite model has one integer width per kernel; the converter cannot "
                     "honour the others"),
        "quantize the whole graph at 8 bits (`tfqat rewrite`), or keep the odd layers in float "
        "with `tfqat rewrite --exclude`");
  }
}

bool IsBiasLike(const GraphView& v, const std::vector<bool>& constant, int n) {
  const std::string& op = v.node(n).op();
  if (op == "BiasAdd") return true;
  if (pops::kFusedBatchNorm.Contains(op)) return true;
  if (pops::kAdd.Contains(op)) {
    for (const Producer& p : v.fanin(n)) {
      if (!p.is_control && constant[p.node]) return true;
    }
  }
  return false;
}

void Auditor::CheckPlacement() {
  for (int n = 0; n < view_.num_nodes(); ++n) {
    auto it = fq_.find(n);
    if (it == fq_.end()) continue;
    const FakeQuantInfo& fq = it->second;
    std::vector<Consumer> cs;
    ConsumersThroughIdentity(n, 0, &cs);
    if (fq.input >= 0 && constant_[fq.input]) {
      // A FakeQuant on a parameter: the bias of a weighted op?
      for (const Consumer& c : cs) {
        const std::string& op = Op(c.node);
        int other = -1;
        if (op == "BiasAdd" && c.input_slot == 1) other = SkipIdentity(DataInput(c.node, 0));
        if (pops::kAdd.Contains(op)) other = SkipIdentity(DataInput(c.node, c.input_slot == 0 ? 1 : 0));
        if (other < 0) continue;
        if (!pops::kWeighted.Contains(Op(other)) && !pops::kMul.Contains(Op(other))) continue;
        if (constant_[other]) continue;
        std::string range;
        if (fq.known && fq.min.size() == 1) {
          NudgedRange r = NudgeRange(fq.min[0], fq.max[0], fq.num_bits, fq.narrow_range);
          range = absl::StrCat(" on ", FmtRange(r.min, r.max), " (step ", Fmt(r.scale), ")");
        }
        Add(AuditSeverity::kWarning, audit_rule::kBiasQuantized, n,
            absl::StrCat("FakeQuant ", Describe(n), " quantizes the bias of ", Describe(other), " (added by ",
                         Describe(c.node), ") to a ", fq.num_bits, "-bit grid", range,
                         ": TFLite stores a bias as int32 with zero point 0 and scale S_input * S_weight, "
                         "so the converter folds this FakeQuant into the constant and re-quantizes the "
                         "result on the finer int32 grid; training simulated a coarser bias than "
                         "inference will use"),
            "leave biases unquantized (tfqat rewrite never quantizes them); the model still converts",
            {Name(other), Name(c.node)});
        break;
      }
      continue;
    }
    // An activation FakeQuant between a weighted op and its bias / activation?
    int p = fq.input;
    if (p < 0) continue;
    bool after_weighted = pops::kWeighted.Contains(Op(p)) ||
                          (pops::kMul.Contains(Op(p)) && layer_of_[p] >= 0 && interior_[p]);
    bool after_bias = IsBiasLike(view_, constant_, p);
    if (!after_weighted && !after_bias) continue;
    for (const Consumer& c : cs) {
      const std::string& op = Op(c.node);
      bool bias_next = IsBiasLike(view_, constant_, c.node) && after_weighted;
      bool act_next = kFusedActivation.Contains(op);
      if (!bias_next && !act_next) continue;
      const char* rule = bias_next ? audit_rule::kFakeQuantBeforeBias : audit_rule::kFakeQuantBeforeActivation;
      Add(AuditSeverity::kError, rule, n,
          absl::StrCat("FakeQuant ", Describe(n), " sits between ", Describe(p), " and its ",
                       bias_next ? "bias/batch norm " : "activation ", Describe(c.node),
                       ": TFLite fuses weighted op, bias and ReLU/ReLU6 into one kernel whose output is "
                       "the only quantized tensor, so the range must be taken after the activation; "
                       "here training quantized an intermediate that will not exist, the fusion is "
                       "broken, and ", Describe(c.node), " needs a range of its own"),
          "move the FakeQuant after the layer's activation: run `tfqat rewrite` on the float graph",
          {Name(p), Name(c.node)});
      break;
    }
  }
}

void Auditor::CheckLayers() {
  // Unquantized weights, per-channel axis.
  for (const auto& l : layers_) {
    if (!on_path_[l.weighted]) continue;
    AuditLayer al;
    al.weighted_op = Name(l.weighted);
    al.op = Op(l.weighted);
    al.kind = patterns::LayerKind(view_, l);
    al.output = Name(l.output);
    for (int n = 0; n < view_.num_nodes(); ++n) {
      if (interior_[n] && layer_of_[n] >= 0 && layers_[layer_of_[n]].output == l.output) {
        al.interior.push_back(Name(n));
      }
    }
    // The weights' FakeQuant: the captured node or the FakeQuant inside a SelectV2/Reshape.
    int wfq = -1;
    if (l.weights_quant >= 0) {
      int q = l.weights_quant;
      for (int depth = 0; depth < 4 && q >= 0 && !fq_.contains(q); ++depth) {
        int next = -1;
        for (const Producer& p : view_.fanin(q)) {
          if (!p.is_control && (fq_.contains(p.node) || Op(p.node) == "SelectV2")) {
            next = p.node;
            if (fq_.contains(p.node)) break;
          }
        }
        q = next;
      }
      if (q >= 0 && fq_.contains(q)) wfq = q;
    }
    if (wfq >= 0) {
      al.weights_quant = Name(wfq);
      const FakeQuantInfo& fq = fq_[wfq];
      al.per_channel = fq.per_channel;
      if (fq.per_channel && fq.known) {
        const std::string& op = Op(l.weighted);
        int64_t expected = -1;
        std::string axis;
        // Weights shape from the constant the weights come from.
        // Follows Identity, the depthwise Reshape and a folded batch norm's Mul to the Const.
        std::vector<int64_t> shape;
        int src = l.weights_source >= 0 ? l.weights_source : DataInput(wfq, 0);
        for (int depth = 0; depth < 6 && src >= 0 && shape.empty(); ++depth) {
          src = SkipIdentity(src);
          if (src < 0) break;
          if (Op(src) == "Const") {
            auto it = N(src).attr().find("value");
            if (it != N(src).attr().end()) {
              auto s = ShapeFromProto(it->second.tensor().tensor_shape());
              if (s.ok() && s->size() == 4) shape = *s;
            }
            break;
          }
          if (Op(src) == "Reshape") {
            src = DataInput(src, 0);
          } else if (pops::kMul.Contains(Op(src))) {
            int a = SkipIdentity(DataInput(src, 0)), b = SkipIdentity(DataInput(src, 1));
            auto rank4 = [&](int n) {
              if (n < 0 || Op(n) != "Const") return false;
              auto it = N(n).attr().find("value");
              return it != N(n).attr().end() && it->second.tensor().tensor_shape().dim_size() == 4;
            };
            src = rank4(a) ? a : rank4(b) ? b : -1;
          } else {
            break;
          }
        }
        if (op == "MatMul" || op == "Conv2DBackpropInput") {
          Add(AuditSeverity::kError, audit_rule::kPerChannelAxis, wfq,
              absl::StrCat("per-channel FakeQuant ", Describe(wfq), " on the weights of ", Describe(l.weighted),
                           ": TFLite quantizes ",
                           op == "MatMul" ? "FULLY_CONNECTED weights per tensor"
                                          : "TRANSPOSE_CONV weights per output channel, while TensorFlow's "
                                            "per-channel op works on the filter's last axis (its input channels)",
                           "; the converter refuses it"),
              "quantize these weights per tensor (`tfqat rewrite` does so for MatMul and "
              "Conv2DBackpropInput even with --per-channel)",
              {Name(l.weighted)});
        } else if (shape.size() == 4) {
          if (op == "Conv2D") {
            expected = shape[3];
            axis = "the output-channel axis 3 of the HWIO filter";
          } else {
            expected = shape[2] * shape[3];
            axis = "in_channels * multiplier of the HWIM filter (reshaped to [h, w, 1, in*mult])";
          }
          if (static_cast<int64_t>(fq.min.size()) != expected) {
            Add(AuditSeverity::kError, audit_rule::kPerChannelAxis, wfq,
                absl::StrCat("per-channel FakeQuant ", Describe(wfq), " on the weights of ", Describe(l.weighted),
                             " has ", fq.min.size(), " channels, but ", axis, " has ", expected,
                             ": the ranges are on the wrong axis (shape [", absl::StrJoin(shape, ", "), "])"),
                "quantize per output channel (`tfqat rewrite --per-channel`)", {Name(l.weighted)});
          }
        }
      }
    } else if (l.weights_quant < 0) {
      Add(AuditSeverity::kError, audit_rule::kUnquantizedWeights, l.weighted,
          absl::StrCat(Describe(l.weighted), " uses float weights ",
                       l.weights.node >= 0 ? Describe(l.weights.node) : std::string("?"),
                       " without a FakeQuant: training never saw their 8-bit rounding, and the "
                       "converter has no trained weight range (layer ", al.kind, ")"),
          "run `tfqat rewrite` on the float graph (weights get a FakeQuant right before the "
          "weighted op), or --default-ranges-min/max for a performance-only dummy model");
    }
    report_.layers.push_back(std::move(al));
  }
  // Weighted ops no layer pattern covered.
  absl::flat_hash_set<int> matched;
  for (const auto& l : layers_) matched.insert(l.weighted);
  for (int n = 0; n < view_.num_nodes(); ++n) {
    if (!pops::kWeighted.Contains(Op(n)) || matched.contains(n) || !on_path_[n] || constant_[n]) continue;
    std::string why;
    for (const auto& f : matches_.failures) {
      if (f.root == n || f.at_node == n) {
        why = absl::StrCat(f.reason, f.at_node >= 0 && f.at_node != n ? absl::StrCat(" (at ", Describe(f.at_node), ")") : "");
        if (f.root == n) break;
      }
    }
    if (why.empty()) {
      patterns::MatchAt(view_, patterns::LayerPattern(), n, {}, &why);
    }
    if (why.empty()) why = "no reason recorded";
    Add(AuditSeverity::kError, audit_rule::kUnmatchedWeightedOp, n,
        absl::StrCat(Describe(n), " is not part of any layer the layer pattern recognises: ", why,
                     "; neither `tfqat rewrite` nor the converter can quantize it as a layer"),
        "give it constant (or variable) weights as input 1 (input 1 of Conv2DBackpropInput), or keep "
        "it in float with `tfqat rewrite --exclude`");
  }
}

void Auditor::SetFromFakeQuant(Resolved* r, int fqn) const {
  const FakeQuantInfo& fq = fq_.at(fqn);
  r->source = RangeSource::kFakeQuant;
  r->from = fqn;
  r->num_bits = fq.num_bits;
  r->key = absl::StrCat("fq:", fqn);
  if (Op(fqn) != "FakeQuantWithMinMaxArgs") {
    int mn = SkipIdentity(DataInput(fqn, 1)), mx = SkipIdentity(DataInput(fqn, 2));
    if (mn >= 0 && mx >= 0) r->key = absl::StrCat("vars:", Name(mn), ",", Name(mx));
  }
  if (fq.known && !fq.per_channel && fq.min.size() == 1 && fq.min[0] < fq.max[0] && fq.num_bits >= 2 &&
      fq.num_bits <= 16) {
    NudgedRange nr = NudgeRange(fq.min[0], fq.max[0], fq.num_bits, fq.narrow_range);
    r->has_values = true;
    r->min = nr.min;
    r->max = nr.max;
    r->key = absl::StrCat("values:", nr.min, ",", nr.max, ",", fq.num_bits);
  }
}

void Auditor::AnalyzeRanges() {
  range_.assign(view_.num_nodes(), Resolved{});
  auto consumer_fq = [&](int n) -> int {
    std::vector<Consumer> cs;
    ConsumersThroughIdentity(n, 0, &cs);
    for (const Consumer& c : cs) {
      if (fq_.contains(c.node) && c.input_slot == 0) return c.node;
    }
    // The quant-delay switch of a train-mode graph: SelectV2(cond, FakeQuant(x), x).
    for (const Consumer& c : cs) {
      if (Op(c.node) != "SelectV2") continue;
      for (const Producer& p : view_.fanin(c.node)) {
        if (!p.is_control && fq_.contains(p.node) && SkipIdentity(DataInput(p.node, 0)) == n) return p.node;
      }
    }
    return -1;
  };
  auto copy_from = [&](Resolved* r, int src, RangeSource how) {
    const Resolved& s = range_[src];
    r->source = how;
    r->from = s.from >= 0 ? s.from : src;
    r->has_values = s.has_values;
    r->min = s.min;
    r->max = s.max;
    r->num_bits = s.num_bits;
    r->key = s.key.empty() ? absl::StrCat("node:", src) : s.key;
  };
  for (int n : topo_) {
    Resolved& r = range_[n];
    const std::string& op = Op(n);
    r.interior = interior_[n];
    if (constant_[n] || !OutputIsFloat(N(n), 0) || IsLegacyOp(op)) continue;
    if (fq_.contains(n)) {
      SetFromFakeQuant(&r, n);
      continue;
    }
    const bool layer_root = layer_of_[n] >= 0 && layers_[layer_of_[n]].output == n;
    if (kIdentityLike.Contains(op) && !layer_root) {
      int in = DataInput(n, 0);
      if (in >= 0) r = range_[in];
      r.needed = false;
      continue;
    }
    if (op == "SelectV2") {
      int fqn = -1;
      for (const Producer& p : view_.fanin(n)) {
        if (!p.is_control && fq_.contains(p.node)) fqn = p.node;
      }
      if (fqn >= 0) {
        SetFromFakeQuant(&r, fqn);
        continue;
      }
    }
    if (!on_path_[n]) continue;
    if (interior_[n]) continue;  // fused into its layer: no tensor of its own
    r.needed = true;
    int fqn = consumer_fq(n);
    if (fqn >= 0) {
      SetFromFakeQuant(&r, fqn);
      continue;
    }
    if (kPlaceholder.Contains(op)) {
      r.source = RangeSource::kInput;
      r.from = n;
      continue;
    }
    if (op == "Softmax" || op == "Sigmoid" || op == "Logistic") {
      r.source = RangeSource::kFixed;
      r.from = n;
      r.has_values = true;
      r.min = 0.0f;
      r.max = 255.0f / 256.0f;
      r.key = "values:fixed-logistic";
      continue;
    }
    if (op == "Tanh") {
      r.source = RangeSource::kFixed;
      r.from = n;
      r.has_values = true;
      r.min = -1.0f;
      r.max = 127.0f / 128.0f;
      r.key = "values:fixed-tanh";
      continue;
    }
    int in = DataInput(n, 0);
    if ((kSameRange.Contains(op) || kInputRangeOk.Contains(op)) && in >= 0 &&
        range_[in].source != RangeSource::kMissing && !range_[in].interior) {
      copy_from(&r, in, RangeSource::kPassThrough);
      continue;
    }
    if (pops::kConcat.Contains(op)) {
      // Common range of the inputs (all but the last, the axis).
      const auto df = view_.data_fanin(n);
      bool all = df.size() >= 2, same = true;
      for (size_t i = 0; i + 1 < df.size(); ++i) {
        const Resolved& s = range_[df[i].node];
        if (s.source == RangeSource::kMissing || s.interior || s.key.empty()) all = false;
        else if (i > 0 && s.key != range_[df[0].node].key) same = false;
      }
      if (all && same) {
        copy_from(&r, df[0].node, RangeSource::kPassThrough);
        continue;
      }
      // Inputs with different known ranges and no FakeQuant: the converter takes their union
      // (converter rule 5); the concat-ranges-differ warning says what that costs.
      bool all_values = all;
      for (size_t i = 0; i + 1 < df.size() && all_values; ++i) all_values = range_[df[i].node].has_values;
      if (all_values) {
        r.source = RangeSource::kPassThrough;
        r.from = n;
        r.has_values = true;
        r.min = range_[df[0].node].min;
        r.max = range_[df[0].node].max;
        for (size_t i = 1; i + 1 < df.size(); ++i) {
          r.min = std::min(r.min, range_[df[i].node].min);
          r.max = std::max(r.max, range_[df[i].node].max);
        }
        r.key = absl::StrCat("values:", r.min, ",", r.max, ",union");
        r.rule = "union of the inputs' ranges";
        continue;
      }
    }
    // Missing: name the rule that should have covered it.
    r.source = RangeSource::kMissing;
    if (layer_of_[n] >= 0 && layers_[layer_of_[n]].output == n) {
      r.rule = absl::StrCat("the output of layer '", Name(layers_[layer_of_[n]].weighted), "' (",
                            patterns::LayerKind(view_, layers_[layer_of_[n]]),
                            ") needs a FakeQuant after its activation");
    } else if (pops::kConcat.Contains(op)) {
      r.rule = "a concat takes its FakeQuant's range or its inputs' common range, and has neither";
    } else if (kSameRange.Contains(op) || kInputRangeOk.Contains(op)) {
      r.rule = absl::StrCat("a ", op, " takes its input's range, and its input ",
                            in >= 0 ? Describe(in) : std::string("?"), " has none");
    } else if (pops::kAdd.Contains(op) || pops::kMul.Contains(op) || op == "Sub") {
      r.rule = absl::StrCat("an elementwise ", op, " of activations needs a FakeQuant on its output");
    } else {
      r.rule = absl::StrCat("the output of a quantized ", op, " needs a FakeQuant");
    }
  }
  // Backward: a missing range on the input of a same-range op or ReLU is taken from its output.
  for (auto it = topo_.rbegin(); it != topo_.rend(); ++it) {
    int n = *it;
    Resolved& r = range_[n];
    if (!r.needed || r.source != RangeSource::kMissing) continue;
    std::vector<Consumer> cs;
    ConsumersThroughIdentity(n, 0, &cs);
    for (const Consumer& c : cs) {
      if (c.input_slot != 0) continue;
      if (!kSameRange.Contains(Op(c.node)) && !kInputRangeOk.Contains(Op(c.node))) continue;
      const Resolved& s = range_[c.node];
      if (s.source == RangeSource::kFakeQuant ||
          (s.source == RangeSource::kPassThrough && s.from != n && fq_.contains(s.from))) {
        copy_from(&r, c.node, RangeSource::kPassThrough);
        r.rule.clear();
        break;
      }
    }
  }
  // Report every tensor, and every missing one as a finding.
  for (int n : topo_) {
    const Resolved& r = range_[n];
    if (!r.needed) continue;
    AuditTensor t;
    t.tensor = TensorName(Name(n), 0);
    t.node = Name(n);
    t.op = Op(n);
    t.source = r.source;
    t.from = r.from >= 0 ? Name(r.from) : "";
    t.has_values = r.has_values;
    t.min = r.min;
    t.max = r.max;
    t.num_bits = r.num_bits;
    t.rule = r.rule;
    report_.tensors.push_back(t);
    if (legacy_) continue;  // the legacy finding explains these
    if (r.source == RangeSource::kMissing) {
      Add(AuditSeverity::kError, audit_rule::kMissingRange, n,
          absl::StrCat("tensor '", t.tensor, "' (", t.op, ") is lacking min/max data: ", r.rule),
          "run `tfqat rewrite` on the float graph (then train or calibrate, and `tfqat freeze`), or "
          "convert with --default-ranges-min/--default-ranges-max for a performance-only dummy model");
    } else if (r.source == RangeSource::kInput) {
      Add(AuditSeverity::kInfo, audit_rule::kInputRange, n,
          absl::StrCat("model input '", t.tensor, "' (", t.op,
                       ") has no FakeQuant: its quantization comes from the converter's flags"),
          "convert with --mean-values/--std-dev-values (or rewrite with --quantize-inputs)");
    }
  }
}

void Auditor::CheckConcats() {
  for (int n : topo_) {
    if (!pops::kConcat.Contains(Op(n)) || !on_path_[n] || constant_[n]) continue;
    const auto df = view_.data_fanin(n);
    std::vector<std::string> parts;
    std::set<std::pair<float, float>> distinct;
    std::vector<std::string> related;
    for (size_t i = 0; i + 1 < df.size(); ++i) {
      const Resolved& s = range_[df[i].node];
      if (!s.has_values || s.source == RangeSource::kMissing) continue;
      distinct.insert({s.min, s.max});
      parts.push_back(absl::StrCat("'", Name(df[i].node), "' ", FmtRange(s.min, s.max)));
      related.push_back(Name(df[i].node));
    }
    if (distinct.size() <= 1) continue;
    Add(AuditSeverity::kWarning, audit_rule::kConcatRanges, n,
        absl::StrCat("the inputs of ", Describe(n), " have different ranges (", absl::StrJoin(parts, ", "),
                     "): the int8 spec requires one scale and zero point for all inputs and the output, "
                     "so the converter requantizes the inputs (QUANTIZE ops: extra rounding and time)", range_[n].source == RangeSource::kPassThrough && range_[n].from == n ? absl::StrCat(" onto the union of their ranges ", FmtRange(range_[n].min, range_[n].max)) : std::string()),
        "tie the inputs' ranges (`tfqat rewrite` quantizes every concat input with one shared pair "
        "of min/max variables)",
        related);
  }
}

absl::StatusOr<AuditReport> Auditor::Run() {
  report_.num_nodes = view_.num_nodes();
  TFQAT_ASSIGN_OR_RETURN(topo_, view_.TopologicalOrder());
  ComputeConstant();
  ComputeInferencePath();
  TFQAT_RETURN_IF_ERROR(FindLayers());
  ReadFakeQuants();
  CheckLegacy();
  if (fq_.empty() && !legacy_) {
    Add(AuditSeverity::kError, audit_rule::kNoFakeQuant, -1,
        "the graph holds no FakeQuant node: it is a float graph, and the converter has no range for "
        "any tensor",
        "run `tfqat rewrite` on it (then train or calibrate, and `tfqat freeze`), or convert with "
        "--default-ranges-min/--default-ranges-max for a performance-only dummy model");
  }
  CheckBitWidths();
  CheckFakeQuantRanges();
  CheckPlacement();
  CheckLayers();
  AnalyzeRanges();
  CheckConcats();
  std::stable_sort(findings_.begin(), findings_.end(), [](const auto& a, const auto& b) {
    if (a.second.severity != b.second.severity) return a.second.severity < b.second.severity;
    return a.first < b.first;
  });
  for (auto& [n, f] : findings_) report_.findings.push_back(std::move(f));
  report_.legacy_quantized = legacy_;
  return std::move(report_);
}

}  // namespace

absl::StatusOr<AuditReport> AuditGraph(const tensorflow::GraphDef& graph, const AuditOptions& options) {
  if (options.validate) {
    ValidateOptions vo;
    vo.check_const_tensors = true;
    TFQAT_RETURN_IF_ERROR(ValidateGraph(graph, vo));
  }
  TFQAT_ASSIGN_OR_RETURN(GraphView view, GraphView::Create(graph));
  for (const std::string& name : options.outputs) {
    if (!view.index(NodeNameOf(name))) {
      return absl::InvalidArgumentError(absl::StrCat("output node '", name, "' is not in the graph"));
    }
  }
  Auditor auditor(view, options);
  return auditor.Run();
}

}  // namespace tfqat
