#include "framework/io/config.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "framework/core/error.h"
#include "tests/support/source_paths.h"

namespace convlab {
namespace {

const std::filesystem::path kConfigDir = std::filesystem::path(test_support::source_dir()) / "configs";

// The message of the Error that parse_config throws for text, or "" when it parses.
std::string parse_error(const std::string& text, const std::string& source = "run.yaml") {
  try {
    parse_config(text, source);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

struct ReferenceRun {
  std::string name;
  int depth;
  double dropout_input, dropout_hidden;
  int batch_size;
  int seed_id;
};

TEST(Config, ReferenceConfigsHoldTheReferenceValues) {
  const ReferenceRun runs[] = {
      {"all_cnn_depth_1_v1_seed_0", 1, 0.2, 0.5, 128, 0}, {"all_cnn_depth_1_v1_seed_1", 1, 0.2, 0.5, 128, 1},
      {"all_cnn_depth_1_v2_seed_0", 1, 0.0, 0.0, 128, 0}, {"all_cnn_depth_1_v2_seed_1", 1, 0.0, 0.0, 128, 1},
      {"all_cnn_depth_2_v1", 2, 0.2, 0.5, 256, 1},        {"all_cnn_depth_2_v2", 2, 0.0, 0.0, 256, 1},
  };
  for (const ReferenceRun& run : runs) {
    SCOPED_TRACE(run.name);
    const TrainConfig c = load_config(kConfigDir / (run.name + ".yaml"));
    EXPECT_EQ(c.train.seed_id, run.seed_id);
    EXPECT_DOUBLE_EQ(c.train.max_norm, 2.0);
    EXPECT_DOUBLE_EQ(c.train.lrate, 0.1);
    EXPECT_DOUBLE_EQ(c.train.momentum, 0.9);
    EXPECT_TRUE(c.train.nesterov);
    EXPECT_DOUBLE_EQ(c.train.w_decay, 1e-4);
    EXPECT_TRUE(c.train.use_augment);
    EXPECT_TRUE(c.train.use_cutout);
    EXPECT_EQ(c.train.batch_size, run.batch_size);
    EXPECT_EQ(c.train.train_data_size, 50000);
    EXPECT_DOUBLE_EQ(c.train.lrate_decay, 0.1);
    EXPECT_EQ(c.train.num_epochs, 350);
    EXPECT_EQ(c.train.decay_after_epochs, (std::vector<int>{200, 250, 300}));
    EXPECT_EQ(c.train.weight_decay_mode, WeightDecayMode::l2);
    EXPECT_EQ(c.log.experiment_dir, "experiments/" + run.name);
    EXPECT_EQ(c.log.time_to_track, (std::vector<std::string>{"num_updates", "num_epochs"}));
    const std::vector<std::string> metrics = {"train_loss", "train_acc", "test_loss", "test_acc"};
    EXPECT_EQ(c.log.what_to_track, metrics);
    EXPECT_EQ(c.log.what_to_print, metrics);
    EXPECT_EQ(c.log.model_type, "jax");
    EXPECT_EQ(c.log.ckpt_time_to_track, "num_epochs");
    EXPECT_EQ(c.log.save_every_k_ckpt, 5);
    EXPECT_TRUE(c.log.verbose);
    EXPECT_EQ(c.model.num_classes, 10);
    EXPECT_DOUBLE_EQ(c.model.dropout_input, run.dropout_input);
    EXPECT_DOUBLE_EQ(c.model.dropout_hidden, run.dropout_hidden);
    EXPECT_EQ(c.model.depth, run.depth);
    EXPECT_EQ(c.model.name, "all_cnn_c");
    EXPECT_TRUE(c.model.batchnorm);
  }
}

TEST(Config, SmokeConfigIsShort) {
  const TrainConfig c = load_config(kConfigDir / "smoke.yaml");
  EXPECT_EQ(c.model.depth, 1);
  EXPECT_EQ(c.model.dropout_input, 0.0);
  EXPECT_EQ(c.model.dropout_hidden, 0.0);
  EXPECT_EQ(c.train.num_epochs, 2);
  EXPECT_EQ(c.train.decay_after_epochs, std::vector<int>{1});
  EXPECT_EQ(c.train.train_data_size, 2048);
  EXPECT_EQ(c.train.batch_size, 128);
  EXPECT_EQ(c.log.experiment_dir, "experiments/smoke");
}

TEST(Config, EveryFileInConfigsParsesAndRoundTrips) {
  int count = 0;
  for (const auto& entry : std::filesystem::directory_iterator(kConfigDir)) {
    if (entry.path().extension() != ".yaml") continue;
    SCOPED_TRACE(entry.path().string());
    const TrainConfig config = load_config(entry.path());
    EXPECT_EQ(parse_config(to_yaml(config), "resolved"), config);
    ++count;
  }
  EXPECT_GE(count, 7);
}

TEST(Config, MissingKeysTakeDefaults) {
  const TrainConfig defaults;
  EXPECT_EQ(parse_config("train_config: {}\n", "every_default.yaml"), defaults);
  EXPECT_EQ(parse_config("train_config:\nlog_config:\n", "empty_sections.yaml"), defaults);

  const TrainConfig c = parse_config("train_config:\n  batch_size: 64\nmodel_config:\n  depth: 2\n", "partial.yaml");
  EXPECT_EQ(c.train.batch_size, 64);
  EXPECT_EQ(c.model.depth, 2);
  EXPECT_EQ(c.train.num_epochs, 350);
  EXPECT_DOUBLE_EQ(c.train.lrate, 0.1);
  EXPECT_DOUBLE_EQ(c.train.momentum, 0.9);
  EXPECT_TRUE(c.train.nesterov);
  EXPECT_DOUBLE_EQ(c.train.w_decay, 1e-4);
  EXPECT_DOUBLE_EQ(c.train.max_norm, 2.0);
  EXPECT_EQ(c.train.train_data_size, 50000);
  EXPECT_EQ(c.train.decay_after_epochs, (std::vector<int>{200, 250, 300}));
  EXPECT_EQ(c.log.save_every_k_ckpt, 5);
  EXPECT_EQ(c.log.experiment_dir, "experiments/default");
  EXPECT_EQ(c.model.num_classes, 10);
  EXPECT_EQ(c.model.name, "all_cnn_c");
  EXPECT_TRUE(c.model.batchnorm);
}

TEST(Config, ASecondYamlDocumentIsRefusedNotIgnored) {
  try {
    parse_config("train_config:\n  seed_id: 1\n---\ntrain_config:\n  seed_id: 2\n", "two.yaml");
    FAIL() << "a second document was ignored";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("two.yaml:3"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("a second YAML document begins here"), std::string::npos) << e.what();
  }
  EXPECT_EQ(parse_config("---\ntrain_config:\n  seed_id: 1\n", "one.yaml").train.seed_id, 1);  // one, marked
  EXPECT_EQ(parse_config("%YAML 1.2\n--- # a config\ntrain_config:\n  seed_id: 1\n...\n# the end\n", "one.yaml")
                .train.seed_id, 1);
  EXPECT_EQ(parse_config("log_config:\n  experiment_dir: \"---\"\n", "one.yaml").log.experiment_dir, "---");
  try {
    parse_config("train_config:\n  seed_id: 1\n...\nlog_config: {}\n", "ended.yaml");
    FAIL() << "a document after '...' was ignored";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("ended.yaml:4"), std::string::npos) << e.what();
  }
}

TEST(Config, EmptyFileIsAnError) {
  // It would otherwise train the 350-epoch defaults without a word.
  for (const char* text : {"", "\n\n", "# only a comment\n"}) {
    const std::string message = parse_error(text, "empty.yaml");
    EXPECT_NE(message.find("empty.yaml: the config is empty"), std::string::npos) << message;
    EXPECT_NE(message.find("train_config: {}"), std::string::npos) << message;
  }
}

TEST(Config, EveryNumericKeyHasItsRangeChecked) {
  // Each numeric key with a value just outside its range, at both ends where the type allows.
  struct Key {
    const char *section, *key;
    bool is_float, is_list;
  };
  const Key keys[] = {
      {"train_config", "seed_id", false, false},       {"train_config", "max_norm", true, false},
      {"train_config", "lrate", true, false},           {"train_config", "momentum", true, false},
      {"train_config", "w_decay", true, false},         {"train_config", "batch_size", false, false},
      {"train_config", "train_data_size", false, false}, {"train_config", "lrate_decay", true, false},
      {"train_config", "num_epochs", false, false},     {"train_config", "decay_after_epochs", false, true},
      {"log_config", "print_every_k_updates", false, false}, {"log_config", "save_every_k_ckpt", false, false},
      {"model_config", "num_classes", false, false},    {"model_config", "dropout_input", true, false},
      {"model_config", "dropout_hidden", true, false},  {"model_config", "depth", false, false},
  };
  for (const Key& k : keys) {
    const std::string full = std::string(k.section) + "." + k.key;
    SCOPED_TRACE(full);
    const KeyRange& range = config_key_range(full);
    const std::string range_text = range.text(!k.is_float);
    EXPECT_NE(describe_config_keys().find(range_text), std::string::npos) << range_text;
    std::vector<double> outside;
    if (k.is_float) {
      outside = {range.min_open ? range.min : range.min - 1e-3, range.max_open ? range.max : range.max * 2};
    } else {
      outside = {range.min - 1, range.max + 1};
    }
    for (double value : outside) {
      if (!k.is_float && (value < -2147483648.0 || value > 2147483647.0)) continue;  // an int's own limit
      const std::string text = k.is_float ? fmt::format("{}", value) : fmt::format("{}", static_cast<int64_t>(value));
      const std::string yaml = fmt::format("{}:\n  {}: {}\n", k.section, k.key, k.is_list ? "[" + text + "]" : text);
      const std::string message = parse_error(yaml, "ranges.yaml");
      EXPECT_NE(message.find("ranges.yaml:2: " + full + ": must be in " + range_text), std::string::npos)
          << yaml << message;
    }
  }
  EXPECT_EQ(config_key_range("model_config.depth").text(true), "1..64");
  EXPECT_THROW(config_key_range("model_config.name"), Error);
}

TEST(Config, DepthAtIntMaxIsRefusedBeforeAnyModelIsBuilt) {
  // Once a signed overflow at 3 * depth in All-CNN-C, then bad_alloc.
  const auto file =
      std::filesystem::path(test_support::source_dir()) / "tests/fuzz/corpus/config/config_depth_intmax_ubsan_overflow.yaml";
  try {
    load_config(file);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("model_config.depth: must be in 1..64, got 2147483647"), std::string::npos)
        << e.what();
  }
}

TEST(Config, DecayEpochsAfterTheLastEpochWarn) {
  TrainConfig c;
  EXPECT_TRUE(config_warnings(c).empty());
  c.train.num_epochs = 250;
  const std::vector<std::string> warnings = config_warnings(c);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("train_config.decay_after_epochs: epochs 250, 300 are not before the last epoch"),
            std::string::npos)
      << warnings[0];
  EXPECT_NO_THROW(validate_config(c, "warned, not refused"));
}

TEST(Config, DeeplyNestedYamlSaysSo) {
  // yaml-cpp's own message is "bad file".
  const std::string flow = "train_config: " + std::string(5000, '[') + std::string(5000, ']') + "\n";
  std::string block = "a:\n";
  for (int i = 1; i < 3000; ++i) block += std::string(i, ' ') + fmt::format("a{}:\n", i);
  for (const std::string& text : {flow, block}) {
    const std::string message = parse_error(text, "deep.yaml");
    EXPECT_NE(message.find("deep.yaml:"), std::string::npos) << message;
    EXPECT_NE(message.find("levels deep"), std::string::npos) << message;
    EXPECT_EQ(message.find("bad file"), std::string::npos) << message;
  }
}

TEST(Config, LongValuesAreCutInMessages) {
  const std::string huge(1'000'000, 'x');
  const std::string long_key(1000, 'k');  // YAML keys stop at 1024 characters
  const std::pair<std::string, size_t> cases[] = {
      {"train_config:\n  lrate: " + huge + "\n", huge.size()},
      {"model_config:\n  depth: \"" + huge + "\"\n", huge.size()},
      {"log_config:\n  what_to_track: [" + huge + "]\n", huge.size()},
      {"log_config:\n  ckpt_time_to_track: " + huge + "\n", huge.size()},
      {"train_config:\n  " + long_key + ": 1\n", long_key.size()},
      {long_key + ":\n  a: 1\n", long_key.size()},
  };
  for (const auto& [text, length] : cases) {
    const std::string message = parse_error(text, "long.yaml");
    EXPECT_LT(message.size(), 800u) << message.substr(0, 300);
    EXPECT_NE(message.find(fmt::format("... ({} characters)", length)), std::string::npos) << message.substr(0, 500);
  }
}

TEST(Config, ExtensionKeysParse) {
  const TrainConfig c = parse_config(
      "train_config:\n  weight_decay_mode: decoupled\nmodel_config:\n  name: other_net\n  batchnorm: false\n", "ext.yaml");
  EXPECT_EQ(c.train.weight_decay_mode, WeightDecayMode::decoupled);
  EXPECT_EQ(c.model.name, "other_net");
  EXPECT_FALSE(c.model.batchnorm);
  EXPECT_NE(parse_error("train_config:\n  weight_decay_mode: l1\n").find("weight_decay_mode"), std::string::npos);
}

TEST(Config, UnknownKeyNamesTheKeyFileAndLine) {
  const std::string message = parse_error("train_config:\n  batch_size: 64\n  batch_sise: 32\n", "typo.yaml");
  EXPECT_NE(message.find("typo.yaml:3"), std::string::npos) << message;
  EXPECT_NE(message.find("batch_sise"), std::string::npos) << message;
  EXPECT_NE(message.find("batch_size"), std::string::npos) << message;  // the known keys are listed
}

TEST(Config, UnknownSectionIsAnError) {
  const std::string message = parse_error("optim_config:\n  lrate: 0.1\n", "section.yaml");
  EXPECT_NE(message.find("section.yaml:1"), std::string::npos) << message;
  EXPECT_NE(message.find("optim_config"), std::string::npos) << message;
}

TEST(Config, WrongTypesAreErrors) {
  struct Case {
    std::string text, key;
  };
  const Case cases[] = {
      {"train_config:\n  batch_size: abc\n", "train_config.batch_size"},
      {"train_config:\n  batch_size: 12.5\n", "train_config.batch_size"},
      {"train_config:\n  batch_size: \"128\"\n", "train_config.batch_size"},
      {"train_config:\n  lrate: fast\n", "train_config.lrate"},
      {"train_config:\n  lrate: .inf\n", "train_config.lrate"},
      {"train_config:\n  nesterov: 0.5\n", "train_config.nesterov"},
      {"train_config:\n  nesterov: 1\n", "train_config.nesterov"},
      {"train_config:\n  decay_after_epochs: 200\n", "train_config.decay_after_epochs"},
      {"train_config:\n  decay_after_epochs: [200, x]\n", "train_config.decay_after_epochs[1]"},
      {"train_config:\n  seed_id:\n", "train_config.seed_id"},
      {"log_config:\n  what_to_print: train_loss\n", "log_config.what_to_print"},
      {"log_config:\n  experiment_dir: [a, b]\n", "log_config.experiment_dir"},
      {"model_config:\n  depth: {a: 1}\n", "model_config.depth"},
      {"model_config:\n  num_classes: 99999999999\n", "model_config.num_classes"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.text);
    const std::string message = parse_error(c.text, "types.yaml");
    EXPECT_NE(message.find("types.yaml:2"), std::string::npos) << message;
    EXPECT_NE(message.find(c.key), std::string::npos) << message;
  }
}

TEST(Config, BadValuesAreErrors) {
  struct Case {
    std::string text, key;
  };
  const Case cases[] = {
      {"train_config:\n  batch_size: 0\n", "train_config.batch_size"},
      {"train_config:\n  num_epochs: -1\n", "train_config.num_epochs"},
      {"train_config:\n  lrate: 0\n", "train_config.lrate"},
      {"train_config:\n  momentum: 1.0\n", "train_config.momentum"},
      {"train_config:\n  max_norm: -2\n", "train_config.max_norm"},
      {"train_config:\n  w_decay: -1e-4\n", "train_config.w_decay"},
      {"train_config:\n  decay_after_epochs: [250, 200]\n", "train_config.decay_after_epochs"},
      {"log_config:\n  what_to_track: [train_loss, train_accuracy]\n", "log_config.what_to_track"},
      {"log_config:\n  ckpt_time_to_track: hours\n", "log_config.ckpt_time_to_track"},
      {"log_config:\n  save_every_k_ckpt: 0\n", "log_config.save_every_k_ckpt"},
      {"model_config:\n  dropout_input: 1.0\n", "model_config.dropout_input"},
      {"model_config:\n  dropout_hidden: -0.1\n", "model_config.dropout_hidden"},
      {"model_config:\n  depth: 0\n", "model_config.depth"},
      {"model_config:\n  num_classes: 1\n", "model_config.num_classes"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.text);
    const std::string message = parse_error(c.text, "values.yaml");
    EXPECT_NE(message.find("values.yaml:2"), std::string::npos) << message;
    EXPECT_NE(message.find(c.key), std::string::npos) << message;
  }
}

TEST(Config, DuplicateKeyIsAnError) {
  const std::string message = parse_error("model_config:\n  depth: 1\n  depth: 2\n", "dup.yaml");
  EXPECT_NE(message.find("dup.yaml:3"), std::string::npos) << message;
  EXPECT_NE(message.find("model_config.depth"), std::string::npos) << message;
}

TEST(Config, MalformedYamlNamesFileAndLine) {
  const std::string message = parse_error("train_config:\n  decay_after_epochs: [200, 250\n  lrate: 0.1\n", "broken.yaml");
  EXPECT_NE(message.find("broken.yaml:"), std::string::npos) << message;
  EXPECT_NE(message.find("malformed YAML"), std::string::npos) << message;

  EXPECT_NE(parse_error("- just\n- a list\n", "list.yaml").find("list.yaml"), std::string::npos);
  EXPECT_NE(parse_error("train_config: 5\n", "scalar.yaml").find("scalar.yaml"), std::string::npos);
}

TEST(Config, LoadConfigNamesTheFile) {
  const auto dir = std::filesystem::temp_directory_path() / "convlab_test_config";
  std::filesystem::create_directories(dir);
  const auto file = dir / "bad_type.yaml";
  std::ofstream(file) << "train_config:\n  seed_id: 0\n  use_cutout: maybe\n";
  try {
    load_config(file);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find(file.string() + ":3"), std::string::npos) << message;
    EXPECT_NE(message.find("use_cutout"), std::string::npos) << message;
  }
  try {
    load_config(dir / "missing.yaml");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("missing.yaml"), std::string::npos) << e.what();
  }
  std::filesystem::remove_all(dir);
}

