// Output tensors whose memory is recycled: large outputs (a float copy of a photo is megabytes)
// freshly allocated on every call cost a page fault per 4 KiB page whenever the C allocator has
// returned the previous buffer to the system, which for a memory-bound kernel such as normalize or
// convert_image_dtype is as much work as the kernel. Buffers of freed outputs are kept (a few, a
// bounded number of bytes) and handed out again, with their pages still mapped.
#pragma once

#include <ATen/ATen.h>

namespace tva {
namespace image {

// An uninitialised contiguous tensor like at::empty(sizes, options) (CPU). Outputs smaller than
// about a megabyte come from at::empty; larger ones from the recycled buffers when one of the same
// size is free.
at::Tensor empty_recycled(at::IntArrayRef sizes, const at::TensorOptions& options);

} // namespace image
} // namespace tva
