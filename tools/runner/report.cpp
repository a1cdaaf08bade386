#include "runner/report.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include <fmt/format.h>

namespace tva {
namespace runner {

nlohmann::json time_stats(std::vector<double> ms) {
  nlohmann::json j;
  if (ms.empty()) {
    for (const char* k : {"min", "max", "mean", "median", "percentile(99%)"}) j[k] = nullptr;
    return j;
  }
  std::sort(ms.begin(), ms.end());
  const size_t n = ms.size();
  auto quantile = [&](double q) {
    const double pos = q * static_cast<double>(n - 1);
    const size_t lo = static_cast<size_t>(std::floor(pos));
    const size_t hi = std::min(lo + 1, n - 1);
    return ms[lo] + (ms[hi] - ms[lo]) * (pos - static_cast<double>(lo));
  };
  j["min"] = ms.front();
  j["max"] = ms.back();
  j["mean"] = std::accumulate(ms.begin(), ms.end(), 0.0) / static_cast<double>(n);
  j["median"] = quantile(0.5);
  j["percentile(99%)"] = quantile(0.99);
  return j;
}

std::string format_table(const nlohmann::json& s) {
  std::string out = fmt::format("model {}  |  batch {}  |  {} thread(s)  |  adapter {}\n",
                                s.value("model", "?"), s.value("batch_size", 0),
                                s.value("threads", 0), s.value("adapter", "?"));
  out += fmt::format("{} batch(es), {} image(s), {} warm-up run(s), loop {}\n",
                     s.value("batches", 0), s.value("images", 0), s.value("warmup", 0),
                     s.value("loop", 0));
  out += fmt::format("{:<14}{:>10}{:>10}{:>10}{:>10}{:>10}\n", "time (ms)", "min", "max", "mean",
                     "median", "p99");
  for (const char* key : {"compute_time", "preprocess_time", "postprocess_time"}) {
    if (!s.contains(key)) continue;
    const auto& t = s[key];
    auto cell = [&](const char* k) {
      return t.contains(k) && t[k].is_number() ? fmt::format("{:>10.3f}", t[k].get<double>())
                                               : fmt::format("{:>10}", "-");
    };
    std::string name = key;
    name = name.substr(0, name.size() - 5);
    out += fmt::format("{:<14}{}{}{}{}{}\n", name, cell("min"), cell("max"), cell("mean"),
                       cell("median"), cell("percentile(99%)"));
  }
  if (s.contains("throughput") && s["throughput"].is_number()) {
    out += fmt::format("throughput    {:.3f} images/s  (1000 x batch / mean compute time)\n",
                       s["throughput"].get<double>());
  }
  return out;
}

ProgressBar::ProgressBar(int64_t total, bool enabled, std::string label)
    : total_(total), enabled_(enabled && total > 0), label_(std::move(label)) {}

void ProgressBar::draw(int64_t done) {
  constexpr int kWidth = 30;
  const int filled = static_cast<int>(kWidth * done / std::max<int64_t>(total_, 1));
  const double seconds = clock_.ms() / 1e3;
  std::string bar(filled, '#');
  bar.append(kWidth - filled, '.');
  std::fprintf(stderr, "\r%s [%s] %lld/%lld  %.1fs", label_.c_str(), bar.c_str(),
               static_cast<long long>(done), static_cast<long long>(total_), seconds);
  std::fflush(stderr);
}

void ProgressBar::update(int64_t done) {
  if (!enabled_) return;
  const double now = clock_.ms();
  if (done < total_ && now - last_draw_ms_ < 100) return;
  last_draw_ms_ = now;
  draw(done);
}

void ProgressBar::finish() {
  if (!enabled_) return;
  draw(total_);
  std::fputc('\n', stderr);
}

} // namespace runner
} // namespace tva
