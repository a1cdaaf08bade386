// Colour transforms, each one fused pass over the pixels doing the float arithmetic torchvision's
// tensor path does in many passes: products with Python scalars rounded to float32, blends
// clamp(r * a + (1 - r) * b, 0, bound), and float -> uint8 by truncation (Tensor.to(torch.uint8)).
#include <cmath>
#include <cstring>
#include <vector>

#include "image/transforms/common.h"
#include "image/transforms/resample_simd.h"
#include "common/reuse.h"
#include "image/transforms/transforms.h"

namespace tva {
namespace image {
namespace {

// Contiguous [B, C, H, W] view of an image tensor [..., C, H, W].
struct Image {
  at::Tensor t;
  int64_t b, c, hw;
  explicit Image(const at::Tensor& img)
      : t(img.contiguous()), b(0), c(img.size(-3)), hw(img.size(-1) * img.size(-2)) {
    b = c * hw == 0 ? 0 : img.numel() / (c * hw);
  }
};

inline float gray_value(float r, float g, float b) {
  return 0.2989f * r + 0.587f * g + 0.114f * b;
}

template <typename T>
inline float value(T v) {
  return static_cast<float>(v);
}

template <typename T>
T* out_ptr(at::Tensor& t) {
  return t.data_ptr<T>();
}

// Grayscale plane of image i (torchvision's rgb_to_grayscale, cast back to the image dtype).
template <typename T>
void grayscale_plane(const T* src, int64_t hw, T* dst) {
  const T* r = src;
  const T* g = src + hw;
  const T* b = src + 2 * hw;
  for (int64_t k = 0; k < hw; ++k) dst[k] = cast_out<T>(gray_value(value(r[k]), value(g[k]), value(b[k])));
}

template <typename T>
void blend_row(const T* __restrict__ a, const T* __restrict__ b, float b_const, T* __restrict__ o, int64_t n,
               float r, float ir, float bound) {
  if (b != nullptr) {
    for (int64_t k = 0; k < n; ++k) {
      const float v = r * value(a[k]) + ir * value(b[k]);
      o[k] = cast_out<T>(std::min(std::max(v, 0.0f), bound));
    }
  } else {
    for (int64_t k = 0; k < n; ++k) {
      const float v = r * value(a[k]) + ir * b_const;
      o[k] = cast_out<T>(std::min(std::max(v, 0.0f), bound));
    }
  }
}

// out = clamp(ratio * a + (1 - ratio) * other, 0, bound) per pixel (torchvision's _blend); other of
// plane (image i, channel ch) is the row other_row(i, ch) if not null, else the value other_const(i).
template <typename T, typename Row, typename Const>
void blend(const Image& im, double ratio, at::Tensor& out, const Row& other_row, const Const& other_const) {
  const float r = static_cast<float>(ratio);
  const float ir = static_cast<float>(1.0 - ratio);
  const float bound = bound_of<T>();
  const T* src = im.t.data_ptr<T>();
  T* dst = out.data_ptr<T>();
  const int64_t c = im.c, hw = im.hw;
  parallel_items(im.b * c, hw, [&](int64_t begin, int64_t end) {
    for (int64_t p = begin; p < end; ++p) {
      const int64_t i = p / c, ch = p % c;
      blend_row<T>(src + p * hw, other_row(i, ch), other_const(i), dst + p * hw, hw, r, ir, bound);
    }
  });
}

template <typename T>
at::Tensor brightness_impl(const Image& im, double factor) {
  at::Tensor out = empty_recycled(im.t.sizes(), im.t.options());
  blend<T>(im, factor, out, [](int64_t, int64_t) { return static_cast<const T*>(nullptr); },
           [](int64_t) { return 0.0f; });
  return out;
}

// Sum of the uint8 grayscale values (truncated, as rgb_to_grayscale returns them) of one image: an
// exact integer, so the mean below equals the double-accumulated one, and the loop vectorises.
int64_t gray_sum_u8(const uint8_t* __restrict__ r, const uint8_t* __restrict__ g, const uint8_t* __restrict__ b,
                    int64_t hw) {
  int64_t total = 0;
  for (int64_t k0 = 0; k0 < hw; k0 += 4096) {
    const int64_t k1 = std::min(hw, k0 + 4096);
    int32_t part = 0;  // at most 4096 * 255: no overflow
    for (int64_t k = k0; k < k1; ++k) {
      part += static_cast<int32_t>(gray_value(static_cast<float>(r[k]), static_cast<float>(g[k]), static_cast<float>(b[k])));
    }
    total += part;
  }
  return total;
}

template <typename T>
at::Tensor contrast_impl(const Image& im, double factor) {
  // torch.mean of the grayscale image (float32), per image; accumulated exactly (in integers for
  // uint8, in double for float).
  std::vector<float> means(im.b);
  const T* src = im.t.data_ptr<T>();
  at::parallel_for(0, im.b, 1, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const T* base = src + i * im.c * im.hw;
      double sum = 0;
      if constexpr (std::is_same<T, uint8_t>::value) {
        if (im.c == 3) {
          sum = static_cast<double>(gray_sum_u8(base, base + im.hw, base + 2 * im.hw, im.hw));
          means[i] = static_cast<float>(sum / static_cast<double>(im.hw));
          continue;
        }
      }
      if (im.c == 3) {
        for (int64_t k = 0; k < im.hw; ++k) {
          sum += value(cast_out<T>(gray_value(value(base[k]), value(base[im.hw + k]), value(base[2 * im.hw + k]))));
        }
      } else {
        for (int64_t k = 0; k < im.hw; ++k) sum += value(base[k]);
      }
      means[i] = static_cast<float>(sum / static_cast<double>(im.hw));
    }
  });
  at::Tensor out = empty_recycled(im.t.sizes(), im.t.options());
  blend<T>(im, factor, out, [](int64_t, int64_t) { return static_cast<const T*>(nullptr); },
           [&](int64_t i) { return means[i]; });
  return out;
}

template <typename T>
at::Tensor saturation_impl(const Image& im, double factor) {
  at::Tensor gray = empty_recycled({im.b, im.hw}, im.t.options());
  const T* src = im.t.data_ptr<T>();
  T* g = gray.data_ptr<T>();
  parallel_items(im.b, im.hw * 3, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) grayscale_plane<T>(src + i * 3 * im.hw, im.hw, g + i * im.hw);
  });
  at::Tensor out = empty_recycled(im.t.sizes(), im.t.options());
  const int64_t hw = im.hw;
  blend<T>(im, factor, out, [&](int64_t i, int64_t) -> const T* { return g + i * hw; },
           [](int64_t) { return 0.0f; });
  return out;
}

