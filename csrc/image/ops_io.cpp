// Schemas of the image I/O operators (torch.ops.torchvision_adapter.*) and their CPU kernels.
// They are this project's own operators; torchvision's image operators are left untouched.
#include <ATen/ATen.h>
#include <torch/library.h>

#include <atomic>
#include <string>
#include <tuple>
#include <vector>

#include "image/io/decode.h"

namespace tva {
namespace image {
namespace {

std::atomic<int64_t> g_max_pixels{kDefaultMaxPixels};

DecodeOptions make_options(int64_t mode, int64_t min_width, int64_t min_height,
                           c10::IntArrayRef crop, int64_t max_pixels, bool fast) {
  DecodeOptions opts;
  TVA_DECODE_CHECK(mode == 0 || mode == 1 || mode == 3,
                   "decode_image: mode should be 0 (unchanged), 1 (gray) or 3 (RGB), got ", mode);
  opts.mode = static_cast<ImageMode>(mode);
  opts.min_width = min_width;
  opts.min_height = min_height;
  TVA_DECODE_CHECK(crop.empty() || crop.size() == 4,
                   "decode_image: crop should be [] or [x, y, width, height], got ", crop.size(),
                   " values");
  if (crop.size() == 4) {
    TVA_DECODE_CHECK(crop[2] > 0 && crop[3] > 0,
                     "decode_image: crop width and height should be > 0, got ", crop[2], " and ",
                     crop[3]);
    opts.crop = CropRect{crop[0], crop[1], crop[2], crop[3]};
  }
  opts.max_pixels = max_pixels < 0 ? g_max_pixels.load() : max_pixels;
  if (fast) {
    // libjpeg's fastest settings (changes pixels): fast integer IDCT, no fancy upsampling.
    opts.dct = DctMethod::kFast;
    opts.fancy_upsampling = false;
  }
  return opts;
}

at::Tensor check_data(const at::Tensor& data) {
  TVA_DECODE_CHECK(data.device().is_cpu(), "decode_image: data should be a CPU tensor, got ",
                   data.device());
  TVA_DECODE_CHECK(data.scalar_type() == at::kByte,
                   "decode_image: data should be a uint8 tensor, got ", data.scalar_type());
  TVA_DECODE_CHECK(data.dim() == 1, "decode_image: data should be a 1-D tensor of bytes, got ",
                   data.dim(), "D");
  return data.contiguous();
}

at::Tensor decode_image_op(const at::Tensor& data, int64_t mode, int64_t min_width,
                           int64_t min_height, c10::IntArrayRef crop, int64_t max_pixels,
                           bool fast) {
  const at::Tensor bytes = check_data(data);
  const DecodeOptions opts = make_options(mode, min_width, min_height, crop, max_pixels, fast);
  return decode_image(bytes.data_ptr<uint8_t>(), static_cast<size_t>(bytes.numel()), opts);
}

at::Tensor read_file_op(c10::string_view path) { return read_file(std::string(path)); }

// Decodes a file; errors name it.
at::Tensor decode_file(const std::string& path, const at::Tensor& bytes,
                       const DecodeOptions& opts) {
  try {
    return decode_image(bytes.data_ptr<uint8_t>(), static_cast<size_t>(bytes.numel()), opts);
  } catch (const c10::Error& e) {
    TVA_DECODE_CHECK(false, "cannot decode image file '", path, "': ", e.what_without_backtrace());
  }
}

at::Tensor read_image_op(c10::string_view path, int64_t mode, int64_t min_width, int64_t min_height,
                         c10::IntArrayRef crop, int64_t max_pixels, bool fast) {
  const std::string p(path);
  const DecodeOptions opts = make_options(mode, min_width, min_height, crop, max_pixels, fast);
  return decode_file(p, read_file(p), opts);
}

// For loaders: decodes JPEG and PNG files natively and hands other formats back as bytes (read
// once) for the caller to decode otherwise. Returns (image, empty) or (empty, bytes).
std::tuple<at::Tensor, at::Tensor> load_image_op(c10::string_view path, int64_t mode) {
  const std::string p(path);
  at::Tensor bytes = read_file(p);
  const auto* data = bytes.data_ptr<uint8_t>();
  const size_t size = static_cast<size_t>(bytes.numel());
  if (sniff_format(data, size) == ImageFormat::kUnknown) {
    return {at::empty({0}, at::kByte), bytes};
  }
  const DecodeOptions opts = make_options(mode, 0, 0, {}, -1, false);
  return {decode_file(p, bytes, opts), at::empty({0}, at::kByte)};
}

// [format (0 unknown, 1 JPEG, 2 PNG), width, height, channels]; unknown formats give [0, 0, 0, 0].
int64_t jpeg_entropy_decode_op(const at::Tensor& data, int64_t scale) {
  const at::Tensor bytes = check_data(data);
  return jpeg_entropy_decode(bytes.data_ptr<uint8_t>(), static_cast<size_t>(bytes.numel()), scale);
}

std::vector<int64_t> image_info_op(const at::Tensor& data) {
  const at::Tensor bytes = check_data(data);
  const auto* ptr = bytes.data_ptr<uint8_t>();
  const size_t size = static_cast<size_t>(bytes.numel());
  if (size == 0 || sniff_format(ptr, size) == ImageFormat::kUnknown) {
    return {0, 0, 0, 0};
  }
  const DecodeInfo info = read_image_info(ptr, size);
  return {static_cast<int64_t>(info.format), info.full_width, info.full_height, info.channels};
}

void set_max_image_pixels(int64_t n) { g_max_pixels.store(n); }

int64_t get_max_image_pixels() { return g_max_pixels.load(); }

}  // namespace

TORCH_LIBRARY_FRAGMENT(torchvision_adapter, m) {
  m.def(
      "decode_image(Tensor data, int mode=3, int min_width=0, int min_height=0, int[] crop=[], "
      "int max_pixels=-1, bool fast=False) -> Tensor");
  m.def("image_info(Tensor data) -> int[]");
  // Operators without tensor arguments have one kernel for every dispatch key.
  m.def("read_file(str path) -> Tensor", TORCH_FN(read_file_op));
  m.def(
      "read_image(str path, int mode=3, int min_width=0, int min_height=0, int[] crop=[], "
      "int max_pixels=-1, bool fast=False) -> Tensor",
      TORCH_FN(read_image_op));
  m.def("_load_image(str path, int mode=3) -> (Tensor, Tensor)", TORCH_FN(load_image_op));
  m.def("_jpeg_entropy_decode(Tensor data, int scale=1) -> int", TORCH_FN(jpeg_entropy_decode_op));
  m.def("_set_max_image_pixels(int n) -> ()", TORCH_FN(set_max_image_pixels));
  m.def("_get_max_image_pixels() -> int", TORCH_FN(get_max_image_pixels));
}

TORCH_LIBRARY_IMPL(torchvision_adapter, CPU, m) {
  m.impl("decode_image", TORCH_FN(decode_image_op));
  m.impl("image_info", TORCH_FN(image_info_op));
}

}  // namespace image
}  // namespace tva
