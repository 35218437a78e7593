#include "framework/backend/cuda/conv_graph.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <optional>
#include <set>
#include <utility>
#include <vector>

#include "framework/backend/cuda/cuda_check.h"

namespace convlab::backend_cuda {
namespace {

// Tensor ids in the operation graph and the variant pack.
constexpr int64_t kX = 1, kW = 2, kY = 3;
// At most this many plans are built (each finalize costs time) and timed per direction.
constexpr size_t kMaxCandidates = 6;

// cuDNN does not support the shape at some stage: the graph API is unavailable for it.
struct Unavailable {
  std::string reason;
};

// Throws Unavailable for the "not supported" and "bad parameter" categories (and for a
// fault injected at `stage`), convlab::Error for other failures.
void check(cudnnStatus_t status, const CudaContext& ctx, const char* stage, const char* call) {
  if (ctx.graph_fault() == stage) status = CUDNN_STATUS_NOT_SUPPORTED;
  if (status == CUDNN_STATUS_SUCCESS) return;
  const int category = CUDNN_STATUS_CATEGORY(status);
  if (category == CUDNN_STATUS_NOT_SUPPORTED || category == CUDNN_STATUS_BAD_PARAM)
    throw Unavailable{fmt::format("{} ({}): {}", stage, call, describe_cudnn_error(status))};
  CONVLAB_FAIL("cuDNN error building a graph-API convolution ({}, {}): {}", stage, call, describe_cudnn_error(status));
}

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
  // Setting and finalizing go through check(): "not supported" at `stage` is Unavailable.
  template <class T>
  void set(const CudaContext& ctx, const char* stage, cudnnBackendAttributeName_t name,
           cudnnBackendAttributeType_t type, const T* values, int64_t count = 1) {
    check(cudnnBackendSetAttribute(d_, name, type, count, values), ctx, stage, "cudnnBackendSetAttribute");
  }
  void finalize(const CudaContext& ctx, const char* stage) {
    check(cudnnBackendFinalize(d_), ctx, stage, "cudnnBackendFinalize");
  }

