// The hash-chained audit log: appending, reading back, crash repair at open,
// and the offline check used by the web page and porchlight-vault.
#include "audit.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>

#include "log.h"

PL_DEFINE_LOG_CATEGORY(AuditCat, "audit")

namespace porchlight::web::audit {

namespace fs = std::filesystem;
using nlohmann::json;

const std::string kGenesisHash(64, '0');

namespace {

constexpr std::array<std::string_view, 10> kKinds = {
    "login",  "login_failed", "logout",  "setup",    "playback",
    "export", "delete",       "protect", "settings", "passphrase"};

std::string errnoText(const std::string& what, const fs::path& path) {
    return what + " " + path.string() + ": " + std::strerror(errno);
}

/// The canonical bytes: nlohmann's object is a std::map, so dump() writes the
/// keys sorted by their UTF-8 bytes, with no spaces. Invalid UTF-8 in a detail
/// string is replaced (U+FFFD) so dumping can never throw on the loop.
std::string canonical(const json& j) {
    return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

Expected<std::string> readAll(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in)
        return makeError(errnoText("cannot read", path));
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

/// Split into lines; \a torn is set when the text does not end with '\n'
/// (its last piece is then the incomplete line).
std::vector<std::string> splitLines(const std::string& text, bool& torn) {
    std::vector<std::string> lines;
    size_t start = 0;
    while (start < text.size()) {
        size_t nl = text.find('\n', start);
        if (nl == std::string::npos) {
            lines.push_back(text.substr(start));
            torn = true;
            return lines;
        }
        lines.push_back(text.substr(start, nl - start));
        start = nl + 1;
    }
    torn = false;
    return lines;
}

Expected<void> syncDir(const fs::path& dir) {
    int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return makeError(errnoText("cannot open", dir));
    const int r = ::fsync(fd);
    ::close(fd);
    if (r != 0)
        return makeError(errnoText("cannot sync", dir));
    return {};
}

bool writeFully(int fd, const std::string& data) {
    size_t done = 0;
    while (done < data.size()) {
        ssize_t n = ::write(fd, data.data() + done, data.size() - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        done += static_cast<size_t>(n);
    }
    return true;
}

/// One parsed line: the fields the chain depends on.
struct Parsed {
    uint64_t seq = 0;
    std::string prev;
    std::string hash;
};

/// Parse and check one line on its own (its hash); the chain is checked by the caller.
std::optional<Parsed> parseLine(const std::string& line, std::string& problem) {
    json j = json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
        problem = "the line is not a JSON object (unparsable)";
        return std::nullopt;
    }
    auto str = [&](const char* key) { return j.contains(key) && j[key].is_string(); };
    if (!j.contains("seq") || !j["seq"].is_number_unsigned() || !str("prev") || !str("hash") ||
        !str("kind") || !str("who") || !j.contains("time_us") ||
        !j["time_us"].is_number_integer() || !j.contains("detail")) {
        problem = "a field is missing or has the wrong type (unparsable)";
        return std::nullopt;
    }
    Parsed p;
    p.seq = j["seq"].get<uint64_t>();
    p.prev = j["prev"].get<std::string>();
    p.hash = j["hash"].get<std::string>();
    j.erase("hash");
    if (entryHash(j) != p.hash) {
        problem = "hash mismatch: the entry was changed after it was written";
        return std::nullopt;
    }
    return p;
}

struct Head {
    uint64_t seq = 0;
    std::string hash;
};

std::optional<Head> readHead(const fs::path& path, bool& exists) {
    std::error_code ec;
    exists = fs::exists(path, ec);
    if (!exists)
        return std::nullopt;
    auto text = readAll(path);
    if (!text)
        return std::nullopt;
    json j = json::parse(*text, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("seq") ||
        !j["seq"].is_number_unsigned() || !j.contains("hash") || !j["hash"].is_string())
        return std::nullopt;
    return Head{j["seq"].get<uint64_t>(), j["hash"].get<std::string>()};
}

}  // namespace

bool isKnownKind(std::string_view kind) {
    for (auto k : kKinds)
        if (k == kind)
            return true;
    return false;
}

std::string entryHash(const json& entryWithoutHash) {
    const std::string bytes = canonical(entryWithoutHash);
    std::array<unsigned char, crypto_generichash_BYTES> out{};  // 32 bytes: BLAKE2b-256
    crypto_generichash(out.data(), out.size(), reinterpret_cast<const unsigned char*>(bytes.data()),
                       bytes.size(), nullptr, 0);
    std::array<char, crypto_generichash_BYTES * 2 + 1> hex{};
    sodium_bin2hex(hex.data(), hex.size(), out.data(), out.size());
    return std::string(hex.data(), crypto_generichash_BYTES * 2);
}

fs::path auditLogPath(const fs::path& stateDir) {
    return stateDir / "audit.log";
}
fs::path auditHeadPath(const fs::path& stateDir) {
    return stateDir / "audit.head";
}

AuditLog::AuditLog(fs::path dir, const Clock* clock)
    : dir_(std::move(dir)), file_(auditLogPath(dir_)), clock_(clock), lastHash_(kGenesisHash) {}

AuditLog::~AuditLog() {
    if (fd_ >= 0)
        ::close(fd_);
}

Expected<std::unique_ptr<AuditLog>> AuditLog::open(const fs::path& stateDir, const Clock* clock) {
    if (sodium_init() < 0)
        return makeError("libsodium could not start");
    std::error_code ec;
    fs::create_directories(stateDir, ec);
    std::unique_ptr<AuditLog> log(new AuditLog(stateDir, clock));

    std::string text;
    if (fs::exists(log->file_, ec)) {
        auto t = readAll(log->file_);
        if (!t)
            return t.error();
        text = std::move(*t);
    }
    bool torn = false;
    auto lines = splitLines(text, torn);
    if (torn) {
        // A crash in the middle of write(2): the line was never complete, so it
        // was never acknowledged (the head file still points before it). Cut it.
        const size_t keep = text.size() - lines.back().size();
        PL_LOG(AuditCat, Warning) << "audit log " << log->file_.string()
                                  << " ends with an incomplete line (" << lines.back().size()
                                  << " bytes, from a crash during a write); cutting it off";
        if (::truncate(log->file_.c_str(), static_cast<off_t>(keep)) != 0)
            return makeError(errnoText("cannot repair", log->file_));
        lines.pop_back();
    }
    if (!lines.empty()) {
        std::string problem;
        auto last = parseLine(lines.back(), problem);
        if (!last)
            return makeError(
                "the last line of the audit log " + log->file_.string() + " is damaged (" +
                problem + "); run `porchlight-vault audit-verify --state-dir " + stateDir.string() +
                "` to see where, and move the file aside to start a new log");
        log->lastSeq_ = last->seq;
        log->lastHash_ = last->hash;
    }
    bool headExists = false;
    auto head = readHead(auditHeadPath(stateDir), headExists);
    if (head && head->seq > log->lastSeq_)
        PL_LOG(AuditCat, Error) << "audit log " << log->file_.string() << " ends at entry "
                                << log->lastSeq_ << " but audit.head records entry " << head->seq
                                << ": entries were cut from its end";

    log->fd_ = ::open(log->file_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (log->fd_ < 0)
        return makeError(errnoText("cannot open", log->file_));
    if (!lines.empty() && (!head || head->seq < log->lastSeq_)) {
        // The crash window between the line and the head: bring the head up.
        if (auto ok = log->writeHead(); !ok)
            return ok.error();
    }
    return log;
}

Expected<void> AuditLog::append(std::string_view kind, std::string_view who, const json& detail) {
    if (!isKnownKind(kind))
        return makeError("unknown audit entry kind \"" + std::string(kind) + "\"");
    const auto wall = clock_ ? clock_->wallNow() : std::chrono::system_clock::now();
    json entry = json::object();
    entry["seq"] = lastSeq_ + 1;
    entry["time_us"] =
        std::chrono::duration_cast<std::chrono::microseconds>(wall.time_since_epoch()).count();
    entry["kind"] = std::string(kind);
    entry["who"] = std::string(who);
    entry["detail"] = detail.is_null() ? json::object() : detail;
    entry["prev"] = lastHash_;
    // Round-trip through the canonical text so the hash covers exactly what a
    // reader will parse (e.g. invalid UTF-8 already replaced).
    entry = json::parse(canonical(entry));
    const std::string hash = entryHash(entry);
    entry["hash"] = hash;
    const std::string line = canonical(entry) + "\n";

    struct stat st {};
    const off_t before = ::fstat(fd_, &st) == 0 ? st.st_size : -1;
    if (!writeFully(fd_, line)) {
        const std::string why = errnoText("cannot write", file_);
        // Do not leave half a line for the next entry to be glued onto.
        if (before >= 0)
            (void)!::ftruncate(fd_, before);
        return makeError(why);
    }
    if (::fdatasync(fd_) != 0)
        return makeError(errnoText("cannot sync", file_));
    lastSeq_ += 1;
    lastHash_ = hash;
    return writeHead();
}

Expected<void> AuditLog::writeHead() {
    const fs::path target = auditHeadPath(dir_);
    const fs::path tmp = dir_ / "audit.head.tmp";
    const std::string text = json{{"seq", lastSeq_}, {"hash", lastHash_}}.dump() + "\n";
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (fd < 0)
        return makeError(errnoText("cannot write", tmp));
    const bool ok = writeFully(fd, text) && ::fsync(fd) == 0;
    ::close(fd);
    if (!ok)
        return makeError(errnoText("cannot write", tmp));
    if (::rename(tmp.c_str(), target.c_str()) != 0)
        return makeError(errnoText("cannot replace", target));
    return syncDir(dir_);
}

Expected<std::vector<json>> AuditLog::entries(size_t offset, size_t limit) const {
    auto text = readAll(file_);
    if (!text)
        return text.error();
    bool torn = false;
    auto lines = splitLines(*text, torn);
    if (torn)
        lines.pop_back();
    std::vector<json> out;
    size_t skipped = 0;
    for (auto it = lines.rbegin(); it != lines.rend() && out.size() < limit; ++it) {
        if (skipped < offset) {
            ++skipped;
            continue;
        }
        json j = json::parse(*it, nullptr, false);
        if (j.is_discarded())
            j = json{{"unparsable", true}};
        out.push_back(std::move(j));
    }
    return out;
}

Expected<AuditReport> verifyAuditLog(const fs::path& file) {
    AuditReport report;
    report.lastHash = kGenesisHash;
    std::error_code ec;
    std::string text;
    if (fs::exists(file, ec)) {
        auto t = readAll(file);
        if (!t)
            return t.error();
        text = std::move(*t);
    } else if (!fs::exists(file.parent_path(), ec)) {
        return makeError("there is no directory " + file.parent_path().string());
    }
    auto fail = [&](size_t line, std::string problem) {
        report.ok = false;
        report.line = line;
        report.problem = std::move(problem);
        return report;
    };

    bool torn = false;
    auto lines = splitLines(text, torn);
    uint64_t expectSeq = 1;
    std::string prev = kGenesisHash;
    std::vector<std::string> hashes;  // by seq - 1, for the head check
    for (size_t i = 0; i < lines.size(); ++i) {
        const size_t lineNo = i + 1;
        if (torn && i + 1 == lines.size())
            return fail(lineNo,
                        "the last line is incomplete (a crash during a write; porchlightd "
                        "cuts it off when it starts)");
        std::string problem;
        auto p = parseLine(lines[i], problem);
        if (!p)
            return fail(lineNo, problem);
        if (p->seq != expectSeq)
            return fail(lineNo, "seq gap: expected entry " + std::to_string(expectSeq) +
                                    ", found " + std::to_string(p->seq) +
                                    " (entries were deleted, inserted or reordered)");
        if (p->prev != prev)
            return fail(lineNo,
                        "prev mismatch: the entry does not follow the one before it "
                        "(entries were deleted, inserted or reordered)");
        prev = p->hash;
        hashes.push_back(p->hash);
        ++expectSeq;
        report.entries += 1;
        report.lastHash = p->hash;
    }

    bool headExists = false;
    const fs::path headPath = file.parent_path() / "audit.head";
    auto head = readHead(headPath, headExists);
    const uint64_t last = report.entries;
    if (!headExists) {
        if (last > 0)
            return fail(0, "audit.head is missing: the end of the log cannot be checked");
        return report;
    }
    if (!head)
        return fail(0, "audit.head is unreadable or damaged");
    if (head->seq > last)
        return fail(lines.size() + 1, "the log ends at entry " + std::to_string(last) +
                                          " but audit.head records entry " +
                                          std::to_string(head->seq) +
                                          ": entries were cut from the end");
    // The head is written after the line, so a crash can leave it one behind.
    if (head->seq + 1 < last)
        return fail(0, "audit.head records entry " + std::to_string(head->seq) +
                           " but the log goes on to " + std::to_string(last) +
                           ": audit.head was replaced with an older copy or the log was extended "
                           "by something other than porchlightd");
    const std::string& expected = head->seq == 0 ? kGenesisHash : hashes[head->seq - 1];
    if (head->hash != expected)
        return fail(head->seq == 0 ? 0 : static_cast<size_t>(head->seq),
                    "the hash in audit.head does not match entry " + std::to_string(head->seq) +
                        ": the log was rewritten");
    return report;
}

}  // namespace porchlight::web::audit
