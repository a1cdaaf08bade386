#include "adapter/switch.h"

#include <memory>
#include <mutex>

#include <ATen/core/dispatch/Dispatcher.h>
#include <c10/util/Exception.h>
#include <torch/version.h>

namespace tva {
namespace adapter {

namespace {

struct Entry {
  std::string op;
  OverrideFn fn;
};

std::vector<Entry>& registry() {
  static std::vector<Entry> entries;
  return entries;
}

std::mutex& switch_mutex() {
  static std::mutex m;
  return m;
}

// The live registration; destroying it restores torchvision's kernels.
std::unique_ptr<torch::Library>& installed() {
  static std::unique_ptr<torch::Library> lib;
  return lib;
}

#if TORCH_VERSION_MAJOR >= 2
namespace warning_api = c10::WarningUtils;
#else
namespace warning_api = c10::Warning;
#endif

constexpr const char* kOverrideWarning =
    "Overriding a previously registered kernel for the same operator and the same dispatch key";

// Replacing torchvision's kernel is the whole point of the adapter, so PyTorch's warning about it is
// expected and is kept from the user; any other warning passes through to the previous handler.
class QuietOverrideHandler : public c10::WarningHandler {
 public:
  explicit QuietOverrideHandler(c10::WarningHandler* next) : next_(next) {}
#if TORCH_VERSION_MAJOR >= 2
  void process(const c10::Warning& warning) override {
    if (warning.msg().rfind(kOverrideWarning, 0) == 0) return;
    next_->process(warning);
  }
#else
  void process(
      const c10::SourceLocation& source_location,
      const std::string& msg,
      const bool verbatim) override {
    if (msg.rfind(kOverrideWarning, 0) == 0) return;
    next_->process(source_location, msg, verbatim);
  }
#endif

 private:
  c10::WarningHandler* next_;
};

bool torchvision_has(const std::string& op) {
  return c10::Dispatcher::singleton()
      .findSchema(c10::OperatorName("torchvision::" + op, ""))
      .has_value();
}

} // namespace

OverrideRegistrar::OverrideRegistrar(const char* op, OverrideFn fn) {
  registry().push_back({op, fn});
}

bool enable() {
  std::lock_guard<std::mutex> lock(switch_mutex());
  if (installed()) return true;
  QuietOverrideHandler quiet(warning_api::get_warning_handler());
  warning_api::WarningHandlerGuard guard(&quiet);
  auto lib = std::make_unique<torch::Library>(
      torch::Library::IMPL, "torchvision", c10::DispatchKey::CPU, __FILE__, __LINE__);
  for (const auto& e : registry()) {
    // A kernel registered before its schema exists would be overridden by torchvision's own when
    // torchvision is loaded later; only replace what is already there.
    if (torchvision_has(e.op)) e.fn(*lib);
  }
  installed() = std::move(lib);
  return false;
}

bool disable() {
  std::lock_guard<std::mutex> lock(switch_mutex());
  if (!installed()) return false;
  installed().reset();
  return true;
}

bool is_enabled() {
  std::lock_guard<std::mutex> lock(switch_mutex());
  return static_cast<bool>(installed());
}

std::vector<std::string> overridden_ops() {
  std::vector<std::string> names;
  for (const auto& e : registry()) names.push_back(e.op);
  return names;
}

} // namespace adapter
} // namespace tva