// std::fmod(v, 1.0f) for finite v: v minus its integer part is exact in float (fmod is exact too),
// without a libm call.
inline float fmod1(float v) {
  if (!(std::fabs(v) < 2147483648.0f)) return std::fmod(v, 1.0f);
  return v - static_cast<float>(static_cast<int32_t>(v));
}

// torchvision's _rgb2hsv, hue shift with torch's float remainder, _hsv2rgb; per pixel.
inline void hue_shift(float r, float g, float b, float hue, float* out) {
  const float maxc = std::max(std::max(r, g), b);
  const float minc = std::min(std::min(r, g), b);
  const bool eqc = maxc == minc;
  const float cr = maxc - minc;
  const float s = cr / (eqc ? 1.0f : maxc);
  const float crd = eqc ? 1.0f : cr;
  const float rc = (maxc - r) / crd;
  const float gc = (maxc - g) / crd;
  const float bc = (maxc - b) / crd;
  const float hr = (maxc == r ? 1.0f : 0.0f) * (bc - gc);
  const float hg = ((maxc == g) && (maxc != r) ? 1.0f : 0.0f) * (2.0f + rc - bc);
  const float hb = ((maxc != g) && (maxc != r) ? 1.0f : 0.0f) * (4.0f + gc - rc);
  float h = hr + hg + hb;
  h = fmod1(h / 6.0f + 1.0f);
  // (h + hue) % 1.0 with Python semantics, as torch.remainder computes it.
  float m = fmod1(h + hue);
  if (m != 0.0f && m < 0.0f) m += 1.0f;
  h = m;
  const float v = maxc;
  const float fi = floor_fast(h * 6.0f);
  const float f = h * 6.0f - fi;
  int i = static_cast<int>(fi) % 6;
  if (i < 0) i += 6;
  const float p = std::min(std::max(v * (1.0f - s), 0.0f), 1.0f);
  const float q = std::min(std::max(v * (1.0f - s * f), 0.0f), 1.0f);
  const float t = std::min(std::max(v * (1.0f - s * (1.0f - f)), 0.0f), 1.0f);
  switch (i) {
    case 0: out[0] = v; out[1] = t; out[2] = p; break;
    case 1: out[0] = q; out[1] = v; out[2] = p; break;
    case 2: out[0] = p; out[1] = v; out[2] = t; break;
    case 3: out[0] = p; out[1] = q; out[2] = v; break;
    case 4: out[0] = t; out[1] = p; out[2] = v; break;
    default: out[0] = v; out[1] = p; out[2] = q; break;
  }
}

