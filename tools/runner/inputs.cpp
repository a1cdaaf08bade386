#include "runner/inputs.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <stdexcept>

#include "runner/files.h"
#include "runner/image_decode.h"
#include "runner/npy.h"

namespace tva {
namespace runner {

namespace fs = std::filesystem;

std::string shape_string(at::IntArrayRef shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

std::vector<std::string> list_inputs(const std::string& path) {
  std::error_code ec;
  const fs::file_status status = fs::status(path, ec);
  if (ec || !fs::exists(status)) throw std::runtime_error("input '" + path + "' does not exist");
  std::vector<std::string> files;
  if (fs::is_directory(status)) {
    for (const auto& entry : fs::directory_iterator(path, ec)) {
      if (!entry.is_regular_file()) continue;
      const std::string p = entry.path().string();
      const std::string ext = file_extension(p);
      if (ext == ".bin" || ext == ".npy" || is_image_path(p)) files.push_back(p);
    }
    if (ec) throw std::runtime_error("cannot list input folder '" + path + "': " + ec.message());
    std::sort(files.begin(), files.end());
    if (files.empty()) {
      throw std::runtime_error("input folder '" + path +
                               "' holds no .bin, .npy, .jpg, .jpeg or .png file");
    }
  } else {
    files.push_back(path);
  }
  return files;
}

at::Tensor preprocess_image(const at::Tensor& rgb, const ImagePreprocess& pre) {
  at::Tensor x = pre.bgr ? rgb.flip({0}) : rgb;
  if (!pre.keep_uint8) x = x.to(at::kFloat).div_(255.0);
  if (!pre.resize.empty()) {
    const bool to_byte = x.scalar_type() == at::kByte;
    at::Tensor f = x.to(at::kFloat).unsqueeze(0);
    f = at::upsample_bilinear2d(f, {pre.resize[0], pre.resize[1]}, /*align_corners=*/false);
    x = to_byte ? f.round().clamp(0, 255).to(at::kByte).squeeze(0) : f.squeeze(0);
  }
  const int64_t channels = x.size(0);
  auto per_channel = [&](const std::vector<double>& v, const char* what) {
    if (static_cast<int64_t>(v.size()) != channels) {
      throw std::runtime_error(std::string("--") + what + " needs " + std::to_string(channels) +
                               " values (one per channel), got " + std::to_string(v.size()));
    }
    return at::tensor(v, at::kDouble).to(x.scalar_type() == at::kByte ? at::kFloat : x.scalar_type())
        .view({channels, 1, 1});
  };
  if (!pre.mean.empty()) x = x.to(at::kFloat) - per_channel(pre.mean, "mean");
  if (!pre.std.empty()) x = x.to(at::kFloat) / per_channel(pre.std, "std");
  return x.contiguous();
}

at::Tensor load_sample(const std::string& path, const InputSpec& spec) {
  const std::string ext = file_extension(path);
  if (ext == ".npy") {
    at::Tensor t = read_npy(path);
    if (!spec.shape.empty() && t.sizes() != at::IntArrayRef(spec.shape)) {
      throw std::runtime_error("'" + path + "' has shape " + shape_string(t.sizes()) +
                               ", but --input-shape is " + shape_string(spec.shape));
    }
    if (spec.dtype_given && t.scalar_type() != spec.dtype) {
      throw std::runtime_error("'" + path + "' holds " + c10::toString(t.scalar_type()) +
                               ", but --dtype is " + c10::toString(spec.dtype));
    }
    return t;
  }
  if (ext == ".bin") {
    if (spec.shape.empty()) {
      throw std::runtime_error("'" + path + "' is raw data: --input-shape (and --dtype) must say "
                               "what it holds");
    }
    const std::vector<uint8_t> data = read_file(path);
    at::Tensor t = at::empty(spec.shape, at::TensorOptions().dtype(spec.dtype));
    const size_t bytes = t.numel() * t.element_size();
    if (data.size() != bytes) {
      throw std::runtime_error("'" + path + "' has " + std::to_string(data.size()) +
                               " bytes, but --input-shape " + shape_string(spec.shape) + " of " +
                               c10::toString(spec.dtype) + " needs " + std::to_string(bytes));
    }
    if (bytes) std::memcpy(t.data_ptr(), data.data(), bytes);
    return t;
  }
  if (is_image_path(path)) {
    at::Tensor t = preprocess_image(decode_image(read_file(path), path), spec.image);
    if (!spec.shape.empty() && t.sizes() != at::IntArrayRef(spec.shape)) {
      throw std::runtime_error("image '" + path + "' preprocesses to shape " +
                               shape_string(t.sizes()) + ", but --input-shape is " +
                               shape_string(spec.shape) + " (use --resize)");
    }
    return t;
  }
  throw std::runtime_error("'" + path + "': unsupported input type (expected .bin, .npy, .jpg, "
                           ".jpeg or .png)");
}

at::Tensor synthetic_sample(const InputSpec& spec, at::Generator& gen) {
  if (spec.shape.empty()) throw std::runtime_error("synthetic inputs need --input-shape");
  const auto options = at::TensorOptions().dtype(spec.dtype);
  if (at::isFloatingType(spec.dtype)) {
    return at::rand(spec.shape, gen, at::TensorOptions().dtype(at::kFloat)).to(spec.dtype);
  }
  if (spec.dtype == at::kBool) return at::randint(0, 2, spec.shape, gen, options);
  if (spec.dtype == at::kByte) return at::randint(0, 256, spec.shape, gen, options);
  return at::randint(0, 100, spec.shape, gen, options);
}

} // namespace runner
} // namespace tva
