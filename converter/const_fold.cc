#include "converter/const_fold.h"

#include <cmath>
#include <functional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "graph/status_macros.h"

namespace tfqat::converter {
namespace {

std::string Context(const tensorflow::NodeDef& n) { return absl::StrCat("node '", n.name(), "' (", n.op(), ")"); }

bool IsFoldableFloatOp(absl::string_view op) {
  static const char* kOps[] = {"Mul", "Sub", "Add", "AddV2", "RealDiv", "Maximum", "Minimum",
                               "Neg", "Square", "Sqrt", "Rsqrt", "Reshape", "Cast"};
  for (const char* o : kOps)
    if (op == o) return true;
  return false;
}

// out[i] = f(a[ia], b[ib]) with numpy broadcasting.
absl::StatusOr<HostTensor<float>> Broadcast(const HostTensor<float>& a, const HostTensor<float>& b,
                                            const std::function<float(float, float)>& f,
                                            const std::string& ctx) {
  const size_t rank = std::max(a.shape.size(), b.shape.size());
  std::vector<int64_t> as(rank, 1), bs(rank, 1), os(rank, 1);
  std::copy(a.shape.begin(), a.shape.end(), as.begin() + (rank - a.shape.size()));
  std::copy(b.shape.begin(), b.shape.end(), bs.begin() + (rank - b.shape.size()));
  for (size_t d = 0; d < rank; ++d) {
    if (as[d] != bs[d] && as[d] != 1 && bs[d] != 1)
      return absl::InvalidArgumentError(absl::StrCat(ctx, ": shapes [", absl::StrJoin(a.shape, ","),
                                                     "] and [", absl::StrJoin(b.shape, ","),
                                                     "] do not broadcast"));
    os[d] = std::max(as[d], bs[d]);
  }
  HostTensor<float> out;
  out.shape = os;
  const int64_t n = out.num_elements();
  out.values.resize(n);
  std::vector<int64_t> idx(rank, 0);
  for (int64_t i = 0; i < n; ++i) {
    int64_t ia = 0, ib = 0;
    for (size_t d = 0; d < rank; ++d) {
      ia = ia * as[d] + (as[d] == 1 ? 0 : idx[d]);
      ib = ib * bs[d] + (bs[d] == 1 ? 0 : idx[d]);
    }
    out.values[i] = f(a.values[ia], b.values[ib]);
    for (int d = static_cast<int>(rank) - 1; d >= 0; --d) {
      if (++idx[d] < os[d]) break;
      idx[d] = 0;
    }
  }
  return out;
}

}  // namespace

bool IsIdentityLike(absl::string_view op) {
  return op == "Identity" || op == "Snapshot" || op == "StopGradient" || op == "PreventGradient";
}

bool IsFakeQuant(absl::string_view op) {
  return op == "FakeQuantWithMinMaxVars" || op == "FakeQuantWithMinMaxVarsPerChannel" ||
         op == "FakeQuantWithMinMaxArgs";
}

bool ConstFolder::IsConstant(int node) {
  auto it = is_const_.find(node);
  if (it != is_const_.end()) return it->second;
  is_const_[node] = false;  // cycle guard
  const auto& n = view_.node(node);
  bool c = false;
  if (n.op() == "Const") {
    c = true;
  } else if (IsIdentityLike(n.op()) || IsFoldableFloatOp(n.op()) || IsFakeQuant(n.op())) {
    const auto fanin = view_.data_fanin(node);
    c = !fanin.empty();
    for (const auto& p : fanin) c = c && IsConstant(p.node);
  }
  is_const_[node] = c;
  return c;
}

absl::StatusOr<HostTensor<int64_t>> ConstFolder::Int(const TensorRef& ref) {
  auto idx = view_.index(ref.node);
  if (!idx) return absl::InvalidArgumentError(absl::StrCat("no node '", ref.node, "'"));
  const auto& n = view_.node(*idx);
  if (IsIdentityLike(n.op()) && !view_.inputs(*idx).empty()) return Int(view_.inputs(*idx)[0]);
  if (n.op() != "Const")
    return absl::InvalidArgumentError(
        absl::StrCat(Context(n), ": expected a Const integer tensor (shape, axis or paddings)"));
  return DecodeConst<int64_t>(n);
}

absl::StatusOr<HostTensor<float>> ConstFolder::Float(const TensorRef& ref) {
  const std::string key = ref.ToString();
  if (auto it = float_cache_.find(key); it != float_cache_.end()) return it->second;
  auto idx = view_.index(ref.node);
  if (!idx) return absl::InvalidArgumentError(absl::StrCat("no node '", ref.node, "'"));
  const auto& n = view_.node(*idx);
  const std::string ctx = Context(n);
  const auto& ins = view_.inputs(*idx);
  std::vector<TensorRef> data;
  for (const auto& r : ins)
    if (!r.is_control) data.push_back(r);
  HostTensor<float> out;
  if (n.op() == "Const") {
    TFQAT_ASSIGN_OR_RETURN(out, DecodeConst<float>(n));
  } else if ((IsIdentityLike(n.op()) || n.op() == "Cast") && !data.empty()) {
    TFQAT_ASSIGN_OR_RETURN(out, Float(data[0]));
  } else if (n.op() == "Reshape" && data.size() == 2) {
    TFQAT_ASSIGN_OR_RETURN(out, Float(data[0]));
    TFQAT_ASSIGN_OR_RETURN(auto shape, Int(data[1]));
    int64_t known = 1, unknown = -1;
    for (size_t i = 0; i < shape.values.size(); ++i) {
      if (shape.values[i] == -1) unknown = i;
      else known *= shape.values[i];
    }
    std::vector<int64_t> s = shape.values;
    if (unknown >= 0 && known > 0) s[unknown] = out.num_elements() / known;
    out.shape = s;
    if (out.num_elements() != static_cast<int64_t>(out.values.size()))
      return absl::InvalidArgumentError(absl::StrCat(ctx, ": reshape changes the element count"));
  } else if (data.size() == 1 &&
             (n.op() == "Neg" || n.op() == "Square" || n.op() == "Sqrt" || n.op() == "Rsqrt")) {
    TFQAT_ASSIGN_OR_RETURN(out, Float(data[0]));
    for (float& v : out.values) {
      if (n.op() == "Neg") v = -v;
      else if (n.op() == "Square") v = v * v;
      else if (n.op() == "Sqrt") v = std::sqrt(v);
      else v = 1.f / std::sqrt(v);
    }
  } else if (data.size() == 2 && IsFoldableFloatOp(n.op())) {
    TFQAT_ASSIGN_OR_RETURN(auto a, Float(data[0]));
    TFQAT_ASSIGN_OR_RETURN(auto b, Float(data[1]));
    std::function<float(float, float)> f;
    if (n.op() == "Mul") f = [](float x, float y) { return x * y; };
    else if (n.op() == "Sub") f = [](float x, float y) { return x - y; };
    else if (n.op() == "Add" || n.op() == "AddV2") f = [](float x, float y) { return x + y; };
    else if (n.op() == "RealDiv") f = [](float x, float y) { return x / y; };
    else if (n.op() == "Maximum") f = [](float x, float y) { return std::max(x, y); };
    else f = [](float x, float y) { return std::min(x, y); };
    TFQAT_ASSIGN_OR_RETURN(out, Broadcast(a, b, f, ctx));
  } else {
    return absl::InvalidArgumentError(absl::StrCat(ctx, ": cannot evaluate as a constant"));
  }
  float_cache_[key] = out;
  return out;
}

}  // namespace tfqat::converter
