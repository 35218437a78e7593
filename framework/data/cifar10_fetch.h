// Getting CIFAR-10 onto a fresh machine: when no copy is found in the searched places, the
// official binary release is downloaded once into ./data by tools/fetch-cifar10.sh (which
// checks its MD5 and unpacks it), and found there from then on. Where a copy exists, nothing
// touches the network.
#pragma once

#include <filesystem>
#include <optional>

namespace convlab {

// find_cifar10(given), except when nothing names a source (no `given`, no $CIFAR10_DIR) and
// none of the usual places holds a copy: then it runs the fetch script with ./data (made
// absolute) as its argument and searches again. Throws, saying what was tried and what to do,
// when the script is missing or fails, or leaves no CIFAR-10 behind.
std::filesystem::path find_or_fetch_cifar10(const std::optional<std::filesystem::path>& given);

// The script that fetches: $CONVLAB_FETCH_CIFAR10 when set (a bash script taking the folder
// as its argument), else tools/fetch-cifar10.sh of the source tree convlab was built from.
std::filesystem::path cifar10_fetch_script();

}  // namespace convlab