template <typename T>
void hue_range(const T* __restrict__ src, T* __restrict__ dst, int64_t hw, int64_t begin, int64_t end, float hue) {
  for (int64_t j = begin; j < end; ++j) {
    const int64_t i = j / hw, k = j % hw;
    const T* s = src + i * 3 * hw + k;
    T* d = dst + i * 3 * hw + k;
    float rgb[3];
    if constexpr (std::is_same<T, uint8_t>::value) {
      hue_shift(s[0] / 255.0f, s[hw] / 255.0f, s[2 * hw] / 255.0f, hue, rgb);
      for (int c = 0; c < 3; ++c) d[c * hw] = to_u8(rgb[c] * 255.0f);
    } else {
      hue_shift(s[0], s[hw], s[2 * hw], hue, rgb);
      for (int c = 0; c < 3; ++c) d[c * hw] = rgb[c];
    }
  }
}

template <typename T>
at::Tensor hue_impl(const Image& im, double factor) {
  at::Tensor out = empty_recycled(im.t.sizes(), im.t.options());
  const T* src = im.t.data_ptr<T>();
  T* dst = out.data_ptr<T>();
  const float hue = static_cast<float>(factor);
  const int64_t hw = im.hw;
  const int64_t chunk = 4096;
  const int64_t chunks = (hw + chunk - 1) / chunk;
  parallel_items(im.b * chunks, chunk * 40, [=](int64_t begin, int64_t end) {
    for (int64_t j = begin; j < end; ++j) {
      const int64_t i = j / chunks, k0 = (j % chunks) * chunk;
      const int64_t n = std::min(chunk, hw - k0);
      if constexpr (std::is_same<T, uint8_t>::value) {
        simd::hue_row_u8(src + i * 3 * hw + k0, dst + i * 3 * hw + k0, hw, n, hue);
      } else {
        simd::hue_row_f32(src + i * 3 * hw + k0, dst + i * 3 * hw + k0, hw, n, hue);
      }
    }
  });
  return out;
}

// torch.pow(tensor, scalar) special-cases these exponents.
inline float pow_like_torch(float x, float e) {
  if (e == 0.5f) return std::sqrt(x);
  if (e == 2.0f) return x * x;
  if (e == 3.0f) return x * x * x;
  if (e == -0.5f) return 1.0f / std::sqrt(x);
  if (e == -1.0f) return 1.0f / x;
  if (e == -2.0f) return 1.0f / (x * x);
  return std::pow(x, e);
}

template <typename T>
at::Tensor gamma_impl(const Image& im, double gamma, double gain) {
  at::Tensor out = empty_recycled(im.t.sizes(), im.t.options());
  const T* src = im.t.data_ptr<T>();
  T* dst = out.data_ptr<T>();
  const float e = static_cast<float>(gamma);
  const float g = static_cast<float>(gain);
  const int64_t n = im.t.numel();
  if constexpr (std::is_same<T, uint8_t>::value) {
    // Only 256 inputs: a table computed with the same float arithmetic.
    uint8_t lut[256];
    const float f = static_cast<float>(255.0 + 1.0 - 1e-3);
    for (int v = 0; v < 256; ++v) {
      const float x = static_cast<float>(v) / 255.0f;
      const float y = std::min(std::max(g * pow_like_torch(x, e), 0.0f), 1.0f);
      lut[v] = to_u8(y * f);
    }
    const uint8_t* table = lut;
    map_elements(src, dst, n, [table](uint8_t v) { return table[v]; });
  } else {
    map_elements(src, dst, n, [g, e](float v) { return std::min(std::max(g * pow_like_torch(v, e), 0.0f), 1.0f); });
  }
  return out;
}

