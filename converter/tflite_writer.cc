#include "converter/tflite_writer.h"

#include <map>
#include <memory>

#include "absl/strings/str_cat.h"
#include "flatbuffers/flatbuffers.h"
#include "proto/tflite_schema_generated.h"

namespace tfqat::converter {
namespace {

tflite::TensorType ToTflite(ElemType t) {
  switch (t) {
    case ElemType::kFloat32: return tflite::TensorType::FLOAT32;
    case ElemType::kInt32: return tflite::TensorType::INT32;
    case ElemType::kUInt8: return tflite::TensorType::UINT8;
    case ElemType::kInt8: return tflite::TensorType::INT8;
  }
  return tflite::TensorType::FLOAT32;
}

tflite::ActivationFunctionType ToTflite(Activation a) {
  switch (a) {
    case Activation::kNone: return tflite::ActivationFunctionType::NONE;
    case Activation::kRelu: return tflite::ActivationFunctionType::RELU;
    case Activation::kRelu6: return tflite::ActivationFunctionType::RELU6;
  }
  return tflite::ActivationFunctionType::NONE;
}

tflite::Padding ToTflite(Padding p) {
  return p == Padding::kSame ? tflite::Padding::SAME : tflite::Padding::VALID;
}

void SetOptions(const Op& op, tflite::OperatorT* out) {
  const OpOptions& o = op.options;
  switch (op.code) {
    case OpCode::kConv2D: {
      tflite::Conv2DOptionsT t;
      t.padding = ToTflite(o.padding);
      t.stride_w = o.stride_w;
      t.stride_h = o.stride_h;
      t.dilation_w_factor = o.dilation_w;
      t.dilation_h_factor = o.dilation_h;
      t.fused_activation_function = ToTflite(o.activation);
      out->builtin_options.Set(std::move(t));
      break;
    }
    case OpCode::kDepthwiseConv2D: {
      tflite::DepthwiseConv2DOptionsT t;
      t.padding = ToTflite(o.padding);
      t.stride_w = o.stride_w;
      t.stride_h = o.stride_h;
      t.depth_multiplier = o.depth_multiplier;
      t.dilation_w_factor = o.dilation_w;
      t.dilation_h_factor = o.dilation_h;
      t.fused_activation_function = ToTflite(o.activation);
      out->builtin_options.Set(std::move(t));
      break;
    }
    case OpCode::kFullyConnected: {
      tflite::FullyConnectedOptionsT t;
      t.fused_activation_function = ToTflite(o.activation);
      out->builtin_options.Set(std::move(t));
      break;
    }
    case OpCode::kTransposeConv: {
      tflite::TransposeConvOptionsT t;
      t.padding = ToTflite(o.padding);
      t.stride_w = o.stride_w;
      t.stride_h = o.stride_h;
      out->builtin_options.Set(std::move(t));
      break;
    }
    case OpCode::kAdd: {
      tflite::AddOptionsT t;
      t.fused_activation_function = ToTflite(o.activation);
      out->builtin_options.Set(std::move(t));
      break;
    }
    case OpCode::kConcatenation: {
      tflite::ConcatenationOptionsT t;
      t.axis = o.axis;
      t.fused_activation_function = ToTflite(o.activation);
      out->builtin_options.Set(std::move(t));
      break;
    }
    case OpCode::kAveragePool2D:
    case OpCode::kMaxPool2D: {
      tflite::Pool2DOptionsT t;
      t.padding = ToTflite(o.padding);
      t.stride_w = o.stride_w;
      t.stride_h = o.stride_h;
      t.filter_width = o.filter_w;
      t.filter_height = o.filter_h;
      t.fused_activation_function = ToTflite(o.activation);
      out->builtin_options.Set(std::move(t));
      break;
    }
    case OpCode::kReshape: {
      tflite::ReshapeOptionsT t;
      t.new_shape = o.new_shape;
      out->builtin_options.Set(std::move(t));
      break;
    }
    case OpCode::kSqueeze: {
      tflite::SqueezeOptionsT t;
      t.squeeze_dims = o.squeeze_dims;
      out->builtin_options.Set(std::move(t));
      break;
    }
    case OpCode::kPad: {
      out->builtin_options.Set(tflite::PadOptionsT());
      break;
    }
    case OpCode::kMean: {
      tflite::ReducerOptionsT t;
      t.keep_dims = o.keep_dims;
      out->builtin_options.Set(std::move(t));
      break;
    }
    case OpCode::kSoftmax: {
      tflite::SoftmaxOptionsT t;
      t.beta = o.beta;
      out->builtin_options.Set(std::move(t));
      break;
    }
    case OpCode::kQuantize: {
      out->builtin_options.Set(tflite::QuantizeOptionsT());
      break;
    }
    case OpCode::kDequantize: {
      out->builtin_options.Set(tflite::DequantizeOptionsT());
      break;
    }
    case OpCode::kLogistic:
    case OpCode::kTanh:
    case OpCode::kRelu:
    case OpCode::kRelu6:
      break;
  }
}

}  // namespace

int OpVersion(const Model& model, const Op& op) {
  const ElemType in = op.inputs.empty() || op.inputs[0] < 0 ? ElemType::kFloat32
                                                            : model.tensors[op.inputs[0]].type;
  const ElemType out = model.tensors[op.outputs[0]].type;
  const bool int8 = (op.code == OpCode::kTransposeConv ? model.tensors[op.inputs[2]].type : in) == ElemType::kInt8;
  switch (op.code) {
    case OpCode::kConv2D: return int8 ? 3 : 1;
    case OpCode::kDepthwiseConv2D:
      if (int8) return 3;
      return (op.options.dilation_h != 1 || op.options.dilation_w != 1) ? 2 : 1;
    case OpCode::kFullyConnected: return int8 ? 4 : 1;
    case OpCode::kTransposeConv: return 3;  // the bias input
    case OpCode::kQuantize:
      return in == ElemType::kFloat32 ? 1 : 2;  // 2: requantization between 8-bit types
    case OpCode::kDequantize: return in == ElemType::kInt8 ? 2 : 1;
    case OpCode::kAdd:
    case OpCode::kConcatenation:
    case OpCode::kAveragePool2D:
    case OpCode::kMaxPool2D:
    case OpCode::kPad:
    case OpCode::kMean:
    case OpCode::kSoftmax:
    case OpCode::kLogistic:
    case OpCode::kTanh:
    case OpCode::kRelu:
    case OpCode::kRelu6:
      return int8 ? 2 : 1;
    case OpCode::kReshape:
    case OpCode::kSqueeze:
      return 1;
  }
  (void)out;
  return 1;
}

absl::StatusOr<std::string> WriteTfliteFlatbuffer(const Model& model) {
  tflite::ModelT m;
  m.version = 3;
  m.description = model.description;
  m.buffers.push_back(std::make_unique<tflite::BufferT>());  // 0: the empty sentinel

  auto sg = std::make_unique<tflite::SubGraphT>();
  sg->name = "main";
  for (const Tensor& t : model.tensors) {
    auto tt = std::make_unique<tflite::TensorT>();
    tt->shape = t.shape;
    tt->type = ToTflite(t.type);
    tt->name = t.name;
    if (t.is_constant()) {
      auto b = std::make_unique<tflite::BufferT>();
      b->data = t.data;
      tt->buffer = static_cast<uint32_t>(m.buffers.size());
      m.buffers.push_back(std::move(b));
    }
    if (t.quant) {
      auto q = std::make_unique<tflite::QuantizationParametersT>();
      q->scale = t.quant->scale;
      q->zero_point = t.quant->zero_point;
      q->quantized_dimension = t.quant->quantized_dimension;
      tt->quantization = std::move(q);
    }
    sg->tensors.push_back(std::move(tt));
  }
  sg->inputs.assign(model.inputs.begin(), model.inputs.end());
  sg->outputs.assign(model.outputs.begin(), model.outputs.end());

  std::map<std::pair<int32_t, int>, uint32_t> codes;
  for (const Op& op : model.ops) {
    const int version = OpVersion(model, op);
    const auto key = std::make_pair(static_cast<int32_t>(op.code), version);
    auto it = codes.find(key);
    if (it == codes.end()) {
      auto oc = std::make_unique<tflite::OperatorCodeT>();
      const int32_t code = static_cast<int32_t>(op.code);
      oc->builtin_code = static_cast<tflite::BuiltinOperator>(code);
      oc->deprecated_builtin_code = static_cast<int8_t>(code < 127 ? code : 127);
      oc->version = version;
      it = codes.emplace(key, static_cast<uint32_t>(m.operator_codes.size())).first;
      m.operator_codes.push_back(std::move(oc));
    }
    auto o = std::make_unique<tflite::OperatorT>();
    o->opcode_index = it->second;
    o->inputs.assign(op.inputs.begin(), op.inputs.end());
    o->outputs.assign(op.outputs.begin(), op.outputs.end());
    SetOptions(op, o.get());
    sg->operators.push_back(std::move(o));
  }
  m.subgraphs.push_back(std::move(sg));

  for (const auto& [name, bytes] : model.metadata) {
    auto b = std::make_unique<tflite::BufferT>();
    b->data.assign(bytes.begin(), bytes.end());
    auto md = std::make_unique<tflite::MetadataT>();
    md->name = name;
    md->buffer = static_cast<uint32_t>(m.buffers.size());
    m.buffers.push_back(std::move(b));
    m.metadata.push_back(std::move(md));
  }

  flatbuffers::FlatBufferBuilder fbb;
  tflite::FinishModelBuffer(fbb, tflite::Model::Pack(fbb, &m));
  flatbuffers::Verifier verifier(fbb.GetBufferPointer(), fbb.GetSize());
  if (!tflite::VerifyModelBuffer(verifier))
    return absl::InternalError("the written TFLite flatbuffer does not pass the flatbuffers verifier");
  return std::string(reinterpret_cast<const char*>(fbb.GetBufferPointer()), fbb.GetSize());
}

}  // namespace tfqat::converter
