// Turns whatever a TorchScript model returns (tensors nested in tuples, lists and dicts, such as the
// (losses, detections) pair of torchvision's scripted detection models) into named tensors, and
// attributes them to the images of the batch.
#pragma once

#include <string>
#include <vector>

#include <ATen/core/ivalue.h>

namespace tva {
namespace runner {

struct NamedOutput {
  std::string name;   // path in the output structure, parts joined by '_' ("1_boxes", "0")
  int64_t image = -1; // index of the batch element it belongs to, or -1 if it is shared
  at::Tensor tensor;
};

// Flattens `value`. `batch` is the number of samples given to the model; `list_input` says whether the
// model took them as a list of tensors (each output list of that length is then per image) or as one
// stacked tensor (each output tensor whose first dimension is `batch` is then split per image, every
// piece keeping a batch dimension of 1). Numbers and booleans become 0-d tensors; strings, None and
// empty containers are left out.
std::vector<NamedOutput> flatten_outputs(const c10::IValue& value, int64_t batch, bool list_input);

} // namespace runner
} // namespace tva
