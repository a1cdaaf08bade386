// roi_align forward and backward on channel blocks.
//
// Work is split into (image, block of kRoiChannelBlock channels) items, one thread each. An item
// brings its channels into channels-last order once (or reads a channels-last input in place), then
// samples every RoI of its image with the precomputed grid: a vector lane per channel, torchvision's
// arithmetic per lane, so float32 and float64 results equal torchvision's bit for bit. The backward
// pass accumulates into the item's own channels only, so threads never write the same gradient
// element and no atomics are needed; each element receives its contributions in torchvision's order.
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>

#include <limits>
#include <type_traits>

#include "ops/cpu/roi_align_planes_simd.h"
#include "ops/cpu/roi_common.h"
#include "ops/cpu/roi_kernels.h"

namespace tva {
namespace ops {

namespace {

using roi::kRoiChannelBlock;

// RoI n's sampling points laid out for the direct sampler (simd::PlaneSamples), as element offsets
// within a plane of row stride sh and column stride sw.
template <typename T, typename I>
void plane_table(
    const simd::AlignGrid<T>& g, int64_t sh, int64_t sw, std::vector<I>& idx, std::vector<T>& w) {
  constexpr int64_t G = simd::plane_group<T>();
  const int64_t bins = g.pooled_h * g.pooled_w;
  const int64_t per_bin = g.grid_h * g.grid_w;
  const int64_t main = bins / G * G;
  idx.resize(bins * per_bin * 4);
  w.resize(bins * per_bin * 4);
  for (int64_t ph = 0; ph < g.pooled_h; ++ph) {
    for (int64_t pw = 0; pw < g.pooled_w; ++pw) {
      const int64_t b = ph * g.pooled_w + pw;
      // Where tap 0 of sample 0 goes, and the distance between consecutive taps and samples.
      int64_t at, tap_step, sample_step;
      if (b < main) {
        at = (b / G) * per_bin * 4 * G + b % G;
        tap_step = G;
      } else {
        at = main * per_bin * 4 + (b - main) * per_bin * 4;
        tap_step = 1;
      }
      sample_step = 4 * tap_step;
      for (int64_t iy = 0; iy < g.grid_h; ++iy) {
        const simd::AxisTap<T>& ty = g.ys[ph * g.grid_h + iy];
        for (int64_t ix = 0; ix < g.grid_w; ++ix, at += sample_step) {
          const simd::AxisTap<T>& tx = g.xs[pw * g.grid_w + ix];
          if (!(ty.valid && tx.valid)) {
            for (int q = 0; q < 4; ++q) {
              idx[at + q * tap_step] = 0;
              w[at + q * tap_step] = T(0);
            }
            continue;
          }
          idx[at] = static_cast<I>(ty.lo * sh + tx.lo * sw);
          idx[at + tap_step] = static_cast<I>(ty.lo * sh + tx.hi * sw);
          idx[at + 2 * tap_step] = static_cast<I>(ty.hi * sh + tx.lo * sw);
          idx[at + 3 * tap_step] = static_cast<I>(ty.hi * sh + tx.hi * sw);
          // torchvision: w1 = hy * hx, w2 = hy * lx, w3 = ly * hx, w4 = ly * lx.
          w[at] = ty.h * tx.h;
          w[at + tap_step] = ty.h * tx.l;
          w[at + 2 * tap_step] = ty.l * tx.h;
          w[at + 3 * tap_step] = ty.l * tx.l;
        }
      }
    }
  }
}

// Above this many table entries for one RoI the direct sampler is not used (only adaptive sampling
// of very large RoIs gets there).
constexpr int64_t kMaxPlaneTable = int64_t{1} << 18;

// Whether the direct samplers take this call: a float32 map of unit column stride (not
// channels-last, which the channel-block path reads in place), offsets within a group of planes that
// fit in int32, and sampling tables of bounded size.
template <typename scalar_t>
bool use_planes(const at::Tensor& input, int64_t bins, int64_t sampling_ratio) {
  if (!std::is_same<scalar_t, float>::value || input.stride(3) != 1 || input.stride(1) == 1) {
    return false;
  }
  if (sampling_ratio <= 0) return false;
  if (bins * sampling_ratio * sampling_ratio * 4 > kMaxPlaneTable) return false;
  const int64_t reach = (input.size(2) - 1) * input.stride(2) + (input.size(3) - 1) +
      (simd::plane_group<float>() - 1) * input.stride(1);
  return reach < std::numeric_limits<int32_t>::max();
}

// roi_align forward on the planes of a float32 map of unit column stride, read in place. Each RoI
// gets a row-sampler table once (roi_align_planes_simd.h); the few RoIs the row sampler cannot take
// go to the gather sampler. Work items are (group of kPlaneGroupChannels channels, part of the
// RoIs), each walking its RoIs in `order` (top edge down): the channel group's rows that
// consecutive RoIs read stay in cache, and every row of the map is brought in about once per group.
constexpr int64_t kPlaneGroupChannels = 16;

inline void roi_align_forward_planes_impl(
    const at::Tensor& input, const std::vector<int64_t>& order, const std::vector<int64_t>& batch,
    const roi::AlignPlan<float>& plan, at::Tensor& output) {
  const int64_t channels = input.size(1);
  const int64_t sn = input.stride(0), sc = input.stride(1), sh = input.stride(2),
                sw = input.stride(3);
  const int64_t bins = plan.pooled_h * plan.pooled_w;
  const int64_t num = static_cast<int64_t>(order.size());
  const int64_t num_rois = static_cast<int64_t>(plan.rois.size());
  auto grid = [&plan](int64_t n) { return plan.grid(n, std::max(plan.count(n), 1.f)); };

  // Row tables of all RoIs in one block; table_at[n] < 0: RoI n goes to the gather sampler.
  std::vector<int64_t> table_at(num_rois, -1);
  int64_t total = 0;
  for (const int64_t n : order) {
    table_at[n] = total;
    total += simd::roi_align_rows_table_bytes(grid(n));
  }
  std::vector<float> own_tables;
  float* tables_raw = roi::thread_scratch<float, 4>(total / 4 + 16, own_tables);
  char* tables = reinterpret_cast<char*>((reinterpret_cast<uintptr_t>(tables_raw) + 63) & ~uintptr_t{63});
  at::parallel_for(0, num, 16, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const int64_t n = order[i];
      if (!simd::roi_align_rows_table(grid(n), sh, tables + table_at[n])) table_at[n] = -1;
    }
  });

