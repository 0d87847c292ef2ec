#include "workflow/model_runner.h"

#include <chrono>
#include <cmath>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "graph/status_macros.h"
#include "runtime/interpreter.h"

namespace tfqat::workflow {
using runtime::ElementType;

absl::StatusOr<BatchRunResult> RunTfliteOverBatch(const std::string& model_path, const NpyArray& input,
                                                  const BatchRunOptions& options) {
  runtime::InterpreterOptions io;
  io.num_threads = options.threads;
  TFQAT_ASSIGN_OR_RETURN(auto interp, runtime::Interpreter::Create(model_path, io));
  if (interp->num_inputs() != 1 || interp->num_outputs() < 1) {
    return absl::InvalidArgumentError(absl::StrCat(model_path, ": expected one input, got ", interp->num_inputs()));
  }
  const runtime::TensorInfo in = interp->input(0);  // copies: interp may be replaced below
  const runtime::TensorInfo out = interp->output(0);
  const size_t in_elems = in.bytes / runtime::ElementSize(in.type);
  const size_t out_elems = out.bytes / runtime::ElementSize(out.type);
  const int64_t total = input.num_elements();
  if (in_elems == 0 || total % static_cast<int64_t>(in_elems) != 0) {
    return absl::InvalidArgumentError(absl::StrCat("input holds ", total, " values, not a multiple of the model input's ",
                                                   in_elems, " ('", in.name, "')"));
  }
  const int64_t steps = total / static_cast<int64_t>(in_elems);
  const int64_t model_batch = in.shape.rank == 0 ? 1 : in.shape.Dim(0);
  std::vector<float> x = input.ToFloat();
  BatchRunResult r;
  std::vector<int64_t> out_shape = {steps * std::max<int64_t>(model_batch, 1)};
  for (int d = 1; d < out.shape.rank; ++d) out_shape.push_back(out.shape.Dim(d));
  if (out.shape.rank == 0) out_shape = {steps};
  std::vector<float> y(static_cast<size_t>(steps) * out_elems);
  r.raw_output = NpyArray::Zeros(out.type == ElementType::kUint8 ? NpyDType::kUInt8
                                 : out.type == ElementType::kInt8 ? NpyDType::kInt8 : NpyDType::kFloat32,
                                 out_shape);
  r.output_scale = out.scale;
  r.output_zero_point = out.zero_point;
  const bool raw_input = input.dtype == NpyDType::kUInt8 && in.type == ElementType::kUint8;
  // Examples [begin, end) through one interpreter; returns the time spent in Invoke.
  auto run_range = [&](runtime::Interpreter* it, int64_t begin, int64_t end, double* seconds) -> absl::Status {
    for (int64_t s = begin; s < end; ++s) {
      const float* xs = x.data() + s * in_elems;
      void* dst = it->input_data(0);
      switch (in.type) {
        case ElementType::kFloat32:
          std::memcpy(dst, xs, in_elems * sizeof(float));
          break;
        case ElementType::kUint8:
          for (size_t i = 0; i < in_elems; ++i) {
            static_cast<uint8_t*>(dst)[i] = raw_input ? static_cast<uint8_t>(xs[i])
                                                      : QuantizeLikeFakeQuant<uint8_t>(xs[i], in.scale, in.zero_point);
          }
          break;
        case ElementType::kInt8:
          for (size_t i = 0; i < in_elems; ++i) {
            static_cast<int8_t*>(dst)[i] = QuantizeLikeFakeQuant<int8_t>(xs[i], in.scale, in.zero_point);
          }
          break;
        default:
          return absl::UnimplementedError(absl::StrCat("input '", in.name, "' of type ",
                                                       runtime::ElementTypeName(in.type), " is not supported here"));
      }
      auto t0 = std::chrono::steady_clock::now();
      TFQAT_RETURN_IF_ERROR(it->Invoke());
      *seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      const void* src = it->output_data(0);
      float* ys = y.data() + s * out_elems;
      const size_t esz = runtime::ElementSize(out.type);
      std::memcpy(r.raw_output.data.data() + s * out_elems * esz, src, out_elems * esz);
      for (size_t i = 0; i < out_elems; ++i) {
        switch (out.type) {
          case ElementType::kFloat32: ys[i] = static_cast<const float*>(src)[i]; break;
          case ElementType::kUint8:
            ys[i] = (static_cast<int32_t>(static_cast<const uint8_t*>(src)[i]) - out.zero_point) * out.scale;
            break;
          case ElementType::kInt8:
            ys[i] = (static_cast<int32_t>(static_cast<const int8_t*>(src)[i]) - out.zero_point) * out.scale;
            break;
          default:
            return absl::UnimplementedError(absl::StrCat("output '", out.name, "' of type ",
                                                         runtime::ElementTypeName(out.type), " is not supported here"));
        }
      }
    }
    return absl::OkStatus();
  };
  // Small models gain nothing from splitting one example's operators across threads: with N
  // threads, N single-threaded interpreters each take a contiguous share of the examples (the
  // results do not depend on the split: every example runs alone through the same kernels).
  const int workers = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(options.threads, steps)));
  std::vector<std::unique_ptr<runtime::Interpreter>> extra;
  if (workers > 1) {
    runtime::InterpreterOptions one = io;
    one.num_threads = 1;
    TFQAT_ASSIGN_OR_RETURN(interp, runtime::Interpreter::Create(model_path, one));
    for (int w = 1; w < workers; ++w) {
      TFQAT_ASSIGN_OR_RETURN(auto it, runtime::Interpreter::Create(model_path, one));
      extra.push_back(std::move(it));
    }
  }
  std::vector<absl::Status> status(workers);
  std::vector<double> seconds(workers, 0.0);
  std::vector<std::thread> threads;
  auto share = [&](int w) { return steps * w / workers; };
  for (int w = 1; w < workers; ++w) {
    threads.emplace_back([&, w] { status[w] = run_range(extra[w - 1].get(), share(w), share(w + 1), &seconds[w]); });
  }
  status[0] = run_range(interp.get(), share(0), share(1), &seconds[0]);
  for (auto& t : threads) t.join();
  for (const auto& st : status) TFQAT_RETURN_IF_ERROR(st);
  double total_seconds = 0;
  for (double v : seconds) total_seconds += v;
  r.output = NpyArray::FromFloat(out_shape, y);
  r.seconds = total_seconds;
  return r;
}

}  // namespace tfqat::workflow
