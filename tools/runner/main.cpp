// tva_runner: offline inference of a TorchScript model on the CPU, with torchvision's operators
// served by this project's kernels, and an ais_bench-style timing report.
//
//   tva_runner --model retinanet.pt --input images/ --batch-size 1 --threads 2
//              --warmup 1 --loop 3 --output result/ --save-outputs
//
// Reads every .bin/.npy/.jpg/.png under --input (or makes random inputs of --input-shape), runs the
// model batch by batch, and writes result/summary.json (and result/outputs/*.npy). See --help.
#include <dlfcn.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <stdexcept>
#include <string>
#include <vector>

#include <ATen/Parallel.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <CLI/CLI.hpp>
#include <c10/core/InferenceMode.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <torch/script.h>
#include <torch/version.h>

#include "adapter/switch.h"
#include "adapter/torchvision_schemas.h"
#include "runner/files.h"
#include "runner/inputs.h"
#include "runner/npy.h"
#include "runner/outputs.h"
#include "runner/report.h"

namespace fs = std::filesystem;
using namespace tva::runner;

namespace {

constexpr const char* kDefaultTorchvisionLib =
    "/usr/lib/python3/dist-packages/torchvision/_C.cpython-311-x86_64-linux-gnu.so";

struct Options {
  std::string model;
  std::string input;
  std::string input_shape;
  std::string dtype;
  int64_t batch_size = 1;
  int64_t warmup = 1;
  int64_t loop = 1;
  int threads = 0;
  std::string output = ".";
  std::string summary;
  bool save_outputs = false;
  std::string resize, mean, std;
  bool keep_uint8 = false;
  bool bgr = false;
  bool batched_files = false;
  std::string adapter = "on";
  std::string torchvision_lib;
  bool progress = false;
  uint64_t seed = 0;
};

// "3,224,224" or "3x224x224" -> {3, 224, 224}.
template <typename T>
std::vector<T> parse_list(const std::string& text, const char* option) {
  std::vector<T> values;
  std::string item;
  auto flush = [&] {
    if (item.empty()) return;
    try {
      size_t used = 0;
      const double v = std::stod(item, &used);
      if (used != item.size()) throw std::invalid_argument(item);
      values.push_back(static_cast<T>(v));
    } catch (const std::exception&) {
      throw std::runtime_error(std::string("--") + option + ": '" + item + "' is not a number");
    }
    item.clear();
  };
  for (char c : text) {
    if (c == ',' || c == 'x' || c == ' ') {
      flush();
    } else {
      item += c;
    }
  }
  flush();
  return values;
}

std::string error_text(const std::exception& e) {
  if (const auto* c10_error = dynamic_cast<const c10::Error*>(&e)) {
    return c10_error->what_without_backtrace();
  }
  return e.what();
}

// torchvision's version, read from the version.py installed beside its library ("" if none).
std::string torchvision_version(const std::string& lib) {
  std::ifstream in(fs::path(lib).parent_path() / "version.py");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("__version__", 0) == 0) {
      const size_t a = line.find_first_of("'\""), b = line.find_last_of("'\"");
      if (a != std::string::npos && b > a) return line.substr(a + 1, b - a - 1);
    }
  }
  return "";
}

// Where torchvision's operators come from; returns a description for the report.
std::string setup_kernels(const Options& o, std::string& torchvision_lib) {
  std::string lib = o.torchvision_lib;
  if (o.adapter == "off" && lib.empty()) {
    const char* env = std::getenv("TVA_TORCHVISION_LIB");
    lib = env != nullptr ? env : kDefaultTorchvisionLib;
  }
  torchvision_lib = lib;
  if (!lib.empty()) {
    // torchvision's extension needs only libtorch (no Python): loading it registers its operator
    // schemas and CPU kernels, exactly as `import torchvision` does in Python.
    if (dlopen(lib.c_str(), RTLD_NOW | RTLD_GLOBAL) == nullptr) {
      const char* why = dlerror();
      throw std::runtime_error("cannot load torchvision's library '" + lib + "'" +
                               (o.adapter == "off" ? " (needed by --adapter off)" : "") + ": " +
                               (why ? why : "unknown error"));
    }
  }
  if (o.adapter == "off") {
    tva::adapter::disable();
    return "torchvision (" + lib + ")";
  }
  // With torchvision loaded this only enables the adapter over its kernels; without it, it defines
  // torchvision's schemas and backs them with ours.
  tva::adapter::provide_torchvision_ops();
  return lib.empty() ? "adapter (torchvision schemas provided)"
                     : "adapter over torchvision (" + lib + ")";
}

