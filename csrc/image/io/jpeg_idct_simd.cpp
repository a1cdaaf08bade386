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
// jidctred.c's constants.
constexpr int32_t kF0_211 = 1730, kF0_509 = 4176, kF0_601 = 4926, kF0_720 = 5906, kF0_850 = 6967,
                  kF1_061 = 8697, kF1_272 = 10426, kF1_451 = 11893, kF2_172 = 17799,
                  kF3_624 = 29692;

// Arithmetic of the SSE2 code: 16-bit products and shifts wrap, 32-bit sums wrap, packs saturate.
inline int16_t RedWrap16(int32_t v) { return static_cast<int16_t>(static_cast<uint16_t>(v)); }
inline int32_t RedWrap32(int64_t v) { return static_cast<int32_t>(static_cast<uint32_t>(v)); }
inline int32_t RedSat16(int32_t v) { return v < -32768 ? -32768 : (v > 32767 ? 32767 : v); }
inline uint8_t RedSample(int32_t v) {  // packsswb of a 16-bit value, plus 128
  v = v < -128 ? -128 : (v > 127 ? 127 : v);
  return static_cast<uint8_t>(v + 128);
}
inline int16_t RedDequantize16(const int16_t* coef, const int16_t* quant, int i) {
  return RedWrap16(static_cast<int32_t>(static_cast<uint32_t>(static_cast<uint16_t>(coef[i])) *
                                     static_cast<uint16_t>(quant[i])));
}
// Sum of two 16-bit products (pmaddwd), then wrapping 32-bit additions.
inline int32_t RedMadd(int32_t a, int32_t ca, int32_t b, int32_t cb) {
  return RedWrap32(static_cast<int64_t>(a) * ca + static_cast<int64_t>(b) * cb);
}
inline int32_t RedAdd32(int32_t a, int32_t b) { return RedWrap32(static_cast<int64_t>(a) + b); }
inline int32_t RedSub32(int32_t a, int32_t b) { return RedWrap32(static_cast<int64_t>(a) - b); }
inline int32_t RedDescale(int32_t v, int n) { return RedAdd32(v, 1 << (n - 1)) >> n; }

// jpeg_idct_1x1: the DC coefficient times its quantiser (in int), descaled by 3, through libjpeg's
// range-limit table (index taken modulo 1024).
inline void Idct1x1(const int16_t* coef, const int16_t* quant, uint8_t* out) {
  const int32_t dc = (static_cast<int32_t>(coef[0]) * quant[0] + 4) >> 3;
  int32_t x = dc & 1023;
  x = x >= 512 ? x - 1024 : x;
  x += 128;
  out[0] = static_cast<uint8_t>(x < 0 ? 0 : (x > 255 ? 255 : x));
}

// The 2x2 IDCT's second pass: the two rows a and b of pass-1 results (columns 0, 1, 3, 5, 7 used)
// saturated to 16 bits, except column 0's, which is shifted in 32 bits.
inline void Idct2x2Pass2(const int32_t* a, const int32_t* b, uint8_t* out, int64_t stride) {
  for (int r = 0; r < 2; ++r) {
    const int32_t* w = r == 0 ? a : b;
    const int32_t tmp0 = RedAdd32(RedMadd(RedSat16(w[1]), kF3_624, RedSat16(w[3]), -kF1_272),
                                  RedMadd(RedSat16(w[5]), kF0_850, RedSat16(w[7]), -kF0_720));
    const int32_t tmp10 = static_cast<int32_t>(static_cast<uint32_t>(w[0]) << (kConstBits + 2));
    const int n = kConstBits + kPass1Bits + 3 + 2;
    out[r * stride] = RedSample(RedSat16(RedDescale(RedAdd32(tmp10, tmp0), n)));
    out[r * stride + 1] = RedSample(RedSat16(RedDescale(RedSub32(tmp10, tmp0), n)));
  }
}

// jsimd_idct_2x2_sse2: pass 1 over columns 0, 1, 3, 5, 7 (32-bit results), pass 2 over the two
// rows with those results saturated to 16 bits (except column 0's, shifted in 32 bits).
inline void Idct2x2(const int16_t* coef, const int16_t* quant, uint8_t* out, int64_t stride) {
  constexpr int kCols[5] = {0, 1, 3, 5, 7};
  int32_t a[8] = {0}, b[8] = {0};
  for (int c : kCols) {
    const int32_t d0 = RedDequantize16(coef, quant, c), d1 = RedDequantize16(coef, quant, 8 + c),
                  d3 = RedDequantize16(coef, quant, 24 + c), d5 = RedDequantize16(coef, quant, 40 + c),
                  d7 = RedDequantize16(coef, quant, 56 + c);
    const int32_t tmp0 = RedAdd32(RedMadd(d1, kF3_624, d3, -kF1_272), RedMadd(d5, kF0_850, d7, -kF0_720));
    const int32_t tmp10 = d0 * (1 << (kConstBits + 2));
    a[c] = RedDescale(RedAdd32(tmp10, tmp0), kConstBits - kPass1Bits + 2);
    b[c] = RedDescale(RedSub32(tmp10, tmp0), kConstBits - kPass1Bits + 2);
  }
  Idct2x2Pass2(a, b, out, stride);
}

