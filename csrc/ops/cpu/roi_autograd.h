// Autograd helpers shared by the RoI operators' own (torchvision_adapter::) autograd kernels.
#pragma once

#include <ATen/core/grad_mode.h>
#include <c10/util/Exception.h>

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

} // namespace ops
} // namespace tva