std::string adapter_version() {
  try {
    return c10::Dispatcher::singleton()
        .findSchemaOrThrow("torchvision_adapter::_version", "")
        .typed<std::string()>()
        .call();
  } catch (const std::exception&) {
    return "unknown";
  }
}

// Whether forward() takes a list of tensors (torchvision's detection models) or one batch tensor.
bool takes_list(torch::jit::Module& module) {
  const auto& schema = module.get_method("forward").function().getSchema();
  if (schema.arguments().size() < 2) {
    throw std::runtime_error("the model's forward() takes no input");
  }
  const auto type = schema.arguments()[1].type();
  if (type->kind() == c10::TypeKind::ListType) {
    const auto element = type->expectRef<c10::ListType>().getElementType();
    if (element->kind() == c10::TypeKind::TensorType) return true;
  }
  if (type->kind() == c10::TypeKind::TensorType) return false;
  throw std::runtime_error("the model's forward() takes " + type->str() +
                           "; the runner feeds a Tensor or a List[Tensor]");
}

struct Batch {
  std::vector<std::string> names; // one per sample: the input file's stem
  c10::IValue value;
  int64_t size = 0;
};

Batch make_batch(const std::vector<at::Tensor>& samples, const std::vector<std::string>& names,
                 const std::vector<std::string>& origins, bool list_input, bool batched_files) {
  Batch b;
  b.names = names;
  if (list_input) {
    b.value = c10::List<at::Tensor>(samples);
    b.size = static_cast<int64_t>(samples.size());
    return b;
  }
  for (size_t i = 1; i < samples.size(); ++i) {
    const bool same = batched_files ? samples[i].sizes().slice(1) == samples[0].sizes().slice(1)
                                    : samples[i].sizes() == samples[0].sizes();
    if (!same || samples[i].scalar_type() != samples[0].scalar_type()) {
      throw std::runtime_error("samples of one batch must have the same shape and dtype: '" +
                               origins[0] + "' is " + shape_string(samples[0].sizes()) + " " +
                               c10::toString(samples[0].scalar_type()) + ", '" + origins[i] +
                               "' is " + shape_string(samples[i].sizes()) + " " +
                               c10::toString(samples[i].scalar_type()) +
                               " (use --resize, or --batch-size 1)");
    }
  }
  at::Tensor stacked = batched_files ? at::cat(samples, 0) : at::stack(samples, 0);
  b.size = stacked.size(0);
  if (batched_files && b.size != static_cast<int64_t>(samples.size())) {
    // Files that carry several samples each: name the outputs after the file, not per sample.
    b.names.clear();
    for (int64_t i = 0; i < b.size; ++i) b.names.push_back(fmt::format("sample{}", i));
  }
  b.value = stacked;
  return b;
}

std::string safe_name(std::string s) {
  for (char& c : s) {
    if (c == '/' || c == '\\' || c == ' ') c = '_';
  }
  return s;
}

