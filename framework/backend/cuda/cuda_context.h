// A CUDA device as convlab uses it: one stream on which all its work is queued in order, a
// caching allocator (no cudaMalloc/cudaFree once the shapes of a step have been seen), the
// library handles, created on first use, and the convolution state: the cuDNN workspace,
// the algorithms chosen per shape, and the TF32 and determinism switches.
//
// CUDA graphs replay the addresses they were recorded with, so memory that a live graph may
// point at never moves: while any graph recorded on this context exists, a workspace that
// grows keeps its old block (retired, freed with the last graph), and blocks freed during a
// recording are held back from reuse. Nothing during a recording synchronises the stream
// (illegal while capturing): running out of memory there is a clear error instead.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>
#include <cusolverDn.h>

#include <map>
#include <memory>
#include <string>
#include <unordered_set>
#include <vector>

#include "framework/backend/cuda/conv_plan.h"
#include "framework/core/device.h"

namespace convlab {

class CudaContext final : public DeviceContext {
 public:
  explicit CudaContext(int ordinal);
  ~CudaContext() override;
  CudaContext(const CudaContext&) = delete;
  CudaContext& operator=(const CudaContext&) = delete;

  DeviceKind kind() const override { return DeviceKind::cuda; }
  std::string name() const override;
  void* allocate(size_t bytes) override;
  void deallocate(void* ptr, size_t bytes) override;
  void synchronize() override;
  void copy_from_host(void* dst, const void* src, size_t bytes) override;
  void copy_to_host(void* dst, const void* src, size_t bytes) override;
  void copy_within(void* dst, const void* src, size_t bytes) override;

  cudaStream_t stream() const { return stream_; }
  int ordinal() const { return ordinal_; }
  int multiprocessors() const { return multiprocessors_; }
  cudnnHandle_t cudnn();
  // cuBLAS (the fully connected layers), bound to stream() with its own workspace; the math
  // mode is set per call.
  cublasHandle_t cublas();
  // cuSOLVER (the Procrustes eigendecompositions) and its 64-bit API's parameters, bound to
  // stream(). Like cublas(), made once per context, so that a run of many analyses (evolution:
  // every checkpoint, every measure) shares them.
  cusolverDnHandle_t cusolver();
  cusolverDnParams_t cusolver_params();
  // Bytes held by the allocator (in use + cached), for reports.
  size_t reserved_bytes() const { return reserved_bytes_; }
  // Bytes of freed blocks the allocator keeps for reuse (outside graph pools).
  size_t cached_bytes() const;

  // Convolutions may use TF32 tensor cores (the default: 10-bit mantissa products, fp32
  // sums) or only fp32 FMA kernels (false: results within fp32 rounding of the CPU's).
  // Plans are kept per mode, so switching back and forth costs nothing after the first use.
  bool allow_tf32() const { return allow_tf32_; }
  void set_allow_tf32(bool allow) { allow_tf32_ = allow; }
  // Convolutions use only deterministic cuDNN algorithms (the default), or also the others
  // when they time faster. Plans are kept per setting too.
  bool deterministic() const { return deterministic_; }
  void set_deterministic(bool on) { deterministic_ = on; }
  // Convolutions with more padding on one side (XLA's SAME at stride 2) run on the fastest of
  // cuDNN's graph API and a padded copy of the input through the legacy API (the default),
  // or on one of the two (tests check each); where the graph API is unavailable for a shape,
  // the padded copy serves it in any case. Plans are kept per setting.
  enum class AsymmetricRoute { fastest = 0, graph_api = 1, padded_copy = 2 };
  AsymmetricRoute asymmetric_route() const { return asymmetric_route_; }
  void set_asymmetric_route(AsymmetricRoute route) { asymmetric_route_ = route; }
  // Off: the padded copy only; on: the fastest route.
  bool graph_api_padding() const { return asymmetric_route_ != AsymmetricRoute::padded_copy; }
  void set_graph_api_padding(bool on) {
    asymmetric_route_ = on ? AsymmetricRoute::fastest : AsymmetricRoute::padded_copy;
  }
  // A stage of the graph-API build (conv_graph.h's kGraphStages) that reports "not
  // supported" as if cuDNN had, to test the fallback; empty: none. Starts from the
  // environment variable CONVLAB_CONV_GRAPH_FAULT. Plans built before keep their state.
  const std::string& graph_fault() const { return graph_fault_; }
  void set_graph_fault(const std::string& stage);

