// Schemas of the post-processing operators (the single place they are declared) and their CPU
// kernels, under torchvision_adapter::. Usable from Python (torch.ops.torchvision_adapter.*),
// TorchScript and C++ (postprocess/postprocess.h).
#include <torch/library.h>

#include "postprocess/postprocess.h"

namespace tva {
namespace postprocess {

TORCH_LIBRARY_FRAGMENT(torchvision_adapter, m) {
  m.def(
      "soft_nms(Tensor boxes, Tensor scores, float iou_threshold=0.3, float sigma=0.5, "
      "float score_threshold=0.001, str method='linear', int offset=0) -> (Tensor, Tensor)");
  m.def(
      "matrix_nms(Tensor masks, Tensor labels, Tensor scores, float filter_thr=-1, int nms_pre=-1, "
      "int max_num=-1, str kernel='gaussian', float sigma=2.0, Tensor? mask_area=None) "
      "-> (Tensor, Tensor, Tensor, Tensor)");
  m.def(
      "multiclass_nms(Tensor boxes, Tensor scores, float score_thresh, float iou_threshold, "
      "int topk_candidates=-1, int max_det=-1) -> (Tensor, Tensor, Tensor, Tensor)");
  m.def("box_area(Tensor boxes) -> Tensor");
  m.def("box_iou(Tensor boxes1, Tensor boxes2) -> Tensor");
  m.def("generalized_box_iou(Tensor boxes1, Tensor boxes2) -> Tensor");
  m.def("masks_to_boxes(Tensor masks) -> Tensor");
}

TORCH_LIBRARY_IMPL(torchvision_adapter, CPU, m) {
  m.impl("soft_nms", TORCH_FN(soft_nms));
  m.impl("matrix_nms", TORCH_FN(matrix_nms));
  m.impl("multiclass_nms", TORCH_FN(multiclass_nms));
  m.impl("box_area", TORCH_FN(box_area));
  m.impl("box_iou", TORCH_FN(box_iou));
  m.impl("generalized_box_iou", TORCH_FN(generalized_box_iou));
  m.impl("masks_to_boxes", TORCH_FN(masks_to_boxes));
}

} // namespace postprocess
} // namespace tva
