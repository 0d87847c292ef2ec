#include "trainer/conv.h"

#include <algorithm>
#include <cstring>
#include <limits>

#include <Eigen/Dense>

#include "graph/attrs.h"
#include "graph/status_macros.h"
#include "trainer/conv_direct.h"

namespace tfqat {
namespace {

using RowMat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using MapRow = Eigen::Map<RowMat>;
using ConstMapRow = Eigen::Map<const RowMat>;

// Per-thread im2col scratch, grown on demand and reused (no zeroing per call).
float* Scratch(size_t n) {
  thread_local std::vector<float> buf;
  if (buf.size() < n) buf.resize(n);
  return buf.data();
}

// Images per im2col chunk: about 16k patch rows.
int64_t ChunkImages(const ConvGeometry& g) { return std::max<int64_t>(1, 16384 / std::max<int64_t>(1, g.oh * g.ow)); }

bool IsPointwise(const ConvGeometry& g) {
  return g.kh == 1 && g.kw == 1 && g.sh == 1 && g.sw == 1 && g.pad_top == 0 && g.pad_left == 0;
}

// Patches of images [n0, n1) into col (rows (n1-n0)*oh*ow, cols kh*kw*c), zero where padded.
// With dilation 1 a window row is one contiguous run of kw*c floats when fully inside.
void Im2Col(const ConvGeometry& g, const float* x, int64_t n0, int64_t n1, float* col) {
  const int64_t k = g.kh * g.kw * g.c;
  const int64_t run = g.kw * g.c;
  for (int64_t b = n0; b < n1; ++b) {
    const float* xb = x + b * g.h * g.w * g.c;
    for (int64_t oy = 0; oy < g.oh; ++oy) {
      for (int64_t ox = 0; ox < g.ow; ++ox) {
        float* row = col + (((b - n0) * g.oh + oy) * g.ow + ox) * k;
        const int64_t ix0 = ox * g.sw - g.pad_left;
        const bool inside_x = g.dw == 1 && ix0 >= 0 && ix0 + g.kw <= g.w;
        for (int64_t ky = 0; ky < g.kh; ++ky) {
          const int64_t iy = oy * g.sh - g.pad_top + ky * g.dh;
          float* dst = row + ky * run;
          if (iy < 0 || iy >= g.h) {
            std::memset(dst, 0, sizeof(float) * run);
            continue;
          }
          if (inside_x) {
            std::memcpy(dst, xb + (iy * g.w + ix0) * g.c, sizeof(float) * run);
            continue;
          }
          for (int64_t kx = 0; kx < g.kw; ++kx) {
            const int64_t ix = ix0 + kx * g.dw;
            if (ix < 0 || ix >= g.w) std::memset(dst + kx * g.c, 0, sizeof(float) * g.c);
            else std::memcpy(dst + kx * g.c, xb + (iy * g.w + ix) * g.c, sizeof(float) * g.c);
          }
        }
      }
    }
  }
}

// Adds col (layout of Im2Col) back into dx for images [n0, n1).
void Col2Im(const ConvGeometry& g, const float* col, int64_t n0, int64_t n1, float* dx) {
  const int64_t k = g.kh * g.kw * g.c;
  const int64_t run = g.kw * g.c;
  for (int64_t b = n0; b < n1; ++b) {
    float* xb = dx + b * g.h * g.w * g.c;
    for (int64_t oy = 0; oy < g.oh; ++oy) {
      for (int64_t ox = 0; ox < g.ow; ++ox) {
        const float* row = col + (((b - n0) * g.oh + oy) * g.ow + ox) * k;
        const int64_t ix0 = ox * g.sw - g.pad_left;
        const bool inside_x = g.dw == 1 && ix0 >= 0 && ix0 + g.kw <= g.w;
        for (int64_t ky = 0; ky < g.kh; ++ky) {
          const int64_t iy = oy * g.sh - g.pad_top + ky * g.dh;
          if (iy < 0 || iy >= g.h) continue;
          if (inside_x) {
            const float* src = row + ky * run;
            float* dst = xb + (iy * g.w + ix0) * g.c;
            for (int64_t e = 0; e < run; ++e) dst[e] += src[e];
            continue;
          }
          for (int64_t kx = 0; kx < g.kw; ++kx) {
            const int64_t ix = ix0 + kx * g.dw;
            if (ix < 0 || ix >= g.w) continue;
            const float* src = row + (ky * g.kw + kx) * g.c;
            float* dst = xb + (iy * g.w + ix) * g.c;
            for (int64_t ch = 0; ch < g.c; ++ch) dst[ch] += src[ch];
          }
        }
      }
    }
  }
}

}  // namespace

bool IsNchw(const tensorflow::NodeDef& node) {
  auto f = GetAttrOr<std::string>(node, "data_format", "NHWC");
  return f.ok() && *f == "NCHW";
}

Tensor NchwToNhwc(const Tensor& t) {
  Tensor o = t;
  const int64_t n = t.shape[0], c = t.shape[1], h = t.shape[2], w = t.shape[3];
  o.shape = {n, h, w, c};
  for (int64_t b = 0; b < n; ++b)
    for (int64_t ch = 0; ch < c; ++ch)
      for (int64_t p = 0; p < h * w; ++p) o.f[(b * h * w + p) * c + ch] = t.f[(b * c + ch) * h * w + p];
  return o;
}

Tensor NhwcToNchw(const Tensor& t) {
  Tensor o = t;
  const int64_t n = t.shape[0], h = t.shape[1], w = t.shape[2], c = t.shape[3];
  o.shape = {n, c, h, w};
  for (int64_t b = 0; b < n; ++b)
    for (int64_t ch = 0; ch < c; ++ch)
      for (int64_t p = 0; p < h * w; ++p) o.f[(b * c + ch) * h * w + p] = t.f[(b * h * w + p) * c + ch];
  return o;
}

absl::Status ComputeWindow(const KernelContext& ctx, const std::vector<int64_t>& in, int64_t kh, int64_t kw,
                           bool pooling, ConvGeometry* g) {
  const auto& node = *ctx.node;
  const bool nchw = IsNchw(node);
  auto spatial = [&](const std::vector<int64_t>& v, const char* what, int64_t* a, int64_t* b) -> absl::Status {
    if (v.size() != 4) return ctx.Error(what, " must have 4 entries");
    *a = nchw ? v[2] : v[1];
    *b = nchw ? v[3] : v[2];
    return absl::OkStatus();
  };
  g->n = in[0];
  g->h = in[1];
  g->w = in[2];
  g->c = in[3];
  if (pooling) {
    TFQAT_ASSIGN_OR_RETURN(auto ksize, GetAttr<std::vector<int64_t>>(node, "ksize"));
    TFQAT_RETURN_IF_ERROR(spatial(ksize, "ksize", &kh, &kw));
    const int64_t kc = ksize[nchw ? 1 : 3], kn = ksize[0];
    if (kc != 1 || kn != 1) return ctx.Error("pooling over batch or depth is not supported");
  }
  g->kh = kh;
  g->kw = kw;
  TFQAT_ASSIGN_OR_RETURN(auto strides, GetAttr<std::vector<int64_t>>(node, "strides"));
  TFQAT_RETURN_IF_ERROR(spatial(strides, "strides", &g->sh, &g->sw));
  if (!pooling && HasAttr(node, "dilations")) {
    TFQAT_ASSIGN_OR_RETURN(auto dil, GetAttr<std::vector<int64_t>>(node, "dilations"));
    TFQAT_RETURN_IF_ERROR(spatial(dil, "dilations", &g->dh, &g->dw));
  }
  if (g->sh < 1 || g->sw < 1 || g->dh < 1 || g->dw < 1) return ctx.Error("strides and dilations must be >= 1");
  TFQAT_ASSIGN_OR_RETURN(std::string padding, GetAttr<std::string>(node, "padding"));
  const int64_t ekh = (kh - 1) * g->dh + 1, ekw = (kw - 1) * g->dw + 1;
  if (padding == "VALID") {
    g->oh = (g->h - ekh + g->sh) / g->sh;
    g->ow = (g->w - ekw + g->sw) / g->sw;
    g->pad_top = g->pad_left = 0;
  } else if (padding == "SAME") {
    g->oh = (g->h + g->sh - 1) / g->sh;
    g->ow = (g->w + g->sw - 1) / g->sw;
    g->pad_top = std::max<int64_t>(0, (g->oh - 1) * g->sh + ekh - g->h) / 2;
    g->pad_left = std::max<int64_t>(0, (g->ow - 1) * g->sw + ekw - g->w) / 2;
  } else if (padding == "EXPLICIT") {
    TFQAT_ASSIGN_OR_RETURN(auto ep, GetAttr<std::vector<int64_t>>(node, "explicit_paddings"));
    if (ep.size() != 8) return ctx.Error("explicit_paddings must have 8 entries");
    const int hd = nchw ? 2 : 1, wd = nchw ? 3 : 2;
    g->pad_top = ep[2 * hd];
    g->pad_left = ep[2 * wd];
    g->oh = (g->h + ep[2 * hd] + ep[2 * hd + 1] - ekh) / g->sh + 1;
    g->ow = (g->w + ep[2 * wd] + ep[2 * wd + 1] - ekw) / g->sw + 1;
  } else {
    return ctx.Error("unknown padding '", padding, "'");
  }
  if (g->oh <= 0 || g->ow <= 0) return ctx.Error("window larger than the (padded) input");
  return absl::OkStatus();
}

void Conv2DForward(const Parallel& par, const ConvGeometry& g, const float* x, const float* w, float* y) {
  if (DirectConvApplies(g)) DirectConv2DForward(par, g, x, w, y);
  else Im2ColConv2DForward(par, g, x, w, y);
}

void Conv2DBackwardFilter(const Parallel& par, const ConvGeometry& g, const float* x, const float* dy, float* dw) {
  if (DirectConvApplies(g)) DirectConv2DBackwardFilter(par, g, x, dy, dw);
  else Im2ColConv2DBackwardFilter(par, g, x, dy, dw);
}

void Im2ColConv2DForward(const Parallel& par, const ConvGeometry& g, const float* x, const float* w, float* y) {
  const int64_t k = g.kh * g.kw * g.c;
  ConstMapRow wm(w, k, g.oc);
  const int64_t rows_per_image = g.oh * g.ow;
  if (IsPointwise(g) && g.dh == 1) {
    par.For(g.n, rows_per_image * k * g.oc, [&](int64_t n0, int64_t n1) {
      ConstMapRow xm(x + n0 * rows_per_image * k, (n1 - n0) * rows_per_image, k);
      MapRow ym(y + n0 * rows_per_image * g.oc, (n1 - n0) * rows_per_image, g.oc);
      ym.noalias() = xm * wm;
    });
    return;
  }
  const int64_t chunk = ChunkImages(g);
  par.For(g.n, rows_per_image * k * g.oc, [&](int64_t n0, int64_t n1) {
    float* col = Scratch(std::min(chunk, n1 - n0) * rows_per_image * k);
    for (int64_t b = n0; b < n1; b += chunk) {
      const int64_t e = std::min(n1, b + chunk);
      Im2Col(g, x, b, e, col);
      ConstMapRow cm(col, (e - b) * rows_per_image, k);
      MapRow ym(y + b * rows_per_image * g.oc, (e - b) * rows_per_image, g.oc);
      ym.noalias() = cm * wm;
    }
  });
}

void Conv2DBackwardInput(const Parallel& par, const ConvGeometry& g, const float* dy, const float* w, float* dx) {
  if (DirectConvInputApplies(g)) DirectConv2DBackwardInput(par, g, dy, w, dx);
  else Im2ColConv2DBackwardInput(par, g, dy, w, dx);
}

void Im2ColConv2DBackwardInput(const Parallel& par, const ConvGeometry& g, const float* dy, const float* w,
                               float* dx) {
  const int64_t k = g.kh * g.kw * g.c;
  ConstMapRow wm(w, k, g.oc);
  const int64_t rows_per_image = g.oh * g.ow;
  std::fill(dx, dx + g.n * g.h * g.w * g.c, 0.f);
  const int64_t chunk = ChunkImages(g);
  par.For(g.n, rows_per_image * k * g.oc, [&](int64_t n0, int64_t n1) {
    float* col = Scratch(std::min(chunk, n1 - n0) * rows_per_image * k);
    for (int64_t b = n0; b < n1; b += chunk) {
      const int64_t e = std::min(n1, b + chunk);
      ConstMapRow dym(dy + b * rows_per_image * g.oc, (e - b) * rows_per_image, g.oc);
      MapRow cm(col, (e - b) * rows_per_image, k);
      cm.noalias() = dym * wm.transpose();
      Col2Im(g, col, b, e, dx);
    }
  });
}

void Im2ColConv2DBackwardFilter(const Parallel& par, const ConvGeometry& g, const float* x, const float* dy,
                                float* dw) {
  const int64_t k = g.kh * g.kw * g.c;
  const int64_t rows_per_image = g.oh * g.ow;
  const int64_t chunk = ChunkImages(g);
  const int blocks = par.num_threads();
  std::vector<std::vector<float>> partial(blocks);
  par.ForBlocks(g.n, [&](int blk, int64_t n0, int64_t n1) {
    partial[blk].assign(k * g.oc, 0.f);
    if (n1 <= n0) return;
    MapRow dwm(partial[blk].data(), k, g.oc);
    float* col = Scratch(std::min(chunk, n1 - n0) * rows_per_image * k);
    for (int64_t b = n0; b < n1; b += chunk) {
      const int64_t e = std::min(n1, b + chunk);
      Im2Col(g, x, b, e, col);
      ConstMapRow cm(col, (e - b) * rows_per_image, k);
      ConstMapRow dym(dy + b * rows_per_image * g.oc, (e - b) * rows_per_image, g.oc);
      dwm.noalias() += cm.transpose() * dym;
    }
  });
  std::fill(dw, dw + k * g.oc, 0.f);
  for (int blk = 0; blk < blocks; ++blk) {
    if (partial[blk].empty()) continue;
    for (int64_t e = 0; e < k * g.oc; ++e) dw[e] += partial[blk][e];
  }
}

void DepthwiseForward(const Parallel& par, const ConvGeometry& g, const float* x, const float* w, float* y) {
  const int64_t m = g.multiplier, oc = g.c * m;
  par.For(g.n * g.oh, g.ow * g.kh * g.kw * oc, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t b = r / g.oh, oy = r % g.oh;
      for (int64_t ox = 0; ox < g.ow; ++ox) {
        float* yo = y + ((b * g.oh + oy) * g.ow + ox) * oc;
        std::fill(yo, yo + oc, 0.f);
        for (int64_t ky = 0; ky < g.kh; ++ky) {
          const int64_t iy = oy * g.sh - g.pad_top + ky * g.dh;
          if (iy < 0 || iy >= g.h) continue;
          for (int64_t kx = 0; kx < g.kw; ++kx) {
            const int64_t ix = ox * g.sw - g.pad_left + kx * g.dw;
            if (ix < 0 || ix >= g.w) continue;
            const float* xi = x + ((b * g.h + iy) * g.w + ix) * g.c;
            const float* wk = w + (ky * g.kw + kx) * oc;
            if (m == 1) {
              for (int64_t ch = 0; ch < g.c; ++ch) yo[ch] += xi[ch] * wk[ch];
            } else {
              for (int64_t ch = 0; ch < g.c; ++ch)
                for (int64_t q = 0; q < m; ++q) yo[ch * m + q] += xi[ch] * wk[ch * m + q];
            }
          }
        }
      }
    }
  });
}