 private:
  cudnnBackendDescriptor_t d_ = nullptr;
};

// A tensor of the graph: logical dims (N, C, H, W) (filters (K, C, R, S)), strides of the
// storage's format, f32 or bf16.
Descriptor tensor(const CudaContext& ctx, int64_t uid, const std::array<int64_t, 4>& dims,
                  const ConvStorage& storage) {
  const std::array<int64_t, 4> strides =
      storage.channels_last ? std::array<int64_t, 4>{dims[1] * dims[2] * dims[3], 1, dims[3] * dims[1], dims[1]}
                            : std::array<int64_t, 4>{dims[1] * dims[2] * dims[3], dims[2] * dims[3], dims[3], 1};
  const cudnnDataType_t type = storage.dtype == DType::bf16 ? CUDNN_DATA_BFLOAT16 : CUDNN_DATA_FLOAT;
  const int64_t alignment = 16;  // convlab's device blocks are 512-byte aligned
  const char* stage = "tensor";
  Descriptor d(CUDNN_BACKEND_TENSOR_DESCRIPTOR);
  d.set(ctx, stage, CUDNN_ATTR_TENSOR_DATA_TYPE, CUDNN_TYPE_DATA_TYPE, &type);
  d.set(ctx, stage, CUDNN_ATTR_TENSOR_DIMENSIONS, CUDNN_TYPE_INT64, dims.data(), 4);
  d.set(ctx, stage, CUDNN_ATTR_TENSOR_STRIDES, CUDNN_TYPE_INT64, strides.data(), 4);
  d.set(ctx, stage, CUDNN_ATTR_TENSOR_UNIQUE_ID, CUDNN_TYPE_INT64, &uid);
  d.set(ctx, stage, CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT, CUDNN_TYPE_INT64, &alignment);
  d.finalize(ctx, stage);
  return d;
}

Descriptor convolution(const CudaContext& ctx, const ConvGeometry& g) {
  const int64_t spatial = 2;
  const cudnnDataType_t compute = CUDNN_DATA_FLOAT;
  const cudnnConvolutionMode_t mode = CUDNN_CROSS_CORRELATION;
  const std::array<int64_t, 2> dilations{1, 1}, strides{g.stride_h, g.stride_w};
  const std::array<int64_t, 2> pre{g.pad_top, g.pad_left}, post{g.pad_bottom, g.pad_right};
  const char* stage = "convolution";
  Descriptor d(CUDNN_BACKEND_CONVOLUTION_DESCRIPTOR);
  d.set(ctx, stage, CUDNN_ATTR_CONVOLUTION_SPATIAL_DIMS, CUDNN_TYPE_INT64, &spatial);
  d.set(ctx, stage, CUDNN_ATTR_CONVOLUTION_COMP_TYPE, CUDNN_TYPE_DATA_TYPE, &compute);
  d.set(ctx, stage, CUDNN_ATTR_CONVOLUTION_CONV_MODE, CUDNN_TYPE_CONVOLUTION_MODE, &mode);
  d.set(ctx, stage, CUDNN_ATTR_CONVOLUTION_DILATIONS, CUDNN_TYPE_INT64, dilations.data(), 2);
  d.set(ctx, stage, CUDNN_ATTR_CONVOLUTION_FILTER_STRIDES, CUDNN_TYPE_INT64, strides.data(), 2);
  d.set(ctx, stage, CUDNN_ATTR_CONVOLUTION_PRE_PADDINGS, CUDNN_TYPE_INT64, pre.data(), 2);
  d.set(ctx, stage, CUDNN_ATTR_CONVOLUTION_POST_PADDINGS, CUDNN_TYPE_INT64, post.data(), 2);
  d.finalize(ctx, stage);
  return d;
}

// The attribute names of one direction's operation: its type, the three tensors, the
// convolution, alpha and beta.
struct OperationAttributes {
  cudnnBackendDescriptorType_t type;
  cudnnBackendAttributeName_t x, w, y, conv, alpha, beta;
};

OperationAttributes operation_attributes(ConvDirection direction) {
  switch (direction) {
    case ConvDirection::forward:
      return {CUDNN_BACKEND_OPERATION_CONVOLUTION_FORWARD_DESCRIPTOR, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_X,
              CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_W, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_Y,
              CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_CONV_DESC, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_ALPHA,
              CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_BETA};
    case ConvDirection::backward_data:
      return {CUDNN_BACKEND_OPERATION_CONVOLUTION_BACKWARD_DATA_DESCRIPTOR, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_DX,
              CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_W, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_DY,
              CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_CONV_DESC, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_ALPHA,
              CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_BETA};
    case ConvDirection::backward_filter:
      return {CUDNN_BACKEND_OPERATION_CONVOLUTION_BACKWARD_FILTER_DESCRIPTOR,
              CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_X, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_DW,
              CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_DY, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_CONV_DESC,
              CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_ALPHA, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_BETA};
  }
  CONVLAB_FAIL("unknown convolution direction");
}

// The operation of one direction, y = x * w (forward), dx from dy (backward data) or dw
// from x and dy (backward filter); alpha 1, beta 0 (outputs overwritten).
Descriptor operation(const CudaContext& ctx, ConvDirection direction, const Descriptor& x, const Descriptor& w,
                     const Descriptor& y, const Descriptor& conv) {
  const float alpha = 1.0f, beta = 0.0f;
  const char* stage = "operation";
  const OperationAttributes a = operation_attributes(direction);
  Descriptor op(a.type);
  op.set(ctx, stage, a.x, CUDNN_TYPE_BACKEND_DESCRIPTOR, x.address());
  op.set(ctx, stage, a.w, CUDNN_TYPE_BACKEND_DESCRIPTOR, w.address());
  op.set(ctx, stage, a.y, CUDNN_TYPE_BACKEND_DESCRIPTOR, y.address());
  op.set(ctx, stage, a.conv, CUDNN_TYPE_BACKEND_DESCRIPTOR, conv.address());
  op.set(ctx, stage, a.alpha, CUDNN_TYPE_FLOAT, &alpha);
  op.set(ctx, stage, a.beta, CUDNN_TYPE_FLOAT, &beta);
  op.finalize(ctx, stage);
  return op;
}

// The engine configurations a heuristic mode proposes for the operation graph, best first
// (none when the mode has nothing for it).
std::vector<Descriptor> heuristic_configs(const CudaContext& ctx, const Descriptor& op_graph,
                                          cudnnBackendHeurMode_t mode) {
  const char* stage = "heuristics";
  Descriptor heuristics(CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR);
  heuristics.set(ctx, stage, CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH, CUDNN_TYPE_BACKEND_DESCRIPTOR,
                 op_graph.address());
  heuristics.set(ctx, stage, CUDNN_ATTR_ENGINEHEUR_MODE, CUDNN_TYPE_HEUR_MODE, &mode);
  heuristics.finalize(ctx, stage);
  int64_t count = 0;
  check(cudnnBackendGetAttribute(heuristics.get(), CUDNN_ATTR_ENGINEHEUR_RESULTS, CUDNN_TYPE_BACKEND_DESCRIPTOR, 0,
                                 &count, nullptr),
        ctx, stage, "cudnnBackendGetAttribute (count)");
  if (count <= 0) return {};
  std::vector<Descriptor> configs;
  std::vector<cudnnBackendDescriptor_t> handles;
  for (int64_t i = 0; i < count; ++i) {
    configs.emplace_back(CUDNN_BACKEND_ENGINECFG_DESCRIPTOR);
    handles.push_back(configs.back().get());
  }
  int64_t returned = 0;
  check(cudnnBackendGetAttribute(heuristics.get(), CUDNN_ATTR_ENGINEHEUR_RESULTS, CUDNN_TYPE_BACKEND_DESCRIPTOR,
                                 count, &returned, handles.data()),
        ctx, stage, "cudnnBackendGetAttribute (results)");
  configs.erase(configs.begin() + std::clamp<int64_t>(returned, 0, count), configs.end());
  return configs;
}

// What the engine of a configuration is: its global index (-1 when cuDNN does not say) and
// notes. False when cuDNN cannot describe it (the configuration is then passed over).
struct EngineInfo {
  int64_t index = -1;
  std::vector<cudnnBackendNumericalNote_t> notes;
  bool compiles_at_run_time = false;
  bool has(cudnnBackendNumericalNote_t note) const { return std::find(notes.begin(), notes.end(), note) != notes.end(); }
};

bool engine_info(const Descriptor& config, EngineInfo& info) {
  Descriptor engine(CUDNN_BACKEND_ENGINE_DESCRIPTOR);
  cudnnBackendDescriptor_t handle = engine.get();
  int64_t count = 0;
  if (cudnnBackendGetAttribute(config.get(), CUDNN_ATTR_ENGINECFG_ENGINE, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &count,
                               &handle) != CUDNN_STATUS_SUCCESS)
    return false;
  int64_t index = -1;
  if (cudnnBackendGetAttribute(engine.get(), CUDNN_ATTR_ENGINE_GLOBAL_INDEX, CUDNN_TYPE_INT64, 1, &count, &index) ==
          CUDNN_STATUS_SUCCESS &&
      count == 1)
    info.index = index;
  std::array<cudnnBackendNumericalNote_t, CUDNN_NUMERICAL_NOTE_TYPE_COUNT> notes{};
  count = 0;
  if (cudnnBackendGetAttribute(engine.get(), CUDNN_ATTR_ENGINE_NUMERICAL_NOTE, CUDNN_TYPE_NUMERICAL_NOTE,
                               CUDNN_NUMERICAL_NOTE_TYPE_COUNT, &count, notes.data()) != CUDNN_STATUS_SUCCESS)
    return false;
  info.notes.assign(notes.begin(), notes.begin() + std::clamp<int64_t>(count, 0, CUDNN_NUMERICAL_NOTE_TYPE_COUNT));
  std::array<cudnnBackendBehaviorNote_t, CUDNN_BEHAVIOR_NOTE_TYPE_COUNT> behaviour{};
  count = 0;
  if (cudnnBackendGetAttribute(engine.get(), CUDNN_ATTR_ENGINE_BEHAVIOR_NOTE, CUDNN_TYPE_BEHAVIOR_NOTE,
                               CUDNN_BEHAVIOR_NOTE_TYPE_COUNT, &count, behaviour.data()) == CUDNN_STATUS_SUCCESS)
    for (int64_t i = 0; i < std::clamp<int64_t>(count, 0, CUDNN_BEHAVIOR_NOTE_TYPE_COUNT); ++i)
      info.compiles_at_run_time |= behaviour[static_cast<size_t>(i)] == CUDNN_BEHAVIOR_NOTE_RUNTIME_COMPILATION;
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
  std::vector<Candidate> candidates;  // in the heuristics' order
  // The variant pack of the last call, rebuilt only when an address changes (x, w, y,
  // workspace): the caching allocator hands a step the same blocks each time.
  std::optional<Descriptor> pack;  // none before the first call
  std::array<void*, 4> pack_pointers{};
};

GraphConvPtr build_graph_conv(CudaContext& ctx, const ConvGeometry& g, const ConvStorage& storage,
                              ConvDirection direction, std::string& unavailable) {
  unavailable.clear();
  try {
    GraphConvPtr conv(new GraphConv);
    conv->direction = direction;
    cudnnHandle_t handle = ctx.cudnn();
    auto& parts = conv->parts;
    parts.push_back(tensor(ctx, kX, {g.batch, g.in_channels, g.in_h, g.in_w}, storage));
    parts.push_back(tensor(ctx, kW, {g.out_channels, g.in_channels, g.kernel_h, g.kernel_w}, storage));
    parts.push_back(tensor(ctx, kY, {g.batch, g.out_channels, g.out_h, g.out_w}, storage));
    parts.push_back(convolution(ctx, g));
    parts.push_back(operation(ctx, direction, parts[0], parts[1], parts[2], parts[3]));
    const char* stage = "operation graph";
    Descriptor op_graph(CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR);
    op_graph.set(ctx, stage, CUDNN_ATTR_OPERATIONGRAPH_OPS, CUDNN_TYPE_BACKEND_DESCRIPTOR, parts[4].address());
    op_graph.set(ctx, stage, CUDNN_ATTR_OPERATIONGRAPH_HANDLE, CUDNN_TYPE_HANDLE, &handle);
    op_graph.finalize(ctx, stage);

    // Mode A ranks the fast engines; fallback adds the ones that exist for coverage (timing
    // decides between them). A mode that refuses the graph leaves the other's proposals.
    std::vector<Descriptor> configs;
    std::string refused;
    for (const cudnnBackendHeurMode_t mode : {CUDNN_HEUR_MODE_A, CUDNN_HEUR_MODE_FALLBACK}) {
      try {
        for (Descriptor& d : heuristic_configs(ctx, op_graph, mode)) configs.push_back(std::move(d));
      } catch (const Unavailable& u) {
        refused = u.reason;
      }
    }
    if (configs.empty() && !refused.empty()) throw Unavailable{refused};
    // Engines whose one accepted configuration is a candidate; run-time-compiling engines
    // wait here in case no other engine is accepted.
    std::set<int64_t> engines_taken;
    std::vector<std::pair<Descriptor*, EngineInfo>> compiling;
    const bool tensor_cores = storage.dtype == DType::bf16 || ctx.allow_tf32();
    // Finalizes a plan for the configuration; false when the shape or the workspace limit
    // rules it out ("plan" faults and refusals only skip this configuration).
    auto take = [&](Descriptor& config, const EngineInfo& info) {
      GraphConv::Candidate candidate;
      try {
        candidate.plan.set(ctx, "plan", CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG, CUDNN_TYPE_BACKEND_DESCRIPTOR,
                           config.address());
        candidate.plan.set(ctx, "plan", CUDNN_ATTR_EXECUTION_PLAN_HANDLE, CUDNN_TYPE_HANDLE, &handle);
        candidate.plan.finalize(ctx, "plan");
      } catch (const Unavailable&) {
        return false;
      }
      int64_t count = 0;
      if (cudnnBackendGetAttribute(candidate.plan.get(), CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE, CUDNN_TYPE_INT64,
                                   1, &count, &candidate.workspace) != CUDNN_STATUS_SUCCESS ||
          candidate.workspace < 0 || static_cast<size_t>(candidate.workspace) > ctx.workspace_limit())
        return false;
      candidate.engine = info.index;
      candidate.deterministic = !info.has(CUDNN_NUMERICAL_NOTE_NONDETERMINISTIC);
      conv->candidates.push_back(std::move(candidate));
      parts.push_back(std::move(config));
      if (info.index >= 0) engines_taken.insert(info.index);
      return true;
    };
    for (Descriptor& config : configs) {
      if (conv->candidates.size() == kMaxCandidates) break;
      EngineInfo info;
      if (!engine_info(config, info) || (info.index >= 0 && engines_taken.count(info.index))) continue;
      if (ctx.deterministic() && info.has(CUDNN_NUMERICAL_NOTE_NONDETERMINISTIC)) continue;
      // fp32 inputs: tensor cores mean TF32; a down-conversion would mean fp16 inputs.
      if (!tensor_cores && info.has(CUDNN_NUMERICAL_NOTE_TENSOR_CORE)) continue;
      if (info.has(CUDNN_NUMERICAL_NOTE_DOWN_CONVERT_INPUTS) ||
          info.has(CUDNN_NUMERICAL_NOTE_REDUCED_PRECISION_REDUCTION))
        continue;
      if (info.compiles_at_run_time) {
        compiling.emplace_back(&config, info);
        continue;
      }
      take(config, info);
    }
    for (auto& [config, info] : compiling) {
      if (!conv->candidates.empty()) break;  // only when nothing precompiled is offered
      if (info.index < 0 || !engines_taken.count(info.index)) take(*config, info);
    }
    parts.push_back(std::move(op_graph));
    if (conv->candidates.empty()) {
      unavailable = fmt::format("cuDNN offers no engine for the settings ({} configurations proposed)",
                                configs.size());
      return nullptr;
    }
    return conv;
  } catch (const Unavailable& u) {
    unavailable = u.reason;
    return nullptr;
  }
}

void GraphConvDeleter::operator()(GraphConv* conv) const { delete conv; }

std::vector<ConvCandidate> graph_candidates(const GraphConv& conv) {
  std::vector<ConvCandidate> out;
  for (size_t i = 0; i < conv.candidates.size(); ++i) {
    const GraphConv::Candidate& c = conv.candidates[i];
    ConvCandidate candidate;
    candidate.route = ConvRoute::graph_api;
    candidate.index = i;
    candidate.workspace = static_cast<size_t>(c.workspace);
    candidate.id = c.engine;
    candidate.deterministic = c.deterministic;
    candidate.name = fmt::format("engine {}{}", c.engine, c.deterministic ? "" : ", non-deterministic");
    out.push_back(std::move(candidate));
  }
  return out;
}

cudnnStatus_t run_graph_candidate(CudaContext& ctx, GraphConv& conv, size_t index, const void* a, const void* b,
                                  void* out, void* workspace) {
  CONVLAB_CHECK(index < conv.candidates.size(), "graph-API convolution: no candidate {}", index);
  if (ctx.graph_fault() == "execute") return CUDNN_STATUS_NOT_SUPPORTED;
  void* x = nullptr;
  void* w = nullptr;
  void* y = nullptr;
  switch (conv.direction) {
    case ConvDirection::forward: x = const_cast<void*>(a), w = const_cast<void*>(b), y = out; break;
    case ConvDirection::backward_data: w = const_cast<void*>(a), y = const_cast<void*>(b), x = out; break;
    case ConvDirection::backward_filter: x = const_cast<void*>(a), y = const_cast<void*>(b), w = out; break;
  }
  const std::array<void*, 4> pointers{x, w, y, workspace};
  if (!conv.pack || pointers != conv.pack_pointers) {
    conv.pack.reset();
    const std::array<int64_t, 3> uids{kX, kW, kY};
    Descriptor pack(CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR);
    CUDNN_CHECK(cudnnBackendSetAttribute(pack.get(), CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS, CUDNN_TYPE_INT64, 3,
                                         uids.data()));
    CUDNN_CHECK(cudnnBackendSetAttribute(pack.get(), CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS, CUDNN_TYPE_VOID_PTR, 3,
                                         pointers.data()));
    CUDNN_CHECK(cudnnBackendSetAttribute(pack.get(), CUDNN_ATTR_VARIANT_PACK_WORKSPACE, CUDNN_TYPE_VOID_PTR, 1,
                                         &pointers[3]));
    CUDNN_CHECK(cudnnBackendFinalize(pack.get()));
    conv.pack = std::move(pack);
    conv.pack_pointers = pointers;
  }
  return cudnnBackendExecute(ctx.cudnn(), conv.candidates[index].plan.get(), conv.pack->get());
}

}  // namespace convlab::backend_cuda
