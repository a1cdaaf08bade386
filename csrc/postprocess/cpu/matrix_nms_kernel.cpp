// Matrix NMS (SOLOv2), mmdet's mask_matrix_nms.
//
// mmdet spends nearly all of its time in one product, masks.flatten(1) @ masks.flatten(1).T, to
// get pairwise intersections. For binary masks those are integer pixel counts, so they are
// computed here exactly as popcounts of packed bit rows (threaded over mask rows); any other
// mask values take the same float matrix product as mmdet. The small N x N decay arithmetic after
// that is written with the same ATen operations in the same order as mmdet, so scores come out
// bit for bit equal. Boxes [N, 4] are accepted too: IoUs are then torchvision's box_iou.
#include <cstring>
#include <vector>

#include <ATen/ATen.h>

#include "common/checks.h"
#include "common/parallel.h"
#include "postprocess/postprocess.h"

namespace tva {
namespace postprocess {
namespace {

int64_t and_popcount_generic(const uint64_t* a, const uint64_t* b, int64_t words) {
  int64_t cnt = 0;
  for (int64_t k = 0; k < words; ++k) cnt += __builtin_popcountll(a[k] & b[k]);
  return cnt;
}

// The same loop compiled for the POPCNT instruction (chosen at run time when the CPU has it).
__attribute__((target("popcnt"))) int64_t and_popcount_hw(const uint64_t* a, const uint64_t* b,
                                                          int64_t words) {
  int64_t cnt = 0;
  for (int64_t k = 0; k < words; ++k) cnt += __builtin_popcountll(a[k] & b[k]);
  return cnt;
}

// Pairwise intersections of binary masks as float (exact for up to 2^24 pixels per mask). With
// `labels`, only pairs of equal label are counted and the others left at 0: mmdet multiplies
// every other pair's IoU by 0, which gives 0 whenever the IoU is finite.
at::Tensor binary_intersections(const at::Tensor& flat_u8, const int64_t* labels, at::Tensor* areas) {
  const int64_t n = flat_u8.size(0), len = flat_u8.size(1);
  const int64_t words = (len + 63) / 64;
  std::vector<uint64_t> bits(n * words, 0);
  // Bytes hold 0 or 1 (bool storage, or uint8 checked to be binary).
  const uint8_t* p = static_cast<const uint8_t*>(flat_u8.data_ptr());
  tva::parallel_for(n, 1, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      const uint8_t* row = p + i * len;
      uint64_t* out = bits.data() + i * words;
      for (int64_t k = 0; k < len; ++k) out[k >> 6] |= uint64_t(row[k] != 0) << (k & 63);
    }
  });
  if (areas) {
    // masks.sum((1, 2)).float(): integer pixel counts converted to float.
    *areas = at::empty({n}, at::kFloat);
    float* a = areas->data_ptr<float>();
    for (int64_t i = 0; i < n; ++i) {
      const uint64_t* r = bits.data() + i * words;
      a[i] = static_cast<float>(and_popcount_generic(r, r, words));
    }
  }
  const bool hw = __builtin_cpu_supports("popcnt");
  auto inter = at::zeros({n, n}, at::kFloat);
  float* o = inter.data_ptr<float>();
  tva::parallel_for(n, 1, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      const uint64_t* a = bits.data() + i * words;
      for (int64_t j = i; j < n; ++j) {
        if (labels && labels[i] != labels[j]) continue;
        const uint64_t* c = bits.data() + j * words;
        const int64_t cnt = hw ? and_popcount_hw(a, c, words) : and_popcount_generic(a, c, words);
        o[i * n + j] = static_cast<float>(cnt);
      }
    }
  });
  // Symmetric: mirror the upper triangle.
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < i; ++j) o[i * n + j] = o[j * n + i];
  return inter;
}

