// The switch and torchvision's schemas in a process without torchvision's library.
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <ATen/core/dispatch/Dispatcher.h>

#include "adapter/switch.h"
#include "adapter/torchvision_schemas.h"

namespace {

TEST(Switch, ProvidesTorchvisionOpsBackedByOurKernels) {
  // This test binary does not load torchvision: its schemas come from us.
  ASSERT_FALSE(c10::Dispatcher::singleton()
                   .findSchema(c10::OperatorName("torchvision::nms", ""))
                   .has_value());
  const int defined = tva::adapter::provide_torchvision_ops();
  EXPECT_EQ(defined, static_cast<int>(tva::adapter::torchvision_schemas().size()));
  EXPECT_TRUE(tva::adapter::is_enabled());
  EXPECT_EQ(tva::adapter::provide_torchvision_ops(), 0); // idempotent

  const auto op = c10::Dispatcher::singleton()
                      .findSchemaOrThrow("torchvision::nms", "")
                      .typed<at::Tensor(const at::Tensor&, const at::Tensor&, double)>();
  const auto boxes = at::tensor({0.f, 0.f, 10.f, 10.f, 1.f, 1.f, 10.f, 10.f, 20.f, 20.f, 30.f, 30.f})
                         .reshape({3, 4});
  const auto scores = at::tensor({0.9f, 0.8f, 0.7f});
  const auto keep = op.call(boxes, scores, 0.5);
  ASSERT_EQ(keep.numel(), 2);
  EXPECT_EQ(keep[0].item<int64_t>(), 0);
  EXPECT_EQ(keep[1].item<int64_t>(), 2);

  // Disabled, torchvision's schema has no kernel in this process: a clear error, not a crash.
  tva::adapter::disable();
  EXPECT_THROW(op.call(boxes, scores, 0.5), c10::Error);
  tva::adapter::enable();
  EXPECT_EQ(op.call(boxes, scores, 0.5).numel(), 2);
}

} // namespace
