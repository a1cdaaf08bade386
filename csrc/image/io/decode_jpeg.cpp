// JPEG decoding through libjpeg-turbo's libjpeg API, with the settings PIL and torchvision use
// (JDCT_ISLOW, fancy upsampling, libjpeg's colour conversion), so full-size pixels are identical.
// RGB decodes of sequential Huffman files (full or reduced size) go through this project's own
// entropy decoder and IDCT first (jpeg_entropy.h), libjpeg taking over whenever it gives up (TVA_JPEG_NATIVE=0 in
// the environment: libjpeg only).
//
// libjpeg reports fatal errors by calling error_exit, whose default ends the process. Ours
// long-jumps back into the C-style function that called libjpeg; those functions hold no C++
// objects with destructors, and the caller turns the failure into a c10::Error.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/util/Exception.h>
#include <jerror.h>
#include <jpeglib.h>

#include <algorithm>
#include <atomic>
#include <csetjmp>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "image/io/decode.h"
#include "image/io/jpeg_color_simd.h"
#include "image/io/jpeg_entropy.h"

namespace tva {
namespace image {
namespace {

// Progressive files may hold any number of scans, each a pass over every coefficient; bounded like
// libjpeg-turbo's TJFLAG_LIMITSCANS so that a malicious file cannot keep a worker busy for minutes.
constexpr int kMaxScans = 500;

struct ErrorManager {
  jpeg_error_mgr pub;  // first member: libjpeg passes &pub, we cast back
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

extern "C" void on_error_exit(j_common_ptr cinfo) {
  auto* err = reinterpret_cast<ErrorManager*>(cinfo->err);
  cinfo->err->format_message(cinfo, err->message);
  std::longjmp(err->jump, 1);
}

// Warnings: a premature end of data (a truncated file) is an error, as in PIL ("image file is
// truncated"); other warnings (e.g. extraneous bytes before a marker) are tolerated silently, as
// PIL and torchvision decode such files.
extern "C" void on_emit_message(j_common_ptr cinfo, int msg_level) {
  if (msg_level < 0) {
    cinfo->err->num_warnings++;
    if (cinfo->err->msg_code == JWRN_JPEG_EOF) {
      on_error_exit(cinfo);
    }
  }
}

extern "C" void on_output_message(j_common_ptr) {}

extern "C" void on_progress(j_common_ptr cinfo) {
  auto* d = reinterpret_cast<j_decompress_ptr>(cinfo);
  if (d->input_scan_number > kMaxScans) {
    auto* err = reinterpret_cast<ErrorManager*>(cinfo->err);
    std::snprintf(err->message, sizeof(err->message),
                  "progressive JPEG with more than %d scans (refused as a likely malicious file)",
                  kMaxScans);
    std::longjmp(err->jump, 1);
  }
}

// Owns a decompressor; destroys it however the decode ends.
struct Decompressor {
  jpeg_decompress_struct cinfo;
  ErrorManager err;
  jpeg_progress_mgr progress;
  bool created = false;