void DepthwiseBackwardInput(const Parallel& par, const ConvGeometry& g, const float* dy, const float* w, float* dx) {
  const int64_t m = g.multiplier, oc = g.c * m;
  std::fill(dx, dx + g.n * g.h * g.w * g.c, 0.f);
  par.For(g.n, g.oh * g.ow * g.kh * g.kw * oc, [&](int64_t n0, int64_t n1) {
    for (int64_t b = n0; b < n1; ++b)
      for (int64_t oy = 0; oy < g.oh; ++oy)
        for (int64_t ox = 0; ox < g.ow; ++ox) {
          const float* d = dy + ((b * g.oh + oy) * g.ow + ox) * oc;
          for (int64_t ky = 0; ky < g.kh; ++ky) {
            const int64_t iy = oy * g.sh - g.pad_top + ky * g.dh;
            if (iy < 0 || iy >= g.h) continue;
            for (int64_t kx = 0; kx < g.kw; ++kx) {
              const int64_t ix = ox * g.sw - g.pad_left + kx * g.dw;
              if (ix < 0 || ix >= g.w) continue;
              float* xi = dx + ((b * g.h + iy) * g.w + ix) * g.c;
              const float* wk = w + (ky * g.kw + kx) * oc;
              for (int64_t ch = 0; ch < g.c; ++ch)
                for (int64_t q = 0; q < m; ++q) xi[ch] += d[ch * m + q] * wk[ch * m + q];
            }
          }
        }
  });
}

