// Convolution and pooling arithmetic shared by the forward kernels and the gradients (NHWC).
// Conv2D: direct kernels (conv_direct.h) or im2col + Eigen GEMM, split across the Parallel pool.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "trainer/kernels.h"

namespace tfqat {

struct ConvGeometry {
  int64_t n = 0, h = 0, w = 0, c = 0;  // input NHWC
  int64_t kh = 0, kw = 0;              // window
  int64_t oc = 0;                      // output channels (filter dim 3, or c * multiplier)
  int64_t multiplier = 1;              // depthwise channel multiplier
  int64_t oh = 0, ow = 0;
  int64_t sh = 1, sw = 1, dh = 1, dw = 1;
  int64_t pad_top = 0, pad_left = 0;
};

// Window geometry from the node's strides/dilations/padding (+explicit_paddings) and
// data_format. `in_nhwc` is the input shape already in NHWC; kh/kw/c_out set by the caller.
// For pooling, `ksize_attr` is "ksize"; for conv, empty.
absl::Status ComputeWindow(const KernelContext& ctx, const std::vector<int64_t>& in_nhwc, int64_t kh, int64_t kw,
                           bool pooling, ConvGeometry* g);

bool IsNchw(const tensorflow::NodeDef& node);
// NCHW <-> NHWC copies (4-D).
Tensor NchwToNhwc(const Tensor& t);
Tensor NhwcToNchw(const Tensor& t);

// Conv2D: the direct kernels of conv_direct.h where they apply, else im2col + Eigen GEMM.
void Conv2DForward(const Parallel& par, const ConvGeometry& g, const float* x, const float* w, float* y);
void Conv2DBackwardInput(const Parallel& par, const ConvGeometry& g, const float* dy, const float* w, float* dx);
void Conv2DBackwardFilter(const Parallel& par, const ConvGeometry& g, const float* x, const float* dy, float* dw);
// The im2col + GEMM forms (any geometry); the direct kernels are checked against these.
void Im2ColConv2DForward(const Parallel& par, const ConvGeometry& g, const float* x, const float* w, float* y);
void Im2ColConv2DBackwardInput(const Parallel& par, const ConvGeometry& g, const float* dy, const float* w,
                               float* dx);
void Im2ColConv2DBackwardFilter(const Parallel& par, const ConvGeometry& g, const float* x, const float* dy,
                                float* dw);
void DepthwiseForward(const Parallel& par, const ConvGeometry& g, const float* x, const float* w, float* y);
void DepthwiseBackwardInput(const Parallel& par, const ConvGeometry& g, const float* dy, const float* w, float* dx);
void DepthwiseBackwardFilter(const Parallel& par, const ConvGeometry& g, const float* x, const float* dy, float* dw);

void MaxPoolForward(const Parallel& par, const ConvGeometry& g, const float* x, float* y);
void MaxPoolBackward(const Parallel& par, const ConvGeometry& g, const float* x, const float* dy, float* dx);
void AvgPoolForward(const Parallel& par, const ConvGeometry& g, const float* x, float* y);
void AvgPoolBackward(const Parallel& par, const ConvGeometry& g, const float* dy, float* dx);

}  // namespace tfqat
