// Real GStreamer pipelines on this machine: the test and file sources deliver
// H.264 to the recording branch, the live and raw branches deliver only when
// opened, and cameras with no device fail clearly into retrying.
#include "camera_pipeline.h"

#include <gst/video/video.h>
#include <gtest/gtest.h>

#include <unistd.h>
#include <algorithm>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <filesystem>

#include "camera.h"
#include "clock.h"
#include "elements.h"
#include "libcamera_cameras.h"
#include "run_until.h"
#include "test_pattern.h"

using namespace porchlight;
using namespace std::chrono_literals;
using porchlight::test::runFor;
using porchlight::test::runUntil;

namespace {

CameraConfig testCamera() {
    CameraConfig c;
    c.id = "t";
    c.source = SourceKind::Test;
    c.width = 320;
    c.height = 240;
    c.framerate = 15;
    c.bitrate = 300'000;
    c.keyframeInterval = 1.0;
    return c;
}

class PipelineTest : public ::testing::Test {
protected:
    CameraPipeline::Post post() {
        return [this](std::function<void()> fn) { boost::asio::post(io_, std::move(fn)); };
    }
    std::unique_ptr<CameraPipeline> build(const CameraConfig& c, PipelineOptions o = {}) {
        CameraStream::Callbacks cb;
        cb.recording = [this](EncodedFrame&& f) { recording_.push_back(std::move(f)); };
        cb.live = [this](EncodedFrame&& f) { live_.push_back(std::move(f)); };
        cb.raw = [this](RawFrame&& f) { raw_.push_back(std::move(f)); };
        cb.error = [this](const std::string& e) { errors_.push_back(e); };
        cb.eos = [this] { eos_ = true; };
        auto p = CameraPipeline::build(c, o, post(), std::move(cb));
        EXPECT_TRUE(p.hasValue()) << (p ? "" : p.error().message);
        return p ? std::move(*p) : nullptr;
    }

