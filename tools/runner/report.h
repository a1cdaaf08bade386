// Timing statistics, the progress bar and the end-of-run report (a table and summary.json).
#pragma once

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace tva {
namespace runner {

// min, max, mean, median and the 99th percentile (linear interpolation, as numpy.percentile) of a
// list of durations in milliseconds, under the key names ais_bench uses in its summary.json.
nlohmann::json time_stats(std::vector<double> ms);

// The table printed at the end of a run (also by the Python twin, torchvision_adapter.benchmark).
std::string format_table(const nlohmann::json& summary);

class Stopwatch {
 public:
  Stopwatch() : start_(std::chrono::steady_clock::now()) {}
  double ms() const {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start_)
        .count();
  }

 private:
  std::chrono::steady_clock::time_point start_;
};

// A one-line progress bar on stderr, redrawn at most ten times a second.
class ProgressBar {
 public:
  ProgressBar(int64_t total, bool enabled, std::string label);
  void update(int64_t done);
  void finish();

 private:
  int64_t total_;
  bool enabled_;
  std::string label_;
  Stopwatch clock_;
  double last_draw_ms_ = -1e9;
  void draw(int64_t done);
};

} // namespace runner
} // namespace tva
