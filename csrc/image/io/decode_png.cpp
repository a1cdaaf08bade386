// PNG decoding through libspng, converted the way PIL converts PNG images to RGB.
//
// libspng delivers the samples as stored (deinterlaced, host-endian); the conversion to the output
// follows what PIL does after Image.open:
//   gray 1 bit            mode "1"  -> 0 / 255
//   gray 2, 4, 8 bit      mode "L"  -> value scaled to 0..255 (x 85, x 17, x 1)
//   gray 16 bit           mode "I"  -> convert("RGB") clips the 16-bit value to 0..255
//   RGB, RGBA, gray+alpha 16 bit    -> the high byte of each sample (PIL's ";16B" raw modes; 16-bit
//                                      gray+alpha opens as "RGBA")
//   palette               mode "P"  -> the palette's colour (tRNS ignored, as convert("RGB") does)
//   alpha                           -> dropped (RGB), kept (unchanged)
#include <ATen/ATen.h>
#include <c10/util/Exception.h>
#include <spng.h>

#include <cstring>
#include <memory>
#include <vector>

#include "image/io/decode.h"

namespace tva {
namespace image {
namespace {

struct SpngDeleter {
  void operator()(spng_ctx* ctx) const { spng_ctx_free(ctx); }
};
using SpngPtr = std::unique_ptr<spng_ctx, SpngDeleter>;

// Ancillary chunks larger than this are refused (text and ICC chunks of real files are far
// smaller); guards memory against crafted files.
constexpr size_t kMaxChunkBytes = 64u << 20;

void check_spng(int rc, const char* what) {
  TVA_DECODE_CHECK(rc == 0, "decode_image: invalid PNG data (", what, "): ", spng_strerror(rc));
}

SpngPtr open_png(const uint8_t* data, size_t size, spng_ihdr* ihdr) {
  SpngPtr ctx(spng_ctx_new(0));
  TVA_DECODE_CHECK(ctx != nullptr, "decode_image: cannot create a PNG decoder (out of memory)");
  check_spng(spng_set_png_buffer(ctx.get(), data, size), "buffer");
  check_spng(spng_set_chunk_limits(ctx.get(), kMaxChunkBytes, kMaxChunkBytes), "limits");
  check_spng(spng_get_ihdr(ctx.get(), ihdr), "header");
  return ctx;
}

int64_t stored_channels(uint8_t color_type) {
  switch (color_type) {
    case SPNG_COLOR_TYPE_GRAYSCALE:
      return 1;
    case SPNG_COLOR_TYPE_GRAYSCALE_ALPHA:
      return 2;
    case SPNG_COLOR_TYPE_TRUECOLOR_ALPHA:
      return 4;
    default:  // truecolour; palette is expanded to RGB
      return 3;
  }
}

// One sample of a stored row as PIL's 8-bit value (see the table at the top of the file).
struct SampleReader {
  const uint8_t* row;
  int bit_depth;
  bool palette;

