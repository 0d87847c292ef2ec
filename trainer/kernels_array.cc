// Shape and data-movement ops: Reshape, Squeeze, ExpandDims, Shape, Concat, Pack, Unpack, Pad,
// Transpose, StridedSlice, Slice, Tile, Fill, Range, ReverseV2, *Like.
#include <algorithm>
#include <cmath>

#include "graph/attrs.h"
#include "graph/status_macros.h"
#include "trainer/kernels.h"

namespace tfqat {
namespace {

using tensorflow::DataType;

// out[e] = in[idx[e]] (idx < 0: fill with `pad`).
void Gather(const Tensor& in, const std::vector<int64_t>& idx, double pad, Tensor* out) {
  out->dtype = in.dtype;
  const int64_t n = static_cast<int64_t>(idx.size());
  if (in.is_float()) {
    out->f.resize(n);
    for (int64_t e = 0; e < n; ++e) out->f[e] = idx[e] < 0 ? static_cast<float>(pad) : in.f[idx[e]];
  } else {
    out->i.resize(n);
    for (int64_t e = 0; e < n; ++e) out->i[e] = idx[e] < 0 ? static_cast<int64_t>(pad) : in.i[idx[e]];
  }
}

std::vector<int64_t> Strides(const std::vector<int64_t>& shape) {
  std::vector<int64_t> s(shape.size(), 1);
  for (int d = static_cast<int>(shape.size()) - 2; d >= 0; --d) s[d] = s[d + 1] * shape[d + 1];
  return s;
}

// Source index of every output element for an affine per-dim map src_d = start_d + k * step_d.
std::vector<int64_t> AffineIndex(const std::vector<int64_t>& out_shape, const std::vector<int64_t>& start,
                                 const std::vector<int64_t>& step, const std::vector<int64_t>& src_strides) {
  const int r = static_cast<int>(out_shape.size());
  const int64_t n = NumElements(out_shape);
  std::vector<int64_t> idx(n);
  if (n == 0) return idx;
  std::vector<int64_t> k(r, 0);
  int64_t base = 0;
  for (int d = 0; d < r; ++d) base += start[d] * src_strides[d];
  int64_t off = base;
  for (int64_t e = 0; e < n; ++e) {
    idx[e] = off;
    for (int d = r - 1; d >= 0; --d) {
      if (++k[d] < out_shape[d]) { off += step[d] * src_strides[d]; break; }
      off -= step[d] * src_strides[d] * (out_shape[d] - 1);
      k[d] = 0;
    }
  }
  return idx;
}

std::vector<int64_t> IntValues(const Tensor& t) {
  std::vector<int64_t> v(t.num_elements());
  for (int64_t e = 0; e < t.num_elements(); ++e) v[e] = t.AsInt(e);
  return v;
}

absl::Status ReshapeKernel(KernelContext& ctx) {
  if (ctx.num_inputs() != 2) return ctx.Error("expects 2 inputs");
  const Tensor& a = ctx.in(0);
  std::vector<int64_t> shape = IntValues(ctx.in(1));
  int64_t known = 1;
  int unknown = -1;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == -1) {
      if (unknown >= 0) return ctx.Error("more than one -1 in the shape");
      unknown = static_cast<int>(d);
    } else {
      known *= shape[d];
    }
  }
  if (unknown >= 0) {
    if (known == 0 || a.num_elements() % known != 0) {
      return ctx.Error("cannot reshape ", a.ShapeString(), " (", a.num_elements(), " elements) with a -1 dim");
    }
    shape[unknown] = a.num_elements() / known;
  }
  if (NumElements(shape) != a.num_elements()) {
    Tensor s;
    s.shape = shape;
    return ctx.Error("cannot reshape ", a.ShapeString(), " to ", s.ShapeString());
  }
  Tensor* out = ctx.out(0);
  if (a.is_float()) {
    out->dtype = a.dtype;
    ResizeUninitialized(out, a.f.size(), ctx.pool);
    std::copy(a.f.begin(), a.f.end(), out->f.begin());
  } else {
    *out = a;
  }
  out->shape = shape;
  return absl::OkStatus();
}

