#include "runner/outputs.h"

#include <ATen/ATen.h>

namespace tva {
namespace runner {
namespace {

std::string join(const std::string& prefix, const std::string& part) {
  return prefix.empty() ? part : prefix + "_" + part;
}

struct Flattener {
  int64_t batch;
  bool list_input;
  std::vector<NamedOutput> out;

  void add(const std::string& name, int64_t image, const at::Tensor& t) {
    if (image < 0 && !list_input && t.dim() > 0 && t.size(0) == batch) {
      for (int64_t i = 0; i < batch; ++i) out.push_back({name, i, t.narrow(0, i, 1)});
    } else {
      out.push_back({name, image, t});
    }
  }

  void visit(const c10::IValue& v, const std::string& name, int64_t image) {
    if (v.isTensor()) {
      add(name.empty() ? "0" : name, image, v.toTensor());
    } else if (v.isTuple()) {
      const auto& elements = v.toTupleRef().elements();
      for (size_t i = 0; i < elements.size(); ++i) visit(elements[i], join(name, std::to_string(i)), image);
    } else if (v.isList()) {
      const auto list = v.toListRef();
      const bool per_image = list_input && image < 0 && static_cast<int64_t>(list.size()) == batch;
      for (size_t i = 0; i < list.size(); ++i) {
        if (per_image) {
          visit(list[i], name, static_cast<int64_t>(i));
        } else {
          visit(list[i], join(name, std::to_string(i)), image);
        }
      }
    } else if (v.isGenericDict()) {
      for (const auto& item : v.toGenericDict()) {
        const c10::IValue& key = item.key();
        std::string k = key.isString() ? key.toStringRef()
                        : key.isInt()  ? std::to_string(key.toInt())
                                       : "key";
        visit(item.value(), join(name, k), image);
      }
    } else if (v.isInt()) {
      add(name.empty() ? "0" : name, image, at::scalar_tensor(v.toInt(), at::kLong));
    } else if (v.isDouble()) {
      add(name.empty() ? "0" : name, image, at::scalar_tensor(v.toDouble(), at::kDouble));
    } else if (v.isBool()) {
      add(name.empty() ? "0" : name, image, at::scalar_tensor(v.toBool(), at::kBool));
    }
    // None, strings and other objects carry no tensor data.
  }
};

} // namespace

std::vector<NamedOutput> flatten_outputs(const c10::IValue& value, int64_t batch, bool list_input) {
  Flattener f{batch, list_input, {}};
  f.visit(value, "", -1);
  return std::move(f.out);
}

} // namespace runner
} // namespace tva
