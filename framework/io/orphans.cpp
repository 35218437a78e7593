#include "framework/io/orphans.h"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>

#include "framework/core/error.h"

namespace convlab {
namespace {

std::string host_name() {
  char name[256] = {};
  if (gethostname(name, sizeof(name) - 1) != 0 || name[0] == '\0') return "localhost";
  return name;
}

bool process_runs(long pid) {
  if (pid <= 0) return false;
  return ::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM;  // EPERM: alive, someone else's
}

}  // namespace

std::string writer_tag(std::string_view extra) {
  if (extra.empty()) return fmt::format("{}@{}", static_cast<long>(getpid()), host_name());
  return fmt::format("{}-{}@{}", static_cast<long>(getpid()), extra, host_name());
}

bool writer_is_gone(std::string_view tag, bool other_hosts_gone) {
  const size_t at = tag.rfind('@');
  if (at == std::string_view::npos) return true;
  const std::string_view host = tag.substr(at + 1);
  long pid = 0;
  const auto [end, ec] = std::from_chars(tag.data(), tag.data() + at, pid);
  if (ec != std::errc() || end == tag.data() || (end != tag.data() + at && *end != '-')) return true;
  if (host != host_name()) return other_hosts_gone;
  return !process_runs(pid);
}

int remove_orphan_temporaries(const std::filesystem::path& dir, bool other_hosts_gone) {
  constexpr std::string_view kSuffix = ".tmp";
  int removed = 0;
  std::error_code error;
  for (std::filesystem::directory_iterator it(dir, error), end; !error && it != end; it.increment(error)) {
    const std::string name = it->path().filename().string();
    if (name.size() <= kSuffix.size() || name.compare(name.size() - kSuffix.size(), kSuffix.size(), kSuffix) != 0)
      continue;
    std::error_code ignored;
    if (!it->is_regular_file(ignored)) continue;
    const std::string_view stem = std::string_view(name).substr(0, name.size() - kSuffix.size());
    const size_t dot = stem.rfind('.', stem.rfind('@'));
    // "<name>.<tag>.tmp"; without a tag, a leftover of a version that wrote "<name>.tmp".
    const bool tagged = stem.find('@') != std::string_view::npos && dot != std::string_view::npos;
    if (tagged && !writer_is_gone(stem.substr(dot + 1), other_hosts_gone)) continue;
    if (std::filesystem::remove(it->path(), ignored)) ++removed;
  }
  return removed;
}

}  // namespace convlab