  Decompressor() {
    std::memset(&cinfo, 0, sizeof(cinfo));
    cinfo.err = jpeg_std_error(&err.pub);
    err.pub.error_exit = on_error_exit;
    err.pub.emit_message = on_emit_message;
    err.pub.output_message = on_output_message;
    err.message[0] = '\0';
    progress.progress_monitor = on_progress;
  }
  ~Decompressor() {
    if (created) {
      jpeg_destroy_decompress(&cinfo);
    }
  }
  Decompressor(const Decompressor&) = delete;
  Decompressor& operator=(const Decompressor&) = delete;
};

// The steps that call libjpeg. Each returns false after a libjpeg error (message in
// d->err.message). Nothing in these frames needs a destructor, so long-jumping out of libjpeg into
// them is safe.
bool start_header(Decompressor* d, const uint8_t* data, size_t size) {
  if (setjmp(d->err.jump)) {
    return false;
  }
  jpeg_create_decompress(&d->cinfo);
  d->created = true;
  d->cinfo.progress = &d->progress;
  jpeg_mem_src(&d->cinfo, const_cast<unsigned char*>(data), static_cast<unsigned long>(size));
  jpeg_read_header(&d->cinfo, TRUE);
  return true;
}

bool compute_dimensions(Decompressor* d) {
  if (setjmp(d->err.jump)) {
    return false;
  }
  jpeg_calc_output_dimensions(&d->cinfo);
  return true;
}

bool read_coefficients(Decompressor* d) {
  if (setjmp(d->err.jump)) {
    return false;
  }
  return jpeg_read_coefficients(&d->cinfo) != nullptr;
}

struct RowPlan {
  JDIMENSION crop_x = 0;      // in: first wanted column (scaled); out: first decoded column
  JDIMENSION crop_width = 0;  // in: wanted columns incl. margin; out: decoded columns
  bool crop_columns = false;
  JDIMENSION skip_rows = 0;  // rows to skip before the first decoded one
  JDIMENSION read_rows = 0;  // rows to decode after the skip
  bool finish = false;       // all rows decoded: read up to the end of the file
  bool keep_open = false;    // more rows will be read later: neither finish nor abort yet
  JSAMPROW* rows = nullptr;  // read_rows row pointers (into the output or a scratch buffer)
};

bool decode_rows(Decompressor* d, RowPlan* plan) {
  if (setjmp(d->err.jump)) {
    return false;
  }
  j_decompress_ptr cinfo = &d->cinfo;
  jpeg_start_decompress(cinfo);
  if (plan->crop_columns) {
    jpeg_crop_scanline(cinfo, &plan->crop_x, &plan->crop_width);
  }
  if (plan->skip_rows > 0) {
    JDIMENSION skipped = jpeg_skip_scanlines(cinfo, plan->skip_rows);
    if (skipped != plan->skip_rows) {
      std::snprintf(d->err.message, sizeof(d->err.message), "could not skip %u rows (skipped %u)",
                    plan->skip_rows, skipped);
      return false;
    }
  }
  return true;
}

bool read_rows(Decompressor* d, RowPlan* plan) {
  if (setjmp(d->err.jump)) {
    return false;
  }
  j_decompress_ptr cinfo = &d->cinfo;
  JDIMENSION done = 0;
  while (done < plan->read_rows) {
    JDIMENSION n = jpeg_read_scanlines(cinfo, plan->rows + done, plan->read_rows - done);
    if (n == 0) {
      std::snprintf(d->err.message, sizeof(d->err.message), "no scanline returned at row %u", done);
      return false;
    }
    done += n;
  }
  if (plan->keep_open) {
    return true;
  }
  if (plan->finish) {
    jpeg_finish_decompress(cinfo);
  } else {
    jpeg_abort_decompress(cinfo);
  }
  return true;
}

[[noreturn]] void fail(const Decompressor& d) {
  TVA_DECODE_CHECK(false, "decode_image: invalid JPEG data: ", d.err.message);
}

// Channels of the output for a file of the given colour space.
int64_t output_channels(J_COLOR_SPACE space, ImageMode mode) {
  if (mode == ImageMode::kGray) {
    return 1;
  }
  if (mode == ImageMode::kRGB) {
    return 3;
  }
  switch (space) {
    case JCS_GRAYSCALE:
      return 1;
    case JCS_CMYK:
    case JCS_YCCK:
      return 4;
    default:
      return 3;
  }
}

// PIL's CMYK -> RGB conversion (Convert.c, cmyk2rgb): each channel is (255 - K) * (255 - C) / 255,
// computed as nk - round(C * nk / 255) with PIL's MULDIV255.
inline uint8_t muldiv255(int a, int b) {
  const int t = a * b + 128;
  return static_cast<uint8_t>(((t >> 8) + t) >> 8);
}

void cmyk_row_to_output(const uint8_t* in, uint8_t* out, int64_t width, bool inverted,
                        ImageMode mode) {
  for (int64_t x = 0; x < width; ++x) {
    int c = in[4 * x], m = in[4 * x + 1], y = in[4 * x + 2], k = in[4 * x + 3];
    if (inverted) {
      c = 255 - c;
      m = 255 - m;
      y = 255 - y;
      k = 255 - k;
    }
    if (mode == ImageMode::kUnchanged) {
      out[4 * x] = static_cast<uint8_t>(c);
      out[4 * x + 1] = static_cast<uint8_t>(m);
      out[4 * x + 2] = static_cast<uint8_t>(y);
      out[4 * x + 3] = static_cast<uint8_t>(k);
      continue;
    }
    const int nk = 255 - k;
    const uint8_t r = static_cast<uint8_t>(nk - muldiv255(c, nk));
    const uint8_t g = static_cast<uint8_t>(nk - muldiv255(m, nk));
    const uint8_t b = static_cast<uint8_t>(nk - muldiv255(y, nk));
    if (mode == ImageMode::kGray) {
      out[x] = pil_luma(r, g, b);
    } else {
      out[3 * x] = r;
      out[3 * x + 1] = g;
      out[3 * x + 2] = b;
    }
  }
}

// The decoding settings, applied after the header is read: colour space, scale, IDCT, upsampling.
void configure(Decompressor* d, const DecodeOptions& opts, int64_t denom) {
  j_decompress_ptr cinfo = &d->cinfo;
  const J_COLOR_SPACE space = cinfo->jpeg_color_space;
  if (space == JCS_CMYK || space == JCS_YCCK) {
    cinfo->out_color_space = JCS_CMYK;  // libjpeg turns YCCK into CMYK; PIL's conversion follows
  } else if (opts.mode == ImageMode::kGray) {
    cinfo->out_color_space = JCS_GRAYSCALE;
  } else if (opts.mode == ImageMode::kRGB || space != JCS_GRAYSCALE) {
    cinfo->out_color_space = JCS_RGB;
  } else {
    cinfo->out_color_space = JCS_GRAYSCALE;
  }
  cinfo->scale_num = 1;
  cinfo->scale_denom = static_cast<unsigned int>(denom);
  cinfo->dct_method = opts.dct == DctMethod::kFast ? JDCT_IFAST : JDCT_ISLOW;
  cinfo->do_fancy_upsampling = opts.fancy_upsampling ? TRUE : FALSE;
  if (!compute_dimensions(d)) {
    fail(*d);
  }
}

// Raw-plane decoding. For the common YCbCr files (4:2:0, 4:2:2, 4:4:4) libjpeg hands over the
// component planes after its IDCT (jpeg_read_raw_data); the fancy upsampling and the colour
// conversion then run here (jpeg_color_simd.h, bit-identical to libjpeg's) and write interleaved RGB
// rows straight into the output, one pass per row instead of libjpeg's separate upsampling,
// conversion and copy passes over intermediate buffers.

// How the raw path upsamples the chroma of a file, as libjpeg's jinit_upsampler would (after
// jpeg_calc_output_dimensions, which may scale the chroma IDCT up so that reduced-size decoding needs
// less upsampling): 1x1 (full size), 2x1 or 2x2 with the fancy triangle filter. {0, 0}: not a file
// the raw path reproduces exactly (not YCbCr to RGB, other sampling factors, box upsampling, ...).
struct ChromaUpsampling {
  int h = 0;
  int v = 0;
};

ChromaUpsampling raw_upsampling(const jpeg_decompress_struct& c) {
  if (c.jpeg_color_space != JCS_YCbCr || c.out_color_space != JCS_RGB || c.num_components != 3 ||
      c.CCIR601_sampling || c.raw_data_out) {
    return {};
  }
  const int min_size = c.min_DCT_scaled_size;
  const jpeg_component_info* comp = c.comp_info;
  // Luma at full output resolution.
  if (comp[0].h_samp_factor * comp[0].DCT_scaled_size != c.max_h_samp_factor * min_size ||
      comp[0].v_samp_factor * comp[0].DCT_scaled_size != c.max_v_samp_factor * min_size) {
    return {};
  }
  // Both chroma components laid out alike.
  if (comp[1].h_samp_factor != 1 || comp[1].v_samp_factor != 1 || comp[2].h_samp_factor != 1 ||
      comp[2].v_samp_factor != 1 || comp[1].DCT_scaled_size != comp[2].DCT_scaled_size) {
    return {};
  }
  const int h_in = comp[1].DCT_scaled_size;  // samples per output group of max_h x max_v
  if (c.max_v_samp_factor * min_size > 16 || h_in > 16) {
    return {};  // upscaling IDCTs: more rows per iMCU than the decoder's row tables hold
  }
  const int h_out = c.max_h_samp_factor * min_size;
  const int v_out = c.max_v_samp_factor * min_size;
  const bool fancy = c.do_fancy_upsampling && min_size > 1;
  const bool wide = comp[1].downsampled_width > 2;
  if (h_in == h_out && h_in == v_out) {
    return {1, 1};
  }
  if (fancy && wide && 2 * h_in == h_out && h_in == v_out) {
    return {2, 1};
  }
  if (fancy && wide && 2 * h_in == h_out && 2 * h_in == v_out) {
    return {2, 2};
  }
  return {};
}

// One iMCU row of raw planes. No C++ objects live in this frame (libjpeg may long-jump out).
bool read_raw_imcu(Decompressor* d, JSAMPIMAGE planes, JDIMENSION lines) {
  if (setjmp(d->err.jump)) {
    return false;
  }
  if (jpeg_read_raw_data(&d->cinfo, planes, lines) != lines) {
    std::snprintf(d->err.message, sizeof(d->err.message), "raw data ended at row %u",
                  d->cinfo.output_scanline);
    return false;
  }
  return true;
}

bool end_decompress(Decompressor* d, bool finish) {
  if (setjmp(d->err.jump)) {
    return false;
  }
  if (finish) {
    jpeg_finish_decompress(&d->cinfo);
  } else {
    jpeg_abort_decompress(&d->cinfo);
  }
  return true;
}

// Streams iMCU rows of raw planes and turns them into RGB rows. Keeps the luma of two iMCU rows
// and the chroma of three (the previous one gives the row above, the next one the row below that
// vertical upsampling blends in).
class RawDecoder {
 public:
  // jpeg_start_decompress must have run with raw_data_out set, on a file raw_upsampling accepted;
  // or, with `native` (a decoder native_decoder accepted), the planes come from it and libjpeg's
  // decompressor only supplies the layout.
  RawDecoder(Decompressor* d, ChromaUpsampling up, jpeg::BaselineDecoder* native = nullptr)
      : d_(d), native_(native), hup_(up.h), vup_(up.v) {
    const jpeg_decompress_struct& c = d->cinfo;
    width_ = c.output_width;
    luma_rows_ = static_cast<int64_t>(c.max_v_samp_factor) * c.min_DCT_scaled_size;
    chroma_rows_ = c.comp_info[1].DCT_scaled_size;
    total_ = c.total_iMCU_rows;
    chroma_w_ = c.comp_info[1].downsampled_width;
    chroma_h_ = c.comp_info[1].downsampled_height;
    // Planes are written in whole blocks; the padding lets SIMD loads run past the last column.
    ystride_ = static_cast<int64_t>(c.comp_info[0].width_in_blocks) * c.comp_info[0].DCT_scaled_size +
               kPad;
    cstride_ = static_cast<int64_t>(c.comp_info[1].width_in_blocks) * chroma_rows_ + kPad;
    luma_.resize(static_cast<size_t>(2 * luma_rows_ * ystride_));
    chroma_.resize(static_cast<size_t>(3 * 2 * chroma_rows_ * cstride_));
    colsum_.resize(static_cast<size_t>(2 * (chroma_w_ + 2 + kPad)));
  }

