// SIMD row kernels of the fused pipelines (Highway, runtime dispatch).
#pragma once

#include <cstdint>

namespace tva {
namespace image {
namespace simd {

// Width pass of interleaved RGB bytes with two taps per output, the second being the next pixel:
// for x < n (rounded up to the vector size; offs, w0, w1 and the outputs are padded) and c < 3,
//   out_c[x] = float(row[offs[x] + c]) * w0[x] + float(row[offs[x] + 3 + c]) * w1[x]
// (the operations of resample_row with two taps on the widened channel rows). One 64-bit load per
// output brings all six bytes. row must be readable for 8 bytes from every offs[x].
void resample_rgb_2taps(const uint8_t* row, const int64_t* offs, const float* w0, const float* w1,
                        int64_t n, float* out0, float* out1, float* out2);

}  // namespace simd
}  // namespace image
}  // namespace tva
