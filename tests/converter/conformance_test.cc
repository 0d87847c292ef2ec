// Real-client acceptance: every model we convert loads and runs in the real TFLite interpreter
// (tflite-run peer), and its outputs agree with the eval-mode fake-quant graph (independent float
// reference executor here) measured in output LSBs; float conversion agrees with the float graph.
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <random>

#include "absl/strings/str_cat.h"
#include "converter/convert.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/converter/test_support.h"
#include "rewriter/freeze.h"
#include "runtime/interpreter.h"
#include "tests/runtime/test_models.h"
#include "rewriter/rewrite.h"
#include "trainer/executor.h"
#include "trainer/trainer.h"

namespace tfqat::testing {
namespace {

using converter::ConvertOptions;
using converter::ElemType;

HostTensor<float> Vec(std::mt19937* rng, int64_t n, float lo, float hi) { return RandomTensor(rng, {n}, lo, hi); }

// conv -> depthwise -> 1x1 conv -> residual add -> concat -> max pool -> reshape -> FC -> softmax.
using Ranges = std::map<std::string, std::pair<float, float>>;

// `ranges` overrides activation ranges by FakeQuant name; `float_graph` builds the float graph
// (Identity nodes named like the FakeQuants, so calibration can fetch them).
// `plain`: with float_graph, no Identity either (the float graph a user gives `tfqat rewrite`).
tensorflow::GraphDef ResidualNet(bool per_channel_weights = false, const Ranges* ranges = nullptr,
                                 bool float_graph = false, int batch = 2, bool plain = false) {
  std::mt19937 rng(7);
  GraphBuilder b;
  auto FakeQuant = [&](GraphBuilder* bb, const std::string& name, const std::string& in, float lo, float hi) {
    if (float_graph && plain) return in;
    if (float_graph) return bb->Identity(name, in);
    if (ranges && ranges->count(name)) {
      lo = ranges->at(name).first;
      hi = ranges->at(name).second;
    }
    return testing::FakeQuant(bb, name, in, lo, hi);
  };
  std::string x = b.Placeholder("input", {batch, 8, 8, 3});
  x = FakeQuant(&b, "input/act_quant", x, -1.f, 1.f);
  auto QuantWeights = [&](GraphBuilder* bb, const std::string& name, const HostTensor<float>& w) {
    return float_graph ? bb->Const(name, w) : testing::QuantWeights(bb, name, w);
  };
  auto conv = [&](const std::string& name, const std::string& in, HostTensor<float> w, bool dw) {
    std::string wq;
    if (float_graph) {
      wq = b.Const(name + "/weights", w);
    } else if (per_channel_weights && !dw) {
      const std::string c = b.Const(name + "/weights", w);
      const int64_t oc = w.shape.back();
      std::vector<float> mn(oc, 0.f), mx(oc, 0.f);
      for (size_t k = 0; k < w.values.size(); ++k) {
        const float a = std::fabs(w.values[k]);
        mx[k % oc] = std::max(mx[k % oc], a);
      }
      for (int64_t c2 = 0; c2 < oc; ++c2) mn[c2] = -mx[c2];
      wq = FakeQuantPerChannel(&b, name + "/weights_quant", c, mn, mx);
    } else {
      wq = QuantWeights(&b, name + "/weights", w);
    }
    return dw ? b.DepthwiseConv2dNative(name + "/depthwise", in, wq, 1, "SAME")
              : b.Conv2D(name + "/Conv2D", in, wq, 1, "SAME");
  };
  std::string c1 = conv("conv1", x, RandomTensor(&rng, {3, 3, 3, 8}, -0.5f, 0.5f), false);
  c1 = b.BiasAdd("conv1/BiasAdd", c1, b.Const("conv1/biases", Vec(&rng, 8, -0.3f, 0.3f)));
  c1 = b.Unary("Relu6", "conv1/Relu6", c1);
  const std::string a1 = FakeQuant(&b, "conv1/act_quant", c1, 0.f, 6.f);
  std::string c2 = conv("dw2", a1, RandomTensor(&rng, {3, 3, 8, 1}, -0.6f, 0.6f), true);
  c2 = b.BiasAdd("dw2/BiasAdd", c2, b.Const("dw2/biases", Vec(&rng, 8, -0.2f, 0.2f)));
  c2 = b.Unary("Relu", "dw2/Relu", c2);
  const std::string a2 = FakeQuant(&b, "dw2/act_quant", c2, 0.f, 4.f);
  std::string c3 = conv("conv3", a2, RandomTensor(&rng, {1, 1, 8, 8}, -0.7f, 0.7f), false);
  c3 = b.BiasAdd("conv3/BiasAdd", c3, b.Const("conv3/biases", Vec(&rng, 8, -0.2f, 0.2f)));
  const std::string a3 = FakeQuant(&b, "conv3/act_quant", c3, -3.f, 3.f);
  std::string add = b.Binary("AddV2", "res/add", a1, a3);
  add = b.Unary("Relu", "res/Relu", add);
  const std::string a4 = FakeQuant(&b, "res/add_quant", add, 0.f, 6.f);
  const std::string cat = b.ConcatV2("cat/concat", {a4, a2}, 3);  // a2 has range [0, 4]: requantized
  const std::string a5 = FakeQuant(&b, "cat/act_quant", cat, 0.f, 6.f);
  const std::string pool = b.Pool("MaxPool", "pool/MaxPool", a5, 2, 2, "VALID");
  const std::string flat = b.Reshape("flatten/Reshape", pool, {batch, 4 * 4 * 16});
  const std::string wfc = QuantWeights(&b, "fc/weights", RandomTensor(&rng, {256, 10}, -0.15f, 0.15f));
  std::string fc = b.MatMul("fc/MatMul", flat, wfc);
  fc = b.BiasAdd("fc/BiasAdd", fc, b.Const("fc/biases", Vec(&rng, 10, -0.5f, 0.5f)));
  const std::string logits = FakeQuant(&b, "logits", fc, -8.f, 8.f);
  b.Unary("Softmax", "probs", logits);
  return b.Build();
}

// pad -> strided conv -> avg pool -> transpose conv -> relu -> sigmoid; mean -> squeeze -> tanh.
tensorflow::GraphDef OpsNet() {
  std::mt19937 rng(11);
  GraphBuilder b;
  std::string x = b.Placeholder("input", {1, 10, 10, 4});
  x = FakeQuant(&b, "input/act_quant", x, -2.f, 2.f);
  const std::string p = Pad(&b, "pad/Pad", x, {0, 0, 1, 1, 1, 1, 0, 0});
  std::string c = b.Conv2D("conv/Conv2D", p, QuantWeights(&b, "conv/weights", RandomTensor(&rng, {3, 3, 4, 6}, -0.4f, 0.4f)), 2, "VALID");
  c = b.BiasAdd("conv/BiasAdd", c, b.Const("conv/biases", Vec(&rng, 6, -0.2f, 0.2f)));
  c = FakeQuant(&b, "conv/act_quant", c, -4.f, 4.f);
  // 3x3 VALID: every window has 9 values, so the integer mean never ties (a 2x2 window ties
  // often, and TFLite rounds the integer tie where FakeQuant rounds the float mean: 1 LSB).
  std::string ap = b.Pool("AvgPool", "pool/AvgPool", c, 3, 1, "VALID");
  ap = FakeQuant(&b, "pool/act_quant", ap, -4.f, 4.f);  // same range: TFLite keeps the input grid
  std::string t = TransposeConv(&b, "up/conv2d_transpose", ap,
                                QuantWeights(&b, "up/weights", RandomTensor(&rng, {3, 3, 3, 6}, -0.4f, 0.4f)),
                                {1, 6, 6, 3}, 2, "SAME");
  t = b.BiasAdd("up/BiasAdd", t, b.Const("up/biases", Vec(&rng, 3, -0.2f, 0.2f)));
  // TRANSPOSE_CONV keeps a separate RELU; its output range comes back from the ReLU's FakeQuant.
  t = b.Unary("Relu", "up/Relu", t);
  t = FakeQuant(&b, "up/act_quant", t, 0.f, 4.f);
  b.Unary("Sigmoid", "sig", t);
  std::string m = b.Mean("gap/Mean", t, {1, 2}, true);
  m = FakeQuant(&b, "gap/act_quant", m, -2.f, 2.f);
  const std::string sq = Squeeze(&b, "gap/Squeeze", m, {1, 2});
  b.Unary("Tanh", "tanh", sq);
  return b.Build();
}

// The eval-mode fake-quant graph executed by the trainer's reference executor.
absl::StatusOr<std::map<std::string, HostTensor<float>>> RunTrainer(
    const tensorflow::GraphDef& g, const std::map<std::string, HostTensor<float>>& feeds,
    const std::vector<std::string>& fetches) {
  auto ex = Executor::Create(g, ExecutorOptions{});
  if (!ex.ok()) return ex.status();
  std::map<std::string, Tensor> f;
  for (const auto& [name, t] : feeds) f[name] = Tensor::Float(t.shape, t.values);
  auto outs = ex->Run(f, fetches);
  if (!outs.ok()) return outs.status();
  std::map<std::string, HostTensor<float>> r;
  for (size_t k = 0; k < fetches.size(); ++k) {
    HostTensor<float> h;
    h.shape = (*outs)[k].shape;
    h.values = (*outs)[k].f;
    r[fetches[k]] = h;
  }
  return r;
}

struct Measured {
  double max_lsb = 0;
  int64_t count = 0;
  int64_t over_half = 0;  // elements off by more than rounding (|diff| > 0.5 LSB)
  double runtime_max_lsb = -1;  // the same distance for tfqat's runtime (-1: not measured)
};

// LSB distance between TFLite's integer output and the reference real value on its grid.
Measured CompareQuantized(const nlohmann::json& out, const HostTensor<float>& ref) {
  Measured m;
  const auto& q = out["quantization"];
  const double scale = q["scale"][0].get<double>();
  const double zp = q["zero_point"][0].get<double>();
  const auto data = out["data"].get<std::vector<double>>();
  EXPECT_EQ(data.size(), ref.values.size());
  for (size_t i = 0; i < data.size() && i < ref.values.size(); ++i) {
    const double d = std::fabs((data[i] - zp) - ref.values[i] / scale);
    m.max_lsb = std::max(m.max_lsb, d);
    if (d > 0.5 + 1e-4) ++m.over_half;
    ++m.count;
  }
  return m;
}

// ---- tfqat's own runtime against the peer on the models we convert ----

// Element values of a runtime tensor, whatever its type.
std::vector<double> ReadElements(const runtime::TensorInfo& t, const void* data) {
  const int64_t n = t.shape.FlatSize();
  std::vector<double> v(n);
  for (int64_t i = 0; i < n; ++i) {
    switch (t.type) {
      case runtime::ElementType::kUint8: v[i] = static_cast<const uint8_t*>(data)[i]; break;
      case runtime::ElementType::kInt8: v[i] = static_cast<const int8_t*>(data)[i]; break;
      case runtime::ElementType::kInt32: v[i] = static_cast<const int32_t*>(data)[i]; break;
      case runtime::ElementType::kFloat32: v[i] = static_cast<const float*>(data)[i]; break;
      default: ADD_FAILURE() << "tensor '" << t.name << "': unexpected type"; return {};
    }
  }
  return v;
}

void WriteElements(const runtime::TensorInfo& t, const std::vector<double>& v, void* data) {
  ASSERT_EQ(static_cast<int64_t>(v.size()), t.shape.FlatSize()) << "input '" << t.name << "'";
  for (size_t i = 0; i < v.size(); ++i) {
    switch (t.type) {
      case runtime::ElementType::kUint8: static_cast<uint8_t*>(data)[i] = static_cast<uint8_t>(v[i]); break;
      case runtime::ElementType::kInt8: static_cast<int8_t*>(data)[i] = static_cast<int8_t>(v[i]); break;
      case runtime::ElementType::kInt32: static_cast<int32_t*>(data)[i] = static_cast<int32_t>(v[i]); break;
      case runtime::ElementType::kFloat32: static_cast<float*>(data)[i] = static_cast<float>(v[i]); break;
      default: FAIL() << "input '" << t.name << "': unexpected type";
    }
  }
}

// Runs a .tflite flatbuffer in tfqat's runtime; returns each output's element values.
absl::StatusOr<std::vector<std::vector<double>>> RunOurRuntime(const std::string& flatbuffer,
                                                               const std::vector<std::vector<double>>& inputs,
                                                               runtime::KernelChoice kernels, int threads) {
  runtime::InterpreterOptions opts;
  opts.kernels = kernels;
  opts.num_threads = threads;
  auto interp = runtime::Interpreter::CreateFromBuffer(flatbuffer, opts);
  if (!interp.ok()) return interp.status();
  if (static_cast<size_t>((*interp)->num_inputs()) != inputs.size())
    return absl::InvalidArgumentError(absl::StrCat("model has ", (*interp)->num_inputs(), " inputs, got ", inputs.size()));
  for (size_t i = 0; i < inputs.size(); ++i) WriteElements((*interp)->input(i), inputs[i], (*interp)->input_data(i));
  if (auto s = (*interp)->Invoke(); !s.ok()) return s;
  std::vector<std::vector<double>> outs;
  for (int k = 0; k < (*interp)->num_outputs(); ++k)
    outs.push_back(ReadElements((*interp)->output(k), (*interp)->output_data(k)));
  return outs;
}

struct Agreement {
  int64_t values = 0, differ = 0;
  double max_diff = 0;  // LSB for integer outputs, relative for float outputs
  std::vector<double> ours;  // our runtime's output values
  void Add(double ours, double peer, bool is_float) {
    ++values;
    const double d = is_float ? std::fabs(ours - peer) / std::max(1.0, std::fabs(peer)) : std::fabs(ours - peer);
    if (ours != peer) ++differ;
    max_diff = std::max(max_diff, d);
  }
};

// Our runtime (reference kernels; and the selected optimized kernels with 2 threads, which must
// agree with the reference bit for bit) against the peer's outputs `tfl` on the same inputs.
std::vector<Agreement> RuntimeVsTflite(const std::string& tag, const std::string& flatbuffer,
                                       const std::vector<std::vector<double>>& inputs, const nlohmann::json& tfl) {
  std::vector<Agreement> result;
  auto ref = RunOurRuntime(flatbuffer, inputs, runtime::KernelChoice::kReference, 1);
  EXPECT_TRUE(ref.ok()) << tag << ": " << ref.status();
  auto fast = RunOurRuntime(flatbuffer, inputs, runtime::KernelChoice::kAuto, 2);
  EXPECT_TRUE(fast.ok()) << tag << ": " << fast.status();
  if (!ref.ok() || !fast.ok()) return result;
  EXPECT_EQ(*ref, *fast) << tag << ": reference and optimized kernels differ";
  const auto& outs = tfl["outputs"];
  EXPECT_EQ(outs.size(), ref->size());
  for (size_t k = 0; k < ref->size() && k < outs.size(); ++k) {
    const auto peer = outs[k]["data"].get<std::vector<double>>();
    const bool is_float = outs[k]["dtype"].get<std::string>() == "float32";
    Agreement a;
    EXPECT_EQ(peer.size(), (*ref)[k].size());
    for (size_t i = 0; i < peer.size() && i < (*ref)[k].size(); ++i) a.Add((*ref)[k][i], peer[i], is_float);
    a.ours = (*ref)[k];
    result.push_back(std::move(a));
  }
  return result;
}

// Every operator of a converted model cut out as a one-operator model, on random inputs: our
// runtime against the peer. Exact, except the ops the peer requantizes in float on XNNPACK (1 LSB
// at most); how often they differ is printed. Returns the number of operators checked.
int PerOperatorVsTflite(const std::string& tag, const std::string& flatbuffer) {
  const int num_ops = static_cast<int>(tflite::GetModel(flatbuffer.data())->subgraphs()->Get(0)->operators()->size());
  std::map<std::string, Agreement> per_op;
  std::mt19937 rng(2024);
  const std::string dir = ScratchDir(tag + "_per_op");
  for (int k = 0; k < num_ops; ++k) {
    std::string op_name;
    const std::string one = runtime::testing::ExtractOperator(flatbuffer, k, &op_name);
    auto interp = runtime::Interpreter::CreateFromBuffer(one, runtime::InterpreterOptions{});
    EXPECT_TRUE(interp.ok()) << tag << " op " << k << " " << op_name << ": " << interp.status();
    if (!interp.ok()) continue;
    std::vector<std::vector<double>> inputs;
    for (int i = 0; i < (*interp)->num_inputs(); ++i) {
      const runtime::TensorInfo& t = (*interp)->input(i);
      std::vector<double> v(t.shape.FlatSize());
      std::uniform_int_distribution<int> u8(0, 255), s8(-128, 127);
      std::uniform_real_distribution<double> f(-2.0, 2.0);
      for (double& e : v) {
        if (t.type == runtime::ElementType::kUint8) e = u8(rng);
        else if (t.type == runtime::ElementType::kInt8) e = s8(rng);
        else e = static_cast<float>(f(rng));
      }
      inputs.push_back(std::move(v));
    }
    const std::string path = absl::StrCat(dir, "/op", k, ".tflite");
    EXPECT_TRUE(WriteString(path, one).ok());
    auto tfl = RunTflite(path, inputs, dir);
    EXPECT_TRUE(tfl.ok()) << tag << " op " << k << " " << op_name << ": " << tfl.status();
    if (!tfl.ok()) continue;
    const auto a = RuntimeVsTflite(absl::StrCat(tag, " op ", k, " ", op_name), one, inputs, *tfl);
    if (a.empty()) continue;
    const bool is_float = (*tfl)["outputs"][0]["dtype"].get<std::string>() == "float32";
    // QUANTIZE between two quantized types (the converter's requantization of a concat input) is
    // delegated to XNNPACK's convert, whose multiplier has 8 fractional bits
    // (lrint(256 * s_in / s_out)) where TFLite's reference kernel uses 31: 1 LSB apart on a
    // fraction of the values that grows with |s_in/s_out - m/256| (measured 6-17 %).
    const bool peer_requantizes = runtime::testing::PeerRequantizesInFloat(op_name) ||
                                  (op_name == "QUANTIZE" && !inputs.empty() &&
                                   (*interp)->input(0).type != runtime::ElementType::kFloat32);
    const double allowed = is_float ? 1e-6 : (peer_requantizes ? 1.0 : 0.0);
    EXPECT_LE(a[0].max_diff, allowed) << tag << " op " << k << " " << op_name << ": " << a[0].differ << " of "
                                      << a[0].values << " values differ from the TFLite interpreter";
    Agreement& s = per_op[inputs.empty() ? op_name
                                         : absl::StrCat(op_name, "(", runtime::ElementTypeName((*interp)->input(0).type), ")")];
    s.values += a[0].values;
    s.differ += a[0].differ;
    s.max_diff = std::max(s.max_diff, a[0].max_diff);
  }
  for (const auto& [op, s] : per_op)
    std::cout << "[per-op] " << tag << " " << op << ": " << s.values << " values, " << s.differ << " differ ("
              << 100.0 * s.differ / std::max<int64_t>(1, s.values) << "%), max " << s.max_diff << "\n";
  return num_ops;
}

class ConformanceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!TfliteRunPath())
      GTEST_SKIP() << "the real TFLite interpreter is missing: " << TFQAT_BINARY_DIR
                   << "/peers/tflite-run/run.js (run scripts/prepare-peers.sh BUILD; needs node)";
  }

  // Converts, runs in TFLite with inputs on the input grid, runs the reference on the same
  // (dequantized) inputs, returns the LSB distance per output.
  std::map<std::string, Measured> RunQuantized(const std::string& tag, const tensorflow::GraphDef& g,
                                               ConvertOptions o, const std::vector<std::string>& outputs,
                                               const std::vector<int64_t>& in_shape, float lo, float hi,
                                               nlohmann::json* tflite_json = nullptr) {
    std::map<std::string, Measured> result;
    o.output_arrays = outputs;
    converter::Diagnostics diag;
    auto r = converter::Convert(g, o, &diag);
    EXPECT_TRUE(r.ok()) << r.status();
    if (!r.ok()) return result;
    const std::string dir = ScratchDir(tag);
    const std::string model = dir + "/model.tflite";
    EXPECT_TRUE(WriteString(model, r->flatbuffer).ok());
    const auto& in_t = r->model.tensors[r->model.inputs[0]];
    std::mt19937 rng(123);
    HostTensor<float> x = RandomTensor(&rng, in_shape, lo, hi);
    std::vector<double> qin;
    HostTensor<float> deq = x;
    for (size_t i = 0; i < x.values.size(); ++i) {
      if (in_t.type == ElemType::kFloat32) {
        qin.push_back(x.values[i]);
        continue;
      }
      const float s = in_t.quant->scale[0];
      const int64_t zp = in_t.quant->zero_point[0];
      const int64_t lo_q = in_t.type == ElemType::kInt8 ? -128 : 0, hi_q = lo_q + 255;
      const int64_t q = std::min(hi_q, std::max(lo_q, static_cast<int64_t>(std::round(x.values[i] / s)) + zp));
      qin.push_back(static_cast<double>(q));
      deq.values[i] = static_cast<float>(q - zp) * s;
    }
    auto tfl = RunTflite(model, {qin}, dir);
    EXPECT_TRUE(tfl.ok()) << tfl.status();
    if (!tfl.ok()) return result;
    if (tflite_json) *tflite_json = *tfl;
    // Our runtime on the same integer inputs: end to end (XNNPACK's 1-LSB differences may
    // compound, so measured and bounded loosely here), then operator by operator (exact).
    const auto rt = RuntimeVsTflite(tag, r->flatbuffer, {qin}, *tfl);
    for (size_t k = 0; k < rt.size(); ++k) {
      std::cout << "[measure] " << tag << " output '" << outputs[k] << "': tfqat runtime vs TFLite: " << rt[k].differ
                << " of " << rt[k].values << " values differ, max " << rt[k].max_diff << " LSB\n";
      EXPECT_LE(rt[k].max_diff, 2.0) << tag << " output '" << outputs[k] << "'";
    }
    EXPECT_GT(PerOperatorVsTflite(tag, r->flatbuffer), 0);
    auto ref = RunReference(g, {{"input", deq}}, outputs);
    EXPECT_TRUE(ref.ok()) << ref.status();
    if (!ref.ok()) return result;
    auto trainer = RunTrainer(g, {{"input", deq}}, outputs);
    EXPECT_TRUE(trainer.ok()) << trainer.status();
    if (!trainer.ok()) return result;
    const auto& outs = (*tfl)["outputs"];
    EXPECT_EQ(outs.size(), outputs.size());
    for (size_t k = 0; k < outputs.size() && k < outs.size(); ++k) {
      EXPECT_EQ(outs[k]["name"].get<std::string>(), outputs[k]);
      // The test's own executor and the trainer's agree on the fake-quant graph; the measured
      // distance is the larger of the two.
      const Measured a = CompareQuantized(outs[k], ref->at(outputs[k]));
      const Measured t = CompareQuantized(outs[k], trainer->at(outputs[k]));
      result[outputs[k]] = t.max_lsb >= a.max_lsb ? t : a;
      std::cout << "[measure] " << tag << " output '" << outputs[k] << "': " << t.count
                << " values, max |TFLite - eval-mode fake-quant graph (trainer executor)| = " << t.max_lsb
                << " LSB (beyond rounding: " << t.over_half << "); vs test executor " << a.max_lsb << " LSB\n";
    }
    // Our runtime against the eval-mode fake-quant graph (the QAT promise, goal 0 LSB).
    for (size_t k = 0; k < rt.size() && k < outputs.size(); ++k) {
      nlohmann::json ours = (*tfl)["outputs"][k];
      ours["data"] = rt[k].ours;
      const Measured m = CompareQuantized(ours, trainer->at(outputs[k]));
      std::cout << "[measure] " << tag << " output '" << outputs[k]
                << "': max |tfqat runtime - eval-mode fake-quant graph| = " << m.max_lsb
                << " LSB (beyond rounding: " << m.over_half << " of " << m.count << ")\n";
      result[outputs[k]].runtime_max_lsb = m.max_lsb;
    }
    return result;
  }
};

