#include "converter/convert.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "converter/tflite_writer.h"
#include "nlohmann/json.hpp"

namespace tfqat::converter {
namespace {

absl::Status ProblemsStatus(const Diagnostics& d) {
  std::string msg = absl::StrCat(d.errors.size(), d.errors.size() == 1 ? " problem" : " problems",
                                 " (nothing was written):");
  for (const auto& e : d.errors) absl::StrAppend(&msg, "\n  - ", e);
  return absl::InvalidArgumentError(msg);
}

}  // namespace

absl::StatusOr<ElemType> ParseElemType(const std::string& s) {
  const std::string l = absl::AsciiStrToLower(s);
  if (l == "uint8" || l == "quantized_uint8") return ElemType::kUInt8;
  if (l == "int8") return ElemType::kInt8;
  if (l == "float" || l == "float32") return ElemType::kFloat32;
  return absl::InvalidArgumentError(absl::StrCat("unknown type '", s, "'; expected int8, uint8 or float"));
}

absl::StatusOr<ConvertResult> Convert(const tensorflow::GraphDef& graph, const ConvertOptions& options,
                                      Diagnostics* diag_out) {
  Diagnostics local;
  Diagnostics& diag = diag_out ? *diag_out : local;
  if (options.default_ranges && !(options.default_ranges->first < options.default_ranges->second))
    diag.errors.push_back("--default-ranges-min must be below --default-ranges-max");

  LowerOptions lo;
  lo.input_arrays = options.input_arrays;
  lo.output_arrays = options.output_arrays;
  lo.input_shapes = options.input_shapes;
  lo.quantized = options.inference_type != ElemType::kFloat32;
  std::optional<Model> model = Lower(graph, lo, &diag);
  if (!model) return ProblemsStatus(diag);

  QuantizeOptions qo;
  qo.inference_type = options.inference_type;
  qo.input_type = options.inference_input_type;
  qo.output_type = options.inference_output_type;
  qo.mean_values = options.mean_values;
  qo.std_values = options.std_values;
  qo.default_range = options.default_ranges;
  QuantizeReport report = Quantize(&*model, qo, &diag);
  if (!diag.errors.empty()) return ProblemsStatus(diag);

  model->description = "tfqat convert";
  nlohmann::json info = {{"producer", "tfqat 0.1.0"},
                         {"inference_type", ElemTypeName(options.inference_type)},
                         {"fake_quant_nudge", "TensorFlow FakeQuantWithMinMaxVars kernel, float32"}};
  model->metadata.emplace_back("tfqat_conversion", info.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  if (!report.made_up_ranges.empty()) {
    diag.warnings.push_back(absl::StrCat(
        "dummy quantization: ", report.made_up_ranges.size(), " tensors got the made-up range [",
        options.default_ranges->first, ", ", options.default_ranges->second,
        "] (--default-ranges-min/max); this model is for performance tests only, its outputs are not "
        "meaningful: ", absl::StrJoin(report.made_up_ranges, ", ")));
    nlohmann::json d = {{"min", options.default_ranges->first},
                        {"max", options.default_ranges->second},
                        {"tensors", report.made_up_ranges},
                        {"note", "made-up ranges: for performance tests only"}};
    model->metadata.emplace_back("tfqat_default_ranges", d.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  }
  auto bytes = WriteTfliteFlatbuffer(*model);
  if (!bytes.ok()) return bytes.status();
  ConvertResult r;
  r.flatbuffer = std::move(*bytes);
  r.model = std::move(*model);
  r.report = std::move(report);
  r.warnings = diag.warnings;
  return r;
}

}  // namespace tfqat::converter
