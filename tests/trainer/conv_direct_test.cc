// The direct Conv2D kernels (conv_direct.h) against the im2col + GEMM forms, and their
// independence of the thread count (bitwise); the tiled max-pool gradient against a naive one.
#include "trainer/conv_direct.h"

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "gtest/gtest.h"

namespace tfqat {
namespace {

struct Case {
  int64_t n, h, w, c, kh, kw, oc, sh, sw, dh, dw;
};

ConvGeometry Valid(const Case& k) {
  ConvGeometry g;
  g.n = k.n; g.h = k.h; g.w = k.w; g.c = k.c;
  g.kh = k.kh; g.kw = k.kw; g.oc = k.oc;
  g.sh = k.sh; g.sw = k.sw; g.dh = k.dh; g.dw = k.dw;
  g.oh = (g.h - ((g.kh - 1) * g.dh + 1)) / g.sh + 1;
  g.ow = (g.w - ((g.kw - 1) * g.dw + 1)) / g.sw + 1;
  return g;
}

std::vector<float> Random(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  std::vector<float> v(n);
  for (auto& e : v) e = u(rng);
  return v;
}

void ExpectClose(const std::vector<float>& got, const std::vector<float>& want, const char* what) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t e = 0; e < got.size(); ++e) {
    ASSERT_NEAR(got[e], want[e], 1e-4f * std::max(1.f, std::fabs(want[e]))) << what << "[" << e << "]";
  }
}

bool Bitwise(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

const Case kCases[] = {
    {3, 28, 28, 1, 5, 5, 16, 1, 1, 1, 1},  // LeNet conv1
    {2, 12, 12, 16, 5, 5, 32, 1, 1, 1, 1},  // LeNet conv2
    {2, 11, 9, 3, 3, 3, 24, 2, 1, 1, 2},    // a 16 and an 8 strip; stride, dilation
    {1, 5, 7, 8, 1, 1, 8, 1, 1, 1, 1},      // pointwise, 35 pixels (a partial row tile)
    {2, 9, 9, 4, 2, 3, 40, 3, 2, 2, 1},     // window runs of 12 floats (input gradient falls back)
};

TEST(DirectConv, MatchesIm2ColAndIgnoresThreadCount) {
  Parallel one(1), two(2);
  for (const Case& k : kCases) {
    const ConvGeometry g = Valid(k);
    ASSERT_TRUE(DirectConvApplies(g)) << k.oc;
    const int64_t xs = g.n * g.h * g.w * g.c, ws = g.kh * g.kw * g.c * g.oc, ys = g.n * g.oh * g.ow * g.oc;
    const auto x = Random(xs, 1), w = Random(ws, 2), dy = Random(ys, 3);
    std::vector<float> want(ys), got1(ys), got2(ys);
    Im2ColConv2DForward(one, g, x.data(), w.data(), want.data());
    DirectConv2DForward(one, g, x.data(), w.data(), got1.data());
    DirectConv2DForward(two, g, x.data(), w.data(), got2.data());
    ExpectClose(got1, want, "forward");
    EXPECT_TRUE(Bitwise(got1, got2)) << "forward differs between 1 and 2 threads";

    std::vector<float> dw_want(ws), dw1(ws, 7.f), dw2(ws);
    Im2ColConv2DBackwardFilter(one, g, x.data(), dy.data(), dw_want.data());
    DirectConv2DBackwardFilter(one, g, x.data(), dy.data(), dw1.data());
    DirectConv2DBackwardFilter(two, g, x.data(), dy.data(), dw2.data());
    ExpectClose(dw1, dw_want, "filter gradient");
    EXPECT_TRUE(Bitwise(dw1, dw2)) << "filter gradient differs between 1 and 2 threads";

    const bool input_direct = (g.dw == 1 ? g.kw * g.c : g.c) % 8 == 0;
    EXPECT_EQ(DirectConvInputApplies(g), input_direct);
    if (!input_direct) continue;
    std::vector<float> dx_want(xs), dx1(xs, 7.f), dx2(xs);
    Im2ColConv2DBackwardInput(one, g, dy.data(), w.data(), dx_want.data());
    DirectConv2DBackwardInput(one, g, dy.data(), w.data(), dx1.data());
    DirectConv2DBackwardInput(two, g, dy.data(), w.data(), dx2.data());
    ExpectClose(dx1, dx_want, "input gradient");
    EXPECT_TRUE(Bitwise(dx1, dx2)) << "input gradient differs between 1 and 2 threads";
  }
}

TEST(DirectConv, DoesNotApplyToPaddingOddDepthsOrDepthwise) {
  ConvGeometry g = Valid({1, 8, 8, 3, 3, 3, 16, 1, 1, 1, 1});
  g.pad_top = 1;
  EXPECT_FALSE(DirectConvApplies(g));
  g = Valid({1, 8, 8, 3, 3, 3, 12, 1, 1, 1, 1});
  EXPECT_FALSE(DirectConvApplies(g));
  g = Valid({1, 8, 8, 3, 3, 3, 16, 1, 1, 1, 1});
  g.ow += 1;  // SAME-style: the last window runs past the right edge
  EXPECT_FALSE(DirectConvApplies(g));
  g = Valid({1, 8, 8, 8, 3, 3, 16, 1, 1, 1, 1});
  g.multiplier = 2;
  EXPECT_FALSE(DirectConvApplies(g));
}

// The tiled max-pool gradient (stride == window) against a naive one: the first maximum in
// window order gets dy, with ties (values on a coarse grid), a channel count that leaves a
// remainder after the 8-wide blocks, and rows/columns outside every window (zero).
TEST(MaxPoolBackward, TiledWindowsMatchNaiveFirstMaximum) {
  Parallel one(1), two(2);
  ConvGeometry g;
  g.n = 2; g.h = 7; g.w = 9; g.c = 11; g.kh = 2; g.kw = 3; g.sh = 2; g.sw = 3;
  g.oh = 3; g.ow = 3; g.oc = g.c;
  std::vector<float> x = Random(g.n * g.h * g.w * g.c, 5), dy = Random(g.n * g.oh * g.ow * g.c, 6);
  for (auto& v : x) v = std::round(v * 2.f) / 2.f;
  std::vector<float> want(x.size(), 0.f);
  for (int64_t b = 0; b < g.n; ++b)
    for (int64_t oy = 0; oy < g.oh; ++oy)
      for (int64_t ox = 0; ox < g.ow; ++ox)
        for (int64_t ch = 0; ch < g.c; ++ch) {
          int64_t arg = -1;
          for (int64_t ky = 0; ky < g.kh; ++ky)
            for (int64_t kx = 0; kx < g.kw; ++kx) {
              const int64_t e = ((b * g.h + oy * g.sh + ky) * g.w + ox * g.sw + kx) * g.c + ch;
              if (arg < 0 || x[e] > x[arg]) arg = e;
            }
          want[arg] += dy[((b * g.oh + oy) * g.ow + ox) * g.c + ch];
        }
  std::vector<float> got1(x.size(), 7.f), got2(x.size(), 7.f);
  MaxPoolBackward(one, g, x.data(), dy.data(), got1.data());
  MaxPoolBackward(two, g, x.data(), dy.data(), got2.data());
  EXPECT_TRUE(Bitwise(got1, want));
  EXPECT_TRUE(Bitwise(got2, want));
}

}  // namespace
}  // namespace tfqat
