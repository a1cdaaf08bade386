// Resize as torch's interpolate computes it, in two separable passes (Pillow-SIMD's layout).
//
// Interpolation is separable: interpolating along the width first (per input row, into a float
// buffer) and then along the height (per output row) gives torch's values up to float rounding (torch
// sums the taps in its own order, with fused multiply-adds; differences are a few units in the last
// place). Indices and weights are precomputed once per axis with torch's formulas (resize_axis.h),
// including the float/double mix of its index arithmetic, so the taps and linear weights are exactly
// torch's. uint8 images are widened exactly to float on the fly, and rounded (half to even) and
// clamped on the way out, as torchvision's tensor path does; a rounding tie that float noise moves
// gives a 1-level difference in rare pixels.
#include <ATen/Parallel.h>
#include <c10/util/Exception.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <type_traits>
#include <vector>

#include "image/transforms/resample_simd.h"
#include "image/transforms/resize_axis.h"
#include "common/reuse.h"
#include "image/transforms/transforms.h"

namespace tva {
namespace image {
namespace {

enum class Interp { Nearest, Bilinear, Bicubic };

Interp parse_interpolation(c10::string_view s) {
  if (s == "nearest") return Interp::Nearest;
  if (s == "bilinear") return Interp::Bilinear;
  if (s == "bicubic") return Interp::Bicubic;
  TORCH_CHECK(false, "interpolation should be 'nearest', 'bilinear' or 'bicubic', got '", s, "'");
}

// Sampling of a whole axis (outputs [0, out)). Same sizes are marked identity (the passes copy):
// scale 1 gives each output the weight 1 of its own input and 0 elsewhere, exactly.
ResizeAxis make_axis(int64_t in, int64_t out, Interp interp, bool antialias) {
  ResizeAxis a;
  if (antialias) {
    a = antialias_resize_axis(in, out, 0, out, interp == Interp::Bicubic);
  } else if (interp == Interp::Bicubic) {
    a = cubic_resize_axis(in, out, 0, out);
  } else {
    a = linear_resize_axis(in, out, 0, out);
  }
  a.identity = in == out;
  return a;
}

// Strided 4-D view [N, C, H, W] of the input.
struct Planes {
  const char* data;
  int64_t n, c, h, w;
  int64_t sn, sc, sh, sw;  // element strides
  at::ScalarType dtype;

  explicit Planes(const at::Tensor& t4)
      : data(static_cast<const char*>(t4.data_ptr())), n(t4.size(0)), c(t4.size(1)),
        h(t4.size(2)), w(t4.size(3)), sn(t4.stride(0)), sc(t4.stride(1)), sh(t4.stride(2)),
        sw(t4.stride(3)), dtype(t4.scalar_type()) {}

