// Highway translation unit: re-included once per SIMD target by foreach_target.h.
// Samples are interpolated along y, then along x, with fused multiply-adds where the target has
// them (see roi_align_rows_simd.h for what that means for the results).
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "ops/cpu/roi_align_rows_simd.cpp"
#include <hwy/foreach_target.h> // IWYU pragma: keep

#include <hwy/cache_control.h>
#include <hwy/highway.h>

#include <algorithm>
#include <cmath>

#include "ops/cpu/roi_align_rows_simd.h"
#include "ops/cpu/pool_simd.h"

HWY_BEFORE_NAMESPACE();
namespace tva {
namespace simd {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// The pixels one vector of x-samples reads span at most this many vectors.
constexpr int64_t kMaxWindows = 4;

// A RoI's table: this header, then for each of the `chunks` (1 or 2) vectors of x-samples its taps
// and x weights, then the row offsets lo[R], hi[R] and the y weights yw[R][2] (h, l).
// shared: both chunks read the same windows (all x-samples of the RoI span no more vectors of
// pixels than one chunk's do), which are then interpolated along y once for both.
struct RowsHeader {
  int64_t pooled_h, pooled_w, grid_h, rows, chunks, windows, shared;
  float count;
};

constexpr int64_t Up64(int64_t b) { return (b + 63) / 64 * 64; }

struct RowsLayout {
  int64_t taps, lo, hi, yw, bytes;
  // Per chunk: base (int64), then lane_lo, lane_hi, win_lo, win_hi (N int32 each) and the x
  // weights hx, lx (N float each; 0 in lanes past the last x-sample).
  int64_t chunk_bytes;
  static RowsLayout Of(int64_t R, int64_t chunks, int64_t N) {
    RowsLayout l;
    l.chunk_bytes = Up64(64 + 6 * N * 4);
    l.taps = Up64(sizeof(RowsHeader));
    l.lo = l.taps + chunks * l.chunk_bytes;
    l.hi = Up64(l.lo + R * 8);
    l.yw = Up64(l.hi + R * 8);
    l.bytes = Up64(l.yw + R * 2 * 4);
    return l;
  }
};

template <typename U>
HWY_INLINE U* Ptr(void* t, int64_t off) {
  return reinterpret_cast<U*>(static_cast<char*>(t) + off);
}
template <typename U>
HWY_INLINE const U* Ptr(const void* t, int64_t off) {
  return reinterpret_cast<const U*>(static_cast<const char*>(t) + off);
}

int64_t RowsTableBytes(const AlignGrid<float>& g) {
  const hn::ScalableTag<float> d;
  const int64_t N = static_cast<int64_t>(hn::Lanes(d));
  // 0 where BuildRowsTable would refuse the RoI for its shape (no memory is asked for then).
  if (g.grid_h != 2 || g.grid_w != 2 || g.pooled_w > N || N < 4 || g.pooled_h == 0) return 0;
  return RowsLayout::Of(g.pooled_h * g.grid_h, (2 * g.pooled_w + N - 1) / N, N).bytes;
}

int64_t BuildRowsTable(const AlignGrid<float>& g, int64_t sh, void* table) {
  const hn::ScalableTag<float> d;
  const int64_t N = static_cast<int64_t>(hn::Lanes(d));
  const int64_t R = g.pooled_h * g.grid_h, J = g.pooled_w * 2;
  // (Never on the scalar target, which has no even/odd concatenation.)
  if (g.grid_h != 2 || g.grid_w != 2 || g.pooled_w > N || R == 0 || N < 4 ||
      HWY_TARGET == HWY_SCALAR) {
    return 0;
  }
  const int64_t chunks = (J + N - 1) / N;
  const RowsLayout l = RowsLayout::Of(R, chunks, N);
  // Windows: the most any chunk needs, so that one loop serves every chunk.
  int64_t windows = 1;
  for (int64_t k = 0; k < chunks; ++k) {
    int64_t first = g.width, last = -1;
    for (int64_t L = k * N; L < std::min(J, (k + 1) * N); ++L) {
      if (!g.xs[L].valid) return 0;
      first = std::min<int64_t>(first, g.xs[L].lo);
      last = std::max<int64_t>(last, g.xs[L].hi);
    }
    windows = std::max(windows, (last - first + N) / N);
  }
  if (windows > kMaxWindows || windows * N > g.width) return 0;
  for (int64_t r = 0; r < R; ++r) {
    if (!g.ys[r].valid) return 0;
  }
  int64_t first_all = g.width, last_all = -1;
  for (int64_t L = 0; L < J; ++L) {
    first_all = std::min<int64_t>(first_all, g.xs[L].lo);
    last_all = std::max<int64_t>(last_all, g.xs[L].hi);
  }
  const bool shared = chunks == 2 && (last_all - first_all + N) / N == windows;
  RowsHeader* h = static_cast<RowsHeader*>(table);
  *h = RowsHeader{g.pooled_h, g.pooled_w, g.grid_h, R, chunks, windows, shared ? 1 : 0, g.count};
  for (int64_t k = 0; k < chunks; ++k) {
    char* c = static_cast<char*>(table) + l.taps + k * l.chunk_bytes;
    int32_t* lane_lo = reinterpret_cast<int32_t*>(c + 64);
    int32_t* lane_hi = lane_lo + N;
    int32_t* win_lo = lane_hi + N;
    int32_t* win_hi = win_lo + N;
    float* hx = reinterpret_cast<float*>(win_hi + N);
    float* lx = hx + N;
    const int64_t end = std::min(J, (k + 1) * N);
    int64_t first = g.width;
    for (int64_t L = k * N; L < end; ++L) first = std::min<int64_t>(first, g.xs[L].lo);
    if (shared) first = first_all;
    // The windows stay inside the pixel row: never a read past the end of the map.
    const int64_t base = std::min(first, g.width - windows * N);
    *reinterpret_cast<int64_t*>(c) = base;
    for (int64_t i = 0; i < N; ++i) {
      const int64_t L = k * N + i;
      const int64_t lo = L < end ? g.xs[L].lo - base : 0;
      const int64_t hi = L < end ? g.xs[L].hi - base : 0;
      lane_lo[i] = static_cast<int32_t>(lo % N);
      win_lo[i] = static_cast<int32_t>(lo / N);
      lane_hi[i] = static_cast<int32_t>(hi % N);
      win_hi[i] = static_cast<int32_t>(hi / N);
      hx[i] = L < end ? g.xs[L].h : 0.f;
      lx[i] = L < end ? g.xs[L].l : 0.f;
    }
  }
  int64_t* lo = Ptr<int64_t>(table, l.lo);
  int64_t* hi = Ptr<int64_t>(table, l.hi);
  float* yw = Ptr<float>(table, l.yw);
  for (int64_t r = 0; r < R; ++r) {
    const AxisTap<float>& ty = g.ys[r];
    lo[r] = ty.lo * sh;
    hi[r] = ty.hi * sh;
    yw[2 * r] = ty.h;
    yw[2 * r + 1] = ty.l;
  }
  return R * chunks * (1 + windows);
}

#if HWY_TARGET != HWY_SCALAR

// One chunk's taps and x weights, held in registers across rows and channels.
template <class D>
struct Chunk {
  using V = hn::Vec<D>;
  using M = hn::Mask<D>;
  decltype(hn::IndicesFromVec(D(), hn::Zero(hn::RebindToSigned<D>()))) il, ih;
  M ml[kMaxWindows], mh[kMaxWindows];
  V hx, lx;
  int64_t base;