absl::Status SqueezeKernel(KernelContext& ctx) {
  const Tensor& a = ctx.in(0);
  TFQAT_ASSIGN_OR_RETURN(std::vector<int64_t> dims, GetAttrOr<std::vector<int64_t>>(*ctx.node, "squeeze_dims", {}));
  for (auto& d : dims) if (d < 0) d += a.rank();
  Tensor* out = ctx.out(0);
  *out = a;
  out->shape.clear();
  for (int d = 0; d < a.rank(); ++d) {
    bool listed = std::find(dims.begin(), dims.end(), d) != dims.end();
    if (listed && a.shape[d] != 1) return ctx.Error("cannot squeeze dim ", d, " of size ", a.shape[d]);
    if ((dims.empty() && a.shape[d] == 1) || listed) continue;
    out->shape.push_back(a.shape[d]);
  }
  return absl::OkStatus();
}

absl::Status ExpandDimsKernel(KernelContext& ctx) {
  const Tensor& a = ctx.in(0);
  if (ctx.in(1).num_elements() != 1) return ctx.Error("dim must be a scalar");
  int64_t dim = ctx.in(1).AsInt(0);
  if (dim < 0) dim += a.rank() + 1;
  if (dim < 0 || dim > a.rank()) return ctx.Error("dim out of range");
  Tensor* out = ctx.out(0);
  *out = a;
  out->shape.insert(out->shape.begin() + dim, 1);
  return absl::OkStatus();
}

absl::Status ShapeKernel(KernelContext& ctx) {
  TFQAT_ASSIGN_OR_RETURN(DataType ot, GetAttrOr<DataType>(*ctx.node, "out_type", tensorflow::DT_INT32));
  const std::string& op = ctx.node->op();
  if (op == "Shape") {
    *ctx.out(0) = Tensor::Int(ot, {ctx.in(0).rank()}, ctx.in(0).shape);
  } else if (op == "ShapeN") {
    for (int k = 0; k < ctx.num_inputs(); ++k) *ctx.out(k) = Tensor::Int(ot, {ctx.in(k).rank()}, ctx.in(k).shape);
  } else if (op == "Size") {
    *ctx.out(0) = Tensor::Int(ot, {}, {ctx.in(0).num_elements()});
  } else {
    *ctx.out(0) = Tensor::Int(tensorflow::DT_INT32, {}, {ctx.in(0).rank()});
  }
  return absl::OkStatus();
}

absl::Status ConcatImpl(KernelContext& ctx, const std::vector<const Tensor*>& parts, int64_t axis) {
  if (parts.empty()) return ctx.Error("no inputs");
  const int r = parts[0]->rank();
  if (axis < 0) axis += r;
  if (axis < 0 || axis >= std::max(r, 1)) return ctx.Error("axis out of range");
  std::vector<int64_t> shape = parts[0]->shape;
  shape[axis] = 0;
  for (const Tensor* p : parts) {
    if (p->rank() != r || p->is_float() != parts[0]->is_float()) return ctx.Error("inputs differ in rank or type");
    for (int d = 0; d < r; ++d) {
      if (d != axis && p->shape[d] != parts[0]->shape[d]) return ctx.Error("input shapes differ outside the axis");
    }
    shape[axis] += p->shape[axis];
  }
  int64_t outer = 1, inner = 1;
  for (int d = 0; d < axis; ++d) outer *= shape[d];
  for (int d = axis + 1; d < r; ++d) inner *= shape[d];
  Tensor* out = ctx.out(0);
  out->dtype = parts[0]->dtype;
  out->shape = shape;
  const bool fl = parts[0]->is_float();
  if (fl) out->f.resize(NumElements(shape)); else out->i.resize(NumElements(shape));
  int64_t row = shape[axis] * inner, col = 0;
  for (const Tensor* p : parts) {
    int64_t w = p->shape[axis] * inner;
    for (int64_t o = 0; o < outer; ++o) {
      if (fl) std::copy_n(p->f.data() + o * w, w, out->f.data() + o * row + col);
      else std::copy_n(p->i.data() + o * w, w, out->i.data() + o * row + col);
    }
    col += w;
  }
  return absl::OkStatus();
}

