// The native baseline JPEG decoder (jpeg_entropy.h, jpeg_idct_simd.h) against libjpeg-turbo on
// files libjpeg writes here: the quantised coefficients against jpeg_read_coefficients and the IDCT
// output planes against jpeg_read_raw_data, for many sizes (1x1 to odd sizes), samplings, qualities,
// restart intervals, grayscale, 16-bit quantisation tables and extreme coefficients; corrupt and
// truncated data must make the decoder give up (the caller then uses libjpeg), never misbehave.
#include <gtest/gtest.h>
#include <hwy/targets.h>
#include <jpeglib.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "simd_targets.h"
#include "image/io/jpeg_entropy.h"
#include "image/io/jpeg_idct_simd.h"

namespace {

using tva::image::jpeg::BaselineDecoder;
using tva::image::jpeg::FrameHeader;

struct Spec {
  int width = 16;
  int height = 16;
  int components = 3;
  int h = 2, v = 2;  // luma sampling factors (chroma 1x1)
  int quality = 90;
  int restart_interval = 0;  // MCUs
  bool optimize = false;
  bool noise = false;
  int seed = 0;
};

std::vector<uint8_t> image_pixels(const Spec& s) {
  std::mt19937 rng(s.seed);
  std::vector<uint8_t> px(static_cast<size_t>(s.width) * s.height * s.components);
  for (int y = 0; y < s.height; ++y) {
    for (int x = 0; x < s.width; ++x) {
      for (int c = 0; c < s.components; ++c) {
        int v = s.noise ? static_cast<int>(rng() & 255)
                        : (x * 255 / (s.width > 1 ? s.width - 1 : 1) * (c + 1) + y * 7 * (c + 2)) % 256 +
                              static_cast<int>(rng() % 41) - 20;
        px[(static_cast<size_t>(y) * s.width + x) * s.components + c] =
            static_cast<uint8_t>(v < 0 ? 0 : v > 255 ? 255 : v);
      }
    }
  }
  return px;
}

std::vector<uint8_t> encode(const Spec& s) {
  jpeg_compress_struct c;
  jpeg_error_mgr err;
  c.err = jpeg_std_error(&err);
  jpeg_create_compress(&c);
  unsigned char* mem = nullptr;
  unsigned long size = 0;
  jpeg_mem_dest(&c, &mem, &size);
  c.image_width = s.width;
  c.image_height = s.height;
  c.input_components = s.components;
  c.in_color_space = s.components == 3 ? JCS_RGB : JCS_GRAYSCALE;
  jpeg_set_defaults(&c);
  jpeg_set_quality(&c, s.quality, TRUE);
  if (s.components == 3) {
    c.comp_info[0].h_samp_factor = s.h;
    c.comp_info[0].v_samp_factor = s.v;
  }
  c.restart_interval = s.restart_interval;
  c.optimize_coding = s.optimize ? TRUE : FALSE;
  jpeg_start_compress(&c, TRUE);
  const std::vector<uint8_t> px = image_pixels(s);
  while (c.next_scanline < c.image_height) {
    JSAMPROW row = const_cast<uint8_t*>(px.data()) +
                   static_cast<size_t>(c.next_scanline) * s.width * s.components;
    jpeg_write_scanlines(&c, &row, 1);
  }
  jpeg_finish_compress(&c);
  std::vector<uint8_t> out(mem, mem + size);
  jpeg_destroy_compress(&c);
  std::free(mem);
  return out;
}

// Per component: the coefficient blocks libjpeg reads (width_in_blocks x height_in_blocks).
std::vector<std::vector<int16_t>> libjpeg_coefficients(const std::vector<uint8_t>& data) {
  jpeg_decompress_struct d;
  jpeg_error_mgr err;
  d.err = jpeg_std_error(&err);
  jpeg_create_decompress(&d);
  jpeg_mem_src(&d, data.data(), data.size());
  jpeg_read_header(&d, TRUE);
  jvirt_barray_ptr* arrays = jpeg_read_coefficients(&d);
  std::vector<std::vector<int16_t>> out(d.num_components);
  for (int c = 0; c < d.num_components; ++c) {
    const jpeg_component_info& comp = d.comp_info[c];
    out[c].resize(static_cast<size_t>(comp.width_in_blocks) * comp.height_in_blocks * 64);
    for (JDIMENSION by = 0; by < comp.height_in_blocks; ++by) {
      JBLOCKARRAY row = d.mem->access_virt_barray(reinterpret_cast<j_common_ptr>(&d), arrays[c], by,
                                                  1, FALSE);
      for (JDIMENSION bx = 0; bx < comp.width_in_blocks; ++bx) {
        std::memcpy(&out[c][(static_cast<size_t>(by) * comp.width_in_blocks + bx) * 64], row[0][bx],
                    64 * sizeof(int16_t));
      }
    }
  }
  jpeg_finish_decompress(&d);
  jpeg_destroy_decompress(&d);
  return out;
}

// Per component: the planes after libjpeg's IDCT (jpeg_read_raw_data) at 1/denom of full size,
// width_in_blocks * size wide and height_in_blocks * size high (size: the component's
// DCT_scaled_size, also returned in block_size).
std::vector<std::vector<uint8_t>> libjpeg_planes(const std::vector<uint8_t>& data, int denom = 1,
                                                 std::vector<int>* block_size = nullptr) {
  jpeg_decompress_struct d;
  jpeg_error_mgr err;
  d.err = jpeg_std_error(&err);
  jpeg_create_decompress(&d);
  jpeg_mem_src(&d, data.data(), data.size());
  jpeg_read_header(&d, TRUE);
  d.raw_data_out = TRUE;
  d.dct_method = JDCT_ISLOW;
  d.scale_num = 1;
  d.scale_denom = static_cast<unsigned int>(denom);
  jpeg_start_decompress(&d);
  const int nc = d.num_components;
  std::vector<std::vector<uint8_t>> planes(nc);
  std::vector<int64_t> widths(nc), heights(nc);
  std::vector<int> sizes(nc);
  for (int c = 0; c < nc; ++c) {
    sizes[c] = d.comp_info[c].DCT_scaled_size;
    widths[c] = static_cast<int64_t>(d.comp_info[c].width_in_blocks) * sizes[c];
    heights[c] = static_cast<int64_t>(d.comp_info[c].height_in_blocks) * sizes[c];
    planes[c].resize(static_cast<size_t>(widths[c] * heights[c]));
  }
  if (block_size != nullptr) {
    *block_size = sizes;
  }
  std::vector<uint8_t> scratch[3];
  for (JDIMENSION imcu = 0; imcu < d.total_iMCU_rows; ++imcu) {
    JSAMPROW rows[3][16];
    for (int c = 0; c < nc; ++c) {
      const int vr = d.comp_info[c].v_samp_factor * sizes[c];
      scratch[c].assign(static_cast<size_t>(vr * (widths[c] + 64)), 0);
      for (int r = 0; r < vr; ++r) {
        rows[c][r] = scratch[c].data() + r * (widths[c] + 64);
      }
    }
    JSAMPARRAY arr[3] = {rows[0], rows[1], rows[2]};
    jpeg_read_raw_data(&d, arr, d.max_v_samp_factor * d.min_DCT_scaled_size);
    for (int c = 0; c < nc; ++c) {
      const int vr = d.comp_info[c].v_samp_factor * sizes[c];
      for (int r = 0; r < vr; ++r) {
        const int64_t y = static_cast<int64_t>(imcu) * vr + r;
        if (y < heights[c]) {
          std::memcpy(&planes[c][y * widths[c]], rows[c][r], widths[c]);
        }
      }
    }
  }
  jpeg_finish_decompress(&d);
  jpeg_destroy_decompress(&d);
  return planes;
}

std::string describe(const Spec& s) {
  char buf[200];
  std::snprintf(buf, sizeof(buf), "%dx%d comps %d h%dv%d q%d rst %d opt %d noise %d", s.width,
                s.height, s.components, s.h, s.v, s.quality, s.restart_interval, s.optimize,
                s.noise);
  return buf;
}

void check_coefficients(const std::vector<uint8_t>& data, const std::string& what) {
  const auto ref = libjpeg_coefficients(data);
  BaselineDecoder dec;
  ASSERT_TRUE(dec.init(data.data(), data.size())) << what;
  const FrameHeader& h = dec.header();
  ASSERT_EQ(static_cast<size_t>(h.num_components), ref.size()) << what;
  const bool single = h.scan_comps == 1;
  std::vector<std::vector<int16_t>> rows(h.num_components);
  int16_t* ptrs[3] = {nullptr, nullptr, nullptr};
  int64_t wide[3] = {0, 0, 0};
  for (int c = 0; c < h.num_components; ++c) {
    const int bh = single ? 1 : h.comp[c].h;
    const int bv = single ? 1 : h.comp[c].v;
    wide[c] = h.mcus_per_row * bh;
    rows[c].assign(static_cast<size_t>(wide[c] * bv * 64), 0);
    ptrs[c] = rows[c].data();
  }
  for (int64_t my = 0; my < h.mcu_rows; ++my) {
    ASSERT_TRUE(dec.decode_row_coefficients(ptrs, wide)) << what << " row " << my;
    for (int c = 0; c < h.num_components; ++c) {
      const auto& comp = h.comp[c];
      const int bv = single ? 1 : comp.v;
      for (int yi = 0; yi < bv; ++yi) {
        const int64_t by = my * bv + yi;
        if (by >= comp.height_in_blocks) {
          continue;
        }
        for (int64_t bx = 0; bx < comp.width_in_blocks; ++bx) {
          ASSERT_EQ(0, std::memcmp(&rows[c][(yi * wide[c] + bx) * 64],
                                   &ref[c][(by * comp.width_in_blocks + bx) * 64], 128))
              << what << " component " << c << " block " << bx << "," << by;
        }
      }
    }
  }
  EXPECT_TRUE(dec.finish()) << what;
}

void check_planes(const std::vector<uint8_t>& data, const std::string& what, int denom = 1) {
  std::vector<int> size;
  const auto ref = libjpeg_planes(data, denom, &size);
  BaselineDecoder dec;
  ASSERT_TRUE(dec.init(data.data(), data.size())) << what;
  const FrameHeader& h = dec.header();
  const bool single = h.scan_comps == 1;
  std::vector<std::vector<uint8_t>> planes(h.num_components);
  int64_t stride[3] = {0, 0, 0};
  for (int c = 0; c < h.num_components; ++c) {
    dec.set_block_size(c, size[c]);
    stride[c] = h.comp[c].width_in_blocks * size[c];
    const int bv = single ? 1 : h.comp[c].v;
    planes[c].assign(static_cast<size_t>(stride[c] * (h.mcu_rows * bv * size[c])), 0);
  }
  for (int64_t my = 0; my < h.mcu_rows; ++my) {
    uint8_t* out[3] = {nullptr, nullptr, nullptr};
    for (int c = 0; c < h.num_components; ++c) {
      const int bv = single ? 1 : h.comp[c].v;
      out[c] = planes[c].data() + my * bv * size[c] * stride[c];
    }
    ASSERT_TRUE(dec.decode_row(out, stride)) << what;
  }
  ASSERT_TRUE(dec.finish()) << what;
  for (int c = 0; c < h.num_components; ++c) {
    const int64_t rows = h.comp[c].height_in_blocks * size[c];
    for (int64_t y = 0; y < rows; ++y) {
      ASSERT_EQ(0, std::memcmp(&planes[c][y * stride[c]], &ref[c][y * stride[c]], stride[c]))
          << what << " 1/" << denom << " component " << c << " row " << y;
    }
  }
}

std::vector<Spec> specs() {
  std::vector<Spec> out;
  const int sizes[][2] = {{1, 1},  {2, 3},  {7, 1},  {8, 8},   {9, 17},  {15, 16}, {16, 15},
                          {17, 33}, {33, 17}, {31, 47}, {64, 1}, {1, 64}, {65, 63}, {130, 47}};
  const int samplings[][2] = {{2, 2}, {2, 1}, {1, 2}, {1, 1}};
  int seed = 0;
  for (const auto& sz : sizes) {
    for (const auto& smp : samplings) {
      Spec s;
      s.width = sz[0];
      s.height = sz[1];
      s.h = smp[0];
      s.v = smp[1];
      s.quality = 1 + (seed * 37) % 100;
      s.restart_interval = seed % 3 == 0 ? 1 + seed % 4 : 0;
      s.optimize = seed % 2 == 1;
      s.noise = seed % 5 == 2;
      s.seed = seed++;
      out.push_back(s);
    }
    Spec g;
    g.width = sz[0];
    g.height = sz[1];
    g.components = 1;
    g.quality = 1 + (seed * 53) % 100;
    g.restart_interval = seed % 2 ? 3 : 0;
    g.noise = seed % 3 == 0;
    g.seed = seed++;
    out.push_back(g);
  }
  for (int q : {1, 5, 50, 75, 95, 100}) {
    Spec s;
    s.width = 61;
    s.height = 45;
    s.quality = q;
    s.noise = true;
    s.seed = q;
    out.push_back(s);
  }
  return out;
}

TEST(JpegNative, CoefficientsEqualLibjpeg) {
  for (const Spec& s : specs()) {
    check_coefficients(encode(s), describe(s));
  }
}

using tva_test::for_each_target;

TEST(JpegNative, PlanesEqualLibjpegIdct) {
  for_each_target([] {
    for (const Spec& s : specs()) {
      check_planes(encode(s), describe(s));
    }
  });
}

// Reduced-size decoding: libjpeg-turbo's 4x4, 2x2 and 1x1 IDCTs (and the full one for components
// it scales up, e.g. the chroma of 4:2:0 files at 1/2).
TEST(JpegNative, ReducedPlanesEqualLibjpeg) {
  for_each_target([] {
    for (const Spec& s : specs()) {
      const std::vector<uint8_t> data = encode(s);
      for (int denom : {2, 4, 8}) {
        check_planes(data, describe(s), denom);
      }
    }
  });
}

// Coefficients chosen at random (up to +-1023, the encoder's limit) with 16-bit quantisation
// tables: the IDCT's 16-bit products and saturations must follow libjpeg-turbo's exactly.
TEST(JpegNative, ExtremeCoefficientsEqualLibjpegIdct) {
  for_each_target([] {
  for (int round = 0; round < 6; ++round) {
    jpeg_compress_struct c;
    jpeg_error_mgr err;
    c.err = jpeg_std_error(&err);
    err.emit_message = [](j_common_ptr, int) {};  // "quantization tables are too coarse": wanted
    jpeg_create_compress(&c);
    unsigned char* mem = nullptr;
    unsigned long size = 0;
    jpeg_mem_dest(&c, &mem, &size);
    c.image_width = 40;
    c.image_height = 24;
    c.input_components = 1;
    c.in_color_space = JCS_GRAYSCALE;
    jpeg_set_defaults(&c);
    std::mt19937 rng(round);
    unsigned int table[64];
    for (int i = 0; i < 64; ++i) {
      table[i] = round < 2 ? 1 + rng() % 255 : 1 + rng() % (round < 4 ? 2000 : 32767);
    }
    jpeg_add_quant_table(&c, 0, table, 100, FALSE);
    jvirt_barray_ptr arrays[1];
    jpeg_component_info& comp = c.comp_info[0];
    comp.width_in_blocks = 5;
    comp.height_in_blocks = 3;
    arrays[0] = c.mem->request_virt_barray(reinterpret_cast<j_common_ptr>(&c), JPOOL_IMAGE, TRUE,
                                           5, 3, 1);
    jpeg_write_coefficients(&c, arrays);
    for (JDIMENSION by = 0; by < 3; ++by) {
      JBLOCKARRAY row = c.mem->access_virt_barray(reinterpret_cast<j_common_ptr>(&c), arrays[0], by,
                                                  1, TRUE);
      for (int bx = 0; bx < 5; ++bx) {
        for (int k = 0; k < 64; ++k) {
          const int kind = static_cast<int>((bx + by * 5) % 4);
          int v = 0;
          if (kind == 0) {
            v = k == 0 ? static_cast<int>(rng() % 2047) - 1023 : 0;  // DC only
          } else if (kind == 1) {
            v = k < 8 ? static_cast<int>(rng() % 2047) - 1023 : 0;  // first row only
          } else {
            v = rng() % 3 == 0 ? static_cast<int>(rng() % 2047) - 1023 : 0;
          }
          row[0][bx][k] = static_cast<JCOEF>(v);
        }
      }
    }
    jpeg_finish_compress(&c);
    std::vector<uint8_t> data(mem, mem + size);
    jpeg_destroy_compress(&c);
    std::free(mem);
    for (int denom : {1, 2, 4, 8}) {
      check_planes(data, "extreme coefficients round " + std::to_string(round), denom);
    }
  }
  });
}

TEST(JpegNative, DcOnlyShortcutEqualsFullIdct) {
  for_each_target([] {
  std::mt19937 rng(3);
  for (int i = 0; i < 20000; ++i) {
    alignas(32) int16_t coef[64] = {0};
    alignas(32) int16_t quant[64];
    for (auto& q : quant) {
      q = static_cast<int16_t>(rng());
    }
    coef[0] = static_cast<int16_t>(i < 10000 ? static_cast<int>(rng() % 4096) - 2048 : rng());
    uint8_t out[64];
    tva::image::simd::idct_islow(coef, quant, out, 8);
    const uint8_t v = tva::image::simd::idct_islow_dc_value(coef[0], quant[0]);
    for (int k = 0; k < 64; ++k) {
      ASSERT_EQ(out[k], v) << coef[0] << " * " << quant[0];
    }
  }
  });
}

// The shortcut for blocks whose coefficients all lie in rows and columns 0..3, on random blocks
// with any 16-bit values (wrapping products included): identical to the full IDCT.
TEST(JpegNative, Low4ShortcutEqualsFullIdct) {
  for_each_target([] {
    std::mt19937 rng(5);
    for (int i = 0; i < 20000; ++i) {
      alignas(32) int16_t coef[64] = {0};
      alignas(32) int16_t quant[64];
      for (auto& q : quant) {
        q = static_cast<int16_t>(i % 2 ? rng() : 1 + rng() % 255);
      }
      for (int r = 0; r < 4; ++r) {
        for (int c = 0; c < 4; ++c) {
          if (rng() % 3 != 0) {
            coef[8 * r + c] = static_cast<int16_t>(i % 4 < 2 ? static_cast<int>(rng() % 2047) - 1023
                                                             : static_cast<int>(rng()));
          }
        }
      }
      uint8_t full[64], low4[64];
      tva::image::simd::idct_islow(coef, quant, full, 8, false);
      tva::image::simd::idct_islow(coef, quant, low4, 8, true);
      ASSERT_EQ(0, std::memcmp(full, low4, 64)) << "block " << i;
    }
  });
}

// idct_blocks transforms several blocks at once (one per 128-bit part of a vector, grouped by the
// path they take): on random batches mixing every kind of block (DC only, coefficients in rows and
// columns 0..3, rows 1..7 zero, any), several quantisation tables, output strides and reduced
// sizes, each block must come out as when it is transformed alone.
TEST(JpegNative, BatchedIdctEqualsOneBlockIdct) {
  using tva::image::simd::IdctJob;
  for_each_target([] {
    std::mt19937 rng(11);
    constexpr int kMaxJobs = 16;
    alignas(32) int16_t quant[3][64];
    for (int i = 0; i < 64; ++i) {
      quant[0][i] = static_cast<int16_t>(1 + rng() % 64);
      quant[1][i] = static_cast<int16_t>(1 + rng() % 255);
      quant[2][i] = static_cast<int16_t>(rng());
    }
    const int64_t strides[3] = {8, 24, 67};
    alignas(32) int16_t coef[kMaxJobs][64];
    std::vector<uint8_t> got(static_cast<size_t>(kMaxJobs) * 8 * 67), want(got.size());
    for (int round = 0; round < 3000; ++round) {
      const int n = 1 + static_cast<int>(rng() % kMaxJobs);
      IdctJob jobs[kMaxJobs];
      for (int b = 0; b < n; ++b) {
        std::memset(coef[b], 0, sizeof(coef[b]));
        const int kind = static_cast<int>(rng() % 5);  // 0 DC, 1 low4, 2 rows 1..7 zero, 3 low4 row 0, 4 any
        const bool small = rng() % 2 == 0;
        for (int i = 0; i < 64; ++i) {
          const int r = i / 8, c = i % 8;
          const bool allowed = i == 0 || (kind == 1 && r < 4 && c < 4) || (kind == 2 && r == 0) ||
                               (kind == 3 && r == 0 && c < 4) || kind == 4;
          if (allowed && (i == 0 || rng() % 3 != 0)) {
            coef[b][i] = static_cast<int16_t>(small ? static_cast<int>(rng() % 2047) - 1023
                                                    : static_cast<int>(rng()));
          }
        }
        const int64_t stride = strides[rng() % 3];
        const int size = rng() % 8 == 0 ? 1 << (rng() % 3) : 8;  // sometimes 1, 2 or 4
        jobs[b] = IdctJob{coef[b], quant[rng() % 3], nullptr, stride, size};
      }
      std::fill(got.begin(), got.end(), 0);
      std::fill(want.begin(), want.end(), 0);
      for (int b = 0; b < n; ++b) {
        jobs[b].out = got.data() + 8 * 67 * b;  // 8 rows of any of the strides
      }
      tva::image::simd::idct_blocks(jobs, n);
      for (int b = 0; b < n; ++b) {
        IdctJob one = jobs[b];
        one.out = want.data() + 8 * 67 * b;
        if (one.size == 8) {
          tva::image::simd::idct_islow(one.coef, one.quant, one.out, one.stride);
        } else {
          tva::image::simd::idct_blocks(&one, 1);
        }
      }
      ASSERT_EQ(0, std::memcmp(got.data(), want.data(), got.size())) << "round " << round << ", " << n
                                                                      << " blocks";
    }
  });
}

// Truncation, cut-off scans, flipped bytes: the decoder either decodes or gives up; it never reads
// outside the data (AddressSanitizer in the fuzz build) and never claims success on data libjpeg
// would see as short.
TEST(JpegNative, CorruptDataGivesUp) {
  Spec s;
  s.width = 67;
  s.height = 45;
  s.restart_interval = 2;
  const std::vector<uint8_t> good = encode(s);
  for (size_t keep = 0; keep < good.size(); keep += 7) {
    std::vector<uint8_t> cut(good.begin(), good.begin() + keep);
    BaselineDecoder dec;
    if (!dec.init(cut.data(), cut.size())) {
      continue;
    }
    const FrameHeader& h = dec.header();
    std::vector<std::vector<uint8_t>> planes(3);
    uint8_t* out[3];
    int64_t stride[3];
    for (int c = 0; c < 3; ++c) {
      stride[c] = h.comp[c].width_in_blocks * 8;
      planes[c].assign(static_cast<size_t>(stride[c] * 16), 0);
      out[c] = planes[c].data();
    }
    bool ok = true;
    for (int64_t my = 0; my < h.mcu_rows && ok; ++my) {
      ok = dec.decode_row(out, stride);
    }
    EXPECT_FALSE(ok && dec.finish()) << "truncated to " << keep << " of " << good.size();
  }
  std::mt19937 rng(11);
  for (int i = 0; i < 300; ++i) {
    std::vector<uint8_t> bad = good;
    for (int j = 0; j < 4; ++j) {
      bad[rng() % bad.size()] = static_cast<uint8_t>(rng());
    }
    BaselineDecoder dec;
    if (!dec.init(bad.data(), bad.size())) {
      continue;
    }
    const FrameHeader& h = dec.header();
    std::vector<std::vector<uint8_t>> planes(h.num_components);
    uint8_t* out[3] = {nullptr, nullptr, nullptr};
    int64_t stride[3] = {0, 0, 0};
    for (int c = 0; c < h.num_components; ++c) {
      stride[c] = h.comp[c].width_in_blocks * 8;
      planes[c].assign(static_cast<size_t>(stride[c] * 16 + 64), 0);
      out[c] = planes[c].data();
    }
    for (int64_t my = 0; my < h.mcu_rows && dec.decode_row(out, stride); ++my) {
    }
  }
}

}  // namespace