void DepthwiseBackwardFilter(const Parallel& par, const ConvGeometry& g, const float* x, const float* dy, float* dw) {
  const int64_t m = g.multiplier, oc = g.c * m, size = g.kh * g.kw * oc;
  std::vector<std::vector<float>> partial(par.num_threads());
  par.ForBlocks(g.n, [&](int blk, int64_t n0, int64_t n1) {
    partial[blk].assign(size, 0.f);
    float* acc = partial[blk].data();
    for (int64_t b = n0; b < n1; ++b)
      for (int64_t oy = 0; oy < g.oh; ++oy)
        for (int64_t ox = 0; ox < g.ow; ++ox) {
          const float* d = dy + ((b * g.oh + oy) * g.ow + ox) * oc;
          for (int64_t ky = 0; ky < g.kh; ++ky) {
            const int64_t iy = oy * g.sh - g.pad_top + ky * g.dh;
            if (iy < 0 || iy >= g.h) continue;
            for (int64_t kx = 0; kx < g.kw; ++kx) {
              const int64_t ix = ox * g.sw - g.pad_left + kx * g.dw;
              if (ix < 0 || ix >= g.w) continue;
              const float* xi = x + ((b * g.h + iy) * g.w + ix) * g.c;
              float* wk = acc + (ky * g.kw + kx) * oc;
              for (int64_t ch = 0; ch < g.c; ++ch)
                for (int64_t q = 0; q < m; ++q) wk[ch * m + q] += xi[ch] * d[ch * m + q];
            }
          }
        }
  });
  std::fill(dw, dw + size, 0.f);
  for (auto& p : partial) {
    if (p.empty()) continue;
    for (int64_t e = 0; e < size; ++e) dw[e] += p[e];
  }
}

