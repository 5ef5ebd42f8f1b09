// The owner's audit log: a hash-chained record of every act on the footage
// (logins, playback, export, deletion, protection and settings changes), kept
// in STATE/audit.log so the owner can read it on the web page and check it
// offline with `porchlight-vault audit-verify`.
//
// The log is not encrypted: it records acts, not footage. It must never hold a
// secret (passphrase, key, recovery key, setup code). The format is described
// in docs/ref/audit.md.
#pragma once

#include <sodium.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "clock.h"
#include "expected.h"

namespace porchlight::web::audit {

/// The kinds of act recorded; anything else is refused by append().
bool isKnownKind(std::string_view kind);

/// The chain value of the entry before the first one: 64 zeros.
extern const std::string kGenesisHash;

/// Hex BLAKE2b-256 over an entry's canonical bytes: the compact JSON dump of
/// the entry object without its "hash" member (keys sorted, UTF-8).
std::string entryHash(const nlohmann::json& entryWithoutHash);

class AuditLog {
public:
    /// Open (or create) STATE/audit.log. A line torn by a crash during a write
    /// is cut off here (and logged). \a clock gives the wall time of entries;
    /// without one the system clock is used.
    static Expected<std::unique_ptr<AuditLog>> open(const std::filesystem::path& stateDir,
                                                    const Clock* clock = nullptr);
    ~AuditLog();
    AuditLog(const AuditLog&) = delete;
    AuditLog& operator=(const AuditLog&) = delete;

    /// Add one entry: one write(2) of one line, fdatasync, then the head file.
    Expected<void> append(std::string_view kind, std::string_view who,
                          const nlohmann::json& detail = nlohmann::json::object());

    /// Entries newest first, skipping \a offset of them.
    Expected<std::vector<nlohmann::json>> entries(size_t offset, size_t limit) const;

    uint64_t lastSeq() const { return lastSeq_; }
    const std::string& lastHash() const { return lastHash_; }
    const std::filesystem::path& file() const { return file_; }

private:
    AuditLog(std::filesystem::path dir, const Clock* clock);
    Expected<void> writeHead();

    std::filesystem::path dir_;
    std::filesystem::path file_;
    const Clock* clock_;
    int fd_ = -1;
    uint64_t lastSeq_ = 0;
    std::string lastHash_;
};

/// The outcome of checking a log. \a ok is false at the first problem found;
/// \a line is then its 1-based line number in audit.log (0 when the problem is
/// in audit.head as a whole).
struct AuditReport {
    bool ok = true;
    size_t entries = 0;
    size_t line = 0;
    std::string problem;
    std::string lastHash;  // the hash of the last entry, for the owner to note down
};

/// Check every line of \a file (STATE/audit.log) and the head file beside it.
/// An error only when the files cannot be read.
Expected<AuditReport> verifyAuditLog(const std::filesystem::path& file);

/// Where the log of a state directory lives.
std::filesystem::path auditLogPath(const std::filesystem::path& stateDir);
std::filesystem::path auditHeadPath(const std::filesystem::path& stateDir);

}  // namespace porchlight::web::audit
