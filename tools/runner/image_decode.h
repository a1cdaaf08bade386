// Image decoding for the runner's image inputs.
//
// This is the one place the runner turns encoded bytes into pixels. It is written against libjpeg-turbo
// (TurboJPEG API) and libspng directly; when the library gains its own decode API it replaces the
// body of decode_image() and nothing else changes.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <ATen/ATen.h>

namespace tva {
namespace runner {

// Decodes a JPEG or PNG (recognised by its signature, not its name) to a uint8 RGB tensor of shape
// [3, H, W]. Grayscale images are expanded to RGB; an alpha channel is dropped. Throws
// std::runtime_error naming `origin` (a file name, for messages) on data it cannot decode.
at::Tensor decode_image(const std::vector<uint8_t>& data, const std::string& origin);

// Whether the file name looks like an image the runner decodes (.jpg, .jpeg, .png).
bool is_image_path(const std::string& path);

} // namespace runner
} // namespace tva
