// roi_pool: schemas under torchvision_adapter:: (same signatures as torchvision's), CPU and
// autograd kernels, and the torchvision kernels they replace while the adapter is enabled.
#include <torch/autograd.h>
#include <torch/library.h>

#include "adapter/switch.h"
#include "ops/cpu/roi_autograd.h"
#include "ops/cpu/roi_kernels.h"

namespace tva {
namespace ops {

namespace {

class RoIPoolFunction : public torch::autograd::Function<RoIPoolFunction> {
 public:
  static torch::autograd::variable_list forward(
      torch::autograd::AutogradContext* ctx, const torch::autograd::Variable& input,
      const torch::autograd::Variable& rois, double spatial_scale, int64_t pooled_height,
      int64_t pooled_width) {
    ctx->saved_data["spatial_scale"] = spatial_scale;
    ctx->saved_data["pooled_height"] = pooled_height;
    ctx->saved_data["pooled_width"] = pooled_width;
    ctx->saved_data["input_shape"] = input.sizes();
    at::AutoDispatchBelowADInplaceOrView guard;
    auto result = roi_pool_forward(input, rois, spatial_scale, pooled_height, pooled_width);
    auto output = std::get<0>(result);
    auto argmax = std::get<1>(result);
    ctx->save_for_backward({rois, argmax});
    ctx->mark_non_differentiable({argmax});
    return {output, argmax};
  }

  static torch::autograd::variable_list backward(
      torch::autograd::AutogradContext* ctx, const torch::autograd::variable_list& grad_output) {
    check_no_double_backward("roi_pool");
    const auto saved = ctx->get_saved_variables();
    const auto shape = ctx->saved_data["input_shape"].toIntVector();
    const auto grad_in = roi_pool_backward(
        grad_output[0], saved[0], saved[1], ctx->saved_data["spatial_scale"].toDouble(),
        ctx->saved_data["pooled_height"].toInt(), ctx->saved_data["pooled_width"].toInt(),
        shape[0], shape[1], shape[2], shape[3]);
    return {grad_in, torch::autograd::Variable(), torch::autograd::Variable(),
            torch::autograd::Variable(), torch::autograd::Variable()};
  }
};

std::tuple<at::Tensor, at::Tensor> roi_pool_autograd(
    const at::Tensor& input, const at::Tensor& rois, double spatial_scale, int64_t pooled_height,
    int64_t pooled_width) {
  auto r = RoIPoolFunction::apply(input, rois, spatial_scale, pooled_height, pooled_width);
  return std::make_tuple(r[0], r[1]);
}

void override_roi_pool(torch::Library& lib) {
  lib.impl("roi_pool", TORCH_FN(roi_pool_forward));
}
void override_roi_pool_backward(torch::Library& lib) {
  lib.impl("_roi_pool_backward", TORCH_FN(roi_pool_backward));
}

} // namespace

TORCH_LIBRARY_FRAGMENT(torchvision_adapter, m) {
  m.def(
      "roi_pool(Tensor input, Tensor rois, float spatial_scale, int pooled_height, "
      "int pooled_width) -> (Tensor, Tensor)");
  m.def(
      "_roi_pool_backward(Tensor grad, Tensor rois, Tensor argmax, float spatial_scale, "
      "int pooled_height, int pooled_width, int batch_size, int channels, int height, "
      "int width) -> Tensor");
}

TORCH_LIBRARY_IMPL(torchvision_adapter, CPU, m) {
  m.impl("roi_pool", TORCH_FN(roi_pool_forward));
  m.impl("_roi_pool_backward", TORCH_FN(roi_pool_backward));
}

TORCH_LIBRARY_IMPL(torchvision_adapter, Autograd, m) {
  m.impl("roi_pool", TORCH_FN(roi_pool_autograd));
}

TVA_OVERRIDE_TORCHVISION("roi_pool", override_roi_pool);
TVA_OVERRIDE_TORCHVISION("_roi_pool_backward", override_roi_pool_backward);

} // namespace ops
} // namespace tva
