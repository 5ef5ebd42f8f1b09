// Synthetic doorbell scenes for the motion detector's tests and benchmark: a
// textured porch (gradients, a door, a window, a mat, a bush), sensor noise,
// compression-like blockiness, light changes, moving blobs, privacy masks.
//
// Everything comes from our own seeded PRNG and integer-exact arithmetic
// rather than <random>'s distributions, whose output differs between standard
// libraries: a failing scene is the same scene on every machine.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <vector>

namespace porchlight::test {

/// xorshift64*: small, fast and the same everywhere.
class Prng {
public:
    explicit Prng(uint64_t seed) : state_(seed ? seed : 0x9E3779B97F4A7C15ull) {}
    uint64_t next() {
        state_ ^= state_ >> 12;
        state_ ^= state_ << 25;
        state_ ^= state_ >> 27;
        return state_ * 0x2545F4914F6CDD1Dull;
    }
    /// Uniform in [0, 1).
    double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
    /// Roughly normal (sum of four uniforms), mean 0, standard deviation 1.
    double normal() {
        return (uniform() + uniform() + uniform() + uniform() - 2.0) * 1.7320508075688772;
    }
    /// Uniform integer in [lo, hi].
    int range(int lo, int hi) { return lo + static_cast<int>(next() % (hi - lo + 1)); }

private:
    uint64_t state_;
};

/// A rectangle drawn over the scene with its own grey level (clothes, a box).
struct Blob {
    double x = 0, y = 0;  // top left, pixels (may be partly outside)
    int width = 0, height = 0;
    int level = 40;
};

struct Rect {
    int x = 0, y = 0, width = 0, height = 0;
};

/// What changes from frame to frame, besides the noise.
struct FrameState {
    double gain = 1.0;  // light: level * gain + offset
    double offset = 0.0;
    std::vector<Blob> blobs;
    /// Anything else, drawn after the blobs, before noise (e.g. a non-linear light change).
    std::function<double(int x, int y, double level)> remap;
};

struct SceneOptions {
    int width = 320;
    int height = 240;
    uint64_t seed = 1;
    double noiseSigma = 3.5;  // grey levels, per pixel per frame
    int blockJitter = 2;      // +- levels per 8x8 block per frame (compression)
    std::vector<Rect> masks;  // privacy masks: black after everything
};

class Scene {
public:
    explicit Scene(const SceneOptions& options) : options_(options), prng_(options.seed) {
        const int w = options.width, h = options.height;
        base_.resize(static_cast<size_t>(w) * h);
        Prng texture(options.seed * 7919 + 1);
        for (int y = 0; y < h; ++y) {
            for (int x = 0; x < w; ++x) {
                const double u = static_cast<double>(x) / w, v = static_cast<double>(y) / h;
                // Wall: a gradient with a soft horizontal pattern (siding).
                double level = 95 + 50 * u + 10 * std::sin(y * 0.9) + 15 * v;
                // Door, window, doormat, a darker bush in a corner.
                if (u > 0.40 && u < 0.60 && v > 0.15)
                    level = 150 + 10 * std::sin(x * 0.3);
                if (u > 0.70 && u < 0.90 && v > 0.20 && v < 0.45)
                    level = 175 + 8 * ((x / 6 + y / 6) % 2);
                if (u > 0.35 && u < 0.65 && v > 0.88)
                    level = 85;
                if ((u - 0.12) * (u - 0.12) + (v - 0.8) * (v - 0.8) * 0.6 < 0.012)
                    level = 80 + 12 * std::sin(x * 1.7) * std::cos(y * 1.3);
                // Fixed fine texture (brick, wood grain).
                level += texture.range(-6, 6);
                base_[static_cast<size_t>(y) * w + x] = level;
            }
        }
        blockOffsets_.resize(static_cast<size_t>((w + 7) / 8) * ((h + 7) / 8));
        frame_.resize(base_.size());
    }

    int width() const { return options_.width; }
    int height() const { return options_.height; }

    /// The next frame: new noise every call.
    const std::vector<uint8_t>& render(const FrameState& state) {
        const int w = options_.width, h = options_.height;
        const int bw = (w + 7) / 8;
        for (auto& o : blockOffsets_)
            o = options_.blockJitter ? prng_.range(-options_.blockJitter, options_.blockJitter) : 0;
        for (int y = 0; y < h; ++y) {
            for (int x = 0; x < w; ++x) {
                double level = base_[static_cast<size_t>(y) * w + x];
                for (const auto& b : state.blobs) {
                    if (x >= b.x && x < b.x + b.width && y >= b.y && y < b.y + b.height)
                        level = b.level;
                }
                level = level * state.gain + state.offset;
                if (state.remap)
                    level = state.remap(x, y, level);
                level += options_.noiseSigma * prng_.normal();
                level += blockOffsets_[static_cast<size_t>(y / 8) * bw + x / 8];
                frame_[static_cast<size_t>(y) * w + x] =
                    static_cast<uint8_t>(std::clamp(std::lround(level), 0l, 255l));
            }
        }
        for (const auto& m : options_.masks) {
            for (int y = std::max(0, m.y); y < std::min(h, m.y + m.height); ++y)
                for (int x = std::max(0, m.x); x < std::min(w, m.x + m.width); ++x)
                    frame_[static_cast<size_t>(y) * w + x] = 0;
        }
        return frame_;
    }

private:
    SceneOptions options_;
    Prng prng_;
    std::vector<double> base_;
    std::vector<int> blockOffsets_;
    std::vector<uint8_t> frame_;
};

}  // namespace porchlight::test
