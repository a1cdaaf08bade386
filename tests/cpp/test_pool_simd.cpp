// C++ checks of the pooling SIMD cores (pool_simd.h): the streamed copy at every alignment and
// length, and roi_pool's bin scan against a plain re-statement of torchvision's loop.
#include <gtest/gtest.h>

#include <cfloat>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "ops/cpu/pool_simd.h"

namespace {

TEST(PoolSimd, StreamWordsCopiesEveryAlignmentAndLength) {
  std::vector<uint32_t> src(300), dst(300);
  for (size_t i = 0; i < src.size(); ++i) src[i] = static_cast<uint32_t>(i * 2654435761u);
  for (int offset = 0; offset < 17; ++offset) {
    for (int n : {0, 1, 3, 15, 16, 17, 31, 64, 100, 250}) {
      std::fill(dst.begin(), dst.end(), 0xdeadbeefu);
      tva::simd::stream_words(src.data(), dst.data() + offset, n);
      tva::simd::stream_fence();
      for (int i = 0; i < 300; ++i) {
        const bool inside = i >= offset && i < offset + n;
        ASSERT_EQ(dst[i], inside ? src[i - offset] : 0xdeadbeefu) << offset << " " << n << " " << i;
      }
    }
  }
}

TEST(PoolSimd, TransposeWordsEveryShape) {
  // Shapes below, at and above the vector width (full squares plus scalar edges), strides wider
  // than the rows.
  for (int rows : {0, 1, 4, 15, 16, 17, 33, 49}) {
    for (int cols : {0, 1, 7, 16, 19, 32, 40}) {
      const int src_stride = cols + 3, dst_stride = rows + 5;
      std::vector<uint32_t> src(rows * src_stride + 1), dst(cols * dst_stride + 1, 0xdeadbeefu);
      for (size_t i = 0; i < src.size(); ++i) src[i] = static_cast<uint32_t>(i * 2654435761u);
      tva::simd::transpose_words(src.data(), src_stride, rows, cols, dst.data(), dst_stride);
      for (int c = 0; c < cols; ++c) {
        for (int k = 0; k < dst_stride; ++k) {
          const uint32_t want = k < rows ? src[k * src_stride + c] : 0xdeadbeefu;
          ASSERT_EQ(dst[c * dst_stride + k], want) << rows << " " << cols << " " << c << " " << k;
        }
      }
    }
  }
}

// torchvision's roi_pool scan of one bin of one channel (the oracle).
void reference_bin(
    const std::vector<float>& plane, int width, int h0, int h1, int w0, int w1, float& value,
    int32_t& index) {
  const bool empty = h1 <= h0 || w1 <= w0;
  value = empty ? 0.f : -FLT_MAX;
  index = -1;
  for (int h = h0; h < h1; ++h) {
    for (int w = w0; w < w1; ++w) {
      const int i = h * width + w;
      if (plane[i] > value) {
        value = plane[i];
        index = i;
      }
    }
  }
}

// Runs roi_pool_forward_tile on a map of 16 channels (few distinct values, so many ties; NaN, -inf,
// -FLT_MAX and +inf planted) and compares every bin with torchvision's scan.
void check_tile(
    int height, int width, const std::vector<int64_t>& hb, const std::vector<int64_t>& wb) {
  const int cb = static_cast<int>(tva::simd::kRoiChannelBlock);
  std::vector<std::vector<float>> planes(cb, std::vector<float>(height * width));
  uint32_t state = 12345;
  for (int c = 0; c < cb; ++c) {
    for (float& v : planes[c]) {
      state = state * 1664525u + 1013904223u;
      v = static_cast<float>((state >> 24) % 4);
    }
  }
  planes[1][3 * width + 4] = std::numeric_limits<float>::quiet_NaN();
  for (float& v : planes[2]) v = -std::numeric_limits<float>::infinity();
  for (float& v : planes[3]) v = -FLT_MAX;
  planes[4][5 * width + 6] = std::numeric_limits<float>::infinity();
  std::vector<float> img(height * width * cb);
  for (int p = 0; p < height * width; ++p) {
    for (int c = 0; c < cb; ++c) img[p * cb + c] = planes[c][p];
  }
  const int ph_n = static_cast<int>(hb.size() / 2), pw_n = static_cast<int>(wb.size() / 2);
  const int bins = ph_n * pw_n;
  const tva::simd::PoolRoiBins b{hb.data(), wb.data(), ph_n, pw_n, width};
  std::vector<float> tile(bins * cb);
  std::vector<int32_t> itile(bins * cb);
  tva::simd::roi_pool_forward_tile(b, img.data(), cb, tile.data(), itile.data());
  for (int ph = 0; ph < ph_n; ++ph) {
    for (int pw = 0; pw < pw_n; ++pw) {
      for (int c = 0; c < cb; ++c) {
        float value;
        int32_t index;
        reference_bin(
            planes[c], width, hb[2 * ph], hb[2 * ph + 1], wb[2 * pw], wb[2 * pw + 1], value, index);
        const int at = (ph * pw_n + pw) * cb + c;
        EXPECT_EQ(itile[at], index) << ph << " " << pw << " " << c;
        EXPECT_EQ(tile[at], value) << ph << " " << pw << " " << c;
      }
    }
  }
}

TEST(PoolSimd, RoiPoolTileMatchesTorchvisionScan) {
  // Bin rows and columns of different widths, overlapping, empty, at the borders, one bin row of
  // five bins.
  check_tile(11, 13, {0, 3, 2, 6, 5, 5, 6, 11}, {0, 1, 0, 4, 3, 8, 8, 8, 7, 13});
}

TEST(PoolSimd, RoiPoolTileWideRowsAndLongBins) {
  // Ten bins in a row (more than one group of bins side by side), bins of unequal widths without
  // an empty one (the narrower bins repeat their last column), and bins wider than 32 columns.
  check_tile(
      9, 80, {0, 4, 3, 9},
      {0, 3, 2, 6, 5, 8, 7, 11, 10, 13, 12, 16, 15, 18, 17, 21, 20, 24, 23, 27});
  check_tile(9, 80, {1, 8}, {0, 40, 39, 80, 5, 38});
}

} // namespace
