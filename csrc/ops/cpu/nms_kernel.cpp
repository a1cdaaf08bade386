// CPU kernels for nms and batched_nms.
//
// Greedy NMS visits boxes in decreasing score order and lets every kept box suppress the later boxes
// it overlaps with IoU > threshold. torchvision compares each kept box with every later box, one at a
// time. Here the result is the same, bit for bit, but far fewer pairs are evaluated:
//
//  * Boxes are laid out in blocks of 16 grouped by size class and by position (Morton order of the
//    centre), each block and each group of 16 blocks carrying its bounding extent and size range.
//    A kept box only visits blocks that can hold a box with IoU > threshold; the bounds used for that
//    are exact for IoU > 0 and carry a generous margin for the threshold-dependent part, so no
//    suppressing pair is ever skipped.
//  * Inside a block the 16 IoUs are computed with SIMD, with torchvision's arithmetic in each lane.
//  * batched_nms runs its categories in parallel (at::parallel_for); a single nms is one thread, as
//    each greedy step depends on the previous ones.
//
// Inputs the fast path cannot vouch for (NaN/inf coordinates, a negative or NaN threshold) run a
// literal port of torchvision's loop instead, so even those give torchvision's answer.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>
#include <vector>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include "common/checks.h"
#include "ops/cpu/iou_simd.h"
#include "ops/nms.h"

namespace tva {
namespace ops {
namespace {

constexpr int64_t kBlock = 16;   // boxes per block (one or two SIMD vectors)
constexpr int64_t kGroup = 64;   // boxes per SIMD call in the direct path
constexpr int64_t kDirectMax = 384; // up to this many boxes, compare directly without an index

// Largest float f with f <= t, so that (float x > f) <=> ((double)x > t) for every float x.
float float_threshold_below(double t) {
  if (std::isnan(t)) return std::numeric_limits<float>::quiet_NaN();
  float f = static_cast<float>(t);
  if (static_cast<double>(f) > t) f = std::nextafter(f, -std::numeric_limits<float>::infinity());
  return f;
}

template <typename T>
T query_threshold(double t);
template <>
float query_threshold<float>(double t) {
  return float_threshold_below(t);
}
template <>
double query_threshold<double>(double t) {
  return t;
}

// The order torchvision visits boxes in: a stable sort of the scores in decreasing order, NaN
// first (torch.sort(scores, stable=True, descending=True)).
template <typename S>
std::vector<int64_t> score_order_impl(const S* p, int64_t n) {
  std::vector<int64_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [p](int64_t a, int64_t b) {
    const bool na = std::isnan(p[a]), nb = std::isnan(p[b]);
    return na != nb ? na : p[a] > p[b];
  });
  return order;
}

std::vector<int64_t> score_order(const at::Tensor& scores) {
  std::vector<int64_t> order;
  AT_DISPATCH_FLOATING_TYPES(scores.scalar_type(), "score_order", [&] {
    const auto s = scores.contiguous();
    order = score_order_impl(s.data_ptr<scalar_t>(), s.size(0));
  });
  return order;
}

// Boxes in visiting order, as a padded struct of arrays (padding boxes are empty and never match).
template <typename T>
struct SortedBoxes {
  int64_t n = 0;
  std::vector<T> x1, y1, x2, y2, area;

  SortedBoxes(const at::Tensor& dets, const std::vector<int64_t>& order) : n(dets.size(0)) {
    const int64_t padded = (n + kGroup - 1) / kGroup * kGroup + kGroup;
    for (auto* v : {&x1, &y1, &x2, &y2, &area}) v->assign(padded, T(0));
    const auto acc = dets.accessor<T, 2>();
    for (int64_t k = 0; k < n; ++k) {
      const int64_t i = order[k];
      x1[k] = acc[i][0];
      y1[k] = acc[i][1];
      x2[k] = acc[i][2];
      y2[k] = acc[i][3];
      area[k] = (x2[k] - x1[k]) * (y2[k] - y1[k]);
    }
  }

  bool all_finite() const {
    for (int64_t k = 0; k < n; ++k) {
      if (!std::isfinite(x1[k]) || !std::isfinite(y1[k]) || !std::isfinite(x2[k]) ||
          !std::isfinite(y2[k]))
        return false;
    }
    return true;
  }

