// The host allocator's policy for convlab's executables.
#pragma once

namespace convlab {

// Blocks of 1 MiB and more (activations, feature batches, Gram matrices) come from the system
// and go back to it when freed. glibc otherwise raises its mmap threshold after the first such
// block is freed and serves the next ones from its heap, which a stream of batches fragments:
// streaming 240 MB of features then held 60 MB more than streaming 120 MB, and spent most of
// its time in page faults. Call once at the start of main; a no-op on other C libraries.
void return_large_blocks_to_the_system();

}  // namespace convlab
