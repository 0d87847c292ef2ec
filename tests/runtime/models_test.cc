// Real models from shared/testdata/tflite with known answers (no peer needed).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "runtime/interpreter.h"

namespace tfqat::runtime {
namespace {

std::string Data(const std::string& rel) { return std::string(TFQAT_SHARED_DIR) + "/testdata/tflite/" + rel; }

// 8-bit grayscale BMP -> row-major top-down pixels.
std::vector<uint8_t> ReadBmp8(const std::string& path, int* w, int* h) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  const std::string b = ss.str();
  auto u32 = [&](int o) { uint32_t v; std::memcpy(&v, b.data() + o, 4); return v; };
  auto i32 = [&](int o) { int32_t v; std::memcpy(&v, b.data() + o, 4); return v; };
  const uint32_t off = u32(10);
  *w = i32(18);
  const int32_t hh = i32(22);
  *h = hh < 0 ? -hh : hh;
  const int row = (*w + 3) / 4 * 4;
  std::vector<uint8_t> px(static_cast<size_t>(*w) * *h);
  for (int y = 0; y < *h; ++y) {
    const int src_row = hh > 0 ? *h - 1 - y : y;
    std::memcpy(px.data() + static_cast<size_t>(y) * *w, b.data() + off + static_cast<size_t>(src_row) * row, *w);
  }
  return px;
}

// TFLite Micro's person_detection example: person.bmp must score "person" (index 1) above
// "no person" (index 0) and no_person.bmp the other way round. Like the example (its
// generate_cc_arrays.py stores PIL tobytes() in an int8 array), the pixel bytes are the int8
// input values reinterpreted.
TEST(Models, PersonDetection) {
  const std::string model = Data("models/person_detect.tflite");
  if (!std::filesystem::exists(model)) GTEST_SKIP() << "missing " << model;
  auto it_or = Interpreter::Create(model, InterpreterOptions{});
  ASSERT_TRUE(it_or.ok()) << it_or.status().message();
  auto& it = *it_or;
  for (const char* img : {"person", "no_person"}) {
    int w = 0, h = 0;
    const auto px = ReadBmp8(Data(std::string("person_detection/") + img + ".bmp"), &w, &h);
    ASSERT_EQ(w, 96);
    ASSERT_EQ(h, 96);
    int8_t* in = static_cast<int8_t*>(it->input_data(0));
    for (size_t i = 0; i < px.size(); ++i) in[i] = static_cast<int8_t>(px[i]);
    ASSERT_TRUE(it->Invoke().ok());
    const int8_t* out = static_cast<const int8_t*>(it->output_data(0));
    std::printf("[person_detect] %s: no_person %d, person %d\n", img, out[0], out[1]);
    if (std::string(img) == "person") {
      EXPECT_GT(out[1], out[0]);
    } else {
      EXPECT_GT(out[0], out[1]);
    }
  }
}

// hello_world: the int8 model approximates sin(x); its dequantized output is within 0.06 of the
// float model's (MANIFEST.md) and of sin(x) within 0.1 on [0, 6].
TEST(Models, HelloWorldInt8TracksFloat) {
  const std::string qm = Data("hello_world/hello_world_int8.tflite");
  const std::string fm = Data("hello_world/hello_world_float.tflite");
  if (!std::filesystem::exists(qm)) GTEST_SKIP() << "missing " << qm;
  auto q = std::move(*Interpreter::Create(qm, {}));
  auto f = std::move(*Interpreter::Create(fm, {}));
  const TensorInfo& qi = q->input(0);
  const TensorInfo& qo = q->output(0);
  for (float x = 0.f; x <= 6.f; x += 0.5f) {
    *static_cast<float*>(f->input_data(0)) = x;
    int32_t qx = static_cast<int32_t>(std::round(x / qi.scale)) + qi.zero_point;
    qx = std::max(-128, std::min(127, qx));
    *static_cast<int8_t*>(q->input_data(0)) = static_cast<int8_t>(qx);
    ASSERT_TRUE(f->Invoke().ok());
    ASSERT_TRUE(q->Invoke().ok());
    const float fy = *static_cast<const float*>(f->output_data(0));
    const float qy = qo.scale * (*static_cast<const int8_t*>(q->output_data(0)) - qo.zero_point);
    EXPECT_NEAR(qy, fy, 0.06) << "x=" << x;
    EXPECT_NEAR(fy, std::sin(x), 0.1) << "x=" << x;
  }
}

}  // namespace
}  // namespace tfqat::runtime
