// Motion detection: background subtraction on a downscaled grey picture,
// with the global light change and the noise level estimated every frame,
// block-wise cleanup, zones, and debouncing into events.
//
// The choices, and why (robustness over cleverness):
// - Analyse at about 160 px wide, averaging f x f pixels: a person at a door
//   is tens of pixels even there, and averaging halves the sensor noise and
//   smooths compression blocks, for a quarter of the work.
// - The scene is a per-pixel exponential running average with a 6 s time
//   constant (alpha 0.033 at 5 fps): slow enough that a walker leaves no
//   trace in it, fast enough to follow dusk and clouds. Where motion is seen
//   (and one block around it) it adapts with a 15 s time constant instead, so
//   a person standing at the door stays visible for 20-40 s while a parked
//   car is absorbed within about 30-45 s. Time constants rather than
//   per-frame rates, so a different frame rate behaves the same.
// - Light changes are mostly global and multiplicative (a lamp, auto
//   exposure), so before comparing, each frame's change is explained by a
//   line, change = offset + gain * scene, fitted robustly through the medians
//   of the dark half and of the bright half of the scene: an object must cover
//   a quarter of the picture before it moves that fit. Clipped pixels stay
//   out of the fit, and the prediction is clipped like the camera clips.
// - The threshold follows the noise: sigma from the median absolute deviation
//   of what the fit leaves, times a factor, with a floor so that a clean or
//   saturated picture does not become hypersensitive. That sigma is a running
//   level allowed to rise only slowly: a change over most of the picture
//   would otherwise pass itself off as noise and go unseen.
// - A changed pixel counts only in a 4x4 block with at least 5 changed
//   pixels, more than a line one pixel wide can put in a block: sensor noise,
//   single compression artefacts and shimmering edges are thin, objects are not.
// - When most of the picture changes at once in a way the fit cannot explain
//   (an infrared switch, a lamp lighting the scene unevenly), no object did
//   it: learn the scene again instead of reporting an event.
// - Events are debounced on the caller's timestamps: motion must last
//   minSeconds (gaps up to 0.7 s allowed) to start one, and 2 s without
//   motion end it.
#include "motion.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdlib>

