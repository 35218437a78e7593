#include "framework/backend/cuda/conv_graph.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <limits>
#include <set>
#include <utility>
#include <vector>

#include "framework/backend/cuda/conv_timing.h"
#include "framework/backend/cuda/cuda_check.h"

namespace convlab::backend_cuda {
namespace {

// Tensor ids in the operation graph and the variant pack.
constexpr int64_t kX = 1, kW = 2, kY = 3;
// At most this many plans are built and timed per direction.
constexpr size_t kMaxCandidates = 8;

// One backend descriptor, destroyed with the object.
class Descriptor {
 public:
  explicit Descriptor(cudnnBackendDescriptorType_t type) { CUDNN_CHECK(cudnnBackendCreateDescriptor(type, &d_)); }
  ~Descriptor() {
    if (d_) cudnnBackendDestroyDescriptor(d_);
  }
  Descriptor(Descriptor&& other) noexcept : d_(other.d_) { other.d_ = nullptr; }
  Descriptor& operator=(Descriptor&& other) noexcept {
    std::swap(d_, other.d_);
    return *this;
  }
  Descriptor(const Descriptor&) = delete;
  Descriptor& operator=(const Descriptor&) = delete;

  cudnnBackendDescriptor_t get() const { return d_; }
  // The address of the handle, for attributes that take descriptors.
  const cudnnBackendDescriptor_t* address() const { return &d_; }
  template <class T>
  void set(cudnnBackendAttributeName_t name, cudnnBackendAttributeType_t type, const T* values, int64_t count = 1) {
    CUDNN_CHECK(cudnnBackendSetAttribute(d_, name, type, count, values));
  }
  void finalize() { CUDNN_CHECK(cudnnBackendFinalize(d_)); }

