#include "framework/core/version.h"

#ifndef CONVLAB_VERSION
#error "CONVLAB_VERSION comes from project(VERSION) in CMakeLists.txt (framework/CMakeLists.txt passes it)"
#endif

namespace convlab {

const char* version() { return CONVLAB_VERSION; }

}  // namespace convlab