void MaxPoolForward(const Parallel& par, const ConvGeometry& g, const float* x, float* y) {
  par.For(g.n * g.oh, g.ow * g.kh * g.kw * g.c, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t b = r / g.oh, oy = r % g.oh;
      for (int64_t ox = 0; ox < g.ow; ++ox) {
        float* yo = y + ((b * g.oh + oy) * g.ow + ox) * g.c;
        std::fill(yo, yo + g.c, -std::numeric_limits<float>::infinity());
        for (int64_t ky = 0; ky < g.kh; ++ky) {
          const int64_t iy = oy * g.sh - g.pad_top + ky;
          if (iy < 0 || iy >= g.h) continue;
          for (int64_t kx = 0; kx < g.kw; ++kx) {
            const int64_t ix = ox * g.sw - g.pad_left + kx;
            if (ix < 0 || ix >= g.w) continue;
            const float* xi = x + ((b * g.h + iy) * g.w + ix) * g.c;
            for (int64_t ch = 0; ch < g.c; ++ch) yo[ch] = std::max(yo[ch], xi[ch]);
          }
        }
      }
    }
  });
}

namespace {
typedef float V8 __attribute__((vector_size(32)));
typedef int32_t V8i __attribute__((vector_size(32)));
inline V8 Load8(const float* p) {
  V8 v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}
inline void Store8(float* p, V8 v) { std::memcpy(p, &v, sizeof(v)); }

// Windows that tile the input (stride == window, no padding): every input element is in at
// most one window, so dx is written once (the window's first maximum gets dy, the rest 0).
void MaxPoolBackwardTiled(const Parallel& par, const ConvGeometry& g, const float* x, const float* dy, float* dx) {
  if (g.oh * g.kh < g.h || g.ow * g.kw < g.w) std::fill(dx, dx + g.n * g.h * g.w * g.c, 0.f);
  const int32_t taps = static_cast<int32_t>(g.kh * g.kw);
  std::vector<int64_t> tap_off(taps);  // offset of window tap t from the window's origin
  for (int32_t t = 0; t < taps; ++t) tap_off[t] = ((t / g.kw) * g.w + t % g.kw) * g.c;
  par.For(g.n * g.oh, g.ow * g.kh * g.kw * g.c, [&](int64_t r0, int64_t r1) {
    std::vector<int32_t> arg(g.c);
    std::vector<float> best(g.c);
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t b = r / g.oh, oy = r % g.oh;
      for (int64_t ox = 0; ox < g.ow; ++ox) {
        const int64_t origin = ((b * g.h + oy * g.kh) * g.w + ox * g.kw) * g.c;
        const float* d = dy + ((b * g.oh + oy) * g.ow + ox) * g.c;
        int64_t ch0 = 0;
        // Eight channels at a time in registers.
        for (; ch0 + 8 <= g.c; ch0 += 8) {
          V8 bv = Load8(x + origin + ch0);
          V8i av = {};
          for (int32_t t = 1; t < taps; ++t) {
            const V8 xv = Load8(x + origin + tap_off[t] + ch0);
            const V8i gt = xv > bv;
            bv = gt ? xv : bv;
            av = gt ? V8i{} + t : av;
          }
          const V8 dv = Load8(d + ch0);
          for (int32_t t = 0; t < taps; ++t) {
            Store8(dx + origin + tap_off[t] + ch0, av == t ? dv : V8{});
          }
        }
        if (ch0 == g.c) continue;
        std::copy_n(x + origin, g.c, best.data());
        std::fill(arg.begin(), arg.end(), 0);
        for (int32_t t = 1; t < taps; ++t) {
          const float* xi = x + origin + tap_off[t];
          for (int64_t ch = ch0; ch < g.c; ++ch) {
            const bool gt = xi[ch] > best[ch];
            best[ch] = gt ? xi[ch] : best[ch];
            arg[ch] = gt ? t : arg[ch];
          }
        }
        for (int32_t t = 0; t < taps; ++t) {
          float* di = dx + origin + tap_off[t];
          for (int64_t ch = ch0; ch < g.c; ++ch) di[ch] = arg[ch] == t ? d[ch] : 0.f;
        }
      }
    }
  });
}
}  // namespace