  // A box with no positive width or height intersects nothing, so it never suppresses and is never
  // suppressed (its IoU with anything is 0, -0 or NaN, none of which exceeds a threshold >= 0).
  bool has_extent(int64_t k) const {
    return x2[k] - x1[k] > T(0) && y2[k] - y1[k] > T(0);
  }

  simd::IouQuery<T> query(int64_t k, double t) const {
    return {x1[k], y1[k], x2[k], y2[k], area[k], query_threshold<T>(t)};
  }
};

// torchvision's loop, kept literally (std::max/std::min argument order included, which decides how
// NaN coordinates behave). Used for inputs the fast paths do not cover.
template <typename T>
std::vector<int64_t> greedy_reference(const SortedBoxes<T>& b, double t) {
  std::vector<uint8_t> suppressed(b.n, 0);
  std::vector<int64_t> kept;
  for (int64_t i = 0; i < b.n; ++i) {
    if (suppressed[i]) continue;
    kept.push_back(i);
    for (int64_t j = i + 1; j < b.n; ++j) {
      if (suppressed[j]) continue;
      const T xx1 = std::max(b.x1[i], b.x1[j]);
      const T yy1 = std::max(b.y1[i], b.y1[j]);
      const T xx2 = std::min(b.x2[i], b.x2[j]);
      const T yy2 = std::min(b.y2[i], b.y2[j]);
      const T w = std::max(static_cast<T>(0), xx2 - xx1);
      const T h = std::max(static_cast<T>(0), yy2 - yy1);
      const T inter = w * h;
      const T ovr = inter / (b.area[i] + b.area[j] - inter);
      if (ovr > t) suppressed[j] = 1;
    }
  }
  return kept;
}

// Few boxes: each kept box is compared with all later ones, 64 at a time.
template <typename T>
std::vector<int64_t> greedy_direct(const SortedBoxes<T>& b, double t) {
  std::vector<uint8_t> suppressed(b.n + kGroup, 0);
  std::vector<int64_t> kept;
  const simd::BoxGroup<T> all{b.x1.data(), b.y1.data(), b.x2.data(), b.y2.data(), b.area.data()};
  for (int64_t i = 0; i < b.n; ++i) {
    if (suppressed[i]) continue;
    kept.push_back(i);
    if (!b.has_extent(i)) continue;
    const auto q = b.query(i, t);
    for (int64_t s0 = (i + 1) / kBlock * kBlock; s0 < b.n; s0 += kGroup) {
      const simd::BoxGroup<T> g{all.x1 + s0, all.y1 + s0, all.x2 + s0, all.y2 + s0, all.area + s0};
      uint64_t bits = simd::iou_above(g, kGroup, q);
      if (s0 <= i) bits &= ~((uint64_t{2} << (i - s0)) - 1); // only boxes after i
      while (bits) {
        const int64_t s = s0 + __builtin_ctzll(bits);
        bits &= bits - 1;
        suppressed[s] = 1;
      }
    }
  }
  return kept;
}

// Blocks of kBlock boxes sorted by (width class, height class, Morton order of the centre), with the
// bounds of each block kept as a struct of arrays for the SIMD block filter.
//
// The filter's tests are necessary conditions of IoU > t for real numbers. With w, h the kept box's
// width and height and w_j, h_j a candidate's:
//   IoU <= overlap_x / w  and  overlap_x <= x2_j - x1,  so  x2_j > x1 + t w  (and x1_j < x2 - t w);
//   IoU <= w_j / w  and  IoU <= w / w_j,  so  t w < w_j < w / t;
//   overlap_x <= (w + w_j) / 2 - |cx - cx_j|  and  overlap_x > t max(w, w_j),
//     so  |cx - cx_j| < (1 - t)(w + w_j) / 2;
// and likewise in y. The float computation of IoU differs from the real one by a few units in the
// last place, so t is loosened to t (1 - 1e-4) — far more than that rounding — and the t-dependent
// tests are used only when the box is wide relative to its coordinates' magnitude. Overlap itself
// (the t = 0 case) is tested exactly.
template <typename T>
class SpatialIndex {
 public:
  explicit SpatialIndex(const SortedBoxes<T>& b)
      : boxes_(b), class_resolution_(b.n >= 8000 ? 2 : b.n >= 2000 ? 1 : 0) {
    std::vector<int64_t> members;
    double cx_min = std::numeric_limits<double>::infinity(), cx_max = -cx_min;
    double cy_min = cx_min, cy_max = cx_max;
    for (int64_t k = 0; k < b.n; ++k) {
      if (!b.has_extent(k)) continue;
      members.push_back(k);
      const double cx = 0.5 * (double(b.x1[k]) + double(b.x2[k]));
      const double cy = 0.5 * (double(b.y1[k]) + double(b.y2[k]));
      cx_min = std::min(cx_min, cx);
      cx_max = std::max(cx_max, cx);
      cy_min = std::min(cy_min, cy);
      cy_max = std::max(cy_max, cy);
    }
    const double sx = cx_max > cx_min ? double((1 << 20) - 1) / (cx_max - cx_min) : 0.0;
    const double sy = cy_max > cy_min ? double((1 << 20) - 1) / (cy_max - cy_min) : 0.0;
    std::vector<std::pair<uint64_t, int64_t>> keyed;
    keyed.reserve(members.size());
    for (int64_t k : members) {
      const uint64_t cw = size_class(double(b.x2[k]) - double(b.x1[k]));
      const uint64_t ch = size_class(double(b.y2[k]) - double(b.y1[k]));
      const double cx = 0.5 * (double(b.x1[k]) + double(b.x2[k]));
      const double cy = 0.5 * (double(b.y1[k]) + double(b.y2[k]));
      const uint64_t mx = uint64_t((cx - cx_min) * sx);
      const uint64_t my = uint64_t((cy - cy_min) * sy);
      keyed.push_back({(cw << 47) | (ch << 40) | interleave(mx, my), k});
    }
    std::sort(keyed.begin(), keyed.end());

    // Each size class starts a new block, so a block holds one class only; the classes present are
    // listed with their block ranges, sorted by (width class, height class).
    const int64_t m = static_cast<int64_t>(keyed.size());
    std::vector<int64_t> slot_of(m);
    int64_t next_slot = 0;
    for (int64_t s = 0; s < m; ++s) {
      const uint64_t cls = keyed[s].first >> 40;
      if (s == 0 || cls != (keyed[s - 1].first >> 40)) {
        next_slot = (next_slot + kBlock - 1) / kBlock * kBlock;
        if (!classes_.empty()) classes_.back().end = next_slot / kBlock;
        classes_.push_back({int(cls >> 7), int(cls & 127), next_slot / kBlock, 0});
      }
      slot_of[s] = next_slot++;
    }
    num_blocks_ = (next_slot + kBlock - 1) / kBlock;
    if (!classes_.empty()) classes_.back().end = num_blocks_;
    padded_blocks_ = (num_blocks_ + 63) / 64 * 64 + 64;
    const int64_t slots = num_blocks_ * kBlock;
    for (auto* v : {&x1_, &y1_, &x2_, &y2_, &area_}) v->assign(slots, T(0));
    slot_rank_.assign(slots, -1);
    rank_slot_.assign(b.n, -1);
    for (int64_t i = 0; i < m; ++i) {
      const int64_t k = keyed[i].second;
      const int64_t s = slot_of[i];
      x1_[s] = b.x1[k];
      y1_[s] = b.y1[k];
      x2_[s] = b.x2[k];
      y2_[s] = b.y2[k];
      area_[s] = b.area[k];
      slot_rank_[s] = k;
      rank_slot_[k] = s;
    }
    const double inf = std::numeric_limits<double>::infinity();
    for (auto* v : {&min_x1_, &min_y1_, &min_w_, &min_h_, &min_cx_, &min_cy_}) v->assign(padded_blocks_, inf);
    for (auto* v : {&max_x2_, &max_y2_, &max_w_, &max_h_, &max_cx_, &max_cy_}) v->assign(padded_blocks_, -inf);
    max_rank_.assign(padded_blocks_, -1.0); // padding blocks are never visited
    alive_.assign(num_blocks_, 0);
    for (int64_t s = 0; s < slots; ++s) {
      if (slot_rank_[s] < 0) continue;
      const int64_t bi = s / kBlock;
      const double x1 = x1_[s], y1 = y1_[s], x2 = x2_[s], y2 = y2_[s];
      const double w = x2 - x1, h = y2 - y1, cx = 0.5 * (x1 + x2), cy = 0.5 * (y1 + y2);
      min_x1_[bi] = std::min(min_x1_[bi], x1);
      min_y1_[bi] = std::min(min_y1_[bi], y1);
      max_x2_[bi] = std::max(max_x2_[bi], x2);
      max_y2_[bi] = std::max(max_y2_[bi], y2);
      min_w_[bi] = std::min(min_w_[bi], w);
      max_w_[bi] = std::max(max_w_[bi], w);
      min_h_[bi] = std::min(min_h_[bi], h);
      max_h_[bi] = std::max(max_h_[bi], h);
      min_cx_[bi] = std::min(min_cx_[bi], cx);
      max_cx_[bi] = std::max(max_cx_[bi], cx);
      min_cy_[bi] = std::min(min_cy_[bi], cy);
      max_cy_[bi] = std::max(max_cy_[bi], cy);
      max_rank_[bi] = std::max(max_rank_[bi], double(slot_rank_[s]));
      alive_[bi] |= uint16_t(1u << (s % kBlock));
    }
    bounds_ = {min_x1_.data(), min_y1_.data(), max_x2_.data(), max_y2_.data(),
               min_w_.data(),  max_w_.data(),  min_h_.data(),  max_h_.data(),
               min_cx_.data(), max_cx_.data(), min_cy_.data(), max_cy_.data(),
               max_rank_.data()};
  }