// Masks whose values are all 0 or 1, readable as bytes: bool, or uint8 without other values.
bool is_binary_bytes(const at::Tensor& t) {
  if (t.scalar_type() == at::kBool) return true;
  if (t.scalar_type() != at::kByte) return false;
  const auto c = t.contiguous();
  const uint8_t* p = c.data_ptr<uint8_t>();
  uint8_t any_high = 0;
  for (int64_t k = 0; k < c.numel(); ++k) any_high |= p[k] & 0xFE;
  return any_high == 0;
}

bool is_binary(const at::Tensor& t) {
  return at::logical_or(t == 0, t == 1).all().item<bool>();
}

} // namespace

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> matrix_nms(
    const at::Tensor& masks_in, const at::Tensor& labels_in, const at::Tensor& scores_in,
    double filter_thr, int64_t nms_pre, int64_t max_num, const std::string& kernel, double sigma,
    const c10::optional<at::Tensor>& mask_area_in) {
  check_cpu(masks_in, "masks");
  check_cpu(labels_in, "labels");
  check_cpu(scores_in, "scores");
  const bool boxes_mode = masks_in.dim() == 2;
  TORCH_CHECK(masks_in.dim() == 3 || (boxes_mode && masks_in.size(1) == 4),
              "masks should be [N, H, W] masks or [N, 4] boxes, got shape ", masks_in.sizes());
  TORCH_CHECK(labels_in.dim() == 1 && scores_in.dim() == 1,
              "labels and scores should be 1d tensors, got ", labels_in.dim(), "D and ",
              scores_in.dim(), "D");
  TORCH_CHECK(labels_in.size(0) == masks_in.size(0) && scores_in.size(0) == masks_in.size(0),
              "masks, labels and scores must have the same length, got ", masks_in.size(0), ", ",
              labels_in.size(0), " and ", scores_in.size(0));
  check_floating(scores_in, "scores");
  TORCH_CHECK(kernel == "gaussian" || kernel == "linear", kernel,
              " kernel is not supported in matrix nms (use 'gaussian' or 'linear')");
  if (boxes_mode) check_floating(masks_in, "boxes");
  const auto tail = boxes_mode ? std::vector<int64_t>{4}
                               : std::vector<int64_t>{masks_in.size(1), masks_in.size(2)};
  auto empty_result = [&] {
    std::vector<int64_t> shape{0};
    shape.insert(shape.end(), tail.begin(), tail.end());
    return std::make_tuple(scores_in.new_zeros({0}), labels_in.new_zeros({0}),
                           masks_in.new_zeros(shape), labels_in.new_zeros({0}));
  };
  if (labels_in.size(0) == 0) return empty_result();

  at::Tensor mask_area;
  if (mask_area_in.has_value() && mask_area_in->defined()) {
    TORCH_CHECK(mask_area_in->dim() == 1 && mask_area_in->size(0) == masks_in.size(0),
                "mask_area should have one value per mask, got shape ", mask_area_in->sizes());
    mask_area = *mask_area_in;
  } else if (boxes_mode) {
    mask_area = box_area(masks_in);
  } else if (!is_binary_bytes(masks_in)) {
    mask_area = masks_in.sum({1, 2}).to(at::kFloat);
  } // else: counted from the packed bits below
  const bool area_from_bits = !mask_area.defined();

  // Sort and keep the top nms_pre.
  at::Tensor scores, sort_inds;
  std::tie(scores, sort_inds) = at::sort(scores_in, 0, /*descending=*/true);
  at::Tensor keep_inds = sort_inds;
  if (nms_pre > 0 && sort_inds.size(0) > nms_pre) {
    sort_inds = sort_inds.slice(0, 0, nms_pre);
    keep_inds = keep_inds.slice(0, 0, nms_pre);
    scores = scores.slice(0, 0, nms_pre);
  }
  at::Tensor masks = masks_in.index_select(0, sort_inds);
  if (!area_from_bits) mask_area = mask_area.index_select(0, sort_inds);
  at::Tensor labels = labels_in.index_select(0, sort_inds);
  const int64_t n = labels.size(0);

  at::Tensor inter;
  if (boxes_mode) {
    // box_iou's numerator: IoU = inter / (area_i + area_j - inter) below is then box_iou's.
    const auto b = masks.to(at::kFloat);
    const auto lt = at::max(b.unsqueeze(1).slice(2, 0, 2), b.slice(1, 0, 2));
    const auto rb = at::min(b.unsqueeze(1).slice(2, 2, 4), b.slice(1, 2, 4));
    const auto wh = (rb - lt).clamp_min(0);
    inter = wh.select(2, 0) * wh.select(2, 1);
  } else {
    const auto flat = masks.reshape({n, -1}).contiguous();
    const bool bytes = is_binary_bytes(flat);
    if (bytes || is_binary(flat)) {
      // Areas derived from the masks keep every IoU finite except 0/0 for two empty masks (whose
      // intersection is 0 anyway), so other-label pairs can be skipped.
      const bool own_area = !(mask_area_in.has_value() && mask_area_in->defined()) &&
          at::isIntegralType(labels.scalar_type(), /*includeBool=*/true);
      const auto lab = labels.to(at::kLong).contiguous();
      const auto packed = bytes ? flat : flat.ne(0).to(at::kByte).contiguous();
      inter = binary_intersections(packed, own_area ? lab.data_ptr<int64_t>() : nullptr,
                                   area_from_bits ? &mask_area : nullptr);
    } else {
      const auto f = flat.to(at::kFloat);
      inter = at::mm(f, f.transpose(1, 0));
    }
  }

  // From here on: mmdet's expressions, operation by operation.
  const auto expanded_area = mask_area.expand({n, n});
  const auto iou_matrix =
      (inter / (expanded_area + expanded_area.transpose(1, 0) - inter)).triu(1);
  const auto expanded_labels = labels.expand({n, n});
  const auto label_matrix = (expanded_labels == expanded_labels.transpose(1, 0)).triu(1);
  at::Tensor compensate_iou = std::get<0>((iou_matrix * label_matrix).max(0));
  compensate_iou = compensate_iou.expand({n, n}).transpose(1, 0);
  const auto decay_iou = iou_matrix * label_matrix;
  at::Tensor decay_coefficient;
  if (kernel == "gaussian") {
    const double neg_sigma = -1 * sigma;
    const auto decay_matrix = at::exp(at::mul(at::pow(decay_iou, 2), neg_sigma));
    const auto compensate_matrix = at::exp(at::mul(at::pow(compensate_iou, 2), neg_sigma));
    decay_coefficient = std::get<0>((decay_matrix / compensate_matrix).min(0));
  } else {
    const auto decay_matrix = at::rsub(decay_iou, 1) / at::rsub(compensate_iou, 1);
    decay_coefficient = std::get<0>(decay_matrix.min(0));
  }
  scores = scores * decay_coefficient;

  if (filter_thr > 0) {
    const auto keep = scores >= filter_thr;
    keep_inds = keep_inds.index({keep});
    if (!keep.any().item<bool>()) return empty_result();
    masks = masks.index({keep});
    scores = scores.index({keep});
    labels = labels.index({keep});
  }

  // Sort and keep the top max_num.
  std::tie(scores, sort_inds) = at::sort(scores, 0, /*descending=*/true);
  keep_inds = keep_inds.index_select(0, sort_inds);
  if (max_num > 0 && sort_inds.size(0) > max_num) {
    sort_inds = sort_inds.slice(0, 0, max_num);
    keep_inds = keep_inds.slice(0, 0, max_num);
    scores = scores.slice(0, 0, max_num);
  }
  masks = masks.index_select(0, sort_inds);
  labels = labels.index_select(0, sort_inds);
  return {scores, labels, masks, keep_inds};
}

} // namespace postprocess
} // namespace tva
