// Highway translation unit: re-included once per SIMD target by foreach_target.h.
// Only Mul, Add, Div and comparisons are used, never fused multiply-add, so every lane rounds exactly
// as torchvision's scalar loops do.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "ops/cpu/roi_simd.cpp"
#include <hwy/foreach_target.h> // IWYU pragma: keep

#include <hwy/highway.h>


#include "ops/cpu/roi_simd.h"

HWY_BEFORE_NAMESPACE();
namespace tva {
namespace simd {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// The four taps of one sampling point: pixel indices and weights (all zero, reading pixel 0, when
// the point is outside [-1, size]: that is what torchvision's precomputed table holds).
template <typename T>
struct Taps {
  int64_t p1, p2, p3, p4;
  T w1, w2, w3, w4;
  bool valid;
};

template <typename T>
HWY_INLINE Taps<T> MakeTaps(const AxisTap<T>& ty, const AxisTap<T>& tx, int64_t width) {
  Taps<T> t;
  t.valid = ty.valid && tx.valid;
  if (t.valid) {
    t.p1 = int64_t{ty.lo} * width + tx.lo;
    t.p2 = int64_t{ty.lo} * width + tx.hi;
    t.p3 = int64_t{ty.hi} * width + tx.lo;
    t.p4 = int64_t{ty.hi} * width + tx.hi;
    t.w1 = ty.h * tx.h;
    t.w2 = ty.h * tx.l;
    t.w3 = ty.l * tx.h;
    t.w4 = ty.l * tx.l;
  } else {
    t.p1 = t.p2 = t.p3 = t.p4 = 0;
    t.w1 = t.w2 = t.w3 = t.w4 = T(0);
  }
  return t;
}

template <typename T>
HWY_INLINE void AlignForward(const AlignGrid<T>& g, const T* img, int64_t ps, T* tile) {
  const hn::CappedTag<T, kRoiChannelBlock> d;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(d));
  const auto count = hn::Set(d, g.count);
  for (int64_t ph = 0; ph < g.pooled_h; ++ph) {
    const AxisTap<T>* ys = g.ys + ph * g.grid_h;
    for (int64_t pw = 0; pw < g.pooled_w; ++pw) {
      const AxisTap<T>* xs = g.xs + pw * g.grid_w;
      T* out = tile + (ph * g.pooled_w + pw) * kRoiChannelBlock;
      for (int64_t k = 0; k < kRoiChannelBlock; k += lanes) {
        const T* base = img + k;
        auto acc = hn::Zero(d);
        for (int64_t iy = 0; iy < g.grid_h; ++iy) {
          for (int64_t ix = 0; ix < g.grid_w; ++ix) {
            const Taps<T> t = MakeTaps(ys[iy], xs[ix], g.width);
            const auto v1 = hn::LoadU(d, base + t.p1 * ps);
            const auto v2 = hn::LoadU(d, base + t.p2 * ps);
            const auto v3 = hn::LoadU(d, base + t.p3 * ps);
            const auto v4 = hn::LoadU(d, base + t.p4 * ps);
            // torchvision: w1 * v1 + w2 * v2 + w3 * v3 + w4 * v4, evaluated left to right.
            auto s = hn::Add(hn::Mul(hn::Set(d, t.w1), v1), hn::Mul(hn::Set(d, t.w2), v2));
            s = hn::Add(s, hn::Mul(hn::Set(d, t.w3), v3));
            s = hn::Add(s, hn::Mul(hn::Set(d, t.w4), v4));
            acc = hn::Add(acc, s);
          }
        }
        hn::StoreU(hn::Div(acc, count), d, out + k);
      }
    }
  }
}

template <typename T>
HWY_INLINE void AlignBackward(const AlignGrid<T>& g, const T* grad_tile, T* acc) {
  const hn::CappedTag<T, kRoiChannelBlock> d;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(d));
  const int64_t cb = kRoiChannelBlock;
  const auto count = hn::Set(d, g.count);
  for (int64_t ph = 0; ph < g.pooled_h; ++ph) {
    const AxisTap<T>* ys = g.ys + ph * g.grid_h;
    for (int64_t pw = 0; pw < g.pooled_w; ++pw) {
      const AxisTap<T>* xs = g.xs + pw * g.grid_w;
      const T* gin = grad_tile + (ph * g.pooled_w + pw) * cb;
      for (int64_t k = 0; k < cb; k += lanes) {
        const auto grad = hn::LoadU(d, gin + k);
        T* a = acc + k;
        for (int64_t iy = 0; iy < g.grid_h; ++iy) {
          for (int64_t ix = 0; ix < g.grid_w; ++ix) {
            const Taps<T> t = MakeTaps(ys[iy], xs[ix], g.width);
            if (!t.valid) continue;
            // torchvision: g_i = grad * w_i / count, added to the four taps one after the other
            // (taps may coincide at the border, so each add reads what the previous one wrote).
            const auto g1 = hn::Div(hn::Mul(grad, hn::Set(d, t.w1)), count);
            const auto g2 = hn::Div(hn::Mul(grad, hn::Set(d, t.w2)), count);
            const auto g3 = hn::Div(hn::Mul(grad, hn::Set(d, t.w3)), count);
            const auto g4 = hn::Div(hn::Mul(grad, hn::Set(d, t.w4)), count);
            hn::StoreU(hn::Add(hn::LoadU(d, a + t.p1 * cb), g1), d, a + t.p1 * cb);
            hn::StoreU(hn::Add(hn::LoadU(d, a + t.p2 * cb), g2), d, a + t.p2 * cb);
            hn::StoreU(hn::Add(hn::LoadU(d, a + t.p3 * cb), g3), d, a + t.p3 * cb);
            hn::StoreU(hn::Add(hn::LoadU(d, a + t.p4 * cb), g4), d, a + t.p4 * cb);
          }
        }
      }
    }
  }
}

