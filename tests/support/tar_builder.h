// Archives built in memory for tests: ustar entries and gzip compression, with the option to
// leave out what a well-formed archive has (the end-of-archive blocks), so readers can be
// tested on archives cut short.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace convlab::test_support {

// A tar of regular files (name, content), in order, each header with a valid checksum; with
// `end_blocks`, the two zero blocks that end an archive.
std::string tar_bytes(const std::vector<std::pair<std::string, std::string>>& files, bool end_blocks = true);

// One ustar header block for an entry of `size` bytes and type `type` ('0' file, '5' folder).
std::string tar_header(const std::string& name, char type, unsigned long long size);

// `data` as one gzip member (header, deflate data, CRC-32 and length trailer).
std::string gzip_bytes(const std::string& data);

}  // namespace convlab::test_support
