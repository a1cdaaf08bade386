#include "common/reuse.h"

#include <ATen/EmptyTensor.h>
#include <c10/core/Allocator.h>
#include <c10/util/Exception.h>

#include <cstdint>
#include <cstdlib>
#include <mutex>
#include <utility>
#include <vector>

#ifdef __linux__
#include <sys/mman.h>
#endif

namespace tva {
namespace {

constexpr size_t kMinBytes = size_t{64} << 10;  // below this, malloc serves from its free lists
constexpr size_t kKeepBytes = size_t{48} << 20;  // at most this much memory kept idle
constexpr size_t kKeepCount = 16;
constexpr size_t kAlign = 64;

// A new buffer of tens of megabytes is first touched page by page; with 4 KiB pages its page faults
// cost as much as a memory-bound kernel's work. Where the system allows it on request (transparent
// huge pages in "madvise" mode), ask for 2 MiB pages for the bulk of a buffer of 8 MiB or more.
void advise_huge_pages(void* p, size_t bytes) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  constexpr uintptr_t kHuge = uintptr_t{2} << 20;
  if (bytes >= 4 * kHuge) {
    const uintptr_t begin = reinterpret_cast<uintptr_t>(p);
    const uintptr_t lo = (begin + kHuge - 1) & ~(kHuge - 1);
    const uintptr_t hi = (begin + bytes) & ~(kHuge - 1);
    if (hi > lo) madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_HUGEPAGE);  // advice only
  }
#else
  (void)p;
  (void)bytes;
#endif
}

// Idle buffers, most recently freed last: a request takes the newest buffer of its size, the one
// most likely still in cache; when the pool is full the oldest buffers are released first.
struct Pool {
  std::mutex mutex;
  std::vector<std::pair<size_t, void*>> idle;
  size_t idle_bytes = 0;

  void* take(size_t bytes) {
    {
      std::lock_guard<std::mutex> lock(mutex);
      for (size_t k = idle.size(); k-- > 0;) {
        if (idle[k].first == bytes) {
          void* p = idle[k].second;
          idle.erase(idle.begin() + static_cast<std::ptrdiff_t>(k));
          idle_bytes -= bytes;
          return p;
        }
      }
    }
    void* p = nullptr;
    if (posix_memalign(&p, kAlign, bytes) != 0) p = nullptr;
    TORCH_CHECK(p != nullptr, "out of memory allocating ", bytes, " bytes");
    advise_huge_pages(p, bytes);
    return p;
  }

  void give(void* p, size_t bytes) {
    std::vector<void*> release;
    {
      std::lock_guard<std::mutex> lock(mutex);
      if (bytes <= kKeepBytes) {
        while (!idle.empty() && (idle.size() >= kKeepCount || idle_bytes + bytes > kKeepBytes)) {
          release.push_back(idle.front().second);
          idle_bytes -= idle.front().first;
          idle.erase(idle.begin());
        }
        idle.emplace_back(bytes, p);
        idle_bytes += bytes;
        p = nullptr;
      }
    }
    for (void* q : release) std::free(q);
    std::free(p);
  }
};

Pool& pool() {
  static Pool* p = new Pool();  // never destroyed: outputs may be freed during interpreter exit
  return *p;
}

// Buffers carry their size in a header of kAlign bytes before the data, so that the deleter knows
// which pool list a freed buffer belongs to without a separate allocation.
void give_back(void* data) {
  char* base = static_cast<char*>(data) - kAlign;
  pool().give(base, *reinterpret_cast<size_t*>(base));
}

// The allocator of recycled tensors. A storage that grows (resize_, out= arguments) allocates its
// new buffer here too and hands the old one back.
struct RecyclingAllocator final : c10::Allocator {
  c10::DataPtr allocate(size_t n) const override {
    const size_t bytes = n + kAlign;
    char* base = static_cast<char*>(pool().take(bytes));
    *reinterpret_cast<size_t*>(base) = bytes;
    void* data = base + kAlign;
    return {data, data, &give_back, c10::Device(c10::DeviceType::CPU)};
  }
  c10::DeleterFnPtr raw_deleter() const override {
    return &give_back;
  }
};

c10::Allocator* recycling_allocator() {
  static RecyclingAllocator* a = new RecyclingAllocator();
  return a;
}

} // namespace

at::Tensor empty_recycled(at::IntArrayRef sizes, const at::TensorOptions& options) {
  int64_t numel = 1;
  for (const int64_t s : sizes) numel *= s;
  const at::ScalarType dtype = c10::typeMetaToScalarType(options.dtype());
  const size_t bytes = static_cast<size_t>(numel) * c10::elementSize(dtype);
  if (bytes < kMinBytes) return at::empty(sizes, options);
  return at::detail::empty_generic(
      sizes, recycling_allocator(), c10::DispatchKeySet(c10::DispatchKey::CPU), dtype, c10::nullopt);
}

} // namespace tva
