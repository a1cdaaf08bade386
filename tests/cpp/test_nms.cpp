// C++ checks of the nms kernels against a plain re-statement of torchvision's algorithm.
#include <gtest/gtest.h>

#include <random>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include "ops/nms.h"

namespace {

// torchvision's greedy NMS, written out plainly (the oracle).
std::vector<int64_t> reference_nms(const at::Tensor& boxes, const at::Tensor& scores, double thr) {
  const auto order = std::get<1>(scores.sort(/*stable=*/true, /*dim=*/0, /*descending=*/true));
  const auto b = boxes.accessor<float, 2>();
  const auto o = order.accessor<int64_t, 1>();
  const int64_t n = boxes.size(0);
  std::vector<bool> dead(n, false);
  std::vector<int64_t> keep;
  for (int64_t a = 0; a < n; ++a) {
    const int64_t i = o[a];
    if (dead[i]) continue;
    keep.push_back(i);
    const float ai = (b[i][2] - b[i][0]) * (b[i][3] - b[i][1]);
    for (int64_t c = a + 1; c < n; ++c) {
      const int64_t j = o[c];
      if (dead[j]) continue;
      const float aj = (b[j][2] - b[j][0]) * (b[j][3] - b[j][1]);
      const float w = std::max(0.f, std::min(b[i][2], b[j][2]) - std::max(b[i][0], b[j][0]));
      const float h = std::max(0.f, std::min(b[i][3], b[j][3]) - std::max(b[i][1], b[j][1]));
      const float inter = w * h;
      if (inter / (ai + aj - inter) > thr) dead[j] = true;
    }
  }
  return keep;
}

at::Tensor random_boxes(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> pos(0.f, 800.f), side(4.f, 200.f);
  auto boxes = at::empty({n, 4}, at::kFloat);
  auto a = boxes.accessor<float, 2>();
  for (int64_t i = 0; i < n; ++i) {
    a[i][0] = pos(rng);
    a[i][1] = pos(rng);
    a[i][2] = a[i][0] + side(rng);
    a[i][3] = a[i][1] + side(rng);
  }
  return boxes;
}

std::vector<int64_t> as_vector(const at::Tensor& t) {
  return std::vector<int64_t>(t.data_ptr<int64_t>(), t.data_ptr<int64_t>() + t.numel());
}

TEST(Nms, MatchesReferenceAcrossSizesAndThresholds) {
  for (int64_t n : {1, 7, 100, 383, 384, 385, 2000}) {
    for (double thr : {0.0, 0.3, 0.5, 0.7, 1.0}) {
      const auto boxes = random_boxes(n, static_cast<uint32_t>(n * 31 + thr * 10));
      const auto scores = at::rand({n});
      EXPECT_EQ(as_vector(tva::ops::nms(boxes, scores, thr)), reference_nms(boxes, scores, thr))
          << "n=" << n << " thr=" << thr;
    }
  }
}

TEST(Nms, SameResultWithTwoThreads) {
  const auto boxes = random_boxes(3000, 5);
  const auto scores = at::rand({3000});
  at::set_num_threads(1);
  const auto one = as_vector(tva::ops::nms(boxes, scores, 0.5));
  at::set_num_threads(2);
  const auto two = as_vector(tva::ops::nms(boxes, scores, 0.5));
  at::set_num_threads(1);
  EXPECT_EQ(one, two);
  EXPECT_EQ(one, reference_nms(boxes, scores, 0.5));
}

TEST(Nms, EmptyInputGivesEmptyLongTensor) {
  const auto keep = tva::ops::nms(at::empty({0, 4}), at::empty({0}), 0.5);
  EXPECT_EQ(keep.numel(), 0);
  EXPECT_EQ(keep.scalar_type(), at::kLong);
}

TEST(Nms, BadShapesNameTheArgument) {
  try {
    tva::ops::nms(at::rand({5, 3}), at::rand({5}), 0.5);
    FAIL() << "expected an error";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find("boxes should have 4 elements"), std::string::npos);
  }
  EXPECT_THROW(tva::ops::nms(at::rand({5, 4}), at::rand({4}), 0.5), c10::Error);
  EXPECT_THROW(tva::ops::nms(at::rand({5, 4}), at::rand({5}).to(at::kDouble), 0.5), c10::Error);
}

} // namespace