 private:
  cudnnBackendDescriptor_t d_ = nullptr;
};

// A tensor of the graph: logical dims (N, C, H, W) (filters (K, C, R, S)), strides of the
// storage's format, f32 or bf16.
Descriptor tensor(int64_t uid, const std::array<int64_t, 4>& dims, const ConvStorage& storage) {
  const std::array<int64_t, 4> strides =
      storage.channels_last ? std::array<int64_t, 4>{dims[1] * dims[2] * dims[3], 1, dims[3] * dims[1], dims[1]}
                            : std::array<int64_t, 4>{dims[1] * dims[2] * dims[3], dims[2] * dims[3], dims[3], 1};
  const cudnnDataType_t type = storage.dtype == DType::bf16 ? CUDNN_DATA_BFLOAT16 : CUDNN_DATA_FLOAT;
  const int64_t alignment = 16;  // convlab's device blocks are 512-byte aligned
  Descriptor d(CUDNN_BACKEND_TENSOR_DESCRIPTOR);
  d.set(CUDNN_ATTR_TENSOR_DATA_TYPE, CUDNN_TYPE_DATA_TYPE, &type);
  d.set(CUDNN_ATTR_TENSOR_DIMENSIONS, CUDNN_TYPE_INT64, dims.data(), 4);
  d.set(CUDNN_ATTR_TENSOR_STRIDES, CUDNN_TYPE_INT64, strides.data(), 4);
  d.set(CUDNN_ATTR_TENSOR_UNIQUE_ID, CUDNN_TYPE_INT64, &uid);
  d.set(CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT, CUDNN_TYPE_INT64, &alignment);
  d.finalize();
  return d;
}

Descriptor convolution(const ConvGeometry& g) {
  const int64_t spatial = 2;
  const cudnnDataType_t compute = CUDNN_DATA_FLOAT;
  const cudnnConvolutionMode_t mode = CUDNN_CROSS_CORRELATION;
  const std::array<int64_t, 2> dilations{1, 1}, strides{g.stride_h, g.stride_w};
  const std::array<int64_t, 2> pre{g.pad_top, g.pad_left}, post{g.pad_bottom, g.pad_right};
  Descriptor d(CUDNN_BACKEND_CONVOLUTION_DESCRIPTOR);
  d.set(CUDNN_ATTR_CONVOLUTION_SPATIAL_DIMS, CUDNN_TYPE_INT64, &spatial);
  d.set(CUDNN_ATTR_CONVOLUTION_COMP_TYPE, CUDNN_TYPE_DATA_TYPE, &compute);
  d.set(CUDNN_ATTR_CONVOLUTION_CONV_MODE, CUDNN_TYPE_CONVOLUTION_MODE, &mode);
  d.set(CUDNN_ATTR_CONVOLUTION_DILATIONS, CUDNN_TYPE_INT64, dilations.data(), 2);
  d.set(CUDNN_ATTR_CONVOLUTION_FILTER_STRIDES, CUDNN_TYPE_INT64, strides.data(), 2);
  d.set(CUDNN_ATTR_CONVOLUTION_PRE_PADDINGS, CUDNN_TYPE_INT64, pre.data(), 2);
  d.set(CUDNN_ATTR_CONVOLUTION_POST_PADDINGS, CUDNN_TYPE_INT64, post.data(), 2);
  d.finalize();
  return d;
}

// The operation of one direction, y = x * w (forward), dx from dy (backward data) or dw
// from x and dy (backward filter); alpha 1, beta 0 (outputs overwritten).
Descriptor operation(ConvDirection direction, const Descriptor& x, const Descriptor& w, const Descriptor& y,
                     const Descriptor& conv) {
  const float alpha = 1.0f, beta = 0.0f;
  switch (direction) {
    case ConvDirection::forward: {
      Descriptor op(CUDNN_BACKEND_OPERATION_CONVOLUTION_FORWARD_DESCRIPTOR);
      op.set(CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_X, CUDNN_TYPE_BACKEND_DESCRIPTOR, x.address());
      op.set(CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_W, CUDNN_TYPE_BACKEND_DESCRIPTOR, w.address());
      op.set(CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_Y, CUDNN_TYPE_BACKEND_DESCRIPTOR, y.address());
      op.set(CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_CONV_DESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, conv.address());
      op.set(CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_ALPHA, CUDNN_TYPE_FLOAT, &alpha);
      op.set(CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_BETA, CUDNN_TYPE_FLOAT, &beta);
      op.finalize();
      return op;
    }
    case ConvDirection::backward_data: {
      Descriptor op(CUDNN_BACKEND_OPERATION_CONVOLUTION_BACKWARD_DATA_DESCRIPTOR);
      op.set(CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_W, CUDNN_TYPE_BACKEND_DESCRIPTOR, w.address());
      op.set(CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_DY, CUDNN_TYPE_BACKEND_DESCRIPTOR, y.address());
      op.set(CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_DX, CUDNN_TYPE_BACKEND_DESCRIPTOR, x.address());
      op.set(CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_CONV_DESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, conv.address());
      op.set(CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_ALPHA, CUDNN_TYPE_FLOAT, &alpha);
      op.set(CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_BETA, CUDNN_TYPE_FLOAT, &beta);
      op.finalize();
      return op;
    }
    case ConvDirection::backward_filter: {
      Descriptor op(CUDNN_BACKEND_OPERATION_CONVOLUTION_BACKWARD_FILTER_DESCRIPTOR);
      op.set(CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_X, CUDNN_TYPE_BACKEND_DESCRIPTOR, x.address());
      op.set(CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_DY, CUDNN_TYPE_BACKEND_DESCRIPTOR, y.address());
      op.set(CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_DW, CUDNN_TYPE_BACKEND_DESCRIPTOR, w.address());
      op.set(CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_CONV_DESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, conv.address());
      op.set(CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_ALPHA, CUDNN_TYPE_FLOAT, &alpha);
      op.set(CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_BETA, CUDNN_TYPE_FLOAT, &beta);
      op.finalize();
      return op;
    }
  }
  CONVLAB_FAIL("unknown convolution direction");
}

// The engine configurations a heuristic mode proposes for the operation graph, best first.
std::vector<Descriptor> heuristic_configs(const Descriptor& op_graph, cudnnBackendHeurMode_t mode) {
  Descriptor heuristics(CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR);
  heuristics.set(CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH, CUDNN_TYPE_BACKEND_DESCRIPTOR, op_graph.address());
  heuristics.set(CUDNN_ATTR_ENGINEHEUR_MODE, CUDNN_TYPE_HEUR_MODE, &mode);
  if (cudnnBackendFinalize(heuristics.get()) != CUDNN_STATUS_SUCCESS) return {};
  int64_t count = 0;
  if (cudnnBackendGetAttribute(heuristics.get(), CUDNN_ATTR_ENGINEHEUR_RESULTS, CUDNN_TYPE_BACKEND_DESCRIPTOR, 0,
                               &count, nullptr) != CUDNN_STATUS_SUCCESS ||
      count <= 0)
    return {};
  std::vector<Descriptor> configs;
  std::vector<cudnnBackendDescriptor_t> handles;
  for (int64_t i = 0; i < count; ++i) {
    configs.emplace_back(CUDNN_BACKEND_ENGINECFG_DESCRIPTOR);
    handles.push_back(configs.back().get());
  }
  int64_t returned = 0;
  if (cudnnBackendGetAttribute(heuristics.get(), CUDNN_ATTR_ENGINEHEUR_RESULTS, CUDNN_TYPE_BACKEND_DESCRIPTOR, count,
                               &returned, handles.data()) != CUDNN_STATUS_SUCCESS)
    return {};
  configs.erase(configs.begin() + std::clamp<int64_t>(returned, 0, count), configs.end());
  return configs;
}

struct EngineInfo {
  int64_t index = -1;
  std::vector<cudnnBackendNumericalNote_t> notes;
  bool has(cudnnBackendNumericalNote_t note) const { return std::find(notes.begin(), notes.end(), note) != notes.end(); }
};

bool engine_info(const Descriptor& config, EngineInfo& info) {
  Descriptor engine(CUDNN_BACKEND_ENGINE_DESCRIPTOR);
  cudnnBackendDescriptor_t handle = engine.get();
  int64_t count = 0;
  if (cudnnBackendGetAttribute(config.get(), CUDNN_ATTR_ENGINECFG_ENGINE, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &count,
                               &handle) != CUDNN_STATUS_SUCCESS)
    return false;
  cudnnBackendGetAttribute(engine.get(), CUDNN_ATTR_ENGINE_GLOBAL_INDEX, CUDNN_TYPE_INT64, 1, &count, &info.index);
  std::array<cudnnBackendNumericalNote_t, CUDNN_NUMERICAL_NOTE_TYPE_COUNT> notes{};
  count = 0;
  if (cudnnBackendGetAttribute(engine.get(), CUDNN_ATTR_ENGINE_NUMERICAL_NOTE, CUDNN_TYPE_NUMERICAL_NOTE,
                               CUDNN_NUMERICAL_NOTE_TYPE_COUNT, &count, notes.data()) != CUDNN_STATUS_SUCCESS)
    return false;
  info.notes.assign(notes.begin(), notes.begin() + std::clamp<int64_t>(count, 0, CUDNN_NUMERICAL_NOTE_TYPE_COUNT));
  return true;
}

}  // namespace

struct GraphConv {
  struct Candidate {
    Descriptor plan{CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR};
    int64_t workspace = 0;
    int64_t engine = -1;
    bool deterministic = true;
  };
  ConvDirection direction = ConvDirection::forward;
  // The descriptors the plans were built from, kept for the plans' lifetime.
  std::vector<Descriptor> parts;
  std::vector<Candidate> candidates;  // best first: heuristics' order until timed, then by time
  std::vector<float> milliseconds;    // once timed, in candidates' order
  bool timed = false;
};

GraphConvPtr build_graph_conv(CudaContext& ctx, const ConvGeometry& g, const ConvStorage& storage,
                              ConvDirection direction) {
  GraphConvPtr conv(new GraphConv);
  conv->direction = direction;
  cudnnHandle_t handle = ctx.cudnn();
  auto& parts = conv->parts;
  parts.push_back(tensor(kX, {g.batch, g.in_channels, g.in_h, g.in_w}, storage));
  parts.push_back(tensor(kW, {g.out_channels, g.in_channels, g.kernel_h, g.kernel_w}, storage));
  parts.push_back(tensor(kY, {g.batch, g.out_channels, g.out_h, g.out_w}, storage));
  parts.push_back(convolution(g));
  parts.push_back(operation(direction, parts[0], parts[1], parts[2], parts[3]));
  Descriptor op_graph(CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR);
  op_graph.set(CUDNN_ATTR_OPERATIONGRAPH_OPS, CUDNN_TYPE_BACKEND_DESCRIPTOR, parts[4].address());
  op_graph.set(CUDNN_ATTR_OPERATIONGRAPH_HANDLE, CUDNN_TYPE_HANDLE, &handle);
  if (cudnnBackendFinalize(op_graph.get()) != CUDNN_STATUS_SUCCESS) return nullptr;

  std::vector<Descriptor> configs = heuristic_configs(op_graph, CUDNN_HEUR_MODE_A);
  for (Descriptor& d : heuristic_configs(op_graph, CUDNN_HEUR_MODE_FALLBACK)) configs.push_back(std::move(d));
  std::set<int64_t> engines_seen;
  for (Descriptor& config : configs) {
    if (conv->candidates.size() == kMaxCandidates) break;
    EngineInfo info;
    if (!engine_info(config, info) || !engines_seen.insert(info.index).second) continue;
    const bool deterministic = !info.has(CUDNN_NUMERICAL_NOTE_NONDETERMINISTIC);
    if (ctx.deterministic() && !deterministic) continue;
    // fp32 inputs: tensor cores mean TF32; a down-conversion would mean fp16 inputs.
    const bool tensor_cores = storage.dtype == DType::bf16 || ctx.allow_tf32();
    if (!tensor_cores && info.has(CUDNN_NUMERICAL_NOTE_TENSOR_CORE)) continue;
    if (info.has(CUDNN_NUMERICAL_NOTE_DOWN_CONVERT_INPUTS) ||
        info.has(CUDNN_NUMERICAL_NOTE_REDUCED_PRECISION_REDUCTION))
      continue;
    GraphConv::Candidate candidate;
    candidate.plan.set(CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG, CUDNN_TYPE_BACKEND_DESCRIPTOR, config.address());
    candidate.plan.set(CUDNN_ATTR_EXECUTION_PLAN_HANDLE, CUDNN_TYPE_HANDLE, &handle);
    if (cudnnBackendFinalize(candidate.plan.get()) != CUDNN_STATUS_SUCCESS) continue;  // not for this shape
    int64_t count = 0;
    if (cudnnBackendGetAttribute(candidate.plan.get(), CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE, CUDNN_TYPE_INT64, 1,
                                 &count, &candidate.workspace) != CUDNN_STATUS_SUCCESS ||
        candidate.workspace < 0 || static_cast<size_t>(candidate.workspace) > ctx.workspace_limit())
      continue;
    candidate.engine = info.index;
    candidate.deterministic = deterministic;
    conv->candidates.push_back(std::move(candidate));
    parts.push_back(std::move(config));
  }
  parts.push_back(std::move(op_graph));
  if (conv->candidates.empty()) return nullptr;
  return conv;
}

void GraphConvDeleter::operator()(GraphConv* conv) const { delete conv; }

namespace {

cudnnStatus_t execute(CudaContext& ctx, const GraphConv::Candidate& candidate, ConvDirection direction,
                      const void* a, const void* b, void* out) {
  void* x = nullptr;
  void* w = nullptr;
  void* y = nullptr;
  switch (direction) {
    case ConvDirection::forward: x = const_cast<void*>(a), w = const_cast<void*>(b), y = out; break;
    case ConvDirection::backward_data: w = const_cast<void*>(a), y = const_cast<void*>(b), x = out; break;
    case ConvDirection::backward_filter: x = const_cast<void*>(a), y = const_cast<void*>(b), w = out; break;
  }
  void* workspace = ctx.workspace(static_cast<size_t>(candidate.workspace));
  const std::array<int64_t, 3> uids{kX, kW, kY};
  const std::array<void*, 3> pointers{x, w, y};
  Descriptor pack(CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR);
  pack.set(CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS, CUDNN_TYPE_INT64, uids.data(), 3);
  pack.set(CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS, CUDNN_TYPE_VOID_PTR, pointers.data(), 3);
  pack.set(CUDNN_ATTR_VARIANT_PACK_WORKSPACE, CUDNN_TYPE_VOID_PTR, &workspace);
  pack.finalize();
  return cudnnBackendExecute(ctx.cudnn(), candidate.plan.get(), pack.get());
}

}  // namespace

bool run_graph_conv(CudaContext& ctx, GraphConv& conv, const ConvGeometry& g, const void* a, const void* b,
                    void* out) {
  auto run = [&](size_t i) { return execute(ctx, conv.candidates[i], conv.direction, a, b, out); };
  if (!conv.timed && !ctx.capturing()) {
    const std::vector<float> milliseconds =
        time_candidates(ctx, conv.candidates.size(), [&](size_t i) { return run(i) == CUDNN_STATUS_SUCCESS; });
    std::vector<GraphConv::Candidate> kept;
    conv.milliseconds.clear();
    for (const size_t i : fastest_first(milliseconds)) {
      kept.push_back(std::move(conv.candidates[i]));
      conv.milliseconds.push_back(milliseconds[i]);
    }
    conv.candidates = std::move(kept);
    conv.timed = true;
    if (conv.candidates.empty()) return false;  // every engine refused at run time
  }
  const cudnnStatus_t status = run(0);
  if (status != CUDNN_STATUS_SUCCESS)
    CONVLAB_FAIL("{} of {}: cuDNN engine {} failed: {}", direction_name(conv.direction), g.str(),
                 conv.candidates.front().engine, describe_cudnn_error(status));
  return true;
}

std::string describe_choice(const GraphConv& conv) {
  if (conv.candidates.empty()) return "none";
  const GraphConv::Candidate& c = conv.candidates.front();
  return conv.timed ? fmt::format("engine {}{} ({:.3f} ms)", c.engine, c.deterministic ? "" : ", non-deterministic",
                                  conv.milliseconds.front())
                    : fmt::format("engine {}{} (untimed)", c.engine, c.deterministic ? "" : ", non-deterministic");
}

}  // namespace convlab::backend_cuda
