// How an operator with a private backward (roi_align and _roi_align_backward, deform_conv2d and
// _deform_conv2d_backward, ...) is registered, once for all of them:
//   - both schemas under torchvision_adapter:: (torchvision's signatures),
//   - both CPU kernels there, and the autograd kernel of the forward op,
//   - and, through the adapter switch, both kernels over torchvision::<op> and
//     torchvision::_<op>_backward while the adapter is enabled.
#pragma once

#include <torch/library.h>

#include "adapter/switch.h"

// name: the forward operator's name as a bare token (roi_align); the backward operator is
// _<name>_backward. forward_schema / backward_schema: their schemas (string literals).
#define TVA_REGISTER_OP_WITH_BACKWARD(                                                   \
    name, forward_schema, backward_schema, forward_fn, backward_fn, autograd_fn)        \
  TORCH_LIBRARY_FRAGMENT(torchvision_adapter, m) {                                      \
    m.def(forward_schema);                                                              \
    m.def(backward_schema);                                                             \
  }                                                                                     \
  TORCH_LIBRARY_IMPL(torchvision_adapter, CPU, m) {                                     \
    m.impl(#name, TORCH_FN(forward_fn));                                                \
    m.impl("_" #name "_backward", TORCH_FN(backward_fn));                               \
  }                                                                                     \
  TORCH_LIBRARY_IMPL(torchvision_adapter, Autograd, m) {                                \
    m.impl(#name, TORCH_FN(autograd_fn));                                               \
  }                                                                                     \
  TVA_OVERRIDE_TORCHVISION(                                                             \
      #name, [](torch::Library& lib) { lib.impl(#name, TORCH_FN(forward_fn)); });       \
  TVA_OVERRIDE_TORCHVISION("_" #name "_backward", [](torch::Library& lib) {             \
    lib.impl("_" #name "_backward", TORCH_FN(backward_fn));                             \
  })
