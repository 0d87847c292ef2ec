// Neural-network ops: Conv2D, DepthwiseConv2dNative, Conv2DBackpropInput, MatMul,
// BatchMatMul*, BiasAdd, MaxPool, AvgPool, Softmax, LogSoftmax, FusedBatchNorm*.
#include <algorithm>
#include <cmath>

#include <Eigen/Dense>

#include "graph/attrs.h"
#include "graph/status_macros.h"
#include "trainer/conv.h"
#include "trainer/kernels.h"

namespace tfqat {
namespace {

using RowMat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using ConstMapRow = Eigen::Map<const RowMat>;
using MapRow = Eigen::Map<RowMat>;

absl::Status Need4D(const KernelContext& ctx, const Tensor& t, const char* what) {
  if (t.rank() != 4) return ctx.Error(what, " must be 4-D, got ", t.rank(), "-D");
  if (!t.is_float()) return ctx.Error(what, " must be float");
  return absl::OkStatus();
}

absl::Status ConvKernel(KernelContext& ctx) {
  if (ctx.num_inputs() != 2) return ctx.Error("expects 2 inputs");
  const bool depthwise = ctx.node->op() == "DepthwiseConv2dNative";
  TFQAT_RETURN_IF_ERROR(Need4D(ctx, ctx.in(0), "input"));
  TFQAT_RETURN_IF_ERROR(Need4D(ctx, ctx.in(1), "filter"));
  const bool nchw = IsNchw(*ctx.node);
  Tensor x_nhwc;
  if (nchw) x_nhwc = NchwToNhwc(ctx.in(0));
  const Tensor& xin = nchw ? x_nhwc : ctx.in(0);
  const Tensor& w = ctx.in(1);
  ConvGeometry g;
  TFQAT_RETURN_IF_ERROR(ComputeWindow(ctx, xin.shape, w.shape[0], w.shape[1], false, &g));
  if (w.shape[2] != g.c) return ctx.Error("filter input depth ", w.shape[2], " differs from input depth ", g.c);
  g.multiplier = depthwise ? w.shape[3] : 1;
  g.oc = depthwise ? g.c * w.shape[3] : w.shape[3];
  // The kernels write every output element.
  Tensor y_nhwc;
  Tensor& y = nchw ? y_nhwc : *ctx.out(0);
  y.dtype = tensorflow::DT_FLOAT;
  y.shape = {g.n, g.oh, g.ow, g.oc};
  ResizeUninitialized(&y, static_cast<size_t>(NumElements(y.shape)), ctx.pool);
  if (depthwise) DepthwiseForward(*ctx.parallel, g, xin.f.data(), w.f.data(), y.f.data());
  else Conv2DForward(*ctx.parallel, g, xin.f.data(), w.f.data(), y.f.data());
  if (nchw) *ctx.out(0) = NhwcToNchw(y);
  return absl::OkStatus();
}

absl::Status Conv2DBackpropInputKernel(KernelContext& ctx) {
  if (ctx.num_inputs() != 3) return ctx.Error("expects 3 inputs");
  const Tensor& sizes = ctx.in(0);
  const Tensor& w = ctx.in(1);
  TFQAT_RETURN_IF_ERROR(Need4D(ctx, w, "filter"));
  TFQAT_RETURN_IF_ERROR(Need4D(ctx, ctx.in(2), "out_backprop"));
  if (sizes.num_elements() != 4) return ctx.Error("input_sizes must have 4 entries");
  const bool nchw = IsNchw(*ctx.node);
  std::vector<int64_t> in{sizes.AsInt(0), sizes.AsInt(1), sizes.AsInt(2), sizes.AsInt(3)};
  if (nchw) in = {in[0], in[2], in[3], in[1]};
  Tensor dy = nchw ? NchwToNhwc(ctx.in(2)) : ctx.in(2);
  ConvGeometry g;
  TFQAT_RETURN_IF_ERROR(ComputeWindow(ctx, in, w.shape[0], w.shape[1], false, &g));
  g.oc = w.shape[3];
  if (dy.shape[1] != g.oh || dy.shape[2] != g.ow || dy.shape[3] != g.oc) {
    return ctx.Error("out_backprop shape ", dy.ShapeString(), " does not match the window");
  }
  Tensor dx = Tensor::Float(in, 0.f);
  Conv2DBackwardInput(*ctx.parallel, g, dy.f.data(), w.f.data(), dx.f.data());
  *ctx.out(0) = nchw ? NhwcToNchw(dx) : std::move(dx);
  return absl::OkStatus();
}

absl::Status PoolKernel(KernelContext& ctx) {
  TFQAT_RETURN_IF_ERROR(Need4D(ctx, ctx.in(0), "input"));
  const bool nchw = IsNchw(*ctx.node);
  Tensor x_nhwc;
  if (nchw) x_nhwc = NchwToNhwc(ctx.in(0));
  const Tensor& xin = nchw ? x_nhwc : ctx.in(0);
  ConvGeometry g;
  TFQAT_RETURN_IF_ERROR(ComputeWindow(ctx, xin.shape, 0, 0, true, &g));
  g.oc = g.c;
  // The pooling kernels write every output element.
  Tensor y_nhwc;
  Tensor& y = nchw ? y_nhwc : *ctx.out(0);
  y.dtype = tensorflow::DT_FLOAT;
  y.shape = {g.n, g.oh, g.ow, g.c};
  ResizeUninitialized(&y, static_cast<size_t>(NumElements(y.shape)), ctx.pool);
  if (ctx.node->op() == "MaxPool") MaxPoolForward(*ctx.parallel, g, xin.f.data(), y.f.data());
  else AvgPoolForward(*ctx.parallel, g, xin.f.data(), y.f.data());
  if (nchw) *ctx.out(0) = NhwcToNchw(y);
  return absl::OkStatus();
}

absl::Status MatMulKernel(KernelContext& ctx) {
  if (ctx.num_inputs() != 2) return ctx.Error("expects 2 inputs");
  const Tensor& a = ctx.in(0);
  const Tensor& b = ctx.in(1);
  if (a.rank() != 2 || b.rank() != 2) return ctx.Error("inputs must be 2-D, got ", a.ShapeString(), " and ", b.ShapeString());
  if (!a.is_float()) return ctx.Error("only float MatMul is supported");
  TFQAT_ASSIGN_OR_RETURN(bool ta, GetAttrOr<bool>(*ctx.node, "transpose_a", false));
  TFQAT_ASSIGN_OR_RETURN(bool tb, GetAttrOr<bool>(*ctx.node, "transpose_b", false));
  const int64_t m = ta ? a.shape[1] : a.shape[0], k = ta ? a.shape[0] : a.shape[1];
  const int64_t kb = tb ? b.shape[1] : b.shape[0], n = tb ? b.shape[0] : b.shape[1];
  if (k != kb) return ctx.Error("inner dimensions differ: ", a.ShapeString(), " x ", b.ShapeString());
  Tensor* out = ctx.UninitializedOutput(0, {m, n});
  ConstMapRow am(a.f.data(), a.shape[0], a.shape[1]);
  ConstMapRow bm(b.f.data(), b.shape[0], b.shape[1]);
  MapRow cm(out->f.data(), m, n);
  if (!ta && !tb) {
    ctx.parallel->For(m, k * n, [&](int64_t r0, int64_t r1) {
      cm.middleRows(r0, r1 - r0).noalias() = am.middleRows(r0, r1 - r0) * bm;
    });
  } else if (!ta && tb) {
    cm.noalias() = am * bm.transpose();
  } else if (ta && !tb) {
    cm.noalias() = am.transpose() * bm;
  } else {
    cm.noalias() = am.transpose() * bm.transpose();
  }
  return absl::OkStatus();
}

absl::Status BatchMatMulKernel(KernelContext& ctx) {
  const Tensor& a = ctx.in(0);
  const Tensor& b = ctx.in(1);
  if (a.rank() < 2 || b.rank() < 2) return ctx.Error("inputs must be at least 2-D");
  TFQAT_ASSIGN_OR_RETURN(bool adj_x, GetAttrOr<bool>(*ctx.node, "adj_x", false));
  TFQAT_ASSIGN_OR_RETURN(bool adj_y, GetAttrOr<bool>(*ctx.node, "adj_y", false));
  std::vector<int64_t> ab(a.shape.begin(), a.shape.end() - 2), bb(b.shape.begin(), b.shape.end() - 2), batch;
  TFQAT_RETURN_IF_ERROR(BroadcastShapes(ctx, ab, bb, &batch));
  const int64_t ar = a.shape[a.rank() - 2], ac = a.shape[a.rank() - 1];
  const int64_t br = b.shape[b.rank() - 2], bc = b.shape[b.rank() - 1];
  const int64_t m = adj_x ? ac : ar, k = adj_x ? ar : ac, n = adj_y ? br : bc;
  if ((adj_y ? bc : br) != k) return ctx.Error("inner dimensions differ");
  std::vector<int64_t> shape = batch;
  shape.push_back(m);
  shape.push_back(n);
  Tensor* out = ctx.out(0);
  *out = Tensor::Float(shape, 0.f);
  const auto sa = BroadcastStrides(ab, batch), sb = BroadcastStrides(bb, batch);
  const int64_t nb = NumElements(batch);
  std::vector<int64_t> idx(batch.size(), 0);
  for (int64_t e = 0; e < nb; ++e) {
    int64_t oa = 0, ob = 0;
    for (size_t d = 0; d < batch.size(); ++d) { oa += idx[d] * sa[d]; ob += idx[d] * sb[d]; }
    ConstMapRow am(a.f.data() + oa * ar * ac, ar, ac);
    ConstMapRow bm(b.f.data() + ob * br * bc, br, bc);
    MapRow cm(out->f.data() + e * m * n, m, n);
    if (adj_x && adj_y) cm.noalias() = am.transpose() * bm.transpose();
    else if (adj_x) cm.noalias() = am.transpose() * bm;
    else if (adj_y) cm.noalias() = am * bm.transpose();
    else cm.noalias() = am * bm;
    for (int d = static_cast<int>(batch.size()) - 1; d >= 0; --d) {
      if (++idx[d] < batch[d]) break;
      idx[d] = 0;
    }
  }
  return absl::OkStatus();
}

absl::Status BiasAddKernel(KernelContext& ctx) {
  if (ctx.num_inputs() != 2) return ctx.Error("expects 2 inputs");
  const Tensor& x = ctx.in(0);
  const Tensor& bias = ctx.in(1);
  if (bias.rank() != 1) return ctx.Error("bias must be 1-D");
  const bool nchw = IsNchw(*ctx.node) && x.rank() >= 3;
  const int cdim = nchw ? 1 : x.rank() - 1;
  if (x.rank() < 1 || x.shape[cdim] != bias.shape[0]) {
    return ctx.Error("bias size ", bias.shape[0], " does not match input ", x.ShapeString());
  }
  Tensor* out = ctx.out(0);
  const int64_t c = bias.shape[0];
  if (x.is_float() && !nchw) {
    out->dtype = x.dtype;
    out->shape = x.shape;
    ResizeUninitialized(out, x.f.size(), ctx.pool);
    const int64_t rows = x.num_elements() / std::max<int64_t>(c, 1);
    ctx.parallel->For(rows, c, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const float* xi = x.f.data() + r * c;
        float* o = out->f.data() + r * c;
        for (int64_t ch = 0; ch < c; ++ch) o[ch] = xi[ch] + bias.f[ch];
      }
    });
    return absl::OkStatus();
  }
  *out = x;
  if (x.is_float()) {
    if (!nchw) {
    } else {
      int64_t inner = 1;
      for (int d = 2; d < x.rank(); ++d) inner *= x.shape[d];
      for (int64_t b = 0; b < x.shape[0]; ++b)
        for (int64_t ch = 0; ch < c; ++ch) {
          float* o = out->f.data() + (b * c + ch) * inner;
          for (int64_t p = 0; p < inner; ++p) o[p] += bias.f[ch];
        }
    }
  } else {
    return ctx.Error("only float BiasAdd is supported");
  }
  return absl::OkStatus();
}

