// Leftovers of writers that were killed: temporary files and half-extracted folders carry a
// writer tag "<pid>@<host>" in their names, so that a later run can tell those of a dead
// process (removed) from those of one still writing (kept).
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

namespace convlab {

// "<pid>@<host>" of this process; "<pid>-<extra>@<host>" with `extra` (to tell apart several
// temporaries of one process).
std::string writer_tag(std::string_view extra = {});

// Whether the writer of `tag` ("<pid>[-<anything>]@<host>") is gone: a process of this host
// that no longer runs. A tag of another host is taken as gone only when `other_hosts_gone`
// (a folder that only one run writes to); a malformed tag counts as gone.
bool writer_is_gone(std::string_view tag, bool other_hosts_gone);

// Removes the temporary files "<name>.<tag>.tmp" of gone writers in `dir` (not below it), and
// the untagged "<name>.tmp" of older convlab versions. Returns how many it removed; never
// throws (a leftover that cannot be removed stays).
int remove_orphan_temporaries(const std::filesystem::path& dir, bool other_hosts_gone);

}  // namespace convlab
