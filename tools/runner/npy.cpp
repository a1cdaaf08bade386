#include "runner/npy.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <vector>

#include "runner/files.h"

namespace tva {
namespace runner {
namespace {

struct DtypeEntry {
  const char* descr; // without the byte-order character
  at::ScalarType type;
  const char* name;
};

constexpr DtypeEntry kDtypes[] = {
    {"f4", at::kFloat, "float32"}, {"f8", at::kDouble, "float64"}, {"f2", at::kHalf, "float16"},
    {"u1", at::kByte, "uint8"},    {"i1", at::kChar, "int8"},      {"i2", at::kShort, "int16"},
    {"i4", at::kInt, "int32"},     {"i8", at::kLong, "int64"},     {"b1", at::kBool, "bool"},
};

[[noreturn]] void fail(const std::string& path, const std::string& what) {
  throw std::runtime_error("'" + path + "' is not a readable .npy file: " + what);
}

// The value text after `'key':` in the header dict, up to the next top-level comma or brace.
std::string header_value(const std::string& header, const std::string& key,
                         const std::string& path) {
  const std::string needle = "'" + key + "'";
  size_t pos = header.find(needle);
  if (pos == std::string::npos) fail(path, "header has no " + needle);
  pos = header.find(':', pos + needle.size());
  if (pos == std::string::npos) fail(path, "header entry " + needle + " has no value");
  ++pos;
  while (pos < header.size() && header[pos] == ' ') ++pos;
  size_t end = pos;
  if (pos < header.size() && header[pos] == '(') {
    end = header.find(')', pos);
    if (end == std::string::npos) fail(path, "unterminated shape tuple");
    return header.substr(pos, end - pos + 1);
  }
  while (end < header.size() && header[end] != ',' && header[end] != '}') ++end;
  return header.substr(pos, end - pos);
}

} // namespace

std::string npy_descr(at::ScalarType type) {
  for (const auto& d : kDtypes) {
    if (d.type == type) {
      const bool byte_sized = d.descr[1] == '1';
      return std::string(byte_sized ? "|" : "<") + d.descr;
    }
  }
  throw std::runtime_error(std::string("dtype ") + c10::toString(type) + " has no .npy equivalent");
}

at::ScalarType dtype_from_name(const std::string& name) {
  for (const auto& d : kDtypes) {
    if (name == d.name) return d.type;
  }
  if (name == "float" || name == "fp32") return at::kFloat;
  if (name == "half" || name == "fp16") return at::kHalf;
  if (name == "bfloat16") return at::kBFloat16;
  throw std::runtime_error("unknown dtype '" + name +
                           "' (expected float32, float64, float16, bfloat16, uint8, int8, int16, "
                           "int32, int64 or bool)");
}

at::Tensor read_npy(const std::string& path) {
  const std::vector<uint8_t> data = read_file(path);
  if (data.size() < 10 || std::memcmp(data.data(), "\x93NUMPY", 6) != 0) {
    fail(path, "missing the \\x93NUMPY magic");
  }
  const int major = data[6];
  size_t header_len = 0;
  size_t offset = 0;
  if (major == 1) {
    header_len = data[8] | (data[9] << 8);
    offset = 10;
  } else if (major == 2 || major == 3) {
    if (data.size() < 12) fail(path, "truncated header");
    header_len = static_cast<size_t>(data[8]) | (static_cast<size_t>(data[9]) << 8) |
                 (static_cast<size_t>(data[10]) << 16) | (static_cast<size_t>(data[11]) << 24);
    offset = 12;
  } else {
    fail(path, "unsupported format version " + std::to_string(major));
  }
  if (offset + header_len > data.size()) fail(path, "truncated header");
  const std::string header(reinterpret_cast<const char*>(data.data() + offset), header_len);
  offset += header_len;

  std::string descr = header_value(header, "descr", path);
  if (descr.size() < 4 || descr.front() != '\'' || descr.back() != '\'') {
    fail(path, "unsupported dtype " + descr);
  }
  descr = descr.substr(1, descr.size() - 2);
  const char order = descr[0];
  const std::string code = descr.substr(1);
  at::ScalarType type = at::kFloat;
  bool found = false;
  for (const auto& d : kDtypes) {
    if (code == d.descr) {
      type = d.type;
      found = true;
    }
  }
  if (!found) fail(path, "unsupported dtype '" + descr + "'");
  if (order == '>' && code[1] != '1') fail(path, "big-endian dtype '" + descr + "' is not supported");

  const bool fortran = header_value(header, "fortran_order", path).find("True") != std::string::npos;
  std::vector<int64_t> shape;
  const std::string tuple = header_value(header, "shape", path);
  {
    size_t i = 1;
    while (i < tuple.size()) {
      while (i < tuple.size() && (tuple[i] == ' ' || tuple[i] == ',')) ++i;
      if (i >= tuple.size() || tuple[i] == ')') break;
      size_t used = 0;
      long long v = 0;
      try {
        v = std::stoll(tuple.substr(i), &used);
      } catch (const std::exception&) {
        fail(path, "malformed shape " + tuple);
      }
      if (v < 0) fail(path, "negative dimension in shape " + tuple);
      shape.push_back(v);
      i += used;
    }
  }
  int64_t numel = 1;
  for (int64_t s : shape) numel *= s;
  const size_t bytes = static_cast<size_t>(numel) * c10::elementSize(type);
  if (data.size() - offset != bytes) {
    fail(path, "shape " + tuple + " of " + descr + " needs " + std::to_string(bytes) +
                   " bytes of data, the file has " + std::to_string(data.size() - offset));
  }
  std::vector<int64_t> stored(shape);
  if (fortran) std::reverse(stored.begin(), stored.end());
  at::Tensor t = at::empty(stored, at::TensorOptions().dtype(type));
  if (bytes > 0) std::memcpy(t.data_ptr(), data.data() + offset, bytes);
  if (fortran && t.dim() > 1) {
    std::vector<int64_t> perm(t.dim());
    for (int64_t i = 0; i < t.dim(); ++i) perm[i] = t.dim() - 1 - i;
    t = t.permute(perm).contiguous();
  }
  return t;
}

void write_npy(const std::string& path, const at::Tensor& tensor) {
  at::Tensor t = tensor.detach().to(at::kCPU);
  if (t.scalar_type() == at::kBFloat16) t = t.to(at::kFloat);
  t = t.contiguous();
  std::string header = "{'descr': '" + npy_descr(t.scalar_type()) +
                       "', 'fortran_order': False, 'shape': (";
  for (int64_t i = 0; i < t.dim(); ++i) {
    header += std::to_string(t.size(i));
    if (t.dim() == 1 || i + 1 < t.dim()) header += ",";
    if (i + 1 < t.dim()) header += " ";
  }
  header += "), }";
  // Magic (6) + version (2) + length (2) + header + '\n' is padded to a multiple of 64 bytes.
  const size_t unpadded = 10 + header.size() + 1;
  header.append((64 - unpadded % 64) % 64, ' ');
  header += '\n';
  std::vector<uint8_t> out;
  const size_t nbytes = t.numel() * t.element_size();
  out.reserve(10 + header.size() + nbytes);
  const char magic[] = "\x93NUMPY\x01\x00";
  out.insert(out.end(), magic, magic + 8);
  out.push_back(static_cast<uint8_t>(header.size() & 0xff));
  out.push_back(static_cast<uint8_t>(header.size() >> 8));
  out.insert(out.end(), header.begin(), header.end());
  const auto* p = static_cast<const uint8_t*>(t.data_ptr());
  if (nbytes > 0) out.insert(out.end(), p, p + nbytes);
  write_file_atomic(path, out.data(), out.size());
}

} // namespace runner
} // namespace tva