int run(const Options& o) {
  if (o.batch_size < 1) throw std::runtime_error("--batch-size must be at least 1");
  if (o.loop < 1) throw std::runtime_error("--loop must be at least 1");
  if (o.warmup < 0) throw std::runtime_error("--warmup must not be negative");
  if (o.adapter != "on" && o.adapter != "off") {
    throw std::runtime_error("--adapter must be 'on' or 'off', got '" + o.adapter + "'");
  }

  InputSpec spec;
  spec.shape = parse_list<int64_t>(o.input_shape, "input-shape");
  for (int64_t s : spec.shape) {
    if (s < 0) throw std::runtime_error("--input-shape: negative dimension");
  }
  if (!o.dtype.empty()) {
    spec.dtype = dtype_from_name(o.dtype);
    spec.dtype_given = true;
  }
  spec.image.resize = parse_list<int64_t>(o.resize, "resize");
  if (!spec.image.resize.empty() && spec.image.resize.size() != 2) {
    throw std::runtime_error("--resize takes HEIGHT,WIDTH");
  }
  spec.image.mean = parse_list<double>(o.mean, "mean");
  spec.image.std = parse_list<double>(o.std, "std");
  spec.image.keep_uint8 = o.keep_uint8;
  spec.image.bgr = o.bgr;

  // Everything that can be checked before the model loads is checked first.
  std::vector<std::string> files;
  if (!o.input.empty()) {
    files = list_inputs(o.input);
  } else if (spec.shape.empty()) {
    throw std::runtime_error("give --input (a folder or file) or --input-shape for random inputs");
  }
  if (!fs::is_regular_file(o.model)) {
    throw std::runtime_error("model '" + o.model + "' does not exist or is not a file");
  }

  std::string torchvision_lib;
  const std::string kernels = setup_kernels(o, torchvision_lib);
  if (o.threads > 0) at::set_num_threads(o.threads);

  torch::jit::Module module;
  try {
    module = torch::jit::load(o.model, c10::Device(c10::kCPU));
  } catch (const std::exception& e) {
    throw std::runtime_error("cannot load model '" + o.model + "': " + error_text(e));
  }
  module.eval();
  const bool list_input = takes_list(module);

  // The batches: groups of files, or one random batch run `loop` times.
  std::vector<std::vector<std::string>> groups;
  for (size_t i = 0; i < files.size(); i += o.batch_size) {
    groups.emplace_back(files.begin() + i,
                        files.begin() + std::min(files.size(), i + static_cast<size_t>(o.batch_size)));
  }
  const bool synthetic = files.empty();
  at::Generator gen = at::detail::createCPUGenerator(o.seed);
  auto build = [&](size_t g) {
    std::vector<at::Tensor> samples;
    std::vector<std::string> names;
    std::vector<std::string> origins;
    if (synthetic) {
      for (int64_t i = 0; i < o.batch_size; ++i) {
        samples.push_back(synthetic_sample(spec, gen));
        names.push_back(fmt::format("synthetic{}", i));
        origins.push_back(names.back());
      }
    } else {
      for (const auto& f : groups[g]) {
        samples.push_back(load_sample(f, spec));
        names.push_back(file_stem(f));
        origins.push_back(f);
      }
    }
    return make_batch(samples, names, origins, list_input, o.batched_files);
  };
  Batch synthetic_batch;
  if (synthetic) synthetic_batch = build(0);

  auto forward = [&](const Batch& b, const std::string& where) {
    try {
      return module.forward({b.value});
    } catch (const std::exception& e) {
      const std::string text = error_text(e);
      const std::string marker = "Could not run 'torchvision::";
      const size_t at = text.find(marker);
      if (at != std::string::npos) {
        // A torchvision operator without a CPU kernel in this process: say which, and what to do,
        // instead of the dispatcher's list of every registered key.
        const size_t start = at + marker.size() - std::string("torchvision::").size();
        const std::string op = text.substr(start, text.find('\'', start) - start);
        throw std::runtime_error(
            "the model failed on " + where + ": it calls " + op +
            ", which has no CPU kernel in this process (the adapter does not implement it). Run "
            "with --adapter off for torchvision's kernels, or add --torchvision-lib PATH to load "
            "torchvision's kernels under the adapter's.");
      }
      throw std::runtime_error("the model failed on " + where + ": " + text);
    }
  };

  c10::InferenceMode inference;
  {
    const Batch first = synthetic ? synthetic_batch : build(0);
    for (int64_t i = 0; i < o.warmup; ++i) forward(first, "warm-up");
  }

  // Outputs go to a staging folder that becomes <output>/outputs only when the run completes.
  fs::create_directories(o.output);
  const fs::path outputs_dir = fs::path(o.output) / "outputs";
  const fs::path staging = fs::path(o.output) / fmt::format(".outputs.partial-{}", ::getpid());
  if (o.save_outputs) fs::create_directories(staging);

  const size_t per_loop = synthetic ? 1 : groups.size();
  const int64_t total = static_cast<int64_t>(per_loop) * o.loop;
  ProgressBar bar(total, o.progress || ::isatty(2), "tva_runner");
  std::vector<double> compute_ms, pre_ms, post_ms;
  int64_t images = 0, done = 0;
  try {
    for (int64_t l = 0; l < o.loop; ++l) {
      for (size_t g = 0; g < per_loop; ++g) {
        Stopwatch pre;
        Batch b = synthetic ? synthetic_batch : build(g);
        pre_ms.push_back(pre.ms());

        Stopwatch compute;
        const c10::IValue result =
            forward(b, synthetic ? "random input" : "batch starting with '" + groups[g][0] + "'");
        compute_ms.push_back(compute.ms());

        Stopwatch post;
        std::vector<NamedOutput> outputs = flatten_outputs(result, b.size, list_input);
        for (auto& out : outputs) out.tensor = out.tensor.contiguous();
        if (o.save_outputs && l == 0) {
          for (const auto& out : outputs) {
            const std::string owner =
                out.image >= 0 && out.image < static_cast<int64_t>(b.names.size())
                    ? b.names[out.image]
                    : fmt::format("batch{}", g);
            write_npy((staging / (safe_name(owner) + "_" + safe_name(out.name) + ".npy")).string(),
                      out.tensor);
          }
        }
        post_ms.push_back(post.ms());
        images += b.size;
        bar.update(++done);
      }
    }
    bar.finish();
    if (o.save_outputs) {
      fs::remove_all(outputs_dir);
      fs::rename(staging, outputs_dir);
    }
  } catch (...) {
    bar.finish();
    std::error_code ec;
    fs::remove_all(staging, ec);
    throw;
  }

  nlohmann::json summary;
  summary["tool"] = "tva_runner";
  summary["model"] = o.model;
  summary["batch_size"] = o.batch_size;
  summary["threads"] = at::get_num_threads();
  summary["adapter"] = o.adapter;
  summary["kernels"] = kernels;
  summary["input"] = synthetic ? "random " + shape_string(spec.shape) : o.input;
  summary["warmup"] = o.warmup;
  summary["loop"] = o.loop;
  summary["batches"] = static_cast<int64_t>(compute_ms.size());
  summary["images"] = images;
  summary["compute_time"] = time_stats(compute_ms);
  summary["preprocess_time"] = time_stats(pre_ms);
  summary["postprocess_time"] = time_stats(post_ms);
  summary["throughput"] = 1000.0 * static_cast<double>(o.batch_size) /
                          summary["compute_time"]["mean"].get<double>();
  summary["ais_bench_fields"] = {{"NPU_compute_time", "compute_time"},
                                 {"H2D_latency", "preprocess_time"},
                                 {"D2H_latency", "postprocess_time"}};
  summary["versions"] = {{"torch", TORCH_VERSION}, {"torchvision_adapter", adapter_version()}};
  if (!torchvision_lib.empty()) {
    const std::string v = torchvision_version(torchvision_lib);
    summary["versions"]["torchvision"] = v.empty() ? "unknown" : v;
  }
  if (o.save_outputs) summary["outputs"] = outputs_dir.string();

  const std::string summary_path =
      o.summary.empty() ? (fs::path(o.output) / "summary.json").string() : o.summary;
  const std::string text = summary.dump(2) + "\n";
  write_file_atomic(summary_path, text.data(), text.size());
  std::cout << format_table(summary) << "summary: " << summary_path << "\n";
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{"Runs a TorchScript model over a folder of inputs on the CPU and reports timing "
               "statistics (summary.json), with torchvision's operators on this project's kernels."};
  app.add_option("-m,--model", o.model, "TorchScript model file (torch.jit.save)")->required();
  app.add_option("-i,--input", o.input,
                 "folder (or file) of .bin, .npy, .jpg/.jpeg/.png inputs; random inputs if absent");
  app.add_option("--input-shape", o.input_shape,
                 "one sample's shape without the batch dimension, e.g. 3,224,224 (needed for .bin "
                 "and random inputs, checked for the others)");
  app.add_option("--dtype", o.dtype, "dtype of .bin and random inputs (default float32)");
  app.add_option("-b,--batch-size", o.batch_size, "samples per model call")->capture_default_str();
  app.add_option("--warmup", o.warmup, "untimed runs on the first batch")->capture_default_str();
  app.add_option("--loop", o.loop, "passes over the inputs")->capture_default_str();
  app.add_option("-t,--threads", o.threads, "intra-op threads (0: torch's default)")
      ->capture_default_str();
  app.add_option("-o,--output", o.output, "folder for summary.json and outputs/")
      ->capture_default_str();
  app.add_option("--summary", o.summary, "path of the summary (default OUTPUT/summary.json)");
  app.add_flag("--save-outputs", o.save_outputs,
               "save every output as OUTPUT/outputs/<input>_<output name>.npy");
  app.add_option("--resize", o.resize, "images: resize to HEIGHT,WIDTH (bilinear)");
  app.add_option("--mean", o.mean, "images: per-channel mean subtracted after scaling to [0, 1]");
  app.add_option("--std", o.std, "images: per-channel std divided by after --mean");
  app.add_flag("--keep-uint8", o.keep_uint8, "images: keep uint8 pixels instead of float [0, 1]");
  app.add_flag("--bgr", o.bgr, "images: BGR channel order");
  app.add_flag("--batched-files", o.batched_files,
               "input files already carry a batch dimension: concatenate instead of stacking");
  app.add_option("--adapter", o.adapter,
                 "on: torchvision's operators run on this project's kernels; off: on torchvision's "
                 "own (loads torchvision's library)")
      ->check(CLI::IsMember({"on", "off"}))
      ->capture_default_str();
  app.add_option("--torchvision-lib", o.torchvision_lib,
                 "torchvision's compiled library (_C.so) to load; default for --adapter off: "
                 "$TVA_TORCHVISION_LIB or Debian's python3-torchvision");
  app.add_flag("--progress", o.progress, "show the progress bar even when stderr is not a terminal");
  app.add_option("--seed", o.seed, "seed of random inputs")->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  try {
    return run(o);
  } catch (const std::exception& e) {
    std::cerr << "tva_runner: error: " << error_text(e) << "\n";
    return 1;
  }
}
