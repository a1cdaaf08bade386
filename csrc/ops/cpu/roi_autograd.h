// Autograd of the RoI operators' own (torchvision_adapter::) kernels, shared by all four: the
// forward saves the arguments, the input's shape and the RoIs (and the arg-max or channel mapping
// the forward returns, which is not differentiable); the backward calls the operator's private
// backward kernel.
#pragma once

#include <vector>

#include <ATen/core/grad_mode.h>
#include <c10/util/Exception.h>
#include <torch/autograd.h>

namespace tva {
namespace ops {

// Like torchvision's, the RoI operators' gradients are not themselves differentiable: a backward
// pass that would record a graph (create_graph=True) is refused instead of silently returning a
// gradient without history.
inline void check_no_double_backward(const char* op) {
  TORCH_CHECK(
      !at::GradMode::is_enabled(), "double backwards on ", op,
      " not supported (its backward is not differentiable; use create_graph=False)");
}

// The non-tensor arguments of a RoI operator (the pooling operators use the first three only).
struct RoiArgs {
  double spatial_scale;
  int64_t pooled_height;
  int64_t pooled_width;
  int64_t sampling_ratio = 0;
  bool aligned = false;
};

// Op provides:
//   static constexpr const char* kName;
//   static std::vector<at::Tensor> forward(input, rois, const RoiArgs&): the output, then the
//     index tensor (arg-max, channel mapping) if the operator returns one;
//   static at::Tensor backward(grad, rois, index, const RoiArgs&, input_shape).
template <typename Op>
class RoiFunction : public torch::autograd::Function<RoiFunction<Op>> {
 public:
  static torch::autograd::variable_list forward(
      torch::autograd::AutogradContext* ctx, const torch::autograd::Variable& input,
      const torch::autograd::Variable& rois, const RoiArgs& args) {
    ctx->saved_data["spatial_scale"] = args.spatial_scale;
    ctx->saved_data["pooled_height"] = args.pooled_height;
    ctx->saved_data["pooled_width"] = args.pooled_width;
    ctx->saved_data["sampling_ratio"] = args.sampling_ratio;
    ctx->saved_data["aligned"] = args.aligned;
    ctx->saved_data["input_shape"] = input.sizes();
    at::AutoDispatchBelowADInplaceOrView guard;
    std::vector<at::Tensor> out = Op::forward(input, rois, args);
    if (out.size() > 1) {
      ctx->save_for_backward({rois, out[1]});
      ctx->mark_non_differentiable({out[1]});
    } else {
      ctx->save_for_backward({rois});
    }
    return out;
  }

  static torch::autograd::variable_list backward(
      torch::autograd::AutogradContext* ctx, const torch::autograd::variable_list& grad_output) {
    check_no_double_backward(Op::kName);
    const auto saved = ctx->get_saved_variables();
    RoiArgs args;
    args.spatial_scale = ctx->saved_data["spatial_scale"].toDouble();
    args.pooled_height = ctx->saved_data["pooled_height"].toInt();
    args.pooled_width = ctx->saved_data["pooled_width"].toInt();
    args.sampling_ratio = ctx->saved_data["sampling_ratio"].toInt();
    args.aligned = ctx->saved_data["aligned"].toBool();
    const auto shape = ctx->saved_data["input_shape"].toIntVector();
    const at::Tensor index = saved.size() > 1 ? saved[1] : at::Tensor();
    // Gradients of (input, rois, args): only the input has one.
    return {Op::backward(grad_output[0], saved[0], index, args, shape),
            torch::autograd::Variable(), torch::autograd::Variable()};
  }
};

} // namespace ops
} // namespace tva
