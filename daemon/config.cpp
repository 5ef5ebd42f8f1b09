// Configuration loading and validation: see config.h.
//
// Loading runs in three steps, each carrying on after an error so that the
// owner sees every problem in one go:
//   1. parse each file with toml++ (a syntax error drops only that file);
//   2. merge the parsed trees, later files winning key by key and cameras
//      matched by id; nodes are *moved*, never copied, because toml++ keeps a
//      node's file and line only when it moves;
//   3. validate the merged tree into a Config, one function per section, each
//      built on FieldReader, which checks type and range and reports at the
//      offending node's position.
#include "config.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <climits>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <exception>
#include <map>
#include <set>
#include <span>
#include <string_view>
#include <system_error>
#include <tuple>
#include <vector>

#include <toml++/toml.h>
#include <boost/asio/ip/address.hpp>

namespace porchlight {

std::string_view sourceKindName(SourceKind kind) {
    switch (kind) {
        case SourceKind::Test:
            return "test";
        case SourceKind::Libcamera:
            return "libcamera";
        case SourceKind::V4l2:
            return "v4l2";
        case SourceKind::Rtsp:
            return "rtsp";
        case SourceKind::File:
            return "file";
    }
    return "test";
}

std::string_view recordingModeName(RecordingMode mode) {
    switch (mode) {
        case RecordingMode::Continuous:
            return "continuous";
        case RecordingMode::Events:
            return "events";
        case RecordingMode::Off:
            return "off";
    }
    return "continuous";
}

// Everything the camera's pipeline is built from counts, including pre- and
// post-roll, transcoding, masks, motion detection and the doorbell button: a
// change of any of them restarts the pipeline on reload. Retention is
// deliberately left out: a change of retention applies without restarting the
// camera's pipeline (the daemon hands it to storage on its own), so a reload
// that only changes retention must not count as a change.
bool CameraConfig::sameSettings(const CameraConfig& o) const {
    return id == o.id && source == o.source && pattern == o.pattern &&
           libcameraId == o.libcameraId && libcameraIndex == o.libcameraIndex &&
           device == o.device && url == o.url && rtspTransport == o.rtspTransport &&
           path == o.path && width == o.width && height == o.height && framerate == o.framerate &&
           bitrate == o.bitrate && keyframeInterval == o.keyframeInterval && mode == o.mode &&
           preRollSeconds == o.preRollSeconds && postRollSeconds == o.postRollSeconds &&
           transcode == o.transcode && masks == o.masks && motion == o.motion &&
           doorbell == o.doorbell;
}

std::optional<uint64_t> parseSize(std::string_view text) {
    auto isSpace = [](char c) { return c == ' ' || c == '\t'; };
    auto isDigit = [](char c) { return c >= '0' && c <= '9'; };
    while (!text.empty() && isSpace(text.front()))
        text.remove_prefix(1);
    while (!text.empty() && isSpace(text.back()))
        text.remove_suffix(1);

    // The number, kept exact: whole + frac / scale. Digits of the fraction
    // past the 18th are dropped; they are worth less than a byte.
    size_t i = 0;
    uint64_t whole = 0;
    for (; i < text.size() && isDigit(text[i]); ++i)
        if (__builtin_mul_overflow(whole, uint64_t{10}, &whole) ||
            __builtin_add_overflow(whole, uint64_t(text[i] - '0'), &whole))
            return std::nullopt;
    if (i == 0)
        return std::nullopt;
    uint64_t frac = 0;
    uint64_t scale = 1;
    if (i < text.size() && text[i] == '.') {
        size_t start = ++i;
        for (; i < text.size() && isDigit(text[i]); ++i) {
            if (scale < 1'000'000'000'000'000'000ULL) {
                frac = frac * 10 + uint64_t(text[i] - '0');
                scale *= 10;
            }
        }
        if (i == start)
            return std::nullopt;  // "1." is a typo more likely than a size
    }

    std::string unit;
    for (char c : text.substr(i))
        unit += static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    while (!unit.empty() && isSpace(unit.front()))
        unit.erase(0, 1);
    // Bare "k", "M", "G" and "T" are refused: they mean 1000 to some and 1024
    // to others, and a size limit should not depend on which.
    static constexpr std::pair<std::string_view, uint64_t> kUnits[] = {
        {"", 1},
        {"b", 1},
        {"kib", uint64_t{1} << 10},
        {"ki", uint64_t{1} << 10},
        {"mib", uint64_t{1} << 20},
        {"mi", uint64_t{1} << 20},
        {"gib", uint64_t{1} << 30},
        {"gi", uint64_t{1} << 30},
        {"tib", uint64_t{1} << 40},
        {"ti", uint64_t{1} << 40},
        {"kb", 1'000},
        {"mb", 1'000'000},
        {"gb", 1'000'000'000},
        {"tb", 1'000'000'000'000},
    };
    const auto* u = std::find_if(std::begin(kUnits), std::end(kUnits),
                                 [&](const auto& entry) { return entry.first == unit; });
    if (u == std::end(kUnits))
        return std::nullopt;
    const uint64_t multiplier = u->second;
    if (multiplier == 1 && frac != 0)
        return std::nullopt;  // a fraction of a byte

    // frac * multiplier / scale, rounded to the nearest byte, without
    // overflow: multiply bit by bit, keeping quotient q and remainder r
    // (r < scale <= 10^18, so r + frac and 2r stay below 2^61).
    uint64_t q = 0;
    uint64_t r = 0;
    for (int bit = 63; bit >= 0; --bit) {
        q *= 2;
        r *= 2;
        if (r >= scale) {
            ++q;
            r -= scale;
        }
        if ((multiplier >> bit) & 1) {
            r += frac;
            if (r >= scale) {
                ++q;
                r -= scale;
            }
        }
    }
    if (2 * r >= scale)
        ++q;

    uint64_t bytes = 0;
    if (__builtin_mul_overflow(whole, multiplier, &bytes) ||
        __builtin_add_overflow(bytes, q, &bytes))
        return std::nullopt;
    return bytes;
}

std::string LogConfig::spec() const {
    std::string s = level;
    for (const auto& [cat, lvl] : categories)
        s += "," + cat + "=" + lvl;
    return s;
}

std::string ConfigDiagnostic::format() const {
    std::string s = location.file;
    if (location.line > 0) {
        s += ":" + std::to_string(location.line);
        if (location.column > 0)
            s += ":" + std::to_string(location.column);
    }
    return s + ": " + message;
}

namespace {

using Document = std::pair<std::string, std::string>;
using Documents = std::vector<Document>;

// Drop-ins live next to the main file under this fixed name, whatever the
// main file is called, so that packages and owners agree on where they go.
constexpr std::string_view kDropInDir = "porchlight.conf.d";

// A config file is a few kilobytes; anything this big is the wrong file.
constexpr off_t kMaxFileSize = 1 << 20;

constexpr std::string_view kTopKeys[] = {"camera", "storage", "log", "web"};
constexpr std::string_view kStorageKeys[] = {"segment_seconds", "min_free"};
// [camera.retention]: each key is one line here and one in readRetention().
constexpr std::string_view kRetentionKeys[] = {"max_days", "max_bytes", "continuous_days",
                                               "motion_days", "ring_days"};
// [[camera.mask]], [camera.motion], [[camera.motion.zone]], [camera.doorbell].
constexpr std::string_view kMaskKeys[] = {"points"};
constexpr std::string_view kMotionKeys[] = {"enabled", "sensitivity", "min_seconds", "zone"};
constexpr std::string_view kZoneKeys[] = {"name", "points", "mode"};
constexpr std::string_view kDoorbellKeys[] = {"chip", "line", "active_low", "debounce_ms"};
constexpr std::string_view kLogKeys[] = {"level", "categories"};
constexpr std::string_view kWebKeys[] = {"listen", "plain_http",           "certificate",
                                         "key",    "session_idle_minutes", "session_max_hours"};

constexpr std::string_view kSourceNames[] = {"test", "libcamera", "v4l2", "rtsp", "file"};
constexpr SourceKind kSourceKinds[] = {SourceKind::Test, SourceKind::Libcamera, SourceKind::V4l2,
                                       SourceKind::Rtsp, SourceKind::File};
constexpr std::string_view kModeNames[] = {"continuous", "events", "off"};
constexpr RecordingMode kModes[] = {RecordingMode::Continuous, RecordingMode::Events,
                                    RecordingMode::Off};
constexpr std::string_view kTransports[] = {"tcp", "udp", "auto"};
constexpr std::string_view kZoneModes[] = {"include", "exclude"};
constexpr std::string_view kLogLevels[] = {"error", "warning", "notice", "info", "debug"};

// videotestsrc's pattern nicks (GStreamer 1.22), so a typo fails at load time
// rather than when the pipeline is built.
constexpr std::string_view kPatterns[] = {"smpte",
                                          "snow",
                                          "black",
                                          "white",
                                          "red",
                                          "green",
                                          "blue",
                                          "checkers-1",
                                          "checkers-2",
                                          "checkers-4",
                                          "checkers-8",
                                          "circular",
                                          "blink",
                                          "smpte75",
                                          "zone-plate",
                                          "gamut",
                                          "chroma-zone-plate",
                                          "solid-color",
                                          "ball",
                                          "smpte100",
                                          "bar",
                                          "pinwheel",
                                          "spokes",
                                          "gradient",
                                          "colors",
                                          "smpte-rp-219"};

constexpr int64_t kMinBitrate = 64'000;
constexpr int64_t kMaxBitrate = 50'000'000;

constexpr double kMaxRetentionDays = 3650;
// Sizes below this are certainly a slip (a second of video is larger), and
// above the largest int64 the index cannot store them.
constexpr uint64_t kMinSize = uint64_t{64} << 10;
constexpr std::string_view kMinSizeText = "64 KiB";
constexpr uint64_t kMaxSize = INT64_MAX;

// Pre-roll is held in memory, so it is kept short; post-roll is on disk.
constexpr double kMaxPreRollSeconds = 30;
constexpr double kMaxPostRollSeconds = 600;
constexpr double kMaxMotionMinSeconds = 60;

// Masks and motion zones. 64 points trace any outline a person would draw.
constexpr size_t kMinPolygonPoints = 3;
constexpr size_t kMaxPolygonPoints = 64;
constexpr size_t kMaxZoneNameLength = 64;  // characters, not bytes

// The GPIO character device numbers lines per chip from 0; the largest
// chips (Raspberry Pi 5's RP1 and the like) have well under 512.
constexpr int64_t kMaxGpioLine = 511;
constexpr int64_t kMaxDebounceMs = 1000;

// Which [[camera]] keys apply to which sources. A key that exists but does not
// apply is reported as such rather than as unknown: the owner most likely
// forgot to change `source`, and "unknown key" would send them looking for a typo.
constexpr unsigned sourceBit(SourceKind kind) {
    return 1u << static_cast<unsigned>(kind);
}
constexpr unsigned kAllSources = sourceBit(SourceKind::Test) | sourceBit(SourceKind::Libcamera) |
                                 sourceBit(SourceKind::V4l2) | sourceBit(SourceKind::Rtsp) |
                                 sourceBit(SourceKind::File);
// rtsp cameras are passed through, so there is nothing of ours to size or encode.
constexpr unsigned kEncodedSources = kAllSources & ~sourceBit(SourceKind::Rtsp);

struct CameraKey {
    std::string_view name;
    unsigned sources;
};

constexpr CameraKey kCameraKeys[] = {
    {"id", kAllSources},
    {"source", kAllSources},
    {"mode", kAllSources},
    {"pattern", sourceBit(SourceKind::Test)},
    {"camera", sourceBit(SourceKind::Libcamera)},
    {"device", sourceBit(SourceKind::V4l2)},
    {"url", sourceBit(SourceKind::Rtsp)},
    {"transport", sourceBit(SourceKind::Rtsp)},
    {"transcode", sourceBit(SourceKind::Rtsp)},
    {"path", sourceBit(SourceKind::File)},
    {"width", kEncodedSources},
    {"height", kEncodedSources},
    {"framerate", kEncodedSources},
    {"bitrate", kEncodedSources},
    {"keyframe_interval", kEncodedSources},
    {"pre_roll_seconds", kAllSources},
    {"post_roll_seconds", kAllSources},
    {"mask", kAllSources},
    {"motion", kAllSources},
    {"doorbell", kAllSources},
    {"retention", kAllSources},
};

const CameraKey* findCameraKey(std::string_view name) {
    for (const CameraKey& k : kCameraKeys)
        if (k.name == name)
            return &k;
    return nullptr;
}

SourceLocation locationOf(const toml::source_region& region) {
    SourceLocation loc;
    if (region.path)
        loc.file = *region.path;
    loc.line = static_cast<int>(region.begin.line);
    loc.column = static_cast<int>(region.begin.column);
    return loc;
}

/// "FILE:LINE:COLUMN", for messages that point at a second place.
std::string formatLocation(const SourceLocation& loc) {
    std::string s = ConfigDiagnostic{loc, ""}.format();
    return s.substr(0, s.size() - 2);  // drop the ": " before the empty message
}

std::string quote(std::string_view s) {
    std::string out = "\"";
    for (char c : s) {
        if (c == '"' || c == '\\') {
            out += '\\';
            out += c;
        } else if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
            out += buf;
        } else {
            out += c;
        }
    }
    return out + "\"";
}

/// Shortest text that reads back as \a v; TOML floats keep a ".0" so that
/// "got 1280.0" shows why an integer was refused.
std::string formatNumber(double v, bool asTomlFloat) {
    char buf[64];
    // Fixed notation where it reads naturally: "2000000.0", not "2e+06".
    const double magnitude = std::fabs(v);
    const bool fixed = magnitude == 0 || (magnitude >= 1e-4 && magnitude < 1e15);
    auto [end, ec] = fixed ? std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed)
                           : std::to_chars(buf, buf + sizeof buf, v);
    std::string s = ec == std::errc() ? std::string(buf, end) : std::to_string(v);
    if (asTomlFloat && std::isfinite(v) && s.find_first_of(".e") == std::string::npos)
        s += ".0";
    return s;
}

/// What a value is, for "got ..." in messages: the value itself for scalars.
std::string describe(const toml::node& node) {
    switch (node.type()) {
        case toml::node_type::string:
            return quote(node.as_string()->get());
        case toml::node_type::integer:
            return std::to_string(node.as_integer()->get());
        case toml::node_type::floating_point:
            return formatNumber(node.as_floating_point()->get(), true);
        case toml::node_type::boolean:
            return node.as_boolean()->get() ? "true" : "false";
        case toml::node_type::table:
            return "a table";
        case toml::node_type::array:
            return "an array";
        case toml::node_type::date:
            return "a date";
        case toml::node_type::time:
            return "a time";
        case toml::node_type::date_time:
            return "a date-time";
        case toml::node_type::none:
            break;
    }
    return "nothing";
}

std::string joinQuoted(std::span<const std::string_view> words) {
    std::string s;
    for (std::string_view w : words) {
        if (!s.empty())
            s += ", ";
        s += quote(w);
    }
    return s;
}

std::string join(std::span<const std::string_view> words) {
    std::string s;
    for (std::string_view w : words) {
        if (!s.empty())
            s += ", ";
        s += w;
    }
    return s;
}

/// Edit distance counting a swap of neighbours as one edit ("widht").
size_t editDistance(std::string_view a, std::string_view b) {
    std::vector<std::vector<size_t>> d(a.size() + 1, std::vector<size_t>(b.size() + 1));
    for (size_t i = 0; i <= a.size(); ++i)
        d[i][0] = i;
    for (size_t j = 0; j <= b.size(); ++j)
        d[0][j] = j;
    for (size_t i = 1; i <= a.size(); ++i) {
        for (size_t j = 1; j <= b.size(); ++j) {
            size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
            d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
                d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
        }
    }
    return d[a.size()][b.size()];
}

/// The closest candidate when it is close enough to be a typo of \a word.
std::optional<std::string_view> closest(std::string_view word,
                                        std::span<const std::string_view> candidates) {
    // Short words are close to too much; allow more slips in longer ones.
    const size_t limit = word.size() <= 4 ? 1 : word.size() <= 8 ? 2 : 3;
    std::optional<std::string_view> best;
    size_t bestDistance = limit + 1;
    for (std::string_view c : candidates) {
        size_t d = editDistance(word, c);
        // An abbreviation ("warn", "err") is as good as a typo.
        if (word.size() >= 3 && c.starts_with(word))
            d = std::min<size_t>(d, 1);
        if (d < bestDistance) {
            best = c;
            bestDistance = d;
        }
    }
    return best;
}

std::string didYouMean(std::string_view word, std::span<const std::string_view> candidates) {
    if (auto c = closest(word, candidates))
        return "; did you mean " + quote(*c) + "?";
    return {};
}

bool isNameChar(char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

bool isName(std::string_view s) {
    return !s.empty() && std::all_of(s.begin(), s.end(), isNameChar);
}

bool isCameraId(std::string_view s) {
    return s.size() <= 32 && isName(s);
}

bool isRtspUrl(std::string_view s) {
    std::string_view rest;
    if (s.starts_with("rtsp://"))
        rest = s.substr(7);
    else if (s.starts_with("rtsps://"))
        rest = s.substr(8);
    else
        return false;
    // A URL never contains spaces or control characters; one that does was
    // pasted with something else attached.
    return !rest.empty() && std::none_of(s.begin(), s.end(), [](char c) {
        return static_cast<unsigned char>(c) <= 0x20 || c == 0x7f;
    });
}

/// "2M", "2500k", "4Mbit", "64000bps", "2.5 Mbit/s": k and K are 1000, M is
/// 1000000. Lower-case m is refused: it means milli, and a bitrate in
/// millibits is certainly a mistake.
std::optional<int64_t> parseBitrate(std::string_view s) {
    auto isSpace = [](char c) { return c == ' ' || c == '\t'; };
    while (!s.empty() && isSpace(s.front()))
        s.remove_prefix(1);
    while (!s.empty() && isSpace(s.back()))
        s.remove_suffix(1);

    size_t digits = 0;
    while (digits < s.size() && ((s[digits] >= '0' && s[digits] <= '9') || s[digits] == '.'))
        ++digits;
    if (digits == 0)
        return std::nullopt;
    double number = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + digits, number);
    if (ec != std::errc() || end != s.data() + digits)
        return std::nullopt;

    std::string_view unit = s.substr(digits);
    while (!unit.empty() && isSpace(unit.front()))
        unit.remove_prefix(1);
    double multiplier = 1;
    if (!unit.empty() && (unit.front() == 'k' || unit.front() == 'K')) {
        multiplier = 1e3;
        unit.remove_prefix(1);
    } else if (!unit.empty() && unit.front() == 'M') {
        multiplier = 1e6;
        unit.remove_prefix(1);
    }
    if (!unit.empty() && unit != "bit" && unit != "bps" && unit != "bit/s")
        return std::nullopt;

    double bits = number * multiplier;
    if (!std::isfinite(bits) || bits > static_cast<double>(INT64_MAX) / 2)
        return std::nullopt;
    return std::llround(bits);
}

/// A size in bytes as written in the file: a string parseSize() takes or a
/// non-negative integer.
std::optional<uint64_t> sizeOf(const toml::node& node) {
    if (const auto* i = node.as_integer(); i && i->get() >= 0)
        return static_cast<uint64_t>(i->get());
    if (const auto* s = node.as_string())
        return parseSize(s->get());
    return std::nullopt;
}

/// What sizeOf() accepts, for messages.
std::string sizeRequirement() {
    return "a size of at least " + std::string(kMinSizeText) +
           ", written as a string such as \"50GiB\", \"2GB\" or \"1.5 MiB\" (units B, KiB, "
           "MiB, GiB, TiB, kB, MB, GB, TB) or as an integer number of bytes";
}

/// "2.5%" as 2.5: digits with an optional fraction, then "%".
std::optional<double> parsePercent(std::string_view s) {
    auto isSpace = [](char c) { return c == ' ' || c == '\t'; };
    while (!s.empty() && isSpace(s.front()))
        s.remove_prefix(1);
    while (!s.empty() && isSpace(s.back()))
        s.remove_suffix(1);
    if (!s.ends_with('%'))
        return std::nullopt;
    s.remove_suffix(1);
    while (!s.empty() && isSpace(s.back()))
        s.remove_suffix(1);
    // from_chars alone would take "1e2", "inf" and "nan".
    if (s.empty() || s.front() == '.' || s.back() == '.' ||
        std::count(s.begin(), s.end(), '.') > 1 ||
        !std::all_of(s.begin(), s.end(), [](char c) { return (c >= '0' && c <= '9') || c == '.'; }))
        return std::nullopt;
    double v = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || end != s.data() + s.size())
        return std::nullopt;
    return v;
}

/// Collects diagnostics; every check goes on after reporting.
class Diagnostics {
public:
    void add(SourceLocation where, std::string message) {
        list_.push_back(ConfigDiagnostic{std::move(where), std::move(message)});
    }
    void add(const toml::source_region& where, std::string message) {
        add(locationOf(where), std::move(message));
    }
    bool empty() const { return list_.empty(); }
    std::vector<ConfigDiagnostic>& list() { return list_; }

private:
    std::vector<ConfigDiagnostic> list_;
};

/// Reads the settings of one table. Each reader checks type and range; on a
/// bad value it reports "<name> must be <what is allowed>, got <value>" at
/// the value's position and returns nothing, so the caller keeps its default
/// and validation carries on. A new section is a handful of calls on this.
class FieldReader {
public:
    /// \a prefix names a key in messages ("storage." gives "storage.level",
    /// "camera \"door\": " gives "camera \"door\": width"); \a where names the
    /// table in messages about its keys ("in [storage]").
    FieldReader(Diagnostics& diags, const toml::table& table, std::string prefix, std::string where)
        : diags_(diags), table_(table), prefix_(std::move(prefix)), where_(std::move(where)) {}