// 3x3 smoothing of torchvision's _blurred_degenerate_image (weights 1/13, centre 5/13), interior only;
// the border keeps the input. uint8 results are rounded, as _cast_squeeze_out does.
template <typename T>
void degenerate_plane(const T* __restrict__ src, int64_t h, int64_t w, T* __restrict__ dst) {
  const float k = 1.0f / 13.0f;
  const float kc = 5.0f / 13.0f;
  std::memcpy(dst, src, sizeof(T) * h * w);
  for (int64_t y = 1; y + 1 < h; ++y) {
    const T* r0 = src + (y - 1) * w;
    const T* r1 = src + y * w;
    const T* r2 = src + (y + 1) * w;
    T* o = dst + y * w;
    for (int64_t x = 1; x + 1 < w; ++x) {
      float acc = value(r0[x - 1]) * k;
      acc += value(r0[x]) * k;
      acc += value(r0[x + 1]) * k;
      acc += value(r1[x - 1]) * k;
      acc += value(r1[x]) * kc;
      acc += value(r1[x + 1]) * k;
      acc += value(r2[x - 1]) * k;
      acc += value(r2[x]) * k;
      acc += value(r2[x + 1]) * k;
      if constexpr (std::is_same<T, uint8_t>::value) {
        // acc lies in [0, 255]: the add-and-subtract rounding (half to even) needs no range guard,
        // which keeps this loop vectorisable.
        o[x] = to_u8((acc + 12582912.0f) - 12582912.0f);
      } else {
        o[x] = acc;
      }
    }
  }
}

template <typename T>
at::Tensor sharpness_impl(const Image& im, int64_t h, int64_t w, double factor) {
  at::Tensor blurred = empty_recycled(im.t.sizes(), im.t.options());
  const T* src = im.t.data_ptr<T>();
  T* bl = blurred.data_ptr<T>();
  parallel_items(im.b * im.c, im.hw * 9, [&](int64_t begin, int64_t end) {
    for (int64_t p = begin; p < end; ++p) degenerate_plane<T>(src + p * im.hw, h, w, bl + p * im.hw);
  });
  at::Tensor out = empty_recycled(im.t.sizes(), im.t.options());
  const int64_t chans = im.c, hw = im.hw;
  blend<T>(im, factor, out, [&](int64_t i, int64_t c) -> const T* { return bl + (i * chans + c) * hw; },
           [](int64_t) { return 0.0f; });
  return out;
}

template <typename T>
void autocontrast_plane(const T* __restrict__ a, T* __restrict__ o, int64_t hw) {
  const float bound = bound_of<T>();
  T lo = a[0], hi = a[0];
  for (int64_t k = 1; k < hw; ++k) {
    lo = std::min(lo, a[k]);
    hi = std::max(hi, a[k]);
  }
  float mn = value(lo);
  float scale = bound / (value(hi) - mn);
  if (!std::isfinite(scale)) {
    mn = 0.0f;
    scale = 1.0f;
  }
  for (int64_t k = 0; k < hw; ++k) {
    o[k] = cast_out<T>(std::min(std::max((value(a[k]) - mn) * scale, 0.0f), bound));
  }
}

template <typename T>
at::Tensor autocontrast_impl(const Image& im) {
  at::Tensor out = empty_recycled(im.t.sizes(), im.t.options());
  const T* src = im.t.data_ptr<T>();
  T* dst = out.data_ptr<T>();
  const int64_t hw = im.hw;
  parallel_items(im.b * im.c, hw, [=](int64_t begin, int64_t end) {
    for (int64_t p = begin; p < end; ++p) {
      if constexpr (std::is_same<T, uint8_t>::value) {
        simd::autocontrast_u8(src + p * hw, hw, dst + p * hw);
      } else {
        autocontrast_plane<T>(src + p * hw, dst + p * hw, hw);
      }
    }
  });
  return out;
}

