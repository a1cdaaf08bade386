// torchvision's operator schemas, for processes that run torchvision models without torchvision's
// own library (the C++ model runner loading a scripted detection model, for instance).
#pragma once

#include <string>
#include <vector>

namespace tva {
namespace adapter {

// The schemas torchvision 0.14 registers in its `torchvision` namespace, verbatim.
const std::vector<std::string>& torchvision_schemas();

// Defines every torchvision schema that this process does not have yet, then enables the adapter so
// the CPU kernels are ours. Returns the number of schemas defined. Call it only in a process that
// will not load torchvision's library afterwards: torchvision would then fail to register its own
// definitions. With torchvision already loaded it defines nothing and just enables the adapter.
int provide_torchvision_ops();

} // namespace adapter
} // namespace tva