template <typename T>
HWY_INLINE void AlignForwardPoints(const AlignSamples<T>& s, const T* img, int64_t ps, T* tile) {
  const hn::CappedTag<T, kRoiChannelBlock> d;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(d));
  const auto count = hn::Set(d, s.count);
  for (int64_t bin = 0; bin < s.bins; ++bin) {
    const SamplePoint<T>* pts = s.points + bin * s.per_bin;
    T* out = tile + bin * kRoiChannelBlock;
    for (int64_t k = 0; k < kRoiChannelBlock; k += lanes) {
      const T* base = img + k;
      auto acc = hn::Zero(d);
      for (int64_t i = 0; i < s.per_bin; ++i) {
        const SamplePoint<T>& t = pts[i];
        const auto v1 = hn::LoadU(d, base + t.p[0] * ps);
        const auto v2 = hn::LoadU(d, base + t.p[1] * ps);
        const auto v3 = hn::LoadU(d, base + t.p[2] * ps);
        const auto v4 = hn::LoadU(d, base + t.p[3] * ps);
        auto sum = hn::Add(hn::Mul(hn::Set(d, t.w[0]), v1), hn::Mul(hn::Set(d, t.w[1]), v2));
        sum = hn::Add(sum, hn::Mul(hn::Set(d, t.w[2]), v3));
        sum = hn::Add(sum, hn::Mul(hn::Set(d, t.w[3]), v4));
        acc = hn::Add(acc, sum);
      }
      hn::StoreU(hn::Div(acc, count), d, out + k);
    }
  }
}

