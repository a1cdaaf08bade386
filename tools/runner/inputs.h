// Where the runner's inputs come from: a folder (or a single file) of raw .bin, .npy or images, or
// synthetic random tensors; and the simple preprocessing applied to images.
#pragma once

#include <string>
#include <vector>

#include <ATen/ATen.h>

namespace tva {
namespace runner {

// Applied to decoded images (uint8 RGB [3, H, W]) in this order: channel swap, conversion to float in
// [0, 1] (unless keep_uint8), bilinear resize (align_corners=False, no antialias, the default of
// torch.nn.functional.interpolate), then (x - mean) / std per channel.
struct ImagePreprocess {
  std::vector<int64_t> resize; // {height, width}, or empty to keep the size
  std::vector<double> mean;    // one value per channel, or empty
  std::vector<double> std;     // one value per channel, or empty
  bool keep_uint8 = false;
  bool bgr = false;
};

struct InputSpec {
  std::vector<int64_t> shape;   // one sample's shape, without the batch dimension
  at::ScalarType dtype = at::kFloat;
  bool dtype_given = false;     // --dtype was passed: .npy files must match it
  ImagePreprocess image;
};

// The input files under `path` (a folder: its .bin, .npy, .jpg, .jpeg and .png files, sorted by name;
// a file: itself). Throws naming the path when it does not exist or holds no input.
std::vector<std::string> list_inputs(const std::string& path);

// One sample: reads, decodes and preprocesses the file. Throws std::runtime_error naming the file
// when it cannot be read or does not match the spec (a .bin of the wrong size, an .npy of another
// shape or dtype).
at::Tensor load_sample(const std::string& path, const InputSpec& spec);

at::Tensor preprocess_image(const at::Tensor& rgb, const ImagePreprocess& pre);

// A random sample of spec.shape and spec.dtype (uniform [0, 1) for floating types, [0, 255] for
// uint8, {0, 1} for bool, [0, 100) for other integers).
at::Tensor synthetic_sample(const InputSpec& spec, at::Generator& gen);

std::string shape_string(at::IntArrayRef shape);

} // namespace runner
} // namespace tva