absl::Status ConcatKernel(KernelContext& ctx) {
  std::vector<const Tensor*> parts;
  int64_t axis;
  if (ctx.node->op() == "ConcatV2") {
    parts.assign(ctx.inputs.begin(), ctx.inputs.end() - 1);
    axis = ctx.inputs.back()->AsInt(0);
  } else {
    parts.assign(ctx.inputs.begin() + 1, ctx.inputs.end());
    axis = ctx.inputs.front()->AsInt(0);
  }
  return ConcatImpl(ctx, parts, axis);
}

absl::Status PackKernel(KernelContext& ctx) {
  TFQAT_ASSIGN_OR_RETURN(int64_t axis, GetAttrOr<int64_t>(*ctx.node, "axis", 0));
  const int r = ctx.in(0).rank();
  if (axis < 0) axis += r + 1;
  if (axis < 0 || axis > r) return ctx.Error("axis out of range");
  std::vector<Tensor> expanded;
  expanded.reserve(ctx.num_inputs());
  for (int k = 0; k < ctx.num_inputs(); ++k) {
    if (ctx.in(k).shape != ctx.in(0).shape) return ctx.Error("input shapes differ");
    expanded.push_back(ctx.in(k));
    expanded.back().shape.insert(expanded.back().shape.begin() + axis, 1);
  }
  std::vector<const Tensor*> parts;
  for (auto& t : expanded) parts.push_back(&t);
  return ConcatImpl(ctx, parts, axis);
}

absl::Status UnpackKernel(KernelContext& ctx) {
  const Tensor& a = ctx.in(0);
  TFQAT_ASSIGN_OR_RETURN(int64_t axis, GetAttrOr<int64_t>(*ctx.node, "axis", 0));
  if (axis < 0) axis += a.rank();
  if (axis < 0 || axis >= a.rank()) return ctx.Error("axis out of range");
  const int64_t num = a.shape[axis];
  std::vector<int64_t> shape = a.shape;
  shape[axis] = 1;
  std::vector<int64_t> start(a.rank(), 0), step(a.rank(), 1);
  for (int64_t k = 0; k < num; ++k) {
    start[axis] = k;
    Tensor* o = ctx.out(static_cast<int>(k));
    Gather(a, AffineIndex(shape, start, step, Strides(a.shape)), 0, o);
    o->shape = a.shape;
    o->shape.erase(o->shape.begin() + axis);
  }
  return absl::OkStatus();
}

absl::Status PadKernel(KernelContext& ctx) {
  const Tensor& a = ctx.in(0);
  std::vector<int64_t> pads = IntValues(ctx.in(1));
  if (static_cast<int>(pads.size()) != 2 * a.rank()) return ctx.Error("paddings must be [rank, 2]");
  double value = ctx.num_inputs() > 2 ? ctx.in(2).AsDouble(0) : 0.0;
  const bool mirror = ctx.node->op() == "MirrorPad";
  std::string mode;
  if (mirror) { TFQAT_ASSIGN_OR_RETURN(mode, GetAttr<std::string>(*ctx.node, "mode")); }
  const int r = a.rank();
  std::vector<int64_t> shape(r);
  for (int d = 0; d < r; ++d) shape[d] = a.shape[d] + pads[2 * d] + pads[2 * d + 1];
  const auto src_strides = Strides(a.shape);
  const int64_t n = NumElements(shape);
  std::vector<int64_t> idx(n), k(r, 0);
  for (int64_t e = 0; e < n; ++e) {
    int64_t off = 0;
    bool inside = true;
    for (int d = 0; d < r; ++d) {
      int64_t s = k[d] - pads[2 * d];
      if (s < 0 || s >= a.shape[d]) {
        if (!mirror) { inside = false; break; }
        const int64_t shift = mode == "REFLECT" ? 1 : 0;
        if (s < 0) s = -s - 1 + shift;
        if (s >= a.shape[d]) s = 2 * a.shape[d] - s - 1 - shift;
      }
      off += s * src_strides[d];
    }
    idx[e] = inside ? off : -1;
    for (int d = r - 1; d >= 0; --d) {
      if (++k[d] < shape[d]) break;
      k[d] = 0;
    }
  }
  Tensor* out = ctx.out(0);
  Gather(a, idx, value, out);
  out->shape = shape;
  return absl::OkStatus();
}

