// Builds small .tflite models in memory with the flatbuffers object API (tests only).
#pragma once

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "proto/tflite_schema_generated.h"

namespace tfqat::runtime::testing {

inline int AddBuffer(tflite::ModelT* m, const std::vector<uint8_t>& data) {
  auto b = std::make_unique<tflite::BufferT>();
  b->data = data;
  m->buffers.push_back(std::move(b));
  return static_cast<int>(m->buffers.size()) - 1;
}

inline int AddTensor(tflite::ModelT* m, const std::string& name, tflite::TensorType type,
                     std::vector<int32_t> shape, float scale, int64_t zp, int buffer = 0) {
  auto t = std::make_unique<tflite::TensorT>();
  t->name = name;
  t->type = type;
  t->shape = std::move(shape);
  t->buffer = buffer;
  if (scale > 0) {
    t->quantization = std::make_unique<tflite::QuantizationParametersT>();
    t->quantization->scale = {scale};
    t->quantization->zero_point = {zp};
  }
  auto& sg = m->subgraphs[0];
  sg->tensors.push_back(std::move(t));
  return static_cast<int>(sg->tensors.size()) - 1;
}

inline std::unique_ptr<tflite::ModelT> EmptyModel() {
  auto m = std::make_unique<tflite::ModelT>();
  m->version = 3;
  m->subgraphs.push_back(std::make_unique<tflite::SubGraphT>());
  m->buffers.push_back(std::make_unique<tflite::BufferT>());  // buffer 0: empty
  return m;
}

inline int AddOpCode(tflite::ModelT* m, tflite::BuiltinOperator op) {
  auto c = std::make_unique<tflite::OperatorCodeT>();
  c->builtin_code = op;
  c->deprecated_builtin_code = static_cast<int8_t>(std::min<int>(static_cast<int>(op), 127));
  m->operator_codes.push_back(std::move(c));
  return static_cast<int>(m->operator_codes.size()) - 1;
}

inline std::string Serialize(const tflite::ModelT& m) {
  flatbuffers::FlatBufferBuilder fbb;
  fbb.Finish(tflite::Model::Pack(fbb, &m), tflite::ModelIdentifier());
  return std::string(reinterpret_cast<const char*>(fbb.GetBufferPointer()), fbb.GetSize());
}

// y = x1 + x2, int8 [1, 2, 2, 1], all scales 1, zero points 0, fused `act`.
inline std::unique_ptr<tflite::ModelT> AddModel(
    tflite::ActivationFunctionType act = tflite::ActivationFunctionType::NONE) {
  auto m = EmptyModel();
  const int a = AddTensor(m.get(), "a", tflite::TensorType::INT8, {1, 2, 2, 1}, 1.f, 0);
  const int b = AddTensor(m.get(), "b", tflite::TensorType::INT8, {1, 2, 2, 1}, 1.f, 0);
  const int y = AddTensor(m.get(), "y", tflite::TensorType::INT8, {1, 2, 2, 1}, 1.f, 0);
  auto op = std::make_unique<tflite::OperatorT>();
  op->opcode_index = AddOpCode(m.get(), tflite::BuiltinOperator::ADD);
  op->inputs = {a, b};
  op->outputs = {y};
  tflite::AddOptionsT opts;
  opts.fused_activation_function = act;
  op->builtin_options.Set(opts);
  auto& sg = m->subgraphs[0];
  sg->operators.push_back(std::move(op));
  sg->inputs = {a, b};
  sg->outputs = {y};
  return m;
}

// Cuts operator k out of a serialized model as a one-operator model: its non-constant inputs
// become the model inputs, its outputs the model outputs. *op_name: the BuiltinOperator name.
inline std::string ExtractOperator(const std::string& bytes, int k, std::string* op_name) {
  std::unique_ptr<tflite::ModelT> m(tflite::GetModel(bytes.data())->UnPack());
  auto& sg = m->subgraphs[0];
  std::unique_ptr<tflite::OperatorT> op = std::move(sg->operators[k]);
  const auto& code = m->operator_codes[op->opcode_index];
  *op_name = tflite::EnumNameBuiltinOperator(static_cast<tflite::BuiltinOperator>(
      std::max<int32_t>(code->deprecated_builtin_code, static_cast<int32_t>(code->builtin_code))));
  sg->inputs.clear();
  for (int32_t t : op->inputs) {
    if (t < 0) continue;
    const auto& buf = m->buffers[sg->tensors[t]->buffer];
    if (buf->data.empty()) sg->inputs.push_back(t);
  }
  sg->outputs = op->outputs;
  sg->operators.clear();
  sg->operators.push_back(std::move(op));
  m->signature_defs.clear();
  flatbuffers::FlatBufferBuilder fbb;
  fbb.Finish(tflite::Model::Pack(fbb, m.get()), tflite::ModelIdentifier());
  return std::string(reinterpret_cast<const char*>(fbb.GetBufferPointer()), fbb.GetSize());
}

// The operators the tflite-run peer hands to its XNNPACK delegate, which requantizes them in
// float (TFLite's reference kernels do it in fixed point): they may differ by 1 LSB, no more.
inline bool PeerRequantizesInFloat(const std::string& op_name) {
  return op_name == "CONV_2D" || op_name == "DEPTHWISE_CONV_2D" || op_name == "ADD" ||
         op_name == "FULLY_CONNECTED";
}

}  // namespace tfqat::runtime::testing
