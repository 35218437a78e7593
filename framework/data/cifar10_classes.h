// CIFAR-10's class names in label order 0..9.
#pragma once

#include <string>
#include <vector>

namespace convlab {

inline const std::vector<std::string>& cifar10_class_names() {
  static const std::vector<std::string> names = {"airplane", "automobile", "bird",  "cat",  "deer",
                                                 "dog",      "frog",       "horse", "ship", "truck"};
  return names;
}

}  // namespace convlab