template <typename F>
at::Tensor dispatch_u8_f32(const at::Tensor& img, const char* op, const F& f) {
  check_u8_or_f32(img, op);
  if (img.scalar_type() == at::kByte) return f(uint8_t{});
  return f(float{});
}

} // namespace

at::Tensor rgb_to_grayscale(const at::Tensor& img) {
  check_image(img, 3, "rgb_to_grayscale");
  TORCH_CHECK(img.size(-3) == 3, "rgb_to_grayscale: img should have 3 channels, got ", img.size(-3));
  const Image im(img);
  auto sizes = img.sizes().vec();
  sizes[sizes.size() - 3] = 1;
  at::Tensor out = empty_recycled(sizes, im.t.options());
  return dispatch_u8_f32(img, "rgb_to_grayscale", [&](auto tag) {
    using T = decltype(tag);
    const T* src = im.t.data_ptr<T>();
    T* dst = out.data_ptr<T>();
    parallel_items(im.b, im.hw * 3, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) grayscale_plane<T>(src + i * 3 * im.hw, im.hw, dst + i * im.hw);
    });
    return out;
  });
}

at::Tensor adjust_brightness(const at::Tensor& img, double factor) {
  check_image(img, 3, "adjust_brightness");
  check_channels(img, "adjust_brightness");
  const Image im(img);
  return dispatch_u8_f32(img, "adjust_brightness", [&](auto tag) { return brightness_impl<decltype(tag)>(im, factor); });
}

at::Tensor adjust_contrast(const at::Tensor& img, double factor) {
  check_image(img, 3, "adjust_contrast");
  check_channels(img, "adjust_contrast");
  const Image im(img);
  return dispatch_u8_f32(img, "adjust_contrast", [&](auto tag) { return contrast_impl<decltype(tag)>(im, factor); });
}

at::Tensor adjust_saturation(const at::Tensor& img, double factor) {
  check_image(img, 3, "adjust_saturation");
  TORCH_CHECK(img.size(-3) == 3, "adjust_saturation: img should have 3 channels, got ", img.size(-3));
  const Image im(img);
  return dispatch_u8_f32(img, "adjust_saturation", [&](auto tag) { return saturation_impl<decltype(tag)>(im, factor); });
}

at::Tensor adjust_hue(const at::Tensor& img, double factor) {
  check_image(img, 3, "adjust_hue");
  TORCH_CHECK(img.size(-3) == 3, "adjust_hue: img should have 3 channels, got ", img.size(-3));
  const Image im(img);
  return dispatch_u8_f32(img, "adjust_hue", [&](auto tag) { return hue_impl<decltype(tag)>(im, factor); });
}

at::Tensor adjust_gamma(const at::Tensor& img, double gamma, double gain) {
  check_image(img, 3, "adjust_gamma");
  const Image im(img);
  return dispatch_u8_f32(img, "adjust_gamma", [&](auto tag) { return gamma_impl<decltype(tag)>(im, gamma, gain); });
}

at::Tensor adjust_sharpness(const at::Tensor& img, double factor) {
  check_image(img, 3, "adjust_sharpness");
  const Image im(img);
  const int64_t h = img.size(-2), w = img.size(-1);
  return dispatch_u8_f32(img, "adjust_sharpness", [&](auto tag) { return sharpness_impl<decltype(tag)>(im, h, w, factor); });
}

at::Tensor invert(const at::Tensor& img) {
  check_image(img, 3, "invert");
  const Image im(img);
  at::Tensor out = empty_recycled(im.t.sizes(), im.t.options());
  const int64_t n = im.t.numel();
  return dispatch_u8_f32(img, "invert", [&](auto tag) {
    using T = decltype(tag);
    const T* s = im.t.data_ptr<T>();
    T* d = out.data_ptr<T>();
    if constexpr (std::is_same<T, uint8_t>::value) {
      at::parallel_for(0, n, 1 << 16, [s, d](int64_t b, int64_t e) { simd::invert_u8(s + b, e - b, d + b); });
    } else {
      const T bound = static_cast<T>(bound_of<T>());
      map_elements(s, d, n, [bound](T v) { return static_cast<T>(bound - v); });
    }
    return out;
  });
}

