// The adapter switch: installs this project's kernels over torchvision's at the PyTorch dispatcher,
// and takes them away again.
//
// Each operator that replaces a torchvision kernel announces itself once, at library load time, with
// TVA_OVERRIDE_TORCHVISION (see below). enable() builds one torch::Library of kind IMPL for the
// `torchvision` namespace and lets every announced operator register its kernel there; disable()
// destroys that Library, which hands the dispatch slot back to torchvision's own kernel.
#pragma once

#include <string>
#include <vector>

#include <torch/library.h>

namespace tva {
namespace adapter {

// Registers kernels for `torchvision::<op>` on the given Library (namespace torchvision, key CPU).
using OverrideFn = void (*)(torch::Library& lib);

struct OverrideRegistrar {
  // `op` is the torchvision operator name without namespace, e.g. "nms" or "_roi_align_backward".
  OverrideRegistrar(const char* op, OverrideFn fn);
};

// Installs our kernels for every announced operator whose torchvision schema exists in this process.
// Returns whether the adapter was enabled before the call. Safe to call repeatedly.
bool enable();
// Restores torchvision's own kernels exactly. Returns whether the adapter was enabled before.
bool disable();
bool is_enabled();

// Names of the torchvision operators the adapter replaces while enabled (or would replace).
std::vector<std::string> overridden_ops();

} // namespace adapter
} // namespace tva

#define TVA_CONCAT_INNER(a, b) a##b
#define TVA_CONCAT(a, b) TVA_CONCAT_INNER(a, b)

// Announces that `fn(torch::Library&)` installs our kernel for torchvision::`op`.
#define TVA_OVERRIDE_TORCHVISION(op, fn)                                        \
  static const ::tva::adapter::OverrideRegistrar TVA_CONCAT(                    \
      tva_override_registrar_, __COUNTER__)(op, fn)