// jsimd_idct_4x4_sse2 (row 4 and column 4 of the coefficients unused): pass 1 over the 8
// columns, with the shortcut when rows 1, 2, 3, 5, 6, 7 are zero (each column's dequantised DC
// times 4, in 16 bits); results saturated to 16 bits; pass 2 over the 4 rows.
inline void Idct4x4Scalar(const int16_t* coef, const int16_t* quant, uint8_t* out, int64_t stride) {
  int32_t ws[4][8];
  bool ac_zero = true;
  for (int i = 8; i < 64; ++i) {
    ac_zero = ac_zero && (i / 8 == 4 || coef[i] == 0);
  }
  for (int c = 0; c < 8; ++c) {
    if (ac_zero) {
      const int16_t v = RedWrap16(static_cast<int32_t>(static_cast<uint32_t>(static_cast<uint16_t>(RedDequantize16(coef, quant, c))) << kPass1Bits));
      for (int r = 0; r < 4; ++r) {
        ws[r][c] = v;
      }
      continue;
    }
    int32_t d[8];
    for (int k = 0; k < 8; ++k) {
      d[k] = RedDequantize16(coef, quant, 8 * k + c);
    }
    const int32_t tmp2 = RedAdd32(RedMadd(d[1], kF2_562, d[3], kF0_899), RedMadd(d[5], -kF0_601, d[7], -kF0_509));
    const int32_t tmp0 = RedAdd32(RedMadd(d[1], kF1_061, d[3], -kF2_172), RedMadd(d[5], kF1_451, d[7], -kF0_211));
    const int32_t tmp0e = d[0] * (1 << (kConstBits + 1));
    const int32_t tmp2e = RedMadd(d[2], kF1_847, d[6], -kF0_765);
    const int32_t tmp10 = RedAdd32(tmp0e, tmp2e), tmp12 = RedSub32(tmp0e, tmp2e);
    const int n = kConstBits - kPass1Bits + 1;
    ws[0][c] = RedSat16(RedDescale(RedAdd32(tmp10, tmp2), n));
    ws[3][c] = RedSat16(RedDescale(RedSub32(tmp10, tmp2), n));
    ws[1][c] = RedSat16(RedDescale(RedAdd32(tmp12, tmp0), n));
    ws[2][c] = RedSat16(RedDescale(RedSub32(tmp12, tmp0), n));
  }
  for (int r = 0; r < 4; ++r) {
    const int32_t* w = ws[r];
    const int32_t tmp2 = RedAdd32(RedMadd(w[1], kF2_562, w[3], kF0_899), RedMadd(w[5], -kF0_601, w[7], -kF0_509));
    const int32_t tmp0 = RedAdd32(RedMadd(w[1], kF1_061, w[3], -kF2_172), RedMadd(w[5], kF1_451, w[7], -kF0_211));
    const int32_t tmp0e = w[0] * (1 << (kConstBits + 1));
    const int32_t tmp2e = RedMadd(w[2], kF1_847, w[6], -kF0_765);
    const int32_t tmp10 = RedAdd32(tmp0e, tmp2e), tmp12 = RedSub32(tmp0e, tmp2e);
    const int n = kConstBits + kPass1Bits + 3 + 1;
    out[r * stride + 0] = RedSample(RedSat16(RedDescale(RedAdd32(tmp10, tmp2), n)));
    out[r * stride + 1] = RedSample(RedSat16(RedDescale(RedAdd32(tmp12, tmp0), n)));
    out[r * stride + 2] = RedSample(RedSat16(RedDescale(RedSub32(tmp12, tmp0), n)));
    out[r * stride + 3] = RedSample(RedSat16(RedDescale(RedSub32(tmp10, tmp2), n)));
  }
}
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

// The vectors hold one row of 8 16-bit values of each of N = Lanes / 8 blocks (block i in the i-th
// 128-bit part): every operation below works within 128-bit parts, so N blocks are transformed at
// once.

// Two 16-bit constants in each 32-bit lane, `even` in the lower half: the constant operand of
// MaddPairs.
template <class D16>
HWY_INLINE hn::Vec<D16> PairConst(D16 d16, int32_t even, int32_t odd) {
  const hn::RepartitionToWide<D16> d32;
  return hn::BitCast(d16, hn::Set(d32, static_cast<int32_t>((static_cast<uint32_t>(odd) << 16) |
                                                            (static_cast<uint32_t>(even) & 0xFFFFu))));
}

// Sums of adjacent 16-bit products in 32-bit lanes (pmaddwd, as libjpeg-turbo's SIMD code uses).
template <class D16, class V>
HWY_INLINE hn::Vec<hn::RepartitionToWide<D16>> MaddPairs(D16 d16, V a, V b) {
  const hn::RepartitionToWide<D16> d32;
  hn::Vec<decltype(d32)> sum1 = hn::Zero(d32);
  const auto sum0 = hn::ReorderWidenMulAccumulate(d32, a, b, hn::Zero(d32), sum1);
  return hn::RearrangeToOddPlusEven(sum0, sum1);
}

