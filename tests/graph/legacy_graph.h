// A small graph quantized the legacy way, as graph_transforms' quantize_nodes leaves it:
// QuantizeV2 -> QuantizedConv2D -> RequantizationRange/Requantize -> Dequantize.
#pragma once

#include "graph/attrs.h"
#include "graph/graph_builder.h"
#include "graph/tensor.h"

namespace tfqat::testing_util {

inline tensorflow::GraphDef LegacyQuantizedGraph() {
  GraphBuilder b;
  b.Placeholder("input", {1, 8, 8, 3});
  b.Const("input_min", HostTensor<float>{{}, {-1.0f}});
  b.Const("input_max", HostTensor<float>{{}, {1.0f}});
  auto* q = b.AddNode("conv/input_quantize", "QuantizeV2", {"input", "input_min", "input_max"});
  SetAttr(q, "T", tensorflow::DT_QUINT8);
  SetAttr(q, "mode", "MIN_FIRST");
  tensorflow::TensorProto w;
  w.set_dtype(tensorflow::DT_QUINT8);
  *w.mutable_tensor_shape() = ShapeToProto({3, 3, 3, 4});
  w.set_tensor_content(std::string(3 * 3 * 3 * 4, '\x80'));
  auto* wn = b.AddNode("conv/weights_quint8_const", "Const", {});
  SetAttr(wn, "dtype", tensorflow::DT_QUINT8);
  SetAttr(wn, "value", w);
  b.Const("conv/weights_min", HostTensor<float>{{}, {-0.5f}});
  b.Const("conv/weights_max", HostTensor<float>{{}, {0.5f}});
  auto* c = b.AddNode("conv/eightbit", "QuantizedConv2D",
                      {"conv/input_quantize", "conv/weights_quint8_const", "conv/input_quantize:1",
                       "conv/input_quantize:2", "conv/weights_min", "conv/weights_max"});
  SetAttr(c, "Tinput", tensorflow::DT_QUINT8);
  SetAttr(c, "Tfilter", tensorflow::DT_QUINT8);
  SetAttr(c, "out_type", tensorflow::DT_QINT32);
  SetAttr(c, "strides", std::vector<int64_t>{1, 1, 1, 1});
  SetAttr(c, "padding", "SAME");
  auto* rr = b.AddNode("conv/eightbit/requant_range", "RequantizationRange",
                       {"conv/eightbit", "conv/eightbit:1", "conv/eightbit:2"});
  SetAttr(rr, "Tinput", tensorflow::DT_QINT32);
  auto* rq = b.AddNode("conv/eightbit/requantize", "Requantize",
                       {"conv/eightbit", "conv/eightbit:1", "conv/eightbit:2", "conv/eightbit/requant_range",
                        "conv/eightbit/requant_range:1"});
  SetAttr(rq, "Tinput", tensorflow::DT_QINT32);
  SetAttr(rq, "out_type", tensorflow::DT_QUINT8);
  auto* dq = b.AddNode("conv", "Dequantize",
                       {"conv/eightbit/requantize", "conv/eightbit/requantize:1", "conv/eightbit/requantize:2"});
  SetAttr(dq, "T", tensorflow::DT_QUINT8);
  SetAttr(dq, "mode", "MIN_FIRST");
  return b.Build();
}

}  // namespace tfqat::testing_util
