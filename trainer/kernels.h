// Forward kernels of the reference executor. One function per op family adds its kernels to
// the table; KernelTableForExecutor() lists the families explicitly (no static registration).
#pragma once

#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "proto/node_def.pb.h"
#include "trainer/parallel.h"
#include "trainer/tensor.h"

namespace tfqat {

struct KernelContext {
  const tensorflow::NodeDef* node = nullptr;
  std::vector<const Tensor*> inputs;  // data inputs, in order
  std::vector<Tensor> outputs;        // the kernel fills these (port order)
  const Parallel* parallel = nullptr;
  BufferPool* pool = nullptr;  // may be null

  int num_inputs() const { return static_cast<int>(inputs.size()); }
  const Tensor& in(int k) const { return *inputs[k]; }
  Tensor* out(int k) {
    if (outputs.size() <= static_cast<size_t>(k)) outputs.resize(k + 1);
    return &outputs[k];
  }
  // Output k as a float tensor of `shape` (dtype `dtype`) whose data the kernel overwrites
  // entirely: contents unspecified (recycled from the pool).
  Tensor* UninitializedOutput(int k, std::vector<int64_t> shape,
                              tensorflow::DataType dtype = tensorflow::DT_FLOAT) {
    Tensor* t = out(k);
    t->dtype = dtype;
    t->shape = std::move(shape);
    ResizeUninitialized(t, static_cast<size_t>(NumElements(t->shape)), pool);
    return t;
  }
  // InvalidArgument "node 'x' (Op): <parts>".
  template <typename... Args>
  absl::Status Error(const Args&... parts) const {
    return absl::InvalidArgumentError(
        absl::StrCat("node '", node->name(), "' (", node->op(), "): ", parts...));
  }
};

using KernelFn = absl::Status (*)(KernelContext&);
using KernelTable = absl::flat_hash_map<std::string, KernelFn>;

void AddMathKernels(KernelTable* table);     // kernels_math.cc: elementwise, reductions, casts
void AddArrayKernels(KernelTable* table);    // kernels_array.cc: shapes, slicing, concat
void AddNnKernels(KernelTable* table);       // kernels_nn.cc: conv, matmul, pooling, softmax, BN
void AddQuantKernels(KernelTable* table);    // kernels_quant.cc: FakeQuant*

// All kernels (built once).
const KernelTable& ExecutorKernels();

// Ops handled by the executor itself (state, feeds): Placeholder, Const, Variable*, Assign*, NoOp...
bool IsExecutorBuiltinOp(const std::string& op);

// Shared helpers.
// numpy-style broadcast of two shapes; error names the node via ctx.
absl::Status BroadcastShapes(const KernelContext& ctx, const std::vector<int64_t>& a,
                             const std::vector<int64_t>& b, std::vector<int64_t>* out);
// Strides of `in` broadcast to `out` (0 where broadcast), same rank as out.
std::vector<int64_t> BroadcastStrides(const std::vector<int64_t>& in, const std::vector<int64_t>& out);
// Sums `grad` (of shape `out`) down to `target` shape (the reverse of broadcasting).
std::vector<float> ReduceToShape(const std::vector<float>& grad, const std::vector<int64_t>& out,
                                 const std::vector<int64_t>& target);
// Normalised axes list from an int tensor (negative axes wrap).
absl::Status AxesFromTensor(const KernelContext& ctx, const Tensor& t, int rank, std::vector<int>* axes);

}  // namespace tfqat
