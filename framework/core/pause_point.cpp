#include "framework/core/pause_point.h"

#include <signal.h>

#include <charconv>
#include <cstdlib>
#include <map>
#include <mutex>
#include <string>

namespace convlab {

void pause_point(std::string_view name) {
  const char* wanted = std::getenv("CONVLAB_PAUSE_AT");
  if (wanted == nullptr) return;
  const std::string_view spec(wanted);
  const size_t hash = spec.rfind('#');
  if (spec.substr(0, hash) != name) return;
  long pass = 1;
  if (hash != std::string_view::npos) std::from_chars(spec.data() + hash + 1, spec.data() + spec.size(), pass);
  static std::mutex mutex;
  static std::map<std::string, long, std::less<>> passes;
  std::lock_guard<std::mutex> lock(mutex);
  if (++passes[std::string(name)] == pass) ::raise(SIGSTOP);
}

}  // namespace convlab