  // Writes rows [next_row(), end) to out (row r at out + r * row_bytes).
  bool decode_until(int64_t end, uint8_t* out, int64_t row_bytes) {
    while (next_row_ < end) {
      const int64_t k = next_row_ / luma_rows_;
      const int64_t need = std::min<int64_t>(total_, vup_ == 2 ? k + 2 : k + 1);
      while (read_ < need) {
        if (!read_imcu(read_)) {
          return false;
        }
        ++read_;
      }
      const int64_t stop = std::min<int64_t>(end, (k + 1) * luma_rows_);
      for (; next_row_ < stop; ++next_row_) {
        emit_row(next_row_, out + next_row_ * row_bytes);
      }
    }
    return true;
  }

  // With the native decoder: entropy-decodes iMCU rows [0, imcu) without output (their pixels are
  // not wanted), so that the next rows decoded are those from imcu on; rows before `first_row`
  // (the first wanted one, in iMCU row imcu or later) are then not written. The chroma of iMCU row
  // imcu - 1 is not available, so first_row must not need it (the iMCU row above first_row's).
  bool skip_to(int64_t imcu, int64_t first_row) {
    const int64_t stride[3] = {0, 0, 0};
    uint8_t* none[3] = {nullptr, nullptr, nullptr};
    for (; read_ < imcu; ++read_) {
      if (!native_->decode_row(none, stride)) {
        return false;
      }
    }
    next_row_ = first_row;
    return true;
  }