TEST_F(ConformanceTest, ResidualNetUint8MatchesFakeQuantGraph) {
  ConvertOptions o;
  o.inference_type = ElemType::kUInt8;
  auto m = RunQuantized("residual_uint8", ResidualNet(), o, {"logits", "probs"}, {2, 8, 8, 3}, -1.f, 1.f);
  ASSERT_EQ(m.size(), 2u);
  // logits are on the FakeQuant grid: integer inference reproduces it to the LSB (measured 0 or
  // rare 1-LSB rounding ties); softmax output is TFLite's fixed 1/256 grid of exp in fixed point.
  EXPECT_LE(m["logits"].max_lsb, 1.0 + 1e-4);
  EXPECT_LE(m["logits"].runtime_max_lsb, 1.0 + 1e-4);  // tfqat's runtime: the same bound
  EXPECT_LE(m["probs"].max_lsb, 2.0);
}

TEST_F(ConformanceTest, ResidualNetInt8PerChannelMatchesFakeQuantGraph) {
  ConvertOptions o;
  o.inference_type = ElemType::kInt8;
  auto m = RunQuantized("residual_int8", ResidualNet(/*per_channel_weights=*/true), o, {"logits", "probs"},
                        {2, 8, 8, 3}, -1.f, 1.f);
  ASSERT_EQ(m.size(), 2u);
  EXPECT_LE(m["logits"].max_lsb, 1.0 + 1e-4);
  EXPECT_LE(m["logits"].runtime_max_lsb, 1.0 + 1e-4);  // tfqat's runtime: the same bound
  EXPECT_LE(m["probs"].max_lsb, 2.0);
}

