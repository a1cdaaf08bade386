// Highway translation unit: re-included once per SIMD target by foreach_target.h.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "image/pipeline/pipeline_simd.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep

#include <hwy/highway.h>

#include <cstring>

#include "image/pipeline/pipeline_simd.h"

HWY_BEFORE_NAMESPACE();
namespace tva {
namespace image {
namespace simd {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

void ResampleRgb2Taps(const uint8_t* HWY_RESTRICT row, const int64_t* HWY_RESTRICT offs,
                      const float* HWY_RESTRICT w0, const float* HWY_RESTRICT w1, int64_t n,
                      float* HWY_RESTRICT out0, float* HWY_RESTRICT out1, float* HWY_RESTRICT out2) {
#if HWY_TARGET == HWY_SCALAR
  for (int64_t x = 0; x < n; ++x) {
    const uint8_t* p = row + offs[x];
    out0[x] = static_cast<float>(p[0]) * w0[x] + static_cast<float>(p[3]) * w1[x];
    out1[x] = static_cast<float>(p[1]) * w0[x] + static_cast<float>(p[4]) * w1[x];
    out2[x] = static_cast<float>(p[2]) * w0[x] + static_cast<float>(p[5]) * w1[x];
  }
#else
  const hn::ScalableTag<float> df;
  const hn::RebindToSigned<decltype(df)> di;
  const hn::RebindToUnsigned<decltype(df)> du;
  const hn::Repartition<uint64_t, decltype(du)> d64;
  const hn::RebindToSigned<decltype(d64)> di64;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(df));
  const int64_t half = static_cast<int64_t>(hn::Lanes(d64));
  const auto mask = hn::Set(du, 0xFFu);
  const uint64_t* base = reinterpret_cast<const uint64_t*>(row);
  const auto px = [&](decltype(mask) v) { return hn::ConvertTo(df, hn::BitCast(di, v)); };
  for (int64_t x = 0; x < n; x += lanes) {
    // Bytes r0 g0 b0 r1 | g1 b1 r2 g2 of each output, little-endian: even u32 lanes hold the first
    // four, odd lanes the next four.
    const auto a = hn::BitCast(du, hn::GatherOffset(d64, base, hn::LoadU(di64, offs + x)));
    const auto b = hn::BitCast(du, hn::GatherOffset(d64, base, hn::LoadU(di64, offs + x + half)));
    const auto lo = hn::ConcatEven(du, b, a);
    const auto hi = hn::ConcatOdd(du, b, a);
    const auto wa = hn::LoadU(df, w0 + x);
    const auto wb = hn::LoadU(df, w1 + x);
    hn::StoreU(hn::Add(hn::Mul(px(hn::And(lo, mask)), wa), hn::Mul(px(hn::ShiftRight<24>(lo)), wb)), df,
               out0 + x);
    hn::StoreU(hn::Add(hn::Mul(px(hn::And(hn::ShiftRight<8>(lo), mask)), wa), hn::Mul(px(hn::And(hi, mask)), wb)),
               df, out1 + x);
    hn::StoreU(hn::Add(hn::Mul(px(hn::And(hn::ShiftRight<16>(lo), mask)), wa),
                       hn::Mul(px(hn::And(hn::ShiftRight<8>(hi), mask)), wb)),
               df, out2 + x);
  }
#endif
}

}  // namespace HWY_NAMESPACE
}  // namespace simd
}  // namespace image
}  // namespace tva
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace tva {
namespace image {
namespace simd {

HWY_EXPORT(ResampleRgb2Taps);

void resample_rgb_2taps(const uint8_t* row, const int64_t* offs, const float* w0, const float* w1,
                        int64_t n, float* out0, float* out1, float* out2) {
  HWY_DYNAMIC_DISPATCH(ResampleRgb2Taps)(row, offs, w0, w1, n, out0, out1, out2);
}

}  // namespace simd
}  // namespace image
}  // namespace tva
#endif  // HWY_ONCE