// One 1-D pass over the 8 rows r[k] (lanes = columns), in place. Even part: in0 +- in4 and the odd
// part's sums in3 + in7 and in1 + in5 are 16-bit sums; the products are summed in pairs (16-bit
// inputs interleaved, multiplied and added into 32 bits, as libjpeg-turbo's SIMD code does: the
// same wrapping 32-bit sums); each output is descaled with rounding and saturated to 16 bits.
//
// kLow4: rows 4..7 are zero; kPass1Low4 adds that columns 4..7 are zero too, so the outputs there
// are zero.
template <int kShift, bool kLow4, bool kHalf, class D16, class V>
HWY_INLINE void Pass(D16 d16, V* HWY_RESTRICT r) {
  using namespace idct;
  const hn::RepartitionToWide<D16> d32;
  using V32 = hn::Vec<decltype(d32)>;
  const auto pair = [&](int32_t even, int32_t odd) { return PairConst(d16, even, odd); };
  const auto madd = [&](V a, V b) { return MaddPairs(d16, a, b); };
  const V zero = hn::Zero(d16);
  const V in0 = r[0], in1 = r[1], in2 = r[2], in3 = r[3];
  const V in4 = kLow4 ? zero : r[4], in5 = kLow4 ? zero : r[5], in6 = kLow4 ? zero : r[6],
          in7 = kLow4 ? zero : r[7];
  const V c26a = pair(kF0_541 + kF0_765, kF0_541), c26b = pair(kF0_541, kF0_541 - kF1_847);
  const V c34a = pair(kF1_175 - kF1_961, kF1_175), c34b = pair(kF1_175, kF1_175 - kF0_390);
  const V c71a = pair(kF0_298 - kF0_899, -kF0_899), c71b = pair(-kF0_899, kF1_501 - kF0_899);
  const V c53a = pair(kF2_053 - kF2_562, -kF2_562), c53b = pair(-kF2_562, kF3_072 - kF2_562);
  const V sum04 = hn::Add(in0, in4), dif04 = hn::Sub(in0, in4);
  const V z3 = hn::Add(in7, in3), z4 = hn::Add(in5, in1);
  const V32 round = hn::Set(d32, 1 << (kShift - 1));
  V32 out[8][2];
  constexpr int kParts = kHalf ? 1 : 2;
  for (int h = 0; h < kParts; ++h) {
    const auto lo = [&](V a, V b) { return h == 0 ? hn::InterleaveLower(d16, a, b) : hn::InterleaveUpper(d16, a, b); };
    const V i26 = lo(in2, in6), i34 = lo(z3, z4), i71 = lo(in7, in1), i53 = lo(in5, in3);
    const V32 tmp3 = madd(i26, c26a), tmp2 = madd(i26, c26b);
    // (x << 16) >> 3: x << 13 with the sign.
    const V32 tmp0 = hn::ShiftRight<16 - kConstBits>(hn::BitCast(d32, lo(zero, sum04)));
    const V32 tmp1 = hn::ShiftRight<16 - kConstBits>(hn::BitCast(d32, lo(zero, dif04)));
    const V32 tmp10 = hn::Add(tmp0, tmp3), tmp13 = hn::Sub(tmp0, tmp3);
    const V32 tmp11 = hn::Add(tmp1, tmp2), tmp12 = hn::Sub(tmp1, tmp2);
    const V32 z3m = madd(i34, c34a), z4m = madd(i34, c34b);
    const V32 o0 = hn::Add(madd(i71, c71a), z3m), o3 = hn::Add(madd(i71, c71b), z4m);
    const V32 o1 = hn::Add(madd(i53, c53a), z4m), o2 = hn::Add(madd(i53, c53b), z3m);
    const auto ds = [&](V32 v) { return hn::ShiftRight<kShift>(hn::Add(v, round)); };
    out[0][h] = ds(hn::Add(tmp10, o3));
    out[7][h] = ds(hn::Sub(tmp10, o3));
    out[1][h] = ds(hn::Add(tmp11, o2));
    out[6][h] = ds(hn::Sub(tmp11, o2));
    out[2][h] = ds(hn::Add(tmp12, o1));
    out[5][h] = ds(hn::Sub(tmp12, o1));
    out[3][h] = ds(hn::Add(tmp13, o0));
    out[4][h] = ds(hn::Sub(tmp13, o0));
  }
  for (int k = 0; k < 8; ++k) {
    r[k] = hn::ReorderDemote2To(d16, out[k][0], kHalf ? hn::Zero(d32) : out[k][1]);
  }
}

