#include "framework/io/config.h"

#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>
#include <string_view>

#include "framework/core/error.h"

namespace convlab {
namespace {

// Where a value came from: "file:line: section.key".
struct Where {
  const std::string& source;
  std::string key;
  int line;  // 1-based; 0 when unknown
};

std::string location(const std::string& source, int line) {
  return line > 0 ? fmt::format("{}:{}", source, line) : source;
}

int line_of(const YAML::Node& node) {
  const YAML::Mark mark = node.Mark();
  return mark.is_null() ? 0 : mark.line + 1;
}

// A value from the file as it appears in messages: long values are cut, so that a 100 MB
// scalar does not end up whole in the error.
std::string shown(const std::string& text) { return message_excerpt(text); }

[[noreturn]] void fail(const Where& where, const std::string& message) {
  CONVLAB_FAIL("{}: {}: {}", location(where.source, where.line), where.key, message);
}

std::string describe_node(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Sequence: return "a list";
    case YAML::NodeType::Map: return "a mapping";
    case YAML::NodeType::Scalar:
      // yaml-cpp tags quoted scalars "!": they are strings, never numbers or booleans.
      if (node.Tag() == "!") return fmt::format("the quoted string \"{}\"", shown(node.Scalar()));
      return fmt::format("'{}'", shown(node.Scalar()));
    default: return "no value";
  }
}

const std::string& plain_scalar(const YAML::Node& node, const Where& where, std::string_view expected) {
  if (!node.IsScalar() || node.Tag() == "!")
    fail(where, fmt::format("expected {}, got {}", expected, describe_node(node)));
  return node.Scalar();
}

// One codec per value type: how it reads from YAML, how it is written back, and its name in
// the key table.
template <class T>
struct Codec;

template <>
struct Codec<int> {
  static std::string type() { return "int"; }
  static int read(const YAML::Node& node, const Where& where) {
    const std::string& text = plain_scalar(node, where, "an integer");
    int value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec == std::errc::result_out_of_range) fail(where, fmt::format("integer '{}' is out of range", shown(text)));
    if (ec != std::errc() || end != text.data() + text.size())
      fail(where, fmt::format("expected an integer, got '{}'", shown(text)));
    return value;
  }
  static std::string write(int value) { return std::to_string(value); }
};

template <>
struct Codec<double> {
  static std::string type() { return "float"; }
  static double read(const YAML::Node& node, const Where& where) {
    const std::string& text = plain_scalar(node, where, "a number");
    double value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size())
      fail(where, fmt::format("expected a number, got '{}'", shown(text)));
    if (!std::isfinite(value)) fail(where, fmt::format("expected a finite number, got '{}'", shown(text)));
    return value;
  }
  // Shortest text that reads back to the same double, always with a decimal point so the
  // YAML shows a float.
  static std::string write(double value) {
    std::string text = fmt::format("{}", value);
    if (text.find_first_of(".en") == std::string::npos) text += ".0";
    return text;
  }
};

template <>
struct Codec<bool> {
  static std::string type() { return "bool"; }
  static bool read(const YAML::Node& node, const Where& where) {
    const std::string& text = plain_scalar(node, where, "true or false");
    // YAML 1.2 spellings, plus YAML 1.1's yes/no/on/off that PyYAML-written files may hold.
    static const std::set<std::string> yes = {"true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON"};
    static const std::set<std::string> no = {"false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF"};
    if (yes.count(text)) return true;
    if (no.count(text)) return false;
    fail(where, fmt::format("expected true or false, got '{}'", shown(text)));
  }
  static std::string write(bool value) { return value ? "true" : "false"; }
};