TEST_F(ConformanceTest, OpsNetUint8AndInt8) {
  for (ElemType t : {ElemType::kUInt8, ElemType::kInt8}) {
    ConvertOptions o;
    o.inference_type = t;
    auto m = RunQuantized(absl::StrCat("ops_", converter::ElemTypeName(t)), OpsNet(), o,
                          {"conv/act_quant", "pool/act_quant", "up/act_quant", "sig", "tanh"}, {1, 10, 10, 4}, -2.f, 2.f);
    ASSERT_EQ(m.size(), 5u);
    EXPECT_LE(m["up/act_quant"].max_lsb, 1.0 + 1e-4);
    EXPECT_LE(m["conv/act_quant"].runtime_max_lsb, 1e-3);  // tfqat's runtime: exact here too
    EXPECT_LE(m["up/act_quant"].runtime_max_lsb, 1.0 + 1e-4);
    // conv output: exact. Average pooling: TFLite rounds the integer mean of 4 values (ties are
    // frequent) while FakeQuant rounds the float mean, so a tie may land 1 LSB apart; that LSB
    // propagates. Sigmoid/tanh: TFLite's fixed-point approximations on their fixed 1/256 and
    // 1/128 grids, of an input that may be 1 LSB off (slope <= 1/4 in units of 8/255).
    EXPECT_LE(m["conv/act_quant"].max_lsb, 1e-3);
    EXPECT_LE(m["pool/act_quant"].max_lsb, 1.0 + 1e-4);
    EXPECT_LE(m["sig"].max_lsb, 3.0);
    EXPECT_LE(m["tanh"].max_lsb, 3.0);
  }
}

