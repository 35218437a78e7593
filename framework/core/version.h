// convlab's version ("0.1.0"): set once, by project(VERSION) in the top CMakeLists.txt.
// Checkpoints, feature manifests and run records carry it.
#pragma once

namespace convlab {

const char* version();

}  // namespace convlab
