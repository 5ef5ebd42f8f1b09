// Recording storage as the daemon sees it: frames in, encrypted segments out,
// the index kept true, retention enforced.
//
// Lives on the event loop. Encryption, writes and fsyncs run on a DiskWorker
// thread; their results come back to the loop, where the index is updated,
// so a row never claims more than what is on disk. Until an owner key
// exists nothing is recorded at all (never in the clear).
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "clock.h"
#include "config.h"
#include "disk_worker.h"
#include "expected.h"
#include "fmp4.h"
#include "index.h"
#include "keys.h"

namespace porchlight::storage {

/// Wall-clock times before this (2024-01-01T00:00:00Z) mean the clock has
/// not been set: a Raspberry Pi has no real-time clock and starts in 1970
/// (or at its last shutdown) until NTP answers. Age-based retention waits
/// until the clock is past it, and never deletes by age a recording labelled
/// before it (its real age is unknown); size limits and min_free still apply.
constexpr int64_t kEarliestPlausibleWallUs = 1'704'067'200'000'000;

/// One encoded access unit on its way to disk.
struct VideoFrame {
    /// The codec configuration; a different pointer with different content
    /// starts a new segment (a camera changed resolution).
    std::shared_ptr<const mp4::TrackInfo> track;
    std::vector<uint8_t> data;  // 4-byte length-prefixed NAL units
    int64_t dtsNs = 0;          // the stream's own clock
    int64_t ptsNs = 0;
    int64_t durationNs = -1;
    int64_t wallUs = 0;  // wall clock when captured
    bool keyframe = false;
};

struct StorageOptions {
    double segmentSeconds = 60.0;
    MinFree minFree;
    /// Fragment length: the most a crash can lose of a camera's video.
    int64_t fragmentUs = 1'000'000;
    std::chrono::milliseconds retentionInterval{5000};
    /// For tests: pretend the filesystem has this many bytes free.
    std::function<std::optional<uint64_t>()> freeBytesOverride;
};

struct StorageStatus {
    uint64_t usedBytes = 0;
    uint64_t freeBytes = 0;
    std::optional<int64_t> oldestUs;
    bool ownerConfigured = false;
    bool diskFull = false;
    std::string lastProblem;
    uint64_t protectedSkipped = 0;
};

/// What start-up repair did, for the log and for tests.
struct ReconcileReport {
    int garbageFinished = 0;
    int trimmed = 0;
    int adopted = 0;
    int removedEmpty = 0;
    int removedMissing = 0;
    int quarantined = 0;
    int closed = 0;    // rows left "writing" by a crash whose file was complete
    int repaired = 0;  // rows left "writing" whose file a crash cut before its final record
};

/// Bring index and files into agreement (see index.h for the crash ordering).
/// Logs each repair. Never deletes a file that holds a complete fragment.
Expected<ReconcileReport> reconcile(Index& index);

class Storage {
public:
    using Post = std::function<void(std::function<void()>)>;

    static Expected<std::unique_ptr<Storage>> open(const std::filesystem::path& stateDir,
                                                   Clock& clock, Post post, StorageOptions options);
    ~Storage();
    Storage(const Storage&) = delete;
    Storage& operator=(const Storage&) = delete;

    void setOptions(StorageOptions options);
    /// The configuration file's retention per camera (run-time overrides still win).
    void setConfiguredRetention(std::map<std::string, RetentionConfig> retention);
    /// The owner's run-time retention: stored in the index, applied at once.
    Expected<void> setRetention(const std::string& camera, const RetentionConfig& retention);
    RetentionConfig retentionFor(const std::string& camera) const;

    /// How \a camera records: continuous, events only (with pre- and post-roll), or off.
    void setCameraMode(const std::string& camera, RecordingMode mode, double preRollSeconds,
                       double postRollSeconds);
    /// Events mode: keep writing until at least \a untilUs (wall clock). The
    /// first call after a quiet spell starts a segment with the pre-roll.
    void keepRecordingUntil(const std::string& camera, int64_t untilUs);

    // Events. Details (zones, scores) are sealed to the owner before they
    // are stored; the snapshot is encrypted on the disk thread.
    Expected<int64_t> startEvent(const std::string& camera, EventKind kind, int64_t startUs,
                                 const std::string& detailsJson);
    Expected<void> endEvent(int64_t id, int64_t endUs);
    void saveSnapshot(int64_t eventId, const std::string& camera, int64_t startUs,
                      std::vector<uint8_t> jpeg);
    /// false when there is no such event.
    Expected<bool> protectEvent(int64_t id, bool isProtected);
    /// The owner deletes an event and its video, through the same garbage
    /// path as retention (a crash midway is finished at the next start).
    struct EventDeletion {
        bool found = false;
        std::string refused;  // why not (protected, still under way); empty when done
        size_t segments = 0;  // segment files deleted
        uint64_t bytes = 0;
        size_t keptSegments = 0;           // shared with a protected event, or being written
        std::vector<int64_t> otherEvents;  // events whose video went too (same segments)
    };
    Expected<EventDeletion> deleteEvent(int64_t id);

