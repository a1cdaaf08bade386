// SIMD row kernels shared by the image transforms: the two passes of separable resampling, and the
// conversions that turn a float row into the final pixels. Every function computes exactly the IEEE
// operations its comment states, lane by lane, in that order (no fused multiply-add), so that results
// equal torch's scalar loops bit for bit. Runtime dispatch picks the widest instruction set available.
#pragma once

#include <cstddef>
#include <cstdint>

namespace tva {
namespace image {
namespace simd {

// Buffers marked "padded" have room for n rounded up to kPad elements; the extra lanes are scratch.
constexpr int64_t kPad = 64;
inline int64_t padded(int64_t n) {
  return (n + kPad - 1) / kPad * kPad;
}

// Horizontal pass. For x < n: out[x] = row[idx[x]] * w[x], then for k = 1..taps-1:
// out[x] += row[idx[k*stride + x]] * w[k*stride + x]. idx, w (taps x stride) and out are padded;
// padded lanes of idx must hold valid indices of row.
void resample_row(
    const float* row, const int32_t* idx, const float* w, int64_t taps, int64_t stride, int64_t n,
    float* out);

// Horizontal pass straight from uint8 pixels when the taps of every output are consecutive pixels
// (bilinear, bicubic, antialiased windows): for x < n, out[x] = float(row[offs[x]]) * w[x], then for
// k = 1..taps-1: out[x] += float(row[offs[x] + k]) * w[k*stride + x], the same operations as
// resample_row on the widened row. row must be readable for taps rounded up to a multiple of 4
// bytes from every offs[x]; offs, w and out are padded (padded lanes of offs hold valid offsets).
void resample_row_u8_taps(
    const uint8_t* row, const int32_t* offs, const float* w, int64_t taps, int64_t stride, int64_t n,
    float* out);

// The bilinear (taps == 2) case of resample_row_u8_taps with byte shuffles instead of gathers, the
// same operations: outputs go in groups of four, group g reads the 16 bytes at row + base[g], and
// output x takes its taps from bytes ctl0[4x] and ctl1[4x] of them (ctl0/ctl1: 16 bytes per group,
// byte 4j of a group the offset of output j's tap, the other three 0x80). n is padded (a multiple of
// kPad), and base, ctl0, ctl1, w and out cover it; row must be readable for 16 bytes from every base.
void resample_row_u8_bilinear(
    const uint8_t* row, const int32_t* base, const uint8_t* ctl0, const uint8_t* ctl1, const float* w,
    int64_t stride, int64_t n, float* out);

// out[x] = row[idx[x]] for x < n, not padded. row must be readable for 4 bytes from every idx[x].
void gather_u8(const uint8_t* row, const int32_t* idx, int64_t n, uint8_t* out);

// Vertical pass. For x < n: out[x] = rows[0][x] * w[0], then out[x] += rows[k][x] * w[k]. Padded.
void combine_rows(const float* const* rows, const float* w, int64_t taps, int64_t n, float* out);

// combine_rows followed by f32_round_to_u8, in one pass: rows padded, out not.
void combine_rows_to_u8(const float* const* rows, const float* w, int64_t taps, int64_t n, uint8_t* out);

// dst[x] = float(src[x]), not padded.
void u8_to_f32(const uint8_t* src, int64_t n, float* dst);

// dst[x] = float(src[x]) / divisor, not padded (torch's x.to(float) / divisor).
void u8_to_f32_div(const uint8_t* src, int64_t n, float divisor, float* dst);

// dst[x] = float(src[x]) / 255 correctly rounded (what torch's x.to(float) / 255 gives), without a
// divide (several times slower than a multiply): with fused multiply-add by sub_div's reciprocal
// correction in float, otherwise as float(double(src[x]) * (1.0 / 255)). For all 256 inputs both
// equal the float quotient bit for bit (checked exhaustively by the tests). Not padded.
void u8_to_f32_div255(const uint8_t* src, int64_t n, float* dst);

// dst[x] = uint8(min(max(round_half_even(src[x]), 0), 255)), not padded.
void f32_round_to_u8(const float* src, int64_t n, uint8_t* dst);

// dst[x] = (src[x] - sub) / div, not padded; src may equal dst.
void sub_div(const float* src, int64_t n, float sub, float div, float* dst);

// dst[x] = (min(max(round_half_even(src[x]), 0), 255) / scale - sub) / div, not padded; src may
// equal dst. With scale == 1 the division is skipped (it is exact anyway).
void round_scale_sub_div(const float* src, int64_t n, float scale, float sub, float div, float* dst);

// Source coordinates of one output row of an affine/perspective warp, as grid_sample sees them:
// u = fma(y, t[2], xs[j] * t[0]) + t[4], v likewise with t[1], t[3], t[5] (torch's matmul of the base
// grid), for a perspective divided by the same products with d[] and minus 1, then unnormalised with
// (g + 1) * sx - 0.5 (sx = width / 2) and (g + 1) * sy - 0.5. Not padded.
void projective_row(const float* xs, int64_t n, float y, const float* t, const float* d, bool perspective,
                    float sx, float sy, float* out_x, float* out_y);

// torchvision's adjust_hue on planar RGB rows (n pixels; planes r, g, b at stride `plane`):
// rgb -> hsv (its _rgb2hsv), h = (h + hue) mod 1 (torch.remainder), hsv -> rgb (its _hsv2rgb),
// in float with the same operations. uint8 rows are divided by 255 first and written back as
// uint8(x * 255) (truncation), as torchvision does.
void hue_row_u8(const uint8_t* src, uint8_t* dst, int64_t plane, int64_t n, float hue);
void hue_row_f32(const float* src, float* dst, int64_t plane, int64_t n, float hue);

// Per-byte maps of uint8 pixels, not padded; src may equal dst.
// invert: 255 - v. mask: v & m. solarize: v >= t ? 255 - v : v (t in [0, 256]; 256: no change).
void invert_u8(const uint8_t* src, int64_t n, uint8_t* dst);
void and_u8(const uint8_t* src, int64_t n, uint8_t m, uint8_t* dst);
void solarize_u8(const uint8_t* src, int64_t n, int32_t t, uint8_t* dst);

// torchvision's autocontrast on one uint8 plane: min/max over the plane, then
// uint8(clamp((v - lo) * scale, 0, 255)) with scale = 255 / (hi - lo) (1 and lo = 0 for a flat plane).
void autocontrast_u8(const uint8_t* src, int64_t n, uint8_t* dst);

// Copies `rows` rows of n bytes, row r from src + r * src_step to dst + r * dst_step (steps may be
// negative), in whole vectors without a call per row. Rows must not overlap.
void copy_rows(const uint8_t* src, int64_t src_step, uint8_t* dst, int64_t dst_step, int64_t rows, int64_t n);

// Rows [begin, end) of a constant-padded uint8 image [planes, out_h, left + w + right]: output row
// r = plane * out_h + oy is `left` fill bytes, input row ymap[oy] of the plane ([planes, h, w]) or
// fill bytes where ymap[oy] < 0, and `right` fill bytes.
void pad_rows_u8(const uint8_t* src, int64_t h, int64_t w, const int64_t* ymap, int64_t out_h, int64_t left,
                 int64_t right, uint8_t fill, uint8_t* dst, int64_t begin, int64_t end);

// dst[n - 1 - x] = src[x] for x < n (a mirrored row), not padded; src and dst must not overlap.
void reverse_u8(const uint8_t* src, int64_t n, uint8_t* dst);
void reverse_f32(const float* src, int64_t n, float* dst);

} // namespace simd
} // namespace image
} // namespace tva