  const int64_t groups = (channels + kPlaneGroupChannels - 1) / kPlaneGroupChannels;
  const int64_t threads = at::get_num_threads();
  const int64_t parts =
      std::max<int64_t>(1, std::min<int64_t>(num, (2 * threads + groups - 1) / groups));
  const float* in = input.data_ptr<float>();
  float* out = output.data_ptr<float>();
  at::parallel_for(0, groups * parts, 1, [&](int64_t begin, int64_t end) {
    std::vector<int32_t> idx;
    std::vector<float> w;
    for (int64_t item = begin; item < end; ++item) {
      const int64_t c0 = (item / parts) * kPlaneGroupChannels;
      const int64_t nch = std::min(kPlaneGroupChannels, channels - c0);
      const int64_t part = item % parts;
      for (int64_t i = part * num / parts; i < (part + 1) * num / parts; ++i) {
        const int64_t n = order[i];
        const float* img = in + batch[n] * sn + c0 * sc;
        float* dst = out + (n * channels + c0) * bins;
        if (table_at[n] >= 0) {
          simd::roi_align_forward_rows(tables + table_at[n], img, sc, nch, dst);
          continue;
        }
        const auto g = grid(n);
        plane_table<float, int32_t>(g, sh, sw, idx, w);
        const simd::PlaneSamples<float, int32_t> s{
            idx.data(), w.data(), bins, g.grid_h * g.grid_w, g.count};
        simd::roi_align_forward_planes(s, img, sc, nch, dst);
      }
    }
  });
}

template <typename scalar_t>
void roi_align_forward_impl(
    const at::Tensor& input, const at::Tensor& rois, double spatial_scale, int64_t pooled_h,
    int64_t pooled_w, int64_t sampling_ratio, bool aligned, at::Tensor& output) {
  using acc_t = at::opmath_type<scalar_t>;
  const int64_t num_rois = rois.size(0);
  const int64_t batch = input.size(0), channels = input.size(1);
  const int64_t height = input.size(2), width = input.size(3);

  const at::Tensor r = roi::rois_in<acc_t>(rois);
  const acc_t* rp = r.data_ptr<acc_t>();
  const std::vector<int64_t> bidx = roi::batch_indices(rp, num_rois, batch);
  const auto groups = roi::group_by_image_top_down(bidx, batch, rp);
  const bool planes = use_planes<scalar_t>(input, pooled_h * pooled_w, sampling_ratio);
  const auto plan = roi::plan_align<acc_t>(
      rp, num_rois, static_cast<acc_t>(spatial_scale), height, width, pooled_h, pooled_w,
      sampling_ratio, aligned ? acc_t(0.5) : acc_t(0), !aligned, /*tabulate=*/!planes);
  if (planes) {
    std::vector<int64_t> order;
    order.reserve(num_rois);
    for (const auto& list : groups.rois) order.insert(order.end(), list.begin(), list.end());
    if constexpr (std::is_same<scalar_t, float>::value) {
      roi_align_forward_planes_impl(input, order, bidx, plan, output);
      return;
    }
  }

  const scalar_t* in = input.data_ptr<scalar_t>();
  const int64_t sn = input.stride(0), sc = input.stride(1), sh = input.stride(2),
                sw = input.stride(3);
  // A channels-last map (uniform pixel stride, unit channel stride) is sampled in place.
  const bool in_place = std::is_same<scalar_t, acc_t>::value && sc == 1 && sh == width * sw;
  const int64_t bins = pooled_h * pooled_w;
  const int64_t hw = height * width;
  const int64_t nblocks = (channels + kRoiChannelBlock - 1) / kRoiChannelBlock;
  const int64_t images = static_cast<int64_t>(groups.images.size());
  // Several blocks per work item share the per-sample work; but keep at least two items per
  // thread when there are enough blocks, so that threads stay busy.
  const int64_t threads = at::get_num_threads();
  const int64_t per_item = !plan.has_points()
      ? 1
      : std::max<int64_t>(
            1, std::min<int64_t>(simd::kRoiMaxBlocks, nblocks * images / (2 * threads)));
  const int64_t groups_per_image = (nblocks + per_item - 1) / per_item;
  const int64_t items = images * groups_per_image;
  const int64_t chans_per_item = per_item * kRoiChannelBlock;
  scalar_t* out = output.data_ptr<scalar_t>();

  at::parallel_for(0, items, 1, [&](int64_t begin, int64_t end) {
    std::vector<acc_t> own_block, own_tile;
    acc_t* tile = roi::thread_scratch<acc_t, 1>(per_item * bins * kRoiChannelBlock, own_tile);
    for (int64_t item = begin; item < end; ++item) {
      const int64_t gi = item / groups_per_image;
      const int64_t b = groups.images[gi];
      const int64_t c0 = (item % groups_per_image) * chans_per_item;
      const int64_t nch = std::min(chans_per_item, channels - c0);
      const int64_t nblk = (nch + kRoiChannelBlock - 1) / kRoiChannelBlock;
      const acc_t* img;
      int64_t pixel_stride, block_stride;
      if (in_place && nch == nblk * kRoiChannelBlock) {
        img = reinterpret_cast<const acc_t*>(in + b * sn + c0);
        pixel_stride = sw;
        block_stride = kRoiChannelBlock;
      } else {
        acc_t* block =
            roi::thread_scratch<acc_t, 0>(nblk * hw * kRoiChannelBlock, own_block);
        for (int64_t g = 0; g < nblk; ++g) {
          const int64_t cg = c0 + g * kRoiChannelBlock;
          roi::gather_channel_block(
              in + b * sn, sc, sh, sw, height, width, cg, std::min(kRoiChannelBlock, channels - cg),
              block + g * hw * kRoiChannelBlock);
        }
        img = block;
        pixel_stride = kRoiChannelBlock;
        block_stride = hw * kRoiChannelBlock;
      }
      for (const int64_t n : groups.rois[gi]) {
        const acc_t count = std::max(plan.count(n), acc_t(1));
        if (plan.has_points()) {
          simd::roi_align_forward_blocks(
              plan.samples(n, count), img, pixel_stride, block_stride, nblk, tile);
        } else {
          simd::roi_align_forward_block(plan.grid(n, count), img, pixel_stride, tile);
        }
        for (int64_t g = 0; g < nblk; ++g) {
          const int64_t cg = c0 + g * kRoiChannelBlock;
          const int64_t ng = std::min(kRoiChannelBlock, channels - cg);
          roi::store_tile_transposed(
              tile + g * bins * kRoiChannelBlock, ng, bins, out + (n * channels + cg) * bins);
        }
      }
    }
  });
}

template <typename scalar_t>
void roi_align_backward_impl(
    const at::Tensor& grad, const at::Tensor& rois, double spatial_scale, int64_t pooled_h,
    int64_t pooled_w, int64_t sampling_ratio, bool aligned, at::Tensor& grad_input) {
  using acc_t = at::opmath_type<scalar_t>;
  const int64_t num_rois = rois.size(0);
  const int64_t batch = grad_input.size(0), channels = grad_input.size(1);
  const int64_t height = grad_input.size(2), width = grad_input.size(3);

  const at::Tensor r = roi::rois_in<acc_t>(rois);
  const acc_t* rp = r.data_ptr<acc_t>();
  const auto groups = roi::group_by_image(roi::batch_indices(rp, num_rois, batch), batch);
  const auto plan = roi::plan_align<acc_t>(
      rp, num_rois, static_cast<acc_t>(spatial_scale), height, width, pooled_h, pooled_w,
      sampling_ratio, aligned ? acc_t(0.5) : acc_t(0), !aligned);

  const scalar_t* g = grad.data_ptr<scalar_t>();
  const int64_t gs0 = grad.stride(0), gs1 = grad.stride(1), gs2 = grad.stride(2),
                gs3 = grad.stride(3);
  const int64_t bins = pooled_h * pooled_w;
  const int64_t hw = height * width;
  const int64_t nblocks = (channels + kRoiChannelBlock - 1) / kRoiChannelBlock;
  const int64_t items = static_cast<int64_t>(groups.images.size()) * nblocks;
  scalar_t* gin = grad_input.data_ptr<scalar_t>();

  at::parallel_for(0, items, 1, [&](int64_t begin, int64_t end) {
    std::vector<acc_t> own_block, own_tile;
    acc_t* tile = roi::thread_scratch<acc_t, 1>(bins * kRoiChannelBlock, own_tile);
    acc_t* acc = roi::thread_scratch<acc_t, 0>(hw * kRoiChannelBlock, own_block);
    for (int64_t item = begin; item < end; ++item) {
      const int64_t gi = item / nblocks;
      const int64_t b = groups.images[gi];
      const int64_t c0 = (item % nblocks) * kRoiChannelBlock;
      const int64_t nch = std::min(kRoiChannelBlock, channels - c0);
      std::fill(acc, acc + hw * kRoiChannelBlock, acc_t(0));
      for (const int64_t n : groups.rois[gi]) {
        for (int64_t j = 0; j < kRoiChannelBlock; ++j) {
          const scalar_t* src = g + n * gs0 + (c0 + j) * gs1;
          for (int64_t ph = 0; ph < pooled_h; ++ph) {
            for (int64_t pw = 0; pw < pooled_w; ++pw) {
              tile[(ph * pooled_w + pw) * kRoiChannelBlock + j] =
                  j < nch ? static_cast<acc_t>(src[ph * gs2 + pw * gs3]) : acc_t(0);
            }
          }
        }
        if (plan.has_points()) {
          simd::roi_align_backward_block(plan.samples(n, plan.count(n)), tile, acc);
        } else {
          simd::roi_align_backward_block(plan.grid(n, plan.count(n)), tile, acc);
        }
      }
      roi::scatter_channel_block(acc, height, width, c0, nch, gin + b * channels * hw);
    }
  });
}

} // namespace

