#include <cstdlib>
#include <cstring>

#include "framework/backend/cuda/conv_graph.h"
#include "framework/backend/cuda/cuda_check.h"
#include "framework/backend/cuda/cusolver_check.h"
#include "framework/backend/cuda/cuda_context.h"
#include "framework/backend/cuda_device.h"

namespace convlab {

bool cuda_available() {
  int count = 0;
  return cudaGetDeviceCount(&count) == cudaSuccess && count > 0;  // an error (no driver) means no GPU
}

void wait_for_gpu(int ordinal) {
  int previous = 0;
  CUDA_CHECK(cudaGetDevice(&previous));
  CUDA_CHECK(cudaSetDevice(ordinal));
  CUDA_CHECK(cudaDeviceSynchronize());
  CUDA_CHECK(cudaSetDevice(previous));
}

uint64_t free_device_memory(Device device) {
  CudaContext& context = cuda_context(device);
  int previous = 0;
  CUDA_CHECK(cudaGetDevice(&previous));
  CUDA_CHECK(cudaSetDevice(context.ordinal()));
  size_t free = 0, total = 0;
  const cudaError_t status = cudaMemGetInfo(&free, &total);
  CUDA_CHECK(cudaSetDevice(previous));
  CUDA_CHECK(status);
  return static_cast<uint64_t>(free) + context.cached_bytes();
}

std::string cuda_versions() {
  auto dotted = [](int v) { return fmt::format("{}.{}", v / 1000, v % 1000 / 10); };
  int driver = 0, runtime = 0;
  std::string text;
  text += cudaDriverGetVersion(&driver) == cudaSuccess ? "driver " + dotted(driver) : "driver unknown";
  text += cudaRuntimeGetVersion(&runtime) == cudaSuccess ? ", runtime " + dotted(runtime) : ", runtime unknown";
  const size_t cudnn = cudnnGetVersion();  // major * 10000 + minor * 100 + patch in cuDNN 9
  text += fmt::format(", cuDNN {}.{}.{} (built with {}.{}.{})", cudnn / 10000, cudnn / 100 % 100, cudnn % 100,
                      CUDNN_MAJOR, CUDNN_MINOR, CUDNN_PATCHLEVEL);
  int major = 0, minor = 0, patch = 0;
  if (cublasGetProperty(MAJOR_VERSION, &major) == CUBLAS_STATUS_SUCCESS &&
      cublasGetProperty(MINOR_VERSION, &minor) == CUBLAS_STATUS_SUCCESS &&
      cublasGetProperty(PATCH_LEVEL, &patch) == CUBLAS_STATUS_SUCCESS)
    text += fmt::format(", cuBLAS {}.{}.{}", major, minor, patch);
  int count = 0;
  const cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess) return text + fmt::format(", no GPU ({})", cudaGetErrorString(status));
  for (int i = 0; i < count; ++i) {
    cudaDeviceProp p{};
    if (cudaGetDeviceProperties(&p, i) != cudaSuccess) continue;
    text += fmt::format(", GPU {}: {} ({} SMs, {} GiB, compute {}.{})", i, p.name, p.multiProcessorCount,
                        p.totalGlobalMem >> 30, p.major, p.minor);
  }
  return text;
}

std::unique_ptr<DeviceContext> create_cuda_context(int ordinal, const CudaOptions& options) {
  CONVLAB_CHECK(cuda_available(), "no CUDA GPU is available (no device or no driver): use --device cpu");
  auto context = std::make_unique<CudaContext>(ordinal);
  context->set_deterministic(options.deterministic);
  context->set_allow_tf32(options.allow_tf32);
  if (options.sync_each_op) context->set_sync_each_op(true);
  return context;
}

CudaContext::CudaContext(int ordinal) : ordinal_(ordinal) {
  CUDA_CHECK(cudaSetDevice(ordinal));
  cudaDeviceProp props{};
  CUDA_CHECK(cudaGetDeviceProperties(&props, ordinal));
  device_name_ = props.name;
  multiprocessors_ = props.multiProcessorCount;
  CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
  const cudaError_t status = cudaStreamCreateWithFlags(&timing_stream_, cudaStreamNonBlocking);
  if (status != cudaSuccess) cudaStreamDestroy(stream_);
  CUDA_CHECK(status);
  const char* sync = std::getenv("CONVLAB_SYNC_EACH_OP");
  sync_each_op_ = sync && *sync && std::strcmp(sync, "0") != 0;
  if (const char* fault = std::getenv("CONVLAB_CONV_GRAPH_FAULT"); fault && *fault) set_graph_fault(fault);
}

void CudaContext::set_graph_fault(const std::string& stage) {
  bool known = stage.empty();
  std::string stages;
  for (const char* s : backend_cuda::kGraphStages) {
    known = known || stage == s;
    stages += stages.empty() ? s : std::string(", ") + s;
  }
  CONVLAB_CHECK(known, "CONVLAB_CONV_GRAPH_FAULT: unknown stage \"{}\"; the stages are: {}", stage, stages);
  graph_fault_ = stage;
}