TEST_F(ConformanceTest, FloatInputsAndOutputsAroundAnInt8Model) {
  ConvertOptions o;
  o.inference_type = ElemType::kInt8;
  o.inference_input_type = ElemType::kFloat32;
  o.inference_output_type = ElemType::kFloat32;
  o.output_arrays = {"logits"};
  auto r = converter::Convert(ResidualNet(true), o);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->model.ops.front().code, converter::OpCode::kQuantize);
  EXPECT_EQ(r->model.ops.back().code, converter::OpCode::kDequantize);
  const std::string dir = ScratchDir("float_io");
  ASSERT_TRUE(WriteString(dir + "/model.tflite", r->flatbuffer).ok());
  std::mt19937 rng(5);
  HostTensor<float> x = RandomTensor(&rng, {2, 8, 8, 3}, -1.f, 1.f);
  auto tfl = RunTflite(dir + "/model.tflite", {std::vector<double>(x.values.begin(), x.values.end())}, dir);
  ASSERT_TRUE(tfl.ok()) << tfl.status();
  auto ref = RunReference(ResidualNet(true), {{"input", x}}, {"logits"});
  ASSERT_TRUE(ref.ok()) << ref.status();
  const auto data = (*tfl)["outputs"][0]["data"].get<std::vector<double>>();
  ASSERT_EQ(data.size(), ref->at("logits").values.size());
  const double scale = 16.0 / 255.0;
  double max_lsb = 0;
  for (size_t i = 0; i < data.size(); ++i)
    max_lsb = std::max(max_lsb, std::fabs(data[i] - ref->at("logits").values[i]) / scale);
  std::cout << "[measure] float-io int8 model: max |TFLite - fake-quant reference| = " << max_lsb << " LSB\n";
  EXPECT_LE(max_lsb, 1.0 + 1e-3);
  // Our runtime: float in, float out, within the peer's XNNPACK LSB (relative to the logits'
  // scale); the float QUANTIZE / DEQUANTIZE boundary ops exactly, operator by operator.
  const auto rt = RuntimeVsTflite("float_io", r->flatbuffer, {std::vector<double>(x.values.begin(), x.values.end())}, *tfl);
  ASSERT_EQ(rt.size(), 1u);
  std::cout << "[measure] float-io int8 model: tfqat runtime vs TFLite: " << rt[0].differ << " of " << rt[0].values
            << " values differ, max " << rt[0].max_diff / scale << " LSB\n";
  EXPECT_LE(rt[0].max_diff, 2 * scale + 1e-6);
  EXPECT_GT(PerOperatorVsTflite("float_io", r->flatbuffer), 0);
}

