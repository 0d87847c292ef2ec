#include <algorithm>

#include "trainer/kernels.h"

namespace tfqat {

absl::Status BroadcastShapes(const KernelContext& ctx, const std::vector<int64_t>& a,
                             const std::vector<int64_t>& b, std::vector<int64_t>* out) {
  const size_t r = std::max(a.size(), b.size());
  out->assign(r, 1);
  for (size_t k = 0; k < r; ++k) {
    int64_t da = k < r - a.size() ? 1 : a[k - (r - a.size())];
    int64_t db = k < r - b.size() ? 1 : b[k - (r - b.size())];
    if (da == db || db == 1) (*out)[k] = da;
    else if (da == 1) (*out)[k] = db;
    else {
      Tensor ta, tb;
      ta.shape = a;
      tb.shape = b;
      return ctx.Error("incompatible shapes for broadcasting: ", ta.ShapeString(), " and ", tb.ShapeString());
    }
  }
  return absl::OkStatus();
}

std::vector<int64_t> BroadcastStrides(const std::vector<int64_t>& in, const std::vector<int64_t>& out) {
  const size_t r = out.size();
  std::vector<int64_t> strides(r, 0);
  int64_t s = 1;
  for (size_t k = r; k-- > 0;) {
    size_t ik = k + in.size();
    if (ik < r) break;
    ik -= r;
    strides[k] = in[ik] == 1 ? 0 : s;
    s *= in[ik];
  }
  return strides;
}

std::vector<float> ReduceToShape(const std::vector<float>& grad, const std::vector<int64_t>& out,
                                 const std::vector<int64_t>& target) {
  if (out == target) return grad;
  std::vector<float> res(NumElements(target), 0.f);
  auto st = BroadcastStrides(target, out);
  const int r = static_cast<int>(out.size());
  std::vector<int64_t> idx(r, 0);
  const int64_t n = NumElements(out);
  int64_t off = 0;
  for (int64_t e = 0; e < n; ++e) {
    res[off] += grad[e];
    for (int k = r - 1; k >= 0; --k) {
      if (++idx[k] < out[k]) { off += st[k]; break; }
      off -= st[k] * (out[k] - 1);
      idx[k] = 0;
    }
  }
  return res;
}

absl::Status AxesFromTensor(const KernelContext& ctx, const Tensor& t, int rank, std::vector<int>* axes) {
  axes->clear();
  for (int64_t e = 0; e < t.num_elements(); ++e) {
    int64_t a = t.AsInt(e);
    if (a < -rank || a >= rank) return ctx.Error("axis ", a, " out of range for rank ", rank);
    if (a < 0) a += rank;
    axes->push_back(static_cast<int>(a));
  }
  std::sort(axes->begin(), axes->end());
  axes->erase(std::unique(axes->begin(), axes->end()), axes->end());
  return absl::OkStatus();
}

const KernelTable& ExecutorKernels() {
  static const KernelTable* table = [] {
    auto* t = new KernelTable;
    AddMathKernels(t);
    AddArrayKernels(t);
    AddNnKernels(t);
    AddQuantKernels(t);
    return t;
  }();
  return *table;
}

}  // namespace tfqat
