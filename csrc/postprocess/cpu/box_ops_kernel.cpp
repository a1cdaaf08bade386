// box_area, box_iou, generalized_box_iou and masks_to_boxes with torchvision's arithmetic.
//
// torchvision computes these with broadcasting tensor expressions; the dtype rules are kept:
// coordinates differences (rb - lt) are taken in the input dtype and then "upcast" (half and
// bfloat16 to float, small integers to int32), areas are computed after the upcast, and integer
// IoUs are divided in float32. torch.max / torch.min propagate NaN and clamp(min=0) keeps it, so
// the helpers below do the same. Rows are spread over threads; the inner loop over the second box
// set is branch-free so the compiler vectorises it.
#include <limits>
#include <type_traits>

#include <ATen/ATen.h>
#include <ATen/Dispatch.h>

#include "common/checks.h"
#include "common/parallel.h"
#include "postprocess/postprocess.h"

namespace tva {
namespace postprocess {
namespace {

// `a != a` is true only for NaN (never for integers).
template <typename T>
inline T max_nan(T a, T b) {
  return (a > b || a != a) ? a : b;
}
template <typename T>
inline T min_nan(T a, T b) {
  return (a < b || a != a) ? a : b;
}
template <typename T>
inline T clamp0(T x) {
  return x < T(0) ? T(0) : x;
}

// Upcast types of torchvision's _upcast.
template <typename T>
struct Up {
  using type = T;
};
template <>
struct Up<at::Half> {
  using type = float;
};
template <>
struct Up<at::BFloat16> {
  using type = float;
};
template <>
struct Up<uint8_t> {
  using type = int32_t;
};
template <>
struct Up<int8_t> {
  using type = int32_t;
};
template <>
struct Up<int16_t> {
  using type = int32_t;
};

// Output element type of inter / union.
template <typename U>
using IouT = typename std::conditional<std::is_floating_point<U>::value, U, float>::type;

at::ScalarType up_type(at::ScalarType t) {
  switch (t) {
    case at::kHalf:
    case at::kBFloat16:
      return at::kFloat;
    case at::kByte:
    case at::kChar:
    case at::kShort:
      return at::kInt;
    default:
      return t;
  }
}

void check_boxes(const at::Tensor& b, const char* name) {
  check_cpu(b, name);
  TORCH_CHECK(b.dim() == 2 && b.size(1) == 4, name, " should be a [N, 4] tensor of (x1, y1, x2, y2), got shape ",
              b.sizes());
  TORCH_CHECK(b.scalar_type() != at::kBool && !b.is_complex(), name,
              " must be a real-valued tensor, got ", b.scalar_type());
}

template <typename D>
void area_kernel(const D* b, int64_t n, typename Up<D>::type* out) {
  using U = typename Up<D>::type;
  for (int64_t i = 0; i < n; ++i) {
    const U x1 = static_cast<U>(b[4 * i]), y1 = static_cast<U>(b[4 * i + 1]);
    const U x2 = static_cast<U>(b[4 * i + 2]), y2 = static_cast<U>(b[4 * i + 3]);
    out[i] = static_cast<U>((x2 - x1) * (y2 - y1));
  }
}

template <typename D, bool Generalized>
void iou_kernel(const D* b1, int64_t n, const D* b2, int64_t m, IouT<typename Up<D>::type>* out) {
  using U = typename Up<D>::type;
  using O = IouT<U>;
  std::vector<U> area1(n), area2(m);
  area_kernel(b1, n, area1.data());
  area_kernel(b2, m, area2.data());
  std::vector<D> x1(m), y1(m), x2(m), y2(m);
  for (int64_t j = 0; j < m; ++j) {
    x1[j] = b2[4 * j];
    y1[j] = b2[4 * j + 1];
    x2[j] = b2[4 * j + 2];
    y2[j] = b2[4 * j + 3];
  }
  const int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(m, 1));
  tva::parallel_for(n, grain, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const D ax1 = b1[4 * i], ay1 = b1[4 * i + 1], ax2 = b1[4 * i + 2], ay2 = b1[4 * i + 3];
      const U a1 = area1[i];
      O* row = out + i * m;
      for (int64_t j = 0; j < m; ++j) {
        // (rb - lt) in the input dtype, then upcast, then clamp(min=0).
        const U w = clamp0(static_cast<U>(static_cast<D>(min_nan(ax2, x2[j]) - max_nan(ax1, x1[j]))));
        const U h = clamp0(static_cast<U>(static_cast<D>(min_nan(ay2, y2[j]) - max_nan(ay1, y1[j]))));
        const U inter = static_cast<U>(w * h);
        const U uni = static_cast<U>(static_cast<U>(a1 + area2[j]) - inter);
        const O iou = static_cast<O>(inter) / static_cast<O>(uni);
        if constexpr (Generalized) {
          const U wi = clamp0(static_cast<U>(static_cast<D>(max_nan(ax2, x2[j]) - min_nan(ax1, x1[j]))));
          const U hi = clamp0(static_cast<U>(static_cast<D>(max_nan(ay2, y2[j]) - min_nan(ay1, y1[j]))));
          const U areai = static_cast<U>(wi * hi);
          const O frac = static_cast<O>(static_cast<U>(areai - uni)) / static_cast<O>(areai);
          row[j] = iou - frac;
        } else {
          row[j] = iou;
        }
      }
    }
  });
}