  // Appends to `out` every live box of rank > r whose IoU with box r exceeds t.
  void conflicts(int64_t r, double t, std::vector<int64_t>& out) const {
    const auto& b = boxes_;
    if (rank_slot_[r] < 0) return; // no extent: suppresses nothing
    const double x1 = b.x1[r], y1 = b.y1[r], x2 = b.x2[r], y2 = b.y2[r];
    const double w = x2 - x1, h = y2 - y1;
    const bool scaled = t >= 1e-3 && w > 1e-6 * (std::abs(x1) + std::abs(x2)) &&
        h > 1e-6 * (std::abs(y1) + std::abs(y2));
    const double tp = scaled ? t * (1.0 - 1e-4) : 0.0;
    const double inf = std::numeric_limits<double>::infinity();
    const simd::BlockWindow win{
        x1 + tp * w, x2 - tp * w, y1 + tp * h, y2 - tp * h,
        tp * w,      tp > 0 ? w / tp : inf,
        tp * h,      tp > 0 ? h / tp : inf,
        0.5 * (x1 + x2), 0.5 * (y1 + y2), w, h,
        scaled ? 0.5 * (1.0 - tp) : inf,
        double(r)};
    // Size classes that can hold a candidate (all of them when the t-bounds are off).
    // (size_class is monotonic, so lo_w < w_j < hi_w bounds the class of w_j.)
    const int cw_lo = tp > 0 ? int(size_class(win.lo_w)) : 0;
    const int cw_hi = tp > 0 ? int(size_class(win.hi_w)) : 127;
    const int ch_lo = tp > 0 ? int(size_class(win.lo_h)) : 0;
    const int ch_hi = tp > 0 ? int(size_class(win.hi_h)) : 127;
    thread_local std::vector<uint64_t> candidates;
    const auto q = b.query(r, t);
    auto it = std::lower_bound(
        classes_.begin(), classes_.end(), cw_lo,
        [](const SizeClass& c, int cw) { return c.cw < cw; });
    for (; it != classes_.end() && it->cw <= cw_hi; ++it) {
      if (it->ch < ch_lo || it->ch > ch_hi) continue;
      const int64_t count = it->end - it->begin;
      candidates.resize((count + 63) / 64);
      simd::blocks_in_window(bounds_, it->begin, count, win, candidates.data());
      scan_blocks(it->begin, candidates, q, r, out);
    }
  }

