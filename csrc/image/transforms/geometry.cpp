// Flips and padding: pure data movement, row by row, with the source index of every output column and
// row precomputed once.
#include <cstring>
#include <vector>

#include "image/transforms/common.h"
#include "image/transforms/resample_simd.h"
#include "common/reuse.h"
#include "image/transforms/transforms.h"

namespace tva {
namespace image {
namespace {

template <typename T>
void hflip_rows(const T* src, T* dst, int64_t rows, int64_t w) {
  parallel_items(rows, w, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      if constexpr (std::is_same<T, uint8_t>::value) {
        simd::reverse_u8(src + r * w, w, dst + r * w);
      } else {
        simd::reverse_f32(src + r * w, w, dst + r * w);
      }
    }
  });
}

enum class PadMode { Constant, Edge, Reflect, Symmetric };

PadMode parse_mode(c10::string_view s) {
  if (s == "constant") return PadMode::Constant;
  if (s == "edge") return PadMode::Edge;
  if (s == "reflect") return PadMode::Reflect;
  if (s == "symmetric") return PadMode::Symmetric;
  TORCH_CHECK(false, "Padding mode should be either constant, edge, reflect or symmetric, got '", s, "'");
}

// Source index of each output position along one axis, -1 for the constant fill.
std::vector<int64_t> pad_map(int64_t n, int64_t before, int64_t after, PadMode mode) {
  std::vector<int64_t> map(n + before + after);
  for (int64_t o = 0; o < static_cast<int64_t>(map.size()); ++o) {
    int64_t i = o - before;
    if (i < 0 || i >= n) {
      switch (mode) {
        case PadMode::Constant: i = -1; break;
        case PadMode::Edge: i = i < 0 ? 0 : n - 1; break;
        case PadMode::Reflect: i = i < 0 ? -i : 2 * (n - 1) - i; break;
        case PadMode::Symmetric: i = i < 0 ? -i - 1 : 2 * n - 1 - i; break;
      }
    }
    map[o] = i;
  }
  return map;
}

template <typename T>
at::Tensor pad_impl(const at::Tensor& src, at::IntArrayRef p, T fill, PadMode mode) {
  const int64_t h = src.size(-2), w = src.size(-1);
  const int64_t left = p[0], right = p[1], top = p[2], bottom = p[3];
  const int64_t oh = h + top + bottom, ow = w + left + right;
  auto sizes = src.sizes().vec();
  sizes[sizes.size() - 2] = oh;
  sizes[sizes.size() - 1] = ow;
  at::Tensor out = empty_recycled(sizes, src.options());
  const int64_t planes = h * w == 0 ? 0 : src.numel() / (h * w);
  const auto ymap = pad_map(h, top, bottom, mode);
  const auto xmap = pad_map(w, left, right, mode);
  const T* s = src.data_ptr<T>();
  T* d = out.data_ptr<T>();
  const int64_t* ym = ymap.data();
  const int64_t* xm = xmap.data();
  parallel_items(planes * oh, ow, [=](int64_t begin, int64_t end) {
    if constexpr (std::is_same<T, uint8_t>::value) {
      if (mode == PadMode::Constant) {  // vector stores, no library call per piece of a row
        simd::pad_rows_u8(s, h, w, ym, oh, left, right, fill, d, begin, end);
        return;
      }
    }
    int64_t plane = begin / oh, oy = begin % oh;  // of row r, advanced with it (no divide per row)
    for (int64_t r = begin; r < end; ++r, oy = oy + 1 == oh ? 0 : oy + 1, plane += oy == 0) {
      T* o = d + r * ow;
      const int64_t iy = ym[oy];
      if (iy < 0) {
        std::fill(o, o + ow, fill);
        continue;
      }
      const T* row = s + (plane * h + iy) * w;
      std::memcpy(o + left, row, sizeof(T) * w);
      if (mode == PadMode::Constant) {
        std::fill(o, o + left, fill);
        std::fill(o + left + w, o + ow, fill);
        continue;
      }
      for (int64_t x = 0; x < left; ++x) o[x] = row[xm[x]];
      for (int64_t x = left + w; x < ow; ++x) o[x] = row[xm[x]];
    }
  });
  return out;
}

} // namespace

at::Tensor hflip(const at::Tensor& img) {
  check_image(img, 2, "hflip");
  check_u8_or_f32(img, "hflip");
  const at::Tensor src = img.contiguous();
  at::Tensor out = empty_recycled(src.sizes(), src.options());
  const int64_t w = img.size(-1);
  if (img.numel() == 0) return out;
  if (img.scalar_type() == at::kByte) {
    hflip_rows(src.data_ptr<uint8_t>(), out.data_ptr<uint8_t>(), img.numel() / w, w);
  } else {
    hflip_rows(src.data_ptr<float>(), out.data_ptr<float>(), img.numel() / w, w);
  }
  return out;
}

at::Tensor vflip(const at::Tensor& img) {
  check_image(img, 2, "vflip");
  const at::Tensor src = img.contiguous();
  at::Tensor out = empty_recycled(src.sizes(), src.options());
  const int64_t h = img.size(-2);
  const int64_t row_bytes = img.size(-1) * img.element_size();
  if (img.numel() == 0) return out;
  const int64_t planes = img.numel() / (h * img.size(-1));
  const uint8_t* s = static_cast<const uint8_t*>(src.data_ptr());
  uint8_t* d = static_cast<uint8_t*>(out.data_ptr());
  parallel_items(planes * h, row_bytes, [&](int64_t begin, int64_t end) {
    // Output row r = plane * h + y reads input row plane * h + (h - 1 - y): one copy_rows call per
    // plane (or part of one), walking the input rows down.
    for (int64_t r = begin; r < end;) {
      const int64_t y = r % h;
      const int64_t rows = std::min(end - r, h - y);
      const uint8_t* src_row = s + (r - y + (h - 1 - y)) * row_bytes;
      simd::copy_rows(src_row, -row_bytes, d + r * row_bytes, row_bytes, rows, row_bytes);
      r += rows;
    }
  });
  return out;
}

at::Tensor pad(const at::Tensor& img, at::IntArrayRef padding, double fill, c10::string_view padding_mode) {
  check_image(img, 2, "pad");
  check_u8_or_f32(img, "pad");
  TORCH_CHECK(padding.size() == 4, "pad: padding should have 4 values (left, right, top, bottom)");
  for (const int64_t v : padding) TORCH_CHECK(v >= 0, "pad: padding must not be negative, got ", padding);
  const PadMode mode = parse_mode(padding_mode);
  const int64_t h = img.size(-2), w = img.size(-1);
  TORCH_CHECK(h > 0 && w > 0, "pad: img must not be empty, got shape ", img.sizes());
  if (mode == PadMode::Reflect) {
    TORCH_CHECK(
        padding[0] < w && padding[1] < w && padding[2] < h && padding[3] < h,
        "pad: reflect padding must be smaller than the image size");
  }
  if (mode == PadMode::Symmetric) {
    TORCH_CHECK(
        padding[0] <= w && padding[1] <= w && padding[2] <= h && padding[3] <= h,
        "pad: symmetric padding must not exceed the image size");
  }
  const at::Tensor src = img.contiguous();
  if (img.scalar_type() == at::kByte) {
    return pad_impl<uint8_t>(src, padding, static_cast<uint8_t>(fill), mode);
  }
  return pad_impl<float>(src, padding, static_cast<float>(fill), mode);
}

} // namespace image
} // namespace tva