TEST_F(ConformanceTest, FloatModelMatchesFloatGraph) {
  struct Case {
    const char* tag;
    tensorflow::GraphDef g;
    std::vector<std::string> outs;
    std::vector<int64_t> shape;
  };
  std::vector<Case> cases = {{"float_residual", ResidualNet(), {"logits", "probs"}, {2, 8, 8, 3}},
                             {"float_ops", OpsNet(), {"sig", "tanh"}, {1, 10, 10, 4}}};
  for (auto& c : cases) {
    ConvertOptions o;
    o.inference_type = ElemType::kFloat32;
    o.output_arrays = c.outs;
    auto r = converter::Convert(c.g, o);
    ASSERT_TRUE(r.ok()) << r.status();
    for (const auto& t : r->model.tensors) EXPECT_NE(t.type, ElemType::kUInt8);
    const std::string dir = ScratchDir(c.tag);
    ASSERT_TRUE(WriteString(dir + "/model.tflite", r->flatbuffer).ok());
    std::mt19937 rng(9);
    HostTensor<float> x = RandomTensor(&rng, c.shape, -1.f, 1.f);
    auto tfl = RunTflite(dir + "/model.tflite", {std::vector<double>(x.values.begin(), x.values.end())}, dir);
    ASSERT_TRUE(tfl.ok()) << tfl.status();
    auto ref = RunReference(c.g, {{"input", x}}, c.outs, /*fake_quant=*/false);
    ASSERT_TRUE(ref.ok()) << ref.status();
    for (size_t k = 0; k < c.outs.size(); ++k) {
      const auto data = (*tfl)["outputs"][k]["data"].get<std::vector<double>>();
      const auto& rv = ref->at(c.outs[k]).values;
      ASSERT_EQ(data.size(), rv.size());
      double max_abs = 0;
      for (size_t i = 0; i < data.size(); ++i) max_abs = std::max(max_abs, std::fabs(data[i] - rv[i]));
      std::cout << "[measure] " << c.tag << " '" << c.outs[k] << "': max |TFLite float - float graph| = " << max_abs << "\n";
      EXPECT_LT(max_abs, 1e-4);
    }
  }
}

