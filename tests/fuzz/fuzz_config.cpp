// YAML configs: yaml-cpp's parser, then the schema (sections, keys, types, ranges). A config
// that parses must write back (to_yaml) to text that parses to the same config.
#include <string>

#include "framework/io/config.h"
#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return convlab::fuzz::guarded([&] {
    const convlab::TrainConfig config =
        convlab::parse_config(std::string(reinterpret_cast<const char*>(data), size), "fuzz.yaml");
    convlab::config_warnings(config);
    convlab::fuzz::require(convlab::parse_config(convlab::to_yaml(config), "resolved.yaml") == config,
                           "to_yaml reads back to the same config");
  });
}