absl::Status SoftmaxKernel(KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  if (x.rank() < 1) return ctx.Error("input must be at least 1-D");
  const bool log = ctx.node->op() == "LogSoftmax";
  const int64_t c = x.shape.back();
  const int64_t rows = c == 0 ? 0 : x.num_elements() / c;
  Tensor* out = ctx.out(0);
  *out = x;
  for (int64_t r = 0; r < rows; ++r) {
    float* o = out->f.data() + r * c;
    float mx = *std::max_element(o, o + c);
    float sum = 0.f;
    for (int64_t k = 0; k < c; ++k) sum += std::exp(o[k] - mx);
    if (log) {
      const float ls = std::log(sum);
      for (int64_t k = 0; k < c; ++k) o[k] = o[k] - mx - ls;
    } else {
      for (int64_t k = 0; k < c; ++k) o[k] = std::exp(o[k] - mx) / sum;
    }
  }
  return absl::OkStatus();
}

// FusedBatchNorm{,V2,V3}: inference uses the given mean/variance; training computes batch
// statistics (outputs 1/2: batch mean and Bessel-corrected variance, or their running average
// with exponential_avg_factor != 1, as TensorFlow's CPU kernel does).
absl::Status FusedBatchNormKernel(KernelContext& ctx) {
  if (ctx.num_inputs() != 5) return ctx.Error("expects 5 inputs");
  TFQAT_RETURN_IF_ERROR(Need4D(ctx, ctx.in(0), "x"));
  const auto& node = *ctx.node;
  TFQAT_ASSIGN_OR_RETURN(float eps, GetAttrOr<float>(node, "epsilon", 0.0001f));
  TFQAT_ASSIGN_OR_RETURN(bool training, GetAttrOr<bool>(node, "is_training", true));
  TFQAT_ASSIGN_OR_RETURN(float factor, GetAttrOr<float>(node, "exponential_avg_factor", 1.f));
  const bool nchw = IsNchw(node);
  Tensor x = nchw ? NchwToNhwc(ctx.in(0)) : ctx.in(0);
  const Tensor &scale = ctx.in(1), &offset = ctx.in(2), &est_mean = ctx.in(3), &est_var = ctx.in(4);
  const int64_t c = x.shape[3];
  const int64_t rows = x.num_elements() / std::max<int64_t>(c, 1);
  if (scale.num_elements() != c || offset.num_elements() != c) return ctx.Error("scale/offset size must equal depth ", c);
  std::vector<float> mean(c), var(c);
  if (training) {
    std::vector<double> s(c, 0.0), s2(c, 0.0);
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t ch = 0; ch < c; ++ch) s[ch] += x.f[r * c + ch];
    for (int64_t ch = 0; ch < c; ++ch) mean[ch] = static_cast<float>(s[ch] / rows);
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t ch = 0; ch < c; ++ch) {
        double d = x.f[r * c + ch] - mean[ch];
        s2[ch] += d * d;
      }
    for (int64_t ch = 0; ch < c; ++ch) var[ch] = static_cast<float>(s2[ch] / rows);
  } else {
    if (est_mean.num_elements() != c || est_var.num_elements() != c) return ctx.Error("mean/variance size must equal depth ", c);
    mean = est_mean.f;
    var = est_var.f;
  }
  Tensor y = x;
  std::vector<float> mul(c), add(c);
  for (int64_t ch = 0; ch < c; ++ch) {
    mul[ch] = scale.f[ch] / std::sqrt(var[ch] + eps);
    add[ch] = offset.f[ch] - mean[ch] * mul[ch];
  }
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t ch = 0; ch < c; ++ch) y.f[r * c + ch] = x.f[r * c + ch] * mul[ch] + add[ch];
  *ctx.out(0) = nchw ? NhwcToNchw(y) : std::move(y);
  std::vector<float> out_mean = mean, out_var = var;
  if (training) {
    const float adjust = rows > 1 ? static_cast<float>(rows) / static_cast<float>(rows - 1) : 1.f;
    for (int64_t ch = 0; ch < c; ++ch) {
      out_var[ch] = var[ch] * adjust;
      if (factor != 1.f && est_mean.num_elements() == c && est_var.num_elements() == c) {
        out_mean[ch] = (1.f - factor) * est_mean.f[ch] + factor * mean[ch];
        out_var[ch] = (1.f - factor) * est_var.f[ch] + factor * out_var[ch];
      }
    }
  }
  *ctx.out(1) = Tensor::Float({c}, out_mean);
  *ctx.out(2) = Tensor::Float({c}, out_var);
  *ctx.out(3) = Tensor::Float({c}, mean);
  *ctx.out(4) = Tensor::Float({c}, var);
  if (node.op() == "FusedBatchNormV3") *ctx.out(5) = Tensor::Float({0}, std::vector<float>{});
  return absl::OkStatus();
}

}  // namespace

void AddNnKernels(KernelTable* t) {
  auto& k = *t;
  k["Conv2D"] = &ConvKernel;
  k["DepthwiseConv2dNative"] = &ConvKernel;
  k["Conv2DBackpropInput"] = &Conv2DBackpropInputKernel;
  k["MaxPool"] = &PoolKernel;
  k["AvgPool"] = &PoolKernel;
  k["MatMul"] = &MatMulKernel;
  k["BatchMatMul"] = &BatchMatMulKernel;
  k["BatchMatMulV2"] = &BatchMatMulKernel;
  k["BatchMatMulV3"] = &BatchMatMulKernel;
  k["BiasAdd"] = &BiasAddKernel;
  k["BiasAddV1"] = &BiasAddKernel;
  k["Softmax"] = &SoftmaxKernel;
  k["LogSoftmax"] = &SoftmaxKernel;
  k["FusedBatchNorm"] = &FusedBatchNormKernel;
  k["FusedBatchNormV2"] = &FusedBatchNormKernel;
  k["FusedBatchNormV3"] = &FusedBatchNormKernel;
}

}  // namespace tfqat