  HWY_INLINE void Load(D d, const void* taps, int W) {
    const hn::RebindToSigned<D> di;
    const int64_t N = static_cast<int64_t>(hn::Lanes(d));
    const char* c = static_cast<const char*>(taps);
    base = *reinterpret_cast<const int64_t*>(c);
    const int32_t* lane_lo = reinterpret_cast<const int32_t*>(c + 64);
    il = hn::IndicesFromVec(d, hn::Load(di, lane_lo));
    ih = hn::IndicesFromVec(d, hn::Load(di, lane_lo + N));
    const auto wl = hn::Load(di, lane_lo + 2 * N);
    const auto wh = hn::Load(di, lane_lo + 3 * N);
    hx = hn::Load(d, reinterpret_cast<const float*>(lane_lo + 4 * N));
    lx = hn::Load(d, reinterpret_cast<const float*>(lane_lo + 5 * N));
    for (int w = 1; w < W; ++w) {
      ml[w] = hn::RebindMask(d, hn::Gt(wl, hn::Set(di, w - 1)));
      mh[w] = hn::RebindMask(d, hn::Gt(wh, hn::Set(di, w - 1)));
    }
  }

  // The windows of pixels this chunk's x-samples read on sample row (a: pixel row lo, b: pixel row
  // hi), interpolated along y with weights hy, ly.
  template <int W>
  HWY_INLINE void Rows(D d, const float* a, const float* b, V hy, V ly, V* y) const {
    const int64_t N = static_cast<int64_t>(hn::Lanes(d));
    a += base;
    b += base;
    for (int w = 0; w < W; ++w) {
      y[w] = hn::MulAdd(ly, hn::LoadU(d, b + w * N), hn::Mul(hy, hn::LoadU(d, a + w * N)));
    }
  }

