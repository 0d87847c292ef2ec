// tfqat convert FROZEN.pb -o MODEL.tflite: the annotated frozen graph -> a TFLite flatbuffer.
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "cli/cli_util.h"
#include "cli/commands.h"
#include "converter/convert.h"
#include "graph/file_util.h"
#include "graph/graph_io.h"
#include "nlohmann/json.hpp"

namespace tfqat::cli {
namespace {

using converter::ElemType;

struct ConvertArgs {
  std::string input;
  std::string output;
  std::string input_arrays;
  std::string output_arrays;
  std::string input_shapes;
  std::string inference_type = "uint8";
  std::string inference_input_type;
  std::string inference_output_type;
  std::string mean_values;
  std::string std_values;
  std::optional<float> default_min;
  std::optional<float> default_max;
  bool json = false;
};

std::vector<std::string> SplitList(const std::string& s) {
  std::vector<std::string> out;
  for (absl::string_view p : absl::StrSplit(s, ',', absl::SkipEmpty())) out.emplace_back(p);
  return out;
}

absl::StatusOr<std::vector<float>> FloatList(const std::string& flag, const std::string& s) {
  std::vector<float> out;
  for (const auto& p : SplitList(s)) {
    float v;
    if (!absl::SimpleAtof(p, &v)) return absl::InvalidArgumentError(absl::StrCat(flag, ": '", p, "' is not a number"));
    out.push_back(v);
  }
  return out;
}

absl::StatusOr<converter::ConvertOptions> MakeOptions(const ConvertArgs& a) {
  converter::ConvertOptions o;
  o.input_arrays = SplitList(a.input_arrays);
  o.output_arrays = SplitList(a.output_arrays);
  if (!a.input_shapes.empty()) {
    // TFLite converter syntax: shapes separated by ':', dimensions by ',', in --input-arrays order.
    std::vector<std::string> shapes = absl::StrSplit(a.input_shapes, ':');
    if (shapes.size() != o.input_arrays.size())
      return absl::InvalidArgumentError(absl::StrCat("--input-shapes has ", shapes.size(), " shapes for ",
                                                     o.input_arrays.size(), " --input-arrays; fix: one shape per input, "
                                                     "e.g. --input-arrays x --input-shapes 1,28,28,1"));
    for (size_t i = 0; i < shapes.size(); ++i) {
      std::vector<int64_t> dims;
      for (const auto& d : SplitList(shapes[i])) {
        int64_t v;
        if (!absl::SimpleAtoi(d, &v)) return absl::InvalidArgumentError(absl::StrCat("--input-shapes: '", d, "' is not an integer"));
        dims.push_back(v);
      }
      o.input_shapes[o.input_arrays[i]] = dims;
    }
  }
  auto t = converter::ParseElemType(a.inference_type);
  if (!t.ok()) return absl::InvalidArgumentError(absl::StrCat("--inference-type: ", t.status().message()));
  o.inference_type = *t;
  if (!a.inference_input_type.empty()) {
    auto it = converter::ParseElemType(a.inference_input_type);
    if (!it.ok()) return absl::InvalidArgumentError(absl::StrCat("--inference-input-type: ", it.status().message()));
    o.inference_input_type = *it;
  }
  if (!a.inference_output_type.empty()) {
    auto ot = converter::ParseElemType(a.inference_output_type);
    if (!ot.ok()) return absl::InvalidArgumentError(absl::StrCat("--inference-output-type: ", ot.status().message()));
    o.inference_output_type = *ot;
  }
  auto mean = FloatList("--mean-values", a.mean_values);
  if (!mean.ok()) return mean.status();
  auto stdv = FloatList("--std-dev-values", a.std_values);
  if (!stdv.ok()) return stdv.status();
  o.mean_values = *mean;
  o.std_values = *stdv;
  if (a.default_min.has_value() != a.default_max.has_value())
    return absl::InvalidArgumentError("--default-ranges-min and --default-ranges-max go together");
  if (a.default_min) o.default_ranges = std::make_pair(*a.default_min, *a.default_max);
  return o;
}

nlohmann::json TensorJson(const converter::Tensor& t) {
  nlohmann::json j = {{"name", t.name}, {"dtype", converter::ElemTypeName(t.type)}, {"shape", t.shape}};
  if (t.quant) j["quantization"] = {{"scale", t.quant->scale}, {"zero_point", t.quant->zero_point}};
  return j;
}

int Run(const ConvertArgs& a) {
  auto fail = [&](const absl::Status& s, const std::vector<std::string>& errors) {
    if (a.json) {
      nlohmann::json j = {{"ok", false}, {"errors", errors.empty() ? std::vector<std::string>{std::string(s.message())} : errors}};
      std::cout << j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    }
    return ReportError("convert", s);
  };
  auto options = MakeOptions(a);
  if (!options.ok()) return fail(options.status(), {});
  auto graph = LoadGraphDef(a.input);
  if (!graph.ok()) return fail(graph.status(), {});
  converter::Diagnostics diag;
  auto result = converter::Convert(*graph, *options, &diag);
  if (!result.ok()) return fail(result.status(), diag.errors);
  if (auto s = WriteFileAtomically(a.output, result->flatbuffer); !s.ok()) return fail(s, {});

  const converter::Model& m = result->model;
  std::map<std::string, int> op_counts;
  for (const auto& op : m.ops) op_counts[converter::OpCodeName(op.code)]++;
  if (a.json) {
    nlohmann::json j = {{"ok", true},
                        {"output", a.output},
                        {"bytes", result->flatbuffer.size()},
                        {"inference_type", converter::ElemTypeName(options->inference_type)},
                        {"ops", op_counts},
                        {"num_ops", m.ops.size()},
                        {"inputs", nlohmann::json::array()},
                        {"outputs", nlohmann::json::array()},
                        {"warnings", result->warnings},
                        {"default_range_tensors", result->report.made_up_ranges},
                        {"requantized", result->report.requantized},
                        {"asymmetric_weights", result->report.asymmetric_weights}};
    for (int t : m.inputs) j["inputs"].push_back(TensorJson(m.tensors[t]));
    for (int t : m.outputs) j["outputs"].push_back(TensorJson(m.tensors[t]));
    std::cout << j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  } else {
    for (const auto& w : result->warnings) std::cerr << "tfqat convert: warning: " << w << "\n";
    std::vector<std::string> ops;
    for (const auto& [name, n] : op_counts) ops.push_back(absl::StrCat(name, " x", n));
    std::cout << "wrote " << a.output << " (" << result->flatbuffer.size() << " bytes, "
              << converter::ElemTypeName(options->inference_type) << "): " << m.ops.size() << " ops ("
              << absl::StrJoin(ops, ", ") << ")\n";
    auto describe = [&](const char* what, int t) {
      const auto& x = m.tensors[t];
      std::cout << "  " << what << " " << x.name << " " << converter::ElemTypeName(x.type) << " ["
                << absl::StrJoin(x.shape, ",") << "]";
      if (x.quant) std::cout << " scale=" << x.quant->scale[0] << " zero_point=" << x.quant->zero_point[0];
      std::cout << "\n";
    };
    for (int t : m.inputs) describe("input ", t);
    for (int t : m.outputs) describe("output", t);
  }
  return kExitOk;
}

}  // namespace

void AddConvertCommand(CLI::App& app, int* exit_code) {
  auto args = std::make_shared<ConvertArgs>();
  auto* sub = app.add_subcommand(
      "convert",
      "Convert an annotated frozen graph (tfqat freeze) to a .tflite model: legacy uint8, int8 "
      "per-channel, or float. Scales and zero points come from the FakeQuant ranges with the "
      "training kernel's nudge, so the integer model computes what training simulated.");
  sub->add_option("frozen", args->input, "annotated frozen GraphDef (.pb or .pbtxt)")->required();
  sub->add_option("-o,--output", args->output, "output .tflite (written atomically, only on success)")->required();
  sub->add_option("--input-arrays", args->input_arrays, "comma-separated input Placeholders (default: all the outputs need)");
  sub->add_option("--output-arrays", args->output_arrays, "comma-separated output nodes (default: the graph's sinks)");
  sub->add_option("--input-shapes", args->input_shapes, "shapes for --input-arrays: dims by ',', inputs by ':' (e.g. 1,28,28,1)");
  sub->add_option("--inference-type", args->inference_type, "uint8 (legacy, per tensor), int8 (per-channel weights) or float")
      ->default_str("uint8");
  sub->add_option("--inference-input-type", args->inference_input_type, "type of the model inputs (default: --inference-type; float adds QUANTIZE)");
  sub->add_option("--inference-output-type", args->inference_output_type, "type of the model outputs (default: --inference-type; float adds DEQUANTIZE)");
  sub->add_option("--mean-values", args->mean_values, "per input: quantized inputs mean real = (q - mean) / std");
  sub->add_option("--std-dev-values", args->std_values, "per input, with --mean-values");
  sub->add_option("--default-ranges-min", args->default_min, "dummy quantization (performance tests only): min for tensors lacking a range");
  sub->add_option("--default-ranges-max", args->default_max, "dummy quantization: max");
  sub->add_flag("--json", args->json, "print the report as JSON");
  sub->callback([args, exit_code] { *exit_code = Run(*args); });
}

}  // namespace tfqat::cli