absl::Status TransposeKernel(KernelContext& ctx) {
  const Tensor& a = ctx.in(0);
  std::vector<int64_t> perm = IntValues(ctx.in(1));
  if (static_cast<int>(perm.size()) != a.rank()) return ctx.Error("perm size differs from rank");
  const auto src = Strides(a.shape);
  std::vector<int64_t> shape(a.rank()), strides(a.rank()), start(a.rank(), 0), step(a.rank(), 1);
  for (int d = 0; d < a.rank(); ++d) {
    if (perm[d] < 0 || perm[d] >= a.rank()) return ctx.Error("bad perm");
    shape[d] = a.shape[perm[d]];
    strides[d] = src[perm[d]];
  }
  Tensor* out = ctx.out(0);
  Gather(a, AffineIndex(shape, start, step, strides), 0, out);
  out->shape = shape;
  return absl::OkStatus();
}

absl::Status StridedSliceKernel(KernelContext& ctx) {
  const Tensor& a = ctx.in(0);
  std::vector<int64_t> begin = IntValues(ctx.in(1)), end = IntValues(ctx.in(2)), strides = IntValues(ctx.in(3));
  if (begin.size() != end.size() || begin.size() != strides.size()) return ctx.Error("begin/end/strides differ in length");
  const auto& n = *ctx.node;
  TFQAT_ASSIGN_OR_RETURN(int64_t begin_mask, GetAttrOr<int64_t>(n, "begin_mask", 0));
  TFQAT_ASSIGN_OR_RETURN(int64_t end_mask, GetAttrOr<int64_t>(n, "end_mask", 0));
  TFQAT_ASSIGN_OR_RETURN(int64_t ellipsis_mask, GetAttrOr<int64_t>(n, "ellipsis_mask", 0));
  TFQAT_ASSIGN_OR_RETURN(int64_t new_axis_mask, GetAttrOr<int64_t>(n, "new_axis_mask", 0));
  TFQAT_ASSIGN_OR_RETURN(int64_t shrink_mask, GetAttrOr<int64_t>(n, "shrink_axis_mask", 0));
  const int sparse = static_cast<int>(begin.size());
  int consumed_by_sparse = 0;
  bool has_ellipsis = false;
  for (int i = 0; i < sparse; ++i) {
    if (ellipsis_mask >> i & 1) has_ellipsis = true;
    else if (!(new_axis_mask >> i & 1)) ++consumed_by_sparse;
  }
  std::vector<int64_t> start, step, count, final_shape;
  int d = 0;  // input dim
  auto full_dim = [&]() {
    start.push_back(0); step.push_back(1); count.push_back(a.shape[d]);
    final_shape.push_back(a.shape[d]);
    ++d;
  };
  for (int i = 0; i < sparse; ++i) {
    if (ellipsis_mask >> i & 1) {
      int fill = a.rank() - consumed_by_sparse;
      for (int k = 0; k < fill; ++k) full_dim();
      continue;
    }
    if (new_axis_mask >> i & 1) { final_shape.push_back(1); continue; }
    if (d >= a.rank()) return ctx.Error("slice has more dims than the input");
    const int64_t size = a.shape[d];
    const int64_t s = strides[i];
    if (s == 0) return ctx.Error("stride 0");
    if (shrink_mask >> i & 1) {
      int64_t b = begin[i] < 0 ? begin[i] + size : begin[i];
      if (b < 0 || b >= size) return ctx.Error("slice index ", begin[i], " out of bounds for dim ", d);
      start.push_back(b); step.push_back(1); count.push_back(1);
      ++d;
      continue;
    }
    auto canon = [&](int64_t v, bool masked, bool is_begin) {
      if (masked) return is_begin ? (s > 0 ? int64_t{0} : size - 1) : (s > 0 ? size : int64_t{-1});
      if (v < 0) v += size;
      return s > 0 ? std::clamp<int64_t>(v, 0, size) : std::clamp<int64_t>(v, -1, size - 1);
    };
    int64_t b = canon(begin[i], begin_mask >> i & 1, true);
    int64_t e = canon(end[i], end_mask >> i & 1, false);
    int64_t c = s > 0 ? (e > b ? (e - b + s - 1) / s : 0) : (b > e ? (b - e + (-s) - 1) / (-s) : 0);
    start.push_back(b); step.push_back(s); count.push_back(c);
    final_shape.push_back(c);
    ++d;
  }
  (void)has_ellipsis;
  while (d < a.rank()) full_dim();
  Tensor* out = ctx.out(0);
  Gather(a, AffineIndex(count, start, step, Strides(a.shape)), 0, out);
  out->shape = final_shape;
  return absl::OkStatus();
}

