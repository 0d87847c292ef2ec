#include "trainer/gradients.h"

#include <algorithm>
#include <cmath>

#include <Eigen/Dense>

#include "absl/container/flat_hash_set.h"
#include "graph/attrs.h"
#include "graph/status_macros.h"
#include "trainer/conv.h"
#include "trainer/fake_quant.h"

namespace tfqat {
namespace {

using RowMat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using ConstMapRow = Eigen::Map<const RowMat>;
using MapRow = Eigen::Map<RowMat>;

// Values of `t` broadcast to `out` shape.
std::vector<float> Expand(const Tensor& t, const std::vector<int64_t>& out) {
  if (t.shape == out) return t.f;
  const int64_t n = NumElements(out);
  std::vector<float> r(n);
  if (t.num_elements() == 1) {
    std::fill(r.begin(), r.end(), t.f[0]);
    return r;
  }
  auto st = BroadcastStrides(t.shape, out);
  const int rank = static_cast<int>(out.size());
  std::vector<int64_t> idx(rank, 0);
  int64_t off = 0;
  for (int64_t e = 0; e < n; ++e) {
    r[e] = t.f[off];
    for (int d = rank - 1; d >= 0; --d) {
      if (++idx[d] < out[d]) { off += st[d]; break; }
      off -= st[d] * (out[d] - 1);
      idx[d] = 0;
    }
  }
  return r;
}

void SetReduced(GradContext& ctx, int k, const std::vector<float>& g, const std::vector<int64_t>& out) {
  ctx.SetDx(k)->f = ReduceToShape(g, out, ctx.in(k).shape);
}

template <int kOp>  // 0 add, 1 sub, 2 mul, 3 div, 4 max, 5 min, 6 sqdiff
absl::Status BinaryGrad(GradContext& ctx) {
  const Tensor& dy = *ctx.dy[0];
  const auto& out = dy.shape;
  const int64_t n = dy.num_elements();
  if (kOp == 0 || kOp == 1) {
    SetReduced(ctx, 0, dy.f, out);
    std::vector<float> g = dy.f;
    if (kOp == 1) for (auto& v : g) v = -v;
    SetReduced(ctx, 1, g, out);
    return absl::OkStatus();
  }
  std::vector<float> a = Expand(ctx.in(0), out), b = Expand(ctx.in(1), out);
  std::vector<float> ga(n), gb(n);
  for (int64_t e = 0; e < n; ++e) {
    const float d = dy.f[e];
    switch (kOp) {
      case 2: ga[e] = d * b[e]; gb[e] = d * a[e]; break;
      case 3: ga[e] = d / b[e]; gb[e] = -d * a[e] / (b[e] * b[e]); break;
      case 4: { bool m = a[e] >= b[e]; ga[e] = m ? d : 0.f; gb[e] = m ? 0.f : d; break; }
      case 5: { bool m = a[e] <= b[e]; ga[e] = m ? d : 0.f; gb[e] = m ? 0.f : d; break; }
      case 6: { float t = 2.f * (a[e] - b[e]) * d; ga[e] = t; gb[e] = -t; break; }
    }
  }
  SetReduced(ctx, 0, ga, out);
  SetReduced(ctx, 1, gb, out);
  return absl::OkStatus();
}

absl::Status PowGrad(GradContext& ctx) {
  const Tensor& dy = *ctx.dy[0];
  const auto& out = dy.shape;
  std::vector<float> a = Expand(ctx.in(0), out), b = Expand(ctx.in(1), out);
  const std::vector<float>& y = (*ctx.outputs)[0].f;
  std::vector<float> ga(dy.f.size()), gb(dy.f.size());
  for (size_t e = 0; e < ga.size(); ++e) {
    ga[e] = dy.f[e] * b[e] * std::pow(a[e], b[e] - 1.f);
    gb[e] = a[e] > 0.f ? dy.f[e] * y[e] * std::log(a[e]) : 0.f;
  }
  SetReduced(ctx, 0, ga, out);
  SetReduced(ctx, 1, gb, out);
  return absl::OkStatus();
}

// Elementwise unary gradient from (x, y, dy).
template <int kOp>
absl::Status UnaryGrad(GradContext& ctx) {
  const Tensor& x = ctx.in(0);
  const Tensor& y = (*ctx.outputs)[0];
  const Tensor& dy = *ctx.dy[0];
  float alpha = 0.2f;
  if (kOp == 3) { TFQAT_ASSIGN_OR_RETURN(alpha, GetAttrOr<float>(*ctx.node, "alpha", 0.2f)); }
  Tensor* dx = ctx.SetDxUninitialized(0);
  const int64_t n = dy.num_elements();
  const float* xf = x.f.data();
  const float* yf = y.f.data();
  const float* d = dy.f.data();
  float* o = dx->f.data();
  ctx.parallel->For(n, 4, [&](int64_t lo, int64_t hi) {
  for (int64_t e = lo; e < hi; ++e) {
    switch (kOp) {
      case 0: o[e] = d[e]; break;                                                  // identity
      case 1: o[e] = yf[e] > 0.f ? d[e] : 0.f; break;                              // Relu
      case 2: o[e] = (xf[e] > 0.f && xf[e] < 6.f) ? d[e] : 0.f; break;             // Relu6
      case 3: o[e] = xf[e] > 0.f ? d[e] : alpha * d[e]; break;                     // LeakyRelu
      case 4: o[e] = yf[e] < 0.f ? d[e] * (yf[e] + 1.f) : d[e]; break;             // Elu
      case 5: o[e] = d[e] * (1.f - yf[e] * yf[e]); break;                          // Tanh
      case 6: o[e] = d[e] * yf[e] * (1.f - yf[e]); break;                          // Sigmoid
      case 7: o[e] = 2.f * xf[e] * d[e]; break;                                    // Square
      case 8: o[e] = 0.5f * d[e] / yf[e]; break;                                   // Sqrt
      case 9: o[e] = -0.5f * d[e] * yf[e] * yf[e] * yf[e]; break;                  // Rsqrt
      case 10: o[e] = -d[e]; break;                                                // Neg
      case 11: o[e] = d[e] * yf[e]; break;                                         // Exp
      case 12: o[e] = d[e] / xf[e]; break;                                         // Log
      case 13: o[e] = xf[e] > 0.f ? d[e] : (xf[e] < 0.f ? -d[e] : 0.f); break;     // Abs
      case 14: o[e] = -d[e] * yf[e] * yf[e]; break;                                // Reciprocal
      case 15: o[e] = d[e] / (1.f + std::exp(-xf[e])); break;                      // Softplus
    }
  }
  });
  return absl::OkStatus();
}

absl::Status ReshapeGrad(GradContext& ctx) {
  Tensor* dx = ctx.SetDx(0);
  dx->f = std::move(ctx.dy[0]->f);
  return absl::OkStatus();
}

absl::Status IdentityNGrad(GradContext& ctx) {
  for (size_t k = 0; k < ctx.dy.size() && k < ctx.inputs.size(); ++k) {
    if (ctx.dy[k] != nullptr) ctx.SetDx(static_cast<int>(k))->f = ctx.dy[k]->f;
  }
  return absl::OkStatus();
}

absl::Status CastGrad(GradContext& ctx) {
  if (ctx.in(0).is_float() && (*ctx.outputs)[0].is_float()) ctx.SetDx(0)->f = ctx.dy[0]->f;
  return absl::OkStatus();
}

absl::Status AddNGrad(GradContext& ctx) {
  for (size_t k = 0; k < ctx.inputs.size(); ++k) ctx.SetDx(static_cast<int>(k))->f = ctx.dy[0]->f;
  return absl::OkStatus();
}

absl::Status BiasAddGrad(GradContext& ctx) {
  Tensor& dy = *ctx.dy[0];
  const int64_t c = ctx.in(1).num_elements();
  std::vector<float> db(c, 0.f);
  if (IsNchw(*ctx.node) && dy.rank() >= 3) {
    int64_t inner = 1;
    for (int d = 2; d < dy.rank(); ++d) inner *= dy.shape[d];
    for (int64_t b = 0; b < dy.shape[0]; ++b)
      for (int64_t ch = 0; ch < c; ++ch)
        for (int64_t p = 0; p < inner; ++p) db[ch] += dy.f[(b * c + ch) * inner + p];
  } else {
    // Per-channel sums over fixed chunks of rows, added in chunk order (the same result for any
    // thread count).
    const int64_t rows = dy.num_elements() / std::max<int64_t>(c, 1);
    constexpr int64_t kChunkRows = 2048;
    const int64_t chunks = (rows + kChunkRows - 1) / kChunkRows;
    std::vector<float> partial(chunks * c, 0.f);
    ctx.parallel->For(chunks, kChunkRows * c, [&](int64_t c0, int64_t c1) {
      for (int64_t k = c0; k < c1; ++k) {
        float* acc = partial.data() + k * c;
        for (int64_t r = k * kChunkRows; r < std::min(rows, (k + 1) * kChunkRows); ++r)
          for (int64_t ch = 0; ch < c; ++ch) acc[ch] += dy.f[r * c + ch];
      }
    });
    for (int64_t k = 0; k < chunks; ++k)
      for (int64_t ch = 0; ch < c; ++ch) db[ch] += partial[k * c + ch];
  }
  ctx.SetDx(1)->f = std::move(db);
  ctx.SetDx(0)->f = std::move(dy.f);
  return absl::OkStatus();
}

absl::Status MatMulGrad(GradContext& ctx) {
  const Tensor& a = ctx.in(0);
  const Tensor& b = ctx.in(1);
  const Tensor& dy = *ctx.dy[0];
  TFQAT_ASSIGN_OR_RETURN(bool ta, GetAttrOr<bool>(*ctx.node, "transpose_a", false));
  TFQAT_ASSIGN_OR_RETURN(bool tb, GetAttrOr<bool>(*ctx.node, "transpose_b", false));
  ConstMapRow am(a.f.data(), a.shape[0], a.shape[1]);
  ConstMapRow bm(b.f.data(), b.shape[0], b.shape[1]);
  ConstMapRow dm(dy.f.data(), dy.shape[0], dy.shape[1]);
  if (ctx.NeedDx(0)) {
    Tensor* da = ctx.SetDxUninitialized(0);
    MapRow dam(da->f.data(), a.shape[0], a.shape[1]);
    if (!ta && !tb) dam.noalias() = dm * bm.transpose();
    else if (!ta && tb) dam.noalias() = dm * bm;
    else if (ta && !tb) dam.noalias() = bm * dm.transpose();
    else dam.noalias() = bm.transpose() * dm.transpose();
  }
  if (ctx.NeedDx(1)) {
    Tensor* db = ctx.SetDxUninitialized(1);
    MapRow dbm(db->f.data(), b.shape[0], b.shape[1]);
    if (!ta && !tb) dbm.noalias() = am.transpose() * dm;
    else if (!ta && tb) dbm.noalias() = dm.transpose() * am;
    else if (ta && !tb) dbm.noalias() = am * dm;
    else dbm.noalias() = dm.transpose() * am.transpose();
  }
  return absl::OkStatus();
}

absl::Status ConvGrad(GradContext& ctx) {
  const bool depthwise = ctx.node->op() == "DepthwiseConv2dNative";
  const bool nchw = IsNchw(*ctx.node);
  Tensor x_t, dy_t;
  if (nchw) {
    x_t = NchwToNhwc(ctx.in(0));
    dy_t = NchwToNhwc(*ctx.dy[0]);
  }
  const Tensor& x = nchw ? x_t : ctx.in(0);
  const Tensor& dy = nchw ? dy_t : *ctx.dy[0];
  const Tensor& w = ctx.in(1);
  KernelContext kc;
  kc.node = ctx.node;
  ConvGeometry g;
  TFQAT_RETURN_IF_ERROR(ComputeWindow(kc, x.shape, w.shape[0], w.shape[1], false, &g));
  g.multiplier = depthwise ? w.shape[3] : 1;
  g.oc = depthwise ? g.c * w.shape[3] : w.shape[3];
  if (ctx.NeedDx(1)) {
    Tensor* dw = ctx.SetDx(1);
    dw->f.resize(w.num_elements());
    if (depthwise) DepthwiseBackwardFilter(*ctx.parallel, g, x.f.data(), dy.f.data(), dw->f.data());
    else Conv2DBackwardFilter(*ctx.parallel, g, x.f.data(), dy.f.data(), dw->f.data());
  }
  if (ctx.NeedDx(0)) {
    // The backward-input kernels zero dx themselves.
    Tensor dx_nhwc;
    dx_nhwc.shape = x.shape;
    Tensor& dx = nchw ? dx_nhwc : *ctx.SetDxUninitialized(0);
    ResizeUninitialized(&dx, static_cast<size_t>(x.num_elements()), ctx.pool);
    if (depthwise) DepthwiseBackwardInput(*ctx.parallel, g, dy.f.data(), w.f.data(), dx.f.data());
    else Conv2DBackwardInput(*ctx.parallel, g, dy.f.data(), w.f.data(), dx.f.data());
    if (nchw) ctx.SetDx(0)->f = NhwcToNchw(dx).f;
  }
  return absl::OkStatus();
}

absl::Status PoolGrad(GradContext& ctx) {
  const bool nchw = IsNchw(*ctx.node);
  Tensor x_t, dy_t;
  if (nchw) {
    x_t = NchwToNhwc(ctx.in(0));
    dy_t = NchwToNhwc(*ctx.dy[0]);
  }
  const Tensor& x = nchw ? x_t : ctx.in(0);
  const Tensor& dy = nchw ? dy_t : *ctx.dy[0];
  KernelContext kc;
  kc.node = ctx.node;
  ConvGeometry g;
  TFQAT_RETURN_IF_ERROR(ComputeWindow(kc, x.shape, 0, 0, true, &g));
  g.oc = g.c;
  // The pooling gradients write (or zero) every element of dx.
  Tensor dx_nhwc;
  dx_nhwc.shape = x.shape;
  Tensor& dx = nchw ? dx_nhwc : *ctx.SetDxUninitialized(0);
  ResizeUninitialized(&dx, static_cast<size_t>(x.num_elements()), ctx.pool);
  if (ctx.node->op() == "MaxPool") MaxPoolBackward(*ctx.parallel, g, x.f.data(), dy.f.data(), dx.f.data());
  else AvgPoolBackward(*ctx.parallel, g, dy.f.data(), dx.f.data());
  if (nchw) ctx.SetDx(0)->f = NhwcToNchw(dx).f;
  return absl::OkStatus();
}

absl::Status SoftmaxGrad(GradContext& ctx) {
  const Tensor& y = (*ctx.outputs)[0];
  const Tensor& dy = *ctx.dy[0];
  const bool log = ctx.node->op() == "LogSoftmax";
  const int64_t c = y.shape.back();
  const int64_t rows = y.num_elements() / std::max<int64_t>(c, 1);
  Tensor* dx = ctx.SetDx(0);
  dx->f.resize(y.num_elements());
  for (int64_t r = 0; r < rows; ++r) {
    const float* yr = y.f.data() + r * c;
    const float* dr = dy.f.data() + r * c;
    float* o = dx->f.data() + r * c;
    float s = 0.f;
    if (log) {
      for (int64_t k = 0; k < c; ++k) s += dr[k];
      for (int64_t k = 0; k < c; ++k) o[k] = dr[k] - std::exp(yr[k]) * s;
    } else {
      for (int64_t k = 0; k < c; ++k) s += dr[k] * yr[k];
      for (int64_t k = 0; k < c; ++k) o[k] = yr[k] * (dr[k] - s);
    }
  }
  return absl::OkStatus();
}

absl::Status ReduceGrad(GradContext& ctx) {
  const Tensor& x = ctx.in(0);
  std::vector<int> axes;
  KernelContext kc;
  kc.node = ctx.node;
  TFQAT_RETURN_IF_ERROR(AxesFromTensor(kc, ctx.in(1), x.rank(), &axes));
  std::vector<int64_t> kept = x.shape;
  for (int ax : axes) kept[ax] = 1;
  Tensor dy = *ctx.dy[0];
  dy.shape = kept;
  std::vector<float> g = Expand(dy, x.shape);
  if (ctx.node->op() == "Mean") {
    const float count = static_cast<float>(x.num_elements() / std::max<int64_t>(1, NumElements(kept)));
    for (auto& v : g) v /= count;
  }
  ctx.SetDx(0)->f = std::move(g);
  return absl::OkStatus();
}

absl::Status SelectGrad(GradContext& ctx) {
  const Tensor& dy = *ctx.dy[0];
  const auto& out = dy.shape;
  Tensor cond = ctx.in(0);
  if (ctx.node->op() == "Select" && cond.rank() == 1 && ctx.in(1).rank() > 1) cond.shape.resize(ctx.in(1).rank(), 1);
  Tensor cf = Tensor::Float(cond.shape, 0.f);
  for (int64_t e = 0; e < cond.num_elements(); ++e) cf.f[e] = cond.AsDouble(e) != 0 ? 1.f : 0.f;
  std::vector<float> c = Expand(cf, out);
  std::vector<float> gx(dy.f.size()), gy(dy.f.size());
  for (size_t e = 0; e < gx.size(); ++e) {
    gx[e] = c[e] != 0.f ? dy.f[e] : 0.f;
    gy[e] = c[e] != 0.f ? 0.f : dy.f[e];
  }
  SetReduced(ctx, 1, gx, out);
  SetReduced(ctx, 2, gy, out);
  return absl::OkStatus();
}

// Straight-through estimator (TF's FakeQuantWithMinMaxVarsGradient).
absl::Status FakeQuantGrad(GradContext& ctx) {
  TFQAT_ASSIGN_OR_RETURN(int64_t bits, GetAttrOr<int64_t>(*ctx.node, "num_bits", 8));
  TFQAT_ASSIGN_OR_RETURN(bool narrow, GetAttrOr<bool>(*ctx.node, "narrow_range", false));
  const Tensor& x = ctx.in(0);
  const Tensor& dy = *ctx.dy[0];
  const std::string& op = ctx.node->op();
  const int64_t n = x.num_elements();
  Tensor* dx = ctx.SetDxUninitialized(0);
  if (op == "FakeQuantWithMinMaxArgs") {
    TFQAT_ASSIGN_OR_RETURN(float mn, GetAttrOr<float>(*ctx.node, "min", -6.f));
    TFQAT_ASSIGN_OR_RETURN(float mx, GetAttrOr<float>(*ctx.node, "max", 6.f));
    auto r = NudgeFakeQuantRange(mn, mx, static_cast<int>(bits), narrow);
    for (int64_t e = 0; e < n; ++e) {
      dx->f[e] = (x.f[e] >= r.nudged_min && x.f[e] <= r.nudged_max) ? dy.f[e] : 0.f;
    }
    return absl::OkStatus();
  }
  const int64_t channels = op == "FakeQuantWithMinMaxVars" ? 1 : x.shape.back();
  std::vector<float> dmin(channels, 0.f), dmax(channels, 0.f);
  const float* xf = x.f.data();
  const float* d = dy.f.data();
  float* o = dx->f.data();
  for (int64_t ch = 0; ch < channels; ++ch) {
    auto r = NudgeFakeQuantRange(ctx.in(1).f[ch], ctx.in(2).f[ch], static_cast<int>(bits), narrow);
    if (channels == 1) {
      // Partial sums over fixed chunks, added in chunk order: the same result for any thread
      // count.
      constexpr int64_t kChunk = 8192;
      const int64_t chunks = (n + kChunk - 1) / kChunk;
      std::vector<float> below(chunks, 0.f), above(chunks, 0.f);
      ctx.parallel->For(chunks, kChunk * 4, [&](int64_t c0, int64_t c1) {
        for (int64_t c = c0; c < c1; ++c) {
          float lo_sum = 0.f, hi_sum = 0.f;
          for (int64_t e = c * kChunk; e < std::min(n, (c + 1) * kChunk); ++e) {
            const float v = xf[e];
            const bool lo = v < r.nudged_min, hi = v > r.nudged_max;
            lo_sum += lo ? d[e] : 0.f;
            hi_sum += (!lo && hi) ? d[e] : 0.f;
            o[e] = (lo || hi) ? 0.f : d[e];
          }
          below[c] = lo_sum;
          above[c] = hi_sum;
        }
      });
      for (int64_t c = 0; c < chunks; ++c) {
        dmin[0] += below[c];
        dmax[0] += above[c];
      }
      continue;
    }
    for (int64_t e = ch; e < n; e += channels) {
      const float v = xf[e];
      o[e] = 0.f;
      if (v < r.nudged_min) dmin[ch] += d[e];
      else if (v > r.nudged_max) dmax[ch] += d[e];
      else o[e] = d[e];
    }
  }
  ctx.SetDx(1)->f = std::move(dmin);
  ctx.SetDx(2)->f = std::move(dmax);
  return absl::OkStatus();
}

absl::Status ConcatGrad(GradContext& ctx) {
  const bool v2 = ctx.node->op() == "ConcatV2";
  const int first = v2 ? 0 : 1;
  const int last = v2 ? static_cast<int>(ctx.inputs.size()) - 1 : static_cast<int>(ctx.inputs.size());
  const Tensor& dy = *ctx.dy[0];
  int64_t axis = ctx.in(v2 ? last : 0).AsInt(0);
  if (axis < 0) axis += dy.rank();
  int64_t outer = 1, inner = 1;
  for (int d = 0; d < axis; ++d) outer *= dy.shape[d];
  for (int d = axis + 1; d < dy.rank(); ++d) inner *= dy.shape[d];
  const int64_t row = dy.shape[axis] * inner;
  int64_t col = 0;
  for (int k = first; k < last; ++k) {
    const int64_t w = ctx.in(k).shape[axis] * inner;
    Tensor* dx = ctx.SetDx(k);
    dx->f.resize(outer * w);
    for (int64_t o = 0; o < outer; ++o) std::copy_n(dy.f.data() + o * row + col, w, dx->f.data() + o * w);
    col += w;
  }
  return absl::OkStatus();
}

absl::Status PadGrad(GradContext& ctx) {
  const Tensor& x = ctx.in(0);
  const Tensor& dy = *ctx.dy[0];
  const Tensor& p = ctx.in(1);
  const int r = x.rank();
  Tensor* dx = ctx.SetDx(0);
  dx->f.resize(x.num_elements());
  std::vector<int64_t> idx(r, 0), ds(r, 1);
  for (int d = r - 2; d >= 0; --d) ds[d] = ds[d + 1] * dy.shape[d + 1];
  for (int64_t e = 0; e < x.num_elements(); ++e) {
    int64_t off = 0;
    for (int d = 0; d < r; ++d) off += (idx[d] + p.AsInt(2 * d)) * ds[d];
    dx->f[e] = dy.f[off];
    for (int d = r - 1; d >= 0; --d) {
      if (++idx[d] < x.shape[d]) break;
      idx[d] = 0;
    }
  }
  return absl::OkStatus();
}

absl::Status TransposeGrad(GradContext& ctx) {
  const Tensor& x = ctx.in(0);
  const Tensor& dy = *ctx.dy[0];
  const Tensor& perm = ctx.in(1);
  const int r = x.rank();
  std::vector<int64_t> xs(r, 1);
  for (int d = r - 2; d >= 0; --d) xs[d] = xs[d + 1] * x.shape[d + 1];
  Tensor* dx = ctx.SetDx(0);
  dx->f.resize(x.num_elements());
  std::vector<int64_t> idx(r, 0);
  for (int64_t e = 0; e < dy.num_elements(); ++e) {
    int64_t off = 0;
    for (int d = 0; d < r; ++d) off += idx[d] * xs[perm.AsInt(d)];
    dx->f[off] = dy.f[e];
    for (int d = r - 1; d >= 0; --d) {
      if (++idx[d] < dy.shape[d]) break;
      idx[d] = 0;
    }
  }
  return absl::OkStatus();
}

// FusedBatchNorm*: y = scale * (x - mean) / sqrt(var + eps) + offset (NHWC here).
absl::Status FusedBatchNormGrad(GradContext& ctx) {
  if (ctx.dy[0] == nullptr) return absl::OkStatus();  // only y is differentiated
  TFQAT_ASSIGN_OR_RETURN(float eps, GetAttrOr<float>(*ctx.node, "epsilon", 0.0001f));
  TFQAT_ASSIGN_OR_RETURN(bool training, GetAttrOr<bool>(*ctx.node, "is_training", true));
  const bool nchw = IsNchw(*ctx.node);
  Tensor x = nchw ? NchwToNhwc(ctx.in(0)) : ctx.in(0);
  Tensor dy = nchw ? NchwToNhwc(*ctx.dy[0]) : *ctx.dy[0];
  const Tensor& scale = ctx.in(1);
  const int64_t c = x.shape[3];
  const int64_t rows = x.num_elements() / std::max<int64_t>(c, 1);
  const std::vector<float>& mean = training ? (*ctx.outputs)[3].f : ctx.in(3).f;
  const std::vector<float>& var = training ? (*ctx.outputs)[4].f : ctx.in(4).f;
  std::vector<double> sdy(c, 0.0), sdyx(c, 0.0);
  std::vector<float> inv(c);
  for (int64_t ch = 0; ch < c; ++ch) inv[ch] = 1.f / std::sqrt(var[ch] + eps);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t ch = 0; ch < c; ++ch) {
      const float xh = (x.f[r * c + ch] - mean[ch]) * inv[ch];
      sdy[ch] += dy.f[r * c + ch];
      sdyx[ch] += dy.f[r * c + ch] * xh;
    }
  Tensor dx = Tensor::Float(x.shape, 0.f);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t ch = 0; ch < c; ++ch) {
      const float d = dy.f[r * c + ch];
      if (training) {
        const float xh = (x.f[r * c + ch] - mean[ch]) * inv[ch];
        dx.f[r * c + ch] = scale.f[ch] * inv[ch] *
                           (d - static_cast<float>(sdy[ch] / rows) - xh * static_cast<float>(sdyx[ch] / rows));
      } else {
        dx.f[r * c + ch] = d * scale.f[ch] * inv[ch];
      }
    }
  ctx.SetDx(0)->f = nchw ? NhwcToNchw(dx).f : std::move(dx.f);
  ctx.SetDx(1)->f.assign(sdyx.begin(), sdyx.end());
  ctx.SetDx(2)->f.assign(sdy.begin(), sdy.end());
  return absl::OkStatus();
}

