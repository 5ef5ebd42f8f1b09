// The live view and snapshots: see live.h.
#include "live.h"

#include <cstdio>
#include <span>

#include "daemon.h"
#include "fmp4.h"
#include "log.h"

PL_DEFINE_LOG_CATEGORY(LiveLog, "live")

namespace porchlight::web {

using namespace std::chrono_literals;

namespace {

constexpr int64_t kNsPerSecond = 1'000'000'000;
// A jump in the camera's timestamps beyond this (or backwards) is a new
// stream, not a late frame: the feed's timeline carries on from its end.
constexpr int64_t kDiscontinuityNs = 2 * kNsPerSecond;
constexpr auto kSnapshotTimeout = 5s;
constexpr auto kCheckInterval = 1s;

// RFC 6455 close codes.
constexpr uint16_t kGoingAway = 1001;
constexpr uint16_t kPolicy = 1008;

WebSocket::Message message(std::string text) {
    return std::make_shared<const std::string>(std::move(text));
}

WebSocket::Message message(const std::vector<uint8_t>& bytes) {
    return std::make_shared<const std::string>(bytes.begin(), bytes.end());
}

}  // namespace

std::string avcCodecString(const std::vector<uint8_t>& avcC) {
    if (avcC.size() < 4)
        return {};
    char buf[16];
    std::snprintf(buf, sizeof buf, "avc1.%02x%02x%02x", avcC[1], avcC[2], avcC[3]);
    return buf;
}

// ---- LiveFeed -------------------------------------------------------------

void LiveFeed::add(std::shared_ptr<WebSocket> viewer) {
    Viewer v;
    v.socket = std::move(viewer);
    viewers_.push_back(std::move(v));
}

void LiveFeed::remove(const WebSocket* viewer) {
    std::erase_if(viewers_, [&](const Viewer& v) { return v.socket.get() == viewer; });
}

LiveFeed::ViewerStats LiveFeed::stats(const WebSocket* viewer) const {
    for (const Viewer& v : viewers_)
        if (v.socket.get() == viewer)
            return v.stats;
    return {};
}

bool LiveFeed::behind(const WebSocket& socket) const {
    return socket.queuedBytes() > limits_.behindBytes ||
           socket.queuedMessages() > limits_.behindMessages;
}

uint32_t LiveFeed::toTicks(int64_t ns) const {
    return static_cast<uint32_t>(ns * mp4::kTimescale / kNsPerSecond);
}

void LiveFeed::push(const storage::VideoFrame& frame) {
    if (!frame.track)
        return;
    if (!track_ || !(*track_ == *frame.track)) {
        // A new stream or a new resolution: every viewer needs the new init
        // segment, and may only continue from a keyframe.
        track_ = frame.track;
        codec_ = avcCodecString(track_->avcC);
        init_ = message(mp4::writeInitSegment(*track_));
        initText_ = message("{\"type\":\"init\",\"codec\":\"" + codec_ +
                            "\",\"width\":" + std::to_string(track_->width) +
                            ",\"height\":" + std::to_string(track_->height) + "}");
        for (Viewer& v : viewers_) {
            v.needsInit = true;
            v.stats.waiting = true;
        }
    }

    // The feed's timeline.
    const int64_t dts = frame.dtsNs;
    int64_t deltaNs = 0;
    if (!started_) {
        started_ = true;
        anchorInNs_ = dts;
        anchorOutTicks_ = 0;
    } else {
        deltaNs = dts - lastInNs_;
        if (deltaNs <= 0 || deltaNs > kDiscontinuityNs) {
            anchorInNs_ = dts;
            anchorOutTicks_ = lastOutTicks_ + lastDuration_;
            deltaNs = 0;
        }
    }
    const int64_t out = anchorOutTicks_ + static_cast<int64_t>(toTicks(dts - anchorInNs_));
    uint32_t duration = frame.durationNs > 0 ? toTicks(frame.durationNs)
                        : deltaNs > 0        ? toTicks(deltaNs)
                                             : lastDuration_;
    if (duration == 0)
        duration = lastDuration_;
    lastInNs_ = dts;
    lastOutTicks_ = out;
    lastDuration_ = duration;

    // Who takes this frame: a viewer that is behind drops it and waits for a
    // keyframe once it has caught up; nobody ever waits for a viewer.
    std::vector<Viewer*> takers;
    for (Viewer& v : viewers_) {
        if (!v.stats.waiting && behind(*v.socket))
            v.stats.waiting = true;
        if (v.stats.waiting && (!frame.keyframe || behind(*v.socket))) {
            if (v.stats.frames > 0)
                ++v.stats.dropped;
            continue;
        }
        takers.push_back(&v);
    }
    if (takers.empty())
        return;

    mp4::Sample sample;
    sample.data = frame.data;
    sample.dts = out;
    sample.ctsOffset =
        static_cast<int32_t>((frame.ptsNs - frame.dtsNs) * mp4::kTimescale / kNsPerSecond);
    sample.duration = duration;
    sample.keyframe = frame.keyframe;
    auto fragment = message(mp4::writeFragment(++sequence_, std::span(&sample, 1)));
    char text[128];
    std::snprintf(text, sizeof text, "{\"type\":\"frame\",\"t\":%.6f,\"wallUs\":%lld,\"key\":%s}",
                  static_cast<double>(out + sample.ctsOffset) / mp4::kTimescale,
                  static_cast<long long>(frame.wallUs), frame.keyframe ? "true" : "false");
    auto header = message(std::string(text));

    for (Viewer* v : takers) {
        if (v->needsInit) {
            if (!v->socket->send(initText_, true) || !v->socket->send(init_, false)) {
                ++v->stats.dropped;
                continue;
            }
            v->needsInit = false;
            ++v->stats.inits;
        }
        if (!v->socket->send(header, true) || !v->socket->send(fragment, false)) {
            v->stats.waiting = true;
            ++v->stats.dropped;
            continue;
        }
        v->stats.waiting = false;
        ++v->stats.frames;
    }
}

// ---- LiveService ------------------------------------------------------------

/// One viewer's end of the handshake: forwards to the service while it exists.
class LiveService::Endpoint final : public WebSocketEndpoint {
public:
    Endpoint(LiveService* service, std::string camera, std::string token)
        : service_(service),
          alive_(service->alive_),
          camera_(std::move(camera)),
          token_(std::move(token)) {}
    void opened(std::shared_ptr<WebSocket> socket) override {
        socket_ = socket.get();
        if (alive_.expired())
            return socket->close(kGoingAway, "porchlightd is stopping");
        service_->opened(camera_, std::move(socket), token_);
    }
    void closed() override {
        if (done_)
            return;
        done_ = true;
        if (!alive_.expired())
            service_->closed(camera_, socket_);
    }
    // An endpoint dropped without a connection (a handshake that never
    // started) gives its viewer slot back too.
    ~Endpoint() override { closed(); }

private:
    LiveService* service_;
    std::weak_ptr<bool> alive_;
    std::string camera_;
    std::string token_;
    const WebSocket* socket_ = nullptr;  // identity only
    bool done_ = false;
};

LiveService::LiveService(Daemon& daemon, Clock& clock, LiveLimits limits)
    : daemon_(daemon), clock_(clock), limits_(limits) {}

LiveService::~LiveService() {
    *alive_ = false;
    alive_.reset();
    checkTimer_.reset();
    for (auto& [id, feed] : feeds_) {
        detach(id);
        for (auto& [raw, entry] : feed.sockets)
            entry.first->close(kGoingAway, "porchlightd is stopping");
    }
    for (auto& [id, wait] : snapshots_)
        for (auto& respond : wait.waiting)
            respond(jsonError(503, "porchlightd is stopping"));
}

size_t LiveService::viewers(const std::string& camera) const {
    auto it = feeds_.find(camera);
    return it == feeds_.end() ? 0 : it->second.feed.viewers();
}

Response LiveService::openLive(const std::string& camera, const std::string& sessionToken) {
    if (!daemon_.camera(camera))
        return jsonError(404, "no camera \"" + camera + "\"");
    Feed& feed = feeds_[camera];
    if (feed.reserved >= limits_.maxViewersPerCamera) {
        if (feed.reserved == 0)
            feeds_.erase(camera);
        PL_LOG(LiveLog, Info) << camera << ": live view refused, " << limits_.maxViewersPerCamera
                              << " viewers already";
        return jsonError(503, "camera \"" + camera + "\" already has " +
                                  std::to_string(limits_.maxViewersPerCamera) +
                                  " live viewers, the most it serves: close the live view on "
                                  "another screen and try again");
    }
    ++feed.reserved;
    Response r;
    r.status = 101;
    r.contentType.clear();
    r.webSocket = std::make_shared<Endpoint>(this, camera, sessionToken);
    return r;
}

void LiveService::opened(const std::string& camera, std::shared_ptr<WebSocket> socket,
                         const std::string& token) {
    auto it = feeds_.find(camera);
    if (it == feeds_.end() || !daemon_.camera(camera))
        return socket->close(kGoingAway, "camera \"" + camera + "\" is no longer configured");
    Feed& feed = it->second;
    feed.sockets[socket.get()] = {socket, token};
    feed.feed.add(std::move(socket));
    PL_LOG(LiveLog, Info) << camera << ": live viewer joined (" << feed.feed.viewers() << ")";
    attach(camera);
    if (!checkTimer_)
        checkTimer_ = clock_.schedule(kCheckInterval, [this] { check(); });
}

void LiveService::closed(const std::string& camera, const WebSocket* socket) {
    auto it = feeds_.find(camera);
    if (it == feeds_.end())
        return;
    Feed& feed = it->second;
    if (socket && feed.sockets.erase(socket)) {
        auto stats = feed.feed.stats(socket);
        feed.feed.remove(socket);
        PL_LOG(LiveLog, Info) << camera << ": live viewer left after " << stats.frames
                              << " frames (" << stats.dropped << " dropped)";
    }
    if (feed.reserved > 0)
        --feed.reserved;
    if (feed.feed.viewers() == 0)
        detach(camera);
    if (feed.reserved == 0)
        feeds_.erase(it);  // the next viewer starts a new timeline
}

void LiveService::attach(const std::string& camera) {
    auto it = feeds_.find(camera);
    Camera* c = daemon_.camera(camera);
    if (it == feeds_.end() || !c)
        return;
    if (it->second.attachedTo == c && c->hasLiveConsumer())
        return;
    it->second.attachedTo = c;
    c->setLiveConsumer([this, camera, c](const EncodedFrame& frame) {
        // A camera being replaced (reload) may deliver a last few frames.
        if (daemon_.camera(camera) != c)
            return;
        auto f = feeds_.find(camera);
        if (f == feeds_.end())
            return;
        if (auto v = f->second.adapter.convert(frame)) {
            // Latency is measured from the picture, not from the encoder's output.
            if (frame.captureWallUs > 0)
                v->wallUs = frame.captureWallUs;
            f->second.feed.push(*v);
        }
    });
    PL_LOG(LiveLog, Debug) << camera << ": live branch open";
}

void LiveService::detach(const std::string& camera) {
    auto it = feeds_.find(camera);
    if (it == feeds_.end())
        return;
    Camera* c = daemon_.camera(camera);
    if (c && c == it->second.attachedTo) {
        c->setLiveConsumer(nullptr);
        PL_LOG(LiveLog, Debug) << camera << ": live branch closed";
    }
    it->second.attachedTo = nullptr;
}

void LiveService::check() {
    checkTimer_.reset();
    bool any = false;
    for (auto& [id, feed] : feeds_) {
        if (feed.sockets.empty())
            continue;
        any = true;
        if (!daemon_.camera(id)) {
            for (auto& [raw, entry] : feed.sockets)
                entry.first->close(kGoingAway,
                                   "camera \"" + id + "\" was removed from the configuration");
            continue;
        }
        // A reload replaces a camera whose settings changed: follow it.
        attach(id);
    }
    if (any)
        checkTimer_ = clock_.schedule(kCheckInterval, [this] { check(); });
}

void LiveService::sessionEnded(const std::string& sessionToken) {
    for (auto& [id, feed] : feeds_)
        for (auto& [raw, entry] : feed.sockets)
            if (entry.second == sessionToken)
                entry.first->close(kPolicy, "the session ended: log in again");
}

void LiveService::snapshot(const std::string& camera, std::function<void(Response)> respond) {
    Camera* c = daemon_.camera(camera);
    if (!c)
        return respond(jsonError(404, "no camera \"" + camera + "\""));
    if (c->state() != CameraState::Streaming) {
        std::string why = "camera \"" + camera + "\" is not streaming (" +
                          std::string(cameraStateName(c->state())) + ")";
        if (!c->lastError().empty())
            why += ": " + c->lastError();
        return respond(jsonError(503, why));
    }
    if (!c->canSnapshot())
        return respond(jsonError(
            503, "camera \"" + camera +
                     "\" has no decoded picture to take a snapshot from (its H.264 is passed "
                     "through untouched); turn on motion detection or transcode for it"));
    SnapshotWait& wait = snapshots_[camera];
    wait.waiting.push_back(std::move(respond));
    if (wait.waiting.size() > 1)
        return;  // shares the picture already asked for
    std::weak_ptr<bool> alive = alive_;
    c->takeSnapshot([this, alive, camera](const std::vector<uint8_t>& jpeg) {
        if (alive.expired())
            return;
        Response r;
        r.contentType = "image/jpeg";
        r.body.assign(jpeg.begin(), jpeg.end());
        r.headers.emplace_back("Cache-Control", "no-store");
        finishSnapshot(camera, std::move(r));
    });
    wait.timeout = clock_.schedule(kSnapshotTimeout, [this, camera] {
        finishSnapshot(camera, jsonError(503, "camera \"" + camera +
                                                  "\" gave no picture within 5 s; try again"));
    });
}

void LiveService::finishSnapshot(const std::string& camera, Response response) {
    auto it = snapshots_.find(camera);
    if (it == snapshots_.end())
        return;
    auto waiting = std::move(it->second.waiting);
    snapshots_.erase(it);
    for (auto& respond : waiting)
        respond(response);
}

}  // namespace porchlight::web
