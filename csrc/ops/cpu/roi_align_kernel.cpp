// roi_align forward and backward on channel blocks, and forward with the row sampler.
//
// Work is split into (image, block of kRoiChannelBlock channels) items, one thread each. An item
// brings its channels into channels-last order once (or reads a channels-last input in place), then
// samples every RoI of its image with the precomputed grid: a vector lane per channel, torchvision's
// arithmetic per lane, so float32 and float64 results equal torchvision's bit for bit. The backward
// pass accumulates into the item's own channels only, so threads never write the same gradient
// element and no atomics are needed; each element receives its contributions in torchvision's order.
//
// float32 NCHW maps with sampling_ratio 2 go to the row sampler (roi_align_rows_simd.h) when it is
// the cheaper path: its results are within a few float roundings of torchvision's, not bit for bit.
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <type_traits>

#include <unistd.h>

#include "ops/cpu/pool_simd.h"
#include "ops/cpu/roi_align_rows_simd.h"
#include "ops/cpu/roi_common.h"
#include "ops/cpu/roi_kernels.h"

namespace tva {
namespace ops {

namespace {

// Whether an output is written with cache-bypassing stores (its lines are then not read from memory
// before they are written): when it is larger than a quarter of the last-level cache. A smaller
// output, recycled (common/reuse.h), is still in that cache from the previous call, and ordinary
// stores to it are faster (measured: a 20 MB output 5% faster without streaming on a 105 MB cache,
// 48 MB ones 1-9% faster with it). TVA_ROI_STREAM_BYTES, read per call, sets the size from which
// outputs are streamed instead (the tests run both paths with it).
bool stream_output(const at::Tensor& output) {
  static const int64_t llc_quarter = [] {
    int64_t llc = 0;
#if defined(_SC_LEVEL3_CACHE_SIZE)
    llc = sysconf(_SC_LEVEL3_CACHE_SIZE);
#endif
    return std::max<int64_t>(int64_t{4} << 20, llc / 4);
  }();
  const char* env = std::getenv("TVA_ROI_STREAM_BYTES");
  const int64_t threshold = env != nullptr ? std::atoll(env) : llc_quarter;
  return output.numel() * static_cast<int64_t>(output.element_size()) >= threshold;
}

using roi::kRoiChannelBlock;

// roi_align forward with the row sampler (roi_align_rows_simd.h), reading a float32 map of unit
// column stride in place. Returns false, having written nothing, if the sampler cannot take every
// RoI. Each RoI's table is laid out once; work items are (group of kRowGroupChannels channels, or
// half as many when the tables of an image's RoIs take under kSmallTableBytes, part of the RoIs),
// each walking its RoIs in `order` (top edge down), so that the rows consecutive RoIs read from the
// group's planes stay in cache.
constexpr int64_t kRowGroupChannels = 16;
constexpr int64_t kSmallTableBytes = int64_t{512} << 10;

bool roi_align_forward_rows_impl(
    const at::Tensor& input, const std::vector<int64_t>& order, const std::vector<int64_t>& batch,
    size_t images_with_rois, const roi::AlignPlan<float>& plan, at::Tensor& output) {
  const int64_t channels = input.size(1);
  const int64_t sn = input.stride(0), sc = input.stride(1), sh = input.stride(2);
  const int64_t bins = plan.pooled_h * plan.pooled_w;
  const int64_t num = static_cast<int64_t>(order.size());
  auto grid = [&plan](int64_t n) { return plan.grid(n, std::max(plan.count(n), 1.f)); };

  std::vector<int64_t> table_at(plan.rois.size(), 0);
  int64_t total = 0;
  // Tables of at most 256 MiB in all (pooled_h is not bounded otherwise).
  constexpr int64_t kMaxTableBytes = int64_t{1} << 28;
  for (const int64_t n : order) {
    const int64_t bytes = simd::roi_align_rows_table_bytes(grid(n));
    if (bytes == 0 || total + bytes > kMaxTableBytes) return false;
    table_at[n] = total;
    total += bytes;
  }
  std::vector<float> own_tables;
  float* raw = roi::thread_scratch<float, 4>(total / 4 + 16, own_tables);
  char* tables = reinterpret_cast<char*>((reinterpret_cast<uintptr_t>(raw) + 63) & ~uintptr_t{63});
  int64_t units = 0, samples = 0;
  for (const int64_t n : order) {
    const int64_t u = simd::roi_align_rows_table(grid(n), sh, tables + table_at[n]);
    if (u == 0) return false;
    units += u;
    samples += bins * plan.rois[n].grid_h * plan.rois[n].grid_w;
  }
  // The channel-block path instead gathers every map with RoIs, then reads 16 channels per vector;
  // it is the faster one when many RoIs share a map (costs per channel, measured in ns: about 6.8
  // per unit here, against 1.3 per map pixel plus 1.5 per sample there; measured before the
  // sampler's y-then-x arithmetic and row-by-row prefetching made it a quarter to a third faster,
  // so the choice errs towards blocks).
  const int64_t images = static_cast<int64_t>(images_with_rois);
  const double rows_cost = 6.8 * static_cast<double>(units);
  const double blocks_cost = 1.26 * static_cast<double>(images * input.size(2) * input.size(3)) +
      1.48 * static_cast<double>(samples);
  if (rows_cost > 0.9 * blocks_cost) return false;

  // A work item reads its planes' rows near the RoIs' band again and again, and the tables of its
  // RoIs once per channel: with small tables a smaller group keeps more of that band in cache.
  const int64_t group_channels = total / std::max<int64_t>(images, 1) < kSmallTableBytes
      ? kRowGroupChannels / 2
      : kRowGroupChannels;
  const int64_t groups = (channels + group_channels - 1) / group_channels;
  const int64_t threads = at::get_num_threads();
  const int64_t parts =
      std::max<int64_t>(1, std::min<int64_t>(num, (2 * threads + groups - 1) / groups));
  const float* in = input.data_ptr<float>();
  float* out = output.data_ptr<float>();
  const bool stream = stream_output(output);
  at::parallel_for(0, groups * parts, 1, [&](int64_t begin, int64_t end) {
    for (int64_t item = begin; item < end; ++item) {
      const int64_t c0 = (item / parts) * group_channels;
      const int64_t nch = std::min(group_channels, channels - c0);
      const int64_t part = item % parts;
      for (int64_t i = part * num / parts; i < (part + 1) * num / parts; ++i) {
        const int64_t n = order[i];
        simd::roi_align_forward_rows(
            tables + table_at[n], in + batch[n] * sn + c0 * sc, sc, nch,
            out + (n * channels + c0) * bins, stream);
      }
    }
    if (stream) simd::stream_fence();
  });
  return true;
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
  // A float32 map of unit column stride that is not channels-last goes to the row sampler first.
  const bool rows = std::is_same<scalar_t, float>::value && input.stride(3) == 1 &&
      input.stride(1) != 1 && sampling_ratio == 2;
  auto plan = roi::plan_align<acc_t>(
      rp, num_rois, static_cast<acc_t>(spatial_scale), height, width, pooled_h, pooled_w,
      sampling_ratio, aligned ? acc_t(0.5) : acc_t(0), !aligned, /*tabulate=*/!rows);
  if constexpr (std::is_same<scalar_t, float>::value) {
    if (rows) {
      std::vector<int64_t> order;
      order.reserve(num_rois);
      for (const auto& list : groups.rois) order.insert(order.end(), list.begin(), list.end());
      if (roi_align_forward_rows_impl(input, order, bidx, groups.images.size(), plan, output)) {
        return;
      }
      roi::tabulate_points(plan, height);
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
  const bool stream = stream_output(output);

  at::parallel_for(0, items, 1, [&](int64_t begin, int64_t end) {
    std::vector<acc_t> own_block, own_tile;
    std::vector<scalar_t> staged(stream ? bins * kRoiChannelBlock : 0);
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
          scalar_t* dst = out + (n * channels + cg) * bins;
          if (stream) {
            roi::stream_tile_transposed(tile + g * bins * kRoiChannelBlock, ng, bins, dst, staged);
          } else {
            roi::store_tile_transposed(tile + g * bins * kRoiChannelBlock, ng, bins, dst);
          }
        }
      }
    }
    if (stream) simd::stream_fence();
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
  // Every plane of an image with RoIs is written whole below; those of the others are zero.
  std::vector<char> written(static_cast<size_t>(batch), 0);
  for (const int64_t b : groups.images) written[b] = 1;
  for (int64_t b = 0; b < batch; ++b) {
    if (!written[b]) std::fill(gin + b * channels * hw, gin + (b + 1) * channels * hw, scalar_t(0));
  }

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
        // The RoI's grads of these channels, channels-last: a [pooled_h, pooled_w] "image".
        roi::gather_channel_block(g + n * gs0, gs1, gs2, gs3, pooled_h, pooled_w, c0, nch, tile);
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
  at::Tensor output = empty_recycled(
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
      empty_recycled({batch_size, channels, height, width}, grad.options());
  if (grad.numel() == 0 || grad_input.numel() == 0) return grad_input.zero_();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, grad.scalar_type(), "_roi_align_backward", [&] {
    roi_align_backward_impl<scalar_t>(
        grad, rois, spatial_scale, pooled_height, pooled_width, sampling_ratio, aligned,
        grad_input);
  });
  return grad_input;
}

} // namespace ops
} // namespace tva
