// Marker parsing and Huffman decoding of sequential JPEG files, following libjpeg's jdmarker.c,
// jdhuff.c and jdinput.c for the files it accepts; see jpeg_entropy.h for the subset.
#include "image/io/jpeg_entropy.h"

#include <hwy/highway.h>

#include <cstring>

#include "image/io/jpeg_idct_simd.h"

#define TVA_JPEG_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define TVA_JPEG_LIKELY(x) __builtin_expect(!!(x), 1)

namespace tva {
namespace image {
namespace jpeg {
namespace {

// Zigzag position -> natural (row-major) index, with extra entries of 63: a run may push the
// position past 63 in corrupt data, and libjpeg then stores at index 63 (jpeg_natural_order); the
// end of block advances the position by 64 and stores a zero there (the last coefficient is still
// zero then: a store at 63 ends the block).
struct NaturalOrder {
  uint8_t at[128];
  constexpr NaturalOrder() : at() {
    constexpr uint8_t kZigzag[64] = {
        0,  1,  8,  16, 9,  2,  3,  10, 17, 24, 32, 25, 18, 11, 4,  5,  12, 19, 26, 33, 40, 48,
        41, 34, 27, 20, 13, 6,  7,  14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23,
        30, 37, 44, 51, 58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63};
    for (int i = 0; i < 128; ++i) {
      at[i] = i < 64 ? kZigzag[i] : 63;
    }
  }
};
constexpr NaturalOrder kNaturalOrder;
constexpr const uint8_t* kNatural = kNaturalOrder.at;

constexpr uint8_t kSOI = 0xD8, kEOI = 0xD9, kSOS = 0xDA, kDQT = 0xDB, kDHT = 0xC4, kDRI = 0xDD,
                  kSOF0 = 0xC0, kSOF1 = 0xC1, kTEM = 0x01, kRST0 = 0xD0, kRST7 = 0xD7, kAPP0 = 0xE0,
                  kAPP15 = 0xEF, kCOM = 0xFE;

inline int extend(uint32_t x, int s) {
  // libjpeg's HUFF_EXTEND: values below 2^(s-1) are negative.
  return x < (1u << (s - 1)) ? static_cast<int>(x) - (1 << s) + 1 : static_cast<int>(x);
}

inline uint16_t be16(const uint8_t* p) { return static_cast<uint16_t>((p[0] << 8) | p[1]); }

// A lookup entry (see HuffTable::look); len 0 for symbols met through decode_long.
inline uint32_t entry(int len, uint8_t symbol, bool ac) {
  const uint32_t r = ac ? symbol >> 4 : 0;
  const uint32_t s = ac ? symbol & 15 : symbol;
  const uint32_t eob = ac && s == 0 && r != 15 ? kEndOfBlock : 0;
  return static_cast<uint32_t>(len) | (s << 8) | (r << 12) | eob;
}

// libjpeg's jpeg_make_d_derived_tbl plus this decoder's lookup tables. False for a table libjpeg
// refuses (over-subscribed codes).
bool build_table(const uint8_t counts[17], const uint8_t* symbols, int n, bool ac, HuffTable* t) {
  uint8_t sizes[257];
  uint32_t codes[257];
  int p = 0;
  for (int l = 1; l <= 16; ++l) {
    for (int i = 0; i < counts[l]; ++i) {
      sizes[p++] = static_cast<uint8_t>(l);
    }
  }
  if (p != n || n > 256) {
    return false;
  }
  sizes[p] = 0;
  uint32_t code = 0;
  int si = sizes[0];
  p = 0;
  while (sizes[p] != 0) {
    while (sizes[p] == si) {
      codes[p++] = code++;
    }
    if (code >= (1u << si)) {
      return false;
    }
    code <<= 1;
    ++si;
  }
  p = 0;
  for (int l = 1; l <= 16; ++l) {
    if (counts[l] != 0) {
      t->valoffset[l] = p - static_cast<int32_t>(codes[p]);
      p += counts[l];
      t->maxcode[l] = static_cast<int32_t>(codes[p - 1]);
    } else {
      t->maxcode[l] = -1;
      t->valoffset[l] = 0;
    }
  }
  t->maxcode[17] = 0x7FFFFFFF;
  t->valoffset[17] = 0;
  std::memset(t->values, 0, sizeof(t->values));
  std::memcpy(t->values, symbols, static_cast<size_t>(n));
  t->num_symbols = n;
  t->is_ac = ac;
  t->dc_valid = true;
  for (int i = 0; i < n; ++i) {
    if (symbols[i] > 15) {
      t->dc_valid = false;
    }
  }
  std::memset(t->look, 0, sizeof(t->look));
  std::memset(t->fast, 0, sizeof(t->fast));
  for (int i = 0; i < n; ++i) {
    const int len = sizes[i];
    if (len > kFastBits) {
      continue;
    }
    const int r = ac ? symbols[i] >> 4 : 0;
    const int sz = ac ? symbols[i] & 15 : symbols[i];
    if (sz > 15 || len + sz > kFastBits) {
      continue;
    }
    uint32_t advance = 0;
    if (ac) {
      advance = sz != 0 ? static_cast<uint32_t>(r + 1) : (r == 15 ? 16u : 64u);
    }
    const int fill = kFastBits - len;
    const uint32_t first = codes[i] << fill;
    for (uint32_t j = 0; j < (1u << fill); ++j) {
      const int value = sz == 0 ? 0 : extend(j >> (fill - sz), sz);
      t->fast[first | j] = static_cast<uint32_t>(len + sz) | (advance << 8) |
                           (static_cast<uint32_t>(static_cast<uint16_t>(value)) << 16);
    }
  }
  if (ac) {
    constexpr uint32_t kMask = (1u << kPairBits) - 1;
    for (uint32_t i = 0; i < (1u << kPairBits); ++i) {
      const uint32_t f1 = t->fast[i >> (kPairBits - kFastBits)];
      const uint64_t len1 = f1 & 255, adv1 = (f1 >> 8) & 255, v1 = f1 >> 16;
      uint64_t len2 = 0, adv2 = 0, v2 = v1;
      if (len1 != 0 && adv1 != 64) {
        // The second symbol is decided by the bits after the first when its code and value bits
        // fit in what is left of the peek (the bits past the peek are zero here).
        const uint32_t f2 = t->fast[((i << len1) & kMask) >> (kPairBits - kFastBits)];
        if ((f2 & 255) != 0 && len1 + (f2 & 255) <= static_cast<uint32_t>(kPairBits)) {
          len2 = f2 & 255;
          adv2 = (f2 >> 8) & 255;
          v2 = f2 >> 16;
        }
      }
      t->pair[i] = len1 == 0 ? 0
                             : (len1 + len2) | (len1 << 8) | (adv1 << 16) | (adv2 << 24) |
                                   (v1 << 32) | (v2 << 48);
    }
  }
  for (int i = 0; i < n; ++i) {
    const int len = sizes[i];
    if (len > kLookBits) {
      continue;
    }
    const int fill = kLookBits - len;
    const uint32_t first = codes[i] << fill;
    for (uint32_t j = 0; j < (1u << fill); ++j) {
      t->look[first | j] = entry(len, symbols[i], ac);
    }
  }
  t->defined = true;
  return true;
}

// HuffTable::skip from the fast lookups: consecutive symbols as long as each is decided by bits
// inside the peek (the bits after it are unknown, zero here: a symbol whose code and value bits
// fit is decided by them alone).
void build_skip_table(HuffTable* t) {
  for (uint32_t i = 0; i < (1u << kFastBits); ++i) {
    uint32_t used = 0, advance = 0, eob = 0;
    while (used < static_cast<uint32_t>(kFastBits)) {
      const uint32_t f = t->fast[(i << used) & ((1u << kFastBits) - 1)];
      const uint32_t bits = f & 255;
      if (bits == 0 || used + bits > static_cast<uint32_t>(kFastBits)) {
        break;
      }
      used += bits;
      const uint32_t a = (f >> 8) & 255;
      if (a == 64) {
        eob = 1;
        break;
      }
      advance += a;
    }
    t->skip[i] = used | (advance << 8) | (eob << 16);
  }
  t->skip_built = true;
}

}  // namespace

void BaselineDecoder::set_block_size(int c, int size) {
  block_size_[c] = size;
  HuffTable& act = ac_[hdr_.comp[c].ac];
  if (size == 1 && !act.skip_built) {
    build_skip_table(&act);
  }
}

bool BaselineDecoder::find_marker(const uint8_t** at, uint8_t* code) const {
  const uint8_t* p = *at;
  for (;;) {
    while (p < end_ && *p != 0xFF) {
      ++p;
    }
    const uint8_t* q = p + 1;
    while (q < end_ && *q == 0xFF) {
      ++q;
    }
    if (q >= end_) {
      return false;
    }
    if (*q != 0) {
      *code = *q;
      *at = q + 1;
      return true;
    }
    p = q + 1;
  }
}

bool BaselineDecoder::init(const uint8_t* data, size_t size) {
  begin_ = data;
  end_ = data + size;
  if (size < 4 || data[0] != 0xFF || data[1] != kSOI) {
    return false;
  }
  const uint8_t* p = data + 2;
  bool have_frame = false;
  for (;;) {
    uint8_t m = 0;
    if (!find_marker(&p, &m)) {
      return false;
    }
    if (m == kTEM || (m >= kRST0 && m <= kRST7)) {
      continue;  // parameterless markers libjpeg skips
    }
    if (end_ - p < 2) {
      return false;
    }
    const int length = be16(p);
    if (length < 2 || end_ - p < length) {
      return false;
    }
    const uint8_t* seg = p + 2;
    const int n = length - 2;
    p += length;
    if (m == kSOF0 || m == kSOF1) {
      if (have_frame || n < 6) {
        return false;
      }
      have_frame = true;
      if (seg[0] != 8) {
        return false;  // 12-bit samples
      }
      hdr_.height = be16(seg + 1);
      hdr_.width = be16(seg + 3);
      hdr_.num_components = seg[5];
      if (hdr_.width <= 0 || hdr_.height <= 0 ||
          (hdr_.num_components != 1 && hdr_.num_components != 3) ||
          n != 6 + 3 * hdr_.num_components) {
        return false;
      }
      hdr_.hmax = hdr_.vmax = 1;
      for (int c = 0; c < hdr_.num_components; ++c) {
        Component& comp = hdr_.comp[c];
        comp.id = seg[6 + 3 * c];
        comp.h = seg[7 + 3 * c] >> 4;
        comp.v = seg[7 + 3 * c] & 15;
        comp.quant = seg[8 + 3 * c];
        if (comp.h < 1 || comp.h > 2 || comp.v < 1 || comp.v > 2 || comp.quant > 3) {
          return false;
        }
        for (int o = 0; o < c; ++o) {
          if (hdr_.comp[o].id == comp.id) {
            return false;
          }
        }
        hdr_.hmax = comp.h > hdr_.hmax ? comp.h : hdr_.hmax;
        hdr_.vmax = comp.v > hdr_.vmax ? comp.v : hdr_.vmax;
      }
      for (int c = 0; c < hdr_.num_components; ++c) {
        Component& comp = hdr_.comp[c];
        comp.downsampled_width = (hdr_.width * comp.h + hdr_.hmax - 1) / hdr_.hmax;
        comp.downsampled_height = (hdr_.height * comp.v + hdr_.vmax - 1) / hdr_.vmax;
        comp.width_in_blocks = (hdr_.width * comp.h + 8 * hdr_.hmax - 1) / (8 * hdr_.hmax);
        comp.height_in_blocks = (hdr_.height * comp.v + 8 * hdr_.vmax - 1) / (8 * hdr_.vmax);
      }
    } else if (m == kDQT) {
      int i = 0;
      while (i < n) {
        const int prec = seg[i] >> 4;
        const int slot = seg[i] & 15;
        if (prec > 1 || slot > 3 || n - i - 1 < 64 * (prec + 1)) {
          return false;
        }
        for (int k = 0; k < 64; ++k) {
          const int v = prec ? be16(seg + i + 1 + 2 * k) : seg[i + 1 + k];
          quant_[slot][kNatural[k]] = static_cast<int16_t>(static_cast<uint16_t>(v));
        }
        quant_defined_[slot] = true;
        i += 1 + 64 * (prec + 1);
      }
    } else if (m == kDHT) {
      int i = 0;
      while (i < n) {
        if (n - i < 17) {
          return false;
        }
        const int index = seg[i];
        uint8_t counts[17] = {0};
        int total = 0;
        for (int l = 1; l <= 16; ++l) {
          counts[l] = seg[i + l];
          total += counts[l];
        }
        if (total > 256 || n - i - 17 < total || (index & 0xEC) != 0) {
          return false;  // index: class 0 / 1 in bit 4, slot 0..3
        }
        const bool ac = (index & 0x10) != 0;
        HuffTable* t = ac ? &ac_[index & 3] : &dc_[index & 3];
        if (!build_table(counts, seg + i + 17, total, ac, t)) {
          return false;
        }
        i += 17 + total;
      }
    } else if (m == kDRI) {
      if (n != 2) {
        return false;
      }
      hdr_.restart_interval = be16(seg);
    } else if ((m >= kAPP0 && m <= kAPP15) || m == kCOM) {
      // Application data and comments: colour-space decisions are the caller's (libjpeg's header).
    } else if (m == kSOS) {
      if (!have_frame || n < 1) {
        return false;
      }
      const int ns = seg[0];
      if (ns < 1 || ns > 3 || n != 4 + 2 * ns || ns != hdr_.num_components) {
        return false;  // one scan must hold every component (no multi-scan files)
      }
      int blocks = 0;
      for (int s = 0; s < ns; ++s) {
        const int id = seg[1 + 2 * s];
        int found = -1;
        for (int c = 0; c < hdr_.num_components; ++c) {
          if (hdr_.comp[c].id == id) {
            found = c;
          }
        }
        for (int o = 0; o < s; ++o) {
          if (hdr_.scan_order[o] == found) {
            found = -1;
          }
        }
        if (found < 0) {
          return false;
        }
        hdr_.scan_order[s] = found;
        Component& comp = hdr_.comp[found];
        comp.dc = seg[2 + 2 * s] >> 4;
        comp.ac = seg[2 + 2 * s] & 15;
        if (comp.dc > 3 || comp.ac > 3 || !dc_[comp.dc].defined || !dc_[comp.dc].dc_valid ||
            !ac_[comp.ac].defined || !quant_defined_[comp.quant]) {
          return false;
        }
        blocks += comp.h * comp.v;
      }
      const uint8_t ss = seg[1 + 2 * ns], se = seg[2 + 2 * ns], ahal = seg[3 + 2 * ns];
      if (ss != 0 || se != 63 || ahal != 0) {
        return false;
      }
      hdr_.scan_comps = ns;
      if (ns == 1) {
        const Component& comp = hdr_.comp[hdr_.scan_order[0]];
        hdr_.mcus_per_row = comp.width_in_blocks;
        hdr_.mcu_rows = comp.height_in_blocks;
      } else {
        if (blocks > 10) {
          return false;
        }
        hdr_.mcus_per_row = (hdr_.width + 8 * hdr_.hmax - 1) / (8 * hdr_.hmax);
        hdr_.mcu_rows = (hdr_.height + 8 * hdr_.vmax - 1) / (8 * hdr_.vmax);
      }
      if (!unstuff_scan(p)) {
        return false;
      }
      bad_ = false;
      restarts_to_go_ = hdr_.restart_interval;
      next_restart_ = 0;
      row_ = 0;
      return true;
    } else {
      return false;  // other frame types (progressive, lossless, arithmetic), DNL, EOI, unknown
    }
  }
}

// Bytes after the last segment: one block reads at most 64 symbols of 31 bits, plus an 8-byte peek.
// Bits read past a segment's end (the next segment's, or this padding) are never used: the decoder
// gives up after any block that consumed them.
constexpr size_t kSegmentPad = 64 * 4 + 16;


// Splits the scan at its markers (libjpeg's bit reader stops at the first 0xFF not followed by
// 0x00, after any run of 0xFF fill bytes) and removes the stuffing: 0xFF 0x00 is the data byte
// 0xFF. Restart markers continue the scan; any other marker or the end of the file ends it.
bool BaselineDecoder::unstuff_scan(const uint8_t* from) {
  unstuffed_.clear();
  unstuffed_.reserve(static_cast<size_t>(end_ - from) + kSegmentPad + 64);
  segments_.clear();
  const int64_t mcus = hdr_.mcus_per_row * hdr_.mcu_rows;
  const int64_t intervals =
      hdr_.restart_interval == 0 ? 1 : (mcus + hdr_.restart_interval - 1) / hdr_.restart_interval;
  const uint8_t* p = from;
  for (;;) {
    Segment seg;
    seg.offset = unstuffed_.size();
    for (;;) {
      const uint8_t* ff = static_cast<const uint8_t*>(std::memchr(p, 0xFF, end_ - p));
      const uint8_t* stop = ff != nullptr ? ff : end_;
      unstuffed_.insert(unstuffed_.end(), p, stop);
      if (ff == nullptr) {
        p = end_;
        break;
      }
      const uint8_t* q = ff + 1;
      while (q < end_ && *q == 0xFF) {
        ++q;
      }
      if (q < end_ && *q == 0) {
        unstuffed_.push_back(0xFF);
        p = q + 1;
        continue;
      }
      // A marker (its code is the byte after the 0xFF run) or the end of the file.
      seg.marker = q < end_ ? q - 1 : nullptr;
      p = q < end_ ? q + 1 : end_;
      break;
    }
    seg.bits = static_cast<int64_t>(unstuffed_.size() - seg.offset) * 8;
    segments_.push_back(seg);
    // Later restart markers are past the last interval: the end-of-scan check skips them as
    // libjpeg does.
    if (seg.marker == nullptr || seg.marker[1] < kRST0 || seg.marker[1] > kRST7 ||
        static_cast<int64_t>(segments_.size()) >= intervals) {
      break;
    }
  }
  unstuffed_.insert(unstuffed_.end(), kSegmentPad, 0);
  segment_ = 0;
  seg_data_ = unstuffed_.data() + segments_[0].offset;
  seg_bits_ = segments_[0].bits;
  pos_ = 0;
  return true;
}

namespace {

// A code longer than kLookBits (libjpeg's jpeg_huff_decode) at the top of w: its entry, with its
// length. A code that is not in the table sets *bad (libjpeg: "Corrupt JPEG data: bad Huffman
// code"; the caller falls back) and ends the block.
uint32_t decode_long(const HuffTable& t, uint64_t w, bool* bad) {
  const uint32_t code16 = static_cast<uint32_t>(w >> 48);
  for (int l = kLookBits + 1; l <= 16; ++l) {
    const int32_t code = static_cast<int32_t>(code16 >> (16 - l));
    if (code <= t.maxcode[l]) {
      const int32_t idx = code + t.valoffset[l];
      if (idx < 0 || idx >= t.num_symbols) {
        break;
      }
      return entry(l, t.values[idx], t.is_ac);
    }
  }
  *bad = true;
  return kEndOfBlock | 1;
}

// The s (0..15) bits after the first `len` bits of w as a signed value (libjpeg's HUFF_EXTEND; 0
// for s == 0), without branches: a first bit of 0 means a negative value, raw - (2^s - 1).
inline int32_t value_after(uint64_t w, uint32_t len, uint32_t s) {
  const uint64_t v = w << len;
  const uint32_t raw = static_cast<uint32_t>((v >> 1) >> (63 - s));
  const uint32_t negative = static_cast<uint32_t>(static_cast<int64_t>(~v) >> 63);
  return static_cast<int32_t>(raw + (negative & (1u - (1u << s))));
}

// Zeroes n blocks of coefficients with vector stores of the baseline target (statically dispatched:
// 128 bytes per block, where the compiler's memset would use a slow string instruction).
inline void zero_blocks(int16_t (*blocks)[64], int n) {
  namespace hn = hwy::HWY_NAMESPACE;
  const hn::ScalableTag<int16_t> d;
  const size_t lanes = hn::Lanes(d);
  const auto zero = hn::Zero(d);
  for (int b = 0; b < n; ++b) {
    for (size_t i = 0; i < 64; i += lanes) {
      hn::Store(zero, d, blocks[b] + i);
    }
  }
}

// A symbol whose code or value bits do not fit in a fast lookup, at the top of w (at least 31
// bits) after position k: its coefficient goes to block. Returns the bits used | (the new
// position, advanced as in HuffTable::fast, << 8).
HWY_NOINLINE uint32_t decode_ac_slow(const HuffTable& act, uint64_t w, uint32_t k, int16_t* block,
                                     bool* bad) {
  uint32_t e = act.look[w >> (64 - kLookBits)];
  if (e == 0) {
    e = decode_long(act, w, bad);
  }
  const uint32_t len = e & 255;
  if (e & kEndOfBlock) {
    return len | ((k + 64) << 8);
  }
  const uint32_t sz = (e >> 8) & 15;
  k += ((e >> 12) & 15) + 1;
  block[kNatural[k]] = static_cast<int16_t>(value_after(w, len, sz));
  return (len + sz) | (k << 8);
}

// A bit reader over a segment whose reads may run past its end (into the padding): buf holds
// `count` bits of the stream at its top (more after them), the next of which is at bit position
// (ptr - data) * 8 - count. A refill loads 8 bytes at ptr and tops the count up to 56..63; its
// load address depends only on the previous refill, so it does not wait for the symbols decoded
// in between (Giesen's "variant 4").
struct BitReader {
  const uint8_t* ptr;
  uint64_t buf;
  uint32_t count;