// Transpose of the 8x8 block in each 128-bit part of r[0..7].
template <class D16, class V>
HWY_INLINE void Transpose8x8(D16 d, V* HWY_RESTRICT r) {
  const hn::RepartitionToWide<D16> d32;
  const hn::RepartitionToWide<decltype(d32)> d64;
  const auto t0 = hn::BitCast(d32, hn::InterleaveLower(d, r[0], r[1]));
  const auto t1 = hn::BitCast(d32, hn::InterleaveUpper(d, r[0], r[1]));
  const auto t2 = hn::BitCast(d32, hn::InterleaveLower(d, r[2], r[3]));
  const auto t3 = hn::BitCast(d32, hn::InterleaveUpper(d, r[2], r[3]));
  const auto t4 = hn::BitCast(d32, hn::InterleaveLower(d, r[4], r[5]));
  const auto t5 = hn::BitCast(d32, hn::InterleaveUpper(d, r[4], r[5]));
  const auto t6 = hn::BitCast(d32, hn::InterleaveLower(d, r[6], r[7]));
  const auto t7 = hn::BitCast(d32, hn::InterleaveUpper(d, r[6], r[7]));
  const auto u0 = hn::BitCast(d64, hn::InterleaveLower(d32, t0, t2));
  const auto u1 = hn::BitCast(d64, hn::InterleaveUpper(d32, t0, t2));
  const auto u2 = hn::BitCast(d64, hn::InterleaveLower(d32, t1, t3));
  const auto u3 = hn::BitCast(d64, hn::InterleaveUpper(d32, t1, t3));
  const auto u4 = hn::BitCast(d64, hn::InterleaveLower(d32, t4, t6));
  const auto u5 = hn::BitCast(d64, hn::InterleaveUpper(d32, t4, t6));
  const auto u6 = hn::BitCast(d64, hn::InterleaveLower(d32, t5, t7));
  const auto u7 = hn::BitCast(d64, hn::InterleaveUpper(d32, t5, t7));
  r[0] = hn::BitCast(d, hn::InterleaveLower(d64, u0, u4));
  r[1] = hn::BitCast(d, hn::InterleaveUpper(d64, u0, u4));
  r[2] = hn::BitCast(d, hn::InterleaveLower(d64, u1, u5));
  r[3] = hn::BitCast(d, hn::InterleaveUpper(d64, u1, u5));
  r[4] = hn::BitCast(d, hn::InterleaveLower(d64, u2, u6));
  r[5] = hn::BitCast(d, hn::InterleaveUpper(d64, u2, u6));
  r[6] = hn::BitCast(d, hn::InterleaveLower(d64, u3, u7));
  r[7] = hn::BitCast(d, hn::InterleaveUpper(d64, u3, u7));
}

// The output of pass 2 (r[x]: column x of the block, rows in lanes) saturated to [-128, 127],
// plus 128, written as 8 rows of 8 bytes. The two bytes of column pair (2j, 2j + 1) of row i go
// into 16-bit lane i of w[j] (shift and or), and two rounds of interleaving make rows: 8 shuffles
// where transposing the 16-bit values and narrowing them would take 40.
template <class D16, class V>
HWY_INLINE void StoreSamples(D16 d16, const V* HWY_RESTRICT r, uint8_t* const* out,
                             const int64_t* stride) {
  constexpr size_t kN = hn::MaxLanes(d16) / 8;
  const hn::RepartitionToWide<D16> d32;
  const hn::Repartition<uint8_t, D16> du8;
  const V lo = hn::Set(d16, -128), hi = hn::Set(d16, 127), center = hn::Set(d16, 128);
  const auto sample = [&](V v) { return hn::Add(hn::Min(hn::Max(v, lo), hi), center); };
  V w[4];
  for (int j = 0; j < 4; ++j) {
    w[j] = hn::Or(sample(r[2 * j]), hn::ShiftLeft<8>(sample(r[2 * j + 1])));
  }
  // 32-bit lane i: columns 0..3 (a0, b0) or 4..7 (a1, b1) of row i (a) or 4 + i (b).
  const auto a0 = hn::BitCast(d32, hn::InterleaveLower(d16, w[0], w[1]));
  const auto a1 = hn::BitCast(d32, hn::InterleaveLower(d16, w[2], w[3]));
  const auto b0 = hn::BitCast(d32, hn::InterleaveUpper(d16, w[0], w[1]));
  const auto b1 = hn::BitCast(d32, hn::InterleaveUpper(d16, w[2], w[3]));
  // rows[m]: rows 2m and 2m + 1, 16 bytes per block.
  const hn::Vec<decltype(du8)> rows[4] = {
      hn::BitCast(du8, hn::InterleaveLower(d32, a0, a1)), hn::BitCast(du8, hn::InterleaveUpper(d32, a0, a1)),
      hn::BitCast(du8, hn::InterleaveLower(d32, b0, b1)), hn::BitCast(du8, hn::InterleaveUpper(d32, b0, b1))};
  const hn::Full128<uint8_t> d16b;
  const hn::Half<decltype(d16b)> d8b;
  const auto store2 = [&](hn::Vec<decltype(d16b)> v, uint8_t* o, int64_t s, int m) {
    hn::StoreU(hn::LowerHalf(d8b, v), d8b, o + 2 * m * s);
    hn::StoreU(hn::UpperHalf(d8b, v), d8b, o + (2 * m + 1) * s);
  };
  for (int m = 0; m < 4; ++m) {
    if constexpr (kN == 1) {
      store2(rows[m], out[0], stride[0], m);
    } else {
      static_assert(kN == 2, "one or two blocks");
      store2(hn::LowerHalf(d16b, rows[m]), out[0], stride[0], m);
      store2(hn::UpperHalf(d16b, rows[m]), out[1], stride[1], m);
    }
  }
}

