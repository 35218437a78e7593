// The rule every harness enforces: a parser may refuse any input with convlab::Error (a clear
// message), but any other exception escaping it is a finding, as are crashes, hangs and
// sanitizer reports. That rule found a number like 1e400 escaping as nlohmann's out_of_range.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <typeinfo>

#include "framework/core/error.h"

namespace convlab::fuzz {

template <class Body>
int guarded(Body&& body) {
  try {
    body();
  } catch (const Error&) {
    // A clear error: what bad input should get.
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fuzz: an exception that is not convlab::Error escaped: %s: %s\n", typeid(e).name(), e.what());
    std::abort();
  } catch (...) {
    std::fprintf(stderr, "fuzz: an exception of unknown type escaped\n");
    std::abort();
  }
  return 0;
}

// A property that must hold; reported like a crash.
inline void require(bool holds, const char* what) {
  if (holds) return;
  std::fprintf(stderr, "fuzz: property violated: %s\n", what);
  std::abort();
}

}  // namespace convlab::fuzz
