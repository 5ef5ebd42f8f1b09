// The recordings part of the API: what the Timeline and Export pages use.
//
// GET /api/recordings (recorded ranges and events of a camera), an event's
// snapshot, playback (fragmented MP4 decrypted on the fly, from the keyframe
// at or before a moment, across segments, following the segment still being
// written) and export (one standard MP4, moov first, streamed in two passes
// over the encrypted segments). See docs/ref/http-api.md.
//
// Nothing decrypted ever touches the disk. The owner's secret key is used
// only on the loop thread, while the session is alive, to open a segment's
// key; the decryption of the segment itself (which needs only that segment
// key, held by the segment Reader) runs on a worker thread so the loop never
// stalls. A stream stops when its session ends or its client goes away.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "audit.h"
#include "auth.h"
#include "http.h"
#include "index.h"

namespace boost::asio {
class thread_pool;
}

namespace porchlight::web {

class Recordings {
public:
    struct Options {
        /// While following the segment being written: how often to look for more.
        std::chrono::milliseconds followPoll{300};
        /// Playback ends after this long at the live edge without new video.
        std::chrono::milliseconds followIdleEnd{15000};
        /// Worker threads that decrypt.
        unsigned workers = 2;
    };
    /// The index, or nullptr while there is none (the daemon is starting).
    using IndexAccess = std::function<storage::Index*()>;
    /// Whether a camera id is configured (recordings of a removed camera are
    /// still found through the index).
    using CameraKnown = std::function<bool(const std::string&)>;

    Recordings(boost::asio::io_context& io, std::filesystem::path stateDir, IndexAccess index,
               CameraKnown known, audit::AuditLog& audit, Options options);
    Recordings(boost::asio::io_context& io, std::filesystem::path stateDir, IndexAccess index,
               CameraKnown known, audit::AuditLog& audit)
        : Recordings(io, std::move(stateDir), std::move(index), std::move(known), audit,
                     Options{}) {}
    ~Recordings();
    Recordings(const Recordings&) = delete;
    Recordings& operator=(const Recordings&) = delete;

    /// Whether \a path belongs here (the Api routes it after its session check).
    static bool handles(const std::string& path);
    /// \a session is alive now; \a sessionAlive expires when it ends.
    void handle(const Request& request, Session& session, std::weak_ptr<const void> sessionAlive,
                std::function<void(Response)> respond);

    /// Streams under way (for tests: they end when their client or session goes).
    size_t activeStreams() const;

    struct Shared;

private:
    Response recordings(const Request& request);
    Response snapshot(const Request& request, Session& session, int64_t eventId);
    void playback(const Request& request, Session& session, std::weak_ptr<const void> alive,
                  std::function<void(Response)> respond);
    void exportClip(const Request& request, Session& session, std::weak_ptr<const void> alive,
                    std::function<void(Response)> respond);

    std::shared_ptr<Shared> shared_;
};

/// Segments of \a camera that may hold video in [fromUs, toUs), by start: the
/// index's rows plus the one still being written (whose row has no end yet).
Expected<std::vector<storage::SegmentRow>> segmentsFor(storage::Index& index,
                                                       const std::string& camera, int64_t fromUs,
                                                       int64_t toUs);

}  // namespace porchlight::web
