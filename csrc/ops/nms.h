// Non-maximum suppression: the public C++ entry points (schemas live in ops/nms.cpp).
#pragma once

#include <ATen/ATen.h>

namespace tva {
namespace ops {

// torchvision::nms semantics: indices of kept boxes, in torchvision's order (decreasing score,
// equal scores by index: torch.sort(scores, stable=True, descending=True)). boxes [N, 4] as
// (x1, y1, x2, y2).
at::Tensor nms(const at::Tensor& dets, const at::Tensor& scores, double iou_threshold);

// NMS within each category of `idxs`, computed per category natively. Returns the kept indices in
// the order of torchvision's per-class path: kept indices ascending, then
// `keep[scores[keep].sort(descending=True)]`.
at::Tensor batched_nms(
    const at::Tensor& boxes,
    const at::Tensor& scores,
    const at::Tensor& idxs,
    double iou_threshold);

} // namespace ops
} // namespace tva
