// The live view's muxing without a network: real H.264 from x264 into a
// LiveFeed, the messages a browser would get parsed back, decoded with
// GStreamer, and what a viewer that cannot keep up receives.
#include "live.h"

#include <gst/app/gstappsink.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include "api.h"
#include "fmp4.h"
#include "h264_frames.h"
#include "run_until.h"

using namespace porchlight;
using namespace porchlight::web;
using namespace std::chrono_literals;

namespace {

/// A WebSocket that keeps what is sent; "stalled" makes it look like a
/// viewer whose network does not drain.
class FakeSocket : public WebSocket {
public:
    struct Sent {
        std::string data;
        bool text = false;
    };
    bool send(Message m, bool text) override {
        if (!open_)
            return false;
        sent.push_back({*m, text});
        return true;
    }
    size_t queuedBytes() const override { return stalled ? 64 * 1024 * 1024 : 0; }
    size_t queuedMessages() const override { return stalled ? 1000 : 0; }
    void close(uint16_t code, const std::string& reason) override {
        open_ = false;
        closeCode = code;
        closeReason = reason;
    }
    bool isOpen() const override { return open_; }

    /// Pairs of (announcement, binary message).
    std::vector<std::pair<nlohmann::json, std::string>> messages() const {
        std::vector<std::pair<nlohmann::json, std::string>> out;
        for (size_t i = 0; i + 1 < sent.size(); i += 2) {
            EXPECT_TRUE(sent[i].text);
            EXPECT_FALSE(sent[i + 1].text);
            out.emplace_back(nlohmann::json::parse(sent[i].data), sent[i + 1].data);
        }
        return out;
    }