template <>
struct Codec<std::string> {
  static std::string type() { return "string"; }
  static std::string read(const YAML::Node& node, const Where& where) {
    if (!node.IsScalar()) fail(where, fmt::format("expected a string, got {}", describe_node(node)));
    return node.Scalar();
  }
  // Plain when the text cannot be mistaken for another YAML type, double-quoted otherwise.
  static std::string write(const std::string& value) {
    static const std::set<std::string> reserved = {"null", "true", "false", "yes", "no", "on", "off", "y", "n"};
    bool plain = !value.empty() && std::isalpha(static_cast<unsigned char>(value[0]));
    for (char c : value)
      plain = plain && (std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.' || c == '/');
    std::string lower;
    for (char c : value) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (plain && !reserved.count(lower)) return value;
    std::string quoted = "\"";
    for (char c : value) {
      if (c == '"' || c == '\\') {
        quoted += '\\';
        quoted += c;
      } else if (static_cast<unsigned char>(c) < 0x20) {
        quoted += fmt::format("\\x{:02x}", static_cast<unsigned char>(c));
      } else {
        quoted += c;
      }
    }
    return quoted + "\"";
  }
};

template <>
struct Codec<WeightDecayMode> {
  static std::string type() { return "l2|decoupled"; }
  static WeightDecayMode read(const YAML::Node& node, const Where& where) {
    const std::string text = Codec<std::string>::read(node, where);
    if (text == "l2") return WeightDecayMode::l2;
    if (text == "decoupled") return WeightDecayMode::decoupled;
    fail(where, fmt::format("expected \"l2\" or \"decoupled\", got '{}'", shown(text)));
  }
  static std::string write(WeightDecayMode mode) { return to_string(mode); }
};

template <>
struct Codec<Precision> {
  static std::string type() { return "fp32|tf32|bf16"; }
  static Precision read(const YAML::Node& node, const Where& where) {
    const std::string text = Codec<std::string>::read(node, where);
    for (const Precision p : {Precision::fp32, Precision::tf32, Precision::bf16})
      if (text == to_string(p)) return p;
    fail(where, fmt::format("expected fp32, tf32 or bf16, got '{}'", text));
  }
  static std::string write(Precision p) { return to_string(p); }
};

template <>
struct Codec<ActivationLayout> {
  static std::string type() { return "auto|nchw|nhwc"; }
  static ActivationLayout read(const YAML::Node& node, const Where& where) {
    const std::string text = Codec<std::string>::read(node, where);
    for (const ActivationLayout l : {ActivationLayout::auto_, ActivationLayout::nchw, ActivationLayout::nhwc})
      if (text == to_string(l)) return l;
    fail(where, fmt::format("expected auto, nchw or nhwc, got '{}'", text));
  }
  static std::string write(ActivationLayout l) { return to_string(l); }
};

template <class E>
struct Codec<std::vector<E>> {
  static std::string type() { return "list of " + Codec<E>::type(); }
  static std::vector<E> read(const YAML::Node& node, const Where& where) {
    if (!node.IsSequence()) fail(where, fmt::format("expected a list, got {}", describe_node(node)));
    std::vector<E> values;
    for (size_t i = 0; i < node.size(); ++i) {
      const Where item{where.source, fmt::format("{}[{}]", where.key, i), line_of(node[i]) ? line_of(node[i]) : where.line};
      values.push_back(Codec<E>::read(node[i], item));
    }
    return values;
  }
  static std::string write(const std::vector<E>& values) {
    std::string text = "[";
    for (size_t i = 0; i < values.size(); ++i) text += (i ? ", " : "") + Codec<E>::write(values[i]);
    return text + "]";
  }
};

// One row of the schema. The table below drives parsing, the --help table and to_yaml, so
// the three cannot drift apart.
struct KeySpec {
  std::string section;
  std::string key;
  std::string type;
  std::string meaning;
  bool extension;
  std::function<void(TrainConfig&, const YAML::Node&, const Where&)> read;
  std::function<std::string(const TrainConfig&)> write;
};

template <class S, class T>
KeySpec spec(const char* section, S TrainConfig::*part, const char* key, T S::*field, const char* meaning,
             bool extension = false) {
  return KeySpec{section,
                 key,
                 Codec<T>::type(),
                 meaning,
                 extension,
                 [part, field](TrainConfig& config, const YAML::Node& node, const Where& where) {
                   (config.*part).*field = Codec<T>::read(node, where);
                 },
                 [part, field](const TrainConfig& config) { return Codec<T>::write((config.*part).*field); }};
}

const std::vector<KeySpec>& key_table() {
  using C = TrainConfig;
  using T = TrainSection;
  using L = LogSection;
  using M = ModelSection;
  static const std::vector<KeySpec> table = {
      spec("train_config", &C::train, "seed_id", &T::seed_id, "random seed: initial weights, data order, augmentation, dropout"),
      spec("train_config", &C::train, "max_norm", &T::max_norm, "clip the gradient to this global L2 norm (0: no clipping)"),
      spec("train_config", &C::train, "lrate", &T::lrate, "initial learning rate"),
      spec("train_config", &C::train, "momentum", &T::momentum, "SGD momentum"),
      spec("train_config", &C::train, "nesterov", &T::nesterov, "Nesterov momentum"),
      spec("train_config", &C::train, "w_decay", &T::w_decay, "weight decay coefficient (see weight_decay_mode)"),
      spec("train_config", &C::train, "use_augment", &T::use_augment, "random crop (zero padding 4) and horizontal flip"),
      spec("train_config", &C::train, "use_cutout", &T::use_cutout, "cutout: one 16x16 square per training image"),
      spec("train_config", &C::train, "batch_size", &T::batch_size, "training batch size"),
      spec("train_config", &C::train, "train_data_size", &T::train_data_size,
           "training images per epoch; updates per epoch = ceil(train_data_size / batch_size)"),
      spec("train_config", &C::train, "lrate_decay", &T::lrate_decay, "factor applied to the learning rate at each decay epoch"),
      spec("train_config", &C::train, "num_epochs", &T::num_epochs, "epochs to train"),
      spec("train_config", &C::train, "decay_after_epochs", &T::decay_after_epochs,
           "epochs after which the learning rate is multiplied by lrate_decay"),
      spec("train_config", &C::train, "weight_decay_mode", &T::weight_decay_mode,
           "l2: w_decay * sum(p^2) added to the loss (the reference); decoupled: decay applied in the update step",
           true),
      spec("train_config", &C::train, "deterministic", &T::deterministic,
           "CUDA: only deterministic cuDNN algorithms, so a run repeats bit for bit with the same algorithms "
           "(--resume pins its run's conv_algorithms.txt); false also admits faster non-deterministic ones "
           "(--nondeterministic)",
           true),
      spec("train_config", &C::train, "precision", &T::precision,
           "fp32 (strict), tf32 (fp32 data, TF32 tensor cores) or bf16 (bf16 activations and weight copies, fp32 "
           "master weights, statistics and loss)",
           true),
      spec("train_config", &C::train, "memory_format", &T::memory_format,
           "activations in nchw or nhwc (channels_last); auto = nhwc for bf16 on CUDA, else nchw", true),
      spec("log_config", &C::log, "experiment_dir", &L::experiment_dir, "folder for this run's checkpoints, metrics and plots"),
      spec("log_config", &C::log, "time_to_track", &L::time_to_track, "time counters stored with each metrics row: num_updates, num_epochs"),
      spec("log_config", &C::log, "what_to_track", &L::what_to_track,
           "metrics stored each epoch: train_loss, train_acc, test_loss, test_acc, lr, seconds, images_per_second"),
      spec("log_config", &C::log, "what_to_print", &L::what_to_print, "metrics printed to the console (same names)"),
      spec("log_config", &C::log, "model_type", &L::model_type, "checkpoint flavour tag (the reference writes jax); recorded only"),
      spec("log_config", &C::log, "print_every_k_updates", &L::print_every_k_updates, "print training progress every k updates"),
      spec("log_config", &C::log, "ckpt_time_to_track", &L::ckpt_time_to_track, "unit of save_every_k_ckpt: num_epochs or num_updates"),
      spec("log_config", &C::log, "save_every_k_ckpt", &L::save_every_k_ckpt,
           "keep a checkpoint every k units, besides the one at initialisation and the final one"),
      spec("log_config", &C::log, "verbose", &L::verbose, "print progress to the console"),
      spec("model_config", &C::model, "num_classes", &M::num_classes, "number of classes (outputs of the last layer)"),
      spec("model_config", &C::model, "dropout_input", &M::dropout_input, "All-CNN-C: dropout probability on the input image"),
      spec("model_config", &C::model, "dropout_hidden", &M::dropout_hidden, "All-CNN-C: dropout probability after the stride-2 blocks 1b and 2b"),
      spec("model_config", &C::model, "depth", &M::depth, "All-CNN-C depth n: blocks 1a and 2a hold 3n-1 convs, block 3a n-1"),
      spec("model_config", &C::model, "name", &M::name, "model architecture: all_cnn_c or resnet20 (models/registry.cpp)", true),
      spec("model_config", &C::model, "batchnorm", &M::batchnorm,
           "All-CNN-C: BatchNorm after every conv; false = the original paper's conv bias without BN", true),
  };
  return table;
}

// The range of every numeric key (kept beside the key table; a test checks that no int or
// float key lacks one).
const std::map<std::string, KeyRange>& key_ranges() {
  constexpr bool open = true;
  static const std::map<std::string, KeyRange> ranges = {
      {"train_config.seed_id", {0, 2147483647}},
      {"train_config.max_norm", {0, 1e6}},
      {"train_config.lrate", {0, 1e6, open}},
      {"train_config.momentum", {0, 1, false, open}},
      {"train_config.w_decay", {0, 1}},
      {"train_config.batch_size", {1, 65536}},
      {"train_config.train_data_size", {1, 100'000'000}},
      {"train_config.lrate_decay", {0, 10, open}},
      {"train_config.num_epochs", {1, 100'000}},
      {"train_config.decay_after_epochs", {1, 100'000}},
      {"log_config.print_every_k_updates", {1, 100'000'000}},
      {"log_config.save_every_k_ckpt", {1, 100'000}},
      {"model_config.num_classes", {2, 256}},  // labels are one byte
      {"model_config.dropout_input", {0, 1, false, open}},
      {"model_config.dropout_hidden", {0, 1, false, open}},
      {"model_config.depth", {1, 64}},
  };
  static const bool complete = [] {
    for (const KeySpec& row : key_table())
      if ((row.type == "int" || row.type == "float" || row.type == "list of int") &&
          !ranges.count(row.section + "." + row.key))
        CONVLAB_FAIL("config key {}.{} ({}) has no range in key_ranges()", row.section, row.key, row.type);
    return true;
  }();
  (void)complete;
  return ranges;
}

const std::vector<std::string>& section_names() {
  static const std::vector<std::string> names = {"train_config", "log_config", "model_config"};
  return names;
}

std::string join(const std::vector<std::string>& items) {
  std::string text;
  for (size_t i = 0; i < items.size(); ++i) text += (i ? ", " : "") + items[i];
  return text;
}

std::vector<std::string> keys_of(const std::string& section) {
  std::vector<std::string> keys;
  for (const KeySpec& row : key_table())
    if (row.section == section) keys.push_back(row.key);
  return keys;
}

const KeySpec* find_key(const std::string& section, const std::string& key) {
  for (const KeySpec& row : key_table())
    if (row.section == section && row.key == key) return &row;
  return nullptr;
}

std::string find_key_type(const std::string& full_key) {
  for (const KeySpec& row : key_table())
    if (row.section + "." + row.key == full_key) return row.type;
  return "";
}

// Value checks; lines maps "section.key" to where the key was read, for messages.
void check_values(const TrainConfig& config, const std::string& source, const std::map<std::string, int>& lines) {
  auto require = [&](bool ok, const std::string& key, const std::string& message) {
    if (ok) return;
    const auto it = lines.find(key);
    CONVLAB_FAIL("{}: {}: {}", location(source, it == lines.end() ? 0 : it->second), key, message);
  };
  auto names_in = [&](const std::vector<std::string>& values, const std::set<std::string>& allowed,
                      const std::string& key) {
    for (const std::string& value : values)
      require(allowed.count(value) > 0, key,
              fmt::format("unknown name '{}' (known: {})", shown(value),
                          join(std::vector<std::string>(allowed.begin(), allowed.end()))));
  };

  auto ranged = [&](double value, const std::string& key) {
    const KeyRange& range = config_key_range(key);
    require(range.contains(value), key,
            fmt::format("must be in {}, got {}", range.text(find_key_type(key) != "float"), value));
  };

  const TrainSection& t = config.train;
  ranged(t.seed_id, "train_config.seed_id");
  ranged(t.max_norm, "train_config.max_norm");
  ranged(t.lrate, "train_config.lrate");
  ranged(t.momentum, "train_config.momentum");
  ranged(t.w_decay, "train_config.w_decay");
  ranged(t.batch_size, "train_config.batch_size");
  ranged(t.train_data_size, "train_config.train_data_size");
  ranged(t.lrate_decay, "train_config.lrate_decay");
  ranged(t.num_epochs, "train_config.num_epochs");
  for (size_t i = 0; i < t.decay_after_epochs.size(); ++i) {
    const int epoch = t.decay_after_epochs[i];
    ranged(epoch, "train_config.decay_after_epochs");
    require(i == 0 || epoch > t.decay_after_epochs[i - 1], "train_config.decay_after_epochs",
            fmt::format("must be strictly increasing, got {}", Codec<std::vector<int>>::write(t.decay_after_epochs)));
  }

  const LogSection& l = config.log;
  const std::set<std::string> metrics = {"train_loss", "train_acc", "test_loss", "test_acc",
                                         "lr", "seconds", "images_per_second"};
  const std::set<std::string> times = {"num_updates", "num_epochs"};
  require(!l.experiment_dir.empty(), "log_config.experiment_dir", "must not be empty");
  names_in(l.time_to_track, times, "log_config.time_to_track");
  names_in(l.what_to_track, metrics, "log_config.what_to_track");
  names_in(l.what_to_print, metrics, "log_config.what_to_print");
  ranged(l.print_every_k_updates, "log_config.print_every_k_updates");
  require(times.count(l.ckpt_time_to_track) > 0, "log_config.ckpt_time_to_track",
          fmt::format("must be num_epochs or num_updates, got '{}'", shown(l.ckpt_time_to_track)));
  ranged(l.save_every_k_ckpt, "log_config.save_every_k_ckpt");

  const ModelSection& m = config.model;
  ranged(m.num_classes, "model_config.num_classes");
  ranged(m.dropout_input, "model_config.dropout_input");
  ranged(m.dropout_hidden, "model_config.dropout_hidden");
  ranged(m.depth, "model_config.depth");
  require(!m.name.empty(), "model_config.name", "must not be empty");
}

}  // namespace

std::string to_string(Precision precision) {
  switch (precision) {
    case Precision::fp32: return "fp32";
    case Precision::tf32: return "tf32";
    case Precision::bf16: return "bf16";
  }
  CONVLAB_FAIL("unknown Precision {}", static_cast<int>(precision));
}

std::string to_string(ActivationLayout layout) {
  switch (layout) {
    case ActivationLayout::auto_: return "auto";
    case ActivationLayout::nchw: return "nchw";
    case ActivationLayout::nhwc: return "nhwc";
  }
  CONVLAB_FAIL("unknown ActivationLayout {}", static_cast<int>(layout));
}

Precision parse_precision(const std::string& text) {
  for (const Precision p : {Precision::fp32, Precision::tf32, Precision::bf16})
    if (text == to_string(p)) return p;
  CONVLAB_FAIL("--precision is fp32, tf32 or bf16, not '{}'", text);
}

ActivationLayout parse_activation_layout(const std::string& text) {
  for (const ActivationLayout l : {ActivationLayout::auto_, ActivationLayout::nchw, ActivationLayout::nhwc})
    if (text == to_string(l)) return l;
  CONVLAB_FAIL("--memory-format is auto, nchw or nhwc, not '{}'", text);
}

std::string to_string(WeightDecayMode mode) {
  switch (mode) {
    case WeightDecayMode::l2: return "l2";
    case WeightDecayMode::decoupled: return "decoupled";
  }
  CONVLAB_FAIL("unknown WeightDecayMode {}", static_cast<int>(mode));
}

// The line (from 1) of a marker that starts a second YAML document, or 0. yaml-cpp reads the
// first document only, and parsing the rest to count them would let a huge or hostile tail
// cost what the first document bounds; a document marker is textual: "---" (or "..." before
// more content) at the start of a line, alone or followed by white space.
int second_document_line(const std::string& text) {
  bool content = false;  // the first document has begun
  int line_number = 0;
  for (size_t begin = 0; begin < text.size();) {
    const size_t end = std::min(text.find('\n', begin), text.size());
    const std::string_view line(text.data() + begin, end - begin);
    ++line_number;
    begin = end + 1;
    auto marker = [&](std::string_view m) {
      return line.substr(0, 3) == m && (line.size() == 3 || line[3] == ' ' || line[3] == '\t' || line[3] == '\r');
    };
    if (marker("---")) {
      if (content) return line_number;
      content = line.find_first_not_of(" \t\r", 3) != std::string_view::npos && line[line.find_first_not_of(" \t\r", 3)] != '#';
      continue;
    }
    if (marker("...")) {
      // The first document ends; any content after this line is another document.
      for (size_t rest = begin; rest < text.size();) {
        const size_t stop = std::min(text.find('\n', rest), text.size());
        const std::string_view next(text.data() + rest, stop - rest);
        ++line_number;
        rest = stop + 1;
        const size_t first = next.find_first_not_of(" \t\r");
        if (first != std::string_view::npos && next[first] != '#') return line_number;
      }
      return 0;
    }
    const size_t first = line.find_first_not_of(" \t\r");
    if (first != std::string_view::npos && line[first] != '#' && line[first] != '%') content = true;
  }
  return 0;
}

TrainConfig parse_config(const std::string& yaml_text, const std::string& source_name) {
  if (const int line = second_document_line(yaml_text); line > 0)
    CONVLAB_FAIL("{}: a second YAML document begins here; a config is one document (remove the '---' line and "
                 "merge the two, or keep one)",
                 location(source_name, line));
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::DeepRecursion& e) {
    // yaml-cpp's message for this is "bad file".
    CONVLAB_FAIL("{}: malformed YAML: nested {} levels deep, where yaml-cpp stops (a config needs 3: section, key, "
                 "list)",
                 location(source_name, e.mark.is_null() ? 0 : e.mark.line + 1), e.depth());
  } catch (const YAML::Exception& e) {
    if (e.mark.is_null()) CONVLAB_FAIL("{}: malformed YAML: {}", source_name, e.msg);
    CONVLAB_FAIL("{}:{}:{}: malformed YAML: {}", source_name, e.mark.line + 1, e.mark.column + 1, e.msg);
  }

  TrainConfig config;
  std::map<std::string, int> lines;
  if (root.IsNull())  // an empty file would silently train the 350-epoch defaults
    CONVLAB_FAIL("{}: the config is empty (none of the sections {}); write the keys to change, or 'train_config: {{}}' "
                 "for every default",
                 source_name, join(section_names()));
  if (!root.IsMap())
    CONVLAB_FAIL("{}: expected a mapping with the sections {}, got {}", location(source_name, line_of(root)),
                 join(section_names()), describe_node(root));

  std::set<std::string> seen_sections;
  for (const auto& section : root) {
    const int section_line = line_of(section.first);
    if (!section.first.IsScalar())
      CONVLAB_FAIL("{}: a section name must be a string", location(source_name, section_line));
    const std::string name = section.first.Scalar();
    const auto& known = section_names();
    if (std::find(known.begin(), known.end(), name) == known.end())
      CONVLAB_FAIL("{}: unknown section '{}' (known: {})", location(source_name, section_line), shown(name),
                   join(known));
    if (!seen_sections.insert(name).second)
      CONVLAB_FAIL("{}: section '{}' appears twice", location(source_name, section_line), name);
    if (section.second.IsNull()) continue;  // "train_config:" with nothing under it
    if (!section.second.IsMap())
      CONVLAB_FAIL("{}: {}: expected a mapping of keys, got {}", location(source_name, section_line), name,
                   describe_node(section.second));

    std::set<std::string> seen_keys;
    for (const auto& entry : section.second) {
      const int line = line_of(entry.first);
      if (!entry.first.IsScalar()) CONVLAB_FAIL("{}: {}: a key must be a string", location(source_name, line), name);
      const std::string key = entry.first.Scalar();
      const std::string full_key = name + "." + key;
      const KeySpec* row = find_key(name, key);
      if (row == nullptr)
        CONVLAB_FAIL("{}: unknown key '{}' in {} (known: {})", location(source_name, line), shown(key), name,
                     join(keys_of(name)));
      if (!seen_keys.insert(key).second)
        CONVLAB_FAIL("{}: {}: key appears twice", location(source_name, line), full_key);
      row->read(config, entry.second, Where{source_name, full_key, line});
      lines[full_key] = line;
    }
  }
  check_values(config, source_name, lines);
  return config;
}

TrainConfig load_config(const std::filesystem::path& file) {
  std::error_code ec;
  CONVLAB_CHECK(std::filesystem::is_regular_file(file, ec), "config file {} does not exist or is not a file",
                file.string());
  std::ifstream in(file, std::ios::binary);
  CONVLAB_CHECK(in.good(), "cannot open config file {}", file.string());
  std::ostringstream text;
  text << in.rdbuf();
  CONVLAB_CHECK(!in.bad(), "error reading config file {}", file.string());
  return parse_config(text.str(), file.string());
}

void validate_config(const TrainConfig& config, const std::string& source_name) {
  check_values(config, source_name, {});
}

std::string describe_config_keys() {
  const TrainConfig defaults;
  auto range_of = [](const KeySpec& row) -> std::string {
    const auto it = key_ranges().find(row.section + "." + row.key);
    return it == key_ranges().end() ? "" : it->second.text(row.type != "float");
  };
  size_t key_width = 3, type_width = 4, default_width = 7, range_width = 5;
  for (const KeySpec& row : key_table()) {
    key_width = std::max(key_width, row.key.size());
    type_width = std::max(type_width, row.type.size());
    default_width = std::max(default_width, row.write(defaults).size());
    range_width = std::max(range_width, range_of(row).size());
  }
  std::string text = fmt::format("  {:<{}}  {:<{}}  {:<{}}  {:<{}}  {}\n", "key", key_width, "type", type_width,
                                 "default", default_width, "range", range_width, "meaning");
  for (const std::string& section : section_names()) {
    text += section + ":\n";
    for (const KeySpec& row : key_table()) {
      if (row.section != section) continue;
      text += fmt::format("  {:<{}}  {:<{}}  {:<{}}  {:<{}}  {}{}\n", row.key, key_width, row.type, type_width,
                          row.write(defaults), default_width, range_of(row), range_width,
                          row.extension ? "[convlab extension] " : "", row.meaning);
    }
  }
  return text;
}

bool KeyRange::contains(double value) const {
  return (min_open ? value > min : value >= min) && (max_open ? value < max : value <= max);
}

std::string KeyRange::text(bool integer) const {
  if (integer) return fmt::format("{}..{}", static_cast<int64_t>(min), static_cast<int64_t>(max));
  return fmt::format("{}{}, {}{}", min_open ? "(" : "[", min, max, max_open ? ")" : "]");
}

const KeyRange& config_key_range(const std::string& full_key) {
  const auto it = key_ranges().find(full_key);
  if (it == key_ranges().end()) CONVLAB_FAIL("config key '{}' has no numeric range", full_key);
  return it->second;
}

std::vector<std::string> config_warnings(const TrainConfig& config) {
  std::vector<std::string> warnings;
  std::vector<std::string> late;
  for (int epoch : config.train.decay_after_epochs)
    if (epoch >= config.train.num_epochs) late.push_back(std::to_string(epoch));
  if (!late.empty())
    warnings.push_back(fmt::format("train_config.decay_after_epochs: {} {} not before the last epoch (num_epochs {}), "
                                   "so the learning rate never decays there",
                                   late.size() == 1 ? "epoch" : "epochs", join(late) + (late.size() == 1 ? " is" : " are"),
                                   config.train.num_epochs));
  return warnings;
}

std::string to_yaml(const TrainConfig& config) {
  std::string text;
  for (const std::string& section : section_names()) {
    text += section + ":\n";
    for (const KeySpec& row : key_table())
      if (row.section == section) text += fmt::format("  {}: {}\n", row.key, row.write(config));
  }
  return text;
}

std::vector<ConfigDifference> config_differences(const TrainConfig& a, const TrainConfig& b) {
  std::vector<ConfigDifference> out;
  for (const KeySpec& row : key_table()) {
    std::string first = row.write(a), second = row.write(b);
    if (first != second) out.push_back({row.section + "." + row.key, std::move(first), std::move(second)});
  }
  return out;
}

}  // namespace convlab