  // Ends the decompression: finish (reads to the end of the file) once every iMCU row was read.
  // The native decoder checks the end of its scan instead (a false return: decode with libjpeg).
  bool end() {
    if (native_ != nullptr) {
      return read_ < total_ || native_->finish();
    }
    return end_decompress(d_, read_ == total_);
  }

 private:
  static constexpr int64_t kPad = 128;
  static constexpr int64_t kMaxRows = 16;  // max_v_samp_factor (<= 2) x DCT size (<= 8)

  uint8_t* luma_row(int64_t imcu, int64_t r) {
    return luma_.data() + ((imcu % 2) * luma_rows_ + r) * ystride_;
  }
  uint8_t* chroma_slot(int64_t imcu, int64_t comp, int64_t r) {
    return chroma_.data() + (((imcu % 3) * 2 + comp) * chroma_rows_ + r) * cstride_;
  }
  uint8_t* chroma_row(int64_t comp, int64_t g) {  // g: row of the chroma plane, clamped
    g = std::max<int64_t>(0, std::min<int64_t>(g, chroma_h_ - 1));
    return chroma_slot(g / chroma_rows_, comp, g % chroma_rows_);
  }

  bool read_imcu(int64_t imcu) {
    JSAMPROW rows[3][kMaxRows];
    for (int64_t r = 0; r < luma_rows_; ++r) {
      rows[0][r] = luma_row(imcu, r);
    }
    for (int64_t comp = 0; comp < 2; ++comp) {
      for (int64_t r = 0; r < chroma_rows_; ++r) {
        rows[1 + comp][r] = chroma_slot(imcu, comp, r);
      }
    }
    if (native_ != nullptr) {
      uint8_t* out[3] = {rows[0][0], rows[1][0], rows[2][0]};
      const int64_t stride[3] = {ystride_, cstride_, cstride_};
      return native_->decode_row(out, stride);
    }
    JSAMPARRAY planes[3] = {rows[0], rows[1], rows[2]};
    return read_raw_imcu(d_, planes, static_cast<JDIMENSION>(luma_rows_));
  }

