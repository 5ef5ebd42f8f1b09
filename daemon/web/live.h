// The live view: each camera's H.264 as fragmented MP4 over a WebSocket, and
// a JPEG snapshot on request, both straight from the camera pipeline. Live
// video needs no key and never touches the disk.
//
// A LiveFeed is one camera's stream to its viewers and knows nothing of
// GStreamer: frames in, messages out. LiveService ties feeds to the daemon's
// cameras: it opens a camera's live branch while the camera has viewers,
// follows cameras that restart or are reconfigured, and serves snapshots.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "clock.h"
#include "http.h"
#include "recording.h"
#include "storage.h"

namespace porchlight {
class Daemon;
}

namespace porchlight::web {

struct LiveLimits {
    /// Viewers per camera: each costs the Pi a copy of the stream on the network.
    size_t maxViewersPerCamera = 4;
    /// A viewer with more than this waiting in its send queue is behind: its
    /// frames are dropped until it has caught up and a keyframe comes.
    size_t behindBytes = 1024 * 1024;
    size_t behindMessages = 60;  // two per frame: about a second at 30 fps
};

/// The WebSocket protocol, as the Live page reads it (docs/ref/http-api.md):
/// a text message (JSON) announces each binary message that follows it.
///   {"type":"init","codec":"avc1.PPCCLL","width":W,"height":H}  then the init segment
///   {"type":"frame","t":SECONDS,"wallUs":US,"key":BOOL}          then one moof+mdat
/// t is the frame's presentation time in the feed's timeline (from 0);
/// wallUs is when the picture was taken (CLOCK_REALTIME, µs), for latency.
class LiveFeed {
public:
    explicit LiveFeed(LiveLimits limits = {}) : limits_(limits) {}

    struct ViewerStats {
        uint64_t frames = 0;   // fragments queued to it
        uint64_t dropped = 0;  // frames it did not get because it was behind
        uint64_t inits = 0;    // init segments queued to it
        bool waiting = true;   // for a keyframe (at the start, or after drops)
    };

    /// Adds a viewer; it gets an init segment and fragments from the next keyframe.
    void add(std::shared_ptr<WebSocket> viewer);
    void remove(const WebSocket* viewer);
    size_t viewers() const { return viewers_.size(); }
    /// Queues \a frame to every viewer that can take it.
    void push(const storage::VideoFrame& frame);
    ViewerStats stats(const WebSocket* viewer) const;
    /// The codec string of the current track (MediaSource.isTypeSupported), "" before one.
    const std::string& codec() const { return codec_; }

private:
    struct Viewer {
        std::shared_ptr<WebSocket> socket;
        bool needsInit = true;
        ViewerStats stats;
    };
    bool behind(const WebSocket& socket) const;
    uint32_t toTicks(int64_t ns) const;

    LiveLimits limits_;
    std::vector<Viewer> viewers_;
    std::shared_ptr<const mp4::TrackInfo> track_;
    WebSocket::Message initText_;
    WebSocket::Message init_;
    std::string codec_;
    uint32_t sequence_ = 0;
    // The feed's own timeline (90 kHz): continuous across camera restarts,
    // whose timestamps start again from wherever the new pipeline likes.
    bool started_ = false;
    int64_t anchorInNs_ = 0;
    int64_t anchorOutTicks_ = 0;
    int64_t lastInNs_ = 0;
    int64_t lastOutTicks_ = 0;
    uint32_t lastDuration_ = 3000;
};

/// "avc1.PPCCLL" from an AVCDecoderConfigurationRecord; "" if it is too short.
std::string avcCodecString(const std::vector<uint8_t>& avcC);

class LiveService {
public:
    LiveService(Daemon& daemon, Clock& clock, LiveLimits limits = {});
    ~LiveService();
    LiveService(const LiveService&) = delete;
    LiveService& operator=(const LiveService&) = delete;

    /// The answer to a WebSocket handshake on /api/cameras/{id}/live from
    /// \a sessionToken's owner: 101 with the endpoint, or a JSON error.
    Response openLive(const std::string& camera, const std::string& sessionToken);
    /// GET /api/cameras/{id}/snapshot: a JPEG, or 503 saying why there is none.
    void snapshot(const std::string& camera, std::function<void(Response)> respond);
    /// The session ended: its live views close.
    void sessionEnded(const std::string& sessionToken);

    size_t viewers(const std::string& camera) const;

private:
    class Endpoint;
    struct Feed {
        LiveFeed feed;
        RecordingAdapter adapter;
        size_t reserved = 0;  // handshakes accepted and not yet closed
        // Identity only: the camera the live consumer was set on.
        const void* attachedTo = nullptr;
        std::map<const WebSocket*, std::pair<std::shared_ptr<WebSocket>, std::string>> sockets;
    };
    struct SnapshotWait {
        std::vector<std::function<void(Response)>> waiting;
        std::unique_ptr<Timer> timeout;
    };

    void opened(const std::string& camera, std::shared_ptr<WebSocket> socket,
                const std::string& token);
    void closed(const std::string& camera, const WebSocket* socket);
    void attach(const std::string& camera);
    void detach(const std::string& camera);
    void check();
    void finishSnapshot(const std::string& camera, Response response);

    Daemon& daemon_;
    Clock& clock_;
    LiveLimits limits_;
    std::map<std::string, Feed> feeds_;
    std::map<std::string, SnapshotWait> snapshots_;
    std::unique_ptr<Timer> checkTimer_;
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace porchlight::web
