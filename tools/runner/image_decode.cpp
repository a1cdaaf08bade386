#include "runner/image_decode.h"

#include <memory>
#include <stdexcept>

#include <spng.h>
#include <turbojpeg.h>

#include "runner/files.h"

namespace tva {
namespace runner {
namespace {

at::Tensor decode_jpeg(const std::vector<uint8_t>& data, const std::string& origin) {
  std::unique_ptr<void, int (*)(tjhandle)> handle(tjInitDecompress(), tjDestroy);
  if (!handle) throw std::runtime_error("cannot initialise the JPEG decoder");
  int width = 0, height = 0, subsampling = 0, colorspace = 0;
  if (tjDecompressHeader3(handle.get(), data.data(), data.size(), &width, &height, &subsampling,
                          &colorspace) != 0) {
    throw std::runtime_error("cannot decode JPEG '" + origin + "': " +
                             tjGetErrorStr2(handle.get()));
  }
  if (colorspace == TJCS_CMYK || colorspace == TJCS_YCCK) {
    throw std::runtime_error("cannot decode JPEG '" + origin + "': CMYK images are not supported");
  }
  at::Tensor hwc = at::empty({height, width, 3}, at::kByte);
  // Flags 0: accurate integer IDCT and fancy upsampling, the libjpeg defaults PIL also uses.
  if (tjDecompress2(handle.get(), data.data(), data.size(), hwc.data_ptr<uint8_t>(), width, 0,
                    height, TJPF_RGB, 0) != 0) {
    throw std::runtime_error("cannot decode JPEG '" + origin + "': " +
                             tjGetErrorStr2(handle.get()));
  }
  return hwc.permute({2, 0, 1}).contiguous();
}

at::Tensor decode_png(const std::vector<uint8_t>& data, const std::string& origin) {
  std::unique_ptr<spng_ctx, void (*)(spng_ctx*)> ctx(spng_ctx_new(0), spng_ctx_free);
  if (!ctx) throw std::runtime_error("cannot initialise the PNG decoder");
  auto check = [&](int rc) {
    if (rc != 0) {
      throw std::runtime_error("cannot decode PNG '" + origin + "': " + spng_strerror(rc));
    }
  };
  check(spng_set_png_buffer(ctx.get(), data.data(), data.size()));
  spng_ihdr ihdr{};
  check(spng_get_ihdr(ctx.get(), &ihdr));
  // RGBA8 is the one output format libspng converts every colour type and bit depth to.
  size_t size = 0;
  check(spng_decoded_image_size(ctx.get(), SPNG_FMT_RGBA8, &size));
  const int64_t height = ihdr.height, width = ihdr.width;
  at::Tensor hwc = at::empty({height, width, 4}, at::kByte);
  if (static_cast<size_t>(hwc.numel()) != size) {
    throw std::runtime_error("cannot decode PNG '" + origin + "': unexpected decoded size");
  }
  check(spng_decode_image(ctx.get(), hwc.data_ptr<uint8_t>(), size, SPNG_FMT_RGBA8, 0));
  return hwc.narrow(2, 0, 3).permute({2, 0, 1}).contiguous();
}

} // namespace

at::Tensor decode_image(const std::vector<uint8_t>& data, const std::string& origin) {
  static const uint8_t kPng[] = {0x89, 'P', 'N', 'G', 0x0d, 0x0a, 0x1a, 0x0a};
  if (data.size() >= 3 && data[0] == 0xff && data[1] == 0xd8 && data[2] == 0xff) {
    return decode_jpeg(data, origin);
  }
  if (data.size() >= 8 && std::equal(kPng, kPng + 8, data.begin())) {
    return decode_png(data, origin);
  }
  throw std::runtime_error("'" + origin + "' is neither a JPEG nor a PNG image");
}

bool is_image_path(const std::string& path) {
  const std::string ext = file_extension(path);
  return ext == ".jpg" || ext == ".jpeg" || ext == ".png";
}

} // namespace runner
} // namespace tva