at::Tensor posterize(const at::Tensor& img, int64_t mask) {
  check_image(img, 3, "posterize");
  TORCH_CHECK(img.scalar_type() == at::kByte, "posterize: img must be uint8, got ", img.scalar_type());
  const Image im(img);
  at::Tensor out = empty_recycled(im.t.sizes(), im.t.options());
  const uint8_t m = static_cast<uint8_t>(mask & 0xff);
  const uint8_t* s = im.t.data_ptr<uint8_t>();
  uint8_t* d = out.data_ptr<uint8_t>();
  at::parallel_for(0, im.t.numel(), 1 << 16, [s, d, m](int64_t b, int64_t e) { simd::and_u8(s + b, e - b, m, d + b); });
  return out;
}

at::Tensor solarize(const at::Tensor& img, double threshold) {
  check_image(img, 3, "solarize");
  const Image im(img);
  at::Tensor out = empty_recycled(im.t.sizes(), im.t.options());
  const int64_t n = im.t.numel();
  const float thr = static_cast<float>(threshold);
  return dispatch_u8_f32(img, "solarize", [&](auto tag) {
    using T = decltype(tag);
    const T* s = im.t.data_ptr<T>();
    T* d = out.data_ptr<T>();
    if constexpr (std::is_same<T, uint8_t>::value) {
      // v >= thr for an integer v is v >= ceil(thr); NaN compares false everywhere.
      const int32_t t = std::isnan(thr) ? 256 : static_cast<int32_t>(std::min(std::max(std::ceil(thr), -1.0f), 256.0f));
      at::parallel_for(0, n, 1 << 16, [s, d, t](int64_t b, int64_t e) { simd::solarize_u8(s + b, e - b, t, d + b); });
    } else {
      const T bound = static_cast<T>(bound_of<T>());
      map_elements(s, d, n, [thr, bound](T v) { return value(v) >= thr ? static_cast<T>(bound - v) : v; });
    }
    return out;
  });
}

at::Tensor autocontrast(const at::Tensor& img) {
  check_image(img, 3, "autocontrast");
  const Image im(img);
  TORCH_CHECK(im.hw > 0, "autocontrast: img must not be empty");
  return dispatch_u8_f32(img, "autocontrast", [&](auto tag) { return autocontrast_impl<decltype(tag)>(im); });
}

at::Tensor equalize(const at::Tensor& img) {
  check_image(img, 3, "equalize");
  TORCH_CHECK(img.scalar_type() == at::kByte, "equalize: img must be uint8, got ", img.scalar_type());
  const Image im(img);
  at::Tensor out = empty_recycled(im.t.sizes(), im.t.options());
  const uint8_t* src = im.t.data_ptr<uint8_t>();
  uint8_t* dst = out.data_ptr<uint8_t>();
  parallel_items(im.b * im.c, im.hw, [&](int64_t begin, int64_t end) {
    for (int64_t p = begin; p < end; ++p) {
      const uint8_t* a = src + p * im.hw;
      uint8_t* o = dst + p * im.hw;
      int64_t hist[256] = {0};
      for (int64_t k = 0; k < im.hw; ++k) ++hist[a[k]];
      int64_t last = 255;
      while (last > 0 && hist[last] == 0) --last;
      const int64_t step = (im.hw - hist[last]) / 255;
      if (step == 0) {
        std::memcpy(o, a, im.hw);
        continue;
      }
      uint8_t lut[256];
      int64_t cum = 0;
      lut[0] = 0;
      for (int v = 1; v < 256; ++v) {
        cum += hist[v - 1];
        lut[v] = static_cast<uint8_t>(std::min<int64_t>((cum + step / 2) / step, 255));
      }
      for (int64_t k = 0; k < im.hw; ++k) o[k] = lut[a[k]];
    }
  });
  return out;
}

} // namespace image
} // namespace tva
