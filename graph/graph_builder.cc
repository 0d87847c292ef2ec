#include "graph/graph_builder.h"

#include "absl/strings/str_cat.h"
#include "graph/attrs.h"

namespace tfqat {

GraphBuilder::GraphBuilder() {
  // TF 1.15's GraphDef version; consumers accept any producer >= their min_consumer.
  graph_.mutable_versions()->set_producer(134);
}

tensorflow::NodeDef* GraphBuilder::AddNode(absl::string_view name, absl::string_view op,
                                           const std::vector<std::string>& inputs) {
  tensorflow::NodeDef* node = graph_.add_node();
  node->set_name(std::string(name));
  node->set_op(std::string(op));
  for (const auto& in : inputs) node->add_input(in);
  return node;
}

std::string GraphBuilder::Placeholder(absl::string_view name, const std::vector<int64_t>& shape,
                                      tensorflow::DataType dtype) {
  auto* n = AddNode(name, "Placeholder", {});
  SetAttr(n, "dtype", dtype);
  tensorflow::TensorShapeProto s;
  for (int64_t d : shape) s.add_dim()->set_size(d);
  SetAttr(n, "shape", s);
  return n->name();
}

std::string GraphBuilder::Const(absl::string_view name, const HostTensor<float>& value) {
  auto* n = AddNode(name, "Const", {});
  SetAttr(n, "dtype", tensorflow::DT_FLOAT);
  SetAttr(n, "value", EncodeTensor(value));
  return n->name();
}

std::string GraphBuilder::ConstInt32(absl::string_view name, const HostTensor<int32_t>& value) {
  auto* n = AddNode(name, "Const", {});
  SetAttr(n, "dtype", tensorflow::DT_INT32);
  SetAttr(n, "value", EncodeTensor(value));
  return n->name();
}

std::string GraphBuilder::Identity(absl::string_view name, absl::string_view input) {
  auto* n = AddNode(name, "Identity", {std::string(input)});
  SetAttr(n, "T", tensorflow::DT_FLOAT);
  return n->name();
}

std::string GraphBuilder::Conv2D(absl::string_view name, absl::string_view input,
                                 absl::string_view filter, int stride, absl::string_view padding) {
  auto* n = AddNode(name, "Conv2D", {std::string(input), std::string(filter)});
  SetAttr(n, "T", tensorflow::DT_FLOAT);
  SetAttr(n, "strides", std::vector<int64_t>{1, stride, stride, 1});
  SetAttr(n, "padding", padding);
  SetAttr(n, "data_format", "NHWC");
  SetAttr(n, "dilations", std::vector<int64_t>{1, 1, 1, 1});
  SetAttr(n, "use_cudnn_on_gpu", true);
  SetAttr(n, "explicit_paddings", std::vector<int64_t>{});
  return n->name();
}

std::string GraphBuilder::DepthwiseConv2dNative(absl::string_view name, absl::string_view input,
                                                absl::string_view filter, int stride,
                                                absl::string_view padding) {
  auto* n = AddNode(name, "DepthwiseConv2dNative", {std::string(input), std::string(filter)});
  SetAttr(n, "T", tensorflow::DT_FLOAT);
  SetAttr(n, "strides", std::vector<int64_t>{1, stride, stride, 1});
  SetAttr(n, "padding", padding);
  SetAttr(n, "data_format", "NHWC");
  SetAttr(n, "dilations", std::vector<int64_t>{1, 1, 1, 1});
  SetAttr(n, "explicit_paddings", std::vector<int64_t>{});
  return n->name();
}

std::string GraphBuilder::MatMul(absl::string_view name, absl::string_view a, absl::string_view b) {
  auto* n = AddNode(name, "MatMul", {std::string(a), std::string(b)});
  SetAttr(n, "T", tensorflow::DT_FLOAT);
  SetAttr(n, "transpose_a", false);
  SetAttr(n, "transpose_b", false);
  return n->name();
}

std::string GraphBuilder::BiasAdd(absl::string_view name, absl::string_view input,
                                  absl::string_view bias) {
  auto* n = AddNode(name, "BiasAdd", {std::string(input), std::string(bias)});
  SetAttr(n, "T", tensorflow::DT_FLOAT);
  SetAttr(n, "data_format", "NHWC");
  return n->name();
}

std::string GraphBuilder::Binary(absl::string_view op, absl::string_view name, absl::string_view a,
                                 absl::string_view b) {
  auto* n = AddNode(name, op, {std::string(a), std::string(b)});
  SetAttr(n, "T", tensorflow::DT_FLOAT);
  return n->name();
}

std::string GraphBuilder::Unary(absl::string_view op, absl::string_view name,
                                absl::string_view input) {
  auto* n = AddNode(name, op, {std::string(input)});
  SetAttr(n, "T", tensorflow::DT_FLOAT);
  return n->name();
}

std::string GraphBuilder::Pool(absl::string_view op, absl::string_view name, absl::string_view input,
                               int k, int stride, absl::string_view padding) {
  auto* n = AddNode(name, op, {std::string(input)});
  SetAttr(n, "T", tensorflow::DT_FLOAT);
  SetAttr(n, "ksize", std::vector<int64_t>{1, k, k, 1});
  SetAttr(n, "strides", std::vector<int64_t>{1, stride, stride, 1});
  SetAttr(n, "padding", padding);
  SetAttr(n, "data_format", "NHWC");
  return n->name();
}

std::string GraphBuilder::Reshape(absl::string_view name, absl::string_view input,
                                  const std::vector<int32_t>& shape) {
  HostTensor<int32_t> s;
  s.shape = {static_cast<int64_t>(shape.size())};
  s.values = shape;
  std::string shape_node = ConstInt32(absl::StrCat(name, "/shape"), s);
  auto* n = AddNode(name, "Reshape", {std::string(input), shape_node});
  SetAttr(n, "T", tensorflow::DT_FLOAT);
  SetAttr(n, "Tshape", tensorflow::DT_INT32);
  return n->name();
}

std::string GraphBuilder::ConcatV2(absl::string_view name, const std::vector<std::string>& inputs,
                                   int axis) {
  HostTensor<int32_t> a;
  a.values = {axis};
  std::string axis_node = ConstInt32(absl::StrCat(name, "/axis"), a);
  std::vector<std::string> all = inputs;
  all.push_back(axis_node);
  auto* n = AddNode(name, "ConcatV2", all);
  SetAttr(n, "T", tensorflow::DT_FLOAT);
  SetAttr(n, "N", static_cast<int64_t>(inputs.size()));
  SetAttr(n, "Tidx", tensorflow::DT_INT32);
  return n->name();
}

std::string GraphBuilder::FusedBatchNormV3(absl::string_view name, absl::string_view x,
                                           absl::string_view scale, absl::string_view offset,
                                           absl::string_view mean, absl::string_view variance,
                                           float epsilon) {
  auto* n = AddNode(name, "FusedBatchNormV3",
                    {std::string(x), std::string(scale), std::string(offset), std::string(mean),
                     std::string(variance)});
  SetAttr(n, "T", tensorflow::DT_FLOAT);
  SetAttr(n, "U", tensorflow::DT_FLOAT);
  SetAttr(n, "epsilon", epsilon);
  SetAttr(n, "exponential_avg_factor", 1.0f);
  SetAttr(n, "data_format", "NHWC");
  SetAttr(n, "is_training", false);
  return n->name();
}

std::string GraphBuilder::Mean(absl::string_view name, absl::string_view input,
                               const std::vector<int32_t>& axes, bool keep_dims) {
  HostTensor<int32_t> a;
  a.shape = {static_cast<int64_t>(axes.size())};
  a.values = axes;
  std::string axes_node = ConstInt32(absl::StrCat(name, "/reduction_indices"), a);
  auto* n = AddNode(name, "Mean", {std::string(input), axes_node});
  SetAttr(n, "T", tensorflow::DT_FLOAT);
  SetAttr(n, "Tidx", tensorflow::DT_INT32);
  SetAttr(n, "keep_dims", keep_dims);
  return n->name();
}

}  // namespace tfqat
