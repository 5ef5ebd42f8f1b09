// The daemon's configuration: what the owner wrote in porchlight.toml and its
// drop-ins, validated in full before anything uses it.
//
// Every problem is reported as "FILE:LINE:COLUMN: what is wrong and what is
// allowed", all of them at once. Later issues add sections ([camera.retention],
// [[camera.mask]], [web]); each section is one struct here and one function in
// config.cpp, so adding one does not touch the others.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace porchlight {

enum class SourceKind { Test, Libcamera, V4l2, Rtsp, File };
enum class RecordingMode { Continuous, Events, Off };

std::string_view sourceKindName(SourceKind kind);
std::string_view recordingModeName(RecordingMode mode);

/// Where a setting came from, for messages that point at the owner's file.
struct SourceLocation {
    std::string file;
    int line = 0;
    int column = 0;
    bool operator==(const SourceLocation&) const = default;
};

/// How long recordings are kept; unset means no limit of that kind.
struct RetentionConfig {
    std::optional<double> maxDays;     // > 0, fractional allowed ("0.5" = 12 h)
    std::optional<uint64_t> maxBytes;  // from "400KiB", "50GiB", "2GB", or an integer
    // Per kind of recording (days, > 0): video outside any event, video of a
    // motion event, video of a doorbell ring. A segment is kept while any of
    // the kinds it holds still wants it; max_days and max_bytes still apply.
    std::optional<double> continuousDays;
    std::optional<double> motionDays;
    std::optional<double> ringDays;
    bool operator==(const RetentionConfig&) const = default;
};

/// A polygon in normalized picture coordinates: (0,0) top left, (1,1) bottom right.
struct Polygon {
    std::vector<std::pair<double, double>> points;  // at least 3
    bool operator==(const Polygon&) const = default;
};

struct MotionZone {
    std::string name;  // for the owner's eyes (encrypted in event details)
    Polygon polygon;
    bool include = true;  // false: motion only here fires nothing
    bool operator==(const MotionZone&) const = default;
};

/// [camera.motion]
struct MotionConfig {
    bool enabled = false;
    double sensitivity = 0.5;       // 0..1: higher fires on smaller, fainter changes
    double minSeconds = 1.0;        // motion must last this long to become an event
    std::vector<MotionZone> zones;  // none: the whole picture counts
    bool operator==(const MotionConfig&) const = default;
};

/// [camera.doorbell]: a button on a GPIO line, read through the character device.
struct DoorbellConfig {
    std::string chip;       // "gpiochip0" or "/dev/gpiochip0"; empty: no button
    int line = -1;          // line offset on the chip
    bool activeLow = true;  // a button to ground with a pull-up: pressed reads 0
    int debounceMs = 50;
    bool configured() const { return !chip.empty(); }
    bool operator==(const DoorbellConfig&) const = default;
};

/// Free space to keep on the state directory's filesystem: bytes, or a percentage.
struct MinFree {
    std::optional<uint64_t> bytes;
    double percent = 5.0;  // used when bytes is unset
    bool operator==(const MinFree&) const = default;
};

struct CameraConfig {
    std::string id;
    SourceKind source = SourceKind::Test;

    // test: any videotestsrc pattern name.
    std::string pattern = "smpte";
    // libcamera: a camera id as libcamera names it, or an index into the
    // enumerated cameras (both unset: the first camera).
    std::string libcameraId;
    std::optional<int> libcameraIndex;
    // v4l2
    std::string device = "/dev/video0";
    // rtsp: rtsp:// or rtsps:// URL, credentials allowed in it.
    std::string url;
    // rtsp: "tcp" (interleaved, the default: works through NAT and loses nothing),
    // "udp", or "auto" (what rtspsrc negotiates).
    std::string rtspTransport = "tcp";
    // file: a path to any file GStreamer can decode; played in a loop.
    std::string path;

    // Capture and encoding (not for rtsp, which passes the camera's stream through).
    int width = 1280;
    int height = 720;
    int framerate = 15;
    int64_t bitrate = 2'000'000;    // bits per second
    double keyframeInterval = 2.0;  // seconds between keyframes

    RecordingMode mode = RecordingMode::Continuous;
    /// events mode: video kept before an event starts (at least back to a
    /// keyframe; held in memory, never on disk in the clear), and after the
    /// last motion or ring.
    double preRollSeconds = 5.0;
    double postRollSeconds = 10.0;

