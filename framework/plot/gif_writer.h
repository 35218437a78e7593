// Animated GIFs of figures rendered by cairo, e.g. a heatmap per training checkpoint. A GIF holds at most 256
// colours, so the frames are kept until finish() and one palette is chosen for all of them
// by median cut: heatmaps are mostly viridis cells, white and grey text, which 256 colours
// reproduce closely, and one shared palette keeps colours from flickering between frames.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <vector>

#include "framework/plot/figure.h"

namespace convlab {

class GifWriter {
 public:
  // Frames are width x height and shown for delay_centiseconds each (0..65535); loop makes
  // viewers repeat the animation forever.
  GifWriter(std::filesystem::path path, int width, int height, int delay_centiseconds, bool loop = true);
  GifWriter(const GifWriter&) = delete;
  GifWriter& operator=(const GifWriter&) = delete;

  // Adds a frame, which must be the writer's size; delay_centiseconds overrides the delay for
  // this frame only (e.g. to hold the last one).
  void add_frame(const RgbImage& frame, std::optional<int> delay_centiseconds = std::nullopt);
  // The figure rendered at one pixel per unit.
  void add_frame(const Figure& frame, std::optional<int> delay_centiseconds = std::nullopt);
  size_t frame_count() const { return frames_.size(); }

  // Chooses the palette, encodes the frames and writes the file atomically; nothing is
  // written before. Needs at least one frame; the writer takes no frames afterwards.
  void finish();

 private:
  std::filesystem::path path_;
  int width_, height_, delay_;
  bool loop_;
  bool finished_ = false;
  // Each frame's pixels as 15-bit colours (5 bits a channel): the resolution at which the
  // palette is chosen and looked up.
  std::vector<std::vector<uint16_t>> frames_;
  std::vector<int> delays_;
  // Over all frames, per 15-bit colour: how many pixels, and the sum of their exact colours.
  std::vector<uint64_t> counts_;
  std::vector<std::array<uint64_t, 3>> sums_;
};

// All frames at once, each shown for delay_centiseconds.
void write_gif(const std::filesystem::path& path, const std::vector<RgbImage>& frames, int delay_centiseconds,
               bool loop = true);

}  // namespace convlab
