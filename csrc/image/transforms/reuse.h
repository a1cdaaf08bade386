// Output tensors whose memory is recycled: large outputs (a uint8 photo is about a megabyte, a float
// copy of it four) freshly allocated on every call cost a page fault per 4 KiB page whenever the C
// allocator has returned the previous buffer to the system, and land at a new address that is not
// in cache; for a memory-bound kernel such as a flip, normalize or convert_image_dtype that is more
// work than the kernel. Buffers of freed outputs are kept (a few, a bounded number of bytes) and
// handed out again, the most recently freed first, with their pages still mapped.
#pragma once

#include <ATen/ATen.h>

namespace tva {
namespace image {

// An uninitialised contiguous tensor like at::empty(sizes, options) (CPU). Outputs smaller than
// 64 KiB come from at::empty; larger ones from the recycled buffers when one of the same size is
// free.
at::Tensor empty_recycled(at::IntArrayRef sizes, const at::TensorOptions& options);

} // namespace image
} // namespace tva
