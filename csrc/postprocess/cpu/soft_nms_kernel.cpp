// Soft-NMS, mmcv's algorithm step for step (see postprocess.h): the working arrays are permuted in
// place exactly as mmcv permutes them, because which box wins a tie and which box fills the hole
// left by a dropped one both depend on that order.
//
// Decay kernels are compile-time policies, one loop serving the three methods. Arithmetic runs in
// the boxes' dtype (float32 as mmcv; float64 stays float64; float16/bfloat16 run in float32).
#include <cmath>
#include <cstring>
#include <vector>

#include <ATen/ATen.h>
#include <ATen/Dispatch.h>

#include "common/checks.h"
#include "postprocess/postprocess.h"

namespace tva {
namespace postprocess {
namespace {

enum class Decay { kNaive, kLinear, kGaussian };

template <Decay D, typename T>
inline T weight(T ovr, T thr, T sigma) {
  if constexpr (D == Decay::kNaive) {
    return ovr >= thr ? T(0) : T(1);
  } else if constexpr (D == Decay::kLinear) {
    return ovr >= thr ? T(1) - ovr : T(1);
  } else {
    return std::exp(-(ovr * ovr) / sigma);
  }
}

template <Decay D, typename T>
void soft_nms_kernel(std::vector<T>& x1, std::vector<T>& y1, std::vector<T>& x2, std::vector<T>& y2,
                     std::vector<T>& sc, std::vector<int64_t>& ind, int64_t& n, T thr, T sigma,
                     T min_score, T off) {
  std::vector<T> area(n);
  for (int64_t i = 0; i < n; ++i) area[i] = (x2[i] - x1[i] + off) * (y2[i] - y1[i] + off);
  auto move = [&](int64_t to, int64_t from) {
    x1[to] = x1[from];
    y1[to] = y1[from];
    x2[to] = x2[from];
    y2[to] = y2[from];
    sc[to] = sc[from];
    area[to] = area[from];
    ind[to] = ind[from];
  };
  for (int64_t i = 0; i < n; ++i) {
    T max_score = sc[i];
    int64_t max_pos = i;
    for (int64_t pos = i + 1; pos < n; ++pos) {
      if (max_score < sc[pos]) {
        max_score = sc[pos];
        max_pos = pos;
      }
    }
    // Swap the best box into position i.
    const T ix1 = x1[max_pos], iy1 = y1[max_pos], ix2 = x2[max_pos], iy2 = y2[max_pos];
    const T iscore = sc[max_pos], iarea = area[max_pos];
    const int64_t iind = ind[max_pos];
    move(max_pos, i);
    x1[i] = ix1;
    y1[i] = iy1;
    x2[i] = ix2;
    y2[i] = iy2;
    sc[i] = iscore;
    area[i] = iarea;
    ind[i] = iind;

    for (int64_t pos = i + 1; pos < n; ++pos) {
      const T xx1 = std::max(ix1, x1[pos]);
      const T yy1 = std::max(iy1, y1[pos]);
      const T xx2 = std::min(ix2, x2[pos]);
      const T yy2 = std::min(iy2, y2[pos]);
      const T w = std::max(T(0), xx2 - xx1 + off);
      const T h = std::max(T(0), yy2 - yy1 + off);
      const T inter = w * h;
      const T ovr = inter / (iarea + area[pos] - inter);
      sc[pos] *= weight<D>(ovr, thr, sigma);
      // A box whose score falls below the threshold is replaced by the last one, which is then
      // examined at this same position.
      if (sc[pos] < min_score) {
        move(pos, n - 1);
        --n;
        --pos;
      }
    }
  }
}

} // namespace

std::tuple<at::Tensor, at::Tensor> soft_nms(
    const at::Tensor& boxes, const at::Tensor& scores, double iou_threshold, double sigma,
    double score_threshold, const std::string& method, int64_t offset) {
  check_cpu(boxes, "boxes");
  check_cpu(scores, "scores");
  TORCH_CHECK(boxes.dim() == 2 && boxes.size(1) == 4,
              "boxes should be a [N, 4] tensor of (x1, y1, x2, y2), got shape ", boxes.sizes());
  TORCH_CHECK(scores.dim() == 1, "scores should be a 1d tensor, got ", scores.dim(), "D");
  TORCH_CHECK(boxes.size(0) == scores.size(0),
              "boxes and scores should have the same number of elements in dimension 0, got ",
              boxes.size(0), " and ", scores.size(0));
  check_floating(boxes, "boxes");
  check_same_dtype(boxes, "boxes", scores, "scores");
  Decay decay;
  if (method == "linear")
    decay = Decay::kLinear;
  else if (method == "gaussian")
    decay = Decay::kGaussian;
  else if (method == "naive")
    decay = Decay::kNaive;
  else
    TORCH_CHECK(false, "method must be 'linear', 'gaussian' or 'naive', got '", method, "'");
  TORCH_CHECK(offset == 0 || offset == 1, "offset must be 0 or 1, got ", offset);
  TORCH_CHECK(decay != Decay::kGaussian || sigma > 0, "sigma must be > 0 for the gaussian method, got ",
              sigma);

  const int64_t total = boxes.size(0);
  if (total == 0)
    return {at::empty({0}, boxes.options().dtype(at::kLong)), at::empty({0}, scores.options())};
  const bool narrow = boxes.scalar_type() == at::kHalf || boxes.scalar_type() == at::kBFloat16;
  const at::Tensor b = (narrow ? boxes.to(at::kFloat) : boxes).contiguous();
  const at::Tensor s = (narrow ? scores.to(at::kFloat) : scores).contiguous();
  at::Tensor keep, kept_scores;
  AT_DISPATCH_FLOATING_TYPES(b.scalar_type(), "soft_nms", [&] {
    using T = scalar_t;
    std::vector<T> x1(total), y1(total), x2(total), y2(total), sc(total);
    std::vector<int64_t> ind(total);
    const T* pb = b.data_ptr<T>();
    const T* ps = s.data_ptr<T>();
    for (int64_t i = 0; i < total; ++i) {
      x1[i] = pb[4 * i];
      y1[i] = pb[4 * i + 1];
      x2[i] = pb[4 * i + 2];
      y2[i] = pb[4 * i + 3];
      sc[i] = ps[i];
      ind[i] = i;
    }
    int64_t n = total;
    // Parameters arrive as the kernel's type, as mmcv's float arguments do.
    const T thr = static_cast<T>(iou_threshold), sg = static_cast<T>(sigma);
    const T ms = static_cast<T>(score_threshold), off = static_cast<T>(offset);
    switch (decay) {
      case Decay::kNaive:
        soft_nms_kernel<Decay::kNaive>(x1, y1, x2, y2, sc, ind, n, thr, sg, ms, off);
        break;
      case Decay::kLinear:
        soft_nms_kernel<Decay::kLinear>(x1, y1, x2, y2, sc, ind, n, thr, sg, ms, off);
        break;
      case Decay::kGaussian:
        soft_nms_kernel<Decay::kGaussian>(x1, y1, x2, y2, sc, ind, n, thr, sg, ms, off);
        break;
    }
    keep = at::empty({n}, boxes.options().dtype(at::kLong));
    kept_scores = at::empty({n}, s.options());
    std::memcpy(keep.data_ptr<int64_t>(), ind.data(), n * sizeof(int64_t));
    std::memcpy(kept_scores.data_ptr<T>(), sc.data(), n * sizeof(T));
  });
  return {keep, kept_scores.to(scores.scalar_type())};
}

} // namespace postprocess
} // namespace tva
