// Schemas of deform_conv2d and its backward, their CPU and autograd kernels, and the torchvision
// kernels they replace.
//
// The schemas are torchvision's, under this project's namespace: torchvision_adapter::deform_conv2d
// is usable (and differentiable) whatever the adapter switch says, and torchvision::deform_conv2d
// and torchvision::_deform_conv2d_backward run on the same kernels while the adapter is enabled.
#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/autograd.h>

#include "ops/deform_conv2d.h"
#include "ops/op_registration.h"

namespace tva {
namespace ops {
namespace {

// The schemas' trailing arguments, spelled out once: the kernels below take them in this form and
// gather them into a DeformConv2dParams.
#define TVA_DEFORM_CONV2D_PARAMS                                                          \
  int64_t stride_h, int64_t stride_w, int64_t pad_h, int64_t pad_w, int64_t dilation_h,   \
      int64_t dilation_w, int64_t groups, int64_t offset_groups, bool use_mask
#define TVA_DEFORM_CONV2D_PARAMS_STRUCT                                                   \
  DeformConv2dParams {                                                                    \
    stride_h, stride_w, pad_h, pad_w, dilation_h, dilation_w, groups, offset_groups, use_mask \
  }

at::Tensor forward_kernel(
    const at::Tensor& input, const at::Tensor& weight, const at::Tensor& offset,
    const at::Tensor& mask, const at::Tensor& bias, TVA_DEFORM_CONV2D_PARAMS) {
  return deform_conv2d(input, weight, offset, mask, bias, TVA_DEFORM_CONV2D_PARAMS_STRUCT);
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor> backward_kernel(
    const at::Tensor& grad, const at::Tensor& input, const at::Tensor& weight,
    const at::Tensor& offset, const at::Tensor& mask, const at::Tensor& bias,
    TVA_DEFORM_CONV2D_PARAMS) {
  return deform_conv2d_backward(
      grad, input, weight, offset, mask, bias, TVA_DEFORM_CONV2D_PARAMS_STRUCT);
}

// Calls the torchvision_adapter:: operator of the same signature as fn through the dispatcher.
template <typename Fn, typename... Args>
auto call_op(const char* name, Fn* /*signature*/, const DeformConv2dParams& p, Args&&... args) {
  static auto op = c10::Dispatcher::singleton().findSchemaOrThrow(name, "").typed<Fn>();
  return op.call(
      std::forward<Args>(args)..., p.stride_h, p.stride_w, p.pad_h, p.pad_w, p.dilation_h,
      p.dilation_w, p.groups, p.offset_groups, p.use_mask);
}

class DeformConv2dFunction : public torch::autograd::Function<DeformConv2dFunction> {
 public:
  static torch::autograd::variable_list forward(
      torch::autograd::AutogradContext* ctx, const torch::autograd::Variable& input,
      const torch::autograd::Variable& weight, const torch::autograd::Variable& offset,
      const torch::autograd::Variable& mask, const torch::autograd::Variable& bias,
      const DeformConv2dParams& p) {
    at::AutoDispatchBelowADInplaceOrView guard;
    auto out = call_op(
        "torchvision_adapter::deform_conv2d", &forward_kernel, p, input, weight, offset, mask,
        bias);
    ctx->save_for_backward({input, weight, offset, mask, bias});
    ctx->saved_data["params"] = std::vector<int64_t>{
        p.stride_h, p.stride_w, p.pad_h, p.pad_w, p.dilation_h, p.dilation_w, p.groups,
        p.offset_groups, p.use_mask ? 1 : 0};
    return {out};
  }

  static torch::autograd::variable_list backward(
      torch::autograd::AutogradContext* ctx, const torch::autograd::variable_list& grad_output) {
    const auto saved = ctx->get_saved_variables();
    const auto v = ctx->saved_data["params"].toIntVector();
    const DeformConv2dParams p{v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8] != 0};
    auto grads = call_op(
        "torchvision_adapter::_deform_conv2d_backward", &backward_kernel, p, grad_output[0],
        saved[0], saved[1], saved[2], saved[3], saved[4]);
    // Gradients of (input, weight, offset, mask, bias, params).
    return {std::get<0>(grads), std::get<1>(grads), std::get<2>(grads), std::get<3>(grads),
            std::get<4>(grads), torch::autograd::Variable()};
  }
};

at::Tensor autograd_kernel(
    const at::Tensor& input, const at::Tensor& weight, const at::Tensor& offset,
    const at::Tensor& mask, const at::Tensor& bias, TVA_DEFORM_CONV2D_PARAMS) {
  return DeformConv2dFunction::apply(
      input, weight, offset, mask, bias, TVA_DEFORM_CONV2D_PARAMS_STRUCT)[0];
}

#undef TVA_DEFORM_CONV2D_PARAMS
#undef TVA_DEFORM_CONV2D_PARAMS_STRUCT

} // namespace

TVA_REGISTER_OP_WITH_BACKWARD(
    deform_conv2d,
    "deform_conv2d(Tensor input, Tensor weight, Tensor offset, Tensor mask, Tensor bias, "
    "int stride_h, int stride_w, int pad_h, int pad_w, int dilation_h, int dilation_w, "
    "int groups, int offset_groups, bool use_mask) -> Tensor",
    "_deform_conv2d_backward(Tensor grad, Tensor input, Tensor weight, Tensor offset, "
    "Tensor mask, Tensor bias, int stride_h, int stride_w, int pad_h, int pad_w, "
    "int dilation_h, int dilation_w, int groups, int offset_groups, bool use_mask) "
    "-> (Tensor, Tensor, Tensor, Tensor, Tensor)",
    forward_kernel, backward_kernel, autograd_kernel);

} // namespace ops
} // namespace tva
