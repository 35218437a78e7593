#include "framework/backend/cuda/conv_report.h"

#include <cerrno>
#include <cstdlib>
#include <sstream>

#include "framework/backend/cuda/cuda_context.h"
#include "framework/backend/cuda_device.h"

namespace convlab::backend_cuda {

std::vector<ConvChoice> conv_choices(CudaContext& ctx) {
  std::vector<ConvChoice> out;
  for (const auto& [key, plan] : ctx.conv_plans()) {
    for (const ConvDirection d : {ConvDirection::forward, ConvDirection::backward_data, ConvDirection::backward_filter}) {
      const ConvDirectionState& s = plan->directions[static_cast<size_t>(d)];
      if (!s.ran || s.chosen >= s.candidates.size()) continue;  // this direction never ran
      const ConvCandidate& c = s.candidates[s.chosen];
      ConvChoice choice;
      choice.geometry = plan->geometry.str();
      choice.direction = d;
      choice.route = route_name(s.last_route);
      choice.pinned = s.pinned;
      choice.candidates = s.pinned ? 0 : s.candidates.size();
      const float ms = s.chosen < s.milliseconds.size() ? s.milliseconds[s.chosen] : 0.0f;
      choice.algorithm = s.pinned ? fmt::format("{} (pinned)", c.name) : fmt::format("{} ({:.3f} ms)", c.name, ms);
      choice.graph_unavailable = s.graph_unavailable;
      choice.storage = plan->storage;
      choice.tf32 = key[15] != 0;
      choice.deterministic_only = key[16] != 0;
      choice.asymmetric_route = static_cast<int>(key[17]);
      out.push_back(std::move(choice));
    }
  }
  return out;
}

}  // namespace convlab::backend_cuda

namespace convlab {

std::vector<std::string> describe_conv_choices(Device device) {
  if (!device.is_cuda()) return {};
  std::vector<std::string> lines;
  for (const backend_cuda::ConvChoice& c : backend_cuda::conv_choices(cuda_context(device))) {
    std::string line = fmt::format("{:<16} {}  [{}{}{}{}]  {}: {}", backend_cuda::direction_name(c.direction),
                                   c.geometry, c.storage.dtype == DType::bf16 ? "bf16" : c.tf32 ? "TF32" : "fp32",
                                   c.storage.channels_last ? ", NHWC" : "", c.deterministic_only ? ", deterministic" : "",
                                   c.asymmetric_route == 1   ? ", graph API only"
                                   : c.asymmetric_route == 2 ? ", padded copy only"
                                                             : "",
                                   c.route, c.algorithm);
    if (c.candidates > 1) line += fmt::format(", fastest of {}", c.candidates);
    // Said once per shape and direction: the fallback is visible, not silent.
    if (!c.graph_unavailable.empty()) line += fmt::format("; graph API unavailable: {}", c.graph_unavailable);
    lines.push_back(std::move(line));
  }
  return lines;
}

// One line per direction that ran:
//   conv key=<18 integers: ConvKey> direction=<0-2> route=<0-2> id=<algorithm or engine> math=<math type>
std::string conv_algorithm_record(Device device) {
  if (!device.is_cuda()) return {};
  CudaContext& ctx = cuda_context(device);
  // What ran here, and what was pinned but has not run (yet) in this process: a record
  // rewritten by a resumed run keeps every choice of the run.
  std::map<backend_cuda::PinnedConvKey, backend_cuda::PinnedConv> choices = ctx.pinned_convs();
  for (const auto& [key, plan] : ctx.conv_plans()) {
    for (size_t d = 0; d < plan->directions.size(); ++d) {
      const backend_cuda::ConvDirectionState& s = plan->directions[d];
      if (!s.ran || s.chosen >= s.candidates.size()) continue;
      const backend_cuda::ConvCandidate& c = s.candidates[s.chosen];
      choices[{key, static_cast<int>(d)}] = backend_cuda::PinnedConv{c.route, c.id, c.math};
    }
  }
  std::string text;
  for (const auto& [at, c] : choices) {
    text += "conv key=";
    for (size_t k = 0; k < at.first.size(); ++k) text += fmt::format("{}{}", k ? "," : "", at.first[k]);
    text += fmt::format(" direction={} route={} id={} math={}\n", at.second, static_cast<int>(c.route), c.id, c.math);
  }
  if (text.empty()) return {};
  return fmt::format("# convlab convolution algorithms: {}\n", cuda_versions()) + text;
}

namespace {

// A whole decimal integer in [lo, hi], or false.
bool parse_integer(const std::string& text, int64_t lo, int64_t hi, int64_t& value) {
  if (text.empty() || text.size() > 20) return false;
  char* end = nullptr;
  errno = 0;
  const long long v = std::strtoll(text.c_str(), &end, 10);
  if (errno != 0 || end != text.c_str() + text.size() || v < lo || v > hi) return false;
  value = v;
  return true;
}

}  // namespace

void pin_conv_algorithms(Device device, const std::string& record, const std::string& source) {
  if (!device.is_cuda()) return;
  std::map<backend_cuda::PinnedConvKey, backend_cuda::PinnedConv> pins;
  std::istringstream lines(record);
  std::string line;
  int number = 0;
  while (std::getline(lines, line)) {
    ++number;
    if (line.empty() || line[0] == '#') continue;
    auto bad = [&](const std::string& what) {
      CONVLAB_FAIL("{}, line {}: {} (in a record of convolution algorithms)",
                   source, number, what);
    };
    std::istringstream fields(line);
    std::string word, key_text, direction_text, route_text, id_text, math_text, extra;
    fields >> word >> key_text >> direction_text >> route_text >> id_text >> math_text;
    if (word != "conv" || fields.fail() || (fields >> extra)) bad("expected \"conv key=... direction=D route=R id=I math=M\"");
    auto value_of = [&](const std::string& field, const char* name) {
      const std::string prefix = std::string(name) + "=";
      if (field.compare(0, prefix.size(), prefix) != 0) bad(fmt::format("expected {}...", prefix));
      return field.substr(prefix.size());
    };
    backend_cuda::ConvKey key{};
    std::istringstream key_fields(value_of(key_text, "key"));
    size_t count = 0;
    for (std::string item; std::getline(key_fields, item, ',');) {
      if (count == key.size() || !parse_integer(item, 0, INT64_MAX, key[count])) bad("a key of 18 non-negative integers");
      ++count;
    }
    if (count != key.size()) bad("a key of 18 non-negative integers");
    int64_t direction = 0, route = 0, id = 0, math = 0;
    if (!parse_integer(value_of(direction_text, "direction"), 0, 2, direction)) bad("direction 0, 1 or 2");
    if (!parse_integer(value_of(route_text, "route"), 0, 2, route)) bad("route 0, 1 or 2");
    if (!parse_integer(value_of(id_text, "id"), -1, INT64_MAX, id)) bad("an integer id");
    if (!parse_integer(value_of(math_text, "math"), 0, 16, math)) bad("a math type from 0 to 16");
    pins[{key, static_cast<int>(direction)}] =
        backend_cuda::PinnedConv{static_cast<backend_cuda::ConvRoute>(route), id, math};
  }
  auto& pinned = cuda_context(device).pinned_convs();
  for (auto& [key, pin] : pins) pinned[key] = pin;
}

}  // namespace convlab
