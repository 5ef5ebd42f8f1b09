// Tests for the configuration loader: what the owner sees for every kind of
// mistake (FILE:LINE:COLUMN and the message), defaults, drop-in merging, and
// that the configuration files we ship are valid.
#include "config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <numbers>
#include <regex>
#include <sstream>

namespace porchlight {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;
using ::testing::StartsWith;

ConfigResult parse(const std::string& text, const std::string& name = "main.toml") {
    return parseConfig({{name, text}});
}

std::vector<std::string> messages(const ConfigResult& result) {
    std::vector<std::string> out;
    for (const ConfigDiagnostic& d : result.diagnostics)
        out.push_back(d.format());
    return out;
}

/// Parses \a text and expects a valid configuration, showing any messages.
Config parseOk(const std::string& text) {
    ConfigResult r = parse(text);
    EXPECT_TRUE(r.ok()) << ::testing::PrintToString(messages(r));
    EXPECT_THAT(messages(r), IsEmpty());
    return r.config.value_or(Config{});
}

/// A directory under the test's temp dir, removed with everything in it.
class TempDir {
public:
    TempDir() {
        std::string templ = ::testing::TempDir() + "/porchlight-config-XXXXXX";
        char* made = ::mkdtemp(templ.data());
        EXPECT_NE(made, nullptr);
        path_ = templ;
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;

    const std::filesystem::path& path() const { return path_; }

    /// Writes \a text to \a relative, creating directories; returns the full path.
    std::string write(const std::string& relative, const std::string& text) const {
        std::filesystem::path p = path_ / relative;
        std::filesystem::create_directories(p.parent_path());
        std::ofstream(p) << text;
        return p.string();
    }

private:
    std::filesystem::path path_;
};

std::string readSourceFile(const std::string& relative) {
    std::ifstream in(std::string(PORCHLIGHT_SOURCE_DIR) + "/" + relative);
    EXPECT_TRUE(in.good()) << relative;
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

TEST(Config, EmptyFileGivesDefaults) {
    ConfigResult r = parse("");
    ASSERT_TRUE(r.ok()) << ::testing::PrintToString(messages(r));
    EXPECT_THAT(r.config->cameras, IsEmpty());
    EXPECT_EQ(r.config->storage.segmentSeconds, 60.0);
    EXPECT_EQ(r.config->log.level, "info");
    EXPECT_THAT(r.config->log.categories, IsEmpty());
    EXPECT_THAT(r.config->files, ElementsAre("main.toml"));
}

TEST(Config, MissingMainFileGivesDefaults) {
    TempDir dir;
    ConfigResult r = loadConfig(dir.path() / "porchlight.toml");
    ASSERT_TRUE(r.ok()) << ::testing::PrintToString(messages(r));
    EXPECT_THAT(r.config->cameras, IsEmpty());
    EXPECT_EQ(r.config->storage.segmentSeconds, 60.0);
    EXPECT_THAT(r.config->files, IsEmpty());
    EXPECT_THAT(configFilesFor(dir.path() / "porchlight.toml"), IsEmpty());
}

TEST(Config, CameraDefaults) {
    Config c = parseOk("[[camera]]\nid = \"door\"\n");
    ASSERT_THAT(c.cameras, SizeIs(1));
    const CameraConfig& cam = c.cameras[0];
    EXPECT_EQ(cam.id, "door");
    EXPECT_EQ(cam.source, SourceKind::Test);
    EXPECT_EQ(cam.pattern, "smpte");
    EXPECT_EQ(cam.width, 1280);
    EXPECT_EQ(cam.height, 720);
    EXPECT_EQ(cam.framerate, 15);
    EXPECT_EQ(cam.bitrate, 2'000'000);
    EXPECT_EQ(cam.keyframeInterval, 2.0);
    EXPECT_EQ(cam.mode, RecordingMode::Continuous);
    EXPECT_EQ(cam.preRollSeconds, 5.0);
    EXPECT_EQ(cam.postRollSeconds, 10.0);
    EXPECT_FALSE(cam.transcode);
    EXPECT_THAT(cam.masks, IsEmpty());
    EXPECT_FALSE(cam.motion.enabled);
    EXPECT_EQ(cam.motion.sensitivity, 0.5);
    EXPECT_EQ(cam.motion.minSeconds, 1.0);
    EXPECT_THAT(cam.motion.zones, IsEmpty());
    EXPECT_FALSE(cam.doorbell.configured());
    EXPECT_EQ(cam.location, (SourceLocation{"main.toml", 1, 1}));
}

TEST(Config, PreAndPostRoll) {
    Config c = parseOk(R"([[camera]]
id = "door"
mode = "events"
pre_roll_seconds = 0
post_roll_seconds = 600

[[camera]]
id = "gate"
source = "rtsp"
url = "rtsp://cam/s"
pre_roll_seconds = 2.5
post_roll_seconds = 0.5

[[camera]]
id = "yard"
pre_roll_seconds = 30
)");
    ASSERT_THAT(c.cameras, SizeIs(3));
    EXPECT_EQ(c.cameras[0].preRollSeconds, 0.0);
    EXPECT_EQ(c.cameras[0].postRollSeconds, 600.0);
    EXPECT_EQ(c.cameras[1].preRollSeconds, 2.5);
    EXPECT_EQ(c.cameras[1].postRollSeconds, 0.5);
    EXPECT_EQ(c.cameras[2].preRollSeconds, 30.0);
    EXPECT_EQ(c.cameras[2].postRollSeconds, 10.0);
}

TEST(Config, Masks) {
    Config c = parseOk(R"([[camera]]
id = "door"

# The street, along the top of the picture.
[[camera.mask]]
points = [[0, 0], [1, 0], [1, 0.25], [0, 0.4]]

# The neighbour's window, a 64-sided outline would do as well.
[[camera.mask]]
points = [[0.75, 0.5], [1.0, 0.5], [1.0, 1.0], [0.75, 1]]

[[camera]]
id = "gate"
source = "rtsp"
url = "rtsp://cam/s"
transcode = true
mask = [{ points = [[0, 0], [0.5, 0], [0, 0.5]] }]

[[camera]]
id = "yard"
source = "v4l2"
mask = []
)");
    ASSERT_THAT(c.cameras, SizeIs(3));
    using Points = std::vector<std::pair<double, double>>;
    EXPECT_THAT(c.cameras[0].masks,
                ElementsAre(Polygon{Points{{0, 0}, {1, 0}, {1, 0.25}, {0, 0.4}}},
                            Polygon{Points{{0.75, 0.5}, {1, 0.5}, {1, 1}, {0.75, 1}}}));
    EXPECT_FALSE(c.cameras[0].transcode);
    EXPECT_TRUE(c.cameras[1].transcode);
    EXPECT_THAT(c.cameras[1].masks, ElementsAre(Polygon{Points{{0, 0}, {0.5, 0}, {0, 0.5}}}));
    EXPECT_THAT(c.cameras[2].masks, IsEmpty());
}

TEST(Config, MaskWithTheMostPoints) {
    std::string points;
    for (int i = 0; i < 64; ++i) {
        double angle = 2 * std::numbers::pi * i / 64;
        points += (i ? ", [" : "[") + std::to_string(0.5 + 0.5 * std::cos(angle)) + ", " +
                  std::to_string(0.5 + 0.5 * std::sin(angle)) + "]";
    }
    Config c = parseOk("[[camera]]\nid = \"door\"\n[[camera.mask]]\npoints = [" + points + "]\n");
    ASSERT_THAT(c.cameras, SizeIs(1));
    ASSERT_THAT(c.cameras[0].masks, SizeIs(1));
    EXPECT_THAT(c.cameras[0].masks[0].points, SizeIs(64));

    ConfigResult r = parse("[[camera]]\nid = \"door\"\n[[camera.mask]]\npoints = [" + points +
                           ", [0.5, 0.5]]\n");
    EXPECT_THAT(messages(r), ElementsAre(AllOf(StartsWith("main.toml:4:10: camera \"door\": mask "
                                                          "#1: points must be an array of 3 to 64"),
                                               HasSubstr("got 65 points"))));
}

TEST(Config, RtspTranscodeWithoutMasks) {
    Config c = parseOk(
        "[[camera]]\nid = \"gate\"\nsource = \"rtsp\"\nurl = \"rtsp://cam/s\"\ntranscode = "
        "true\n");
    ASSERT_THAT(c.cameras, SizeIs(1));
    EXPECT_TRUE(c.cameras[0].transcode);
}

TEST(Config, Motion) {
    Config c = parseOk(R"([[camera]]
id = "door"
mode = "events"

[camera.motion]
enabled = true
sensitivity = 0.8
min_seconds = 0.5

[[camera.motion.zone]]
name = "path to the door"
points = [[0.2, 0.4], [0.6, 0.4], [0.7, 1], [0.1, 1]]

[[camera.motion.zone]]
name = "road"
points = [[0, 0], [1, 0], [1, 0.3], [0, 0.3]]
mode = "exclude"

[[camera.motion.zone]]
points = [[0.9, 0.9], [1, 0.9], [1, 1]]
mode = "include"

[[camera]]
id = "yard"
motion = { enabled = true }

[[camera]]
id = "shed"
[camera.motion]
sensitivity = 0
min_seconds = 60
)");
    ASSERT_THAT(c.cameras, SizeIs(3));
    const MotionConfig& m = c.cameras[0].motion;
    EXPECT_TRUE(m.enabled);
    EXPECT_EQ(m.sensitivity, 0.8);
    EXPECT_EQ(m.minSeconds, 0.5);
    using Points = std::vector<std::pair<double, double>>;
    EXPECT_THAT(
        m.zones,
        ElementsAre(MotionZone{"path to the door",
                               Polygon{Points{{0.2, 0.4}, {0.6, 0.4}, {0.7, 1}, {0.1, 1}}}, true},
                    MotionZone{"road", Polygon{Points{{0, 0}, {1, 0}, {1, 0.3}, {0, 0.3}}}, false},
                    MotionZone{"", Polygon{Points{{0.9, 0.9}, {1, 0.9}, {1, 1}}}, true}));

    EXPECT_TRUE(c.cameras[1].motion.enabled);
    EXPECT_EQ(c.cameras[1].motion.sensitivity, 0.5);
    EXPECT_EQ(c.cameras[1].motion.minSeconds, 1.0);
    EXPECT_THAT(c.cameras[1].motion.zones, IsEmpty());

    EXPECT_FALSE(c.cameras[2].motion.enabled);
    EXPECT_EQ(c.cameras[2].motion.sensitivity, 0.0);
    EXPECT_EQ(c.cameras[2].motion.minSeconds, 60.0);
}

TEST(Config, Doorbell) {
    Config c = parseOk(R"([[camera]]
id = "door"
[camera.doorbell]
chip = "gpiochip0"
line = 17

[[camera]]
id = "gate"
source = "rtsp"
url = "rtsp://cam/s"
[camera.doorbell]
chip = "/dev/gpiochip4"
line = 511
active_low = false
debounce_ms = 0

[[camera]]
id = "yard"
doorbell = { chip = "gpiochip1", line = 0, debounce_ms = 1000 }
)");
    ASSERT_THAT(c.cameras, SizeIs(3));
    EXPECT_EQ(c.cameras[0].doorbell, (DoorbellConfig{"gpiochip0", 17, true, 50}));
    EXPECT_TRUE(c.cameras[0].doorbell.configured());
    EXPECT_EQ(c.cameras[1].doorbell, (DoorbellConfig{"/dev/gpiochip4", 511, false, 0}));
    EXPECT_EQ(c.cameras[2].doorbell, (DoorbellConfig{"gpiochip1", 0, true, 1000}));
}

TEST(Config, EverySourceKind) {
    Config c = parseOk(R"(
[[camera]]
id = "test-1"
source = "test"
pattern = "ball"
width = 640
height = 480
framerate = 30
bitrate = 1500000
keyframe_interval = 1
mode = "events"

[[camera]]
id = "pi"
source = "libcamera"
camera = "/base/soc/i2c0mux/i2c@1/imx708@1a"
keyframe_interval = 0.5

[[camera]]
id = "pi_second"
source = "libcamera"
camera = 1

[[camera]]
id = "usb"
source = "v4l2"
device = "/dev/video2"
mode = "off"

[[camera]]
id = "gate"
source = "rtsp"
url = "rtsps://user:pw@192.168.1.20/stream1"
transport = "udp"

[[camera]]
id = "clip"
source = "file"
path = "/srv/clips/porch.mp4"

[storage]
segment_seconds = 30.5

[log]
level = "debug"
categories = { pipeline = "warning", storage = "error" }
)");
    ASSERT_THAT(c.cameras, SizeIs(6));
    const CameraConfig& t = c.cameras[0];
    EXPECT_EQ(t.id, "test-1");
    EXPECT_EQ(t.pattern, "ball");
    EXPECT_EQ(t.width, 640);
    EXPECT_EQ(t.height, 480);
    EXPECT_EQ(t.framerate, 30);
    EXPECT_EQ(t.bitrate, 1'500'000);
    EXPECT_EQ(t.keyframeInterval, 1.0);
    EXPECT_EQ(t.mode, RecordingMode::Events);
    EXPECT_EQ(t.location.line, 2);

    EXPECT_EQ(c.cameras[1].source, SourceKind::Libcamera);
    EXPECT_EQ(c.cameras[1].libcameraId, "/base/soc/i2c0mux/i2c@1/imx708@1a");
    EXPECT_EQ(c.cameras[1].libcameraIndex, std::nullopt);
    EXPECT_EQ(c.cameras[1].keyframeInterval, 0.5);
    EXPECT_EQ(c.cameras[2].libcameraId, "");
    EXPECT_EQ(c.cameras[2].libcameraIndex, 1);

    EXPECT_EQ(c.cameras[3].source, SourceKind::V4l2);
    EXPECT_EQ(c.cameras[3].device, "/dev/video2");
    EXPECT_EQ(c.cameras[3].mode, RecordingMode::Off);

    EXPECT_EQ(c.cameras[4].source, SourceKind::Rtsp);
    EXPECT_EQ(c.cameras[4].url, "rtsps://user:pw@192.168.1.20/stream1");
    EXPECT_EQ(c.cameras[4].rtspTransport, "udp");
    EXPECT_EQ(c.cameras[4].location.line, 30);

    EXPECT_EQ(c.cameras[5].source, SourceKind::File);
    EXPECT_EQ(c.cameras[5].path, "/srv/clips/porch.mp4");

    EXPECT_EQ(c.storage.segmentSeconds, 30.5);
    EXPECT_EQ(c.log.level, "debug");
    EXPECT_EQ(c.log.spec(), "debug,pipeline=warning,storage=error");
}

TEST(Config, RtspTransportDefaultsToTcp) {
    Config c = parseOk("[[camera]]\nid = \"gate\"\nsource = \"rtsp\"\nurl = \"rtsp://cam/s\"\n");
    ASSERT_THAT(c.cameras, SizeIs(1));
    EXPECT_EQ(c.cameras[0].rtspTransport, "tcp");
}

TEST(Config, RelativeFilePathIsTakenFromTheFileThatNamesIt) {
    ConfigResult r =
        parseConfig({{"/etc/porchlight/porchlight.toml",
                      "[[camera]]\nid = \"clip\"\nsource = \"file\"\npath = \"clips/a.mp4\"\n"}});
    ASSERT_TRUE(r.ok()) << ::testing::PrintToString(messages(r));
    EXPECT_EQ(r.config->cameras[0].path, "/etc/porchlight/clips/a.mp4");
}

struct BitrateCase {
    const char* value;  // TOML text
    int64_t bits;       // 0: must be refused
};

TEST(Config, Bitrates) {
    const BitrateCase cases[] = {
        {"\"2M\"", 2'000'000},
        {"\"2500k\"", 2'500'000},
        {"\"2500K\"", 2'500'000},
        {"\"4Mbit\"", 4'000'000},
        {"\"800kbps\"", 800'000},
        {"\"64000bps\"", 64'000},
        {"\"2.5 Mbit/s\"", 2'500'000},
        {"\"3000000\"", 3'000'000},
        {"3000000", 3'000'000},
        {"\"64k\"", 64'000},
        {"\"50M\"", 50'000'000},
        {"50000000", 50'000'000},
        {"\"63k\"", 0},
        {"\"51M\"", 0},
        {"63999", 0},
        {"\"2m\"", 0},
        {"\"2 MB\"", 0},
        {"\"2G\"", 0},
        {"\"M\"", 0},
        {"\"\"", 0},
        {"\"-2M\"", 0},
        {"2000000.0", 0},
        {"true", 0},
        {"\"2Mbits per second\"", 0},
    };
    for (const BitrateCase& c : cases) {
        SCOPED_TRACE(c.value);
        ConfigResult r = parse(std::string("[[camera]]\nid = \"a\"\nbitrate = ") + c.value + "\n");
        if (c.bits != 0) {
            ASSERT_TRUE(r.ok()) << ::testing::PrintToString(messages(r));
            EXPECT_EQ(r.config->cameras[0].bitrate, c.bits);
        } else {
            EXPECT_THAT(messages(r),
                        ElementsAre(AllOf(
                            StartsWith("main.toml:3:11: camera \"a\": bitrate must be from 64k to "
                                       "50M bits per second"),
                            HasSubstr(std::string(", got ") + c.value))));
        }
    }
}

struct BadCase {
    const char* what;
    const char* toml;
    const char* expected;  // the start of the only message
    const char* also;      // and a part of it that says what is allowed
};

// One mistake per case, each giving exactly one message at the right place.
const BadCase kBadCases[] = {
    {"syntax error", "[[camera]]\nid = \"a\"\nwidth = \n",
     "main.toml:3:9: invalid TOML: ", "expected value"},
    {"unknown camera key, close to a real one", "[[camera]]\nid = \"door\"\n\nwidht = 1280\n",
     "main.toml:4:1: unknown key \"widht\" in [[camera]] \"door\"; did you mean \"width\"?",
     "(allowed for source \"test\": id, source, mode, pattern, width, height, framerate, "
     "bitrate, keyframe_interval, pre_roll_seconds, post_roll_seconds, mask, motion, doorbell, "
     "retention)"},
    {"unknown camera key, not close to anything", "[[camera]]\nid = \"door\"\n  colour = 1\n",
     "main.toml:3:3: unknown key \"colour\" in [[camera]] \"door\" (allowed", "keyframe_interval"},
    {"unknown top-level table", "[storage]\nsegment_seconds = 20\n\n[mqtt]\nport = 8080\n",
     "main.toml:4:2: unknown key \"mqtt\" at the top level",
     "(allowed: camera, storage, log, web)"},
    {"unknown top-level key", "\n\nlevel = \"debug\"\n",
     "main.toml:3:1: unknown key \"level\" at the top level",
     "(allowed: camera, storage, log, web)"},
    {"unknown storage key", "[storage]\nsegment_second = 20\n",
     "main.toml:2:1: unknown key \"segment_second\" in [storage]; did you mean "
     "\"segment_seconds\"?",
     "(allowed: segment_seconds, min_free)"},
    {"unknown log key", "[log]\nlevels = \"debug\"\n",
     "main.toml:2:1: unknown key \"levels\" in [log]; did you mean \"level\"?",
     "(allowed: level, categories)"},
    {"odd width", "[[camera]]\nid = \"door\"\nwidth = 7\n",
     "main.toml:3:9: camera \"door\": width must be an even integer from 16 to 7680, got 7", ""},
    {"width too large", "[[camera]]\nid = \"door\"\nwidth = 8000\n",
     "main.toml:3:9: camera \"door\": width must be an even integer from 16 to 7680, got 8000", ""},
    {"width as a float", "[[camera]]\nid = \"door\"\nwidth = 1280.0\n",
     "main.toml:3:9: camera \"door\": width must be an even integer from 16 to 7680, got 1280.0",
     ""},
    {"width as a string", "[[camera]]\nid = \"door\"\nwidth = \"1280\"\n",
     "main.toml:3:9: camera \"door\": width must be an even integer from 16 to 7680, got "
     "\"1280\"",
     ""},
    {"height too small", "[[camera]]\nid = \"door\"\nheight = 8\n",
     "main.toml:3:10: camera \"door\": height must be an even integer from 16 to 4320, got 8", ""},
    {"framerate zero", "[[camera]]\nid = \"door\"\nframerate = 0\n",
     "main.toml:3:13: camera \"door\": framerate must be an integer from 1 to 120, got 0", ""},
    {"keyframe interval too short", "[[camera]]\nid = \"door\"\nkeyframe_interval = 0.1\n",
     "main.toml:3:21: camera \"door\": keyframe_interval must be a number of seconds from 0.2 to "
     "10, got 0.1",
     ""},
    {"keyframe interval not a number", "[[camera]]\nid = \"door\"\nkeyframe_interval = nan\n",
     "main.toml:3:21: camera \"door\": keyframe_interval must be", "got nan"},
    {"bad source", "[[camera]]\nid = \"door\"\nsource = \"v4l\"\n",
     "main.toml:3:10: camera \"door\": source must be one of \"test\", \"libcamera\", \"v4l2\", "
     "\"rtsp\", \"file\", got \"v4l\"; did you mean \"v4l2\"?",
     ""},
    {"bad mode", "[[camera]]\nid = \"door\"\nmode = \"motion\"\n",
     "main.toml:3:8: camera \"door\": mode must be one of \"continuous\", \"events\", \"off\", got "
     "\"motion\"",
     ""},
    {"bad pattern", "[[camera]]\nid = \"door\"\npattern = \"smtpe\"\n",
     "main.toml:3:11: camera \"door\": pattern must be one of \"smpte\", ",
     "got \"smtpe\"; did you mean \"smpte\"?"},
    {"pattern as a number", "[[camera]]\nid = \"door\"\npattern = 18\n",
     "main.toml:3:11: camera \"door\": pattern must be one of", "\"smpte-rp-219\", got 18"},
    {"missing id", "[storage]\n\n[[camera]]\nsource = \"test\"\n",
     "main.toml:3:1: missing required key \"id\" in [[camera]]", "a unique name"},
    {"id with capitals and space", "[[camera]]\nid = \"Front Door\"\n",
     "main.toml:2:6: camera id must be a string of 1 to 32 characters from a-z, 0-9, _ and -, "
     "got \"Front Door\"",
     ""},
    {"id too long", "[[camera]]\nid = \"abcdefghijklmnopqrstuvwxyz0123456\"\n",
     "main.toml:2:6: camera id must be a string of 1 to 32 characters", ""},
    {"empty id", "[[camera]]\nid = \"\"\n", "main.toml:2:6: camera id must be a string", ""},
    {"id as a number", "[[camera]]\nid = 1\n", "main.toml:2:6: camera id must be", "got 1"},
    {"rtsp without url", "[[camera]]\nid = \"gate\"\nsource = \"rtsp\"\n",
     "main.toml:1:1: missing required key \"url\" in [[camera]] \"gate\"", "rtsp://"},
    {"rtsp url with another scheme",
     "[[camera]]\nid = \"gate\"\nsource = \"rtsp\"\nurl = "
     "\"http://cam/stream\"\n",
     "main.toml:4:7: camera \"gate\": url must be an rtsp:// or rtsps:// URL, got "
     "\"http://cam/stream\"",
     ""},
    {"rtsp url with a space",
     "[[camera]]\nid = \"gate\"\nsource = \"rtsp\"\nurl = \"rtsp://cam/a "
     "b\"\n",
     "main.toml:4:7: camera \"gate\": url must be an rtsp:// or rtsps:// URL", ""},
    {"bad rtsp transport",
     "[[camera]]\nid = \"gate\"\nsource = \"rtsp\"\nurl = "
     "\"rtsp://cam/s\"\ntransport = \"http\"\n",
     "main.toml:5:13: camera \"gate\": transport must be one of \"tcp\", \"udp\", \"auto\", got "
     "\"http\"",
     ""},
    {"file without path", "[[camera]]\nid = \"clip\"\nsource = \"file\"\n",
     "main.toml:1:1: missing required key \"path\" in [[camera]] \"clip\"", "video file"},
    {"relative v4l2 device", "[[camera]]\nid = \"usb\"\nsource = \"v4l2\"\ndevice = \"video0\"\n",
     "main.toml:4:10: camera \"usb\": device must be an absolute path such as \"/dev/video0\", got "
     "\"video0\"",
     ""},
    {"negative libcamera index", "[[camera]]\nid = \"pi\"\nsource = \"libcamera\"\ncamera = -1\n",
     "main.toml:4:10: camera \"pi\": camera must be a libcamera camera id", "got -1"},
    {"url on a test camera", "[[camera]]\nid = \"door\"\nsource = \"test\"\nurl = \"rtsp://x/y\"\n",
     "main.toml:4:1: camera \"door\": url does not apply to source \"test\"",
     "url is for rtsp cameras"},
    {"url on a camera whose source is the default",
     "[[camera]]\nid = \"door\"\nurl = \"rtsp://x\"\n",
     "main.toml:3:1: camera \"door\": url does not apply to source \"test\", the default",
     "url is for rtsp cameras"},
    {"width on an rtsp camera",
     "[[camera]]\nid = \"gate\"\nsource = \"rtsp\"\nurl = "
     "\"rtsp://x/y\"\nwidth = 1920\n",
     "main.toml:5:1: camera \"gate\": width does not apply to source \"rtsp\"",
     "without re-encoding"},
    {"bitrate on an rtsp camera",
     "[[camera]]\nid = \"gate\"\nsource = \"rtsp\"\nurl = "
     "\"rtsp://x/y\"\nbitrate = \"2M\"\n",
     "main.toml:5:1: camera \"gate\": bitrate does not apply to source \"rtsp\"",
     "without re-encoding"},
    {"pattern on a v4l2 camera",
     "[[camera]]\nid = \"usb\"\nsource = \"v4l2\"\npattern = \"ball\"\n",
     "main.toml:4:1: camera \"usb\": pattern does not apply to source \"v4l2\"",
     "pattern is for test cameras"},
    {"device on a libcamera camera",
     "[[camera]]\nid = \"pi\"\nsource = \"libcamera\"\ndevice = "
     "\"/dev/video0\"\n",
     "main.toml:4:1: camera \"pi\": device does not apply to source \"libcamera\"",
     "device is for v4l2 cameras"},
    {"camera written as a table", "[camera]\nid = \"door\"\n",
     "main.toml:1:1: camera must be an array of tables, written [[camera]], got a table", ""},
    {"camera array holding a number", "camera = [1]\n",
     "main.toml:1:11: each camera must be a table, written [[camera]], got 1", ""},
    {"storage as a number", "storage = 5\n",
     "main.toml:1:11: storage must be a table, written [storage], got 5", ""},
    {"segment too short", "[storage]\nsegment_seconds = 5\n",
     "main.toml:2:19: storage.segment_seconds must be a number of seconds from 10 to 3600, got 5",
     ""},
    {"segment too long", "[storage]\nsegment_seconds = 3600.5\n",
     "main.toml:2:19: storage.segment_seconds must be a number of seconds from 10 to 3600, got "
     "3600.5",
     ""},
    {"retention max_days zero", "[[camera]]\nid = \"door\"\n[camera.retention]\nmax_days = 0\n",
     "main.toml:4:12: camera \"door\": retention.max_days must be a number of days greater than 0 "
     "and at most 3650 (fractions allowed, such as 0.5), got 0",
     ""},
    {"retention max_days negative",
     "[[camera]]\nid = \"door\"\n[camera.retention]\nmax_days = -1.5\n",
     "main.toml:4:12: camera \"door\": retention.max_days must be", "got -1.5"},
    {"retention max_days too long",
     "[[camera]]\nid = \"door\"\n[camera.retention]\nmax_days = 3651\n",
     "main.toml:4:12: camera \"door\": retention.max_days must be", "at most 3650"},
    {"retention max_days as a string",
     "[[camera]]\nid = \"door\"\n[camera.retention]\nmax_days = \"a\"\n",
     "main.toml:4:12: camera \"door\": retention.max_days must be a number of days", "got \"a\""},
    {"retention max_days nan", "[[camera]]\nid = \"door\"\n[camera.retention]\nmax_days = nan\n",
     "main.toml:4:12: camera \"door\": retention.max_days must be", "got nan"},
    {"retention max_bytes with an unknown unit",
     "[[camera]]\nid = \"door\"\n[camera.retention]\nmax_bytes = \"12 parsecs\"\n",
     "main.toml:4:13: camera \"door\": retention.max_bytes must be a size of at least 64 KiB, "
     "written as a string such as \"50GiB\", \"2GB\" or \"1.5 MiB\" (units B, KiB, MiB, GiB, "
     "TiB, kB, MB, GB, TB) or as an integer number of bytes, got \"12 parsecs\"",
     ""},
    {"retention max_bytes below 64 KiB",
     "[[camera]]\nid = \"door\"\n[camera.retention]\nmax_bytes = \"10KiB\"\n",
     "main.toml:4:13: camera \"door\": retention.max_bytes must be a size of at least 64 KiB",
     "got \"10KiB\" (10240 bytes)"},
    {"retention max_bytes negative",
     "[[camera]]\nid = \"door\"\n[camera.retention]\nmax_bytes = -1\n",
     "main.toml:4:13: camera \"door\": retention.max_bytes must be a size", "got -1"},
    {"retention max_bytes as a float",
     "[[camera]]\nid = \"door\"\n[camera.retention]\nmax_bytes = 5e9\n",
     "main.toml:4:13: camera \"door\": retention.max_bytes must be a size", "integer number"},
    {"retention max_bytes beyond what the index stores",
     "[[camera]]\nid = \"door\"\n[camera.retention]\nmax_bytes = \"16000000TiB\"\n",
     "main.toml:4:13: camera \"door\": retention.max_bytes must be a size below 8 EiB", ""},
    {"unknown retention key", "[[camera]]\nid = \"door\"\n[camera.retention]\nmax_day = 7\n",
     "main.toml:4:1: unknown key \"max_day\" in [camera.retention] of camera \"door\"; did you "
     "mean \"max_days\"?",
     "(allowed: max_days, max_bytes, continuous_days, motion_days, ring_days)"},
    {"retention as a number", "[[camera]]\nid = \"door\"\nretention = 7\n",
     "main.toml:3:13: camera \"door\": retention must be a table, written [camera.retention], got "
     "7",
     ""},
    {"retention without a camera", "[camera.retention]\nmax_days = 7\n",
     "main.toml:1:1: camera must be an array of tables", ""},
    {"min_free above 100%", "[storage]\nmin_free = \"150%\"\n",
     "main.toml:2:12: storage.min_free must be a percentage of the filesystem above 0% and below "
     "100%, such as \"5%\" or \"2.5%\", or a size of at least 64 KiB",
     "got \"150%\""},
    {"min_free 0%", "[storage]\nmin_free = \"0%\"\n",
     "main.toml:2:12: storage.min_free must be a percentage", "got \"0%\""},
    {"min_free negative percentage", "[storage]\nmin_free = \"-5%\"\n",
     "main.toml:2:12: storage.min_free must be a percentage", "got \"-5%\""},
    {"min_free percentage in exponent form", "[storage]\nmin_free = \"1e1%\"\n",
     "main.toml:2:12: storage.min_free must be a percentage", "got \"1e1%\""},
    {"min_free with an unknown unit", "[storage]\nmin_free = \"2 gigs\"\n",
     "main.toml:2:12: storage.min_free must be a percentage", "got \"2 gigs\""},
    {"min_free as a small integer", "[storage]\nmin_free = 5\n",
     "main.toml:2:12: storage.min_free must be a percentage", "got 5; for 5 percent write \"5%\""},
    {"min_free as a float", "[storage]\nmin_free = 0.05\n",
     "main.toml:2:12: storage.min_free must be a percentage", "got 0.05"},
    {"bad log level", "[log]\nlevel = \"verbose\"\n",
     "main.toml:2:9: log.level must be one of \"error\", \"warning\", \"notice\", \"info\", "
     "\"debug\", got \"verbose\"",
     ""},
    {"bad log category level", "[log.categories]\npipeline = \"warn\"\n",
     "main.toml:2:12: log.categories.pipeline must be one of \"error\", \"warning\"",
     "got \"warn\"; did you mean \"warning\"?"},
    {"bad log category name", "[log.categories]\n\"Pipe line\" = \"debug\"\n",
     "main.toml:2:1: log category name \"Pipe line\" must be made of a-z, 0-9, _ and -", ""},
    {"log categories as a string", "[log]\ncategories = \"pipeline=debug\"\n",
     "main.toml:2:14: log.categories must be a table, written [log.categories], got "
     "\"pipeline=debug\"",
     ""},
    // [camera.retention] per kind of recording.
    {"retention continuous_days zero",
     "[[camera]]\nid = \"door\"\n[camera.retention]\ncontinuous_days = 0\n",
     "main.toml:4:19: camera \"door\": retention.continuous_days must be a number of days greater "
     "than 0 and at most 3650",
     "got 0"},
    {"retention motion_days too long",
     "[[camera]]\nid = \"door\"\n[camera.retention]\nmotion_days = 4000\n",
     "main.toml:4:15: camera \"door\": retention.motion_days must be",
     "at most 3650 (fractions allowed, such as 0.5), got 4000"},
    {"retention ring_days as a string",
     "[[camera]]\nid = \"door\"\n[camera.retention]\nring_days = \"1y\"\n",
     "main.toml:4:13: camera \"door\": retention.ring_days must be a number of days", "got \"1y\""},
    // Pre- and post-roll, transcode.
    {"pre-roll negative", "[[camera]]\nid = \"door\"\npre_roll_seconds = -1\n",
     "main.toml:3:20: camera \"door\": pre_roll_seconds must be a number of seconds from 0 to 30, "
     "got -1",
     ""},
    {"pre-roll too long", "[[camera]]\nid = \"door\"\npre_roll_seconds = 30.5\n",
     "main.toml:3:20: camera \"door\": pre_roll_seconds must be a number of seconds from 0 to 30, "
     "got 30.5",
     ""},
    {"post-roll too long", "[[camera]]\nid = \"door\"\npost_roll_seconds = 601\n",
     "main.toml:3:21: camera \"door\": post_roll_seconds must be a number of seconds from 0 to "
     "600, got 601",
     ""},
    {"post-roll as a string", "[[camera]]\nid = \"door\"\npost_roll_seconds = \"10s\"\n",
     "main.toml:3:21: camera \"door\": post_roll_seconds must be a number of seconds",
     "got \"10s\""},
    {"transcode on a test camera", "[[camera]]\nid = \"door\"\ntranscode = true\n",
     "main.toml:3:1: camera \"door\": transcode does not apply to source \"test\", the default: "
     "transcode is for rtsp cameras",
     "a test camera is always encoded by the daemon, so masks apply to it without transcode"},
    {"transcode on a v4l2 camera",
     "[[camera]]\nid = \"usb\"\nsource = \"v4l2\"\ntranscode = false\n",
     "main.toml:4:1: camera \"usb\": transcode does not apply to source \"v4l2\"",
     "a v4l2 camera is always encoded by the daemon"},
    {"transcode as a string",
     "[[camera]]\nid = \"gate\"\nsource = \"rtsp\"\nurl = \"rtsp://x/y\"\ntranscode = \"yes\"\n",
     "main.toml:5:13: camera \"gate\": transcode must be true or false (without quotes), got "
     "\"yes\"",
     ""},
    // [[camera.mask]]
    {"mask point outside the picture",
     "[[camera]]\nid = \"door\"\n[[camera.mask]]\npoints = [[0, 0], [1.5, 0], [1, 1]]\n",
     "main.toml:4:20: camera \"door\": mask #1: point 2: x must be a number from 0 to 1 (0 is the "
     "picture's left edge, 1 its right edge), got 1.5",
     ""},
    {"mask point above the picture",
     "[[camera]]\nid = \"door\"\n[[camera.mask]]\npoints = [[0, 0], [1, 0], [1, -0.1]]\n",
     "main.toml:4:31: camera \"door\": mask #1: point 3: y must be a number from 0 to 1 (0 is the "
     "picture's top edge, 1 its bottom edge), got -0.1",
     ""},
    {"mask coordinate as a string",
     "[[camera]]\nid = \"door\"\n[[camera.mask]]\npoints = [[0, 0], [1, 0], [1, \"1\"]]\n",
     "main.toml:4:31: camera \"door\": mask #1: point 3: y must be a number from 0 to 1",
     "got \"1\""},
    {"mask with 2 points",
     "[[camera]]\nid = \"door\"\n[[camera.mask]]\npoints = [[0, 0], [1, 1]]\n",
     "main.toml:4:10: camera \"door\": mask #1: points must be an array of 3 to 64 [x, y] points, "
     "such as [[0, 0], [0.5, 0], [0.5, 1]], where (0, 0) is the picture's top left corner and "
     "(1, 1) its bottom right, got 2 points",
     ""},
    {"mask with a point of 3 numbers",
     "[[camera]]\nid = \"door\"\n[[camera.mask]]\npoints = [[0, 0], [1, 0, 0.5], [1, 1]]\n",
     "main.toml:4:19: camera \"door\": mask #1: point 2 must be an [x, y] pair of numbers from 0 "
     "to 1, got [1, 0, 0.5]",
     ""},
    {"mask with a bare number for a point",
     "[[camera]]\nid = \"door\"\n[[camera.mask]]\npoints = [[0, 0], 0.5, [1, 1]]\n",
     "main.toml:4:19: camera \"door\": mask #1: point 2 must be an [x, y] pair", "got 0.5"},
    {"mask points flat instead of pairs",
     "[[camera]]\nid = \"door\"\n[[camera.mask]]\npoints = [0, 0, 1, 0, 1, 0.5]\n",
     "main.toml:4:10: camera \"door\": mask #1: points must be an array of 3 to 64 [x, y] points",
     "got [0, 0, 1, 0, 1, 0.5]; write each point as its own [x, y] pair"},
    {"mask points as a string",
     "[[camera]]\nid = \"door\"\n[[camera.mask]]\npoints = \"0,0 1,0 1,1\"\n",
     "main.toml:4:10: camera \"door\": mask #1: points must be an array of 3 to 64 [x, y] points",
     "got \"0,0 1,0 1,1\""},
    {"mask points on one line",
     "[[camera]]\nid = \"door\"\n[[camera.mask]]\npoints = [[0, 0], [0.5, 0.5], [1, 1]]\n",
     "main.toml:4:10: camera \"door\": mask #1: points all lie on one line, so they enclose "
     "nothing",
     "at least 3 points that are not in a line"},
    {"mask without points", "[[camera]]\nid = \"door\"\n[[camera.mask]]\n",
     "main.toml:3:1: missing required key \"points\" in [[camera.mask]] #1 of camera \"door\"",
     "[x, y] points"},
    {"unknown mask key, second mask",
     "[[camera]]\nid = \"door\"\n[[camera.mask]]\npoints = [[0, 0], [1, 0], [1, 1]]\n"
     "[[camera.mask]]\npoints = [[0, 0], [1, 0], [1, 1]]\npoint = [0, 1]\n",
     "main.toml:7:1: unknown key \"point\" in [[camera.mask]] #2 of camera \"door\"; did you mean "
     "\"points\"?",
     "(allowed: points)"},
    {"mask written as a table", "[[camera]]\nid = \"door\"\n[camera.mask]\npoints = []\n",
     "main.toml:3:1: camera \"door\": mask must be an array of tables, written [[camera.mask]], "
     "got a table",
     ""},
    {"masks instead of mask",
     "[[camera]]\nid = \"door\"\n[[camera.masks]]\npoints = [[0, 0], [1, 0], [1, 1]]\n",
     "main.toml:3:10: unknown key \"masks\" in [[camera]] \"door\"; did you mean \"mask\"?", ""},
    {"rtsp camera with a mask and no transcode",
     "[[camera]]\nid = \"gate\"\nsource = \"rtsp\"\nurl = \"rtsp://x/y\"\n\n"
     "[[camera.mask]]\npoints = [[0, 0], [1, 0], [1, 1]]\n",
     "main.toml:6:1: camera \"gate\": [[camera.mask]] needs transcode = true on an rtsp camera: "
     "rtsp passes the camera's stream through untouched, so masked pixels would still be in the "
     "recording; set transcode = true to decode, mask and re-encode it, which costs CPU "
     "(roughly a core for 1080p)",
     ""},
    {"rtsp camera with a mask and transcode = false",
     "[[camera]]\nid = \"gate\"\nsource = \"rtsp\"\nurl = \"rtsp://x/y\"\ntranscode = false\n"
     "mask = [{ points = [[0, 0], [1, 0], [1, 1]] }]\n",
     "main.toml:6:9: camera \"gate\": [[camera.mask]] needs transcode = true on an rtsp camera",
     "(transcode = false is set at main.toml:5:13)"},
    // [camera.motion] and its zones
    {"motion sensitivity above 1",
     "[[camera]]\nid = \"door\"\n[camera.motion]\nsensitivity = 1.5\n",
     "main.toml:4:15: camera \"door\": motion.sensitivity must be a number from 0 to 1, got 1.5",
     ""},
    {"motion min_seconds too long",
     "[[camera]]\nid = \"door\"\n[camera.motion]\nmin_seconds = 61\n",
     "main.toml:4:15: camera \"door\": motion.min_seconds must be a number of seconds from 0 to "
     "60, got 61",
     ""},
    {"motion enabled as a string",
     "[[camera]]\nid = \"door\"\n[camera.motion]\nenabled = \"true\"\n",
     "main.toml:4:11: camera \"door\": motion.enabled must be true or false (without quotes), got "
     "\"true\"",
     ""},
    {"unknown motion key", "[[camera]]\nid = \"door\"\n[camera.motion]\nzones = []\n",
     "main.toml:4:1: unknown key \"zones\" in [camera.motion] of camera \"door\"; did you mean "
     "\"zone\"?",
     "(allowed: enabled, sensitivity, min_seconds, zone)"},
    {"motion as a boolean", "[[camera]]\nid = \"door\"\nmotion = true\n",
     "main.toml:3:10: camera \"door\": motion must be a table, written [camera.motion], got true",
     ""},
    {"zone mode sideways",
     "[[camera]]\nid = \"door\"\n[camera.motion]\nenabled = true\n[[camera.motion.zone]]\n"
     "name = \"road\"\npoints = [[0, 0], [1, 0], [1, 0.3]]\nmode = \"sideways\"\n",
     "main.toml:8:8: camera \"door\": motion zone \"road\": mode must be one of \"include\", "
     "\"exclude\", got \"sideways\"",
     ""},
    {"zone mode close to a real one",
     "[[camera]]\nid = \"door\"\n[[camera.motion.zone]]\n"
     "points = [[0, 0], [1, 0], [1, 0.3]]\nmode = \"exlude\"\n",
     "main.toml:5:8: camera \"door\": motion zone #1: mode must be one of",
     "got \"exlude\"; did you mean \"exclude\"?"},
    {"zone point outside the picture, named",
     "[[camera]]\nid = \"door\"\n[[camera.motion.zone]]\nname = \"path\"\n"
     "points = [[0, 0], [1, 0], [1, 2]]\n",
     "main.toml:5:31: camera \"door\": motion zone \"path\": point 3: y must be a number from 0 "
     "to 1",
     "got 2"},
    {"zone with an empty name",
     "[[camera]]\nid = \"door\"\n[[camera.motion.zone]]\nname = \"\"\n"
     "points = [[0, 0], [1, 0], [1, 1]]\n",
     "main.toml:4:8: camera \"door\": motion zone #1: name must be a string of 1 to 64 characters",
     "got \"\""},
    {"zone name too long",
     "[[camera]]\nid = \"door\"\n[[camera.motion.zone]]\nname = "
     "\"abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijklm\"\n"
     "points = [[0, 0], [1, 0], [1, 1]]\n",
     "main.toml:4:8: camera \"door\": motion zone #1: name must be a string of 1 to 64 characters",
     ""},
    {"zone without points",
     "[[camera]]\nid = \"door\"\n[camera.motion]\n\n[[camera.motion.zone]]\nname = \"road\"\n",
     "main.toml:5:1: missing required key \"points\" in [[camera.motion.zone]] \"road\" of camera "
     "\"door\"",
     ""},
    {"zone written as a table",
     "[[camera]]\nid = \"door\"\n[camera.motion.zone]\npoints = [[0, 0], [1, 0], [1, 1]]\n",
     "main.toml:3:1: camera \"door\": motion.zone must be an array of tables, written "
     "[[camera.motion.zone]], got a table",
     ""},
    // [camera.doorbell]
    {"doorbell without chip", "[[camera]]\nid = \"door\"\n[camera.doorbell]\nline = 17\n",
     "main.toml:3:1: missing required key \"chip\" in [camera.doorbell] of camera \"door\" (the "
     "GPIO chip the button is wired to: a GPIO chip name such as \"gpiochip0\" or its path such "
     "as \"/dev/gpiochip0\"",
     ""},
    {"doorbell without line",
     "[[camera]]\nid = \"door\"\n[camera.doorbell]\nchip = \"gpiochip0\"\n",
     "main.toml:3:1: missing required key \"line\" in [camera.doorbell] of camera \"door\" (the "
     "button's line offset on the chip, an integer from 0 to 511",
     ""},
    {"doorbell line -1",
     "[[camera]]\nid = \"door\"\n[camera.doorbell]\nchip = \"gpiochip0\"\nline = -1\n",
     "main.toml:5:8: camera \"door\": doorbell.line must be an integer from 0 to 511, got -1", ""},
    {"doorbell line 512",
     "[[camera]]\nid = \"door\"\n[camera.doorbell]\nchip = \"gpiochip0\"\nline = 512\n",
     "main.toml:5:8: camera \"door\": doorbell.line must be an integer from 0 to 511, got 512", ""},
    {"doorbell line as a pin name",
     "[[camera]]\nid = \"door\"\n[camera.doorbell]\nchip = \"gpiochip0\"\nline = \"GPIO17\"\n",
     "main.toml:5:8: camera \"door\": doorbell.line must be an integer from 0 to 511",
     "got \"GPIO17\""},
    {"doorbell chip as a number",
     "[[camera]]\nid = \"door\"\n[camera.doorbell]\nchip = 0\nline = 17\n",
     "main.toml:4:8: camera \"door\": doorbell.chip must be a GPIO chip name such as "
     "\"gpiochip0\" or its path such as \"/dev/gpiochip0\"",
     "got 0; for chip 0 write \"gpiochip0\""},
    {"doorbell chip relative path",
     "[[camera]]\nid = \"door\"\n[camera.doorbell]\nchip = \"dev/gpiochip0\"\nline = 17\n",
     "main.toml:4:8: camera \"door\": doorbell.chip must be a GPIO chip name",
     "got \"dev/gpiochip0\""},
    {"doorbell chip without a number",
     "[[camera]]\nid = \"door\"\n[camera.doorbell]\nchip = \"gpiochip\"\nline = 17\n",
     "main.toml:4:8: camera \"door\": doorbell.chip must be a GPIO chip name", "got \"gpiochip\""},
    {"doorbell debounce too long",
     "[[camera]]\nid = \"door\"\n[camera.doorbell]\nchip = \"gpiochip0\"\nline = 17\n"
     "debounce_ms = 1001\n",
     "main.toml:6:15: camera \"door\": doorbell.debounce_ms must be an integer from 0 to 1000, got "
     "1001",
     ""},
    {"doorbell active_low as a number",
     "[[camera]]\nid = \"door\"\n[camera.doorbell]\nchip = \"gpiochip0\"\nline = 17\n"
     "active_low = 1\n",
     "main.toml:6:14: camera \"door\": doorbell.active_low must be true or false", "got 1"},
    {"unknown doorbell key",
     "[[camera]]\nid = \"door\"\n[camera.doorbell]\nchip = \"gpiochip0\"\nline = 17\n"
     "pin = 17\n",
     "main.toml:6:1: unknown key \"pin\" in [camera.doorbell] of camera \"door\"",
     "(allowed: chip, line, active_low, debounce_ms)"},
};

struct SizeCase {
    const char* text;
    std::optional<uint64_t> bytes;  // nullopt: must be refused
};

TEST(Config, ParseSize) {
    constexpr uint64_t KiB = 1024, MiB = KiB * 1024, GiB = MiB * 1024, TiB = GiB * 1024;
    const SizeCase cases[] = {
        {"400KiB", 409'600},
        {"50GiB", 50 * GiB},
        {"2GB", 2'000'000'000},
        {"1.5 MiB", 1'572'864},
        {"123", 123},
        {"123B", 123},
        {"123 b", 123},
        {"0", 0},
        {"1.0", 1},
        {"  7 MiB  ", 7 * MiB},
        {"3\tTiB", 3 * TiB},
        {"1kB", 1'000},
        {"1KB", 1'000},
        {"2MB", 2'000'000},
        {"2TB", 2'000'000'000'000},
        {"1kib", KiB},
        {"1KIB", KiB},
        {"1mb", 1'000'000},
        {"4Gi", 4 * GiB},
        {"0.5KiB", 512},
        {"0.1GiB", 107'374'182},   // 107374182.4, rounded to the nearest byte
        {"0.0005KiB", 1},          // 0.512
        {"0.0004KiB", 0},          // 0.4096
        {"1.0005kB", 1'001},       // 1000.5: halves round up
        {"2.5GB", 2'500'000'000},  // exact, unlike 2.5 * 1e9 in some doubles
        {"0.333333333333333333333333GiB", 357'913'941},
        {"18446744073709551615", UINT64_MAX},
        {"16777215.99999999999TiB", 16'777'215 * TiB + (TiB - 11)},  // just below 2^64
        {"18446744073709551616", std::nullopt},                      // 2^64
        {"16777216TiB", std::nullopt},                               // 2^64 too
        {"99999999999999999999999", std::nullopt},
        {"", std::nullopt},
        {"   ", std::nullopt},
        {"KiB", std::nullopt},
        {"-1", std::nullopt},
        {"-1KiB", std::nullopt},
        {"+1", std::nullopt},
        {"1.", std::nullopt},
        {".5GiB", std::nullopt},
        {"1..5GiB", std::nullopt},
        {"1.5", std::nullopt},  // a fraction of a byte
        {"1.5B", std::nullopt},
        {"1e9", std::nullopt},
        {"12 parsecs", std::nullopt},
        {"2G", std::nullopt},  // 1000 or 1024? refused rather than guessed
        {"2K", std::nullopt},
        {"2 M", std::nullopt},
        {"2 GiBs", std::nullopt},
        {"2 Gib ", 2 * GiB},
        {"2 G iB", std::nullopt},
        {"1,5GiB", std::nullopt},
        {"5%", std::nullopt},
        {"0x10", std::nullopt},
        {"inf", std::nullopt},
    };
    for (const SizeCase& c : cases) {
        SCOPED_TRACE(c.text);
        EXPECT_EQ(parseSize(c.text), c.bytes);
    }
}

TEST(Config, RetentionAndMinFreeDefaults) {
    Config c = parseOk("[[camera]]\nid = \"door\"\n");
    ASSERT_THAT(c.cameras, SizeIs(1));
    EXPECT_EQ(c.cameras[0].retention.maxDays, std::nullopt);
    EXPECT_EQ(c.cameras[0].retention.maxBytes, std::nullopt);
    EXPECT_EQ(c.storage.minFree.bytes, std::nullopt);
    EXPECT_EQ(c.storage.minFree.percent, 5.0);
}

TEST(Config, Retention) {
    Config c = parseOk(R"([[camera]]
id = "door"
width = 640

[camera.retention]
max_days = 30
max_bytes = "50GiB"
continuous_days = 3
motion_days = 14.5
ring_days = 30

[[camera]]
id = "yard"
retention = { max_days = 0.5, max_bytes = "2GB" }

[[camera]]
id = "gate"
source = "rtsp"
url = "rtsp://cam/s"
[camera.retention]
max_bytes = 1048576

[[camera]]
id = "shed"
[camera.retention]
max_days = 3650
max_bytes = "1.5 MiB"
ring_days = 3650

[[camera]]
id = "none"
[camera.retention]
)");
    ASSERT_THAT(c.cameras, SizeIs(5));
    EXPECT_EQ(c.cameras[0].width, 640);
    EXPECT_EQ(c.cameras[0].retention.maxDays, 30.0);
    EXPECT_EQ(c.cameras[0].retention.maxBytes, 50ULL << 30);
    EXPECT_EQ(c.cameras[0].retention.continuousDays, 3.0);
    EXPECT_EQ(c.cameras[0].retention.motionDays, 14.5);
    EXPECT_EQ(c.cameras[0].retention.ringDays, 30.0);
    EXPECT_EQ(c.cameras[1].retention.maxDays, 0.5);
    EXPECT_EQ(c.cameras[1].retention.continuousDays, std::nullopt);
    EXPECT_EQ(c.cameras[1].retention.maxBytes, 2'000'000'000ULL);
    EXPECT_EQ(c.cameras[2].retention.maxDays, std::nullopt);
    EXPECT_EQ(c.cameras[2].retention.maxBytes, 1ULL << 20);
    EXPECT_EQ(c.cameras[3].retention.maxDays, 3650.0);
    EXPECT_EQ(c.cameras[3].retention.maxBytes, 1'572'864ULL);
    EXPECT_EQ(c.cameras[3].retention.ringDays, 3650.0);
    EXPECT_EQ(c.cameras[4].retention, RetentionConfig{});
}

TEST(Config, MinFree) {
    struct Case {
        const char* value;
        std::optional<uint64_t> bytes;
        double percent;
    };
    const Case cases[] = {
        {"\"5%\"", std::nullopt, 5.0},    {"\"2.5%\"", std::nullopt, 2.5},
        {"\"0.1 %\"", std::nullopt, 0.1}, {"\"99.9%\"", std::nullopt, 99.9},
        {"\"2GiB\"", 2ULL << 30, 5.0},    {"\"500 MB\"", 500'000'000, 5.0},
        {"1073741824", 1ULL << 30, 5.0},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(c.value);
        Config config = parseOk(std::string("[storage]\nmin_free = ") + c.value + "\n");
        EXPECT_EQ(config.storage.minFree.bytes, c.bytes);
        EXPECT_EQ(config.storage.minFree.percent, c.percent);
    }
}

TEST(Config, ReportsEveryRetentionMistakeInOneGo) {
    ConfigResult r = parse(R"([[camera]]
id = "door"
[camera.retention]
max_days = 0
max_bytes = "12 parsecs"
ring_day = 3
motion_days = 0

[storage]
min_free = "150%"
)");
    EXPECT_THAT(
        messages(r),
        ElementsAre(StartsWith("main.toml:4:12: camera \"door\": retention.max_days must be"),
                    StartsWith("main.toml:5:13: camera \"door\": retention.max_bytes must be"),
                    StartsWith("main.toml:6:1: unknown key \"ring_day\" in "
                               "[camera.retention] of camera \"door\"; did you mean "
                               "\"ring_days\"?"),
                    StartsWith("main.toml:7:15: camera \"door\": retention.motion_days must be"),
                    StartsWith("main.toml:10:12: storage.min_free must be")));
}

TEST(Config, DropInChangesACamerasRetentionKeyByKey) {
    ConfigResult r = parseConfig({
        {"main.toml", R"([[camera]]
id = "door"
width = 640
[camera.retention]
max_days = 30
max_bytes = "50GiB"

[[camera]]
id = "yard"

[storage]
min_free = "10%"
)"},
        {"10-a.toml", R"([[camera]]
id = "door"
[camera.retention]
max_days = 7

[[camera]]
id = "yard"
[camera.retention]
max_bytes = "2GB"

[storage]
min_free = "20GiB"
)"},
    });
    ASSERT_TRUE(r.ok()) << ::testing::PrintToString(messages(r));
    const Config& c = *r.config;
    ASSERT_THAT(c.cameras, SizeIs(2));
    EXPECT_EQ(c.cameras[0].width, 640);
    EXPECT_EQ(c.cameras[0].retention.maxDays, 7.0);                // 10-a
    EXPECT_EQ(c.cameras[0].retention.maxBytes, 50ULL << 30);       // main
    EXPECT_EQ(c.cameras[1].retention.maxDays, std::nullopt);       // neither
    EXPECT_EQ(c.cameras[1].retention.maxBytes, 2'000'000'000ULL);  // 10-a
    EXPECT_EQ(c.storage.minFree.bytes, 20ULL << 30);
}

TEST(Config, DropInChangesMotionKeyByKeyAndReplacesZonesWhole) {
    ConfigResult r = parseConfig({
        {"main.toml", R"([[camera]]
id = "door"
mode = "events"

[[camera.mask]]
points = [[0, 0], [1, 0], [1, 0.2]]

[camera.motion]
enabled = true
sensitivity = 0.7

[[camera.motion.zone]]
name = "path"
points = [[0, 0.5], [1, 0.5], [1, 1]]

[[camera.motion.zone]]
name = "road"
points = [[0, 0], [1, 0], [1, 0.3]]
mode = "exclude"

[camera.doorbell]
chip = "gpiochip0"
line = 17

[[camera]]
id = "yard"
[camera.motion]
enabled = true
[[camera.motion.zone]]
name = "lawn"
points = [[0, 0], [1, 0], [1, 1]]
)"},
        {"10-a.toml", R"(# Less eager at night; the doorbell moved to another pin.
[[camera]]
id = "door"
[camera.motion]
min_seconds = 2
[camera.doorbell]
line = 27

[[camera]]
id = "yard"
[[camera.mask]]
points = [[0, 0], [0.5, 0], [0, 0.5]]
[[camera.motion.zone]]
name = "gate"
points = [[0.5, 0.5], [1, 0.5], [1, 1]]
mode = "exclude"
)"},
        {"20-b.toml", R"([[camera]]
id = "door"
mask = []
)"},
    });
    ASSERT_TRUE(r.ok()) << ::testing::PrintToString(messages(r));
    const Config& c = *r.config;
    ASSERT_THAT(c.cameras, SizeIs(2));
    const CameraConfig& door = c.cameras[0];
    EXPECT_EQ(door.mode, RecordingMode::Events);  // main
    EXPECT_TRUE(door.motion.enabled);             // main
    EXPECT_EQ(door.motion.sensitivity, 0.7);      // main
    EXPECT_EQ(door.motion.minSeconds, 2.0);       // 10-a
    ASSERT_THAT(door.motion.zones, SizeIs(2));    // main: 10-a names no zone for door
    EXPECT_EQ(door.motion.zones[0].name, "path");
    EXPECT_EQ(door.motion.zones[1].name, "road");
    EXPECT_FALSE(door.motion.zones[1].include);
    EXPECT_EQ(door.doorbell, (DoorbellConfig{"gpiochip0", 27, true, 50}));  // chip: main
    EXPECT_THAT(door.masks, IsEmpty());  // 20-b's empty array replaces main's masks

    // A drop-in's zones replace the earlier list whole: "lawn" is gone.
    const CameraConfig& yard = c.cameras[1];
    EXPECT_TRUE(yard.motion.enabled);
    ASSERT_THAT(yard.motion.zones, SizeIs(1));
    EXPECT_EQ(yard.motion.zones[0].name, "gate");
    EXPECT_FALSE(yard.motion.zones[0].include);
    EXPECT_THAT(yard.masks, SizeIs(1));
}

TEST(Config, DropInThatAddsAMaskToAnRtspCameraMustTranscode) {
    ConfigResult r = parseConfig({
        {"main.toml", "[[camera]]\nid = \"gate\"\nsource = \"rtsp\"\nurl = \"rtsp://x/y\"\n"},
        {"10-a.toml",
         "[[camera]]\nid = \"gate\"\n\n[[camera.mask]]\npoints = [[0, 0], [1, 0], [1, 1]]\n"},
    });
    EXPECT_THAT(messages(r), ElementsAre(AllOf(StartsWith("10-a.toml:4:1: camera \"gate\": "
                                                          "[[camera.mask]] needs transcode = true"),
                                               HasSubstr("roughly a core for 1080p"))));

    r = parseConfig({
        {"main.toml",
         "[[camera]]\nid = \"gate\"\nsource = \"rtsp\"\nurl = \"rtsp://x/y\"\ntranscode = true\n"},
        {"10-a.toml",
         "[[camera]]\nid = \"gate\"\n\n[[camera.mask]]\npoints = [[0, 0], [1, 0], [1, 1]]\n"},
    });
    ASSERT_TRUE(r.ok()) << ::testing::PrintToString(messages(r));
    EXPECT_TRUE(r.config->cameras[0].transcode);
    EXPECT_THAT(r.config->cameras[0].masks, SizeIs(1));
}

TEST(Config, ReportsEveryMaskMotionAndDoorbellMistakeInOneGo) {
    ConfigResult r = parse(R"([[camera]]
id = "door"
pre_roll_seconds = 31

[[camera.mask]]
points = [[0, 0], [1, 0]]

[[camera.mask]]
points = [[0, 0], [1, 0, 0], [2, 1]]

[camera.motion]
sensitivity = 2
[[camera.motion.zone]]
name = "road"
points = [[0, 0], [1, 0], [1, 1]]
mode = "sideways"

[camera.doorbell]
line = -1
)");
    EXPECT_THAT(
        messages(r),
        ElementsAre(
            StartsWith("main.toml:3:20: camera \"door\": pre_roll_seconds must be"),
            StartsWith("main.toml:6:10: camera \"door\": mask #1: points must be"),
            StartsWith("main.toml:9:19: camera \"door\": mask #2: point 2 must be"),
            StartsWith("main.toml:9:31: camera \"door\": mask #2: point 3: x must be"),
            StartsWith("main.toml:12:15: camera \"door\": motion.sensitivity must be"),
            StartsWith("main.toml:16:8: camera \"door\": motion zone \"road\": mode must be"),
            StartsWith("main.toml:18:1: missing required key \"chip\" in [camera.doorbell]"),
            StartsWith("main.toml:19:8: camera \"door\": doorbell.line must be")));
}

TEST(Config, ErrorInADropInsRetentionPointsIntoTheDropIn) {
    ConfigResult r = parseConfig({
        {"main.toml", "[[camera]]\nid = \"door\"\n[camera.retention]\nmax_days = 30\n"},
        {"10-a.toml",
         "[[camera]]\nid = \"door\"\n\n[camera.retention]\nmax_bytes = \"2 GB\"\n"
         "max_dayz = 3\n"},
    });
    EXPECT_THAT(messages(r),
                ElementsAre(StartsWith("10-a.toml:6:1: unknown key \"max_dayz\" in "
                                       "[camera.retention] of camera \"door\"; did you mean "
                                       "\"max_days\"?")));
}

TEST(Config, EachMistakeIsReportedWhereItIs) {
    for (const BadCase& c : kBadCases) {
        SCOPED_TRACE(c.what);
        ConfigResult r = parse(c.toml);
        EXPECT_FALSE(r.ok());
        EXPECT_FALSE(r.config.has_value());
        EXPECT_THAT(messages(r), ElementsAre(AllOf(StartsWith(c.expected), HasSubstr(c.also))));
    }
}

TEST(Config, ReportsEveryMistakeInOneGo) {
    ConfigResult r = parse(R"([[camera]]
id = "door"
widht = 1280
height = 7
source = "test"
url = "rtsp://x"

[[camera]]
source = "rtsp"

[storage]
segment_seconds = 1

[log]
level = "loud"

[mqtt]
)");
    EXPECT_FALSE(r.ok());
    EXPECT_THAT(messages(r),
                ElementsAre(StartsWith("main.toml:3:1: unknown key \"widht\""),
                            StartsWith("main.toml:4:10: camera \"door\": height must be"),
                            StartsWith("main.toml:6:1: camera \"door\": url does not apply"),
                            StartsWith("main.toml:8:1: missing required key \"id\""),
                            StartsWith("main.toml:8:1: missing required key \"url\""),
                            StartsWith("main.toml:12:19: storage.segment_seconds must be"),
                            StartsWith("main.toml:15:9: log.level must be"),
                            StartsWith("main.toml:17:2: unknown key \"mqtt\"")));
}

TEST(Config, DuplicateIdInOneFile) {
    ConfigResult r = parse(R"([[camera]]
id = "door"

[[camera]]
id = "gate"

[[camera]]
id = "door"
width = 7
)");
    EXPECT_FALSE(r.ok());
    // The second camera is still checked: its own mistakes are reported too.
    EXPECT_THAT(messages(r),
                ElementsAre(AllOf(StartsWith("main.toml:8:6: duplicate camera id \"door\""),
                                  HasSubstr("the [[camera]] at main.toml:1:1 already has it")),
                            StartsWith("main.toml:9:9: camera \"door\": width must be")));
}

TEST(Config, DuplicateIdInOneDropInIsNotMergedAway) {
    ConfigResult r = parseConfig({
        {"main.toml", "[[camera]]\nid = \"door\"\n"},
        {"10-a.toml", "[[camera]]\nid = \"door\"\nwidth = 640\n[[camera]]\nid = \"door\"\n"},
    });
    EXPECT_THAT(messages(r), ElementsAre(AllOf(StartsWith("10-a.toml:5:6: duplicate camera id"),
                                               HasSubstr("at 10-a.toml:1:1"))));
}

TEST(Config, LaterDocumentsWinAndCamerasMergeById) {
    ConfigResult r = parseConfig({
        {"main.toml", R"([[camera]]
id = "door"
width = 1920
height = 1080
bitrate = "4M"

[storage]
segment_seconds = 120

[log]
level = "notice"
categories = { pipeline = "debug" }
)"},
        {"10-a.toml", R"([log.categories]
storage = "warning"

[[camera]]
id = "door"
bitrate = "3M"
mode = "events"

[[camera]]
id = "yard"
source = "v4l2"
)"},
        {"20-b.toml", R"([storage]
segment_seconds = 30

[[camera]]
id = "door"
width = 1280
)"},
    });
    ASSERT_TRUE(r.ok()) << ::testing::PrintToString(messages(r));
    const Config& c = *r.config;
    EXPECT_THAT(c.files, ElementsAre("main.toml", "10-a.toml", "20-b.toml"));
    ASSERT_THAT(c.cameras, SizeIs(2));
    EXPECT_EQ(c.cameras[0].id, "door");
    EXPECT_EQ(c.cameras[0].width, 1280);         // 20-b
    EXPECT_EQ(c.cameras[0].height, 1080);        // main
    EXPECT_EQ(c.cameras[0].bitrate, 3'000'000);  // 10-a
    EXPECT_EQ(c.cameras[0].mode, RecordingMode::Events);
    EXPECT_EQ(c.cameras[0].location, (SourceLocation{"main.toml", 1, 1}));
    EXPECT_EQ(c.cameras[1].id, "yard");
    EXPECT_EQ(c.cameras[1].source, SourceKind::V4l2);
    EXPECT_EQ(c.cameras[1].location, (SourceLocation{"10-a.toml", 9, 1}));
    EXPECT_EQ(c.storage.segmentSeconds, 30.0);
    EXPECT_EQ(c.log.spec(), "notice,pipeline=debug,storage=warning");
}

TEST(Config, NonCameraArraysAndScalarsAreReplaced) {
    // An earlier bad value replaced by a later good one is no error.
    ConfigResult r = parseConfig({
        {"main.toml", "[storage]\nsegment_seconds = 1\n"},
        {"10-a.toml", "[storage]\nsegment_seconds = 15\n"},
    });
    ASSERT_TRUE(r.ok()) << ::testing::PrintToString(messages(r));
    EXPECT_EQ(r.config->storage.segmentSeconds, 15.0);
}

TEST(Config, KeyThatStopsApplyingAfterADropInChangesTheSource) {
    ConfigResult r = parseConfig({
        {"main.toml", "[[camera]]\nid = \"door\"\npattern = \"ball\"\n"},
        {"10-a.toml", "[[camera]]\nid = \"door\"\nsource = \"rtsp\"\nurl = \"rtsp://cam/s\"\n"},
    });
    EXPECT_THAT(messages(r),
                ElementsAre(AllOf(
                    StartsWith("main.toml:3:1: camera \"door\": pattern does not apply to source "
                               "\"rtsp\" (set at 10-a.toml:3:10)"),
                    HasSubstr("pattern is for test cameras"))));
}

TEST(Config, DropInCameraWithoutIdIsAnError) {
    ConfigResult r = parseConfig({
        {"main.toml", "[[camera]]\nid = \"door\"\n"},
        {"10-a.toml", "\n[[camera]]\nwidth = 640\n"},
    });
    EXPECT_THAT(
        messages(r),
        ElementsAre(StartsWith("10-a.toml:2:1: missing required key \"id\" in [[camera]]")));
}

TEST(Config, SyntaxErrorInOneDocumentStillChecksTheOthers) {
    ConfigResult r = parseConfig({
        {"main.toml", "[storage]\nsegment_seconds = 2\n"},
        {"10-a.toml", "[log\nlevel = \"debug\"\n"},
        {"20-b.toml", "[[camera]]\nid = \"door\"\nframerate = 500\n"},
    });
    EXPECT_FALSE(r.ok());
    EXPECT_THAT(messages(r),
                ElementsAre(StartsWith("main.toml:2:19: storage.segment_seconds must be"),
                            StartsWith("10-a.toml:1:5: invalid TOML: "),
                            StartsWith("20-b.toml:3:13: camera \"door\": framerate must be")));
}

TEST(Config, LoadsDropInsFromDiskInNameOrder) {
    TempDir dir;
    std::string main = dir.write("porchlight.toml", R"([[camera]]
id = "door"
width = 1920
height = 1080

[storage]
segment_seconds = 120
)");
    // Written out of order: the directory's order must not matter.
    std::string b = dir.write("porchlight.conf.d/20-b.toml", R"([storage]
segment_seconds = 45

[[camera]]
id = "door"
width = 640
)");
    std::string a = dir.write("porchlight.conf.d/10-a.toml", R"([storage]
segment_seconds = 90

[[camera]]
id = "door"
width = 800
framerate = 25
)");
    // Not drop-ins: wrong suffix, an editor's hidden file, a directory.
    dir.write("porchlight.conf.d/30-c.toml.bak", "this is not toml");
    dir.write("porchlight.conf.d/.#40-d.toml", "nor this");
    std::filesystem::create_directories(dir.path() / "porchlight.conf.d/50-e.toml");

    EXPECT_THAT(configFilesFor(main), ElementsAre(main, a, b));

    ConfigResult r = loadConfig(main);
    ASSERT_TRUE(r.ok()) << ::testing::PrintToString(messages(r));
    EXPECT_THAT(r.config->files, ElementsAre(main, a, b));
    EXPECT_EQ(r.config->storage.segmentSeconds, 45.0);
    ASSERT_THAT(r.config->cameras, SizeIs(1));
    EXPECT_EQ(r.config->cameras[0].width, 640);
    EXPECT_EQ(r.config->cameras[0].height, 1080);
    EXPECT_EQ(r.config->cameras[0].framerate, 25);
    EXPECT_EQ(r.config->cameras[0].location, (SourceLocation{main, 1, 1}));
}

TEST(Config, ErrorInADropInPointsIntoTheDropIn) {
    TempDir dir;
    std::string main = dir.write("porchlight.toml", "[[camera]]\nid = \"door\"\n");
    std::string a = dir.write("porchlight.conf.d/10-a.toml",
                              "# make the door camera sharper\n[[camera]]\nid = \"door\"\n"
                              "width = 1919\n");
    ConfigResult r = loadConfig(main);
    EXPECT_THAT(messages(r),
                ElementsAre(a + ":4:9: camera \"door\": width must be an even integer from 16 to "
                                "7680, got 1919"));
}

TEST(Config, DropInsWithoutAMainFile) {
    TempDir dir;
    std::string a = dir.write("porchlight.conf.d/10-a.toml", "[log]\nlevel = \"debug\"\n");
    ConfigResult r = loadConfig(dir.path() / "porchlight.toml");
    ASSERT_TRUE(r.ok()) << ::testing::PrintToString(messages(r));
    EXPECT_THAT(r.config->files, ElementsAre(a));
    EXPECT_EQ(r.config->log.level, "debug");
}

TEST(Config, UnreadableMainFileIsAnError) {
    TempDir dir;
    // A directory in place of the file: unreadable even for root, which the
    // test may run as.
    std::filesystem::path main = dir.path() / "porchlight.toml";
    std::filesystem::create_directories(main);
    std::string a = dir.write("porchlight.conf.d/10-a.toml", "[log]\nlevel = \"shout\"\n");
    ConfigResult r = loadConfig(main);
    EXPECT_FALSE(r.ok());
    EXPECT_THAT(messages(r), ElementsAre(main.string() + ": cannot read: Is a directory",
                                         StartsWith(a + ":2:9: log.level must be")));
}

TEST(Config, SyntaxErrorInAFileOnDisk) {
    TempDir dir;
    std::string main = dir.write("porchlight.toml", "[storage]\nsegment_seconds = = 3\n");
    ConfigResult r = loadConfig(main);
    EXPECT_THAT(messages(r), ElementsAre(StartsWith(main + ":2:19: invalid TOML: ")));
}

TEST(Config, SameSettingsIgnoresLocation) {
    Config a = parseOk("[[camera]]\nid = \"door\"\nwidth = 640\n");
    Config b = parseOk("\n\n[[camera]]\nwidth = 640\nid = \"door\"\n");
    ASSERT_THAT(a.cameras, SizeIs(1));
    ASSERT_THAT(b.cameras, SizeIs(1));
    EXPECT_NE(a.cameras[0].location, b.cameras[0].location);
    EXPECT_TRUE(a.cameras[0].sameSettings(b.cameras[0]));
    b.cameras[0].width = 800;
    EXPECT_FALSE(a.cameras[0].sameSettings(b.cameras[0]));
}

TEST(Config, SameSettingsComparesWhatRestartsThePipeline) {
    const std::string base = "[[camera]]\nid = \"door\"\n";
    const CameraConfig a = parseOk(base).cameras.at(0);
    const char* changes[] = {
        "pre_roll_seconds = 4\n",
        "post_roll_seconds = 11\n",
        "[[camera.mask]]\npoints = [[0, 0], [1, 0], [1, 1]]\n",
        "[camera.motion]\nenabled = true\n",
        "[camera.motion]\nsensitivity = 0.6\n",
        "[camera.motion]\nmin_seconds = 2\n",
        "[[camera.motion.zone]]\npoints = [[0, 0], [1, 0], [1, 1]]\n",
        "[camera.doorbell]\nchip = \"gpiochip0\"\nline = 17\n",
    };
    for (const char* change : changes) {
        SCOPED_TRACE(change);
        const Config b = parseOk(base + change);
        ASSERT_THAT(b.cameras, SizeIs(1));
        EXPECT_FALSE(a.sameSettings(b.cameras[0]));
    }

    // transcode, on rtsp cameras only.
    const std::string rtsp = "[[camera]]\nid = \"gate\"\nsource = \"rtsp\"\nurl = \"rtsp://x/y\"\n";
    const Config plain = parseOk(rtsp);
    const Config transcoded = parseOk(rtsp + "transcode = true\n");
    ASSERT_THAT(plain.cameras, SizeIs(1));
    ASSERT_THAT(transcoded.cameras, SizeIs(1));
    EXPECT_FALSE(plain.cameras[0].sameSettings(transcoded.cameras[0]));

    // Zones differing only in mode or name count too.
    const Config include =
        parseOk(base + "[[camera.motion.zone]]\npoints = [[0, 0], [1, 0], [1, 1]]\n");
    const Config exclude = parseOk(base +
                                   "[[camera.motion.zone]]\npoints = [[0, 0], [1, 0], [1, 1]]\n"
                                   "mode = \"exclude\"\n");
    const Config named = parseOk(base +
                                 "[[camera.motion.zone]]\npoints = [[0, 0], [1, 0], [1, 1]]\n"
                                 "name = \"road\"\n");
    EXPECT_FALSE(include.cameras.at(0).sameSettings(exclude.cameras.at(0)));
    EXPECT_FALSE(include.cameras.at(0).sameSettings(named.cameras.at(0)));
    EXPECT_TRUE(include.cameras.at(0).sameSettings(include.cameras.at(0)));
}

TEST(Config, SameSettingsIgnoresRetention) {
    // Retention changes apply without restarting the camera's pipeline.
    Config a = parseOk("[[camera]]\nid = \"door\"\n[camera.retention]\nmax_days = 30\n");
    Config b = parseOk(
        "[[camera]]\nid = \"door\"\n[camera.retention]\nmax_bytes = \"1GiB\"\nring_days = 90\n"
        "continuous_days = 2\nmotion_days = 14\n");
    ASSERT_THAT(a.cameras, SizeIs(1));
    ASSERT_THAT(b.cameras, SizeIs(1));
    EXPECT_NE(a.cameras[0].retention, b.cameras[0].retention);
    EXPECT_TRUE(a.cameras[0].sameSettings(b.cameras[0]));
}

TEST(Config, ShippedDefaultConfigIsValid) {
    std::string path = std::string(PORCHLIGHT_SOURCE_DIR) + "/config/porchlight.toml";
    ConfigResult r = loadConfig(path);
    ASSERT_TRUE(r.ok()) << ::testing::PrintToString(messages(r));
    EXPECT_THAT(r.config->files, ::testing::Contains(path));
    // No camera: the daemon detects cameras or falls back to the test pattern.
    EXPECT_THAT(r.config->cameras, IsEmpty());
}

TEST(Config, ShippedDefaultConfigExamplesAreValidAndDefaultsTrue) {
    // Settings are commented out as "#key = value" and prose as "# text";
    // uncommenting every setting must give a valid file whose sections hold
    // the documented defaults.
    std::istringstream in(readSourceFile("config/porchlight.toml"));
    std::string text;
    std::string line;
    int settings = 0;
    const std::regex setting(R"(^#([a-z\[].*)$)");
    std::smatch m;
    while (std::getline(in, line)) {
        if (std::regex_match(line, m, setting)) {
            text += m[1].str() + "\n";
            ++settings;
        }
    }
    EXPECT_GT(settings, 20);
    ConfigResult r = parse(text, "porchlight.toml (uncommented)");
    ASSERT_TRUE(r.ok()) << ::testing::PrintToString(messages(r)) << "\n" << text;
    const Config& c = *r.config;
    EXPECT_EQ(c.storage.segmentSeconds, StorageConfig{}.segmentSeconds);
    EXPECT_EQ(c.storage.minFree, StorageConfig{}.minFree);
    EXPECT_EQ(c.log.level, LogConfig{}.level);

    // One example of each source.
    std::vector<SourceKind> kinds;
    for (const CameraConfig& cam : c.cameras)
        kinds.push_back(cam.source);
    EXPECT_THAT(kinds, ::testing::UnorderedElementsAre(SourceKind::Test, SourceKind::Libcamera,
                                                       SourceKind::V4l2, SourceKind::Rtsp,
                                                       SourceKind::File));
    // The retention example is on the libcamera camera.
    auto door = std::find_if(c.cameras.begin(), c.cameras.end(),
                             [](const CameraConfig& cam) { return cam.id == "door"; });
    ASSERT_NE(door, c.cameras.end());
    EXPECT_EQ(door->retention.maxDays, 30.0);
    EXPECT_EQ(door->retention.maxBytes, 50ULL << 30);
    EXPECT_EQ(door->retention.ringDays, 30.0);
    // So are a mask, motion with a zone, and the doorbell.
    EXPECT_THAT(door->masks, SizeIs(1));
    EXPECT_TRUE(door->motion.enabled);
    ASSERT_THAT(door->motion.zones, SizeIs(1));
    EXPECT_FALSE(door->motion.zones[0].include);
    EXPECT_EQ(door->doorbell, (DoorbellConfig{"gpiochip0", 17, true, 50}));
    // The rtsp example's mask comes with the transcode it needs.
    auto gate = std::find_if(c.cameras.begin(), c.cameras.end(), [](const CameraConfig& cam) {
        return cam.source == SourceKind::Rtsp;
    });
    ASSERT_NE(gate, c.cameras.end());
    EXPECT_TRUE(gate->transcode);
    EXPECT_THAT(gate->masks, SizeIs(1));
    // The test example spells out every default.
    for (const CameraConfig& cam : c.cameras) {
        if (cam.source != SourceKind::Test)
            continue;
        CameraConfig defaults;
        defaults.id = cam.id;
        defaults.location = cam.location;
        EXPECT_TRUE(cam.sameSettings(defaults)) << cam.id;
    }
}

TEST(Config, ShippedDemoConfigIsValid) {
    ConfigResult r = loadConfig(std::string(PORCHLIGHT_SOURCE_DIR) + "/config/demo.toml");
    ASSERT_TRUE(r.ok()) << ::testing::PrintToString(messages(r));
    ASSERT_THAT(r.config->cameras, SizeIs(1));
    EXPECT_EQ(r.config->cameras[0].id, "demo");
    EXPECT_EQ(r.config->cameras[0].source, SourceKind::Test);
}

TEST(Config, WebDefaults) {
    Config c = parseOk("");
    EXPECT_THAT(c.web.listen, ElementsAre("0.0.0.0:8443", "[::]:8443"));
    EXPECT_FALSE(c.web.plainHttp);
    EXPECT_EQ(c.web.certificate, "");
    EXPECT_EQ(c.web.key, "");
    EXPECT_EQ(c.web.sessionIdleMinutes, 15);
    EXPECT_EQ(c.web.sessionMaxHours, 12);
}

TEST(Config, WebSettings) {
    Config c = parseOk(R"([web]
listen = ["127.0.0.1:0", "[::1]:8080", "192.168.1.20:443", "http://127.0.0.1:80", "https://[::]:1"]
plain_http = true
certificate = "/etc/porchlight/cert.pem"
key = "/etc/porchlight/key.pem"
session_idle_minutes = 30
session_max_hours = 168
)");
    EXPECT_THAT(c.web.listen, ElementsAre("127.0.0.1:0", "[::1]:8080", "192.168.1.20:443",
                                          "http://127.0.0.1:80", "https://[::]:1"));
    EXPECT_TRUE(c.web.plainHttp);
    EXPECT_EQ(c.web.certificate, "/etc/porchlight/cert.pem");
    EXPECT_EQ(c.web.key, "/etc/porchlight/key.pem");
    EXPECT_EQ(c.web.sessionIdleMinutes, 30);
    EXPECT_EQ(c.web.sessionMaxHours, 168);
}

TEST(Config, WebBadListenAddresses) {
    for (const char* bad :
         {"\"8443\"", "\"0.0.0.0\"", "\"0.0.0.0:65536\"", "\"::1:8443\"", "\"[127.0.0.1]:80\"",
          "\"host.example:80\"", "\"0.0.0.0:-1\"", "\"0.0.0.0:\"", "\"ftp://0.0.0.0:1\"", "5"}) {
        ConfigResult r = parse(std::string("[web]\nlisten = [") + bad + "]\n");
        EXPECT_FALSE(r.ok()) << bad;
        EXPECT_THAT(messages(r), ElementsAre(HasSubstr("web.listen entry must be"))) << bad;
    }
    ConfigResult r = parse("[web]\nlisten = \"0.0.0.0:8443\"\n");
    EXPECT_THAT(messages(r),
                ElementsAre(StartsWith("main.toml:2:10: web.listen must be an array")));
    r = parse("[web]\nlisten = []\n");
    EXPECT_THAT(messages(r), ElementsAre(HasSubstr("web.listen must be an array")));
}

TEST(Config, WebBadValues) {
    ConfigResult r = parse(R"([web]
plain_http = "yes"
certificate = "cert.pem"
key = "/k.pem"
session_idle_minutes = 0
session_max_hours = 169
listn = []
)");
    EXPECT_THAT(messages(r),
                ElementsAre(HasSubstr("web.plain_http must be true or false"),
                            HasSubstr("web.certificate must be an absolute path to a PEM file"),
                            HasSubstr("web.session_idle_minutes must be an integer from 1 to 1440"),
                            HasSubstr("web.session_max_hours must be an integer from 1 to 168"),
                            HasSubstr("unknown key \"listn\" in [web]")));
}

TEST(Config, WebCertificateAndKeyGoTogether) {
    ConfigResult r = parse("[web]\ncertificate = \"/c.pem\"\n");
    EXPECT_THAT(messages(r), ElementsAre(HasSubstr("missing required key \"key\" in [web]")));
    r = parse("[web]\nkey = \"/k.pem\"\n");
    EXPECT_THAT(messages(r),
                ElementsAre(HasSubstr("missing required key \"certificate\" in [web]")));
}

// The owner's settings from the web page (STATE/settings.toml): merged last,
// only the keys the page manages, only cameras the files have.
TEST(Config, OwnerSettingsWinButOnlyForWhatThePageManages) {
    char tmpl[] = "/tmp/pl-owner-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    const std::string dir = tmpl;
    std::ofstream(dir + "/porchlight.toml") << "[[camera]]\nid = \"door\"\nsource = "
                                               "\"libcamera\"\n";
    const std::string settings = R"([storage]
segment_seconds = 20

[[camera]]
id = "door"
source = "test"
mode = "events"
width = 640

[camera.motion]
enabled = true

[[camera]]
id = "gone"
mode = "off"
)";
    ConfigResult r = loadConfig(dir + "/porchlight.toml",
                                std::make_pair(std::string("/state/settings.toml"), settings));
    ASSERT_TRUE(r.ok()) << ::testing::PrintToString(messages(r));
    ASSERT_THAT(r.config->cameras, SizeIs(1));
    const CameraConfig& door = r.config->cameras[0];
    EXPECT_EQ(door.source, SourceKind::Libcamera);
    EXPECT_EQ(door.mode, RecordingMode::Events);
    EXPECT_TRUE(door.motion.enabled);
    EXPECT_EQ(door.width, 1280);
    EXPECT_EQ(r.config->storage.segmentSeconds, 60.0);
    EXPECT_THAT(r.config->ignoredSettings, ElementsAre("[storage]", "camera \"gone\""));
    EXPECT_EQ(r.config->files.back(), "/state/settings.toml");

    // Its mistakes are reported as its own FILE:LINE, like any file's.
    r = loadConfig(dir + "/porchlight.toml",
                   std::make_pair(std::string("/state/settings.toml"),
                                  std::string("[[camera]]\nid = \"door\"\nmode = \"later\"\n")));
    ASSERT_FALSE(r.ok());
    EXPECT_THAT(messages(r), ElementsAre(StartsWith("/state/settings.toml:3:")));

    // With no camera in the files, the page's cameras are taken whole.
    std::ofstream(dir + "/porchlight.toml", std::ios::trunc) << "[storage]\nsegment_seconds = 30\n";
    r = loadConfig(dir + "/porchlight.toml",
                   std::make_pair(std::string("/state/settings.toml"),
                                  std::string("[[camera]]\nid = \"demo\"\nsource = "
                                              "\"test\"\npattern = \"ball\"\nmode = "
                                              "\"off\"\n")));
    ASSERT_TRUE(r.ok()) << ::testing::PrintToString(messages(r));
    ASSERT_THAT(r.config->cameras, SizeIs(1));
    EXPECT_EQ(r.config->cameras[0].pattern, "ball");
    EXPECT_EQ(r.config->cameras[0].mode, RecordingMode::Off);
    std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace porchlight
