// Schemas of the NMS family, their CPU kernels, and the torchvision kernel they replace.
#include <torch/library.h>

#include "adapter/switch.h"
#include "ops/nms.h"

namespace tva {
namespace ops {

TORCH_LIBRARY_FRAGMENT(torchvision_adapter, m) {
  m.def("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor");
  m.def("batched_nms(Tensor boxes, Tensor scores, Tensor idxs, float iou_threshold) -> Tensor");
}

TORCH_LIBRARY_IMPL(torchvision_adapter, CPU, m) {
  m.impl("nms", TORCH_FN(nms));
  m.impl("batched_nms", TORCH_FN(batched_nms));
}

namespace {
void override_nms(torch::Library& lib) {
  lib.impl("nms", TORCH_FN(nms));
}
} // namespace

TVA_OVERRIDE_TORCHVISION("nms", override_nms);

} // namespace ops
} // namespace tva
