// Highway translation unit: re-included once per SIMD target by foreach_target.h.
// Values are only compared, added and divided, so every lane computes what torchvision's scalar
// loops compute.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "ops/cpu/pool_simd.cpp"
#include <hwy/foreach_target.h> // IWYU pragma: keep

#include <hwy/cache_control.h>
#include <hwy/highway.h>

#include <algorithm>
#include <cfloat>

#include "ops/cpu/pool_simd.h"

HWY_BEFORE_NAMESPACE();
namespace tva {
namespace simd {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// G neighbouring bins of one bin row (bin columns wb[0..2G)), kept in registers while the rows of
// the bin row are read left to right: each bin is one compare-select chain, and the G chains are
// independent. Bins of one RoI differ in width by at most one column; when no bin of the group is
// empty, all take as many steps as the widest, the narrower ones reading their last column once
// more. That changes nothing (a value already scanned never beats the running maximum under `>`)
// and gives the loops trip counts the branch predictor can learn.
// Because a repeated column never wins, step j of row h can record the index h * width + j for
// every bin of the group, and bin g's own first column wb[2 g] is added once at the end: one index
// vector per step serves all G bins (the indices start at -1 - wb[2 g], so a bin that never took
// a value ends at -1).
// The group's columns are the same in every bin row: they are worked out once, then the bin rows
// (hb[0..2 pooled_h)) are scanned one after the other; bin row ph's results go to
// tile + ph * tile_row (and argmax_tile likewise).
template <int G, typename T, typename I>
HWY_INLINE void PoolBinGroup(
    const int64_t* wb, const int64_t* hb, int64_t pooled_h, int64_t tile_row, int64_t width,
    const int64_t* row_offset, const T* img, int64_t ps, T* tile_rows, I* argmax_rows) {
  const auto row_at = [&](int64_t h) {
    return img + (row_offset ? row_offset[h] : h * width * ps);
  };
  const hn::CappedTag<T, kRoiChannelBlock> d;
  const hn::RebindToSigned<decltype(d)> di;
  using V = decltype(hn::Zero(d));
  using VI = decltype(hn::Zero(di));
  static_assert(sizeof(I) == sizeof(T), "index lanes must match value lanes");
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(d));
  constexpr int64_t kMaxSteps = 32;
  bool any_column_empty = false;
  int64_t steps = 0;
  for (int g = 0; g < G; ++g) {
    any_column_empty |= wb[2 * g + 1] <= wb[2 * g];
    steps = std::max(steps, wb[2 * g + 1] - wb[2 * g]);
  }
  // Element offsets of each step's column in each bin, worked out once for all rows.
  int64_t col[kMaxSteps][G];
  if (!any_column_empty && steps <= kMaxSteps) {
    for (int64_t j = 0; j < steps; ++j) {
      for (int g = 0; g < G; ++g) col[j][g] = std::min(wb[2 * g] + j, wb[2 * g + 1] - 1) * ps;
    }
  }
  for (int64_t ph = 0; ph < pooled_h; ++ph) {
    const int64_t h0 = hb[2 * ph], h1 = hb[2 * ph + 1];
    const bool any_empty = any_column_empty || h1 <= h0;
    T* tile = tile_rows + ph * tile_row;
    I* argmax_tile = argmax_rows + ph * tile_row;
    for (int64_t k = 0; k < kRoiChannelBlock; k += lanes) {
      V best[G];
      VI idx[G];
      for (int g = 0; g < G; ++g) {
        // torchvision starts from -FLT_MAX (also for double), 0 for an empty bin, index -1.
        const bool empty = (h1 <= h0) || (wb[2 * g + 1] <= wb[2 * g]);
        best[g] = hn::Set(d, empty ? T(0) : static_cast<T>(-FLT_MAX));
        idx[g] = hn::Set(di, static_cast<I>(any_empty ? -1 : -1 - wb[2 * g]));
      }
      if (any_empty) {
        for (int64_t h = h0; h < h1; ++h) {
          const int64_t row = h * width;
          const T* pixels = row_at(h) + k;
          for (int g = 0; g < G; ++g) {
            for (int64_t p = row + wb[2 * g], e = row + wb[2 * g + 1]; p < e; ++p) {
              const V v = hn::LoadU(d, pixels + (p - row) * ps);
              const auto gt = hn::Gt(v, best[g]);
              best[g] = hn::IfThenElse(gt, v, best[g]);
              const VI at = hn::Set(di, static_cast<I>(p));
              idx[g] = hn::IfThenElse(hn::RebindMask(di, gt), at, idx[g]);
            }
          }
        }
      } else {
        const VI one = hn::Set(di, I(1));
        const auto visit = [&](int g, const T* p, VI at) HWY_ATTR {
          const V v = hn::LoadU(d, p);
          const auto gt = hn::Gt(v, best[g]);
          best[g] = hn::IfThenElse(gt, v, best[g]);
          idx[g] = hn::IfThenElse(hn::RebindMask(di, gt), at, idx[g]);
        };
        if (steps <= kMaxSteps) {
          for (int64_t h = h0; h < h1; ++h) {
            const T* row = row_at(h) + k;
            VI at = hn::Set(di, static_cast<I>(h * width));
            for (int64_t j = 0; j < steps; ++j) {
              for (int g = 0; g < G; ++g) visit(g, row + col[j][g], at);
              at = hn::Add(at, one);
            }
          }
        } else {
          for (int64_t h = h0; h < h1; ++h) {
            const T* row = row_at(h) + k;
            VI at = hn::Set(di, static_cast<I>(h * width));
            for (int64_t j = 0; j < steps; ++j) {
              for (int g = 0; g < G; ++g) {
                visit(g, row + std::min(wb[2 * g] + j, wb[2 * g + 1] - 1) * ps, at);
              }
              at = hn::Add(at, one);
            }
          }
        }
        for (int g = 0; g < G; ++g) {
          idx[g] = hn::Add(idx[g], hn::Set(di, static_cast<I>(wb[2 * g])));
        }
      }
      for (int g = 0; g < G; ++g) {
        hn::StoreU(best[g], d, tile + g * kRoiChannelBlock + k);
        hn::StoreU(idx[g], di, argmax_tile + g * kRoiChannelBlock + k);
      }
    }
  }
}

template <typename T, typename I>
HWY_INLINE void PoolForwardTile(
    const PoolRoiBins& b, const T* img, int64_t ps, T* tile, I* argmax_tile) {
  // As many bins side by side as the registers hold (a value and an index vector each).
#if HWY_TARGET <= HWY_AVX3
  constexpr int64_t kGroup = 8;
#else
  constexpr int64_t kGroup = 4;
#endif
  const int64_t tile_row = b.pooled_w * kRoiChannelBlock;
  for (int64_t pw = 0; pw < b.pooled_w; pw += kGroup) {
    const int64_t* wb = b.wb + 2 * pw;
    T* t = tile + pw * kRoiChannelBlock;
    I* a = argmax_tile + pw * kRoiChannelBlock;
#define TVA_POOL_GROUP(G_) \
  PoolBinGroup<G_>(wb, b.hb, b.pooled_h, tile_row, b.width, b.row_offset, img, ps, t, a)
    switch (std::min(kGroup, b.pooled_w - pw)) {
      case 1: TVA_POOL_GROUP(1); break;
      case 2: TVA_POOL_GROUP(2); break;
      case 3: TVA_POOL_GROUP(3); break;
#if HWY_TARGET <= HWY_AVX3
      case 4: TVA_POOL_GROUP(4); break;
      case 5: TVA_POOL_GROUP(5); break;
      case 6: TVA_POOL_GROUP(6); break;
      case 7: TVA_POOL_GROUP(7); break;
      default: TVA_POOL_GROUP(8); break;
#else
      default: TVA_POOL_GROUP(4); break;
#endif
    }
#undef TVA_POOL_GROUP
  }
}

void PoolForwardTileF32(
    const PoolRoiBins& b, const float* img, int64_t ps, float* tile, int32_t* argmax_tile) {
  PoolForwardTile(b, img, ps, tile, argmax_tile);
}
void PoolForwardTileF64(
    const PoolRoiBins& b, const double* img, int64_t ps, double* tile, int64_t* argmax_tile) {
  PoolForwardTile(b, img, ps, tile, argmax_tile);
}

void StreamWords(const uint32_t* src, uint32_t* dst, int64_t n) {
  const hn::ScalableTag<uint32_t> d;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(d));
  const uintptr_t align = static_cast<uintptr_t>(lanes) * sizeof(uint32_t);
  int64_t i = 0;
  for (; i < n && reinterpret_cast<uintptr_t>(dst + i) % align != 0; ++i) dst[i] = src[i];
  for (; i + lanes <= n; i += lanes) hn::Stream(hn::LoadU(d, src + i), d, dst + i);
  for (; i < n; ++i) dst[i] = src[i];
}