// Row k of the blocks at p[0], p[1], ... (one per 128-bit part).
HWY_INLINE hn::Vec<hn::Full128<int16_t>> LoadRow(hn::Full128<int16_t> d,
                                                 const int16_t* const* p, int k) {
  return hn::LoadU(d, p[0] + 8 * k);
}
#if HWY_TARGET <= HWY_AVX2
HWY_INLINE hn::Vec<hn::Full256<int16_t>> LoadRow(hn::Full256<int16_t> d,
                                                 const int16_t* const* p, int k) {
  const hn::Full128<int16_t> dh;
  return hn::Combine(d, hn::LoadU(dh, p[1] + 8 * k), hn::LoadU(dh, p[0] + 8 * k));
}
#endif

// Row k of the quantisation tables of the blocks: one table (the usual case: the blocks of one
// component) is loaded once and copied into every 128-bit part.
template <class D16>
HWY_INLINE hn::Vec<D16> LoadQuantRow(D16 d, const int16_t* const* p, bool same, int k) {
  if constexpr (hn::MaxLanes(d) == 8) {
    return hn::LoadU(d, p[0] + 8 * k);
  } else {
    return same ? hn::LoadDup128(d, p[0] + 8 * k) : LoadRow(d, p, k);
  }
}

// The IDCT of N blocks (one per 128-bit part of D16): coef[i], quant[i] -> out[i] (stride[i]).
// kRowsZero: rows 1..7 of every block are zero (libjpeg-turbo's SIMD pass-1 shortcut: every
// output of a column is its first coefficient times 4, in 16 bits); kLow4: every non-zero
// coefficient of every block is in rows and columns 0..3.
template <bool kRowsZero, bool kLow4, class D16>
HWY_INLINE void IdctN(D16 d16, const int16_t* const* coef, const int16_t* const* quant,
                      uint8_t* const* out, const int64_t* stride) {
  using V = hn::Vec<D16>;
  constexpr size_t kN = hn::MaxLanes(d16) / 8;
  V r[8];
  bool same_quant = true;
  for (size_t i = 1; i < kN; ++i) {
    same_quant = same_quant && quant[i] == quant[0];
  }
  // Dequantisation: 16-bit products (libjpeg's 16-bit multiplier tables).
  if (kRowsZero) {
    const V dc = hn::ShiftLeft<idct::kPass1Bits>(
        hn::Mul(LoadRow(d16, coef, 0), LoadQuantRow(d16, quant, same_quant, 0)));
    for (int k = 0; k < 8; ++k) {
      r[k] = dc;
    }
  } else {
    constexpr int kRows = kLow4 ? 4 : 8;
    for (int k = 0; k < kRows; ++k) {
      r[k] = hn::Mul(LoadRow(d16, coef, k), LoadQuantRow(d16, quant, same_quant, k));
    }
    for (int k = kRows; k < 8; ++k) {
      r[k] = hn::Zero(d16);
    }
    Pass<idct::kConstBits - idct::kPass1Bits, kLow4, kLow4>(d16, r);
  }
  Transpose8x8(d16, r);
  Pass<idct::kConstBits + idct::kPass1Bits + 3, kLow4, false>(d16, r);
  StoreSamples(d16, r, out, stride);
}

template <class D16>
HWY_INLINE void IdctKind(D16 d16, const int16_t* const* coef, const int16_t* const* quant,
                         uint8_t* const* out, const int64_t* stride, bool rows_zero, bool low4) {
  if (rows_zero) {
    if (low4) {
      IdctN<true, true>(d16, coef, quant, out, stride);
    } else {
      IdctN<true, false>(d16, coef, quant, out, stride);
    }
  } else if (low4) {
    IdctN<false, true>(d16, coef, quant, out, stride);
  } else {
    IdctN<false, false>(d16, coef, quant, out, stride);
  }
}

inline bool RowsZero(const int16_t* coef) {
  const hn::Full128<int16_t> d;
  auto rows = hn::LoadU(d, coef + 8);
  for (int k = 2; k < 8; ++k) {
    rows = hn::Or(rows, hn::LoadU(d, coef + 8 * k));
  }
  return hn::AllTrue(d, hn::Eq(rows, hn::Zero(d)));
}

