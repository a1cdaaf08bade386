// C++ checks of the RoI kernels against plain re-statements of torchvision's loops.
#include <gtest/gtest.h>

#include <cmath>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include "ops/cpu/roi_kernels.h"

namespace {

// torchvision's roi_align forward for one output element, written out plainly (the oracle).
float reference_roi_align(
    const at::Tensor& x, const float* roi, float scale, int ph_n, int pw_n, int sr, bool aligned,
    int c, int ph, int pw) {
  const auto in = x.accessor<float, 4>();
  const int h_n = x.size(2), w_n = x.size(3);
  const int b = static_cast<int>(roi[0]);
  const float off = aligned ? 0.5f : 0.f;
  const float x0 = roi[1] * scale - off, y0 = roi[2] * scale - off;
  float rw = roi[3] * scale - off - x0, rh = roi[4] * scale - off - y0;
  if (!aligned) {
    rw = std::max(rw, 1.f);
    rh = std::max(rh, 1.f);
  }
  const float bh = rh / ph_n, bw = rw / pw_n;
  const int gh = sr > 0 ? sr : static_cast<int>(std::ceil(rh / ph_n));
  const int gw = sr > 0 ? sr : static_cast<int>(std::ceil(rw / pw_n));
  const float count = std::max(gh * gw, 1);
  float acc = 0;
  for (int iy = 0; iy < gh; ++iy) {
    const float yy = y0 + ph * bh + static_cast<float>(iy + .5f) * bh / static_cast<float>(gh);
    for (int ix = 0; ix < gw; ++ix) {
      float xx = x0 + pw * bw + static_cast<float>(ix + .5f) * bw / static_cast<float>(gw);
      float y = yy;
      if (y < -1.0 || y > h_n || xx < -1.0 || xx > w_n) {
        acc += 0.f * in[b][c][0][0] + 0.f * in[b][c][0][0] + 0.f * in[b][c][0][0] + 0.f * in[b][c][0][0];
        continue;
      }
      if (y <= 0) y = 0;
      if (xx <= 0) xx = 0;
      int yl = static_cast<int>(y), xl = static_cast<int>(xx), yh, xh;
      if (yl >= h_n - 1) {
        yh = yl = h_n - 1;
        y = yl;
      } else {
        yh = yl + 1;
      }
      if (xl >= w_n - 1) {
        xh = xl = w_n - 1;
        xx = xl;
      } else {
        xh = xl + 1;
      }
      const float ly = y - yl, lx = xx - xl, hy = 1. - ly, hx = 1. - lx;
      acc += hy * hx * in[b][c][yl][xl] + hy * lx * in[b][c][yl][xh] + ly * hx * in[b][c][yh][xl] +
          ly * lx * in[b][c][yh][xh];
    }
  }
  return acc / count;
}

at::Tensor random_rois(int64_t k, int64_t batch, float extent, int seed) {
  at::manual_seed(seed);
  auto wh = at::rand({k, 2}) * (extent / 2) + 0.5;
  auto xy = at::rand({k, 2}) * (extent + 8) - 4;
  auto b = at::randint(0, batch, {k, 1}).to(at::kFloat);
  return at::cat({b, xy, xy + wh}, 1);
}

TEST(RoiAlign, MatchesPlainReferenceBitForBit) {
  at::manual_seed(1);
  const auto x = at::randn({2, 20, 13, 17});
  const auto rois = random_rois(15, 2, 30.f, 2);
  for (bool aligned : {false, true}) {
    for (int sr : {-1, 2}) {
      const auto out = tva::ops::roi_align_forward(x, rois, 0.5, 3, 4, sr, aligned);
      ASSERT_EQ(out.sizes(), (at::IntArrayRef{15, 20, 3, 4}));
      const auto o = out.accessor<float, 4>();
      for (int n = 0; n < 15; ++n)
        for (int c = 0; c < 20; ++c)
          for (int ph = 0; ph < 3; ++ph)
            for (int pw = 0; pw < 4; ++pw) {
              const float ref = reference_roi_align(
                  x, rois.data_ptr<float>() + n * 5, 0.5f, 3, 4, sr, aligned, c, ph, pw);
              ASSERT_EQ(o[n][c][ph][pw], ref) << n << " " << c << " " << ph << " " << pw;
            }
    }
  }
}

TEST(RoiAlign, BackwardIsTheAdjointOfForward) {
  // <roi_align(x), g> == <x, roi_align_backward(g)> for any x and g: the backward pass scatters
  // exactly the weights the forward pass gathers.
  at::manual_seed(3);
  const auto x = at::randn({2, 18, 11, 9}, at::kDouble);
  const auto rois = random_rois(12, 2, 20.f, 4).to(at::kDouble);
  const auto y = tva::ops::roi_align_forward(x, rois, 0.7, 3, 3, -1, true);
  const auto g = at::randn(y.sizes(), at::kDouble);
  const auto gx = tva::ops::roi_align_backward(g, rois, 0.7, 3, 3, 2, 18, 11, 9, -1, true);
  EXPECT_NEAR((y * g).sum().item<double>(), (x * gx).sum().item<double>(), 1e-9);
}

TEST(RoiPool, ArgmaxPointsAtTheFirstMaximum) {
  const auto x = at::zeros({1, 17, 6, 6});  // all ties: the first pixel of each bin wins
  const auto rois = at::tensor({0.f, 0.f, 0.f, 5.f, 5.f}).reshape({1, 5});
  const auto [out, argmax] = tva::ops::roi_pool_forward(x, rois, 1.0, 2, 2);
  const auto a = argmax.accessor<int32_t, 4>();
  for (int c = 0; c < 17; ++c) {
    EXPECT_EQ(a[0][c][0][0], 0);
    EXPECT_EQ(a[0][c][0][1], 3);
    EXPECT_EQ(a[0][c][1][0], 18);
    EXPECT_EQ(a[0][c][1][1], 21);
  }
  EXPECT_EQ(out.abs().sum().item<float>(), 0.f);
}

TEST(RoiOps, ThreadCountsAgree) {
  at::manual_seed(5);
  const auto x = at::randn({1, 40, 15, 15});
  const auto rois = random_rois(30, 1, 15.f, 6);
  at::set_num_threads(1);
  const auto a = tva::ops::roi_align_forward(x, rois, 1.0, 7, 7, 2, false);
  const auto p = std::get<0>(tva::ops::roi_pool_forward(x, rois, 1.0, 7, 7));
  at::set_num_threads(2);
  EXPECT_TRUE(at::equal(a, tva::ops::roi_align_forward(x, rois, 1.0, 7, 7, 2, false)));
  EXPECT_TRUE(at::equal(p, std::get<0>(tva::ops::roi_pool_forward(x, rois, 1.0, 7, 7))));
  at::set_num_threads(1);
}

TEST(RoiOps, BadInputThrowsNamingTheArgument) {
  const auto x = at::rand({1, 4, 8, 8});
  auto expect_error = [](auto&& call, const char* needle) {
    try {
      call();
      ADD_FAILURE() << "no error, expected one mentioning " << needle;
    } catch (const c10::Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  expect_error([&] { tva::ops::roi_align_forward(x, at::rand({2, 4}), 1.0, 2, 2, 2, false); }, "rois");
  expect_error(
      [&] {
        tva::ops::roi_align_forward(x, at::tensor({3.f, 0.f, 0.f, 1.f, 1.f}).reshape({1, 5}), 1.0, 2, 2, 2, false);
      },
      "batch indices");
  expect_error(
      [&] {
        tva::ops::ps_roi_pool_forward(x, at::tensor({0.f, 0.f, 0.f, 1.f, 1.f}).reshape({1, 5}), 1.0, 3, 3);
      },
      "multiple of");
}

} // namespace
