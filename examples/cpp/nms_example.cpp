// Calls the adapter's nms directly and through torchvision's operator name.
#include <iostream>

#include <ATen/ATen.h>
#include <ATen/core/dispatch/Dispatcher.h>

#include "adapter/torchvision_schemas.h"
#include "ops/nms.h"

int main() {
  const auto boxes =
      at::tensor({0.f, 0.f, 10.f, 10.f, 1.f, 1.f, 10.f, 10.f, 20.f, 20.f, 30.f, 30.f}).reshape({3, 4});
  const auto scores = at::tensor({0.9f, 0.8f, 0.7f});
  std::cout << "direct: " << tva::ops::nms(boxes, scores, 0.5) << "\n";

  // Without torchvision's library in the process, torchvision::nms comes from the adapter.
  tva::adapter::provide_torchvision_ops();
  const auto op = c10::Dispatcher::singleton()
                      .findSchemaOrThrow("torchvision::nms", "")
                      .typed<at::Tensor(const at::Tensor&, const at::Tensor&, double)>();
  std::cout << "torchvision::nms: " << op.call(boxes, scores, 0.5) << "\n";
  return 0;
}
