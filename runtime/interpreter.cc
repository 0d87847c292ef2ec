#include "runtime/interpreter.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <limits>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "flatbuffers/flatbuffers.h"
#include "graph/status_macros.h"
#include "proto/tflite_schema_generated.h"
#include "runtime/fixed_point.h"
#include "runtime/interpreter_internal.h"
#include "runtime/reference/reference_kernels.h"
#include "runtime/thread_pool.h"

namespace tfqat::runtime {

namespace tfl = ::tflite;

const char* ElementTypeName(ElementType t) {
  switch (t) {
    case ElementType::kFloat32: return "FLOAT32";
    case ElementType::kInt32: return "INT32";
    case ElementType::kUint8: return "UINT8";
    case ElementType::kInt8: return "INT8";
    case ElementType::kInt64: return "INT64";
    case ElementType::kInt16: return "INT16";
    default: return "OTHER";
  }
}

size_t ElementSize(ElementType t) {
  switch (t) {
    case ElementType::kFloat32: case ElementType::kInt32: return 4;
    case ElementType::kUint8: case ElementType::kInt8: return 1;
    case ElementType::kInt64: return 8;
    case ElementType::kInt16: return 2;
    default: return 0;
  }
}

// ---------------------------------------------------------------------------------------------
// Model bytes: memory-mapped (large files) or owned.
class LoadedModel {
 public:
  ~LoadedModel() {
    if (mapped_) munmap(const_cast<uint8_t*>(data_), size_);
  }
  static absl::StatusOr<std::unique_ptr<LoadedModel>> FromFile(const std::string& path) {
    auto m = std::unique_ptr<LoadedModel>(new LoadedModel);
    const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return absl::NotFoundError(absl::StrCat("cannot open '", path, "': ", strerror(errno)));
    struct stat st;
    if (fstat(fd, &st) != 0) {
      close(fd);
      return absl::InternalError(absl::StrCat("cannot stat '", path, "'"));
    }
    const size_t size = static_cast<size_t>(st.st_size);
    if (size >= (size_t{1} << 20)) {
      void* p = mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
      close(fd);
      if (p == MAP_FAILED) return absl::InternalError(absl::StrCat("cannot mmap '", path, "'"));
      m->data_ = static_cast<const uint8_t*>(p);
      m->size_ = size;
      m->mapped_ = true;
      return m;
    }
    m->owned_.resize(size);
    size_t done = 0;
    while (done < size) {
      const ssize_t r = read(fd, m->owned_.data() + done, size - done);
      if (r <= 0) {
        close(fd);
        return absl::InternalError(absl::StrCat("cannot read '", path, "'"));
      }
      done += static_cast<size_t>(r);
    }
    close(fd);
    m->data_ = reinterpret_cast<const uint8_t*>(m->owned_.data());
    m->size_ = size;
    return m;
  }
  static std::unique_ptr<LoadedModel> FromBytes(const std::string& bytes) {
    auto m = std::unique_ptr<LoadedModel>(new LoadedModel);
    m->owned_ = bytes;
    m->data_ = reinterpret_cast<const uint8_t*>(m->owned_.data());
    m->size_ = bytes.size();
    return m;
  }
  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  LoadedModel() = default;
  std::string owned_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  bool mapped_ = false;
};

// ---------------------------------------------------------------------------------------------

namespace {

constexpr size_t kAlign = 64;
constexpr int64_t kMaxTensorBytes = int64_t{1} << 31;

size_t AlignUp(size_t n) { return (n + kAlign - 1) / kAlign * kAlign; }

ElementType MapType(tfl::TensorType t) {
  switch (t) {
    case tfl::TensorType::FLOAT32: return ElementType::kFloat32;
    case tfl::TensorType::INT32: return ElementType::kInt32;
    case tfl::TensorType::UINT8: return ElementType::kUint8;
    case tfl::TensorType::INT8: return ElementType::kInt8;
    case tfl::TensorType::INT64: return ElementType::kInt64;
    case tfl::TensorType::INT16: return ElementType::kInt16;
    default: return ElementType::kOther;
  }
}

bool IsQuantizedType(ElementType t) { return t == ElementType::kUint8 || t == ElementType::kInt8; }

int32_t TypeMin(ElementType t) { return t == ElementType::kUint8 ? 0 : -128; }
int32_t TypeMax(ElementType t) { return t == ElementType::kUint8 ? 255 : 127; }

std::string ShapeStr(const Shape& s) {
  std::vector<int32_t> d(s.dims, s.dims + s.rank);
  return absl::StrCat("[", absl::StrJoin(d, ", "), "]");
}

bool SameShape(const Shape& a, const Shape& b) {
  if (a.rank != b.rank) return false;
  for (int i = 0; i < a.rank; ++i)
    if (a.dims[i] != b.dims[i]) return false;
  return true;
}

}  // namespace

Interpreter::Interpreter() = default;

Interpreter::~Interpreter() {
  free(arena_);
  free(scratch_);
}

void* Interpreter::TensorData(int index) {
  const TensorInfo& t = tensors_[index];
  if (t.const_data) return const_cast<uint8_t*>(t.const_data);
  return arena_ + t.arena_offset;
}

const void* Interpreter::ConstOrArena(int index) { return TensorData(index); }

absl::StatusOr<std::unique_ptr<Interpreter>> Interpreter::Create(
    const std::string& path, const InterpreterOptions& options) {
  auto interp = std::unique_ptr<Interpreter>(new Interpreter);
  TFQAT_ASSIGN_OR_RETURN(interp->model_, LoadedModel::FromFile(path));
  absl::Status s = interp->Build(options);
  if (!s.ok()) return absl::Status(s.code(), absl::StrCat(path, ": ", s.message()));
  return interp;
}

absl::StatusOr<std::unique_ptr<Interpreter>> Interpreter::CreateFromBuffer(
    const std::string& bytes, const InterpreterOptions& options) {
  auto interp = std::unique_ptr<Interpreter>(new Interpreter);
  interp->model_ = LoadedModel::FromBytes(bytes);
  TFQAT_RETURN_IF_ERROR(interp->Build(options));
  return interp;
}

void Interpreter::ResetProfile() {
  for (auto& p : profile_) {
    p.total_seconds = 0;
    p.calls = 0;
  }
}

absl::Status Interpreter::Invoke() {
  KernelContext ctx;
  ctx.pool = pool_.get();
  ctx.num_threads = pool_ ? pool_->num_threads() : 1;
  ctx.scratch = scratch_;
  ctx.scratch_bytes = scratch_bytes_;
  for (size_t i = 0; i < ops_.size(); ++i) {
    PreparedOp& op = *ops_[i];
    ctx.prepared = op.prepared.state.get();
    if (profiling_) {
      const auto t0 = std::chrono::steady_clock::now();
      op.run(ctx);
      const auto t1 = std::chrono::steady_clock::now();
      profile_[i].total_seconds += std::chrono::duration<double>(t1 - t0).count();
      profile_[i].calls += 1;
    } else {
      op.run(ctx);
    }
  }
  return absl::OkStatus();
}

absl::Status Interpreter::Invoke(const OpObserver& observer) {
  KernelContext ctx;
  ctx.pool = pool_.get();
  ctx.num_threads = pool_ ? pool_->num_threads() : 1;
  ctx.scratch = scratch_;
  ctx.scratch_bytes = scratch_bytes_;
  for (size_t i = 0; i < ops_.size(); ++i) {
    PreparedOp& op = *ops_[i];
    ctx.prepared = op.prepared.state.get();
    op.run(ctx);
    if (observer) {
      const int t = op.outputs[0];
      observer(static_cast<int>(i), tensors_[t], TensorData(t));
    }
  }
  return absl::OkStatus();
}


// ---------------------------------------------------------------------------------------------
// Build: verify, validate, prepare every op, plan the arena.

namespace {

#define OPERR(...) absl::InvalidArgumentError(absl::StrCat("operator ", op_index, " (", op_name, "): ", __VA_ARGS__))

ActivationRange FloatRange(float lo, float hi) {
  ActivationRange r;
  r.float_act_min = lo;
  r.float_act_max = hi;
  return r;
}

int32_t QuantizeValue(float f, const TensorInfo& t) {
  return t.zero_point + static_cast<int32_t>(std::round(f / t.scale));
}

}  // namespace

absl::Status Interpreter::Build(const InterpreterOptions& options) {
  const uint8_t* base = model_->data();
  const size_t size = model_->size();
  if (size < 8) return absl::InvalidArgumentError("not a .tflite file: too short");
  {
    flatbuffers::Verifier verifier(base, size, /*max_depth=*/64, /*max_tables=*/10000000);
    if (!tfl::VerifyModelBuffer(verifier))
      return absl::InvalidArgumentError("not a valid .tflite flatbuffer (verifier failed)");
  }
  const tfl::Model* model = tfl::GetModel(base);
  if (model->version() != 3)
    return absl::InvalidArgumentError(absl::StrCat("unsupported schema version ", model->version()));
  if (!model->subgraphs() || model->subgraphs()->size() == 0)
    return absl::InvalidArgumentError("model has no subgraph");
  const tfl::SubGraph* sg = model->subgraphs()->Get(0);
  const auto* buffers = model->buffers();
  const auto* tensors = sg->tensors();
  if (!tensors) return absl::InvalidArgumentError("subgraph 0 has no tensors");
  const int num_tensors = static_cast<int>(tensors->size());

  // ---- tensors
  tensors_.resize(num_tensors);
  for (int i = 0; i < num_tensors; ++i) {
    const tfl::Tensor* t = tensors->Get(i);
    TensorInfo& ti = tensors_[i];
    ti.name = t->name() ? t->name()->str() : absl::StrCat("tensor", i);
    auto terr = [&](const std::string& m) {
      return absl::InvalidArgumentError(absl::StrCat("tensor ", i, " '", ti.name, "': ", m));
    };
    ti.tflite_type = static_cast<int>(t->type());
    ti.type = MapType(t->type());
    const auto* shape = t->shape();
    const int rank = shape ? static_cast<int>(shape->size()) : 0;
    if (rank > kMaxRank) return terr(absl::StrCat("rank ", rank, " exceeds ", kMaxRank));
    ti.shape.rank = rank;
    int64_t n = 1;
    for (int d = 0; d < rank; ++d) {
      const int32_t v = shape->Get(d);
      if (v < 0) return terr(absl::StrCat("negative or unknown dimension ", v));
      ti.shape.dims[d] = v;
      n *= v;
      if (n > kMaxTensorBytes) return terr("too many elements");
    }
    const size_t esize = ElementSize(ti.type);
    ti.bytes = static_cast<size_t>(n) * esize;
    if (static_cast<int64_t>(ti.bytes) > kMaxTensorBytes) return terr("tensor too large");
    if (t->sparsity()) return terr("sparse tensors are not supported");
    // Variable tensors (state of LSTM/SVDF) have no producer: an op reading one is rejected.
    if (t->external_buffer() != 0) return terr("external buffers are not supported");
    // Buffer.
    const uint32_t b = t->buffer();
    if (!buffers || b >= buffers->size())
      return terr(absl::StrCat("buffer index ", b, " out of range"));
    const tfl::Buffer* buf = buffers->Get(b);
    if (buf->offset() != 0 || buf->size() != 0)
      return terr("buffers stored outside the flatbuffer are not supported");
    if (b != 0 && buf->data() && buf->data()->size() > 0) {
      if (esize == 0) return terr(absl::StrCat("constant of unsupported type ", tfl::EnumNameTensorType(t->type())));
      if (buf->data()->size() != ti.bytes)
        return terr(absl::StrCat("buffer ", b, " holds ", buf->data()->size(), " bytes, shape ",
                                 ShapeStr(ti.shape), " of ", ElementTypeName(ti.type), " needs ", ti.bytes));
      ti.const_data = buf->data()->data();
      if (reinterpret_cast<uintptr_t>(ti.const_data) % esize != 0)
        return terr("constant data is misaligned");
    }
    // Quantization.
    if (const tfl::QuantizationParameters* q = t->quantization()) {
      if (q->details_type() != tfl::QuantizationDetails::NONE)
        return terr("custom/blockwise quantization is not supported");
      const auto* sc = q->scale();
      const auto* zp = q->zero_point();
      const int ns = sc ? static_cast<int>(sc->size()) : 0;
      const int nz = zp ? static_cast<int>(zp->size()) : 0;
      if (ns > 0) {
        if (nz != ns && !(nz == 0))
          return terr(absl::StrCat(ns, " scales but ", nz, " zero points"));
        for (int k = 0; k < ns; ++k) {
          const float s = sc->Get(k);
          if (!std::isfinite(s) || s < 0.f) return terr(absl::StrCat("invalid scale ", s));
          ti.scales.push_back(s);
          const int64_t z = nz ? zp->Get(k) : 0;
          if (IsQuantizedType(ti.type) && (z < TypeMin(ti.type) || z > TypeMax(ti.type)))
            return terr(absl::StrCat("zero point ", z, " outside the ", ElementTypeName(ti.type), " range"));
          if (z < std::numeric_limits<int32_t>::min() || z > std::numeric_limits<int32_t>::max())
            return terr("zero point out of range");
          ti.zero_points.push_back(z);
        }
        ti.quantized_dimension = q->quantized_dimension();
        if (ns > 1) {
          // TFLite Micro accepts rank-1 tensors (biases) whose quantized_dimension points past
          // their rank, as long as the scale count equals their length; so do we.
          if (rank == 1 && ti.shape.dims[0] == ns) ti.quantized_dimension = 0;
          if (ti.quantized_dimension < 0 || ti.quantized_dimension >= rank ||
              ti.shape.dims[ti.quantized_dimension] != ns)
            return terr(absl::StrCat(ns, " per-channel scales do not match dimension ",
                                     ti.quantized_dimension, " of ", ShapeStr(ti.shape)));
        }
        ti.scale = ti.scales[0];
        ti.zero_point = static_cast<int32_t>(ti.zero_points[0]);
      }
    }
  }

  // ---- graph inputs / outputs
  std::vector<int> producer(num_tensors, -2);  // -2 undefined, -1 graph input/const, k op index
  auto read_list = [&](const flatbuffers::Vector<int32_t>* v, std::vector<int>* out,
                       const char* what) -> absl::Status {
    if (!v) return absl::OkStatus();
    for (int32_t x : *v) {
      if (x < 0 || x >= num_tensors)
        return absl::InvalidArgumentError(absl::StrCat("subgraph ", what, " index ", x, " out of range"));
      out->push_back(x);
    }
    return absl::OkStatus();
  };
  TFQAT_RETURN_IF_ERROR(read_list(sg->inputs(), &inputs_, "input"));
  TFQAT_RETURN_IF_ERROR(read_list(sg->outputs(), &outputs_, "output"));
  if (inputs_.empty() || outputs_.empty())
    return absl::InvalidArgumentError("subgraph needs at least one input and one output");
  for (int i = 0; i < num_tensors; ++i)
    if (tensors_[i].const_data) producer[i] = -1;
  for (int in : inputs_) {
    TensorInfo& t = tensors_[in];
    if (t.const_data) return absl::InvalidArgumentError(absl::StrCat("graph input '", t.name, "' is a constant"));
    if (ElementSize(t.type) == 0)
      return absl::InvalidArgumentError(absl::StrCat("graph input '", t.name, "' has unsupported type ", tfl::EnumNameTensorType(static_cast<tfl::TensorType>(t.tflite_type))));
    producer[in] = -1;
  }

  kernels_ = &SelectKernelSet(options.kernels);
  if (options.num_threads > 1) pool_ = std::make_unique<ThreadPool>(options.num_threads);
  profiling_ = options.profile;

  // ---- operators
  const auto* opcodes = model->operator_codes();
  const auto* operators = sg->operators();
  const int num_ops = operators ? static_cast<int>(operators->size()) : 0;
  std::vector<int> last_use(num_tensors, -1);
  for (int op_index = 0; op_index < num_ops; ++op_index) {
    const tfl::Operator* fop = operators->Get(op_index);
    std::string op_name = "?";
    if (!opcodes || fop->opcode_index() >= opcodes->size())
      return absl::InvalidArgumentError(absl::StrCat("operator ", op_index, ": opcode index ", fop->opcode_index(), " out of range"));
    const tfl::OperatorCode* oc = opcodes->Get(fop->opcode_index());
    const int32_t code = std::max<int32_t>(oc->deprecated_builtin_code(), static_cast<int32_t>(oc->builtin_code()));
    const auto bop = static_cast<tfl::BuiltinOperator>(code);
    op_name = tfl::EnumNameBuiltinOperator(bop);
    if (op_name.empty()) op_name = absl::StrCat("builtin ", code);
    if (bop == tfl::BuiltinOperator::CUSTOM)
      op_name = absl::StrCat("CUSTOM ", oc->custom_code() ? oc->custom_code()->str() : "?");

    auto op = std::make_unique<PreparedOp>();
    op->index = op_index;
    op->name = op_name;
    if (fop->inputs())
      for (int32_t x : *fop->inputs()) {
        if (x < -1 || x >= num_tensors) return OPERR("input tensor index ", x, " out of range");
        op->inputs.push_back(x);
      }
    if (fop->outputs())
      for (int32_t x : *fop->outputs()) {
        if (x < 0 || x >= num_tensors) return OPERR("output tensor index ", x, " out of range");
        op->outputs.push_back(x);
      }
    if (op->outputs.empty()) return OPERR("no outputs");
    for (int x : op->inputs) {
      if (x < 0) continue;
      if (producer[x] == -2)
        return OPERR("input tensor ", x, " '", tensors_[x].name, "' is not computed before it is used");
      last_use[x] = op_index;
    }
    for (int x : op->outputs) {
      if (producer[x] != -2)
        return OPERR("output tensor ", x, " '", tensors_[x].name, "' is a constant, a graph input or written twice");
      if (ElementSize(tensors_[x].type) == 0)
        return OPERR("unsupported output type ", tfl::EnumNameTensorType(static_cast<tfl::TensorType>(tensors_[x].tflite_type)));
      producer[x] = op_index;
      last_use[x] = std::max(last_use[x], op_index);
    }
    TFQAT_RETURN_IF_ERROR(PrepareOp(op_index, op_name, bop, fop, op.get()));
    ops_.push_back(std::move(op));
  }
  for (int o : outputs_) {
    if (producer[o] == -2)
      return absl::InvalidArgumentError(absl::StrCat("graph output '", tensors_[o].name, "' is never computed"));
    last_use[o] = num_ops;  // outputs live to the end
  }
  for (int in : inputs_) last_use[in] = std::max(last_use[in], 0);

  // ---- arena: greedy first-fit by decreasing size over lifetime intervals.
  struct Item { int tensor; int first, last; size_t bytes; };
  std::vector<Item> items;
  for (int i = 0; i < num_tensors; ++i) {
    if (tensors_[i].const_data || producer[i] == -2) continue;
    const int first = producer[i] < 0 ? -1 : producer[i];
    const int last = std::max(last_use[i], first);
    items.push_back({i, first, last, AlignUp(std::max<size_t>(tensors_[i].bytes, 1))});
    unshared_bytes_ += AlignUp(std::max<size_t>(tensors_[i].bytes, 1));
  }
  std::stable_sort(items.begin(), items.end(), [](const Item& a, const Item& b) { return a.bytes > b.bytes; });
  struct Placed { size_t off, bytes; int first, last; };
  std::vector<Placed> placed;
  size_t arena = 0;
  for (const Item& it : items) {
    std::vector<std::pair<size_t, size_t>> busy;
    for (const Placed& p : placed)
      if (!(p.last < it.first || it.last < p.first)) busy.push_back({p.off, p.off + p.bytes});
    std::sort(busy.begin(), busy.end());
    size_t off = 0;
    for (const auto& b : busy) {
      if (off + it.bytes <= b.first) break;
      off = std::max(off, b.second);
    }
    placed.push_back({off, it.bytes, it.first, it.last});
    tensors_[it.tensor].arena_offset = static_cast<int64_t>(off);
    arena = std::max(arena, off + it.bytes);
  }
  arena_bytes_ = arena;
  arena_ = static_cast<uint8_t*>(aligned_alloc(kAlign, AlignUp(std::max<size_t>(arena, kAlign))));
  if (!arena_) return absl::ResourceExhaustedError("cannot allocate the arena");
  memset(arena_, 0, AlignUp(std::max<size_t>(arena, kAlign)));
  size_t scratch = 0;
  for (auto& op : ops_) scratch = std::max({scratch, op->scratch, op->prepared.scratch_bytes});
  scratch_bytes_ = scratch;
  if (scratch) {
    scratch_ = static_cast<uint8_t*>(aligned_alloc(kAlign, AlignUp(scratch)));
    if (!scratch_) return absl::ResourceExhaustedError("cannot allocate scratch memory");
  }
  profile_.resize(ops_.size());
  for (size_t i = 0; i < ops_.size(); ++i) {
    profile_[i].op = ops_[i]->name;
    profile_[i].output = tensors_[ops_[i]->outputs[0]].name;
    profile_[i].ops = ops_[i]->flops;
  }
  return absl::OkStatus();
}

}  // namespace tfqat::runtime
