// Tests for RTSP cameras end to end: the real pipeline (rtspsrc, H.264
// passthrough) under the real camera supervisor, against rtsp_test_server on
// 127.0.0.1. What an owner would notice: the doorbell streams, a camera that
// drops off the network is retried with a reason shown, and it comes back on
// its own once the camera is reachable again.
//
// $RTSP_TEST_SERVER names the server binary (meson sets it).
#include <arpa/inet.h>
#include <gst/gst.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "camera.h"
#include "camera_pipeline.h"
#include "clock.h"
#include "config.h"
#include "process.h"
#include "run_until.h"
#include "tcp_fault_proxy.h"

namespace porchlight {
namespace {

using namespace std::chrono_literals;

/// Generous: a loaded CI machine may take a while, a working one takes a second or two.
constexpr auto deadline = 20s;

/// A port on 127.0.0.1 that nothing listens on (at least right now).
int freeLoopbackPort() {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    socklen_t len = sizeof addr;
    int port = -1;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0)
        port = ntohs(addr.sin_port);
    ::close(fd);
    return port;
}

/// rtsp_test_server as a child process (killed and reaped by Process's
/// destructor, whatever the test did), with the URL from its READY line.
struct Server {
    std::unique_ptr<test::Process> process;
    std::string url;
    int port = 0;
};

class RtspCameraTest : public ::testing::Test {
protected:
    /// Short timeouts so that a fault and a recovery take seconds, not minutes.
    static Camera::Timing timing() {
        Camera::Timing t;
        t.firstBackoff = 500ms;
        t.maxBackoff = 2s;
        t.startTimeout = 10s;
        t.stallTimeout = 3s;
        // Longer than any wait below: a stop that finishes in time was a real
        // end of stream, not the supervisor giving up.
        t.eosTimeout = 60s;
        return t;
    }

    std::unique_ptr<Camera> makeCamera(const std::string& url,
                                       const std::function<void(CameraConfig&)>& tweak = {}) {
        CameraConfig config;
        config.id = "door";
        config.source = SourceKind::Rtsp;
        config.url = url;
        config.rtspTransport = "tcp";
        if (tweak)
            tweak(config);
        auto factory =
            [this](const CameraConfig& c,
                   CameraStream::Callbacks callbacks) -> Expected<std::unique_ptr<CameraStream>> {
            auto post = [this](std::function<void()> fn) { boost::asio::post(io_, std::move(fn)); };
            // No motion branch: as in the daemon, RTSP would have to decode for it.
            PipelineOptions options;
            options.rawBranch = c.transcode;
            auto pipeline = CameraPipeline::build(c, options, post, std::move(callbacks));
            if (!pipeline)
                return pipeline.error();
            return std::unique_ptr<CameraStream>(std::move(*pipeline));
        };
        auto camera = std::make_unique<Camera>(config, clock_, factory, timing());
        camera->setStateListener([](Camera& c) {
            // In the test log, to see the sequence when an expectation fails.
            std::fprintf(stderr, "[camera %s] %s%s%s\n", c.id().c_str(),
                         std::string(cameraStateName(c.state())).c_str(),
                         c.lastError().empty() ? "" : ": ", c.lastError().c_str());
        });
        return camera;
    }

    /// Starts the server and waits for its READY line; on failure, a test failure and nullopt.
    std::optional<Server> startServer(const std::vector<std::string>& options) {
        const char* binary = std::getenv("RTSP_TEST_SERVER");
        if (!binary || !*binary) {
            ADD_FAILURE() << "RTSP_TEST_SERVER is not set: run this test through meson";
            return std::nullopt;
        }
        std::vector<std::string> argv{binary};
        argv.insert(argv.end(), options.begin(), options.end());
        const std::string log = ::testing::TempDir() + "rtsp_test_server." +
                                std::to_string(::getpid()) + "." + std::to_string(servers_++);
        Server server;
        server.process = std::make_unique<test::Process>(argv, log);
        if (!server.process->started()) {
            ADD_FAILURE() << "cannot run " << binary;
            return std::nullopt;
        }
        // A whole READY line: the server writes it in one go, but it may come
        // after GStreamer's own warnings (stderr shares the file).
        const std::string prefix = "READY rtsp://127.0.0.1:";
        const auto until = std::chrono::steady_clock::now() + deadline;
        std::string out;
        size_t at = std::string::npos;
        for (;;) {
            out = server.process->output();
            at = out.find(prefix);
            if (at != std::string::npos && out.find('\n', at) != std::string::npos)
                break;
            if (server.process->wait(0ms) || std::chrono::steady_clock::now() >= until) {
                ADD_FAILURE() << "rtsp_test_server did not become ready: " << out;
                return std::nullopt;
            }
            std::this_thread::sleep_for(20ms);
        }
        server.url = out.substr(at + 6, out.find('\n', at) - at - 6);
        server.port = std::atoi(out.c_str() + at + prefix.size());
        return server;
    }