    std::vector<Sent> sent;
    bool stalled = false;
    uint16_t closeCode = 0;
    std::string closeReason;

private:
    bool open_ = true;
};

std::span<const uint8_t> bytes(const std::string& s) {
    return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

/// Decodes a whole fMP4 with GStreamer (qtdemux, avdec_h264): frames decoded, or -1.
int decodedFrames(const std::string& mp4, int* width = nullptr) {
    std::string path = ::testing::TempDir() + "pl-live-XXXXXX";
    int fd = mkstemp(path.data());
    if (fd < 0)
        return -1;
    close(fd);
    std::ofstream(path, std::ios::binary) << mp4;
    const std::string launch = "filesrc location=" + path +
                               " ! qtdemux ! h264parse ! avdec_h264 ! appsink name=sink sync=false";
    GError* err = nullptr;
    GstElement* pipeline = gst_parse_launch(launch.c_str(), &err);
    if (!pipeline) {
        g_clear_error(&err);
        std::filesystem::remove(path);
        return -1;
    }
    GstElement* sink = gst_bin_get_by_name(GST_BIN(pipeline), "sink");
    gst_element_set_state(pipeline, GST_STATE_PLAYING);
    int frames = 0;
    while (GstSample* sample = gst_app_sink_pull_sample(GST_APP_SINK(sink))) {
        if (width && frames == 0) {
            gst_structure_get_int(gst_caps_get_structure(gst_sample_get_caps(sample), 0), "width",
                                  width);
        }
        ++frames;
        gst_sample_unref(sample);
    }
    gst_element_set_state(pipeline, GST_STATE_NULL);
    gst_object_unref(sink);
    gst_object_unref(pipeline);
    std::filesystem::remove(path);
    return frames;
}

constexpr int64_t kT0Us = 1'700'000'000'000'000;

TEST(LiveFeed, InitThenOneFragmentPerFrameFromAKeyframeThatDecode) {
    // 3 s at 10 fps, a keyframe every 2 s (frames 0 and 20).
    auto frames = test::makeH264Frames(3, 10, kT0Us);
    ASSERT_EQ(frames.size(), 30u);
    LiveFeed feed;
    auto early = std::make_shared<FakeSocket>();
    auto late = std::make_shared<FakeSocket>();
    feed.add(early);
    for (size_t i = 0; i < frames.size(); ++i) {
        if (i == 3)
            feed.add(late);  // joins between keyframes
        feed.push(frames[i]);
    }

    auto got = early->messages();
    ASSERT_EQ(got.size(), 31u);  // init + 30 frames
    EXPECT_EQ(got[0].first["type"], "init");
    EXPECT_EQ(got[0].first["codec"].get<std::string>().substr(0, 5), "avc1.");
    EXPECT_EQ(got[0].first["codec"], feed.codec());
    EXPECT_EQ(got[0].first["width"], 320);
    auto track = mp4::parseInitSegment(bytes(got[0].second));
    ASSERT_TRUE(track.hasValue()) << track.error().message;
    EXPECT_EQ(track->width, 320u);
    EXPECT_EQ(track->height, 240u);
    double lastT = -1;
    std::string whole = got[0].second;
    for (size_t i = 1; i < got.size(); ++i) {
        const auto& [head, data] = got[i];
        EXPECT_EQ(head["type"], "frame");
        auto samples = mp4::parseFragment(bytes(data));
        ASSERT_TRUE(samples.hasValue()) << samples.error().message;
        ASSERT_EQ(samples->size(), 1u);
        EXPECT_EQ((*samples)[0].keyframe, i == 1 || i == 21) << i;
        EXPECT_EQ(head["key"], (*samples)[0].keyframe);
        EXPECT_EQ(head["wallUs"], frames[i - 1].wallUs);
        EXPECT_GT(head["t"].get<double>(), lastT);
        lastT = head["t"];
        whole += data;
    }
    EXPECT_NEAR(lastT, 2.9, 0.01);  // the feed's timeline starts at 0
    int width = 0;
    EXPECT_EQ(decodedFrames(whole, &width), 30);
    EXPECT_EQ(width, 320);

    // The late viewer starts at the next keyframe, with the init before it.
    auto lateGot = late->messages();
    ASSERT_EQ(lateGot.size(), 11u);  // init + frames 20..29
    EXPECT_EQ(lateGot[0].first["type"], "init");
    EXPECT_EQ(lateGot[1].first["key"], true);
    EXPECT_EQ(lateGot[1].first["wallUs"], frames[20].wallUs);
    std::string lateWhole;
    for (const auto& m : lateGot)
        lateWhole += m.second;
    EXPECT_EQ(decodedFrames(lateWhole), 10);
    EXPECT_EQ(feed.stats(late.get()).dropped, 0u);  // waiting to start is not dropping
}

TEST(LiveFeed, ANewResolutionSendsANewInitAndTheTimelineGoesOn) {
    auto small = test::makeH264Frames(1, 10, kT0Us);
    auto large = test::makeH264Frames(1, 10, kT0Us + 1'000'000, 640, 360);
    ASSERT_EQ(small.size(), 10u);
    ASSERT_EQ(large.size(), 10u);
    LiveFeed feed;
    auto viewer = std::make_shared<FakeSocket>();
    feed.add(viewer);
    // The second stream's timestamps start again from 0, as a restarted camera's do.
    for (const auto& f : small)
        feed.push(f);
    for (const auto& f : large)
        feed.push(f);
    auto got = viewer->messages();
    ASSERT_EQ(got.size(), 22u);
    EXPECT_EQ(got[11].first["type"], "init");
    EXPECT_EQ(got[11].first["width"], 640);
    EXPECT_EQ(got[11].first["height"], 360);
    auto track = mp4::parseInitSegment(bytes(got[11].second));
    ASSERT_TRUE(track.hasValue());
    EXPECT_EQ(track->width, 640u);
    EXPECT_EQ(got[12].first["key"], true);
    double lastT = -1;
    for (const auto& [head, data] : got)
        if (head["type"] == "frame") {
            EXPECT_GT(head["t"].get<double>(), lastT);
            lastT = head["t"];
        }
    // The second part alone is a stream a player can start from.
    std::string second;
    for (size_t i = 11; i < got.size(); ++i)
        second += got[i].second;
    int width = 0;
    EXPECT_EQ(decodedFrames(second, &width), 10);
    EXPECT_EQ(width, 640);
}

TEST(LiveFeed, ASlowViewerDropsFramesAndResumesAtAKeyframeWhileOthersGetAll) {
    auto frames = test::makeH264Frames(6, 10, kT0Us);  // keyframes at 0, 20, 40
    ASSERT_EQ(frames.size(), 60u);
    LiveFeed feed;
    auto fast = std::make_shared<FakeSocket>();
    auto slow = std::make_shared<FakeSocket>();
    feed.add(fast);
    feed.add(slow);
    for (size_t i = 0; i < frames.size(); ++i) {
        // The slow viewer's network stalls from frame 5 to frame 24.
        slow->stalled = i >= 5 && i < 25;
        feed.push(frames[i]);
    }
    EXPECT_EQ(fast->messages().size(), 61u);
    EXPECT_EQ(feed.stats(fast.get()).dropped, 0u);

    // Frames 0-4, then nothing until the first keyframe after it caught up (40).
    auto got = slow->messages();
    ASSERT_EQ(got.size(), 1u + 5u + 20u);
    EXPECT_EQ(got[5].first["wallUs"], frames[4].wallUs);
    EXPECT_EQ(got[6].first["wallUs"], frames[40].wallUs);
    EXPECT_EQ(got[6].first["key"], true);
    EXPECT_EQ(feed.stats(slow.get()).dropped, 35u);
    EXPECT_EQ(feed.stats(slow.get()).inits, 1u);  // same stream: no new init needed
    // What it did get still decodes: the drop is invisible but for the jump.
    std::string whole;
    for (const auto& m : got)
        whole += m.second;
    EXPECT_EQ(decodedFrames(whole), 25);
}

TEST(LiveFeed, CodecStringComesFromTheAvcC) {
    EXPECT_EQ(avcCodecString({1, 0x42, 0xc0, 0x1e, 0xff}), "avc1.42c01e");
    EXPECT_EQ(avcCodecString({1, 0x64}), "");
}

// ---- through the API: a daemon with a real test camera --------------------

class LiveApi : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = ::testing::TempDir() + "pl-live-api-XXXXXX";
        ASSERT_NE(mkdtemp(dir_.data()), nullptr);
        // A test-pattern camera, and an RTSP one that cannot be reached.
        std::ofstream(dir_ + "/p.toml") << R"([[camera]]
id = "door"
source = "test"
width = 320
height = 240
framerate = 10

[[camera]]
id = "gate"
source = "rtsp"
url = "rtsp://127.0.0.1:1/none"
)";
        Options o;
        o.stateDir = dir_ + "/state";
        o.configFile = dir_ + "/p.toml";
        daemon_ = std::make_unique<Daemon>(io_, clock_, o);
        ASSERT_TRUE(daemon_->start().hasValue());
        auto log = audit::AuditLog::open(o.stateDir);
        ASSERT_TRUE(log.hasValue()) << log.error().message;
        audit_ = std::move(*log);
        auth_ = std::make_unique<Auth>(
            clock_, [this](std::function<void()> fn) { boost::asio::post(io_, std::move(fn)); },
            o.stateDir, *audit_);
        auth_->setSetupCode("12345-67890");
        api_ = std::make_unique<Api>(*daemon_, *auth_, *audit_);
    }
    void TearDown() override {
        api_.reset();
        auth_.reset();
        audit_.reset();
        daemon_.reset();
        std::filesystem::remove_all(dir_);
    }

    Response call(Request r) {
        r.headers["host"] = "door.local:8443";
        r.clientAddress = "192.0.2.7";
        r.secure = true;
        std::optional<Response> got;
        api_->handle(r, [&](Response resp) { got = std::move(resp); });
        EXPECT_TRUE(test::runUntil(
            io_, [&] { return got.has_value(); }, 20s))
            << r.path;
        return got.value_or(Response{});
    }
    Request get(const std::string& path, bool upgrade = false,
                const std::string& origin = "https://door.local:8443") {
        Request r;
        r.method = "GET";
        r.path = path;
        r.webSocketUpgrade = upgrade;
        if (!cookie_.empty())
            r.headers["cookie"] = cookie_;
        if (!origin.empty())
            r.headers["origin"] = origin;
        return r;
    }
    void setUpOwner() {
        Request r;
        r.method = "POST";
        r.path = "/api/setup";
        r.body =
            R"({"code":"12345-67890","passphrase":"correct horse battery","confirm":"correct horse battery"})";
        auto resp = call(r);
        ASSERT_EQ(resp.status, 200u) << resp.body;
        for (const auto& [k, v] : resp.headers)
            if (k == "Set-Cookie")
                cookie_ = v.substr(0, v.find(';'));
        csrf_ = nlohmann::json::parse(resp.body).value("csrf", "");
    }
    bool waitStreaming() {
        return test::runUntil(io_, [&] {
            Camera* c = daemon_->camera("door");
            return c && c->state() == CameraState::Streaming;
        });
    }

    boost::asio::io_context io_;
    AsioClock clock_{io_};
    std::string dir_;
    std::string cookie_;
    std::string csrf_;
    std::unique_ptr<Daemon> daemon_;
    std::unique_ptr<audit::AuditLog> audit_;
    std::unique_ptr<Auth> auth_;
    std::unique_ptr<Api> api_;
};

