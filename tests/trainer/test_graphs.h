// A tiny GraphDef builder for the trainer's tests.
#pragma once

#include <string>
#include <vector>

#include "graph/attrs.h"
#include "graph/tensor.h"
#include "proto/graph.pb.h"
#include "trainer/tensor.h"

namespace tfqat::testing {

class GraphBuilder {
 public:
  tensorflow::NodeDef* Op(const std::string& name, const std::string& op, const std::vector<std::string>& inputs = {}) {
    auto* n = g_.add_node();
    n->set_name(name);
    n->set_op(op);
    for (const auto& i : inputs) n->add_input(i);
    if (op != "NoOp" && op != "Const" && op != "Placeholder") SetAttr(n, "T", tensorflow::DT_FLOAT);
    return n;
  }
  tensorflow::NodeDef* Const(const std::string& name, const Tensor& t) {
    auto* n = Op(name, "Const");
    SetAttr(n, "dtype", t.dtype);
    SetAttr(n, "value", TensorToProto(t));
    return n;
  }
  tensorflow::NodeDef* Placeholder(const std::string& name, tensorflow::DataType dt = tensorflow::DT_FLOAT) {
    auto* n = Op(name, "Placeholder");
    SetAttr(n, "dtype", dt);
    return n;
  }
  // VariableV2 + <name>/initial_value + <name>/Assign + <name>/read, as CONTRACTS.md describes.
  void Variable(const std::string& name, const Tensor& init) {
    auto* v = Op(name, "VariableV2");
    v->mutable_attr()->erase("T");
    SetAttr(v, "dtype", init.dtype);
    SetAttr(v, "shape", ShapeToProto(init.shape));
    Const(name + "/initial_value", init);
    Op(name + "/Assign", "Assign", {name, name + "/initial_value"});
    Op(name + "/read", "Identity", {name});
  }
  const tensorflow::GraphDef& graph() const { return g_; }

 private:
  tensorflow::GraphDef g_;
};

}  // namespace tfqat::testing
