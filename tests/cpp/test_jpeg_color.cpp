// The SIMD colour conversion and fancy upsampling used by raw-plane JPEG decoding, against scalar
// transcriptions of libjpeg's definitions: every (Y, Cb, Cr) combination through the conversion
// tables of jdcolor.c, and random chroma rows of many widths through jdsample.c's triangle filter.
#include <gtest/gtest.h>
#include <hwy/targets.h>

#include <cstdint>
#include <random>
#include <vector>

#include "simd_targets.h"
#include "image/io/jpeg_color_simd.h"

namespace {

using tva::image::simd::upsample_h2_fancy;
using tva::image::simd::ycc_to_rgb_row;
using tva::image::simd::upsample_column_sums;
using tva::image::simd::ycc_to_rgb_row_upsampled;

// jdcolor.c's build_ycc_rgb_table and ycc_rgb_convert, table by table.
struct YccTables {
  int cr_r[256], cb_b[256];
  int32_t cr_g[256], cb_g[256];
  YccTables() {
    auto fix = [](double v) { return static_cast<int32_t>(v * 65536.0 + 0.5); };
    for (int i = 0; i < 256; ++i) {
      const int32_t x = i - 128;
      cr_r[i] = static_cast<int>((fix(1.40200) * x + 32768) >> 16);
      cb_b[i] = static_cast<int>((fix(1.77200) * x + 32768) >> 16);
      cr_g[i] = -fix(0.71414) * x;
      cb_g[i] = -fix(0.34414) * x + 32768;
    }
  }
};

uint8_t clamp(int v) { return static_cast<uint8_t>(v < 0 ? 0 : v > 255 ? 255 : v); }

using tva_test::for_each_target;

TEST(JpegColor, EveryYCbCrCombination) {
  static const YccTables t;
  // For each Y, every (Cb, Cr) pair in one row (65536 pixels: whole vectors and no tail) and in a
  // row of odd length (the scalar tail).
  std::vector<uint8_t> y(65536), cb(65536), cr(65536), rgb(3 * 65536);
  for (int i = 0; i < 65536; ++i) {
    cb[i] = static_cast<uint8_t>(i & 255);
    cr[i] = static_cast<uint8_t>(i >> 8);
  }
  for_each_target([&] {
  for (int yv = 0; yv < 256; ++yv) {
    std::fill(y.begin(), y.end(), static_cast<uint8_t>(yv));
    const int64_t n = (yv % 2 == 0) ? 65536 : 65536 - yv;
    ycc_to_rgb_row(y.data(), cb.data(), cr.data(), n, rgb.data());
    for (int64_t i = 0; i < n; ++i) {
      const int r = yv + t.cr_r[cr[i]];
      const int g = yv + static_cast<int>((t.cb_g[cb[i]] + t.cr_g[cr[i]]) >> 16);
      const int b = yv + t.cb_b[cb[i]];
      ASSERT_EQ(rgb[3 * i], clamp(r)) << "y " << yv << " cb " << int(cb[i]) << " cr " << int(cr[i]);
      ASSERT_EQ(rgb[3 * i + 1], clamp(g)) << "y " << yv << " cb " << int(cb[i]) << " cr " << int(cr[i]);
      ASSERT_EQ(rgb[3 * i + 2], clamp(b)) << "y " << yv << " cb " << int(cb[i]) << " cr " << int(cr[i]);
    }
  }
  });
}

// jdsample.c's h2v1_fancy_upsample / h2v2_fancy_upsample for one output row, column by column.
std::vector<uint8_t> reference_upsample(const std::vector<uint8_t>& near, const std::vector<uint8_t>* far) {
  const int64_t n = static_cast<int64_t>(near.size());
  std::vector<uint8_t> out(2 * n);
  auto cs = [&](int64_t i) { return far ? near[i] * 3 + (*far)[i] : near[i]; };
  for (int64_t i = 0; i < n; ++i) {
    const int c = cs(i);
    if (far) {
      out[2 * i] = static_cast<uint8_t>(i == 0 ? (c * 4 + 8) >> 4 : (c * 3 + cs(i - 1) + 8) >> 4);
      out[2 * i + 1] = static_cast<uint8_t>(i == n - 1 ? (c * 4 + 7) >> 4 : (c * 3 + cs(i + 1) + 7) >> 4);
    } else {
      out[2 * i] = static_cast<uint8_t>(i == 0 ? c : (c * 3 + cs(i - 1) + 1) >> 2);
      out[2 * i + 1] = static_cast<uint8_t>(i == n - 1 ? c : (c * 3 + cs(i + 1) + 2) >> 2);
    }
  }
  return out;
}

TEST(JpegColor, FancyUpsamplingMatchesLibjpeg) {
  for_each_target([] {
  std::mt19937 rng(3);
  for (int64_t n = 3; n < 300; n += (n < 80 ? 1 : 37)) {
    for (int vertical = 0; vertical < 2; ++vertical) {
      std::vector<uint8_t> near(n), far(n);
      for (int64_t i = 0; i < n; ++i) {
        // Extremes often, so that the 16-bit sums reach their largest values.
        near[i] = static_cast<uint8_t>(rng() % 3 == 0 ? 255 * (rng() % 2) : rng() % 256);
        far[i] = static_cast<uint8_t>(rng() % 3 == 0 ? 255 * (rng() % 2) : rng() % 256);
      }
      std::vector<uint8_t> padded_near(near), padded_far(far);
      padded_near.resize(n + 64, 0xAB);
      padded_far.resize(n + 64, 0xCD);
      std::vector<int16_t> colsum(n + 2 + 64);
      std::vector<uint8_t> out(2 * n + 128);
      upsample_h2_fancy(padded_near.data(), vertical ? padded_far.data() : nullptr, n,
                        colsum.data(), out.data());
      const auto ref = reference_upsample(near, vertical ? &far : nullptr);
      for (int64_t i = 0; i < 2 * n; ++i) {
        ASSERT_EQ(out[i], ref[i]) << "width " << n << " vertical " << vertical << " column " << i;
      }
    }
  }
  });
}

// The conversion that upsamples the chroma on the way equals upsampling (checked above) followed by
// the conversion, for odd and even widths around the vector sizes.
TEST(JpegColor, UpsamplingConversionEqualsUpsampleThenConvert) {
  for_each_target([] {
  std::mt19937 rng(7);
  for (int64_t n = 5; n < 400; n += (n < 140 ? 1 : 29)) {
    const int64_t cw = (n + 1) / 2;
    for (int vertical = 0; vertical < 2; ++vertical) {
      std::vector<uint8_t> y(n + 64), near[2], far[2];
      for (auto& v : y) v = static_cast<uint8_t>(rng() % 4 == 0 ? 255 * (rng() % 2) : rng() % 256);
      for (int c = 0; c < 2; ++c) {
        near[c].resize(cw + 64);
        far[c].resize(cw + 64);
        for (int64_t i = 0; i < cw + 64; ++i) {
          near[c][i] = static_cast<uint8_t>(rng() % 3 == 0 ? 255 * (rng() % 2) : rng() % 256);
          far[c][i] = static_cast<uint8_t>(rng() % 3 == 0 ? 255 * (rng() % 2) : rng() % 256);
        }
      }
      std::vector<int16_t> colsum(cw + 2 + 128), sums[2];
      std::vector<uint8_t> up[2];
      for (int c = 0; c < 2; ++c) {
        up[c].resize(2 * cw + 128);
        upsample_h2_fancy(near[c].data(), vertical ? far[c].data() : nullptr, cw, colsum.data(),
                          up[c].data());
        sums[c].resize(cw + 2 + 128);
        upsample_column_sums(near[c].data(), vertical ? far[c].data() : nullptr, cw, sums[c].data());
      }
      std::vector<uint8_t> want(3 * n), got(3 * n + 1, 0xEE);
      ycc_to_rgb_row(y.data(), up[0].data(), up[1].data(), n, want.data());
      ycc_to_rgb_row_upsampled(y.data(), sums[0].data(), sums[1].data(), vertical != 0, n, got.data());
      ASSERT_EQ(got[3 * n], 0xEE) << "wrote past the row, width " << n;
      for (int64_t i = 0; i < 3 * n; ++i) {
        ASSERT_EQ(got[i], want[i]) << "width " << n << " vertical " << vertical << " byte " << i;
      }
    }
  }
  });
}

}  // namespace