  inline uint32_t raw(int64_t index) const {
    switch (bit_depth) {
      case 8:
        return row[index];
      case 16: {
        uint16_t v;
        std::memcpy(&v, row + 2 * index, 2);  // host-endian
        return v;
      }
      default: {
        const int64_t bit = index * bit_depth;
        const int shift = 8 - bit_depth - static_cast<int>(bit & 7);
        return (row[bit >> 3] >> shift) & ((1u << bit_depth) - 1);
      }
    }
  }
  // A gray sample as PIL's "1" / "L" / "I" image converted to 8 bits.
  inline uint8_t gray(int64_t index) const {
    const uint32_t v = raw(index);
    switch (bit_depth) {
      case 1:
        return v ? 255 : 0;
      case 2:
        return static_cast<uint8_t>(v * 85);
      case 4:
        return static_cast<uint8_t>(v * 17);
      case 16:
        return static_cast<uint8_t>(v > 255 ? 255 : v);
      default:
        return static_cast<uint8_t>(v);
    }
  }
  // A colour or alpha sample (8 or 16 bit): PIL keeps the high byte.
  inline uint8_t colour(int64_t index) const {
    const uint32_t v = raw(index);
    return static_cast<uint8_t>(bit_depth == 16 ? v >> 8 : v);
  }
};

// 8-bit samples to the output: a copy when the layouts agree, else alpha dropped or gray
// replicated.
void copy_row_8bit(const uint8_t* src, int64_t src_channels, uint8_t* dst, int64_t channels,
                   int64_t width, bool same_layout) {
  if (same_layout) {
    std::memcpy(dst, src, static_cast<size_t>(width * channels));
    return;
  }
  for (int64_t x = 0; x < width; ++x) {
    const uint8_t* p = src + x * src_channels;
    if (channels == 1) {  // gray+alpha to gray
      dst[x] = p[0];
    } else if (src_channels >= 3) {  // RGBA to RGB
      dst[3 * x] = p[0];
      dst[3 * x + 1] = p[1];
      dst[3 * x + 2] = p[2];
    } else {  // gray (+alpha) to RGB
      dst[3 * x] = dst[3 * x + 1] = dst[3 * x + 2] = p[0];
    }
  }
}

}  // namespace

DecodeInfo read_png_info(const uint8_t* data, size_t size) {
  spng_ihdr ihdr;
  SpngPtr ctx = open_png(data, size, &ihdr);
  DecodeInfo info;
  info.format = ImageFormat::kPNG;
  info.full_width = ihdr.width;
  info.full_height = ihdr.height;
  info.width = ihdr.width;
  info.height = ihdr.height;
  info.channels = stored_channels(ihdr.color_type);
  return info;
}

at::Tensor decode_png(const uint8_t* data, size_t size, const DecodeOptions& opts,
                      DecodeInfo* info) {
  spng_ihdr ihdr;
  SpngPtr ctx = open_png(data, size, &ihdr);
  const int64_t full_w = ihdr.width;
  const int64_t full_h = ihdr.height;
  check_pixel_limit(full_w, full_h, opts, "PNG");
  const CropRect crop = resolve_crop(opts.crop, full_w, full_h);

  const uint8_t type = ihdr.color_type;
  const bool palette = type == SPNG_COLOR_TYPE_INDEXED;
  spng_plte plte;
  std::memset(&plte, 0, sizeof(plte));
  if (palette) {
    check_spng(spng_get_plte(ctx.get(), &plte), "palette");
  }

  const int64_t src_channels = palette ? 1 : stored_channels(type);
  int64_t channels = 3;
  if (opts.mode == ImageMode::kGray) {
    channels = 1;
  } else if (opts.mode == ImageMode::kUnchanged) {
    channels = stored_channels(type);
  }
  const bool gray_source =
      type == SPNG_COLOR_TYPE_GRAYSCALE || type == SPNG_COLOR_TYPE_GRAYSCALE_ALPHA;
  const bool eight_bit = ihdr.bit_depth == 8 && !palette;
  const bool full = crop.x == 0 && crop.y == 0 && crop.width == full_w && crop.height == full_h;
  // The stored samples are the output (8-bit RGB to RGB, gray to gray, RGBA unchanged, ...).
  const bool same_layout = eight_bit && src_channels == channels && (gray_source || channels != 1);
  if (same_layout && full) {
    at::Tensor out = at::empty({full_h, full_w, channels}, at::kByte);
    check_spng(spng_decode_image(ctx.get(), out.data_ptr<uint8_t>(),
                                 static_cast<size_t>(out.numel()), SPNG_FMT_PNG, 0),
               "data");
    if (info != nullptr) {
      *info = DecodeInfo{ImageFormat::kPNG, full_w, full_h, 1, 0, 0, full_w, full_h, channels};
    }
    return out.permute({2, 0, 1});
  }

  size_t decoded_size = 0;
  check_spng(spng_decoded_image_size(ctx.get(), SPNG_FMT_PNG, &decoded_size), "size");
  std::vector<uint8_t> stored(decoded_size);
  check_spng(spng_decode_image(ctx.get(), stored.data(), stored.size(), SPNG_FMT_PNG, 0), "data");
  const size_t row_bytes = decoded_size / static_cast<size_t>(full_h);

  if (info != nullptr) {
    *info = DecodeInfo{ImageFormat::kPNG, full_w,      full_h,  1, crop.x, crop.y,
                       crop.width,        crop.height, channels};
  }
  if (eight_bit && (same_layout || channels == 3 || (channels == 1 && gray_source))) {
    at::Tensor out = at::empty({crop.height, crop.width, channels}, at::kByte);
    for (int64_t y = 0; y < crop.height; ++y) {
      const uint8_t* src =
          stored.data() + row_bytes * static_cast<size_t>(crop.y + y) + crop.x * src_channels;
      copy_row_8bit(src, src_channels, out.data_ptr<uint8_t>() + y * crop.width * channels,
                    channels, crop.width, same_layout);
    }
    return out.permute({2, 0, 1});
  }

  at::Tensor out = at::empty({crop.height, crop.width, channels}, at::kByte);
  uint8_t* out_ptr = out.data_ptr<uint8_t>();
  for (int64_t y = 0; y < crop.height; ++y) {
    SampleReader in{stored.data() + row_bytes * static_cast<size_t>(crop.y + y), ihdr.bit_depth,
                    palette};
    uint8_t* dst = out_ptr + y * crop.width * channels;
    for (int64_t xo = 0; xo < crop.width; ++xo) {
      const int64_t s = (crop.x + xo) * src_channels;  // first sample of the pixel
      uint8_t r, g, b, a = 255;
      if (palette) {
        const uint32_t index = in.raw(s);
        const spng_plte_entry& e = plte.entries[index & 255];
        r = e.red;
        g = e.green;
        b = e.blue;
      } else if (gray_source) {
        // PIL opens 16-bit gray as "I" (clipped on conversion) but 16-bit gray+alpha as "RGBA" from
        // raw mode "LA;16B" (high bytes).
        r = g = b = src_channels == 2 ? in.colour(s) : in.gray(s);
        if (src_channels == 2) {
          a = in.colour(s + 1);
        }
      } else {
        r = in.colour(s);
        g = in.colour(s + 1);
        b = in.colour(s + 2);
        if (src_channels == 4) {
          a = in.colour(s + 3);
        }
      }
      uint8_t* p = dst + xo * channels;
      switch (channels) {
        case 1:
          p[0] = gray_source ? r : pil_luma(r, g, b);
          break;
        case 2:
          p[0] = r;
          p[1] = a;
          break;
        case 4:
          p[3] = a;
          [[fallthrough]];
        default:
          p[0] = r;
          p[1] = g;
          p[2] = b;
      }
    }
  }

  return out.permute({2, 0, 1});
}

}  // namespace image
}  // namespace tva
