// An image folder data set: <root>/train/<class>/<image> and <root>/test/<class>/<image>,
// PNG or JPEG files of 32x32 RGB (decoded as data/image_decoder.h says).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "framework/data/image_set.h"

namespace convlab {

struct LabelledFile {
  std::filesystem::path path;
  uint8_t label;
};

struct ImageFolder {
  std::filesystem::path root;
  std::vector<std::string> class_names;   // label i is class_names[i]
  std::vector<LabelledFile> train, test;  // by class, then by file name
  bool any_jpeg = false;                  // JPEG pixels are lossy: reports should say so
};

// Whether `dir` has train/ and test/ subfolders.
bool is_image_folder(const std::filesystem::path& dir);

// Lists the images (.png, .jpg, .jpeg; other files are ignored). Classes are the folders of
// train/, in CIFAR-10's canonical order when they are exactly its ten classes, else sorted.
// Neither split may be empty.
ImageFolder list_image_folder(const std::filesystem::path& root);

// Decodes the files (on all cores) into one set, in order. Throws naming the file when one
// cannot be decoded or is not 32x32 RGB.
ImageSet decode_image_files(const std::vector<LabelledFile>& files);

}  // namespace convlab
