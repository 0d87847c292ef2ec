// Real quantized models from shared/testdata/tflite through the interpreter with the reference
// kernels and with the optimized set (1 and 2 threads): every output byte must be equal.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "runtime/interpreter.h"

namespace tfqat::runtime {
namespace {

std::vector<uint8_t> RunModel(const std::string& path, KernelChoice k, int threads,
                              const std::vector<std::vector<uint8_t>>& inputs) {
  InterpreterOptions o;
  o.kernels = k;
  o.num_threads = threads;
  auto it = Interpreter::Create(path, o);
  EXPECT_TRUE(it.ok()) << path << ": " << it.status();
  if (!it.ok()) return {};
  auto& interp = **it;
  for (int i = 0; i < interp.num_inputs(); ++i)
    std::memcpy(interp.input_data(i), inputs[i].data(), interp.input(i).bytes);
  EXPECT_TRUE(interp.Invoke().ok());
  std::vector<uint8_t> out;
  for (int i = 0; i < interp.num_outputs(); ++i) {
    const auto* p = static_cast<const uint8_t*>(interp.output_data(i));
    out.insert(out.end(), p, p + interp.output(i).bytes);
  }
  return out;
}

class ModelTest : public ::testing::TestWithParam<const char*> {};

TEST_P(ModelTest, OptimizedEqualsReference) {
  const std::string path = std::string(TFQAT_SHARED_DIR) + "/testdata/tflite/" + GetParam();
  if (!std::filesystem::exists(path)) GTEST_SKIP() << "missing " << path;
  InterpreterOptions o;
  auto probe = Interpreter::Create(path, o);
  ASSERT_TRUE(probe.ok()) << probe.status();
  std::mt19937 rng(42);
  std::vector<std::vector<uint8_t>> inputs;
  for (int i = 0; i < (*probe)->num_inputs(); ++i) {
    std::vector<uint8_t> v((*probe)->input(i).bytes);
    for (auto& b : v) b = static_cast<uint8_t>(rng());
    inputs.push_back(std::move(v));
  }
  const auto want = RunModel(path, KernelChoice::kReference, 1, inputs);
  ASSERT_FALSE(want.empty());
  EXPECT_EQ(RunModel(path, KernelChoice::kOptimized, 1, inputs), want);
  EXPECT_EQ(RunModel(path, KernelChoice::kOptimized, 2, inputs), want);
}

INSTANTIATE_TEST_SUITE_P(Models, ModelTest,
                         ::testing::Values("models/person_detect.tflite",
                                           "tflite2onnx/mobilenet_v1_0.25_128_quant.tflite",
                                           "tflite2onnx/conv-relu.uint8.tflite",
                                           "tflite2onnx/conv.uint8.tflite"),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (char& c : n)
                             if (!isalnum(static_cast<unsigned char>(c))) c = '_';
                           return n;
                         });

}  // namespace
}  // namespace tfqat::runtime