  // The x-samples' values from those windows (each lane picks its left and right pixel and
  // interpolates along x), added to sum.
  template <int W>
  HWY_INLINE V Pick(const V* y, V sum) const {
    auto left = hn::TableLookupLanes(y[0], il);
    auto right = hn::TableLookupLanes(y[0], ih);
    for (int w = 1; w < W; ++w) {
      left = hn::IfThenElse(ml[w], hn::TableLookupLanes(y[w], il), left);
      right = hn::IfThenElse(mh[w], hn::TableLookupLanes(y[w], ih), right);
    }
    return hn::MulAdd(lx, right, hn::MulAdd(hx, left, sum));
  }

  // Asks for the pixels Rows reads from one pixel row (of a plane sampled later) to be brought
  // into cache.
  template <int W>
  HWY_INLINE void Prefetch(D d, const float* row) const {
    const int64_t N = static_cast<int64_t>(hn::Lanes(d));
    row += base;
    for (int w = 0; w < W; ++w) hwy::Prefetch(row + w * N);
    hwy::Prefetch(row + W * N - 1);
  }
};

// Outputs of up to this many values per call are assembled in a buffer on the stack, so that they
// can be streamed out in whole vectors.
constexpr int64_t kStagedOutputs = 4096;

template <int W, int K, bool S, class D>
HWY_INLINE void RowsChannels(
    D d, const void* table, const float* img, int64_t cs, int64_t channels, float* out,
    bool stream) {
  const int64_t N = static_cast<int64_t>(hn::Lanes(d));
  const RowsHeader& h = *static_cast<const RowsHeader*>(table);
  const int64_t pooled_h = h.pooled_h, pooled_w = h.pooled_w;
  // Two sample rows per bin row (sampling_ratio 2, the only grid the tables are built for): a
  // constant, so that the compiler unrolls and interleaves the two rows' work.
  constexpr int64_t grid_h = 2;
  const int64_t bins = pooled_h * pooled_w, R = h.rows;
  const RowsLayout l = RowsLayout::Of(R, K, N);
  Chunk<D> c0, c1;
  c0.Load(d, Ptr<char>(table, l.taps), W);
  if (K == 2) c1.Load(d, Ptr<char>(table, l.taps + l.chunk_bytes), W);
  const int64_t* HWY_RESTRICT lo = Ptr<int64_t>(table, l.lo);
  const int64_t* HWY_RESTRICT hi = Ptr<int64_t>(table, l.hi);
  const float* HWY_RESTRICT yw = Ptr<float>(table, l.yw);
  // A power-of-two count divides exactly as a multiplication by its inverse does.
  int exp;
  const bool pow2 = std::frexp(h.count, &exp) == 0.5f;
  const auto div = hn::Set(d, h.count);
  const auto inv = hn::Set(d, 1.f / h.count);
  HWY_ALIGN float last[HWY_MAX_BYTES / sizeof(float)];
  // Streamed outputs are staged here (with room for the last store's spare lanes).
  HWY_ALIGN float staged[kStagedOutputs + HWY_MAX_BYTES / sizeof(float)];
  const int64_t total = channels * bins;
  const bool staging = stream && total <= kStagedOutputs;
  float* const to = staging ? staged : out;
  // Whether each sample row's lo pixel row is the previous sample row's lo or hi row (RoIs no
  // taller than their sample rows): then only the hi rows are new.
  bool dense = true;
  for (int64_t r = 1; r < R; ++r) dense = dense && (lo[r] == lo[r - 1] || lo[r] == hi[r - 1]);
  for (int64_t c = 0; c < channels; ++c) {
    const float* plane = img + c * cs;
    // While this plane is sampled, the same pixels of the next one are fetched, row by row: short
    // row pieces that the hardware would not prefetch across planes.
    const float* next = c + 1 < channels ? plane + cs : plane;
    float* o = to + c * bins;
    for (int64_t ph = 0; ph < pooled_h; ++ph) {
      // Lanes 2 pw + ix: the x-samples of bin column pw, summed over the bin's sample rows first.
      auto s0 = hn::Zero(d), s1 = hn::Zero(d);
      for (int64_t iy = 0; iy < grid_h; ++iy) {
        const int64_t r = ph * grid_h + iy;
        const auto hy = hn::Set(d, yw[2 * r]), ly = hn::Set(d, yw[2 * r + 1]);
        const float* a = plane + lo[r];
        const float* b = plane + hi[r];
        hn::Vec<D> y[W];
        c0.template Rows<W>(d, a, b, hy, ly, y);
        s0 = c0.template Pick<W>(y, s0);
        if (K == 2) {
          if (!S) c1.template Rows<W>(d, a, b, hy, ly, y);
          s1 = c1.template Pick<W>(y, s1);
        }
        constexpr bool kOwnRows = K == 2 && !S;
        if (r == 0 || !dense) {
          c0.template Prefetch<W>(d, next + lo[r]);
          if (kOwnRows) c1.template Prefetch<W>(d, next + lo[r]);
        }
        c0.template Prefetch<W>(d, next + hi[r]);
        if (kOwnRows) c1.template Prefetch<W>(d, next + hi[r]);
      }
      auto acc = hn::Add(hn::ConcatEven(d, s1, s0), hn::ConcatOdd(d, s1, s0));
      acc = pow2 ? hn::Mul(acc, inv) : hn::Div(acc, div);
      float* dst = o + ph * pooled_w;
      if (staging || c * bins + ph * pooled_w + N <= total) {
        // Lanes past the bin row land in bins written afterwards (of this or later channels), or
        // in the staging buffer's spare room.
        hn::StoreU(acc, d, dst);
      } else {
        hn::Store(acc, d, last);
        for (int64_t i = 0; i < pooled_w; ++i) dst[i] = last[i];
      }
    }
  }
  if (staging) {
    stream_words(reinterpret_cast<const uint32_t*>(staged), reinterpret_cast<uint32_t*>(out), total);
  }
}

void RowsForward(
    const void* table, const float* img, int64_t cs, int64_t channels, float* out, bool stream) {
  const hn::ScalableTag<float> d;
  const RowsHeader& h = *static_cast<const RowsHeader*>(table);
  if (h.shared) {
    switch (h.windows) {
      case 1: return RowsChannels<1, 2, true>(d, table, img, cs, channels, out, stream);
      case 2: return RowsChannels<2, 2, true>(d, table, img, cs, channels, out, stream);
      case 3: return RowsChannels<3, 2, true>(d, table, img, cs, channels, out, stream);
      default: return RowsChannels<4, 2, true>(d, table, img, cs, channels, out, stream);
    }
  }
  const int key = static_cast<int>(h.windows * 2 + h.chunks - 1);
  switch (key) {
    case 2: return RowsChannels<1, 1, false>(d, table, img, cs, channels, out, stream);
    case 3: return RowsChannels<1, 2, false>(d, table, img, cs, channels, out, stream);
    case 4: return RowsChannels<2, 1, false>(d, table, img, cs, channels, out, stream);
    case 5: return RowsChannels<2, 2, false>(d, table, img, cs, channels, out, stream);
    case 6: return RowsChannels<3, 1, false>(d, table, img, cs, channels, out, stream);
    case 7: return RowsChannels<3, 2, false>(d, table, img, cs, channels, out, stream);
    case 8: return RowsChannels<4, 1, false>(d, table, img, cs, channels, out, stream);
    default: return RowsChannels<4, 2, false>(d, table, img, cs, channels, out, stream);
  }
}

#else

void RowsForward(const void*, const float*, int64_t, int64_t, float*, bool) {}

#endif

} // namespace HWY_NAMESPACE
} // namespace simd
} // namespace tva
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace tva {
namespace simd {

HWY_EXPORT(RowsTableBytes);
HWY_EXPORT(BuildRowsTable);
HWY_EXPORT(RowsForward);

int64_t roi_align_rows_table_bytes(const AlignGrid<float>& g) {
  return HWY_DYNAMIC_DISPATCH(RowsTableBytes)(g);
}
int64_t roi_align_rows_table(const AlignGrid<float>& g, int64_t row_stride, void* table) {
  return HWY_DYNAMIC_DISPATCH(BuildRowsTable)(g, row_stride, table);
}
void roi_align_forward_rows(
    const void* table, const float* img, int64_t channel_stride, int64_t channels, float* out,
    bool stream) {
  HWY_DYNAMIC_DISPATCH(RowsForward)(table, img, channel_stride, channels, out, stream);
}

} // namespace simd
} // namespace tva
#endif // HWY_ONCE
