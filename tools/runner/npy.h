// Reading and writing NumPy .npy files (format versions 1.0-3.0, little-endian or byte-sized
// dtypes, C or Fortran order on reading), without NumPy.
#pragma once

#include <string>

#include <ATen/ATen.h>

namespace tva {
namespace runner {

// Returns a contiguous CPU tensor; throws std::runtime_error naming the file on a malformed header,
// an unsupported dtype (big-endian, object, uint16/32/64, complex) or a size mismatch.
at::Tensor read_npy(const std::string& path);

// Writes `t` as .npy version 1.0 through a temporary file (see write_file_atomic). bfloat16 is
// written as float32, which NumPy cannot represent otherwise.
void write_npy(const std::string& path, const at::Tensor& t);

// NumPy's dtype string for a scalar type ("<f4", "|u1", ...); throws for types NumPy lacks.
std::string npy_descr(at::ScalarType type);
// The inverse, also used to parse --dtype values such as "float32" or "uint8".
at::ScalarType dtype_from_name(const std::string& name);

} // namespace runner
} // namespace tva