template <bool Generalized>
at::Tensor iou_impl(const at::Tensor& boxes1, const at::Tensor& boxes2) {
  check_boxes(boxes1, "boxes1");
  check_boxes(boxes2, "boxes2");
  check_same_dtype(boxes1, "boxes1", boxes2, "boxes2");
  const at::ScalarType up = up_type(boxes1.scalar_type());
  const at::ScalarType out_t = at::isFloatingType(up) ? up : at::kFloat;
  const int64_t n = boxes1.size(0), m = boxes2.size(0);
  auto out = at::empty({n, m}, boxes1.options().dtype(out_t));
  if (n == 0 || m == 0) return out;
  const auto b1 = boxes1.contiguous();
  const auto b2 = boxes2.contiguous();
  AT_DISPATCH_ALL_TYPES_AND2(at::kHalf, at::kBFloat16, b1.scalar_type(), "box_iou", [&] {
    using O = IouT<typename Up<scalar_t>::type>;
    iou_kernel<scalar_t, Generalized>(b1.data_ptr<scalar_t>(), n, b2.data_ptr<scalar_t>(), m,
                                      out.data_ptr<O>());
  });
  return out;
}

} // namespace

at::Tensor box_area(const at::Tensor& boxes) {
  check_boxes(boxes, "boxes");
  const int64_t n = boxes.size(0);
  auto out = at::empty({n}, boxes.options().dtype(up_type(boxes.scalar_type())));
  if (n == 0) return out;
  const auto b = boxes.contiguous();
  AT_DISPATCH_ALL_TYPES_AND2(at::kHalf, at::kBFloat16, b.scalar_type(), "box_area", [&] {
    using U = typename Up<scalar_t>::type;
    area_kernel(b.data_ptr<scalar_t>(), n, out.data_ptr<U>());
  });
  return out;
}

at::Tensor box_iou(const at::Tensor& boxes1, const at::Tensor& boxes2) {
  return iou_impl<false>(boxes1, boxes2);
}

at::Tensor generalized_box_iou(const at::Tensor& boxes1, const at::Tensor& boxes2) {
  return iou_impl<true>(boxes1, boxes2);
}

at::Tensor masks_to_boxes(const at::Tensor& masks_in) {
  check_cpu(masks_in, "masks");
  TORCH_CHECK(masks_in.dim() == 3, "masks should be a 3d tensor [N, H, W], got ", masks_in.dim(),
              "D with shape ", masks_in.sizes());
  if (masks_in.numel() == 0) return at::zeros({0, 4}, masks_in.options().dtype(at::kFloat));
  const int64_t n = masks_in.size(0), h = masks_in.size(1), w = masks_in.size(2);
  auto out = at::zeros({n, 4}, masks_in.options().dtype(at::kFloat));
  float* o = out.data_ptr<float>();
  const auto masks = masks_in.contiguous();
  int64_t empty_mask = -1;
  AT_DISPATCH_ALL_TYPES_AND3(at::kBool, at::kHalf, at::kBFloat16, masks.scalar_type(), "masks_to_boxes", [&] {
    const scalar_t* p = masks.data_ptr<scalar_t>();
    std::vector<uint8_t> empty(n, 0);
    tva::parallel_for(n, 1, [&](int64_t begin, int64_t end) {
      for (int64_t k = begin; k < end; ++k) {
        const scalar_t* mk = p + k * h * w;
        int64_t xmin = w, xmax = -1, ymin = h, ymax = -1;
        for (int64_t y = 0; y < h; ++y) {
          const scalar_t* row = mk + y * w;
          int64_t first = -1, last = -1;
          for (int64_t x = 0; x < w; ++x) {
            if (row[x] != scalar_t(0)) {
              first = x;
              break;
            }
          }
          if (first < 0) continue;
          for (int64_t x = w - 1; x >= first; --x) {
            if (row[x] != scalar_t(0)) {
              last = x;
              break;
            }
          }
          if (ymin == h) ymin = y;
          ymax = y;
          xmin = std::min(xmin, first);
          xmax = std::max(xmax, last);
        }
        if (ymax < 0) {
          empty[k] = 1;
          continue;
        }
        o[4 * k] = static_cast<float>(xmin);
        o[4 * k + 1] = static_cast<float>(ymin);
        o[4 * k + 2] = static_cast<float>(xmax);
        o[4 * k + 3] = static_cast<float>(ymax);
      }
    });
    for (int64_t k = 0; k < n; ++k)
      if (empty[k]) {
        empty_mask = k;
        break;
      }
  });
  TORCH_CHECK(empty_mask < 0, "masks_to_boxes: mask ", empty_mask,
              " has no nonzero pixel, so it has no bounding box (torchvision raises here too)");
  return out;
}

} // namespace postprocess
} // namespace tva
