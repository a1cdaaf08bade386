// What the RoI kernels share: argument checks, the per-RoI sampling geometry (computed once per RoI
// and reused by every channel, exactly as torchvision computes it), and the channel-block layout the
// SIMD cores read (kRoiChannelBlock channels of one image, channels-last).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>
#include <vector>

#include <ATen/ATen.h>
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>

#include "common/checks.h"
#include "common/reuse.h"
#include "ops/cpu/pool_simd.h"
#include "ops/cpu/roi_simd.h"

namespace tva {
namespace ops {
namespace roi {

using simd::AxisTap;
using simd::kRoiChannelBlock;

// Samples per RoI above which adaptive sampling (sampling_ratio <= 0) is refused instead of running
// for hours: such a grid only comes from a RoI of absurd size (or a wrong spatial_scale).
constexpr int64_t kMaxSamplesPerRoi = int64_t{1} << 31;

inline void check_pooled_size(int64_t pooled_height, int64_t pooled_width, bool allow_zero) {
  const int64_t lo = allow_zero ? 0 : 1;
  TORCH_CHECK(
      pooled_height >= lo && pooled_width >= lo, "output_size must be ",
      allow_zero ? "non-negative" : "positive", ", got (", pooled_height, ", ", pooled_width, ")");
}

inline void check_rois_tensor(const at::Tensor& rois) {
  check_cpu(rois, "rois");
  check_dim(rois, 2, "rois", "[K, 5]");
  TORCH_CHECK(
      rois.size(1) == 5, "rois should have shape [K, 5] (batch index, x1, y1, x2, y2), got ",
      rois.sizes());
}

// Checks of a forward op's inputs: input [N, C, H, W] floating point, rois [K, 5] of the same dtype.
inline void check_forward(const at::Tensor& input, const at::Tensor& rois) {
  check_cpu(input, "input");
  check_dim(input, 4, "input", "[N, C, H, W]");
  check_floating(input, "input");
  check_rois_tensor(rois);
  check_same_dtype(input, "input", rois, "rois");
  TORCH_CHECK(
      input.size(2) < std::numeric_limits<int32_t>::max() &&
          input.size(3) < std::numeric_limits<int32_t>::max(),
      "input height and width must be below 2^31, got ", input.sizes());
}

// Checks of a backward op's inputs: grad [K, channels, pooled_height, pooled_width].
inline void check_backward(
    const at::Tensor& grad, const at::Tensor& rois, int64_t channels, int64_t pooled_height,
    int64_t pooled_width, int64_t batch_size, int64_t height, int64_t width) {
  check_cpu(grad, "grad");
  check_dim(grad, 4, "grad", "[K, C, pooled_height, pooled_width]");
  check_floating(grad, "grad");
  check_rois_tensor(rois);
  check_same_dtype(grad, "grad", rois, "rois");
  TORCH_CHECK(
      batch_size >= 0 && channels >= 0 && height >= 0 && width >= 0,
      "batch_size, channels, height and width must be non-negative, got ", batch_size, ", ",
      channels, ", ", height, ", ", width);
  TORCH_CHECK(
      height < std::numeric_limits<int32_t>::max() && width < std::numeric_limits<int32_t>::max(),
      "height and width must be below 2^31, got ", height, " and ", width);
  TORCH_CHECK(
      grad.size(0) == rois.size(0) && grad.size(1) == channels && grad.size(2) == pooled_height &&
          grad.size(3) == pooled_width,
      "grad should have shape [", rois.size(0), ", ", channels, ", ", pooled_height, ", ",
      pooled_width, "] (rois, channels, pooled_height, pooled_width), got ", grad.sizes());
}

// Checks an int32 index tensor (argmax, channel_mapping) that comes with a backward call.
inline void check_index_tensor(const at::Tensor& t, const at::Tensor& grad, const char* name) {
  check_cpu(t, name);
  TORCH_CHECK(
      t.scalar_type() == at::kInt, name, " must be an int32 tensor, got ", t.scalar_type());
  TORCH_CHECK(
      t.sizes() == grad.sizes(), name, " should have the shape of grad ", grad.sizes(), ", got ",
      t.sizes());
}

// Checks the arguments of a position-sensitive forward call (ps_roi_align, ps_roi_pool) and returns
// its output shape [K, C / (pooled_h * pooled_w), pooled_h, pooled_w].
inline std::vector<int64_t> position_sensitive_output_shape(
    const at::Tensor& input, const at::Tensor& rois, int64_t pooled_height, int64_t pooled_width) {
  check_forward(input, rois);
  check_pooled_size(pooled_height, pooled_width, /*allow_zero=*/false);
  const int64_t channels = input.size(1);
  TORCH_CHECK(
      channels % (pooled_height * pooled_width) == 0,
      "input channels must be a multiple of output_size[0] * output_size[1] = ",
      pooled_height * pooled_width, ", got ", channels);
  return {rois.size(0), channels / (pooled_height * pooled_width), pooled_height, pooled_width};
}

// Checks the arguments of a position-sensitive backward call.
inline void check_position_sensitive_backward(
    const at::Tensor& grad, const at::Tensor& rois, const at::Tensor& channel_mapping,
    int64_t pooled_height, int64_t pooled_width, int64_t batch_size, int64_t channels,
    int64_t height, int64_t width) {
  check_pooled_size(pooled_height, pooled_width, /*allow_zero=*/false);
  TORCH_CHECK(
      channels % (pooled_height * pooled_width) == 0,
      "channels must be a multiple of pooled_height * pooled_width = ",
      pooled_height * pooled_width, ", got ", channels);
  check_backward(
      grad, rois, channels / (pooled_height * pooled_width), pooled_height, pooled_width,
      batch_size, height, width);
  check_index_tensor(channel_mapping, grad, "channel_mapping");
}

// rois in the arithmetic type of the kernels (float for half and bfloat16), contiguous.
template <typename acc_t>
at::Tensor rois_in(const at::Tensor& rois) {
  return rois.to(c10::CppTypeToScalarType<acc_t>::value).contiguous();
}

// The image index of every RoI, checked: torchvision truncates rois[:, 0] to int and reads that
// image without a check; here an index outside [0, batch_size) is an error, never an out-of-bounds
// read.
template <typename T>
std::vector<int64_t> batch_indices(const T* rois, int64_t num_rois, int64_t batch_size) {
  std::vector<int64_t> out(num_rois);
  for (int64_t n = 0; n < num_rois; ++n) {
    const T v = rois[n * 5];
    TORCH_CHECK(
        v > T(-1) && v < static_cast<T>(batch_size),
        "rois[:, 0] must hold batch indices in [0, ", batch_size, ") for an input of ",
        batch_size, " image(s), got ", static_cast<double>(v), " in row ", n);
    out[n] = static_cast<int64_t>(v);
  }
  return out;
}

// RoIs grouped by image, each group in increasing RoI order (the order torchvision accumulates in).
struct RoisByImage {
  std::vector<int64_t> images; // images with at least one RoI, increasing
  std::vector<std::vector<int64_t>> rois; // rois[i]: the RoIs of images[i]
};

inline RoisByImage group_by_image(const std::vector<int64_t>& batch, int64_t batch_size) {
  std::vector<std::vector<int64_t>> per(batch_size);
  for (int64_t n = 0; n < static_cast<int64_t>(batch.size()); ++n) per[batch[n]].push_back(n);
  RoisByImage g;
  for (int64_t b = 0; b < batch_size; ++b) {
    if (per[b].empty()) continue;
    g.images.push_back(b);
    g.rois.push_back(std::move(per[b]));
  }
  return g;
}

// The same groups with each image's RoIs ordered by their top edge (y1), for forward passes: whose
// outputs do not depend on the order, and which then read the feature map in a sliding band of rows
// that stays in cache instead of jumping across the whole map from one RoI to the next.
template <typename T>
RoisByImage group_by_image_top_down(
    const std::vector<int64_t>& batch, int64_t batch_size, const T* rois) {
  RoisByImage g = group_by_image(batch, batch_size);
  for (auto& list : g.rois) {
    std::stable_sort(list.begin(), list.end(), [rois](int64_t a, int64_t b) {
      return rois[a * 5 + 2] < rois[b * 5 + 2];
    });
  }
  return g;
}

// ----------------------------------------------------------------------------------------------
// Bilinear geometry (roi_align, ps_roi_align).

// torchvision's roi_bin_grid: sampling_ratio if positive, else ceil(roi_size / pooled) (which is
// zero or negative for an empty or inverted RoI: then there are no samples).
template <typename T>
int64_t bin_grid(T roi_size, int64_t pooled, int64_t sampling_ratio) {
  if (sampling_ratio > 0) return sampling_ratio;
  const double g = std::ceil(static_cast<double>(roi_size / static_cast<T>(pooled)));
  if (!(g > -1e9)) return 0; // NaN or absurdly negative: no samples
  TORCH_CHECK(
      g < static_cast<double>(kMaxSamplesPerRoi),
      "rois: a RoI is too large for adaptive sampling (sampling_ratio <= 0 gives ", g,
      " samples per bin side); check spatial_scale or pass a positive sampling_ratio");
  return static_cast<int64_t>(g);
}

// The sampling coordinates of one axis of one RoI: pooled * grid taps, torchvision's arithmetic.
template <typename T>
void axis_taps(T start, T bin, int64_t pooled, int64_t grid, int64_t size, AxisTap<T>* out) {
  for (int64_t p = 0; p < pooled; ++p) {
    for (int64_t i = 0; i < grid; ++i) {
      T v = start + static_cast<T>(p) * bin +
          static_cast<T>(static_cast<float>(i) + .5f) * bin / static_cast<T>(grid);
      AxisTap<T>& t = out[p * grid + i];
      // Written as !(in range) so that a NaN coordinate is an invalid sample, never an index.
      if (!(v >= -1.0 && v <= static_cast<T>(size))) {
        t.lo = t.hi = 0;
        t.l = t.h = T(0);
        t.valid = false;
        continue;
      }
      if (v <= 0) v = 0;
      int64_t lo = static_cast<int64_t>(v);
      int64_t hi;
      if (lo >= size - 1) {
        hi = lo = size - 1;
        v = static_cast<T>(lo);
      } else {
        hi = lo + 1;
      }
      t.lo = static_cast<int32_t>(lo);
      t.hi = static_cast<int32_t>(hi);
      t.l = v - static_cast<T>(lo);
      t.h = static_cast<T>(1.) - t.l;
      t.valid = true;
    }
  }
}

template <typename T>
struct AlignRoi {
  int64_t grid_h, grid_w; // as torchvision computes them (may be <= 0)
  int64_t y_off, x_off; // first tap of this RoI in AlignPlan::ys / xs
};

// The last table of resolved sampling points freed on this thread, kept for the next plan (up to
// kKeepPointBytes): building a table of tens of megabytes in fresh memory costs page faults and
// zeroing on every call.
constexpr size_t kKeepPointBytes = size_t{32} << 20;
template <typename T>
std::vector<simd::SamplePoint<T>>& spare_points() {
  thread_local std::vector<simd::SamplePoint<T>> spare;
  return spare;
}

// The sampling grids of all RoIs, computed once and shared by every channel (and thread).
template <typename T>
struct AlignPlan {
  AlignPlan() = default;
  AlignPlan(AlignPlan&&) = default;
  AlignPlan& operator=(AlignPlan&&) = default;
  ~AlignPlan() {
    auto& spare = spare_points<T>();
    if (points.capacity() * sizeof(points[0]) <= kKeepPointBytes &&
        points.capacity() > spare.capacity()) {
      spare.swap(points);
    }
  }

