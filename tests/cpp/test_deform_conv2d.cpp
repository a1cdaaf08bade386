// C++ checks of the deform_conv2d kernels: forward against a plain per-output-element statement
// of the definition, backward against a finite difference, and argument errors.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include "ops/deform_conv2d.h"

namespace {

struct Conv {
  int64_t stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0, dil_h = 1, dil_w = 1;
  int64_t groups = 1, offset_groups = 1;
  bool use_mask = true;
  tva::ops::DeformConv2dParams params() const {
    return {stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, groups, offset_groups, use_mask};
  }
};

// Bilinear sample of one channel plane with torchvision's boundary rules.
double sample(const at::TensorAccessor<double, 2>& plane, int64_t h, int64_t w, double y, double x) {
  if (y <= -1 || y >= h || x <= -1 || x >= w) return 0;
  const int64_t y0 = static_cast<int64_t>(std::floor(y)), x0 = static_cast<int64_t>(std::floor(x));
  double v = 0;
  for (int dy = 0; dy <= 1; ++dy) {
    for (int dx = 0; dx <= 1; ++dx) {
      const int64_t yy = y0 + dy, xx = x0 + dx;
      if (yy < 0 || yy >= h || xx < 0 || xx >= w) continue;
      v += (1 - std::abs(y - yy)) * (1 - std::abs(x - xx)) * plane[yy][xx];
    }
  }
  return v;
}

at::Tensor reference_forward(
    const at::Tensor& input, const at::Tensor& weight, const at::Tensor& offset,
    const at::Tensor& mask, const at::Tensor& bias, const Conv& c) {
  const int64_t B = input.size(0), C = input.size(1), H = input.size(2), W = input.size(3);
  const int64_t O = weight.size(0), kh = weight.size(2), kw = weight.size(3);
  const int64_t oh = offset.size(2), ow = offset.size(3);
  const int64_t cg = C / c.groups, og_c = C / c.offset_groups, og_o = O / c.groups;
  auto out = at::zeros({B, O, oh, ow}, input.options());
  auto in = input.accessor<double, 4>();
  auto wt = weight.accessor<double, 4>();
  auto off = offset.accessor<double, 4>();
  auto m = c.use_mask ? mask.accessor<double, 4>() : off; // unused without mask
  auto bs = bias.accessor<double, 1>();
  auto o = out.accessor<double, 4>();
  for (int64_t b = 0; b < B; ++b)
    for (int64_t oc = 0; oc < O; ++oc)
      for (int64_t y = 0; y < oh; ++y)
        for (int64_t x = 0; x < ow; ++x) {
          double acc = bs[oc];
          const int64_t g = oc / og_o;
          for (int64_t ci = 0; ci < cg; ++ci) {
            const int64_t ch = g * cg + ci, og = ch / og_c;
            for (int64_t i = 0; i < kh; ++i)
              for (int64_t j = 0; j < kw; ++j) {
                const int64_t k = i * kw + j;
                const double py = y * c.stride_h - c.pad_h + i * c.dil_h + off[b][og * 2 * kh * kw + 2 * k][y][x];
                const double px = x * c.stride_w - c.pad_w + j * c.dil_w + off[b][og * 2 * kh * kw + 2 * k + 1][y][x];
                const double mv = c.use_mask ? m[b][og * kh * kw + k][y][x] : 1.0;
                acc += wt[oc][ci][i][j] * mv * sample(in[b][ch], H, W, py, px);
              }
          }
          o[b][oc][y][x] = acc;
        }
  return out;
}

struct Inputs {
  at::Tensor input, weight, offset, mask, bias;
};

Inputs make(int64_t B, int64_t C, int64_t H, int64_t W, int64_t O, int64_t kh, int64_t kw, const Conv& c) {
  const int64_t oh = (H + 2 * c.pad_h - (c.dil_h * (kh - 1) + 1)) / c.stride_h + 1;
  const int64_t ow = (W + 2 * c.pad_w - (c.dil_w * (kw - 1) + 1)) / c.stride_w + 1;
  const auto opt = at::TensorOptions().dtype(at::kDouble);
  at::manual_seed(7);
  Inputs r;
  r.input = at::randn({B, C, H, W}, opt);
  r.weight = at::randn({O, C / c.groups, kh, kw}, opt);
  r.offset = at::randn({B, 2 * c.offset_groups * kh * kw, oh, ow}, opt) * 2.5;
  r.mask = c.use_mask ? at::rand({B, c.offset_groups * kh * kw, oh, ow}, opt) : at::zeros({B, 0}, opt);
  r.bias = at::randn({O}, opt);
  return r;
}

at::Tensor run(const Inputs& a, const Conv& c) {
  return tva::ops::deform_conv2d(a.input, a.weight, a.offset, a.mask, a.bias, c.params());
}

void expect_matches_reference(const Inputs& a, const Conv& c) {
  const auto ours = run(a, c);
  const auto ref = reference_forward(a.input, a.weight, a.offset, a.mask, a.bias, c);
  EXPECT_TRUE(at::allclose(ours, ref, 1e-12, 1e-12)) << (ours - ref).abs().max().item<double>();
  // float32 goes through a different multiply (oneDNN); it must agree too.
  const auto f = [](const at::Tensor& t) { return t.to(at::kFloat); };
  const auto ours32 = tva::ops::deform_conv2d(
      f(a.input), f(a.weight), f(a.offset), f(a.mask), f(a.bias), c.params());
  const double scale = ref.abs().max().item<double>();
  EXPECT_LE((ours32.to(at::kDouble) - ref).abs().max().item<double>(), 1e-5 * scale);
}

TEST(DeformConv2d, ForwardMatchesDefinition) {
  Conv c;
  c.pad_h = c.pad_w = 1;
  expect_matches_reference(make(2, 4, 6, 7, 3, 3, 3, c), c);
}

TEST(DeformConv2d, ForwardStridesGroupsOffsetGroupsNoMask) {
  Conv c;
  c.stride_h = 2;
  c.pad_w = 2;
  c.dil_h = 2;
  c.groups = 2;
  c.offset_groups = 3;
  c.use_mask = false;
  expect_matches_reference(make(2, 6, 9, 8, 4, 2, 3, c), c);
}

TEST(DeformConv2d, ForwardManyBandsAndThreads) {
  Conv c;
  c.pad_h = c.pad_w = 1;
  c.offset_groups = 2;
  const int threads = at::get_num_threads();
  at::set_num_threads(2);
  // 256 channels x 9 taps x 30 columns: several bands of output rows per image.
  expect_matches_reference(make(1, 256, 40, 30, 2, 3, 3, c), c);
  at::set_num_threads(threads);
}

TEST(DeformConv2d, ZeroOffsetsEqualConv2d) {
  Conv c;
  c.stride_w = 2;
  c.pad_h = 1;
  c.groups = 2;
  auto a = make(2, 4, 7, 9, 6, 3, 3, c);
  a.offset.zero_();
  a.mask.fill_(1);
  const auto ref = at::conv2d(a.input, a.weight, a.bias, {1, 2}, {1, 0}, {1, 1}, 2);
  EXPECT_TRUE(at::allclose(run(a, c), ref, 1e-12, 1e-12));
}

TEST(DeformConv2d, BackwardMatchesFiniteDifferences) {
  Conv c;
  c.pad_h = c.pad_w = 1;
  c.offset_groups = 2;
  auto a = make(1, 2, 4, 4, 2, 3, 3, c);
  a.offset = a.offset * 0.3; // keep points off integer coordinates for a smooth function
  const auto out = run(a, c);
  const auto grad = at::randn(out.sizes(), out.options());
  const auto g = tva::ops::deform_conv2d_backward(
      grad, a.input, a.weight, a.offset, a.mask, a.bias, c.params());
  const at::Tensor* args[] = {&a.input, &a.weight, &a.offset, &a.mask, &a.bias};
  const at::Tensor grads[] = {std::get<0>(g), std::get<1>(g), std::get<2>(g), std::get<3>(g), std::get<4>(g)};
  const double eps = 1e-6;
  for (int t = 0; t < 5; ++t) {
    at::Tensor flat = args[t]->view({-1});
    const auto gflat = grads[t].reshape({-1});
    for (int64_t e = 0; e < flat.numel(); e += 3) {
      const double v = flat[e].item<double>();
      flat[e] = v + eps;
      const double up = (run(a, c) * grad).sum().item<double>();
      flat[e] = v - eps;
      const double down = (run(a, c) * grad).sum().item<double>();
      flat[e] = v;
      EXPECT_NEAR(gflat[e].item<double>(), (up - down) / (2 * eps), 1e-5) << "argument " << t << " element " << e;
    }
  }
}

void expect_error(const Inputs& a, const Conv& c, const std::string& text) {
  try {
    run(a, c);
    ADD_FAILURE() << "no error, expected: " << text;
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what_without_backtrace()).find(text), std::string::npos) << e.what_without_backtrace();
  }
}

