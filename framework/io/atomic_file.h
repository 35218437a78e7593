// Writing a file so that readers see either the old content or the complete new one, never
// a half-written file: a run killed mid-checkpoint must not leave a corrupt checkpoint.
#pragma once

#include <filesystem>
#include <functional>
#include <ostream>

namespace convlab {

// Calls writer on a binary stream to `path + ".<pid>@<host>.tmp"` in the same folder, checks
// the stream, flushes the file to disk, then renames it over path. On any failure the
// temporary file is removed and an Error naming path is thrown; one left by a killed process
// is removed by remove_orphan_temporaries (framework/io/orphans.h). The folder must exist.
void write_file_atomically(const std::filesystem::path& path, const std::function<void(std::ostream&)>& writer);

}  // namespace convlab