TEST_F(LiveApi, WithoutASessionTheUpgradeAndTheSnapshotAre401) {
    for (const char* path : {"/api/cameras/door/live", "/api/cameras/nope/live", "/api/nope"})
        EXPECT_EQ(call(get(path, true)).status, 401u) << path;
    EXPECT_EQ(call(get("/api/cameras/door/snapshot")).status, 401u);
}

TEST_F(LiveApi, TheUpgradeNeedsTheSameOriginAKnownCameraAndAHandshake) {
    setUpOwner();
    auto cross = call(get("/api/cameras/door/live", true, "https://evil.example"));
    EXPECT_EQ(cross.status, 403u) << cross.body;
    EXPECT_FALSE(cross.webSocket);
    EXPECT_EQ(call(get("/api/cameras/door/live", true, "")).status, 403u) << "no Origin";
    EXPECT_EQ(call(get("/api/cameras/door/live", true, "http://door.local:8443")).status, 101u)
        << "http and https of the same host: the page's own origin either way";
    auto unknown = call(get("/api/cameras/nope/live", true));
    EXPECT_EQ(unknown.status, 404u);
    EXPECT_NE(unknown.body.find("nope"), std::string::npos) << unknown.body;
    auto plain = call(get("/api/cameras/door/live", false));
    EXPECT_EQ(plain.status, 426u) << plain.body;
    EXPECT_EQ(call(get("/api/cameras/door/what", true)).status, 404u);
    auto ok = call(get("/api/cameras/door/live", true));
    EXPECT_EQ(ok.status, 101u) << ok.body;
    EXPECT_TRUE(ok.webSocket);
}

