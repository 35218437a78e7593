// Checksums of whole files: zlib's CRC-32, the one Python's zlib.crc32 computes, so that a
// checksum convlab writes can be checked from numpy code and the other way round.
#pragma once

#include <cstdint>
#include <filesystem>

namespace convlab {

// zlib's CRC-32 of a whole file, read in blocks (NpyStreamWriter::crc32() gives the same for
// the file it wrote). Throws, naming the file, when it cannot be read.
uint32_t file_crc32(const std::filesystem::path& path);

}  // namespace convlab
