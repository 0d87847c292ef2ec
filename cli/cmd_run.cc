// `tfqat run MODEL.tflite --input FILE.npy ... [--out-dir DIR] [--threads N] [--dequantize]`
// Runs a .tflite model with tfqat's integer runtime. Inputs are given in the model's input order
// (or as NAME=FILE.npy); float inputs for a quantized model input are quantized with that input's
// scale and zero point. Each output is written as DIR/<output name>.npy.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "cli/cli_util.h"
#include "cli/commands.h"
#include "graph/npy.h"
#include "graph/status_macros.h"
#include "nlohmann/json.hpp"
#include "runtime/interpreter.h"

namespace tfqat::cli {
namespace {

using runtime::ElementType;

struct RunArgs {
  std::string model;
  std::vector<std::string> inputs;
  std::string out_dir = ".";
  int threads = 1;
  bool dequantize = false;
  bool json = false;
  std::string kernels = "auto";
};

absl::StatusOr<runtime::KernelChoice> ParseKernels(const std::string& s) {
  if (s == "auto") return runtime::KernelChoice::kAuto;
  if (s == "reference") return runtime::KernelChoice::kReference;
  if (s == "optimized") return runtime::KernelChoice::kOptimized;
  return absl::InvalidArgumentError(absl::StrCat("--kernels must be auto, reference or optimized, got '", s, "'"));
}

NpyDType NpyTypeOf(ElementType t) {
  switch (t) {
    case ElementType::kUint8: return NpyDType::kUInt8;
    case ElementType::kInt8: return NpyDType::kInt8;
    case ElementType::kInt32: return NpyDType::kInt32;
    case ElementType::kInt64: return NpyDType::kInt64;
    default: return NpyDType::kFloat32;
  }
}

// Copies `arr` into the input tensor, quantizing float data for quantized inputs.
absl::Status FillInput(const runtime::TensorInfo& t, const NpyArray& arr, const std::string& file,
                       void* dst) {
  const int64_t n = t.shape.FlatSize();
  if (arr.num_elements() != n)
    return absl::InvalidArgumentError(absl::StrCat(file, ": ", arr.num_elements(), " elements, input '",
                                                   t.name, "' needs ", n));
  const bool quant = t.type == ElementType::kUint8 || t.type == ElementType::kInt8;
  if (arr.dtype == NpyTypeOf(t.type) && t.type != ElementType::kInt16) {
    std::memcpy(dst, arr.data.data(), t.bytes);
    return absl::OkStatus();
  }
  if (quant && (arr.dtype == NpyDType::kFloat32 || arr.dtype == NpyDType::kFloat64)) {
    const std::vector<float> v = arr.ToFloat();
    const int32_t lo = t.type == ElementType::kUint8 ? 0 : -128;
    const int32_t hi = t.type == ElementType::kUint8 ? 255 : 127;
    for (int64_t i = 0; i < n; ++i) {
      const int32_t q = std::min(hi, std::max(lo, static_cast<int32_t>(std::round(v[i] / t.scale)) + t.zero_point));
      if (t.type == ElementType::kUint8) static_cast<uint8_t*>(dst)[i] = static_cast<uint8_t>(q);
      else static_cast<int8_t*>(dst)[i] = static_cast<int8_t>(q);
    }
    return absl::OkStatus();
  }
  if (t.type == ElementType::kFloat32) {
    const std::vector<float> v = arr.ToFloat();
    std::memcpy(dst, v.data(), t.bytes);
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(absl::StrCat(file, ": dtype ", NpyDTypeName(arr.dtype), " cannot feed ",
                                                 runtime::ElementTypeName(t.type), " input '", t.name, "'"));
}

NpyArray OutputArray(const runtime::TensorInfo& t, const void* data, bool dequantize) {
  std::vector<int64_t> shape(t.shape.dims, t.shape.dims + t.shape.rank);
  const bool quant = t.type == ElementType::kUint8 || t.type == ElementType::kInt8;
  if (dequantize && quant) {
    const int64_t n = t.shape.FlatSize();
    std::vector<float> v(n);
    for (int64_t i = 0; i < n; ++i) {
      const int32_t q = t.type == ElementType::kUint8 ? static_cast<const uint8_t*>(data)[i]
                                                      : static_cast<const int8_t*>(data)[i];
      v[i] = static_cast<float>(static_cast<double>(t.scale) * (q - t.zero_point));
    }
    return NpyArray::FromFloat(shape, v);
  }
  NpyArray a = NpyArray::Zeros(NpyTypeOf(t.type), shape);
  std::memcpy(a.data.data(), data, t.bytes);
  return a;
}

absl::Status DoRun(const RunArgs& a) {
  runtime::InterpreterOptions opts;
  opts.num_threads = a.threads;
  TFQAT_ASSIGN_OR_RETURN(opts.kernels, ParseKernels(a.kernels));
  TFQAT_ASSIGN_OR_RETURN(auto interp, runtime::Interpreter::Create(a.model, opts));
  if (static_cast<int>(a.inputs.size()) != interp->num_inputs())
    return absl::InvalidArgumentError(absl::StrCat("the model has ", interp->num_inputs(), " inputs, ",
                                                   a.inputs.size(), " --input given"));
  for (size_t k = 0; k < a.inputs.size(); ++k) {
    std::string spec = a.inputs[k];
    int index = static_cast<int>(k);
    std::string file = spec;
    const auto eq = spec.find('=');
    if (eq != std::string::npos) {
      const std::string name = spec.substr(0, eq);
      file = spec.substr(eq + 1);
      index = -1;
      for (int i = 0; i < interp->num_inputs(); ++i)
        if (interp->input(i).name == name) index = i;
      if (index < 0) return absl::InvalidArgumentError(absl::StrCat("the model has no input named '", name, "'"));
    }
    TFQAT_ASSIGN_OR_RETURN(NpyArray arr, ReadNpy(file));
    TFQAT_RETURN_IF_ERROR(FillInput(interp->input(index), arr, file, interp->input_data(index)));
  }
  TFQAT_RETURN_IF_ERROR(interp->Invoke());
  std::filesystem::create_directories(a.out_dir);
  nlohmann::json report = {{"model", a.model}, {"arena_bytes", interp->arena_bytes()},
                           {"kernels", interp->kernel_set_name()}, {"outputs", nlohmann::json::array()}};
  for (int i = 0; i < interp->num_outputs(); ++i) {
    const runtime::TensorInfo& t = interp->output(i);
    std::string base = absl::StrReplaceAll(t.name, {{"/", "_"}, {":", "_"}, {" ", "_"}});
    if (base.empty()) base = absl::StrCat("output", i);
    const std::string path = (std::filesystem::path(a.out_dir) / (base + ".npy")).string();
    NpyArray arr = OutputArray(t, interp->output_data(i), a.dequantize);
    TFQAT_RETURN_IF_ERROR(WriteNpy(path, arr));
    report["outputs"].push_back({{"name", t.name}, {"file", path}, {"shape", arr.shape},
                                 {"dtype", NpyDTypeName(arr.dtype)}, {"scale", t.scale},
                                 {"zero_point", t.zero_point}});
    if (!a.json) std::cout << t.name << " " << NpyDTypeName(arr.dtype) << " -> " << path << "\n";
  }
  if (a.json) std::cout << report.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  return absl::OkStatus();
}

}  // namespace

void AddRunCommand(CLI::App& app, int* exit_code) {
  auto args = std::make_shared<RunArgs>();
  auto* sub = app.add_subcommand("run", "Run a .tflite model with the integer runtime (.npy in, .npy out)");
  sub->add_option("model", args->model, ".tflite model")->required();
  sub->add_option("--input,-i", args->inputs, "FILE.npy or NAME=FILE.npy, one per model input (repeatable)");
  sub->add_option("--out-dir", args->out_dir, "folder for the output .npy files");
  sub->add_option("--threads", args->threads, "threads (including the caller)");
  sub->add_flag("--dequantize", args->dequantize, "write quantized outputs as float32");
  sub->add_option("--kernels", args->kernels, "auto (optimized where available), reference or optimized");
  sub->add_flag("--json", args->json, "print a JSON report");
  sub->callback([args, exit_code] {
    absl::Status st = DoRun(*args);
    *exit_code = st.ok() ? kExitOk : ReportError("run", st);
  });
}

}  // namespace tfqat::cli