    /// rtsp only: decode, mask and encode again (needed for privacy masks).
    bool transcode = false;
    /// [[camera.mask]]: burned in black before encoding.
    std::vector<Polygon> masks;
    MotionConfig motion;
    DoorbellConfig doorbell;

    /// [camera.retention]: the owner's defaults; run-time changes (D-Bus, web
    /// UI) are kept in the state directory and win over these.
    RetentionConfig retention;

    /// Where the [[camera]] table starts; not part of equality.
    SourceLocation location;

    /// Equal settings: a reload leaves such a camera running untouched.
    /// Retention is not compared: it applies without restarting the camera's
    /// pipeline, so the daemon passes a change of it on separately.
    bool sameSettings(const CameraConfig& other) const;
};

struct StorageConfig {
    double segmentSeconds = 60.0;
    MinFree minFree;
};

/// Parse a human size: "400KiB", "50GiB", "2GB", "1.5 MiB", "123" (bytes).
/// Binary (KiB, MiB, GiB, TiB) and decimal (kB/KB, MB, GB, TB) units; B optional.
std::optional<uint64_t> parseSize(std::string_view text);

struct LogConfig {
    /// Level for every category, then per-category overrides, as for $PORCHLIGHT_LOG.
    std::string level = "info";
    std::map<std::string, std::string> categories;

    /// The same settings as a log spec for applyLogSpec() ("info,pipeline=debug").
    std::string spec() const;
};

/// [web]: the LAN web UI's server and sessions.
struct WebConfig {
    /// "ADDR:PORT", IPv6 addresses in brackets ("[::]:8443"); port 0 picks a
    /// free one. HTTPS unless written "http://ADDR:PORT", or plainHttp is set.
    std::vector<std::string> listen = {"0.0.0.0:8443", "[::]:8443"};
    /// Plain HTTP for entries without a scheme, and allows "http://" on
    /// non-loopback addresses (behind a TLS-terminating proxy); without it
    /// plain HTTP is for loopback only.
    bool plainHttp = false;
    /// Owner-provided PEM certificate and key (absolute paths, both or neither);
    /// empty: a self-signed certificate generated in the state directory.
    std::string certificate;
    std::string key;
    int sessionIdleMinutes = 15;  // 1..1440
    int sessionMaxHours = 12;     // 1..168
};

struct Config {
    std::vector<CameraConfig> cameras;
    StorageConfig storage;
    LogConfig log;
    WebConfig web;
    /// The files read, in order (main file first, then drop-ins by name, then
    /// the owner's settings file when there is one).
    std::vector<std::string> files;
    /// What the owner's settings file held that was not applied (a camera the
    /// files no longer have, a key the web UI does not manage), for the log.
    std::vector<std::string> ignoredSettings;
};

struct ConfigDiagnostic {
    SourceLocation location;
    std::string message;
    /// "FILE:LINE:COLUMN: message" (LINE:COLUMN left out when unknown).
    std::string format() const;
};

struct ConfigResult {
    std::optional<Config> config;  // set only when diagnostics is empty
    std::vector<ConfigDiagnostic> diagnostics;
    bool ok() const { return config.has_value(); }
};

/// The files a main config file implies: itself (when it exists; a missing
/// main file is fine and means defaults) followed by FILE's directory's
/// "porchlight.conf.d/*.toml", sorted by name.
std::vector<std::filesystem::path> configFilesFor(const std::filesystem::path& mainFile);

/// Read, merge and validate. Later files win: tables merge key by key, and a
/// [[camera]] whose id matches an earlier one updates that camera rather than
/// adding a second one. \a mainFile may be absent; drop-ins must parse.
ConfigResult loadConfig(const std::filesystem::path& mainFile);

/// The same, then the owner's settings from the web UI (name, text: normally
/// STATE/settings.toml), merged last with the same rules and checked by the
/// same parser, so they win over the files. Only the keys the web UI manages
/// (a camera's mode, mask, motion, doorbell) and only cameras the files have
/// are taken from it; when the files name no camera, its cameras are taken
/// whole. An empty \a mainFile reads no file (the demo).
ConfigResult loadConfig(const std::filesystem::path& mainFile,
                        const std::optional<std::pair<std::string, std::string>>& ownerSettings);

/// The same on in-memory documents (name, text), for tests and fuzzing.
ConfigResult parseConfig(const std::vector<std::pair<std::string, std::string>>& documents);

}  // namespace porchlight
