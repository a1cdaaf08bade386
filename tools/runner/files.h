// Small file helpers shared by the runner: whole-file reads and writes that never leave a
// half-written file under the final name.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace tva {
namespace runner {

// Reads the whole file; throws std::runtime_error naming the path when it cannot be read.
std::vector<uint8_t> read_file(const std::string& path);

// Writes `size` bytes to a temporary name beside `path`, then renames it to `path`: a reader sees
// either no file or the complete one.
void write_file_atomic(const std::string& path, const void* data, size_t size);

// "dir/name.ext" -> "name".
std::string file_stem(const std::string& path);
// "dir/name.EXT" -> ".ext" (lower case).
std::string file_extension(const std::string& path);

} // namespace runner
} // namespace tva
