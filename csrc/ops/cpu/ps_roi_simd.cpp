// Highway translation unit: re-included once per SIMD target by foreach_target.h.
// Only Add and Div are used on values, so every lane rounds exactly as torchvision's scalar loop.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "ops/cpu/ps_roi_simd.cpp"
#include <hwy/foreach_target.h> // IWYU pragma: keep

#include <hwy/highway.h>

#include "ops/cpu/ps_roi_simd.h"

HWY_BEFORE_NAMESPACE();
namespace tva {
namespace simd {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

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

HWY_EXPORT(PsPoolForwardLanes);

void ps_roi_pool_forward_lanes(const PsPoolLanes& l, const float* channel, float* out) {
  HWY_DYNAMIC_DISPATCH(PsPoolForwardLanes)(l, channel, out);
}

} // namespace simd
} // namespace tva
#endif // HWY_ONCE
