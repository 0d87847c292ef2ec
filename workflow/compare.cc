#include "workflow/compare.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "graph/graph_view.h"
#include "graph/status_macros.h"
#include "nlohmann/json.hpp"
#include "runtime/interpreter.h"
#include "trainer/executor.h"
#include "workflow/model_runner.h"

namespace tfqat::workflow {
namespace {

using runtime::ElementType;

// Running version of CompareArrays (workflow/metrics.h): the same definitions, summed over
// every example so that no layer's values need to be kept.
struct Acc {
  double signal = 0, noise = 0, sum_abs = 0, max_abs = 0;
  int64_t count = 0;
  void Add(const std::vector<float>& ref, const std::vector<float>& x) {
    for (size_t i = 0; i < ref.size(); ++i) {
      const double r = ref[i], d = static_cast<double>(x[i]) - r;
      signal += r * r;
      noise += d * d;
      sum_abs += std::fabs(d);
      max_abs = std::max(max_abs, std::fabs(d));
    }
    count += static_cast<int64_t>(ref.size());
  }
  ErrorStats Stats(double scale) const {
    ErrorStats s;
    s.count = count;
    s.max_abs = max_abs;
    s.mean_abs = count == 0 ? 0.0 : sum_abs / static_cast<double>(count);
    s.sqnr_db = noise == 0 ? std::numeric_limits<double>::infinity()
                           : 10.0 * std::log10(std::max(signal, 1e-300) / noise);
    s.max_lsb = scale > 0 ? max_abs / scale : 0.0;
    return s;
  }
};


absl::StatusOr<std::vector<float>> Dequantize(const runtime::TensorInfo& t, const void* data) {
  const size_t n = t.bytes / runtime::ElementSize(t.type);
  std::vector<float> v(n);
  const float s = t.scale;
  const int32_t zp = t.zero_point;
  for (size_t i = 0; i < n; ++i) {
    switch (t.type) {
      case ElementType::kFloat32: v[i] = static_cast<const float*>(data)[i]; break;
      case ElementType::kUint8: v[i] = (static_cast<int32_t>(static_cast<const uint8_t*>(data)[i]) - zp) * s; break;
      case ElementType::kInt8: v[i] = (static_cast<int32_t>(static_cast<const int8_t*>(data)[i]) - zp) * s; break;
      case ElementType::kInt16: v[i] = (static_cast<int32_t>(static_cast<const int16_t*>(data)[i]) - zp) * s; break;
      case ElementType::kInt32:
        v[i] = static_cast<float>((static_cast<int64_t>(static_cast<const int32_t*>(data)[i]) - zp) * static_cast<double>(s));
        break;
      default:
        return absl::UnimplementedError(absl::StrCat("tensor '", t.name, "' of type ", runtime::ElementTypeName(t.type),
                                                     " cannot be compared"));
    }
  }
  return v;
}

bool IsFakeQuant(const tensorflow::NodeDef& n) { return absl::StartsWith(n.op(), "FakeQuantWithMinMax"); }

// The frozen-graph node whose value is the fake-quant view of tensor `name`: the node itself when
// it is a FakeQuant, else the activation FakeQuant reading it (through Identity chains), else the
// node itself (ops whose outputs stay on their input's grid, such as MaxPool).
std::string FakeQuantNodeFor(const GraphView& v, const std::string& name) {
  auto idx = v.index(name);
  if (!idx) return "";
  int i = *idx;
  if (IsFakeQuant(v.node(i))) return name;
  for (int hops = 0; hops < 64; ++hops) {
    int sole_identity = -1, data_consumers = 0;
    for (const auto& c : v.consumers(i, 0)) {
      if (c.is_control) continue;
      ++data_consumers;
      const auto& n = v.node(c.node);
      if (IsFakeQuant(n) && c.input_slot == 0) return n.name();
      if (n.op() == "Identity") sole_identity = c.node;
    }
    if (data_consumers != 1 || sole_identity < 0) break;
    i = sole_identity;
  }
  return name;
}

// The float value of tensor `name`: walking back from it through FakeQuant*/Identity to the first
// other node.
std::string FloatNodeFor(const GraphView& v, const std::string& name) {
  auto idx = v.index(name);
  if (!idx) return name;  // not in the frozen graph: try the same name in the float graph
  int i = *idx;
  for (int hops = 0; hops < 64; ++hops) {
    const auto& n = v.node(i);
    if (!IsFakeQuant(n) && n.op() != "Identity") break;
    const auto& prod = v.inputs(i);
    if (prod.empty() || prod[0].is_control) break;
    auto p = v.index(prod[0].node);
    if (!p) break;
    i = *p;
  }
  return v.node(i).name();
}

std::string StripPort0(const std::string& s) {
  return absl::EndsWith(s, ":0") ? s.substr(0, s.size() - 2) : s;
}

std::string Db(double v) {
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  return absl::StrFormat("%.2f", v);
}

nlohmann::json StatsJson(const ErrorStats& s, bool lsb) {
  nlohmann::json j;
  if (std::isinf(s.sqnr_db)) j["sqnr_db"] = nullptr; else j["sqnr_db"] = s.sqnr_db;
  j["identical"] = std::isinf(s.sqnr_db);
  j["max_abs"] = s.max_abs;
  j["mean_abs"] = s.mean_abs;
  if (lsb) j["max_lsb"] = s.max_lsb;
  j["count"] = s.count;
  return j;
}

}  // namespace

absl::StatusOr<CompareReport> CompareModels(const tensorflow::GraphDef& float_graph,
                                            const tensorflow::GraphDef& fake_quant_graph,
                                            const std::string& tflite_path, const NpyArray& input,
                                            const CompareOptions& options) {
  runtime::InterpreterOptions io;
  io.num_threads = options.threads;
  TFQAT_ASSIGN_OR_RETURN(auto interp, runtime::Interpreter::Create(tflite_path, io));
  if (interp->num_inputs() != 1)
    return absl::InvalidArgumentError(absl::StrCat(tflite_path, ": compare needs a model with one input, it has ",
                                                   interp->num_inputs()));
  const runtime::TensorInfo in = interp->input(0);
  const std::string feed_name = options.input_name.empty() ? in.name : options.input_name;
  const size_t in_elems = in.bytes / runtime::ElementSize(in.type);
  const int64_t total = input.num_elements();
  if (in_elems == 0 || total % static_cast<int64_t>(in_elems) != 0)
    return absl::InvalidArgumentError(absl::StrCat("input holds ", total, " values, not a multiple of the model input's ",
                                                   in_elems, " ('", in.name, "')"));
  int64_t steps = total / static_cast<int64_t>(in_elems);
  const int64_t model_batch = in.shape.rank == 0 ? 1 : std::max<int64_t>(in.shape.dims[0], 1);
  if (options.max_examples > 0) steps = std::min(steps, (options.max_examples + model_batch - 1) / model_batch);
  std::vector<int64_t> feed_shape(in.shape.dims, in.shape.dims + in.shape.rank);
  if (feed_shape.empty()) feed_shape = {static_cast<int64_t>(in_elems)};

  TFQAT_ASSIGN_OR_RETURN(GraphView fq_view, GraphView::Create(fake_quant_graph));
  TFQAT_ASSIGN_OR_RETURN(GraphView float_view, GraphView::Create(float_graph));
  ExecutorOptions eo;
  eo.num_threads = options.threads;
  eo.check_all_ops = false;
  TFQAT_ASSIGN_OR_RETURN(Executor fq_ex, Executor::Create(fake_quant_graph, eo));
  TFQAT_ASSIGN_OR_RETURN(Executor float_ex, Executor::Create(float_graph, eo));
  if (!fq_view.index(feed_name) || !float_view.index(feed_name))
    return absl::InvalidArgumentError(absl::StrCat("input '", feed_name, "' is not a node of both graphs; name it with --input NAME=FILE.npy"));

  CompareReport report;
  report.tolerance_lsb = options.tolerance_lsb;
  std::vector<Acc> acc_ffq, acc_fint, acc_fqint;
  std::vector<std::string> fq_fetches, float_fetches;   // unique node names
  std::vector<int> fq_slot, float_slot;                  // per layer: index into the fetches (-1)
  std::vector<std::vector<float>> int_values;            // per layer, current example

  const std::vector<float> x = input.ToFloat();
  std::vector<uint8_t> qin(in.bytes);
  for (int64_t s = 0; s < steps; ++s) {
    const float* xs = x.data() + s * in_elems;
    void* dst = interp->input_data(0);
    switch (in.type) {
      case ElementType::kFloat32: std::memcpy(dst, xs, in_elems * sizeof(float)); break;
      case ElementType::kUint8:
        for (size_t i = 0; i < in_elems; ++i)
          static_cast<uint8_t*>(dst)[i] = QuantizeLikeFakeQuant<uint8_t>(xs[i], in.scale, in.zero_point);
        break;
      case ElementType::kInt8:
        for (size_t i = 0; i < in_elems; ++i)
          static_cast<int8_t*>(dst)[i] = QuantizeLikeFakeQuant<int8_t>(xs[i], in.scale, in.zero_point);
        break;
      default:
        return absl::UnimplementedError(absl::StrCat("input '", in.name, "' of type ", runtime::ElementTypeName(in.type),
                                                     " is not supported by compare"));
    }
    std::memcpy(qin.data(), dst, in.bytes);
    const bool first = s == 0;
    std::vector<runtime::TensorInfo> infos;
    int_values.clear();
    {
      TFQAT_ASSIGN_OR_RETURN(auto v, Dequantize(in, qin.data()));
      int_values.push_back(std::move(v));
      if (first) infos.push_back(in);
    }
    absl::Status obs_status;
    TFQAT_RETURN_IF_ERROR(interp->Invoke([&](int, const runtime::TensorInfo& t, const void* data) {
      if (!obs_status.ok()) return;
      auto v = Dequantize(t, data);
      if (!v.ok()) {
        obs_status = v.status();
        return;
      }
      int_values.push_back(std::move(*v));
      if (first) infos.push_back(t);
    }));
    TFQAT_RETURN_IF_ERROR(obs_status);

    if (first) {
      std::map<std::string, int> fq_index, float_index;
      for (size_t l = 0; l < infos.size(); ++l) {
        const auto& t = infos[l];
        LayerComparison lc;
        lc.op_index = static_cast<int>(l) - 1;
        lc.op = l == 0 ? "INPUT" : interp->profile()[l - 1].op;
        lc.tensor = t.name;
        lc.shape.assign(t.shape.dims, t.shape.dims + t.shape.rank);
        lc.type = runtime::ElementTypeName(t.type);
        lc.scale = t.scale;
        lc.zero_point = t.zero_point;
        const std::string name = l == 0 ? feed_name : StripPort0(t.name);
        lc.fq_node = FakeQuantNodeFor(fq_view, name);
        lc.float_node = FloatNodeFor(fq_view, name);
        if (!float_view.index(lc.float_node)) {
          lc.note = absl::StrCat("no node '", lc.float_node, "' in the float graph");
          lc.float_node.clear();
        }
        if (lc.fq_node.empty()) lc.note = absl::StrCat("no node '", name, "' in the fake-quant graph");
        int fs = -1, ff = -1;
        if (!lc.fq_node.empty()) {
          auto [it, added] = fq_index.emplace(lc.fq_node, static_cast<int>(fq_fetches.size()));
          if (added) fq_fetches.push_back(lc.fq_node);
          fs = it->second;
        }
        if (!lc.float_node.empty()) {
          auto [it, added] = float_index.emplace(lc.float_node, static_cast<int>(float_fetches.size()));
          if (added) float_fetches.push_back(lc.float_node);
          ff = it->second;
        }
        fq_slot.push_back(fs);
        float_slot.push_back(ff);
        report.layers.push_back(std::move(lc));
      }
      acc_ffq.resize(report.layers.size());
      acc_fint.resize(report.layers.size());
      acc_fqint.resize(report.layers.size());
    }
    if (int_values.size() != report.layers.size())
      return absl::InternalError("the model ran a different number of operators between examples");

    const Tensor feed = Tensor::Float(feed_shape, std::vector<float>(xs, xs + in_elems));
    std::vector<Tensor> fq_out, float_out;
    if (!fq_fetches.empty()) {
      auto r = fq_ex.Run({{feed_name, feed}}, fq_fetches);
      if (!r.ok()) return absl::Status(r.status().code(), absl::StrCat("fake-quant graph: ", r.status().message()));
      fq_out = std::move(*r);
    }
    if (!float_fetches.empty()) {
      auto r = float_ex.Run({{feed_name, feed}}, float_fetches);
      if (!r.ok()) return absl::Status(r.status().code(), absl::StrCat("float graph: ", r.status().message()));
      float_out = std::move(*r);
    }
    for (size_t l = 0; l < report.layers.size(); ++l) {
      LayerComparison& lc = report.layers[l];
      const std::vector<float>& iv = int_values[l];
      const std::vector<float>* fqv = nullptr;
      const std::vector<float>* flv = nullptr;
      if (fq_slot[l] >= 0) {
        const Tensor& t = fq_out[fq_slot[l]];
        if (t.is_float() && t.f.size() == iv.size()) fqv = &t.f;
        else if (first) lc.note = absl::StrCat("fake-quant node '", lc.fq_node, "' has ", t.num_elements(),
                                               " values, the tensor ", iv.size());
      }
      if (float_slot[l] >= 0) {
        const Tensor& t = float_out[float_slot[l]];
        if (t.is_float() && t.f.size() == iv.size()) flv = &t.f;
        else if (first) lc.note = absl::StrCat("float node '", lc.float_node, "' has ", t.num_elements(),
                                               " values, the tensor ", iv.size());
      }
      if (first) {
        lc.has_fq = fqv != nullptr;
        lc.has_float = flv != nullptr;
      }
      if (lc.has_fq && fqv) acc_fqint[l].Add(*fqv, iv);
      if (lc.has_float && flv) {
        acc_fint[l].Add(*flv, iv);
        if (lc.has_fq && fqv) acc_ffq[l].Add(*flv, *fqv);
      }
    }
    report.examples += model_batch;
  }
  for (size_t l = 0; l < report.layers.size(); ++l) {
    LayerComparison& lc = report.layers[l];
    lc.float_vs_fq = acc_ffq[l].Stats(lc.scale);
    lc.float_vs_int = acc_fint[l].Stats(lc.scale);
    lc.fq_vs_int = acc_fqint[l].Stats(lc.scale);
    const double err = lc.scale > 0 ? lc.fq_vs_int.max_lsb : lc.fq_vs_int.max_abs;
    // 1e-3 LSB absorbs float rounding in |fq - int| / scale (a 1-LSB step measures 1.00001).
    lc.diverges = lc.has_fq && err > options.tolerance_lsb + 1e-3;
    if (lc.diverges && report.first_divergence < 0) report.first_divergence = static_cast<int>(l);
  }
  return report;
}

std::string CompareReportToText(const CompareReport& r) {
  std::ostringstream o;
  o << absl::StrFormat("%d examples; SQNR in dB (inf = identical); errors of integer vs fake-quant in the tensor's LSBs\n",
                       r.examples);
  o << absl::StrFormat("%-3s %-16s %-40s %-7s %9s %9s %9s %10s %10s %8s\n", "#", "op", "tensor", "type",
                       "f/fq dB", "f/int dB", "fq/int dB", "max|fq-i|", "mean|fq-i|", "max LSB");
  for (size_t l = 0; l < r.layers.size(); ++l) {
    const auto& c = r.layers[l];
    std::string name = c.tensor;
    if (name.size() > 40) name = "…" + name.substr(name.size() - 39);
    const auto col = [](bool ok, const std::string& s) { return ok ? s : std::string("-"); };
    o << absl::StrFormat("%-3d %-16s %-40s %-7s %9s %9s %9s %10s %10s %8s%s\n", c.op_index, c.op, name, c.type,
                         col(c.has_float && c.has_fq, Db(c.float_vs_fq.sqnr_db)),
                         col(c.has_float, Db(c.float_vs_int.sqnr_db)), col(c.has_fq, Db(c.fq_vs_int.sqnr_db)),
                         col(c.has_fq, absl::StrFormat("%.4g", c.fq_vs_int.max_abs)),
                         col(c.has_fq, absl::StrFormat("%.4g", c.fq_vs_int.mean_abs)),
                         col(c.has_fq && c.scale > 0, absl::StrFormat("%.2f", c.fq_vs_int.max_lsb)),
                         c.diverges ? "  <- diverges" : "");
    if (!c.note.empty()) o << "      note: " << c.note << "\n";
  }
  if (r.first_divergence < 0) {
    o << absl::StrFormat("fake-quant and integer agree within %g LSB on every layer\n", r.tolerance_lsb);
  } else {
    const auto& c = r.layers[r.first_divergence];
    o << absl::StrFormat("first divergence (> %g LSB): op %d %s '%s' (fake-quant node '%s'), max %.2f LSB\n",
                         r.tolerance_lsb, c.op_index, c.op, c.tensor, c.fq_node, c.fq_vs_int.max_lsb);
  }
  return o.str();
}

std::string CompareReportToJson(const CompareReport& r) {
  nlohmann::json j;
  j["examples"] = r.examples;
  j["tolerance_lsb"] = r.tolerance_lsb;
  j["first_divergence"] = r.first_divergence < 0 ? nlohmann::json(nullptr)
                                                   : nlohmann::json(r.layers[r.first_divergence].tensor);
  j["layers"] = nlohmann::json::array();
  for (const auto& c : r.layers) {
    nlohmann::json l;
    l["op_index"] = c.op_index;
    l["op"] = c.op;
    l["tensor"] = c.tensor;
    l["fake_quant_node"] = c.fq_node;
    l["float_node"] = c.float_node;
    l["shape"] = c.shape;
    l["type"] = c.type;
    l["scale"] = c.scale;
    l["zero_point"] = c.zero_point;
    if (c.has_float && c.has_fq) l["float_vs_fake_quant"] = StatsJson(c.float_vs_fq, false);
    if (c.has_float) l["float_vs_int"] = StatsJson(c.float_vs_int, c.scale > 0);
    if (c.has_fq) l["fake_quant_vs_int"] = StatsJson(c.fq_vs_int, c.scale > 0);
    l["diverges"] = c.diverges;
    if (!c.note.empty()) l["note"] = c.note;
    j["layers"].push_back(std::move(l));
  }
  return j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace);
}