size_t CudaContext::cached_bytes() const {
  size_t bytes = 0;
  for (const auto& [size, blocks] : free_blocks_) bytes += size * blocks.size();
  return bytes;
}

CudaContext::~CudaContext() {
  cudaStreamSynchronize(stream_);
  conv_plans_.clear();
  if (workspace_) cudaFree(workspace_);
  for (void* ptr : retired_workspaces_) cudaFree(ptr);
  for (const auto& [size, ptr] : held_blocks_) cudaFree(ptr);
  if (cudnn_) cudnnDestroy(cudnn_);
  if (cublas_) cublasDestroy(cublas_);
  if (cublas_workspace_) cudaFree(cublas_workspace_);
  if (cusolver_params_) cusolverDnDestroyParams(cusolver_params_);
  if (cusolver_) cusolverDnDestroy(cusolver_);
  release_cache();
  for (auto& [size, blocks] : graph_free_blocks_)
    for (void* ptr : blocks) cudaFree(ptr);
  cudaStreamDestroy(stream_);
  cudaStreamDestroy(timing_stream_);
}

std::string CudaContext::name() const { return fmt::format("cuda:{} ({})", ordinal_, device_name_); }

size_t CudaContext::round_size(size_t bytes) { return (bytes + 511) / 512 * 512; }

void* CudaContext::allocate(size_t bytes) {
  if (bytes == 0) return nullptr;
  const size_t size = round_size(bytes);
  auto& pool = capturing_ ? graph_free_blocks_ : free_blocks_;
  auto it = pool.find(size);
  if (it != pool.end() && !it->second.empty()) {
    void* ptr = it->second.back();
    it->second.pop_back();
    return ptr;
  }
  void* ptr = nullptr;
  cudaError_t status = cudaMalloc(&ptr, size);
  if (status == cudaErrorMemoryAllocation && capturing_) {
    // Giving the cache back would free memory and wait for the stream: neither is allowed
    // while a graph is being recorded.
    cudaGetLastError();
    CONVLAB_FAIL("CUDA out of memory allocating {} MiB on {} while recording the training step as a CUDA graph "
                 "({} MiB already held by convlab): train without --cuda-graph, or with a smaller batch",
                 size >> 20, name(), reserved_bytes_ >> 20);
  }
  if (status == cudaErrorMemoryAllocation) {  // give the cache back and try once more
    cudaGetLastError();
    synchronize();
    release_cache();
    status = cudaMalloc(&ptr, size);
  }
  if (status != cudaSuccess) {
    cudaGetLastError();
    CONVLAB_FAIL("CUDA out of memory allocating {} MiB on {} ({} MiB already held by convlab): use a smaller "
                 "batch or fewer examples", size >> 20, name(), reserved_bytes_ >> 20);
  }
  reserved_bytes_ += size;
  if (capturing_) graph_blocks_.insert(ptr);
  return ptr;
}

void CudaContext::begin_graph_pool() {
  CONVLAB_CHECK(!capturing_, "a CUDA graph is already being captured on {}", name());
  capturing_ = true;
}

void CudaContext::end_graph_pool() { capturing_ = false; }

void CudaContext::graph_created() { ++live_graphs_; }

void CudaContext::graph_destroyed() {
  CONVLAB_CHECK(live_graphs_ > 0, "a CUDA graph on {} was destroyed twice", name());
  if (--live_graphs_ > 0) return;
  cudaStreamSynchronize(stream_);  // a replay may still be running
  for (void* ptr : retired_workspaces_) cudaFree(ptr);
  retired_workspaces_.clear();
  for (const auto& [size, ptr] : held_blocks_) free_blocks_[size].push_back(ptr);
  held_blocks_.clear();
}

// Blocks go back to the cache at once: all work runs on the one stream, so later work that
// reuses a block is ordered after the work that used it. A general block freed while a graph
// is being recorded may be read by that graph's replays, so it is held back until no graph
// is left.
void CudaContext::deallocate(void* ptr, size_t bytes) {
  if (!ptr) return;
  const size_t size = round_size(bytes);
  if (graph_blocks_.count(ptr)) {
    graph_free_blocks_[size].push_back(ptr);
  } else if (capturing_) {
    held_blocks_.emplace_back(size, ptr);
  } else {
    free_blocks_[size].push_back(ptr);
  }
}

// Only the general pool: blocks of the graph pool stay reserved for the graphs that use them.
void CudaContext::release_cache() {
  for (auto& [size, blocks] : free_blocks_)
    for (void* ptr : blocks) {
      cudaFree(ptr);
      reserved_bytes_ -= size;
    }
  free_blocks_.clear();
}

void CudaContext::synchronize() { CUDA_CHECK(cudaStreamSynchronize(stream_)); }

