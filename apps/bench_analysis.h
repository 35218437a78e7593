// convlab-bench --analysis: times representation analysis (compare_layers: CKA, RSA and
// Procrustes, self and pair, with and without a bootstrap) on synthetic features resident in
// memory, on .npy files, or on a trained network's activations, on the CPU or a GPU. See
// kAnalysisUsage (convlab-bench --analysis --help).
#pragma once

namespace convlab::bench {

extern const char* const kAnalysisUsage;

// The whole of `convlab-bench --analysis ...`: argv as main received it (the --analysis flag
// anywhere in it). Returns the exit status; throws convlab::Error on bad flags and failures.
int run_analysis_benchmark(int argc, char** argv);

}  // namespace convlab::bench