  void emit_row(int64_t y, uint8_t* out) {
    const uint8_t* yrow = luma_row(y / luma_rows_, y % luma_rows_);
    if (hup_ == 1) {
      simd::ycc_to_rgb_row(yrow, chroma_row(0, y), chroma_row(1, y), width_, out);
      return;
    }
    // The chroma's column sums, upsampled during the conversion.
    const int64_t cy = y / vup_;
    const int64_t fy = vup_ == 1 ? -1 : (y % 2 == 0 ? cy - 1 : cy + 1);
    int16_t* sums[2] = {colsum_.data(), colsum_.data() + chroma_w_ + 2 + kPad};
    for (int64_t comp = 0; comp < 2; ++comp) {
      simd::upsample_column_sums(chroma_row(comp, cy), vup_ == 1 ? nullptr : chroma_row(comp, fy),
                                 chroma_w_, sums[comp]);
    }
    simd::ycc_to_rgb_row_upsampled(yrow, sums[0], sums[1], vup_ == 2, width_, out);
  }

  Decompressor* d_;
  jpeg::BaselineDecoder* native_;
  int64_t hup_, vup_, width_, luma_rows_, chroma_rows_, total_, chroma_w_, chroma_h_, ystride_,
      cstride_;
  std::vector<uint8_t> luma_, chroma_;
  std::vector<int16_t> colsum_;
  int64_t read_ = 0;
  int64_t next_row_ = 0;
};

// Starts a raw decode of whole rows from the top (no crop, no skip).
bool start_raw(Decompressor* d) {
  if (setjmp(d->err.jump)) {
    return false;
  }
  d->cinfo.raw_data_out = TRUE;
  jpeg_start_decompress(&d->cinfo);
  return true;
}

// The native decoder (jpeg_entropy.h) for a file whose header libjpeg has read and configured, when
// it produces the same planes as libjpeg's raw output: accurate IDCT (at reduced sizes every
// component's scaled IDCT is one of 4x4, 2x2, 1x1 or the full one), a sequential Huffman-coded file
// of one scan whose frame is the one libjpeg saw. Null otherwise.
// The native decoder is used unless TVA_JPEG_NATIVE=0 is in the environment (read at each decode;
// libjpeg-turbo alone then, for comparisons).
bool native_enabled() {
  const char* v = std::getenv("TVA_JPEG_NATIVE");
  return v == nullptr || std::strcmp(v, "0") != 0;
}

std::unique_ptr<jpeg::BaselineDecoder> native_decoder(const uint8_t* data, size_t size,
                                                      const jpeg_decompress_struct& c) {
  if (!native_enabled() || c.dct_method != JDCT_ISLOW || c.progressive_mode || c.arith_code ||
      c.data_precision != 8) {
    return nullptr;
  }
  for (int i = 0; i < c.num_components; ++i) {
    const int s = c.comp_info[i].DCT_scaled_size;
    if (s != 8 && s != 4 && s != 2 && s != 1) {
      return nullptr;
    }
  }
  auto dec = std::make_unique<jpeg::BaselineDecoder>();
  if (!dec->init(data, size)) {
    return nullptr;
  }
  const jpeg::FrameHeader& h = dec->header();
  if (h.width != static_cast<int64_t>(c.image_width) ||
      h.height != static_cast<int64_t>(c.image_height) || h.num_components != c.num_components ||
      h.scan_comps != c.num_components) {
    return nullptr;
  }
  for (int i = 0; i < h.num_components; ++i) {
    const jpeg_component_info& comp = c.comp_info[i];
    if (h.comp[i].id != comp.component_id || h.comp[i].h != comp.h_samp_factor ||
        h.comp[i].v != comp.v_samp_factor) {
      return nullptr;
    }
    dec->set_block_size(i, comp.DCT_scaled_size);
  }
  return dec;
}

// Parallel decoding of a sequential (baseline) JPEG in horizontal bands. One thread decodes from
// the top, band after band, with one decompressor. The other threads take bands from the bottom up,
// each with its own decompressor: it skips the rows above the band (jpeg_skip_scanlines only
// entropy- decodes them: no IDCT, upsampling or colour conversion), decodes one iMCU row of margin
// so that fancy upsampling sees the same neighbours as a full decode, then writes its rows straight
// into the output. Bands are claimed atomically, so when the other threads cannot run (a busy
// machine) the top thread simply goes on to the end and the decode costs what a serial one does.
// Bands lower in the image cost their thread more skipping, so they are made shorter.
//
// Share of the decoding time spent in entropy decoding (the part skipped rows still cost), measured
// on photos with libjpeg-turbo 2.1 (0.45-0.6: skipping rows costs half of decoding them); only the
// balance of the bands depends on it, never the pixels.
constexpr double kEntropyShare = 0.5;
// Below this many output pixels the extra header parsing and margin rows outweigh the gain.
constexpr int64_t kMinParallelPixels = 200000;

std::vector<int64_t> band_bounds(int64_t rows, int64_t imcu_h, int64_t bands) {
  // Equal cost c per band: band i from s_i to s_{i+1} costs e * s_i + (s_{i+1} - s_i).
  double lo = 0, hi = static_cast<double>(rows);
  for (int it = 0; it < 60; ++it) {
    const double c = 0.5 * (lo + hi);
    double s = 0;
    for (int64_t b = 0; b < bands; ++b) {
      s = s + c - kEntropyShare * s;
    }
    (s >= rows ? hi : lo) = c;
  }
  std::vector<int64_t> bounds{0};
  double s = 0;
  for (int64_t b = 1; b < bands; ++b) {
    s = s + hi - kEntropyShare * s;
    const int64_t aligned = static_cast<int64_t>(s / imcu_h + 0.5) * imcu_h;
    if (aligned > bounds.back() && aligned < rows) {
      bounds.push_back(aligned);
    }
  }
  bounds.push_back(rows);
  return bounds;
}

void decode_band(const uint8_t* data, size_t size, const DecodeOptions& opts, int64_t denom,
                 int64_t band_start, int64_t band_end, int64_t imcu_h, bool last, uint8_t* out,
                 int64_t row_bytes) {
  Decompressor d;
  if (!start_header(&d, data, size)) {
    fail(d);
  }
  configure(&d, opts, denom);
  const int64_t first = band_start == 0 ? 0 : (band_start - imcu_h) / imcu_h * imcu_h;
  // The native decoder first: the rows above the band's margin iMCU row entropy-decoded only,
  // the margin row decoded (the band's first row blends in its chroma), then the band's rows.
  // Whatever it gives up on, libjpeg redoes below.
  const ChromaUpsampling up = raw_upsampling(d.cinfo);
  if (up.h != 0) {
    if (auto native = native_decoder(data, size, d.cinfo)) {
      RawDecoder raw(&d, up, native.get());
      // Rows are addressed from the top of the image; only rows of this band are written.
      uint8_t* top = out - band_start * row_bytes;
      if (raw.skip_to(first / imcu_h, band_start) && raw.decode_until(band_end, top, row_bytes) &&
          (!last || raw.end())) {
        return;
      }
    }
  }
  const int64_t margin_rows = band_start - first;
  RowPlan plan;
  plan.skip_rows = static_cast<JDIMENSION>(first);
  plan.read_rows = static_cast<JDIMENSION>(band_end - first);
  plan.finish = last;  // the last band reads to the end, so a truncated file is always noticed
  std::vector<uint8_t> margin(static_cast<size_t>(margin_rows * row_bytes));
  std::vector<JSAMPROW> rows(plan.read_rows);
  for (int64_t r = 0; r < band_end - first; ++r) {
    rows[r] = r < margin_rows ? margin.data() + r * row_bytes : out + (r - margin_rows) * row_bytes;
  }
  plan.rows = rows.data();
  if (!decode_rows(&d, &plan) || !read_rows(&d, &plan)) {
    fail(d);
  }
}

// The top thread: decodes bands 0, 1, ... in order with one decompressor until it meets a band
// another thread has claimed. Returns after closing the decompressor.
void decode_from_top(const uint8_t* data, size_t size, const DecodeOptions& opts, int64_t denom,
                     const std::vector<int64_t>& bounds, std::atomic<bool>* claimed, uint8_t* out,
                     int64_t row_bytes) {
  Decompressor d;
  if (!start_header(&d, data, size)) {
    fail(d);
  }
  configure(&d, opts, denom);
  const int64_t bands = static_cast<int64_t>(bounds.size()) - 1;
  const ChromaUpsampling up = raw_upsampling(d.cinfo);
  if (up.h != 0) {
    // Bands [0, owned) are this thread's; the native decoder goes first, libjpeg redoes them when
    // it gives up.
    int64_t owned = 0;
    if (auto native = native_decoder(data, size, d.cinfo)) {
      RawDecoder raw(&d, up, native.get());
      bool ok = true;
      while (ok && owned < bands && !claimed[owned].exchange(true)) {
        ok = raw.decode_until(bounds[owned + 1], out, row_bytes);
        ++owned;
      }
      if (ok && raw.end()) {
        return;
      }
    }
    if (!start_raw(&d)) {
      fail(d);
    }
    RawDecoder raw(&d, up);
    if (owned > 0 && !raw.decode_until(bounds[owned], out, row_bytes)) {
      fail(d);
    }
    for (int64_t b = owned; b < bands && !claimed[b].exchange(true); ++b) {
      if (!raw.decode_until(bounds[b + 1], out, row_bytes)) {
        fail(d);
      }
    }
    if (!raw.end()) {
      fail(d);
    }
    return;
  }
  RowPlan plan;
  if (!decode_rows(&d, &plan)) {
    fail(d);
  }
  std::vector<JSAMPROW> rows(static_cast<size_t>(bounds.back()));
  for (int64_t r = 0; r < bounds.back(); ++r) {
    rows[r] = out + r * row_bytes;
  }
  int64_t done = 0;
  plan.keep_open = true;
  for (int64_t b = 0; b < bands && !claimed[b].exchange(true); ++b) {
    plan.rows = rows.data() + bounds[b];
    plan.read_rows = static_cast<JDIMENSION>(bounds[b + 1] - bounds[b]);
    if (!read_rows(&d, &plan)) {
      fail(d);
    }
    done = bounds[b + 1];
  }
  plan.keep_open = false;
  plan.read_rows = 0;
  plan.finish = done == static_cast<int64_t>(d.cinfo.output_height);
  if (!read_rows(&d, &plan)) {
    fail(d);
  }
}

}  // namespace

int64_t jpeg_entropy_decode(const uint8_t* data, size_t size, int64_t denom) {
  TVA_DECODE_CHECK(denom == 1 || denom == 2 || denom == 4 || denom == 8,
                   "jpeg_entropy_decode: scale should be 1, 2, 4 or 8, got ", denom);
  Decompressor d;
  if (!start_header(&d, data, size)) {
    fail(d);
  }
  configure(&d, DecodeOptions(), denom);
  const int64_t rows = static_cast<int64_t>(d.cinfo.total_iMCU_rows);
  auto native = native_decoder(data, size, d.cinfo);
  if (native == nullptr) {
    // Files the own decoder does not take are entropy-decoded by libjpeg-turbo: all their
    // coefficients read into its coefficient arrays (AC values are kept at every scale).
    if (!read_coefficients(&d)) {
      fail(d);
    }
    return rows;
  }
  const int64_t stride[3] = {0, 0, 0};
  uint8_t* none[3] = {nullptr, nullptr, nullptr};
  for (int64_t r = 0; r < rows; ++r) {
    TVA_DECODE_CHECK(native->decode_row(none, stride), "jpeg_entropy_decode: corrupt data");
  }
  return rows;
}

DecodeInfo read_jpeg_info(const uint8_t* data, size_t size) {
  Decompressor d;
  if (!start_header(&d, data, size)) {
    fail(d);
  }
  DecodeInfo info;
  info.format = ImageFormat::kJPEG;
  info.full_width = d.cinfo.image_width;
  info.full_height = d.cinfo.image_height;
  info.width = info.full_width;
  info.height = info.full_height;
  info.channels = output_channels(d.cinfo.jpeg_color_space, ImageMode::kUnchanged);
  return info;
}

at::Tensor decode_jpeg(const uint8_t* data, size_t size, const DecodeOptions& opts,
                       DecodeInfo* info) {
  Decompressor d;
  if (!start_header(&d, data, size)) {
    fail(d);
  }
  j_decompress_ptr cinfo = &d.cinfo;
  const int64_t full_w = cinfo->image_width;
  const int64_t full_h = cinfo->image_height;
  check_pixel_limit(full_w, full_h, opts, "JPEG");
  const CropRect crop = resolve_crop(opts.crop, full_w, full_h);

  const J_COLOR_SPACE space = cinfo->jpeg_color_space;
  const bool cmyk = space == JCS_CMYK || space == JCS_YCCK;
  TVA_DECODE_CHECK(space == JCS_GRAYSCALE || space == JCS_YCbCr || space == JCS_RGB || cmyk,
                   "decode_image: unsupported JPEG colour space with ", cinfo->num_components,
                   " components");
  const int64_t channels = output_channels(space, opts.mode);
  const int64_t denom =
      choose_scale_denom(crop.width, crop.height, opts.min_width, opts.min_height);
  configure(&d, opts, denom);
  const int64_t out_w = cinfo->output_width;
  const int64_t out_h = cinfo->output_height;
  const int64_t decoded_components = cinfo->out_color_components;

  // The wanted region in scaled coordinates.
  const int64_t x0 = crop.x / denom;
  const int64_t x1 = std::min<int64_t>(out_w, (crop.x + crop.width + denom - 1) / denom);
  const int64_t y0 = crop.y / denom;
  const int64_t y1 = std::min<int64_t>(out_h, (crop.y + crop.height + denom - 1) / denom);
  const int64_t width = x1 - x0;
  const int64_t height = y1 - y0;

  RowPlan plan;
  // Fancy upsampling blends each chroma sample with its neighbours, so the columns next to a
  // cropped edge depend on data outside it: decode one iMCU more on each side to keep the wanted
  // columns identical to a full decode, then drop the margin. The same holds for rows above the
  // region.
  const int64_t imcu_w =
      static_cast<int64_t>(cinfo->max_h_samp_factor) * cinfo->min_DCT_scaled_size;
  const int64_t imcu_h =
      static_cast<int64_t>(cinfo->max_v_samp_factor) * cinfo->min_DCT_scaled_size;
  int64_t dec_x0 = 0;
  if (width < out_w) {
    dec_x0 = std::max<int64_t>(0, x0 - imcu_w);
    const int64_t dec_x1 = std::min<int64_t>(out_w, x1 + imcu_w);
    plan.crop_columns = dec_x0 > 0 || dec_x1 < out_w;
    plan.crop_x = static_cast<JDIMENSION>(dec_x0);
    plan.crop_width = static_cast<JDIMENSION>(dec_x1 - dec_x0);
  }
  const int64_t dec_y0 = std::max<int64_t>(0, y0 - imcu_h);
  // Skipping whole iMCU rows keeps the upsampler's context intact; the margin rows are decoded.
  plan.skip_rows = static_cast<JDIMENSION>(dec_y0 / imcu_h * imcu_h);
  const int64_t first_row = plan.skip_rows;
  plan.read_rows = static_cast<JDIMENSION>(y1 - first_row);
  plan.finish = y1 == out_h && first_row == 0;

  at::Tensor out = at::empty({height, width, channels}, at::kByte);
  uint8_t* out_ptr = out.data_ptr<uint8_t>();
  const int64_t out_stride = width * channels;

  // Where libjpeg writes: straight into the output when the layouts agree, else a scratch buffer of
  // the decoded rows (read after jpeg_start_decompress has fixed the cropped width).
  const bool direct_candidate = !cmyk && decoded_components == channels;
  const bool direct = direct_candidate && !plan.crop_columns && width == out_w && first_row == y0;
  const DecodeInfo result{
      ImageFormat::kJPEG, full_w, full_h, denom, x0, y0, width, height, channels};
  if (info != nullptr) {
    *info = result;
  }
  // Band-parallel decoding needs a sequential Huffman-coded file (a progressive file is entropy-
  // decoded whole before any row comes out) decoded in full rows from the top.
  const int64_t threads = at::get_num_threads();
  const bool banded = direct && y0 == 0 && !cinfo->progressive_mode && !cinfo->arith_code &&
                      threads > 1 && !at::in_parallel_region() &&
                      width * height >= kMinParallelPixels && height >= 4 * imcu_h;
  if (banded) {
    const std::vector<int64_t> bounds = band_bounds(y1, imcu_h, threads);
    const int64_t bands = static_cast<int64_t>(bounds.size()) - 1;
    std::unique_ptr<std::atomic<bool>[]> claimed(new std::atomic<bool>[bands]);
    for (int64_t b = 0; b < bands; ++b) {
      claimed[b].store(false);
    }
    at::parallel_for(0, threads, 1, [&](int64_t begin, int64_t end) {
      for (int64_t t = begin; t < end; ++t) {
        if (t == 0) {
          decode_from_top(data, size, opts, denom, bounds, claimed.get(), out_ptr, out_stride);
          continue;
        }
        for (int64_t b = bands - 1; b > 0; --b) {
          if (!claimed[b].exchange(true)) {
            decode_band(data, size, opts, denom, bounds[b], bounds[b + 1], imcu_h,
                        bounds[b + 1] == out_h, out_ptr + bounds[b] * out_stride, out_stride);
          }
        }
      }
    });
    return out.permute({2, 0, 1});
  }
  const ChromaUpsampling up = raw_upsampling(*cinfo);
  if (direct && plan.skip_rows == 0 && y1 == out_h && up.h != 0) {
    if (auto native = native_decoder(data, size, *cinfo)) {
      RawDecoder raw(&d, up, native.get());
      if (raw.decode_until(out_h, out_ptr, out_stride) && raw.end()) {
        return out.permute({2, 0, 1});
      }
    }
    if (!start_raw(&d)) {
      fail(d);
    }
    RawDecoder raw(&d, up);
    if (!raw.decode_until(out_h, out_ptr, out_stride) || !raw.end()) {
      fail(d);
    }
    return out.permute({2, 0, 1});
  }
  std::vector<JSAMPROW> rows(plan.read_rows);
  std::unique_ptr<uint8_t[]> scratch;  // not zero-filled: libjpeg writes every row read from it
  if (!direct) {
    // Scratch rows are sized for the widest possible decode (jpeg_crop_scanline only widens up to
    // the full output width).
    const int64_t row_bytes = out_w * decoded_components;
    scratch.reset(new uint8_t[static_cast<size_t>(row_bytes) * plan.read_rows]);
    for (JDIMENSION r = 0; r < plan.read_rows; ++r) {
      rows[r] = scratch.get() + static_cast<size_t>(row_bytes) * r;
    }
  } else {
    for (JDIMENSION r = 0; r < plan.read_rows; ++r) {
      rows[r] = out_ptr + out_stride * r;
    }
  }
  plan.rows = rows.data();

  if (!decode_rows(&d, &plan) || !read_rows(&d, &plan)) {
    fail(d);
  }

  if (scratch) {
    const int64_t src_x = x0 - static_cast<int64_t>(plan.crop_x);  // crop_x now the decoded start
    for (int64_t r = 0; r < height; ++r) {
      const uint8_t* src = rows[r + (y0 - first_row)] + src_x * decoded_components;
      uint8_t* dst = out_ptr + out_stride * r;
      if (cmyk) {
        cmyk_row_to_output(src, dst, width, cinfo->saw_Adobe_marker, opts.mode);
      } else {
        std::memcpy(dst, src, static_cast<size_t>(out_stride));
      }
    }
  }

  return out.permute({2, 0, 1});
}

}  // namespace image
}  // namespace tva