// End to end: float graph -> calibrate the activation ranges with the trainer's executor (min/max
// over calibration batches, 0 included, as tf.contrib.quantize's ranges) -> annotated frozen graph
// -> convert -> TFLite vs the eval-mode fake-quant graph on fresh inputs.
TEST_F(ConformanceTest, CalibratedEndToEnd) {
  const std::vector<std::string> acts = {"input/act_quant", "conv1/act_quant", "dw2/act_quant", "conv3/act_quant",
                                         "res/add_quant", "cat/act_quant", "logits"};
  for (bool int8 : {false, true}) {
    constexpr int kBatch = 64;
    auto ex = Executor::Create(ResidualNet(int8, nullptr, /*float_graph=*/true, kBatch), ExecutorOptions{});
    ASSERT_TRUE(ex.ok()) << ex.status();
    Ranges ranges;
    std::mt19937 rng(99);
    for (int batch = 0; batch < 8; ++batch) {
      HostTensor<float> x = RandomTensor(&rng, {kBatch, 8, 8, 3}, -1.f, 1.f);
      auto outs = ex->Run({{"input", Tensor::Float(x.shape, x.values)}}, acts);
      ASSERT_TRUE(outs.ok()) << outs.status();
      for (size_t k = 0; k < acts.size(); ++k) {
        auto& r = ranges[acts[k]];
        for (float v : (*outs)[k].f) {
          r.first = std::min(r.first, v);
          r.second = std::max(r.second, v);
        }
      }
    }
    ConvertOptions o;
    o.inference_type = int8 ? ElemType::kInt8 : ElemType::kUInt8;
    const std::string tag = int8 ? "e2e_int8" : "e2e_uint8";
    auto m = RunQuantized(tag, ResidualNet(int8, &ranges, false, kBatch), o, {"conv1/act_quant", "dw2/act_quant", "conv3/act_quant", "res/add_quant", "cat/act_quant", "logits", "probs"},
                          {kBatch, 8, 8, 3}, -1.f, 1.f);
    ASSERT_EQ(m.size(), 7u);
    std::cout << "[measure] " << tag << ": calibrated logits range [" << ranges["logits"].first << ", "
              << ranges["logits"].second << "]\n";
    // Integer inference reproduces the fake-quant graph except near rounding ties (the int32
    // bias rounding, up to 0.5 * S_in * S_w, and float vs integer accumulation flip them): at
    // most 1 LSB, on a few percent of the logits (measured 28/640 here).
    EXPECT_LE(m["logits"].max_lsb, 1.0 + 1e-4);
    EXPECT_LE(m["logits"].runtime_max_lsb, 1.0 + 1e-4);
    EXPECT_LT(m["logits"].over_half, m["logits"].count / 10);
    EXPECT_LE(m["conv1/act_quant"].over_half, m["conv1/act_quant"].count / 100);
    EXPECT_LE(m["probs"].max_lsb, 2.0);
  }
}