TEST_F(LiveApi, ViewersPerCameraAreCappedWithAClearError) {
    setUpOwner();
    std::vector<std::shared_ptr<WebSocketEndpoint>> endpoints;
    for (int i = 0; i < 4; ++i) {
        auto r = call(get("/api/cameras/door/live", true));
        ASSERT_EQ(r.status, 101u) << i << ": " << r.body;
        endpoints.push_back(r.webSocket);
    }
    auto fifth = call(get("/api/cameras/door/live", true));
    EXPECT_EQ(fifth.status, 503u);
    EXPECT_NE(fifth.body.find("already has 4 live viewers"), std::string::npos) << fifth.body;
    // One leaves (its handshake never completed: a failed one counts too).
    endpoints.back()->closed();
    endpoints.pop_back();
    EXPECT_EQ(call(get("/api/cameras/door/live", true)).status, 101u);
}

TEST_F(LiveApi, AViewerGetsTheCameraLiveUntilTheSessionEnds) {
    setUpOwner();
    ASSERT_TRUE(waitStreaming());
    EXPECT_FALSE(daemon_->camera("door")->hasLiveConsumer()) << "live branch open without viewers";
    auto r = call(get("/api/cameras/door/live", true));
    ASSERT_EQ(r.status, 101u);
    auto socket = std::make_shared<FakeSocket>();
    r.webSocket->opened(socket);
    EXPECT_TRUE(daemon_->camera("door")->hasLiveConsumer());
    ASSERT_TRUE(test::runUntil(io_, [&] { return socket->sent.size() >= 12; }))
        << "no live frames from the camera";
    auto got = socket->messages();
    EXPECT_EQ(got[0].first["type"], "init");
    EXPECT_EQ(got[0].first["width"], 320);
    EXPECT_EQ(got[1].first["key"], true);
    std::string whole;
    for (const auto& m : got)
        whole += m.second;
    EXPECT_EQ(decodedFrames(whole), static_cast<int>(got.size()) - 1);

    // Logging out closes the socket; its end closes the live branch.
    Request out;
    out.method = "POST";
    out.path = "/api/logout";
    out.headers["cookie"] = cookie_;
    out.headers["x-csrf-token"] = csrf_;
    ASSERT_EQ(call(out).status, 200u);
    EXPECT_EQ(socket->closeCode, 1008);
    EXPECT_NE(socket->closeReason.find("session ended"), std::string::npos);
    r.webSocket->closed();  // as the server does once the close handshake ends
    EXPECT_FALSE(daemon_->camera("door")->hasLiveConsumer());
}

