// Highway translation unit: re-included once per SIMD target by foreach_target.h.
// Only Mul, Add and Div are used, never fused multiply-add, so every lane rounds exactly as
// torchvision's scalar loop does.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "ops/cpu/roi_align_planes_simd.cpp"
#include <hwy/foreach_target.h> // IWYU pragma: keep

#include <hwy/highway.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "ops/cpu/roi_align_planes_simd.h"

HWY_BEFORE_NAMESPACE();
namespace tva {
namespace simd {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

template <typename T, typename I>
HWY_INLINE void AlignPlanes(
    const PlaneSamples<T, I>& s, const T* img, int64_t cs, int64_t channels, T* out) {
  constexpr int64_t G = plane_group<T>();
  const hn::CappedTag<T, G> d;
  const hn::RebindToSigned<decltype(d)> di;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(d));
  const int64_t groups = s.bins / G;
  const int64_t main = groups * G;
  const int64_t per_bin = s.per_bin;
  const int64_t sample_step = 4 * G; // table entries per sample of a group
  const auto count = hn::Set(d, s.count);

  // Bins in groups of G, one bin per lane: the four taps of every lane's sample are gathered.
  for (int64_t c = 0; c < channels; ++c) {
    const T* plane = img + c * cs;
    T* o = out + c * s.bins;
    for (int64_t v = 0; v < groups; ++v) {
      const I* iv = s.idx + v * per_bin * sample_step;
      const T* wv = s.w + v * per_bin * sample_step;
      for (int64_t k = 0; k < G; k += lanes) {
        auto acc = hn::Zero(d);
        for (int64_t i = 0; i < per_bin; ++i) {
          const I* ip = iv + i * sample_step + k;
          const T* wp = wv + i * sample_step + k;
          const auto v1 = hn::GatherIndex(d, plane, hn::LoadU(di, ip));
          const auto v2 = hn::GatherIndex(d, plane, hn::LoadU(di, ip + G));
          const auto v3 = hn::GatherIndex(d, plane, hn::LoadU(di, ip + 2 * G));
          const auto v4 = hn::GatherIndex(d, plane, hn::LoadU(di, ip + 3 * G));
          // torchvision: w1 * v1 + w2 * v2 + w3 * v3 + w4 * v4, evaluated left to right.
          auto sum = hn::Add(
              hn::Mul(hn::LoadU(d, wp), v1), hn::Mul(hn::LoadU(d, wp + G), v2));
          sum = hn::Add(sum, hn::Mul(hn::LoadU(d, wp + 2 * G), v3));
          sum = hn::Add(sum, hn::Mul(hn::LoadU(d, wp + 3 * G), v4));
          acc = hn::Add(acc, sum);
        }
        hn::StoreU(hn::Div(acc, count), d, o + v * G + k);
      }
    }
  }

