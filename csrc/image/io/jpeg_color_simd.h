// SIMD pieces of JPEG decoding that follow libjpeg's IDCT: fancy chroma upsampling and YCbCr -> RGB
// conversion, bit-identical to libjpeg-turbo's jdsample.c and jdcolor.c (and so to its own SIMD
// versions, which match those). decode_jpeg.cpp reads raw component planes with jpeg_read_raw_data
// and runs these on them, writing interleaved RGB rows straight into the output.
// Runtime dispatch picks the widest instruction set the CPU has (AVX-512, AVX2, SSE4, scalar).
#pragma once

#include <cstdint>

namespace tva {
namespace image {
namespace simd {

// One output row of 2:1 horizontal "triangle" upsampling (libjpeg's h2v1_fancy_upsample when
// `far` is null, h2v2_fancy_upsample otherwise). `near` is the chroma row nearest the output row,
// `far` the next nearest (the row above for even output rows, below for odd ones; the same row at
// the image's edges). in_width (> 2) is the component's downsampled width. Writes 2 * in_width
// samples to out. `near`, `far` may be read up to 64 bytes past in_width; `colsum` is scratch of at
// least in_width + 2 + 64 values; `out` must hold 2 * in_width + 128 bytes.
void upsample_h2_fancy(const uint8_t* near, const uint8_t* far, int64_t in_width, int16_t* colsum,
                       uint8_t* out);

// libjpeg's ycc_rgb_convert for one row of n pixels: interleaved R, G, B to rgb (3 * n bytes, never
// written past).
void ycc_to_rgb_row(const uint8_t* y, const uint8_t* cb, const uint8_t* cr, int64_t n,
                    uint8_t* rgb);

// The two steps of upsample_h2_fancy split, so that the conversion upsamples on the way:
// upsample_column_sums writes the column sums of a chroma row (3 * near + far with `far`, the
// samples without; in_width + 2 values with the edges repeated; colsum as for upsample_h2_fancy),
// and ycc_to_rgb_row_upsampled converts n pixels whose chroma is the h2v2 (vertical) or h2v1
// upsampling of those sums, equal to upsample_h2_fancy followed by ycc_to_rgb_row.
void upsample_column_sums(const uint8_t* near, const uint8_t* far, int64_t in_width,
                          int16_t* colsum);
void ycc_to_rgb_row_upsampled(const uint8_t* y, const int16_t* cb_colsum, const int16_t* cr_colsum,
                              bool vertical, int64_t n, uint8_t* rgb);

}  // namespace simd
}  // namespace image
}  // namespace tva
