#include "framework/backend/step_graph.h"

#include "framework/backend/cuda/cuda_check.h"
#include "framework/backend/cuda/cuda_context.h"

namespace convlab {
namespace {

class CudaStepGraph final : public StepGraph {
 public:
  // Registers with the context from the start of the recording (`context.graph_created()`
  // was called by capture_step), so memory the graph points at stays put for its lifetime.
  CudaStepGraph(CudaContext& context, cudaGraph_t graph) : context_(context), graph_(graph) {
    const cudaError_t status = cudaGraphInstantiate(&exec_, graph_, 0);
    if (status != cudaSuccess) {
      cudaGraphDestroy(graph_);
      context_.graph_destroyed();
      CUDA_CHECK(status);
    }
  }
  ~CudaStepGraph() override {
    if (exec_) cudaGraphExecDestroy(exec_);
    if (graph_) cudaGraphDestroy(graph_);
    context_.graph_destroyed();
  }
  void replay() override { CUDA_CHECK(cudaGraphLaunch(exec_, context_.stream())); }
  size_t node_count() const override {
    size_t count = 0;
    CUDA_CHECK(cudaGraphGetNodes(graph_, nullptr, &count));
    return count;
  }

 private:
  CudaContext& context_;
  cudaGraph_t graph_ = nullptr;
  cudaGraphExec_t exec_ = nullptr;
};

}  // namespace

std::unique_ptr<StepGraph> capture_step(Device device, const std::function<void()>& step) {
  CONVLAB_CHECK(device.is_cuda(), "CUDA graphs need a CUDA device, not {}", device.name());
  CudaContext& context = cuda_context(device);
  // The library handles exist before the recording (creating one may allocate and wait),
  // and work queued before it finishes first: a convolution shape first seen while
  // recording is timed on a second stream (conv_choice.h), which must not overlap it.
  context.cudnn();
  context.cublas();
  context.synchronize();
  context.graph_created();  // from here on nothing the recording may point at moves
  context.begin_graph_pool();
  // Relaxed: allocating fresh blocks of the graph pool (cudaMalloc) is allowed meanwhile.
  cudaError_t status = cudaStreamBeginCapture(context.stream(), cudaStreamCaptureModeRelaxed);
  if (status != cudaSuccess) {
    context.end_graph_pool();
    context.graph_destroyed();
    CUDA_CHECK(status);
  }
  cudaGraph_t graph = nullptr;
  try {
    step();
  } catch (...) {
    cudaStreamEndCapture(context.stream(), &graph);
    if (graph) cudaGraphDestroy(graph);
    cudaGetLastError();
    context.end_graph_pool();
    context.graph_destroyed();
    throw;
  }
  status = cudaStreamEndCapture(context.stream(), &graph);
  context.end_graph_pool();
  if (status != cudaSuccess) {
    if (graph) cudaGraphDestroy(graph);
    context.graph_destroyed();
    CUDA_CHECK(status);
  }
  return std::make_unique<CudaStepGraph>(context, graph);
}

}  // namespace convlab