  // The remaining bins one by one, one channel per lane (the same offsets in each lane's plane).
  const int64_t rest = s.bins - main;
  if (rest == 0) return;
  const I* ir = s.idx + main * per_bin * 4;
  const T* wr = s.w + main * per_bin * 4;
  HWY_ALIGN I lane_off[G];
  HWY_ALIGN T result[G];
  for (int64_t c0 = 0; c0 < channels; c0 += lanes) {
    const int64_t nc = std::min(lanes, channels - c0);
    // Lanes past the last channel read the last channel again; their results are dropped.
    for (int64_t j = 0; j < lanes; ++j) lane_off[j] = static_cast<I>(std::min(j, nc - 1) * cs);
    const auto off = hn::Load(di, lane_off);
    const T* base = img + c0 * cs;
    for (int64_t r = 0; r < rest; ++r) {
      auto acc = hn::Zero(d);
      for (int64_t i = 0; i < per_bin; ++i) {
        const I* ip = ir + (r * per_bin + i) * 4;
        const T* wp = wr + (r * per_bin + i) * 4;
        const auto v1 = hn::GatherIndex(d, base, hn::Add(off, hn::Set(di, ip[0])));
        const auto v2 = hn::GatherIndex(d, base, hn::Add(off, hn::Set(di, ip[1])));
        const auto v3 = hn::GatherIndex(d, base, hn::Add(off, hn::Set(di, ip[2])));
        const auto v4 = hn::GatherIndex(d, base, hn::Add(off, hn::Set(di, ip[3])));
        auto sum = hn::Add(hn::Mul(hn::Set(d, wp[0]), v1), hn::Mul(hn::Set(d, wp[1]), v2));
        sum = hn::Add(sum, hn::Mul(hn::Set(d, wp[2]), v3));
        sum = hn::Add(sum, hn::Mul(hn::Set(d, wp[3]), v4));
        acc = hn::Add(acc, sum);
      }
      hn::Store(hn::Div(acc, count), d, result);
      for (int64_t j = 0; j < nc; ++j) out[(c0 + j) * s.bins + main + r] = result[j];
    }
  }
}

// ----------------------------------------------------------------------------------------------
// The row sampler. Lanes are x-samples: lane L of the RoI's J = pooled_w * grid_w x-samples is
// sample ix = L / pooled_w of bin column pw = L % pooled_w, in chunks of one vector. For each
// sample row (bin row ph, sample iy) a chunk's taps lie in a short piece of two pixel rows, which
// is loaded as up to kMaxWindows vectors and the taps picked from them by lane permutations.

constexpr int64_t kMaxWindows = 4;
// At most this many x-sample groups (one value of ix) share a chunk; RoIs with more (very few
// output columns, many samples) go to the gather sampler.
constexpr int64_t kMaxSegments = 8;

// A RoI's table, in one block of memory: the header, then the arrays, each 64-byte aligned.
template <typename T>
struct RowHeader {
  int64_t pooled_h, pooled_w, grid_h, grid_w;
  int64_t rows, chunks; // R = pooled_h * grid_h sample rows, chunks of N x-samples
  T count;
};

// Offsets (bytes) of the table's arrays for R rows, `chunks` chunks and N lanes.
struct RowLayout {
  int64_t lo, hi, base, windows, lane_lo, lane_hi, win_lo, win_hi, w, bytes;
  template <typename T>
  static RowLayout Of(int64_t R, int64_t chunks, int64_t N) {
    auto up = [](int64_t b) { return (b + 63) / 64 * 64; };
    RowLayout l;
    int64_t at = up(sizeof(RowHeader<T>));
    l.lo = at;
    at = up(at + R * 8);
    l.hi = at;
    at = up(at + R * 8);
    l.base = at;
    at = up(at + chunks * 8);
    l.windows = at;
    at = up(at + chunks * 8);
    const int64_t lanes = chunks * N * static_cast<int64_t>(sizeof(T));
    l.lane_lo = at;
    at = up(at + lanes);
    l.lane_hi = at;
    at = up(at + lanes);
    l.win_lo = at;
    at = up(at + lanes);
    l.win_hi = at;
    at = up(at + lanes);
    l.w = at;
    at = up(at + R * chunks * 4 * lanes);
    l.bytes = at;
    return l;
  }
};

template <typename T, typename U>
HWY_INLINE U* At(void* table, int64_t offset) {
  return reinterpret_cast<U*>(static_cast<char*>(table) + offset);
}
template <typename T, typename U>
HWY_INLINE const U* At(const void* table, int64_t offset) {
  return reinterpret_cast<const U*>(static_cast<const char*>(table) + offset);
}

template <typename T>
HWY_INLINE int64_t RowTableBytes(const AlignGrid<T>& g) {
  const hn::ScalableTag<T> d;
  const int64_t N = static_cast<int64_t>(hn::Lanes(d));
  const int64_t R = g.pooled_h * g.grid_h, J = g.pooled_w * g.grid_w;
  return RowLayout::Of<T>(R, (J + N - 1) / N, N).bytes;
}

// Lays out RoI g's table (RowTableBytes(g) bytes at `table`, 64-byte aligned); false if the row
// sampler cannot take the RoI (no samples, a sample outside the map, or a chunk spanning more than
// kMaxWindows vectors).
template <typename T>
HWY_INLINE bool BuildRowTable(const AlignGrid<T>& g, int64_t sh, void* table) {
  using TI = hwy::MakeSigned<T>;
  const hn::ScalableTag<T> d;
  const int64_t N = static_cast<int64_t>(hn::Lanes(d));
  const int64_t R = g.pooled_h * g.grid_h, J = g.pooled_w * g.grid_w;
  if (R == 0 || J == 0) return false;
  const int64_t chunks = (J + N - 1) / N;
  // Lanes of one chunk belong to at most kMaxSegments values of ix.
  if (std::min(g.grid_w, (N + g.pooled_w - 1) / g.pooled_w + 1) > kMaxSegments) return false;
  const RowLayout l = RowLayout::Of<T>(R, chunks, N);
  RowHeader<T>* h = static_cast<RowHeader<T>*>(table);
  *h = RowHeader<T>{g.pooled_h, g.pooled_w, g.grid_h, g.grid_w, R, chunks, g.count};
  int64_t* lo = At<T, int64_t>(table, l.lo);
  int64_t* hi = At<T, int64_t>(table, l.hi);
  for (int64_t r = 0; r < R; ++r) {
    if (!g.ys[r].valid) return false;
    lo[r] = g.ys[r].lo * sh;
    hi[r] = g.ys[r].hi * sh;
  }
  int64_t* bases = At<T, int64_t>(table, l.base);
  int64_t* windows = At<T, int64_t>(table, l.windows);
  TI* lane_lo = At<T, TI>(table, l.lane_lo);
  TI* lane_hi = At<T, TI>(table, l.lane_hi);
  TI* win_lo = At<T, TI>(table, l.win_lo);
  TI* win_hi = At<T, TI>(table, l.win_hi);
  std::fill(lane_lo, lane_lo + chunks * N, TI(0));
  std::fill(lane_hi, lane_hi + chunks * N, TI(0));
  std::fill(win_lo, win_lo + chunks * N, TI(0));
  std::fill(win_hi, win_hi + chunks * N, TI(0));
  auto x_tap = [&g](int64_t L) -> const AxisTap<T>& {
    return g.xs[(L % g.pooled_w) * g.grid_w + L / g.pooled_w];
  };
  for (int64_t k = 0; k < chunks; ++k) {
    const int64_t end = std::min(J, (k + 1) * N);
    int64_t first = g.width, last = -1;
    for (int64_t L = k * N; L < end; ++L) {
      const AxisTap<T>& tx = x_tap(L);
      if (!tx.valid) return false;
      first = std::min<int64_t>(first, tx.lo);
      last = std::max<int64_t>(last, tx.hi);
    }
    const int64_t count = (last - first + N) / N;
    if (count > kMaxWindows || count * N > g.width) return false;
    // The windows stay inside the pixel row: never a read past the end of the map.
    const int64_t base = std::min(first, g.width - count * N);
    bases[k] = base;
    windows[k] = count;
    for (int64_t L = k * N; L < end; ++L) {
      const AxisTap<T>& tx = x_tap(L);
      lane_lo[L] = static_cast<TI>((tx.lo - base) % N);
      win_lo[L] = static_cast<TI>((tx.lo - base) / N);
      lane_hi[L] = static_cast<TI>((tx.hi - base) % N);
      win_hi[L] = static_cast<TI>((tx.hi - base) / N);
    }
  }
  T* w = At<T, T>(table, l.w);
  std::fill(w, w + R * chunks * 4 * N, T(0));
  for (int64_t r = 0; r < R; ++r) {
    const AxisTap<T>& ty = g.ys[r];
    for (int64_t L = 0; L < J; ++L) {
      const AxisTap<T>& tx = x_tap(L);
      T* wl = w + (r * chunks + L / N) * 4 * N + L % N;
      // torchvision: w1 = hy * hx, w2 = hy * lx, w3 = ly * hx, w4 = ly * lx.
      wl[0] = ty.h * tx.h;
      wl[N] = ty.h * tx.l;
      wl[2 * N] = ty.l * tx.h;
      wl[3 * N] = ty.l * tx.l;
    }
  }
  return true;
}

// The part of the output of one channel block that the row sampler accumulates in: for each channel
// c and sample (iy, ix) of a bin, an array of the sample values of all bins,
// at[((c * Q + iy * grid_w + ix) * stride + N + bin], Q = grid_h * grid_w. The arrays have N lanes
// of room before and after, so that vectors stored with some lanes masked never leave them.
struct SampleArrays {
  int64_t Q, stride;
};

// Sample values of chunk k for nc channels and every sample row, stored into the sample arrays:
// lane l is sample ix of bin column pw (kN + l = ix * pooled_w + pw), of the bin row of the
// sample row. seg_ix / seg_mask: the chunk's lanes grouped by ix.
template <int W, class D, typename T, class M>
HWY_INLINE void RowChunk(
    D d, const void* table, const RowLayout& l, int64_t k, const T* img, int64_t cs, int64_t nc,
    const SampleArrays& sa, int64_t segments, const int64_t* seg_ix, const M* seg_mask, T* arrays) {
  using TI = hwy::MakeSigned<T>;
  const hn::RebindToSigned<D> di;
  const int64_t N = static_cast<int64_t>(hn::Lanes(d));
  const RowHeader<T>& h = *static_cast<const RowHeader<T>*>(table);
  const int64_t chunks = h.chunks, pooled_w = h.pooled_w;
  const auto il = hn::IndicesFromVec(d, hn::Load(di, At<T, TI>(table, l.lane_lo) + k * N));
  const auto ih = hn::IndicesFromVec(d, hn::Load(di, At<T, TI>(table, l.lane_hi) + k * N));
  const auto wl = hn::Load(di, At<T, TI>(table, l.win_lo) + k * N);
  const auto wh = hn::Load(di, At<T, TI>(table, l.win_hi) + k * N);
  M ml[kMaxWindows], mh[kMaxWindows];
  for (int w = 1; w < W; ++w) {
    ml[w] = hn::RebindMask(d, hn::Gt(wl, hn::Set(di, static_cast<TI>(w - 1))));
    mh[w] = hn::RebindMask(d, hn::Gt(wh, hn::Set(di, static_cast<TI>(w - 1))));
  }
  // Everything the loops need in locals: the stores below could alias the table for all the
  // compiler knows.
  const int64_t* HWY_RESTRICT lo = At<T, int64_t>(table, l.lo);
  const int64_t* HWY_RESTRICT hi = At<T, int64_t>(table, l.hi);
  const T* HWY_RESTRICT wk = At<T, T>(table, l.w) + k * 4 * N;
  const int64_t base = At<T, int64_t>(table, l.base)[k];
  const int64_t pooled_h = h.pooled_h, grid_h = h.grid_h, grid_w = h.grid_w;
  const int64_t w_step = chunks * 4 * N, stride = sa.stride, Q = sa.Q;
  // Where lane 0 of segment sg goes, relative to bin ph * pooled_w of array (0, 0).
  int64_t seg_at[kMaxSegments];
  for (int64_t sg = 0; sg < segments; ++sg) {
    seg_at[sg] = seg_ix[sg] * stride + k * N - seg_ix[sg] * pooled_w;
  }
  for (int64_t c = 0; c < nc; ++c) {
    const T* plane = img + c * cs + base;
    T* ca = arrays + c * Q * stride + N;
    const T* wp = wk;
    for (int64_t ph = 0; ph < pooled_h; ++ph) {
      for (int64_t iy = 0; iy < grid_h; ++iy, wp += w_step) {
        const int64_t r = ph * grid_h + iy;
        const T* a = plane + lo[r];
        const T* b = plane + hi[r];
        auto win = hn::LoadU(d, a);
        auto v1 = hn::TableLookupLanes(win, il);
        auto v2 = hn::TableLookupLanes(win, ih);
        win = hn::LoadU(d, b);
        auto v3 = hn::TableLookupLanes(win, il);
        auto v4 = hn::TableLookupLanes(win, ih);
        for (int w = 1; w < W; ++w) {
          win = hn::LoadU(d, a + w * N);
          v1 = hn::IfThenElse(ml[w], hn::TableLookupLanes(win, il), v1);
          v2 = hn::IfThenElse(mh[w], hn::TableLookupLanes(win, ih), v2);
          win = hn::LoadU(d, b + w * N);
          v3 = hn::IfThenElse(ml[w], hn::TableLookupLanes(win, il), v3);
          v4 = hn::IfThenElse(mh[w], hn::TableLookupLanes(win, ih), v4);
        }
        // torchvision: w1 * v1 + w2 * v2 + w3 * v3 + w4 * v4, evaluated left to right.
        auto sum = hn::Add(hn::Mul(hn::Load(d, wp), v1), hn::Mul(hn::Load(d, wp + N), v2));
        sum = hn::Add(sum, hn::Mul(hn::Load(d, wp + 2 * N), v3));
        sum = hn::Add(sum, hn::Mul(hn::Load(d, wp + 3 * N), v4));
        // Lane l goes to bin ph * pooled_w + (k * N + l - ix * pooled_w) of array (iy, ix).
        T* row = ca + iy * grid_w * stride + ph * pooled_w;
        hn::BlendedStore(sum, seg_mask[0], d, row + seg_at[0]);
        for (int64_t sg = 1; sg < segments; ++sg) {
          hn::BlendedStore(sum, seg_mask[sg], d, row + seg_at[sg]);
        }
      }
    }
  }
}

template <typename T>
HWY_INLINE void AlignRows(const void* table, const T* img, int64_t cs, int64_t channels, T* out) {
  const hn::ScalableTag<T> d;
  using M = decltype(hn::FirstN(d, 0));
  const int64_t N = static_cast<int64_t>(hn::Lanes(d));
  const RowHeader<T>& h = *static_cast<const RowHeader<T>*>(table);
  const int64_t pooled_w = h.pooled_w, bins = h.pooled_h * pooled_w;
  const int64_t R = h.rows, chunks = h.chunks, J = pooled_w * h.grid_w;
  const RowLayout l = RowLayout::Of<T>(R, chunks, N);
  const int64_t* windows = At<T, int64_t>(table, l.windows);
  const int64_t vectors = (bins + N - 1) / N;
  const SampleArrays sa{h.grid_h * h.grid_w, (vectors + 2) * N};
  // Channels per block: their sample arrays stay in the first-level cache.
  const int64_t block = std::max<int64_t>(1, 6144 / (sa.Q * sa.stride));
  thread_local std::vector<T> scratch;
  const size_t need = static_cast<size_t>(block * sa.Q * sa.stride + 2 * N + 64);
  if (scratch.size() < need) scratch.resize(need);
  T* arrays = reinterpret_cast<T*>(
      (reinterpret_cast<uintptr_t>(scratch.data()) + 63) & ~uintptr_t{63});
  T* last = arrays + block * sa.Q * sa.stride;
  // A power-of-two count divides exactly as a multiplication by its inverse does.
  const T count = h.count;
  int exp;
  const bool pow2 = std::frexp(count, &exp) == T(0.5);
  const auto div = hn::Set(d, count);
  const auto inv = hn::Set(d, T(1) / count);
  for (int64_t c0 = 0; c0 < channels; c0 += block) {
    const int64_t nc = std::min(block, channels - c0);
    const T* base = img + c0 * cs;
    for (int64_t k = 0; k < chunks; ++k) {
      int64_t seg_ix[kMaxSegments];
      M seg_mask[kMaxSegments];
      int64_t segments = 0;
      const int64_t end = std::min(J, (k + 1) * N);
      for (int64_t L = k * N; L < end; ++segments) {
        const int64_t ix = L / pooled_w;
        const int64_t stop = std::min(end, (ix + 1) * pooled_w);
        seg_ix[segments] = ix;
        seg_mask[segments] = hn::AndNot(
            hn::FirstN(d, static_cast<size_t>(L - k * N)),
            hn::FirstN(d, static_cast<size_t>(stop - k * N)));
        L = stop;
      }
      switch (windows[k]) {
        case 1: RowChunk<1>(d, table, l, k, base, cs, nc, sa, segments, seg_ix, seg_mask, arrays); break;
        case 2: RowChunk<2>(d, table, l, k, base, cs, nc, sa, segments, seg_ix, seg_mask, arrays); break;
        case 3: RowChunk<3>(d, table, l, k, base, cs, nc, sa, segments, seg_ix, seg_mask, arrays); break;
        default: RowChunk<4>(d, table, l, k, base, cs, nc, sa, segments, seg_ix, seg_mask, arrays); break;
      }
    }
    // Each bin adds its samples in torchvision's order (iy, then ix), then divides by the count.
    // A vector's lanes past the channel's bins land in the next channel's output, which is written
    // afterwards; past the last channel they are dropped.
    for (int64_t c = 0; c < nc; ++c) {
      const T* ca = arrays + c * sa.Q * sa.stride + N;
      T* o = out + (c0 + c) * bins;
      for (int64_t v = 0; v < vectors; ++v) {
        auto acc = hn::Zero(d);
        for (int64_t q = 0; q < sa.Q; ++q) acc = hn::Add(acc, hn::Load(d, ca + q * sa.stride + v * N));
        acc = pow2 ? hn::Mul(acc, inv) : hn::Div(acc, div);
        if (c0 + c + 1 < channels || (v + 1) * N <= bins) {
          hn::StoreU(acc, d, o + v * N);
        } else {
          hn::Store(acc, d, last);
          for (int64_t i = 0; i < bins - v * N; ++i) o[v * N + i] = last[i];
        }
      }
    }
  }
}

int64_t RowTableBytesF32(const AlignGrid<float>& g) { return RowTableBytes(g); }
bool BuildRowTableF32(const AlignGrid<float>& g, int64_t sh, void* table) {
  return BuildRowTable(g, sh, table);
}
void AlignRowsF32(const void* table, const float* img, int64_t cs, int64_t channels, float* out) {
  AlignRows(table, img, cs, channels, out);
}

void AlignPlanesF32(
    const PlaneSamples<float, int32_t>& s, const float* img, int64_t cs, int64_t channels,
    float* out) {
  AlignPlanes(s, img, cs, channels, out);
}
void AlignPlanesF64(
    const PlaneSamples<double, int64_t>& s, const double* img, int64_t cs, int64_t channels,
    double* out) {
  AlignPlanes(s, img, cs, channels, out);
}

} // namespace HWY_NAMESPACE
} // namespace simd
} // namespace tva
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace tva {
namespace simd {

HWY_EXPORT(AlignPlanesF32);
HWY_EXPORT(AlignPlanesF64);
HWY_EXPORT(RowTableBytesF32);
HWY_EXPORT(BuildRowTableF32);
HWY_EXPORT(AlignRowsF32);

int64_t roi_align_rows_table_bytes(const AlignGrid<float>& g) {
  return HWY_DYNAMIC_DISPATCH(RowTableBytesF32)(g);
}
bool roi_align_rows_table(const AlignGrid<float>& g, int64_t row_stride, void* table) {
  return HWY_DYNAMIC_DISPATCH(BuildRowTableF32)(g, row_stride, table);
}
void roi_align_forward_rows(
    const void* table, const float* img, int64_t channel_stride, int64_t channels, float* out) {
  HWY_DYNAMIC_DISPATCH(AlignRowsF32)(table, img, channel_stride, channels, out);
}

void roi_align_forward_planes(
    const PlaneSamples<float, int32_t>& s, const float* img, int64_t channel_stride,
    int64_t channels, float* out) {
  HWY_DYNAMIC_DISPATCH(AlignPlanesF32)(s, img, channel_stride, channels, out);
}
void roi_align_forward_planes(
    const PlaneSamples<double, int64_t>& s, const double* img, int64_t channel_stride,
    int64_t channels, double* out) {
  HWY_DYNAMIC_DISPATCH(AlignPlanesF64)(s, img, channel_stride, channels, out);
}

} // namespace simd
} // namespace tva
#endif // HWY_ONCE