absl::Status SliceKernel(KernelContext& ctx) {
  const Tensor& a = ctx.in(0);
  std::vector<int64_t> begin = IntValues(ctx.in(1)), size = IntValues(ctx.in(2));
  if (static_cast<int>(begin.size()) != a.rank() || size.size() != begin.size()) return ctx.Error("begin/size must have rank entries");
  std::vector<int64_t> step(a.rank(), 1);
  for (int d = 0; d < a.rank(); ++d) {
    if (size[d] == -1) size[d] = a.shape[d] - begin[d];
    if (begin[d] < 0 || size[d] < 0 || begin[d] + size[d] > a.shape[d]) return ctx.Error("slice out of bounds in dim ", d);
  }
  Tensor* out = ctx.out(0);
  Gather(a, AffineIndex(size, begin, step, Strides(a.shape)), 0, out);
  out->shape = size;
  return absl::OkStatus();
}

absl::Status TileKernel(KernelContext& ctx) {
  const Tensor& a = ctx.in(0);
  std::vector<int64_t> mult = IntValues(ctx.in(1));
  if (static_cast<int>(mult.size()) != a.rank()) return ctx.Error("multiples must have rank entries");
  std::vector<int64_t> shape(a.rank());
  for (int d = 0; d < a.rank(); ++d) shape[d] = a.shape[d] * mult[d];
  const auto src = Strides(a.shape);
  const int64_t n = NumElements(shape);
  std::vector<int64_t> idx(n), k(a.rank(), 0);
  for (int64_t e = 0; e < n; ++e) {
    int64_t off = 0;
    for (int d = 0; d < a.rank(); ++d) off += (k[d] % a.shape[d]) * src[d];
    idx[e] = off;
    for (int d = a.rank() - 1; d >= 0; --d) {
      if (++k[d] < shape[d]) break;
      k[d] = 0;
    }
  }
  Tensor* out = ctx.out(0);
  Gather(a, idx, 0, out);
  out->shape = shape;
  return absl::OkStatus();
}

