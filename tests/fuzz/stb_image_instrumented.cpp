// The image fuzzer decodes with its own copy of stb_image's implementation, compiled from the
// system's header (libstb-dev) with the sanitizers and coverage, so that the fuzzer sees into
// the decoders convlab hands untrusted files to; in this executable these definitions take
// the place of libstb's. (tests/fuzz/CMakeLists.txt lists the one check left off for it.)
#define STB_IMAGE_IMPLEMENTATION
#include <stb_image.h>
