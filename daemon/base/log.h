// Logging by category, with levels set at run time.
//
// Lines go to stderr with a syslog priority prefix ("<6>") so journald keeps
// the level when the daemon runs under systemd. Levels come from the
// configuration ([log]) and from $PORCHLIGHT_LOG ("info,pipeline=debug"),
// the environment winning. Safe to use from any thread: a line is assembled in
// memory and written with one write(2).
#pragma once

#include <atomic>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace porchlight {

enum class LogLevel : int { Error = 3, Warning = 4, Notice = 5, Info = 6, Debug = 7 };

std::optional<LogLevel> parseLogLevel(std::string_view name);
std::string_view logLevelName(LogLevel level);

class LogCategory {
public:
    explicit LogCategory(const char* name);
    LogCategory(const LogCategory&) = delete;
    LogCategory& operator=(const LogCategory&) = delete;

    const char* name() const { return name_; }
    LogLevel level() const { return level_.load(std::memory_order_relaxed); }
    void setLevel(LogLevel level) { level_.store(level, std::memory_order_relaxed); }
    bool enabled(LogLevel level) const {
        return static_cast<int>(level) <= static_cast<int>(this->level());
    }

private:
    const char* name_;
    std::atomic<LogLevel> level_;
};

/// All categories that exist, for applying level settings and for --help.
std::vector<LogCategory*> logCategories();

/// Parse a level specification such as "info,pipeline=debug,storage=warning".
/// A bare level applies to every category; later items win. Returns an error
/// message naming the bad item, or an empty string when the spec is valid.
std::string applyLogSpec(std::string_view spec);

/// Whether lines carry the syslog prefix (default) or a plain level word, for a terminal.
void setLogPlain(bool plain);

/// Redirect log output (tests capture it); -1 restores stderr.
void setLogFd(int fd);

class LogMessage {
public:
    LogMessage(const LogCategory& category, LogLevel level);
    ~LogMessage();
    LogMessage(const LogMessage&) = delete;
    LogMessage& operator=(const LogMessage&) = delete;
    std::ostream& stream() { return stream_; }

private:
    const LogCategory& category_;
    LogLevel level_;
    std::ostringstream stream_;
};

}  // namespace porchlight

/// Declare a category in a header (or at the top of a .cpp) and define it once.
#define PL_DECLARE_LOG_CATEGORY(ident) ::porchlight::LogCategory& _plLogCategory##ident();
#define PL_DEFINE_LOG_CATEGORY(ident, name)              \
    ::porchlight::LogCategory& _plLogCategory##ident() { \
        static ::porchlight::LogCategory category(name); \
        return category;                                 \
    }

namespace porchlight {
/// Turns the streamed expression into void so PL_LOG works as one expression
/// (no dangling else); the message is not even formatted when disabled.
struct LogVoidify {
    void operator&(std::ostream&) {}
};
}  // namespace porchlight

#define PL_LOG(ident, lvl)                                                                   \
    !_plLogCategory##ident().enabled(::porchlight::LogLevel::lvl)                            \
        ? (void)0                                                                            \
        : ::porchlight::LogVoidify() &                                                       \
              ::porchlight::LogMessage(_plLogCategory##ident(), ::porchlight::LogLevel::lvl) \
                  .stream()