namespace porchlight {

namespace {

constexpr int kTargetWidth = 160;  // analysed width, about
constexpr int kMinSide = 8;        // smallest frame side we accept
constexpr int kBlock = 4;          // cleanup block side, analysed pixels
constexpr int kBlockNeed = 5;      // changed pixels a block needs: more than a thin line has

constexpr double kSceneTau = 6.0;          // s: background adaptation
constexpr double kMotionTau = 15.0;        // s: the same where motion is seen
constexpr double kNoiseTau = 10.0;         // s: the noise level follows the camera this slowly
constexpr double kNoiseRise = 1.5;         // one frame may claim at most this much more noise
constexpr int64_t kLearnUs = 1'500'000;    // learn the scene this long, reporting nothing
constexpr int64_t kFirstStepUs = 200'000;  // the first frame stands for one frame at 5 fps
constexpr int64_t kMaxStepUs = 2'000'000;  // longer gaps between frames count as this
constexpr int64_t kGapUs = 700'000;    // gaps allowed while motion builds up (2 frames at 5 fps)
constexpr int64_t kEndUs = 2'000'000;  // no motion this long ends an event

constexpr double kRelearnFraction = 0.6;  // changed live pixels that mean "the light changed"
constexpr double kSigmaFloor = 1.0;       // grey levels; a perfectly clean picture
constexpr double kMadToSigma = 1.4826;    // median absolute deviation of a normal law
constexpr double kMinGain = -0.75, kMaxGain = 1.5;  // darker to 1/4, brighter to 2.5x
constexpr float kBlackLevel = 16.5f;    // a mask's black: full-range 0 or limited-range 16
constexpr float kSaturated = 250.0f;    // at or above: clipped by the camera
constexpr double kMinHalfSpread = 8.0;  // grey levels between the halves to fit a gain

// Histograms of differences for the medians: 1/8 grey level per bin over
// [-256, 256), so that the median absolute deviation of a quiet scene (about
// 1.5 levels) is not lost to rounding.
constexpr int kBinsPerLevel = 8;
constexpr int kHistogramOffset = 256;
constexpr int kHistogramBins = 2 * kHistogramOffset * kBinsPerLevel;

int binOf(float value) {
    const int bin = static_cast<int>((value + kHistogramOffset) * kBinsPerLevel);
    return std::clamp(bin, 0, kHistogramBins - 1);
}

float valueOf(int bin) {
    return (static_cast<float>(bin) + 0.5f) / kBinsPerLevel - kHistogramOffset;
}

/// The median of the values in one histogram, or of two added together.
float medianOf(const uint32_t* a, const uint32_t* b, uint64_t count) {
    if (count == 0)
        return 0.0f;
    const uint64_t half = (count + 1) / 2;
    uint64_t seen = 0;
    for (int bin = 0; bin < kHistogramBins; ++bin) {
        seen += a[bin] + (b ? b[bin] : 0);
        if (seen >= half)
            return valueOf(bin);
    }
    return 0.0f;
}

/// What the owner's one knob, sensitivity 0..1, sets. Higher: fire on
/// fainter changes (fewer noise sigmas, a lower floor) and on smaller
/// objects (from 3% of the picture at 0 to 0.05% at 1, geometrically, so each
/// step of the knob scales the smallest object by the same factor; at 0.5,
/// 0.39%: a person at 320x240 is 2-4%, a cat crossing far away is not).
struct Tuning {
    double sigmas;
    double floorLevels;
    double minArea;
};

Tuning tuningFor(double sensitivity) {
    const double s = std::clamp(sensitivity, 0.0, 1.0);
    return {5.0 - 2.0 * s, 12.0 - 7.0 * s, 0.03 * std::pow(0.0005 / 0.03, s)};
}

double alphaFor(int64_t stepUs, double tauSeconds) {
    return 1.0 - std::exp(-static_cast<double>(stepUs) / 1e6 / tauSeconds);
}

}  // namespace

std::vector<uint8_t> polygonMask(const Polygon& polygon, int width, int height) {
    if (width <= 0 || height <= 0)
        return {};
    std::vector<uint8_t> mask(static_cast<size_t>(width) * static_cast<size_t>(height), 0);
    const auto& points = polygon.points;
    const size_t n = points.size();
    if (n < 3)
        return mask;
    // Scanlines through pixel centres; an edge crosses the line when exactly
    // one of its ends is at or below it (half-open, so a vertex on the line
    // counts once). Inside is between the 1st and 2nd crossing, the 3rd and
    // 4th, ...: the even-odd rule.
    std::vector<double> crossings;
    for (int y = 0; y < height; ++y) {
        const double yc = (y + 0.5) / height;
        crossings.clear();
        for (size_t i = 0; i < n; ++i) {
            const auto [x0, y0] = points[i];
            const auto [x1, y1] = points[(i + 1) % n];
            if ((y0 <= yc) != (y1 <= yc))
                crossings.push_back(x0 + (yc - y0) * (x1 - x0) / (y1 - y0));
        }
        std::sort(crossings.begin(), crossings.end());
        uint8_t* row = mask.data() + static_cast<size_t>(y) * static_cast<size_t>(width);
        for (size_t k = 0; k + 1 < crossings.size(); k += 2) {
            const double from = crossings[k], to = crossings[k + 1];
            // Test the centres themselves near the ends rather than trusting
            // a rounded pixel range.
            const int first = std::max(0, static_cast<int>(std::floor(from * width)) - 1);
            const int last = std::min(width - 1, static_cast<int>(std::ceil(to * width)));
            for (int x = first; x <= last; ++x) {
                const double xc = (x + 0.5) / width;
                if (xc >= from && xc < to)
                    row[x] = 1;
            }
        }
    }
    return mask;
}

std::vector<uint8_t> zoneMask(const std::vector<MotionZone>& zones, int width, int height) {
    if (width <= 0 || height <= 0)
        return {};
    const bool anyInclude =
        std::any_of(zones.begin(), zones.end(), [](const MotionZone& z) { return z.include; });
    std::vector<uint8_t> mask(static_cast<size_t>(width) * static_cast<size_t>(height),
                              anyInclude ? 0 : 1);
    for (const auto& zone : zones) {
        if (!zone.include)
            continue;
        const auto inside = polygonMask(zone.polygon, width, height);
        for (size_t i = 0; i < mask.size(); ++i)
            mask[i] |= inside[i];
    }
    // Exclusions win over inclusions, whatever the order the owner wrote them in.
    for (const auto& zone : zones) {
        if (zone.include)
            continue;
        const auto inside = polygonMask(zone.polygon, width, height);
        for (size_t i = 0; i < mask.size(); ++i)
            mask[i] &= static_cast<uint8_t>(!inside[i]);
    }
    return mask;
}

MotionDetector::MotionDetector(const MotionConfig& config) {
    configure(config);
}

void MotionDetector::configure(const MotionConfig& config) {
    const bool zonesChanged = config.zones != config_.zones;
    config_ = config;
    const Tuning tuning = tuningFor(config.sensitivity);
    sigmas_ = tuning.sigmas;
    floorLevels_ = tuning.floorLevels;
    minArea_ = tuning.minArea;
    if (zonesChanged)
        rebuildZones();
}

void MotionDetector::reset() {
    inWidth_ = inHeight_ = 0;
    width_ = height_ = 0;
    learned_ = false;
    haveTime_ = false;
    nowUs_ = 0;
    noise_ = 0.0;
    active_ = false;
    runStartUs_ = -1;
}

void MotionDetector::resize(int inWidth, int inHeight) {
    inWidth_ = inWidth;
    inHeight_ = inHeight;
    factor_ = std::max(1, std::min(inWidth / kTargetWidth, inHeight / kMinSide));
    width_ = inWidth / factor_;
    height_ = inHeight / factor_;
    blocksX_ = (width_ + kBlock - 1) / kBlock;
    blocksY_ = (height_ + kBlock - 1) / kBlock;
    const size_t pixels = static_cast<size_t>(width_) * static_cast<size_t>(height_);
    const size_t blocks = static_cast<size_t>(blocksX_) * static_cast<size_t>(blocksY_);
    current_.assign(pixels, 0.0f);
    background_.assign(pixels, 0.0f);
    residual_.assign(pixels, 0.0f);
    live_.assign(pixels, 0);
    changed_.assign(pixels, 0);
    blockChanged_.assign(blocks, 0);
    blockMotion_.assign(blocks, 0);
    blockGuard_.assign(blocks, 0);
    histogram_.assign(3 * kHistogramBins, 0);
    learned_ = false;
    rebuildZones();
}

void MotionDetector::rebuildZones() {
    includeMasks_.clear();
    includeNames_.clear();
    if (width_ == 0)
        return;
    eligible_ = zoneMask(config_.zones, width_, height_);
    for (const auto& zone : config_.zones) {
        if (!zone.include)
            continue;
        auto mask = polygonMask(zone.polygon, width_, height_);
        for (size_t i = 0; i < mask.size(); ++i)
            mask[i] &= eligible_[i];
        includeMasks_.push_back(std::move(mask));
        includeNames_.push_back(zone.name);
    }
}

void MotionDetector::relearn() {
    background_ = current_;
    learned_ = true;
    learnFrames_ = 1;
    learnUntilUs_ = nowUs_ + kLearnUs;
}

void MotionDetector::downscale(const uint8_t* gray, int stride) {
    const int f = factor_, w = width_, h = height_;
    const auto rowStride = static_cast<size_t>(stride);
    for (int y = 0; y < h; ++y) {
        float* out = current_.data() + static_cast<size_t>(y) * static_cast<size_t>(w);
        const uint8_t* in = gray + static_cast<size_t>(y * f) * rowStride;
        if (f == 1) {
            for (int x = 0; x < w; ++x)
                out[x] = in[x];
        } else if (f == 2) {  // 320 px wide: the usual case
            const uint8_t* next = in + rowStride;
            for (int x = 0; x < w; ++x) {
                const unsigned sum = in[2 * x] + in[2 * x + 1] + next[2 * x] + next[2 * x + 1];
                out[x] = static_cast<float>(sum) * 0.25f;
            }
        } else {
            const float scale = 1.0f / static_cast<float>(f * f);
            for (int x = 0; x < w; ++x) {
                unsigned sum = 0;
                for (int k = 0; k < f; ++k)
                    for (int j = 0; j < f; ++j)
                        sum +=
                            in[static_cast<size_t>(k) * rowStride + static_cast<size_t>(x * f + j)];
                out[x] = static_cast<float>(sum) * scale;
            }
        }
    }
}

void MotionDetector::debounce(bool raw, bool learning, int64_t timeUs, Result& result) {
    if (learning) {
        // We cannot tell while learning: an event under way is held open
        // rather than ended (a light change during a visit does not split
        // it), and nothing new builds up.
        if (active_)
            lastRawUs_ = nowUs_;
        runStartUs_ = -1;
    } else if (raw) {
        if (!active_) {
            if (runStartUs_ < 0 || nowUs_ - lastRawUs_ > kGapUs) {
                runStartUs_ = nowUs_;
                runStartCallerUs_ = timeUs;
            }
            const auto minUs = static_cast<int64_t>(std::llround(config_.minSeconds * 1e6));
            if (nowUs_ - runStartUs_ >= minUs) {
                active_ = true;
                result.started = true;
            }
        }
        lastRawUs_ = nowUs_;
        lastRawCallerUs_ = timeUs;
    } else if (active_) {
        if (nowUs_ - lastRawUs_ >= kEndUs) {
            active_ = false;
            runStartUs_ = -1;
            result.ended = true;
        }
    } else if (runStartUs_ >= 0 && nowUs_ - lastRawUs_ > kGapUs) {
        runStartUs_ = -1;
    }
    result.raw = raw;
    result.motion = active_;
    if (active_)
        result.startUs = runStartCallerUs_;
    result.lastMotionUs = lastRawCallerUs_;
}

MotionDetector::Result MotionDetector::feed(const uint8_t* gray, int width, int height, int stride,
                                            int64_t timeUs) {
    Result result;
    if (!gray || width < kMinSide || height < kMinSide || stride < width) {
        result.motion = active_;
        if (active_)
            result.startUs = runStartCallerUs_;
        result.lastMotionUs = lastRawCallerUs_;
        return result;
    }
    if (width != inWidth_ || height != inHeight_)
        resize(width, height);

    stepUs_ = haveTime_ ? std::clamp(timeUs - lastTimeUs_, int64_t{0}, kMaxStepUs) : kFirstStepUs;
    haveTime_ = true;
    lastTimeUs_ = timeUs;
    nowUs_ += stepUs_;

    downscale(gray, stride);
    if (!learned_) {
        relearn();
        debounce(false, true, timeUs, result);
        return result;
    }
    ++learnFrames_;
    const bool learning = nowUs_ < learnUntilUs_;
    // Locals: the compiler cannot keep members in registers across the
    // byte stores below (they may alias anything).
    const int w = width_, h = height_, bw = blocksX_, bh = blocksY_;
    uint8_t* live = live_.data();
    uint8_t* changed = changed_.data();
    const uint8_t* eligible = eligible_.data();
    const size_t pixels = current_.size();
    const float* cur = current_.data();
    float* bg = background_.data();

    // Live pixels: black in both the frame and the scene is a privacy mask
    // (or night with nothing lit); it cannot change and must not drag the
    // light-change fit towards zero. (Changes within the blackest 16 levels
    // are lost, but they are below any threshold anyway.) Split the rest at
    // the scene's median.
    std::array<uint32_t, 256> levels{};
    uint64_t liveCount = 0;
    for (size_t i = 0; i < pixels; ++i) {
        live[i] = cur[i] > kBlackLevel || bg[i] > kBlackLevel;
        if (live[i]) {
            ++levels[std::clamp(static_cast<int>(bg[i]), 0, 255)];
            ++liveCount;
        }
    }

    float offset = 0.0f, gain = 0.0f;
    bool relearnNow = false;
    uint64_t counted = 0;
    // Too little to see (all masked, or a black night): no statistics, no motion.
    const bool enoughLive = liveCount >= std::max<uint64_t>(64, pixels / 20);
    if (enoughLive) {
        // The dark half is below level `split`. Find the median level, then
        // put it on the side that balances the halves better.
        int split = 0;
        uint64_t below = 0;
        while (split < 255 && (below + levels[split]) * 2 < liveCount)
            below += levels[split++];
        if ((below + levels[split]) * 2 - liveCount < liveCount - 2 * below)
            ++split;

        // The global light change: a line through the medians of the two halves.
        uint32_t* dark = histogram_.data();
        uint32_t* bright = dark + kHistogramBins;
        uint32_t* spread = bright + kHistogramBins;
        std::fill(histogram_.begin(), histogram_.end(), 0u);
        double sumDark = 0.0, sumBright = 0.0;
        uint64_t nDark = 0, nBright = 0;
        for (size_t i = 0; i < pixels; ++i) {
            // A clipped pixel says only "at least this bright": it would
            // pull the bright half's median down when the light goes up.
            if (!live[i] || cur[i] >= kSaturated)
                continue;
            const float d = cur[i] - bg[i];
            if (static_cast<int>(bg[i]) < split) {
                ++dark[binOf(d)];
                sumDark += bg[i];
                ++nDark;
            } else {
                ++bright[binOf(d)];
                sumBright += bg[i];
                ++nBright;
            }
        }
        const double meanDark = nDark ? sumDark / static_cast<double>(nDark) : 0.0;
        const double meanBright = nBright ? sumBright / static_cast<double>(nBright) : 0.0;
        if (nDark * 10 >= liveCount && nBright * 10 >= liveCount &&
            meanBright - meanDark >= kMinHalfSpread) {
            const double mDark = medianOf(dark, nullptr, nDark);
            const double mBright = medianOf(bright, nullptr, nBright);
            const double g =
                std::clamp((mBright - mDark) / (meanBright - meanDark), kMinGain, kMaxGain);
            gain = static_cast<float>(g);
            offset = static_cast<float>(mDark - g * meanDark);
        } else {
            // A flat scene: no lever for a gain, only an offset.
            offset = medianOf(dark, bright, nDark + nBright);
        }

        // What the light change leaves, and its spread: the noise.
        float* res = residual_.data();
        for (size_t i = 0; i < pixels; ++i) {
            if (!live[i]) {
                res[i] = 0.0f;
                continue;
            }
            // The camera clips what the light change predicts, too.
            const float predicted = std::clamp(bg[i] + offset + gain * bg[i], 0.0f, 255.0f);
            res[i] = cur[i] - predicted;
            ++spread[binOf(std::fabs(res[i]))];
        }
        // A change across most of the picture looks like noise to this
        // estimate; so the threshold uses a running level that may rise only
        // slowly, and such a change stands out instead of hiding itself.
        const double frameSigma =
            std::max(kSigmaFloor, kMadToSigma * medianOf(spread, nullptr, liveCount));
        if (learning || noise_ <= 0.0) {
            noise_ = frameSigma;
        } else {
            noise_ +=
                alphaFor(stepUs_, kNoiseTau) * (std::min(frameSigma, kNoiseRise * noise_) - noise_);
        }
        const auto threshold = static_cast<float>(std::max(floorLevels_, sigmas_ * noise_));

        // Changed pixels, counted per block.
        std::fill(blockChanged_.begin(), blockChanged_.end(), uint16_t{0});
        uint64_t changedLive = 0;
        for (int y = 0; y < h; ++y) {
            const size_t row = static_cast<size_t>(y) * static_cast<size_t>(w);
            uint16_t* blocks = blockChanged_.data() + static_cast<size_t>(y / kBlock) * bw;
            for (int x = 0; x < w; ++x) {
                const size_t i = row + static_cast<size_t>(x);
                const uint8_t c = live[i] && std::fabs(res[i]) > threshold;
                changed[i] = c;
                changedLive += c;
                blocks[x / kBlock] += c;
            }
        }
        relearnNow =
            static_cast<double>(changedLive) > kRelearnFraction * static_cast<double>(liveCount);

        if (!relearnNow) {
            for (size_t b = 0; b < blockChanged_.size(); ++b)
                blockMotion_[b] = blockChanged_[b] >= kBlockNeed;
            // The blocks around motion are spared fast adaptation too: an
            // object's soft edges and shadow would otherwise be learned first
            // and eat it from the outside.
            for (int by = 0; by < bh; ++by) {
                for (int bx = 0; bx < bw; ++bx) {
                    uint8_t guard = 0;
                    for (int ny = std::max(0, by - 1); ny <= std::min(bh - 1, by + 1); ++ny)
                        for (int nx = std::max(0, bx - 1); nx <= std::min(bw - 1, bx + 1); ++nx)
                            guard |= blockMotion_[static_cast<size_t>(ny) * bw + nx];
                    blockGuard_[static_cast<size_t>(by) * bw + bx] = guard;
                }
            }
            for (int y = 0; y < h; ++y) {
                const size_t row = static_cast<size_t>(y) * static_cast<size_t>(w);
                const uint8_t* blocks = blockMotion_.data() + static_cast<size_t>(y / kBlock) * bw;
                for (int x = 0; x < w; ++x) {
                    const size_t i = row + static_cast<size_t>(x);
                    // Reuse changed_ for "counts": changed, in a motion block, eligible.
                    changed[i] = changed[i] & blocks[x / kBlock] & eligible[i];
                    counted += changed[i];
                }
            }
        }
    }

    if (!enoughLive)
        std::fill(blockGuard_.begin(), blockGuard_.end(), uint8_t{0});
    if (relearnNow) {
        relearn();
        debounce(false, true, timeUs, result);
        return result;
    }

    result.score = static_cast<double>(counted) / static_cast<double>(pixels);
    const bool raw = !learning && counted > 0 && result.score >= minArea_;
    if (raw) {
        // Name the zones holding a good part of it: half the smallest object
        // is enough, so motion across two zones names both.
        const double namePixels = 0.5 * minArea_ * static_cast<double>(pixels);
        for (size_t z = 0; z < includeMasks_.size(); ++z) {
            const uint8_t* mask = includeMasks_[z].data();
            uint64_t inZone = 0;
            for (size_t i = 0; i < pixels; ++i)
                inZone += changed[i] & mask[i];
            if (inZone > 0 && static_cast<double>(inZone) >= namePixels)
                result.zones.push_back(includeNames_[z]);
        }
    }

    // Learn. While learning: a plain average of the frames so far (1/n),
    // then the running average. Guarded (motion) pixels follow the global
    // light change at the normal pace but their content only slowly.
    if (learning) {
        const auto alpha = static_cast<float>(
            std::max(alphaFor(stepUs_, kSceneTau), 1.0 / static_cast<double>(learnFrames_)));
        for (size_t i = 0; i < pixels; ++i)
            bg[i] += alpha * (cur[i] - bg[i]);
    } else {
        const auto alpha = static_cast<float>(alphaFor(stepUs_, kSceneTau));
        const auto slow = static_cast<float>(alphaFor(stepUs_, kMotionTau));
        const float* res = residual_.data();
        for (int y = 0; y < h; ++y) {
            const size_t row = static_cast<size_t>(y) * static_cast<size_t>(w);
            const uint8_t* guard = blockGuard_.data() + static_cast<size_t>(y / kBlock) * bw;
            for (int x = 0; x < w; ++x) {
                const size_t i = row + static_cast<size_t>(x);
                const float d = cur[i] - bg[i];
                if (guard[x / kBlock] && live[i])
                    bg[i] += alpha * (d - res[i]) + slow * res[i];
                else
                    bg[i] += alpha * d;
            }
        }
    }
    debounce(raw, learning, timeUs, result);
    return result;
}

}  // namespace porchlight
