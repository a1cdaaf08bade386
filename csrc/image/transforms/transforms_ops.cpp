// Schemas of the image transform operators (torch.ops.torchvision_adapter.*) and their CPU kernels.
// torchvision's transforms are Python functions, not dispatcher operators: the Python package
// torchvision_adapter.transforms routes torchvision.transforms.functional_tensor to these while the
// adapter is enabled.
#include <torch/library.h>

#include "image/transforms/transforms.h"

namespace tva {
namespace image {
namespace {

at::Tensor normalize_out_of_place(
    const at::Tensor& img, at::ArrayRef<double> mean, at::ArrayRef<double> std) {
  return normalize(img, mean, std, /*inplace=*/false);
}

at::Tensor& normalize_inplace(at::Tensor& img, at::ArrayRef<double> mean, at::ArrayRef<double> std) {
  normalize(img, mean, std, /*inplace=*/true);
  return img;
}

} // namespace

TORCH_LIBRARY_FRAGMENT(torchvision_adapter, m) {
  m.def("resize(Tensor img, int height, int width, str interpolation, bool antialias) -> Tensor");
  m.def(
      "detection_preprocess(Tensor img, int height, int width, int pad_height, int pad_width, "
      "float[] mean, float[] std, float scale, bool to_bgr, float pad_value) -> Tensor");
  m.def("normalize(Tensor img, float[] mean, float[] std) -> Tensor");
  m.def("normalize_(Tensor(a!) img, float[] mean, float[] std) -> Tensor(a!)");
  m.def("convert_image_dtype(Tensor img, ScalarType dtype) -> Tensor");
  m.def("hflip(Tensor img) -> Tensor");
  m.def("vflip(Tensor img) -> Tensor");
  m.def("pad(Tensor img, int[] padding, float fill, str padding_mode) -> Tensor");
  m.def("rgb_to_grayscale(Tensor img) -> Tensor");
  m.def("adjust_brightness(Tensor img, float factor) -> Tensor");
  m.def("adjust_contrast(Tensor img, float factor) -> Tensor");
  m.def("adjust_saturation(Tensor img, float factor) -> Tensor");
  m.def("adjust_hue(Tensor img, float factor) -> Tensor");
  m.def("adjust_gamma(Tensor img, float gamma, float gain) -> Tensor");
  m.def("adjust_sharpness(Tensor img, float factor) -> Tensor");
  m.def("invert(Tensor img) -> Tensor");
  m.def("posterize(Tensor img, int mask) -> Tensor");
  m.def("solarize(Tensor img, float threshold) -> Tensor");
  m.def("autocontrast(Tensor img) -> Tensor");
  m.def("equalize(Tensor img) -> Tensor");
  m.def("gaussian_blur(Tensor img, Tensor kernel_x, Tensor kernel_y) -> Tensor");
  m.def("grid_transform(Tensor img, Tensor grid, str mode, float[] fill, bool has_fill) -> Tensor");
  m.def(
      "displaced_grid_transform(Tensor img, Tensor xs, Tensor ys, Tensor displacement, str mode, float[] fill, "
      "bool has_fill) -> Tensor");
  m.def(
      "projective_transform(Tensor img, Tensor xs, Tensor ys, Tensor theta, Tensor? denominator, "
      "str mode, float[] fill, bool has_fill) -> Tensor");
}

TORCH_LIBRARY_IMPL(torchvision_adapter, CPU, m) {
  m.impl("resize", TORCH_FN(resize));
  m.impl("detection_preprocess", TORCH_FN(detection_preprocess));
  m.impl("normalize", TORCH_FN(normalize_out_of_place));
  m.impl("normalize_", TORCH_FN(normalize_inplace));
  m.impl("convert_image_dtype", TORCH_FN(convert_image_dtype));
  m.impl("hflip", TORCH_FN(hflip));
  m.impl("vflip", TORCH_FN(vflip));
  m.impl("pad", TORCH_FN(pad));
  m.impl("rgb_to_grayscale", TORCH_FN(rgb_to_grayscale));
  m.impl("adjust_brightness", TORCH_FN(adjust_brightness));
  m.impl("adjust_contrast", TORCH_FN(adjust_contrast));
  m.impl("adjust_saturation", TORCH_FN(adjust_saturation));
  m.impl("adjust_hue", TORCH_FN(adjust_hue));
  m.impl("adjust_gamma", TORCH_FN(adjust_gamma));
  m.impl("adjust_sharpness", TORCH_FN(adjust_sharpness));
  m.impl("invert", TORCH_FN(invert));
  m.impl("posterize", TORCH_FN(posterize));
  m.impl("solarize", TORCH_FN(solarize));
  m.impl("autocontrast", TORCH_FN(autocontrast));
  m.impl("equalize", TORCH_FN(equalize));
  m.impl("gaussian_blur", TORCH_FN(gaussian_blur));
  m.impl("grid_transform", TORCH_FN(grid_transform));
  m.impl("displaced_grid_transform", TORCH_FN(displaced_grid_transform));
  m.impl("projective_transform", TORCH_FN(projective_transform));
}

} // namespace image
} // namespace tva