  // The scratch memory cuDNN works in, shared by every convolution: at least `bytes`,
  // grown on demand. The old block is freed after the queued work that uses it (a wait),
  // or, while graphs exist or one is being recorded, kept until the last graph is gone.
  void* workspace(size_t bytes);
  size_t workspace_bytes() const { return workspace_bytes_; }
  // The same, but null instead of an error when the GPU has no memory for it (timing then
  // passes over the candidate that asked).
  void* try_workspace(size_t bytes);
  // Frees the workspace if it holds more than `bytes` (what the chosen algorithms need), so
  // that memory a timed candidate needed does not stay held; not while a graph exists or is
  // being recorded (it may point at the block).
  void release_workspace_beyond(size_t bytes);
  // Algorithms that need more workspace than this are passed over.
  size_t workspace_limit() const { return workspace_limit_; }
  void set_workspace_limit(size_t bytes) { workspace_limit_ = bytes; }
  // A second stream, for timing convolution candidates while the main one is being recorded
  // into a CUDA graph (capture_step waits for the main stream first, so the two never
  // overlap).
  cudaStream_t timing_stream() const { return timing_stream_; }

  // While a CUDA graph is captured, allocations come from a pool of their own that is never
  // handed out to work outside the graph: each replay writes to the addresses the capture
  // saw, so no tensor made later may land there. Blocks of that pool go back to it when freed.
  void begin_graph_pool();
  void end_graph_pool();
  bool capturing() const { return capturing_; }
  // Live graphs recorded on this context (StepGraph registers itself); when the last one
  // goes, the memory kept for it is released.
  void graph_created();
  void graph_destroyed();

  // --sync-each-op / CONVLAB_SYNC_EACH_OP=1: every backend op is followed by a wait and an
  // error check naming the op and its operands (outside graph recordings).
  bool checks_each_op() const override { return sync_each_op_; }
  void set_sync_each_op(bool on) { sync_each_op_ = on; }

  // Descriptors and chosen algorithms per convolution shape (backend/cuda/conv2d.cpp).
  std::map<backend_cuda::ConvKey, std::unique_ptr<backend_cuda::ConvPlan>>& conv_plans() { return conv_plans_; }
  // Choices recorded by an earlier process, taken instead of timing (pin_conv_algorithms).
  std::map<backend_cuda::PinnedConvKey, backend_cuda::PinnedConv>& pinned_convs() { return pinned_convs_; }

 private:
  static size_t round_size(size_t bytes);
  void release_cache();

  int ordinal_;
  int multiprocessors_ = 0;
  std::string device_name_;
  cudaStream_t stream_ = nullptr;
  cudnnHandle_t cudnn_ = nullptr;
  cublasHandle_t cublas_ = nullptr;
  void* cublas_workspace_ = nullptr;
  cusolverDnHandle_t cusolver_ = nullptr;
  cusolverDnParams_t cusolver_params_ = nullptr;
  std::map<size_t, std::vector<void*>> free_blocks_;  // rounded size -> cached blocks
  std::map<size_t, std::vector<void*>> graph_free_blocks_;  // the same for the graph pool
  std::unordered_set<void*> graph_blocks_;                  // every block of the graph pool
  std::vector<std::pair<size_t, void*>> held_blocks_;  // general blocks freed while recording
  std::vector<void*> retired_workspaces_;               // outgrown while graphs existed
  int live_graphs_ = 0;
  bool capturing_ = false;
  bool sync_each_op_ = false;
  size_t reserved_bytes_ = 0;
  bool allow_tf32_ = true;
  bool deterministic_ = true;
  AsymmetricRoute asymmetric_route_ = AsymmetricRoute::fastest;
  void* workspace_ = nullptr;
  size_t workspace_bytes_ = 0;
  size_t workspace_limit_ = size_t{1} << 30;
  std::map<backend_cuda::ConvKey, std::unique_ptr<backend_cuda::ConvPlan>> conv_plans_;
  std::map<backend_cuda::PinnedConvKey, backend_cuda::PinnedConv> pinned_convs_;
  std::string graph_fault_;
  cudaStream_t timing_stream_ = nullptr;
};

// The CudaContext behind a CUDA tensor's device.
CudaContext& cuda_context(Device device);

}  // namespace convlab
