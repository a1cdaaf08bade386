// roi_pool: schemas under torchvision_adapter:: (same signatures as torchvision's), CPU and
// autograd kernels, and the torchvision kernels they replace while the adapter is enabled.
#include "ops/cpu/roi_autograd.h"
#include "ops/cpu/roi_kernels.h"
#include "ops/op_registration.h"

namespace tva {
namespace ops {

namespace {

struct RoIPoolOp {
  static constexpr const char* kName = "roi_pool";
  static std::vector<at::Tensor> forward(
      const at::Tensor& input, const at::Tensor& rois, const RoiArgs& a) {
    auto r = roi_pool_forward(input, rois, a.spatial_scale, a.pooled_height, a.pooled_width);
    return {std::get<0>(r), std::get<1>(r)};
  }
  static at::Tensor backward(
      const at::Tensor& grad, const at::Tensor& rois, const at::Tensor& argmax, const RoiArgs& a,
      const std::vector<int64_t>& s) {
    return roi_pool_backward(
        grad, rois, argmax, a.spatial_scale, a.pooled_height, a.pooled_width, s[0], s[1], s[2],
        s[3]);
  }
};

std::tuple<at::Tensor, at::Tensor> roi_pool_autograd(
    const at::Tensor& input, const at::Tensor& rois, double spatial_scale, int64_t pooled_height,
    int64_t pooled_width) {
  auto r = RoiFunction<RoIPoolOp>::apply(
      input, rois, RoiArgs{spatial_scale, pooled_height, pooled_width});
  return std::make_tuple(r[0], r[1]);
}

} // namespace

TVA_REGISTER_OP_WITH_BACKWARD(
    roi_pool,
    "roi_pool(Tensor input, Tensor rois, float spatial_scale, int pooled_height, "
    "int pooled_width) -> (Tensor, Tensor)",
    "_roi_pool_backward(Tensor grad, Tensor rois, Tensor argmax, float spatial_scale, "
    "int pooled_height, int pooled_width, int batch_size, int channels, int height, "
    "int width) -> Tensor",
    roi_pool_forward, roi_pool_backward, roi_pool_autograd);

} // namespace ops
} // namespace tva
