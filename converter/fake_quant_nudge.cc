#include "converter/fake_quant_nudge.h"

#include <algorithm>
#include <cmath>

#include "trainer/fake_quant.h"

namespace tfqat::converter {

// Both functions delegate to the trainer's FakeQuant arithmetic (trainer/fake_quant.h), so the
// converter's grid is the one training simulated by construction, not by a second implementation.

NudgedRange NudgeFakeQuantRange(float min, float max, int num_bits, bool narrow_range) {
  const tfqat::FakeQuantRange k = tfqat::NudgeFakeQuantRange(min, max, num_bits, narrow_range);
  NudgedRange r;
  r.quant_min = narrow_range ? 1 : 0;
  r.quant_max = (1 << num_bits) - 1;
  r.scale = k.scale;
  r.nudged_min = k.nudged_min;
  r.nudged_max = k.nudged_max;
  // nudged_min = (quant_min - zero_point) * scale exactly up to one float rounding: recover the
  // integer zero point the kernel chose.
  r.zero_point = r.quant_min - static_cast<int32_t>(std::lround(k.nudged_min / k.scale));
  return r;
}

int32_t FakeQuantGridIndex(const NudgedRange& r, float x) {
  tfqat::FakeQuantRange k;
  k.scale = r.scale;
  k.nudged_min = r.nudged_min;
  k.nudged_max = r.nudged_max;
  float y = 0.f;
  tfqat::FakeQuantArray(k, &x, &y, 1);  // the value training used
  const int32_t top = r.quant_max - r.quant_min;
  const int32_t index = static_cast<int32_t>(std::lround((y - r.nudged_min) / r.scale));
  return std::min(std::max(index, 0), top);
}

}  // namespace tfqat::converter
