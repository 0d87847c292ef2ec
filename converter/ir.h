// The converter's intermediate form: TFLite-shaped operators over tensors, before and after
// quantization. Lowering (lower.h) builds it from the annotated frozen graph with float data and
// FakeQuant ranges; quantization (quantize.h) assigns types, scales and zero points and encodes
// the constant data; the writer (tflite_writer.h) serializes it as a flatbuffer.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace tfqat::converter {

// The TFLite builtin operators we emit; the values are TFLite's BuiltinOperator codes.
enum class OpCode : int32_t {
  kAdd = 0,
  kAveragePool2D = 1,
  kConcatenation = 2,
  kConv2D = 3,
  kDepthwiseConv2D = 4,
  kDequantize = 6,
  kFullyConnected = 9,
  kLogistic = 14,
  kMaxPool2D = 17,
  kRelu = 19,
  kRelu6 = 21,
  kReshape = 22,
  kSoftmax = 25,
  kTanh = 28,
  kPad = 34,
  kMean = 40,
  kSqueeze = 43,
  kTransposeConv = 67,
  kQuantize = 114,
};
const char* OpCodeName(OpCode code);

enum class ElemType { kFloat32, kInt32, kUInt8, kInt8 };
const char* ElemTypeName(ElemType t);

enum class Activation { kNone, kRelu, kRelu6 };
enum class Padding { kSame, kValid };

// A FakeQuant range as the training graph holds it.
struct FakeQuantRange {
  float min = 0.f;
  float max = 0.f;
  int num_bits = 8;
  bool narrow_range = false;
  std::string node;  // the FakeQuant node it came from ("" when made up)
};

// Scale and zero point(s) of a quantized tensor (TFLite's QuantizationParameters).
struct QuantParams {
  std::vector<float> scale;
  std::vector<int64_t> zero_point;
  int quantized_dimension = 0;
  bool operator==(const QuantParams& o) const {
    return scale == o.scale && zero_point == o.zero_point &&
           quantized_dimension == o.quantized_dimension;
  }
  bool operator!=(const QuantParams& o) const { return !(*this == o); }
};

// Weights' FakeQuant: one range per tensor, or one per output channel (TFLite layout axis).
struct WeightRanges {
  std::vector<FakeQuantRange> ranges;  // size 1 (per tensor) or the channel count
  int channel_axis = 0;                // axis of `ranges` in the TFLite layout
};

enum class TensorRole {
  kActivation,  // produced by an operator or a graph input
  kWeights,     // constant filter / weight matrix
  kBias,        // constant bias, becomes int32 in quantized models
  kIndex,       // constant int32 operand (shapes, axes, paddings)
};

struct Tensor {
  std::string name;
  std::vector<int32_t> shape;
  TensorRole role = TensorRole::kActivation;
  ElemType type = ElemType::kFloat32;  // final type (set by quantization)

  // Constant data before quantization (weights and biases in float, index operands in int32).
  std::vector<float> float_data;
  std::vector<int32_t> int_data;
  std::optional<WeightRanges> weight_ranges;  // weights' FakeQuant, when there was one

  // Activation range from a FakeQuant (the tensor after the fused op); absent when none.
  std::optional<FakeQuantRange> range;

  // Set by quantization.
  std::optional<QuantParams> quant;
  std::vector<uint8_t> data;  // encoded constant bytes (little-endian)
  bool range_made_up = false; // got a --default-ranges range

  // The TF node (and op) this tensor came from, for messages.
  std::string tf_node;

  bool is_constant() const { return role != TensorRole::kActivation; }
  int64_t num_elements() const {
    int64_t n = 1;
    for (int32_t d : shape) n *= d;
    return n;
  }
};

// Options of every op we emit (only the fields of the op's options table are used).
struct OpOptions {
  Padding padding = Padding::kValid;
  int stride_h = 1, stride_w = 1;
  int dilation_h = 1, dilation_w = 1;
  int filter_h = 1, filter_w = 1;  // pooling
  int depth_multiplier = 1;
  Activation activation = Activation::kNone;
  int axis = 0;                      // concatenation
  bool keep_dims = false;            // mean, fully connected
  std::vector<int32_t> squeeze_dims; // squeeze
  std::vector<int32_t> new_shape;    // reshape
  float beta = 1.f;                  // softmax
};

struct Op {
  OpCode code = OpCode::kAdd;
  std::vector<int> inputs;   // tensor indices (-1: optional input absent)
  std::vector<int> outputs;
  OpOptions options;
  std::string tf_node;       // the TF node it was lowered from ("" for inserted ops)
  std::string tf_op;
  bool requantize = false;   // a QUANTIZE inserted to change scale/zero point (may be elided)
};

struct Model {
  std::vector<Tensor> tensors;
  std::vector<Op> ops;  // execution order
  std::vector<int> inputs;
  std::vector<int> outputs;
  std::string description;
  // name -> bytes, written as Model.metadata entries.
  std::vector<std::pair<std::string, std::string>> metadata;

  int AddTensor(Tensor t) {
    tensors.push_back(std::move(t));
    return static_cast<int>(tensors.size()) - 1;
  }
};

}  // namespace tfqat::converter
