// SIMD rows of deformable convolution: the inner loops that run across the channels of one offset
// group at one sampling position.
//
// All channels of an offset group share a sampling position, so its four bilinear corners, their
// weights and the mask are computed once per (offset group, kernel tap, output pixel) and each row
// function below applies them to a run of `n` consecutive channels. The input is read channels-last
// (one row of channels per pixel), so every corner is a contiguous load. A corner outside the image
// points at a row of zeros, which gives torchvision's "value 0 outside" rule without a branch.
//
// Arithmetic follows torchvision's scalar code lane by lane: the sampled value is
// ((w1*v1 + w2*v2) + w3*v3) + w4*v4, multiplied by the mask; no fused multiply-adds.
#pragma once

#include <cstddef>

namespace tva {
namespace simd {

template <typename T>
struct Corners {
  const T* v1; // (y_low,  x_low)
  const T* v2; // (y_low,  x_high)
  const T* v3; // (y_high, x_low)
  const T* v4; // (y_high, x_high)
};

// dst[i] = mask * (((w1*v1[i] + w2*v2[i]) + w3*v3[i]) + w4*v4[i]).
void deform_sample_row(
    float* dst, const Corners<float>& c, const float w[4], float mask, size_t n);
void deform_sample_row(
    double* dst, const Corners<double>& c, const double w[4], double mask, size_t n);

// g[i] += scale * src[i]: one corner of the transposed sampling (col2im).
void deform_axpy_row(float* g, float scale, const float* src, size_t n);
void deform_axpy_row(double* g, double scale, const double* src, size_t n);

// Sums over the row of gradient `gc` (one value per channel) of
//   out[0] += gc * (dx * (v4 - v2) + (1 - dx) * (v3 - v1))   (d value / d y)
//   out[1] += gc * (dy * (v4 - v3) + (1 - dy) * (v2 - v1))   (d value / d x)
//   out[2] += gc * (((w1*v1 + w2*v2) + w3*v3) + w4*v4)        (d value / d mask)
void deform_coord_row(
    const Corners<float>& c, const float* gc, const float w[4], float dy, float dx, size_t n,
    float out[3]);
void deform_coord_row(
    const Corners<double>& c, const double* gc, const double w[4], double dy, double dx, size_t n,
    double out[3]);

} // namespace simd
} // namespace tva
