// Operators that let Python, TorchScript and C++ callers drive the adapter switch through the
// dispatcher, so the Python package needs no extension module of its own.
#include <torch/library.h>

#include "adapter/switch.h"

namespace tva {
namespace adapter {
namespace {

bool set_enabled(bool on) {
  return on ? enable() : disable();
}

bool enabled() {
  return is_enabled();
}

std::vector<std::string> ops() {
  return overridden_ops();
}

std::string version() {
  return TVA_VERSION;
}

} // namespace

TORCH_LIBRARY_FRAGMENT(torchvision_adapter, m) {
  m.def("_set_enabled(bool enabled) -> bool", &set_enabled);
  m.def("_is_enabled() -> bool", &enabled);
  m.def("_overridden_ops() -> str[]", &ops);
  m.def("_version() -> str", &version);
}

} // namespace adapter
} // namespace tva
