#include "framework/plot/gif_writer.h"

#include <gif_lib.h>

#include <algorithm>
#include <limits>
#include <memory>
#include <string>

#include "framework/core/error.h"
#include "framework/io/atomic_file.h"

namespace convlab {
namespace {

constexpr int kLevels = 32;  // per channel in the 15-bit colour lookup
constexpr int kBins = kLevels * kLevels * kLevels;
constexpr int kPaletteSize = 256;

uint16_t bin_of(Rgb c) { return static_cast<uint16_t>((c.r >> 3) << 10 | (c.g >> 3) << 5 | (c.b >> 3)); }
int channel_of(uint16_t bin, int axis) { return (bin >> (10 - 5 * axis)) & (kLevels - 1); }

using Color = std::array<double, 3>;

double distance2(const Color& a, const Color& b) {
  const double dr = a[0] - b[0], dg = a[1] - b[1], db = a[2] - b[2];
  return dr * dr + dg * dg + db * db;
}

// The colours in use, one per occupied bin: the mean of the exact pixel colours in it.
struct Used {
  uint16_t bin;
  uint64_t count;
  Color mean;
};

// A box of median cut: a range of the used colours and their bounds in bin coordinates.
struct Box {
  size_t begin = 0, end = 0;
  uint64_t count = 0;
  int low[3] = {kLevels, kLevels, kLevels}, high[3] = {-1, -1, -1};

