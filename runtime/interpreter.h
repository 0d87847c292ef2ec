// Loads a .tflite model (tfqat's schema subset), validates it completely, plans memory once and
// runs it with integer arithmetic (or float for float models).
//
//   TFQAT_ASSIGN_OR_RETURN(auto interp, Interpreter::Create(path, options));
//   memcpy(interp->input_data(0), ..., interp->input(0).bytes);
//   TFQAT_RETURN_IF_ERROR(interp->Invoke());
//   interp->output_data(0) ...
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "runtime/kernel_params.h"
#include "runtime/kernel_set.h"

namespace tflite {
struct Operator;
enum class BuiltinOperator : int32_t;
}  // namespace tflite

namespace tfqat::runtime {

enum class ElementType { kFloat32, kInt32, kUint8, kInt8, kInt64, kInt16, kOther };
const char* ElementTypeName(ElementType t);
size_t ElementSize(ElementType t);

struct TensorInfo {
  std::string name;
  ElementType type = ElementType::kOther;
  int tflite_type = 0;  // raw tflite::TensorType value
  Shape shape;
  size_t bytes = 0;
  // Per-tensor quantization (scale 0 = not quantized); per-channel in scales/zero_points.
  float scale = 0.f;
  int32_t zero_point = 0;
  std::vector<float> scales;
  std::vector<int64_t> zero_points;
  int quantized_dimension = 0;
  const uint8_t* const_data = nullptr;  // constant tensors (points into the model file)
  int64_t arena_offset = -1;            // activations: offset in the arena
};

struct InterpreterOptions {
  int num_threads = 1;
  KernelChoice kernels = KernelChoice::kAuto;
  bool profile = false;  // measure per-op time in Invoke (for bench)
};

struct OpProfile {
  std::string op;   // BuiltinOperator name
  std::string output;  // first output tensor name
  double total_seconds = 0;
  int64_t calls = 0;
  double ops = 0;  // multiply-adds * 2 for conv/FC (0 otherwise)
};

class LoadedModel;

class Interpreter {
 public:
  // Reads (memory-maps files >= 1 MiB) and validates the model, then plans it.
  static absl::StatusOr<std::unique_ptr<Interpreter>> Create(const std::string& path,
                                                             const InterpreterOptions& options);
  // Same from bytes already in memory (copied).
  static absl::StatusOr<std::unique_ptr<Interpreter>> CreateFromBuffer(
      const std::string& bytes, const InterpreterOptions& options);
  ~Interpreter();

  int num_inputs() const { return static_cast<int>(inputs_.size()); }
  int num_outputs() const { return static_cast<int>(outputs_.size()); }
  const TensorInfo& input(int i) const { return tensors_[inputs_[i]]; }
  const TensorInfo& output(int i) const { return tensors_[outputs_[i]]; }
  void* input_data(int i) { return TensorData(inputs_[i]); }
  const void* output_data(int i) const { return const_cast<Interpreter*>(this)->TensorData(outputs_[i]); }

  // Runs the graph. Allocates nothing.
  absl::Status Invoke();
  // Same, calling `observer` right after each operator runs (execution order) with its first
  // output tensor and that tensor's bytes. The arena reuses buffers: read the data inside the
  // callback. (For layer-by-layer debugging, e.g. `tfqat compare`.)
  using OpObserver = std::function<void(int op_index, const TensorInfo& output, const void* data)>;
  absl::Status Invoke(const OpObserver& observer);

  size_t arena_bytes() const { return arena_bytes_; }
  size_t scratch_bytes() const { return scratch_bytes_; }
  size_t activation_bytes_unshared() const { return unshared_bytes_; }
  const char* kernel_set_name() const { return kernels_->name; }
  int num_operators() const { return static_cast<int>(ops_.size()); }
  const std::vector<OpProfile>& profile() const { return profile_; }
  void ResetProfile();
  const std::vector<TensorInfo>& tensors() const { return tensors_; }

 private:
  struct PreparedOp;
  Interpreter();
  absl::Status Build(const InterpreterOptions& options);
  // Validates one operator and fills `op` (runtime/prepare_ops.cc).
  absl::Status PrepareOp(int op_index, const std::string& op_name, tflite::BuiltinOperator bop,
                         const tflite::Operator* fop, PreparedOp* op);
  absl::Status PrepareOtherOp(int op_index, const std::string& op_name,
                              tflite::BuiltinOperator bop, const tflite::Operator* fop,
                              PreparedOp* op);
  void* TensorData(int index);
  const void* ConstOrArena(int index);

  std::unique_ptr<LoadedModel> model_;
  std::vector<TensorInfo> tensors_;
  std::vector<int> inputs_, outputs_;
  std::vector<std::unique_ptr<PreparedOp>> ops_;
  std::vector<OpProfile> profile_;
  const KernelSet* kernels_ = nullptr;
  std::unique_ptr<class ThreadPool> pool_;
  uint8_t* arena_ = nullptr;
  size_t arena_bytes_ = 0;
  uint8_t* scratch_ = nullptr;
  size_t scratch_bytes_ = 0;
  size_t unshared_bytes_ = 0;
  bool profiling_ = false;
};

}  // namespace tfqat::runtime
