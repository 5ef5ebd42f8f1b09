// A camera supervisor: keeps one camera's stream running for as long as the
// daemon wants it, whatever the camera does.
//
// starting ──first frame──▶ streaming ──fault──▶ retrying ──backoff──▶ starting
//
// A fault is a pipeline error, a pipeline that would not start, no first
// frame within the start timeout, or no frame for the stall timeout. Retries
// back off from 1 s, doubling to 30 s; a stream that stayed up for a minute
// earns a fresh start at 1 s. One camera's faults never touch another's.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "camera_pipeline.h"
#include "clock.h"
#include "config.h"
#include "expected.h"

namespace porchlight {

enum class CameraState { Starting, Streaming, Retrying, Stopped };
std::string_view cameraStateName(CameraState state);

struct CameraStats {
    uint64_t frames = 0;
    uint64_t bytes = 0;
    double fps = 0;
    double bitrateBps = 0;
    uint64_t restarts = 0;
    uint32_t width = 0;  // of the encoded stream, from its caps
    uint32_t height = 0;
};

class Camera {
public:
    using StreamFactory = std::function<Expected<std::unique_ptr<CameraStream>>(
        const CameraConfig&, CameraStream::Callbacks)>;

    struct Timing {
        std::chrono::milliseconds firstBackoff{1000};
        std::chrono::milliseconds maxBackoff{30000};
        std::chrono::milliseconds startTimeout{20000};
        std::chrono::milliseconds stallTimeout{10000};
        std::chrono::milliseconds stableAfter{60000};
        std::chrono::milliseconds eosTimeout{4000};
    };

    Camera(CameraConfig config, Clock& clock, StreamFactory factory, Timing timing);
    Camera(CameraConfig config, Clock& clock, StreamFactory factory)
        : Camera(std::move(config), clock, std::move(factory), Timing{}) {}
    ~Camera();
    Camera(const Camera&) = delete;
    Camera& operator=(const Camera&) = delete;

    void start();
    /// Finish what is being written (EOS through the pipeline), then stop.
    /// \a done runs on the loop once stopped; at most eosTimeout later.
    void stop(std::function<void()> done);

    const CameraConfig& config() const { return config_; }
    const std::string& id() const { return config_.id; }
    CameraState state() const { return state_; }
    const std::string& lastError() const { return lastError_; }
    const CameraStats& stats() const { return stats_; }
    /// The wait before the next attempt (retrying), for status and tests.
    std::chrono::milliseconds currentBackoff() const { return backoff_; }

    /// Where encoded frames go: the storage layer. Until one is set, frames are counted only.
    void setRecordingConsumer(std::function<void(const EncodedFrame&)> consumer) {
        recordingConsumer_ = std::move(consumer);
    }
    /// Small grey frames for motion detection; the raw branch opens while one is set.
    void setRawConsumer(std::function<void(const RawFrame&)> consumer);
    /// A JPEG of the next picture, delivered to the snapshot consumer (if the stream can).
    void requestSnapshot();
    void setSnapshotConsumer(std::function<void(std::vector<uint8_t>&&)> consumer) {
        snapshotConsumer_ = std::move(consumer);
    }
    /// Encoded frames for the live view; the live branch opens while one is set.
    void setLiveConsumer(std::function<void(const EncodedFrame&)> consumer);
    bool hasLiveConsumer() const { return static_cast<bool>(liveConsumer_); }
    /// One JPEG of the next picture for \a done alone (the snapshot consumer
    /// gets it too). Requests made before the picture comes share it; a
    /// stream that stalls never answers, so callers keep a timeout.
    void takeSnapshot(std::function<void(const std::vector<uint8_t>&)> done);
    /// Whether the running stream can make snapshots (an RTSP camera passed
    /// through without motion detection has no decoded picture).
    bool canSnapshot() const { return stream_ && stream_->canSnapshot(); }
    /// Called on every state change (after the change).
    void setStateListener(std::function<void(Camera&)> listener) {
        stateListener_ = std::move(listener);
    }

private:
    void attempt();
    void fault(const std::string& why);
    void setState(CameraState state);
    void onFrame(const EncodedFrame& frame);
    void onEos();
    void tick();
    void finishStop();

    CameraConfig config_;
    Clock& clock_;
    StreamFactory factory_;
    Timing timing_;

    std::unique_ptr<CameraStream> stream_;
    CameraState state_ = CameraState::Stopped;
    std::string lastError_;
    CameraStats stats_;
    std::chrono::milliseconds backoff_{0};

    Clock::TimePoint attemptStarted_{};
    Clock::TimePoint streamingSince_{};
    Clock::TimePoint lastFrame_{};
    Clock::TimePoint lastTick_{};
    uint64_t tickFrames_ = 0;
    uint64_t tickBytes_ = 0;

    std::unique_ptr<Timer> retryTimer_;
    std::unique_ptr<Timer> tickTimer_;
    std::unique_ptr<Timer> stopTimer_;
    std::function<void()> stopDone_;
    bool stopping_ = false;

    const GstCaps* lastCaps_ = nullptr;  // identity only: re-read the size when caps change
    std::function<void(const EncodedFrame&)> recordingConsumer_;
    std::function<void(const RawFrame&)> rawConsumer_;
    std::function<void(std::vector<uint8_t>&&)> snapshotConsumer_;
    std::function<void(Camera&)> stateListener_;
    std::function<void(const EncodedFrame&)> liveConsumer_;
    std::vector<std::function<void(const std::vector<uint8_t>&)>> snapshotWaiters_;
};

}  // namespace porchlight