    bool runUntil(const std::function<bool()>& done) { return test::runUntil(io_, done, deadline); }

    boost::asio::io_context io_;
    AsioClock clock_{io_};
    int servers_ = 0;
};

TEST_F(RtspCameraTest, StreamsAndComesBackAfterTheCameraRestarts) {
    auto server = startServer({"--port", "0", "--path", "/cam", "--width", "320", "--height", "240",
                               "--framerate", "15", "--bitrate", "300"});
    ASSERT_TRUE(server);
    const int port = server->port;
    auto camera = makeCamera(server->url);
    camera->start();

    ASSERT_TRUE(runUntil([&] {
        return camera->state() == CameraState::Streaming && camera->stats().frames >= 15;
    })) << "state "
        << cameraStateName(camera->state()) << ", " << camera->stats().frames
        << " frames, last error: " << camera->lastError();
    EXPECT_GT(camera->stats().bytes, 0u);
    EXPECT_EQ(camera->stats().restarts, 0u);

    // The camera loses power: no goodbye, the connection just dies.
    server->process->signal(SIGKILL);
    ASSERT_TRUE(server->process->wait(deadline));
    ASSERT_TRUE(runUntil([&] { return camera->state() == CameraState::Retrying; }))
        << "state " << cameraStateName(camera->state());
    EXPECT_FALSE(camera->lastError().empty());
    // It stays away for a while: at least one reconnection fails too.
    ASSERT_TRUE(runUntil([&] {
        return camera->state() == CameraState::Retrying && camera->stats().restarts >= 2;
    })) << "state "
        << cameraStateName(camera->state()) << ", " << camera->stats().restarts << " restarts";
    EXPECT_FALSE(camera->lastError().empty());

    // Back on the same address: the supervisor reconnects without being told.
    server = startServer({"--port", std::to_string(port), "--path", "/cam", "--width", "320",
                          "--height", "240", "--framerate", "15", "--bitrate", "300"});
    ASSERT_TRUE(server);
    const uint64_t framesBefore = camera->stats().frames;
    ASSERT_TRUE(runUntil([&] {
        return camera->state() == CameraState::Streaming &&
               camera->stats().frames >= framesBefore + 15;
    })) << "state "
        << cameraStateName(camera->state()) << ", last error: " << camera->lastError();
    EXPECT_TRUE(camera->lastError().empty()) << "streaming again clears the error";

    // Stopping drains the recording branch through end of stream, as at daemon shutdown.
    bool stopped = false;
    camera->stop([&] { stopped = true; });
    ASSERT_TRUE(runUntil([&] { return stopped; }));
    EXPECT_EQ(camera->state(), CameraState::Stopped);
}

TEST_F(RtspCameraTest, NothingListeningIsRetriedWithAReason) {
    const int port = freeLoopbackPort();
    ASSERT_GT(port, 0);
    // Credentials in the URL must not reach the message (or the log, or D-Bus).
    auto camera = makeCamera("rtsp://admin:hunter2@127.0.0.1:" + std::to_string(port) + "/cam");
    camera->start();

    // Several attempts, each failing cleanly, with the wait growing between them.
    ASSERT_TRUE(runUntil([&] {
        return camera->state() == CameraState::Retrying && camera->stats().restarts >= 3;
    })) << "state "
        << cameraStateName(camera->state()) << ", " << camera->stats().restarts << " restarts";
    EXPECT_NE(
        camera->lastError().find("cannot reach the camera at 127.0.0.1:" + std::to_string(port)),
        std::string::npos)
        << camera->lastError();
    EXPECT_EQ(camera->lastError().find("hunter2"), std::string::npos) << camera->lastError();
    EXPECT_EQ(camera->stats().frames, 0u);
    EXPECT_EQ(camera->currentBackoff(), 2s);

    bool stopped = false;
    camera->stop([&] { stopped = true; });
    ASSERT_TRUE(runUntil([&] { return stopped; }));
    EXPECT_EQ(camera->state(), CameraState::Stopped);
}

TEST_F(RtspCameraTest, FaultsMidStreamRecoverAndNeverDisturbAnotherCamera) {
    // The doorbell reaches us through a proxy that can stall, garble or go
    // silent; the yard camera (a test source) runs in the same loop, as in
    // the daemon, and must not notice anything.
    auto server = startServer({"--port", "0", "--path", "/cam", "--width", "320", "--height", "240",
                               "--framerate", "15", "--bitrate", "300"});
    ASSERT_TRUE(server);
    const int serverPort = server->port;
    test::TcpFaultProxy proxy(serverPort);
    ASSERT_GT(proxy.port(), 0);
    auto door = makeCamera("rtsp://127.0.0.1:" + std::to_string(proxy.port()) + "/cam");
    auto yard = makeCamera("", [](CameraConfig& c) {
        c.id = "yard";
        c.source = SourceKind::Test;
        c.width = 320;
        c.height = 240;
        c.framerate = 15;
    });
    // Once streaming, the yard camera must never leave that state.
    int yardInterruptions = 0;
    bool yardStreamed = false;
    yard->setStateListener([&](Camera& c) {
        std::fprintf(stderr, "[camera yard] %s\n", std::string(cameraStateName(c.state())).c_str());
        yardInterruptions += yardStreamed && c.state() != CameraState::Streaming;
        yardStreamed = yardStreamed || c.state() == CameraState::Streaming;
    });
    door->start();
    yard->start();
    ASSERT_TRUE(runUntil([&] {
        return door->state() == CameraState::Streaming && door->stats().frames >= 15 &&
               yard->state() == CameraState::Streaming && yard->stats().frames >= 15;
    })) << "door "
        << cameraStateName(door->state()) << ": " << door->lastError() << "; yard "
        << cameraStateName(yard->state());

    struct Fault {
        const char* name;
        std::function<void()> start;
        std::function<void()> end;
        uint32_t widthAfter;
        uint64_t restarts = 1;  // how many failed attempts show the fault
    };
    const std::vector<Fault> faults = {
        {"stalls mid-stream", [&] { proxy.setMode(test::TcpFaultProxy::Mode::Stall); },
         [&] { proxy.setMode(test::TcpFaultProxy::Mode::Forward); }, 320},
        {"sends garbage mid-stream", [&] { proxy.setMode(test::TcpFaultProxy::Mode::Garbage); },
         [&] { proxy.setMode(test::TcpFaultProxy::Mode::Forward); }, 320},
        {"never answers",
         [&] {
             proxy.setMode(test::TcpFaultProxy::Mode::Silent);
             proxy.dropConnections();
         },
         [&] { proxy.setMode(test::TcpFaultProxy::Mode::Forward); }, 320, 2},
        {"restarts at another resolution",
         [&] {
             server->process->signal(SIGKILL);
             ASSERT_TRUE(server->process->wait(deadline));
             proxy.dropConnections();
         },
         [&] {
             server =
                 startServer({"--port", std::to_string(serverPort), "--path", "/cam", "--width",
                              "640", "--height", "360", "--framerate", "15", "--bitrate", "300"});
             ASSERT_TRUE(server);
         },
         640},
    };
    for (const auto& fault : faults) {
        SCOPED_TRACE(std::string("the doorbell ") + fault.name);
        const uint64_t yardBefore = yard->stats().frames;
        const uint64_t restartsBefore = door->stats().restarts;
        fault.start();
        ASSERT_TRUE(runUntil([&] {
            return door->state() == CameraState::Retrying &&
                   door->stats().restarts >= restartsBefore + fault.restarts;
        })) << "state "
            << cameraStateName(door->state()) << ", " << door->stats().restarts << " restarts";
        EXPECT_FALSE(door->lastError().empty()) << "a fault with no reason shown";
        std::fprintf(stderr, "[test] %s: %s\n", fault.name, door->lastError().c_str());
        fault.end();
        const uint64_t doorBefore = door->stats().frames;
        ASSERT_TRUE(runUntil([&] {
            return door->state() == CameraState::Streaming &&
                   door->stats().frames >= doorBefore + 15;
        })) << "state "
            << cameraStateName(door->state()) << ", last error: " << door->lastError();
        EXPECT_EQ(door->stats().width, fault.widthAfter);
        // The yard camera went on the whole time.
        EXPECT_EQ(yard->state(), CameraState::Streaming);
        EXPECT_GT(yard->stats().frames, yardBefore + 15);
    }
    EXPECT_EQ(yardInterruptions, 0);
    EXPECT_EQ(yard->stats().restarts, 0u);

    bool doorStopped = false, yardStopped = false;
    door->stop([&] { doorStopped = true; });
    yard->stop([&] { yardStopped = true; });
    ASSERT_TRUE(runUntil([&] { return doorStopped && yardStopped; }));
}

TEST_F(RtspCameraTest, H265CameraIsRefusedWithAClearMessage) {
    if (GstElementFactory* f = gst_element_factory_find("x265enc")) {
        gst_object_unref(f);
    } else {
        GTEST_SKIP() << "x265enc is not installed; the test server cannot send H.265";
    }
    auto server = startServer({"--port", "0", "--width", "320", "--height", "240", "--framerate",
                               "15", "--bitrate", "300", "--codec", "h265"});
    ASSERT_TRUE(server);
    auto camera = makeCamera(server->url);
    camera->start();

    ASSERT_TRUE(runUntil([&] { return camera->state() == CameraState::Retrying; }))
        << "state " << cameraStateName(camera->state());
    EXPECT_NE(camera->lastError().find("only H.264 is supported"), std::string::npos)
        << camera->lastError();
    EXPECT_EQ(camera->stats().frames, 0u);
}

TEST_F(RtspCameraTest, TranscodingBurnsInPrivacyMasks) {
    auto server = startServer({"--port", "0", "--width", "320", "--height", "240", "--framerate",
                               "15", "--bitrate", "300", "--pattern", "white"});
    ASSERT_TRUE(server);
    // The left half is the neighbour's window.
    auto camera = makeCamera(server->url, [](CameraConfig& c) {
        c.transcode = true;
        c.masks.push_back(Polygon{{{0.0, 0.0}, {0.5, 0.0}, {0.5, 1.0}, {0.0, 1.0}}});
    });
    std::vector<uint8_t> gray;
    int width = 0, height = 0;
    camera->setRawConsumer([&](const RawFrame& f) {
        GstBuffer* b = gst_sample_get_buffer(f.sample.get());
        GstMapInfo map;
        if (!b || !gst_buffer_map(b, &map, GST_MAP_READ))
            return;
        gray.assign(map.data, map.data + map.size);
        width = f.width;
        height = f.height;
        gst_buffer_unmap(b, &map);
    });
    camera->start();
    ASSERT_TRUE(runUntil([&] {
        return camera->state() == CameraState::Streaming && camera->stats().frames >= 15 &&
               !gray.empty();
    })) << cameraStateName(camera->state())
        << ": " << camera->lastError();
    ASSERT_GE(width, 16);
    const int stride = (width + 3) & ~3;  // GRAY8 rows are 4-byte aligned
    long masked = 0, open = 0;
    for (int y = 2; y < height - 2; ++y)
        for (int x = 2; x < width - 2; ++x) {
            if (x < width / 2 - 4)
                masked = std::max<long>(masked, gray[static_cast<size_t>(y * stride + x)]);
            else if (x > width / 2 + 4)
                open += gray[static_cast<size_t>(y * stride + x)] > 180;
        }
    EXPECT_LE(masked, 24) << "masked pixels reached the raw branch";
    EXPECT_GT(open, (width / 2 - 8) * (height - 4) * 9 / 10)
        << "the unmasked half lost its picture";
    bool stopped = false;
    camera->stop([&] { stopped = true; });
    ASSERT_TRUE(runUntil([&] { return stopped; }));
}

}  // namespace
}  // namespace porchlight
