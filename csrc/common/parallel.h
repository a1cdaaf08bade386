// Threading policy: all parallel work goes through at::parallel_for, which honours
// torch.set_num_threads (and so never oversubscribes DataLoader workers).
#pragma once

#include <ATen/Parallel.h>

namespace tva {

// Runs f(begin, end) over [0, n) in chunks of at least `grain` items.
template <typename F>
inline void parallel_for(int64_t n, int64_t grain, const F& f) {
  if (n <= 0) return;
  at::parallel_for(0, n, grain, f);
}

} // namespace tva
