// Detection post-processing: the public C++ entry points (schemas live in postprocess/schemas.cpp).
#pragma once

#include <string>
#include <tuple>

#include <ATen/ATen.h>
#include <c10/util/Optional.h>

namespace tva {
namespace postprocess {

// Soft-NMS with mmcv's semantics (mmcv/ops/csrc/pytorch/cpu/nms.cpp softnms_cpu): repeatedly take
// the highest remaining score (first in the working order on ties), decay the others by
// `method` ("linear": 1 - iou when iou >= iou_threshold; "gaussian": exp(-iou^2 / sigma); "naive":
// 0 when iou >= iou_threshold) and drop boxes whose decayed score falls below score_threshold
// (moving the last box into the hole, as mmcv does). Returns (kept indices, decayed scores) in
// selection order. `offset` (0 or 1) is added to widths and heights as in mmcv.
std::tuple<at::Tensor, at::Tensor> soft_nms(
    const at::Tensor& boxes, const at::Tensor& scores, double iou_threshold, double sigma,
    double score_threshold, const std::string& method, int64_t offset);

// Matrix NMS with mmdet's mask_matrix_nms semantics, for masks [N, H, W] or boxes [N, 4]
// (x1, y1, x2, y2; IoU as torchvision's box_iou). Returns (scores, labels, masks_or_boxes,
// keep_inds) ordered as mmdet orders them.
std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> matrix_nms(
    const at::Tensor& masks_or_boxes, const at::Tensor& labels, const at::Tensor& scores,
    double filter_thr, int64_t nms_pre, int64_t max_num, const std::string& kernel, double sigma,
    const c10::optional<at::Tensor>& mask_area);

// RetinaNet-style post-processing of a batch: per image, scores [N, C] above score_thresh, the
// topk_candidates best (all when <= 0), class-aware NMS, then max_det per image (all when <= 0).
// boxes are [B, N, 4] (shared by the classes) or [B, N, C, 4] (one box per class). Returns
// (boxes [K, 4], scores [K], labels [K], batch_idx [K]), image by image, each in the order
// torchvision.ops.batched_nms returns.
std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> multiclass_nms(
    const at::Tensor& boxes, const at::Tensor& scores, double score_thresh, double iou_threshold,
    int64_t topk_candidates, int64_t max_det);

// torchvision.ops.box_area / box_iou / generalized_box_iou / masks_to_boxes, natively.
at::Tensor box_area(const at::Tensor& boxes);
at::Tensor box_iou(const at::Tensor& boxes1, const at::Tensor& boxes2);
at::Tensor generalized_box_iou(const at::Tensor& boxes1, const at::Tensor& boxes2);
at::Tensor masks_to_boxes(const at::Tensor& masks);

} // namespace postprocess
} // namespace tva
