// CPU kernels for deform_conv2d (DCNv1 and DCNv2), forward and backward.
//
// Deformable convolution is an ordinary convolution over "deformable columns": for every output
// pixel p, kernel tap k and input channel c, the column holds the input bilinearly sampled at the
// tap's position shifted by the learned offset, times the mask. The convolution is then a matrix
// product of the weight with these columns, which we leave to PyTorch: at::mm (BLAS) in general,
// and for the float32 forward at::conv2d (oneDNN) over the columns laid out as an "expanded image"
// in which each output pixel owns a kernel-sized patch, convolved with stride = kernel size.
//
// What is ours is the sampling and its transpose:
//
//  * A sampling position (its four corners, their bilinear weights, the mask) depends on the offset
//    group, the tap and the output pixel, but not on the channel. It is computed once per band in
//    a table of `Tap`s and applied to every channel of the offset group.
//  * The input is read channels-last, so the four corners of a position are four contiguous rows
//    of channels and a whole run of channels is sampled with SIMD loads (deform_sample_simd).
//  * The columns are laid out pixel-major with the channels innermost ([group][pixel][tap][channel]
//    for at::mm, [row][tap row][column][tap column][channel] for the expanded image), so sampling
//    writes contiguous rows of channels.
//  * Work is split into bands of output rows, one parallel region per call: a thread samples a
//    band and multiplies it (single-threaded inside the region) while its columns are fresh.
//  * Backward, per band: the column gradient is one GEMM; the offset and mask gradients are
//    channel reductions at each (pixel, tap) of the band, which no other band touches; the input
//    gradient is a scatter into channels-last rows and the weight gradient a GEMM, both summed
//    into buffers private to the thread and added up after the region. No two threads ever write
//    the same element and no atomics are needed.
//
// The arithmetic of a sample is torchvision's (bilinear_interpolate in
// torchvision/csrc/ops/cpu/deform_conv2d_kernel.cpp), including its boundary rules: the sample is
// 0 when h <= -1 || h >= height || w <= -1 || w >= width, each corner outside the image reads 0,
// and the coordinate gradients use the per-corner rule only (so a position exactly on -1 has a
// zero value but a non-zero offset gradient, as in torchvision). Sums run in a different order
// than torchvision's (GEMM blocking, vector lanes), so results agree to rounding, not bit for bit.
//
// float16 and bfloat16 (which torchvision's CPU kernel rejects) are computed in float32.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include "common/checks.h"
#include "ops/cpu/deform_sample_simd.h"
#include "ops/deform_conv2d.h"