// jsimd_idct_2x2_sse2: pass 1 in vectors (all 8 columns; 0, 1, 3, 5, 7 are used), pass 2 on the two
// rows by idct::Idct2x2Pass2, as the scalar version.
void Idct2x2(const int16_t* HWY_RESTRICT coef, const int16_t* HWY_RESTRICT quant,
             uint8_t* HWY_RESTRICT out, int64_t stride) {
  using namespace idct;
  const hn::Full128<int16_t> d16;
  const hn::Full128<int32_t> d32;
  using V = hn::Vec<decltype(d16)>;
  using V32 = hn::Vec<decltype(d32)>;
  const auto pair = [&](int32_t even, int32_t odd) { return PairConst(d16, even, odd); };
  const auto madd = [&](V a, V b) { return MaddPairs(d16, a, b); };
  const auto dq = [&](int k) {
    return hn::Mul(hn::LoadU(d16, coef + 8 * k), hn::LoadU(d16, quant + 8 * k));
  };
  const V r0 = dq(0), r1 = dq(1), r3 = dq(3), r5 = dq(5), r7 = dq(7);
  const V c13 = pair(kF3_624, -kF1_272), c57 = pair(kF0_850, -kF0_720);
  const V zero = hn::Zero(d16);
  const V32 round = hn::Set(d32, 1 << (kConstBits - kPass1Bits + 1));
  HWY_ALIGN int32_t a[8], b[8];
  for (int h = 0; h < 2; ++h) {
    const auto il = [&](V x, V y) {
      return h == 0 ? hn::InterleaveLower(d16, x, y) : hn::InterleaveUpper(d16, x, y);
    };
    const V32 tmp0 = hn::Add(madd(il(r1, r3), c13), madd(il(r5, r7), c57));
    const V32 tmp10 = hn::ShiftRight<16 - kConstBits - 2>(hn::BitCast(d32, il(zero, r0)));
    hn::Store(hn::ShiftRight<kConstBits - kPass1Bits + 2>(hn::Add(hn::Add(tmp10, tmp0), round)), d32,
              a + 4 * h);
    hn::Store(hn::ShiftRight<kConstBits - kPass1Bits + 2>(hn::Add(hn::Sub(tmp10, tmp0), round)), d32,
              b + 4 * h);
  }
  Idct2x2Pass2(a, b, out, stride);
}