  // Marks box r as decided (kept or suppressed) so later searches skip it.
  void retire(int64_t r) {
    const int64_t s = rank_slot_[r];
    if (s >= 0) alive_[s / kBlock] &= uint16_t(~(1u << (s % kBlock)));
  }

 private:
  struct SizeClass {
    int cw, ch;
    int64_t begin, end; // block range
  };

  // Size classes (octaves or half octaves of the side length) keep the boxes of a block alike in
  // size; with few boxes there is a single class, as more classes would only leave blocks half full.
  uint64_t size_class(double w) const {
    if (class_resolution_ == 0 || !(w > 0)) return 0;
    if (std::isinf(w)) return 127;
    const double c = std::floor(class_resolution_ * std::log2(w));
    return uint64_t(std::clamp(int(c) + 64, 0, 127));
  }

  void scan_blocks(
      int64_t first_block,
      const std::vector<uint64_t>& candidates,
      const simd::IouQuery<T>& q,
      int64_t r,
      std::vector<int64_t>& out) const {
    for (size_t word = 0; word < candidates.size(); ++word) {
      uint64_t blocks = candidates[word];
      while (blocks) {
        const int64_t bi = first_block + int64_t(word * 64) + __builtin_ctzll(blocks);
        blocks &= blocks - 1;
        if (!alive_[bi]) continue;
        const int64_t s0 = bi * kBlock;
        const simd::BoxGroup<T> g{&x1_[s0], &y1_[s0], &x2_[s0], &y2_[s0], &area_[s0]};
        uint64_t bits = simd::iou_above(g, kBlock, q) & alive_[bi];
        while (bits) {
          const int64_t s = s0 + __builtin_ctzll(bits);
          bits &= bits - 1;
          if (slot_rank_[s] > r) out.push_back(slot_rank_[s]);
        }
      }
    }
  }

