// SIMD sampling step of rotate/affine/perspective/elastic_transform (see grid_sample.cpp): one
// output row of grid_sample (zeros padding, align_corners=False) on an [N, C, H, W] image, the fill
// colour blended in with the sampled ones-channel as torchvision does. Lane by lane the same float
// operations, in the same order, as the scalar sample_row of grid_sample.cpp.
#pragma once

#include <cstdint>

namespace tva {
namespace image {
namespace simd {

struct SampleImage {
  const void* data;
  bool is_u8;  // uint8 (else float32) pixels and output
  int64_t n, c, h, w;
  int64_t sn, sc, sh, sw;  // element strides
  int64_t extent;  // elements readable from data: 1 + sum((size - 1) * stride); >= 4, < 2^31
  bool nearest, has_fill;
  const float* fill;  // c values (zeros without fill)
};

// Samples the image at the unnormalised source coordinates (xs[j], ys[j]), j < count, writing
// output pixel j of plane (b, ch) to out + (b * c + ch) * plane_size + j (uint8_t or float).
void sample_row(const SampleImage& img, const float* xs, const float* ys, int64_t count, void* out,
                int64_t plane_size);

} // namespace simd
} // namespace image
} // namespace tva