  bool splittable() const { return end - begin > 1; }
  int widest_axis() const {
    int axis = 0;
    for (int a = 1; a < 3; ++a)
      if (high[a] - low[a] > high[axis] - low[axis]) axis = a;
    return axis;
  }
  uint64_t volume() const {
    uint64_t v = 1;
    for (int a = 0; a < 3; ++a) v *= static_cast<uint64_t>(high[a] - low[a] + 1);
    return v;
  }
};

Box make_box(const std::vector<Used>& used, size_t begin, size_t end) {
  Box box;
  box.begin = begin, box.end = end;
  for (size_t i = begin; i < end; ++i) {
    box.count += used[i].count;
    for (int a = 0; a < 3; ++a) {
      box.low[a] = std::min(box.low[a], channel_of(used[i].bin, a));
      box.high[a] = std::max(box.high[a], channel_of(used[i].bin, a));
    }
  }
  return box;
}

// Median cut (Heckbert 1982): split the box with the most pixels along its widest side at the
// pixel-weighted median until there are enough boxes. The first half of the splits go by
// pixel count alone (large areas: cells, background); the rest by count times volume, so
// rare but distinct colours (text, its anti-aliased edges) get entries too.
std::vector<Color> median_cut(std::vector<Used>& used, size_t size) {
  std::vector<Box> boxes = {make_box(used, 0, used.size())};
  while (boxes.size() < size) {
    const bool by_volume = boxes.size() >= size / 2;
    Box* best = nullptr;
    double best_score = -1;
    for (Box& box : boxes) {
      if (!box.splittable()) continue;
      const double score = static_cast<double>(box.count) * (by_volume ? static_cast<double>(box.volume()) : 1.0);
      if (score > best_score) best_score = score, best = &box;
    }
    if (!best) break;  // every box holds a single colour
    const int axis = best->widest_axis();
    std::sort(used.begin() + static_cast<std::ptrdiff_t>(best->begin),
              used.begin() + static_cast<std::ptrdiff_t>(best->end),
              [axis](const Used& a, const Used& b) { return channel_of(a.bin, axis) < channel_of(b.bin, axis); });
    uint64_t below = 0;
    size_t split = best->begin + 1;
    for (size_t i = best->begin; i + 1 < best->end; ++i) {
      below += used[i].count;
      split = i + 1;
      if (2 * below >= best->count) break;
    }
    const Box upper = make_box(used, split, best->end);
    *best = make_box(used, best->begin, split);
    boxes.push_back(upper);
  }
  std::vector<Color> palette;
  for (const Box& box : boxes) {
    Color sum{0, 0, 0};
    for (size_t i = box.begin; i < box.end; ++i)
      for (int a = 0; a < 3; ++a) sum[a] += used[i].mean[a] * static_cast<double>(used[i].count);
    for (int a = 0; a < 3; ++a) sum[a] /= static_cast<double>(box.count);
    palette.push_back(sum);
  }
  return palette;
}

size_t nearest(const std::vector<Color>& palette, const Color& c) {
  size_t best = 0;
  double best_distance = std::numeric_limits<double>::infinity();
  for (size_t k = 0; k < palette.size(); ++k) {
    const double d = distance2(palette[k], c);
    if (d < best_distance) best_distance = d, best = k;
  }
  return best;
}

struct Quantized {
  std::vector<Rgb> palette;
  std::vector<uint8_t> lookup;  // palette index per 15-bit colour
};

Quantized quantize(const std::vector<uint64_t>& counts, const std::vector<std::array<uint64_t, 3>>& sums) {
  std::vector<Used> used;
  for (int bin = 0; bin < kBins; ++bin) {
    if (!counts[bin]) continue;
    const double n = static_cast<double>(counts[bin]);
    used.push_back(Used{static_cast<uint16_t>(bin), counts[bin],
                        Color{static_cast<double>(sums[bin][0]) / n, static_cast<double>(sums[bin][1]) / n,
                              static_cast<double>(sums[bin][2]) / n}});
  }
  std::vector<Color> palette = median_cut(used, kPaletteSize);

  // Each colour goes to its nearest entry, which need not be its box's; two rounds of moving
  // each entry to the mean of the colours it got (k-means) tighten the fit.
  std::vector<size_t> owner(used.size());
  for (int round = 0; round < 3; ++round) {
    for (size_t i = 0; i < used.size(); ++i) owner[i] = nearest(palette, used[i].mean);
    if (round == 2) break;
    std::vector<Color> sum(palette.size(), Color{0, 0, 0});
    std::vector<double> weight(palette.size(), 0.0);
    for (size_t i = 0; i < used.size(); ++i) {
      for (int a = 0; a < 3; ++a) sum[owner[i]][a] += used[i].mean[a] * static_cast<double>(used[i].count);
      weight[owner[i]] += static_cast<double>(used[i].count);
    }
    for (size_t k = 0; k < palette.size(); ++k)
      if (weight[k] > 0)
        for (int a = 0; a < 3; ++a) palette[k][a] = sum[k][a] / weight[k];
  }

  Quantized q;
  q.lookup.assign(kBins, 0);
  for (size_t i = 0; i < used.size(); ++i) q.lookup[used[i].bin] = static_cast<uint8_t>(owner[i]);
  for (const Color& c : palette) {
    auto channel = [](double v) { return static_cast<uint8_t>(std::clamp(std::lround(v), 0L, 255L)); };
    q.palette.push_back(Rgb{channel(c[0]), channel(c[1]), channel(c[2])});
  }
  return q;
}

// giflib writes through this into memory; the file itself is written atomically afterwards.
int append_output(GifFileType* gif, const GifByteType* data, int length) {
  static_cast<std::string*>(gif->UserData)->append(reinterpret_cast<const char*>(data), static_cast<size_t>(length));
  return length;
}

std::string gif_error(int code) {
  const char* text = GifErrorString(code);
  return text ? std::string(text) : fmt::format("giflib error {}", code);
}

}  // namespace

GifWriter::GifWriter(std::filesystem::path path, int width, int height, int delay_centiseconds, bool loop)
    : path_(std::move(path)), width_(width), height_(height), delay_(delay_centiseconds), loop_(loop) {
  CONVLAB_CHECK(width > 0 && height > 0 && width <= 65535 && height <= 65535,
                "GIF {}: frame size {}x{} must be between 1 and 65535 pixels each way", path_.string(), width, height);
  CONVLAB_CHECK(delay_centiseconds >= 0 && delay_centiseconds <= 65535,
                "GIF {}: frame delay {} must be between 0 and 65535 hundredths of a second", path_.string(),
                delay_centiseconds);
  counts_.assign(kBins, 0);
  sums_.assign(kBins, {0, 0, 0});
}

void GifWriter::add_frame(const Figure& frame, std::optional<int> delay_centiseconds) {
  add_frame(frame.render(), delay_centiseconds);
}

void GifWriter::add_frame(const RgbImage& frame, std::optional<int> delay_centiseconds) {
  CONVLAB_CHECK(!finished_, "GIF {} is already written; it takes no more frames", path_.string());
  CONVLAB_CHECK(frame.width == width_ && frame.height == height_ &&
                    frame.pixels.size() == static_cast<size_t>(width_) * height_ * 3,
                "GIF {}: frame {} is {}x{} but the animation is {}x{}", path_.string(), frames_.size(), frame.width,
                frame.height, width_, height_);
  const int delay = delay_centiseconds.value_or(delay_);
  CONVLAB_CHECK(delay >= 0 && delay <= 65535,
                "GIF {}: frame delay {} must be between 0 and 65535 hundredths of a second", path_.string(), delay);
  const std::vector<uint8_t>& pixels = frame.pixels;
  std::vector<uint16_t> bins(static_cast<size_t>(width_) * height_);
  for (size_t i = 0; i < bins.size(); ++i) {
    const Rgb c{pixels[3 * i], pixels[3 * i + 1], pixels[3 * i + 2]};
    const uint16_t bin = bin_of(c);
    bins[i] = bin;
    ++counts_[bin];
    sums_[bin][0] += c.r, sums_[bin][1] += c.g, sums_[bin][2] += c.b;
  }
  frames_.push_back(std::move(bins));
  delays_.push_back(delay);
}

void GifWriter::finish() {
  CONVLAB_CHECK(!finished_, "GIF {} is already written", path_.string());
  CONVLAB_CHECK(!frames_.empty(), "GIF {} has no frames to write", path_.string());
  const Quantized q = quantize(counts_, sums_);

  // A colour map's size is a power of two; unused entries stay black.
  int map_size = 2;
  while (map_size < static_cast<int>(q.palette.size())) map_size *= 2;
  std::vector<GifColorType> colors(static_cast<size_t>(map_size), GifColorType{0, 0, 0});
  for (size_t k = 0; k < q.palette.size(); ++k)
    colors[k] = GifColorType{q.palette[k].r, q.palette[k].g, q.palette[k].b};
  std::unique_ptr<ColorMapObject, void (*)(ColorMapObject*)> map(GifMakeMapObject(map_size, colors.data()),
                                                                 GifFreeMapObject);
  CONVLAB_CHECK(map != nullptr, "GIF {}: no memory for a {}-colour map", path_.string(), map_size);

  std::string encoded;
  int error = 0;
  GifFileType* gif = EGifOpen(&encoded, append_output, &error);
  if (!gif) CONVLAB_FAIL("GIF {}: starting the encoder failed: {}", path_.string(), gif_error(error));
  // On a failed step: close the encoder (its own error is moot) and report the step's.
  auto check = [&](int status, const char* step) {
    if (status == GIF_OK) return;
    const int code = gif->Error;
    int ignored = 0;
    EGifCloseFile(gif, &ignored);
    CONVLAB_FAIL("GIF {}: {} failed: {}", path_.string(), step, gif_error(code));
  };

  EGifSetGifVersion(gif, true);  // GIF89a: needed for delays and looping
  check(EGifPutScreenDesc(gif, width_, height_, 8, 0, map.get()), "writing the screen descriptor");
  if (loop_) {
    // The NETSCAPE2.0 application extension: sub-block 1 with a loop count of 0, forever.
    static const GifByteType kNetscape[11] = {'N', 'E', 'T', 'S', 'C', 'A', 'P', 'E', '2', '.', '0'};
    static const GifByteType kForever[3] = {1, 0, 0};
    check(EGifPutExtensionLeader(gif, APPLICATION_EXT_FUNC_CODE), "starting the loop extension");
    check(EGifPutExtensionBlock(gif, sizeof kNetscape, kNetscape), "writing the loop extension");
    check(EGifPutExtensionBlock(gif, sizeof kForever, kForever), "writing the loop count");
    check(EGifPutExtensionTrailer(gif), "ending the loop extension");
  }
  std::vector<GifPixelType> line(static_cast<size_t>(width_));
  for (size_t f = 0; f < frames_.size(); ++f) {
    GraphicsControlBlock control{};
    control.DisposalMode = DISPOSE_DO_NOT;
    control.UserInputFlag = false;
    control.DelayTime = delays_[f];
    control.TransparentColor = NO_TRANSPARENT_COLOR;
    GifByteType extension[4];
    const size_t length = EGifGCBToExtension(&control, extension);
    check(EGifPutExtension(gif, GRAPHICS_EXT_FUNC_CODE, static_cast<int>(length), extension),
          "writing a frame's delay");
    check(EGifPutImageDesc(gif, 0, 0, width_, height_, false, nullptr), "writing a frame's image descriptor");
    const std::vector<uint16_t>& bins = frames_[f];
    for (int y = 0; y < height_; ++y) {
      for (int x = 0; x < width_; ++x)
        line[static_cast<size_t>(x)] = q.lookup[bins[static_cast<size_t>(y) * width_ + x]];
      check(EGifPutLine(gif, line.data(), width_), "writing a frame's pixels");
    }
  }
  if (EGifCloseFile(gif, &error) != GIF_OK)
    CONVLAB_FAIL("GIF {}: finishing the file failed: {}", path_.string(), gif_error(error));

  write_file_atomically(
      path_, [&](std::ostream& out) { out.write(encoded.data(), static_cast<std::streamsize>(encoded.size())); });
  finished_ = true;
  frames_.clear();
  frames_.shrink_to_fit();
}

void write_gif(const std::filesystem::path& path, const std::vector<RgbImage>& frames, int delay_centiseconds,
               bool loop) {
  CONVLAB_CHECK(!frames.empty(), "GIF {} has no frames to write", path.string());
  GifWriter writer(path, frames.front().width, frames.front().height, delay_centiseconds, loop);
  for (const RgbImage& frame : frames) writer.add_frame(frame);
  writer.finish();
}

}  // namespace convlab
