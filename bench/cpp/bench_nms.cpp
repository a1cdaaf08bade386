// Microbenchmarks of the nms kernels, called directly (no dispatcher, no Python).
#include <benchmark/benchmark.h>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include "ops/nms.h"

namespace {

// Random boxes in an 800 px image with sides of 4-200 px, and uniform scores.
std::pair<at::Tensor, at::Tensor> random_boxes(int64_t n) {
  at::manual_seed(0);
  const auto xy = at::rand({n, 2}) * 800;
  const auto wh = at::rand({n, 2}) * 196 + 4;
  return {at::cat({xy, xy + wh}, 1), at::rand({n})};
}

void BM_Nms(benchmark::State& state) {
  at::set_num_threads(static_cast<int>(state.range(1)));
  const auto [boxes, scores] = random_boxes(state.range(0));
  const int64_t kept = tva::ops::nms(boxes, scores, 0.5).numel();
  for (auto _ : state) benchmark::DoNotOptimize(tva::ops::nms(boxes, scores, 0.5));
  state.SetItemsProcessed(state.iterations() * state.range(0));
  state.counters["kept"] = static_cast<double>(kept);
}
BENCHMARK(BM_Nms)
    ->ArgNames({"boxes", "threads"})
    ->ArgsProduct({{1000, 5000, 20000}, {1, 2}})
    ->Unit(benchmark::kMillisecond);

void BM_BatchedNms(benchmark::State& state) {
  at::set_num_threads(static_cast<int>(state.range(1)));
  const auto [boxes, scores] = random_boxes(state.range(0));
  const auto idxs = at::randint(0, 80, {state.range(0)});
  for (auto _ : state) benchmark::DoNotOptimize(tva::ops::batched_nms(boxes, scores, idxs, 0.5));
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_BatchedNms)
    ->ArgNames({"boxes", "threads"})
    ->ArgsProduct({{20000}, {1, 2}})
    ->Unit(benchmark::kMillisecond);

} // namespace
