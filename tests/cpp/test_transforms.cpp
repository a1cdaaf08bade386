// Native image transforms: properties that hold whatever torch computes (identity sizes, constant
// images, exact small examples). Equality with torchvision itself is tested from Python.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include "image/transforms/transforms.h"

namespace {

using tva::image::resize;

at::Tensor random_u8(std::vector<int64_t> shape, int64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  return at::randint(0, 256, shape, gen, at::TensorOptions().dtype(at::kByte));
}

TEST(TransformsResize, SameSizeIsTheIdentity) {
  const auto img = random_u8({3, 17, 23}, 1);
  for (const char* mode : {"nearest", "bilinear", "bicubic"}) {
    EXPECT_TRUE(at::equal(resize(img, 17, 23, mode, false), img)) << mode;
  }
  EXPECT_TRUE(at::equal(resize(img, 17, 23, "bilinear", true), img));
  EXPECT_TRUE(at::equal(resize(img, 17, 23, "bicubic", true), img));
}

TEST(TransformsResize, ConstantImageStaysConstant) {
  const auto img = at::full({2, 3, 31, 40}, 77, at::TensorOptions().dtype(at::kByte));
  for (const char* mode : {"nearest", "bilinear", "bicubic"}) {
    for (bool aa : {false, true}) {
      if (aa && std::string(mode) == "nearest") continue;
      const auto out = resize(img, 13, 71, mode, aa);
      EXPECT_EQ(out.sizes(), (std::vector<int64_t>{2, 3, 13, 71}));
      EXPECT_EQ(out.min().item<int>(), 77) << mode << aa;
      EXPECT_EQ(out.max().item<int>(), 77) << mode << aa;
    }
  }
}

TEST(TransformsResize, HalvingBilinearAveragesPairs) {
  // 4 -> 2 columns: source positions 0.5 and 2.5, weights 1/2 each.
  const auto img = at::tensor({0.0f, 2.0f, 4.0f, 8.0f}).view({1, 1, 4});
  const auto out = resize(img, 1, 2, "bilinear", false);
  EXPECT_FLOAT_EQ(out[0][0][0].item<float>(), 1.0f);
  EXPECT_FLOAT_EQ(out[0][0][1].item<float>(), 6.0f);
}

TEST(TransformsResize, BadArgumentsNameTheProblem) {
  const auto img = random_u8({3, 8, 8}, 2);
  EXPECT_THROW(resize(img, 4, 4, "lanczos", false), c10::Error);
  EXPECT_THROW(resize(img, 0, 4, "bilinear", false), c10::Error);
  EXPECT_THROW(resize(img, 4, 4, "nearest", true), c10::Error);
  EXPECT_THROW(resize(img.to(at::kDouble), 4, 4, "bilinear", false), c10::Error);
  EXPECT_THROW(resize(img[0][0], 4, 4, "bilinear", false), c10::Error);
}

TEST(TransformsGeometry, FlipsAndPads) {
  const auto img = random_u8({2, 3, 5, 37}, 3);
  EXPECT_TRUE(at::equal(tva::image::hflip(img), img.flip(-1)));
  EXPECT_TRUE(at::equal(tva::image::vflip(img), img.flip(-2)));
  const auto row = at::tensor({1.0f, 2.0f, 3.0f}).view({1, 1, 3});
  const auto r = tva::image::pad(row, {2, 2, 0, 0}, 0.0, "reflect");
  EXPECT_TRUE(at::equal(r, at::tensor({3.0f, 2.0f, 1.0f, 2.0f, 3.0f, 2.0f, 1.0f}).view({1, 1, 7})));
  const auto s = tva::image::pad(row, {2, 2, 0, 0}, 0.0, "symmetric");
  EXPECT_TRUE(at::equal(s, at::tensor({2.0f, 1.0f, 1.0f, 2.0f, 3.0f, 3.0f, 2.0f}).view({1, 1, 7})));
  const auto e = tva::image::pad(row, {1, 2, 0, 0}, 0.0, "edge");
  EXPECT_TRUE(at::equal(e, at::tensor({1.0f, 1.0f, 2.0f, 3.0f, 3.0f, 3.0f}).view({1, 1, 6})));
  const auto c = tva::image::pad(row, {1, 0, 1, 0}, 9.0, "constant");
  EXPECT_TRUE(at::equal(c, at::tensor({9.0f, 9.0f, 9.0f, 9.0f, 9.0f, 1.0f, 2.0f, 3.0f}).view({1, 2, 4})));
  EXPECT_THROW(tva::image::pad(row, {3, 0, 0, 0}, 0.0, "reflect"), c10::Error);
}

TEST(TransformsConvert, NormalizeAndDtype) {
  const auto img = random_u8({3, 6, 7}, 4);
  const auto f = tva::image::convert_image_dtype(img, at::kFloat);
  EXPECT_TRUE(at::equal(f, img.to(at::kFloat) / 255.0));
  const auto n = tva::image::normalize(f, {0.5, 0.25, 0.0}, {0.5, 2.0, 1.0}, false);
  const auto mean = at::tensor({0.5f, 0.25f, 0.0f}).view({3, 1, 1});
  const auto std = at::tensor({0.5f, 2.0f, 1.0f}).view({3, 1, 1});
  EXPECT_TRUE(at::equal(n, (f - mean) / std));
  EXPECT_THROW(tva::image::normalize(img, {0.5}, {0.5}, false), c10::Error);
}

TEST(TransformsColour, EqualizeAndPosterize) {
  const auto flat = at::full({1, 4, 4}, 9, at::TensorOptions().dtype(at::kByte));
  EXPECT_TRUE(at::equal(tva::image::equalize(flat), flat));
  const auto img = random_u8({3, 8, 8}, 5);
  EXPECT_TRUE(at::equal(tva::image::posterize(img, -32), at::bitwise_and(img, 224)));
  EXPECT_TRUE(at::equal(tva::image::invert(img), 255 - img));
}

} // namespace