  static uint64_t spread(uint64_t v) {
    v &= 0xFFFFF;
    v = (v | (v << 16)) & 0x0000FFFF0000FFFFull;
    v = (v | (v << 8)) & 0x00FF00FF00FF00FFull;
    v = (v | (v << 4)) & 0x0F0F0F0F0F0F0F0Full;
    v = (v | (v << 2)) & 0x3333333333333333ull;
    v = (v | (v << 1)) & 0x5555555555555555ull;
    return v;
  }
  static uint64_t interleave(uint64_t x, uint64_t y) {
    return spread(x) | (spread(y) << 1);
  }

  const SortedBoxes<T>& boxes_;
  const int class_resolution_; // size classes per octave, 0 for none
  int64_t num_blocks_ = 0, padded_blocks_ = 0;
  std::vector<T> x1_, y1_, x2_, y2_, area_;
  std::vector<int64_t> slot_rank_, rank_slot_;
  std::vector<SizeClass> classes_;
  std::vector<uint16_t> alive_;
  std::vector<double> min_x1_, min_y1_, max_x2_, max_y2_, min_w_, max_w_, min_h_, max_h_;
  std::vector<double> min_cx_, max_cx_, min_cy_, max_cy_, max_rank_;
  simd::BlockBounds bounds_{};
};

// Greedy NMS is a chain of dependent steps (whether box r is kept depends on every earlier kept
// box) of a few microseconds each, too short to hand between threads; it runs on one thread, and
// batched_nms runs its independent categories in parallel instead.
template <typename T>
std::vector<int64_t> greedy_indexed(const SortedBoxes<T>& b, double t) {
  SpatialIndex<T> index(b);
  std::vector<uint8_t> suppressed(b.n, 0);
  std::vector<int64_t> kept, hits;
  for (int64_t r = 0; r < b.n; ++r) {
    if (suppressed[r]) continue;
    kept.push_back(r);
    index.retire(r);
    hits.clear();
    index.conflicts(r, t, hits);
    for (int64_t s : hits) {
      suppressed[s] = 1;
      index.retire(s);
    }
  }
  return kept;
}

template <typename T>
std::vector<int64_t> nms_ranks(const SortedBoxes<T>& b, double t) {
  if (!(t >= 0.0) || !b.all_finite()) return greedy_reference(b, t);
  if (b.n <= kDirectMax) return greedy_direct(b, t);
  return greedy_indexed(b, t);
}

void check_nms_inputs(const at::Tensor& dets, const at::Tensor& scores) {
  check_cpu(dets, "boxes");
  check_cpu(scores, "scores");
  TORCH_CHECK(dets.dim() == 2, "boxes should be a 2d tensor, got ", dets.dim(), "D");
  TORCH_CHECK(
      dets.size(1) == 4, "boxes should have 4 elements in dimension 1, got ", dets.size(1));
  TORCH_CHECK(scores.dim() == 1, "scores should be a 1d tensor, got ", scores.dim(), "D");
  TORCH_CHECK(
      dets.size(0) == scores.size(0),
      "boxes and scores should have same number of elements in dimension 0, got ", dets.size(0),
      " and ", scores.size(0));
  check_floating(dets, "boxes");
  check_same_dtype(dets, "boxes", scores, "scores");
}

// Kept indices (into dets), in visiting order. dets/scores already checked.
std::vector<int64_t> nms_indices(const at::Tensor& dets_in, const at::Tensor& scores_in, double t) {
  // Half and bfloat16 are widened to float, exactly; the arithmetic then runs in float.
  const bool narrow = dets_in.scalar_type() == at::kHalf || dets_in.scalar_type() == at::kBFloat16;
  const at::Tensor dets = narrow ? dets_in.to(at::kFloat) : dets_in;
  const at::Tensor scores = narrow ? scores_in.to(at::kFloat) : scores_in;
  const auto order = score_order(scores);
  std::vector<int64_t> ranks;
  AT_DISPATCH_FLOATING_TYPES(dets.scalar_type(), "nms", [&] {
    const SortedBoxes<scalar_t> sorted(dets, order);
    ranks = nms_ranks(sorted, t);
  });
  for (auto& r : ranks) r = order[r];
  return ranks;
}

at::Tensor to_index_tensor(const std::vector<int64_t>& v) {
  auto out = at::empty({static_cast<int64_t>(v.size())}, at::kLong);
  if (!v.empty()) std::memcpy(out.data_ptr<int64_t>(), v.data(), v.size() * sizeof(int64_t));
  return out;
}

} // namespace

at::Tensor nms(const at::Tensor& dets, const at::Tensor& scores, double iou_threshold) {
  check_nms_inputs(dets, scores);
  if (dets.numel() == 0) return at::empty({0}, dets.options().dtype(at::kLong));
  return to_index_tensor(nms_indices(dets, scores, iou_threshold));
}

at::Tensor batched_nms(
    const at::Tensor& boxes,
    const at::Tensor& scores,
    const at::Tensor& idxs,
    double iou_threshold) {
  check_nms_inputs(boxes, scores);
  check_cpu(idxs, "idxs");
  TORCH_CHECK(idxs.dim() == 1, "idxs should be a 1d tensor, got ", idxs.dim(), "D");
  TORCH_CHECK(
      idxs.size(0) == boxes.size(0),
      "boxes and idxs should have same number of elements in dimension 0, got ", boxes.size(0),
      " and ", idxs.size(0));
  TORCH_CHECK(
      !idxs.is_complex() && idxs.scalar_type() != at::kBool,
      "idxs must be a tensor of integer or floating point category ids, got ", idxs.scalar_type());
  const int64_t n = boxes.size(0);
  if (n == 0) return at::empty({0}, boxes.options().dtype(at::kLong));

  // Group box indices by category, each group in ascending index order (torchvision's
  // torch.where(idxs == c) gives the same subsets).
  at::Tensor group_of;
  int64_t num_groups = 0;
  if (at::isIntegralType(idxs.scalar_type(), /*includeBool=*/false)) {
    group_of = idxs;
  } else {
    group_of = std::get<1>(at::_unique2(idxs, /*sorted=*/true, /*return_inverse=*/true));
  }
  group_of = group_of.to(at::kLong).contiguous();
  const int64_t* g = group_of.data_ptr<int64_t>();
  std::vector<int64_t> members(n);
  std::iota(members.begin(), members.end(), 0);
  std::stable_sort(members.begin(), members.end(), [g](int64_t a, int64_t b) { return g[a] < g[b]; });
  std::vector<int64_t> starts;
  for (int64_t k = 0; k < n; ++k) {
    if (k == 0 || g[members[k]] != g[members[k - 1]]) starts.push_back(k);
  }
  num_groups = static_cast<int64_t>(starts.size());
  starts.push_back(n);

  const at::Tensor boxes_c = boxes.contiguous();
  const at::Tensor scores_c = scores.contiguous();
  std::vector<uint8_t> keep(n, 0);
  at::parallel_for(0, num_groups, 1, [&](int64_t begin, int64_t end) {
    for (int64_t c = begin; c < end; ++c) {
      const int64_t lo = starts[c], hi = starts[c + 1];
      const at::Tensor sel = at::from_blob(
          members.data() + lo, {hi - lo}, at::TensorOptions().dtype(at::kLong));
      const auto kept = nms_indices(
          boxes_c.index_select(0, sel), scores_c.index_select(0, sel), iou_threshold);
      for (int64_t k : kept) keep[members[lo + k]] = 1;
    }
  });

  std::vector<int64_t> kept;
  for (int64_t i = 0; i < n; ++i) {
    if (keep[i]) kept.push_back(i);
  }
  const at::Tensor kept_t = to_index_tensor(kept);
  const at::Tensor by_score = std::get<1>(scores.index_select(0, kept_t).sort(0, /*descending=*/true));
  return kept_t.index_select(0, by_score);
}

} // namespace ops
} // namespace tva