// The whole pipeline with the real components: float graph -> tfqat rewrite (train mode:
// FakeQuant + range variables, EMA updates) -> tfqat train --calibrate-only (the trainer runs the
// update ops) -> tfqat freeze -> convert -> TFLite vs the frozen eval-mode fake-quant graph.
TEST_F(ConformanceTest, RewriteCalibrateFreezeConvertPipeline) {
  constexpr int kBatch = 64;
  for (bool int8 : {false, true}) {
    const tensorflow::GraphDef float_graph = ResidualNet(int8, nullptr, true, kBatch, /*plain=*/true);
    RewriteOptions ro;
    ro.quantize.mode = QuantizeOptions::Mode::kTrain;
    ro.quantize.quantize_inputs = true;
    ro.quantize.symmetric = int8;
    // Per tensor (symmetric in int8): the rewriter's per-channel mode also covers MatMul, whose
    // per-channel weights the converter refuses (TFLite's int8 spec: FULLY_CONNECTED per tensor).
    ro.quantize.per_channel = false;
    ro.quantize.outputs = {"probs"};
    auto rewritten = Rewrite(float_graph, ro);
    ASSERT_TRUE(rewritten.ok()) << rewritten.status();

    std::mt19937 rng(42);
    Dataset calib;
    HostTensor<float> x = RandomTensor(&rng, {8 * kBatch, 8, 8, 3}, -1.f, 1.f);
    calib.x = Tensor::Float(x.shape, x.values);
    for (int i = 0; i < 8 * kBatch; ++i) calib.labels.push_back(i % 10);
    TrainOptions to;
    to.logits = "fc/BiasAdd";
    to.input = "input";
    to.batch = kBatch;
    to.calibrate_only = true;
    to.epochs = 2;
    auto trained = Train(rewritten->graph, calib, nullptr, to);
    ASSERT_TRUE(trained.ok()) << trained.status();

    FreezeOptions fo;
    fo.outputs = {"probs"};
    auto frozen = Freeze(trained->graph, fo);
    ASSERT_TRUE(frozen.ok()) << frozen.status();
    // The logits' FakeQuant (the rewriter names it): the FakeQuant reading fc/BiasAdd.
    std::string logits_fq;
    for (const auto& n : frozen->graph.node())
      if (n.op() == "FakeQuantWithMinMaxVars" && n.input_size() > 0 && n.input(0) == "fc/BiasAdd") logits_fq = n.name();
    ASSERT_FALSE(logits_fq.empty()) << "no FakeQuant after fc/BiasAdd in the frozen graph";

    ConvertOptions o;
    o.inference_type = int8 ? ElemType::kInt8 : ElemType::kUInt8;
    const std::string tag = int8 ? "pipeline_int8" : "pipeline_uint8";
    auto m = RunQuantized(tag, frozen->graph, o, {logits_fq, "probs"}, {kBatch, 8, 8, 3}, -1.f, 1.f);
    ASSERT_EQ(m.size(), 2u);
    // The rewriter leaves conv3's output (an operand of the residual Add) in float; TFLite must
    // quantize it (range derived from the Add, with a warning), so more values sit 1 LSB off
    // than when every tensor was fake-quantized in training (measured ~24% here), never more.
    EXPECT_LE(m[logits_fq].max_lsb, 1.0 + 1e-4);
    EXPECT_LE(m[logits_fq].runtime_max_lsb, 1.0 + 1e-4);
    EXPECT_LE(m["probs"].max_lsb, 3.0);  // softmax of logits up to 1 LSB off (measured 2.2)
  }
}

