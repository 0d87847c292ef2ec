// Direct (implicit-im2col) Conv2D forward and filter gradient for windows that lie inside the
// input (VALID-style geometry, any stride/dilation) and output depths that are a multiple of 8.
// Same signatures as Conv2DForward / Conv2DBackwardFilter (conv.h), which call these when
// DirectConvApplies(g): register-tiled multiply-adds read the patches straight from the NHWC
// input through a per-tap offset table, so neither the im2col copy nor GEMM packing is made.
//
// Each output element is one sequential sum in a fixed order (over the window for the forward,
// over the batch's output pixels for the filter gradient, over each image's pixels and taps for
// the input gradient), so results do not depend on the thread count.
#pragma once

#include "trainer/conv.h"

namespace tfqat {

bool DirectConvApplies(const ConvGeometry& g);
void DirectConv2DForward(const Parallel& par, const ConvGeometry& g, const float* x, const float* w, float* y);
void DirectConv2DBackwardFilter(const Parallel& par, const ConvGeometry& g, const float* x, const float* dy,
                                float* dw);
// The input gradient also needs the window's contiguous runs (kw * c, or c when dilated along
// the width) to be a multiple of 8 floats.
bool DirectConvInputApplies(const ConvGeometry& g);
void DirectConv2DBackwardInput(const Parallel& par, const ConvGeometry& g, const float* dy, const float* w,
                               float* dx);

}  // namespace tfqat
