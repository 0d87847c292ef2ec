// Elementwise ops (numpy broadcasting), reductions, casts and selects.
#include <algorithm>
#include <cmath>
#include <limits>

#include <Eigen/Core>

#include "graph/attrs.h"
#include "graph/status_macros.h"
#include "graph/tensor.h"
#include "trainer/kernels.h"

namespace tfqat {
namespace {

using tensorflow::DataType;

// Calls fn(e, off0, off1, ...) for every element e of `out` with the broadcast offsets.
template <size_t K, typename F>
void ForEachBroadcast(const std::vector<int64_t>& out, const std::array<std::vector<int64_t>, K>& strides, F fn) {
  const int r = static_cast<int>(out.size());
  const int64_t n = NumElements(out);
  std::array<int64_t, K> off{};
  if (r == 0) {
    if (n == 1) fn(0, off);
    return;
  }
  std::vector<int64_t> idx(r, 0);
  const int64_t inner = out[r - 1];
  std::array<int64_t, K> inner_stride;
  for (size_t k = 0; k < K; ++k) inner_stride[k] = strides[k][r - 1];
  for (int64_t e = 0; e < n; e += inner) {
    std::array<int64_t, K> o = off;
    for (int64_t j = 0; j < inner; ++j) {
      fn(e + j, o);
      for (size_t k = 0; k < K; ++k) o[k] += inner_stride[k];
    }
    for (int d = r - 2; d >= 0; --d) {
      if (++idx[d] < out[d]) {
        for (size_t k = 0; k < K; ++k) off[k] += strides[k][d];
        break;
      }
      for (size_t k = 0; k < K; ++k) off[k] -= strides[k][d] * (out[d] - 1);
      idx[d] = 0;
    }
  }
}

enum class Result { kSame, kBool };

template <typename Op>
absl::Status BinaryKernel(KernelContext& ctx) {
  if (ctx.num_inputs() != 2) return ctx.Error("expects 2 inputs, got ", ctx.num_inputs());
  const Tensor& a = ctx.in(0);
  const Tensor& b = ctx.in(1);
  if (a.is_float() != b.is_float()) return ctx.Error("mixed input types");
  Tensor* out = ctx.out(0);
  TFQAT_RETURN_IF_ERROR(BroadcastShapes(ctx, a.shape, b.shape, &out->shape));
  const bool to_bool = Op::kResult == Result::kBool;
  out->dtype = to_bool ? tensorflow::DT_BOOL : a.dtype;
  const int64_t n = NumElements(out->shape);
  auto run = [&](const auto& av, const auto& bv, auto& ov, auto opf) {
    ov.resize(n);
    if (a.shape == b.shape) {
      for (int64_t e = 0; e < n; ++e) ov[e] = opf(av[e], bv[e]);
    } else if (b.num_elements() == 1) {
      const auto s = bv[0];
      for (int64_t e = 0; e < n; ++e) ov[e] = opf(av[e], s);
    } else if (a.num_elements() == 1) {
      const auto s = av[0];
      for (int64_t e = 0; e < n; ++e) ov[e] = opf(s, bv[e]);
    } else {
      std::array<std::vector<int64_t>, 2> st{BroadcastStrides(a.shape, out->shape),
                                             BroadcastStrides(b.shape, out->shape)};
      ForEachBroadcast<2>(out->shape, st, [&](int64_t e, const std::array<int64_t, 2>& o) {
        ov[e] = opf(av[o[0]], bv[o[1]]);
      });
    }
  };
  if (a.is_float()) {
    if (to_bool) run(a.f, b.f, out->i, [](float x, float y) -> int64_t { return Op::F(x, y) != 0.f; });
    else run(a.f, b.f, out->f, [](float x, float y) { return Op::F(x, y); });
  } else {
    if (!Op::kInt) return ctx.Error("integer inputs are not supported");
    for (int64_t e = 0; e < b.num_elements(); ++e) {
      if (Op::kDiv && b.i[e] == 0) return ctx.Error("integer division by zero");
    }
    run(a.i, b.i, out->i, [](int64_t x, int64_t y) { return Op::I(x, y); });
  }
  return absl::OkStatus();
}

#define TFQAT_BINARY(NAME, RES, INT, DIV, FEXPR, IEXPR)                             \
  struct NAME {                                                                    \
    static constexpr Result kResult = Result::RES;                                 \
    static constexpr bool kInt = INT;                                              \
    static constexpr bool kDiv = DIV;                                              \
    static float F(float x, float y) { return FEXPR; }                             \
    static int64_t I(int64_t x, int64_t y) { return IEXPR; }                       \
  };

int64_t FloorDivInt(int64_t x, int64_t y) {
  int64_t q = x / y;
  if ((x % y != 0) && ((x < 0) != (y < 0))) --q;
  return q;
}
int64_t FloorModInt(int64_t x, int64_t y) {
  int64_t m = x % y;
  if (m != 0 && ((m < 0) != (y < 0))) m += y;
  return m;
}
int64_t PowInt(int64_t x, int64_t y) {
  int64_t r = 1;
  for (int64_t k = 0; k < y; ++k) r *= x;
  return r;
}

TFQAT_BINARY(AddOp, kSame, true, false, x + y, x + y)
TFQAT_BINARY(SubOp, kSame, true, false, x - y, x - y)
TFQAT_BINARY(MulOp, kSame, true, false, x * y, x * y)
TFQAT_BINARY(DivOp, kSame, true, true, x / y, x / y)
TFQAT_BINARY(FloorDivOp, kSame, true, true, std::floor(x / y), FloorDivInt(x, y))
TFQAT_BINARY(FloorModOp, kSame, true, true, (x - std::floor(x / y) * y), FloorModInt(x, y))
TFQAT_BINARY(MaximumOp, kSame, true, false, (std::isnan(x) || x > y) ? x : y, std::max(x, y))
TFQAT_BINARY(MinimumOp, kSame, true, false, (std::isnan(x) || x < y) ? x : y, std::min(x, y))
TFQAT_BINARY(SquaredDifferenceOp, kSame, true, false, (x - y) * (x - y), (x - y) * (x - y))
TFQAT_BINARY(PowOp, kSame, true, false, std::pow(x, y), PowInt(x, y))
TFQAT_BINARY(GreaterOp, kBool, true, false, x > y ? 1.f : 0.f, x > y)
TFQAT_BINARY(GreaterEqualOp, kBool, true, false, x >= y ? 1.f : 0.f, x >= y)
TFQAT_BINARY(LessOp, kBool, true, false, x < y ? 1.f : 0.f, x < y)
TFQAT_BINARY(LessEqualOp, kBool, true, false, x <= y ? 1.f : 0.f, x <= y)
TFQAT_BINARY(EqualOp, kBool, true, false, x == y ? 1.f : 0.f, x == y)
TFQAT_BINARY(NotEqualOp, kBool, true, false, x != y ? 1.f : 0.f, x != y)
TFQAT_BINARY(LogicalAndOp, kSame, true, false, (x != 0 && y != 0) ? 1.f : 0.f, (x != 0 && y != 0))
TFQAT_BINARY(LogicalOrOp, kSame, true, false, (x != 0 || y != 0) ? 1.f : 0.f, (x != 0 || y != 0))
#undef TFQAT_BINARY

template <typename Op>
absl::Status UnaryKernel(KernelContext& ctx) {
  if (ctx.num_inputs() < 1) return ctx.Error("expects 1 input");
  const Tensor& a = ctx.in(0);
  Tensor* out = ctx.out(0);
  out->dtype = a.dtype;
  out->shape = a.shape;
  if (a.is_float()) {
    float alpha = 0.2f;
    if (Op::kAlpha) {
      TFQAT_ASSIGN_OR_RETURN(alpha, GetAttrOr<float>(*ctx.node, "alpha", 0.2f));
    }
    ResizeUninitialized(out, a.f.size(), ctx.pool);
    const float* x = a.f.data();
    float* y = out->f.data();
    const int64_t n = static_cast<int64_t>(a.f.size());
    ctx.parallel->For(n, 4, [&](int64_t lo, int64_t hi) {
      for (int64_t e = lo; e < hi; ++e) y[e] = Op::F(x[e], alpha);
    });
  } else {
    if (!Op::kInt) return ctx.Error("integer inputs are not supported");
    out->i.resize(a.i.size());
    for (size_t e = 0; e < a.i.size(); ++e) out->i[e] = Op::I(a.i[e]);
  }
  return absl::OkStatus();
}

#define TFQAT_UNARY(NAME, INT, FEXPR, IEXPR)                         \
  struct NAME {                                                      \
    static constexpr bool kInt = INT;                                \
    static constexpr bool kAlpha = false;                            \
    static float F(float x, float) { return FEXPR; }                 \
    static int64_t I(int64_t x) { return IEXPR; }                    \
  };

float RoundHalfEven(float x) { return std::nearbyint(x); }
float Sigmoid(float x) { return 1.f / (1.f + std::exp(-x)); }
float Softplus(float x) { return x > 20.f ? x : (x < -20.f ? std::exp(x) : std::log1p(std::exp(x))); }

TFQAT_UNARY(ReluOp, true, x > 0.f ? x : 0.f, x > 0 ? x : 0)
TFQAT_UNARY(Relu6Op, true, std::min(std::max(x, 0.f), 6.f), std::min<int64_t>(std::max<int64_t>(x, 0), 6))
TFQAT_UNARY(EluOp, false, x < 0.f ? std::expm1(x) : x, x)
TFQAT_UNARY(SeluOp, false,
            x < 0.f ? 1.7580993408473768599402175208123f * std::expm1(x) : 1.0507009873554804934193349852946f * x, x)
TFQAT_UNARY(TanhOp, false, std::tanh(x), x)
TFQAT_UNARY(SigmoidOp, false, Sigmoid(x), x)
TFQAT_UNARY(ExpOp, false, std::exp(x), x)
TFQAT_UNARY(LogOp, false, std::log(x), x)
TFQAT_UNARY(Log1pOp, false, std::log1p(x), x)
TFQAT_UNARY(SqrtOp, false, std::sqrt(x), x)
TFQAT_UNARY(RsqrtOp, false, 1.f / std::sqrt(x), x)
TFQAT_UNARY(SquareOp, true, x * x, x * x)
TFQAT_UNARY(NegOp, true, -x, -x)
TFQAT_UNARY(AbsOp, true, std::fabs(x), x < 0 ? -x : x)
TFQAT_UNARY(ReciprocalOp, false, 1.f / x, x)
TFQAT_UNARY(FloorOp, false, std::floor(x), x)
TFQAT_UNARY(CeilOp, false, std::ceil(x), x)
TFQAT_UNARY(RoundOp, false, RoundHalfEven(x), x)
TFQAT_UNARY(SignOp, true, x > 0.f ? 1.f : (x < 0.f ? -1.f : 0.f), x > 0 ? 1 : (x < 0 ? -1 : 0))
TFQAT_UNARY(SoftplusOp, false, Softplus(x), x)
TFQAT_UNARY(SoftsignOp, false, x / (1.f + std::fabs(x)), x)
TFQAT_UNARY(SinOp, false, std::sin(x), x)
TFQAT_UNARY(CosOp, false, std::cos(x), x)
TFQAT_UNARY(AcosOp, false, std::acos(x), x)
TFQAT_UNARY(ErfOp, false, std::erf(x), x)
TFQAT_UNARY(LogicalNotOp, true, x == 0.f ? 1.f : 0.f, x == 0 ? 1 : 0)
#undef TFQAT_UNARY
struct LeakyReluOp {
  static constexpr bool kInt = false;
  static constexpr bool kAlpha = true;
  static float F(float x, float alpha) { return x < 0.f ? x * alpha : x; }
  static int64_t I(int64_t x) { return x; }
};

template <int kMode>  // 0 IsNan, 1 IsInf, 2 IsFinite
absl::Status FloatPredicateKernel(KernelContext& ctx) {
  const Tensor& a = ctx.in(0);
  Tensor* out = ctx.out(0);
  out->dtype = tensorflow::DT_BOOL;
  out->shape = a.shape;
  out->i.resize(a.num_elements());
  for (int64_t e = 0; e < a.num_elements(); ++e) {
    float x = a.f[e];
    out->i[e] = kMode == 0 ? std::isnan(x) : kMode == 1 ? std::isinf(x) : std::isfinite(x);
  }
  return absl::OkStatus();
}

absl::Status IdentityKernel(KernelContext& ctx) {
  if (ctx.num_inputs() < 1) return ctx.Error("expects 1 input");
  *ctx.out(0) = ctx.in(0);
  return absl::OkStatus();
}

absl::Status IdentityNKernel(KernelContext& ctx) {
  for (int k = 0; k < ctx.num_inputs(); ++k) *ctx.out(k) = ctx.in(k);
  return absl::OkStatus();
}

absl::Status AddNKernel(KernelContext& ctx) {
  if (ctx.num_inputs() < 1) return ctx.Error("expects at least 1 input");
  Tensor* out = ctx.out(0);
  *out = ctx.in(0);
  for (int k = 1; k < ctx.num_inputs(); ++k) {
    const Tensor& b = ctx.in(k);
    if (b.shape != out->shape) return ctx.Error("input ", k, " shape ", b.ShapeString(), " differs from ", out->ShapeString());
    if (out->is_float()) for (size_t e = 0; e < b.f.size(); ++e) out->f[e] += b.f[e];
    else for (size_t e = 0; e < b.i.size(); ++e) out->i[e] += b.i[e];
  }
  return absl::OkStatus();
}

int64_t WrapInt(int64_t v, DataType t) {
  switch (t) {
    case tensorflow::DT_INT32: return static_cast<int32_t>(v);
    case tensorflow::DT_UINT8: return static_cast<uint8_t>(v);
    case tensorflow::DT_INT8: return static_cast<int8_t>(v);
    case tensorflow::DT_INT16: return static_cast<int16_t>(v);
    case tensorflow::DT_UINT16: return static_cast<uint16_t>(v);
    case tensorflow::DT_BOOL: return v != 0;
    default: return v;
  }
}

absl::Status CastKernel(KernelContext& ctx) {
  TFQAT_ASSIGN_OR_RETURN(DataType dst, GetAttr<DataType>(*ctx.node, "DstT"));
  const Tensor& a = ctx.in(0);
  Tensor* out = ctx.out(0);
  out->dtype = BaseType(dst);
  out->shape = a.shape;
  const int64_t n = a.num_elements();
  if (out->is_float()) {
    if (a.is_float()) out->f = a.f;
    else { out->f.resize(n); for (int64_t e = 0; e < n; ++e) out->f[e] = static_cast<float>(a.i[e]); }
  } else {
    out->i.resize(n);
    if (a.is_float()) {
      for (int64_t e = 0; e < n; ++e) {
        float x = a.f[e];
        out->i[e] = out->dtype == tensorflow::DT_BOOL ? (x != 0.f)
                                                       : WrapInt(std::isnan(x) ? 0 : static_cast<int64_t>(x), out->dtype);
      }
    } else {
      for (int64_t e = 0; e < n; ++e) out->i[e] = WrapInt(a.i[e], out->dtype);
    }
  }
  return absl::OkStatus();
}

// SelectV2(cond, x, y) with three-way broadcasting; Select with a vector condition picks rows.
absl::Status SelectKernel(KernelContext& ctx) {
  if (ctx.num_inputs() != 3) return ctx.Error("expects 3 inputs");
  const Tensor& c = ctx.in(0);
  const Tensor& x = ctx.in(1);
  const Tensor& y = ctx.in(2);
  if (x.is_float() != y.is_float()) return ctx.Error("mixed input types");
  Tensor* out = ctx.out(0);
  std::vector<int64_t> cs = c.shape;
  if (ctx.node->op() == "Select" && c.rank() == 1 && x.rank() > 1) {
    cs.resize(x.rank(), 1);  // a row selector
  }
  std::vector<int64_t> xy;
  TFQAT_RETURN_IF_ERROR(BroadcastShapes(ctx, x.shape, y.shape, &xy));
  TFQAT_RETURN_IF_ERROR(BroadcastShapes(ctx, cs, xy, &out->shape));
  out->dtype = x.dtype;
  const int64_t n = NumElements(out->shape);
  std::array<std::vector<int64_t>, 3> st{BroadcastStrides(cs, out->shape), BroadcastStrides(x.shape, out->shape),
                                         BroadcastStrides(y.shape, out->shape)};
  if (x.is_float()) {
    out->f.resize(n);
    ForEachBroadcast<3>(out->shape, st, [&](int64_t e, const std::array<int64_t, 3>& o) {
      out->f[e] = c.AsDouble(o[0]) != 0 ? x.f[o[1]] : y.f[o[2]];
    });
  } else {
    out->i.resize(n);
    ForEachBroadcast<3>(out->shape, st, [&](int64_t e, const std::array<int64_t, 3>& o) {
      out->i[e] = c.AsDouble(o[0]) != 0 ? x.i[o[1]] : y.i[o[2]];
    });
  }
  return absl::OkStatus();
}

enum class Reduce { kSum, kMean, kMax, kMin, kProd, kAll, kAny };

template <Reduce kR>
absl::Status ReduceKernel(KernelContext& ctx) {
  if (ctx.num_inputs() != 2) return ctx.Error("expects 2 inputs");
  const Tensor& a = ctx.in(0);
  std::vector<int> axes;
  TFQAT_RETURN_IF_ERROR(AxesFromTensor(ctx, ctx.in(1), a.rank(), &axes));
  TFQAT_ASSIGN_OR_RETURN(bool keep, GetAttrOr<bool>(*ctx.node, "keep_dims", false));
  std::vector<int64_t> kept = a.shape;  // shape with reduced dims set to 1
  for (int ax : axes) kept[ax] = 1;
  Tensor* out = ctx.out(0);
  out->dtype = a.dtype;
  if (keep) {
    out->shape = kept;
  } else {
    out->shape.clear();
    for (int d = 0; d < a.rank(); ++d) if (std::find(axes.begin(), axes.end(), d) == axes.end()) out->shape.push_back(a.shape[d]);
  }
  const int64_t m = NumElements(kept);
  const int64_t count = m == 0 ? 0 : a.num_elements() / std::max<int64_t>(m, 1);
  std::vector<double> acc(m);
  double init = 0;
  if (kR == Reduce::kMax) init = -std::numeric_limits<double>::infinity();
  if (kR == Reduce::kMin) init = std::numeric_limits<double>::infinity();
  if (kR == Reduce::kProd || kR == Reduce::kAll) init = 1;
  std::fill(acc.begin(), acc.end(), init);
  if (m == 1 && a.is_float() && (kR == Reduce::kMax || kR == Reduce::kMin || kR == Reduce::kSum ||
                                  kR == Reduce::kMean)) {
    // Full reduction of a float tensor: one pass without index arithmetic.
    const float* p = a.f.data();
    const int64_t cnt = a.num_elements();
    if (kR == Reduce::kMax || kR == Reduce::kMin) {
      // Vectorised (Eigen); an empty input keeps the identity (-inf / +inf).
      Eigen::Map<const Eigen::ArrayXf> arr(p, cnt);
      if (cnt > 0) acc[0] = kR == Reduce::kMax ? arr.maxCoeff() : arr.minCoeff();
    } else {
      double s = 0;
      for (int64_t e = 0; e < cnt; ++e) s += p[e];
      acc[0] = kR == Reduce::kMean ? s / std::max<int64_t>(cnt, 1) : s;
    }
    out->f.assign(1, static_cast<float>(acc[0]));
    return absl::OkStatus();
  }
  auto st = BroadcastStrides(kept, a.shape);
  std::array<std::vector<int64_t>, 1> sts{st};
  ForEachBroadcast<1>(a.shape, sts, [&](int64_t e, const std::array<int64_t, 1>& o) {
    double v = a.AsDouble(e);
    double& r = acc[o[0]];
    switch (kR) {
      case Reduce::kSum: case Reduce::kMean: r += v; break;
      case Reduce::kMax: if (v > r || std::isnan(v)) r = v; break;
      case Reduce::kMin: if (v < r || std::isnan(v)) r = v; break;
      case Reduce::kProd: r *= v; break;
      case Reduce::kAll: r = (r != 0 && v != 0); break;
      case Reduce::kAny: r = (r != 0 || v != 0); break;
    }
  });
  if (kR == Reduce::kMean) {
    for (double& r : acc) r = a.is_float() ? r / count : std::trunc(r / count);
  }
  if (a.is_float()) out->f.assign(acc.begin(), acc.end());
  else { out->i.resize(m); for (int64_t e = 0; e < m; ++e) out->i[e] = static_cast<int64_t>(acc[e]); }
  return absl::OkStatus();
}

template <bool kMax>
absl::Status ArgKernel(KernelContext& ctx) {
  const Tensor& a = ctx.in(0);
  if (ctx.in(1).num_elements() != 1) return ctx.Error("dimension must be a scalar");
  int64_t axis = ctx.in(1).AsInt(0);
  if (axis < 0) axis += a.rank();
  if (axis < 0 || axis >= a.rank()) return ctx.Error("axis out of range");
  TFQAT_ASSIGN_OR_RETURN(DataType ot, GetAttrOr<DataType>(*ctx.node, "output_type", tensorflow::DT_INT64));
  int64_t outer = 1, inner = 1, len = a.shape[axis];
  for (int d = 0; d < axis; ++d) outer *= a.shape[d];
  for (int d = axis + 1; d < a.rank(); ++d) inner *= a.shape[d];
  Tensor* out = ctx.out(0);
  out->dtype = ot;
  out->shape = a.shape;
  out->shape.erase(out->shape.begin() + axis);
  out->i.assign(outer * inner, 0);
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t in = 0; in < inner; ++in) {
      int64_t best = 0;
      double bv = a.AsDouble(o * len * inner + in);
      for (int64_t k = 1; k < len; ++k) {
        double v = a.AsDouble((o * len + k) * inner + in);
        if (kMax ? v > bv : v < bv) { bv = v; best = k; }
      }
      out->i[o * inner + in] = best;
    }
  return absl::OkStatus();
}

}  // namespace