absl::Status ReverseKernel(KernelContext& ctx) {
  const Tensor& a = ctx.in(0);
  std::vector<int> axes;
  TFQAT_RETURN_IF_ERROR(AxesFromTensor(ctx, ctx.in(1), a.rank(), &axes));
  std::vector<int64_t> start(a.rank(), 0), step(a.rank(), 1);
  for (int ax : axes) { start[ax] = a.shape[ax] - 1; step[ax] = -1; }
  Tensor* out = ctx.out(0);
  Gather(a, AffineIndex(a.shape, start, step, Strides(a.shape)), 0, out);
  out->shape = a.shape;
  return absl::OkStatus();
}

absl::Status FillKernel(KernelContext& ctx) {
  std::vector<int64_t> shape = IntValues(ctx.in(0));
  const Tensor& v = ctx.in(1);
  Tensor* out = ctx.out(0);
  out->dtype = v.dtype;
  out->shape = shape;
  if (v.is_float()) out->f.assign(NumElements(shape), v.f[0]); else out->i.assign(NumElements(shape), v.i[0]);
  return absl::OkStatus();
}

absl::Status LikeKernel(KernelContext& ctx) {
  const Tensor& a = ctx.in(0);
  Tensor* out = ctx.out(0);
  *out = Tensor::Zeros(a.dtype, a.shape);
  if (ctx.node->op() == "OnesLike") {
    std::fill(out->f.begin(), out->f.end(), 1.f);
    std::fill(out->i.begin(), out->i.end(), 1);
  }
  return absl::OkStatus();
}

absl::Status RangeKernel(KernelContext& ctx) {
  const Tensor& s = ctx.in(0);
  double start = s.AsDouble(0), limit = ctx.in(1).AsDouble(0), delta = ctx.in(2).AsDouble(0);
  if (delta == 0) return ctx.Error("delta must not be 0");
  int64_t n = static_cast<int64_t>(std::ceil(std::max(0.0, (limit - start) / delta)));
  Tensor* out = ctx.out(0);
  out->dtype = s.dtype;
  out->shape = {n};
  for (int64_t k = 0; k < n; ++k) {
    if (s.is_float()) out->f.push_back(static_cast<float>(start + k * delta));
    else out->i.push_back(static_cast<int64_t>(start + k * delta));
  }
  return absl::OkStatus();
}

