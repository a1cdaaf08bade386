// Batched RetinaNet-style detection post-processing (see postprocess.h). Per image it follows
// torchvision's RetinaNet.postprocess_detections for one feature level: scores flattened
// anchor-major, kept when > score_thresh, the best topk_candidates by torch.topk, labels =
// index % C, boxes = index // C, then class-aware NMS (tva::ops::batched_nms, the project's
// kernel) and the first max_det. Images are processed in parallel.
#include <vector>

#include <ATen/ATen.h>

#include "common/checks.h"
#include "common/parallel.h"
#include "ops/nms.h"
#include "postprocess/postprocess.h"

namespace tva {
namespace postprocess {
namespace {

struct ImageResult {
  at::Tensor boxes, scores, labels;
};

ImageResult one_image(const at::Tensor& boxes, const at::Tensor& scores, double score_thresh,
                      double iou_threshold, int64_t topk, int64_t max_det, bool per_class_boxes) {
  const int64_t C = scores.size(1);
  auto flat = scores.flatten();
  const auto keep_idxs = flat > score_thresh;
  flat = flat.index({keep_idxs});
  auto topk_idxs = at::nonzero(keep_idxs).select(1, 0);
  const int64_t num_topk = topk > 0 ? std::min(topk, topk_idxs.size(0)) : topk_idxs.size(0);
  at::Tensor idxs;
  std::tie(flat, idxs) = flat.topk(num_topk);
  topk_idxs = topk_idxs.index_select(0, idxs);
  const auto anchor_idxs = at::div(topk_idxs, C, "floor");
  const auto labels = topk_idxs.remainder(C);
  at::Tensor b = per_class_boxes ? boxes.index({anchor_idxs, labels}) : boxes.index_select(0, anchor_idxs);
  // torchvision.ops.batched_nms: the per-class result order above 4000 coordinates, otherwise the
  // order of one NMS over offset boxes (a stable descending sort of the scores).
  at::Tensor keep = tva::ops::batched_nms(b, flat, labels, iou_threshold);
  if (b.numel() <= 4000 && keep.numel() > 0) {
    const auto order = std::get<1>(flat.sort(/*stable=*/true, 0, /*descending=*/true));
    auto kept = at::zeros({flat.size(0)}, flat.options().dtype(at::kBool));
    kept.index_put_({keep}, true);
    keep = order.index({kept.index({order})});
  }
  if (max_det > 0 && keep.size(0) > max_det) keep = keep.slice(0, 0, max_det);
  return {b.index_select(0, keep), flat.index_select(0, keep), labels.index_select(0, keep)};
}

} // namespace

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> multiclass_nms(
    const at::Tensor& boxes, const at::Tensor& scores, double score_thresh, double iou_threshold,
    int64_t topk_candidates, int64_t max_det) {
  check_cpu(boxes, "boxes");
  check_cpu(scores, "scores");
  TORCH_CHECK(scores.dim() == 3, "scores should be a [B, N, C] tensor, got shape ", scores.sizes());
  const int64_t B = scores.size(0), N = scores.size(1), C = scores.size(2);
  const bool per_class = boxes.dim() == 4;
  TORCH_CHECK((boxes.dim() == 3 && boxes.size(2) == 4) || (per_class && boxes.size(3) == 4),
              "boxes should be [B, N, 4] or [B, N, C, 4], got shape ", boxes.sizes());
  TORCH_CHECK(boxes.size(0) == B && boxes.size(1) == N && (!per_class || boxes.size(2) == C),
              "boxes ", boxes.sizes(), " do not match scores ", scores.sizes());
  check_floating(boxes, "boxes");
  check_floating(scores, "scores");
  check_same_dtype(boxes, "boxes", scores, "scores");
  TORCH_CHECK(C > 0 || N == 0, "scores must have at least one class");

  std::vector<ImageResult> results(B);
  const auto bc = boxes.contiguous();
  const auto sc = scores.contiguous();
  tva::parallel_for(B, 1, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i)
      results[i] = one_image(bc[i], sc[i], score_thresh, iou_threshold, topk_candidates, max_det,
                             per_class);
  });
  std::vector<at::Tensor> ob, os, ol, oi;
  for (int64_t i = 0; i < B; ++i) {
    ob.push_back(results[i].boxes);
    os.push_back(results[i].scores);
    ol.push_back(results[i].labels);
    oi.push_back(at::full({results[i].scores.size(0)}, i, boxes.options().dtype(at::kLong)));
  }
  if (B == 0)
    return {at::empty({0, 4}, boxes.options()), at::empty({0}, scores.options()),
            at::empty({0}, scores.options().dtype(at::kLong)),
            at::empty({0}, scores.options().dtype(at::kLong))};
  return {at::cat(ob), at::cat(os), at::cat(ol), at::cat(oi)};
}

} // namespace postprocess
} // namespace tva
