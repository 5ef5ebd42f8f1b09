// porchlightctl without the bus: its command line, the times and sizes people
// type and read, and the rendering of what the daemon reports, as plain data
// in and text or JSON out, so that all of it is tested without a daemon.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace porchlight::ctl {

/// JSON with keys in the order written, so that "id" comes first for a reader.
using Json = nlohmann::ordered_json;

enum class Verb {
    Status,
    Cameras,
    Retention,
    Recordings,
    Events,
    Ring,
    Reload,
    SetupCode,
    Help,
    Version,
};

/// One invocation, fully checked: what run() needs and nothing it must re-check.
struct Command {
    Verb verb = Verb::Status;
    bool user = false;  // the session bus instead of the system bus
    bool json = false;
    std::string camera;  // "" when the command takes none or it was left out
    // retention: a new value; 0 removes that limit (as the D-Bus API has it).
    std::optional<double> days;
    std::optional<uint64_t> bytes;
    // recordings, events: µs since the epoch.
    std::optional<int64_t> since;
    std::optional<int64_t> until;
};

/// What went wrong on the command line, said so that the user can fix it.
struct UsageError {
    std::string message;
};

/// Either a command or the reason there is none (exit status 2).
struct ParseResult {
    std::optional<Command> command;
    UsageError error;
    bool ok() const { return command.has_value(); }
};

/// Parse the arguments after argv[0]. \a nowUs anchors relative times ("2h").
ParseResult parseArguments(const std::vector<std::string>& args, int64_t nowUs);

std::string usageText();

/// A point in time as typed: ISO 8601 ("2026-11-29T14:05:00Z", with an offset,
/// or local time without one; a date alone is local midnight), "@UNIXSECONDS",
/// a span meaning that long ago ("90s", "30min", "1h 30min", "2d", "1w ago"),
/// "now", "today" and "yesterday" (local midnight). µs since the epoch.
std::optional<int64_t> parseTime(std::string_view text, int64_t nowUs);

/// "512 B", "1.5 KiB", "1.2 GiB": binary units, one decimal.
std::string formatSize(uint64_t bytes);
/// "800 bit/s", "512 kbit/s", "2.0 Mbit/s": decimal units, as encoders are set.
std::string formatBitrate(uint64_t bps);
/// Local time, "2026-11-29 14:05:00"; "never" for 0.
std::string formatTime(int64_t us);
/// "3 min ago", "2 h ago", "in 5 min", "just now".
std::string formatRelative(int64_t us, int64_t nowUs);
/// "2026-11-29 14:05:00 (3 min ago)"; "never" for 0.
std::string formatTimeAndRelative(int64_t us, int64_t nowUs);
/// A span of days as people say it: "2 days", "1 day", "12 h", "1.5 days".
std::string formatDays(double days);

// What the daemon reports, as the D-Bus API names it (see org.porchlight.Nvr1.xml).

struct ManagerInfo {
    std::string version;
    uint32_t state = 0;
    bool ownerConfigured = false;
    uint64_t storageUsedBytes = 0;
    uint64_t storageFreeBytes = 0;
    int64_t oldestRecording = 0;
    uint32_t cameras = 0;
    std::string lastStorageProblem;
    bool diskFull = false;
};

struct CameraInfo {
    std::string id;
    uint32_t source = 0;
    uint32_t mode = 0;
    uint32_t state = 0;
    std::string lastError;
    bool recording = false;
    uint32_t width = 0;
    uint32_t height = 0;
    double framerate = 0;
    uint64_t bitrateBps = 0;
    uint64_t framesTotal = 0;
    int64_t lastMotion = 0;
    int64_t lastRing = 0;
};

struct RetentionInfo {
    std::optional<double> maxDays;
    std::optional<uint64_t> maxBytes;
    std::string source;  // "owner", "config" or "none"
};

struct RecordingInfo {
    std::string camera;
    uint64_t sequence = 0;
    int64_t start = 0;
    int64_t end = 0;
    uint64_t bytes = 0;
    uint32_t state = 0;
    bool isProtected = false;
};

struct EventInfo {
    uint64_t id = 0;
    std::string camera;
    std::string kind;
    int64_t start = 0;
    int64_t end = 0;
    bool isProtected = false;
};

/// Everything `status` shows, gathered in one go.
struct StatusInfo {
    ManagerInfo manager;
    std::vector<CameraInfo> cameras;                 // sorted by id
    std::map<std::string, RetentionInfo> retention;  // by camera id; may miss some
    std::vector<EventInfo> lastEvents;               // oldest first
};

std::string managerStateName(uint32_t state);
std::string cameraStateName(uint32_t state);
std::string sourceName(uint32_t source);
std::string modeName(uint32_t mode);
std::string recordingStateName(uint32_t state);

/// How many of the latest events `status` shows, and how far back it looks for
/// them: "what happened lately", without asking a busy motion camera for its
/// whole history.
inline constexpr size_t kStatusEvents = 5;
inline constexpr int kStatusEventsDays = 7;

std::string renderStatus(const StatusInfo& status, int64_t nowUs);
std::string renderCameras(const std::vector<CameraInfo>& cameras);
std::string renderRetention(const std::string& camera, const RetentionInfo& retention);
std::string renderRecordings(const std::vector<RecordingInfo>& recordings);
std::string renderEvents(const std::vector<EventInfo>& events);

// JSON: times are µs since the epoch under keys ending in "_usec" (null for
// never), sizes are bytes, states are their names; no key is left out.
Json statusJson(const StatusInfo& status);
Json cameraJson(const CameraInfo& camera);
Json retentionJson(const std::string& camera, const RetentionInfo& retention);
Json recordingJson(const RecordingInfo& recording);
Json eventJson(const EventInfo& event);

/// A failed bus call: the D-Bus error name and message, or for a failure with
/// no D-Bus error (no bus to connect to) the negative errno.
struct BusFailure {
    std::string name;
    std::string message;
    int error = 0;
};

/// The message for the user: what went wrong and what to do about it.
std::string explainFailure(const BusFailure& failure, Verb verb);

}  // namespace porchlight::ctl
