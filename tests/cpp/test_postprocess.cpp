// C++ checks of the post-processing kernels through their public header (postprocess.h).
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include "postprocess/postprocess.h"

namespace {

TEST(PostprocessSoftNms, LinearDecayByHand) {
  // A = (0,0,10,10) and B = (5,0,15,10) overlap by 50 of 150 pixels (IoU 1/3); C is far away.
  const auto boxes = at::tensor({0.0, 0.0, 10.0, 10.0, 5.0, 0.0, 15.0, 10.0, 50.0, 50.0, 60.0, 60.0},
                                at::kDouble).view({3, 4});
  const auto scores = at::tensor({0.9, 0.8, 0.3}, at::kDouble);
  at::Tensor keep, s;
  std::tie(keep, s) = tva::postprocess::soft_nms(boxes, scores, 0.3, 0.5, 1e-3, "linear", 0);
  ASSERT_EQ(keep.numel(), 3);
  EXPECT_EQ(keep[0].item<int64_t>(), 0);
  EXPECT_EQ(keep[1].item<int64_t>(), 1);
  EXPECT_EQ(keep[2].item<int64_t>(), 2);
  EXPECT_DOUBLE_EQ(s[1].item<double>(), 0.8 * (1.0 - 50.0 / 150.0));
  // naive: B is dropped (IoU >= 0.3)
  std::tie(keep, s) = tva::postprocess::soft_nms(boxes, scores, 0.3, 0.5, 1e-3, "naive", 0);
  EXPECT_EQ(keep.numel(), 2);
  EXPECT_THROW(tva::postprocess::soft_nms(boxes, scores, 0.3, 0.5, 1e-3, "cubic", 0), c10::Error);
}

TEST(PostprocessBoxes, IouAreaMasks) {
  const auto a = at::tensor({0.f, 0.f, 10.f, 10.f}).view({1, 4});
  const auto b = at::tensor({5.f, 5.f, 15.f, 15.f, 20.f, 20.f, 30.f, 30.f}).view({2, 4});
  const auto iou = tva::postprocess::box_iou(a, b);
  EXPECT_FLOAT_EQ(iou[0][0].item<float>(), 25.f / 175.f);
  EXPECT_EQ(iou[0][1].item<float>(), 0.f);
  const auto giou = tva::postprocess::generalized_box_iou(a, b);
  EXPECT_FLOAT_EQ(giou[0][1].item<float>(), 0.f - (900.f - 200.f) / 900.f);
  EXPECT_EQ(tva::postprocess::box_area(b)[1].item<float>(), 100.f);
  auto m = at::zeros({1, 6, 7}, at::kBool);
  m[0][2][3] = true;
  m[0][4][5] = true;
  const auto bx = tva::postprocess::masks_to_boxes(m);
  EXPECT_EQ(bx[0][0].item<float>(), 3.f);
  EXPECT_EQ(bx[0][1].item<float>(), 2.f);
  EXPECT_EQ(bx[0][2].item<float>(), 5.f);
  EXPECT_EQ(bx[0][3].item<float>(), 4.f);
}

TEST(PostprocessMatrixNms, SameLabelDecaysOtherLabelDoesNot) {
  auto masks = at::zeros({3, 4, 4}, at::kBool);
  masks.slice(1, 0, 2).fill_(true);  // all three masks: top half
  const auto labels = at::tensor({0, 0, 1}, at::kLong);
  const auto scores = at::tensor({0.9f, 0.8f, 0.7f});
  auto out = tva::postprocess::matrix_nms(masks, labels, scores, -1, -1, -1, "linear", 2.0, c10::nullopt);
  const auto s = std::get<0>(out);
  // mask 1 duplicates mask 0 (IoU 1, same label): linear decay (1 - 1) / (1 - 0) = 0.
  EXPECT_FLOAT_EQ(s[0].item<float>(), 0.9f);
  EXPECT_FLOAT_EQ(s[1].item<float>(), 0.7f);
  EXPECT_FLOAT_EQ(s[2].item<float>(), 0.f);
  EXPECT_EQ(std::get<3>(out)[2].item<int64_t>(), 1);
}

} // namespace