    const toml::table& table() const { return table_; }
    const std::string& prefix() const { return prefix_; }
    const toml::node* node(std::string_view key) const { return table_.get(key); }

    /// \a hint follows the value given, e.g. a "did you mean" for a typo.
    void invalid(std::string_view key, const toml::node& value, std::string_view requirement,
                 std::string_view hint = {}) {
        diags_.add(value.source(), prefix_ + std::string(key) + " must be " +
                                       std::string(requirement) + ", got " + describe(value) +
                                       std::string(hint));
    }

    /// Reported at the table, the nearest place to where the key should go.
    void missing(std::string_view key, std::string_view requirement) {
        diags_.add(table_.source(), "missing required key " + quote(key) + " " + where_ + " (" +
                                        std::string(requirement) + ")");
    }

    std::optional<int64_t> integer(std::string_view key, int64_t lo, int64_t hi,
                                   bool even = false) {
        const toml::node* n = node(key);
        if (!n)
            return std::nullopt;
        const toml::value<int64_t>* v = n->as_integer();
        if (v && v->get() >= lo && v->get() <= hi && (!even || v->get() % 2 == 0))
            return v->get();
        invalid(key, *n,
                std::string(even ? "an even integer" : "an integer") + " from " +
                    std::to_string(lo) + " to " + std::to_string(hi));
        return std::nullopt;
    }

