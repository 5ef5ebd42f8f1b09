// Motion detection for one camera: from the small grey frames of the
// pipeline's raw branch (GRAY8, at most a few hundred pixels wide, about
// 5 fps, privacy masks already burned in black) to debounced motion events,
// counted only inside the owner's zones.
//
// Pure computation: no GStreamer, no clock, no threads, and no allocation
// per frame once the picture size is known (beyond the zone names in a
// Result). The caller passes each frame's time, so tests drive it with
// synthetic scenes at any speed. One instance per camera, used from one
// thread (the daemon's event loop).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "config.h"

namespace porchlight {

/// Which pixels of a width x height picture lie inside \a polygon (normalized
/// coordinates): a pixel is inside when its centre is, by the even-odd rule.
/// Row-major, 1 inside, 0 outside.
std::vector<uint8_t> polygonMask(const Polygon& polygon, int width, int height);

/// The pixels where motion counts: inside any include zone (everywhere when
/// there is none) and outside every exclude zone. Row-major, 1 counts.
std::vector<uint8_t> zoneMask(const std::vector<MotionZone>& zones, int width, int height);

class MotionDetector {
public:
    struct Result {
        /// Debounced: an event is under way (from `started` until `ended`).
        bool motion = false;
        /// This frame began an event: motion lasted minSeconds (short gaps allowed).
        bool started = false;
        /// This frame ended the event: no motion for 2 s.
        bool ended = false;
        /// This frame alone shows enough motion (before debouncing).
        bool raw = false;
        /// Changed pixels that count (in zones, in changed blocks), as a
        /// fraction of the whole picture, so that sensitivity means an
        /// object's size whatever the zones' size.
        double score = 0.0;
        /// Include zones with motion in this frame, in configuration order
        /// (empty without include zones).
        std::vector<std::string> zones;
        /// With `motion`: the caller's time of the first frame of this motion.
        int64_t startUs = 0;
        /// The caller's time of the last frame that showed motion (with
        /// `ended`: the event's real end, 2 s before this frame).
        int64_t lastMotionUs = 0;
    };

    explicit MotionDetector(const MotionConfig& config);

    /// New settings take effect at the next frame; the learned scene is kept.
    /// `enabled` is the caller's business and ignored here.
    void configure(const MotionConfig& config);

    /// Forget the scene and any event (e.g. the camera restarted).
    void reset();

    /// Analyse one frame; \a timeUs should be monotonic (steps are clamped to
    /// 0..2 s, so a wall clock that jumps cannot stretch an event). A frame
    /// whose size differs from the last one starts learning the scene again.
    /// An unusable frame (null, smaller than 8x8, stride < width) is ignored.
    Result feed(const uint8_t* gray, int width, int height, int stride, int64_t timeUs);

    bool motion() const { return active_; }
    /// The resolution analysed after downscaling (0 before the first frame).
    int analysisWidth() const { return width_; }
    int analysisHeight() const { return height_; }

private:
    void resize(int inWidth, int inHeight);
    void rebuildZones();
    void relearn();
    void downscale(const uint8_t* gray, int stride);
    void debounce(bool raw, bool learning, int64_t timeUs, Result& result);

    MotionConfig config_;
    // Derived from sensitivity (see tuningFor() in motion.cpp).
    double sigmas_ = 0.0;
    double floorLevels_ = 0.0;
    double minArea_ = 0.0;

    int inWidth_ = 0, inHeight_ = 0;  // the caller's frame size
    int factor_ = 1;                  // downscale factor (each side)
    int width_ = 0, height_ = 0;      // analysed size
    int blocksX_ = 0, blocksY_ = 0;

    std::vector<float> current_;     // this frame, downscaled
    std::vector<float> background_;  // the learned scene
    std::vector<float> residual_;    // current - background - global light change
    std::vector<uint8_t> live_;      // 0: black in frame and scene (a privacy mask)
    std::vector<uint8_t> changed_;   // residual above the noise threshold
    std::vector<uint8_t> eligible_;  // zoneMask()
    std::vector<std::vector<uint8_t>> includeMasks_;  // per include zone, excludes removed
    std::vector<std::string> includeNames_;
    std::vector<uint16_t> blockChanged_;  // changed live pixels per 4x4 block
    std::vector<uint8_t> blockMotion_;    // block counts as motion
    std::vector<uint8_t> blockGuard_;     // motion blocks and their neighbours
    std::vector<uint32_t> histogram_;     // scratch for the medians
    double noise_ = 0.0;                  // sensor noise, grey levels (sigma)

    bool learned_ = false;  // background_ holds a scene
    int learnFrames_ = 0;   // frames since (re)learning began
    int64_t learnUntilUs_ = 0;

    // Time runs on our own clock, advanced by the clamped steps between frames.
    bool haveTime_ = false;
    int64_t lastTimeUs_ = 0;  // the caller's time of the previous frame
    int64_t nowUs_ = 0;
    int64_t stepUs_ = 0;

    // Debouncing, on our clock (run start < 0: no run).
    bool active_ = false;
    int64_t runStartUs_ = -1;
    int64_t lastRawUs_ = 0;
    int64_t runStartCallerUs_ = 0;
    int64_t lastRawCallerUs_ = 0;
};

}  // namespace porchlight
