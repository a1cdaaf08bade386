// ps_roi_pool forward and backward: each RoI's bins computed once, input read in place with its
// strides; both split input channels between threads. The float32 forward computes one input
// channel for all RoIs at once, one RoI per vector lane (pool_simd.h).
//
// torchvision 0.14's two passes disagree at the map border and this kernel keeps both behaviours:
// the forward pass clips bins to [0, height - 1) x [0, width - 1) (the last row and column are never
// pooled) and rounds RoI corners in the input's precision, while the backward pass clips to
// [0, height) x [0, width) and rounds in float.
#include <atomic>

#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>

#include "ops/cpu/pool_simd.h"
#include "ops/cpu/roi_common.h"
#include "ops/cpu/roi_kernels.h"

namespace tva {
namespace ops {

namespace {

// Bin boundaries of every RoI, [hb[2 ph], hb[2 ph + 1]) x [wb[2 pw], wb[2 pw + 1]).
struct PsPoolPlan {
  std::vector<int64_t> hb, wb;
};

template <typename T>
PsPoolPlan plan_ps_pool(
    const T* rois, int64_t num_rois, T scale, int64_t height, int64_t width, int64_t pooled_h,
    int64_t pooled_w, bool backward) {
  PsPoolPlan p;
  p.hb.resize(num_rois * 2 * pooled_h);
  p.wb.resize(num_rois * 2 * pooled_w);
  auto rnd = [&](T v) {
    return backward ? roi::round_to_int(static_cast<float>(v)) : roi::round_to_int(v);
  };
  for (int64_t n = 0; n < num_rois; ++n) {
    const T* r = rois + n * 5;
    const int64_t start_w = rnd(r[1] * scale);
    const int64_t start_h = rnd(r[2] * scale);
    const int64_t end_w = rnd(r[3] * scale);
    const int64_t end_h = rnd(r[4] * scale);
    // torchvision: too small RoIs are forced to be 1x1.
    const int64_t roi_w = std::max<int64_t>(end_w - start_w, 1);
    const int64_t roi_h = std::max<int64_t>(end_h - start_h, 1);
    const int64_t lim_h = backward ? height : height - 1;
    const int64_t lim_w = backward ? width : width - 1;
    roi::pool_axis_bins<T>(start_h, roi_h, pooled_h, lim_h, p.hb.data() + n * 2 * pooled_h);
    roi::pool_axis_bins<T>(start_w, roi_w, pooled_w, lim_w, p.wb.data() + n * 2 * pooled_w);
  }
  return p;
}

// The bins of every bin position as the SIMD core reads them: one lane per RoI, the RoIs ordered
// by their bins' size (so that the lanes of one vector need about as many pixels each), padded to
// a multiple of simd::kPsLanePad lanes.
struct PsPoolLaneTable {
  std::vector<int64_t> roi_at; // roi_at[lane]: the RoI in that lane (lane < num_rois)
  std::vector<int32_t> first, rows, cols; // [bins][lanes]
  int64_t lanes = 0;
};

// Fills `t` if every element offset fits in int32 (else returns false: the scalar walk is used).
bool plan_ps_pool_lanes(
    const PsPoolPlan& plan, const std::vector<int64_t>& bidx, int64_t pooled_h, int64_t pooled_w,
    int64_t sn, int64_t sh, int64_t sw, PsPoolLaneTable& t) {
  const int64_t num_rois = static_cast<int64_t>(bidx.size());
  const int64_t bins = pooled_h * pooled_w;
  std::vector<int64_t> size_key(num_rois);
  for (int64_t n = 0; n < num_rois; ++n) {
    const int64_t* hb = plan.hb.data() + n * 2 * pooled_h;
    const int64_t* wb = plan.wb.data() + n * 2 * pooled_w;
    int64_t rows = 0, cols = 0;
    for (int64_t ph = 0; ph < pooled_h; ++ph) rows = std::max(rows, hb[2 * ph + 1] - hb[2 * ph]);
    for (int64_t pw = 0; pw < pooled_w; ++pw) cols = std::max(cols, wb[2 * pw + 1] - wb[2 * pw]);
    size_key[n] = std::min<int64_t>(rows, 1 << 20) * (int64_t{1} << 21) + std::min<int64_t>(cols, 1 << 20);
  }
  t.roi_at.resize(num_rois);
  for (int64_t n = 0; n < num_rois; ++n) t.roi_at[n] = n;
  std::stable_sort(t.roi_at.begin(), t.roi_at.end(), [&](int64_t a, int64_t b) {
    return size_key[a] < size_key[b];
  });
  t.lanes = (num_rois + simd::kPsLanePad - 1) / simd::kPsLanePad * simd::kPsLanePad;
  t.first.assign(bins * t.lanes, 0);
  t.rows.assign(bins * t.lanes, 0);
  t.cols.assign(bins * t.lanes, 0);
  constexpr int64_t kMax = std::numeric_limits<int32_t>::max();
  for (int64_t lane = 0; lane < num_rois; ++lane) {
    const int64_t n = t.roi_at[lane];
    const int64_t* hb = plan.hb.data() + n * 2 * pooled_h;
    const int64_t* wb = plan.wb.data() + n * 2 * pooled_w;
    for (int64_t ph = 0; ph < pooled_h; ++ph) {
      for (int64_t pw = 0; pw < pooled_w; ++pw) {
        const int64_t h0 = hb[2 * ph], h1 = hb[2 * ph + 1];
        const int64_t w0 = wb[2 * pw], w1 = wb[2 * pw + 1];
        if (h1 <= h0 || w1 <= w0) continue; // empty: nothing read, output 0
        const int64_t first = bidx[n] * sn + h0 * sh + w0 * sw;
        if (first + (h1 - 1 - h0) * sh + (w1 - 1 - w0) * sw > kMax) return false;
        const int64_t i = (ph * pooled_w + pw) * t.lanes + lane;
        t.first[i] = static_cast<int32_t>(first);
        t.rows[i] = static_cast<int32_t>(h1 - h0);
        t.cols[i] = static_cast<int32_t>(w1 - w0);
      }
    }
  }
  return true;
}

// Float forward: input channel by input channel (each is read by one bin position of every RoI),
// all RoIs at once, one per lane, into a [channels][lanes] table that is then transposed into the
// [RoI][channels] output (output channel c_out, bin k of RoI n is element c_out * bins + k = c_in).
void ps_roi_pool_forward_lanes(
    const at::Tensor& input, const PsPoolLaneTable& t, int64_t bins, at::Tensor& output,
    at::Tensor& mapping) {
  const int64_t num_rois = output.size(0);
  const int64_t channels = input.size(1);
  const float* in = input.data_ptr<float>();
  const int64_t sc = input.stride(1), sh = input.stride(2), sw = input.stride(3);
  std::vector<float> table(channels * t.lanes);
  at::parallel_for(0, channels, 1, [&](int64_t begin, int64_t end) {
    for (int64_t c_in = begin; c_in < end; ++c_in) {
      const int64_t k = c_in % bins;
      const simd::PsPoolLanes l{
          t.first.data() + k * t.lanes, t.rows.data() + k * t.lanes, t.cols.data() + k * t.lanes,
          t.lanes, sh, sw};
      simd::ps_roi_pool_forward_lanes(l, in + c_in * sc, table.data() + c_in * t.lanes);
    }
  });
  float* out = output.data_ptr<float>();
  int32_t* cm = mapping.data_ptr<int32_t>();
  constexpr int64_t kGroup = simd::kPsLanePad;
  at::parallel_for(0, (num_rois + kGroup - 1) / kGroup, 1, [&](int64_t begin, int64_t end) {
    for (int64_t g = begin; g < end; ++g) {
      const int64_t l0 = g * kGroup, l1 = std::min(l0 + kGroup, num_rois);
      for (int64_t c_in = 0; c_in < channels; ++c_in) {
        const float* src = table.data() + c_in * t.lanes;
        for (int64_t lane = l0; lane < l1; ++lane) out[t.roi_at[lane] * channels + c_in] = src[lane];
      }
      for (int64_t lane = l0; lane < l1; ++lane) {
        int32_t* m = cm + t.roi_at[lane] * channels;
        for (int64_t c_in = 0; c_in < channels; ++c_in) m[c_in] = static_cast<int32_t>(c_in);
      }
    }
  });
}

template <typename scalar_t>
void ps_roi_pool_forward_impl(
    const at::Tensor& input, const at::Tensor& rois, double spatial_scale, int64_t pooled_h,
    int64_t pooled_w, at::Tensor& output, at::Tensor& mapping) {
  using acc_t = at::opmath_type<scalar_t>;
  const int64_t num_rois = rois.size(0);
  const int64_t batch = input.size(0);
  const int64_t height = input.size(2), width = input.size(3);

  const at::Tensor r = roi::rois_in<acc_t>(rois);
  const acc_t* rp = r.data_ptr<acc_t>();
  const auto bidx = roi::batch_indices(rp, num_rois, batch);
  const auto plan = plan_ps_pool<acc_t>(
      rp, num_rois, static_cast<acc_t>(spatial_scale), height, width, pooled_h, pooled_w, false);

  const int64_t sn = input.stride(0), sh = input.stride(2), sw = input.stride(3);
  PsPoolLaneTable table;
  if (std::is_same<scalar_t, float>::value && height > 0 && width > 0 &&
      plan_ps_pool_lanes(plan, bidx, pooled_h, pooled_w, sn, sh, sw, table)) {
    ps_roi_pool_forward_lanes(input, table, pooled_h * pooled_w, output, mapping);
    return;
  }

  roi::position_sensitive_forward<scalar_t>(
      input, bidx, pooled_h, pooled_w, output, mapping,
      [&](int64_t n, const scalar_t* plane, int64_t ph, int64_t pw) {
        const int64_t* hb = plan.hb.data() + n * 2 * pooled_h;
        const int64_t* wb = plan.wb.data() + n * 2 * pooled_w;
        const int64_t h0 = hb[2 * ph], h1 = hb[2 * ph + 1];
        const int64_t w0 = wb[2 * pw], w1 = wb[2 * pw + 1];
        const bool empty = (h1 <= h0) || (w1 <= w0);
        acc_t sum = 0;
        for (int64_t h = h0; h < h1; ++h) {
          for (int64_t w = w0; w < w1; ++w) sum += static_cast<acc_t>(plane[h * sh + w * sw]);
        }
        const acc_t area = static_cast<acc_t>((h1 - h0) * (w1 - w0));
        return empty ? acc_t(0) : sum / area;
      });
}

template <typename scalar_t>
void ps_roi_pool_backward_impl(
    const at::Tensor& grad, const at::Tensor& rois, const at::Tensor& mapping,
    double spatial_scale, int64_t pooled_h, int64_t pooled_w, at::Tensor& grad_input) {
  using acc_t = at::opmath_type<scalar_t>;
  const int64_t num_rois = rois.size(0);
  const int64_t batch = grad_input.size(0), channels = grad_input.size(1);
  const int64_t height = grad_input.size(2), width = grad_input.size(3);
  const int64_t hw = height * width;
  const int64_t channels_out = grad.size(1);

  const at::Tensor r = roi::rois_in<acc_t>(rois);
  const acc_t* rp = r.data_ptr<acc_t>();
  const auto bidx = roi::batch_indices(rp, num_rois, batch);
  const auto plan = plan_ps_pool<acc_t>(
      rp, num_rois, static_cast<acc_t>(spatial_scale), height, width, pooled_h, pooled_w, true);

  const scalar_t* g = grad.data_ptr<scalar_t>();
  const int64_t gs0 = grad.stride(0), gs1 = grad.stride(1), gs2 = grad.stride(2),
                gs3 = grad.stride(3);
  const at::Tensor cmc = mapping.contiguous();
  const int32_t* cm = cmc.data_ptr<int32_t>();

  const auto add = [&](acc_t* plane, int64_t n, int64_t c_out, int64_t ph, int64_t pw) {
    const int64_t* hb = plan.hb.data() + n * 2 * pooled_h;
    const int64_t* wb = plan.wb.data() + n * 2 * pooled_w;
    const int64_t h0 = hb[2 * ph], h1 = hb[2 * ph + 1];
    const int64_t w0 = wb[2 * pw], w1 = wb[2 * pw + 1];
    if (h1 <= h0 || w1 <= w0) return; // an empty bin adds nothing
    const acc_t area = static_cast<acc_t>((h1 - h0) * (w1 - w0));
    const acc_t diff = static_cast<acc_t>(g[n * gs0 + c_out * gs1 + ph * gs2 + pw * gs3]) / area;
    for (int64_t h = h0; h < h1; ++h) {
      for (int64_t w = w0; w < w1; ++w) plane[h * width + w] += diff;
    }
  };
  if (roi::is_forward_channel_mapping(cm, num_rois, channels)) {
    roi::fill_position_sensitive_gradient(
        grad_input.data_ptr<scalar_t>(), bidx, batch, channels, hw, pooled_h, pooled_w, add);
    return;
  }
  // Any other mapping: torchvision visits the outputs RoI by RoI, then bin row, bin column, output
  // channel.
  std::vector<int64_t> visit;
  visit.reserve(num_rois * channels_out * pooled_h * pooled_w);
  for (int64_t n = 0; n < num_rois; ++n)
    for (int64_t ph = 0; ph < pooled_h; ++ph)
      for (int64_t pw = 0; pw < pooled_w; ++pw)
        for (int64_t c_out = 0; c_out < channels_out; ++c_out)
          visit.push_back(((n * channels_out + c_out) * pooled_h + ph) * pooled_w + pw);
  roi::scatter_position_sensitive_gradient<scalar_t>(
      grad_input, cm, visit, bidx, channels_out, pooled_h, pooled_w, "ps_roi_pool", add);
}

} // namespace

std::tuple<at::Tensor, at::Tensor> ps_roi_pool_forward(
    const at::Tensor& input, const at::Tensor& rois, double spatial_scale, int64_t pooled_height,
    int64_t pooled_width) {
  const std::vector<int64_t> shape =
      roi::position_sensitive_output_shape(input, rois, pooled_height, pooled_width);
  // Not zeroed: the kernel writes every element.
  at::Tensor output = empty_recycled(shape, input.options());
  at::Tensor mapping = empty_recycled(shape, input.options().dtype(at::kInt));
  if (output.numel() == 0) return std::make_tuple(output, mapping);
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, input.scalar_type(), "ps_roi_pool", [&] {
    ps_roi_pool_forward_impl<scalar_t>(
        input, rois, spatial_scale, pooled_height, pooled_width, output, mapping);
  });
  return std::make_tuple(output, mapping);
}

at::Tensor ps_roi_pool_backward(
    const at::Tensor& grad, const at::Tensor& rois, const at::Tensor& channel_mapping,
    double spatial_scale, int64_t pooled_height, int64_t pooled_width, int64_t batch_size,
    int64_t channels, int64_t height, int64_t width) {
  roi::check_position_sensitive_backward(
      grad, rois, channel_mapping, pooled_height, pooled_width, batch_size, channels, height, width);
  // Not zeroed here: the kernel writes every element.
  at::Tensor grad_input = empty_recycled({batch_size, channels, height, width}, grad.options());
  if (grad.numel() == 0 || grad_input.numel() == 0) return grad_input.zero_();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, grad.scalar_type(), "_ps_roi_pool_backward", [&] {
    ps_roi_pool_backward_impl<scalar_t>(
        grad, rois, channel_mapping, spatial_scale, pooled_height, pooled_width, grad_input);
  });
  return grad_input;
}

} // namespace ops
} // namespace tva
