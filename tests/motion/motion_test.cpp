// The motion detector on synthetic doorbell scenes: what an owner would
// notice. Quiet scenes, noise, compression and light changes must not raise
// events; a person walking by must, promptly, and only in the owner's zones.
//
// Frames come at 5 fps with timestamps 200 ms apart, generated in code with a
// seeded PRNG (synthetic_scene.h), so every run sees the same pictures.
#include "motion.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "synthetic_scene.h"

namespace porchlight {
namespace {

using test::Blob;
using test::FrameState;
using test::Rect;
using test::Scene;
using test::SceneOptions;

constexpr int64_t kFrameUs = 200'000;  // 5 fps
constexpr int64_t kT0Us = 1'000'000'000;
constexpr int kFps = 5;

/// A scene and a detector, and what happened so far.
class Harness {
public:
    explicit Harness(const MotionConfig& config, const SceneOptions& options = {})
        : scene_(options), detector_(config) {}

    MotionDetector& detector() { return detector_; }
    /// Seconds since the first frame.
    double now() const { return static_cast<double>(frames_) / kFps; }

    MotionDetector::Result step(const FrameState& state = {}) {
        const auto& frame = scene_.render(state);
        const int64_t t = kT0Us + frames_ * kFrameUs;
        ++frames_;
        auto r = detector_.feed(frame.data(), scene_.width(), scene_.height(), scene_.width(), t);
        if (r.started) {
            ++started_;
            if (firstStart_ < 0)
                firstStart_ = now() - 1.0 / kFps;
        }
        if (r.ended) {
            ++ended_;
            lastEnd_ = now() - 1.0 / kFps;
        }
        if (r.raw)
            ++rawFrames_;
        maxScore_ = std::max(maxScore_, r.score);
        return r;
    }

    /// Feed \a seconds of frames, each from \a state(seconds since this call).
    void run(double seconds, const std::function<FrameState(double)>& state) {
        const int n = static_cast<int>(std::lround(seconds * kFps));
        for (int i = 0; i < n; ++i)
            step(state(static_cast<double>(i) / kFps));
    }
    void idle(double seconds) {
        run(seconds, [](double) { return FrameState{}; });
    }

    /// Forget the counters (e.g. after learning the scene).
    void clearCounters() {
        started_ = ended_ = rawFrames_ = 0;
        firstStart_ = lastEnd_ = -1;
        maxScore_ = 0;
    }