    void onFrame(const std::string& camera, VideoFrame&& frame);
    /// The camera's stream ended (stop, restart): close its segment cleanly.
    void endStream(const std::string& camera);
    /// Close every segment and wait for the disk; \a done runs on the loop.
    void finishAll(std::function<void()> done);

    bool hasOwner() const { return publicKey_.has_value(); }
    /// Re-read the owner's public key (after setup).
    void reloadOwner();

    /// Everything, with the index's sums (a query: not for every frame).
    StorageStatus status();
    bool diskFull() const { return diskFull_; }
    /// Whether a segment of \a camera is open (events mode: an event's window).
    bool writing(const std::string& camera) const;
    const std::string& lastProblem() const { return lastProblem_; }
    /// Whether the owner set \a camera's retention at run time (it wins over the file).
    bool hasOwnerRetention(const std::string& camera) const { return overrides_.count(camera) > 0; }
    const ReconcileReport& startupReport() const { return report_; }
    Index& index() { return index_; }

    /// One retention pass now (also runs every retentionInterval); \a extraFree
    /// asks for that much free space beyond min_free (after a disk-full write).
    void enforceRetention(uint64_t extraFree = 0);
    /// Per-kind retention for one camera: segments whose every kind has expired.
    std::vector<SegmentRow> expiredByKind(const std::string& camera, const RetentionConfig& limits,
                                          int64_t nowUs);

    /// Segments closed so far, and disk jobs not yet done: for tests and status.
    uint64_t segmentsClosed() const { return segmentsClosed_; }
    size_t pendingDiskJobs() const { return worker_->backlog(); }

private:
    struct Segment;
    struct Recorder;

    Storage(const std::filesystem::path& stateDir, Clock& clock, Post post, StorageOptions options,
            Index index);
    Recorder& recorder(const std::string& camera);
    void record(Recorder& r, VideoFrame&& frame);
    void trimPreRoll(Recorder& r, int64_t nowUs);
    void followWallClock(Recorder& r, const VideoFrame& frame);
    void deleteOrphanedEvents(int64_t nowUs);
    /// Events whose video went with \a deleted (none of it left) go too.
    void forgetEventsOf(const std::vector<SegmentRow>& deleted);
    void forgetEvents(const std::vector<EventRow>& gone);
    void openSegment(Recorder& r, const VideoFrame& first);
    void closeSegment(Recorder& r, std::optional<int64_t> nextDtsNs);
    void emitFragment(Recorder& r);
    void pushHeld(Recorder& r, int64_t nextDtsNs);
    void onWriteError(const std::string& camera, const std::string& message, bool diskFull,
                      const std::shared_ptr<Segment>& failed = nullptr);
    void deleteSegments(const std::vector<SegmentRow>& rows, const std::string& why);
    /// A segment row's new end, size and state, or its removal.
    struct RowChange {
        int64_t id = 0;
        int64_t endUs = 0;
        uint64_t bytes = 0;
        SegmentState state = SegmentState::Complete;
        bool remove = false;
    };
    /// Apply \a change; if the index cannot take it now (a full disk), keep
    /// it and try again at the next retention pass.
    void setRow(const RowChange& change);
    /// Add the row of a segment whose file now exists; if the index cannot
    /// take it (a full disk), keep it and try again like a row change.
    void addRow(const std::shared_ptr<Segment>& seg, const SegmentRow& row);
    /// A segment's row changes: now if it has its row, later if its row is
    /// still to be added, not at all if it never got one.
    void changeRow(const std::shared_ptr<Segment>& seg, RowChange change);
    void retryRows();
    std::optional<uint64_t> freeBytes() const;
    uint64_t minFreeBytes() const;
    void scheduleRetention();

    std::filesystem::path stateDir_;
    Clock& clock_;
    Post post_;
    StorageOptions options_;
    Index index_;
    std::optional<keys::PublicKey> publicKey_;
    std::map<std::string, RetentionConfig> configured_;
    std::map<std::string, RetentionConfig> overrides_;
    std::map<std::string, std::unique_ptr<Recorder>> recorders_;
    ReconcileReport report_;
    std::string lastProblem_;
    bool diskFull_ = false;
    uint64_t protectedSkipped_ = 0;
    uint64_t segmentsClosed_ = 0;
    uint64_t lastFragmentBytes_ = 0;  // the largest fragment seen: what a write may need
    bool warnedNoOwner_ = false;
    bool warnedClockUnset_ = false;
    std::vector<RowChange> pendingRows_;
    /// Segments recorded to a file the index has no row for yet, with the row.
    std::vector<std::pair<std::shared_ptr<Segment>, SegmentRow>> pendingAdds_;
    std::unique_ptr<Timer> retentionTimer_;
    std::shared_ptr<bool> alive_;
    // Last: its destructor drains the jobs, which may still use what is above.
    std::unique_ptr<DiskWorker> worker_;
};

}  // namespace porchlight::storage