  std::vector<AlignRoi<T>> rois;
  std::vector<AxisTap<T>> ys, xs;
  int64_t pooled_h = 0, pooled_w = 0, width = 0;

  // count: torchvision's divisor for this RoI (forward roi_align uses max(grid, 1)).
  simd::AlignGrid<T> grid(int64_t n, T count) const {
    const AlignRoi<T>& r = rois[n];
    return simd::AlignGrid<T>{
        ys.data() + r.y_off, xs.data() + r.x_off, pooled_h, pooled_w,
        std::max<int64_t>(r.grid_h, 0), std::max<int64_t>(r.grid_w, 0), width, count};
  }
  T count(int64_t n) const {
    return static_cast<T>(rois[n].grid_h * rois[n].grid_w);
  }

  // The sampling points of every RoI with taps and weights resolved, when they fit in memory
  // comfortably (otherwise the SIMD cores resolve them from the axis taps on the fly). May hold
  // more elements than there are points (a recycled table).
  std::vector<simd::SamplePoint<T>> points;
  std::vector<int64_t> point_off;
  bool has_points() const {
    return !point_off.empty() || rois.empty();
  }
  simd::AlignSamples<T> samples(int64_t n, T count) const {
    const AlignRoi<T>& r = rois[n];
    return simd::AlignSamples<T>{
        points.data() + point_off[n], pooled_h * pooled_w,
        std::max<int64_t>(r.grid_h, 0) * std::max<int64_t>(r.grid_w, 0), count};
  }
};

// Above this many sampling points in one call the table of resolved points is not built.
constexpr int64_t kMaxTabulatedPoints = int64_t{1} << 22;

template <typename T>
void tabulate_points(AlignPlan<T>& plan, int64_t height) {
  const int64_t width = plan.width;
  if (height * width >= (int64_t{1} << 31)) return;
  int64_t total = 0;
  for (const auto& r : plan.rois) {
    total += std::max<int64_t>(r.grid_h, 0) * std::max<int64_t>(r.grid_w, 0) * plan.pooled_h *
        plan.pooled_w;
  }
  if (total > kMaxTabulatedPoints) return;
  plan.points.swap(spare_points<T>());
  if (static_cast<int64_t>(plan.points.size()) < total) plan.points.resize(total);
  plan.point_off.resize(plan.rois.size());
  int64_t at = 0;
  for (size_t n = 0; n < plan.rois.size(); ++n) {
    plan.point_off[n] = at;
    const auto g = plan.grid(static_cast<int64_t>(n), T(1));
    for (int64_t ph = 0; ph < g.pooled_h; ++ph) {
      for (int64_t pw = 0; pw < g.pooled_w; ++pw) {
        for (int64_t iy = 0; iy < g.grid_h; ++iy) {
          const AxisTap<T>& ty = g.ys[ph * g.grid_h + iy];
          for (int64_t ix = 0; ix < g.grid_w; ++ix) {
            const AxisTap<T>& tx = g.xs[pw * g.grid_w + ix];
            simd::SamplePoint<T>& s = plan.points[at++];
            if (!(ty.valid && tx.valid)) {
              s = simd::SamplePoint<T>{{0, 0, 0, 0}, {T(0), T(0), T(0), T(0)}};
              continue;
            }
            s.p[0] = static_cast<int32_t>(ty.lo * width + tx.lo);
            s.p[1] = static_cast<int32_t>(ty.lo * width + tx.hi);
            s.p[2] = static_cast<int32_t>(ty.hi * width + tx.lo);
            s.p[3] = static_cast<int32_t>(ty.hi * width + tx.hi);
            // torchvision: w1 = hy * hx, w2 = hy * lx, w3 = ly * hx, w4 = ly * lx.
            s.w[0] = ty.h * tx.h;
            s.w[1] = ty.h * tx.l;
            s.w[2] = ty.l * tx.h;
            s.w[3] = ty.l * tx.l;
          }
        }
      }
    }
  }
}

// offset: 0.5 for aligned roi_align and ps_roi_align, else 0; min_one: roi_align's "force malformed
// RoIs to be 1x1" (aligned=False only).
template <typename T>
AlignPlan<T> plan_align(
    const T* rois, int64_t num_rois, T spatial_scale, int64_t height, int64_t width,
    int64_t pooled_h, int64_t pooled_w, int64_t sampling_ratio, T offset, bool min_one,
    bool tabulate = true) {
  AlignPlan<T> plan;
  plan.pooled_h = pooled_h;
  plan.pooled_w = pooled_w;
  plan.width = width;
  plan.rois.resize(num_rois);
  struct Axis {
    T start, bin;
  };
  std::vector<Axis> ay(num_rois), ax(num_rois);
  int64_t ny = 0, nx = 0;
  for (int64_t n = 0; n < num_rois; ++n) {
    const T* r = rois + n * 5;
    const T start_w = r[1] * spatial_scale - offset;
    const T start_h = r[2] * spatial_scale - offset;
    const T end_w = r[3] * spatial_scale - offset;
    const T end_h = r[4] * spatial_scale - offset;
    T roi_w = end_w - start_w;
    T roi_h = end_h - start_h;
    if (min_one) {
      roi_w = std::max(roi_w, static_cast<T>(1.));
      roi_h = std::max(roi_h, static_cast<T>(1.));
    }
    ay[n] = {start_h, roi_h / static_cast<T>(pooled_h)};
    ax[n] = {start_w, roi_w / static_cast<T>(pooled_w)};
    AlignRoi<T>& a = plan.rois[n];
    a.grid_h = bin_grid(roi_h, pooled_h, sampling_ratio);
    a.grid_w = bin_grid(roi_w, pooled_w, sampling_ratio);
    const int64_t gh = std::max<int64_t>(a.grid_h, 0), gw = std::max<int64_t>(a.grid_w, 0);
    TORCH_CHECK(
        gh == 0 || gw == 0 || gh * gw <= kMaxSamplesPerRoi / std::max<int64_t>(pooled_h * pooled_w, 1),
        "rois: RoI ", n, " needs ", gh, " x ", gw,
        " samples per bin, too many; check spatial_scale or pass a positive sampling_ratio");
    a.y_off = ny;
    a.x_off = nx;
    ny += gh * pooled_h;
    nx += gw * pooled_w;
  }
  plan.ys.resize(ny);
  plan.xs.resize(nx);
  for (int64_t n = 0; n < num_rois; ++n) {
    const AlignRoi<T>& a = plan.rois[n];
    axis_taps(ay[n].start, ay[n].bin, pooled_h, std::max<int64_t>(a.grid_h, 0), height,
              plan.ys.data() + a.y_off);
    axis_taps(ax[n].start, ax[n].bin, pooled_w, std::max<int64_t>(a.grid_w, 0), width,
              plan.xs.data() + a.x_off);
  }
  if (tabulate) tabulate_points(plan, height);
  return plan;
}

// Output indices grouped by the input channel they read (channel_mapping), each group in the order
// the indices are listed in `visit` (torchvision's accumulation order): the backward passes give each
// thread whole channels and still add every element's contributions in torchvision's order.
// Returns false if a mapping lies outside [0, channels).
inline bool bucket_by_channel(
    const int32_t* mapping, const std::vector<int64_t>& visit, int64_t channels,
    std::vector<int64_t>& start, std::vector<int64_t>& order) {
  start.assign(channels + 1, 0);
  for (const int64_t i : visit) {
    const int64_t c = mapping[i];
    if (c < 0 || c >= channels) return false;
    ++start[c + 1];
  }
  for (int64_t c = 0; c < channels; ++c) start[c + 1] += start[c];
  order.resize(visit.size());
  std::vector<int64_t> fill(start.begin(), start.end() - 1);
  for (const int64_t i : visit) order[fill[mapping[i]]++] = i;
  return true;
}

// ----------------------------------------------------------------------------------------------
// Integer bins (roi_pool, ps_roi_pool).

// torchvision's `int v = round(x)`, without the undefined behaviour of an out-of-range conversion.
template <typename T>
int64_t round_to_int(T v) {
  const double r = static_cast<double>(std::round(v));
  if (!(r == r)) return 0;
  return static_cast<int64_t>(std::min(std::max(r, -2147483648.0), 2147483647.0));
}

template <typename T>
int64_t floor_to_int(T v) {
  const double r = static_cast<double>(std::floor(v));
  if (!(r == r)) return 0;
  return static_cast<int64_t>(std::min(std::max(r, -2147483648.0), 2147483647.0));
}

template <typename T>
int64_t ceil_to_int(T v) {
  const double r = static_cast<double>(std::ceil(v));
  if (!(r == r)) return 0;
  return static_cast<int64_t>(std::min(std::max(r, -2147483648.0), 2147483647.0));
}

// Bin boundaries along one axis: [start, end) of bin p is
// [floor(p * bin) + roi_start, ceil((p + 1) * bin) + roi_start) clipped to [0, limit].
template <typename T>
void pool_axis_bins(int64_t roi_start, int64_t roi_size, int64_t pooled, int64_t limit, int64_t* out) {
  const T bin = static_cast<T>(roi_size) / static_cast<T>(pooled);
  for (int64_t p = 0; p < pooled; ++p) {
    const int64_t s = floor_to_int(static_cast<T>(p) * bin);
    const int64_t e = ceil_to_int(static_cast<T>(p + 1) * bin);
    out[2 * p] = std::min(std::max<int64_t>(s + roi_start, 0), limit);
    out[2 * p + 1] = std::min(std::max<int64_t>(e + roi_start, 0), limit);
  }
}

// The images' RoI lists indexed by image (nullptr for an image without RoIs); points into g.
inline std::vector<const std::vector<int64_t>*> rois_of_image(const RoisByImage& g, int64_t batch) {
  std::vector<const std::vector<int64_t>*> out(batch, nullptr);
  for (size_t i = 0; i < g.images.size(); ++i) out[g.images[i]] = &g.rois[i];
  return out;
}

// True if channel_mapping holds what the forward pass of ps_roi_align / ps_roi_pool returns: output
// (n, c_out, ph, pw) reads input channel (c_out * pooled_h + ph) * pooled_w + pw, i.e. the j-th
// element of every RoI's [channels] slice is j. Then each input channel is read by exactly one bin
// of every RoI, and its gradient can be computed from that bin alone, RoI after RoI.
inline bool is_forward_channel_mapping(const int32_t* mapping, int64_t num_rois, int64_t channels) {
  int32_t bad = 0;
  for (int64_t n = 0; n < num_rois; ++n) {
    const int32_t* m = mapping + n * channels;
    for (int64_t j = 0; j < channels; ++j) bad |= m[j] ^ static_cast<int32_t>(j);
  }
  return bad == 0;
}

// ----------------------------------------------------------------------------------------------
// Channel blocks and per-thread scratch.

// A buffer owned by the calling thread and reused across calls (its pages stay mapped, so large
// scratch costs no page faults per call). Very large requests get a buffer of their own.
template <typename T, int Slot>
T* thread_scratch(size_t n, std::vector<T>& fallback) {
  constexpr size_t kKeepBytes = size_t{64} << 20;
  if (n * sizeof(T) > kKeepBytes) {
    fallback.resize(n);
    return fallback.data();
  }
  thread_local std::vector<T> buf;
  if (buf.size() < n) buf.resize(n);
  return buf.data();
}

// Copies channels [c0, c0 + nch) of one image into block ([height * width][kRoiChannelBlock],
// channels-last, converted to T); lanes nch..kRoiChannelBlock-1 are zero. Any strides.
template <typename S, typename T>
void gather_channel_block(
    const S* img, int64_t sc, int64_t sh, int64_t sw, int64_t height, int64_t width, int64_t c0,
    int64_t nch, T* block) {
  const int64_t cb = kRoiChannelBlock;
  if constexpr (std::is_same<S, T>::value && sizeof(T) == 4) {
    if (sw == 1 && nch == cb) {
      // A transposition of 16 channel rows into pixels, by SIMD squares: of whole planes when
      // their rows are contiguous, else row by row.
      const int64_t rows = sh == width ? 1 : height, cols = sh == width ? height * width : width;
      for (int64_t h = 0; h < rows; ++h) {
        simd::transpose_words(
            reinterpret_cast<const uint32_t*>(img + c0 * sc + h * sh), sc, cb, cols,
            reinterpret_cast<uint32_t*>(block + h * width * cb), cb);
      }
      return;
    }
  }
  if (sc == 1) {
    for (int64_t h = 0; h < height; ++h) {
      for (int64_t w = 0; w < width; ++w) {
        const S* src = img + h * sh + w * sw + c0;
        T* dst = block + (h * width + w) * cb;
        for (int64_t j = 0; j < nch; ++j) dst[j] = static_cast<T>(src[j]);
        for (int64_t j = nch; j < cb; ++j) dst[j] = T(0);
      }
    }
    return;
  }
  // Pixel by pixel, the 16 channels of a pixel read from 16 row streams: the block is written
  // sequentially (one cache line per pixel) and every source line is consumed while it is in cache.
  const S* src[kRoiChannelBlock];
  for (int64_t h = 0; h < height; ++h) {
    for (int64_t j = 0; j < nch; ++j) src[j] = img + (c0 + j) * sc + h * sh;
    T* dst = block + h * width * cb;
    if (nch == cb) {
      for (int64_t w = 0; w < width; ++w, dst += cb) {
        const int64_t o = w * sw;
        for (int64_t j = 0; j < cb; ++j) dst[j] = static_cast<T>(src[j][o]);
      }
    } else {
      for (int64_t w = 0; w < width; ++w, dst += cb) {
        const int64_t o = w * sw;
        for (int64_t j = 0; j < nch; ++j) dst[j] = static_cast<T>(src[j][o]);
        for (int64_t j = nch; j < cb; ++j) dst[j] = T(0);
      }
    }
  }
}

// Asks for one channel plane of every image to be brought into cache with sequential prefetches
// (the sampling that follows reads short, scattered row pieces the hardware would not prefetch).
template <typename S>
void prefetch_planes(
    const S* base, int64_t batch, int64_t sn, int64_t sh, int64_t sw, int64_t height, int64_t width) {
  constexpr int64_t kLine = 64 / sizeof(S) > 0 ? 64 / sizeof(S) : 1;
  if (sw != 1) return;
  for (int64_t b = 0; b < batch; ++b) {
    for (int64_t h = 0; h < height; ++h) {
      const S* row = base + b * sn + h * sh;
      for (int64_t w = 0; w < width; w += kLine) __builtin_prefetch(row + w);
      __builtin_prefetch(row + width - 1);
    }
  }
}

// The last step of the position-sensitive forward passes: by_channel holds the values of channel
// c_in for all RoIs in row c_in ([channels][num_rois], contiguous writes for the walks; a column of
// the output's [num_rois, channels] matrix has its elements a cache line or more apart). The rows
// are transposed into output[n * channels + c_in] in cache-sized tiles, and mapping there gets c_in.
template <typename scalar_t>
void store_position_sensitive(
    const scalar_t* by_channel, int64_t num_rois, int64_t channels, scalar_t* out, int32_t* cm) {
  constexpr int64_t kTile = 32;
  at::parallel_for(0, (num_rois + kTile - 1) / kTile, 1, [&](int64_t begin, int64_t end) {
    for (int64_t n0 = begin * kTile; n0 < std::min(end * kTile, num_rois); n0 += kTile) {
      const int64_t n1 = std::min(n0 + kTile, num_rois);
      for (int64_t c0 = 0; c0 < channels; c0 += kTile) {
        const int64_t c1 = std::min(c0 + kTile, channels);
        for (int64_t n = n0; n < n1; ++n) {
          for (int64_t c = c0; c < c1; ++c) {
            out[n * channels + c] = by_channel[c * num_rois + n];
            cm[n * channels + c] = static_cast<int32_t>(c);
          }
        }
      }
    }
  });
}

// The forward walk of the position-sensitive ops: input channel by input channel (each is read by
// one bin of every RoI, c_in = (c_out * pooled_h + ph) * pooled_w + pw), so that the channel's plane
// stays in cache while all RoIs read it and the next plane streams in. bin(n, plane, ph, pw) gives
// RoI n's value from `plane` (RoI n's image at channel c_in); it lands in output[n, c_out, ph, pw],
// and mapping there records c_in (see store_position_sensitive).
template <typename scalar_t, typename Bin>
void position_sensitive_forward(
    const at::Tensor& input, const std::vector<int64_t>& bidx, int64_t pooled_h, int64_t pooled_w,
    at::Tensor& output, at::Tensor& mapping, const Bin& bin) {
  const int64_t num_rois = output.size(0), channels_out = output.size(1);
  const int64_t batch = input.size(0), height = input.size(2), width = input.size(3);
  const scalar_t* in = input.data_ptr<scalar_t>();
  const int64_t sn = input.stride(0), sc = input.stride(1), sh = input.stride(2),
                sw = input.stride(3);
  scalar_t* out = output.data_ptr<scalar_t>();
  int32_t* cm = mapping.data_ptr<int32_t>();
  const int64_t bins = pooled_h * pooled_w;
  // output[n, c_out, ph, pw] is output[n * channels + c_in]: the values of channel c_in for all
  // RoIs are a column of that [num_rois, channels] matrix. They go to a row of its transpose
  // first (contiguous writes; a column's elements lie a cache line or more apart), which is then
  // transposed into the output in cache-sized tiles.
  const int64_t channels = channels_out * bins;
  std::vector<scalar_t> by_channel(static_cast<size_t>(channels * num_rois));
  at::parallel_for(0, channels, 1, [&](int64_t begin, int64_t end) {
    for (int64_t c_in = begin; c_in < end; ++c_in) {
      const int64_t ph = (c_in % bins) / pooled_w;
      const int64_t pw = c_in % pooled_w;
      if (c_in == begin) prefetch_planes(in + c_in * sc, batch, sn, sh, sw, height, width);
      if (c_in + 1 < end) prefetch_planes(in + (c_in + 1) * sc, batch, sn, sh, sw, height, width);
      scalar_t* row = by_channel.data() + c_in * num_rois;
      for (int64_t n = 0; n < num_rois; ++n) {
        row[n] = static_cast<scalar_t>(bin(n, in + bidx[n] * sn + c_in * sc, ph, pw));
      }
    }
  });
  store_position_sensitive(by_channel.data(), num_rois, channels, out, cm);
}

// Writes a [bins][kRoiChannelBlock] tile as nch rows of bins outputs (the [C, bins] layout of one RoI).
template <typename T, typename S>
void store_tile_transposed(const T* __restrict__ tile, int64_t nch, int64_t bins, S* __restrict__ out) {
  if constexpr (std::is_same<T, S>::value && sizeof(T) == 4) {
    simd::transpose_words(
        reinterpret_cast<const uint32_t*>(tile), kRoiChannelBlock, bins, nch,
        reinterpret_cast<uint32_t*>(out), bins);
    return;
  }
  for (int64_t j = 0; j < nch; ++j) {
    S* __restrict__ row = out + j * bins;
    const T* __restrict__ col = tile + j;
    for (int64_t k = 0; k < bins; ++k) row[k] = static_cast<S>(col[k * kRoiChannelBlock]);
  }
}

// store_tile_transposed for outputs that are large and written once (each element far from the
// last write to its cache line, so an ordinary store would first read the line from memory): the
// tile is transposed into staged (at least nch * bins elements, in cache) and streamed out. Call
// simd::stream_fence() on the same thread before another reads the outputs.
template <typename T, typename S>
void stream_tile_transposed(
    const T* tile, int64_t nch, int64_t bins, S* out, std::vector<S>& staged) {
  const int64_t count = nch * bins;
  if ((count * static_cast<int64_t>(sizeof(S))) % 4 != 0 ||
      reinterpret_cast<uintptr_t>(out) % 4 != 0) {
    store_tile_transposed(tile, nch, bins, out);
    return;
  }
  store_tile_transposed(tile, nch, bins, staged.data());
  simd::stream_words(
      reinterpret_cast<const uint32_t*>(staged.data()), reinterpret_cast<uint32_t*>(out),
      count * static_cast<int64_t>(sizeof(S)) / 4);
}

// The inverse for a contiguous [C, height, width] image: out[c0 + j] = block lane j.
template <typename S, typename T>
void scatter_channel_block(
    const T* block, int64_t height, int64_t width, int64_t c0, int64_t nch, S* img) {
  const int64_t cb = kRoiChannelBlock;
  const int64_t hw = height * width;
  if constexpr (std::is_same<S, T>::value && sizeof(T) == 4) {
    simd::transpose_words(
        reinterpret_cast<const uint32_t*>(block), cb, hw, nch,
        reinterpret_cast<uint32_t*>(img + c0 * hw), hw);
    return;
  }
  for (int64_t j = 0; j < nch; ++j) {
    S* dst = img + (c0 + j) * hw;
    const T* src = block + j;
    for (int64_t p = 0; p < hw; ++p) dst[p] = static_cast<S>(src[p * cb]);
  }
}

// Computes a gradient [batch, channels, hw] plane group by plane group, without zeroing the whole
// tensor first: a work item owns channels [c0, c0 + nc) (nc <= per_item) of every image, and for each
// image zeroes their planes (so they are in cache for what follows) and calls
// fill(planes, b, c0, nc) to add the contributions, in acc_t: half and bfloat16 planes are summed in
// a float scratch and rounded once at the end. Threads never share a plane, so no atomics.
template <typename scalar_t, typename F>
void fill_gradient_planes(
    scalar_t* grad_input, int64_t batch, int64_t channels, int64_t hw, int64_t per_item,
    const F& fill) {
  using acc_t = at::opmath_type<scalar_t>;
  constexpr bool kSameType = std::is_same<scalar_t, acc_t>::value;
  per_item = std::max<int64_t>(per_item, 1);
  const int64_t items = (channels + per_item - 1) / per_item;
  at::parallel_for(0, items, 1, [&](int64_t begin, int64_t end) {
    std::vector<acc_t> own;
    acc_t* scratch = kSameType ? nullptr : thread_scratch<acc_t, 3>(per_item * hw, own);
    for (int64_t item = begin; item < end; ++item) {
      const int64_t c0 = item * per_item;
      const int64_t nc = std::min(per_item, channels - c0);
      for (int64_t b = 0; b < batch; ++b) {
        scalar_t* out = grad_input + (b * channels + c0) * hw;
        acc_t* planes = kSameType ? reinterpret_cast<acc_t*>(out) : scratch;
        std::fill(planes, planes + nc * hw, acc_t(0));
        fill(planes, b, c0, nc);
        if (!kSameType) {
          for (int64_t k = 0; k < nc * hw; ++k) out[k] = static_cast<scalar_t>(planes[k]);
        }
      }
    }
  });
}

// The backward of ps_roi_align / ps_roi_pool for the channel mapping their forward returns (see
// is_forward_channel_mapping): input channel c_in is read by bin (ph, pw) of output channel c_out
// of every RoI only, so its gradient plane of image b is the sum, RoI after RoI (torchvision's
// order for every element), of add(plane, n, c_out, ph, pw) over the RoIs n of that image.
template <typename scalar_t, typename F>
void fill_position_sensitive_gradient(
    scalar_t* grad_input, const std::vector<int64_t>& batch_index, int64_t batch, int64_t channels,
    int64_t hw, int64_t pooled_h, int64_t pooled_w, const F& add) {
  using acc_t = at::opmath_type<scalar_t>;
  const int64_t bins = pooled_h * pooled_w;
  const RoisByImage groups = group_by_image(batch_index, batch);
  const auto rois_of = rois_of_image(groups, batch);
  fill_gradient_planes(
      grad_input, batch, channels, hw, 1, [&](acc_t* plane, int64_t b, int64_t c_in, int64_t) {
        if (rois_of[b] == nullptr) return;
        const int64_t c_out = c_in / bins;
        const int64_t ph = (c_in % bins) / pooled_w;
        const int64_t pw = c_in % pooled_w;
        for (const int64_t n : *rois_of[b]) add(plane, n, c_out, ph, pw);
      });
}

// The backward of ps_roi_align / ps_roi_pool for any other channel mapping: grad_input is zeroed,
// then every output's contribution, add(plane, n, c_out, ph, pw), is added into the plane of the
// input channel the mapping names, in the order the outputs are listed in `visit` (torchvision's);
// threads take whole input channels. half / bfloat16 gradients are summed in float and rounded once.
template <typename scalar_t, typename F>
void scatter_position_sensitive_gradient(
    at::Tensor& grad_input, const int32_t* mapping, const std::vector<int64_t>& visit,
    const std::vector<int64_t>& batch_index, int64_t channels_out, int64_t pooled_h,
    int64_t pooled_w, const char* op, const F& add) {
  using acc_t = at::opmath_type<scalar_t>;
  const int64_t channels = grad_input.size(1);
  const int64_t hw = grad_input.size(2) * grad_input.size(3);
  grad_input.zero_();
  at::Tensor acc_grad = std::is_same<scalar_t, acc_t>::value
      ? grad_input
      : at::zeros(grad_input.sizes(), grad_input.options().dtype(c10::CppTypeToScalarType<acc_t>::value));
  acc_t* gin = acc_grad.data_ptr<acc_t>();
  std::vector<int64_t> start, order;
  TORCH_CHECK(
      bucket_by_channel(mapping, visit, channels, start, order),
      "channel_mapping must hold input channels in [0, ", channels, "), as ", op, " returns them");

  at::parallel_for(0, channels, 1, [&](int64_t c_begin, int64_t c_end) {
    for (int64_t c_in = c_begin; c_in < c_end; ++c_in) {
      for (int64_t o = start[c_in]; o < start[c_in + 1]; ++o) {
        const int64_t index = order[o];
        const int64_t pw = index % pooled_w;
        const int64_t ph = (index / pooled_w) % pooled_h;
        const int64_t c_out = (index / pooled_w / pooled_h) % channels_out;
        const int64_t n = index / pooled_w / pooled_h / channels_out;
        add(gin + (batch_index[n] * channels + c_in) * hw, n, c_out, ph, pw);
      }
    }
  });
  if (!std::is_same<scalar_t, acc_t>::value) grad_input.copy_(acc_grad);
}

} // namespace roi
} // namespace ops
} // namespace tva
