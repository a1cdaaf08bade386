// Gaussian blur as two separable passes over reflect-padded rows, sharing the resampling row
// kernels: the width pass is a resample whose taps are the reflected neighbours of each pixel.
// torchvision convolves with the outer product of the two 1-D kernels; summing the same products in
// two passes differs only by float rounding (uint8 results are rounded, as torchvision rounds them).
#include <cstring>
#include <memory>
#include <vector>

#include "image/transforms/common.h"
#include "image/transforms/resample_simd.h"
#include "common/reuse.h"
#include "image/transforms/transforms.h"

namespace tva {
namespace image {

at::Tensor gaussian_blur(const at::Tensor& img, const at::Tensor& kernel_x, const at::Tensor& kernel_y) {
  check_image(img, 3, "gaussian_blur");
  check_u8_or_f32(img, "gaussian_blur");
  TORCH_CHECK(
      kernel_x.dim() == 1 && kernel_y.dim() == 1 && kernel_x.scalar_type() == at::kFloat &&
          kernel_y.scalar_type() == at::kFloat,
      "gaussian_blur: kernels should be 1-D float32 tensors");
  const int64_t kw = kernel_x.numel(), kh = kernel_y.numel();
  TORCH_CHECK(kw % 2 == 1 && kh % 2 == 1, "gaussian_blur: kernel sizes should be odd, got ", kw, ", ", kh);
  const int64_t h = img.size(-2), w = img.size(-1);
  const int64_t hx = kw / 2, hy = kh / 2;
  TORCH_CHECK(
      hx < w && hy < h, "gaussian_blur: kernel half sizes (", hx, ", ", hy,
      ") must be smaller than the image (reflect padding)");
  const at::Tensor src = img.contiguous();
  at::Tensor out = empty_recycled(src.sizes(), src.options());
  const int64_t hw = h * w;
  if (img.numel() == 0) return out;
  const int64_t planes = img.numel() / hw;
  const auto kx = kernel_x.contiguous();
  const auto ky = kernel_y.contiguous();
  const float* wx = kx.data_ptr<float>();
  const float* wy = ky.data_ptr<float>();

  auto reflect = [](int64_t i, int64_t n) { return i < 0 ? -i : (i >= n ? 2 * (n - 1) - i : i); };
  const int64_t stride = simd::padded(w);
  std::vector<int32_t> idx(kw * stride, 0);
  std::vector<float> wts(kw * stride, 0.0f);
  for (int64_t k = 0; k < kw; ++k) {
    for (int64_t x = 0; x < w; ++x) {
      idx[k * stride + x] = static_cast<int32_t>(reflect(x - hx + k, w));
      wts[k * stride + x] = wx[k];
    }
  }
  const bool is_u8 = img.scalar_type() == at::kByte;

  // Width pass into a float buffer, then height pass with reflected rows.
  std::unique_ptr<float[]> tmp(new float[planes * h * stride]);
  parallel_items(planes * h, w * kw, [&](int64_t begin, int64_t end) {
    std::unique_ptr<float[]> buf(new float[stride]);
    for (int64_t r = begin; r < end; ++r) {
      const float* row;
      if (is_u8) {
        simd::u8_to_f32(src.data_ptr<uint8_t>() + r * w, w, buf.get());
        row = buf.get();
      } else {
        row = src.data_ptr<float>() + r * w;
      }
      simd::resample_row(row, idx.data(), wts.data(), kw, stride, w, tmp.get() + r * stride);
    }
  });
  parallel_items(planes * h, w * kh, [&](int64_t begin, int64_t end) {
    std::unique_ptr<float[]> row(new float[stride]);
    std::vector<const float*> rows(kh);
    for (int64_t r = begin; r < end; ++r) {
      const int64_t plane = r / h, y = r % h;
      for (int64_t k = 0; k < kh; ++k) rows[k] = tmp.get() + (plane * h + reflect(y - hy + k, h)) * stride;
      simd::combine_rows(rows.data(), wy, kh, w, row.get());
      if (is_u8) {
        simd::f32_round_to_u8(row.get(), w, out.data_ptr<uint8_t>() + r * w);
      } else {
        std::memcpy(out.data_ptr<float>() + r * w, row.get(), sizeof(float) * w);
      }
    }
  });
  return out;
}

} // namespace image
} // namespace tva