void MaxPoolBackward(const Parallel& par, const ConvGeometry& g, const float* x, const float* dy, float* dx) {
  if (g.sh == g.kh && g.sw == g.kw && g.pad_top == 0 && g.pad_left == 0 && g.oh * g.kh <= g.h &&
      g.ow * g.kw <= g.w) {
    MaxPoolBackwardTiled(par, g, x, dy, dx);
    return;
  }
  std::fill(dx, dx + g.n * g.h * g.w * g.c, 0.f);
  par.For(g.n, g.oh * g.ow * g.kh * g.kw * g.c, [&](int64_t n0, int64_t n1) {
    std::vector<int64_t> arg(g.c);
    std::vector<float> best(g.c);
    for (int64_t b = n0; b < n1; ++b)
      for (int64_t oy = 0; oy < g.oh; ++oy)
        for (int64_t ox = 0; ox < g.ow; ++ox) {
          // The first maximum in window order gets the gradient (as TF's CPU kernel).
          bool first = true;
          for (int64_t ky = 0; ky < g.kh; ++ky) {
            const int64_t iy = oy * g.sh - g.pad_top + ky;
            if (iy < 0 || iy >= g.h) continue;
            for (int64_t kx = 0; kx < g.kw; ++kx) {
              const int64_t ix = ox * g.sw - g.pad_left + kx;
              if (ix < 0 || ix >= g.w) continue;
              const int64_t base = ((b * g.h + iy) * g.w + ix) * g.c;
              const float* xi = x + base;
              if (first) {
                for (int64_t ch = 0; ch < g.c; ++ch) { best[ch] = xi[ch]; arg[ch] = base + ch; }
                first = false;
                continue;
              }
              for (int64_t ch = 0; ch < g.c; ++ch) {
                const bool gt = xi[ch] > best[ch];
                best[ch] = gt ? xi[ch] : best[ch];
                arg[ch] = gt ? base + ch : arg[ch];
              }
            }
          }
          if (first) continue;
          const float* d = dy + ((b * g.oh + oy) * g.ow + ox) * g.c;
          for (int64_t ch = 0; ch < g.c; ++ch) dx[arg[ch]] += d[ch];
        }
  });
}

