// Format dispatch, file reading and the checks every decoder shares.
#include <ATen/ATen.h>
#include <c10/util/Exception.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "image/io/decode.h"

namespace tva {
namespace image {

ImageFormat sniff_format(const uint8_t* data, size_t size) {
  static const uint8_t kPng[8] = {0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A};
  if (size >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF) {
    return ImageFormat::kJPEG;
  }
  if (size >= 8 && std::memcmp(data, kPng, 8) == 0) {
    return ImageFormat::kPNG;
  }
  return ImageFormat::kUnknown;
}

namespace {
void check_data(const uint8_t* data, size_t size) {
  TVA_DECODE_CHECK(size > 0, "decode_image: the data is empty (0 bytes)");
  TVA_DECODE_CHECK(data != nullptr, "decode_image: data is a null pointer");
}

[[noreturn]] void unknown_format(const uint8_t* data, size_t size) {
  char magic[3 * 8 + 1] = {0};
  size_t n = std::min<size_t>(size, 8);
  for (size_t i = 0; i < n; ++i) {
    std::snprintf(magic + 3 * i, 4, "%02x ", data[i]);
  }
  TVA_DECODE_CHECK(false,
                   "decode_image: unsupported image format (natively decoded: JPEG, PNG); the data "
                   "starts with bytes ",
                   std::string(magic, n ? 3 * n - 1 : 0));
}
}  // namespace

DecodeInfo read_image_info(const uint8_t* data, size_t size) {
  check_data(data, size);
  switch (sniff_format(data, size)) {
    case ImageFormat::kJPEG:
      return read_jpeg_info(data, size);
    case ImageFormat::kPNG:
      return read_png_info(data, size);
    default:
      unknown_format(data, size);
  }
}

at::Tensor decode_image(const uint8_t* data, size_t size, const DecodeOptions& opts,
                        DecodeInfo* info) {
  check_data(data, size);
  TVA_DECODE_CHECK(opts.mode == ImageMode::kUnchanged || opts.mode == ImageMode::kGray ||
                       opts.mode == ImageMode::kRGB,
                   "decode_image: mode should be 0 (unchanged), 1 (gray) or 3 (RGB), got ",
                   static_cast<int64_t>(opts.mode));
  TVA_DECODE_CHECK(opts.min_width >= 0 && opts.min_height >= 0,
                   "decode_image: min_width and min_height should be >= 0, got ", opts.min_width,
                   " and ", opts.min_height);
  DecodeInfo local;
  DecodeInfo* out = info != nullptr ? info : &local;
  switch (sniff_format(data, size)) {
    case ImageFormat::kJPEG:
      return decode_jpeg(data, size, opts, out);
    case ImageFormat::kPNG:
      return decode_png(data, size, opts, out);
    default:
      unknown_format(data, size);
  }
}

int64_t choose_scale_denom(int64_t width, int64_t height, int64_t min_width, int64_t min_height) {
  if (min_width <= 0 && min_height <= 0) {
    return 1;
  }
  int64_t denom = 1;
  for (int64_t d : {2, 4, 8}) {
    // libjpeg's scaled size is ceil(size / d).
    const int64_t w = (width + d - 1) / d;
    const int64_t h = (height + d - 1) / d;
    if (w >= min_width && h >= min_height) {
      denom = d;
    }
  }
  return denom;
}

void check_pixel_limit(int64_t width, int64_t height, const DecodeOptions& opts,
                       const char* format) {
  TVA_DECODE_CHECK(width > 0 && height > 0, "decode_image: invalid ", format, " dimensions ", width,
                   "x", height);
  if (opts.max_pixels > 0) {
    TVA_DECODE_CHECK(width * height <= opts.max_pixels, "decode_image: ", format, " image of ",
                     width, "x", height, " = ", width * height, " pixels exceeds the limit of ",
                     opts.max_pixels,
                     " pixels (a possible decompression bomb; raise max_pixels to allow it)");
  }
}

CropRect resolve_crop(const CropRect& crop, int64_t width, int64_t height) {
  if (crop.empty()) {
    TVA_DECODE_CHECK(
        crop.width == 0 && crop.height == 0 && crop.x == 0 && crop.y == 0,
        "decode_image: crop should be (x, y, width, height) with width and height > 0, got (",
        crop.x, ", ", crop.y, ", ", crop.width, ", ", crop.height, ")");
    return CropRect{0, 0, width, height};
  }
  TVA_DECODE_CHECK(
      crop.x >= 0 && crop.y >= 0 && crop.x + crop.width <= width && crop.y + crop.height <= height,
      "decode_image: crop (x=", crop.x, ", y=", crop.y, ", width=", crop.width,
      ", height=", crop.height, ") is outside the ", width, "x", height, " image");
  return crop;
}

at::Tensor read_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  TVA_DECODE_CHECK(fd >= 0, "read_file: cannot open '", path, "': ", std::strerror(errno));
  struct FdCloser {
    int fd;
    ~FdCloser() { ::close(fd); }
  } closer{fd};
  struct stat st;
  TVA_DECODE_CHECK(::fstat(fd, &st) == 0, "read_file: cannot stat '", path,
                   "': ", std::strerror(errno));
  TVA_DECODE_CHECK(S_ISREG(st.st_mode), "read_file: '", path, "' is not a regular file");
  const int64_t size = static_cast<int64_t>(st.st_size);
  at::Tensor out = at::empty({size}, at::kByte);
  uint8_t* dst = out.data_ptr<uint8_t>();
  int64_t done = 0;
  while (done < size) {
    const ssize_t n = ::read(fd, dst + done, static_cast<size_t>(size - done));
    if (n < 0 && errno == EINTR) {
      continue;
    }
    TVA_DECODE_CHECK(n >= 0, "read_file: cannot read '", path, "': ", std::strerror(errno));
    if (n == 0) {
      break;  // the file shrank while reading
    }
    done += n;
  }
  return done == size ? out : out.narrow(0, 0, done).clone();
}

}  // namespace image
}  // namespace tva
