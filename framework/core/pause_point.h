// A test hook for crash tests: when $CONVLAB_PAUSE_AT names a point ("resume-written", or
// "resume-written#3" for its third pass), the process stops itself there with SIGSTOP, so
// that a test can kill it by PID exactly between two writes. Without the variable a pause
// point costs one getenv.
#pragma once

#include <string_view>

namespace convlab {

void pause_point(std::string_view name);

}  // namespace convlab
