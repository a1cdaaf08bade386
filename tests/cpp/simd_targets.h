// Test helper: runs a check once per SIMD target.
#pragma once

#include <gtest/gtest.h>
#include <hwy/targets.h>

#include <cstdint>

namespace tva_test {

// Runs fn once for each instruction set compiled in (scalar included) and supported by the CPU,
// whatever the CPU picks by default; failures name the target.
template <class Fn>
void for_each_target(Fn&& fn) {
  for (const int64_t target : hwy::SupportedAndGeneratedTargets()) {
    hwy::SetSupportedTargetsForTest(target);
    SCOPED_TRACE(hwy::TargetName(target));
    fn();
  }
  hwy::SetSupportedTargetsForTest(0);
}

}  // namespace tva_test