    boost::asio::io_context io_;
    std::vector<EncodedFrame> recording_;
    std::vector<EncodedFrame> live_;
    std::vector<RawFrame> raw_;
    std::vector<std::string> errors_;
    bool eos_ = false;
};

TEST_F(PipelineTest, TestCameraDeliversH264AccessUnitsToTheRecordingBranch) {
    auto p = build(testCamera());
    ASSERT_TRUE(p);
    ASSERT_TRUE(p->play().hasValue());
    ASSERT_TRUE(runUntil(io_, [&] { return recording_.size() >= 20; }));
    EXPECT_TRUE(errors_.empty());

    // Playable as fMP4 later: avc with codec_data, first frame a keyframe,
    // timestamps rising, and a keyframe again within the configured interval.
    GstCaps* caps = gst_sample_get_caps(recording_[0].sample.get());
    ASSERT_NE(caps, nullptr);
    const GstStructure* s = gst_caps_get_structure(caps, 0);
    EXPECT_STREQ(gst_structure_get_name(s), "video/x-h264");
    EXPECT_STREQ(gst_structure_get_string(s, "stream-format"), "avc");
    EXPECT_TRUE(gst_structure_has_field(s, "codec_data"));
    EXPECT_TRUE(recording_[0].keyframe);
    int keyframes = 0;
    for (size_t i = 1; i < recording_.size(); ++i) {
        EXPECT_GT(recording_[i].pts, recording_[i - 1].pts);
        EXPECT_GT(recording_[i].size(), 0u);
        keyframes += recording_[i].keyframe;
    }
    EXPECT_GE(keyframes, 1) << "keyframe_interval 1 s at 15 fps: one within 20 frames";
    EXPECT_TRUE(live_.empty()) << "the live branch delivers only when opened";
    EXPECT_TRUE(raw_.empty()) << "the raw branch delivers only when opened";
}

TEST_F(PipelineTest, EosDrainsTheRecordingBranch) {
    auto p = build(testCamera());
    ASSERT_TRUE(p->play().hasValue());
    ASSERT_TRUE(runUntil(io_, [&] { return recording_.size() >= 5; }));
    p->sendEos();
    ASSERT_TRUE(runUntil(
        io_, [&] { return eos_; }, 5s));
}

TEST_F(PipelineTest, LiveBranchDeliversOnceOpened) {
    auto p = build(testCamera());
    ASSERT_TRUE(p->play().hasValue());
    ASSERT_TRUE(runUntil(io_, [&] { return recording_.size() >= 5; }));
    EXPECT_TRUE(live_.empty());
    p->setLiveEnabled(true);
    ASSERT_TRUE(runUntil(io_, [&] { return live_.size() >= 5; }));
    // Live frames say when their picture was taken (for the latency the page
    // measures): before they left the encoder, and not long before.
    for (const auto& f : live_) {
        EXPECT_GT(f.captureWallUs, 0);
        EXPECT_LE(f.captureWallUs, f.wallUs);
        EXPECT_LT(f.wallUs - f.captureWallUs, 10'000'000);
    }
    EXPECT_TRUE(std::any_of(live_.begin(), live_.end(), [](const EncodedFrame& f) {
        return f.captureWallUs < f.wallUs;
    })) << "the capture time is only the encoder's output time";
    p->setLiveEnabled(false);
    runFor(io_, 200ms);
    const size_t closedAt = live_.size();
    runFor(io_, 500ms);
    EXPECT_EQ(live_.size(), closedAt) << "frames kept coming after the live branch closed";
}

TEST_F(PipelineTest, RawBranchIsSmallGreyAndSlow) {
    CameraConfig c = testCamera();
    c.width = 640;
    c.height = 480;
    c.framerate = 30;
    auto p = build(c);
    ASSERT_TRUE(p->play().hasValue());
    p->setRawEnabled(true);
    ASSERT_TRUE(runUntil(io_, [&] { return raw_.size() >= 6; }));
    EXPECT_EQ(raw_[0].width, 320);
    EXPECT_EQ(raw_[0].height, 240);
    GstVideoInfo info;
    ASSERT_TRUE(gst_video_info_from_caps(&info, gst_sample_get_caps(raw_[0].sample.get())));
    EXPECT_EQ(GST_VIDEO_INFO_FORMAT(&info), GST_VIDEO_FORMAT_GRAY8);
    // About 5 fps, not the camera's 30: compare frame counts within this run.
    const double ratio = static_cast<double>(recording_.size()) / static_cast<double>(raw_.size());
    EXPECT_GT(ratio, 3.0) << recording_.size() << " encoded vs " << raw_.size() << " raw";
}

// The memory a stalled branch can hold: raw pictures are whole frames (3 MB
// at 1080p), so the branches that want only the latest one (motion,
// snapshots) keep 2; encoded frames are small and the live view's decoder
// needs them all (30); the recording's queues never drop.
TEST_F(PipelineTest, LeakyQueuesHoldTwoRawPicturesOrThirtyEncodedFrames) {
    PipelineOptions o;
    o.rawBranch = true;
    auto p = build(testCamera(), o);
    ASSERT_TRUE(p);
    auto queue = [&](const char* name) {
        GstElement* q = gst_bin_get_by_name(GST_BIN(p->element()), name);
        EXPECT_NE(q, nullptr) << name;
        guint buffers = 0;
        gint leaky = 0;
        if (q) {
            g_object_get(q, "max-size-buffers", &buffers, "leaky", &leaky, nullptr);
            gst_object_unref(q);
        }
        return std::pair<guint, gint>{buffers, leaky};
    };
    constexpr gint kDownstream = 2;  // GstQueueLeaky: drop the oldest
    EXPECT_EQ(queue("raw-queue"), (std::pair<guint, gint>{2, kDownstream}));
    EXPECT_EQ(queue("snapshot-queue"), (std::pair<guint, gint>{2, kDownstream}));
    EXPECT_EQ(queue("live-queue"), (std::pair<guint, gint>{30, kDownstream}));
    EXPECT_EQ(queue("encode-queue").second, 0);
    EXPECT_EQ(queue("recording-queue").second, 0);
}

TEST_F(PipelineTest, FileCameraPlaysAnH264File) {
    // Made at test time: a 1 s clip.
    std::string dir = ::testing::TempDir() + "pl-file-XXXXXX";
    ASSERT_NE(mkdtemp(dir.data()), nullptr);
    std::string path = dir + "/clip.mp4";
    GError* err = nullptr;
    std::string launch =
        "videotestsrc num-buffers=15 ! video/x-raw,width=320,height=240,framerate=15/1"
        " ! x264enc ! mp4mux ! filesink location=" +
        path;
    GstElement* maker = gst_parse_launch(launch.c_str(), &err);
    ASSERT_NE(maker, nullptr) << (err ? err->message : "");
    gst_element_set_state(maker, GST_STATE_PLAYING);
    GstBus* bus = gst_element_get_bus(maker);
    GstMessage* m = gst_bus_timed_pop_filtered(bus, 10 * GST_SECOND,
                                               GstMessageType(GST_MESSAGE_EOS | GST_MESSAGE_ERROR));
    ASSERT_NE(m, nullptr);
    EXPECT_EQ(GST_MESSAGE_TYPE(m), GST_MESSAGE_EOS);
    gst_message_unref(m);
    gst_object_unref(bus);
    gst_element_set_state(maker, GST_STATE_NULL);
    gst_object_unref(maker);

    CameraConfig c = testCamera();
    c.id = "f";
    c.source = SourceKind::File;
    c.path = path;
    auto p = build(c);
    ASSERT_TRUE(p->play().hasValue());
    ASSERT_TRUE(runUntil(
        io_, [&] { return eos_; }, 10s))
        << "the file never ended";
    EXPECT_GE(recording_.size(), 14u);
    EXPECT_TRUE(errors_.empty()) << errors_.front();
    std::filesystem::remove_all(dir);
}

TEST_F(PipelineTest, MissingFileIsAClearError) {
    CameraConfig c = testCamera();
    c.source = SourceKind::File;
    c.path = "/nonexistent/clip.mp4";
    auto p = CameraPipeline::build(c, {}, post(), {});
    ASSERT_FALSE(p.hasValue());
    EXPECT_EQ(p.error().message, "file /nonexistent/clip.mp4 does not exist");
}

TEST(Elements, MissingElementNamesThePackage) {
    auto e = makeElement("x264enc-that-is-not-there", "enc");
    ASSERT_FALSE(e.hasValue());
    EXPECT_EQ(e.error().message,
              "x264enc-that-is-not-there not found: install the GStreamer plugin that provides it");
    EXPECT_EQ(debianPackageFor("x264enc"), "gstreamer1.0-plugins-ugly");
    EXPECT_EQ(debianPackageFor("libcamerasrc"), "gstreamer1.0-libcamera");
    EXPECT_EQ(debianPackageFor("rtph264depay"), "gstreamer1.0-plugins-good");
}

TEST(Libcamera, ResolvesIdsAndIndexes) {
    CameraConfig c;
    const std::vector<std::string> found{"/base/cam0", "/base/cam1"};
    EXPECT_EQ(resolveLibcameraName(c, found), "/base/cam0");
    c.libcameraIndex = 1;
    EXPECT_EQ(resolveLibcameraName(c, found), "/base/cam1");
    c.libcameraIndex = 2;
    EXPECT_EQ(resolveLibcameraName(c, found), "");
    c.libcameraIndex.reset();
    c.libcameraId = "/base/cam1";
    EXPECT_EQ(resolveLibcameraName(c, found), "/base/cam1");
    c.libcameraId = "/base/cam9";
    EXPECT_EQ(resolveLibcameraName(c, found), "");
    EXPECT_EQ(resolveLibcameraName(CameraConfig{}, {}), "");
}

TEST(TestPattern, BoxCrossesThePictureAndComesBack) {
    const BoxRect start = movingBoxAt(0, 640, 480);
    const BoxRect middle = movingBoxAt(4 * GST_SECOND, 640, 480);
    const BoxRect back = movingBoxAt(8 * GST_SECOND, 640, 480);
    EXPECT_EQ(start.x, 0);
    EXPECT_EQ(middle.x + middle.width, 640);
    EXPECT_EQ(back.x, 0);
    EXPECT_GT(movingBoxAt(1 * GST_SECOND, 640, 480).x, 0);
}

// A camera that cannot exist here: the supervisor keeps the daemon alive and retries.
class MissingDeviceTest : public ::testing::Test {
protected:
    void expectRetrying(CameraConfig c, const std::string& expected) {
        AsioClock clock(io_);
        Camera cam(
            c, clock,
            [this](const CameraConfig& cc,
                   CameraStream::Callbacks cb) -> Expected<std::unique_ptr<CameraStream>> {
                PipelineOptions o;
                o.libcameraName = resolveLibcameraName(cc, {});
                auto p = CameraPipeline::build(
                    cc, o,
                    [this](std::function<void()> fn) { boost::asio::post(io_, std::move(fn)); },
                    std::move(cb));
                if (!p)
                    return p.error();
                return std::unique_ptr<CameraStream>(std::move(*p));
            });
        cam.start();
        ASSERT_TRUE(runUntil(
            io_, [&] { return cam.state() == CameraState::Retrying; }, 10s));
        EXPECT_EQ(cam.lastError(), expected);
        bool stopped = false;
        cam.stop([&] { stopped = true; });
        EXPECT_TRUE(stopped);
    }
    boost::asio::io_context io_;
};

TEST_F(MissingDeviceTest, Libcamera) {
    CameraConfig c = testCamera();
    c.source = SourceKind::Libcamera;
    expectRetrying(c, "no libcamera camera was found: is the camera connected and enabled?");
    c.libcameraIndex = 1;
    expectRetrying(c,
                   "no libcamera camera with index 1 was found: is the camera connected and "
                   "enabled?");
}

TEST_F(MissingDeviceTest, V4l2) {
    CameraConfig c = testCamera();
    c.source = SourceKind::V4l2;
    c.device = "/dev/video-porchlight-test-none";
    expectRetrying(c,
                   "v4l2 device /dev/video-porchlight-test-none does not exist: is the camera "
                   "plugged in, and is the path right?");
}

}  // namespace