  BitReader(const uint8_t* data, uint64_t pos) : ptr(data + (pos >> 3)), buf(0), count(0) {
    refill();
    consume(static_cast<uint32_t>(pos & 7));
  }
  HWY_INLINE void refill() {
    uint64_t w;
    std::memcpy(&w, ptr, 8);
    buf |= __builtin_bswap64(w) >> count;
    ptr += (63 - count) >> 3;
    count |= 56;
  }
  HWY_INLINE void consume(uint32_t n) {
    buf <<= n;
    count -= n;
  }
  uint64_t position(const uint8_t* data) const {
    return static_cast<uint64_t>(ptr - data) * 8 - count;
  }
};

// decode_ac_slow at the reader's position (refilled by the caller: the symbol may use 31 bits):
// consumes the symbol's bits and returns the new zigzag position.
HWY_INLINE uint32_t slow_ac_symbol(BitReader& br, const HuffTable& act, uint32_t k, int16_t* block,
                                   bool* bad) {
  const uint32_t r = decode_ac_slow(act, br.buf, k, block, bad);
  br.consume(r & 255);
  return r >> 8;
}

// The DC coefficient of a block: a category s <= 15 and s value bits (at most 16 + 15 bits in
// all), added to the component's previous DC value; stored to block[0].
HWY_INLINE void decode_dc(BitReader& br, const HuffTable& dct, int32_t* last_dc, int16_t* block,
                          bool* bad) {
  br.refill();
  int32_t diff;
  const uint32_t f = dct.fast[br.buf >> (64 - kFastBits)];
  if (TVA_JPEG_LIKELY(f & 255)) {
    diff = static_cast<int16_t>(f >> 16);
    br.consume(f & 255);
  } else {
    uint32_t e = dct.look[br.buf >> (64 - kLookBits)];
    if (e == 0) {
      e = decode_long(dct, br.buf, bad);
    }
    const uint32_t len = e & 255;
    const uint32_t sz = (e >> 8) & 15;
    diff = value_after(br.buf, len, sz);
    br.consume(len + sz);
  }
  const int32_t dc = static_cast<int32_t>(static_cast<uint32_t>(*last_dc) +
                                          static_cast<uint32_t>(diff));
  *last_dc = dc;
  block[0] = static_cast<int16_t>(dc);
}

// A block of which only the DC coefficient is wanted (the AC symbols are parsed, their values
// skipped, as libjpeg does for 1x1 IDCTs): the symbols come from skip lookups, several per lookup
// while the zigzag position stays below 63; near the end of a block without an end-of-block code,
// one symbol at a time. The DC coefficient goes to block[0] (other coefficients may be written).
HWY_INLINE void decode_block_dc(BitReader& br, const HuffTable& dct, const HuffTable& act,
                                int32_t* last_dc, int16_t* block, bool* bad) {
  decode_dc(br, dct, last_dc, block, bad);
  uint32_t k = 0;
  for (;;) {
    br.refill();
    for (int i = 0; i < 3; ++i) {
      const uint32_t e = act.skip[br.buf >> (64 - kFastBits)];
      const uint32_t advance = (e >> 8) & 255;
      if (TVA_JPEG_LIKELY((e & 255) != 0 && k + advance <= 62)) {
        br.consume(e & 255);
        k += advance;
        if (e >> 16) {
          return;
        }
        continue;
      }
      // One symbol (the block may end inside this lookup's symbols).
      br.refill();
      const uint32_t f1 = act.fast[br.buf >> (64 - kFastBits)];
      if (f1 & 255) {
        k += (f1 >> 8) & 255;
        br.consume(f1 & 255);
      } else {
        k = slow_ac_symbol(br, act, k, block, bad);
      }
      if (k >= 63) {
        return;
      }
    }
  }
}

// One block (libjpeg's decode_mcu for one block): block (zeroed by the caller) receives the
// quantised coefficients in natural order. AC symbols come from pair lookups (one or two symbols
// each), three lookups per refill (each uses at most kFastBits bits, so at least 26 bits are left
// for the third); a symbol that needs the slow path refills first (it may use 31 bits).
HWY_INLINE void decode_block(BitReader& br, const HuffTable& dct, const HuffTable& act,
                             int32_t* last_dc, int16_t* block, bool* bad) {
  decode_dc(br, dct, last_dc, block, bad);
  // AC: symbols until the end of block or position 63 (k: the last position written). A run of
  // 16 zeros stores a zero where it ends, which changes nothing.
  uint32_t k = 0;
  for (;;) {
    br.refill();
    for (int i = 0; i < 3; ++i) {
      const uint64_t f = act.pair[br.buf >> (64 - kPairBits)];
      if (TVA_JPEG_UNLIKELY((f & 255) == 0)) {
        br.refill();
        k = slow_ac_symbol(br, act, k, block, bad);
      } else {
        k += static_cast<uint32_t>(f >> 16) & 255;
        block[kNatural[k]] = static_cast<int16_t>(f >> 32);
        if (k >= 63) {  // the block ends with the first symbol: the second is not its
          br.consume(static_cast<uint32_t>(f >> 8) & 255);
          return;
        }
        k += static_cast<uint32_t>(f >> 24) & 255;
        block[kNatural[k]] = static_cast<int16_t>(f >> 48);
        br.consume(static_cast<uint32_t>(f) & 255);
      }
      if (k >= 63) {
        return;
      }
    }
  }
}

}  // namespace

bool BaselineDecoder::process_restart() {
  if (bad_ || static_cast<int64_t>(pos_) > seg_bits_) {
    return false;  // the interval's data ran into the marker: libjpeg's corrupt-data handling
  }
  const Segment& seg = segments_[segment_];
  if (seg.marker == nullptr || seg.marker[1] != kRST0 + next_restart_ ||
      segment_ + 1 >= segments_.size()) {
    return false;  // libjpeg resynchronises (jpeg_resync_to_restart); not reproduced
  }
  ++segment_;
  seg_data_ = unstuffed_.data() + segments_[segment_].offset;
  seg_bits_ = segments_[segment_].bits;
  pos_ = 0;
  next_restart_ = (next_restart_ + 1) & 7;
  restarts_to_go_ = hdr_.restart_interval;
  last_dc_[0] = last_dc_[1] = last_dc_[2] = 0;
  return true;
}

template <class BlockFn, class McuFn>
bool BaselineDecoder::decode_row_impl(BlockFn&& fn, McuFn&& mcu_done) {
  if (row_ >= hdr_.mcu_rows) {
    return false;
  }
  const int ns = hdr_.scan_comps;
  for (int64_t mx = 0; mx < hdr_.mcus_per_row; ++mx) {
    if (hdr_.restart_interval != 0) {
      if (restarts_to_go_ == 0 && !process_restart()) {
        return false;
      }
      --restarts_to_go_;
    }
    // Entropy-decode the MCU's blocks, then hand them over.
    const uint8_t* data = seg_data_;
    BitReader br(data, pos_);
    int blk = 0;
    for (int s = 0; s < ns; ++s) {
      const Component& comp = hdr_.comp[hdr_.scan_order[s]];
      const HuffTable& dct = dc_[comp.dc];
      const HuffTable& act = ac_[comp.ac];
      const int n = ns == 1 ? 1 : comp.h * comp.v;
      const bool dc_only = block_size_[hdr_.scan_order[s]] == 1;
      for (int i = 0; i < n; ++i, ++blk) {
        if (dc_only) {
          decode_block_dc(br, dct, act, &last_dc_[s], blocks_[blk], &bad_);
        } else {
          decode_block(br, dct, act, &last_dc_[s], blocks_[blk], &bad_);
        }
        if (TVA_JPEG_UNLIKELY(static_cast<int64_t>(br.position(data)) > seg_bits_)) {
          return false;  // ran into the marker (or the end of the data)
        }
      }
    }
    pos_ = br.position(data);
    if (TVA_JPEG_UNLIKELY(static_cast<int64_t>(pos_) > seg_bits_ || bad_)) {
      return false;  // ran into the marker (or the end of the data), or a bad code
    }
    blk = 0;
    for (int s = 0; s < ns; ++s) {
      const int c = hdr_.scan_order[s];
      const Component& comp = hdr_.comp[c];
      const int bh = ns == 1 ? 1 : comp.h;
      const int bv = ns == 1 ? 1 : comp.v;
      for (int yi = 0; yi < bv; ++yi) {
        for (int xi = 0; xi < bh; ++xi, ++blk) {
          fn(c, yi, mx * bh + xi, blocks_[blk]);
        }
      }
    }
    mcu_done();
    zero_blocks(blocks_, blk);
  }
  ++row_;
  return true;
}

bool BaselineDecoder::decode_row(uint8_t* const* out, const int64_t* stride) {
  const int64_t by0 = row_;
  const bool single = hdr_.scan_comps == 1;
  simd::IdctJob jobs[10];
  int n = 0;
  return decode_row_impl(
      [&](int c, int yi, int64_t bx, const int16_t* block) {
        const Component& comp = hdr_.comp[c];
        const int64_t by = single ? by0 : by0 * comp.v + yi;
        if (out[c] == nullptr || bx >= comp.width_in_blocks || by >= comp.height_in_blocks) {
          return;
        }
        const int size = block_size_[c];
        jobs[n++] = simd::IdctJob{block, quant_[comp.quant],
                                  out[c] + size * (yi * stride[c] + bx), stride[c], size};
      },
      [&] {
        simd::idct_blocks(jobs, n);
        n = 0;
      });
}

bool BaselineDecoder::decode_row_coefficients(int16_t* const* coef,
                                              const int64_t* coef_blocks_wide) {
  return decode_row_impl(
      [&](int c, int yi, int64_t bx, const int16_t* block) {
        if (bx < coef_blocks_wide[c]) {
          std::memcpy(coef[c] + (yi * coef_blocks_wide[c] + bx) * 64, block, 64 * sizeof(int16_t));
        }
      },
      [] {});
}

bool BaselineDecoder::finish() {
  if (bad_ || static_cast<int64_t>(pos_) > seg_bits_ || row_ != hdr_.mcu_rows) {
    return false;
  }
  const uint8_t* at = segments_[segment_].marker;
  if (at == nullptr) {
    return false;  // no EOI: libjpeg reports the premature end of the file
  }
  uint8_t m = 0;
  for (;;) {
    if (!find_marker(&at, &m)) {
      return false;
    }
    if (m == kEOI) {
      return true;
    }
    if (!(m >= kRST0 && m <= kRST7) && m != kTEM) {
      return false;  // markers after the scan (another scan, tables, ...): libjpeg's business
    }
  }
}

}  // namespace jpeg
}  // namespace image
}  // namespace tva