void AddMathKernels(KernelTable* t) {
  auto& k = *t;
  k["Add"] = &BinaryKernel<AddOp>;
  k["AddV2"] = &BinaryKernel<AddOp>;
  k["Sub"] = &BinaryKernel<SubOp>;
  k["Mul"] = &BinaryKernel<MulOp>;
  k["RealDiv"] = &BinaryKernel<DivOp>;
  k["Div"] = &BinaryKernel<DivOp>;
  k["FloorDiv"] = &BinaryKernel<FloorDivOp>;
  k["FloorMod"] = &BinaryKernel<FloorModOp>;
  k["Maximum"] = &BinaryKernel<MaximumOp>;
  k["Minimum"] = &BinaryKernel<MinimumOp>;
  k["SquaredDifference"] = &BinaryKernel<SquaredDifferenceOp>;
  k["Pow"] = &BinaryKernel<PowOp>;
  k["Greater"] = &BinaryKernel<GreaterOp>;
  k["GreaterEqual"] = &BinaryKernel<GreaterEqualOp>;
  k["Less"] = &BinaryKernel<LessOp>;
  k["LessEqual"] = &BinaryKernel<LessEqualOp>;
  k["Equal"] = &BinaryKernel<EqualOp>;
  k["NotEqual"] = &BinaryKernel<NotEqualOp>;
  k["LogicalAnd"] = &BinaryKernel<LogicalAndOp>;
  k["LogicalOr"] = &BinaryKernel<LogicalOrOp>;
  k["Relu"] = &UnaryKernel<ReluOp>;
  k["Relu6"] = &UnaryKernel<Relu6Op>;
  k["LeakyRelu"] = &UnaryKernel<LeakyReluOp>;
  k["Elu"] = &UnaryKernel<EluOp>;
  k["Selu"] = &UnaryKernel<SeluOp>;
  k["Tanh"] = &UnaryKernel<TanhOp>;
  k["Sigmoid"] = &UnaryKernel<SigmoidOp>;
  k["Exp"] = &UnaryKernel<ExpOp>;
  k["Log"] = &UnaryKernel<LogOp>;
  k["Log1p"] = &UnaryKernel<Log1pOp>;
  k["Sqrt"] = &UnaryKernel<SqrtOp>;
  k["Rsqrt"] = &UnaryKernel<RsqrtOp>;
  k["Square"] = &UnaryKernel<SquareOp>;
  k["Neg"] = &UnaryKernel<NegOp>;
  k["Abs"] = &UnaryKernel<AbsOp>;
  k["Reciprocal"] = &UnaryKernel<ReciprocalOp>;
  k["Inv"] = &UnaryKernel<ReciprocalOp>;
  k["Floor"] = &UnaryKernel<FloorOp>;
  k["Ceil"] = &UnaryKernel<CeilOp>;
  k["Round"] = &UnaryKernel<RoundOp>;
  k["Rint"] = &UnaryKernel<RoundOp>;
  k["Sign"] = &UnaryKernel<SignOp>;
  k["Softplus"] = &UnaryKernel<SoftplusOp>;
  k["Softsign"] = &UnaryKernel<SoftsignOp>;
  k["Sin"] = &UnaryKernel<SinOp>;
  k["Cos"] = &UnaryKernel<CosOp>;
  k["Acos"] = &UnaryKernel<AcosOp>;
  k["Erf"] = &UnaryKernel<ErfOp>;
  k["LogicalNot"] = &UnaryKernel<LogicalNotOp>;
  k["IsNan"] = &FloatPredicateKernel<0>;
  k["IsInf"] = &FloatPredicateKernel<1>;
  k["IsFinite"] = &FloatPredicateKernel<2>;
  k["Identity"] = &IdentityKernel;
  k["RefIdentity"] = &IdentityKernel;
  k["StopGradient"] = &IdentityKernel;
  k["Snapshot"] = &IdentityKernel;
  k["PreventGradient"] = &IdentityKernel;
  k["IdentityN"] = &IdentityNKernel;
  k["AddN"] = &AddNKernel;
  k["Cast"] = &CastKernel;
  k["Select"] = &SelectKernel;
  k["SelectV2"] = &SelectKernel;
  k["Sum"] = &ReduceKernel<Reduce::kSum>;
  k["Mean"] = &ReduceKernel<Reduce::kMean>;
  k["Max"] = &ReduceKernel<Reduce::kMax>;
  k["Min"] = &ReduceKernel<Reduce::kMin>;
  k["Prod"] = &ReduceKernel<Reduce::kProd>;
  k["All"] = &ReduceKernel<Reduce::kAll>;
  k["Any"] = &ReduceKernel<Reduce::kAny>;
  k["ArgMax"] = &ArgKernel<true>;
  k["ArgMin"] = &ArgKernel<false>;
}

}  // namespace tfqat
