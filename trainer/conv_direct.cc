#include "trainer/conv_direct.h"

#include <algorithm>
#include <cstring>
#include <vector>

namespace tfqat {
namespace {

// Eight floats; GCC/Clang lower the arithmetic to AVX (or SSE pairs) and contract a += s * b
// into FMA where the target has it.
typedef float V8 __attribute__((vector_size(32)));

inline V8 Load8(const float* p) {
  V8 v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}
inline void Store8(float* p, V8 v) { std::memcpy(p, &v, sizeof(v)); }

constexpr int kRows = 6;  // output pixels (forward) or filter rows (gradient) per register tile

// Offsets into the input of the window's taps, in filter-row order (ky, kx, c): a tap run is
// `len` consecutive floats starting at `start[j]` (a whole window row when dw == 1).
struct TapRuns {
  std::vector<int64_t> start;
  int64_t len = 0;
};

TapRuns MakeTapRuns(const ConvGeometry& g) {
  TapRuns t;
  if (g.dw == 1) {
    t.len = g.kw * g.c;
    for (int64_t ky = 0; ky < g.kh; ++ky) t.start.push_back(ky * g.dh * g.w * g.c);
  } else {
    t.len = g.c;
    for (int64_t ky = 0; ky < g.kh; ++ky)
      for (int64_t kx = 0; kx < g.kw; ++kx) t.start.push_back((ky * g.dh * g.w + kx * g.dw) * g.c);
  }
  return t;
}

// Offset of output pixel p's window origin in x.
inline int64_t PixelBase(const ConvGeometry& g, int64_t p) {
  const int64_t ox = p % g.ow, t = p / g.ow, oy = t % g.oh, b = t / g.oh;
  return ((b * g.h + oy * g.sh) * g.w + ox * g.sw) * g.c;
}

// y[p0 + r, c0 .. c0 + 8V) for r < R: sum over the window taps k (filter row order) of
// x[base_r + tap(k)] * w[k, c].
template <int R, int V>
void ForwardTile(const TapRuns& taps, const float* const* a, const float* w, int64_t oc, float* y) {
  V8 acc[R][V] = {};
  const float* wk = w;
  for (int64_t start : taps.start) {
    for (int64_t j = 0; j < taps.len; ++j, wk += oc) {
      V8 b[V];
      for (int v = 0; v < V; ++v) b[v] = Load8(wk + 8 * v);
      for (int r = 0; r < R; ++r) {
        const float s = a[r][start + j];
        for (int v = 0; v < V; ++v) acc[r][v] += s * b[v];
      }
    }
  }
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < V; ++v) Store8(y + r * oc + 8 * v, acc[r][v]);
}

template <int V>
void ForwardRows(int rows, const TapRuns& taps, const float* const* a, const float* w, int64_t oc, float* y) {
  switch (rows) {
    case 6: ForwardTile<6, V>(taps, a, w, oc, y); break;
    case 5: ForwardTile<5, V>(taps, a, w, oc, y); break;
    case 4: ForwardTile<4, V>(taps, a, w, oc, y); break;
    case 3: ForwardTile<3, V>(taps, a, w, oc, y); break;
    case 2: ForwardTile<2, V>(taps, a, w, oc, y); break;
    default: ForwardTile<1, V>(taps, a, w, oc, y); break;
  }
}

// dw[k0 + r, c0 .. c0 + 8V) += sum over pixels p in [p0, p1) of x[base(p) + koff[k0 + r]] * dy[p, c].
template <int R, int V>
void FilterTile(const int64_t* base, int64_t p0, int64_t p1, const float* x, const int64_t* koff,
                const float* dy, int64_t oc, float* dw) {
  V8 acc[R][V];
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < V; ++v) acc[r][v] = Load8(dw + r * oc + 8 * v);
  for (int64_t p = p0; p < p1; ++p) {
    const float* xp = x + base[p];
    const float* d = dy + p * oc;
    V8 dv[V];
    for (int v = 0; v < V; ++v) dv[v] = Load8(d + 8 * v);
    for (int r = 0; r < R; ++r) {
      const float s = xp[koff[r]];
      for (int v = 0; v < V; ++v) acc[r][v] += s * dv[v];
    }
  }
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < V; ++v) Store8(dw + r * oc + 8 * v, acc[r][v]);
}