    /// An integer or a float, for quantities where both read naturally;
    /// \a unit may be empty for a plain number ("a number from 0 to 1").
    std::optional<double> number(std::string_view key, double lo, double hi,
                                 std::string_view unit) {
        const toml::node* n = node(key);
        if (!n)
            return std::nullopt;
        std::optional<double> v;
        if (const auto* i = n->as_integer())
            v = static_cast<double>(i->get());
        if (const auto* f = n->as_floating_point())
            v = f->get();
        // Written so that NaN fails the range check.
        if (v && *v >= lo && *v <= hi)
            return v;
        invalid(key, *n,
                "a number " + (unit.empty() ? std::string() : "of " + std::string(unit) + " ") +
                    "from " + formatNumber(lo, false) + " to " + formatNumber(hi, false));
        return std::nullopt;
    }

    /// A number greater than 0 and at most \a hi, where any positive amount,
    /// however small, makes sense (half a day of recordings).
    std::optional<double> positive(std::string_view key, double hi, std::string_view unit) {
        const toml::node* n = node(key);
        if (!n)
            return std::nullopt;
        std::optional<double> v;
        if (const auto* i = n->as_integer())
            v = static_cast<double>(i->get());
        if (const auto* f = n->as_floating_point())
            v = f->get();
        if (v && *v > 0 && *v <= hi)
            return v;
        invalid(key, *n,
                "a number of " + std::string(unit) + " greater than 0 and at most " +
                    formatNumber(hi, false) + " (fractions allowed, such as 0.5)");
        return std::nullopt;
    }

    /// A size in bytes, see sizeOf(), from kMinSize to kMaxSize.
    std::optional<uint64_t> size(std::string_view key) {
        const toml::node* n = node(key);
        if (!n)
            return std::nullopt;
        std::optional<uint64_t> v = sizeOf(*n);
        if (v && *v >= kMinSize && *v <= kMaxSize)
            return v;
        invalid(key, *n, v && *v > kMaxSize ? "a size below 8 EiB" : sizeRequirement(),
                v && n->is_string() ? " (" + std::to_string(*v) + " bytes)" : "");
        return std::nullopt;
    }

