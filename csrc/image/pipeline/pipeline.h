// Fused preprocessing pipelines: decode -> resize -> crop/flip -> to float -> normalize in one pass.
//
// A pipeline is described by the geometry torchvision's transforms would apply one after another,
// already composed (the Python layer, torchvision_adapter.transforms.Pipeline, analyses a Compose,
// draws the random parameters with torch's generator and fills this description):
//
//   source region  src (x, y, width, height) of the image (RandomCrop/CenterCrop/RandomResizedCrop
//                  before any resize)
//   resize         the region resized to resize_h x resize_w (torchvision's tensor resize: nearest,
//                  bilinear or bicubic, antialias on/off); equal sizes mean no resize
//   window         the output: window (x, y, w, h) of the resized image; pixels outside `valid` (a
//                  rectangle of the resized image, clipped to it) are zero, as torchvision's crops
//                  and CenterCrop pad them
//   flips          of the window
//   values         uint8 (out_float false), or float x / 255 (ToTensor, ConvertImageDtype), then
//                  (x - mean[c]) / std[c] (Normalize, when mean is not empty)
//
// Only the output pixels are computed: the resize evaluates the rows and columns inside the window,
// from the source rows and columns their filter taps reach, and a JPEG is decoded only in that
// region. Each output pixel is computed with the same arithmetic as torchvision's tensor path on the
// adapter's kernels (see transforms/resize.cpp), so the result equals the unfused one.
#pragma once

#include <ATen/ATen.h>

#include <string>
#include <vector>

#include "image/io/decode.h"

namespace tva {
namespace image {

enum class PipelineInterp { kNearest, kBilinear, kBicubic };

struct PipelineSpec {
  CropRect src;  // in source pixels; must lie inside the image
  int64_t resize_h = 0;
  int64_t resize_w = 0;
  PipelineInterp interp = PipelineInterp::kBilinear;
  bool antialias = false;
  int64_t win_x = 0, win_y = 0, win_w = 0, win_h = 0;  // in resized pixels
  int64_t valid_x0 = 0, valid_y0 = 0, valid_x1 = 0, valid_y1 = 0;  // [x0, x1) x [y0, y1)
  bool hflip = false;
  bool vflip = false;
  bool out_float = false;
  std::vector<float> mean;  // empty: no normalisation (1 or C values otherwise)
  std::vector<float> std;
  // Encoded input only: a JPEG may be decoded at a reduced scale (1/2 .. 1/8, libjpeg's fast DCT,
  // no fancy upsampling) when the resize shrinks at least 2x; changes pixels (measured in the
  // README), never chosen implicitly.
  bool fast = false;
  int64_t max_pixels = kDefaultMaxPixels;  // encoded input: larger images are refused (0: no limit)
};

// On a decoded uint8 image [C, H, W] (any strides). Output [C, win_h, win_w], uint8 or float32.
at::Tensor run_pipeline(const at::Tensor& img, const PipelineSpec& spec);

// On an encoded JPEG or PNG (decoded to RGB); errors are c10::Error.
at::Tensor run_pipeline_encoded(const uint8_t* data, size_t size, const PipelineSpec& spec);

}  // namespace image
}  // namespace tva
