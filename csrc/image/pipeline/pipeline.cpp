// Fused preprocessing pipelines (see pipeline.h).
//
// The resize is the adapter's separable resize (transforms/resize.cpp) restricted to the output
// window: the indices and weights of each output row and column come from the same code
// (transforms/resize_axis.h, torch's formulas), the width pass runs over the source rows the height
// pass reads, and both passes use the same SIMD row kernels, so every computed pixel has the value
// the full-size resize gives it. Axes that do not change size are a single tap of weight 1 (exact:
// x * 1 == x).
#include "image/pipeline/pipeline.h"

#include <ATen/Parallel.h>
#include <c10/util/Exception.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <vector>

#include "image/pipeline/pipeline_simd.h"
#include "image/transforms/resample_simd.h"
#include "image/transforms/resize_axis.h"

namespace tva {
namespace image {
namespace {

// Outputs [o0, o1) of one resized axis (see ResizeAxis), with the source indices made relative to
// the first one used.
struct AxisPart : ResizeAxis {
  int64_t lo = 0;  // source indices used: [lo, hi]
  int64_t hi = -1;

  // Source range of the real lanes, and indices made relative to lo (padding lanes stay 0).
  void rebase() {
    lo = INT64_MAX;
    hi = -1;
    for (int64_t t = 0; t < taps; ++t) {
      for (int64_t k = 0; k < n; ++k) {
        lo = std::min<int64_t>(lo, idx[t * stride + k]);
        hi = std::max<int64_t>(hi, idx[t * stride + k]);
      }
    }
    if (hi < 0) {
      lo = 0;
      return;
    }
    for (int64_t t = 0; t < taps; ++t) {
      for (int64_t k = 0; k < n; ++k) idx[t * stride + k] -= static_cast<int32_t>(lo);
    }
  }
};

// Output k reads source src[k] with weight 1.
void single_tap(ResizeAxis* a, const std::vector<int64_t>& src) {
  const int64_t n = static_cast<int64_t>(src.size());
  a->init(n, 1);
  for (int64_t k = 0; k < n; ++k) a->set(0, k, src[k], 1.0f);
}

// Outputs [o0, o1) of an axis resized from `in` to `out` samples.
AxisPart make_part(int64_t in, int64_t out, int64_t o0, int64_t o1, PipelineInterp interp,
                   bool antialias) {
  AxisPart a;
  ResizeAxis& r = a;
  if (in == out) {
    std::vector<int64_t> src(o1 - o0);
    for (int64_t o = o0; o < o1; ++o) src[o - o0] = o;
    single_tap(&r, src);
  } else if (interp == PipelineInterp::kNearest) {
    single_tap(&r, nearest_resize_indices(in, out, o0, o1));
  } else if (antialias) {
    r = antialias_resize_axis(in, out, o0, o1, interp == PipelineInterp::kBicubic);
  } else if (interp == PipelineInterp::kBicubic) {
    r = cubic_resize_axis(in, out, o0, o1);
  } else {
    r = linear_resize_axis(in, out, o0, o1);
  }
  a.rebase();
  return a;
}

// uint8 pixels of a source region: element (c, y, x) at data[c * sc + y * sh + x * sw], (0, 0)
// being the region's first used pixel.
struct View {
  at::Tensor keep;
  const uint8_t* data = nullptr;
  int64_t channels = 0, sc = 0, sh = 0, sw = 0;
};

View make_view(const at::Tensor& t) {  // [C, H, W] uint8
  View v;
  v.keep = t;
  v.data = t.data_ptr<uint8_t>();
  v.channels = t.size(0);
  v.sc = t.stride(0);
  v.sh = t.stride(1);
  v.sw = t.stride(2);
  return v;
}

// Source row y as floats, one buffer per channel (n pixels from column 0 of the view).
void load_row(const View& v, int64_t y, int64_t n, float* const* bufs) {
  const uint8_t* row = v.data + y * v.sh;
  if (v.sw == 1) {
    for (int64_t c = 0; c < v.channels; ++c) simd::u8_to_f32(row + c * v.sc, n, bufs[c]);
  } else if (v.channels == 3 && v.sc == 1 && v.sw == 3) {
    float* __restrict__ r = bufs[0];
    float* __restrict__ g = bufs[1];
    float* __restrict__ b = bufs[2];
    for (int64_t x = 0; x < n; ++x) {
      r[x] = static_cast<float>(row[3 * x]);
      g[x] = static_cast<float>(row[3 * x + 1]);
      b[x] = static_cast<float>(row[3 * x + 2]);
    }
  } else {
    for (int64_t c = 0; c < v.channels; ++c) {
      const uint8_t* src = row + c * v.sc;
      for (int64_t x = 0; x < n; ++x) bufs[c][x] = static_cast<float>(src[x * v.sw]);
    }
  }
}

void check_spec(const PipelineSpec& s, int64_t in_w, int64_t in_h, int64_t channels) {
  TORCH_CHECK(s.src.x >= 0 && s.src.y >= 0 && s.src.width > 0 && s.src.height > 0 &&
                  s.src.x + s.src.width <= in_w && s.src.y + s.src.height <= in_h,
              "pipeline: src [", s.src.x, ", ", s.src.y, ", ", s.src.width, ", ", s.src.height,
              "] should be a non-empty region of the ", in_w, "x", in_h, " image");
  TORCH_CHECK(s.resize_h > 0 && s.resize_w > 0, "pipeline: resize should be positive, got [",
              s.resize_h, ", ", s.resize_w, "]");
  TORCH_CHECK(s.win_w > 0 && s.win_h > 0, "pipeline: window should be non-empty, got ", s.win_w,
              "x", s.win_h);
  TORCH_CHECK(s.win_w <= (1 << 20) && s.win_h <= (1 << 20) && s.resize_w <= (1 << 24) &&
                  s.resize_h <= (1 << 24),
              "pipeline: output size too large");
  TORCH_CHECK(s.mean.size() == s.std.size(), "pipeline: mean and std should have as many values, got ",
              s.mean.size(), " and ", s.std.size());
  TORCH_CHECK(s.mean.empty() || s.mean.size() == 1 || static_cast<int64_t>(s.mean.size()) == channels,
              "pipeline: mean and std should have 1 or ", channels, " values, got ", s.mean.size());
  TORCH_CHECK(s.mean.empty() || s.out_float, "pipeline: normalisation needs a float output");
  for (float v : s.std) TORCH_CHECK(v != 0.0f, "pipeline: std must not be zero");
}

// The fused passes for a source region of in_w x in_h pixels (the spec's src, possibly decoded at a
// reduced scale) resized to spec.resize_*; fetch(x, y, w, h) returns the pixels of a sub-region.
template <typename Fetch>
at::Tensor fused(int64_t in_w, int64_t in_h, int64_t channels, const PipelineSpec& s,
                 const Fetch& fetch) {
  const int64_t rw = s.resize_w, rh = s.resize_h;
  // Computed part of the window: resized pixels in the valid rectangle and the window.
  const int64_t c0 = std::max<int64_t>({s.win_x, s.valid_x0, 0});
  const int64_t c1 = std::min<int64_t>({s.win_x + s.win_w, s.valid_x1, rw});
  const int64_t r0 = std::max<int64_t>({s.win_y, s.valid_y0, 0});
  const int64_t r1 = std::min<int64_t>({s.win_y + s.win_h, s.valid_y1, rh});
  const bool any = c1 > c0 && r1 > r0;

  const at::ScalarType dtype = s.out_float ? at::kFloat : at::kByte;
  at::Tensor out = at::empty({channels, s.win_h, s.win_w}, at::TensorOptions().dtype(dtype));
  const int64_t ww = s.win_w, wh = s.win_h;

  AxisPart ax_w, ax_h;
  View view;
  std::unique_ptr<float[]> tmp;
  int64_t nrows = 0;
  if (any) {
    ax_w = make_part(in_w, rw, c0, c1, s.interp, s.antialias);
    ax_h = make_part(in_h, rh, r0, r1, s.interp, s.antialias);
    nrows = ax_h.hi - ax_h.lo + 1;
    const int64_t ncols = ax_w.hi - ax_w.lo + 1;
    view = fetch(ax_w.lo, ax_h.lo, ncols, nrows);
    TORCH_CHECK(view.channels == channels, "pipeline: internal error, channel count changed");

    // Width pass over the source rows the height pass reads.
    std::vector<char> used(nrows, 0);
    for (int64_t t = 0; t < ax_h.taps; ++t) {
      for (int64_t k = 0; k < ax_h.n; ++k) {
        if (t < ax_h.count[k]) used[ax_h.idx[t * ax_h.stride + k]] = 1;
      }
    }
    std::vector<int64_t> rows;
    for (int64_t y = 0; y < nrows; ++y) {
      if (used[y]) rows.push_back(y);
    }
    const int64_t ts = ax_w.stride;
    tmp.reset(new float[channels * nrows * ts]);
    float* tmp_ptr = tmp.get();
    // Interleaved pixels (what the decoders produce): one conversion of the whole row, and per
    // channel the indices of its samples in it (same values read, so the same results).
    const bool interleaved = channels > 1 && view.sc == 1 && view.sw == channels;
    std::vector<std::vector<int32_t>> idx_c;
    if (interleaved) {
      idx_c.resize(channels);
      for (int64_t c = 0; c < channels; ++c) {
        idx_c[c].resize(ax_w.idx.size());
        for (size_t j = 0; j < ax_w.idx.size(); ++j) {
          idx_c[c][j] = static_cast<int32_t>(ax_w.idx[j] * channels + c);
        }
      }
    }
    // Interleaved RGB with two taps per output, the second being the next pixel (bilinear without
    // antialiasing, the usual case): the width pass reads the bytes themselves, one 64-bit load per
    // output for the three channels (resample_rgb_2taps: the same products and sum as resample_row
    // on the widened rows). A second tap of weight 0 may read another pixel: its product is 0 with
    // the sign of the weight either way (pixels are finite and not negative).
    bool rgb_taps = interleaved && channels == 3 && ax_w.taps == 2;
    for (int64_t k = 0; rgb_taps && k < ax_w.stride; ++k) {
      const int32_t i0 = ax_w.idx[k], i1 = ax_w.idx[ax_w.stride + k];
      rgb_taps = i1 == i0 + 1 || ax_w.w[ax_w.stride + k] == 0.0f;
    }
    std::vector<int64_t> offs;  // byte offset of each output's first tap
    const int64_t row_bytes = ncols * channels;
    const int64_t row_need = row_bytes + 8;  // bytes the loads may read from a row start
    const uint8_t* storage_end = nullptr;
    if (rgb_taps) {
      offs.resize(ax_w.stride);
      for (int64_t k = 0; k < ax_w.stride; ++k) offs[k] = static_cast<int64_t>(ax_w.idx[k]) * channels;
      const at::Storage& storage = view.keep.storage();
      storage_end = static_cast<const uint8_t*>(storage.data_ptr().get()) + storage.nbytes();
    }
    const int64_t grain = std::max<int64_t>(1, 32768 / (channels * (ncols + ax_w.n * ax_w.taps) + 1));
    at::parallel_for(0, static_cast<int64_t>(rows.size()), grain, [&](int64_t begin, int64_t end) {
      const int64_t pn = simd::padded(ncols);
      std::unique_ptr<float[]> buf(rgb_taps ? nullptr : new float[channels * pn]);
      std::unique_ptr<uint8_t[]> padded_row;
      std::vector<float*> bufs(channels);
      if (!rgb_taps) {
        for (int64_t c = 0; c < channels; ++c) bufs[c] = buf.get() + c * pn;
      }
      for (int64_t i = begin; i < end; ++i) {
        const int64_t y = rows[i];
        if (rgb_taps) {
          const uint8_t* src = view.data + y * view.sh;
          if (src + row_need > storage_end) {  // the last row of the decoded pixels: a padded copy
            if (!padded_row) {
              padded_row.reset(new uint8_t[row_need]);
              std::memset(padded_row.get() + row_bytes, 0, row_need - row_bytes);
            }
            std::memcpy(padded_row.get(), src, row_bytes);
            src = padded_row.get();
          }
          simd::resample_rgb_2taps(src, offs.data(), ax_w.w.data(), ax_w.w.data() + ax_w.stride, ax_w.n,
                                   tmp_ptr + y * ts, tmp_ptr + (nrows + y) * ts,
                                   tmp_ptr + (2 * nrows + y) * ts);
          continue;
        }
        if (interleaved) {
          simd::u8_to_f32(view.data + y * view.sh, ncols * channels, buf.get());
        } else {
          load_row(view, y, ncols, bufs.data());
        }
        for (int64_t c = 0; c < channels; ++c) {
          simd::resample_row(interleaved ? buf.get() : bufs[c],
                             interleaved ? idx_c[c].data() : ax_w.idx.data(), ax_w.w.data(),
                             ax_w.taps, ax_w.stride, ax_w.n, tmp_ptr + (c * nrows + y) * ts);
        }
      }
    });
  }

  // Height pass and conversion, one output row at a time.
  const int64_t off = c0 - s.win_x;  // first computed column in the window
  const int64_t grain = std::max<int64_t>(1, 32768 / (ww * (any ? ax_h.taps : 1) + 1));
  const float* tmp_ptr = tmp.get();
  at::parallel_for(0, channels * wh, grain, [&](int64_t begin, int64_t end) {
    std::unique_ptr<float[]> row(new float[ww + simd::kPad + (any ? ax_w.stride : 0)]);
    std::unique_ptr<float[]> flipped(new float[ww]);
    std::unique_ptr<uint8_t[]> flipped_u8(new uint8_t[ww]);
    std::vector<const float*> srcs(any ? ax_h.taps : 1);
    std::vector<float> wts(any ? ax_h.taps : 1);
    for (int64_t i = begin; i < end; ++i) {
      const int64_t c = i / wh, oy = i % wh;
      const int64_t wy = s.vflip ? wh - 1 - oy : oy;  // row of the window
      const int64_t r = s.win_y + wy;                 // row of the resized image
      if (any && r >= r0 && r < r1) {
        std::fill(row.get(), row.get() + off, 0.0f);  // columns outside the valid rectangle
        const int64_t k = r - r0;
        const int64_t taps = ax_h.count[k];
        for (int64_t t = 0; t < taps; ++t) {
          srcs[t] = tmp_ptr + (c * nrows + ax_h.idx[t * ax_h.stride + k]) * ax_w.stride;
          wts[t] = ax_h.w[t * ax_h.stride + k];
        }
        simd::combine_rows(srcs.data(), wts.data(), taps, ax_w.n, row.get() + off);
        std::fill(row.get() + off + ax_w.n, row.get() + ww, 0.0f);
      } else {
        std::fill(row.get(), row.get() + ww, 0.0f);
      }
      if (s.out_float) {
        float* dst = out.data_ptr<float>() + i * ww;
        float* conv = s.hflip ? flipped.get() : dst;
        const float m = s.mean.empty() ? 0.0f : s.mean[s.mean.size() == 1 ? 0 : c];
        const float d = s.std.empty() ? 1.0f : s.std[s.std.size() == 1 ? 0 : c];
        simd::round_scale_sub_div(row.get(), ww, 255.0f, m, d, conv);
        if (s.hflip) simd::reverse_f32(conv, ww, dst);
      } else {
        uint8_t* dst = out.data_ptr<uint8_t>() + i * ww;
        uint8_t* conv = s.hflip ? flipped_u8.get() : dst;
        simd::f32_round_to_u8(row.get(), ww, conv);
        if (s.hflip) simd::reverse_u8(conv, ww, dst);
      }
    }
  });
  return out;
}

}  // namespace

at::Tensor run_pipeline(const at::Tensor& img, const PipelineSpec& spec) {
  TORCH_CHECK(img.device().is_cpu(), "pipeline: img must be a CPU tensor, got a tensor on ",
              img.device());
  TORCH_CHECK(img.scalar_type() == at::kByte && img.dim() == 3,
              "pipeline: img should be a uint8 [C, H, W] tensor, got ", img.scalar_type(),
              " with shape ", img.sizes());
  const int64_t channels = img.size(0);
  TORCH_CHECK(channels > 0, "pipeline: img should have at least one channel");
  check_spec(spec, img.size(2), img.size(1), channels);
  const CropRect& src = spec.src;
  return fused(src.width, src.height, channels, spec, [&](int64_t x, int64_t y, int64_t w, int64_t h) {
    return make_view(img.narrow(1, src.y + y, h).narrow(2, src.x + x, w));
  });
}

at::Tensor run_pipeline_encoded(const uint8_t* data, size_t size, const PipelineSpec& spec) {
  const DecodeInfo header = read_image_info(data, size);
  check_spec(spec, header.full_width, header.full_height, 3);
  const CropRect& src = spec.src;
  DecodeOptions opts;
  opts.mode = ImageMode::kRGB;
  opts.max_pixels = spec.max_pixels;
  if (spec.fast && header.format == ImageFormat::kJPEG) {
    const int64_t denom =
        choose_scale_denom(src.width, src.height, spec.resize_w, spec.resize_h);
    if (denom > 1) {
      // Reduced-size decoding of the whole source region, then the resize from that size.
      opts.crop = src;
      opts.min_width = spec.resize_w;
      opts.min_height = spec.resize_h;
      opts.dct = DctMethod::kFast;
      opts.fancy_upsampling = false;
      DecodeInfo info;
      const at::Tensor small = decode_image(data, size, opts, &info);
      return fused(small.size(2), small.size(1), 3, spec,
                   [&](int64_t x, int64_t y, int64_t w, int64_t h) {
                     return make_view(small.narrow(1, y, h).narrow(2, x, w));
                   });
    }
  }
  return fused(src.width, src.height, 3, spec, [&](int64_t x, int64_t y, int64_t w, int64_t h) {
    const int64_t fx = src.x + x, fy = src.y + y;
    // With several threads a JPEG decoded in full rows from the top is decoded in parallel bands;
    // a region is decoded by one thread. Decode the full-width top part when the region is most of it.
    if (header.format == ImageFormat::kJPEG && at::get_num_threads() > 1 && !at::in_parallel_region() &&
        2 * w * h >= header.full_width * (fy + h)) {
      opts.crop = CropRect{0, 0, header.full_width, fy + h};
      const at::Tensor top = decode_image(data, size, opts);
      return make_view(top.narrow(1, fy, h).narrow(2, fx, w));
    }
    opts.crop = CropRect{fx, fy, w, h};
    return make_view(decode_image(data, size, opts));
  });
}

}  // namespace image
}  // namespace tva
