// The recording index: STATE/index.db, SQLite in WAL mode with secure_delete.
//
// It holds what retention and the timeline need without any key: which
// segment files exist, for which camera, covering which wall-clock range,
// and how big they are. Crash ordering follows Moonfire NVR: a segment's
// file is written and fsynced before its row says it exists, and a deletion
// goes through a garbage row (row gone + garbage row in one transaction,
// then the unlink, then the garbage row) so start-up can finish it.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "config.h"
#include "expected.h"
#include "sqlite.h"

namespace porchlight::storage {

/// Schema versions: 1 (segments, garbage), 2 (adds protection and the owner's
/// run-time retention), 3 (adds events), 4 (the owner's retention per kind).
/// Opening an older index upgrades it in one transaction.
constexpr int kSchemaVersion = 4;

enum class SegmentState : int {
    Writing = 0,   // being written (or the daemon died while it was)
    Complete = 1,  // closed cleanly
    Repaired = 2,  // a crash cut it; trimmed to its last complete fragment
};

struct SegmentRow {
    int64_t id = 0;
    std::string camera;
    uint64_t sequence = 0;
    int64_t startUs = 0;
    int64_t endUs = 0;
    uint64_t bytes = 0;
    std::string path;  // relative to the state directory
    SegmentState state = SegmentState::Writing;
    bool isProtected = false;
};

enum class EventKind : int { Motion = 0, Ring = 1 };
std::string_view eventKindName(EventKind kind);

/// An event: what retention and the timeline need in the clear; everything
/// else (zones, scores) sealed to the owner's key in \a details.
struct EventRow {
    int64_t id = 0;
    std::string camera;
    EventKind kind = EventKind::Motion;
    int64_t startUs = 0;
    int64_t endUs = 0;  // 0 while it lasts
    bool isProtected = false;
    std::vector<uint8_t> details;  // crypto_box_seal of a JSON object; may be empty
    std::string snapshot;          // relative path of the encrypted JPEG; may be empty
};

struct CameraUsage {
    uint64_t bytes = 0;
    uint64_t segments = 0;
    std::optional<int64_t> oldestUs;
};

class Index {
public:
    static Expected<Index> open(const std::filesystem::path& stateDir);
    Index(Index&&) = default;
    Index& operator=(Index&&) = default;

    int schemaVersion() const { return version_; }
    const std::filesystem::path& stateDir() const { return stateDir_; }

    Expected<int64_t> addSegment(const SegmentRow& row);
    Expected<void> updateSegment(int64_t id, int64_t endUs, uint64_t bytes, SegmentState state);
    Expected<void> removeSegmentRow(int64_t id);
    Expected<std::optional<SegmentRow>> segmentByPath(const std::string& path);

    /// Segments of \a camera (all when empty) overlapping [fromUs, toUs), by start time.
    Expected<std::vector<SegmentRow>> segments(const std::string& camera, int64_t fromUs,
                                               int64_t toUs);
    Expected<std::vector<SegmentRow>> segmentsInState(SegmentState state);
    /// The oldest deletable (not writing, not protected) segments, oldest first.
    Expected<std::vector<SegmentRow>> oldestDeletable(const std::string& camera, size_t limit);
    /// Deletable segments of \a camera that ended before \a beforeUs.
    Expected<std::vector<SegmentRow>> endedBefore(const std::string& camera, int64_t beforeUs);
    Expected<std::map<std::string, CameraUsage>> usage();
    /// Protected segments' count and bytes per camera (retention skips them).
    Expected<std::map<std::string, CameraUsage>> protectedUsage();
    Expected<uint64_t> nextSequence(const std::string& camera);
    Expected<std::optional<int64_t>> oldestRecordingUs();

    /// Deletion, step 1: rows become garbage, in one transaction.
    Expected<void> markGarbage(const std::vector<SegmentRow>& rows);
    Expected<std::vector<std::string>> garbage();
    /// Deletion, step 3: after the file is gone.
    Expected<void> forgetGarbage(const std::string& path);

    /// The owner's run-time retention, overriding the configuration file.
    Expected<std::map<std::string, RetentionConfig>> retentionOverrides();
    Expected<void> setRetentionOverride(const std::string& camera, const RetentionConfig& r);

    Expected<void> setProtected(int64_t id, bool isProtected);

    // Events. The segments that hold an event are those of its camera that
    // overlap its time range.
    Expected<int64_t> addEvent(const EventRow& event);
    Expected<void> endEvent(int64_t id, int64_t endUs);
    Expected<void> setEventSnapshot(int64_t id, const std::string& path);
    Expected<bool> setEventProtected(int64_t id, bool isProtected);
    Expected<std::optional<EventRow>> event(int64_t id);
    /// Events of \a camera (all when empty) overlapping [fromUs, toUs), by start.
    Expected<std::vector<EventRow>> events(const std::string& camera, int64_t fromUs, int64_t toUs);
    /// Whether any event of \a kind (any kind when nullopt) overlaps the range.
    Expected<bool> hasEventIn(const std::string& camera, std::optional<EventKind> kind,
                              int64_t fromUs, int64_t toUs);
    /// Events of \a camera that ended before \a beforeUs, are not protected,
    /// and whose video is all gone.
    Expected<std::vector<EventRow>> orphanedEvents(const std::string& camera, int64_t beforeUs);
    Expected<void> removeEvent(int64_t id);
    /// Bytes and count of segments held by protected events, per camera.
    Expected<std::map<std::string, CameraUsage>> heldByProtectedEvents();

private:
    Index() = default;
    Expected<void> migrate();

    std::filesystem::path stateDir_;
    sql::Database db_;
    int version_ = 0;
};

/// Where a segment's file goes, relative to the state directory:
/// recordings/<camera>/<YYYY-MM-DD, UTC>/<sequence, 12 digits>-<startUs>.plseg
std::string segmentRelativePath(const std::string& camera, uint64_t sequence, int64_t startUs);

}  // namespace porchlight::storage
