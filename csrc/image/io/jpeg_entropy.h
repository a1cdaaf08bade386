// A native decoder for the common subset of JPEG: sequential baseline / extended Huffman files
// (SOF0, SOF1) with 8-bit samples, one scan holding every component (1 or 3 components, sampling
// factors 1 or 2). It parses the markers, decodes the Huffman-coded coefficients and runs the IDCT
// (jpeg_idct_simd.h), producing the component planes exactly as libjpeg-turbo's decoder does.
//
// Anything else, and any data libjpeg would treat specially (a bad Huffman code, data running into
// a marker or the end of the file, an unexpected restart marker, tables libjpeg refuses, no EOI
// after the scan), makes the decoder return false: the caller then decodes the file with libjpeg,
// which reports the error or reproduces its own handling of corrupt data. Output written before such
// a failure must be discarded.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace tva {
namespace image {
namespace jpeg {

constexpr int kLookBits = 9;  // Huffman codes up to this length decode with one table lookup
constexpr uint32_t kEndOfBlock = 1u << 16;
// A code and its value bits that fit in this many bits decode with one lookup giving the value.
constexpr int kFastBits = 10;
// Pairs of symbols decode with one lookup of this many bits (HuffTable::pair; 11 and 12 measured
// no faster: the larger tables of two components' AC codes crowd the L1 cache).
constexpr int kPairBits = 10;

struct HuffTable {
  // fast[peek of kFastBits bits] = bits used (code + value bits, 0 when they do not fit: decode
  // through look) | (zigzag advance << 8) | (value << 16, 16-bit two's complement). The advance of
  // an AC symbol of run r is r + 1 (16 for a run of 16 zeros, 64 for the end of block, which then
  // ends the block); DC tables leave it 0.
  uint32_t fast[1 << kFastBits];
  // look[peek of kLookBits bits] = code length | (value bits s << 8) | (run r << 12) | (kEndOfBlock
  // when s == 0 and r != 15, an AC table's end of block); 0 when the code is longer. For DC tables
  // r is 0 and s the whole symbol.
  uint32_t look[1 << kLookBits];
  int32_t maxcode[18];  // libjpeg's jpeg_make_d_derived_tbl: largest code of each length, -1 none
  int32_t valoffset[18];
  uint8_t values[256];
  int num_symbols = 0;
  bool defined = false;
  bool is_ac = false;
  // For blocks whose AC values are not wanted (1x1 reduced-size IDCT): skip[peek of kFastBits
  // bits] = bits of the whole symbols (code + value bits) that fit, up to and including an end of
  // block (0: none fits) | (their zigzag advance, the end of block's left out, << 8) | (1 << 16
  // when they end with the end of block). Built on demand (skip_built).
  uint32_t skip[1 << kFastBits];
  bool skip_built = false;
  // For AC tables: pair[peek of kPairBits bits] = two symbols at once when both are decided by the
  // peek (code and value bits of each inside it), else the one of fast, else 0: bits of both | (bits
  // of the first << 8) | (zigzag advance of the first << 16) | (of the second << 24, 0 when there is
  // none) | (value of the first << 32) | (of the second << 48; the first's when there is none, so
  // that storing it again changes nothing). An end of block is never followed by a second symbol.
  uint64_t pair[1 << kPairBits];
  bool dc_valid = false;  // every symbol <= 15 (libjpeg refuses other tables as DC tables)
};

struct Component {
  int id = 0;
  int h = 1;  // sampling factors
  int v = 1;
  int quant = 0;  // quantisation table slot
  int dc = 0;     // Huffman table slots of the scan
  int ac = 0;
  int64_t width_in_blocks = 0;  // blocks holding image data (libjpeg's width_in_blocks)
  int64_t height_in_blocks = 0;
  int64_t downsampled_width = 0;  // samples of the component (libjpeg's downsampled_width)
  int64_t downsampled_height = 0;
};

struct FrameHeader {
  int64_t width = 0;
  int64_t height = 0;
  int num_components = 0;
  Component comp[3];
  int hmax = 1;
  int vmax = 1;
  int restart_interval = 0;
  int scan_comps = 0;
  int scan_order[3] = {0, 0, 0};  // frame component index of each scan component (MCU order)
  int64_t mcus_per_row = 0;
  int64_t mcu_rows = 0;
  bool saw_jfif = false;
  bool saw_adobe = false;
  int adobe_transform = 0;
};

class BaselineDecoder {
 public:
  // Parses the markers up to the first scan. False when the file is not in the supported subset.
  bool init(const uint8_t* data, size_t size);
  const FrameHeader& header() const { return hdr_; }

  // Reduced-size output: component c's blocks come out as size x size samples (8, 4, 2 or 1:
  // libjpeg's DCT_scaled_size and its IDCT for that size, see jpeg_idct_simd.h). 8 by default.
  // Call after init.
  void set_block_size(int c, int size);

  // Decodes the next MCU row and writes the IDCT output of every block holding image data: row r
  // of component c's part of this MCU row (r < v_c * size) at out[c] + r * stride[c], block column
  // x at byte size * x. Components not wanted may have out[c] == nullptr (entropy decoding only).
  bool decode_row(uint8_t* const* out, const int64_t* stride);
  // Like decode_row, but hands each block's quantised coefficients (natural order) to the caller:
  // coef[c] + ((by * coef_blocks_wide[c]) + bx) * 64, block row by counted from the top of this
  // MCU row. Dummy blocks past the image are written too when they fit in coef_blocks_wide.
  bool decode_row_coefficients(int16_t* const* coef, const int64_t* coef_blocks_wide);
  // After the last row: true when the scan ended cleanly and EOI follows.
  bool finish();

  int64_t rows_decoded() const { return row_; }

 private:
  template <class BlockFn, class McuFn>
  bool decode_row_impl(BlockFn&& fn, McuFn&& mcu_done);
  bool process_restart();
  bool unstuff_scan(const uint8_t* from);
  bool find_marker(const uint8_t** at, uint8_t* code) const;

  FrameHeader hdr_;
  HuffTable dc_[4];
  HuffTable ac_[4];
  alignas(32) int16_t quant_[4][64];  // natural order (as libjpeg's SIMD multiplier tables)
  bool quant_defined_[4] = {false, false, false, false};

  const uint8_t* begin_ = nullptr;
  const uint8_t* end_ = nullptr;

  // The entropy-coded segments of the scan (between restart markers) with the byte stuffing
  // removed, one after the other, then padding for the reads of one block past the data (a block
  // that consumes bits past its segment makes the decoder give up, as libjpeg would have gone on
  // with zero bits after a warning).
  struct Segment {
    size_t offset = 0;            // in unstuffed_
    int64_t bits = 0;             // data bits
    const uint8_t* marker = nullptr;  // the 0xFF of the marker that ends it; nullptr: end of file
  };
  std::vector<uint8_t> unstuffed_;
  std::vector<Segment> segments_;
  size_t segment_ = 0;
  const uint8_t* seg_data_ = nullptr;
  int64_t seg_bits_ = 0;
  uint64_t pos_ = 0;  // bit position in the current segment
  bool bad_ = false;  // a bad Huffman code was met

  int32_t last_dc_[3] = {0, 0, 0};
  int restarts_to_go_ = 0;
  int next_restart_ = 0;
  int64_t row_ = 0;
  int block_size_[3] = {8, 8, 8};
  alignas(64) int16_t blocks_[10][64] = {};  // zero between MCUs (zeroed after each one)
};

}  // namespace jpeg
}  // namespace image
}  // namespace tva
