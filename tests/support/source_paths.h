// Where the tests find the source tree (configs, the fuzz corpus, tools) and convlab-train:
// the build's own paths, or, for a test binary copied to another machine (the GPU bundle,
// tools/gpu-check.sh's `unit` step), $CONVLAB_SOURCE_DIR and $CONVLAB_TRAIN_EXE.
#pragma once

#include <string>

namespace convlab::test_support {

std::string source_dir();
std::string train_exe();

}  // namespace convlab::test_support
