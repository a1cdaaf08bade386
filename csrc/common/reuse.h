// Output tensors whose memory is recycled. A large output freshly allocated on every call (a
// uint8 photo is about a megabyte, a float copy of it four, a roi_align output of 1000 RoIs x 256
// channels fifty) costs a page fault and a page zeroed by the kernel per 4 KiB whenever the C
// allocator has returned the previous buffer to the system, and lands at a new address that is not
// in cache. For a memory-bound kernel such as a flip, normalize or convert_image_dtype that is more
// work than the kernel; for a RoI output it is about a tenth of the op. Buffers of freed outputs
// are kept (a few, a bounded number of bytes) and handed out again, the most recently freed first,
// with their pages still mapped.
#pragma once

#include <ATen/ATen.h>

namespace tva {

// An uninitialised contiguous tensor like at::empty(sizes, options) (CPU). Outputs smaller than
// 64 KiB come from at::empty; larger ones from the recycled buffers when one of the same size is
// free.
at::Tensor empty_recycled(at::IntArrayRef sizes, const at::TensorOptions& options);

} // namespace tva
