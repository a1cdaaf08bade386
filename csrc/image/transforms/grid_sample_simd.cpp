// Highway translation unit: re-included once per SIMD target by foreach_target.h.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "image/transforms/grid_sample_simd.cpp"
#include <hwy/foreach_target.h> // IWYU pragma: keep

#include <hwy/highway.h>

#include "image/transforms/grid_sample_simd.h"

HWY_BEFORE_NAMESPACE();
namespace tva {
namespace image {
namespace simd {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Pixels at element offsets off (lanes where `valid` is false read offset 0 and give 0), as float.
// uint8 pixels are read with 32-bit gathers starting up to 3 bytes before the pixel, so no read
// passes the last byte of the image.
template <class D, class DI, class M>
HWY_INLINE hn::Vec<D> Fetch(D d, DI di, const SampleImage& img, hn::Vec<DI> off, M valid) {
  off = hn::IfThenElseZero(valid, off);
  if (img.is_u8) {
    // The byte sits at the top of the word read 3 bytes earlier, or (the image's first 3 bytes) at
    // byte `off` of the first word. Constant shifts only: Highway's one-lane variable shift reads
    // its count from two lanes.
    const auto start = hn::Max(hn::Sub(off, hn::Set(di, 3)), hn::Zero(di));
    const auto word = hn::GatherOffset(di, static_cast<const int32_t*>(img.data), start);
    auto px = hn::ShiftRight<24>(word);
    px = hn::IfThenElse(hn::Eq(off, hn::Set(di, 2)), hn::ShiftRight<16>(word), px);
    px = hn::IfThenElse(hn::Eq(off, hn::Set(di, 1)), hn::ShiftRight<8>(word), px);
    px = hn::IfThenElse(hn::Eq(off, hn::Zero(di)), word, px);
    px = hn::And(px, hn::Set(di, 0xFF));
    return hn::IfThenElseZero(hn::RebindMask(d, valid), hn::ConvertTo(d, px));
  }
  const auto v = hn::GatherIndex(d, static_cast<const float*>(img.data), off);
  return hn::IfThenElseZero(hn::RebindMask(d, valid), v);
}

template <class D>
HWY_INLINE void Put(D d, const SampleImage& img, hn::Vec<D> v, void* out, int64_t index) {
  if (img.is_u8) {
    const hn::Rebind<int32_t, D> di;
    const hn::Rebind<uint8_t, D> du8;
    const auto r = hn::Min(hn::Max(hn::Round(v), hn::Zero(d)), hn::Set(d, 255.0f));
    hn::StoreU(hn::DemoteTo(du8, hn::ConvertTo(di, r)), du8, static_cast<uint8_t*>(out) + index);
  } else {
    hn::StoreU(v, d, static_cast<float*>(out) + index);
  }
}

template <class D>
HWY_INLINE void SampleBlock(D d, const SampleImage& img, const float* xs, const float* ys, int64_t j,
                            void* out, int64_t plane_size) {
  const hn::Rebind<int32_t, D> di;
  const auto x = hn::LoadU(d, xs + j);
  const auto y = hn::LoadU(d, ys + j);
  const auto wi = hn::Set(di, static_cast<int32_t>(img.w));
  const auto hi = hn::Set(di, static_cast<int32_t>(img.h));
  const auto sh = hn::Set(di, static_cast<int32_t>(img.sh));
  const auto sw = hn::Set(di, static_cast<int32_t>(img.sw));
  const auto minus1 = hn::Set(di, -1);
  if (img.nearest) {
    const auto xr = hn::Round(x), yr = hn::Round(y);
    const auto inside = hn::And(hn::And(hn::Ge(xr, hn::Zero(d)), hn::Lt(xr, hn::Set(d, static_cast<float>(img.w)))),
                                hn::And(hn::Ge(yr, hn::Zero(d)), hn::Lt(yr, hn::Set(d, static_cast<float>(img.h)))));
    const auto xi = hn::ConvertTo(di, hn::IfThenElseZero(inside, xr));
    const auto yi = hn::ConvertTo(di, hn::IfThenElseZero(inside, yr));
    const auto off = hn::Add(hn::Mul(yi, sh), hn::Mul(xi, sw));
    const auto in_i = hn::RebindMask(di, inside);
    for (int64_t b = 0; b < img.n; ++b) {
      for (int64_t ch = 0; ch < img.c; ++ch) {
        const auto base = hn::Set(di, static_cast<int32_t>(b * img.sn + ch * img.sc));
        const auto v = Fetch(d, di, img, hn::Add(base, off), in_i);
        const auto fill = hn::Set(d, img.fill[ch]);
        Put(d, img, hn::IfThenElse(inside, v, fill), out, (b * img.c + ch) * plane_size + j);
      }
    }
    return;
  }
  const auto one = hn::Set(d, 1.0f);
  const auto fx = hn::Floor(x), fy = hn::Floor(y);
  const auto dw = hn::Sub(x, fx), dn = hn::Sub(y, fy);
  const auto de = hn::Sub(hn::Add(fx, one), x), ds = hn::Sub(hn::Add(fy, one), y);
  const auto wnw = hn::Mul(ds, de), wne = hn::Mul(ds, dw), wsw = hn::Mul(dn, de), wse = hn::Mul(dn, dw);
  const auto big = hn::Set(d, 1e9f);
  const auto finite = hn::And(hn::Lt(hn::Abs(fx), big), hn::Lt(hn::Abs(fy), big));
  const auto x0 = hn::ConvertTo(di, hn::IfThenElse(finite, fx, hn::Set(d, -2.0f)));
  const auto y0 = hn::ConvertTo(di, hn::IfThenElse(finite, fy, hn::Set(d, -2.0f)));
  const auto x1 = hn::Add(x0, hn::Set(di, 1)), y1 = hn::Add(y0, hn::Set(di, 1));
  const auto in_w = hn::And(hn::Gt(x0, minus1), hn::Lt(x0, wi));
  const auto in_e = hn::And(hn::Gt(x1, minus1), hn::Lt(x1, wi));
  const auto in_n = hn::And(hn::Gt(y0, minus1), hn::Lt(y0, hi));
  const auto in_s = hn::And(hn::Gt(y1, minus1), hn::Lt(y1, hi));
  const auto nw = hn::And(in_n, in_w), ne = hn::And(in_n, in_e);
  const auto sw_ = hn::And(in_s, in_w), se = hn::And(in_s, in_e);
  const auto o_nw = hn::Add(hn::Mul(y0, sh), hn::Mul(x0, sw));
  const auto o_ne = hn::Add(o_nw, sw), o_sw = hn::Add(o_nw, sh), o_se = hn::Add(o_sw, sw);
  auto mask = hn::Zero(d);
  if (img.has_fill) {
    mask = hn::Add(hn::IfThenElseZero(hn::RebindMask(d, nw), wnw), hn::IfThenElseZero(hn::RebindMask(d, ne), wne));
    mask = hn::Add(mask, hn::IfThenElseZero(hn::RebindMask(d, sw_), wsw));
    mask = hn::Add(mask, hn::IfThenElseZero(hn::RebindMask(d, se), wse));
  }
  const auto inv_mask = hn::Sub(one, mask);
  for (int64_t b = 0; b < img.n; ++b) {
    for (int64_t ch = 0; ch < img.c; ++ch) {
      const auto base = hn::Set(di, static_cast<int32_t>(b * img.sn + ch * img.sc));
      const auto vnw = Fetch(d, di, img, hn::Add(base, o_nw), nw);
      const auto vne = Fetch(d, di, img, hn::Add(base, o_ne), ne);
      const auto vsw = Fetch(d, di, img, hn::Add(base, o_sw), sw_);
      const auto vse = Fetch(d, di, img, hn::Add(base, o_se), se);
      auto v = hn::Add(hn::Mul(vnw, wnw), hn::Mul(vne, wne));
      v = hn::Add(v, hn::Mul(vsw, wsw));
      v = hn::Add(v, hn::Mul(vse, wse));
      if (img.has_fill) v = hn::Add(hn::Mul(v, mask), hn::Mul(inv_mask, hn::Set(d, img.fill[ch])));
      Put(d, img, v, out, (b * img.c + ch) * plane_size + j);
    }
  }
}

void SampleRow(const SampleImage& img, const float* xs, const float* ys, int64_t count, void* out,
               int64_t plane_size) {
  const hn::ScalableTag<float> d;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(d));
  int64_t j = 0;
  for (; j + lanes <= count; j += lanes) SampleBlock(d, img, xs, ys, j, out, plane_size);
  const hn::CappedTag<float, 1> d1;
  for (; j < count; ++j) SampleBlock(d1, img, xs, ys, j, out, plane_size);
}

} // namespace HWY_NAMESPACE
} // namespace simd
} // namespace image
} // namespace tva
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace tva {
namespace image {
namespace simd {

HWY_EXPORT(SampleRow);

void sample_row(const SampleImage& img, const float* xs, const float* ys, int64_t count, void* out,
                int64_t plane_size) {
  HWY_DYNAMIC_DISPATCH(SampleRow)(img, xs, ys, count, out, plane_size);
}

} // namespace simd
} // namespace image
} // namespace tva
#endif // HWY_ONCE
