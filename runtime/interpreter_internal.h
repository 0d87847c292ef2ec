// Internal to the interpreter: the prepared form of one operator.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "runtime/interpreter.h"

namespace tfqat::runtime {

struct Interpreter::PreparedOp {
  int index = 0;
  std::string name;  // BuiltinOperator name
  std::vector<int> inputs, outputs;
  std::vector<int32_t> multipliers, shifts;
  std::vector<int32_t> zps;
  std::vector<float> scales;
  std::vector<Shape> shapes;
  std::vector<const Shape*> shape_ptrs;
  std::vector<const void*> input_ptrs;
  KernelPrepareResult prepared;
  size_t scratch = 0;
  double flops = 0;
  std::function<void(const KernelContext&)> run;
};

}  // namespace tfqat::runtime
