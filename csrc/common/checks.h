// Argument checks shared by every operator. Each failure names the argument, what was expected and
// what came in, so the Python exception tells the user which input to fix.
#pragma once

#include <ATen/ATen.h>
#include <c10/util/Exception.h>

namespace tva {

inline void check_cpu(const at::Tensor& t, const char* name) {
  TORCH_CHECK(
      t.device().is_cpu(), name, " must be a CPU tensor, got a tensor on ", t.device());
}

inline void check_dim(const at::Tensor& t, int64_t dim, const char* name, const char* shape) {
  TORCH_CHECK(
      t.dim() == dim, name, " should be a ", dim, "d tensor of shape ", shape, ", got ", t.dim(),
      "D with shape ", t.sizes());
}

inline void check_floating(const at::Tensor& t, const char* name) {
  TORCH_CHECK(
      at::isFloatingType(t.scalar_type()), name,
      " must be a floating point tensor (float16, bfloat16, float32 or float64), got ",
      t.scalar_type());
}

inline void check_same_dtype(
    const at::Tensor& a, const char* name_a, const at::Tensor& b, const char* name_b) {
  TORCH_CHECK(
      a.scalar_type() == b.scalar_type(), name_a, " and ", name_b,
      " must have the same dtype, got ", a.scalar_type(), " and ", b.scalar_type());
}

inline void check_size(
    const at::Tensor& t, int64_t dim, int64_t expected, const char* name, const char* what) {
  TORCH_CHECK(
      t.size(dim) == expected, name, " should have ", expected, " ", what, " in dimension ", dim,
      ", got ", t.size(dim));
}

} // namespace tva