    std::optional<bool> boolean(std::string_view key) {
        const toml::node* n = node(key);
        if (!n)
            return std::nullopt;
        if (const auto* b = n->as_boolean())
            return b->get();
        invalid(key, *n, "true or false (without quotes)");
        return std::nullopt;
    }

    /// Index into \a choices of the string given.
    std::optional<size_t> oneOf(std::string_view key, std::span<const std::string_view> choices) {
        const toml::node* n = node(key);
        if (!n)
            return std::nullopt;
        if (const auto* s = n->as_string()) {
            auto it = std::find(choices.begin(), choices.end(), s->get());
            if (it != choices.end())
                return static_cast<size_t>(it - choices.begin());
            invalid(key, *n, "one of " + joinQuoted(choices), didYouMean(s->get(), choices));
            return std::nullopt;
        }
        invalid(key, *n, "one of " + joinQuoted(choices));
        return std::nullopt;
    }

    /// A string that passes \a valid, described by \a requirement.
    std::optional<std::string> string(std::string_view key, std::string_view requirement,
                                      bool (*valid)(std::string_view)) {
        const toml::node* n = node(key);
        if (!n)
            return std::nullopt;
        if (const auto* s = n->as_string(); s && valid(s->get()))
            return s->get();
        invalid(key, *n, requirement);
        return std::nullopt;
    }

    /// A sub-table such as [storage]; anything else there is reported.
    const toml::table* table(std::string_view key, std::string_view written) {
        const toml::node* n = node(key);
        if (!n)
            return nullptr;
        if (const auto* t = n->as_table())
            return t;
        invalid(key, *n, "a table, written " + std::string(written));
        return nullptr;
    }

    /// An array of tables such as [[camera.mask]]; its elements are the
    /// caller's to check. An empty array (`mask = []`) is fine.
    const toml::array* arrayOfTables(std::string_view key, std::string_view written) {
        const toml::node* n = node(key);
        if (!n)
            return nullptr;
        if (const auto* a = n->as_array())
            return a;
        invalid(key, *n, "an array of tables, written " + std::string(written));
        return nullptr;
    }