  int64_t count() const { return n * c; }
  template <typename T>
  const T* row(int64_t plane, int64_t y) const {
    const int64_t off = (plane / c) * sn + (plane % c) * sc + y * sh;
    return reinterpret_cast<const T*>(data) + off;
  }
};

// Loads input row y of a plane as floats; returns a pointer to them (buf, or the row itself).
const float* load_row(const Planes& in, int64_t plane, int64_t y, float* buf) {
  if (in.dtype == at::kByte) {
    const uint8_t* src = in.row<uint8_t>(plane, y);
    if (in.sw == 1) {
      simd::u8_to_f32(src, in.w, buf);
    } else {
      for (int64_t x = 0; x < in.w; ++x) buf[x] = static_cast<float>(src[x * in.sw]);
    }
    return buf;
  }
  const float* src = in.row<float>(plane, y);
  if (in.sw == 1) return src;
  for (int64_t x = 0; x < in.w; ++x) buf[x] = src[x * in.sw];
  return buf;
}

// The byte-shuffle form of the first n offsets of a bilinear offs array (resample_row_u8_bilinear):
// empty when four consecutive outputs read more than 16 bytes (a downscale by more than about 4).
struct BytePlan {
  std::vector<int32_t> base;
  std::vector<uint8_t> ctl0, ctl1;
  bool ok() const { return !base.empty(); }
};

BytePlan byte_plan(const std::vector<int32_t>& offs, int64_t n) {
  const int64_t padded = simd::padded(n);
  BytePlan p;
  p.base.assign(padded / 4, 0);
  p.ctl0.assign(4 * padded, 0x80);
  p.ctl1.assign(4 * padded, 0x80);
  for (int64_t g = 0; g < padded / 4; ++g) {
    const int32_t b = 4 * g < n ? offs[4 * g] : offs[0];  // groups past n: scratch lanes
    p.base[g] = b;
    for (int64_t x = 4 * g; x < 4 * g + 4; ++x) {
      const int64_t o = x < n ? offs[x] - b : 0;
      if (o < 0 || o + 1 > 15) return {};
      p.ctl0[4 * x] = static_cast<uint8_t>(o);
      p.ctl1[4 * x] = static_cast<uint8_t>(o + 1);
    }
  }
  return p;
}

// uint8 rows sampled straight from their bytes: when the taps of every output are consecutive
// pixels of the row extended by its edge pixels (bilinear, bicubic), a copy of the row with `left`
// and `right` repeated edge pixels lets one gather read all taps of an output at byte offset offs.
struct ByteTaps {
  bool ok = false;
  int64_t left = 0, right = 0;
  std::vector<int32_t> offs;  // padded like the axis
  // Outputs [0, direct) (a multiple of kPad) read inside the row itself, so a contiguous row needs
  // no copy for them; the others read the copy of the row from pixel tail_base on, at tail_offs.
  int64_t direct = 0;
  int64_t tail_base = 0;
  std::vector<int32_t> tail_offs;  // padded
  // Bilinear rows whose every four outputs read within 16 bytes use byte shuffles instead of gathers
  // (resample_row_u8_bilinear); then `direct` counts only outputs whose 16-byte reads stay in the row.
  // plan: all outputs, read from a padded copy of the row; direct_plan and tail_plan: the outputs
  // before and after `direct`.
  BytePlan plan, direct_plan, tail_plan;
};

ByteTaps byte_taps(const ResizeAxis& a, int64_t in, int64_t out) {
  ByteTaps bt;
  if (a.identity || a.taps > 16 || static_cast<int64_t>(a.start.size()) != out) return bt;
  const int64_t span = (a.taps + 3) / 4 * 4;  // bytes the gathers read from each start
  int64_t lo = 0, hi = in;
  for (int64_t o = 0; o < out; ++o) {
    const int64_t s = a.start[o];
    for (int64_t k = 0; k < a.taps; ++k) {
      // Taps past an output's count have weight 0: whatever pixel they read adds nothing.
      if (k >= a.count[o] && a.w[k * a.stride + o] == 0.0f) continue;
      if (a.idx[k * a.stride + o] != std::min<int64_t>(std::max<int64_t>(s + k, 0), in - 1)) return bt;
    }
    lo = std::min(lo, s);
    hi = std::max(hi, s + span);
  }
  if (-lo > 64 || hi - in > 64) return bt;
  bt.left = -lo;
  bt.right = hi - in;
  bt.offs.assign(a.stride, 0);
  for (int64_t o = 0; o < out; ++o) bt.offs[o] = static_cast<int32_t>(a.start[o] + bt.left);
  bt.ok = true;
  const bool shuffles = a.taps == 2 && byte_plan(bt.offs, out).ok();
  if (bt.left == 0) {
    int64_t fit = 0;  // leading outputs whose reads stay inside the row
    if (shuffles) {
      while (fit < out && a.start[fit / 4 * 4] + 16 <= in) ++fit;
    } else {
      while (fit < out && a.start[fit] + span <= in) ++fit;
    }
    bt.direct = fit / simd::kPad * simd::kPad;
    if (bt.direct > 0 && bt.direct < out) {
      bt.tail_base = a.start[bt.direct];
      for (int64_t o = bt.direct; o < out; ++o) bt.tail_base = std::min(bt.tail_base, a.start[o]);
      bt.tail_offs.assign(simd::padded(out - bt.direct), 0);
      for (int64_t o = bt.direct; o < out; ++o) {
        bt.tail_offs[o - bt.direct] = static_cast<int32_t>(a.start[o] - bt.tail_base);
      }
    }
  }
  if (shuffles) {
    bt.plan = byte_plan(bt.offs, out);
    if (bt.direct > 0) bt.direct_plan = byte_plan(bt.offs, bt.direct);
    if (bt.direct > 0 && bt.direct < out) bt.tail_plan = byte_plan(bt.tail_offs, out - bt.direct);
  }
  return bt;
}

// Runs both passes; finish(plane, oy, row) receives each output row (out_w floats, padded buffer).
// With u8_out set, uint8 rows are written there instead ([planes, out_h, out_w], rounded and
// clamped, as f32_round_to_u8 does) and finish is not called.
//
// The passes are fused: each task walks its output rows in order and keeps the width-resampled input
// rows they read in a small cache (slot y mod `slots`, where `slots` is the widest range of input
// rows one output row reads, so the rows of one output never share a slot). Input rows shared by
// adjacent output rows are resampled once per task, and the working set stays in the first-level
// cache instead of a buffer of every input row. Each row is computed by the same operations as
// before, so the results do not depend on the task split.
template <typename Finish>
void resample(const Planes& in, const ResizeAxis& ax_h, const ResizeAxis& ax_w, int64_t out_h,
              int64_t out_w, const Finish& finish, uint8_t* u8_out = nullptr) {
  const int64_t planes = in.count();
  const int64_t tstride = ax_w.stride;  // == padded(out_w)
  int64_t slots = 1;
  if (!ax_h.identity) {
    for (int64_t o = 0; o < out_h; ++o) {
      int64_t lo = ax_h.idx[o], hi = lo;
      for (int64_t k = 1; k < ax_h.count[o]; ++k) {
        lo = std::min<int64_t>(lo, ax_h.idx[k * ax_h.stride + o]);
        hi = std::max<int64_t>(hi, ax_h.idx[k * ax_h.stride + o]);
      }
      slots = std::max(slots, hi - lo + 1);
    }
  }
  const ByteTaps bt = in.dtype == at::kByte ? byte_taps(ax_w, in.w, out_w) : ByteTaps{};

  const int64_t grain = std::max<int64_t>(1, 32768 / (out_w * ax_h.taps + 1));
  at::parallel_for(0, planes * out_h, grain, [&](int64_t begin, int64_t end) {
    std::unique_ptr<float[]> cache(new float[slots * tstride]);
    std::vector<int64_t> tag(slots, -1);  // plane * in.h + y of the row each slot holds
    std::unique_ptr<float[]> buf(new float[std::max(simd::padded(in.w), tstride)]);
    std::unique_ptr<uint8_t[]> bytes(bt.ok ? new uint8_t[bt.left + in.w + bt.right + 16] : nullptr);
    // Width pass of input row y of a plane into dst.
    auto width_pass = [&](int64_t plane, int64_t y, float* dst) {
      if (bt.ok && in.sw == 1 && bt.direct > 0) {
        const uint8_t* src = in.row<uint8_t>(plane, y);
        if (bt.direct_plan.ok()) {
          simd::resample_row_u8_bilinear(src, bt.direct_plan.base.data(), bt.direct_plan.ctl0.data(),
                                         bt.direct_plan.ctl1.data(), ax_w.w.data(), ax_w.stride, bt.direct, dst);
        } else {
          simd::resample_row_u8_taps(src, bt.offs.data(), ax_w.w.data(), ax_w.taps, ax_w.stride, bt.direct, dst);
        }
        if (bt.direct < out_w) {
          const int64_t len = in.w - bt.tail_base;
          uint8_t* b = bytes.get();
          std::memcpy(b, src + bt.tail_base, len);
          std::memset(b + len, b[len - 1], bt.right + 16);
          if (bt.tail_plan.ok()) {
            simd::resample_row_u8_bilinear(b, bt.tail_plan.base.data(), bt.tail_plan.ctl0.data(),
                                           bt.tail_plan.ctl1.data(), ax_w.w.data() + bt.direct, ax_w.stride,
                                           simd::padded(out_w - bt.direct), dst + bt.direct);
          } else {
            simd::resample_row_u8_taps(b, bt.tail_offs.data(), ax_w.w.data() + bt.direct, ax_w.taps,
                                       ax_w.stride, out_w - bt.direct, dst + bt.direct);
          }
        }
      } else if (bt.ok) {
        const uint8_t* src = in.row<uint8_t>(plane, y);
        uint8_t* b = bytes.get() + bt.left;
        if (in.sw == 1) {
          std::memcpy(b, src, in.w);
        } else {
          for (int64_t x = 0; x < in.w; ++x) b[x] = src[x * in.sw];
        }
        std::memset(bytes.get(), b[0], bt.left);
        std::memset(b + in.w, b[in.w - 1], bt.right + 16);
        if (bt.plan.ok()) {
          simd::resample_row_u8_bilinear(bytes.get(), bt.plan.base.data(), bt.plan.ctl0.data(), bt.plan.ctl1.data(),
                                         ax_w.w.data(), ax_w.stride, simd::padded(out_w), dst);
        } else {
          simd::resample_row_u8_taps(bytes.get(), bt.offs.data(), ax_w.w.data(), ax_w.taps, ax_w.stride, out_w, dst);
        }
      } else if (ax_w.identity) {
        const float* src = load_row(in, plane, y, dst);
        if (src != dst) std::memcpy(dst, src, sizeof(float) * out_w);
      } else {
        const float* src = load_row(in, plane, y, buf.get());
        simd::resample_row(src, ax_w.idx.data(), ax_w.w.data(), ax_w.taps, ax_w.stride, out_w, dst);
      }
    };
    auto source = [&](int64_t plane, int64_t y) -> const float* {
      const int64_t slot = y % slots;
      float* dst = cache.get() + slot * tstride;
      if (tag[slot] != plane * in.h + y) {
        width_pass(plane, y, dst);
        tag[slot] = plane * in.h + y;
      }
      return dst;
    };
    std::vector<const float*> rows(ax_h.taps);
    std::vector<float> wts(ax_h.taps);
    for (int64_t i = begin; i < end; ++i) {
      const int64_t plane = i / out_h, oy = i % out_h;
      if (ax_h.identity) {
        const float* src = source(plane, oy);
        if (u8_out != nullptr) {
          simd::f32_round_to_u8(src, out_w, u8_out + i * out_w);
        } else {
          finish(plane, oy, src);
        }
        continue;
      }
      const int64_t taps = ax_h.count[oy];
      for (int64_t k = 0; k < taps; ++k) {
        rows[k] = source(plane, ax_h.idx[k * ax_h.stride + oy]);
        wts[k] = ax_h.w[k * ax_h.stride + oy];
      }
      if (u8_out != nullptr) {
        simd::combine_rows_to_u8(rows.data(), wts.data(), taps, out_w, u8_out + i * out_w);
      } else {
        simd::combine_rows(rows.data(), wts.data(), taps, out_w, buf.get());
        finish(plane, oy, buf.get());
      }
    }
  });
}

template <typename T>
void resize_nearest(const Planes& in, int64_t out_h, int64_t out_w, T* out) {
  const auto iy = nearest_resize_indices(in.h, out_h, 0, out_h);
  const auto ix = nearest_resize_indices(in.w, out_w, 0, out_w);
  std::vector<int64_t> off(out_w);
  for (int64_t x = 0; x < out_w; ++x) off[x] = ix[x] * in.sw;
  // Contiguous uint8 rows: outputs [0, vec) read at most 4 bytes from their pixel inside the row,
  // which lets them use 32-bit gathers; the rest are copied one by one.
  std::vector<int32_t> idx32;
  int64_t vec = 0;
  if (std::is_same<T, uint8_t>::value && in.sw == 1) {
    idx32.resize(out_w);
    while (vec < out_w && ix[vec] + 4 <= in.w) {
      idx32[vec] = static_cast<int32_t>(ix[vec]);
      ++vec;
    }
  }
  const int64_t grain = std::max<int64_t>(1, 32768 / (out_w + 1));
  const int64_t* offs = off.data();
  const int64_t* rows = iy.data();
  const int32_t* i32 = idx32.data();
  at::parallel_for(0, in.count() * out_h, grain, [=, &in](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const int64_t plane = i / out_h, oy = i % out_h;
      const T* src = in.row<T>(plane, rows[oy]);
      T* dst = out + i * out_w;
      if (vec > 0) {
        simd::gather_u8(reinterpret_cast<const uint8_t*>(src), i32, vec, reinterpret_cast<uint8_t*>(dst));
      }
      for (int64_t x = vec; x < out_w; ++x) dst[x] = src[offs[x]];
    }
  });
}

} // namespace

at::Tensor resize(
    const at::Tensor& img, int64_t height, int64_t width, c10::string_view interpolation,
    bool antialias) {
  TORCH_CHECK(img.device().is_cpu(), "img must be a CPU tensor, got a tensor on ", img.device());
  TORCH_CHECK(
      img.dim() == 3 || img.dim() == 4, "img should be a [C, H, W] or [N, C, H, W] tensor, got ",
      img.dim(), "D with shape ", img.sizes());
  TORCH_CHECK(
      img.scalar_type() == at::kByte || img.scalar_type() == at::kFloat,
      "img must be uint8 or float32, got ", img.scalar_type());
  TORCH_CHECK(height > 0 && width > 0, "size must be positive, got [", height, ", ", width, "]");
  TORCH_CHECK(img.size(-1) > 0 && img.size(-2) > 0, "img must not be empty, got shape ", img.sizes());
  const Interp interp = parse_interpolation(interpolation);
  TORCH_CHECK(
      !antialias || interp != Interp::Nearest,
      "Antialias option is supported for bilinear and bicubic interpolation modes only");

  const at::Tensor in4 = img.dim() == 3 ? img.unsqueeze(0) : img;
  const Planes in(in4);
  at::Tensor out = empty_recycled({in.n, in.c, height, width}, img.options());
  if (in.count() == 0) return img.dim() == 3 ? out.squeeze(0) : out;

  if (interp == Interp::Nearest) {
    if (img.scalar_type() == at::kByte) {
      resize_nearest<uint8_t>(in, height, width, out.data_ptr<uint8_t>());
    } else {
      resize_nearest<float>(in, height, width, out.data_ptr<float>());
    }
  } else {
    const ResizeAxis ax_h = make_axis(in.h, height, interp, antialias);
    const ResizeAxis ax_w = make_axis(in.w, width, interp, antialias);
    if (img.scalar_type() == at::kByte) {
      resample(in, ax_h, ax_w, height, width, [](int64_t, int64_t, const float*) {}, out.data_ptr<uint8_t>());
    } else {
      float* o = out.data_ptr<float>();
      resample(in, ax_h, ax_w, height, width, [&](int64_t plane, int64_t oy, const float* row) {
        std::memcpy(o + (plane * height + oy) * width, row, sizeof(float) * width);
      });
    }
  }
  return img.dim() == 3 ? out.squeeze(0) : out;
}

at::Tensor detection_preprocess(
    const at::Tensor& img, int64_t height, int64_t width, int64_t pad_height, int64_t pad_width,
    at::ArrayRef<double> mean, at::ArrayRef<double> std, double scale, bool to_bgr,
    double pad_value) {
  TORCH_CHECK(img.device().is_cpu(), "img must be a CPU tensor, got a tensor on ", img.device());
  TORCH_CHECK(
      img.dim() == 3 && img.size(0) == 3 && img.scalar_type() == at::kByte,
      "img should be a uint8 [3, H, W] tensor, got ", img.scalar_type(), " with shape ", img.sizes());
  TORCH_CHECK(img.size(1) > 0 && img.size(2) > 0, "img must not be empty, got shape ", img.sizes());
  TORCH_CHECK(height > 0 && width > 0, "size must be positive, got [", height, ", ", width, "]");
  TORCH_CHECK(
      pad_height >= height && pad_width >= width, "padded size [", pad_height, ", ", pad_width,
      "] must not be smaller than the resized size [", height, ", ", width, "]");
  TORCH_CHECK(mean.size() == 3 && std.size() == 3, "mean and std should have 3 values each");
  float m[3], s[3];
  for (int k = 0; k < 3; ++k) {
    m[k] = static_cast<float>(mean[k]);
    s[k] = static_cast<float>(std[k]);
    TORCH_CHECK(s[k] != 0.0f, "std must not be zero, got ", std[k]);
  }
  const float sc = static_cast<float>(scale);
  const float fill = static_cast<float>(pad_value);

  const at::Tensor in4 = img.unsqueeze(0);
  const Planes in(in4);
  at::Tensor out = empty_recycled({3, pad_height, pad_width}, img.options().dtype(at::kFloat));
  float* o = out.data_ptr<float>();
  const ResizeAxis ax_h = make_axis(in.h, height, Interp::Bilinear, false);
  const ResizeAxis ax_w = make_axis(in.w, width, Interp::Bilinear, false);
  resample(in, ax_h, ax_w, height, width, [&](int64_t plane, int64_t oy, const float* row) {
    const int64_t c = to_bgr ? 2 - plane : plane;
    float* dst = o + (c * pad_height + oy) * pad_width;
    simd::round_scale_sub_div(row, width, sc, m[c], s[c], dst);
    std::fill(dst + width, dst + pad_width, fill);
  });
  for (int64_t c = 0; c < 3; ++c) {
    std::fill(o + (c * pad_height + height) * pad_width, o + (c + 1) * pad_height * pad_width, fill);
  }
  return out;
}

} // namespace image
} // namespace tva