    int started() const { return started_; }
    int ended() const { return ended_; }
    int rawFrames() const { return rawFrames_; }
    double maxScore() const { return maxScore_; }
    double firstStart() const { return firstStart_; }  // seconds, -1: never
    double lastEnd() const { return lastEnd_; }

private:
    Scene scene_;
    MotionDetector detector_;
    int64_t frames_ = 0;
    int started_ = 0, ended_ = 0, rawFrames_ = 0;
    double firstStart_ = -1, lastEnd_ = -1;
    double maxScore_ = 0;
};

MotionConfig config(double sensitivity = 0.5, double minSeconds = 1.0,
                    std::vector<MotionZone> zones = {}) {
    MotionConfig c;
    c.enabled = true;
    c.sensitivity = sensitivity;
    c.minSeconds = minSeconds;
    c.zones = std::move(zones);
    return c;
}

MotionZone zone(std::string name, bool include, double x0, double y0, double x1, double y1) {
    MotionZone z;
    z.name = std::move(name);
    z.include = include;
    z.polygon.points = {{x0, y0}, {x1, y0}, {x1, y1}, {x0, y1}};
    return z;
}

/// A person-sized blob (30x80 at 320x240, dark clothes) crossing the picture
/// left to right in \a seconds, entering at t = 0.
Blob walker(double t, double seconds = 3.0, int level = 40) {
    const double x = -30.0 + (320.0 + 30.0) * t / seconds;
    return Blob{x, 120, 30, 80, level};
}

FrameState with(std::vector<Blob> blobs) {
    FrameState s;
    s.blobs = std::move(blobs);
    return s;
}

// 1. Noise and compression blockiness alone, a minute long, at default and
// high sensitivity.
TEST(Motion, StaticNoisySceneNeverFires) {
    for (const double sensitivity : {0.5, 0.9}) {
        SCOPED_TRACE(sensitivity);
        Harness h(config(sensitivity));
        h.idle(2);
        h.clearCounters();
        h.idle(60);
        EXPECT_EQ(h.started(), 0);
        EXPECT_EQ(h.rawFrames(), 0);
        EXPECT_LT(h.maxScore(), 0.0005);
        EXPECT_FALSE(h.detector().motion());
    }
}

// 2. Dusk or dawn: +40 levels over a minute, added or multiplied.
TEST(Motion, SlowLightChangeIsNotMotion) {
    Harness add(config());
    add.idle(2);
    add.clearCounters();
    add.run(60, [](double t) {
        FrameState s;
        s.offset = 40.0 * t / 60.0;
        return s;
    });
    EXPECT_EQ(add.started(), 0);
    EXPECT_EQ(add.rawFrames(), 0);

    Harness multiply(config());
    multiply.idle(2);
    multiply.clearCounters();
    multiply.run(60, [](double t) {
        FrameState s;
        s.gain = 1.0 + 0.33 * t / 60.0;  // about +40 at the scene's mean level
        return s;
    });
    EXPECT_EQ(multiply.started(), 0);
    EXPECT_EQ(multiply.rawFrames(), 0);
}

// 3. A person crosses in 3 s: an event starts soon after they enter and ends
// about 2 s after they leave.
TEST(Motion, WalkerStartsAndEnds) {
    struct Case {
        double minSeconds;
        double startWithin;
    };
    for (const Case c : {Case{0.5, 1.0}, Case{1.0, 1.5}}) {
        SCOPED_TRACE(c.minSeconds);
        Harness h(config(0.5, c.minSeconds));
        h.idle(5);
        h.clearCounters();
        const double enter = h.now();
        h.run(3, [&](double t) { return with({walker(t)}); });
        const double leave = h.now();
        ASSERT_EQ(h.started(), 1);
        EXPECT_GE(h.firstStart() - enter, c.minSeconds - 1e-9);
        EXPECT_LE(h.firstStart() - enter, c.startWithin);
        EXPECT_EQ(h.ended(), 0) << "ended while still walking";
        EXPECT_TRUE(h.detector().motion());

        h.idle(5);
        EXPECT_EQ(h.started(), 1);
        ASSERT_EQ(h.ended(), 1);
        EXPECT_GE(h.lastEnd() - leave, 1.6);
        EXPECT_LE(h.lastEnd() - leave, 2.6);
        EXPECT_FALSE(h.detector().motion());
    }
}

// The event's start time is when motion began, not when it was confirmed.
TEST(Motion, StartTimeIsFirstMotion) {
    Harness h(config(0.5, 1.0));
    h.idle(5);  // 25 frames: the walker's first frame is the 26th
    const int64_t enterUs = kT0Us + 25 * kFrameUs;
    int64_t startUs = 0;
    for (int i = 0; i < 15 && startUs == 0; ++i) {
        const auto r = h.step(with({walker(i / 5.0)}));
        if (r.started)
            startUs = r.startUs;
    }
    ASSERT_NE(startUs, 0);
    EXPECT_GE(startUs, enterUs);
    EXPECT_LE(startUs, enterUs + 2 * kFrameUs);
}

// 4. Zones: motion where the owner excluded it is ignored; inside an include
// zone it fires and is named.
TEST(Motion, ZonesDecideWhereMotionCounts) {
    // Someone pacing on the right of the picture (x 200..290).
    const auto pacing = [](double t) {
        const double phase = std::fmod(t, 2.0);
        const double x = 200 + 60 * (phase < 1.0 ? phase : 2.0 - phase);
        return with({Blob{x, 100, 30, 80, 40}});
    };

    Harness excluded(config(0.5, 1.0, {zone("street", false, 0.6, 0.0, 1.0, 1.0)}));
    excluded.idle(3);
    excluded.clearCounters();
    excluded.run(8, pacing);
    EXPECT_EQ(excluded.started(), 0);
    EXPECT_EQ(excluded.rawFrames(), 0);

    Harness included(
        config(0.5, 1.0,
               {zone("lawn", true, 0.0, 0.0, 0.4, 1.0), zone("path", true, 0.6, 0.0, 1.0, 1.0)}));
    included.idle(3);
    included.clearCounters();
    included.run(8, pacing);
    EXPECT_EQ(included.started(), 1);
    const auto r = included.step(pacing(8.0));
    EXPECT_TRUE(r.raw);
    EXPECT_EQ(r.zones, std::vector<std::string>{"path"});

    // Outside every include zone counts as excluded.
    Harness elsewhere(config(0.5, 1.0, {zone("lawn", true, 0.0, 0.0, 0.4, 1.0)}));
    elsewhere.idle(3);
    elsewhere.clearCounters();
    elsewhere.run(8, pacing);
    EXPECT_EQ(elsewhere.started(), 0);
    EXPECT_EQ(elsewhere.rawFrames(), 0);
}

// Changing zones at run time takes effect without re-learning the scene.
TEST(Motion, ReconfigureZones) {
    const auto pacing = [](double t) {
        const double phase = std::fmod(t, 2.0);
        return with({Blob{200 + 60 * (phase < 1.0 ? phase : 2.0 - phase), 100, 30, 80, 40}});
    };
    Harness h(config(0.5, 1.0, {zone("street", false, 0.6, 0.0, 1.0, 1.0)}));
    h.idle(3);
    h.run(4, pacing);
    EXPECT_EQ(h.started(), 0);
    h.detector().configure(config(0.5, 1.0));
    h.run(4, pacing);
    EXPECT_EQ(h.started(), 1);
}

// 5. Privacy masks: what is burned black cannot move, and a blinking light
// in an exclude zone is ignored (while the same light unexcluded is seen).
TEST(Motion, MaskedRegionsAndExcludedFlicker) {
    SceneOptions masked;
    masked.masks = {Rect{0, 0, 120, 240}};
    Harness behindMask(config(0.9, 0.5), masked);
    behindMask.idle(3);
    behindMask.clearCounters();
    behindMask.run(10, [](double t) {
        return with({Blob{10 + 40 * std::sin(t), 60, 30, 80, 40}});  // within x < 120
    });
    EXPECT_EQ(behindMask.started(), 0);
    EXPECT_EQ(behindMask.rawFrames(), 0);

    // A 20x20 light blinking at 1 Hz at (250, 30), beside the window.
    const auto blinking = [](double t) {
        const bool on = std::fmod(t, 1.0) < 0.5;
        return with({Blob{250, 30, 20, 20, on ? 235 : 60}});
    };
    Harness excluded(config(0.5, 1.0, {zone("lamp", false, 0.75, 0.1, 0.85, 0.25)}), masked);
    excluded.idle(3);
    excluded.clearCounters();
    excluded.run(20, blinking);
    EXPECT_EQ(excluded.started(), 0);
    EXPECT_EQ(excluded.rawFrames(), 0);

    Harness seen(config(0.5, 1.0), masked);
    seen.idle(3);
    seen.clearCounters();
    seen.run(20, blinking);
    EXPECT_GE(seen.started(), 1) << "the control case: the blinking light is visible";
}

// 6. Lights switched on: at most a blip, no event; afterwards a walker is
// still seen.
TEST(Motion, LightsSwitchedOn) {
    struct Case {
        const char* name;
        std::function<FrameState()> lit;
    };
    const std::vector<Case> cases = {
        {"offset +60",
         [] {
             FrameState s;
             s.offset = 60;
             return s;
         }},
        {"gain x1.6",
         [] {
             FrameState s;
             s.gain = 1.6;
             return s;
         }},
        {"lamp on the left (no gain or offset explains it)",
         [] {
             FrameState s;
             s.remap = [](int x, int, double level) { return level + 120.0 * (1.0 - x / 320.0); };
             return s;
         }},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.name);
        Harness h(config(0.5, 1.0));
        h.idle(5);
        h.clearCounters();
        h.run(3, [&](double) { return c.lit(); });
        EXPECT_EQ(h.started(), 0);
        EXPECT_LE(h.rawFrames(), 2);
        EXPECT_FALSE(h.detector().motion());

        // 3 s after the switch, someone walks by: seen as promptly as ever.
        const double enter = h.now();
        h.run(3, [&](double t) {
            FrameState s = c.lit();
            s.blobs = {walker(t)};
            return s;
        });
        EXPECT_EQ(h.started(), 1);
        EXPECT_LE(h.firstStart() - enter, 1.5);

        // And the lit scene stays quiet.
        h.run(10, [&](double) { return c.lit(); });
        EXPECT_EQ(h.started(), 1);
        EXPECT_EQ(h.ended(), 1);
        EXPECT_FALSE(h.detector().motion());
    }
}

// Auto exposure nudging the picture every few seconds, by amounts that
// change half the pixels by more than the threshold, raises nothing.
TEST(Motion, ExposureStepsDoNotFire) {
    Harness h(config(0.9, 1.0));
    h.idle(3);
    h.clearCounters();
    const std::vector<std::pair<double, double>> steps = {{1.08, 0}, {1.0, 0},  {0.93, 0},
                                                          {1.0, 12}, {1.1, -8}, {1.0, 0}};
    for (const auto& [gain, offset] : steps) {
        // Named copies: clang 14 cannot capture a structured binding.
        h.run(4, [g = gain, o = offset](double) {
            FrameState s;
            s.gain = g;
            s.offset = o;
            return s;
        });
    }
    EXPECT_EQ(h.started(), 0);
    EXPECT_EQ(h.rawFrames(), 0);
}

// The light changes while someone is at the door: they are seen throughout,
// in one event. A privacy mask (which does not brighten) must not confuse
// the light-change estimate.
TEST(Motion, LightChangeDuringVisit) {
    SceneOptions masked;
    masked.masks = {Rect{0, 0, 110, 240}};
    Harness h(config(0.5, 0.5), masked);
    h.idle(5);
    h.clearCounters();
    int blindFrames = 0;
    for (int i = 0; i < 20; ++i) {  // 4 s crossing x 120..320, lights +40 at 2 s
        FrameState s;
        s.blobs = {Blob{120.0 + 200.0 * i / 20.0, 120, 30, 80, 40}};
        s.offset = i >= 10 ? 40 : 0;
        const auto r = h.step(s);
        if (i >= 1 && !r.raw)
            ++blindFrames;
    }
    EXPECT_EQ(blindFrames, 0);
    EXPECT_EQ(h.started(), 1);
    EXPECT_EQ(h.ended(), 0);
    FrameState lit;
    lit.offset = 40;
    h.run(5, [&](double) { return lit; });
    EXPECT_EQ(h.started(), 1);
    EXPECT_EQ(h.ended(), 1);
}

// 7. Sensitivity: a 10x10 object (a cat far away) is seen at 0.9, not at 0.1.
TEST(Motion, SensitivityDecidesTheSmallestObject) {
    const auto smallThing = [](double t) {
        return with({Blob{100 + 40 * std::sin(t), 60, 10, 10, 40}});
    };
    Harness high(config(0.9, 1.0));
    high.idle(3);
    high.clearCounters();
    high.run(5, smallThing);
    EXPECT_EQ(high.started(), 1);

    Harness low(config(0.1, 1.0));
    low.idle(3);
    low.clearCounters();
    low.run(5, smallThing);
    EXPECT_EQ(low.started(), 0);
    EXPECT_EQ(low.rawFrames(), 0);
    EXPECT_GT(low.maxScore(), 0.0) << "the object changed pixels; only the threshold held it";
}

// A parked car is absorbed into the scene within a minute; a person standing
// still at the door is not absorbed within 15 s.
TEST(Motion, PersistentChangesAreAbsorbedSlowly) {
    Harness car(config());
    car.idle(5);
    car.clearCounters();
    const Blob parked{20, 150, 100, 60, 200};
    car.run(60, [&](double) { return with({parked}); });
    EXPECT_EQ(car.started(), 1);
    EXPECT_EQ(car.ended(), 1);
    EXPECT_FALSE(car.detector().motion());

    Harness person(config());
    person.idle(5);
    person.clearCounters();
    person.run(1.5, [](double t) { return with({walker(t, 3.0)}); });  // walks to the door
    const Blob standing = walker(1.5, 3.0);
    person.run(20, [&](double) { return with({standing}); });
    EXPECT_EQ(person.started(), 1);
    EXPECT_EQ(person.ended(), 0) << "a person standing 20 s was absorbed";
    EXPECT_TRUE(person.detector().motion());
    EXPECT_TRUE(person.step(with({standing})).raw);
}

// 8. A zone's pixels: centres inside the polygon, even-odd rule.
TEST(Motion, PolygonMaskGeometry) {
    // Right triangle (0,0) (1,0) (0,1) on 8x8: centre (x+.5, y+.5)/8 is
    // inside when x + y < 7. Centres on the hypotenuse (x + y = 7) are out by
    // the half-open rule, exactly: eighths are exact in binary.
    Polygon triangle;
    triangle.points = {{0.0, 0.0}, {1.0, 0.0}, {0.0, 1.0}};
    const auto mask = polygonMask(triangle, 8, 8);
    ASSERT_EQ(mask.size(), 64u);
    for (int y = 0; y < 8; ++y)
        for (int x = 0; x < 8; ++x)
            EXPECT_EQ(mask[y * 8 + x], x + y < 7 ? 1 : 0) << x << "," << y;

    // A general triangle against a brute-force crossing count.
    Polygon t2;
    t2.points = {{0.13, 0.11}, {0.91, 0.27}, {0.41, 0.93}};
    const int w = 37, hgt = 23;
    const auto m2 = polygonMask(t2, w, hgt);
    int inside = 0;
    for (int y = 0; y < hgt; ++y) {
        for (int x = 0; x < w; ++x) {
            const double px = (x + 0.5) / w, py = (y + 0.5) / hgt;
            bool in = false;
            const auto& p = t2.points;
            for (size_t i = 0, j = p.size() - 1; i < p.size(); j = i++) {
                if ((p[i].second > py) != (p[j].second > py) &&
                    px < (p[j].first - p[i].first) * (py - p[i].second) /
                                 (p[j].second - p[i].second) +
                             p[i].first)
                    in = !in;
            }
            EXPECT_EQ(m2[y * w + x], in ? 1 : 0) << x << "," << y;
            inside += in;
        }
    }
    // Shoelace area 0.2886 of 851 pixels: about 246.
    EXPECT_NEAR(inside, 246, 15);

    // Even-odd: a self-overlapping "bow tie" has both lobes and its crossing point out.
    Polygon bowtie;
    bowtie.points = {{0.0, 0.0}, {1.0, 1.0}, {1.0, 0.0}, {0.0, 1.0}};
    const auto m3 = polygonMask(bowtie, 10, 10);
    EXPECT_EQ(m3[5 * 10 + 0], 1);  // left lobe
    EXPECT_EQ(m3[5 * 10 + 9], 1);  // right lobe
    EXPECT_EQ(m3[0 * 10 + 5], 0);  // top, between the lobes
    EXPECT_EQ(m3[9 * 10 + 5], 0);

    // Degenerate polygons cover nothing.
    Polygon line;
    line.points = {{0.0, 0.0}, {1.0, 1.0}};
    const auto m4 = polygonMask(line, 4, 4);
    EXPECT_EQ(std::count(m4.begin(), m4.end(), 1), 0);
}

TEST(Motion, ZoneMaskCombinesIncludeAndExclude) {
    const auto all = zoneMask({}, 10, 10);
    EXPECT_EQ(std::count(all.begin(), all.end(), 1), 100);

    const auto onlyExclude = zoneMask({zone("a", false, 0.0, 0.0, 0.5, 1.0)}, 10, 10);
    EXPECT_EQ(std::count(onlyExclude.begin(), onlyExclude.end(), 1), 50);
    EXPECT_EQ(onlyExclude[9], 1);
    EXPECT_EQ(onlyExclude[0], 0);

    // Exclusions win, whatever order they are written in.
    const auto both = zoneMask(
        {zone("hole", false, 0.2, 0.2, 0.4, 0.4), zone("left", true, 0.0, 0.0, 0.5, 1.0)}, 10, 10);
    EXPECT_EQ(std::count(both.begin(), both.end(), 1), 50 - 4);
    EXPECT_EQ(both[3 * 10 + 3], 0);
    EXPECT_EQ(both[3 * 10 + 1], 1);
    EXPECT_EQ(both[3 * 10 + 7], 0);
}

// The raw branch may be 16:9; wider frames are downscaled more.
TEST(Motion, FrameSizes) {
    SceneOptions wide;
    wide.width = 320;
    wide.height = 180;
    Harness h(config(0.5, 0.5), wide);
    h.idle(3);
    EXPECT_EQ(h.detector().analysisWidth(), 160);
    EXPECT_EQ(h.detector().analysisHeight(), 90);
    h.clearCounters();
    h.run(3, [](double t) { return with({Blob{-30 + 350 * t / 3, 60, 30, 80, 40}}); });
    EXPECT_EQ(h.started(), 1);

    MotionDetector d(config());
    std::vector<uint8_t> big(640 * 480, 100);
    d.feed(big.data(), 640, 480, 640, 0);
    EXPECT_EQ(d.analysisWidth(), 160);
    EXPECT_EQ(d.analysisHeight(), 120);
    // Unusable frames are ignored, not crashed on.
    const auto r = d.feed(nullptr, 640, 480, 640, kFrameUs);
    EXPECT_FALSE(r.raw);
    d.feed(big.data(), 4, 4, 4, kFrameUs);
    d.feed(big.data(), 640, 480, 320, kFrameUs);
    EXPECT_EQ(d.analysisWidth(), 160);
}

// A clock that jumps an hour ahead counts as a short gap: the scene is not
// relearned in one step, so a person standing at the door stays seen.
TEST(Motion, TimeJumpsAreClamped) {
    MotionDetector d(config(0.5, 0.5));
    Scene scene(SceneOptions{});
    int64_t t = 0;
    const auto feed = [&](const FrameState& s, int64_t step) {
        t += step;
        const auto& f = scene.render(s);
        return d.feed(f.data(), 320, 240, 320, t);
    };
    for (int i = 0; i < 15; ++i)
        feed({}, kFrameUs);
    bool started = false;
    for (int i = 0; i < 8; ++i)
        started |= feed(with({walker(i / 5.0)}), kFrameUs).started;
    ASSERT_TRUE(started);
    const Blob standing = walker(1.6);
    const auto jumped = feed(with({standing}), 3'600'000'000);
    EXPECT_TRUE(jumped.raw);
    for (int i = 0; i < 5; ++i) {
        const auto r = feed(with({standing}), kFrameUs);
        EXPECT_TRUE(r.raw) << i;
        EXPECT_TRUE(r.motion) << i;
    }
}

}  // namespace
}  // namespace porchlight
