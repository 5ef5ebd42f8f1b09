// Camera supervision: state changes, backoff, stall and start timeouts, and
// orderly stop, driven by a fake stream and a fake clock.
#include "camera.h"

#include <gtest/gtest.h>

#include <deque>

#include "fake_clock.h"

using namespace porchlight;
using namespace std::chrono_literals;
using porchlight::test::FakeClock;

namespace {

class FakeStream final : public CameraStream {
public:
    FakeStream(Callbacks cb, int* eosRequests) : cb_(std::move(cb)), eosRequests_(eosRequests) {}
    Expected<void> play() override { return {}; }
    void sendEos() override { ++*eosRequests_; }
    void setLiveEnabled(bool) override {}
    void setRawEnabled(bool) override {}
    const std::string& description() const override { return description_; }

    void frame(size_t bytes = 1000) {
        EncodedFrame f;
        GstBuffer* b = gst_buffer_new_allocate(nullptr, bytes, nullptr);
        f.sample = GstPtr<GstSample>::adopt(gst_sample_new(b, nullptr, nullptr, nullptr));
        gst_buffer_unref(b);
        cb_.recording(std::move(f));
    }
    void error(const std::string& why) { cb_.error(why); }
    void eos() { cb_.eos(); }

private:
    Callbacks cb_;
    int* eosRequests_;
    std::string description_ = "fake";
};

class CameraTest : public ::testing::Test {
protected:
    CameraTest() {
        config_.id = "door";
        config_.source = SourceKind::Test;
    }

    std::unique_ptr<Camera> make(CameraConfig config) {
        auto cam = std::make_unique<Camera>(
            std::move(config), clock_,
            [this](const CameraConfig&,
                   CameraStream::Callbacks cb) -> Expected<std::unique_ptr<CameraStream>> {
                ++attempts_;
                if (!factoryErrors_.empty()) {
                    std::string e = factoryErrors_.front();
                    factoryErrors_.pop_front();
                    return makeError(e);
                }
                auto s = std::make_unique<FakeStream>(std::move(cb), &eosRequests_);
                stream_ = s.get();
                return std::unique_ptr<CameraStream>(std::move(s));
            });
        cam->setStateListener([this](Camera& c) { states_.push_back(c.state()); });
        return cam;
    }
    std::unique_ptr<Camera> make() { return make(config_); }

