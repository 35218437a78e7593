#include "tests/support/tiny_image_folder.h"

#include <stb_image_write.h>

#include <algorithm>
#include <string>
#include <vector>

#include "framework/core/error.h"
#include "kernels/philox.h"

namespace convlab::test_support {

void write_tiny_image_folder(const std::filesystem::path& root, int train_per_class, int test_per_class) {
  const char* classes[] = {"airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"};
  for (const char* split : {"train", "test"}) {
    const int count = std::string(split) == "train" ? train_per_class : test_per_class;
    for (int label = 0; label < 10; ++label) {
      std::filesystem::create_directories(root / split / classes[label]);
      for (int i = 0; i < count; ++i) {
        std::vector<uint8_t> pixels(32 * 32 * 3);
        for (size_t p = 0; p < pixels.size(); ++p)
          pixels[p] = static_cast<uint8_t>(
              std::min(255.0f, 25.0f * label * (p % 3 == 0) + 100.0f * kernels::random_uniform({7, static_cast<uint32_t>(label), 0}, i * 4096 + p)));
        const std::filesystem::path file = root / split / classes[label] / fmt::format("{:04d}.png", i);
        CONVLAB_CHECK(stbi_write_png(file.c_str(), 32, 32, 3, pixels.data(), 32 * 3) != 0, "cannot write {}",
                      file.string());
      }
    }
  }
}

}  // namespace convlab::test_support
