// Native kernels behind torchvision.transforms.functional on tensors. Each function computes what
// torchvision 0.14's tensor path (functional_tensor.py) computes for the same arguments, with the same
// float arithmetic where that is practical; the Python layer only routes here the inputs and arguments
// these kernels support and leaves everything else to torchvision itself.
#pragma once

#include <ATen/ATen.h>

#include <tuple>

namespace tva {
namespace image {

// F_t.resize on a [C, H, W] or [N, C, H, W] uint8/float32 tensor: interpolate(align_corners=False)
// (antialias -> _upsample_{bilinear,bicubic}2d_aa), then for uint8 round (and clamp) back to uint8.
at::Tensor resize(
    const at::Tensor& img, int64_t height, int64_t width, c10::string_view interpolation,
    bool antialias);

// Fused detection preprocessing: bilinear resize (torchvision, antialias=False) of a uint8 [3, H, W]
// image to [height, width], rounding to uint8 values, x / scale, (x - mean) / std per channel,
// optional RGB->BGR, written into a [3, pad_height, pad_width] float tensor filled with pad_value.
at::Tensor detection_preprocess(
    const at::Tensor& img, int64_t height, int64_t width, int64_t pad_height, int64_t pad_width,
    at::ArrayRef<double> mean, at::ArrayRef<double> std, double scale, bool to_bgr,
    double pad_value);

// F_t.normalize on float32/float64 [..., C, H, W]: (x - mean) / std per channel (mean, std already
// validated: 1 or C values, std != 0 in the tensor's dtype).
at::Tensor normalize(
    const at::Tensor& img, at::ArrayRef<double> mean, at::ArrayRef<double> std, bool inplace);

// F_t.convert_image_dtype for uint8 -> float32/float64 and float32/float64 -> uint8.
at::Tensor convert_image_dtype(const at::Tensor& img, at::ScalarType dtype);

// Geometry.
at::Tensor hflip(const at::Tensor& img);
at::Tensor vflip(const at::Tensor& img);
// padding: left, right, top, bottom (all >= 0); mode: constant, edge, reflect, symmetric.
at::Tensor pad(const at::Tensor& img, at::IntArrayRef padding, double fill, c10::string_view mode);

// Colour (uint8, float32, float64; [..., C, H, W] with C in {1, 3} as torchvision requires).
at::Tensor rgb_to_grayscale(const at::Tensor& img);  // C == 3 -> [..., 1, H, W]
at::Tensor adjust_brightness(const at::Tensor& img, double factor);
at::Tensor adjust_contrast(const at::Tensor& img, double factor);
at::Tensor adjust_saturation(const at::Tensor& img, double factor);
at::Tensor adjust_hue(const at::Tensor& img, double factor);
at::Tensor adjust_gamma(const at::Tensor& img, double gamma, double gain);
at::Tensor adjust_sharpness(const at::Tensor& img, double factor);
at::Tensor invert(const at::Tensor& img);
at::Tensor posterize(const at::Tensor& img, int64_t bits);
at::Tensor solarize(const at::Tensor& img, double threshold);
at::Tensor autocontrast(const at::Tensor& img);
at::Tensor equalize(const at::Tensor& img);

// F_t.gaussian_blur with the 1-D kernels torchvision computes (kernel_x: kx values, kernel_y: ky
// values, in the image's float dtype), reflect padding.
at::Tensor gaussian_blur(const at::Tensor& img, const at::Tensor& kernel_x, const at::Tensor& kernel_y);

// torchvision's _apply_grid_transform: grid_sample(img, grid, mode, zeros padding, align_corners=False)
// of a [C, H, W] / [N, C, H, W] image with a [1, H_out, W_out, 2] float32 grid, then the fill colour
// (1 or C values) blended in where the grid leaves the image (when has_fill), uint8 rounded back.
at::Tensor grid_transform(
    const at::Tensor& img, const at::Tensor& grid, c10::string_view mode, at::ArrayRef<double> fill,
    bool has_fill);

// The same for elastic_transform's grid: identity grid (x = xs[j], y = ys[i], torchvision's
// _create_identity_grid) plus a [1, H, W, 2] float32 displacement; output size [ys.numel(), xs.numel()].
at::Tensor displaced_grid_transform(
    const at::Tensor& img, const at::Tensor& xs, const at::Tensor& ys, const at::Tensor& displacement,
    c10::string_view mode, at::ArrayRef<double> fill, bool has_fill);

// The same for the affine and perspective grids of rotate/affine/perspective, computed on the fly:
// base point (xs[j], ys[i], 1) times theta ([3, 2]), divided by the product with `denominator` minus
// 1 for a perspective. Output size [ys.numel(), xs.numel()].
at::Tensor projective_transform(
    const at::Tensor& img, const at::Tensor& xs, const at::Tensor& ys, const at::Tensor& theta,
    const c10::optional<at::Tensor>& denominator, c10::string_view mode, at::ArrayRef<double> fill,
    bool has_fill);

} // namespace image
} // namespace tva