namespace tva {
namespace ops {
namespace {

// Every size of one call, validated, with the call's parameters.
struct Shape : DeformConv2dParams {
  int64_t batch, channels, height, width;
  int64_t out_channels, kernel_h, kernel_w, taps; // taps = kernel_h * kernel_w
  int64_t out_h, out_w, pixels;                   // pixels = out_h * out_w
  int64_t group_channels;        // input channels per weight group
  int64_t group_out_channels;    // output channels per weight group
  int64_t offset_group_channels; // input channels per offset group
  int64_t band_rows; // output rows per band of parallel work, see plan_bands()
};

Shape check_arguments(
    const at::Tensor& input,
    const at::Tensor& weight,
    const at::Tensor& offset,
    const at::Tensor& mask,
    const at::Tensor& bias,
    const DeformConv2dParams& p) {
  const int64_t stride_h = p.stride_h, stride_w = p.stride_w, pad_h = p.pad_h, pad_w = p.pad_w;
  const int64_t dilation_h = p.dilation_h, dilation_w = p.dilation_w;
  const int64_t groups = p.groups, offset_groups = p.offset_groups;
  const bool use_mask = p.use_mask;
  check_cpu(input, "input");
  check_cpu(weight, "weight");
  check_cpu(offset, "offset");
  check_cpu(bias, "bias");
  check_dim(input, 4, "input", "[batch, in_channels, height, width]");
  check_dim(weight, 4, "weight", "[out_channels, in_channels / groups, kernel_h, kernel_w]");
  check_dim(offset, 4, "offset", "[batch, 2 * offset_groups * kernel_h * kernel_w, out_h, out_w]");
  check_floating(input, "input");
  check_same_dtype(input, "input", weight, "weight");
  check_same_dtype(input, "input", offset, "offset");
  check_same_dtype(input, "input", bias, "bias");
  if (use_mask) {
    check_cpu(mask, "mask");
    check_dim(mask, 4, "mask", "[batch, offset_groups * kernel_h * kernel_w, out_h, out_w]");
    check_same_dtype(input, "input", mask, "mask");
  }

  Shape s;
  static_cast<DeformConv2dParams&>(s) = p;
  s.batch = input.size(0);
  s.channels = input.size(1);
  s.height = input.size(2);
  s.width = input.size(3);
  s.out_channels = weight.size(0);
  s.kernel_h = weight.size(2);
  s.kernel_w = weight.size(3);
  s.taps = s.kernel_h * s.kernel_w;

  TORCH_CHECK(
      s.kernel_h > 0 && s.kernel_w > 0, "weight should have a kernel of at least 1x1, got ",
      s.kernel_h, "x", s.kernel_w, " (weight shape ", weight.sizes(), ")");
  TORCH_CHECK(
      stride_h > 0 && stride_w > 0, "stride should be positive, got (", stride_h, ", ", stride_w,
      ")");
  TORCH_CHECK(
      pad_h >= 0 && pad_w >= 0, "padding should be non-negative, got (", pad_h, ", ", pad_w, ")");
  TORCH_CHECK(
      dilation_h > 0 && dilation_w > 0, "dilation should be positive, got (", dilation_h, ", ",
      dilation_w, ")");
  TORCH_CHECK(groups > 0, "groups should be positive, got ", groups);
  TORCH_CHECK(offset_groups > 0, "offset_groups should be positive, got ", offset_groups);
  TORCH_CHECK(
      weight.size(1) * groups == s.channels, "weight should have in_channels / groups = ",
      s.channels, " / ", groups, " channels in dimension 1 to match input with ", s.channels,
      " channels, got weight of shape ", weight.sizes());
  TORCH_CHECK(
      s.out_channels % groups == 0, "weight should have a multiple of groups = ", groups,
      " output channels in dimension 0, got ", s.out_channels);
  TORCH_CHECK(
      s.channels % offset_groups == 0, "input channels (", s.channels,
      ") should be divisible by offset_groups (", offset_groups, ")");
  TORCH_CHECK(
      offset.size(1) == offset_groups * 2 * s.taps,
      "offset should have 2 * offset_groups * kernel_h * kernel_w = 2 * ", offset_groups, " * ",
      s.kernel_h, " * ", s.kernel_w, " = ", offset_groups * 2 * s.taps,
      " channels in dimension 1, got offset of shape ", offset.sizes());

  const int64_t ker_h = dilation_h * (s.kernel_h - 1) + 1;
  const int64_t ker_w = dilation_w * (s.kernel_w - 1) + 1;
  s.out_h = (s.height + 2 * pad_h - ker_h) / stride_h + 1;
  s.out_w = (s.width + 2 * pad_w - ker_w) / stride_w + 1;
  s.pixels = s.out_h * s.out_w;
  TORCH_CHECK(
      s.height + 2 * pad_h >= ker_h && s.width + 2 * pad_w >= ker_w && s.out_h > 0 && s.out_w > 0,
      "input of size ", s.height, "x", s.width, " with padding (", pad_h, ", ", pad_w,
      ") is smaller than the dilated kernel ", ker_h, "x", ker_w,
      ": calculated output size too small");
  TORCH_CHECK(
      offset.size(0) == s.batch, "offset should have batch size ", s.batch,
      " (as input), got offset of shape ", offset.sizes());
  TORCH_CHECK(
      offset.size(2) == s.out_h && offset.size(3) == s.out_w,
      "offset should have the output's spatial size ", s.out_h, "x", s.out_w,
      " in dimensions 2 and 3, got offset of shape ", offset.sizes());
  if (use_mask) {
    TORCH_CHECK(
        mask.size(1) == offset_groups * s.taps,
        "mask should have offset_groups * kernel_h * kernel_w = ", offset_groups, " * ",
        s.kernel_h, " * ", s.kernel_w, " = ", offset_groups * s.taps,
        " channels in dimension 1, got mask of shape ", mask.sizes());
    TORCH_CHECK(
        mask.size(0) == s.batch, "mask should have batch size ", s.batch,
        " (as input), got mask of shape ", mask.sizes());
    TORCH_CHECK(
        mask.size(2) == s.out_h && mask.size(3) == s.out_w,
        "mask should have the output's spatial size ", s.out_h, "x", s.out_w,
        " in dimensions 2 and 3, got mask of shape ", mask.sizes());
  }
  TORCH_CHECK(
      bias.numel() == s.out_channels, "bias should have out_channels = ", s.out_channels,
      " elements, got bias of shape ", bias.sizes());
  TORCH_CHECK(
      s.height * s.width < std::numeric_limits<int32_t>::max(), "input plane of ", s.height, "x",
      s.width, " is too large");

  s.group_channels = s.channels / groups;
  s.group_out_channels = s.out_channels / groups;
  s.offset_group_channels = s.channels / offset_groups;
  return s;
}

// One sampling position of one (offset group, tap, output pixel), shared by all its channels.
template <typename T>
struct Tap {
  int32_t corner[4]; // y * width + x of (y_low, x_low), (y_low, x_high), (y_high, x_low),
                     // (y_high, x_high); -1 for a corner outside the image
  T w[4];            // bilinear weights of the corners, torchvision's w1..w4
  T dy, dx;          // fractional parts: y - y_low, x - x_low
  T mask;            // the modulation (1 without mask)
  bool inside;       // torchvision samples 0 unless -1 < y < height && -1 < x < width
  bool active;       // some corner is inside (or the position is NaN): the tap has gradients
};

template <typename T>
Tap<T> make_tap(T y, T x, int64_t height, int64_t width, T mask) {
  Tap<T> t;
  t.corner[0] = t.corner[1] = t.corner[2] = t.corner[3] = -1;
  t.w[0] = t.w[1] = t.w[2] = t.w[3] = T(0);
  t.dy = t.dx = T(0);
  t.mask = mask;
  if (std::isnan(y) || std::isnan(x)) {
    // torchvision's result is undefined here; propagate NaN through every output it touches.
    const T nan = std::numeric_limits<T>::quiet_NaN();
    t.w[0] = t.w[1] = t.w[2] = t.w[3] = t.dy = t.dx = nan;
    t.inside = t.active = true;
    return t;
  }
  const T h = static_cast<T>(height), wd = static_cast<T>(width);
  t.inside = y > T(-1) && y < h && x > T(-1) && x < wd;
  // Outside [-1, height) x [-1, width) every corner is outside the image.
  if (!(y >= T(-1) && y < h && x >= T(-1) && x < wd)) {
    t.active = false;
    return t;
  }
  const int32_t y_low = static_cast<int32_t>(std::floor(y));
  const int32_t x_low = static_cast<int32_t>(std::floor(x));
  const int32_t y_high = y_low + 1, x_high = x_low + 1;
  const T lh = y - static_cast<T>(y_low);
  const T lw = x - static_cast<T>(x_low);
  const T hh = T(1) - lh, hw = T(1) - lw;
  t.w[0] = hh * hw;
  t.w[1] = hh * lw;
  t.w[2] = lh * hw;
  t.w[3] = lh * lw;
  t.dy = lh;
  t.dx = lw;
  const int32_t W = static_cast<int32_t>(width);
  const bool yl = y_low >= 0, yh = y_high <= height - 1;
  const bool xl = x_low >= 0, xh = x_high <= width - 1;
  if (yl && xl) t.corner[0] = y_low * W + x_low;
  if (yl && xh) t.corner[1] = y_low * W + x_high;
  if (yh && xl) t.corner[2] = y_high * W + x_low;
  if (yh && xh) t.corner[3] = y_high * W + x_high;
  t.active = (yl || yh) && (xl || xh);
  return t;
}

// A band of whole output rows, pixels [begin, begin + size), whose columns are materialised
// together, and where each column value goes. Bands are the unit of parallel work; they bound the
// column memory of a thread and let one buffer per thread serve a whole call (a fresh buffer of
// all the columns of an image costs more in page faults than the sampling itself).
struct Block {
  int64_t begin, size;
  // Offset of (pixel p, tap (i, j), channel c of weight group g):
  //   (p's row in the band) * row + (p's column) * col + i * tap_row + j * tap_col + g * group
  //   + (c - g * group_channels).
  int64_t row, col, tap_row, tap_col, group;
};

// Column values per band and thread, about.
constexpr int64_t kBlockElements = int64_t{1} << 21;

// Output rows per band: about kBlockElements column values, at least 256 pixels (a GEMM-friendly
// width), and, when a call has only a few bands, a count that divides evenly among the threads.
int64_t plan_bands(const Shape& s, int64_t threads) {
  const int64_t per_row = std::max<int64_t>(1, s.out_w * s.taps * s.channels);
  const int64_t min_rows = std::min(s.out_h, (256 + s.out_w - 1) / s.out_w);
  const int64_t rows = std::max<int64_t>(1, std::min(s.out_h, kBlockElements / per_row));
  int64_t bands = (s.out_h + rows - 1) / rows;
  const int64_t images = std::max<int64_t>(1, s.batch);
  if (threads > 1 && images * bands < 8 * threads) {
    while ((images * bands) % threads != 0 && bands < s.out_h) ++bands;
  }
  return std::max(min_rows, std::max<int64_t>(1, (s.out_h + bands - 1) / bands));
}

// GEMM layout: [group][pixel][tap][channel of group], each group a [pixels, taps * channels]
// matrix.
Block gemm_block(const Shape& s, int64_t begin, int64_t size) {
  const int64_t cg = s.group_channels;
  return {begin, size, s.out_w * s.taps * cg, s.taps * cg, s.kernel_w * cg, cg,
          size * s.taps * cg};
}

// Expanded-image layout: a channels-last image of (rows * kernel_h) x (out_w * kernel_w) pixels in
// which output pixel (y, x) owns the kernel_h x kernel_w patch at (y * kernel_h, x * kernel_w).
// A plain convolution with stride = kernel size over it is the deformable convolution.
Block expanded_block(const Shape& s, int64_t begin, int64_t size) {
  const int64_t wide = s.out_w * s.kernel_w * s.channels;
  return {begin, size, s.kernel_h * wide, s.kernel_w * s.channels, wide, s.channels,
          s.group_channels};
}

// Column offsets split into a per-pixel and a per-tap part, so the inner loops index without
// divisions: column (g, p, k, c) is at pixel_offset(p) + tap_offsets[k] + channel_offset(g, c).
inline int64_t pixel_offset(const Shape& s, const Block& blk, int64_t p) {
  const int64_t q = p - blk.begin;
  return (q / s.out_w) * blk.row + (q % s.out_w) * blk.col;
}

inline std::vector<int64_t> tap_offsets(const Shape& s, const Block& blk) {
  std::vector<int64_t> o(s.taps);
  for (int64_t k = 0; k < s.taps; ++k) {
    o[k] = (k / s.kernel_w) * blk.tap_row + (k % s.kernel_w) * blk.tap_col;
  }
  return o;
}

inline int64_t channel_offset(const Shape& s, const Block& blk, int64_t g, int64_t c) {
  return g * blk.group + (c - g * s.group_channels);
}

// Taps of one band of one image, indexed by tap_index().
template <typename T>
void compute_taps(
    const Shape& s, const Block& blk, const T* offset, const T* mask, std::vector<Tap<T>>& taps) {
  taps.resize(s.offset_groups * s.taps * blk.size);
  Tap<T>* out = taps.data();
  for (int64_t og = 0; og < s.offset_groups; ++og) {
    for (int64_t k = 0; k < s.taps; ++k) {
      const int64_t i = k / s.kernel_w, j = k % s.kernel_w;
      const T* off_y = offset + (og * 2 * s.taps + 2 * k) * s.pixels;
      const T* off_x = off_y + s.pixels;
      const T* m = s.use_mask ? mask + (og * s.taps + k) * s.pixels : nullptr;
      for (int64_t p = blk.begin; p < blk.begin + blk.size; ++p, ++out) {
        const int64_t oy = p / s.out_w, ox = p % s.out_w;
        const int64_t base_y = oy * s.stride_h - s.pad_h + i * s.dilation_h;
        const int64_t base_x = ox * s.stride_w - s.pad_w + j * s.dilation_w;
        const T y = static_cast<T>(base_y) + off_y[p];
        const T x = static_cast<T>(base_x) + off_x[p];
        *out = make_tap<T>(y, x, s.height, s.width, m ? m[p] : T(1));
      }
    }
  }
}

inline int64_t tap_index(const Shape& s, const Block& blk, int64_t og, int64_t k, int64_t p) {
  return (og * s.taps + k) * blk.size + (p - blk.begin);
}

// Calls f(group, first channel, channel count) for the runs of channels [c0, c1) that share one
// weight group.
template <typename F>
inline void for_each_group_run(const Shape& s, int64_t c0, int64_t c1, const F& f) {
  for (int64_t c = c0; c < c1;) {
    const int64_t g = c / s.group_channels;
    const int64_t e = std::min(c1, (g + 1) * s.group_channels);
    f(g, c, e - c);
    c = e;
  }
}

template <typename T>
simd::Corners<T> corner_rows(const Tap<T>& t, const T* in, int64_t channels, const T* zeros) {
  simd::Corners<T> c;
  c.v1 = t.corner[0] >= 0 ? in + t.corner[0] * channels : zeros;
  c.v2 = t.corner[1] >= 0 ? in + t.corner[1] * channels : zeros;
  c.v3 = t.corner[2] >= 0 ? in + t.corner[2] * channels : zeros;
  c.v4 = t.corner[3] >= 0 ? in + t.corner[3] * channels : zeros;
  return c;
}

// Deformable columns of pixels [p_begin, p_end) of one band. `in` is the image channels-last
// [height * width][channels].
template <typename T>
void sample_columns(
    const Shape& s, const Block& blk, int64_t p_begin, int64_t p_end,
    const std::vector<Tap<T>>& taps, const T* in, const T* zeros, T* columns) {
  const std::vector<int64_t> tap_off = tap_offsets(s, blk);
  for (int64_t p = p_begin; p < p_end; ++p) {
    T* col_p = columns + pixel_offset(s, blk, p);
    for (int64_t og = 0; og < s.offset_groups; ++og) {
      const int64_t c0 = og * s.offset_group_channels, c1 = c0 + s.offset_group_channels;
      for (int64_t k = 0; k < s.taps; ++k) {
        const Tap<T>& t = taps[tap_index(s, blk, og, k, p)];
        for_each_group_run(s, c0, c1, [&](int64_t g, int64_t c, int64_t n) {
          T* dst = col_p + tap_off[k] + channel_offset(s, blk, g, c);
          if (!t.inside) {
            std::fill(dst, dst + n, t.mask * T(0));
          } else {
            simd::deform_sample_row(
                dst, corner_rows(t, in + c, s.channels, zeros), t.w, t.mask,
                static_cast<size_t>(n));
          }
        });
      }
    }
  }
}

// Offset and mask gradients of pixels [p_begin, p_end) of one band from its column gradient.
template <typename T>
void offset_mask_gradients(
    const Shape& s, const Block& blk, int64_t p_begin, int64_t p_end,
    const std::vector<Tap<T>>& taps, const T* in, const T* zeros, const T* grad_columns,
    T* grad_offset, T* grad_mask) {
  const std::vector<int64_t> tap_off = tap_offsets(s, blk);
  for (int64_t p = p_begin; p < p_end; ++p) {
    const T* gcol_p = grad_columns + pixel_offset(s, blk, p);
    for (int64_t og = 0; og < s.offset_groups; ++og) {
      const int64_t c0 = og * s.offset_group_channels, c1 = c0 + s.offset_group_channels;
      for (int64_t k = 0; k < s.taps; ++k) {
        const Tap<T>& t = taps[tap_index(s, blk, og, k, p)];
        T sums[3] = {T(0), T(0), T(0)};
        if (t.active) {
          for_each_group_run(s, c0, c1, [&](int64_t g, int64_t c, int64_t n) {
            simd::deform_coord_row(
                corner_rows(t, in + c, s.channels, zeros),
                gcol_p + tap_off[k] + channel_offset(s, blk, g, c), t.w, t.dy, t.dx,
                static_cast<size_t>(n), sums);
          });
        }
        const int64_t o = (og * 2 * s.taps + 2 * k) * s.pixels + p;
        grad_offset[o] = t.mask * sums[0];
        grad_offset[o + s.pixels] = t.mask * sums[1];
        if (s.use_mask) grad_mask[(og * s.taps + k) * s.pixels + p] = t.inside ? sums[2] : T(0);
      }
    }
  }
}

// Input gradient of pixels [p_begin, p_end) of one band, accumulated into a channels-last
// [height * width][channels] image.
template <typename T>
void input_gradient(
    const Shape& s, const Block& blk, int64_t p_begin, int64_t p_end,
    const std::vector<Tap<T>>& taps, const T* grad_columns, T* grad_in) {
  const std::vector<int64_t> tap_off = tap_offsets(s, blk);
  for (int64_t p = p_begin; p < p_end; ++p) {
    const T* gcol_p = grad_columns + pixel_offset(s, blk, p);
    for (int64_t og = 0; og < s.offset_groups; ++og) {
      const int64_t c0 = og * s.offset_group_channels, c1 = c0 + s.offset_group_channels;
      for (int64_t k = 0; k < s.taps; ++k) {
        const Tap<T>& t = taps[tap_index(s, blk, og, k, p)];
        if (!t.inside) continue;
        for_each_group_run(s, c0, c1, [&](int64_t g, int64_t c, int64_t n) {
          const T* gc = gcol_p + tap_off[k] + channel_offset(s, blk, g, c);
          for (int q = 0; q < 4; ++q) {
            if (t.corner[q] < 0) continue;
            simd::deform_axpy_row(
                grad_in + t.corner[q] * s.channels + c, t.mask * t.w[q], gc,
                static_cast<size_t>(n));
          }
        });
      }
    }
  }
}

// Weight as [group][out channel of group][tap * group channels], the columns' inner order.
at::Tensor weight_by_tap(const at::Tensor& weight, const Shape& s) {
  return weight.reshape({s.groups, s.group_out_channels, s.group_channels, s.taps})
      .permute({0, 1, 3, 2})
      .contiguous()
      .view({s.groups, s.group_out_channels, s.taps * s.group_channels});
}

at::Tensor columns_buffer(const Shape& s, const at::TensorOptions& options) {
  return at::empty({s.band_rows * s.out_w * s.taps * s.channels}, options);
}

// The block's columns of group g as a [pixels of block, taps * group channels] matrix.
at::Tensor block_columns(const at::Tensor& buffer, const Shape& s, const Block& blk, int64_t g) {
  const int64_t n = s.taps * s.group_channels;
  return buffer.narrow(0, g * blk.size * n, blk.size * n).view({blk.size, n});
}

// Where one band's output goes: image `image`, output rows [y0, y0 + rows).
struct BandJob {
  int64_t image, y0, rows;
};

std::vector<BandJob> band_jobs(const Shape& s, int64_t first_image, int64_t images) {
  std::vector<BandJob> jobs;
  const int64_t rows = s.band_rows;
  for (int64_t b = first_image; b < first_image + images; ++b) {
    for (int64_t y0 = 0; y0 < s.out_h; y0 += rows) jobs.push_back({b, y0, std::min(rows, s.out_h - y0)});
  }
  return jobs;
}

// Forward: every band of every image is an independent job (sample its columns, multiply them into
// its rows of the output), all in one parallel region. With `conv` a band's columns form an
// expanded image multiplied by at::conv2d, otherwise a GEMM operand of at::mm per weight group;
// either runs single-threaded inside the region.
template <typename T>
void forward_impl(
    const Shape& s, const at::Tensor& input_cl, const at::Tensor& weight,
    const at::Tensor& offset, const at::Tensor& mask, const at::Tensor& bias, bool conv,
    at::Tensor& out) {
  // The convolution wants its weight channels-last like its input; convert it once, not per band.
  const at::Tensor w = conv ? weight.contiguous(at::MemoryFormat::ChannelsLast)
                            : weight_by_tap(weight, s);
  const std::vector<T> zeros(std::max<int64_t>(s.channels, 1), T(0));
  const T* in = input_cl.data_ptr<T>();
  const T* off = offset.data_ptr<T>();
  const T* msk = s.use_mask ? mask.data_ptr<T>() : nullptr;
  const std::vector<BandJob> jobs = band_jobs(s, 0, s.batch);
  at::parallel_for(0, static_cast<int64_t>(jobs.size()), 1, [&](int64_t j0, int64_t j1) {
    at::Tensor columns = columns_buffer(s, input_cl.options());
    std::vector<Tap<T>> taps;
    for (int64_t j = j0; j < j1; ++j) {
      const BandJob& job = jobs[j];
      const int64_t b = job.image;
      const Block blk = conv ? expanded_block(s, job.y0 * s.out_w, job.rows * s.out_w)
                             : gemm_block(s, job.y0 * s.out_w, job.rows * s.out_w);
      compute_taps<T>(
          s, blk, off + b * s.offset_groups * 2 * s.taps * s.pixels,
          msk ? msk + b * s.offset_groups * s.taps * s.pixels : nullptr, taps);
      sample_columns<T>(
          s, blk, blk.begin, blk.begin + blk.size, taps, in + b * s.height * s.width * s.channels,
          zeros.data(), columns.data_ptr<T>());
      if (conv) {
        // oneDNN's convolution multiplies faster than the BLAS GEMM of the same size.
        const at::Tensor image =
            columns.narrow(0, 0, blk.size * s.taps * s.channels)
                .view({1, job.rows * s.kernel_h, s.out_w * s.kernel_w, s.channels})
                .permute({0, 3, 1, 2});
        const at::Tensor r = at::conv2d(
            image, w, bias, at::IntArrayRef{s.kernel_h, s.kernel_w},
            at::IntArrayRef{0, 0}, at::IntArrayRef{1, 1}, s.groups);
        out[b].narrow(1, job.y0, job.rows).copy_(r[0]);
        continue;
      }
      at::Tensor out_b = out[b].view({s.out_channels, s.pixels});
      for (int64_t g = 0; g < s.groups; ++g) {
        at::Tensor dst = out_b.narrow(0, g * s.group_out_channels, s.group_out_channels)
                             .narrow(1, blk.begin, blk.size);
        at::mm_out(dst, w[g], block_columns(columns, s, blk, g).t());
      }
      out[b].narrow(1, job.y0, job.rows).add_(bias.reshape({s.out_channels, 1, 1}));
    }
  });
}

// Backward, band after band. The two multiplies of a band (column gradient, weight gradient) run
// on the calling thread, so BLAS threads itself as it likes; the sampling work between them runs in
// one parallel region over the band's pixels. A pixel's offset and mask gradients belong to it
// alone; the input gradient (a scatter anywhere in the image) goes to a private image per thread,
// summed once per image. So threads never write the same element.
template <typename T>
void backward_impl(
    const Shape& s, const at::Tensor& grad, const at::Tensor& input_cl, const at::Tensor& weight,
    const at::Tensor& offset, const at::Tensor& mask, at::Tensor& grad_input_cl,
    at::Tensor& grad_weight_by_tap, at::Tensor& grad_offset, at::Tensor& grad_mask) {
  const at::Tensor w = weight_by_tap(weight, s);
  const std::vector<T> zeros(std::max<int64_t>(s.channels, 1), T(0));
  const T* in = input_cl.data_ptr<T>();
  const T* off = offset.data_ptr<T>();
  const T* msk = s.use_mask ? mask.data_ptr<T>() : nullptr;
  T* g_off = grad_offset.data_ptr<T>();
  T* g_msk = s.use_mask ? grad_mask.data_ptr<T>() : nullptr;
  const int64_t plane = s.height * s.width * s.channels;
  const int64_t threads = at::get_num_threads();
  at::Tensor input_parts =
      threads > 1 ? at::empty({threads, plane}, input_cl.options()) : at::Tensor();
  at::Tensor columns = columns_buffer(s, input_cl.options());
  at::Tensor grad_columns = columns_buffer(s, input_cl.options());
  std::vector<Tap<T>> taps;
  for (int64_t b = 0; b < s.batch; ++b) {
    if (threads > 1) input_parts.zero_();
    const at::Tensor grad_b = grad[b].view({s.out_channels, s.pixels});
    const T* in_b = in + b * plane;
    T* g_off_b = g_off + b * s.offset_groups * 2 * s.taps * s.pixels;
    T* g_msk_b = g_msk ? g_msk + b * s.offset_groups * s.taps * s.pixels : nullptr;
    for (const BandJob& job : band_jobs(s, b, 1)) {
      const Block blk = gemm_block(s, job.y0 * s.out_w, job.rows * s.out_w);
      compute_taps<T>(
          s, blk, off + b * s.offset_groups * 2 * s.taps * s.pixels,
          msk ? msk + b * s.offset_groups * s.taps * s.pixels : nullptr, taps);
      for (int64_t g = 0; g < s.groups; ++g) {
        const at::Tensor grad_g = grad_b.narrow(0, g * s.group_out_channels, s.group_out_channels)
                                      .narrow(1, blk.begin, blk.size);
        at::Tensor gc = block_columns(grad_columns, s, blk, g);
        at::mm_out(gc, grad_g.t(), w[g]);
      }
      const T* gcol = grad_columns.data_ptr<T>();
      T* col = columns.data_ptr<T>();
      at::parallel_for(blk.begin, blk.begin + blk.size, 16, [&](int64_t p0, int64_t p1) {
        T* g_in = threads > 1 ? input_parts[at::get_thread_num()].data_ptr<T>()
                              : grad_input_cl.data_ptr<T>() + b * plane;
        offset_mask_gradients<T>(s, blk, p0, p1, taps, in_b, zeros.data(), gcol, g_off_b, g_msk_b);
        input_gradient<T>(s, blk, p0, p1, taps, gcol, g_in);
        sample_columns<T>(s, blk, p0, p1, taps, in_b, zeros.data(), col);
      });
      for (int64_t g = 0; g < s.groups; ++g) {
        const at::Tensor grad_g = grad_b.narrow(0, g * s.group_out_channels, s.group_out_channels)
                                      .narrow(1, blk.begin, blk.size);
        grad_weight_by_tap[g].addmm_(grad_g, block_columns(columns, s, blk, g));
      }
    }
    if (threads > 1) grad_input_cl[b].view({plane}).copy_(input_parts.sum(0));
  }
}

bool is_reduced_float(const at::Tensor& t) {
  return t.scalar_type() == at::kHalf || t.scalar_type() == at::kBFloat16;
}

at::Tensor to_float(const at::Tensor& t) {
  return t.defined() && is_reduced_float(t) ? t.to(at::kFloat) : t;
}

} // namespace

at::Tensor deform_conv2d(
    const at::Tensor& input,
    const at::Tensor& weight,
    const at::Tensor& offset,
    const at::Tensor& mask,
    const at::Tensor& bias,
    const DeformConv2dParams& p) {
  const bool use_mask = p.use_mask;
  Shape s = check_arguments(input, weight, offset, mask, bias, p);
  s.band_rows = plan_bands(s, at::get_num_threads());
  if (is_reduced_float(input)) {
    return deform_conv2d(
               to_float(input), to_float(weight), to_float(offset),
               use_mask ? to_float(mask) : mask, to_float(bias), p)
        .to(input.scalar_type());
  }
  at::Tensor out = at::empty({s.batch, s.out_channels, s.out_h, s.out_w}, input.options());
  if (out.numel() == 0) return out;
  if (s.channels == 0) return out.zero_().add_(bias.reshape({1, s.out_channels, 1, 1}));

  // Channels-last input: the channels of one pixel are contiguous.
  const at::Tensor input_cl = input.permute({0, 2, 3, 1}).contiguous();
  const at::Tensor offset_c = offset.contiguous();
  const at::Tensor mask_c = use_mask ? mask.contiguous() : at::Tensor();
  const at::Tensor bias_c = bias.reshape({s.out_channels}).contiguous();
  // float32 multiplies through oneDNN's convolution when PyTorch has it enabled; float64 (which
  // oneDNN does not do) through BLAS.
  const bool use_conv = input.scalar_type() == at::kFloat && at::hasMKLDNN() &&
      at::globalContext().userEnabledMkldnn();
  AT_DISPATCH_FLOATING_TYPES(input.scalar_type(), "deform_conv2d", [&] {
    forward_impl<scalar_t>(s, input_cl, weight, offset_c, mask_c, bias_c, use_conv, out);
  });
  return out;
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor> deform_conv2d_backward(
    const at::Tensor& grad,
    const at::Tensor& input,
    const at::Tensor& weight,
    const at::Tensor& offset,
    const at::Tensor& mask,
    const at::Tensor& bias,
    const DeformConv2dParams& p) {
  const bool use_mask = p.use_mask;
  Shape s = check_arguments(input, weight, offset, mask, bias, p);
  s.band_rows = plan_bands(s, at::get_num_threads());
  check_cpu(grad, "grad");
  check_same_dtype(input, "input", grad, "grad");
  TORCH_CHECK(
      grad.dim() == 4 && grad.size(0) == s.batch && grad.size(1) == s.out_channels &&
          grad.size(2) == s.out_h && grad.size(3) == s.out_w,
      "grad should have the output's shape [", s.batch, ", ", s.out_channels, ", ", s.out_h, ", ",
      s.out_w, "], got ", grad.sizes());

  if (is_reduced_float(input)) {
    auto r = deform_conv2d_backward(
        to_float(grad), to_float(input), to_float(weight), to_float(offset),
        use_mask ? to_float(mask) : mask, to_float(bias), p);
    const auto dt = input.scalar_type();
    return std::make_tuple(
        std::get<0>(r).to(dt), std::get<1>(r).to(dt), std::get<2>(r).to(dt),
        use_mask ? std::get<3>(r).to(dt) : std::get<3>(r), std::get<4>(r).to(dt));
  }

  at::Tensor grad_input = at::zeros_like(input, at::MemoryFormat::Contiguous);
  at::Tensor grad_weight = at::zeros_like(weight, at::MemoryFormat::Contiguous);
  at::Tensor grad_offset = at::zeros_like(offset, at::MemoryFormat::Contiguous);
  at::Tensor grad_mask = at::zeros_like(mask, at::MemoryFormat::Contiguous);
  at::Tensor grad_bias = at::ones_like(bias) * grad.sum({0, 2, 3});
  if (s.batch == 0 || s.channels == 0 || s.out_channels == 0) {
    return std::make_tuple(grad_input, grad_weight, grad_offset, grad_mask, grad_bias);
  }

  const at::Tensor grad_c = grad.contiguous();
  const at::Tensor input_cl = input.permute({0, 2, 3, 1}).contiguous();
  const at::Tensor offset_c = offset.contiguous();
  const at::Tensor mask_c = use_mask ? mask.contiguous() : at::Tensor();
  at::Tensor grad_input_cl = at::zeros({s.batch, s.height, s.width, s.channels}, input.options());
  at::Tensor grad_weight_by_tap =
      at::zeros({s.groups, s.group_out_channels, s.taps * s.group_channels}, weight.options());
  AT_DISPATCH_FLOATING_TYPES(input.scalar_type(), "deform_conv2d_backward", [&] {
    backward_impl<scalar_t>(
        s, grad_c, input_cl, weight, offset_c, mask_c, grad_input_cl, grad_weight_by_tap,
        grad_offset, grad_mask);
  });
  grad_input.copy_(grad_input_cl.permute({0, 3, 1, 2}));
  grad_weight.copy_(
      grad_weight_by_tap.view({s.groups, s.group_out_channels, s.taps, s.group_channels})
          .permute({0, 1, 3, 2})
          .reshape({s.out_channels, s.group_channels, s.kernel_h, s.kernel_w}));
  return std::make_tuple(grad_input, grad_weight, grad_offset, grad_mask, grad_bias);
}

} // namespace ops
} // namespace tva