absl::Status PlotCompareReport(const CompareReport& r, const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::path dir = fs::temp_directory_path(ec);
  if (ec) return absl::InternalError("no temporary directory");
  char tmpl[4096];
  std::snprintf(tmpl, sizeof(tmpl), "%s/tfqat-compare-XXXXXX", dir.c_str());
  if (!mkdtemp(tmpl)) return absl::InternalError("cannot create a temporary directory");
  const fs::path tmp(tmpl);
  // Identical tensors have infinite SQNR: plotted at the top of the axis (cap).
  double cap = 0;
  for (const auto& c : r.layers)
    for (double v : {c.float_vs_fq.sqnr_db, c.float_vs_int.sqnr_db, c.fq_vs_int.sqnr_db})
      if (std::isfinite(v)) cap = std::max(cap, v);
  cap = std::ceil(cap / 10.0) * 10.0 + 10.0;
  {
    std::ofstream d(tmp / "sqnr.dat");
    d << "# index label float_vs_fq float_vs_int fq_vs_int (dB; NaN = not available)\n";
    for (size_t l = 0; l < r.layers.size(); ++l) {
      const auto& c = r.layers[l];
      const auto val = [&](bool ok, double v) {
        if (!ok) return std::string("NaN");
        return absl::StrFormat("%.4f", std::isinf(v) ? cap : v);
      };
      std::string label = absl::StrCat(c.op_index, ":", c.op);
      d << l << " \"" << label << "\" " << val(c.has_float && c.has_fq, c.float_vs_fq.sqnr_db) << " "
        << val(c.has_float, c.float_vs_int.sqnr_db) << " " << val(c.has_fq, c.fq_vs_int.sqnr_db) << "\n";
    }
  }
  const bool svg = absl::EndsWith(path, ".svg");
  const std::string out = fs::absolute(path).string();
  {
    std::ofstream g(tmp / "plot.gp");
    g << (svg ? "set terminal svg noenhanced size 1000,500\n" : "set terminal pngcairo noenhanced size 1000,500\n");
    g << "set output '" << out << "'\n";
    g << "set title 'SQNR per layer (" << r.examples << " examples; " << cap << " dB = identical)'\n";
    g << "set ylabel 'SQNR (dB)'\nset yrange [0:" << cap + 5 << "]\nset grid ytics\n";
    g << "set xtics rotate by -45\nset key outside right\nset datafile missing 'NaN'\n";
    g << "plot 'sqnr.dat' using 1:3:xtic(2) with linespoints title 'float vs fake-quant', "
         "'' using 1:4 with linespoints title 'float vs integer', "
         "'' using 1:5 with linespoints title 'fake-quant vs integer'\n";
  }
  if (out.find('\'') != std::string::npos) return absl::InvalidArgumentError("plot path must not contain a quote");
  const std::string cmd = absl::StrCat("cd '", tmp.string(), "' && gnuplot plot.gp 2> gnuplot.err");
  const int rc = std::system(cmd.c_str());
  std::string err;
  {
    std::ifstream e(tmp / "gnuplot.err");
    std::stringstream ss;
    ss << e.rdbuf();
    err = ss.str();
  }
  fs::remove_all(tmp, ec);
  if (rc != 0) return absl::InternalError(absl::StrCat("gnuplot failed (status ", rc, "): ", err));
  if (!fs::exists(out)) return absl::InternalError(absl::StrCat("gnuplot wrote no ", out));
  return absl::OkStatus();
}

}  // namespace tfqat::workflow