namespace {
int64_t WindowCount(const ConvGeometry& g, int64_t oy, int64_t ox) {
  const int64_t y0 = std::max<int64_t>(0, oy * g.sh - g.pad_top), y1 = std::min(g.h, oy * g.sh - g.pad_top + g.kh);
  const int64_t x0 = std::max<int64_t>(0, ox * g.sw - g.pad_left), x1 = std::min(g.w, ox * g.sw - g.pad_left + g.kw);
  return std::max<int64_t>(0, y1 - y0) * std::max<int64_t>(0, x1 - x0);
}
}  // namespace

void AvgPoolForward(const Parallel& par, const ConvGeometry& g, const float* x, float* y) {
  par.For(g.n * g.oh, g.ow * g.kh * g.kw * g.c, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t b = r / g.oh, oy = r % g.oh;
      for (int64_t ox = 0; ox < g.ow; ++ox) {
        float* yo = y + ((b * g.oh + oy) * g.ow + ox) * g.c;
        std::fill(yo, yo + g.c, 0.f);
        for (int64_t ky = 0; ky < g.kh; ++ky) {
          const int64_t iy = oy * g.sh - g.pad_top + ky;
          if (iy < 0 || iy >= g.h) continue;
          for (int64_t kx = 0; kx < g.kw; ++kx) {
            const int64_t ix = ox * g.sw - g.pad_left + kx;
            if (ix < 0 || ix >= g.w) continue;
            const float* xi = x + ((b * g.h + iy) * g.w + ix) * g.c;
            for (int64_t ch = 0; ch < g.c; ++ch) yo[ch] += xi[ch];
          }
        }
        const float cnt = static_cast<float>(WindowCount(g, oy, ox));
        for (int64_t ch = 0; ch < g.c; ++ch) yo[ch] /= cnt;
      }
    }
  });
}

