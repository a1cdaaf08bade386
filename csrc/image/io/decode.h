// Native image decoding: JPEG through libjpeg-turbo, PNG through libspng.
//
// The output equals what PIL gives for `Image.open(f).convert("RGB")` (and, for JPEG, what
// torchvision.io.decode_jpeg gives): same library, same settings, no silent shortcuts. Reduced-size
// and region decoding are explicit options, the building blocks of fused load-and-resize pipelines:
//
//   tva::image::DecodeOptions opts;
//   opts.min_width = 224; opts.min_height = 224;   // decode at the smallest 1/2^k scale covering
//   this opts.crop = {x, y, w, h};                       // only this region of the full-resolution
//   image tva::image::DecodeInfo info; at::Tensor img = tva::image::decode_image(data, size, opts,
//   &info);  // uint8 [C, H, W]
//
// Bad data never crashes the process: every failure is a c10::Error (RuntimeError in Python).
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/util/Exception.h>
#include <c10/util/StringUtil.h>

#include <cstddef>
#include <cstdint>
#include <string>

// Like TORCH_CHECK, for errors about the input: throws c10::Error (RuntimeError in Python) without
// capturing a C++ backtrace. Bad files are an expected input of a data pipeline, and a backtrace
// costs milliseconds per failure.
#define TVA_DECODE_CHECK(cond, ...)                               \
  do {                                                            \
    if (C10_UNLIKELY(!(cond))) {                                  \
      throw ::c10::Error(::c10::str(__VA_ARGS__), std::string()); \
    }                                                             \
  } while (false)

namespace tva {
namespace image {

// Channel layout of the output. The values are torchvision.io.ImageReadMode's.
enum class ImageMode : int64_t {
  // The file's own channels: gray 1, gray+alpha 2, RGB 3, RGBA 4, CMYK 4 (PIL's bytes); palettes
  // are expanded to RGB.
  kUnchanged = 0,
  // One channel: JPEG's stored luma (as torchvision.io / libjpeg give it), else PIL's convert("L").
  kGray = 1,
  // Three channels, as PIL's convert("RGB") (alpha dropped, palette expanded, CMYK converted).
  kRGB = 3,
};

enum class ImageFormat : int64_t { kUnknown = 0, kJPEG = 1, kPNG = 2 };

// Inverse DCT used by JPEG decoding. kExact (libjpeg's JDCT_ISLOW, its default) is what PIL and
// torchvision use; kFast (JDCT_IFAST) changes pixels and is never chosen implicitly.
enum class DctMethod : int64_t { kExact = 0, kFast = 1 };

// A region in full-resolution pixel coordinates; width == 0 or height == 0 means "the whole image".
struct CropRect {
  int64_t x = 0;
  int64_t y = 0;
  int64_t width = 0;
  int64_t height = 0;
  bool empty() const { return width <= 0 || height <= 0; }
};

// PIL refuses images above 2 * Image.MAX_IMAGE_PIXELS (= 178,956,970 pixels) as decompression
// bombs; the same limit is the default here.
constexpr int64_t kDefaultMaxPixels = 178956970;

struct DecodeOptions {
  ImageMode mode = ImageMode::kRGB;
  // When > 0 (JPEG only): the image (or the crop) may be decoded at a reduced scale 1/2, 1/4 or
  // 1/8, the smallest that still gives at least min_width x min_height pixels. 0 = full size.
  int64_t min_width = 0;
  int64_t min_height = 0;
  CropRect crop;  // empty: the whole image
  DctMethod dct = DctMethod::kExact;
  bool fancy_upsampling =
      true;  // libjpeg's default (PIL and torchvision); false only with draft-like decoding
  int64_t max_pixels =
      kDefaultMaxPixels;  // width * height above this is refused; <= 0 disables the check
};

// What decode_image did, for callers that map coordinates (fused pipelines).
struct DecodeInfo {
  ImageFormat format = ImageFormat::kUnknown;
  int64_t full_width = 0;  // the file's dimensions
  int64_t full_height = 0;
  int64_t scale_denom = 1;  // the output is the (cropped) image scaled by 1 / scale_denom
  // The output region in scaled coordinates: [x, x + width) x [y, y + height) of the image scaled
  // by 1 / scale_denom (whose size is ceil(full / scale_denom)).
  int64_t x = 0;
  int64_t y = 0;
  int64_t width = 0;
  int64_t height = 0;
  int64_t channels = 0;
};

ImageFormat sniff_format(const uint8_t* data, size_t size);

// Reads only the header. Fills format, full_width, full_height and channels (of kUnchanged).
DecodeInfo read_image_info(const uint8_t* data, size_t size);

// Decodes to a uint8 tensor [C, H, W] whose memory is channels-last (H, W, C), like
// torchvision.io.decode_jpeg's output; call .contiguous() for planar memory.
at::Tensor decode_image(const uint8_t* data, size_t size, const DecodeOptions& opts,
                        DecodeInfo* info = nullptr);

// The whole file in one read, as a uint8 tensor [N]. Errors name the file.
at::Tensor read_file(const std::string& path);

// Format-specific entry points (decode_image dispatches to them on the file's magic bytes).
at::Tensor decode_jpeg(const uint8_t* data, size_t size, const DecodeOptions& opts,
                       DecodeInfo* info);
at::Tensor decode_png(const uint8_t* data, size_t size, const DecodeOptions& opts,
                      DecodeInfo* info);
DecodeInfo read_jpeg_info(const uint8_t* data, size_t size);

// A measurement aid for benchmarks: the entropy decoding alone of a baseline JPEG, as the own decoder
// does it when decoding at 1/denom (denom 1, 2, 4 or 8; components whose blocks come out as 1x1
// samples skip their AC values), with no IDCT, upsampling or colour conversion. Any decode of the
// file at that scale reads every Huffman symbol of the scan, so this is the least work it can do.
// Files the own decoder does not take (progressive, arithmetic-coded, 12-bit, multi-scan, ...) are
// entropy-decoded by libjpeg-turbo into its coefficient arrays. Returns the file's iMCU rows.
int64_t jpeg_entropy_decode(const uint8_t* data, size_t size, int64_t denom);
DecodeInfo read_png_info(const uint8_t* data, size_t size);

// The scale denominator (1, 2, 4 or 8) decode_jpeg uses for a region of `width` x `height`
// full-size pixels and a target of at least min_width x min_height.
int64_t choose_scale_denom(int64_t width, int64_t height, int64_t min_width, int64_t min_height);

// Shared checks: the pixel limit (decompression bombs) and the crop rectangle.
void check_pixel_limit(int64_t width, int64_t height, const DecodeOptions& opts,
                       const char* format);
CropRect resolve_crop(const CropRect& crop, int64_t width, int64_t height);

// PIL's ITU-R 601-2 luma transform, as in convert("L"): (19595 R + 38470 G + 7471 B + 0x8000)
// >> 16.
inline uint8_t pil_luma(uint32_t r, uint32_t g, uint32_t b) {
  return static_cast<uint8_t>((r * 19595u + g * 38470u + b * 7471u + 0x8000u) >> 16);
}

}  // namespace image
}  // namespace tva
