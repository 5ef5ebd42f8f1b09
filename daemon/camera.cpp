// Camera supervision: see camera.h.
#include "camera.h"

#include <algorithm>
#include <utility>

#include "log.h"

PL_DEFINE_LOG_CATEGORY(CameraLog, "camera")

namespace porchlight {

using namespace std::chrono_literals;

std::string_view cameraStateName(CameraState state) {
    switch (state) {
        case CameraState::Starting:
            return "starting";
        case CameraState::Streaming:
            return "streaming";
        case CameraState::Retrying:
            return "retrying";
        case CameraState::Stopped:
            return "stopped";
    }
    return "stopped";
}

Camera::Camera(CameraConfig config, Clock& clock, StreamFactory factory, Timing timing)
    : config_(std::move(config)), clock_(clock), factory_(std::move(factory)), timing_(timing) {}

Camera::~Camera() {
    // Timers first: none may fire into a half-destroyed camera.
    retryTimer_.reset();
    tickTimer_.reset();
    stopTimer_.reset();
    stream_.reset();
}

void Camera::start() {
    if (state_ != CameraState::Stopped)
        return;
    stopping_ = false;
    backoff_ = 0ms;
    attempt();
}

void Camera::setState(CameraState state) {
    if (state_ == state)
        return;
    state_ = state;
    if (stateListener_)
        stateListener_(*this);
}

void Camera::attempt() {
    retryTimer_.reset();
    stream_.reset();
    attemptStarted_ = clock_.now();
    lastFrame_ = {};
    setState(CameraState::Starting);

    CameraStream::Callbacks cb;
    cb.recording = [this](EncodedFrame&& f) { onFrame(f); };
    cb.error = [this](const std::string& why) { fault(why); };
    cb.eos = [this] { onEos(); };
    cb.raw = [this](RawFrame&& f) {
        if (rawConsumer_)
            rawConsumer_(f);
    };
    cb.snapshot = [this](std::vector<uint8_t>&& jpeg) {
        for (auto& done : std::exchange(snapshotWaiters_, {}))
            done(jpeg);
        if (snapshotConsumer_)
            snapshotConsumer_(std::move(jpeg));
    };
    cb.live = [this](EncodedFrame&& f) {
        if (liveConsumer_)
            liveConsumer_(f);
    };
    auto stream = factory_(config_, std::move(cb));
    if (!stream) {
        fault(stream.error().message);
        return;
    }
    stream_ = std::move(*stream);
    PL_LOG(CameraLog, Info) << config_.id << ": starting " << stream_->description();
    if (auto played = stream_->play(); !played) {
        fault(played.error().message);
        return;
    }
    // Every new pipeline starts with its branches closed.
    stream_->setRawEnabled(static_cast<bool>(rawConsumer_));
    stream_->setLiveEnabled(static_cast<bool>(liveConsumer_));
    lastTick_ = clock_.now();
    tickFrames_ = tickBytes_ = 0;
    tickTimer_ = clock_.schedule(1s, [this] { tick(); });
}

void Camera::fault(const std::string& why) {
    if (stopping_) {
        // A fault while finishing (the source died during EOS): stop now.
        PL_LOG(CameraLog, Warning) << config_.id << ": " << why << " while stopping";
        finishStop();
        return;
    }
    if (state_ == CameraState::Retrying || state_ == CameraState::Stopped)
        return;

    // Destroying the stream here is safe: callbacks are posted, not nested in it.
    stream_.reset();
    tickTimer_.reset();
    lastError_ = why;
    if (state_ == CameraState::Streaming && clock_.now() - streamingSince_ >= timing_.stableAfter)
        backoff_ = 0ms;
    backoff_ = backoff_ == 0ms ? timing_.firstBackoff : std::min(backoff_ * 2, timing_.maxBackoff);
    stats_.fps = 0;
    stats_.bitrateBps = 0;
    ++stats_.restarts;
    PL_LOG(CameraLog, Warning) << config_.id << ": " << why << "; retrying in "
                               << std::chrono::duration<double>(backoff_).count() << " s";
    setState(CameraState::Retrying);
    retryTimer_ = clock_.schedule(backoff_, [this] { attempt(); });
}

void Camera::onFrame(const EncodedFrame& frame) {
    const size_t size = frame.size();
    ++stats_.frames;
    stats_.bytes += size;
    ++tickFrames_;
    tickBytes_ += size;
    lastFrame_ = clock_.now();
    if (GstCaps* caps = frame.sample ? gst_sample_get_caps(frame.sample.get()) : nullptr;
        caps && caps != lastCaps_) {
        lastCaps_ = caps;
        const GstStructure* st = gst_caps_get_structure(caps, 0);
        int w = 0, h = 0;
        if (gst_structure_get_int(st, "width", &w) && gst_structure_get_int(st, "height", &h)) {
            stats_.width = static_cast<uint32_t>(w);
            stats_.height = static_cast<uint32_t>(h);
        }
    }
    if (state_ == CameraState::Starting) {
        streamingSince_ = lastFrame_;
        lastError_.clear();
        PL_LOG(CameraLog, Info) << config_.id << ": streaming";
        setState(CameraState::Streaming);
    }
    if (recordingConsumer_)
        recordingConsumer_(frame);
}

void Camera::tick() {
    const auto now = clock_.now();
    const double seconds = std::chrono::duration<double>(now - lastTick_).count();
    if (seconds > 0) {
        stats_.fps = static_cast<double>(tickFrames_) / seconds;
        stats_.bitrateBps = static_cast<double>(tickBytes_) * 8.0 / seconds;
    }
    lastTick_ = now;
    tickFrames_ = tickBytes_ = 0;

    if (stopping_)
        return;
    if (state_ == CameraState::Starting && now - attemptStarted_ >= timing_.startTimeout) {
        fault("no video within " +
              std::to_string(
                  std::chrono::duration_cast<std::chrono::seconds>(timing_.startTimeout).count()) +
              " s of starting");
        return;
    }
    if (state_ == CameraState::Streaming && now - lastFrame_ >= timing_.stallTimeout) {
        fault("no video for " +
              std::to_string(
                  std::chrono::duration_cast<std::chrono::seconds>(timing_.stallTimeout).count()) +
              " s");
        return;
    }
    tickTimer_ = clock_.schedule(1s, [this] { tick(); });
}

void Camera::onEos() {
    if (stopping_) {
        PL_LOG(CameraLog, Info) << config_.id << ": recording branch flushed after "
                                << stats_.frames << " frames";
        finishStop();
        return;
    }
    if (config_.source == SourceKind::File) {
        // A file camera plays in a loop: start it again without counting a fault.
        PL_LOG(CameraLog, Debug) << config_.id << ": file ended, playing it again";
        stream_.reset();
        tickTimer_.reset();
        attempt();
        return;
    }
    fault("the camera ended the stream");
}

void Camera::setRawConsumer(std::function<void(const RawFrame&)> consumer) {
    rawConsumer_ = std::move(consumer);
    if (stream_)
        stream_->setRawEnabled(static_cast<bool>(rawConsumer_));
}

void Camera::setLiveConsumer(std::function<void(const EncodedFrame&)> consumer) {
    liveConsumer_ = std::move(consumer);
    if (stream_)
        stream_->setLiveEnabled(static_cast<bool>(liveConsumer_));
}

void Camera::takeSnapshot(std::function<void(const std::vector<uint8_t>&)> done) {
    snapshotWaiters_.push_back(std::move(done));
    requestSnapshot();
}

void Camera::requestSnapshot() {
    if (stream_)
        stream_->requestSnapshot();
}

void Camera::stop(std::function<void()> done) {
    stopDone_ = std::move(done);
    retryTimer_.reset();
    if (stopping_)
        return;
    stopping_ = true;
    if (stream_ && state_ == CameraState::Streaming) {
        PL_LOG(CameraLog, Debug) << config_.id << ": finishing the stream";
        stream_->sendEos();
        stopTimer_ = clock_.schedule(timing_.eosTimeout, [this] {
            PL_LOG(CameraLog, Warning)
                << config_.id << ": the stream did not finish in time; stopping it anyway";
            finishStop();
        });
        return;
    }
    finishStop();
}

void Camera::finishStop() {
    stopTimer_.reset();
    tickTimer_.reset();
    retryTimer_.reset();
    stream_.reset();
    stats_.fps = 0;
    stats_.bitrateBps = 0;
    setState(CameraState::Stopped);
    if (auto done = std::move(stopDone_)) {
        stopDone_ = nullptr;
        done();
    }
}

}  // namespace porchlight
