// Schemas of deform_conv2d and its backward, their CPU and autograd kernels, and the torchvision
// kernels they replace.
//
// The schemas are torchvision's, under this project's namespace: torchvision_adapter::deform_conv2d
// is usable (and differentiable) whatever the adapter switch says, and torchvision::deform_conv2d
// and torchvision::_deform_conv2d_backward run on the same kernels while the adapter is enabled.
#include <array>
#include <string>

#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/autograd.h>
#include <torch/library.h>

#include "adapter/switch.h"
#include "ops/deform_conv2d.h"

namespace tva {
namespace ops {
namespace {

// The integer arguments, in schema order, saved for backward.
constexpr int kIntArgs = 8;

class DeformConv2dFunction : public torch::autograd::Function<DeformConv2dFunction> {
 public:
  static torch::autograd::variable_list forward(
      torch::autograd::AutogradContext* ctx,
      const torch::autograd::Variable& input,
      const torch::autograd::Variable& weight,
      const torch::autograd::Variable& offset,
      const torch::autograd::Variable& mask,
      const torch::autograd::Variable& bias,
      const std::array<int64_t, kIntArgs>& ints,
      bool use_mask) {
    at::AutoDispatchBelowADInplaceOrView guard;
    static auto op = c10::Dispatcher::singleton()
                         .findSchemaOrThrow("torchvision_adapter::deform_conv2d", "")
                         .typed<decltype(deform_conv2d)>();
    auto out = op.call(
        input, weight, offset, mask, bias, ints[0], ints[1], ints[2], ints[3], ints[4], ints[5],
        ints[6], ints[7], use_mask);
    ctx->save_for_backward({input, weight, offset, mask, bias});
    for (int i = 0; i < kIntArgs; ++i) ctx->saved_data["i" + std::to_string(i)] = ints[i];
    ctx->saved_data["use_mask"] = use_mask;
    return {out};
  }

  static torch::autograd::variable_list backward(
      torch::autograd::AutogradContext* ctx, const torch::autograd::variable_list& grad_output) {
    const auto saved = ctx->get_saved_variables();
    std::array<int64_t, kIntArgs> i;
    for (int k = 0; k < kIntArgs; ++k) i[k] = ctx->saved_data["i" + std::to_string(k)].toInt();
    const bool use_mask = ctx->saved_data["use_mask"].toBool();
    static auto op = c10::Dispatcher::singleton()
                         .findSchemaOrThrow("torchvision_adapter::_deform_conv2d_backward", "")
                         .typed<decltype(deform_conv2d_backward)>();
    auto grads = op.call(
        grad_output[0], saved[0], saved[1], saved[2], saved[3], saved[4], i[0], i[1], i[2], i[3],
        i[4], i[5], i[6], i[7], use_mask);
    return {std::get<0>(grads), std::get<1>(grads), std::get<2>(grads), std::get<3>(grads),
            std::get<4>(grads), torch::autograd::Variable(), torch::autograd::Variable()};
  }
};

at::Tensor deform_conv2d_autograd(
    const at::Tensor& input,
    const at::Tensor& weight,
    const at::Tensor& offset,
    const at::Tensor& mask,
    const at::Tensor& bias,
    int64_t stride_h,
    int64_t stride_w,
    int64_t pad_h,
    int64_t pad_w,
    int64_t dilation_h,
    int64_t dilation_w,
    int64_t groups,
    int64_t offset_groups,
    bool use_mask) {
  const std::array<int64_t, kIntArgs> ints = {
      stride_h, stride_w, pad_h, pad_w, dilation_h, dilation_w, groups, offset_groups};
  return DeformConv2dFunction::apply(input, weight, offset, mask, bias, ints, use_mask)[0];
}

void override_deform_conv2d(torch::Library& lib) {
  lib.impl("deform_conv2d", TORCH_FN(deform_conv2d));
}

void override_deform_conv2d_backward(torch::Library& lib) {
  lib.impl("_deform_conv2d_backward", TORCH_FN(deform_conv2d_backward));
}

} // namespace

TORCH_LIBRARY_FRAGMENT(torchvision_adapter, m) {
  m.def(
      "deform_conv2d(Tensor input, Tensor weight, Tensor offset, Tensor mask, Tensor bias, "
      "int stride_h, int stride_w, int pad_h, int pad_w, int dilation_h, int dilation_w, "
      "int groups, int offset_groups, bool use_mask) -> Tensor");
  m.def(
      "_deform_conv2d_backward(Tensor grad, Tensor input, Tensor weight, Tensor offset, "
      "Tensor mask, Tensor bias, int stride_h, int stride_w, int pad_h, int pad_w, "
      "int dilation_h, int dilation_w, int groups, int offset_groups, bool use_mask) "
      "-> (Tensor, Tensor, Tensor, Tensor, Tensor)");
}

TORCH_LIBRARY_IMPL(torchvision_adapter, CPU, m) {
  m.impl("deform_conv2d", TORCH_FN(deform_conv2d));
  m.impl("_deform_conv2d_backward", TORCH_FN(deform_conv2d_backward));
}

TORCH_LIBRARY_IMPL(torchvision_adapter, Autograd, m) {
  m.impl("deform_conv2d", TORCH_FN(deform_conv2d_autograd));
}

TVA_OVERRIDE_TORCHVISION("deform_conv2d", override_deform_conv2d);
TVA_OVERRIDE_TORCHVISION("_deform_conv2d_backward", override_deform_conv2d_backward);

} // namespace ops
} // namespace tva