template <int NB, typename T>
HWY_INLINE void AlignForwardPointsMulti(
    const AlignSamples<T>& s, const T* img, int64_t ps, int64_t bs, T* tile) {
  const hn::CappedTag<T, kRoiChannelBlock> d;
  using V = decltype(hn::Zero(d));
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(d));
  const auto count = hn::Set(d, s.count);
  for (int64_t bin = 0; bin < s.bins; ++bin) {
    const SamplePoint<T>* pts = s.points + bin * s.per_bin;
    for (int64_t k = 0; k < kRoiChannelBlock; k += lanes) {
      V acc[NB];
      for (int g = 0; g < NB; ++g) acc[g] = hn::Zero(d);
      for (int64_t i = 0; i < s.per_bin; ++i) {
        const SamplePoint<T>& t = pts[i];
        const int64_t o1 = t.p[0] * ps + k, o2 = t.p[1] * ps + k;
        const int64_t o3 = t.p[2] * ps + k, o4 = t.p[3] * ps + k;
        const auto w1 = hn::Set(d, t.w[0]), w2 = hn::Set(d, t.w[1]);
        const auto w3 = hn::Set(d, t.w[2]), w4 = hn::Set(d, t.w[3]);
        for (int g = 0; g < NB; ++g) {
          const T* b = img + g * bs;
          // torchvision: w1 * v1 + w2 * v2 + w3 * v3 + w4 * v4, evaluated left to right.
          auto sum = hn::Add(hn::Mul(w1, hn::LoadU(d, b + o1)), hn::Mul(w2, hn::LoadU(d, b + o2)));
          sum = hn::Add(sum, hn::Mul(w3, hn::LoadU(d, b + o3)));
          sum = hn::Add(sum, hn::Mul(w4, hn::LoadU(d, b + o4)));
          acc[g] = hn::Add(acc[g], sum);
        }
      }
      for (int g = 0; g < NB; ++g) {
        hn::StoreU(hn::Div(acc[g], count), d, tile + (g * s.bins + bin) * kRoiChannelBlock + k);
      }
    }
  }
}

template <typename T>
HWY_INLINE void AlignForwardBlocks(
    const AlignSamples<T>& s, const T* img, int64_t ps, int64_t bs, int64_t nb, T* tile) {
  static_assert(kRoiMaxBlocks == 4, "one case per block count");
  switch (nb) {
    case 1: return AlignForwardPointsMulti<1>(s, img, ps, bs, tile);
    case 2: return AlignForwardPointsMulti<2>(s, img, ps, bs, tile);
    case 3: return AlignForwardPointsMulti<3>(s, img, ps, bs, tile);
    default: return AlignForwardPointsMulti<4>(s, img, ps, bs, tile);
  }
}

template <typename T>
HWY_INLINE void AlignBackwardPoints(const AlignSamples<T>& s, const T* grad_tile, T* acc) {
  const hn::CappedTag<T, kRoiChannelBlock> d;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(d));
  const int64_t cb = kRoiChannelBlock;
  const auto count = hn::Set(d, s.count);
  for (int64_t bin = 0; bin < s.bins; ++bin) {
    const SamplePoint<T>* pts = s.points + bin * s.per_bin;
    for (int64_t k = 0; k < cb; k += lanes) {
      const auto grad = hn::LoadU(d, grad_tile + bin * cb + k);
      T* a = acc + k;
      for (int64_t i = 0; i < s.per_bin; ++i) {
        const SamplePoint<T>& t = pts[i];
        // Outside the map: torchvision adds nothing (not even zeros).
        if (t.w[0] == T(0) && t.w[1] == T(0) && t.w[2] == T(0) && t.w[3] == T(0)) continue;
        for (int q = 0; q < 4; ++q) {
          const auto g = hn::Div(hn::Mul(grad, hn::Set(d, t.w[q])), count);
          T* dst = a + int64_t{t.p[q]} * cb;
          hn::StoreU(hn::Add(hn::LoadU(d, dst), g), d, dst);
        }
      }
    }
  }
}

