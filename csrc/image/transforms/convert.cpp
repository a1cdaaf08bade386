// normalize and convert_image_dtype: one pass over the pixels instead of torchvision's two or three.
#include <cstring>

#include "image/transforms/common.h"
#include "image/transforms/resample_simd.h"
#include "common/reuse.h"
#include "image/transforms/transforms.h"

namespace tva {
namespace image {
namespace {

// (x - mean[c]) / std[c] with mean and std rounded to the tensor's dtype first, as
// torch.as_tensor(mean, dtype=tensor.dtype) does; src and dst are contiguous and may be equal.
template <typename T>
void normalize_planes(
    const T* src, T* dst, int64_t planes, int64_t channels, int64_t hw, at::ArrayRef<double> mean,
    at::ArrayRef<double> std) {
  parallel_items(planes, hw, [&](int64_t begin, int64_t end) {
    for (int64_t p = begin; p < end; ++p) {
      const int64_t c = mean.size() == 1 ? 0 : p % channels;
      const T m = static_cast<T>(mean[c]);
      const T s = static_cast<T>(std[std.size() == 1 ? 0 : p % channels]);
      if constexpr (std::is_same<T, float>::value) {
        simd::sub_div(src + p * hw, hw, m, s, dst + p * hw);
      } else {
        for (int64_t i = 0; i < hw; ++i) dst[p * hw + i] = (src[p * hw + i] - m) / s;
      }
    }
  });
}

} // namespace

at::Tensor normalize(
    const at::Tensor& img, at::ArrayRef<double> mean, at::ArrayRef<double> std, bool inplace) {
  check_image(img, 3, "normalize");
  TORCH_CHECK(
      img.scalar_type() == at::kFloat || img.scalar_type() == at::kDouble,
      "normalize: tensor must be float32 or float64, got ", img.scalar_type());
  const int64_t channels = img.size(-3);
  TORCH_CHECK(
      (mean.size() == 1 || static_cast<int64_t>(mean.size()) == channels) &&
          (std.size() == 1 || static_cast<int64_t>(std.size()) == channels),
      "normalize: mean and std should have 1 or ", channels, " values, got ", mean.size(), " and ",
      std.size());
  TORCH_CHECK(!inplace || img.is_contiguous(), "normalize: in-place needs a contiguous tensor");
  const at::Tensor src = img.contiguous();
  at::Tensor out = inplace ? img : empty_recycled(src.sizes(), src.options());
  const int64_t hw = img.size(-1) * img.size(-2);
  if (img.numel() == 0) return out;
  const int64_t planes = img.numel() / hw;
  if (img.scalar_type() == at::kFloat) {
    normalize_planes<float>(src.data_ptr<float>(), out.data_ptr<float>(), planes, channels, hw, mean, std);
  } else {
    normalize_planes<double>(src.data_ptr<double>(), out.data_ptr<double>(), planes, channels, hw, mean, std);
  }
  return out;
}

at::Tensor convert_image_dtype(const at::Tensor& img, at::ScalarType dtype) {
  TORCH_CHECK(img.device().is_cpu(), "convert_image_dtype: img must be a CPU tensor");
  const at::ScalarType from = img.scalar_type();
  if (from == dtype) return img;
  const at::Tensor src = img.contiguous();
  const int64_t n = src.numel();
  const int64_t chunk = 1 << 15;
  if (from == at::kByte && (dtype == at::kFloat || dtype == at::kDouble)) {
    at::Tensor out = empty_recycled(src.sizes(), src.options().dtype(dtype));
    const uint8_t* s = src.data_ptr<uint8_t>();
    if (dtype == at::kFloat) {
      float* d = out.data_ptr<float>();
      at::parallel_for(0, n, chunk, [&](int64_t b, int64_t e) { simd::u8_to_f32_div255(s + b, e - b, d + b); });
    } else {
      double* d = out.data_ptr<double>();
      map_elements(s, d, n, [](uint8_t v) { return static_cast<double>(v) / 255.0; });
    }
    return out;
  }
  TORCH_CHECK(
      (from == at::kFloat || from == at::kDouble) && dtype == at::kByte,
      "convert_image_dtype: supported conversions are uint8 -> float32/float64 and float32/float64 -> "
      "uint8, got ", from, " -> ", dtype);
  at::Tensor out = empty_recycled(src.sizes(), src.options().dtype(at::kByte));
  uint8_t* d = out.data_ptr<uint8_t>();
  // torch: image.mul(255 + 1 - 1e-3).to(uint8), the factor rounded to the image's dtype.
  if (from == at::kFloat) {
    const float* s = src.data_ptr<float>();
    const float f = static_cast<float>(255.0 + 1.0 - 1e-3);
    map_elements(s, d, n, [f](float v) { return static_cast<uint8_t>(static_cast<int64_t>(v * f)); });
  } else {
    const double* s = src.data_ptr<double>();
    const double f = 255.0 + 1.0 - 1e-3;
    map_elements(s, d, n, [f](double v) { return static_cast<uint8_t>(static_cast<int64_t>(v * f)); });
  }
  return out;
}

} // namespace image
} // namespace tva
