// C++ checks of the COCO core (csrc/coco) without Python: RLE primitives against plain
// re-statements and hand-computed values, and a tiny evaluation worked out by hand.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "coco/eval.h"
#include "coco/rle.h"

namespace {

using tva::coco::Box;
using tva::coco::Rle;

// maskApi's rleToBbox, literally (divisions at every run), as the reference.
Box reference_bbox(const Rle& r) {
  const uint32_t h = r.h, w = r.w;
  const size_t m = (r.counts.size() / 2) * 2;
  if (m == 0 || h == 0) return {0, 0, 0, 0};
  uint32_t xs = w, ys = h, xe = 0, ye = 0, cc = 0, xp = 0;
  for (size_t j = 0; j < m; ++j) {
    cc += r.counts[j];
    const uint32_t t = cc - j % 2, y = t % h, x = (t - y) / h;
    if (j % 2 == 0)
      xp = x;
    else if (xp < x) {
      ys = 0;
      ye = h - 1;
    }
    xs = std::min(xs, x);
    xe = std::max(xe, x);
    ys = std::min(ys, y);
    ye = std::max(ye, y);
  }
  return {double(xs), double(ys), double(xe) - xs + 1, double(ye) - ys + 1};
}

Rle random_rle(std::mt19937& rng, uint64_t h, uint64_t w, bool zero_runs) {
  std::vector<uint8_t> m(h * w);
  std::bernoulli_distribution on(0.3);
  for (auto& v : m) v = on(rng);
  Rle r = tva::coco::rle_encode(m.data(), h, w);
  if (zero_runs && r.counts.size() > 2) r.counts.insert(r.counts.begin() + 1, {0, 0});
  return r;
}

TEST(CocoRle, EncodeDecodeStringRoundTrip) {
  std::mt19937 rng(1);
  for (int trial = 0; trial < 50; ++trial) {
    const uint64_t h = 1 + rng() % 30, w = 1 + rng() % 30;
    std::vector<uint8_t> m(h * w);
    for (auto& v : m) v = rng() % 3 == 0;
    const Rle r = tva::coco::rle_encode(m.data(), h, w);
    std::vector<uint8_t> back(h * w, 7);
    ASSERT_TRUE(tva::coco::rle_decode(r, back.data()));
    EXPECT_EQ(back, m);
    const std::string s = tva::coco::rle_to_string(r);
    Rle parsed;
    ASSERT_TRUE(tva::coco::rle_from_string(s.data(), s.size(), h, w, parsed));
    EXPECT_EQ(parsed.counts, r.counts);
    uint64_t area = 0;
    for (auto v : m) area += v;
    EXPECT_EQ(tva::coco::rle_area(r), area);
  }
}

TEST(CocoRle, KnownStrings) {
  // A 3x3 mask with only its centre set: runs 4, 1, 4; deltas start at the fourth count -> "414".
  Rle r;
  r.h = r.w = 3;
  r.counts = {4, 1, 4};
  EXPECT_EQ(tva::coco::rle_to_string(r), "414");
  Rle bad;
  EXPECT_FALSE(tva::coco::rle_from_string("4`", 2, 3, 3, bad)); // continuation at the end
}

TEST(CocoRle, BboxMatchesLiteralMaskApi) {
  std::mt19937 rng(2);
  for (int trial = 0; trial < 300; ++trial) {
    const uint64_t h = 1 + rng() % 20, w = 1 + rng() % 20;
    const Rle r = random_rle(rng, h, w, trial % 3 == 0);
    const Box a = tva::coco::rle_to_bbox(r), b = reference_bbox(r);
    EXPECT_EQ(a.x, b.x);
    EXPECT_EQ(a.y, b.y);
    EXPECT_EQ(a.w, b.w);
    EXPECT_EQ(a.h, b.h);
  }
  Rle lead;
  lead.h = lead.w = 4;
  lead.counts = {0, 0, 3, 2, 11};
  const Box a = tva::coco::rle_to_bbox(lead), b = reference_bbox(lead);
  EXPECT_EQ(a.x, b.x);
  EXPECT_EQ(a.w, b.w);
}

TEST(CocoRle, IouAndMerge) {
  // Two 2x2 squares in a 4x4 image overlapping in one pixel: IoU 1/7, crowd 1/4.
  std::vector<uint8_t> a(16, 0), b(16, 0);
  for (int x = 0; x < 2; ++x)
    for (int y = 0; y < 2; ++y) a[x * 4 + y] = 1, b[(x + 1) * 4 + y + 1] = 1;
  const Rle ra = tva::coco::rle_encode(a.data(), 4, 4), rb = tva::coco::rle_encode(b.data(), 4, 4);
  const Box ba = tva::coco::rle_to_bbox(ra), bb = tva::coco::rle_to_bbox(rb);
  EXPECT_EQ(tva::coco::rle_iou(ra, rb, 4, 4, ba, bb, false), 1.0 / 7.0);
  EXPECT_EQ(tva::coco::rle_iou(ra, rb, 4, 4, ba, bb, true), 1.0 / 4.0);
  const Rle u = tva::coco::rle_merge({&ra, &rb}, false);
  const Rle i = tva::coco::rle_merge({&ra, &rb}, true);
  EXPECT_EQ(tva::coco::rle_area(u), 7u);
  EXPECT_EQ(tva::coco::rle_area(i), 1u);
  Rle other = ra;
  other.h = 5;
  EXPECT_EQ(tva::coco::rle_iou(ra, other, 4, 4, ba, ba, false), -1.0); // sizes differ
  EXPECT_EQ(tva::coco::box_iou({0, 0, 10, 10}, {5, 5, 10, 10}, false), 25.0 / 175.0);
}

TEST(CocoRle, PolygonSquare) {
  // The box polygon of (1, 1, 2, 2) covers pixels 1..2 in x and y (maskApi's rounding).
  const Rle r = tva::coco::rle_from_bbox({1, 1, 2, 2}, 5, 5);
  std::vector<uint8_t> m(25);
  ASSERT_TRUE(tva::coco::rle_decode(r, m.data()));
  uint64_t area = 0;
  for (int x = 0; x < 5; ++x)
    for (int y = 0; y < 5; ++y) {
      const bool inside = x >= 1 && x <= 2 && y >= 1 && y <= 2;
      EXPECT_EQ(m[x * 5 + y], inside ? 1 : 0) << x << "," << y;
      area += m[x * 5 + y];
    }
  EXPECT_EQ(area, 4u);
}

TEST(CocoEval, HandComputedImage) {
  // One image, one category: gt A (10x10) and crowd gt B; detections: d0 hits A exactly (0.9),
  // d1 misses (0.8), d2 lies inside the crowd (0.7).
  tva::coco::AnnotationSet gt, dt;
  gt.img = {0, 0};
  gt.cat = {0, 0};
  gt.id = {1, 2};
  gt.area = {100, 2500};
  gt.iscrowd = {0, 1};
  gt.ignore = {0, 1};
  gt.bbox = {{0, 0, 10, 10}, {50, 50, 50, 50}};
  dt.img = {0, 0, 0};
  dt.cat = {0, 0, 0};
  dt.id = {1, 2, 3};
  dt.area = {100, 100, 100};
  dt.score = {0.9, 0.8, 0.7};
  dt.bbox = {{0, 0, 10, 10}, {20, 20, 10, 10}, {60, 60, 10, 10}};
  tva::coco::EvalParams p;
  p.iou_thrs = {0.5, 0.75};
  p.area_rng = {{0, 1e10}};
  p.max_det = 100;
  const auto r = tva::coco::evaluate(gt, dt, 1, 1, p);
  ASSERT_EQ(r.valid[0], 1);
  EXPECT_EQ(r.npig[0], 1);
  ASSERT_EQ(r.dt_order, (std::vector<int64_t>{0, 1, 2}));
  // flags [d][a][t]: d0 matched, d1 false positive, d2 matched to the crowd -> ignored.
  const std::vector<uint8_t> expected = {1, 1, 0, 0, 3, 3};
  EXPECT_EQ(r.flags, expected);
  tva::coco::AccumulateArgs args;
  args.k_list = {0};
  args.a_list = {0};
  args.m_list = {1, 100};
  args.i_list = {0};
  args.rec_thrs = {0.0, 0.5, 1.0};
  args.K = 1;
  args.A = 1;
  args.M = 2;
  const auto acc = tva::coco::accumulate(r, args);
  const double eps = std::nextafter(1.0, 2.0) - 1.0;
  const double one = 1.0 / (1.0 + eps);
  // [T, R, K, A, M]: precision 1 (after eps) at every recall threshold, both maxDets.
  for (double v : acc.precision) EXPECT_EQ(v, one);
  for (double v : acc.recall) EXPECT_EQ(v, 1.0);
  EXPECT_EQ(acc.scores[0], 0.9);
}

TEST(CocoEval, KeypointOksHandComputed) {
  const std::vector<double> vars = {0.04, 0.16}; // (2 sigma)^2 for sigmas 0.1, 0.2
  const double eps = std::nextafter(1.0, 2.0) - 1.0;
  const tva::coco::Box box{0, 0, 30, 30};
  // One visible keypoint: only it counts, d^2 = 3^2 + 4^2.
  const double g[] = {10, 10, 2, 20, 20, 0};
  const double d[] = {13, 14, 1, 50, 50, 1};
  EXPECT_DOUBLE_EQ(tva::coco::keypoint_oks(d, g, box, 100, vars),
                   std::exp(-(25 / 0.04 / (100 + eps) / 2)));
  // No visible keypoint: the distance to the box enlarged to [-30, 60]^2, over every keypoint.
  const double g0[] = {10, 10, 0, 20, 20, 0};
  const double d0[] = {0, 0, 1, 70, 65, 1};
  EXPECT_DOUBLE_EQ(tva::coco::keypoint_oks(d0, g0, box, 100, vars),
                   (1 + std::exp(-((100 + 25) / 0.16 / (100 + eps) / 2))) / 2);
}

} // namespace
