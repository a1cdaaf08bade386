#include "image/transforms/reuse.h"

#include <c10/core/CPUAllocator.h>
#include <c10/util/Exception.h>

#include <cstdlib>
#include <mutex>
#include <utility>
#include <vector>

namespace tva {
namespace image {
namespace {

constexpr size_t kMinBytes = size_t{1} << 20;  // below this, allocation is cheap
constexpr size_t kKeepBytes = size_t{48} << 20;  // at most this much memory kept idle
constexpr size_t kKeepCount = 8;

struct Pool {
  std::mutex mutex;
  std::vector<std::pair<size_t, void*>> idle;
  size_t idle_bytes = 0;

  void* take(size_t bytes) {
    {
      std::lock_guard<std::mutex> lock(mutex);
      for (size_t k = 0; k < idle.size(); ++k) {
        if (idle[k].first == bytes) {
          void* p = idle[k].second;
          idle[k] = idle.back();
          idle.pop_back();
          idle_bytes -= bytes;
          return p;
        }
      }
    }
    void* p = nullptr;
    if (posix_memalign(&p, 64, bytes) != 0) p = nullptr;
    TORCH_CHECK(p != nullptr, "out of memory allocating ", bytes, " bytes");
    return p;
  }

  void give(void* p, size_t bytes) {
    {
      std::lock_guard<std::mutex> lock(mutex);
      if (idle.size() < kKeepCount && idle_bytes + bytes <= kKeepBytes) {
        idle.emplace_back(bytes, p);
        idle_bytes += bytes;
        return;
      }
    }
    std::free(p);
  }
};

Pool& pool() {
  static Pool* p = new Pool();  // never destroyed: outputs may be freed during interpreter exit
  return *p;
}

struct Buffer {
  void* data;
  size_t bytes;
};

void give_back(void* ctx) {
  const Buffer* b = static_cast<const Buffer*>(ctx);
  pool().give(b->data, b->bytes);
  delete b;
}

} // namespace

at::Tensor empty_recycled(at::IntArrayRef sizes, const at::TensorOptions& options) {
  int64_t numel = 1;
  for (const int64_t s : sizes) numel *= s;
  const size_t bytes = static_cast<size_t>(numel) * c10::elementSize(c10::typeMetaToScalarType(options.dtype()));
  if (bytes < kMinBytes) return at::empty(sizes, options);
  void* p = pool().take(bytes);
  // A resizable storage whose allocator is the CPU one: growing it (resize_, out= arguments) moves
  // the data to a fresh allocation and hands this buffer back to the pool, as for any tensor.
  c10::DataPtr data(p, new Buffer{p, bytes}, &give_back, c10::Device(c10::DeviceType::CPU));
  c10::Storage storage(c10::Storage::use_byte_size_t(), bytes, std::move(data), c10::GetCPUAllocator(),
                       /*resizable=*/true);
  return at::empty({0}, options).set_(std::move(storage), 0, sizes);
}

} // namespace image
} // namespace tva