    FakeClock clock_;
    CameraConfig config_;
    FakeStream* stream_ = nullptr;
    int attempts_ = 0;
    int eosRequests_ = 0;
    std::deque<std::string> factoryErrors_;
    std::vector<CameraState> states_;
};

TEST_F(CameraTest, FirstFrameMeansStreamingAndFramesAreCounted) {
    auto cam = make();
    cam->start();
    EXPECT_EQ(cam->state(), CameraState::Starting);
    stream_->frame(1000);
    EXPECT_EQ(cam->state(), CameraState::Streaming);
    for (int i = 0; i < 14; ++i)
        stream_->frame(1000);
    clock_.advance(1s);
    EXPECT_EQ(cam->stats().frames, 15u);
    EXPECT_EQ(cam->stats().bytes, 15000u);
    EXPECT_DOUBLE_EQ(cam->stats().fps, 15.0);
    EXPECT_DOUBLE_EQ(cam->stats().bitrateBps, 120000.0);
    EXPECT_EQ(states_, (std::vector{CameraState::Starting, CameraState::Streaming}));
}

TEST_F(CameraTest, ErrorsBackOffFromOneSecondDoublingToThirty) {
    auto cam = make();
    cam->start();
    std::vector<long> waits;
    for (int i = 0; i < 7; ++i) {
        const int before = attempts_;
        stream_->error("source: Could not open resource");
        ASSERT_EQ(cam->state(), CameraState::Retrying);
        EXPECT_EQ(cam->lastError(), "source: Could not open resource");
        const long wait = cam->currentBackoff().count();
        waits.push_back(wait);
        clock_.advance(std::chrono::milliseconds(wait) - 1ms);
        EXPECT_EQ(attempts_, before) << "retried before its backoff ran out";
        clock_.advance(1ms);
        EXPECT_EQ(attempts_, before + 1);
        EXPECT_EQ(cam->state(), CameraState::Starting);
    }
    EXPECT_EQ(waits, (std::vector<long>{1000, 2000, 4000, 8000, 16000, 30000, 30000}));
}

TEST_F(CameraTest, AStableStreamEarnsAFreshBackoff) {
    auto cam = make();
    cam->start();
    stream_->error("boom");
    clock_.advance(1s);
    stream_->error("boom");
    EXPECT_EQ(cam->currentBackoff(), 2000ms);
    clock_.advance(2s);
    // Up for a minute and more, frames flowing: the next fault waits 1 s again.
    for (int i = 0; i < 70; ++i) {
        stream_->frame();
        clock_.advance(1s);
    }
    stream_->error("boom");
    EXPECT_EQ(cam->currentBackoff(), 1000ms);
}

TEST_F(CameraTest, FactoryFailureIsAFaultWithItsMessage) {
    factoryErrors_.push_back("x264enc not found: install gstreamer1.0-plugins-ugly");
    auto cam = make();
    cam->start();
    EXPECT_EQ(cam->state(), CameraState::Retrying);
    EXPECT_EQ(cam->lastError(), "x264enc not found: install gstreamer1.0-plugins-ugly");
    clock_.advance(1s);
    EXPECT_EQ(cam->state(), CameraState::Starting);
    stream_->frame();
    EXPECT_EQ(cam->state(), CameraState::Streaming);
    EXPECT_TRUE(cam->lastError().empty());
}

TEST_F(CameraTest, NoFrameForTheStallTimeoutRestarts) {
    auto cam = make();
    cam->start();
    stream_->frame();
    clock_.advance(9s);
    EXPECT_EQ(cam->state(), CameraState::Streaming);
    clock_.advance(1s);
    EXPECT_EQ(cam->state(), CameraState::Retrying);
    EXPECT_EQ(cam->lastError(), "no video for 10 s");
}

TEST_F(CameraTest, NoFirstFrameWithinTheStartTimeoutRestarts) {
    auto cam = make();
    cam->start();
    clock_.advance(19s);
    EXPECT_EQ(cam->state(), CameraState::Starting);
    clock_.advance(1s);
    EXPECT_EQ(cam->state(), CameraState::Retrying);
    EXPECT_EQ(cam->lastError(), "no video within 20 s of starting");
}

TEST_F(CameraTest, StopFinishesTheStreamBeforeStopping) {
    auto cam = make();
    cam->start();
    stream_->frame();
    bool done = false;
    cam->stop([&] { done = true; });
    EXPECT_EQ(eosRequests_, 1);
    EXPECT_FALSE(done) << "stopped before the recording branch drained";
    stream_->frame();  // the encoder's last frames still arrive
    stream_->eos();
    EXPECT_TRUE(done);
    EXPECT_EQ(cam->state(), CameraState::Stopped);
    EXPECT_EQ(cam->stats().frames, 2u);
}

TEST_F(CameraTest, StopGivesUpOnAStreamThatNeverFinishes) {
    auto cam = make();
    cam->start();
    stream_->frame();
    bool done = false;
    cam->stop([&] { done = true; });
    clock_.advance(3999ms);
    EXPECT_FALSE(done);
    clock_.advance(1ms);
    EXPECT_TRUE(done);
    EXPECT_EQ(cam->state(), CameraState::Stopped);
}

TEST_F(CameraTest, StopWhileRetryingIsImmediateAndCancelsTheRetry) {
    auto cam = make();
    cam->start();
    stream_->error("boom");
    bool done = false;
    cam->stop([&] { done = true; });
    EXPECT_TRUE(done);
    const int attempts = attempts_;
    clock_.advance(60s);
    EXPECT_EQ(attempts_, attempts);
    EXPECT_EQ(cam->state(), CameraState::Stopped);
}

TEST_F(CameraTest, AFileCameraLoopsWithoutCountingAFault) {
    config_.source = SourceKind::File;
    auto cam = make();
    cam->start();
    stream_->frame();
    stream_->eos();
    EXPECT_EQ(cam->state(), CameraState::Starting);
    EXPECT_EQ(cam->stats().restarts, 0u);
    EXPECT_EQ(attempts_, 2);
}

TEST_F(CameraTest, ALiveCameraEndingItsStreamIsAFault) {
    auto cam = make();
    cam->start();
    stream_->frame();
    stream_->eos();
    EXPECT_EQ(cam->state(), CameraState::Retrying);
    EXPECT_EQ(cam->lastError(), "the camera ended the stream");
}

}  // namespace
