// porchlightctl without the bus: see ctl.h.
#include "ctl.h"

#include <time.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <sstream>

#include "config.h"

namespace porchlight::ctl {

namespace {

constexpr int64_t kSecond = 1'000'000;
constexpr int64_t kMinute = 60 * kSecond;
constexpr int64_t kHour = 60 * kMinute;
constexpr int64_t kDay = 24 * kHour;

// The server refuses the same; checking here too turns a round trip into a
// usage error that names the option.
constexpr double kMaxDays = 3650;
constexpr uint64_t kMinBytes = 65536;

std::string quote(std::string_view s) {
    return "\"" + std::string(s) + "\"";
}

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out)
        if (c >= 'A' && c <= 'Z')
            c = static_cast<char>(c - 'A' + 'a');
    return out;
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
        s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
        s.remove_suffix(1);
    return s;
}

bool isDigit(char c) {
    return c >= '0' && c <= '9';
}

std::string printf1(const char* format, double value) {
    char buf[64];
    std::snprintf(buf, sizeof buf, format, value);
    return buf;
}

/// A plain decimal number, the whole of \a text ("2", "0.5"); no exponents,
/// signs or "inf", which no one means on a command line.
std::optional<double> parseDecimal(std::string_view text) {
    if (text.empty())
        return std::nullopt;
    bool digits = false;
    bool dot = false;
    for (char c : text) {
        if (isDigit(c))
            digits = true;
        else if (c == '.' && !dot)
            dot = true;
        else
            return std::nullopt;
    }
    if (!digits)
        return std::nullopt;
    return std::strtod(std::string(text).c_str(), nullptr);
}

/// Parse exactly \a count digits at \a pos, advancing it.
bool readDigits(std::string_view s, size_t& pos, int count, int& out) {
    if (pos + count > s.size())
        return false;
    out = 0;
    for (int i = 0; i < count; ++i) {
        if (!isDigit(s[pos + i]))
            return false;
        out = out * 10 + (s[pos + i] - '0');
    }
    pos += count;
    return true;
}

std::optional<int64_t> localMidnight(int64_t nowUs, int daysBack) {
    time_t now = static_cast<time_t>(nowUs / kSecond);
    struct tm tm {};
    if (!localtime_r(&now, &tm))
        return std::nullopt;
    tm.tm_hour = 0;
    tm.tm_min = 0;
    tm.tm_sec = 0;
    tm.tm_mday -= daysBack;  // mktime normalizes, across months and DST changes
    tm.tm_isdst = -1;
    time_t t = mktime(&tm);
    if (t == static_cast<time_t>(-1))
        return std::nullopt;
    return static_cast<int64_t>(t) * kSecond;
}

std::optional<int64_t> parseIso8601(std::string_view s) {
    size_t pos = 0;
    int year, month, day, hour = 0, minute = 0, second = 0;
    if (!readDigits(s, pos, 4, year) || pos >= s.size() || s[pos++] != '-' ||
        !readDigits(s, pos, 2, month) || pos >= s.size() || s[pos++] != '-' ||
        !readDigits(s, pos, 2, day))
        return std::nullopt;
    int64_t fractionUs = 0;
    if (pos < s.size() && (s[pos] == 'T' || s[pos] == 't' || s[pos] == ' ')) {
        ++pos;
        if (!readDigits(s, pos, 2, hour) || pos >= s.size() || s[pos++] != ':' ||
            !readDigits(s, pos, 2, minute))
            return std::nullopt;
        if (pos < s.size() && s[pos] == ':') {
            ++pos;
            if (!readDigits(s, pos, 2, second))
                return std::nullopt;
            if (pos < s.size() && (s[pos] == '.' || s[pos] == ',')) {
                ++pos;
                int64_t scale = 100'000;
                const size_t start = pos;
                for (; pos < s.size() && isDigit(s[pos]); ++pos) {
                    fractionUs += (s[pos] - '0') * scale;
                    scale /= 10;
                }
                if (pos == start)
                    return std::nullopt;
            }
        }
    }
    std::optional<int> offsetMinutes;
    if (pos < s.size()) {
        const char c = s[pos];
        if ((c == 'Z' || c == 'z') && pos + 1 == s.size()) {
            offsetMinutes = 0;
            ++pos;
        } else if (c == '+' || c == '-') {
            ++pos;
            int oh = 0, om = 0;
            if (!readDigits(s, pos, 2, oh))
                return std::nullopt;
            if (pos < s.size() && s[pos] == ':')
                ++pos;
            if (pos < s.size() && !readDigits(s, pos, 2, om))
                return std::nullopt;
            if (oh > 23 || om > 59)
                return std::nullopt;
            offsetMinutes = (c == '-' ? -1 : 1) * (oh * 60 + om);
        }
    }
    if (pos != s.size())
        return std::nullopt;

    using namespace std::chrono;
    const year_month_day ymd{std::chrono::year(year), std::chrono::month(month),
                             std::chrono::day(day)};
    if (!ymd.ok() || hour > 23 || minute > 59 || second > 59)
        return std::nullopt;
    if (offsetMinutes) {
        const auto t = sys_days(ymd) + hours(hour) + minutes(minute) + seconds(second) -
                       minutes(*offsetMinutes);
        return duration_cast<microseconds>(t.time_since_epoch()).count() + fractionUs;
    }
    struct tm tm {};
    tm.tm_year = year - 1900;
    tm.tm_mon = month - 1;
    tm.tm_mday = day;
    tm.tm_hour = hour;
    tm.tm_min = minute;
    tm.tm_sec = second;
    tm.tm_isdst = -1;  // whatever is in force on that date
    const time_t t = mktime(&tm);
    if (t == static_cast<time_t>(-1))
        return std::nullopt;
    return static_cast<int64_t>(t) * kSecond + fractionUs;
}