TEST_F(LiveApi, AViewerFollowsItsCameraThroughAReloadThatChangesItsSize) {
    setUpOwner();
    ASSERT_TRUE(waitStreaming());
    auto r = call(get("/api/cameras/door/live", true));
    ASSERT_EQ(r.status, 101u);
    auto socket = std::make_shared<FakeSocket>();
    r.webSocket->opened(socket);
    ASSERT_TRUE(test::runUntil(io_, [&] { return socket->sent.size() >= 6; }));
    // The owner changes the camera's size: the reload replaces the camera.
    std::ofstream(dir_ + "/p.toml") << R"([[camera]]
id = "door"
source = "test"
width = 640
height = 360
framerate = 10
)";
    ASSERT_TRUE(daemon_->reload().hasValue());
    auto newInit = [&] {
        auto got = socket->messages();
        for (size_t i = 1; i + 1 < got.size(); ++i)
            if (got[i].first["type"] == "init" && got[i].first["width"] == 640)
                return got[i + 1].first["type"] == "frame";
        return false;
    };
    ASSERT_TRUE(test::runUntil(io_, newInit)) << "no new init segment after the reload";
    EXPECT_TRUE(socket->isOpen());
    EXPECT_TRUE(daemon_->camera("door")->hasLiveConsumer());
}

TEST_F(LiveApi, AnIdleSessionExpiringClosesItsLiveView) {
    // Sessions here end after 1 s without a request (checked every second).
    api_.reset();
    auth_.reset();
    Auth::Options options;
    options.idle = std::chrono::seconds(1);
    options.sweepInterval = std::chrono::seconds(1);
    auth_ = std::make_unique<Auth>(
        clock_, [this](std::function<void()> fn) { boost::asio::post(io_, std::move(fn)); },
        dir_ + "/state", *audit_, options);
    auth_->setSetupCode("12345-67890");
    api_ = std::make_unique<Api>(*daemon_, *auth_, *audit_);
    setUpOwner();
    ASSERT_TRUE(waitStreaming());
    auto r = call(get("/api/cameras/door/live", true));
    ASSERT_EQ(r.status, 101u);
    auto socket = std::make_shared<FakeSocket>();
    r.webSocket->opened(socket);
    // Watching is not using the API: the session expires under the viewer.
    ASSERT_TRUE(test::runUntil(io_, [&] { return !socket->isOpen(); }))
        << "the live view outlived its session";
    EXPECT_EQ(socket->closeCode, 1008);
    EXPECT_EQ(call(get("/api/cameras/door/live", true)).status, 401u);
}

TEST_F(LiveApi, ASnapshotIsAFreshJpegOr503SayingWhy) {
    setUpOwner();
    ASSERT_TRUE(waitStreaming());
    auto r = call(get("/api/cameras/door/snapshot"));
    ASSERT_EQ(r.status, 200u) << r.body;
    EXPECT_EQ(r.contentType, "image/jpeg");
    ASSERT_GT(r.body.size(), 100u);
    EXPECT_EQ(static_cast<uint8_t>(r.body[0]), 0xFF);
    EXPECT_EQ(static_cast<uint8_t>(r.body[1]), 0xD8);
    bool noStore = false;
    for (const auto& [k, v] : r.headers)
        noStore |= k == "Cache-Control" && v == "no-store";
    EXPECT_TRUE(noStore);
    // Nothing of it on disk: the state dir holds no JPEG.
    for (const auto& e : std::filesystem::recursive_directory_iterator(dir_ + "/state"))
        EXPECT_NE(e.path().extension(), ".jpg") << e.path();

    auto gate = call(get("/api/cameras/gate/snapshot"));
    EXPECT_EQ(gate.status, 503u);
    EXPECT_NE(gate.body.find("not streaming"), std::string::npos) << gate.body;
    EXPECT_EQ(call(get("/api/cameras/nope/snapshot")).status, 404u);
}

}  // namespace
