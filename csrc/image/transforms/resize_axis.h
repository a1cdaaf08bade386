// Per-axis sampling of a resize: which source samples each output reads and with which weights,
// computed with torch's formulas (UpSample.h, cpu/UpSampleKernel.cpp), including the float/double
// mix of its index arithmetic, so the taps and weights are exactly torch's. Shared by the separable
// resize (resize.cpp) and the fused pipelines (pipeline/pipeline.cpp), which compute only the
// outputs [o0, o1) of an axis; the full resize uses [0, out).
#pragma once

#include <cstdint>
#include <vector>

namespace tva {
namespace image {

// Outputs [o0, o1) of one axis, numbered k = o - o0: output k reads source idx[t * stride + k] with
// weight w[t * stride + k] for t < count[k]. Arrays are padded to `stride` (a multiple of
// simd::kPad) with index 0, weight 0.
struct ResizeAxis {
  int64_t n = 0;  // outputs
  int64_t taps = 0;
  int64_t stride = 0;
  bool identity = false;  // same size: output o is input o, exactly (set by callers that use it)
  std::vector<int32_t> idx;
  std::vector<float> w;
  std::vector<int32_t> count;
  // Unclamped first tap of each output when tap t reads source clamp(start + t, 0, in - 1)
  // (bilinear, bicubic, antialiased); empty otherwise.
  std::vector<int64_t> start;

  void init(int64_t outputs, int64_t n_taps);
  void set(int64_t t, int64_t k, int64_t i, float weight) {
    idx[t * stride + k] = static_cast<int32_t>(i);
    w[t * stride + k] = weight;
  }
};

// torch: nearest_idx, the legacy "nearest" mode torchvision uses. Source index of outputs [o0, o1).
std::vector<int64_t> nearest_resize_indices(int64_t in, int64_t out, int64_t o0, int64_t o1);

// torch: compute_source_index_and_lambda (align_corners=False), index arithmetic in double.
ResizeAxis linear_resize_axis(int64_t in, int64_t out, int64_t o0, int64_t o1);

// torch: HelperInterpCubic::compute_indices_weights (A = -0.75, float arithmetic, clamped taps).
ResizeAxis cubic_resize_axis(int64_t in, int64_t out, int64_t o0, int64_t o1);

// torch: HelperInterpBase::_compute_weights_aa (the antialiased kernels, _upsample_*2d_aa), with
// the triangle (bilinear) or Keys a = -0.5 (bicubic) filter. `taps` is the largest count; the
// zero-weight tail taps no output uses are dropped.
ResizeAxis antialias_resize_axis(int64_t in, int64_t out, int64_t o0, int64_t o1, bool cubic);

} // namespace image
} // namespace tva