#if HWY_TARGET != HWY_SCALAR
// One round (vector-index bit kBit) and the rounds after it, unrolled at compile time so that the
// vectors stay in registers.
template <size_t kBit, size_t kL, class D, class V>
HWY_INLINE void TransposeRound(D d, V* v) {
  if constexpr (kBit < kL) {
    HWY_UNROLL(16)
    for (size_t i = 0; i < kL; ++i) {
      if (i & kBit) continue;
      const V lo = v[i], hi = v[i | kBit];
      v[i] = hn::ConcatEven(d, hi, lo);
      v[i | kBit] = hn::ConcatOdd(d, hi, lo);
    }
    TransposeRound<kBit * 2, kL>(d, v);
  }
}
#endif

// Transposes the L x L words in v (L = lanes of d, a power of two): log2(L) rounds of pairing
// vectors whose indices differ in one bit; ConcatEven / ConcatOdd move the lowest lane-index bit
// into that vector-index bit and the vector-index bit into the highest lane-index bit, so after the
// rounds for bits 0, 1, ... the lane and vector indices have traded places.
template <class D, class V>
HWY_INLINE void TransposeSquare(D d, V* v) {
#if HWY_TARGET == HWY_SCALAR
  (void)d;
  (void)v; // one lane: nothing to move
#else
  constexpr size_t kL = hn::MaxLanes(D());
  TransposeRound<1, kL>(d, v);
#endif
}

