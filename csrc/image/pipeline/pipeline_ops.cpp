// Schemas of the fused pipeline operators (torch.ops.torchvision_adapter.pipeline*) and their
// kernels. The arguments are the composed geometry of pipeline.h:
//   src        [x, y, width, height] region of the source image ([] = the whole image)
//   resize     [height, width] of the resized region ([] = no resize)
//   window     [x, y, width, height] of the output in resized pixels ([] = the whole resized image)
//   valid      [x0, y0, x1, y1] rectangle of real pixels in resized pixels, zeros elsewhere ([] = all)
#include <torch/library.h>

#include <string>

#include "image/io/decode.h"
#include "image/pipeline/pipeline.h"

namespace tva {
namespace image {
namespace {

PipelineInterp parse_interp(c10::string_view s) {
  if (s == "nearest") return PipelineInterp::kNearest;
  if (s == "bilinear") return PipelineInterp::kBilinear;
  if (s == "bicubic") return PipelineInterp::kBicubic;
  TORCH_CHECK(false, "pipeline: interpolation should be 'nearest', 'bilinear' or 'bicubic', got '", s,
              "'");
}

PipelineSpec make_spec(int64_t width, int64_t height, c10::IntArrayRef src, c10::IntArrayRef resize,
                       c10::string_view interpolation, bool antialias, c10::IntArrayRef window,
                       c10::IntArrayRef valid, bool hflip, bool vflip, bool to_float,
                       at::ArrayRef<double> mean, at::ArrayRef<double> std, bool fast) {
  PipelineSpec s;
  TORCH_CHECK(src.empty() || src.size() == 4, "pipeline: src should be [] or [x, y, width, height]");
  TORCH_CHECK(resize.empty() || resize.size() == 2, "pipeline: resize should be [] or [height, width]");
  TORCH_CHECK(window.empty() || window.size() == 4,
              "pipeline: window should be [] or [x, y, width, height]");
  TORCH_CHECK(valid.empty() || valid.size() == 4, "pipeline: valid should be [] or [x0, y0, x1, y1]");
  s.src = src.empty() ? CropRect{0, 0, width, height} : CropRect{src[0], src[1], src[2], src[3]};
  s.resize_h = resize.empty() ? s.src.height : resize[0];
  s.resize_w = resize.empty() ? s.src.width : resize[1];
  s.interp = parse_interp(interpolation);
  TORCH_CHECK(!antialias || s.interp != PipelineInterp::kNearest,
              "Antialias option is supported for bilinear and bicubic interpolation modes only");
  s.antialias = antialias;
  if (window.empty()) {
    s.win_w = s.resize_w;
    s.win_h = s.resize_h;
  } else {
    s.win_x = window[0];
    s.win_y = window[1];
    s.win_w = window[2];
    s.win_h = window[3];
  }
  if (valid.empty()) {
    s.valid_x1 = s.resize_w;
    s.valid_y1 = s.resize_h;
  } else {
    s.valid_x0 = valid[0];
    s.valid_y0 = valid[1];
    s.valid_x1 = valid[2];
    s.valid_y1 = valid[3];
  }
  s.hflip = hflip;
  s.vflip = vflip;
  s.out_float = to_float;
  for (double m : mean) s.mean.push_back(static_cast<float>(m));
  for (double d : std) s.std.push_back(static_cast<float>(d));
  s.fast = fast;
  return s;
}

at::Tensor pipeline_op(const at::Tensor& img, c10::IntArrayRef src, c10::IntArrayRef resize,
                       c10::string_view interpolation, bool antialias, c10::IntArrayRef window,
                       c10::IntArrayRef valid, bool hflip, bool vflip, bool to_float,
                       at::ArrayRef<double> mean, at::ArrayRef<double> std) {
  TORCH_CHECK(img.dim() == 3, "pipeline: img should be a [C, H, W] tensor, got shape ", img.sizes());
  const PipelineSpec s = make_spec(img.size(2), img.size(1), src, resize, interpolation, antialias,
                                   window, valid, hflip, vflip, to_float, mean, std, false);
  return run_pipeline(img, s);
}

at::Tensor pipeline_encoded_op(const at::Tensor& data, c10::IntArrayRef src, c10::IntArrayRef resize,
                               c10::string_view interpolation, bool antialias,
                               c10::IntArrayRef window, c10::IntArrayRef valid, bool hflip,
                               bool vflip, bool to_float, at::ArrayRef<double> mean,
                               at::ArrayRef<double> std, bool fast, int64_t max_pixels) {
  TVA_DECODE_CHECK(data.device().is_cpu() && data.scalar_type() == at::kByte && data.dim() == 1,
                   "pipeline_encoded: data should be a 1-D uint8 CPU tensor of encoded bytes, got ",
                   data.scalar_type(), " with shape ", data.sizes());
  const at::Tensor bytes = data.contiguous();
  const auto* ptr = bytes.data_ptr<uint8_t>();
  const size_t size = static_cast<size_t>(bytes.numel());
  TVA_DECODE_CHECK(size > 0 && sniff_format(ptr, size) != ImageFormat::kUnknown,
                   "pipeline_encoded: data is not a JPEG or PNG image");
  const DecodeInfo header = read_image_info(ptr, size);
  PipelineSpec s = make_spec(header.full_width, header.full_height, src, resize, interpolation,
                             antialias, window, valid, hflip, vflip, to_float, mean, std, fast);
  s.max_pixels = max_pixels;
  return run_pipeline_encoded(ptr, size, s);
}

}  // namespace

TORCH_LIBRARY_FRAGMENT(torchvision_adapter, m) {
  m.def(
      "pipeline(Tensor img, int[] src, int[] resize, str interpolation, bool antialias, int[] window, "
      "int[] valid, bool hflip, bool vflip, bool to_float, float[] mean, float[] std) -> Tensor");
  m.def(
      "pipeline_encoded(Tensor data, int[] src, int[] resize, str interpolation, bool antialias, "
      "int[] window, int[] valid, bool hflip, bool vflip, bool to_float, float[] mean, float[] std, "
      "bool fast=False, int max_pixels=178956970) -> Tensor");
}

TORCH_LIBRARY_IMPL(torchvision_adapter, CPU, m) {
  m.impl("pipeline", TORCH_FN(pipeline_op));
  m.impl("pipeline_encoded", TORCH_FN(pipeline_encoded_op));
}

}  // namespace image
}  // namespace tva