/// "2h", "30min", "1h 30min", "2 days ago": the span, in µs.
std::optional<int64_t> parseSpan(std::string_view s) {
    static constexpr std::pair<std::string_view, int64_t> kUnits[] = {
        {"s", kSecond},       {"sec", kSecond},     {"secs", kSecond}, {"second", kSecond},
        {"seconds", kSecond}, {"m", kMinute},       {"min", kMinute},  {"mins", kMinute},
        {"minute", kMinute},  {"minutes", kMinute}, {"h", kHour},      {"hr", kHour},
        {"hrs", kHour},       {"hour", kHour},      {"hours", kHour},  {"d", kDay},
        {"day", kDay},        {"days", kDay},       {"w", 7 * kDay},   {"week", 7 * kDay},
        {"weeks", 7 * kDay},
    };
    std::string text = lower(trim(s));
    if (text.size() > 4 && text.compare(text.size() - 4, 4, " ago") == 0)
        text = std::string(trim(std::string_view(text).substr(0, text.size() - 4)));
    std::string_view rest = text;
    double total = 0;
    bool any = false;
    while (!(rest = trim(rest)).empty()) {
        size_t n = 0;
        while (n < rest.size() && (isDigit(rest[n]) || rest[n] == '.'))
            ++n;
        auto value = parseDecimal(rest.substr(0, n));
        if (!value)
            return std::nullopt;
        rest = trim(rest.substr(n));
        size_t u = 0;
        while (u < rest.size() && rest[u] >= 'a' && rest[u] <= 'z')
            ++u;
        const std::string_view unit = rest.substr(0, u);
        const auto* found = std::find_if(std::begin(kUnits), std::end(kUnits),
                                         [&](const auto& e) { return e.first == unit; });
        // A bare number is refused: seconds to some, minutes or days to others.
        if (found == std::end(kUnits))
            return std::nullopt;
        total += *value * static_cast<double>(found->second);
        rest = rest.substr(u);
        any = true;
    }
    // A century is past anything recorded; more is a typo, not a question.
    if (!any || total > 100.0 * 366 * kDay)
        return std::nullopt;
    return static_cast<int64_t>(std::llround(total));
}

std::optional<double> parseDays(std::string_view text, std::string& error) {
    if (lower(text) == "none")
        return 0.0;
    auto days = parseDecimal(text);
    if (!days) {
        // "-1" and "0" deserve the rule, not a lecture on number syntax.
        auto negative =
            text.size() > 1 && text[0] == '-' ? parseDecimal(text.substr(1)) : std::nullopt;
        error = negative ? "invalid retention: days must be > 0 (--days none removes the limit)"
                         : "invalid retention: --days takes a number of days (\"7\", \"0.5\") or "
                           "none, not " +
                               quote(text);
        return std::nullopt;
    }
    if (*days <= 0) {
        error = "invalid retention: days must be > 0 (--days none removes the limit)";
        return std::nullopt;
    }
    if (*days > kMaxDays) {
        error = "invalid retention: days must be at most 3650";
        return std::nullopt;
    }
    return days;
}