at::Tensor roi_align_forward(
    const at::Tensor& input, const at::Tensor& rois, double spatial_scale, int64_t pooled_height,
    int64_t pooled_width, int64_t sampling_ratio, bool aligned) {
  roi::check_forward(input, rois);
  roi::check_pooled_size(pooled_height, pooled_width, /*allow_zero=*/true);
  at::Tensor output = roi::empty_output(
      {rois.size(0), input.size(1), pooled_height, pooled_width}, input.options());
  if (output.numel() == 0) return output;
  if (input.size(2) == 0 || input.size(3) == 0) {
    // Nothing to sample from: every sample is outside the map.
    AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, input.scalar_type(), "roi_align", [&] {
      roi::batch_indices(roi::rois_in<at::opmath_type<scalar_t>>(rois).template data_ptr<at::opmath_type<scalar_t>>(), rois.size(0), input.size(0));
    });
    return output.zero_();
  }
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, input.scalar_type(), "roi_align", [&] {
    roi_align_forward_impl<scalar_t>(
        input, rois, spatial_scale, pooled_height, pooled_width, sampling_ratio, aligned, output);
  });
  return output;
}

at::Tensor roi_align_backward(
    const at::Tensor& grad, const at::Tensor& rois, double spatial_scale, int64_t pooled_height,
    int64_t pooled_width, int64_t batch_size, int64_t channels, int64_t height, int64_t width,
    int64_t sampling_ratio, bool aligned) {
  roi::check_pooled_size(pooled_height, pooled_width, /*allow_zero=*/true);
  roi::check_backward(
      grad, rois, channels, pooled_height, pooled_width, batch_size, height, width);
  at::Tensor grad_input =
      roi::empty_output({batch_size, channels, height, width}, grad.options()).zero_();
  if (grad.numel() == 0 || grad_input.numel() == 0) return grad_input;
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, grad.scalar_type(), "_roi_align_backward", [&] {
    roi_align_backward_impl<scalar_t>(
        grad, rois, spatial_scale, pooled_height, pooled_width, sampling_ratio, aligned,
        grad_input);
  });
  return grad_input;
}

} // namespace ops
} // namespace tva
