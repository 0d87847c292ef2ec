// CONV_2D, DEPTHWISE_CONV_2D, TRANSPOSE_CONV reference kernels (TFLite reference arithmetic).
#include <algorithm>
#include <cstring>

#include "runtime/fixed_point.h"
#include "runtime/reference/reference_kernels.h"

namespace tfqat::runtime::reference {
namespace {

template <typename T>
inline T Requant(int32_t acc, const ConvParams& p, int oc) {
  acc = MultiplyByQuantizedMultiplier(acc, p.output_multiplier[oc], p.output_shift[oc]);
  acc += p.output_offset;
  acc = std::min(std::max(acc, p.act.act_min), p.act.act_max);
  return static_cast<T>(acc);
}

template <typename T>
void ConvQuantized(const ConvParams& p, const Shape& is, const T* input, const Shape& fs,
                   const T* filter, const int32_t* bias, const Shape& os, T* output) {
  const int batches = is.Dim(0), in_h = is.Dim(1), in_w = is.Dim(2), in_d = is.Dim(3);
  const int out_h = os.Dim(1), out_w = os.Dim(2), out_d = os.Dim(3);
  const int f_h = fs.Dim(1), f_w = fs.Dim(2), f_d = fs.Dim(3);
  const int groups = in_d / f_d;
  const int oc_per_group = out_d / groups;
  for (int b = 0; b < batches; ++b) {
    for (int oy = 0; oy < out_h; ++oy) {
      const int iy0 = oy * p.stride_height - p.pad_height;
      for (int ox = 0; ox < out_w; ++ox) {
        const int ix0 = ox * p.stride_width - p.pad_width;
        for (int oc = 0; oc < out_d; ++oc) {
          const int g = oc / oc_per_group;
          int32_t acc = 0;
          for (int fy = 0; fy < f_h; ++fy) {
            const int iy = iy0 + p.dilation_height * fy;
            if (iy < 0 || iy >= in_h) continue;
            for (int fx = 0; fx < f_w; ++fx) {
              const int ix = ix0 + p.dilation_width * fx;
              if (ix < 0 || ix >= in_w) continue;
              const T* in_px = input + ((static_cast<int64_t>(b) * in_h + iy) * in_w + ix) * in_d +
                               g * f_d;
              const T* f_px = filter + ((static_cast<int64_t>(oc) * f_h + fy) * f_w + fx) * f_d;
              for (int ic = 0; ic < f_d; ++ic) {
                acc += (static_cast<int32_t>(f_px[ic]) + p.weights_offset) *
                       (static_cast<int32_t>(in_px[ic]) + p.input_offset);
              }
            }
          }
          if (bias) acc += bias[oc];
          output[((static_cast<int64_t>(b) * out_h + oy) * out_w + ox) * out_d + oc] =
              Requant<T>(acc, p, oc);
        }
      }
    }
  }
}

template <typename T>
void DepthwiseQuantized(const ConvParams& p, const Shape& is, const T* input, const Shape& fs,
                        const T* filter, const int32_t* bias, const Shape& os, T* output) {
  const int batches = is.Dim(0), in_h = is.Dim(1), in_w = is.Dim(2), in_d = is.Dim(3);
  const int out_h = os.Dim(1), out_w = os.Dim(2), out_d = os.Dim(3);
  const int f_h = fs.Dim(1), f_w = fs.Dim(2);
  const int dm = p.depth_multiplier;
  for (int b = 0; b < batches; ++b) {
    for (int oy = 0; oy < out_h; ++oy) {
      for (int ox = 0; ox < out_w; ++ox) {
        for (int ic = 0; ic < in_d; ++ic) {
          for (int m = 0; m < dm; ++m) {
            const int oc = ic * dm + m;
            const int ix0 = ox * p.stride_width - p.pad_width;
            const int iy0 = oy * p.stride_height - p.pad_height;
            int32_t acc = 0;
            for (int fy = 0; fy < f_h; ++fy) {
              const int iy = iy0 + p.dilation_height * fy;
              if (iy < 0 || iy >= in_h) continue;
              for (int fx = 0; fx < f_w; ++fx) {
                const int ix = ix0 + p.dilation_width * fx;
                if (ix < 0 || ix >= in_w) continue;
                const int32_t iv =
                    input[((static_cast<int64_t>(b) * in_h + iy) * in_w + ix) * in_d + ic];
                const int32_t fv = filter[(static_cast<int64_t>(fy) * f_w + fx) * out_d + oc];
                acc += (fv + p.weights_offset) * (iv + p.input_offset);
              }
            }
            if (bias) acc += bias[oc];
            output[((static_cast<int64_t>(b) * out_h + oy) * out_w + ox) * out_d + oc] =
                Requant<T>(acc, p, oc);
          }
        }
      }
    }
  }
}

template <typename T>
void TransposeQuantized(const ConvParams& p, const Shape& is, const T* input, const Shape& fs,
                        const T* filter, const int32_t* bias, const Shape& os, T* output,
                        const KernelContext& ctx) {
  const int batches = is.Dim(0), in_h = is.Dim(1), in_w = is.Dim(2), in_d = is.Dim(3);
  const int out_h = os.Dim(1), out_w = os.Dim(2), out_d = os.Dim(3);
  const int f_h = fs.Dim(1), f_w = fs.Dim(2);
  int32_t* acc = reinterpret_cast<int32_t*>(ctx.scratch);
  const int64_t n = os.FlatSize();
  std::fill(acc, acc + n, 0);
  for (int b = 0; b < batches; ++b) {
    for (int iy = 0; iy < in_h; ++iy) {
      for (int ix = 0; ix < in_w; ++ix) {
        for (int ic = 0; ic < in_d; ++ic) {
          const int ox0 = ix * p.stride_width - p.pad_width;
          const int oy0 = iy * p.stride_height - p.pad_height;
          const int32_t iv =
              static_cast<int32_t>(input[((static_cast<int64_t>(b) * in_h + iy) * in_w + ix) * in_d + ic]) +
              p.input_offset;
          for (int fy = 0; fy < f_h; ++fy) {
            const int oy = oy0 + fy;
            if (oy < 0 || oy >= out_h) continue;
            for (int fx = 0; fx < f_w; ++fx) {
              const int ox = ox0 + fx;
              if (ox < 0 || ox >= out_w) continue;
              for (int oc = 0; oc < out_d; ++oc) {
                const int32_t fv =
                    filter[((static_cast<int64_t>(oc) * f_h + fy) * f_w + fx) * in_d + ic];
                acc[((static_cast<int64_t>(b) * out_h + oy) * out_w + ox) * out_d + oc] +=
                    iv * (fv + p.weights_offset);
              }
            }
          }
        }
      }
    }
  }
  for (int64_t i = 0; i < n; ++i) {
    const int oc = static_cast<int>(i % out_d);
    int32_t a = acc[i];
    if (bias) a += bias[oc];
    output[i] = Requant<T>(a, p, oc);
  }
}

inline float ClampF(float v, const ActivationRange& act) {
  return std::min(std::max(v, act.float_act_min), act.float_act_max);
}

}  // namespace

void ConvInt8(const ConvParams& p, const Shape& is, const int8_t* in, const Shape& fs,
              const int8_t* f, const Shape&, const int32_t* bias, const Shape& os, int8_t* out,
              const KernelContext&) {
  ConvQuantized(p, is, in, fs, f, bias, os, out);
}
void ConvUint8(const ConvParams& p, const Shape& is, const uint8_t* in, const Shape& fs,
               const uint8_t* f, const Shape&, const int32_t* bias, const Shape& os, uint8_t* out,
               const KernelContext&) {
  ConvQuantized(p, is, in, fs, f, bias, os, out);
}
void DepthwiseConvInt8(const ConvParams& p, const Shape& is, const int8_t* in, const Shape& fs,
                       const int8_t* f, const Shape&, const int32_t* bias, const Shape& os,
                       int8_t* out, const KernelContext&) {
  DepthwiseQuantized(p, is, in, fs, f, bias, os, out);
}
void DepthwiseConvUint8(const ConvParams& p, const Shape& is, const uint8_t* in, const Shape& fs,
                        const uint8_t* f, const Shape&, const int32_t* bias, const Shape& os,
                        uint8_t* out, const KernelContext&) {
  DepthwiseQuantized(p, is, in, fs, f, bias, os, out);
}
void TransposeConvInt8(const ConvParams& p, const Shape& is, const int8_t* in, const Shape& fs,
                       const int8_t* f, const Shape&, const int32_t* bias, const Shape& os,
                       int8_t* out, const KernelContext& ctx) {
  TransposeQuantized(p, is, in, fs, f, bias, os, out, ctx);
}
void TransposeConvUint8(const ConvParams& p, const Shape& is, const uint8_t* in, const Shape& fs,
                        const uint8_t* f, const Shape&, const int32_t* bias, const Shape& os,
                        uint8_t* out, const KernelContext& ctx) {
  TransposeQuantized(p, is, in, fs, f, bias, os, out, ctx);
}

void ConvFloat(const ConvParams& p, const Shape& is, const float* input, const Shape& fs,
               const float* filter, const Shape&, const float* bias, const Shape& os,
               float* output, const KernelContext&) {
  const int batches = is.Dim(0), in_h = is.Dim(1), in_w = is.Dim(2), in_d = is.Dim(3);
  const int out_h = os.Dim(1), out_w = os.Dim(2), out_d = os.Dim(3);
  const int f_h = fs.Dim(1), f_w = fs.Dim(2), f_d = fs.Dim(3);
  const int groups = in_d / f_d;
  const int oc_per_group = out_d / groups;
  for (int b = 0; b < batches; ++b)
    for (int oy = 0; oy < out_h; ++oy)
      for (int ox = 0; ox < out_w; ++ox)
        for (int oc = 0; oc < out_d; ++oc) {
          const int g = oc / oc_per_group;
          float total = 0.f;
          for (int fy = 0; fy < f_h; ++fy) {
            const int iy = oy * p.stride_height - p.pad_height + p.dilation_height * fy;
            if (iy < 0 || iy >= in_h) continue;
            for (int fx = 0; fx < f_w; ++fx) {
              const int ix = ox * p.stride_width - p.pad_width + p.dilation_width * fx;
              if (ix < 0 || ix >= in_w) continue;
              const float* in_px =
                  input + ((static_cast<int64_t>(b) * in_h + iy) * in_w + ix) * in_d + g * f_d;
              const float* f_px =
                  filter + ((static_cast<int64_t>(oc) * f_h + fy) * f_w + fx) * f_d;
              for (int ic = 0; ic < f_d; ++ic) total += in_px[ic] * f_px[ic];
            }
          }
          if (bias) total += bias[oc];
          output[((static_cast<int64_t>(b) * out_h + oy) * out_w + ox) * out_d + oc] =
              ClampF(total, p.act);
        }
}

void DepthwiseConvFloat(const ConvParams& p, const Shape& is, const float* input,
                        const Shape& fs, const float* filter, const Shape&, const float* bias,
                        const Shape& os, float* output, const KernelContext&) {
  const int batches = is.Dim(0), in_h = is.Dim(1), in_w = is.Dim(2), in_d = is.Dim(3);
  const int out_h = os.Dim(1), out_w = os.Dim(2), out_d = os.Dim(3);
  const int f_h = fs.Dim(1), f_w = fs.Dim(2);
  const int dm = p.depth_multiplier;
  for (int b = 0; b < batches; ++b)
    for (int oy = 0; oy < out_h; ++oy)
      for (int ox = 0; ox < out_w; ++ox)
        for (int ic = 0; ic < in_d; ++ic)
          for (int m = 0; m < dm; ++m) {
            const int oc = ic * dm + m;
            float total = 0.f;
            for (int fy = 0; fy < f_h; ++fy) {
              const int iy = oy * p.stride_height - p.pad_height + p.dilation_height * fy;
              if (iy < 0 || iy >= in_h) continue;
              for (int fx = 0; fx < f_w; ++fx) {
                const int ix = ox * p.stride_width - p.pad_width + p.dilation_width * fx;
                if (ix < 0 || ix >= in_w) continue;
                total += input[((static_cast<int64_t>(b) * in_h + iy) * in_w + ix) * in_d + ic] *
                         filter[(static_cast<int64_t>(fy) * f_w + fx) * out_d + oc];
              }
            }
            if (bias) total += bias[oc];
            output[((static_cast<int64_t>(b) * out_h + oy) * out_w + ox) * out_d + oc] =
                ClampF(total, p.act);
          }
}

void TransposeConvFloat(const ConvParams& p, const Shape& is, const float* input,
                        const Shape& fs, const float* filter, const Shape&, const float* bias,
                        const Shape& os, float* output, const KernelContext&) {
  const int batches = is.Dim(0), in_h = is.Dim(1), in_w = is.Dim(2), in_d = is.Dim(3);
  const int out_h = os.Dim(1), out_w = os.Dim(2), out_d = os.Dim(3);
  const int f_h = fs.Dim(1), f_w = fs.Dim(2);
  const int64_t n = os.FlatSize();
  std::fill(output, output + n, 0.f);
  for (int b = 0; b < batches; ++b)
    for (int iy = 0; iy < in_h; ++iy)
      for (int ix = 0; ix < in_w; ++ix)
        for (int ic = 0; ic < in_d; ++ic) {
          const float iv = input[((static_cast<int64_t>(b) * in_h + iy) * in_w + ix) * in_d + ic];
          for (int fy = 0; fy < f_h; ++fy) {
            const int oy = iy * p.stride_height - p.pad_height + fy;
            if (oy < 0 || oy >= out_h) continue;
            for (int fx = 0; fx < f_w; ++fx) {
              const int ox = ix * p.stride_width - p.pad_width + fx;
              if (ox < 0 || ox >= out_w) continue;
              for (int oc = 0; oc < out_d; ++oc)
                output[((static_cast<int64_t>(b) * out_h + oy) * out_w + ox) * out_d + oc] +=
                    iv * filter[((static_cast<int64_t>(oc) * f_h + fy) * f_w + fx) * in_d + ic];
            }
          }
        }
  for (int64_t i = 0; i < n; ++i) {
    float v = output[i];
    if (bias) v += bias[i % out_d];
    output[i] = ClampF(v, p.act);
  }
}

}  // namespace tfqat::runtime::reference
