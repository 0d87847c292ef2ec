// Loader/planner: valid models load and run; hostile files give errors (never crashes or
// out-of-bounds reads: this suite runs under ASan/UBSan in `make test-asan`).
#include <gtest/gtest.h>

#include <cstring>
#include <random>

#include "runtime/interpreter.h"
#include "tests/runtime/test_models.h"

namespace tfqat::runtime {
namespace {

using testing::AddBuffer;
using testing::AddModel;
using testing::AddOpCode;
using testing::AddTensor;
using testing::EmptyModel;
using testing::Serialize;

std::string Load(const std::string& bytes) {
  auto r = Interpreter::CreateFromBuffer(bytes, InterpreterOptions{});
  return r.ok() ? "" : std::string(r.status().message());
}

TEST(Loader, RunsAValidModel) {
  auto interp_or = Interpreter::CreateFromBuffer(Serialize(*AddModel()), InterpreterOptions{});
  ASSERT_TRUE(interp_or.ok()) << interp_or.status().message();
  auto& it = *interp_or;
  ASSERT_EQ(it->num_inputs(), 2);
  const int8_t a[4] = {1, -2, 100, -100}, b[4] = {3, 4, 100, -100};
  std::memcpy(it->input_data(0), a, 4);
  std::memcpy(it->input_data(1), b, 4);
  ASSERT_TRUE(it->Invoke().ok());
  const int8_t* y = static_cast<const int8_t*>(it->output_data(0));
  EXPECT_EQ(y[0], 4);
  EXPECT_EQ(y[1], 2);
  EXPECT_EQ(y[2], 127);   // saturates
  EXPECT_EQ(y[3], -128);
  EXPECT_GT(it->arena_bytes(), 0u);
}

TEST(Loader, FusedReluClampsAtTheZeroPoint) {
  auto it = *Interpreter::CreateFromBuffer(Serialize(*AddModel(tflite::ActivationFunctionType::RELU)), {});
  const int8_t a[4] = {1, -5, 0, -1}, b[4] = {1, 1, 0, 0};
  std::memcpy(it->input_data(0), a, 4);
  std::memcpy(it->input_data(1), b, 4);
  ASSERT_TRUE(it->Invoke().ok());
  const int8_t* y = static_cast<const int8_t*>(it->output_data(0));
  EXPECT_EQ(y[0], 2);
  EXPECT_EQ(y[1], 0);
  EXPECT_EQ(y[2], 0);
  EXPECT_EQ(y[3], 0);
}

TEST(Loader, ArenaReusesDeadBuffers) {
  // x -> ADD(x,x) -> t1 -> ADD(t1,t1) -> t2 -> ADD(t2,t2) -> y: t1 and y can share memory.
  auto m = EmptyModel();
  const int x = AddTensor(m.get(), "x", tflite::TensorType::INT8, {1, 1024}, 1.f, 0);
  const int t1 = AddTensor(m.get(), "t1", tflite::TensorType::INT8, {1, 1024}, 1.f, 0);
  const int t2 = AddTensor(m.get(), "t2", tflite::TensorType::INT8, {1, 1024}, 1.f, 0);
  const int y = AddTensor(m.get(), "y", tflite::TensorType::INT8, {1, 1024}, 1.f, 0);
  const int code = AddOpCode(m.get(), tflite::BuiltinOperator::ADD);
  int chain[4] = {x, t1, t2, y};
  for (int k = 0; k < 3; ++k) {
    auto op = std::make_unique<tflite::OperatorT>();
    op->opcode_index = code;
    op->inputs = {chain[k], chain[k]};
    op->outputs = {chain[k + 1]};
    op->builtin_options.Set(tflite::AddOptionsT());
    m->subgraphs[0]->operators.push_back(std::move(op));
  }
  m->subgraphs[0]->inputs = {x};
  m->subgraphs[0]->outputs = {y};
  auto it = *Interpreter::CreateFromBuffer(Serialize(*m), {});
  EXPECT_EQ(it->activation_bytes_unshared(), 4u * 1024);
  EXPECT_LT(it->arena_bytes(), it->activation_bytes_unshared());
  std::memset(it->input_data(0), 1, 1024);
  ASSERT_TRUE(it->Invoke().ok());
  EXPECT_EQ(static_cast<const int8_t*>(it->output_data(0))[1023], 8);
}

TEST(Loader, RejectsGarbageAndTruncation) {
  EXPECT_NE(Load(""), "");
  EXPECT_NE(Load("not a flatbuffer at all"), "");
  const std::string good = Serialize(*AddModel());
  for (size_t n = 0; n < good.size(); n += 7) {
    EXPECT_NE(Load(good.substr(0, n)), "") << "prefix " << n;
  }
}

TEST(Loader, RandomCorruptionNeverCrashes) {
  const std::string good = Serialize(*AddModel());
  std::mt19937 rng(7);
  int rejected = 0;
  for (int trial = 0; trial < 300; ++trial) {
    std::string bad = good;
    for (int k = 0; k < 3; ++k) bad[rng() % bad.size()] = static_cast<char>(rng());
    auto r = Interpreter::CreateFromBuffer(bad, InterpreterOptions{});
    if (!r.ok()) {
      ++rejected;
      continue;
    }
    // Accepted files were fully validated: running them is safe.
    for (int i = 0; i < (*r)->num_inputs(); ++i) std::memset((*r)->input_data(i), 0, (*r)->input(i).bytes);
    EXPECT_TRUE((*r)->Invoke().ok());
  }
  EXPECT_GT(rejected, 0);
}

TEST(Loader, OutOfRangeTensorIndexNamesTheOperator) {
  auto m = AddModel();
  m->subgraphs[0]->operators[0]->inputs[1] = 42;
  EXPECT_EQ(Load(Serialize(*m)), "operator 0 (ADD): input tensor index 42 out of range");
  m = AddModel();
  m->subgraphs[0]->operators[0]->outputs[0] = -3;
  EXPECT_NE(Load(Serialize(*m)).find("out of range"), std::string::npos);
  m = AddModel();
  m->subgraphs[0]->inputs = {0, 9};
  EXPECT_NE(Load(Serialize(*m)).find("subgraph input index 9 out of range"), std::string::npos);
  m = AddModel();
  m->subgraphs[0]->operators[0]->opcode_index = 5;
  EXPECT_NE(Load(Serialize(*m)).find("opcode index 5 out of range"), std::string::npos);
}

TEST(Loader, BadBuffers) {
  auto m = AddModel();
  m->subgraphs[0]->tensors[1]->buffer = 17;
  EXPECT_NE(Load(Serialize(*m)).find("buffer index 17 out of range"), std::string::npos);
  // A constant whose buffer does not hold shape x element size bytes.
  m = AddModel();
  const int b = AddBuffer(m.get(), {1, 2, 3});
  m->subgraphs[0]->tensors[1]->buffer = b;
  m->subgraphs[0]->inputs = {0};
  EXPECT_NE(Load(Serialize(*m)).find("holds 3 bytes"), std::string::npos);
}

TEST(Loader, BadQuantizationParameters) {
  auto m = AddModel();
  m->subgraphs[0]->tensors[0]->quantization->zero_point = {300};
  EXPECT_NE(Load(Serialize(*m)).find("zero point 300 outside the INT8 range"), std::string::npos);
  m = AddModel();
  m->subgraphs[0]->tensors[0]->quantization->scale = {1.f, 2.f};
  m->subgraphs[0]->tensors[0]->quantization->zero_point = {0, 0};
  m->subgraphs[0]->tensors[0]->quantization->quantized_dimension = 3;
  EXPECT_NE(Load(Serialize(*m)).find("per-channel scales do not match"), std::string::npos);
  m = AddModel();
  m->subgraphs[0]->tensors[0]->quantization->scale = {-1.f};
  EXPECT_NE(Load(Serialize(*m)).find("invalid scale"), std::string::npos);
  m = AddModel();
  m->subgraphs[0]->tensors[2]->quantization.reset();
  EXPECT_NE(Load(Serialize(*m)).find("needs per-tensor quantization"), std::string::npos);
}

TEST(Loader, ShapeMismatchAndUnsupportedOps) {
  auto m = AddModel();
  m->subgraphs[0]->tensors[2]->shape = {1, 2, 3, 1};
  EXPECT_NE(Load(Serialize(*m)).find("do not broadcast"), std::string::npos);
  m = AddModel();
  m->operator_codes[0]->builtin_code = tflite::BuiltinOperator::SIN;
  m->operator_codes[0]->deprecated_builtin_code = static_cast<int8_t>(tflite::BuiltinOperator::SIN);
  EXPECT_EQ(Load(Serialize(*m)), "operator 0 (SIN): unsupported operator (input types: INT8, INT8)");
  m = AddModel();
  for (auto& t : m->subgraphs[0]->tensors) t->type = tflite::TensorType::INT16;
  EXPECT_NE(Load(Serialize(*m)).find("operator 0 (ADD): unsupported type INT16"), std::string::npos);
  m = AddModel();
  m->subgraphs[0]->tensors[0]->shape = {1, 2, -1, 1};
  EXPECT_NE(Load(Serialize(*m)).find("negative or unknown dimension"), std::string::npos);
  m = AddModel();
  m->subgraphs[0]->tensors[0]->shape = {1, 2, 2, 1, 1, 1, 1};
  EXPECT_NE(Load(Serialize(*m)).find("rank 7"), std::string::npos);
  m = AddModel();
  m->version = 2;
  EXPECT_NE(Load(Serialize(*m)).find("schema version"), std::string::npos);
}

TEST(Loader, UseBeforeDefinitionIsAnError) {
  auto m = AddModel();
  m->subgraphs[0]->inputs = {0};  // tensor 1 is neither an input nor computed
  EXPECT_NE(Load(Serialize(*m)).find("is not computed before it is used"), std::string::npos);
}

}  // namespace
}  // namespace tfqat::runtime
