// roi_pool forward (channel blocks, SIMD max with torchvision's first-maximum rule) and backward
// (channels split between threads, so no two threads add into the same gradient element).
#include <atomic>
#include <cstdlib>
#include <memory>

#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>

#ifdef __linux__
#include <sys/mman.h>
#endif

#include "ops/cpu/pool_simd.h"
#include "ops/cpu/roi_common.h"
#include "ops/cpu/roi_kernels.h"

namespace tva {
namespace ops {

namespace {

using roi::kRoiChannelBlock;

// The calling thread's channel-block buffer (n elements), reused across calls and backed by 2 MiB
// pages where the system grants them on request: the pooling reads rows of the block 19 KiB and
// more apart, and with 4 KiB pages every row is another TLB entry. Very large requests get a
// buffer of their own (`own`, freed by the caller).
struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};
using ScratchMemory = std::unique_ptr<void, FreeDeleter>;

inline void* huge_page_alloc(size_t bytes, size_t& rounded) {
  constexpr size_t kHuge = size_t{2} << 20;
  rounded = (bytes + kHuge - 1) / kHuge * kHuge;
  void* p = std::aligned_alloc(kHuge, rounded);
  TORCH_CHECK(p != nullptr, "roi_pool: cannot allocate ", rounded, " bytes of scratch memory");
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  madvise(p, rounded, MADV_HUGEPAGE); // advice only
#endif
  return p;
}

template <typename T>
T* block_scratch(size_t n, ScratchMemory& own) {
  constexpr size_t kKeepBytes = size_t{64} << 20;
  const size_t bytes = n * sizeof(T);
  size_t rounded = 0;
  if (bytes > kKeepBytes) {
    own.reset(huge_page_alloc(bytes, rounded));
    return static_cast<T*>(own.get());
  }
  thread_local ScratchMemory kept;
  thread_local size_t kept_bytes = 0;
  if (kept_bytes < bytes) {
    kept.reset(huge_page_alloc(bytes, rounded));
    kept_bytes = rounded;
  }
  return static_cast<T*>(kept.get());
}

// Bin boundaries of every RoI: rows [hb[2 ph], hb[2 ph + 1]) and columns likewise.
template <typename T>
struct PoolPlan {
  std::vector<int64_t> hb, wb;
  int64_t pooled_h, pooled_w;
  simd::PoolRoiBins bins(int64_t n, int64_t width) const {
    return simd::PoolRoiBins{hb.data() + n * 2 * pooled_h, wb.data() + n * 2 * pooled_w, pooled_h,
                          pooled_w, width};
  }
};

template <typename T>
PoolPlan<T> plan_pool(
    const T* rois, int64_t num_rois, T scale, int64_t height, int64_t width, int64_t pooled_h,
    int64_t pooled_w) {
  PoolPlan<T> p;
  p.pooled_h = pooled_h;
  p.pooled_w = pooled_w;
  p.hb.resize(num_rois * 2 * pooled_h);
  p.wb.resize(num_rois * 2 * pooled_w);
  for (int64_t n = 0; n < num_rois; ++n) {
    const T* r = rois + n * 5;
    const int64_t start_w = roi::round_to_int(r[1] * scale);
    const int64_t start_h = roi::round_to_int(r[2] * scale);
    const int64_t end_w = roi::round_to_int(r[3] * scale);
    const int64_t end_h = roi::round_to_int(r[4] * scale);
    // torchvision: malformed RoIs are forced to be 1x1.
    const int64_t roi_w = std::max<int64_t>(end_w - start_w + 1, 1);
    const int64_t roi_h = std::max<int64_t>(end_h - start_h + 1, 1);
    roi::pool_axis_bins<T>(start_h, roi_h, pooled_h, height, p.hb.data() + n * 2 * pooled_h);
    roi::pool_axis_bins<T>(start_w, roi_w, pooled_w, width, p.wb.data() + n * 2 * pooled_w);
  }
  return p;
}

// Copies rows [h0, h1) of channels [c0, c0 + nch) of one image into block, row h at
// block + row_offset[h] (a [width][kRoiChannelBlock] slab, see roi::gather_channel_block).
template <typename scalar_t, typename acc_t>
void gather_rows(
    const scalar_t* img, int64_t sc, int64_t sh, int64_t sw, int64_t h0, int64_t h1, int64_t width,
    int64_t c0, int64_t nch, const int64_t* row_offset, acc_t* block) {
  for (int64_t h = h0; h < h1; ++h) {
    roi::gather_channel_block(img + h * sh, sc, sh, sw, 1, width, c0, nch, block + row_offset[h]);
  }
}

// Index lanes as wide as the value lanes.
template <typename T>
using IndexOf = typename std::conditional<sizeof(T) == 4, int32_t, int64_t>::type;

// Writes one RoI's outputs of a channel block (nch rows of bins values and indices, contiguous in
// output and argmax), transposed in cache and streamed out: every output element is written once,
// far from the last write to its cache line.
template <typename scalar_t, typename acc_t, typename idx_t>
void store_outputs(
    const acc_t* tile, const idx_t* itile, int64_t nch, int64_t bins, scalar_t* out, int32_t* am,
    std::vector<scalar_t>& staged, std::vector<int32_t>& staged_index) {
  roi::stream_tile_transposed(tile, nch, bins, out, staged);
  roi::stream_tile_transposed(itile, nch, bins, am, staged_index);
}

template <typename scalar_t>
void roi_pool_forward_impl(
    const at::Tensor& input, const at::Tensor& rois, double spatial_scale, int64_t pooled_h,
    int64_t pooled_w, at::Tensor& output, at::Tensor& argmax) {
  using acc_t = at::opmath_type<scalar_t>;
  using idx_t = IndexOf<acc_t>;
  const int64_t num_rois = rois.size(0);
  const int64_t batch = input.size(0), channels = input.size(1);
  const int64_t height = input.size(2), width = input.size(3);

  const at::Tensor r = roi::rois_in<acc_t>(rois);
  const acc_t* rp = r.data_ptr<acc_t>();
  const auto groups =
      roi::group_by_image_top_down(roi::batch_indices(rp, num_rois, batch), batch, rp);
  const auto plan =
      plan_pool<acc_t>(rp, num_rois, static_cast<acc_t>(spatial_scale), height, width, pooled_h, pooled_w);

  const scalar_t* in = input.data_ptr<scalar_t>();
  const int64_t sn = input.stride(0), sc = input.stride(1), sh = input.stride(2),
                sw = input.stride(3);
  const bool in_place = std::is_same<scalar_t, acc_t>::value && sc == 1 && sh == width * sw;
  const int64_t bins = pooled_h * pooled_w;
  const int64_t nblocks = (channels + kRoiChannelBlock - 1) / kRoiChannelBlock;
  const int64_t items = static_cast<int64_t>(groups.images.size()) * nblocks;
  scalar_t* out = output.data_ptr<scalar_t>();
  int32_t* am = argmax.data_ptr<int32_t>();

  // A channel block holds only a band of rows (a ring of `ring` rows, row h in slot h % ring): the
  // RoIs come top down, so when a RoI starting at row r comes, no RoI needs a row above r any more,
  // and the rows needed from then on, up to the lowest row of any RoI seen, span at most the
  // tallest RoI's rows. The band stays in cache, where a whole map's block would not.
  // RoIs whose top edge does not order them (a NaN coordinate sorts anywhere) get the whole map:
  // every row from the top down, kept.
  std::vector<int64_t> ring(groups.images.size(), 1);
  std::vector<char> top_down(groups.images.size(), 1);
  std::vector<std::vector<int64_t>> row_offset(groups.images.size());
  for (size_t gi = 0; gi < groups.images.size(); ++gi) {
    int64_t top = 0;
    for (const int64_t n : groups.rois[gi]) {
      const simd::PoolRoiBins pb = plan.bins(n, width);
      ring[gi] = std::max(ring[gi], pb.hb[2 * pooled_h - 1] - pb.hb[0]);
      top_down[gi] &= pb.hb[0] >= top;
      top = pb.hb[0];
    }
    if (!top_down[gi]) ring[gi] = height;
    ring[gi] = std::min(ring[gi], std::max<int64_t>(height, 1));
    row_offset[gi].resize(height);
    for (int64_t h = 0; h < height; ++h) {
      row_offset[gi][h] = (h % ring[gi]) * width * kRoiChannelBlock;
    }
  }

  at::parallel_for(0, items, 1, [&](int64_t begin, int64_t end) {
    std::vector<acc_t> own_tile;
    ScratchMemory own_block;
    std::vector<idx_t> own_itile;
    acc_t* tile = roi::thread_scratch<acc_t, 1>(bins * kRoiChannelBlock, own_tile);
    idx_t* itile = roi::thread_scratch<idx_t, 2>(bins * kRoiChannelBlock, own_itile);
    std::vector<scalar_t> staged(bins * kRoiChannelBlock);
    std::vector<int32_t> staged_index(bins * kRoiChannelBlock);
    for (int64_t item = begin; item < end; ++item) {
      const int64_t gi = item / nblocks;
      const int64_t b = groups.images[gi];
      const int64_t c0 = (item % nblocks) * kRoiChannelBlock;
      const int64_t nch = std::min(kRoiChannelBlock, channels - c0);
      const bool direct = in_place && nch == kRoiChannelBlock;
      const acc_t* img;
      int64_t pixel_stride;
      acc_t* block = nullptr;
      const int64_t* rows = nullptr;
      if (direct) {
        img = reinterpret_cast<const acc_t*>(in + b * sn + c0);
        pixel_stride = sw;
      } else {
        block = block_scratch<acc_t>(ring[gi] * width * kRoiChannelBlock, own_block);
        img = block;
        pixel_stride = kRoiChannelBlock;
        rows = row_offset[gi].data();
      }
      // The block's rows are gathered only when the first RoI reaching them comes, so that they
      // are still in cache when it (and the RoIs after it) read them.
      int64_t gathered = 0;
      for (const int64_t n : groups.rois[gi]) {
        simd::PoolRoiBins pb = plan.bins(n, width);
        pb.row_offset = rows;
        if (!direct) {
          const int64_t rows_end = pb.hb[2 * pooled_h - 1];
          if (rows_end > gathered) {
            const int64_t from = top_down[gi] ? std::max(gathered, pb.hb[0]) : gathered;
            gather_rows(in + b * sn, sc, sh, sw, from, rows_end, width, c0, nch, rows, block);
            gathered = rows_end;
          }
        }
        simd::roi_pool_forward_tile(pb, img, pixel_stride, tile, itile);
        store_outputs(
            tile, itile, nch, bins, out + (n * channels + c0) * bins,
            am + (n * channels + c0) * bins, staged, staged_index);
      }
    }
    simd::stream_fence();
  });
}

inline void prefetch_bytes(const void* p, int64_t bytes) {
  const char* c = static_cast<const char*>(p);
  for (int64_t i = 0; i < bytes; i += 64) __builtin_prefetch(c + i);
  if (bytes > 0) __builtin_prefetch(c + bytes - 1);
}

template <typename scalar_t>
void roi_pool_backward_impl(
    const at::Tensor& grad, const at::Tensor& rois, const at::Tensor& argmax, int64_t pooled_h,
    int64_t pooled_w, at::Tensor& grad_input) {
  using acc_t = at::opmath_type<scalar_t>;
  const int64_t num_rois = rois.size(0);
  const int64_t batch = grad_input.size(0), channels = grad_input.size(1);
  const int64_t hw = grad_input.size(2) * grad_input.size(3);
  const at::Tensor r = roi::rois_in<acc_t>(rois);
  const auto groups =
      roi::group_by_image(roi::batch_indices(r.data_ptr<acc_t>(), num_rois, batch), batch);
  const auto rois_of = roi::rois_of_image(groups, batch);

  const scalar_t* g = grad.data_ptr<scalar_t>();
  const int64_t gs0 = grad.stride(0), gs1 = grad.stride(1), gs2 = grad.stride(2),
                gs3 = grad.stride(3);
  const at::Tensor amc = argmax.contiguous();
  const int32_t* am = amc.data_ptr<int32_t>();
  const int64_t bins = pooled_h * pooled_w;
  const uint64_t limit = static_cast<uint64_t>(hw);
  // Channels per work item: their gradient planes (written at random positions) stay in cache
  // while every RoI of the image adds into them. 256 KiB of planes: a fraction of a core's L2,
  // which they share with the grad and argmax rows streaming through (one 200 x 304 plane per
  // item ran 20% faster than four).
  const int64_t per_item = std::max<int64_t>(
      1, std::min<int64_t>(16, (int64_t{256} << 10) / std::max<int64_t>(hw * sizeof(acc_t), 1)));
  std::atomic<bool> bad_index{false};
  constexpr size_t kAhead = 4;
  // Per element, contributions arrive in torchvision's order (RoI, then bin).
  roi::fill_gradient_planes(
      grad_input.data_ptr<scalar_t>(), batch, channels, hw, per_item,
      [&](acc_t* planes, int64_t b, int64_t c0, int64_t nc) {
        if (rois_of[b] == nullptr) return;
        bool bad = false;
        const std::vector<int64_t>& list = *rois_of[b];
        for (size_t r = 0; r < list.size(); ++r) {
          const int64_t n = list[r];
          // The next RoIs' argmax and grad rows lie tens of kilobytes apart (one RoI's rows of all
          // channels in between): ask for them ahead, the hardware does not.
          if (r + kAhead < list.size()) {
            const int64_t m = list[r + kAhead];
            prefetch_bytes(am + (m * channels + c0) * bins, nc * bins * sizeof(int32_t));
            if (gs1 == bins && gs2 == pooled_w && gs3 == 1) {
              prefetch_bytes(g + m * gs0 + c0 * gs1, nc * bins * sizeof(scalar_t));
            }
          }
          for (int64_t j = 0; j < nc; ++j) {
            acc_t* plane = planes + j * hw;
            const int32_t* a = am + (n * channels + c0 + j) * bins;
            const scalar_t* src = g + n * gs0 + (c0 + j) * gs1;
            for (int64_t ph = 0; ph < pooled_h; ++ph) {
              for (int64_t pw = 0; pw < pooled_w; ++pw) {
                const int64_t i = a[ph * pooled_w + pw];
                // One comparison: -1 (an empty bin) and anything outside the plane fail it.
                if (static_cast<uint64_t>(i) < limit) {
                  plane[i] += static_cast<acc_t>(src[ph * gs2 + pw * gs3]);
                } else if (i != -1) {
                  bad = true;
                }
              }
            }
          }
        }
        if (bad) bad_index = true;
      });
  TORCH_CHECK(
      !bad_index, "argmax must hold pixel indices in [-1, height * width) = [-1, ", hw,
      "), as roi_pool returns them");
}

} // namespace

std::tuple<at::Tensor, at::Tensor> roi_pool_forward(
    const at::Tensor& input, const at::Tensor& rois, double spatial_scale, int64_t pooled_height,
    int64_t pooled_width) {
  roi::check_forward(input, rois);
  roi::check_pooled_size(pooled_height, pooled_width, /*allow_zero=*/true);
  const std::vector<int64_t> shape = {rois.size(0), input.size(1), pooled_height, pooled_width};
  at::Tensor output = empty_recycled(shape, input.options());
  at::Tensor argmax = empty_recycled(shape, input.options().dtype(at::kInt));
  if (output.numel() == 0) return std::make_tuple(output, argmax);
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, input.scalar_type(), "roi_pool", [&] {
    roi_pool_forward_impl<scalar_t>(
        input, rois, spatial_scale, pooled_height, pooled_width, output, argmax);
  });
  return std::make_tuple(output, argmax);
}

at::Tensor roi_pool_backward(
    const at::Tensor& grad, const at::Tensor& rois, const at::Tensor& argmax, double spatial_scale,
    int64_t pooled_height, int64_t pooled_width, int64_t batch_size, int64_t channels,
    int64_t height, int64_t width) {
  roi::check_pooled_size(pooled_height, pooled_width, /*allow_zero=*/true);
  roi::check_backward(
      grad, rois, channels, pooled_height, pooled_width, batch_size, height, width);
  roi::check_index_tensor(argmax, grad, "argmax");
  at::Tensor grad_input = empty_recycled({batch_size, channels, height, width}, grad.options());
  if (grad.numel() == 0 || grad_input.numel() == 0) return grad_input.zero_();
  // The kernel writes every element (zero where no bin's maximum lies).
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, grad.scalar_type(), "_roi_pool_backward", [&] {
    roi_pool_backward_impl<scalar_t>(grad, rois, argmax, pooled_height, pooled_width, grad_input);
  });
  return grad_input;
}

} // namespace ops
} // namespace tva
