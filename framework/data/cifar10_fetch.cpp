#include "framework/data/cifar10_fetch.h"

#include <spawn.h>
#include <sys/wait.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>

#include "framework/core/error.h"
#include "framework/data/cifar10.h"

#ifndef CONVLAB_FETCH_SCRIPT
#error "CONVLAB_FETCH_SCRIPT is the source tree's tools/fetch-cifar10.sh (framework/CMakeLists.txt passes it)"
#endif

extern char** environ;

namespace convlab {
namespace fs = std::filesystem;

namespace {

bool found_somewhere(const std::optional<fs::path>& given) {
  for (const fs::path& candidate : cifar10_search_paths(given))
    if (fs::exists(candidate)) return true;
  return false;
}

// Runs `bash script folder`, its output going where ours goes; returns its exit status.
int run_script(const fs::path& script, const fs::path& folder) {
  const std::string bash = "/bin/bash", script_text = script.string(), folder_text = folder.string();
  char* argv[] = {const_cast<char*>("bash"), const_cast<char*>(script_text.c_str()),
                  const_cast<char*>(folder_text.c_str()), nullptr};
  pid_t pid = 0;
  const int spawned = posix_spawn(&pid, bash.c_str(), nullptr, nullptr, argv, environ);
  if (spawned != 0) CONVLAB_FAIL("cannot run {} {}: {}", bash, script_text, std::strerror(spawned));
  int status = 0;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) CONVLAB_FAIL("waiting for {}: {}", script_text, std::strerror(errno));
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

}  // namespace

fs::path cifar10_fetch_script() {
  if (const char* script = std::getenv("CONVLAB_FETCH_CIFAR10"); script && *script) return script;
  return CONVLAB_FETCH_SCRIPT;
}

fs::path find_or_fetch_cifar10(const std::optional<fs::path>& given) {
  const char* env = std::getenv("CIFAR10_DIR");
  if (given || (env && *env) || found_somewhere(given)) return find_cifar10(given);

  const fs::path folder = fs::absolute("data");
  const fs::path script = cifar10_fetch_script();
  CONVLAB_CHECK(fs::is_regular_file(script),
                "CIFAR-10 is in none of the usual places, and the script that downloads it ({}) is missing. Download "
                "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz, unpack it into {} and run again, or pass "
                "--data PATH",
                script.string(), folder.string());
  fmt::print("CIFAR-10 is in none of the usual places: fetching the official binary release into {} (once)\n",
             folder.string());
  std::fflush(stdout);
  const int status = run_script(script, folder);
  CONVLAB_CHECK(status == 0,
                "fetching CIFAR-10 with {} failed (exit status {}; its messages are above). Check the internet "
                "connection and run again, or pass --data PATH to a copy",
                script.string(), status);
  CONVLAB_CHECK(found_somewhere(given), "{} finished but left no CIFAR-10 in {}", script.string(), folder.string());
  return find_cifar10(given);
}

}  // namespace convlab