    /// Reports every key not in \a known at the key's own position, listing
    /// \a shown (the keys that make sense here) as the allowed ones.
    void checkKeys(std::span<const std::string_view> known, std::span<const std::string_view> shown,
                   std::string_view allowedLabel = "allowed") {
        for (auto&& [key, value] : table_) {
            if (std::find(known.begin(), known.end(), key.str()) != known.end())
                continue;
            diags_.add(key.source(), "unknown key " + quote(key.str()) + " " + where_ +
                                         didYouMean(key.str(), known) + " (" +
                                         std::string(allowedLabel) + ": " + join(shown) + ")");
        }
    }
    void checkKeys(std::span<const std::string_view> known) { checkKeys(known, known); }

private:
    Diagnostics& diags_;
    const toml::table& table_;
    std::string prefix_;
    std::string where_;
};

std::string sourceFile(const toml::source_region& region) {
    return region.path ? *region.path : std::string();
}

/// Why \a key cannot be used on a camera of \a source, which it does not apply to.
std::string notApplicableReason(const CameraKey& key, SourceKind source) {
    if (source == SourceKind::Rtsp && (key.sources & kEncodedSources) == kEncodedSources)
        return "an rtsp camera's stream is recorded as the camera sends it, without re-encoding; "
               "set its size, frame rate and bitrate in the camera itself";
    if (key.name == "transcode")
        return "transcode is for rtsp cameras, whose stream is otherwise recorded untouched; a " +
               std::string(sourceKindName(source)) +
               " camera is always encoded by the daemon, so masks apply to it without transcode";
    std::vector<std::string_view> users;
    for (size_t i = 0; i < std::size(kSourceKinds); ++i)
        if (key.sources & sourceBit(kSourceKinds[i]))
            users.push_back(kSourceNames[i]);
    std::string s = std::string(key.name) + " is for ";
    for (size_t i = 0; i < users.size(); ++i) {
        if (i > 0)
            s += i + 1 == users.size() ? " and " : ", ";
        s += users[i];
    }
    return s + " cameras";
}

/// " of camera \"door\"", for messages about a camera's sub-tables.
std::string ofCamera(const std::string& cameraId) {
    return cameraId.empty() ? std::string() : " of camera " + quote(cameraId);
}

/// [camera.retention] of one camera; \a camera reads the [[camera]] table.
void readRetention(Diagnostics& diags, FieldReader& camera, const std::string& cameraId,
                   RetentionConfig& retention) {
    const toml::table* t = camera.table("retention", "[camera.retention]");
    if (!t)
        return;
    FieldReader r(diags, *t, camera.prefix() + "retention.",
                  "in [camera.retention]" + ofCamera(cameraId));
    if (auto v = r.positive("max_days", kMaxRetentionDays, "days"))
        retention.maxDays = *v;
    if (auto v = r.size("max_bytes"))
        retention.maxBytes = *v;
    if (auto v = r.positive("continuous_days", kMaxRetentionDays, "days"))
        retention.continuousDays = *v;
    if (auto v = r.positive("motion_days", kMaxRetentionDays, "days"))
        retention.motionDays = *v;
    if (auto v = r.positive("ring_days", kMaxRetentionDays, "days"))
        retention.ringDays = *v;
    r.checkKeys(kRetentionKeys);
}

/// A value as written, arrays included ("[0.5, 2]"), for messages about points.
std::string describeInline(const toml::node& node, int depth = 0) {
    const toml::array* a = node.as_array();
    if (!a || depth > 1 || a->size() > 8)
        return describe(node);
    std::string s = "[";
    for (const toml::node& element : *a) {
        if (s.size() > 1)
            s += ", ";
        s += describeInline(element, depth + 1);
    }
    return s + "]";
}

/// True when every point lies on one line (or on one spot): such a polygon
/// covers nothing, so a mask made of it would hide nothing.
bool collinear(const std::vector<std::pair<double, double>>& points) {
    // Not a structured binding: clang 14 (the sanitizer builds) cannot capture one in a lambda.
    const double x0 = points.front().first;
    const double y0 = points.front().second;
    // The point farthest from the first gives the line's direction.
    double dx = 0;
    double dy = 0;
    for (const auto& [x, y] : points) {
        if ((x - x0) * (x - x0) + (y - y0) * (y - y0) > dx * dx + dy * dy) {
            dx = x - x0;
            dy = y - y0;
        }
    }
    return std::all_of(points.begin(), points.end(), [&](const auto& p) {
        return std::fabs(dx * (p.second - y0) - dy * (p.first - x0)) < 1e-12;
    });
}

/// The `points` of a mask or motion zone; \a r reads the mask's or zone's
/// table. Reports every bad point at its position; false when any is bad.
bool readPolygon(Diagnostics& diags, FieldReader& r, Polygon& polygon) {
    const std::string requirement =
        "an array of " + std::to_string(kMinPolygonPoints) + " to " +
        std::to_string(kMaxPolygonPoints) +
        " [x, y] points, such as [[0, 0], [0.5, 0], [0.5, 1]], where (0, 0) is the picture's top "
        "left corner and (1, 1) its bottom right";
    const toml::node* n = r.node("points");
    if (!n) {
        r.missing("points", requirement);
        return false;
    }
    const toml::array* array = n->as_array();
    if (!array) {
        r.invalid("points", *n, requirement);
        return false;
    }
    // [0, 0, 1, 0, 1, 1]: one message for the whole list rather than one per number.
    if (!array->empty() && std::none_of(array->begin(), array->end(),
                                        [](const toml::node& e) { return e.is_array(); })) {
        diags.add(n->source(),
                  r.prefix() + "points must be " + requirement + ", got " +
                      (array->size() <= 8
                           ? describeInline(*n)
                           : "a flat list of " + std::to_string(array->size()) + " values") +
                      "; write each point as its own [x, y] pair");
        return false;
    }
    bool ok = true;
    if (array->size() < kMinPolygonPoints || array->size() > kMaxPolygonPoints) {
        diags.add(n->source(), r.prefix() + "points must be " + requirement + ", got " +
                                   std::to_string(array->size()) +
                                   (array->size() == 1 ? " point" : " points"));
        ok = false;
    }
    Polygon result;
    for (size_t i = 0; i < array->size(); ++i) {
        const toml::node& point = (*array)[i];
        const std::string name = "point " + std::to_string(i + 1);
        const toml::array* xy = point.as_array();
        if (!xy || xy->size() != 2) {
            diags.add(point.source(), r.prefix() + name +
                                          " must be an [x, y] pair of numbers from 0 to 1, got " +
                                          describeInline(point));
            ok = false;
            continue;
        }
        static constexpr std::string_view kAxes[2][2] = {
            {"x", "0 is the picture's left edge, 1 its right edge"},
            {"y", "0 is the picture's top edge, 1 its bottom edge"}};
        double coordinate[2] = {0, 0};
        for (size_t axis = 0; axis < 2; ++axis) {
            const toml::node& c = (*xy)[axis];
            std::optional<double> v;
            if (const auto* integer = c.as_integer())
                v = static_cast<double>(integer->get());
            if (const auto* f = c.as_floating_point())
                v = f->get();
            // Written so that NaN fails.
            if (v && *v >= 0 && *v <= 1) {
                coordinate[axis] = *v;
                continue;
            }
            diags.add(c.source(), r.prefix() + name + ": " + std::string(kAxes[axis][0]) +
                                      " must be a number from 0 to 1 (" +
                                      std::string(kAxes[axis][1]) + "), got " + describeInline(c));
            ok = false;
        }
        result.points.emplace_back(coordinate[0], coordinate[1]);
    }
    if (ok && collinear(result.points)) {
        diags.add(n->source(), r.prefix() +
                                   "points all lie on one line, so they enclose nothing; give at "
                                   "least 3 points that are not in a line");
        ok = false;
    }
    if (ok)
        polygon = std::move(result);
    return ok;
}

/// [[camera.mask]]: areas of the picture burned in black before encoding.
void readMasks(Diagnostics& diags, FieldReader& camera, const std::string& cameraId,
               std::vector<Polygon>& masks) {
    const toml::array* array = camera.arrayOfTables("mask", "[[camera.mask]]");
    if (!array)
        return;
    for (size_t i = 0; i < array->size(); ++i) {
        const toml::node& element = (*array)[i];
        const std::string number = "#" + std::to_string(i + 1);
        const toml::table* t = element.as_table();
        if (!t) {
            diags.add(element.source(), camera.prefix() +
                                            "each mask must be a table, written [[camera.mask]], "
                                            "got " +
                                            describeInline(element));
            continue;
        }
        FieldReader r(diags, *t, camera.prefix() + "mask " + number + ": ",
                      "in [[camera.mask]] " + number + ofCamera(cameraId));
        Polygon polygon;
        if (readPolygon(diags, r, polygon))
            masks.push_back(std::move(polygon));
        r.checkKeys(kMaskKeys);
    }
}

/// A zone's name: shown to the owner, so printable, and short enough for a label.
bool isZoneName(std::string_view s) {
    size_t characters = 0;
    for (char c : s) {
        const auto u = static_cast<unsigned char>(c);
        if (u < 0x20 || u == 0x7f)
            return false;
        if ((u & 0xc0) != 0x80)  // not a UTF-8 continuation byte
            ++characters;
    }
    return characters >= 1 && characters <= kMaxZoneNameLength;
}

/// [[camera.motion.zone]]: where motion counts (include) or does not (exclude).
/// \a motion reads [camera.motion]; \a cameraPrefix is the camera's message prefix.
void readZones(Diagnostics& diags, FieldReader& motion, const std::string& cameraPrefix,
               const std::string& cameraId, std::vector<MotionZone>& zones) {
    const toml::array* array = motion.arrayOfTables("zone", "[[camera.motion.zone]]");
    if (!array)
        return;
    for (size_t i = 0; i < array->size(); ++i) {
        const toml::node& element = (*array)[i];
        const toml::table* t = element.as_table();
        if (!t) {
            diags.add(element.source(), cameraPrefix +
                                            "each motion zone must be a table, written "
                                            "[[camera.motion.zone]], got " +
                                            describeInline(element));
            continue;
        }
        // Named by its name once that is known to be good, else by number.
        std::string label = "#" + std::to_string(i + 1);
        MotionZone zone;
        {
            FieldReader nameReader(diags, *t, cameraPrefix + "motion zone " + label + ": ", "");
            if (auto v =
                    nameReader.string("name",
                                      "a string of 1 to " + std::to_string(kMaxZoneNameLength) +
                                          " characters, without control characters",
                                      isZoneName)) {
                zone.name = *v;
                label = quote(*v);
            }
        }
        FieldReader r(diags, *t, cameraPrefix + "motion zone " + label + ": ",
                      "in [[camera.motion.zone]] " + label + ofCamera(cameraId));
        bool ok = readPolygon(diags, r, zone.polygon);
        if (auto m = r.oneOf("mode", kZoneModes))
            zone.include = *m == 0;
        else if (t->contains("mode"))
            ok = false;
        if (ok)
            zones.push_back(std::move(zone));
        r.checkKeys(kZoneKeys);
    }
}

/// [camera.motion]: motion detection on the camera's picture.
void readMotion(Diagnostics& diags, FieldReader& camera, const std::string& cameraId,
                MotionConfig& motion) {
    const toml::table* t = camera.table("motion", "[camera.motion]");
    if (!t)
        return;
    FieldReader r(diags, *t, camera.prefix() + "motion.",
                  "in [camera.motion]" + ofCamera(cameraId));
    if (auto v = r.boolean("enabled"))
        motion.enabled = *v;
    if (auto v = r.number("sensitivity", 0, 1, ""))
        motion.sensitivity = *v;
    if (auto v = r.number("min_seconds", 0, kMaxMotionMinSeconds, "seconds"))
        motion.minSeconds = *v;
    readZones(diags, r, camera.prefix(), cameraId, motion.zones);
    r.checkKeys(kMotionKeys);
}

/// "gpiochip0" or "/dev/gpiochip0", as libgpiod and `gpiodetect` name chips.
bool isGpioChip(std::string_view s) {
    if (s.starts_with("/dev/"))
        s.remove_prefix(5);
    if (!s.starts_with("gpiochip"))
        return false;
    s.remove_prefix(8);
    return !s.empty() && s.size() <= 4 &&
           std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

/// [camera.doorbell]: the doorbell button, on a GPIO line.
void readDoorbell(Diagnostics& diags, FieldReader& camera, const std::string& cameraId,
                  DoorbellConfig& doorbell) {
    const toml::table* t = camera.table("doorbell", "[camera.doorbell]");
    if (!t)
        return;
    FieldReader r(diags, *t, camera.prefix() + "doorbell.",
                  "in [camera.doorbell]" + ofCamera(cameraId));
    constexpr std::string_view kChipRequirement =
        "a GPIO chip name such as \"gpiochip0\" or its path such as \"/dev/gpiochip0\", as "
        "`gpiodetect` lists them";
    if (const toml::node* n = r.node("chip")) {
        const auto* s = n->as_string();
        if (s && isGpioChip(s->get())) {
            doorbell.chip = s->get();
        } else {
            std::string hint;
            if (const auto* i = n->as_integer(); i && i->get() >= 0 && i->get() <= 9999)
                hint = "; for chip " + std::to_string(i->get()) + " write \"gpiochip" +
                       std::to_string(i->get()) + "\"";
            r.invalid("chip", *n, kChipRequirement, hint);
        }
    } else {
        r.missing("chip", "the GPIO chip the button is wired to: " + std::string(kChipRequirement));
    }
    const std::string lineRequirement =
        "the button's line offset on the chip, an integer from 0 to " +
        std::to_string(kMaxGpioLine) + " (`gpioinfo` lists them)";
    if (r.node("line")) {
        if (auto v = r.integer("line", 0, kMaxGpioLine))
            doorbell.line = static_cast<int>(*v);
    } else {
        r.missing("line", lineRequirement);
    }
    if (auto v = r.boolean("active_low"))
        doorbell.activeLow = *v;
    if (auto v = r.integer("debounce_ms", 0, kMaxDebounceMs))
        doorbell.debounceMs = static_cast<int>(*v);
    r.checkKeys(kDoorbellKeys);
}

CameraConfig readCamera(Diagnostics& diags, const toml::table& table) {
    CameraConfig cam;
    cam.location = locationOf(table.source());

    // The id names the camera in every later message, so it comes first.
    std::string prefix = "camera: ";
    std::string where = "in [[camera]]";
    {
        FieldReader idReader(diags, table, "camera ", where);
        if (!table.contains("id"))
            idReader.missing("id", "a unique name for the camera, such as \"door\"");
        else if (auto id = idReader.string(
                     "id", "a string of 1 to 32 characters from a-z, 0-9, _ and -", isCameraId)) {
            cam.id = *id;
            prefix = "camera " + quote(*id) + ": ";
            where += " " + quote(*id);
        }
    }
    FieldReader r(diags, table, prefix, where);

    // With a bad source we cannot tell which keys apply; check each key's
    // value anyway, but say nothing about applicability.
    bool sourceKnown = true;
    if (auto i = r.oneOf("source", kSourceNames))
        cam.source = kSourceKinds[*i];
    else if (table.contains("source"))
        sourceKnown = false;
    if (auto i = r.oneOf("mode", kModeNames))
        cam.mode = kModes[*i];

    const toml::node* sourceNode = table.get("source");
    std::vector<std::string_view> applicable;
    for (const CameraKey& k : kCameraKeys)
        if (!sourceKnown || (k.sources & sourceBit(cam.source)))
            applicable.push_back(k.name);
    auto applies = [&](std::string_view key) {
        return std::find(applicable.begin(), applicable.end(), key) != applicable.end();
    };
    if (sourceKnown) {
        for (auto&& [key, value] : table) {
            const CameraKey* spec = findCameraKey(key.str());
            if (!spec || applies(spec->name))
                continue;
            std::string msg = prefix + std::string(key.str()) + " does not apply to source " +
                              quote(sourceKindName(cam.source));
            if (!sourceNode)
                msg += ", the default";
            else if (sourceFile(sourceNode->source()) != sourceFile(key.source()))
                // Merged from another file: say where the source was set.
                msg += " (set at " + formatLocation(locationOf(sourceNode->source())) + ")";
            diags.add(key.source(), msg + ": " + notApplicableReason(*spec, cam.source));
        }
    }

    if (applies("pattern"))
        if (auto i = r.oneOf("pattern", kPatterns))
            cam.pattern = std::string(kPatterns[*i]);

    if (applies("camera")) {
        if (const toml::node* n = r.node("camera")) {
            const auto* s = n->as_string();
            const auto* i = n->as_integer();
            if (s && !s->get().empty())
                cam.libcameraId = s->get();
            else if (i && i->get() >= 0 && i->get() <= INT_MAX)
                cam.libcameraIndex = static_cast<int>(i->get());
            else
                r.invalid("camera", *n,
                          "a libcamera camera id (a string, as `cam --list` shows it) or the "
                          "camera's index (an integer from 0)");
        }
    }

    if (applies("device"))
        if (auto v = r.string("device", "an absolute path such as \"/dev/video0\"",
                              [](std::string_view s) { return s.starts_with('/'); }))
            cam.device = *v;

    if (applies("url")) {
        if (auto v = r.string("url", "an rtsp:// or rtsps:// URL", isRtspUrl))
            cam.url = *v;
        else if (sourceKnown && !table.contains("url"))
            r.missing("url", "an rtsp camera needs the rtsp:// or rtsps:// URL of its stream");
    }
    if (applies("transport"))
        if (auto i = r.oneOf("transport", kTransports))
            cam.rtspTransport = kTransports[*i];
    // A transcode setting that is there but bad is reported as such, and the
    // masks are not reported again for the lack of it.
    bool transcodeBad = false;
    if (applies("transcode")) {
        if (auto v = r.boolean("transcode"))
            cam.transcode = *v;
        else
            transcodeBad = table.contains("transcode");
    }

    if (applies("path")) {
        if (auto v = r.string("path", "a non-empty path to a video file",
                              [](std::string_view s) { return !s.empty(); })) {
            // The daemon runs from /, so a relative path is taken relative to
            // the file that names it, as the owner would read it.
            std::filesystem::path p(*v);
            if (p.is_relative()) {
                std::filesystem::path dir =
                    std::filesystem::path(sourceFile(r.node("path")->source())).parent_path();
                p = dir / p;
            }
            cam.path = p.string();
        } else if (sourceKnown && !table.contains("path")) {
            r.missing("path", "a file camera needs the path of a video file to play");
        }
    }

    if (applies("width"))
        if (auto v = r.integer("width", 16, 7680, true))
            cam.width = static_cast<int>(*v);
    if (applies("height"))
        if (auto v = r.integer("height", 16, 4320, true))
            cam.height = static_cast<int>(*v);
    if (applies("framerate"))
        if (auto v = r.integer("framerate", 1, 120))
            cam.framerate = static_cast<int>(*v);
    if (applies("bitrate")) {
        if (const toml::node* n = r.node("bitrate")) {
            std::optional<int64_t> bits;
            if (const auto* i = n->as_integer())
                bits = i->get();
            if (const auto* s = n->as_string())
                bits = parseBitrate(s->get());
            if (bits && *bits >= kMinBitrate && *bits <= kMaxBitrate)
                cam.bitrate = *bits;
            else
                r.invalid("bitrate", *n,
                          "from 64k to 50M bits per second, written as an integer or as a "
                          "string such as \"2M\", \"2500k\" or \"4Mbit\"");
        }
    }
    if (applies("keyframe_interval"))
        if (auto v = r.number("keyframe_interval", 0.2, 10, "seconds"))
            cam.keyframeInterval = *v;
    if (auto v = r.number("pre_roll_seconds", 0, kMaxPreRollSeconds, "seconds"))
        cam.preRollSeconds = *v;
    if (auto v = r.number("post_roll_seconds", 0, kMaxPostRollSeconds, "seconds"))
        cam.postRollSeconds = *v;

    readMasks(diags, r, cam.id, cam.masks);
    const toml::array* maskArray = table.get_as<toml::array>("mask");
    if (sourceKnown && cam.source == SourceKind::Rtsp && !cam.transcode && !transcodeBad &&
        maskArray && !maskArray->empty()) {
        std::string msg = prefix +
                          "[[camera.mask]] needs transcode = true on an rtsp camera: rtsp passes "
                          "the camera's stream through untouched, so masked pixels would still be "
                          "in the recording; set transcode = true to decode, mask and re-encode "
                          "it, which costs CPU (roughly a core for 1080p)";
        if (const toml::node* n = table.get("transcode"))
            msg += " (transcode = false is set at " + formatLocation(locationOf(n->source())) + ")";
        diags.add((*maskArray)[0].source(), msg);
    }
    readMotion(diags, r, cam.id, cam.motion);
    readDoorbell(diags, r, cam.id, cam.doorbell);
    readRetention(diags, r, cam.id, cam.retention);

    std::vector<std::string_view> known;
    for (const CameraKey& k : kCameraKeys)
        known.push_back(k.name);
    std::string label = "allowed";
    if (sourceKnown)
        label += " for source " + quote(sourceKindName(cam.source));
    r.checkKeys(known, applicable, label);
    return cam;
}

void readCameras(Diagnostics& diags, FieldReader& top, std::vector<CameraConfig>& cameras) {
    const toml::node* n = top.node("camera");
    if (!n)
        return;
    const toml::array* array = n->as_array();
    if (!array) {
        top.invalid("camera", *n, "an array of tables, written [[camera]]");
        return;
    }
    for (const toml::node& element : *array) {
        if (const toml::table* t = element.as_table())
            cameras.push_back(readCamera(diags, *t));
        else
            diags.add(element.source(),
                      "each camera must be a table, written [[camera]], got " + describe(element));
    }
}

/// [storage] min_free: a percentage of the filesystem ("5%") or a size.
void readMinFree(FieldReader& r, const toml::node& n, MinFree& minFree) {
    if (const auto* s = n.as_string(); s && s->get().find('%') != std::string::npos) {
        if (auto p = parsePercent(s->get()); p && *p > 0 && *p < 100) {
            minFree = MinFree{std::nullopt, *p};
            return;
        }
    } else if (auto bytes = sizeOf(n); bytes && *bytes >= kMinSize && *bytes <= kMaxSize) {
        minFree = MinFree{*bytes, MinFree{}.percent};
        return;
    }
    // A small integer is most likely a percentage without its "%".
    std::string hint;
    if (const auto* i = n.as_integer(); i && i->get() > 0 && i->get() < 100)
        hint = "; for " + std::to_string(i->get()) + " percent write \"" +
               std::to_string(i->get()) + "%\"";
    r.invalid("min_free", n,
              "a percentage of the filesystem above 0% and below 100%, such as \"5%\" or "
              "\"2.5%\", or " +
                  sizeRequirement(),
              hint);
}

void readStorage(Diagnostics& diags, FieldReader& top, StorageConfig& storage) {
    const toml::table* t = top.table("storage", "[storage]");
    if (!t)
        return;
    FieldReader r(diags, *t, "storage.", "in [storage]");
    if (auto v = r.number("segment_seconds", 10, 3600, "seconds"))
        storage.segmentSeconds = *v;
    if (const toml::node* n = r.node("min_free"))
        readMinFree(r, *n, storage.minFree);
    r.checkKeys(kStorageKeys);
}

void readLog(Diagnostics& diags, FieldReader& top, LogConfig& log) {
    const toml::table* t = top.table("log", "[log]");
    if (!t)
        return;
    FieldReader r(diags, *t, "log.", "in [log]");
    if (auto i = r.oneOf("level", kLogLevels))
        log.level = kLogLevels[*i];
    if (const toml::table* cats = r.table("categories", "[log.categories]")) {
        FieldReader c(diags, *cats, "log.categories.", "in [log.categories]");
        for (auto&& [key, value] : *cats) {
            // Names are free-form (categories come and go with the code), but
            // must survive the "name=level" log spec they are turned into.
            if (!isName(key.str())) {
                diags.add(key.source(), "log category name " + quote(key.str()) +
                                            " must be made of a-z, 0-9, _ and -");
                continue;
            }
            if (auto i = c.oneOf(key.str(), kLogLevels))
                log.categories[std::string(key.str())] = kLogLevels[*i];
        }
    }
    r.checkKeys(kLogKeys);
}

/// "ADDR:PORT" with IPv6 in brackets, as the web server binds it, optionally
/// after "https://" (the default) or "http://" (plain HTTP, see WebConfig).
bool isListenAddress(std::string_view s) {
    for (std::string_view scheme : {"https://", "http://"}) {
        if (s.starts_with(scheme)) {
            s.remove_prefix(scheme.size());
            break;
        }
    }
    size_t colon = s.rfind(':');
    if (colon == std::string_view::npos || colon + 1 == s.size())
        return false;
    std::string_view host = s.substr(0, colon);
    std::string_view port = s.substr(colon + 1);
    unsigned value = 0;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (ec != std::errc() || end != port.data() + port.size() || value > 65535)
        return false;
    bool bracketed = host.size() >= 2 && host.front() == '[' && host.back() == ']';
    if (bracketed)
        host = host.substr(1, host.size() - 2);
    boost::system::error_code error;
    boost::asio::ip::address address = boost::asio::ip::make_address(std::string(host), error);
    // Brackets exactly when IPv6, so that "::1:80" cannot be misread.
    return !error && address.is_v6() == bracketed;
}

bool isAbsolutePath(std::string_view s) {
    return !s.empty() && s.front() == '/';
}

void readWeb(Diagnostics& diags, FieldReader& top, WebConfig& web) {
    const toml::table* t = top.table("web", "[web]");
    if (!t)
        return;
    FieldReader r(diags, *t, "web.", "in [web]");
    if (const toml::node* n = r.node("listen")) {
        constexpr std::string_view requirement =
            "an array of \"ADDRESS:PORT\" strings, such as [\"0.0.0.0:8443\", "
            "\"[::]:8443\"] (IPv6 addresses in brackets, port 0 to 65535)";
        const toml::array* a = n->as_array();
        if (!a || a->empty()) {
            r.invalid("listen", *n, requirement);
        } else {
            std::vector<std::string> listen;
            bool ok = true;
            for (const toml::node& element : *a) {
                const auto* s = element.as_string();
                if (s && isListenAddress(s->get())) {
                    listen.push_back(s->get());
                    continue;
                }
                ok = false;
                diags.add(element.source(),
                          "each web.listen entry must be \"ADDRESS:PORT\" "
                          "with IPv6 addresses in brackets (\"[::]:8443\") "
                          "and a port from 0 to 65535, got " +
                              describe(element));
            }
            if (ok)
                web.listen = std::move(listen);
        }
    }
    if (auto v = r.boolean("plain_http"))
        web.plainHttp = *v;
    constexpr std::string_view pathRequirement = "an absolute path to a PEM file";
    if (auto v = r.string("certificate", pathRequirement, isAbsolutePath))
        web.certificate = *v;
    if (auto v = r.string("key", pathRequirement, isAbsolutePath))
        web.key = *v;
    // One without the other would serve a certificate that does not match its key.
    if (r.node("certificate") && !r.node("key"))
        r.missing("key", "the private key of web.certificate, as an absolute path");
    if (r.node("key") && !r.node("certificate"))
        r.missing("certificate", "the certificate of web.key, as an absolute path");
    if (auto v = r.integer("session_idle_minutes", 1, 1440))
        web.sessionIdleMinutes = static_cast<int>(*v);
    if (auto v = r.integer("session_max_hours", 1, 168))
        web.sessionMaxHours = static_cast<int>(*v);
    r.checkKeys(kWebKeys);
}

Config readConfig(Diagnostics& diags, const toml::table& root) {
    Config config;
    FieldReader top(diags, root, "", "at the top level");
    readCameras(diags, top, config.cameras);
    readStorage(diags, top, config.storage);
    readLog(diags, top, config.log);
    readWeb(diags, top, config.web);
    top.checkKeys(kTopKeys);
    return config;
}

std::optional<std::string> cameraId(const toml::table& camera) {
    if (const auto* s = camera.get_as<std::string>("id"))
        return s->get();
    return std::nullopt;
}

/// Later wins: tables merge key by key, anything else is replaced whole.
void mergeTables(toml::table& into, toml::table&& from) {
    for (auto&& [key, value] : from) {
        toml::node* existing = into.get(key.str());
        if (existing && existing->is_table() && value.is_table()) {
            mergeTables(*existing->as_table(), std::move(*value.as_table()));
            continue;
        }
        // Erase first so that the key, whose position unknown-key messages
        // use, comes from the later file together with its value.
        into.erase(key.str());
        into.insert(key, std::move(value));
    }
}

/// Reports a second [[camera]] with the same id in one file; returns which
/// elements are such repeats, so they are not merged into the first.
std::vector<bool> findDuplicateIds(const toml::array& cameras, Diagnostics& diags) {
    std::vector<bool> duplicate(cameras.size(), false);
    std::map<std::string, const toml::table*, std::less<>> seen;
    for (size_t i = 0; i < cameras.size(); ++i) {
        const toml::table* t = cameras[i].as_table();
        if (!t)
            continue;
        auto id = cameraId(*t);
        if (!id)
            continue;
        auto [it, inserted] = seen.emplace(*id, t);
        if (inserted)
            continue;
        duplicate[i] = true;
        SourceLocation first = locationOf(it->second->source());
        diags.add(t->get("id")->source(),
                  "duplicate camera id " + quote(*id) + ": the [[camera]] at " +
                      formatLocation(first) +
                      " already has it; ids must be unique within a file (to change a camera "
                      "from an earlier file, repeat its id in a drop-in)");
    }
    return duplicate;
}

/// Merges one parsed file into the configuration built so far. A [[camera]]
/// whose id names a camera from an earlier file updates that camera; any
/// other [[camera]] is added.
void mergeDocument(toml::table& merged, toml::table&& doc, Diagnostics& diags) {
    if (toml::array* incoming = doc.get_as<toml::array>("camera")) {
        std::vector<bool> duplicate = findDuplicateIds(*incoming, diags);
        if (toml::array* existing = merged.get_as<toml::array>("camera")) {
            // Index before adding this file's cameras, so that two cameras
            // of one file never merge into each other.
            std::map<std::string, toml::table*, std::less<>> byId;
            for (toml::node& n : *existing)
                if (toml::table* t = n.as_table())
                    if (auto id = cameraId(*t))
                        byId.emplace(*id, t);
            for (size_t i = 0; i < incoming->size(); ++i) {
                toml::node& n = (*incoming)[i];
                if (toml::table* t = n.as_table(); t && !duplicate[i]) {
                    if (auto id = cameraId(*t)) {
                        if (auto it = byId.find(*id); it != byId.end()) {
                            mergeTables(*it->second, std::move(*t));
                            continue;
                        }
                    }
                }
                existing->push_back(std::move(n));
            }
            doc.erase("camera");
        }
    }
    mergeTables(merged, std::move(doc));
}

/// Sorts by file (in reading order), then line and column, so the owner can
/// fix the files top to bottom.
void sortDiagnostics(std::vector<ConfigDiagnostic>& list, const std::vector<std::string>& order) {
    auto rank = [&](const std::string& file) {
        auto it = std::find(order.begin(), order.end(), file);
        return static_cast<size_t>(it - order.begin());
    };
    std::stable_sort(
        list.begin(), list.end(), [&](const ConfigDiagnostic& a, const ConfigDiagnostic& b) {
            auto ka = std::tuple(rank(a.location.file), a.location.line, a.location.column);
            auto kb = std::tuple(rank(b.location.file), b.location.line, b.location.column);
            return ka < kb;
        });
}

/// The core of parseConfig() and loadConfig(). \a order lists every file
/// considered, including any that could not be read, for sorting messages.
/// The owner's settings file may only touch what the web UI manages, and only
/// cameras the configuration files have. When the files name no camera at all
/// (the daemon picks them), its cameras are taken whole: the page wrote each
/// one's source along with the settings.
void filterOwnerSettings(const toml::table& merged, toml::table& doc,
                         std::vector<std::string>& ignored) {
    static constexpr std::string_view kManaged[] = {"id", "mode", "mask", "motion", "doorbell"};
    std::vector<std::string> otherKeys;
    for (auto&& [key, value] : doc)
        if (key.str() != "camera")
            otherKeys.emplace_back(key.str());
    for (const auto& k : otherKeys) {
        doc.erase(k);
        ignored.push_back("[" + k + "]");
    }
    const toml::array* known = merged.get_as<toml::array>("camera");
    toml::array* cameras = doc.get_as<toml::array>("camera");
    if (!cameras || !known || known->empty())
        return;
    std::set<std::string, std::less<>> ids;
    for (const toml::node& n : *known)
        if (const toml::table* t = n.as_table())
            if (auto id = cameraId(*t))
                ids.insert(*id);
    toml::array kept;
    for (toml::node& n : *cameras) {
        toml::table* t = n.as_table();
        auto id = t ? cameraId(*t) : std::nullopt;
        if (!id || !ids.count(*id)) {
            ignored.push_back("camera " + (id ? quote(*id) : std::string("without id")));
            continue;
        }
        std::vector<std::string> drop;
        for (auto&& [key, value] : *t)
            if (std::find(std::begin(kManaged), std::end(kManaged), key.str()) ==
                std::end(kManaged))
                drop.emplace_back(key.str());
        for (const auto& k : drop)
            t->erase(k);
        kept.push_back(std::move(*t));
    }
    *cameras = std::move(kept);
}

ConfigResult evaluate(const Documents& documents, Diagnostics& diags,
                      const std::vector<std::string>& order, const Document* ownerSettings) {
    toml::table merged;
    std::vector<std::string> files;
    std::vector<std::string> ignored;
    auto add = [&](const std::string& name, const std::string& text, bool owner) {
        files.push_back(name);
        try {
            toml::table doc = toml::parse(text, std::string_view{name});
            if (owner)
                filterOwnerSettings(merged, doc, ignored);
            mergeDocument(merged, std::move(doc), diags);
        } catch (const toml::parse_error& e) {
            SourceLocation where = locationOf(e.source());
            if (where.file.empty())
                where.file = name;
            diags.add(where, "invalid TOML: " + std::string(e.description()));
        }
    };
    for (const auto& [name, text] : documents)
        add(name, text, false);
    if (ownerSettings)
        add(ownerSettings->first, ownerSettings->second, true);

    Config config = readConfig(diags, merged);
    config.files = std::move(files);
    config.ignoredSettings = std::move(ignored);

    ConfigResult result;
    if (diags.empty())
        result.config = std::move(config);
    else
        sortDiagnostics(diags.list(), order);
    result.diagnostics = std::move(diags.list());
    return result;
}

/// configFilesFor(), reporting what stops a file or the drop-in directory
/// from being listed (a missing one is fine).
std::vector<std::filesystem::path> listConfigFiles(const std::filesystem::path& mainFile,
                                                   Diagnostics* diags) {
    std::vector<std::filesystem::path> files;
    // lstat, so that a dangling symlink is reported when read rather than
    // silently taken for "no file".
    struct stat st;
    if (::lstat(mainFile.c_str(), &st) == 0 || (errno != ENOENT && errno != ENOTDIR))
        files.push_back(mainFile);

    std::filesystem::path dir = mainFile.parent_path() / kDropInDir;
    std::error_code ec;
    std::filesystem::directory_iterator it(dir, ec);
    if (ec) {
        if (ec != std::errc::no_such_file_or_directory && ec != std::errc::not_a_directory && diags)
            diags->add(SourceLocation{dir.string(), 0, 0},
                       "cannot read the drop-in directory: " + ec.message());
        return files;
    }
    std::vector<std::filesystem::path> dropIns;
    for (; it != std::filesystem::directory_iterator(); it.increment(ec)) {
        std::string name = it->path().filename().string();
        // Hidden names are editors' and package managers' temporaries.
        if (name.starts_with('.') || !name.ends_with(".toml"))
            continue;
        std::error_code typeEc;
        if (it->is_directory(typeEc))
            continue;
        dropIns.push_back(it->path());
    }
    if (ec && diags)
        diags->add(SourceLocation{dir.string(), 0, 0},
                   "cannot read the drop-in directory: " + ec.message());
    std::sort(dropIns.begin(), dropIns.end(), [](const auto& a, const auto& b) {
        return a.filename().string() < b.filename().string();
    });
    files.insert(files.end(), dropIns.begin(), dropIns.end());
    return files;
}

/// The whole file, or an error message saying why not.
std::optional<std::string> readFile(const std::filesystem::path& path, std::string& error) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        error = std::strerror(errno);
        return std::nullopt;
    }
    std::string text;
    struct stat st;
    if (::fstat(fd, &st) != 0) {
        error = std::strerror(errno);
    } else if (S_ISDIR(st.st_mode)) {
        error = std::strerror(EISDIR);
    } else if (st.st_size > kMaxFileSize) {
        error = "larger than 1 MiB; this is not a configuration file";
    } else {
        char buf[16384];
        for (;;) {
            ssize_t n = ::read(fd, buf, sizeof buf);
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0) {
                error = std::strerror(errno);
                break;
            }
            if (n == 0)
                break;
            text.append(buf, static_cast<size_t>(n));
            if (text.size() > static_cast<size_t>(kMaxFileSize)) {
                error = "larger than 1 MiB; this is not a configuration file";
                break;
            }
        }
    }
    ::close(fd);
    if (!error.empty())
        return std::nullopt;
    return text;
}