TEST(Config, ToYamlRoundTripsEveryField) {
  TrainConfig c;
  c.train.seed_id = 7;
  c.train.max_norm = 1.5;
  c.train.lrate = 0.05;
  c.train.momentum = 0.95;
  c.train.nesterov = false;
  c.train.w_decay = 5e-4;
  c.train.use_augment = false;
  c.train.use_cutout = false;
  c.train.batch_size = 256;
  c.train.train_data_size = 45000;
  c.train.lrate_decay = 0.2;
  c.train.num_epochs = 10;
  c.train.decay_after_epochs = {};
  c.train.weight_decay_mode = WeightDecayMode::decoupled;
  c.log.experiment_dir = "runs/a b: \"quoted\"";
  c.log.time_to_track = {"num_epochs"};
  c.log.what_to_track = {"test_acc", "lr"};
  c.log.what_to_print = {};
  c.log.model_type = "true";
  c.log.print_every_k_updates = 100;
  c.log.ckpt_time_to_track = "num_updates";
  c.log.save_every_k_ckpt = 1000;
  c.log.verbose = false;
  c.model.num_classes = 100;
  c.model.dropout_input = 0.1 + 0.2;  // not exactly 0.3: needs all 17 digits
  c.model.dropout_hidden = 0.5;
  c.model.depth = 3;
  c.model.name = "all_cnn_c";
  c.model.batchnorm = false;
  const std::string yaml = to_yaml(c);
  EXPECT_EQ(parse_config(yaml, "resolved.yaml"), c) << yaml;
  EXPECT_EQ(parse_config(to_yaml(TrainConfig{}), "defaults.yaml"), TrainConfig{});
}

TEST(Config, DescribeListsEveryKey) {
  const std::string table = describe_config_keys();
  for (const char* key : {"seed_id", "max_norm", "lrate", "momentum", "nesterov", "w_decay", "use_augment",
                          "use_cutout", "batch_size", "train_data_size", "lrate_decay", "num_epochs",
                          "decay_after_epochs", "weight_decay_mode", "experiment_dir", "time_to_track",
                          "what_to_track", "what_to_print", "model_type", "print_every_k_updates",
                          "ckpt_time_to_track", "save_every_k_ckpt", "verbose", "num_classes", "dropout_input",
                          "dropout_hidden", "depth", "name", "batchnorm"})
    EXPECT_NE(table.find(key), std::string::npos) << key;
  EXPECT_NE(table.find("[200, 250, 300]"), std::string::npos) << table;
  EXPECT_NE(table.find("convlab extension"), std::string::npos) << table;
}

TEST(Config, ValidateConfigChecksChangedValues) {
  TrainConfig c;
  EXPECT_NO_THROW(validate_config(c, "defaults"));
  c.train.batch_size = 0;
  try {
    validate_config(c, "command line");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("command line: train_config.batch_size"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace convlab
