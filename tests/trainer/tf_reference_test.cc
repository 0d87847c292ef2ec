// Runs every graph of shared/testdata/tf with TensorFlow reference outputs (opencv_extra
// _in/_out.npy, dl4j csv) whose ops the executor supports, and compares the outputs:
// max |ours - tf| <= 1e-4 * max(1, max |tf|).
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "graph/graph_io.h"
#include "graph/npy.h"
#include "gtest/gtest.h"
#include "trainer/executor.h"

namespace tfqat {
namespace {

namespace fs = std::filesystem;

const std::string kTfDir = std::string(TFQAT_SHARED_DIR) + "/testdata/tf";

struct Outcome {
  std::string name;
  enum { kPass, kMismatch, kUnsupported, kError } kind;
  std::string detail;
};

Tensor ToNhwc(const Tensor& t) {  // from NCHW
  if (t.rank() != 4) return t;
  Tensor o = t;
  const int64_t n = t.shape[0], c = t.shape[1], h = t.shape[2], w = t.shape[3];
  o.shape = {n, h, w, c};
  for (int64_t b = 0; b < n; ++b)
    for (int64_t ch = 0; ch < c; ++ch)
      for (int64_t p = 0; p < h * w; ++p) o.f[(b * h * w + p) * c + ch] = t.f[(b * c + ch) * h * w + p];
  return o;
}

// Returns "" when equal within tolerance, else a description.
std::string Compare(const Tensor& got, const std::vector<double>& want, const std::vector<int64_t>& shape,
                    double tolerance = 1e-4) {
  if (got.num_elements() != static_cast<int64_t>(want.size())) {
    return "element count " + std::to_string(got.num_elements()) + " vs " + std::to_string(want.size()) + " shape " +
           got.ShapeString();
  }
  double scale = 1.0, err = 0.0;
  for (double v : want) if (std::isfinite(v)) scale = std::max(scale, std::fabs(v));
  for (size_t e = 0; e < want.size(); ++e) {
    double g = got.AsDouble(e);
    if (std::isnan(want[e]) && std::isnan(g)) continue;
    if (std::isinf(want[e]) && g == want[e]) continue;
    err = std::max(err, std::fabs(g - want[e]));
    if (std::isnan(g)) err = INFINITY;
  }
  if (err <= tolerance * scale) return "";
  std::ostringstream os;
  os << "max abs err " << err << " (scale " << scale << ")";
  return os.str();
}

Outcome Classify(const std::string& name, const absl::Status& st) {
  if (st.code() == absl::StatusCode::kUnimplemented) return {name, Outcome::kUnsupported, std::string(st.message())};
  return {name, Outcome::kError, std::string(st.message())};
}

// opencv_extra: the MANIFEST table gives the placeholder and output node of each NAME.
std::vector<Outcome> RunOpenCv() {
  std::vector<Outcome> results;
  std::ifstream manifest(kTfDir + "/MANIFEST.md");
  std::string line;
  bool in_table = false;
  while (std::getline(manifest, line)) {
    if (absl::StartsWith(line, "### opencv_extra")) in_table = true;
    else if (absl::StartsWith(line, "### ")) in_table = false;
    if (!in_table || !absl::StartsWith(line, "| ") || absl::StartsWith(line, "| NAME")) continue;
    std::vector<std::string> cols = absl::StrSplit(line, '|');
    if (cols.size() < 10) continue;
    std::string name(absl::StripAsciiWhitespace(cols[1]));
    std::string base = kTfDir + "/opencv_extra/" + name;
    if (!fs::exists(base + "_net.pb") || !fs::exists(base + "_in.npy")) continue;
    std::vector<std::string> ph_parts = absl::StrSplit(cols[5], '`');
    std::vector<std::string> out_parts = absl::StrSplit(cols[7], '`');
    if (ph_parts.size() < 2 || out_parts.size() < 2) continue;
    // The float placeholder is the last backticked name; bool ones are fed false.
    std::map<std::string, Tensor> feeds;
    std::string input;
    for (size_t k = 1; k < ph_parts.size(); k += 2) {
      std::string after = k + 1 < ph_parts.size() ? ph_parts[k + 1] : "";
      if (absl::StrContains(after, "BOOL")) feeds[ph_parts[k]] = Tensor::Int(tensorflow::DT_BOOL, {}, {0});
      else input = ph_parts[k];
    }
    const bool raw = name == "conv_pool_nchw";
    auto graph = LoadGraphDef(base + "_net.pb");
    auto in = ReadNpy(base + "_in.npy");
    auto want = ReadNpy(base + "_out.npy");
    if (!graph.ok() || !in.ok() || !want.ok()) { results.push_back({name, Outcome::kError, "unreadable files"}); continue; }
    auto in_t = TensorFromNpy(*in);
    Tensor x = raw ? *in_t : ToNhwc(*in_t);
    feeds[input] = x;
    ExecutorOptions opts;
    opts.check_all_ops = false;
    auto ex = Executor::Create(*graph, opts);
    if (!ex.ok()) { results.push_back(Classify(name, ex.status())); continue; }
    auto out = ex->Run(feeds, {out_parts[1]});
    if (!out.ok()) { results.push_back(Classify(name, out.status())); continue; }
    Tensor w = *TensorFromNpy(*want);
    if (!raw) w = ToNhwc(w);
    std::vector<double> wv(w.f.begin(), w.f.end());
    // fp16 graphs: TF computed in half precision, the executor computes half in float32; the
    // comparison allows half's rounding (2^-8 relative) there.
    const bool half = absl::StartsWith(name, "fp16_");
    std::string diff = Compare((*out)[0], wv, w.shape, half ? 4e-3 : 1e-4);
    results.push_back({name, diff.empty() ? Outcome::kPass : Outcome::kMismatch, diff});
  }
  return results;
}

bool ReadCsvTensor(const std::string& csv, std::vector<double>* values, std::vector<int64_t>* shape) {
  std::ifstream f(csv);
  if (!f) return false;
  std::string s;
  while (std::getline(f, s)) {
    if (s.empty()) continue;
    std::string t(absl::StripAsciiWhitespace(s));
    if (t == "true") values->push_back(1);
    else if (t == "false") values->push_back(0);
    else values->push_back(std::strtod(t.c_str(), nullptr));
  }
  std::string shape_path = csv.substr(0, csv.size() - 4) + ".shape";
  std::ifstream sf(shape_path);
  while (std::getline(sf, s)) {
    if (!s.empty()) shape->push_back(std::stoll(s));
  }
  return true;
}

std::vector<Outcome> RunDl4j() {
  std::vector<Outcome> results;
  std::vector<fs::path> dirs;
  for (auto& e : fs::recursive_directory_iterator(kTfDir + "/dl4j")) {
    if (e.path().filename() == "frozen_model.pb") dirs.push_back(e.path().parent_path());
  }
  std::sort(dirs.begin(), dirs.end());
  for (const auto& dir : dirs) {
    std::string name = fs::relative(dir, kTfDir).string();
    std::map<std::string, Tensor> feeds;
    std::vector<std::pair<std::string, std::string>> outputs;  // fetch, csv
    for (auto& e : fs::recursive_directory_iterator(dir)) {
      std::string rel = fs::relative(e.path(), dir).string();
      if (absl::EndsWith(rel, ".placeholder.csv")) {
        std::vector<double> v;
        std::vector<int64_t> shape;
        ReadCsvTensor(e.path().string(), &v, &shape);
        feeds[rel.substr(0, rel.size() - 16)] = Tensor::Float(shape, std::vector<float>(v.begin(), v.end()));
      } else if (absl::EndsWith(rel, ".prediction.csv")) {
        std::string node = rel.substr(0, rel.size() - 15);
        auto dot = node.rfind('.');
        if (dot != std::string::npos && dot + 1 < node.size() &&
            std::all_of(node.begin() + dot + 1, node.end(), ::isdigit)) {
          node = node.substr(0, dot) + ":" + node.substr(dot + 1);
        }
        outputs.push_back({node, e.path().string()});
      }
    }
    if (outputs.empty()) continue;
    auto graph = LoadGraphDef((dir / "frozen_model.pb").string());
    if (!graph.ok()) { results.push_back({name, Outcome::kError, std::string(graph.status().message())}); continue; }
    // Feeds must match the placeholder dtype class (int placeholders get ints).
    for (const auto& node : graph->node()) {
      auto it = feeds.find(node.name());
      if (it == feeds.end() || node.op() != "Placeholder") continue;
      auto dt = node.attr().find("dtype");
      if (dt != node.attr().end() && !IsFloatType(dt->second.type())) {
        Tensor& t = it->second;
        std::vector<int64_t> iv(t.f.begin(), t.f.end());
        t = Tensor::Int(dt->second.type(), t.shape, iv);
      }
    }
    ExecutorOptions opts;
    opts.check_all_ops = false;
    auto ex = Executor::Create(*graph, opts);
    if (!ex.ok()) { results.push_back(Classify(name, ex.status())); continue; }
    std::vector<std::string> fetches;
    for (auto& o : outputs) fetches.push_back(o.first);
    auto out = ex->Run(feeds, fetches);
    if (!out.ok()) { results.push_back(Classify(name, out.status())); continue; }
    std::string diff;
    for (size_t k = 0; k < outputs.size() && diff.empty(); ++k) {
      std::vector<double> want;
      std::vector<int64_t> shape;
      ReadCsvTensor(outputs[k].second, &want, &shape);
      const bool half = absl::StrContains(name, "float16");
      diff = Compare((*out)[k], want, shape, half ? 4e-3 : 1e-4);
      if (!diff.empty()) diff = outputs[k].first + ": " + diff;
    }
    results.push_back({name, diff.empty() ? Outcome::kPass : Outcome::kMismatch, diff});
  }
  return results;
}

TEST(TfReference, SupportedGraphsMatchTensorFlow) {
  if (!fs::exists(kTfDir + "/MANIFEST.md")) GTEST_SKIP() << "missing " << kTfDir;
  auto results = RunOpenCv();
  auto dl4j = RunDl4j();
  results.insert(results.end(), dl4j.begin(), dl4j.end());
  int pass = 0, unsupported = 0, errors = 0, mismatch = 0;
  for (const auto& r : results) {
    switch (r.kind) {
      case Outcome::kPass: ++pass; break;
      case Outcome::kUnsupported: ++unsupported; std::cout << "  unsupported " << r.name << ": " << r.detail << "\n"; break;
      case Outcome::kError: ++errors; std::cout << "  ERROR " << r.name << ": " << r.detail << "\n"; break;
      case Outcome::kMismatch: ++mismatch; std::cout << "  MISMATCH " << r.name << ": " << r.detail << "\n"; break;
    }
  }
  std::cout << "TF reference graphs: " << pass << " pass, " << mismatch << " mismatch, " << errors
            << " errors, " << unsupported << " unsupported (of " << results.size() << ")\n";
  EXPECT_GT(pass, 100);
  EXPECT_EQ(mismatch, 0);
}

}  // namespace
}  // namespace tfqat
