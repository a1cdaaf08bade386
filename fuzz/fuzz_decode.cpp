// libFuzzer target for the native decoders (JPEG, PNG): any input must either decode or raise
// c10::Error, never crash, hang, leak or touch memory it does not own (AddressSanitizer).
//
// The last byte of the input picks the options, so one corpus exercises every path: output mode,
// reduced-size decoding and region decoding.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/util/Exception.h>

#include <cstddef>
#include <cstdint>

#include "image/io/decode.h"

// Two threads, so that large baseline JPEGs also go through the band-parallel decoder.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  at::set_num_threads(2);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tva::image;
  if (size == 0) {
    return 0;
  }
  const uint8_t selector = data[size - 1];
  DecodeOptions opts;
  static const ImageMode kModes[3] = {ImageMode::kRGB, ImageMode::kGray, ImageMode::kUnchanged};
  opts.mode = kModes[selector % 3];
  opts.max_pixels = 1 << 22;  // keeps each run fast; the limit itself is part of what is tested
  if (selector & 0x08) {
    opts.dct = DctMethod::kFast;
    opts.fancy_upsampling = false;
  }
  try {
    if (selector & 0x10) {
      const DecodeInfo info = read_image_info(data, size);
      if (selector & 0x20) {
        opts.min_width = info.full_width / (1 + (selector >> 6));
        opts.min_height = info.full_height / (1 + (selector >> 6));
      }
      if ((selector & 0x40) && info.full_width > 2 && info.full_height > 2) {
        opts.crop = CropRect{info.full_width / 3, info.full_height / 4, info.full_width / 2,
                             info.full_height / 2};
      }
    }
    DecodeInfo out_info;
    at::Tensor img = decode_image(data, size, opts, &out_info);
    // The output must be fully written memory of the advertised shape.
    if (img.dim() != 3 || img.size(1) != out_info.height || img.size(2) != out_info.width) {
      __builtin_trap();
    }
    volatile int64_t sum = img.sum().item<int64_t>();
    (void)sum;
  } catch (const c10::Error&) {
    // Bad data: the expected way to fail.
  }
  return 0;
}