std::optional<uint64_t> parseBytes(std::string_view text, std::string& error) {
    if (lower(text) == "none")
        return uint64_t{0};
    auto bytes = parseSize(text);
    if (!bytes) {
        error =
            "invalid retention: --bytes takes a size (\"50GiB\", \"500MB\", \"1.5 TiB\", a number "
            "of bytes) or none, not " +
            quote(text);
        return std::nullopt;
    }
    if (*bytes == 0) {
        error = "invalid retention: bytes must be > 0 (--bytes none removes the limit)";
        return std::nullopt;
    }
    if (*bytes < kMinBytes) {
        error = "invalid retention: bytes must be at least 64 KiB";
        return std::nullopt;
    }
    return bytes;
}

struct VerbInfo {
    std::string_view name;
    Verb verb;
    int minArgs;
    int maxArgs;
    std::string_view synopsis;
};

constexpr VerbInfo kVerbs[] = {
    {"status", Verb::Status, 0, 0, "status"},
    {"cameras", Verb::Cameras, 0, 0, "cameras"},
    {"retention", Verb::Retention, 1, 1, "retention CAMERA [--days N|none] [--bytes SIZE|none]"},
    {"recordings", Verb::Recordings, 1, 1, "recordings CAMERA [--since T] [--until T]"},
    {"events", Verb::Events, 0, 1, "events [CAMERA] [--since T] [--until T]"},
    {"ring", Verb::Ring, 1, 1, "ring CAMERA"},
    {"reload", Verb::Reload, 0, 0, "reload"},
    {"setup-code", Verb::SetupCode, 0, 0, "setup-code"},
    {"help", Verb::Help, 0, 0, "help"},
};

ParseResult usageError(std::string message) {
    return ParseResult{std::nullopt, UsageError{std::move(message)}};
}

std::string timeHelp(const std::string& option, std::string_view value) {
    return option +
           " takes a time such as 2026-11-29T14:05:00Z, \"2026-11-29 14:05\" (local), "
           "@1764425100, 2h, 30min, today or yesterday; not " +
           quote(value);
}

}  // namespace

