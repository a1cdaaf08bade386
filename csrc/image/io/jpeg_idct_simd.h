// The accurate integer inverse DCT of libjpeg-turbo (JDCT_ISLOW, jidctint.c), computed as its x86
// SIMD versions compute it (jidctint-sse2/avx2: 16-bit dequantisation products, 32-bit butterflies,
// results saturated to 16 bits between the passes and to 8 bits at the end), which is what
// libjpeg-turbo runs on x86 and agrees with its C version on every block a real encoder produces.
// Runtime dispatch picks the widest instruction set the CPU has (Highway).
#pragma once

#include <cstdint>

namespace tva {
namespace image {
namespace simd {

// One 8x8 block: coefficients in natural (row-major) order, the quantisation table as libjpeg's
// 16-bit multiplier table, 8 rows of 8 samples to out + r * stride. low4 (a faster path, same
// output) may be set when every non-zero coefficient is in rows 0..3 and columns 0..3.
void idct_islow(const int16_t* coef, const int16_t* quant, uint8_t* out, int64_t stride,
                bool low4 = false);

// One block for idct_blocks. size: the output block's side, 8 (idct_islow) or, for reduced-size
// decoding, 4, 2 or 1 (libjpeg-turbo's jpeg_idct_4x4 / 2x2 as its SSE2 code computes them, and
// jpeg_idct_1x1).
struct IdctJob {
  const int16_t* coef;
  const int16_t* quant;
  uint8_t* out;
  int64_t stride;
  int size = 8;
};

// idct_islow for each of n jobs (one dispatch for all); blocks whose only non-zero coefficient is
// the DC one, or whose non-zero coefficients lie in rows and columns 0..3, take faster paths with
// the same output.
void idct_blocks(const IdctJob* jobs, int n);

// The sample value of every pixel of a block whose only non-zero coefficient is the DC one, as
// idct_islow gives it.
inline uint8_t idct_islow_dc_value(int16_t dc, int16_t q) {
  // Pass 1: the 16-bit product, times 4 in 16 bits; pass 2: (x * 2^13 + 2^17) >> 18 saturated.
  const uint32_t product = static_cast<uint32_t>(static_cast<uint16_t>(dc)) * static_cast<uint16_t>(q);
  const int16_t v = static_cast<int16_t>(static_cast<uint16_t>(product << 2));
  int32_t x = (static_cast<int32_t>(v) * 8192 + 131072) >> 18;
  x = x < -128 ? -128 : (x > 127 ? 127 : x);
  return static_cast<uint8_t>(x + 128);
}

}  // namespace simd
}  // namespace image
}  // namespace tva
