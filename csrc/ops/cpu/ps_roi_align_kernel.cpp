// ps_roi_align forward and backward. Each output bin reads its own input channel, so there is no
// channel to vectorise across; the speed comes from resolving each RoI's sampling points once per
// bin (taps and weights shared by all that bin's channels), reading the input in place with its
// strides, and threads: forward splits input channels (each plane stays in cache while every RoI
// reads it), backward splits input channels too (no two threads add into the same element).
#include <algorithm>
#include <atomic>
#include <vector>

#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>

#include "ops/cpu/roi_common.h"
#include "ops/cpu/roi_kernels.h"

namespace tva {
namespace ops {

namespace {

using roi::AxisTap;

// torchvision reads a sample iff it lies in [-1, height] x [-1, width] (elsewhere the sample is 0,
// nothing is read). On a map without rows or columns such a read lies outside the input
// (torchvision reads out of bounds there), so it is an error; RoIs whose samples all lie outside
// give zeros, as in torchvision.
template <typename T>
void check_no_sample_reads_empty_map(
    const roi::AlignPlan<T>& plan, int64_t num_rois, const at::Tensor& input) {
  for (int64_t n = 0; n < num_rois; ++n) {
    const auto grid = plan.grid(n, T(1));
    bool row_inside = false, col_inside = false;
    for (int64_t i = 0; i < grid.pooled_h * grid.grid_h; ++i) row_inside |= grid.ys[i].valid;
    for (int64_t i = 0; i < grid.pooled_w * grid.grid_w; ++i) col_inside |= grid.xs[i].valid;
    TORCH_CHECK(
        !(row_inside && col_inside), "input has no rows or no columns (shape ", input.sizes(),
        ") but RoI ", n, " has samples within [-1, height] x [-1, width], where torchvision reads "
        "the input; RoIs whose samples all lie outside give zeros");
  }
}

// A sampling point inside the map with its four taps resolved: offsets from the plane's origin in
// its strides, and the weights torchvision computes (hy * hx, hy * lx, ly * hx, ly * lx).
template <typename T>
struct ResolvedPoint {
  int64_t offset[4];
  T w[4];
};

// The points inside the map of every (bin, RoI), bin by bin: those of RoI n in bin b are
// points[start[b * (num_rois + 1) + n] .. start[b * (num_rois + 1) + n + 1]), in torchvision's order.
// Returns false, leaving the table empty, when it would take more than 64 MiB.
template <typename T>
bool resolve_points(
    const roi::AlignPlan<T>& plan, int64_t num_rois, int64_t sh, int64_t sw,
    std::vector<ResolvedPoint<T>>& points, std::vector<int64_t>& start) {
  const int64_t bins = plan.pooled_h * plan.pooled_w;
  int64_t total = 0;
  for (int64_t n = 0; n < num_rois; ++n) {
    total += std::max<int64_t>(plan.rois[n].grid_h, 0) * std::max<int64_t>(plan.rois[n].grid_w, 0);
  }
  constexpr int64_t kMaxBytes = int64_t{64} << 20;
  if (total > kMaxBytes / static_cast<int64_t>(sizeof(ResolvedPoint<T>)) / std::max<int64_t>(bins, 1)) {
    return false;
  }
  points.reserve(static_cast<size_t>(total * bins));
  start.resize(static_cast<size_t>(bins * (num_rois + 1)));
  for (int64_t b = 0; b < bins; ++b) {
    const int64_t ph = b / plan.pooled_w, pw = b % plan.pooled_w;
    for (int64_t n = 0; n < num_rois; ++n) {
      start[b * (num_rois + 1) + n] = static_cast<int64_t>(points.size());
      const auto grid = plan.grid(n, T(1));
      const AxisTap<T>* ys = grid.ys + ph * grid.grid_h;
      const AxisTap<T>* xs = grid.xs + pw * grid.grid_w;
      for (int64_t iy = 0; iy < grid.grid_h; ++iy) {
        const AxisTap<T>& ty = ys[iy];
        if (!ty.valid) continue;
        for (int64_t ix = 0; ix < grid.grid_w; ++ix) {
          const AxisTap<T>& tx = xs[ix];
          if (!tx.valid) continue;
          const int64_t lo = int64_t{ty.lo} * sh, hi = int64_t{ty.hi} * sh;
          points.push_back(ResolvedPoint<T>{
              {lo + tx.lo * sw, lo + tx.hi * sw, hi + tx.lo * sw, hi + tx.hi * sw},
              {ty.h * tx.h, ty.h * tx.l, ty.l * tx.h, ty.l * tx.l}});
        }
      }
    }
    start[b * (num_rois + 1) + num_rois] = static_cast<int64_t>(points.size());
  }
  return true;
}

// The forward pass from the resolved points, bin by bin: a bin's points are read once per RoI for
// all the channels that bin reads (c_in = c_out * bins + bin, one per output channel), each channel
// summing them in torchvision's order. Threads split the bins.
template <typename scalar_t, typename acc_t>
void forward_resolved(
    const at::Tensor& input, const std::vector<int64_t>& bidx, const roi::AlignPlan<acc_t>& plan,
    const std::vector<ResolvedPoint<acc_t>>& points, const std::vector<int64_t>& start,
    at::Tensor& output, at::Tensor& mapping) {
  const int64_t num_rois = output.size(0), channels_out = output.size(1);
  const int64_t bins = plan.pooled_h * plan.pooled_w, channels = channels_out * bins;
  const int64_t batch = input.size(0), height = input.size(2), width = input.size(3);
  const scalar_t* in = input.data_ptr<scalar_t>();
  const int64_t sn = input.stride(0), sc = input.stride(1), sh = input.stride(2),
                sw = input.stride(3);
  std::vector<scalar_t> by_channel(static_cast<size_t>(channels * num_rois));
  at::parallel_for(0, bins, 1, [&](int64_t begin, int64_t end) {
    std::vector<acc_t> sums(static_cast<size_t>(channels_out));
    for (int64_t b = begin; b < end; ++b) {
      // The planes of the next bin are brought into cache while this one's are read.
      for (int64_t c = 0; c < channels_out; ++c) {
        if (b == begin) roi::prefetch_planes(in + (c * bins + b) * sc, batch, sn, sh, sw, height, width);
        if (b + 1 < end) {
          roi::prefetch_planes(in + (c * bins + b + 1) * sc, batch, sn, sh, sw, height, width);
        }
      }
      const int64_t* s = start.data() + b * (num_rois + 1);
      for (int64_t n = 0; n < num_rois; ++n) {
        const scalar_t* plane0 = in + bidx[n] * sn + b * sc;
        std::fill(sums.begin(), sums.end(), acc_t(0));
        for (int64_t i = s[n]; i < s[n + 1]; ++i) {
          const ResolvedPoint<acc_t>& p = points[i];
          const scalar_t* plane = plane0;
          for (int64_t c = 0; c < channels_out; ++c, plane += bins * sc) {
            const acc_t v1 = static_cast<acc_t>(plane[p.offset[0]]);
            const acc_t v2 = static_cast<acc_t>(plane[p.offset[1]]);
            const acc_t v3 = static_cast<acc_t>(plane[p.offset[2]]);
            const acc_t v4 = static_cast<acc_t>(plane[p.offset[3]]);
            sums[c] += p.w[0] * v1 + p.w[1] * v2 + p.w[2] * v3 + p.w[3] * v4;
          }
        }
        const acc_t count = plan.count(n);
        for (int64_t c = 0; c < channels_out; ++c) {
          by_channel[(c * bins + b) * num_rois + n] = static_cast<scalar_t>(sums[c] / count);
        }
      }
    }
  });
  roi::store_position_sensitive(
      by_channel.data(), num_rois, channels, output.data_ptr<scalar_t>(),
      mapping.data_ptr<int32_t>());
}

template <typename scalar_t>
void ps_roi_align_forward_impl(
    const at::Tensor& input, const at::Tensor& rois, double spatial_scale, int64_t pooled_h,
    int64_t pooled_w, int64_t sampling_ratio, at::Tensor& output, at::Tensor& mapping) {
  using acc_t = at::opmath_type<scalar_t>;
  const int64_t num_rois = rois.size(0);
  const int64_t batch = input.size(0);
  const int64_t height = input.size(2), width = input.size(3);

  const at::Tensor r = roi::rois_in<acc_t>(rois);
  const acc_t* rp = r.data_ptr<acc_t>();
  const auto bidx = roi::batch_indices(rp, num_rois, batch);
  const auto plan = roi::plan_align<acc_t>(
      rp, num_rois, static_cast<acc_t>(spatial_scale), height, width, pooled_h, pooled_w,
      sampling_ratio, acc_t(0.5), /*min_one=*/false, /*tabulate=*/false);
  if (height == 0 || width == 0) check_no_sample_reads_empty_map(plan, num_rois, input);

  const int64_t sh = input.stride(2), sw = input.stride(3);
  // Every channel of bin (ph, pw) samples the same points of each RoI: resolve the points inside
  // the map once (tap offsets and torchvision's weights) and let each channel read them back. A
  // point outside the map adds 0 in torchvision, which changes no sum, so it is left out.
  std::vector<ResolvedPoint<acc_t>> points;
  std::vector<int64_t> start;
  if (resolve_points(plan, num_rois, sh, sw, points, start)) {
    forward_resolved<scalar_t>(input, bidx, plan, points, start, output, mapping);
    return;
  }
  roi::position_sensitive_forward<scalar_t>(
      input, bidx, pooled_h, pooled_w, output, mapping,
      [&](int64_t n, const scalar_t* plane, int64_t ph, int64_t pw) {
        const auto grid = plan.grid(n, plan.count(n));
        const AxisTap<acc_t>* ys = grid.ys + ph * grid.grid_h;
        const AxisTap<acc_t>* xs = grid.xs + pw * grid.grid_w;
        acc_t sum = 0;
        for (int64_t iy = 0; iy < grid.grid_h; ++iy) {
          const AxisTap<acc_t>& ty = ys[iy];
          const scalar_t* row_lo = plane + int64_t{ty.lo} * sh;
          const scalar_t* row_hi = plane + int64_t{ty.hi} * sh;
          for (int64_t ix = 0; ix < grid.grid_w; ++ix) {
            const AxisTap<acc_t>& tx = xs[ix];
            if (!(ty.valid && tx.valid)) {
              sum += acc_t(0); // torchvision's bilinear_interpolate returns 0 outside the map
              continue;
            }
            const acc_t v1 = static_cast<acc_t>(row_lo[tx.lo * sw]);
            const acc_t v2 = static_cast<acc_t>(row_lo[tx.hi * sw]);
            const acc_t v3 = static_cast<acc_t>(row_hi[tx.lo * sw]);
            const acc_t v4 = static_cast<acc_t>(row_hi[tx.hi * sw]);
            const acc_t w1 = ty.h * tx.h, w2 = ty.h * tx.l, w3 = ty.l * tx.h, w4 = ty.l * tx.l;
            sum += w1 * v1 + w2 * v2 + w3 * v3 + w4 * v4;
          }
        }
        return sum / grid.count;
      });
}

// Adds one output's gradient go to the four taps of each sampling point of bin (ph, pw), as
// torchvision's ps_roi_align backward does (g * w_i / count, tap after tap).
template <typename T>
void add_bin_gradient(
    const simd::AlignGrid<T>& grid, int64_t ph, int64_t pw, T go, int64_t width, T* plane) {
  const AxisTap<T>* ys = grid.ys + ph * grid.grid_h;
  const AxisTap<T>* xs = grid.xs + pw * grid.grid_w;
  for (int64_t iy = 0; iy < grid.grid_h; ++iy) {
    const AxisTap<T>& ty = ys[iy];
    for (int64_t ix = 0; ix < grid.grid_w; ++ix) {
      const AxisTap<T>& tx = xs[ix];
      if (!(ty.valid && tx.valid)) continue;
      const T w1 = ty.h * tx.h, w2 = ty.h * tx.l, w3 = ty.l * tx.h, w4 = ty.l * tx.l;
      plane[int64_t{ty.lo} * width + tx.lo] += go * w1 / grid.count;
      plane[int64_t{ty.lo} * width + tx.hi] += go * w2 / grid.count;
      plane[int64_t{ty.hi} * width + tx.lo] += go * w3 / grid.count;
      plane[int64_t{ty.hi} * width + tx.hi] += go * w4 / grid.count;
    }
  }
}

template <typename scalar_t>
void ps_roi_align_backward_impl(
    const at::Tensor& grad, const at::Tensor& rois, const at::Tensor& mapping,
    double spatial_scale, int64_t pooled_h, int64_t pooled_w, int64_t sampling_ratio,
    at::Tensor& grad_input) {
  using acc_t = at::opmath_type<scalar_t>;
  const int64_t num_rois = rois.size(0);
  const int64_t batch = grad_input.size(0), channels = grad_input.size(1);
  const int64_t height = grad_input.size(2), width = grad_input.size(3);
  const int64_t hw = height * width;
  const int64_t channels_out = grad.size(1);

  const at::Tensor r = roi::rois_in<acc_t>(rois);
  const acc_t* rp = r.data_ptr<acc_t>();
  const auto bidx = roi::batch_indices(rp, num_rois, batch);
  const auto plan = roi::plan_align<acc_t>(
      rp, num_rois, static_cast<acc_t>(spatial_scale), height, width, pooled_h, pooled_w,
      sampling_ratio, acc_t(0.5), /*min_one=*/false, /*tabulate=*/false);

  const scalar_t* g = grad.data_ptr<scalar_t>();
  const int64_t gs0 = grad.stride(0), gs1 = grad.stride(1), gs2 = grad.stride(2),
                gs3 = grad.stride(3);
  const at::Tensor cmc = mapping.contiguous();
  const int32_t* cm = cmc.data_ptr<int32_t>();

  const auto add = [&](acc_t* plane, int64_t n, int64_t c_out, int64_t ph, int64_t pw) {
    const acc_t go = static_cast<acc_t>(g[n * gs0 + c_out * gs1 + ph * gs2 + pw * gs3]);
    add_bin_gradient(plan.grid(n, plan.count(n)), ph, pw, go, width, plane);
  };
  if (roi::is_forward_channel_mapping(cm, num_rois, channels)) {
    roi::fill_position_sensitive_gradient(
        grad_input.data_ptr<scalar_t>(), bidx, batch, channels, hw, pooled_h, pooled_w, add);
    return;
  }
  // Any other mapping: torchvision adds the outputs' contributions in output order.
  std::vector<int64_t> visit(grad.numel());
  for (int64_t i = 0; i < grad.numel(); ++i) visit[i] = i;
  roi::scatter_position_sensitive_gradient<scalar_t>(
      grad_input, cm, visit, bidx, channels_out, pooled_h, pooled_w, "ps_roi_align", add);
}

} // namespace

std::tuple<at::Tensor, at::Tensor> ps_roi_align_forward(
    const at::Tensor& input, const at::Tensor& rois, double spatial_scale, int64_t pooled_height,
    int64_t pooled_width, int64_t sampling_ratio) {
  const std::vector<int64_t> shape =
      roi::position_sensitive_output_shape(input, rois, pooled_height, pooled_width);
  // Not zeroed: the kernel writes every element.
  at::Tensor output = empty_recycled(shape, input.options());
  at::Tensor mapping = empty_recycled(shape, input.options().dtype(at::kInt));
  if (output.numel() == 0) return std::make_tuple(output, mapping);
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, input.scalar_type(), "ps_roi_align", [&] {
    ps_roi_align_forward_impl<scalar_t>(
        input, rois, spatial_scale, pooled_height, pooled_width, sampling_ratio, output, mapping);
  });
  return std::make_tuple(output, mapping);
}

at::Tensor ps_roi_align_backward(
    const at::Tensor& grad, const at::Tensor& rois, const at::Tensor& channel_mapping,
    double spatial_scale, int64_t pooled_height, int64_t pooled_width, int64_t sampling_ratio,
    int64_t batch_size, int64_t channels, int64_t height, int64_t width) {
  roi::check_position_sensitive_backward(
      grad, rois, channel_mapping, pooled_height, pooled_width, batch_size, channels, height, width);
  // Not zeroed here: the kernel writes every element.
  at::Tensor grad_input = empty_recycled({batch_size, channels, height, width}, grad.options());
  if (grad.numel() == 0 || grad_input.numel() == 0) return grad_input.zero_();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, grad.scalar_type(), "_ps_roi_align_backward", [&] {
    ps_roi_align_backward_impl<scalar_t>(
        grad, rois, channel_mapping, spatial_scale, pooled_height, pooled_width, sampling_ratio,
        grad_input);
  });
  return grad_input;
}

} // namespace ops
} // namespace tva