const absl::flat_hash_map<std::string, GradFn>& GradTable() {
  static const auto* table = [] {
    auto* t = new absl::flat_hash_map<std::string, GradFn>;
    auto& k = *t;
    for (const char* op : {"Identity", "RefIdentity", "Snapshot", "PlaceholderWithDefault"}) k[op] = &ReshapeGrad;
    k["IdentityN"] = &IdentityNGrad;
    k["Add"] = &BinaryGrad<0>;
    k["AddV2"] = &BinaryGrad<0>;
    k["Sub"] = &BinaryGrad<1>;
    k["Mul"] = &BinaryGrad<2>;
    k["RealDiv"] = &BinaryGrad<3>;
    k["Div"] = &BinaryGrad<3>;
    k["Maximum"] = &BinaryGrad<4>;
    k["Minimum"] = &BinaryGrad<5>;
    k["SquaredDifference"] = &BinaryGrad<6>;
    k["Pow"] = &PowGrad;
    k["AddN"] = &AddNGrad;
    k["Relu"] = &UnaryGrad<1>;
    k["Relu6"] = &UnaryGrad<2>;
    k["LeakyRelu"] = &UnaryGrad<3>;
    k["Elu"] = &UnaryGrad<4>;
    k["Tanh"] = &UnaryGrad<5>;
    k["Sigmoid"] = &UnaryGrad<6>;
    k["Square"] = &UnaryGrad<7>;
    k["Sqrt"] = &UnaryGrad<8>;
    k["Rsqrt"] = &UnaryGrad<9>;
    k["Neg"] = &UnaryGrad<10>;
    k["Exp"] = &UnaryGrad<11>;
    k["Log"] = &UnaryGrad<12>;
    k["Abs"] = &UnaryGrad<13>;
    k["Reciprocal"] = &UnaryGrad<14>;
    k["Inv"] = &UnaryGrad<14>;
    k["Softplus"] = &UnaryGrad<15>;
    k["Cast"] = &CastGrad;
    k["Reshape"] = &ReshapeGrad;
    k["Squeeze"] = &ReshapeGrad;
    k["ExpandDims"] = &ReshapeGrad;
    k["BiasAdd"] = &BiasAddGrad;
    k["BiasAddV1"] = &BiasAddGrad;
    k["MatMul"] = &MatMulGrad;
    k["Conv2D"] = &ConvGrad;
    k["DepthwiseConv2dNative"] = &ConvGrad;
    k["MaxPool"] = &PoolGrad;
    k["AvgPool"] = &PoolGrad;
    k["Softmax"] = &SoftmaxGrad;
    k["LogSoftmax"] = &SoftmaxGrad;
    k["Sum"] = &ReduceGrad;
    k["Mean"] = &ReduceGrad;
    k["Select"] = &SelectGrad;
    k["SelectV2"] = &SelectGrad;
    k["FakeQuantWithMinMaxVars"] = &FakeQuantGrad;
    k["FakeQuantWithMinMaxVarsPerChannel"] = &FakeQuantGrad;
    k["FakeQuantWithMinMaxArgs"] = &FakeQuantGrad;
    k["ConcatV2"] = &ConcatGrad;
    k["Concat"] = &ConcatGrad;
    k["Pad"] = &PadGrad;
    k["PadV2"] = &PadGrad;
    k["Transpose"] = &TransposeGrad;
    k["FusedBatchNorm"] = &FusedBatchNormGrad;
    k["FusedBatchNormV2"] = &FusedBatchNormGrad;
    k["FusedBatchNormV3"] = &FusedBatchNormGrad;
    return t;
  }();
  return *table;
}