void AlignForwardF32(const AlignGrid<float>& g, const float* img, int64_t ps, float* tile) {
  AlignForward(g, img, ps, tile);
}
void AlignForwardF64(const AlignGrid<double>& g, const double* img, int64_t ps, double* tile) {
  AlignForward(g, img, ps, tile);
}
void AlignBackwardF32(const AlignGrid<float>& g, const float* grad_tile, float* acc) {
  AlignBackward(g, grad_tile, acc);
}
void AlignBackwardF64(const AlignGrid<double>& g, const double* grad_tile, double* acc) {
  AlignBackward(g, grad_tile, acc);
}
void AlignForwardPointsF32(const AlignSamples<float>& s, const float* img, int64_t ps, float* tile) {
  AlignForwardPoints(s, img, ps, tile);
}
void AlignForwardPointsF64(const AlignSamples<double>& s, const double* img, int64_t ps, double* tile) {
  AlignForwardPoints(s, img, ps, tile);
}
void AlignForwardBlocksF32(
    const AlignSamples<float>& s, const float* img, int64_t ps, int64_t bs, int64_t nb, float* tile) {
  AlignForwardBlocks(s, img, ps, bs, nb, tile);
}
void AlignForwardBlocksF64(
    const AlignSamples<double>& s, const double* img, int64_t ps, int64_t bs, int64_t nb, double* tile) {
  AlignForwardBlocks(s, img, ps, bs, nb, tile);
}
void AlignBackwardPointsF32(const AlignSamples<float>& s, const float* grad_tile, float* acc) {
  AlignBackwardPoints(s, grad_tile, acc);
}
void AlignBackwardPointsF64(const AlignSamples<double>& s, const double* grad_tile, double* acc) {
  AlignBackwardPoints(s, grad_tile, acc);
}

} // namespace HWY_NAMESPACE
} // namespace simd
} // namespace tva
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace tva {
namespace simd {

HWY_EXPORT(AlignForwardF32);
HWY_EXPORT(AlignForwardF64);
HWY_EXPORT(AlignBackwardF32);
HWY_EXPORT(AlignBackwardF64);
HWY_EXPORT(AlignForwardPointsF32);
HWY_EXPORT(AlignForwardPointsF64);
HWY_EXPORT(AlignForwardBlocksF32);
HWY_EXPORT(AlignForwardBlocksF64);
HWY_EXPORT(AlignBackwardPointsF32);
HWY_EXPORT(AlignBackwardPointsF64);

void roi_align_forward_block(
    const AlignGrid<float>& g, const float* img, int64_t pixel_stride, float* tile) {
  HWY_DYNAMIC_DISPATCH(AlignForwardF32)(g, img, pixel_stride, tile);
}
void roi_align_forward_block(
    const AlignGrid<double>& g, const double* img, int64_t pixel_stride, double* tile) {
  HWY_DYNAMIC_DISPATCH(AlignForwardF64)(g, img, pixel_stride, tile);
}
void roi_align_backward_block(const AlignGrid<float>& g, const float* grad_tile, float* acc) {
  HWY_DYNAMIC_DISPATCH(AlignBackwardF32)(g, grad_tile, acc);
}
void roi_align_backward_block(const AlignGrid<double>& g, const double* grad_tile, double* acc) {
  HWY_DYNAMIC_DISPATCH(AlignBackwardF64)(g, grad_tile, acc);
}
void roi_align_forward_block(
    const AlignSamples<float>& s, const float* img, int64_t pixel_stride, float* tile) {
  HWY_DYNAMIC_DISPATCH(AlignForwardPointsF32)(s, img, pixel_stride, tile);
}
void roi_align_forward_block(
    const AlignSamples<double>& s, const double* img, int64_t pixel_stride, double* tile) {
  HWY_DYNAMIC_DISPATCH(AlignForwardPointsF64)(s, img, pixel_stride, tile);
}
void roi_align_forward_blocks(
    const AlignSamples<float>& s, const float* img, int64_t pixel_stride, int64_t block_stride,
    int64_t num_blocks, float* tile) {
  HWY_DYNAMIC_DISPATCH(AlignForwardBlocksF32)(s, img, pixel_stride, block_stride, num_blocks, tile);
}
void roi_align_forward_blocks(
    const AlignSamples<double>& s, const double* img, int64_t pixel_stride, int64_t block_stride,
    int64_t num_blocks, double* tile) {
  HWY_DYNAMIC_DISPATCH(AlignForwardBlocksF64)(s, img, pixel_stride, block_stride, num_blocks, tile);
}
void roi_align_backward_block(const AlignSamples<float>& s, const float* grad_tile, float* acc) {
  HWY_DYNAMIC_DISPATCH(AlignBackwardPointsF32)(s, grad_tile, acc);
}
void roi_align_backward_block(const AlignSamples<double>& s, const double* grad_tile, double* acc) {
  HWY_DYNAMIC_DISPATCH(AlignBackwardPointsF64)(s, grad_tile, acc);
}

} // namespace simd
} // namespace tva
#endif // HWY_ONCE