// jsimd_idct_4x4_sse2 in vectors (see idct::Idct4x4Scalar for the arithmetic).
void Idct4x4(const int16_t* HWY_RESTRICT coef, const int16_t* HWY_RESTRICT quant,
             uint8_t* HWY_RESTRICT out, int64_t stride) {
  using namespace idct;
  const hn::Full128<int16_t> d16;
  const hn::Full128<int32_t> d32;
  using V = hn::Vec<decltype(d16)>;
  using V32 = hn::Vec<decltype(d32)>;
  const auto pair = [&](int32_t even, int32_t odd) { return PairConst(d16, even, odd); };
  const auto madd = [&](V a, V b) { return MaddPairs(d16, a, b); };
  const V zero = hn::Zero(d16);
  const V c13a = pair(kF2_562, kF0_899), c57a = pair(-kF0_601, -kF0_509);
  const V c13b = pair(kF1_061, -kF2_172), c57b = pair(kF1_451, -kF0_211);
  const V c26 = pair(kF1_847, -kF0_765);
  const auto ld = [&](int k) { return hn::LoadU(d16, coef + 8 * k); };
  const auto dq = [&](int k) { return hn::Mul(ld(k), hn::LoadU(d16, quant + 8 * k)); };
  V ws[4];
  const V ac = hn::Or(hn::Or(hn::Or(ld(1), ld(2)), hn::Or(ld(3), ld(5))), hn::Or(ld(6), ld(7)));
  if (hn::AllTrue(d16, hn::Eq(ac, zero))) {
    ws[0] = ws[1] = ws[2] = ws[3] = hn::ShiftLeft<kPass1Bits>(dq(0));
  } else {
    const V r0 = dq(0), r1 = dq(1), r2 = dq(2), r3 = dq(3), r5 = dq(5), r6 = dq(6), r7 = dq(7);
    const V32 round = hn::Set(d32, 1 << (kConstBits - kPass1Bits));
    V32 o[4][2];
    for (int h = 0; h < 2; ++h) {
      const auto il = [&](V a, V b) {
        return h == 0 ? hn::InterleaveLower(d16, a, b) : hn::InterleaveUpper(d16, a, b);
      };
      const V i13 = il(r1, r3), i57 = il(r5, r7), i26 = il(r2, r6);
      const V32 tmp2 = hn::Add(madd(i13, c13a), madd(i57, c57a));
      const V32 tmp0 = hn::Add(madd(i13, c13b), madd(i57, c57b));
      const V32 tmp0e = hn::ShiftRight<16 - kConstBits - 1>(hn::BitCast(d32, il(zero, r0)));
      const V32 tmp2e = madd(i26, c26);
      const V32 tmp10 = hn::Add(tmp0e, tmp2e), tmp12 = hn::Sub(tmp0e, tmp2e);
      const auto ds = [&](V32 v) { return hn::ShiftRight<kConstBits - kPass1Bits + 1>(hn::Add(v, round)); };
      o[0][h] = ds(hn::Add(tmp10, tmp2));
      o[3][h] = ds(hn::Sub(tmp10, tmp2));
      o[1][h] = ds(hn::Add(tmp12, tmp0));
      o[2][h] = ds(hn::Sub(tmp12, tmp0));
    }
    for (int k = 0; k < 4; ++k) {
      ws[k] = hn::ReorderDemote2To(d16, o[k][0], o[k][1]);
    }
  }
  // Columns as 4-row halves: c01 = (col 0 rows 0..3, col 1 rows 0..3), ...
  const auto t0 = hn::BitCast(d32, hn::InterleaveLower(d16, ws[0], ws[1]));
  const auto t1 = hn::BitCast(d32, hn::InterleaveUpper(d16, ws[0], ws[1]));
  const auto t2 = hn::BitCast(d32, hn::InterleaveLower(d16, ws[2], ws[3]));
  const auto t3 = hn::BitCast(d32, hn::InterleaveUpper(d16, ws[2], ws[3]));
  const V c01 = hn::BitCast(d16, hn::InterleaveLower(d32, t0, t2));
  const V c23 = hn::BitCast(d16, hn::InterleaveUpper(d32, t0, t2));
  const V c45 = hn::BitCast(d16, hn::InterleaveLower(d32, t1, t3));
  const V c67 = hn::BitCast(d16, hn::InterleaveUpper(d32, t1, t3));
  const V i13 = hn::InterleaveUpper(d16, c01, c23), i57 = hn::InterleaveUpper(d16, c45, c67);
  const V i26 = hn::InterleaveLower(d16, c23, c67);
  const V32 tmp0e = hn::ShiftRight<16 - kConstBits - 1>(hn::BitCast(d32, hn::InterleaveLower(d16, zero, c01)));
  const V32 tmp2 = hn::Add(madd(i13, c13a), madd(i57, c57a));
  const V32 tmp0 = hn::Add(madd(i13, c13b), madd(i57, c57b));
  const V32 tmp2e = madd(i26, c26);
  const V32 tmp10 = hn::Add(tmp0e, tmp2e), tmp12 = hn::Sub(tmp0e, tmp2e);
  constexpr int kShift2 = kConstBits + kPass1Bits + 3 + 1;
  const V32 round2 = hn::Set(d32, 1 << (kShift2 - 1));
  const auto ds2 = [&](V32 v) { return hn::ShiftRight<kShift2>(hn::Add(v, round2)); };
  // Output columns 0..3, each over rows 0..3.
  const V p01 = hn::ReorderDemote2To(d16, ds2(hn::Add(tmp10, tmp2)), ds2(hn::Add(tmp12, tmp0)));
  const V p23 = hn::ReorderDemote2To(d16, ds2(hn::Sub(tmp12, tmp0)), ds2(hn::Sub(tmp10, tmp2)));
  const V a = hn::InterleaveLower(d16, p01, p23), b = hn::InterleaveUpper(d16, p01, p23);
  const V rows01 = hn::InterleaveLower(d16, a, b), rows23 = hn::InterleaveUpper(d16, a, b);
  const hn::Rebind<int8_t, decltype(d16)> d8;
  const hn::Rebind<uint8_t, decltype(d16)> du8;
  const auto center = hn::Set(du8, 0x80);
  HWY_ALIGN uint8_t px[16];
  hn::Store(hn::Xor(hn::BitCast(du8, hn::DemoteTo(d8, rows01)), center), du8, px);
  hn::Store(hn::Xor(hn::BitCast(du8, hn::DemoteTo(d8, rows23)), center), du8, px + 8);
  for (int r = 0; r < 4; ++r) {
    std::memcpy(out + r * stride, px + 4 * r, 4);
  }
}

// low4: every non-zero coefficient is in rows 0..3 and columns 0..3 (then inputs 4..7 of both
// passes are zero: the columns 4..7 of pass 1 give zeros).
void IdctIslow(const int16_t* HWY_RESTRICT coef, const int16_t* HWY_RESTRICT quant,
               uint8_t* HWY_RESTRICT out, int64_t stride, bool low4) {
  const hn::Full128<int16_t> d16;
  const int16_t* coefs[1] = {coef};
  const int16_t* quants[1] = {quant};
  uint8_t* outs[1] = {out};
  IdctKind(d16, coefs, quants, outs, &stride, RowsZero(coef), low4);
}

#endif  // HWY_TARGET == HWY_SCALAR

// kind 0: only the DC coefficient is not zero; 1: every non-zero coefficient is in rows and
// columns 0..3; 2: any other block. rows_zero: rows 1..7 are zero (the pass-1 shortcut of IdctN).
struct BlockClass {
  int kind;
  bool rows_zero;
};

