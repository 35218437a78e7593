// Where the integration tests find CIFAR-10: $CIFAR10_DIR, else the copy beside the checkout.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <optional>

namespace convlab::test_support {

inline std::optional<std::filesystem::path> cifar10_source() {
  if (const char* dir = std::getenv("CIFAR10_DIR"); dir && std::filesystem::exists(dir)) return std::filesystem::path(dir);
  const auto shared = std::filesystem::path(CONVLAB_SOURCE_DIR) / ".." / "shared" / "data" / "cifar10-jpg.tar.gz";
  if (std::filesystem::exists(shared)) return shared;
  return std::nullopt;
}

}  // namespace convlab::test_support
