#include "framework/backend/cuda/conv_report.h"

#include <sstream>

#include "framework/backend/cuda/cuda_context.h"
#include "framework/backend/cuda_device.h"
#include "framework/io/cli_numbers.h"

namespace convlab::backend_cuda {

std::vector<ConvChoice> conv_choices(CudaContext& ctx) {
  std::vector<ConvChoice> out;
  for (const auto& [key, plan] : ctx.conv_plans()) {
    for (const ConvDirection d : {ConvDirection::forward, ConvDirection::backward_data, ConvDirection::backward_filter}) {
      const ConvDirectionState& s = plan->directions[static_cast<size_t>(d)];
      if (!s.last_route || s.chosen >= s.candidates.size()) continue;  // this direction never ran
      const ConvCandidate& c = s.candidates[s.chosen];
      ConvChoice choice;
      choice.geometry = plan->geometry.str();
      choice.direction = d;
      choice.route = route_name(*s.last_route);
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
      if (!s.last_route || s.chosen >= s.candidates.size()) continue;
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
    // A number out of place: parse_int_flag's error, named by the file, the line and the field.
    auto number_of = [&](const std::string& field, const char* name, int64_t min, int64_t max) {
      return parse_int_flag(fmt::format("{}, line {}: {} (in a record of convolution algorithms)", source, number,
                                        name),
                            field, min, max);
    };
    backend_cuda::ConvKey key{};
    std::istringstream key_fields(value_of(key_text, "key"));
    size_t count = 0;
    for (std::string item; std::getline(key_fields, item, ',');) {
      if (count == key.size()) bad("a key of 18 non-negative integers");
      key[count++] = number_of(item, "key", 0, INT64_MAX);
    }
    if (count != key.size()) bad("a key of 18 non-negative integers");
    const int64_t direction = number_of(value_of(direction_text, "direction"), "direction", 0, 2);
    const int64_t route = number_of(value_of(route_text, "route"), "route", 0, 2);
    const int64_t id = number_of(value_of(id_text, "id"), "id", -1, INT64_MAX);
    const int64_t math = number_of(value_of(math_text, "math"), "math", 0, 16);
    pins[{key, static_cast<int>(direction)}] =
        backend_cuda::PinnedConv{static_cast<backend_cuda::ConvRoute>(route), id, math};
  }
  auto& pinned = cuda_context(device).pinned_convs();
  for (auto& [key, pin] : pins) pinned[key] = pin;
}

}  // namespace convlab
