// Test support for the converter suites: annotated frozen graphs built directly (GraphBuilder +
// FakeQuant helpers), an independent float reference executor of those graphs (FakeQuant with
// the kernel's formula from ARITHMETIC.md), and the real TFLite interpreter (tflite-run peer).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "graph/graph_builder.h"
#include "graph/tensor.h"
#include "nlohmann/json.hpp"
#include "proto/graph.pb.h"

namespace tfqat::testing {

// Fixed-seed random tensors.
HostTensor<float> RandomTensor(std::mt19937* rng, std::vector<int64_t> shape, float lo, float hi);

// FakeQuantWithMinMaxVars(input, Const(min), Const(max)) named `name`.
std::string FakeQuant(GraphBuilder* b, const std::string& name, const std::string& input, float min,
                      float max, bool narrow_range = false, int num_bits = 8);
// FakeQuantWithMinMaxVarsPerChannel over the last dimension.
std::string FakeQuantPerChannel(GraphBuilder* b, const std::string& name, const std::string& input,
                                const std::vector<float>& min, const std::vector<float>& max,
                                bool narrow_range = true);
// Const weights behind a narrow-range FakeQuant whose range is the weights' own symmetric range
// (what tf.contrib.quantize's symmetric last-value update computes) or asymmetric min/max.
std::string QuantWeights(GraphBuilder* b, const std::string& name, const HostTensor<float>& w,
                         bool symmetric = true);
std::string Pad(GraphBuilder* b, const std::string& name, const std::string& input,
                const std::vector<int32_t>& paddings);  // [rank*2]
std::string Squeeze(GraphBuilder* b, const std::string& name, const std::string& input,
                    const std::vector<int64_t>& dims);
std::string TransposeConv(GraphBuilder* b, const std::string& name, const std::string& input,
                          const std::string& filter, const std::vector<int32_t>& output_shape,
                          int stride, const std::string& padding);

// Evaluates the graph in float32 (FakeQuant nodes included, as the eval-mode graph does).
absl::StatusOr<std::map<std::string, HostTensor<float>>> RunReference(
    const tensorflow::GraphDef& graph, const std::map<std::string, HostTensor<float>>& feeds,
    const std::vector<std::string>& fetches, bool fake_quant = true);

// The real TFLite interpreter (BUILD/peers/tflite-run/run.js). nullopt when the peer or node is
// missing (the caller skips, naming the path).
std::optional<std::string> TfliteRunPath();
// Runs `model` with one input file per model input (JSON number arrays written from `inputs`).
absl::StatusOr<nlohmann::json> RunTflite(const std::string& model, const std::vector<std::vector<double>>& inputs,
                                         const std::string& work_dir);

// A fresh scratch directory under the build tree.
std::string ScratchDir(const std::string& name);
absl::Status WriteString(const std::string& path, const std::string& bytes);
// Runs a shell command; returns exit status and captures stdout+stderr.
int RunCommand(const std::string& cmd, std::string* output);

}  // namespace tfqat::testing