template <int V>
void FilterRows(int rows, const int64_t* base, int64_t p0, int64_t p1, const float* x, const int64_t* koff,
                const float* dy, int64_t oc, float* dw) {
  switch (rows) {
    case 6: FilterTile<6, V>(base, p0, p1, x, koff, dy, oc, dw); break;
    case 5: FilterTile<5, V>(base, p0, p1, x, koff, dy, oc, dw); break;
    case 4: FilterTile<4, V>(base, p0, p1, x, koff, dy, oc, dw); break;
    case 3: FilterTile<3, V>(base, p0, p1, x, koff, dy, oc, dw); break;
    case 2: FilterTile<2, V>(base, p0, p1, x, koff, dy, oc, dw); break;
    default: FilterTile<1, V>(base, p0, p1, x, koff, dy, oc, dw); break;
  }
}

// Column strips of the output depth: 16 wide, then one of 8 if oc % 16 == 8.
struct Strip {
  int64_t c0;
  int v;
};
std::vector<Strip> Strips(int64_t oc) {
  std::vector<Strip> s;
  int64_t c = 0;
  for (; c + 16 <= oc; c += 16) s.push_back({c, 2});
  if (c < oc) s.push_back({c, 1});
  return s;
}

// dx[base_r + start + j, 0 .. 8V) += sum over oc of dy[p_r, oc] * wt[oc, k0 + j], r < R (rows of
// dy at d[r]; wt is the filter transposed to [oc, K]).
template <int R, int V>
void InputTile(const float* const* d, const float* wt, int64_t k, int64_t oc, float* const* dst) {
  V8 acc[R][V] = {};
  for (int64_t o = 0; o < oc; ++o) {
    V8 b[V];
    for (int v = 0; v < V; ++v) b[v] = Load8(wt + o * k + 8 * v);
    for (int r = 0; r < R; ++r) {
      const float s = d[r][o];
      for (int v = 0; v < V; ++v) acc[r][v] += s * b[v];
    }
  }
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < V; ++v) Store8(dst[r] + 8 * v, Load8(dst[r] + 8 * v) + acc[r][v]);
}

template <int V>
void InputRows(int rows, const float* const* d, const float* wt, int64_t k, int64_t oc, float* const* dst) {
  switch (rows) {
    case 6: InputTile<6, V>(d, wt, k, oc, dst); break;
    case 5: InputTile<5, V>(d, wt, k, oc, dst); break;
    case 4: InputTile<4, V>(d, wt, k, oc, dst); break;
    case 3: InputTile<3, V>(d, wt, k, oc, dst); break;
    case 2: InputTile<2, V>(d, wt, k, oc, dst); break;
    default: InputTile<1, V>(d, wt, k, oc, dst); break;
  }
}

}  // namespace

bool DirectConvInputApplies(const ConvGeometry& g) {
  return DirectConvApplies(g) && (g.dw == 1 ? g.kw * g.c : g.c) % 8 == 0;
}

void DirectConv2DBackwardInput(const Parallel& par, const ConvGeometry& g, const float* dy, const float* w,
                               float* dx) {
  const TapRuns taps = MakeTapRuns(g);
  const int64_t k = g.kh * g.kw * g.c;
  std::vector<float> wt(k * g.oc);
  for (int64_t r = 0; r < k; ++r)
    for (int64_t o = 0; o < g.oc; ++o) wt[o * k + r] = w[r * g.oc + o];
  const int64_t per_image = g.oh * g.ow;
  std::fill(dx, dx + g.n * g.h * g.w * g.c, 0.f);
  // One image per task: images write disjoint parts of dx, each in a fixed order.
  par.For(g.n, per_image * k * g.oc, [&](int64_t n0, int64_t n1) {
    const float* d[kRows];
    float* dst[kRows];
    int64_t base[kRows];
    for (int64_t b = n0; b < n1; ++b) {
      for (int64_t q0 = 0; q0 < per_image; q0 += kRows) {
        const int rows = static_cast<int>(std::min<int64_t>(kRows, per_image - q0));
        for (int r = 0; r < rows; ++r) {
          const int64_t p = b * per_image + q0 + r;
          d[r] = dy + p * g.oc;
          base[r] = PixelBase(g, p);
        }
        int64_t k0 = 0;
        for (int64_t start : taps.start) {
          for (int64_t j = 0; j < taps.len;) {
            const int64_t width = j + 16 <= taps.len ? 16 : 8;
            for (int r = 0; r < rows; ++r) dst[r] = dx + base[r] + start + j;
            if (width == 16) InputRows<2>(rows, d, wt.data() + k0, k, g.oc, dst);
            else InputRows<1>(rows, d, wt.data() + k0, k, g.oc, dst);
            j += width;
            k0 += width;
          }
        }
      }
    }
  });
}

