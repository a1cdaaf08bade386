// roi_align: schemas under torchvision_adapter:: (same signatures as torchvision's), CPU and
// autograd kernels, and the torchvision kernels they replace while the adapter is enabled.
#include <torch/autograd.h>
#include <torch/library.h>

#include "adapter/switch.h"
#include "ops/cpu/roi_kernels.h"
#include "ops/cpu/roi_autograd.h"

namespace tva {
namespace ops {

namespace {

class RoIAlignFunction : public torch::autograd::Function<RoIAlignFunction> {
 public:
  static torch::autograd::variable_list forward(
      torch::autograd::AutogradContext* ctx, const torch::autograd::Variable& input,
      const torch::autograd::Variable& rois, double spatial_scale, int64_t pooled_height,
      int64_t pooled_width, int64_t sampling_ratio, bool aligned) {
    ctx->saved_data["spatial_scale"] = spatial_scale;
    ctx->saved_data["pooled_height"] = pooled_height;
    ctx->saved_data["pooled_width"] = pooled_width;
    ctx->saved_data["sampling_ratio"] = sampling_ratio;
    ctx->saved_data["aligned"] = aligned;
    ctx->saved_data["input_shape"] = input.sizes();
    ctx->save_for_backward({rois});
    at::AutoDispatchBelowADInplaceOrView guard;
    return {roi_align_forward(
        input, rois, spatial_scale, pooled_height, pooled_width, sampling_ratio, aligned)};
  }

  static torch::autograd::variable_list backward(
      torch::autograd::AutogradContext* ctx, const torch::autograd::variable_list& grad_output) {
    check_no_double_backward("roi_align");
    const auto rois = ctx->get_saved_variables()[0];
    const auto shape = ctx->saved_data["input_shape"].toIntVector();
    const auto grad_in = roi_align_backward(
        grad_output[0], rois, ctx->saved_data["spatial_scale"].toDouble(),
        ctx->saved_data["pooled_height"].toInt(), ctx->saved_data["pooled_width"].toInt(),
        shape[0], shape[1], shape[2], shape[3], ctx->saved_data["sampling_ratio"].toInt(),
        ctx->saved_data["aligned"].toBool());
    return {grad_in, torch::autograd::Variable(), torch::autograd::Variable(),
            torch::autograd::Variable(), torch::autograd::Variable(),
            torch::autograd::Variable(), torch::autograd::Variable()};
  }
};

at::Tensor roi_align_autograd(
    const at::Tensor& input, const at::Tensor& rois, double spatial_scale, int64_t pooled_height,
    int64_t pooled_width, int64_t sampling_ratio, bool aligned) {
  return RoIAlignFunction::apply(
      input, rois, spatial_scale, pooled_height, pooled_width, sampling_ratio, aligned)[0];
}

void override_roi_align(torch::Library& lib) {
  lib.impl("roi_align", TORCH_FN(roi_align_forward));
}
void override_roi_align_backward(torch::Library& lib) {
  lib.impl("_roi_align_backward", TORCH_FN(roi_align_backward));
}

} // namespace

TORCH_LIBRARY_FRAGMENT(torchvision_adapter, m) {
  m.def(
      "roi_align(Tensor input, Tensor rois, float spatial_scale, int pooled_height, "
      "int pooled_width, int sampling_ratio, bool aligned) -> Tensor");
  m.def(
      "_roi_align_backward(Tensor grad, Tensor rois, float spatial_scale, int pooled_height, "
      "int pooled_width, int batch_size, int channels, int height, int width, "
      "int sampling_ratio, bool aligned) -> Tensor");
}

TORCH_LIBRARY_IMPL(torchvision_adapter, CPU, m) {
  m.impl("roi_align", TORCH_FN(roi_align_forward));
  m.impl("_roi_align_backward", TORCH_FN(roi_align_backward));
}

TORCH_LIBRARY_IMPL(torchvision_adapter, Autograd, m) {
  m.impl("roi_align", TORCH_FN(roi_align_autograd));
}

TVA_OVERRIDE_TORCHVISION("roi_align", override_roi_align);
TVA_OVERRIDE_TORCHVISION("_roi_align_backward", override_roi_align_backward);

} // namespace ops
} // namespace tva