ConfigResult internalError(const std::string& where, const std::exception& e) {
    ConfigResult result;
    result.diagnostics.push_back(ConfigDiagnostic{
        SourceLocation{where, 0, 0}, std::string("cannot load the configuration: ") + e.what()});
    return result;
}

}  // namespace

std::vector<std::filesystem::path> configFilesFor(const std::filesystem::path& mainFile) {
    try {
        return listConfigFiles(mainFile, nullptr);
    } catch (const std::exception&) {
        // Only allocation can throw here; loadConfig() reports it properly.
        return {};
    }
}

ConfigResult loadConfig(const std::filesystem::path& mainFile) {
    return loadConfig(mainFile, std::nullopt);
}

ConfigResult loadConfig(const std::filesystem::path& mainFile,
                        const std::optional<std::pair<std::string, std::string>>& ownerSettings) {
    try {
        Diagnostics diags;
        Documents documents;
        std::vector<std::string> order;
        if (!mainFile.empty())
            for (const std::filesystem::path& file : listConfigFiles(mainFile, &diags)) {
                order.push_back(file.string());
                std::string error;
                if (auto text = readFile(file, error))
                    documents.emplace_back(file.string(), std::move(*text));
                else
                    diags.add(SourceLocation{file.string(), 0, 0}, "cannot read: " + error);
            }
        if (ownerSettings)
            order.push_back(ownerSettings->first);
        return evaluate(documents, diags, order, ownerSettings ? &*ownerSettings : nullptr);
    } catch (const std::exception& e) {
        return internalError(mainFile.string(), e);
    }
}

ConfigResult parseConfig(const std::vector<std::pair<std::string, std::string>>& documents) {
    try {
        Diagnostics diags;
        std::vector<std::string> order;
        for (const auto& doc : documents)
            order.push_back(doc.first);
        return evaluate(documents, diags, order, nullptr);
    } catch (const std::exception& e) {
        return internalError(documents.empty() ? std::string() : documents.front().first, e);
    }
}

}  // namespace porchlight
