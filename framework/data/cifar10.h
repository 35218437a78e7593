// Loading CIFAR-10 from whatever copy is at hand: the official binary release folder, an
// image folder of PNG/JPEG files, or a .tar.gz of either. The decoded set is cached on disk
// per source fingerprint, so only the first run pays for decoding or extraction.
#pragma once

#include <filesystem>
#include <optional>
#include <vector>

#include "framework/data/cifar10_classes.h"
#include "framework/data/image_set.h"

namespace convlab {

// `source` is one of
//  - the binary release folder (data_batch_1..5.bin, test_batch.bin) or the folder above it;
//  - an image folder (train/<class>/*, test/<class>/*) or the folder above it;
//  - a .tar.gz / .tgz / .tar of either, extracted once into cache_dir/extracted-<fingerprint>/
//    (reused only while it matches the listing taken at extraction, else extracted again).
// Throws an error that says what was expected and how to get the data when it is none of these.
// A set whose files change while they are decoded is an error and never cached. When
// cache_dir cannot be written, a folder loads with a warning (no cache); an archive, which
// is extracted there, is an error; both name the folder, --cache-dir and $CONVLAB_CACHE_DIR.
Cifar10 load_cifar10(const std::filesystem::path& source, const std::filesystem::path& cache_dir);

// Checks that the data set's classes and labels fit a model with `num_classes` outputs, so
// that a mismatch is named when the data are loaded rather than by the loss at the first step.
void check_class_count(const Cifar10& data, int num_classes);

// Where find_cifar10 looks, in order: `given` alone if set; else $CIFAR10_DIR alone if set;
// else ./data/cifar-10-batches-bin, ./data/cifar10-jpg, ./data/cifar10-jpg.tar.gz,
// ./data/cifar-10-binary.tar.gz and ../shared/data/cifar10-jpg.tar.gz.
std::vector<std::filesystem::path> cifar10_search_paths(const std::optional<std::filesystem::path>& given);

// The first search path that exists; throws listing every place it looked otherwise.
std::filesystem::path find_cifar10(const std::optional<std::filesystem::path>& given);

// $CONVLAB_CACHE_DIR, else $XDG_CACHE_HOME/convlab, else $HOME/.cache/convlab.
std::filesystem::path default_cache_dir();

}  // namespace convlab