bool DirectConvApplies(const ConvGeometry& g) {
  return g.multiplier == 1 && g.n > 0 && g.c > 0 && g.oc > 0 && g.oc % 8 == 0 && g.pad_top == 0 &&
         g.pad_left == 0 && (g.oh - 1) * g.sh + (g.kh - 1) * g.dh < g.h &&
         (g.ow - 1) * g.sw + (g.kw - 1) * g.dw < g.w;
}

void DirectConv2DForward(const Parallel& par, const ConvGeometry& g, const float* x, const float* w, float* y) {
  const TapRuns taps = MakeTapRuns(g);
  const std::vector<Strip> strips = Strips(g.oc);
  const int64_t pixels = g.n * g.oh * g.ow;
  const int64_t tiles = (pixels + kRows - 1) / kRows;
  const int64_t k = g.kh * g.kw * g.c;
  par.For(tiles, kRows * k * g.oc, [&](int64_t t0, int64_t t1) {
    const float* a[kRows];
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t p0 = t * kRows;
      const int rows = static_cast<int>(std::min<int64_t>(kRows, pixels - p0));
      for (int r = 0; r < rows; ++r) a[r] = x + PixelBase(g, p0 + r);
      for (const Strip& s : strips) {
        float* yt = y + p0 * g.oc + s.c0;
        if (s.v == 2) ForwardRows<2>(rows, taps, a, w + s.c0, g.oc, yt);
        else ForwardRows<1>(rows, taps, a, w + s.c0, g.oc, yt);
      }
    }
  });
}

void DirectConv2DBackwardFilter(const Parallel& par, const ConvGeometry& g, const float* x, const float* dy,
                                float* dw) {
  const TapRuns taps = MakeTapRuns(g);
  const std::vector<Strip> strips = Strips(g.oc);
  const int64_t k = g.kh * g.kw * g.c;
  std::vector<int64_t> koff;
  koff.reserve(k);
  for (int64_t start : taps.start)
    for (int64_t j = 0; j < taps.len; ++j) koff.push_back(start + j);
  const int64_t pixels = g.n * g.oh * g.ow;
  std::vector<int64_t> base(pixels);
  for (int64_t p = 0; p < pixels; ++p) base[p] = PixelBase(g, p);
  std::fill(dw, dw + k * g.oc, 0.f);
  // Tiles: kRows filter rows x one strip. Pixels in chunks whose dy rows stay in L2 while every
  // tile of the thread passes over them; the accumulators go back to dw between chunks, so each
  // element's sum still runs over the pixels in order.
  const int64_t row_blocks = (k + kRows - 1) / kRows;
  const int64_t tiles = row_blocks * static_cast<int64_t>(strips.size());
  const int64_t chunk = std::max<int64_t>(64, (32 << 10) / g.oc);
  par.For(tiles, pixels * kRows * 16, [&](int64_t t0, int64_t t1) {
    for (int64_t p0 = 0; p0 < pixels; p0 += chunk) {
      const int64_t p1 = std::min(pixels, p0 + chunk);
      for (int64_t t = t0; t < t1; ++t) {
        const int64_t rb = t / static_cast<int64_t>(strips.size());
        const Strip& s = strips[t % static_cast<int64_t>(strips.size())];
        const int64_t k0 = rb * kRows;
        const int rows = static_cast<int>(std::min<int64_t>(kRows, k - k0));
        float* dt = dw + k0 * g.oc + s.c0;
        if (s.v == 2) FilterRows<2>(rows, base.data(), p0, p1, x, koff.data() + k0, dy + s.c0, g.oc, dt);
        else FilterRows<1>(rows, base.data(), p0, p1, x, koff.data() + k0, dy + s.c0, g.oc, dt);
      }
    }
  });
}

}  // namespace tfqat
