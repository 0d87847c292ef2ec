// Synthetic calibration data for the MobileNet example: N images 224x224x3 in [-1, 1]
// (MobileNet's input range; smooth random blobs, fixed seed), random labels, and the first image
// alone (for `tfqat run` on the batch-1 model).
// Usage: tfqat_example_mobilenet_data IMAGES.npy LABELS.npy N [FIRST.npy]
#include <cmath>
#include <iostream>
#include <random>

#include "absl/strings/numbers.h"
#include "graph/npy.h"

int main(int argc, char** argv) {
  int n = 0;
  if (argc < 4 || argc > 5 || !absl::SimpleAtoi(argv[3], &n) || n <= 0) {
    std::cerr << "usage: tfqat_example_mobilenet_data IMAGES.npy LABELS.npy N [FIRST.npy]\n";
    return 2;
  }
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> u(0.f, 1.f);
  const int hw = 224, c = 3;
  std::vector<float> x(static_cast<size_t>(n) * hw * hw * c);
  std::vector<int64_t> shape = {n, hw, hw, c};
  for (int i = 0; i < n; ++i) {
    // A few low-frequency cosines per channel: image-like, not white noise.
    float fx[c], fy[c], ph[c];
    for (int k = 0; k < c; ++k) { fx[k] = 1 + 6 * u(rng); fy[k] = 1 + 6 * u(rng); ph[k] = 6.283f * u(rng); }
    for (int y = 0; y < hw; ++y)
      for (int xx = 0; xx < hw; ++xx)
        for (int k = 0; k < c; ++k)
          x[((static_cast<size_t>(i) * hw + y) * hw + xx) * c + k] =
              std::cos(fx[k] * xx / hw * 3.1416f + ph[k]) * std::cos(fy[k] * y / hw * 3.1416f) * 0.9f +
              0.1f * (2 * u(rng) - 1);
  }
  tfqat::NpyArray labels = tfqat::NpyArray::Zeros(tfqat::NpyDType::kInt32, {n});
  for (int i = 0; i < n; ++i) labels.mutable_as<int32_t>()[i] = static_cast<int32_t>(rng() % 1001);
  auto st = tfqat::WriteNpy(argv[1], tfqat::NpyArray::FromFloat(shape, x));
  if (st.ok()) st = tfqat::WriteNpy(argv[2], labels);
  if (st.ok() && argc == 5) {
    std::vector<float> first(x.begin(), x.begin() + hw * hw * c);
    st = tfqat::WriteNpy(argv[4], tfqat::NpyArray::FromFloat({1, hw, hw, c}, first));
  }
  if (!st.ok()) {
    std::cerr << "tfqat_example_mobilenet_data: " << st.message() << "\n";
    return 2;
  }
  return 0;
}