ParseResult parseArguments(const std::vector<std::string>& args, int64_t nowUs) {
    Command c;
    std::vector<std::string> positional;
    std::optional<std::string> days, bytes, since, until;
    bool help = false, version = false;
    std::optional<std::string> firstError;
    auto fail = [&](std::string message) {
        if (!firstError)
            firstError = std::move(message);
    };

    bool optionsEnded = false;
    for (size_t i = 0; i < args.size(); ++i) {
        const std::string& a = args[i];
        if (optionsEnded || a.empty() || a[0] != '-' || a == "-") {
            positional.push_back(a);
            continue;
        }
        if (a == "--") {
            optionsEnded = true;
            continue;
        }
        std::string name = a;
        std::optional<std::string> inlineValue;
        if (size_t eq = a.find('='); a.rfind("--", 0) == 0 && eq != std::string::npos) {
            name = a.substr(0, eq);
            inlineValue = a.substr(eq + 1);
        }
        auto takeValue = [&](std::optional<std::string>& into) {
            if (inlineValue)
                into = *inlineValue;
            else if (i + 1 < args.size())
                into = args[++i];
            else
                fail(name + " needs a value");
        };
        auto flag = [&](bool& into) {
            if (inlineValue)
                fail(name + " takes no value");
            into = true;
        };
        if (name == "--help" || name == "-h")
            flag(help);
        else if (name == "--version")
            flag(version);
        else if (name == "--user")
            flag(c.user);
        else if (name == "--json")
            flag(c.json);
        else if (name == "--days")
            takeValue(days);
        else if (name == "--bytes")
            takeValue(bytes);
        else if (name == "--since")
            takeValue(since);
        else if (name == "--until")
            takeValue(until);
        else
            fail("unknown option " + quote(name) + " (see porchlightctl --help)");
    }
    // Asking for help is never an error, whatever else is on the line.
    if (help) {
        c.verb = Verb::Help;
        return ParseResult{c, {}};
    }
    if (version) {
        c.verb = Verb::Version;
        return ParseResult{c, {}};
    }
    if (firstError)
        return usageError(*firstError);

    const VerbInfo* info = &kVerbs[0];  // no command: status, as timedatectl does
    if (!positional.empty()) {
        const std::string& name = positional.front();
        info = std::find_if(std::begin(kVerbs), std::end(kVerbs),
                            [&](const VerbInfo& v) { return v.name == name; });
        if (info == std::end(kVerbs))
            return usageError("unknown command " + quote(name) + " (see porchlightctl --help)");
        positional.erase(positional.begin());
    }
    c.verb = info->verb;
    if (c.verb == Verb::Help)
        return ParseResult{c, {}};
    const std::string verbName(info->name);
    if (static_cast<int>(positional.size()) < info->minArgs)
        return usageError(verbName + " needs a CAMERA: porchlightctl " +
                          std::string(info->synopsis) + " (porchlightctl cameras lists them)");
    if (static_cast<int>(positional.size()) > info->maxArgs)
        return usageError("unexpected argument " + quote(positional[info->maxArgs]) +
                          ": porchlightctl " + std::string(info->synopsis));
    if (!positional.empty())
        c.camera = positional.front();
    if (info->maxArgs > 0 && positional.size() == 1 && c.camera.empty())
        return usageError("the camera id is empty (porchlightctl cameras lists them)");

    if ((days || bytes) && c.verb != Verb::Retention)
        return usageError(std::string(days ? "--days" : "--bytes") +
                          " is only for retention: porchlightctl " +
                          std::string(kVerbs[2].synopsis));
    if ((since || until) && c.verb != Verb::Recordings && c.verb != Verb::Events)
        return usageError(std::string(since ? "--since" : "--until") +
                          " is only for recordings and events");

    std::string error;
    if (days && !(c.days = parseDays(*days, error)))
        return usageError(error);
    if (bytes && !(c.bytes = parseBytes(*bytes, error)))
        return usageError(error);
    if (since && !(c.since = parseTime(*since, nowUs)))
        return usageError(timeHelp("--since", *since));
    if (until && !(c.until = parseTime(*until, nowUs)))
        return usageError(timeHelp("--until", *until));
    if (c.since && c.until && *c.since >= *c.until)
        return usageError("--since must be before --until");
    return ParseResult{c, {}};
}

std::string usageText() {
    return "Usage: porchlightctl [--user] [--json] COMMAND [ARGUMENTS]\n"
           "\n"
           "Shows and controls porchlightd, the Porchlight recorder, over D-Bus.\n"
           "\n"
           "Commands:\n"
           "  status                the daemon, each camera, storage, the latest events\n"
           "                        (the default)\n"
           "  cameras               the cameras and what they are doing\n"
           "  retention CAMERA      how long CAMERA's recordings are kept\n"
           "  retention CAMERA [--days N|none] [--bytes SIZE|none]\n"
           "                        change that, at once and across restarts; none removes\n"
           "                        the limit\n"
           "  recordings CAMERA [--since T] [--until T]\n"
           "                        CAMERA's recordings overlapping that time\n"
           "  events [CAMERA] [--since T] [--until T]\n"
           "                        doorbell presses and motion\n"
           "  ring CAMERA           press CAMERA's doorbell\n"
           "  reload                re-read the configuration, as SIGHUP does\n"
           "  setup-code            the code first-run setup in the web page asks for\n"
           "                        (root only)\n"
           "\n"
           "Options:\n"
           "      --user            talk to a porchlightd on the session bus\n"
           "                        (porchlightd --bus session) instead of the system bus\n"
           "      --json            print one JSON document instead of text\n"
           "  -h, --help            show this help\n"
           "      --version         show the version\n"
           "\n"
           "T is a time: 2026-11-29T14:05:00Z, \"2026-11-29 14:05\" (local time),\n"
           "@1764425100 (Unix seconds), a span meaning that long ago (90s, 30min, 2h, 1d 12h,\n"
           "1w), today or yesterday. SIZE: 50GiB, 500MB, 1.5TiB, or a number of bytes.\n"
           "\n"
           "Exit status: 0 success, 1 failure, 2 usage error.\n";
}

