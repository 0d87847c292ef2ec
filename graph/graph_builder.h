// A small builder for GraphDefs that follow TensorFlow's node and attribute conventions
// (used by the examples and by tests): every node gets the attrs TF's OpDef requires.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "graph/tensor.h"
#include "proto/graph.pb.h"

namespace tfqat {

class GraphBuilder {
 public:
  GraphBuilder();

  // Each returns the created node's name (its output 0).
  std::string Placeholder(absl::string_view name, const std::vector<int64_t>& shape,
                          tensorflow::DataType dtype = tensorflow::DT_FLOAT);
  std::string Const(absl::string_view name, const HostTensor<float>& value);
  std::string ConstInt32(absl::string_view name, const HostTensor<int32_t>& value);
  std::string Identity(absl::string_view name, absl::string_view input);
  // padding: "SAME" or "VALID"; strides NHWC.
  std::string Conv2D(absl::string_view name, absl::string_view input, absl::string_view filter,
                     int stride, absl::string_view padding);
  std::string DepthwiseConv2dNative(absl::string_view name, absl::string_view input,
                                    absl::string_view filter, int stride, absl::string_view padding);
  std::string MatMul(absl::string_view name, absl::string_view a, absl::string_view b);
  std::string BiasAdd(absl::string_view name, absl::string_view input, absl::string_view bias);
  std::string Binary(absl::string_view op, absl::string_view name, absl::string_view a,
                     absl::string_view b);  // Add, AddV2, Mul, Sub, ...
  std::string Unary(absl::string_view op, absl::string_view name,
                    absl::string_view input);  // Relu, Relu6, Softmax, Tanh, ...
  std::string Pool(absl::string_view op, absl::string_view name, absl::string_view input, int k,
                   int stride, absl::string_view padding);  // MaxPool, AvgPool
  std::string Reshape(absl::string_view name, absl::string_view input,
                      const std::vector<int32_t>& shape);
  std::string ConcatV2(absl::string_view name, const std::vector<std::string>& inputs, int axis);
  std::string FusedBatchNormV3(absl::string_view name, absl::string_view x, absl::string_view scale,
                               absl::string_view offset, absl::string_view mean,
                               absl::string_view variance, float epsilon);
  std::string Mean(absl::string_view name, absl::string_view input, const std::vector<int32_t>& axes,
                   bool keep_dims);

  tensorflow::NodeDef* AddNode(absl::string_view name, absl::string_view op,
                               const std::vector<std::string>& inputs);
  const tensorflow::GraphDef& graph() const { return graph_; }
  tensorflow::GraphDef Build() const { return graph_; }

 private:
  tensorflow::GraphDef graph_;
};

}  // namespace tfqat