// Ops whose outputs carry no gradient (integer/bool results, constants, state).
bool IsNonDifferentiable(const std::string& op) {
  static const auto* ops = new absl::flat_hash_set<std::string>{
      "Shape", "ShapeN", "Size", "Rank", "Greater", "GreaterEqual", "Less", "LessEqual", "Equal", "NotEqual",
      "LogicalAnd", "LogicalOr", "LogicalNot", "ArgMax", "ArgMin", "Floor", "Ceil", "Round", "Rint", "Sign",
      "StopGradient", "PreventGradient", "ZerosLike", "OnesLike", "Fill", "Range", "Const", "Placeholder",
      "VariableV2", "Variable", "VarHandleOp", "Assign", "AssignAdd", "AssignSub", "NoOp", "IsNan", "IsInf",
      "IsFinite", "FloorDiv", "FloorMod"};
  return ops->contains(op);
}

}  // namespace

bool HasGradient(const std::string& op) { return GradTable().contains(op) || IsNonDifferentiable(op); }

absl::StatusOr<std::vector<Tensor>> Backward(const Executor& ex, const RunTrace& trace, int loss_node, int loss_port,
                                             const Tensor& dloss, const std::vector<int>& wrt) {
  const GraphView& view = ex.view();
  const int n = view.num_nodes();
  const auto& topo = ex.topological_order();
  // Nodes on a data path wrt -> loss.
  std::vector<char> fwd(n, 0), bwd(n, 0);
  for (int w : wrt) fwd[w] = 1;
  for (int i : topo) {
    if (fwd[i] || !trace.executed[i]) continue;
    for (const Producer& p : view.fanin(i)) {
      if (!p.is_control && fwd[p.node]) { fwd[i] = 1; break; }
    }
  }
  bwd[loss_node] = 1;
  for (auto it = topo.rbegin(); it != topo.rend(); ++it) {
    if (!bwd[*it]) continue;
    for (const Producer& p : view.fanin(*it)) if (!p.is_control) bwd[p.node] = 1;
  }
  BufferPool* pool = trace.pool.get();
  std::vector<std::vector<Tensor>> grads(n);
  std::vector<std::vector<char>> has(n);
  auto accumulate = [&](int node, int port, Tensor&& g) {
    if (static_cast<int>(grads[node].size()) <= port) { grads[node].resize(port + 1); has[node].resize(port + 1, 0); }
    if (!has[node][port]) {
      grads[node][port] = std::move(g);
      has[node][port] = 1;
    } else {
      auto& dst = grads[node][port].f;
      for (size_t e = 0; e < dst.size() && e < g.f.size(); ++e) dst[e] += g.f[e];
      if (pool) pool->Give(std::move(g.f));
    }
  };
  accumulate(loss_node, loss_port, Tensor(dloss));
  std::vector<char> is_wrt(n, 0);
  for (int w : wrt) is_wrt[w] = 1;
  std::vector<Tensor> holders;
  for (auto it = topo.rbegin(); it != topo.rend(); ++it) {
    const int i = *it;
    if (!(fwd[i] && bwd[i]) || is_wrt[i] || grads[i].empty()) continue;
    const auto& node = view.node(i);
    auto gf = GradTable().find(node.op());
    if (gf == GradTable().end()) {
      if (IsNonDifferentiable(node.op())) continue;
      return absl::UnimplementedError(
          absl::StrCat("node '", node.name(), "' (", node.op(), "): no gradient for this op"));
    }
    GradContext ctx;
    ctx.node = &node;
    ctx.parallel = &ex.parallel();
    ctx.pool = pool;
    ctx.outputs = &trace.values[i];
    holders.clear();
    holders.reserve(view.fanin(i).size());
    std::vector<Producer> data;
    for (const Producer& p : view.fanin(i)) {
      if (p.is_control) continue;
      const int slot = static_cast<int>(data.size());
      data.push_back(p);
      const auto& pv = trace.values[p.node];
      if (p.port < static_cast<int>(pv.size())) {
        ctx.inputs.push_back(&pv[p.port]);
        continue;
      }
      auto rr = trace.ref_reads.find(static_cast<int64_t>(i) * 1024 + slot);
      if (rr != trace.ref_reads.end()) { ctx.inputs.push_back(&rr->second); continue; }
      const std::string& key = ex.VariableKeyOf(p.node);
      auto v = key.empty() ? ex.GetVariable(view.node(p.node).name()) : ex.GetVariable(key);
      if (!v.ok()) return v.status();
      holders.push_back(std::move(*v));
      ctx.inputs.push_back(&holders.back());
    }
    ctx.dy.assign(std::max<size_t>(grads[i].size(), trace.values[i].size()), nullptr);
    for (size_t port = 0; port < grads[i].size(); ++port) if (has[i][port]) ctx.dy[port] = &grads[i][port];
    if (ctx.dy[0] == nullptr && node.op().rfind("FusedBatchNorm", 0) != 0 && node.op() != "IdentityN") continue;
    ctx.dx.resize(ctx.inputs.size());
    ctx.has_dx.assign(ctx.inputs.size(), 0);
    ctx.need_dx.assign(ctx.inputs.size(), 0);
    for (size_t k = 0; k < data.size(); ++k) ctx.need_dx[k] = fwd[data[k].node] && bwd[data[k].node];
    TFQAT_RETURN_IF_ERROR(gf->second(ctx));
    for (size_t k = 0; k < ctx.inputs.size(); ++k) {
      if (!ctx.has_dx[k]) continue;
      const Producer& p = data[k];
      if (!(fwd[p.node] && bwd[p.node])) continue;
      accumulate(p.node, p.port, std::move(ctx.dx[k]));
    }
    if (pool) {
      for (Tensor& t : grads[i]) pool->Give(std::move(t.f));
    }
    grads[i].clear();  // free memory early
  }
  std::vector<Tensor> out;
  for (int w : wrt) {
    if (!grads[w].empty() && has[w][0]) {
      out.push_back(std::move(grads[w][0]));
    } else {
      const std::string& key = ex.VariableKeyOf(w);
      auto v = key.empty() ? ex.GetVariable(view.node(w).name()) : ex.GetVariable(key);
      if (!v.ok()) return v.status();
      out.push_back(Tensor::Float(v->shape, 0.f));
    }
  }
  return out;
}

}  // namespace tfqat