void CudaContext::copy_from_host(void* dst, const void* src, size_t bytes) {
  CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, stream_));
  synchronize();  // the host buffer may be freed as soon as we return
}

void CudaContext::copy_to_host(void* dst, const void* src, size_t bytes) {
  CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, stream_));
  synchronize();
}

void CudaContext::copy_within(void* dst, const void* src, size_t bytes) {
  CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, stream_));
}

void* CudaContext::try_workspace(size_t bytes) {
  if (bytes <= workspace_bytes_) return workspace_;
  if (workspace_) {
    if (capturing_ || live_graphs_ > 0) {
      retired_workspaces_.push_back(workspace_);  // a graph may point at it: never free it under one
    } else {
      synchronize();  // queued convolutions may still be using the old block
      CUDA_CHECK(cudaFree(workspace_));
    }
  }
  workspace_ = nullptr;
  workspace_bytes_ = 0;
  const size_t size = (bytes + (size_t{1} << 20) - 1) >> 20 << 20;  // whole MiB: fewer regrowths
  cudaError_t status = cudaMalloc(&workspace_, size);
  if (status == cudaErrorMemoryAllocation && !capturing_) {  // give the cache back and try once more
    cudaGetLastError();
    synchronize();
    release_cache();
    status = cudaMalloc(&workspace_, size);
  }
  if (status == cudaErrorMemoryAllocation) {
    cudaGetLastError();
    workspace_ = nullptr;
    return nullptr;
  }
  CUDA_CHECK(status);
  workspace_bytes_ = size;
  return workspace_;
}

void* CudaContext::workspace(size_t bytes) {
  void* block = try_workspace(bytes);
  if (!block && bytes > 0) {
    const size_t size = (bytes + (size_t{1} << 20) - 1) >> 20 << 20;
    CONVLAB_FAIL("CUDA out of memory allocating a {} MiB convolution workspace on {}{} ({} MiB already held by "
                 "convlab): use a smaller batch{}", size >> 20, name(),
                 capturing_ ? " while recording a CUDA graph" : "", reserved_bytes_ >> 20,
                 capturing_ ? ", or train without --cuda-graph" : "");
  }
  return block;
}

void CudaContext::release_workspace_beyond(size_t bytes) {
  if (!workspace_ || workspace_bytes_ <= bytes || capturing_ || live_graphs_ > 0) return;
  synchronize();  // queued convolutions may still be using it
  CUDA_CHECK(cudaFree(workspace_));
  workspace_ = nullptr;
  workspace_bytes_ = 0;  // the next convolution allocates what it needs
}

cudnnHandle_t CudaContext::cudnn() {
  if (!cudnn_) {
    CUDNN_CHECK(cudnnCreate(&cudnn_));
    CUDNN_CHECK(cudnnSetStream(cudnn_, stream_));
  }
  return cudnn_;
}

// The handle gets a workspace of its own (after the stream: setting the stream resets it), so
// that cuBLAS never allocates inside a captured CUDA graph; 32 MiB is cuBLAS's
// recommendation for Hopper.
cublasHandle_t CudaContext::cublas() {
  if (!cublas_) {
    constexpr size_t kWorkspaceBytes = size_t{32} << 20;
    // Kept only when every step succeeded, so that a failure (out of memory) is retried on
    // the next call instead of leaving a handle without its workspace.
    cublasHandle_t handle = nullptr;
    void* workspace = nullptr;
    try {
      CUBLAS_CHECK(cublasCreate(&handle));
      CUBLAS_CHECK(cublasSetStream(handle, stream_));
      CUDA_CHECK(cudaMalloc(&workspace, kWorkspaceBytes));
      CUBLAS_CHECK(cublasSetWorkspace(handle, workspace, kWorkspaceBytes));
    } catch (...) {
      if (handle) cublasDestroy(handle);
      if (workspace) cudaFree(workspace);
      throw;
    }
    cublas_ = handle;
    cublas_workspace_ = workspace;
  }
  return cublas_;
}

cusolverDnHandle_t CudaContext::cusolver() {
  if (!cusolver_) {
    cusolverDnHandle_t handle = nullptr;
    cusolverDnParams_t params = nullptr;
    try {
      CUSOLVER_CHECK(cusolverDnCreate(&handle));
      CUSOLVER_CHECK(cusolverDnSetStream(handle, stream_));
      CUSOLVER_CHECK(cusolverDnCreateParams(&params));
    } catch (...) {
      if (params) cusolverDnDestroyParams(params);
      if (handle) cusolverDnDestroy(handle);
      throw;
    }
    cusolver_ = handle;
    cusolver_params_ = params;
  }
  return cusolver_;
}

cusolverDnParams_t CudaContext::cusolver_params() {
  cusolver();
  return cusolver_params_;
}

CudaContext& cuda_context(Device device) {
  CONVLAB_CHECK(device.is_cuda(), "expected a CUDA tensor, got one on {}", device.name());
  return static_cast<CudaContext&>(device.context());
}

}  // namespace convlab
