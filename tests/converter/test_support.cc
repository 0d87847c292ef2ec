#include "tests/converter/test_support.h"

#include <sys/stat.h>
#include <sys/wait.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "graph/attrs.h"
#include "graph/graph_view.h"

namespace tfqat::testing {

HostTensor<float> RandomTensor(std::mt19937* rng, std::vector<int64_t> shape, float lo, float hi) {
  HostTensor<float> t;
  t.shape = std::move(shape);
  std::uniform_real_distribution<float> d(lo, hi);
  t.values.resize(t.num_elements());
  for (float& v : t.values) v = d(*rng);
  return t;
}

static HostTensor<float> Scalar(float v) {
  HostTensor<float> t;
  t.values = {v};
  return t;
}

std::string FakeQuant(GraphBuilder* b, const std::string& name, const std::string& input, float min,
                      float max, bool narrow_range, int num_bits) {
  const std::string mn = b->Const(name + "/min", Scalar(min));
  const std::string mx = b->Const(name + "/max", Scalar(max));
  auto* n = b->AddNode(name, "FakeQuantWithMinMaxVars", {input, mn, mx});
  SetAttr(n, "num_bits", static_cast<int64_t>(num_bits));
  SetAttr(n, "narrow_range", narrow_range);
  return name;
}

std::string FakeQuantPerChannel(GraphBuilder* b, const std::string& name, const std::string& input,
                                const std::vector<float>& min, const std::vector<float>& max,
                                bool narrow_range) {
  HostTensor<float> a, c;
  a.shape = c.shape = {static_cast<int64_t>(min.size())};
  a.values = min;
  c.values = max;
  const std::string mn = b->Const(name + "/min", a);
  const std::string mx = b->Const(name + "/max", c);
  auto* n = b->AddNode(name, "FakeQuantWithMinMaxVarsPerChannel", {input, mn, mx});
  SetAttr(n, "num_bits", static_cast<int64_t>(8));
  SetAttr(n, "narrow_range", narrow_range);
  return name;
}

std::string QuantWeights(GraphBuilder* b, const std::string& name, const HostTensor<float>& w,
                         bool symmetric) {
  const std::string c = b->Const(name, w);
  float lo = 0.f, hi = 0.f;
  for (float v : w.values) {
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  if (symmetric) {
    const float m = std::max(-lo, hi);
    lo = -m;
    hi = m;
  }
  return FakeQuant(b, name + "/weights_quant", c, lo, hi, /*narrow_range=*/true);
}

std::string Pad(GraphBuilder* b, const std::string& name, const std::string& input,
                const std::vector<int32_t>& paddings) {
  HostTensor<int32_t> p;
  p.shape = {static_cast<int64_t>(paddings.size() / 2), 2};
  p.values = paddings;
  const std::string pn = b->ConstInt32(name + "/paddings", p);
  auto* n = b->AddNode(name, "Pad", {input, pn});
  SetAttr(n, "T", tensorflow::DT_FLOAT);
  SetAttr(n, "Tpaddings", tensorflow::DT_INT32);
  return name;
}

std::string Squeeze(GraphBuilder* b, const std::string& name, const std::string& input,
                    const std::vector<int64_t>& dims) {
  auto* n = b->AddNode(name, "Squeeze", {input});
  SetAttr(n, "T", tensorflow::DT_FLOAT);
  SetAttr(n, "squeeze_dims", dims);
  return name;
}

std::string TransposeConv(GraphBuilder* b, const std::string& name, const std::string& input,
                          const std::string& filter, const std::vector<int32_t>& output_shape,
                          int stride, const std::string& padding) {
  HostTensor<int32_t> s;
  s.shape = {4};
  s.values = output_shape;
  const std::string sn = b->ConstInt32(name + "/input_sizes", s);
  auto* n = b->AddNode(name, "Conv2DBackpropInput", {sn, filter, input});
  SetAttr(n, "T", tensorflow::DT_FLOAT);
  SetAttr(n, "strides", std::vector<int64_t>{1, stride, stride, 1});
  SetAttr(n, "padding", padding);
  SetAttr(n, "data_format", "NHWC");
  SetAttr(n, "dilations", std::vector<int64_t>{1, 1, 1, 1});
  return name;
}

// ---- float reference executor -------------------------------------------------------------

namespace {

using T4 = HostTensor<float>;

float FakeQuantValue(float x, float min, float max, int bits, bool narrow) {
  // ARITHMETIC.md, FakeQuantWithMinMaxVars: float32 throughout.
  const float qmin = narrow ? 1.f : 0.f, qmax = static_cast<float>((1 << bits) - 1);
  const float scale = (max - min) / (qmax - qmin);
  const float zp_from_min = qmin - min / scale;
  float zp = zp_from_min < qmin ? qmin : zp_from_min > qmax ? qmax : std::round(zp_from_min);
  const float nmin = (qmin - zp) * scale, nmax = (qmax - zp) * scale;
  const float c = std::min(std::max(x, nmin), nmax);
  return std::floor((c - nmin) / scale + 0.5f) * scale + nmin;
}

int PadBefore(int in, int out, int k, int s, int d, bool same) {
  if (!same) return 0;
  const int total = std::max((out - 1) * s + (k - 1) * d + 1 - in, 0);
  return total / 2;
}

int OutSize(int in, int k, int s, int d, bool same) {
  const int eff = (k - 1) * d + 1;
  return same ? (in + s - 1) / s : (in - eff) / s + 1;
}

absl::StatusOr<T4> Conv(const T4& x, const T4& w, const tensorflow::NodeDef& n, bool depthwise) {
  auto strides = GetAttr<std::vector<int64_t>>(n, "strides");
  auto pad = GetAttr<std::string>(n, "padding");
  auto dil = GetAttrOr<std::vector<int64_t>>(n, "dilations", {1, 1, 1, 1});
  if (!strides.ok() || !pad.ok() || !dil.ok()) return absl::InvalidArgumentError("conv attrs");
  const int N = x.shape[0], H = x.shape[1], W = x.shape[2], C = x.shape[3];
  const int KH = w.shape[0], KW = w.shape[1], M = w.shape[3];
  const int sh = (*strides)[1], sw = (*strides)[2], dh = (*dil)[1], dw = (*dil)[2];
  const bool same = *pad == "SAME";
  const int OH = OutSize(H, KH, sh, dh, same), OW = OutSize(W, KW, sw, dw, same);
  const int pt = PadBefore(H, OH, KH, sh, dh, same), pl = PadBefore(W, OW, KW, sw, dw, same);
  const int OC = depthwise ? C * M : M;
  T4 y;
  y.shape = {N, OH, OW, OC};
  y.values.assign(static_cast<size_t>(N) * OH * OW * OC, 0.f);
  for (int b = 0; b < N; ++b)
    for (int oh = 0; oh < OH; ++oh)
      for (int ow = 0; ow < OW; ++ow)
        for (int oc = 0; oc < OC; ++oc) {
          double acc = 0;
          for (int kh = 0; kh < KH; ++kh)
            for (int kw = 0; kw < KW; ++kw) {
              const int ih = oh * sh - pt + kh * dh, iw = ow * sw - pl + kw * dw;
              if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
              const float* xp = &x.values[((static_cast<size_t>(b) * H + ih) * W + iw) * C];
              if (depthwise) {
                const int c = oc / M, m = oc % M;
                acc += static_cast<double>(xp[c]) * w.values[((kh * KW + kw) * C + c) * M + m];
              } else {
                for (int c = 0; c < C; ++c) acc += static_cast<double>(xp[c]) * w.values[((kh * KW + kw) * C + c) * M + oc];
              }
            }
          y.values[((static_cast<size_t>(b) * OH + oh) * OW + ow) * OC + oc] = static_cast<float>(acc);
        }
  return y;
}

absl::StatusOr<T4> TConv(const T4& x, const T4& w, const std::vector<int64_t>& out_shape,
                         const tensorflow::NodeDef& n) {
  auto strides = GetAttr<std::vector<int64_t>>(n, "strides");
  auto pad = GetAttr<std::string>(n, "padding");
  if (!strides.ok() || !pad.ok()) return absl::InvalidArgumentError("tconv attrs");
  const int N = x.shape[0], H = x.shape[1], W = x.shape[2], C = x.shape[3];
  const int KH = w.shape[0], KW = w.shape[1], OC = w.shape[2];
  const int OH = out_shape[1], OW = out_shape[2];
  const int sh = (*strides)[1], sw = (*strides)[2];
  const bool same = *pad == "SAME";
  // The forward conv maps OHxOW -> HxW.
  const int pt = PadBefore(OH, H, KH, sh, 1, same), pl = PadBefore(OW, W, KW, sw, 1, same);
  T4 y;
  y.shape = {N, OH, OW, OC};
  std::vector<double> acc(static_cast<size_t>(N) * OH * OW * OC, 0.0);
  for (int b = 0; b < N; ++b)
    for (int ih = 0; ih < H; ++ih)
      for (int iw = 0; iw < W; ++iw)
        for (int kh = 0; kh < KH; ++kh)
          for (int kw = 0; kw < KW; ++kw) {
            const int oh = ih * sh - pt + kh, ow = iw * sw - pl + kw;
            if (oh < 0 || oh >= OH || ow < 0 || ow >= OW) continue;
            for (int oc = 0; oc < OC; ++oc)
              for (int c = 0; c < C; ++c)
                acc[((static_cast<size_t>(b) * OH + oh) * OW + ow) * OC + oc] +=
                    static_cast<double>(x.values[((static_cast<size_t>(b) * H + ih) * W + iw) * C + c]) *
                    w.values[((kh * KW + kw) * OC + oc) * C + c];
          }
  y.values.assign(acc.begin(), acc.end());
  return y;
}

T4 Pool(const T4& x, const tensorflow::NodeDef& n, bool is_max) {
  auto k = *GetAttr<std::vector<int64_t>>(n, "ksize");
  auto s = *GetAttr<std::vector<int64_t>>(n, "strides");
  const bool same = *GetAttr<std::string>(n, "padding") == "SAME";
  const int N = x.shape[0], H = x.shape[1], W = x.shape[2], C = x.shape[3];
  const int OH = OutSize(H, k[1], s[1], 1, same), OW = OutSize(W, k[2], s[2], 1, same);
  const int pt = PadBefore(H, OH, k[1], s[1], 1, same), pl = PadBefore(W, OW, k[2], s[2], 1, same);
  T4 y;
  y.shape = {N, OH, OW, C};
  y.values.resize(static_cast<size_t>(N) * OH * OW * C);
  for (int b = 0; b < N; ++b)
    for (int oh = 0; oh < OH; ++oh)
      for (int ow = 0; ow < OW; ++ow)
        for (int c = 0; c < C; ++c) {
          float m = -INFINITY;
          double sum = 0;
          int cnt = 0;
          for (int kh = 0; kh < k[1]; ++kh)
            for (int kw = 0; kw < k[2]; ++kw) {
              const int ih = oh * s[1] - pt + kh, iw = ow * s[2] - pl + kw;
              if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
              const float v = x.values[((static_cast<size_t>(b) * H + ih) * W + iw) * C + c];
              m = std::max(m, v);
              sum += v;
              ++cnt;
            }
          y.values[((static_cast<size_t>(b) * OH + oh) * OW + ow) * C + c] = is_max ? m : static_cast<float>(sum / cnt);
        }
  return y;
}

T4 Broadcast(const T4& a, const T4& b, float (*f)(float, float)) {
  const size_t rank = std::max(a.shape.size(), b.shape.size());
  std::vector<int64_t> as(rank, 1), bs(rank, 1), os(rank, 1);
  std::copy(a.shape.begin(), a.shape.end(), as.begin() + (rank - a.shape.size()));
  std::copy(b.shape.begin(), b.shape.end(), bs.begin() + (rank - b.shape.size()));
  for (size_t d = 0; d < rank; ++d) os[d] = std::max(as[d], bs[d]);
  T4 y;
  y.shape = os;
  y.values.resize(y.num_elements());
  std::vector<int64_t> idx(rank, 0);
  for (size_t i = 0; i < y.values.size(); ++i) {
    int64_t ia = 0, ib = 0;
    for (size_t d = 0; d < rank; ++d) {
      ia = ia * as[d] + (as[d] == 1 ? 0 : idx[d]);
      ib = ib * bs[d] + (bs[d] == 1 ? 0 : idx[d]);
    }
    y.values[i] = f(a.values[ia], b.values[ib]);
    for (int d = static_cast<int>(rank) - 1; d >= 0; --d) {
      if (++idx[d] < os[d]) break;
      idx[d] = 0;
    }
  }
  return y;
}

}  // namespace

absl::StatusOr<std::map<std::string, HostTensor<float>>> RunReference(
    const tensorflow::GraphDef& graph, const std::map<std::string, HostTensor<float>>& feeds,
    const std::vector<std::string>& fetches, bool fake_quant) {
  auto view = GraphView::Create(graph);
  if (!view.ok()) return view.status();
  auto order = view->TopologicalOrder();
  if (!order.ok()) return order.status();
  std::map<std::string, T4> v;
  std::map<std::string, HostTensor<int64_t>> ints;
  for (int i : *order) {
    const auto& n = view->node(i);
    std::vector<std::string> in;
    for (const auto& r : view->inputs(i))
      if (!r.is_control) in.push_back(r.node);
    const std::string& op = n.op();
    auto X = [&](int k) -> const T4& { return v.at(in.at(k)); };
    bool ready = true;  // nodes downstream of an unfed Placeholder are skipped
    for (const auto& s : in) ready = ready && (v.count(s) || ints.count(s));
    if (!ready) continue;
    T4 y;
    if (op == "Placeholder") {
      auto it = feeds.find(n.name());
      if (it == feeds.end()) continue;
      y = it->second;
    } else if (op == "Const") {
      auto dt = GetAttr<tensorflow::DataType>(n, "dtype");
      if (dt.ok() && *dt == tensorflow::DT_INT32) {
        auto t = DecodeConst<int64_t>(n);
        if (!t.ok()) return t.status();
        ints[n.name()] = *t;
        continue;
      }
      auto t = DecodeConst<float>(n);
      if (!t.ok()) return t.status();
      y = *t;
    } else if (op == "Identity") {
      if (ints.count(in[0])) {
        ints[n.name()] = ints[in[0]];
        continue;
      }
      y = X(0);
    } else if (op == "FakeQuantWithMinMaxVars" || op == "FakeQuantWithMinMaxVarsPerChannel") {
      const int bits = static_cast<int>(*GetAttrOr<int64_t>(n, "num_bits", 8));
      const bool narrow = *GetAttrOr<bool>(n, "narrow_range", false);
      y = X(0);
      if (!fake_quant) {
        v[n.name()] = std::move(y);
        continue;
      }
      const T4& mn = X(1);
      const T4& mx = X(2);
      const size_t ch = mn.values.size();
      for (size_t k = 0; k < y.values.size(); ++k) {
        const size_t c = ch == 1 ? 0 : k % ch;
        y.values[k] = FakeQuantValue(y.values[k], mn.values[c], mx.values[c], bits, narrow);
      }
    } else if (op == "Conv2D" || op == "DepthwiseConv2dNative") {
      auto r = Conv(X(0), X(1), n, op != "Conv2D");
      if (!r.ok()) return r.status();
      y = *r;
    } else if (op == "Conv2DBackpropInput") {
      auto r = TConv(X(2), X(1), ints.at(in[0]).values, n);
      if (!r.ok()) return r.status();
      y = *r;
    } else if (op == "MatMul") {
      const T4& a = X(0);
      const T4& w = X(1);
      const int M = a.shape[0], K = a.shape[1], O = w.shape[1];
      y.shape = {M, O};
      y.values.assign(M * O, 0.f);
      for (int m = 0; m < M; ++m)
        for (int o = 0; o < O; ++o) {
          double acc = 0;
          for (int k = 0; k < K; ++k) acc += static_cast<double>(a.values[m * K + k]) * w.values[k * O + o];
          y.values[m * O + o] = static_cast<float>(acc);
        }
    } else if (op == "BiasAdd" || op == "Add" || op == "AddV2") {
      y = Broadcast(X(0), X(1), [](float a, float b) { return a + b; });
    } else if (op == "Relu") {
      y = X(0);
      for (float& f : y.values) f = std::max(f, 0.f);
    } else if (op == "Relu6") {
      y = X(0);
      for (float& f : y.values) f = std::min(std::max(f, 0.f), 6.f);
    } else if (op == "Sigmoid") {
      y = X(0);
      for (float& f : y.values) f = 1.f / (1.f + std::exp(-f));
    } else if (op == "Tanh") {
      y = X(0);
      for (float& f : y.values) f = std::tanh(f);
    } else if (op == "Softmax") {
      y = X(0);
      const int C = y.shape.back();
      for (size_t r = 0; r < y.values.size() / C; ++r) {
        float m = -INFINITY;
        for (int c = 0; c < C; ++c) m = std::max(m, y.values[r * C + c]);
        double s = 0;
        for (int c = 0; c < C; ++c) s += std::exp(y.values[r * C + c] - m);
        for (int c = 0; c < C; ++c) y.values[r * C + c] = static_cast<float>(std::exp(y.values[r * C + c] - m) / s);
      }
    } else if (op == "MaxPool" || op == "AvgPool") {
      y = Pool(X(0), n, op == "MaxPool");
    } else if (op == "Reshape") {
      y = X(0);
      auto s = ints.at(in[1]).values;
      int64_t known = 1;
      for (auto d : s)
        if (d != -1) known *= d;
      for (auto& d : s)
        if (d == -1) d = y.num_elements() / known;
      y.shape = s;
    } else if (op == "Squeeze") {
      y = X(0);
      auto dims = *GetAttrOr<std::vector<int64_t>>(n, "squeeze_dims", {});
      std::vector<int64_t> s;
      for (size_t d = 0; d < y.shape.size(); ++d) {
        const bool drop = dims.empty() ? y.shape[d] == 1 : std::count(dims.begin(), dims.end(), static_cast<int64_t>(d)) > 0;
        if (!drop) s.push_back(y.shape[d]);
      }
      y.shape = s;
    } else if (op == "Pad") {
      const T4& x = X(0);
      const auto& p = ints.at(in[1]).values;  // only 4-D here
      y.shape = x.shape;
      for (int d = 0; d < 4; ++d) y.shape[d] += p[2 * d] + p[2 * d + 1];
      y.values.assign(y.num_elements(), 0.f);
      for (int b = 0; b < x.shape[0]; ++b)
        for (int h = 0; h < x.shape[1]; ++h)
          for (int w = 0; w < x.shape[2]; ++w)
            for (int c = 0; c < x.shape[3]; ++c)
              y.values[(((b + p[0]) * y.shape[1] + h + p[2]) * y.shape[2] + w + p[4]) * y.shape[3] + c + p[6]] =
                  x.values[((b * x.shape[1] + h) * x.shape[2] + w) * x.shape[3] + c];
    } else if (op == "Mean") {
      const T4& x = X(0);  // axes {1, 2} of a 4-D tensor here
      const bool keep = *GetAttrOr<bool>(n, "keep_dims", false);
      const int N = x.shape[0], H = x.shape[1], W = x.shape[2], C = x.shape[3];
      y.shape = keep ? std::vector<int64_t>{N, 1, 1, C} : std::vector<int64_t>{N, C};
      y.values.assign(N * C, 0.f);
      for (int b = 0; b < N; ++b)
        for (int c = 0; c < C; ++c) {
          double s = 0;
          for (int k = 0; k < H * W; ++k) s += x.values[(b * H * W + k) * C + c];
          y.values[b * C + c] = static_cast<float>(s / (H * W));
        }
    } else if (op == "ConcatV2") {
      const int rank = static_cast<int>(X(0).shape.size());
      int axis = static_cast<int>(ints.at(in.back()).values[0]);
      if (axis < 0) axis += rank;
      std::vector<const T4*> parts;
      for (size_t k = 0; k + 1 < in.size(); ++k) parts.push_back(&v.at(in[k]));
      y.shape = parts[0]->shape;
      y.shape[axis] = 0;
      for (auto* p : parts) y.shape[axis] += p->shape[axis];
      int64_t outer = 1;
      for (int d = 0; d < axis; ++d) outer *= y.shape[d];
      for (int64_t o = 0; o < outer; ++o)
        for (auto* p : parts) {
          int64_t inner = 1;
          for (int d = axis; d < rank; ++d) inner *= p->shape[d];
          y.values.insert(y.values.end(), p->values.begin() + o * inner, p->values.begin() + (o + 1) * inner);
        }
    } else {
      return absl::UnimplementedError(absl::StrCat("reference executor: op ", op));
    }
    v[n.name()] = std::move(y);
  }
  std::map<std::string, T4> out;
  for (const auto& f : fetches) {
    auto it = v.find(f);
    if (it == v.end()) return absl::NotFoundError(absl::StrCat("reference executor: no value for ", f));
    out[f] = it->second;
  }
  return out;
}

// ---- processes and files ------------------------------------------------------------------

std::string ScratchDir(const std::string& name) {
  const std::string base = std::string(TFQAT_BINARY_DIR) + "/tests/converter/scratch";
  ::mkdir((std::string(TFQAT_BINARY_DIR) + "/tests").c_str(), 0755);
  ::mkdir((std::string(TFQAT_BINARY_DIR) + "/tests/converter").c_str(), 0755);
  ::mkdir(base.c_str(), 0755);
  const std::string d = base + "/" + name;
  ::mkdir(d.c_str(), 0755);
  return d;
}

absl::Status WriteString(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary);
  f << bytes;
  return f ? absl::OkStatus() : absl::InternalError("cannot write " + path);
}

int RunCommand(const std::string& cmd, std::string* output) {
  std::string full = cmd + " 2>&1";
  FILE* p = ::popen(full.c_str(), "r");
  if (!p) return -1;
  std::array<char, 4096> buf;
  size_t n;
  if (output) output->clear();
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0)
    if (output) output->append(buf.data(), n);
  const int status = ::pclose(p);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::optional<std::string> TfliteRunPath() {
  const std::string path = std::string(TFQAT_BINARY_DIR) + "/peers/tflite-run/run.js";
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return std::nullopt;
  if (RunCommand("node --version", nullptr) != 0) return std::nullopt;
  return path;
}

absl::StatusOr<nlohmann::json> RunTflite(const std::string& model, const std::vector<std::vector<double>>& inputs,
                                         const std::string& work_dir) {
  auto runner = TfliteRunPath();
  if (!runner) return absl::FailedPreconditionError("tflite-run peer missing");
  std::string cmd = absl::StrCat("node ", *runner, " ", model);
  for (size_t k = 0; k < inputs.size(); ++k) {
    const std::string f = absl::StrCat(work_dir, "/input", k, ".json");
    nlohmann::json j = inputs[k];
    auto s = WriteString(f, j.dump());
    if (!s.ok()) return s;
    absl::StrAppend(&cmd, " -i ", f);
  }
  const std::string out = work_dir + "/tflite_out.json";
  absl::StrAppend(&cmd, " -o ", out);
  std::string log;
  const int rc = RunCommand(cmd, &log);
  if (rc != 0) return absl::InternalError(absl::StrCat("tflite-run failed (", rc, "): ", log));
  std::ifstream f(out);
  std::stringstream ss;
  ss << f.rdbuf();
  return nlohmann::json::parse(ss.str());
}

}  // namespace tfqat::testing