#if HWY_TARGET == HWY_SCALAR
inline BlockClass ClassifyBlock(const int16_t* coef) {
  bool ac = false, outside = false, rows = false;
  for (int i = 1; i < 64; ++i) {
    ac = ac || coef[i] != 0;
    outside = outside || (coef[i] != 0 && ((i & 4) != 0 || i >= 32));
    rows = rows || (coef[i] != 0 && i >= 8);
  }
  return {!ac ? 0 : (outside ? 2 : 1), !rows};
}
#else
inline BlockClass ClassifyBlock(const int16_t* coef) {
  const hn::Full128<int16_t> d;
  const auto r = [&](int k) { return hn::LoadU(d, coef + 8 * k); };
  const auto rows13 = hn::Or(r(1), hn::Or(r(2), r(3)));
  const auto low_rows = hn::Or(r(0), rows13);
  const auto high_rows = hn::Or(hn::Or(r(4), r(5)), hn::Or(r(6), r(7)));
  // Lanes 4..7 of low_rows (columns 4..7) and all of high_rows: outside rows/columns 0..3.
  const auto lanes = hn::Iota(d, 0);
  const auto outside = hn::Or(high_rows, hn::IfThenElseZero(hn::Gt(lanes, hn::Set(d, 3)), low_rows));
  const auto zero = hn::Zero(d);
  const bool rows_zero = hn::AllTrue(d, hn::Eq(hn::Or(rows13, high_rows), zero));
  if (!hn::AllTrue(d, hn::Eq(outside, zero))) {
    return {2, rows_zero};
  }
  const auto ac = hn::Or(rows13, hn::IfThenElseZero(hn::Gt(lanes, zero), r(0)));
  return {hn::AllTrue(d, hn::Eq(ac, zero)) ? 0 : 1, rows_zero};
}
#endif

void IdctReduced(const int16_t* HWY_RESTRICT coef, const int16_t* HWY_RESTRICT quant,
                 uint8_t* HWY_RESTRICT out, int64_t stride, int size) {
  if (size == 1) {
    idct::Idct1x1(coef, quant, out);
  } else if (size == 2) {
#if HWY_TARGET == HWY_SCALAR
    idct::Idct2x2(coef, quant, out, stride);
#else
    Idct2x2(coef, quant, out, stride);
#endif
  } else {
#if HWY_TARGET == HWY_SCALAR
    idct::Idct4x4Scalar(coef, quant, out, stride);
#else
    Idct4x4(coef, quant, out, stride);
#endif
  }
}

// The blocks that need no full 8x8 IDCT: reduced sizes, and blocks whose AC coefficients are all
// zero (every pixel is the DC value). Returns kind -1 when it has written the block, otherwise the
// block's class.
HWY_INLINE BlockClass IdctShortcut(const IdctJob& j) {
  if (j.size != 8) {
    IdctReduced(j.coef, j.quant, j.out, j.stride, j.size);
    return {-1, false};
  }
  const BlockClass c = ClassifyBlock(j.coef);
  if (c.kind == 0) {
    const uint8_t v = idct_islow_dc_value(j.coef[0], j.quant[0]);
    for (int r = 0; r < 8; ++r) {
      std::memset(j.out + r * j.stride, v, 8);
    }
    return {-1, false};
  }
  return c;
}

void IdctBlocks(const IdctJob* HWY_RESTRICT jobs, int n) {
#if HWY_TARGET != HWY_SCALAR && HWY_TARGET <= HWY_AVX2
  // Consecutive blocks that take the same path (rows 1..7 zero or not) go through the IDCT two at
  // a time, one per 128-bit half (low4 when both are). Wider groups (4 blocks per 512-bit vector on
  // AVX-512, or blocks grouped by low4 too) measured slower: the rows of 4 blocks are gathered
  // and the 512-bit shuffles all take port 5, and batches of one MCU leave more single blocks.
  const IdctJob* pending = nullptr;
  BlockClass pending_class{};
  for (int i = 0; i < n; ++i) {
    const IdctJob& j = jobs[i];
    const BlockClass c = IdctShortcut(j);
    if (c.kind < 0) continue;
    if (pending == nullptr) {
      pending = &j;
      pending_class = c;
      continue;
    }
    if (pending_class.rows_zero == c.rows_zero) {
      const hn::Full256<int16_t> d2;
      const int16_t* coef[2] = {pending->coef, j.coef};
      const int16_t* quant[2] = {pending->quant, j.quant};
      uint8_t* out[2] = {pending->out, j.out};
      const int64_t stride[2] = {pending->stride, j.stride};
      IdctKind(d2, coef, quant, out, stride, c.rows_zero, c.kind == 1 && pending_class.kind == 1);
      pending = nullptr;
    } else {
      IdctIslow(pending->coef, pending->quant, pending->out, pending->stride, pending_class.kind == 1);
      pending = &j;
      pending_class = c;
    }
  }
  if (pending != nullptr) {
    IdctIslow(pending->coef, pending->quant, pending->out, pending->stride, pending_class.kind == 1);
  }
#else
  for (int i = 0; i < n; ++i) {
    const IdctJob& j = jobs[i];
    const BlockClass c = IdctShortcut(j);
    if (c.kind >= 0) IdctIslow(j.coef, j.quant, j.out, j.stride, c.kind == 1);
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