void TransposeWords(
    const uint32_t* src, int64_t src_stride, int64_t rows, int64_t cols, uint32_t* dst,
    int64_t dst_stride) {
  const hn::CappedTag<uint32_t, 16> d;
  using V = decltype(hn::Zero(d));
  constexpr int64_t kL = static_cast<int64_t>(hn::MaxLanes(decltype(d)()));
  int64_t r0 = 0;
  if (kL > 1 && static_cast<int64_t>(hn::Lanes(d)) == kL) {
    for (; r0 + kL <= rows; r0 += kL) {
      int64_t c0 = 0;
      for (; c0 + kL <= cols; c0 += kL) {
        V v[kL];
        HWY_UNROLL(16)
        for (int64_t i = 0; i < kL; ++i) v[i] = hn::LoadU(d, src + (r0 + i) * src_stride + c0);
        TransposeSquare(d, v);
        HWY_UNROLL(16)
        for (int64_t i = 0; i < kL; ++i) hn::StoreU(v[i], d, dst + (c0 + i) * dst_stride + r0);
      }
      for (; c0 < cols; ++c0) {
        for (int64_t r = r0; r < r0 + kL; ++r) dst[c0 * dst_stride + r] = src[r * src_stride + c0];
      }
    }
  }
  for (; r0 < rows; ++r0) {
    for (int64_t c = 0; c < cols; ++c) dst[c * dst_stride + r0] = src[r0 * src_stride + c];
  }
}

// Adds row pieces of C columns (columns j0 .. j0 + C - 1) of every lane to sum, column after column.
// The C gathers are issued before the adds: they do not wait for one another (each gather
// instruction also waits for the previous write of its destination register, so a loop of one
// gather per step would run them one after the other).
template <int C, class D, class DI, class V, class VI, class M>
HWY_INLINE V AddColumns(
    D d, DI di, const float* channel, VI at, VI sw, VI cols, M in_row, int32_t j0, V sum) {
  V v[C];
  M m[C];
  for (int c = 0; c < C; ++c) {
    m[c] = hn::And(in_row, hn::Lt(hn::Set(di, j0 + c), cols));
    v[c] = hn::GatherIndex(d, channel, hn::IfThenElseZero(m[c], at));
    at = hn::Add(at, sw);
  }
  // A masked-off lane adds +0, which leaves every sum unchanged (a sum that starts at +0 is
  // never -0).
  for (int c = 0; c < C; ++c) sum = hn::Add(sum, hn::IfThenElseZero(hn::RebindMask(d, m[c]), v[c]));
  return sum;
}