std::optional<int64_t> parseTime(std::string_view input, int64_t nowUs) {
    const std::string_view text = trim(input);
    if (text.empty())
        return std::nullopt;
    const std::string word = lower(text);
    if (word == "now")
        return nowUs;
    if (word == "today")
        return localMidnight(nowUs, 0);
    if (word == "yesterday")
        return localMidnight(nowUs, 1);
    if (text[0] == '@') {
        auto seconds = parseDecimal(text.substr(1));
        if (!seconds || *seconds > 1e11)
            return std::nullopt;
        return static_cast<int64_t>(std::llround(*seconds * kSecond));
    }
    if (text.size() >= 10 && isDigit(text[0]) && text[4] == '-')
        return parseIso8601(text);
    auto span = parseSpan(text);
    if (!span)
        return std::nullopt;
    return nowUs - *span;
}

std::string formatSize(uint64_t bytes) {
    if (bytes < 1024)
        return std::to_string(bytes) + " B";
    static constexpr const char* kUnits[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    double value = static_cast<double>(bytes) / 1024;
    size_t unit = 0;
    // 1023.97 KiB would print as "1024.0 KiB": move up before rounding does.
    while (value >= 1023.95 && unit + 1 < std::size(kUnits)) {
        value /= 1024;
        ++unit;
    }
    return printf1("%.1f", value) + " " + kUnits[unit];
}

std::string formatBitrate(uint64_t bps) {
    if (bps < 1000)
        return std::to_string(bps) + " bit/s";
    const double v = static_cast<double>(bps);
    if (bps < 999'500)
        return printf1("%.0f", v / 1e3) + " kbit/s";
    if (bps < 999'950'000)
        return printf1("%.1f", v / 1e6) + " Mbit/s";
    return printf1("%.1f", v / 1e9) + " Gbit/s";
}

std::string formatTime(int64_t us) {
    if (us == 0)
        return "never";
    // Floor, so that a time just before the epoch is not shown a second late.
    const time_t t = static_cast<time_t>(us >= 0 ? us / kSecond : (us - kSecond + 1) / kSecond);
    struct tm tm {};
    if (!localtime_r(&t, &tm))
        return "@" + std::to_string(t);
    char buf[64];
    std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
    return buf;
}

std::string formatRelative(int64_t us, int64_t nowUs) {
    const int64_t diff = nowUs - us;
    const int64_t span = diff < 0 ? -diff : diff;
    std::string text;
    if (span < kSecond)
        return "just now";
    if (span < kMinute) {
        text = std::to_string(span / kSecond) + " s";
    } else if (span < kHour) {
        text = std::to_string(span / kMinute) + " min";
    } else if (span < kDay) {
        text = std::to_string(span / kHour) + " h";
        if (const int64_t m = span % kHour / kMinute; m != 0 && span < 10 * kHour)
            text += " " + std::to_string(m) + " min";
    } else {
        const int64_t d = span / kDay;
        text = std::to_string(d) + (d == 1 ? " day" : " days");
    }
    return diff < 0 ? "in " + text : text + " ago";
}

std::string formatTimeAndRelative(int64_t us, int64_t nowUs) {
    if (us == 0)
        return "never";
    return formatTime(us) + " (" + formatRelative(us, nowUs) + ")";
}

std::string formatDays(double days) {
    auto number = [](double v) { return printf1("%.6g", v); };
    if (days > 0 && days < 1) {
        const double hours = days * 24;
        if (hours < 1)
            return number(hours * 60) + " min";
        return number(hours) + " h";
    }
    return number(days) + (days == 1 ? " day" : " days");
}

namespace {

std::string nameOf(uint32_t value, std::initializer_list<const char*> names) {
    if (value < names.size())
        return *(names.begin() + value);
    return "unknown (" + std::to_string(value) + ")";
}

/// Label-value rows, labels right-aligned as timedatectl does; an empty
/// label and value is a blank line between groups.
class Rows {
public:
    void add(std::string label, std::string value) {
        rows_.emplace_back(std::move(label), std::move(value));
    }
    void blank() { rows_.emplace_back("", ""); }
    std::string str() const {
        size_t width = 0;
        for (const auto& [label, value] : rows_)
            width = std::max(width, label.size());
        std::string out;
        for (const auto& [label, value] : rows_) {
            if (label.empty() && value.empty()) {
                out += "\n";
                continue;
            }
            out += std::string(width - label.size(), ' ') + label + (label.empty() ? "  " : ": ") +
                   value + "\n";
        }
        return out;
    }

private:
    std::vector<std::pair<std::string, std::string>> rows_;
};

/// Columns padded to their widest cell, two spaces apart, header first.
std::string table(const std::vector<std::vector<std::string>>& rows) {
    std::vector<size_t> widths;
    for (const auto& row : rows) {
        widths.resize(std::max(widths.size(), row.size()));
        for (size_t i = 0; i < row.size(); ++i)
            widths[i] = std::max(widths[i], row[i].size());
    }
    std::string out;
    for (const auto& row : rows) {
        std::string line;
        for (size_t i = 0; i < row.size(); ++i)
            line += row[i] + (i + 1 < row.size() ? std::string(widths[i] - row[i].size() + 2, ' ')
                                                 : std::string());
        while (!line.empty() && line.back() == ' ')
            line.pop_back();
        out += line + "\n";
    }
    return out;
}

std::string retentionSummary(const RetentionInfo& r) {
    if (!r.maxDays && !r.maxBytes)
        return "everything is kept (no limit set)";
    std::string text = r.maxDays ? formatDays(*r.maxDays) : "no age limit";
    text += ", ";
    text += r.maxBytes ? formatSize(*r.maxBytes) : "no size limit";
    if (r.source == "owner")
        text += " (set at run time)";
    else if (r.source == "config")
        text += " (from the configuration file)";
    return text;
}

std::string pictureSummary(const CameraInfo& c) {
    if (c.width == 0 || c.height == 0)
        return "no frame yet";
    return std::to_string(c.width) + "x" + std::to_string(c.height) + ", " +
           printf1("%.1f", c.framerate) + " fps, " + formatBitrate(c.bitrateBps);
}

std::string cameraStateSummary(const CameraInfo& c) {
    std::string text = cameraStateName(c.state);
    if (!c.lastError.empty())
        text += ": " + c.lastError;
    text += c.recording ? ", recording" : ", not recording";
    text += " (mode " + modeName(c.mode) + ")";
    return text;
}

Json usecOrNull(int64_t us) {
    return us == 0 ? Json(nullptr) : Json(us);
}

}  // namespace

std::string managerStateName(uint32_t state) {
    return nameOf(state, {"starting", "running", "needs-setup", "degraded", "stopping"});
}

std::string cameraStateName(uint32_t state) {
    return nameOf(state, {"starting", "streaming", "retrying", "stopped"});
}

std::string sourceName(uint32_t source) {
    return nameOf(source, {"test", "libcamera", "v4l2", "rtsp", "file"});
}

std::string modeName(uint32_t mode) {
    return nameOf(mode, {"continuous", "events", "off"});
}

std::string recordingStateName(uint32_t state) {
    return nameOf(state, {"writing", "complete", "repaired"});
}

std::string renderStatus(const StatusInfo& s, int64_t nowUs) {
    const ManagerInfo& m = s.manager;
    Rows rows;
    rows.add("Daemon", managerStateName(m.state) + " (porchlightd " + m.version + ")");
    rows.add("Owner", m.ownerConfigured ? "set up"
                                        : "not set up: nothing is recorded until the owner sets "
                                          "up in the web page (porchlightctl setup-code)");
    std::string storage =
        formatSize(m.storageUsedBytes) + " used, " + formatSize(m.storageFreeBytes) + " free";
    if (m.diskFull)
        storage += " (disk full: recording waits for space)";
    rows.add("Storage", storage);
    if (!m.lastStorageProblem.empty())
        rows.add("Storage problem", m.lastStorageProblem);
    rows.add("Oldest recording", formatTimeAndRelative(m.oldestRecording, nowUs));

    for (const CameraInfo& c : s.cameras) {
        rows.blank();
        rows.add("Camera", c.id + " (" + sourceName(c.source) + ")");
        rows.add("State", cameraStateSummary(c));
        rows.add("Picture", pictureSummary(c));
        if (auto r = s.retention.find(c.id); r != s.retention.end())
            rows.add("Retention", retentionSummary(r->second));
        rows.add("Last ring", formatTimeAndRelative(c.lastRing, nowUs));
        rows.add("Last motion", formatTimeAndRelative(c.lastMotion, nowUs));
    }
    if (s.cameras.empty()) {
        rows.blank();
        rows.add("Cameras", "none configured");
    }

    rows.blank();
    if (s.lastEvents.empty())
        rows.add("Last events", "none in the last " + std::to_string(kStatusEventsDays) + " days");
    // Newest first: the one the reader is looking for is usually the last one.
    for (auto e = s.lastEvents.rbegin(); e != s.lastEvents.rend(); ++e)
        rows.add(e == s.lastEvents.rbegin() ? "Last events" : "",
                 formatTime(e->start) + "  " + e->camera + "  " + e->kind + " (" +
                     formatRelative(e->start, nowUs) + ")");
    return rows.str();
}

std::string renderCameras(const std::vector<CameraInfo>& cameras) {
    if (cameras.empty())
        return "No cameras configured.\n";
    std::vector<std::vector<std::string>> rows{
        {"ID", "SOURCE", "MODE", "STATE", "RECORDING", "PICTURE", "FPS", "BITRATE"}};
    for (const CameraInfo& c : cameras)
        rows.push_back({c.id, sourceName(c.source), modeName(c.mode), cameraStateName(c.state),
                        c.recording ? "yes" : "no",
                        c.width ? std::to_string(c.width) + "x" + std::to_string(c.height) : "-",
                        printf1("%.1f", c.framerate), formatBitrate(c.bitrateBps)});
    return table(rows);
}

std::string renderRetention(const std::string& camera, const RetentionInfo& r) {
    Rows rows;
    rows.add("Camera", camera);
    rows.add("Max age", r.maxDays ? formatDays(*r.maxDays) : "no limit");
    rows.add("Max size", r.maxBytes ? formatSize(*r.maxBytes) : "no limit");
    std::string source = r.source;
    if (r.source == "owner")
        source += " (set at run time; wins over the configuration file)";
    else if (r.source == "config")
        source += " (the configuration file)";
    else if (r.source == "none")
        source += " (everything is kept)";
    rows.add("Set by", source);
    return rows.str();
}

std::string renderRecordings(const std::vector<RecordingInfo>& recordings) {
    if (recordings.empty())
        return "No recordings.\n";
    std::vector<std::vector<std::string>> rows{
        {"CAMERA", "SEQUENCE", "START", "END", "LENGTH", "SIZE", "STATE"}};
    uint64_t total = 0;
    for (const RecordingInfo& r : recordings) {
        std::string length = "-";
        if (r.end > r.start) {
            const int64_t s = (r.end - r.start + kSecond / 2) / kSecond;
            length = s < 60 ? std::to_string(s) + " s"
                            : std::to_string(s / 60) + " min " + std::to_string(s % 60) + " s";
        }
        std::string state = recordingStateName(r.state);
        if (r.isProtected)
            state += ", protected";
        rows.push_back({r.camera, std::to_string(r.sequence), formatTime(r.start),
                        r.end ? formatTime(r.end) : "-", length, formatSize(r.bytes), state});
        total += r.bytes;
    }
    return table(rows) + "\n" + std::to_string(recordings.size()) +
           (recordings.size() == 1 ? " recording, " : " recordings, ") + formatSize(total) + ".\n";
}

std::string renderEvents(const std::vector<EventInfo>& events) {
    if (events.empty())
        return "No events.\n";
    std::vector<std::vector<std::string>> rows{{"ID", "CAMERA", "KIND", "START", "END", ""}};
    for (const EventInfo& e : events)
        rows.push_back({std::to_string(e.id), e.camera, e.kind, formatTime(e.start),
                        e.end ? formatTime(e.end) : "ongoing", e.isProtected ? "protected" : ""});
    return table(rows);
}

Json cameraJson(const CameraInfo& c) {
    return {
        {"id", c.id},
        {"source", sourceName(c.source)},
        {"mode", modeName(c.mode)},
        {"state", cameraStateName(c.state)},
        {"last_error", c.lastError},
        {"recording", c.recording},
        {"width", c.width},
        {"height", c.height},
        {"framerate", c.framerate},
        {"bitrate_bps", c.bitrateBps},
        {"frames_total", c.framesTotal},
        {"last_motion_usec", usecOrNull(c.lastMotion)},
        {"last_ring_usec", usecOrNull(c.lastRing)},
    };
}

Json retentionJson(const std::string& camera, const RetentionInfo& r) {
    return {
        {"camera", camera},
        {"max_days", r.maxDays ? Json(*r.maxDays) : Json(nullptr)},
        {"max_bytes", r.maxBytes ? Json(*r.maxBytes) : Json(nullptr)},
        {"source", r.source},
    };
}

Json recordingJson(const RecordingInfo& r) {
    return {
        {"camera", r.camera},         {"sequence", r.sequence},
        {"start_usec", r.start},      {"end_usec", usecOrNull(r.end)},
        {"bytes", r.bytes},           {"state", recordingStateName(r.state)},
        {"protected", r.isProtected},
    };
}

/// ISO 8601 in UTC with microseconds, for scripts that want a readable time.
Json isoOrNull(int64_t us) {
    if (us <= 0)
        return nullptr;
    const time_t secs = static_cast<time_t>(us / 1'000'000);
    struct tm tm {};
    gmtime_r(&secs, &tm);
    char buf[64];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06lldZ", tm.tm_year + 1900,
                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                  static_cast<long long>(us % 1'000'000));
    return std::string(buf);
}

Json eventJson(const EventInfo& e) {
    return {
        {"id", e.id},
        {"camera", e.camera},
        {"kind", e.kind},
        {"start", isoOrNull(e.start)},
        {"end", isoOrNull(e.end)},
        {"start_usec", e.start},
        {"end_usec", usecOrNull(e.end)},
        {"protected", e.isProtected},
    };
}

Json statusJson(const StatusInfo& s) {
    const ManagerInfo& m = s.manager;
    Json cameras = Json::array();
    for (const CameraInfo& c : s.cameras) {
        Json j = cameraJson(c);
        if (auto r = s.retention.find(c.id); r != s.retention.end()) {
            j["retention"] = retentionJson(c.id, r->second);
            j["retention"].erase("camera");
        } else {
            j["retention"] = nullptr;
        }
        cameras.push_back(std::move(j));
    }
    Json events = Json::array();
    for (const EventInfo& e : s.lastEvents)
        events.push_back(eventJson(e));
    return {
        {"daemon",
         {
             {"version", m.version},
             {"state", managerStateName(m.state)},
             {"owner_configured", m.ownerConfigured},
             {"cameras", m.cameras},
         }},
        {"storage",
         {
             {"used_bytes", m.storageUsedBytes},
             {"free_bytes", m.storageFreeBytes},
             {"oldest_recording_usec", usecOrNull(m.oldestRecording)},
             {"disk_full", m.diskFull},
             {"last_problem", m.lastStorageProblem},
         }},
        {"cameras", std::move(cameras)},
        {"last_events", std::move(events)},
    };
}

std::string explainFailure(const BusFailure& f, Verb verb) {
    static const std::string kNotRunning =
        "porchlightd is not running (systemctl start porchlight)";
    const std::string& n = f.name;
    if (n.empty()) {
        // No D-Bus error: the bus itself could not be reached or did not answer.
        if (f.error == -ETIMEDOUT)
            return "porchlightd did not answer in time (journalctl -u porchlight may say why)";
        if (f.error == -EACCES || f.error == -EPERM)
            return verb == Verb::SetupCode ? "permission denied: only root may read the setup code"
                                           : "permission denied: add yourself to the porchlight "
                                             "group";
        return kNotRunning;
    }
    if (n == "org.freedesktop.DBus.Error.ServiceUnknown" ||
        n == "org.freedesktop.DBus.Error.NameHasNoOwner" ||
        n == "org.freedesktop.DBus.Error.Disconnected" ||
        n.rfind("org.freedesktop.DBus.Error.Spawn.", 0) == 0)
        return kNotRunning;
    if (n == "org.freedesktop.DBus.Error.AccessDenied" ||
        n == "org.freedesktop.DBus.Error.AuthFailed" ||
        n == "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired")
        return verb == Verb::SetupCode ? "permission denied: only root may read the setup code"
                                       : "permission denied: add yourself to the porchlight group";
    if (n == "org.freedesktop.DBus.Error.NoReply" || n == "org.freedesktop.DBus.Error.Timeout" ||
        n == "org.freedesktop.DBus.Error.TimedOut")
        return "porchlightd did not answer in time (journalctl -u porchlight may say why)";
    if (n == "org.freedesktop.DBus.Error.UnknownMethod" ||
        n == "org.freedesktop.DBus.Error.UnknownInterface" ||
        n == "org.freedesktop.DBus.Error.UnknownObject" ||
        n == "org.freedesktop.DBus.Error.UnknownProperty")
        return "porchlightd does not support this request (is it older than porchlightctl?): " +
               (f.message.empty() ? n : f.message);
    // InvalidArgs and org.porchlight.Nvr1.Error.*: the server's words are meant for the user.
    return f.message.empty() ? n : f.message;
}

}  // namespace porchlight::ctl