// SpaceToBatchND / BatchToSpaceND for NHWC-style [batch, spatial..., rest...] tensors.
absl::Status SpaceBatchKernel(KernelContext& ctx) {
  const Tensor& a = ctx.in(0);
  std::vector<int64_t> block = IntValues(ctx.in(1));
  std::vector<int64_t> pc = IntValues(ctx.in(2));  // paddings or crops, [M, 2]
  const int m = static_cast<int>(block.size());
  if (static_cast<int>(pc.size()) != 2 * m || a.rank() < m + 1) return ctx.Error("bad block/paddings shapes");
  int64_t prod = 1;
  for (int64_t b : block) prod *= b;
  const int r = a.rank();
  int64_t rest = 1;
  for (int d = m + 1; d < r; ++d) rest *= a.shape[d];
  Tensor* out = ctx.out(0);
  out->dtype = a.dtype;
  const bool to_batch = ctx.node->op() == "SpaceToBatchND";
  std::vector<int64_t> in_sp(a.shape.begin() + 1, a.shape.begin() + 1 + m);
  if (to_batch) {
    const int64_t batch = a.shape[0];
    std::vector<int64_t> padded(m), osp(m);
    for (int k = 0; k < m; ++k) {
      padded[k] = in_sp[k] + pc[2 * k] + pc[2 * k + 1];
      if (padded[k] % block[k] != 0) return ctx.Error("padded size not divisible by block");
      osp[k] = padded[k] / block[k];
    }
    out->shape = {batch * prod};
    out->shape.insert(out->shape.end(), osp.begin(), osp.end());
    out->shape.insert(out->shape.end(), a.shape.begin() + 1 + m, a.shape.end());
    const int64_t osz = NumElements(osp);
    std::vector<int64_t> idx(NumElements(out->shape));
    const auto src = Strides(a.shape);
    for (int64_t ob = 0; ob < batch * prod; ++ob) {
      int64_t b = ob % batch, blk = ob / batch;
      std::vector<int64_t> boff(m);
      for (int k = m - 1; k >= 0; --k) { boff[k] = blk % block[k]; blk /= block[k]; }
      for (int64_t s = 0; s < osz; ++s) {
        int64_t t = s, off = b * src[0];
        bool inside = true;
        for (int k = m - 1; k >= 0; --k) {
          int64_t o = t % osp[k];
          t /= osp[k];
          int64_t p = o * block[k] + boff[k] - pc[2 * k];
          if (p < 0 || p >= in_sp[k]) inside = false;
          off += p * src[1 + k];
        }
        for (int64_t q = 0; q < rest; ++q) idx[(ob * osz + s) * rest + q] = inside ? off + q : -1;
      }
    }
    Gather(a, idx, 0, out);
    return absl::OkStatus();
  }
  if (a.shape[0] % prod != 0) return ctx.Error("batch not divisible by block product");
  const int64_t batch = a.shape[0] / prod;
  std::vector<int64_t> osp(m);
  for (int k = 0; k < m; ++k) osp[k] = in_sp[k] * block[k] - pc[2 * k] - pc[2 * k + 1];
  out->shape = {batch};
  out->shape.insert(out->shape.end(), osp.begin(), osp.end());
  out->shape.insert(out->shape.end(), a.shape.begin() + 1 + m, a.shape.end());
  const int64_t osz = NumElements(osp);
  std::vector<int64_t> idx(NumElements(out->shape));
  const auto src = Strides(a.shape);
  for (int64_t b = 0; b < batch; ++b) {
    for (int64_t s = 0; s < osz; ++s) {
      int64_t t = s, blk = 0, off = 0;
      std::vector<int64_t> o(m);
      for (int k = m - 1; k >= 0; --k) { o[k] = t % osp[k]; t /= osp[k]; }
      for (int k = 0; k < m; ++k) {
        int64_t p = o[k] + pc[2 * k];
        blk = blk * block[k] + p % block[k];
        off += (p / block[k]) * src[1 + k];
      }
      off += (blk * batch + b) * src[0];
      for (int64_t q = 0; q < rest; ++q) idx[(b * osz + s) * rest + q] = off + q;
    }
  }
  Gather(a, idx, 0, out);
  return absl::OkStatus();
}

}  // namespace

void AddArrayKernels(KernelTable* t) {
  auto& k = *t;
  k["Reshape"] = &ReshapeKernel;
  k["Squeeze"] = &SqueezeKernel;
  k["ExpandDims"] = &ExpandDimsKernel;
  k["Shape"] = &ShapeKernel;
  k["ShapeN"] = &ShapeKernel;
  k["Size"] = &ShapeKernel;
  k["Rank"] = &ShapeKernel;
  k["ConcatV2"] = &ConcatKernel;
  k["Concat"] = &ConcatKernel;
  k["Pack"] = &PackKernel;
  k["Unpack"] = &UnpackKernel;
  k["Pad"] = &PadKernel;
  k["PadV2"] = &PadKernel;
  k["MirrorPad"] = &PadKernel;
  k["Transpose"] = &TransposeKernel;
  k["StridedSlice"] = &StridedSliceKernel;
  k["Slice"] = &SliceKernel;
  k["Tile"] = &TileKernel;
  k["ReverseV2"] = &ReverseKernel;
  k["Fill"] = &FillKernel;
  k["ZerosLike"] = &LikeKernel;
  k["OnesLike"] = &LikeKernel;
  k["Range"] = &RangeKernel;
  k["SpaceToBatchND"] = &SpaceBatchKernel;
  k["BatchToSpaceND"] = &SpaceBatchKernel;
}

}  // namespace tfqat