TEST_F(ConformanceTest, MeanStdUint8InputAroundAnInt8Model) {
  // Legacy camera input: uint8 pixels, real = (q - 128) / 128, into an int8 model whose input
  // FakeQuant range is [-1, 1]: one QUANTIZE (uint8 -> int8 requantize) at the boundary.
  ConvertOptions o;
  o.inference_type = ElemType::kInt8;
  o.inference_input_type = ElemType::kUInt8;
  o.mean_values = {128.f};
  o.std_values = {128.f};
  o.output_arrays = {"logits"};
  auto r = converter::Convert(ResidualNet(true), o);
  ASSERT_TRUE(r.ok()) << r.status();
  const auto& in = r->model.tensors[r->model.inputs[0]];
  EXPECT_EQ(in.type, ElemType::kUInt8);
  EXPECT_FLOAT_EQ(in.quant->scale[0], 1.f / 128.f);
  EXPECT_EQ(in.quant->zero_point[0], 128);
  EXPECT_EQ(r->model.ops.front().code, converter::OpCode::kQuantize);
  const std::string dir = ScratchDir("meanstd");
  ASSERT_TRUE(WriteString(dir + "/model.tflite", r->flatbuffer).ok());
  std::mt19937 rng(3);
  std::uniform_int_distribution<int> d(0, 255);
  std::vector<double> q(2 * 8 * 8 * 3);
  HostTensor<float> real;
  real.shape = {2, 8, 8, 3};
  for (auto& v : q) {
    v = d(rng);
    real.values.push_back(static_cast<float>((v - 128.0) / 128.0));
  }
  auto tfl = RunTflite(dir + "/model.tflite", {q}, dir);
  ASSERT_TRUE(tfl.ok()) << tfl.status();
  auto ref = RunReference(ResidualNet(true), {{"input", real}}, {"logits"});
  ASSERT_TRUE(ref.ok()) << ref.status();
  const Measured m = CompareQuantized((*tfl)["outputs"][0], ref->at("logits"));
  std::cout << "[measure] uint8 mean/std input -> int8 model: max " << m.max_lsb << " LSB\n";
  EXPECT_LE(m.max_lsb, 1.0 + 1e-4);
  const auto rt = RuntimeVsTflite("meanstd", r->flatbuffer, {q}, *tfl);
  ASSERT_EQ(rt.size(), 1u);
  std::cout << "[measure] uint8 mean/std input: tfqat runtime vs TFLite: " << rt[0].differ << " of " << rt[0].values
            << " values differ, max " << rt[0].max_diff << " LSB\n";
  EXPECT_LE(rt[0].max_diff, 2.0);
  EXPECT_GT(PerOperatorVsTflite("meanstd", r->flatbuffer), 0);
}

}  // namespace
}  // namespace tfqat::testing
