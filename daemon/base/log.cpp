// Logging by category: see log.h.
#include "log.h"

#include <unistd.h>

#include <algorithm>
#include <mutex>

namespace porchlight {

namespace {

struct Registry {
    std::mutex mutex;
    std::vector<LogCategory*> categories;
    // Settings applied so far, replayed on categories created later.
    std::vector<std::pair<std::string, LogLevel>> rules;
    std::atomic<bool> plain{false};
    std::atomic<int> fd{STDERR_FILENO};
};

Registry& registry() {
    static Registry r;
    return r;
}

LogLevel levelFor(const Registry& r, std::string_view name) {
    LogLevel level = LogLevel::Info;
    for (const auto& [pattern, l] : r.rules) {
        if (pattern == "*" || pattern == name)
            level = l;
    }
    return level;
}

}  // namespace

std::optional<LogLevel> parseLogLevel(std::string_view name) {
    if (name == "error" || name == "err")
        return LogLevel::Error;
    if (name == "warning" || name == "warn")
        return LogLevel::Warning;
    if (name == "notice")
        return LogLevel::Notice;
    if (name == "info")
        return LogLevel::Info;
    if (name == "debug")
        return LogLevel::Debug;
    return std::nullopt;
}

std::string_view logLevelName(LogLevel level) {
    switch (level) {
        case LogLevel::Error:
            return "error";
        case LogLevel::Warning:
            return "warning";
        case LogLevel::Notice:
            return "notice";
        case LogLevel::Info:
            return "info";
        case LogLevel::Debug:
            return "debug";
    }
    return "info";
}

LogCategory::LogCategory(const char* name) : name_(name), level_(LogLevel::Info) {
    Registry& r = registry();
    std::lock_guard lock(r.mutex);
    level_.store(levelFor(r, name_));
    r.categories.push_back(this);
}

std::vector<LogCategory*> logCategories() {
    Registry& r = registry();
    std::lock_guard lock(r.mutex);
    return r.categories;
}

std::string applyLogSpec(std::string_view spec) {
    std::vector<std::pair<std::string, LogLevel>> rules;
    size_t pos = 0;
    while (pos <= spec.size()) {
        size_t end = spec.find(',', pos);
        if (end == std::string_view::npos)
            end = spec.size();
        std::string_view item = spec.substr(pos, end - pos);
        pos = end + 1;
        if (item.empty())
            continue;
        std::string_view cat = "*";
        std::string_view lvl = item;
        if (size_t eq = item.find('='); eq != std::string_view::npos) {
            cat = item.substr(0, eq);
            lvl = item.substr(eq + 1);
        }
        auto level = parseLogLevel(lvl);
        if (!level)
            return "unknown log level \"" + std::string(lvl) +
                   "\" (use error, warning, notice, info or debug)";
        rules.emplace_back(std::string(cat), *level);
    }

    Registry& r = registry();
    std::lock_guard lock(r.mutex);
    r.rules.insert(r.rules.end(), rules.begin(), rules.end());
    for (LogCategory* c : r.categories)
        c->setLevel(levelFor(r, c->name()));
    return {};
}

void setLogPlain(bool plain) {
    registry().plain = plain;
}

void setLogFd(int fd) {
    registry().fd = fd < 0 ? STDERR_FILENO : fd;
}

LogMessage::LogMessage(const LogCategory& category, LogLevel level)
    : category_(category), level_(level) {}

LogMessage::~LogMessage() {
    Registry& r = registry();
    std::string text = stream_.str();
    std::string line;
    line.reserve(text.size() + 32);
    if (r.plain) {
        line += logLevelName(level_);
        line += ' ';
    } else {
        line += '<';
        line += static_cast<char>('0' + static_cast<int>(level_));
        line += '>';
    }
    line += category_.name();
    line += ": ";
    // One record per line: journald would otherwise split a message and lose
    // the level on its continuation lines.
    std::replace(text.begin(), text.end(), '\n', ' ');
    line += text;
    line += '\n';
    const char* p = line.data();
    size_t left = line.size();
    int fd = r.fd;
    while (left > 0) {
        ssize_t n = ::write(fd, p, left);
        if (n <= 0)
            break;
        p += n;
        left -= static_cast<size_t>(n);
    }
}

}  // namespace porchlight