TEST(DeformConv2d, ErrorsNameTheArgument) {
  Conv c;
  auto a = make(1, 4, 6, 6, 2, 3, 3, c);
  auto bad = a;
  bad.offset = at::zeros({1, 16, 4, 4}, a.offset.options());
  expect_error(bad, c, "offset should have 2 * offset_groups * kernel_h * kernel_w = 2 * 1 * 3 * 3 = 18 channels");
  bad = a;
  bad.mask = at::zeros({1, 8, 4, 4}, a.mask.options());
  expect_error(bad, c, "mask should have offset_groups * kernel_h * kernel_w = 1 * 3 * 3 = 9 channels");
  bad = a;
  bad.weight = at::zeros({2, 3, 3, 3}, a.weight.options());
  expect_error(bad, c, "weight should have in_channels / groups = 4 / 1 channels");
  bad = a;
  bad.bias = at::zeros({3}, a.bias.options());
  expect_error(bad, c, "bias should have out_channels = 2 elements");
  bad = a;
  bad.offset = a.offset.to(at::kFloat);
  expect_error(bad, c, "input and offset must have the same dtype");
  Conv c2 = c;
  c2.offset_groups = 3;
  expect_error(a, c2, "input channels (4) should be divisible by offset_groups (3)");
}

} // namespace
