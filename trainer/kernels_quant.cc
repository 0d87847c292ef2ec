// FakeQuantWithMinMaxArgs, FakeQuantWithMinMaxVars, FakeQuantWithMinMaxVarsPerChannel.
#include "graph/attrs.h"
#include "graph/status_macros.h"
#include "trainer/fake_quant.h"
#include "trainer/kernels.h"

namespace tfqat {
namespace {

absl::Status QuantAttrs(const KernelContext& ctx, int* bits, bool* narrow) {
  TFQAT_ASSIGN_OR_RETURN(int64_t b, GetAttrOr<int64_t>(*ctx.node, "num_bits", 8));
  TFQAT_ASSIGN_OR_RETURN(*narrow, GetAttrOr<bool>(*ctx.node, "narrow_range", false));
  if (b < 2 || b > 16) return ctx.Error("num_bits must be in [2, 16], got ", b);
  *bits = static_cast<int>(b);
  return absl::OkStatus();
}

absl::Status FakeQuantArgsKernel(KernelContext& ctx) {
  int bits;
  bool narrow;
  TFQAT_RETURN_IF_ERROR(QuantAttrs(ctx, &bits, &narrow));
  TFQAT_ASSIGN_OR_RETURN(float mn, GetAttrOr<float>(*ctx.node, "min", -6.f));
  TFQAT_ASSIGN_OR_RETURN(float mx, GetAttrOr<float>(*ctx.node, "max", 6.f));
  if (!(mn < mx)) return ctx.Error("min ", mn, " must be below max ", mx);
  const Tensor& x = ctx.in(0);
  if (!x.is_float()) return ctx.Error("input must be float");
  Tensor* out = ctx.out(0);
  *out = x;
  FakeQuantArray(NudgeFakeQuantRange(mn, mx, bits, narrow), x.f.data(), out->f.data(), x.num_elements());
  return absl::OkStatus();
}

absl::Status FakeQuantVarsKernel(KernelContext& ctx) {
  if (ctx.num_inputs() != 3) return ctx.Error("expects 3 inputs");
  int bits;
  bool narrow;
  TFQAT_RETURN_IF_ERROR(QuantAttrs(ctx, &bits, &narrow));
  const Tensor& x = ctx.in(0);
  const Tensor& mn = ctx.in(1);
  const Tensor& mx = ctx.in(2);
  if (!x.is_float() || !mn.is_float() || !mx.is_float()) return ctx.Error("inputs must be float");
  Tensor* out = ctx.out(0);
  out->dtype = x.dtype;
  out->shape = x.shape;
  ResizeUninitialized(out, x.f.size(), ctx.pool);
  if (ctx.node->op() == "FakeQuantWithMinMaxVars") {
    if (mn.num_elements() != 1 || mx.num_elements() != 1) return ctx.Error("min and max must be scalars");
    auto r = NudgeFakeQuantRange(mn.f[0], mx.f[0], bits, narrow);
    const int64_t n = x.num_elements();
    ctx.parallel->For(n, 8, [&](int64_t lo, int64_t hi) {
      FakeQuantArray(r, x.f.data() + lo, out->f.data() + lo, hi - lo);
    });
    return absl::OkStatus();
  }
  if (x.rank() < 1) return ctx.Error("input must be at least 1-D");
  const int64_t d = x.shape.back();
  if (mn.num_elements() != d || mx.num_elements() != d) {
    return ctx.Error("min/max must have ", d, " entries (the last dimension), got ", mn.num_elements());
  }
  const int64_t rows = d == 0 ? 0 : x.num_elements() / d;
  for (int64_t ch = 0; ch < d; ++ch) {
    auto r = NudgeFakeQuantRange(mn.f[ch], mx.f[ch], bits, narrow);
    FakeQuantArray(r, x.f.data() + ch, out->f.data() + ch, rows, d);
  }
  return absl::OkStatus();
}

}  // namespace

void AddQuantKernels(KernelTable* t) {
  (*t)["FakeQuantWithMinMaxArgs"] = &FakeQuantArgsKernel;
  (*t)["FakeQuantWithMinMaxVars"] = &FakeQuantVarsKernel;
  (*t)["FakeQuantWithMinMaxVarsPerChannel"] = &FakeQuantVarsKernel;
}

}  // namespace tfqat