void AvgPoolBackward(const Parallel& par, const ConvGeometry& g, const float* dy, float* dx) {
  std::fill(dx, dx + g.n * g.h * g.w * g.c, 0.f);
  par.For(g.n, g.oh * g.ow * g.kh * g.kw * g.c, [&](int64_t n0, int64_t n1) {
    for (int64_t b = n0; b < n1; ++b)
      for (int64_t oy = 0; oy < g.oh; ++oy)
        for (int64_t ox = 0; ox < g.ow; ++ox) {
          const float inv = 1.f / static_cast<float>(WindowCount(g, oy, ox));
          const float* d = dy + ((b * g.oh + oy) * g.ow + ox) * g.c;
          for (int64_t ky = 0; ky < g.kh; ++ky) {
            const int64_t iy = oy * g.sh - g.pad_top + ky;
            if (iy < 0 || iy >= g.h) continue;
            for (int64_t kx = 0; kx < g.kw; ++kx) {
              const int64_t ix = ox * g.sw - g.pad_left + kx;
              if (ix < 0 || ix >= g.w) continue;
              float* xi = dx + ((b * g.h + iy) * g.w + ix) * g.c;
              for (int64_t ch = 0; ch < g.c; ++ch) xi[ch] += d[ch] * inv;
            }
          }
        }
  });
}

}  // namespace tfqat
