// roi_align: schemas under torchvision_adapter:: (same signatures as torchvision's), CPU and
// autograd kernels, and the torchvision kernels they replace while the adapter is enabled.
#include "ops/cpu/roi_autograd.h"
#include "ops/cpu/roi_kernels.h"
#include "ops/op_registration.h"

namespace tva {
namespace ops {

namespace {

struct RoIAlignOp {
  static constexpr const char* kName = "roi_align";
  static std::vector<at::Tensor> forward(
      const at::Tensor& input, const at::Tensor& rois, const RoiArgs& a) {
    return {roi_align_forward(
        input, rois, a.spatial_scale, a.pooled_height, a.pooled_width, a.sampling_ratio,
        a.aligned)};
  }
  static at::Tensor backward(
      const at::Tensor& grad, const at::Tensor& rois, const at::Tensor&, const RoiArgs& a,
      const std::vector<int64_t>& s) {
    return roi_align_backward(
        grad, rois, a.spatial_scale, a.pooled_height, a.pooled_width, s[0], s[1], s[2], s[3],
        a.sampling_ratio, a.aligned);
  }
};

at::Tensor roi_align_autograd(
    const at::Tensor& input, const at::Tensor& rois, double spatial_scale, int64_t pooled_height,
    int64_t pooled_width, int64_t sampling_ratio, bool aligned) {
  return RoiFunction<RoIAlignOp>::apply(
      input, rois, RoiArgs{spatial_scale, pooled_height, pooled_width, sampling_ratio, aligned})[0];
}

} // namespace

TVA_REGISTER_OP_WITH_BACKWARD(
    roi_align,
    "roi_align(Tensor input, Tensor rois, float spatial_scale, int pooled_height, "
    "int pooled_width, int sampling_ratio, bool aligned) -> Tensor",
    "_roi_align_backward(Tensor grad, Tensor rois, float spatial_scale, int pooled_height, "
    "int pooled_width, int batch_size, int channels, int height, int width, "
    "int sampling_ratio, bool aligned) -> Tensor",
    roi_align_forward, roi_align_backward, roi_align_autograd);

} // namespace ops
} // namespace tva
