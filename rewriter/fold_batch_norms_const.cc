#include "rewriter/fold_batch_norms_const.h"

#include <cmath>
#include <functional>

#include "absl/strings/str_cat.h"
#include "graph/status_macros.h"

namespace tfqat::bnfold {

namespace {

constexpr int kMaxDepth = 64;

absl::StatusOr<HostTensor<double>> Broadcast(const HostTensor<double>& a, const HostTensor<double>& b,
                                             const std::function<double(double, double)>& f,
                                             const std::string& context) {
  const size_t rank = std::max(a.shape.size(), b.shape.size());
  std::vector<int64_t> sa(rank, 1), sb(rank, 1), out(rank, 1);
  std::copy(a.shape.begin(), a.shape.end(), sa.begin() + (rank - a.shape.size()));
  std::copy(b.shape.begin(), b.shape.end(), sb.begin() + (rank - b.shape.size()));
  for (size_t d = 0; d < rank; ++d) {
    if (sa[d] != sb[d] && sa[d] != 1 && sb[d] != 1) {
      return absl::InvalidArgumentError(absl::StrCat(context, ": shapes do not broadcast"));
    }
    out[d] = std::max(sa[d], sb[d]);
  }
  HostTensor<double> r;
  r.shape = out;
  const int64_t n = r.num_elements();
  r.values.resize(n);
  std::vector<int64_t> idx(rank, 0);
  for (int64_t e = 0; e < n; ++e) {
    int64_t ia = 0, ib = 0;
    for (size_t d = 0; d < rank; ++d) {
      ia = ia * sa[d] + (sa[d] == 1 ? 0 : idx[d]);
      ib = ib * sb[d] + (sb[d] == 1 ? 0 : idx[d]);
    }
    r.values[e] = f(a.values[ia], b.values[ib]);
    for (int d = static_cast<int>(rank) - 1; d >= 0; --d) {
      if (++idx[d] < out[d]) break;
      idx[d] = 0;
    }
  }
  return r;
}

}  // namespace

absl::StatusOr<HostTensor<double>> ConstEvaluator::Eval(int node, int port) {
  return EvalDepth(node, port, 0);
}

absl::StatusOr<HostTensor<double>> ConstEvaluator::EvalDepth(int node, int port, int depth) {
  const auto& nd = view_.node(node);
  if (port != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("node '", nd.name(), "' (", nd.op(), "): output ", port, " is not a constant"));
  }
  if (depth > kMaxDepth) {
    return absl::InvalidArgumentError(
        absl::StrCat("node '", nd.name(), "' (", nd.op(), "): constant expression too deep"));
  }
  auto it = memo_.find(node);
  if (it != memo_.end()) return it->second;
  auto r = EvalUncached(node, depth);
  // float32 nodes: round after every op, as TensorFlow's float kernels do (one IEEE
  // operation in double, then rounded, is the correctly rounded float32 result).
  if (r.ok() && nd.op() != "Const") {
    auto t = nd.attr().find("T");
    if (t != nd.attr().end() && t->second.type() == tensorflow::DT_FLOAT) {
      for (double& v : r->values) v = static_cast<float>(v);
    }
  }
  memo_.emplace(node, r);
  return r;
}

absl::StatusOr<HostTensor<double>> ConstEvaluator::EvalUncached(int node, int depth) {
  const auto& nd = view_.node(node);
  const std::string context = absl::StrCat("node '", nd.name(), "' (", nd.op(), ")");
  const std::string& op = nd.op();
  if (op == "Const") return DecodeConst<double>(nd);
  std::vector<Producer> in = view_.data_fanin(node);
  auto arg = [&](size_t i) -> absl::StatusOr<HostTensor<double>> {
    if (i >= in.size()) return absl::InvalidArgumentError(absl::StrCat(context, ": missing input ", i));
    return EvalDepth(in[i].node, in[i].port, depth + 1);
  };
  if (op == "Reshape") {
    TFQAT_ASSIGN_OR_RETURN(HostTensor<double> a, arg(0));
    if (in.size() < 2) return absl::InvalidArgumentError(absl::StrCat(context, ": missing shape"));
    TFQAT_ASSIGN_OR_RETURN(HostTensor<double> sh, EvalDepth(in[1].node, in[1].port, depth + 1));
    std::vector<int64_t> shape;
    int64_t known = 1;
    int unknown = -1;
    for (size_t d = 0; d < sh.values.size(); ++d) {
      shape.push_back(static_cast<int64_t>(sh.values[d]));
      if (shape.back() == -1) unknown = static_cast<int>(d);
      else known *= shape.back();
    }
    if (unknown >= 0 && known > 0) shape[unknown] = a.num_elements() / known;
    HostTensor<double> r;
    r.shape = shape;
    r.values = std::move(a.values);
    if (r.num_elements() != static_cast<int64_t>(r.values.size())) {
      return absl::InvalidArgumentError(absl::StrCat(context, ": reshape changes the element count"));
    }
    return r;
  }
  using Unary = double (*)(double);
  static const std::pair<const char*, Unary> kUnary[] = {
      {"Identity", [](double x) { return x; }},
      // Two float32 roundings (sqrt, then the division), as TensorFlow's and our executor's
      // float kernels compute it.
      {"Rsqrt", [](double x) { return static_cast<double>(1.0f / std::sqrt(static_cast<float>(x))); }},
      {"Sqrt", [](double x) { return std::sqrt(x); }},
      {"Reciprocal", [](double x) { return 1.0 / x; }},
      {"Inv", [](double x) { return 1.0 / x; }},
      {"Neg", [](double x) { return -x; }},
      {"Square", [](double x) { return x * x; }},
  };
  for (const auto& [name, f] : kUnary) {
    if (op == name) {
      TFQAT_ASSIGN_OR_RETURN(HostTensor<double> a, arg(0));
      for (double& v : a.values) v = f(v);
      return a;
    }
  }
  static const std::pair<const char*, double (*)(double, double)> kBinary[] = {
      {"Add", [](double a, double b) { return a + b; }},
      {"AddV2", [](double a, double b) { return a + b; }},
      {"Sub", [](double a, double b) { return a - b; }},
      {"Mul", [](double a, double b) { return a * b; }},
      {"RealDiv", [](double a, double b) { return a / b; }},
      {"Maximum", [](double a, double b) { return std::max(a, b); }},
      {"Minimum", [](double a, double b) { return std::min(a, b); }},
  };
  for (const auto& [name, f] : kBinary) {
    if (op == name) {
      TFQAT_ASSIGN_OR_RETURN(HostTensor<double> a, arg(0));
      TFQAT_ASSIGN_OR_RETURN(HostTensor<double> b, arg(1));
      return Broadcast(a, b, f, context);
    }
  }
  return absl::InvalidArgumentError(absl::StrCat(context, ": not a constant expression"));
}

std::optional<std::vector<double>> PerChannel(const HostTensor<double>& t, int64_t channels,
                                              int channel_axis_from_end) {
  if (t.values.size() == 1) return std::vector<double>(channels, t.values[0]);
  std::vector<int64_t> s = t.shape;
  while (!s.empty() && s.front() == 1) s.erase(s.begin());
  if (t.num_elements() != channels) return std::nullopt;
  if (s.size() == 1 && s[0] == channels && channel_axis_from_end == 1) return t.values;
  if (channel_axis_from_end == 3 && s.size() == 3 && s[0] == channels && s[1] == 1 && s[2] == 1) {
    return t.values;
  }
  return std::nullopt;
}

}  // namespace tfqat::bnfold
