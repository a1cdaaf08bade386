// Highway translation unit: re-included once per SIMD target by foreach_target.h.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "image/io/jpeg_idct_simd.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep

#include <hwy/highway.h>

#include <cstring>

#include "image/io/jpeg_idct_simd.h"

#ifndef TVA_JPEG_IDCT_CONSTANTS
#define TVA_JPEG_IDCT_CONSTANTS
namespace tva {
namespace image {
namespace simd {
namespace idct {
// jidctint.c's constants, FIX(x) = round(x * 2^13).
constexpr int32_t kF0_298 = 2446, kF0_390 = 3196, kF0_541 = 4433, kF0_765 = 6270, kF0_899 = 7373,
                  kF1_175 = 9633, kF1_501 = 12299, kF1_847 = 15137, kF1_961 = 16069,
                  kF2_053 = 16819, kF2_562 = 20995, kF3_072 = 25172;
constexpr int kConstBits = 13;
constexpr int kPass1Bits = 2;
}  // namespace idct
}  // namespace simd
}  // namespace image
}  // namespace tva
#endif

HWY_BEFORE_NAMESPACE();
namespace tva {
namespace image {
namespace simd {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

#if HWY_TARGET == HWY_SCALAR

// The same arithmetic one value at a time (targets without 128-bit vectors).
inline int16_t Sat16(int32_t v) {
  return static_cast<int16_t>(v < -32768 ? -32768 : (v > 32767 ? 32767 : v));
}
inline int16_t Wrap16(int32_t v) { return static_cast<int16_t>(static_cast<uint16_t>(v)); }

template <int kShift>
void PassScalar(const int16_t* in, int16_t* out) {
  using namespace idct;
  for (int c = 0; c < 8; ++c) {
    const int32_t in0 = in[c], in1 = in[8 + c], in2 = in[16 + c], in3 = in[24 + c],
                  in4 = in[32 + c], in5 = in[40 + c], in6 = in[48 + c], in7 = in[56 + c];
    const int32_t tmp3 = in2 * (kF0_541 + kF0_765) + in6 * kF0_541;
    const int32_t tmp2 = in6 * (kF0_541 - kF1_847) + in2 * kF0_541;
    const int32_t tmp0 = static_cast<int32_t>(static_cast<uint32_t>(Wrap16(in0 + in4)) << kConstBits);
    const int32_t tmp1 = static_cast<int32_t>(static_cast<uint32_t>(Wrap16(in0 - in4)) << kConstBits);
    const int32_t tmp10 = tmp0 + tmp3, tmp13 = tmp0 - tmp3, tmp11 = tmp1 + tmp2, tmp12 = tmp1 - tmp2;
    const int32_t z3 = Wrap16(in7 + in3), z4 = Wrap16(in5 + in1);
    const int32_t z3m = z3 * (kF1_175 - kF1_961) + z4 * kF1_175;
    const int32_t z4m = z3 * kF1_175 + z4 * (kF1_175 - kF0_390);
    const int32_t o0 = in7 * (kF0_298 - kF0_899) + in1 * -kF0_899 + z3m;
    const int32_t o1 = in5 * (kF2_053 - kF2_562) + in3 * -kF2_562 + z4m;
    const int32_t o3 = in7 * -kF0_899 + in1 * (kF1_501 - kF0_899) + z4m;
    const int32_t o2 = in5 * -kF2_562 + in3 * (kF3_072 - kF2_562) + z3m;
    const int32_t round = 1 << (kShift - 1);
    out[c] = Sat16((tmp10 + o3 + round) >> kShift);
    out[56 + c] = Sat16((tmp10 - o3 + round) >> kShift);
    out[8 + c] = Sat16((tmp11 + o2 + round) >> kShift);
    out[48 + c] = Sat16((tmp11 - o2 + round) >> kShift);
    out[16 + c] = Sat16((tmp12 + o1 + round) >> kShift);
    out[40 + c] = Sat16((tmp12 - o1 + round) >> kShift);
    out[24 + c] = Sat16((tmp13 + o0 + round) >> kShift);
    out[32 + c] = Sat16((tmp13 - o0 + round) >> kShift);
  }
}

void IdctIslow(const int16_t* HWY_RESTRICT coef, const int16_t* HWY_RESTRICT quant,
               uint8_t* HWY_RESTRICT out, int64_t stride, bool /*low4*/) {
  int16_t a[64], b[64];
  bool rows_zero = true;
  for (int i = 0; i < 64; ++i) {
    a[i] = Wrap16(static_cast<int32_t>(static_cast<uint32_t>(static_cast<uint16_t>(coef[i])) *
                                       static_cast<uint16_t>(quant[i])));
    rows_zero = rows_zero && (i < 8 || coef[i] == 0);
  }
  if (rows_zero) {
    for (int i = 0; i < 64; ++i) {
      b[i] = Wrap16(static_cast<int32_t>(static_cast<uint32_t>(static_cast<uint16_t>(a[i % 8])) << 2));
    }
  } else {
    PassScalar<idct::kConstBits - idct::kPass1Bits>(a, b);
  }
  for (int r = 0; r < 8; ++r) {
    for (int c = 0; c < 8; ++c) {
      a[c * 8 + r] = b[r * 8 + c];
    }
  }
  PassScalar<idct::kConstBits + idct::kPass1Bits + 3>(a, b);
  for (int r = 0; r < 8; ++r) {
    for (int c = 0; c < 8; ++c) {
      const int32_t v = b[c * 8 + r];
      out[r * stride + c] = static_cast<uint8_t>((v < -128 ? -128 : (v > 127 ? 127 : v)) + 128);
    }
  }
}

#else

// One 1-D pass over the 8 inputs in[k] (row k of an 8x8 array of 16-bit values, lanes = columns),
// for the columns [c0, c0 + lanes). Even part: (in0 +- in4) and the odd part's sums in3 + in7 and
// in1 + in5 are 16-bit sums; every product and the rest are 32-bit; each output is descaled with
// rounding and saturated to 16 bits.
//
// kLow4: inputs 4..7 are zero. The same sums are then formed with fewer products (the products of
// an input by two constants merged into one by the sum of the constants, exact in the wrapping
// 32-bit arithmetic the full pass uses).
template <int kShift, bool kLow4, class D32>
HWY_INLINE void Pass(D32 d32, const int16_t* HWY_RESTRICT in, int16_t* HWY_RESTRICT out,
                     int64_t c0) {
  using namespace idct;
  const hn::Rebind<int16_t, D32> d16;
  const auto ld = [&](int k) { return hn::LoadU(d16, in + 8 * k + c0); };
  const auto wide = [&](decltype(ld(0)) v) { return hn::PromoteTo(d32, v); };
  const auto k = [&](int32_t c) { return hn::Set(d32, c); };
  const auto in0 = ld(0), in1 = ld(1), in2 = ld(2), in3 = ld(3);
  decltype(hn::Zero(d32)) tmp10, tmp11, tmp12, tmp13, o0, o1, o2, o3;
  if (kLow4) {
    const auto w1 = wide(in1), w2 = wide(in2), w3 = wide(in3);
    const auto tmp0 = hn::ShiftLeft<kConstBits>(wide(in0));
    const auto tmp3 = hn::Mul(w2, k(kF0_541 + kF0_765));
    const auto tmp2 = hn::Mul(w2, k(kF0_541));
    tmp10 = hn::Add(tmp0, tmp3);
    tmp13 = hn::Sub(tmp0, tmp3);
    tmp11 = hn::Add(tmp0, tmp2);
    tmp12 = hn::Sub(tmp0, tmp2);
    // z3 = in3, z4 = in1.
    o0 = hn::Add(hn::Mul(w1, k(kF1_175 - kF0_899)), hn::Mul(w3, k(kF1_175 - kF1_961)));
    o1 = hn::Add(hn::Mul(w3, k(kF1_175 - kF2_562)), hn::Mul(w1, k(kF1_175 - kF0_390)));
    o3 = hn::Add(hn::Mul(w1, k(kF1_501 - kF0_899 + kF1_175 - kF0_390)), hn::Mul(w3, k(kF1_175)));
    o2 = hn::Add(hn::Mul(w3, k(kF3_072 - kF2_562 + kF1_175 - kF1_961)), hn::Mul(w1, k(kF1_175)));
  } else {
    const auto in4 = ld(4), in5 = ld(5), in6 = ld(6), in7 = ld(7);
    // Even part.
    const auto w2 = wide(in2), w6 = wide(in6);
    const auto tmp3 = hn::Add(hn::Mul(w2, k(kF0_541 + kF0_765)), hn::Mul(w6, k(kF0_541)));
    const auto tmp2 = hn::Add(hn::Mul(w6, k(kF0_541 - kF1_847)), hn::Mul(w2, k(kF0_541)));
    const auto tmp0 = hn::ShiftLeft<kConstBits>(wide(hn::Add(in0, in4)));
    const auto tmp1 = hn::ShiftLeft<kConstBits>(wide(hn::Sub(in0, in4)));
    tmp10 = hn::Add(tmp0, tmp3);
    tmp13 = hn::Sub(tmp0, tmp3);
    tmp11 = hn::Add(tmp1, tmp2);
    tmp12 = hn::Sub(tmp1, tmp2);
    // Odd part.
    const auto z3 = wide(hn::Add(in7, in3));
    const auto z4 = wide(hn::Add(in5, in1));
    const auto z3m = hn::Add(hn::Mul(z3, k(kF1_175 - kF1_961)), hn::Mul(z4, k(kF1_175)));
    const auto z4m = hn::Add(hn::Mul(z3, k(kF1_175)), hn::Mul(z4, k(kF1_175 - kF0_390)));
    const auto w1 = wide(in1), w3 = wide(in3), w5 = wide(in5), w7 = wide(in7);
    o0 = hn::Add(hn::Add(hn::Mul(w7, k(kF0_298 - kF0_899)), hn::Mul(w1, k(-kF0_899))), z3m);
    o1 = hn::Add(hn::Add(hn::Mul(w5, k(kF2_053 - kF2_562)), hn::Mul(w3, k(-kF2_562))), z4m);
    o3 = hn::Add(hn::Add(hn::Mul(w7, k(-kF0_899)), hn::Mul(w1, k(kF1_501 - kF0_899))), z4m);
    o2 = hn::Add(hn::Add(hn::Mul(w5, k(-kF2_562)), hn::Mul(w3, k(kF3_072 - kF2_562))), z3m);
  }
  const auto round = k(1 << (kShift - 1));
  const auto st = [&](int row, decltype(tmp10) v) {
    hn::StoreU(hn::DemoteTo(d16, hn::ShiftRight<kShift>(hn::Add(v, round))), d16,
               out + 8 * row + c0);
  };
  st(0, hn::Add(tmp10, o3));
  st(7, hn::Sub(tmp10, o3));
  st(1, hn::Add(tmp11, o2));
  st(6, hn::Sub(tmp11, o2));
  st(2, hn::Add(tmp12, o1));
  st(5, hn::Sub(tmp12, o1));
  st(3, hn::Add(tmp13, o0));
  st(4, hn::Sub(tmp13, o0));
}

// In-place transpose of an 8x8 array of 16-bit values.
HWY_INLINE void Transpose8x8(int16_t* HWY_RESTRICT m) {
  const hn::Full128<int16_t> d;
  const hn::Full128<int32_t> d32;
  const hn::Full128<int64_t> d64;
  auto r = [&](int i) { return hn::LoadU(d, m + 8 * i); };
  const auto t0 = hn::BitCast(d32, hn::InterleaveLower(d, r(0), r(1)));
  const auto t1 = hn::BitCast(d32, hn::InterleaveUpper(d, r(0), r(1)));
  const auto t2 = hn::BitCast(d32, hn::InterleaveLower(d, r(2), r(3)));
  const auto t3 = hn::BitCast(d32, hn::InterleaveUpper(d, r(2), r(3)));
  const auto t4 = hn::BitCast(d32, hn::InterleaveLower(d, r(4), r(5)));
  const auto t5 = hn::BitCast(d32, hn::InterleaveUpper(d, r(4), r(5)));
  const auto t6 = hn::BitCast(d32, hn::InterleaveLower(d, r(6), r(7)));
  const auto t7 = hn::BitCast(d32, hn::InterleaveUpper(d, r(6), r(7)));
  const auto u0 = hn::BitCast(d64, hn::InterleaveLower(d32, t0, t2));
  const auto u1 = hn::BitCast(d64, hn::InterleaveUpper(d32, t0, t2));
  const auto u2 = hn::BitCast(d64, hn::InterleaveLower(d32, t1, t3));
  const auto u3 = hn::BitCast(d64, hn::InterleaveUpper(d32, t1, t3));
  const auto u4 = hn::BitCast(d64, hn::InterleaveLower(d32, t4, t6));
  const auto u5 = hn::BitCast(d64, hn::InterleaveUpper(d32, t4, t6));
  const auto u6 = hn::BitCast(d64, hn::InterleaveLower(d32, t5, t7));
  const auto u7 = hn::BitCast(d64, hn::InterleaveUpper(d32, t5, t7));
  hn::StoreU(hn::BitCast(d, hn::InterleaveLower(d64, u0, u4)), d, m + 0);
  hn::StoreU(hn::BitCast(d, hn::InterleaveUpper(d64, u0, u4)), d, m + 8);
  hn::StoreU(hn::BitCast(d, hn::InterleaveLower(d64, u1, u5)), d, m + 16);
  hn::StoreU(hn::BitCast(d, hn::InterleaveUpper(d64, u1, u5)), d, m + 24);
  hn::StoreU(hn::BitCast(d, hn::InterleaveLower(d64, u2, u6)), d, m + 32);
  hn::StoreU(hn::BitCast(d, hn::InterleaveUpper(d64, u2, u6)), d, m + 40);
  hn::StoreU(hn::BitCast(d, hn::InterleaveLower(d64, u3, u7)), d, m + 48);
  hn::StoreU(hn::BitCast(d, hn::InterleaveUpper(d64, u3, u7)), d, m + 56);
}

template <bool kLow4>
HWY_INLINE void Idct(const int16_t* HWY_RESTRICT coef, const int16_t* HWY_RESTRICT quant,
                     uint8_t* HWY_RESTRICT out, int64_t stride) {
  const hn::Full128<int16_t> d16;
  const hn::CappedTag<int32_t, 8> d32;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(d32));
  HWY_ALIGN int16_t a[64];
  HWY_ALIGN int16_t b[64];
  // Dequantisation: 16-bit products (libjpeg's 16-bit multiplier tables).
  for (int k = 0; k < 8; ++k) {
    hn::Store(hn::Mul(hn::LoadU(d16, coef + 8 * k), hn::LoadU(d16, quant + 8 * k)), d16, a + 8 * k);
  }
  // Pass 1 over the columns. When rows 1..7 of the coefficients are all zero, every output of a
  // column is its first coefficient times 4, in 16 bits (libjpeg-turbo's SIMD shortcut).
  auto rows = hn::LoadU(d16, coef + 8);
  for (int k = 2; k < 8; ++k) {
    rows = hn::Or(rows, hn::LoadU(d16, coef + 8 * k));
  }
  const bool rows_zero = hn::AllTrue(d16, hn::Eq(rows, hn::Zero(d16)));
  if (rows_zero) {
    const auto dc = hn::ShiftLeft<idct::kPass1Bits>(hn::Load(d16, a));
    for (int k = 0; k < 8; ++k) {
      hn::Store(dc, d16, b + 8 * k);
    }
  } else {
    for (int64_t c0 = 0; c0 < 8; c0 += lanes) {
      Pass<idct::kConstBits - idct::kPass1Bits, kLow4>(d32, a, b, c0);
    }
  }
  Transpose8x8(b);
  // Pass 2 over the rows (now columns of b).
  for (int64_t c0 = 0; c0 < 8; c0 += lanes) {
    Pass<idct::kConstBits + idct::kPass1Bits + 3, kLow4>(d32, b, a, c0);
  }
  Transpose8x8(a);
  // Saturate to [-128, 127] and add 128.
  const hn::Rebind<int8_t, decltype(d16)> d8;
  const hn::Rebind<uint8_t, decltype(d16)> du8;
  const auto center = hn::Set(du8, 0x80);
  for (int r = 0; r < 8; ++r) {
    const auto s = hn::DemoteTo(d8, hn::Load(d16, a + 8 * r));
    hn::StoreU(hn::Xor(hn::BitCast(du8, s), center), du8, out + r * stride);
  }
}

// low4: every non-zero coefficient is in rows 0..3 and columns 0..3 (then inputs 4..7 of both
// passes are zero: the columns 4..7 of pass 1 give zeros).
void IdctIslow(const int16_t* HWY_RESTRICT coef, const int16_t* HWY_RESTRICT quant,
               uint8_t* HWY_RESTRICT out, int64_t stride, bool low4) {
  if (low4) {
    Idct<true>(coef, quant, out, stride);
  } else {
    Idct<false>(coef, quant, out, stride);
  }
}

#endif  // HWY_TARGET == HWY_SCALAR

void IdctBlocks(const IdctJob* HWY_RESTRICT jobs, int n) {
  for (int i = 0; i < n; ++i) {
    const IdctJob& j = jobs[i];
    if (j.kind == 0) {
      const uint8_t v = idct_islow_dc_value(j.coef[0], j.quant[0]);
      for (int r = 0; r < 8; ++r) {
        std::memset(j.out + r * j.stride, v, 8);
      }
    } else {
      IdctIslow(j.coef, j.quant, j.out, j.stride, j.kind == 1);
    }
  }
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

HWY_EXPORT(IdctIslow);
HWY_EXPORT(IdctBlocks);

void idct_blocks(const IdctJob* jobs, int n) { HWY_DYNAMIC_DISPATCH(IdctBlocks)(jobs, n); }

void idct_islow(const int16_t* coef, const int16_t* quant, uint8_t* out, int64_t stride,
                bool low4) {
  HWY_DYNAMIC_DISPATCH(IdctIslow)(coef, quant, out, stride, low4);
}

}  // namespace simd
}  // namespace image
}  // namespace tva
#endif