void PsPoolForwardLanes(const PsPoolLanes& l, const float* channel, float* out) {
  const hn::CappedTag<float, kPsLanePad> d;
  const hn::RebindToSigned<decltype(d)> di;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(d));
  const auto sh = hn::Set(di, static_cast<int32_t>(l.row_stride));
  const auto sw = hn::Set(di, static_cast<int32_t>(l.col_stride));
  const auto sw4 = hn::Set(di, static_cast<int32_t>(4 * l.col_stride));
  for (int64_t k = 0; k < l.lanes; k += lanes) {
    const auto first = hn::LoadU(di, l.first + k);
    const auto rows = hn::LoadU(di, l.rows + k);
    const auto cols = hn::LoadU(di, l.cols + k);
    const int32_t max_rows = hn::GetLane(hn::MaxOfLanes(di, rows));
    const int32_t max_cols = hn::GetLane(hn::MaxOfLanes(di, cols));
    // torchvision: sum over rows, then columns, starting from 0.
    auto sum = hn::Zero(d);
    auto row_first = first;
    for (int32_t i = 0; i < max_rows; ++i) {
      const auto in_row = hn::Lt(hn::Set(di, i), rows);
      auto at = row_first;
      int32_t j = 0;
      for (; j + 4 <= max_cols; j += 4, at = hn::Add(at, sw4)) {
        sum = AddColumns<4>(d, di, channel, at, sw, cols, in_row, j, sum);
      }
      switch (max_cols - j) {
        case 1: sum = AddColumns<1>(d, di, channel, at, sw, cols, in_row, j, sum); break;
        case 2: sum = AddColumns<2>(d, di, channel, at, sw, cols, in_row, j, sum); break;
        case 3: sum = AddColumns<3>(d, di, channel, at, sw, cols, in_row, j, sum); break;
        default: break;
      }
      row_first = hn::Add(row_first, sh);
    }
    // torchvision: empty ? 0 : sum / ((hend - hstart) * (wend - wstart)).
    const auto area = hn::ConvertTo(d, hn::Mul(rows, cols));
    const auto empty = hn::Eq(area, hn::Zero(d));
    const auto divisor = hn::IfThenElse(empty, hn::Set(d, 1.0f), area);
    hn::StoreU(hn::IfThenZeroElse(empty, hn::Div(sum, divisor)), d, out + k);
  }
}

} // namespace HWY_NAMESPACE
} // namespace simd
} // namespace tva
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace tva {
namespace simd {

HWY_EXPORT(PoolForwardTileF32);
HWY_EXPORT(PoolForwardTileF64);
HWY_EXPORT(PsPoolForwardLanes);
HWY_EXPORT(StreamWords);
HWY_EXPORT(TransposeWords);

void transpose_words(
    const uint32_t* src, int64_t src_stride, int64_t rows, int64_t cols, uint32_t* dst,
    int64_t dst_stride) {
  HWY_DYNAMIC_DISPATCH(TransposeWords)(src, src_stride, rows, cols, dst, dst_stride);
}

void stream_words(const uint32_t* src, uint32_t* dst, int64_t n) {
  HWY_DYNAMIC_DISPATCH(StreamWords)(src, dst, n);
}
void stream_fence() {
  hwy::FlushStream();
}

void roi_pool_forward_tile(
    const PoolRoiBins& b, const float* img, int64_t pixel_stride, float* tile, int32_t* argmax_tile) {
  HWY_DYNAMIC_DISPATCH(PoolForwardTileF32)(b, img, pixel_stride, tile, argmax_tile);
}
void roi_pool_forward_tile(
    const PoolRoiBins& b, const double* img, int64_t pixel_stride, double* tile,
    int64_t* argmax_tile) {
  HWY_DYNAMIC_DISPATCH(PoolForwardTileF64)(b, img, pixel_stride, tile, argmax_tile);
}

void ps_roi_pool_forward_lanes(const PsPoolLanes& l, const float* channel, float* out) {
  HWY_DYNAMIC_DISPATCH(PsPoolForwardLanes)(l, channel, out);
}

} // namespace simd
} // namespace tva
#endif // HWY_ONCE
