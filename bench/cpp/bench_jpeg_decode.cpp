// Microbenchmark of JPEG decoding to RGB (decode_image, no Python): every JPEG of a folder
// (TVA_BENCH_JPEG_DIR, default Debian's mate-backgrounds photos) per iteration, with the native
// baseline decoder on (arg 1, the default) or libjpeg-turbo only (arg 0, TVA_JPEG_NATIVE=0).
#include <benchmark/benchmark.h>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <cstdlib>
#include <dirent.h>
#include <string>
#include <vector>

#include "image/io/decode.h"

namespace {

std::vector<at::Tensor> jpeg_files() {
  const char* env = std::getenv("TVA_BENCH_JPEG_DIR");
  const std::string dir = env != nullptr ? env : "/usr/share/backgrounds/mate/nature";
  std::vector<std::string> names;
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* e = readdir(d)) {
      const std::string n = e->d_name;
      if (n.size() > 4 && n.substr(n.size() - 4) == ".jpg") {
        names.push_back(dir + "/" + n);
      }
    }
    closedir(d);
  }
  std::vector<at::Tensor> files;
  for (const auto& n : names) {
    files.push_back(tva::image::read_file(n));
  }
  return files;
}

void BM_DecodeJpegRGB(benchmark::State& state) {
  at::set_num_threads(static_cast<int>(state.range(1)));
  setenv("TVA_JPEG_NATIVE", state.range(0) ? "1" : "0", 1);
  static const std::vector<at::Tensor> files = jpeg_files();
  tva::image::DecodeOptions opts;
  for (auto _ : state) {
    for (const auto& f : files) {
      benchmark::DoNotOptimize(tva::image::decode_image(f.data_ptr<uint8_t>(), f.numel(), opts));
    }
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(files.size()));
  unsetenv("TVA_JPEG_NATIVE");
}
BENCHMARK(BM_DecodeJpegRGB)
    ->ArgNames({"native", "threads"})
    ->ArgsProduct({{0, 1}, {1, 2}})
    ->Unit(benchmark::kMillisecond);

}  // namespace
