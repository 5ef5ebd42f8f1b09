// Start-up repair: bring the index and the segment files into agreement.
//
// Runs before any recording starts, with no key (the device has none): it
// relies on the clear framing of the segment format (see segment_file.h)
// to tell complete records from a torn tail.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include <algorithm>
#include <cstring>
#include <set>
#include <vector>

#include "log.h"
#include "segment_file.h"
#include "storage.h"

PL_DECLARE_LOG_CATEGORY(StorageLog)

namespace porchlight::storage {

namespace {

/// Where files go that are ours by name but whose header is unreadable: kept
/// (we never destroy what might be the owner's), but out of the index.
std::filesystem::path quarantine(Index& index, const std::filesystem::path& file) {
    std::error_code ec;
    const auto dir = index.stateDir() / "damaged";
    std::filesystem::create_directories(dir, ec);
    std::filesystem::permissions(dir, std::filesystem::perms::owner_all,
                                 std::filesystem::perm_options::replace, ec);
    auto target = dir / file.filename();
    std::filesystem::rename(file, target, ec);
    return ec ? file : target;
}

/// A file whose header cannot be read: if it is too short to hold any video
/// (a power cut right after it was created), remove it; otherwise keep it
/// out of the way in STATE/damaged/, for the owner to look at.
void setAside(Index& index, const std::filesystem::path& file, const std::string& name,
              const Error& why, ReconcileReport& report) {
    std::error_code ec;
    const auto size = std::filesystem::file_size(file, ec);
    // A header and an init segment alone take more than this; a fragment more still.
    constexpr uintmax_t kNoVideoBelow = 512;
    if (!ec && size < kNoVideoBelow) {
        ::unlink(file.c_str());
        PL_LOG(StorageLog, Notice) << "repair: removed " << name << " (" << size
                                   << " bytes: cut before any video was written)";
        ++report.removedEmpty;
        return;
    }
    auto moved = quarantine(index, file);
    PL_LOG(StorageLog, Error) << "repair: " << name << ": " << why.message << "; moved to "
                              << moved.string();
    ++report.quarantined;
}

/// Trim a torn tail and report what the file holds; nullopt when it holds no
/// video (header and init only), in which case the caller removes it.
struct Found {
    segment::Scan scan;
    bool hasVideo = false;
};

/// Whether a complete record (a head with a valid length and kind, and a
/// matching checksum: docs/ref/format.md section 5.3) starts anywhere in
/// \a tail. Read from the clear framing alone, like segment::scan().
bool holdsCompleteRecord(const std::vector<uint8_t>& tail, uint16_t version) {
    constexpr size_t kHead = 13, kSum = 16;
    constexpr uint32_t kMinLength = 17, kMaxLength = 64u * 1024 * 1024;
    for (size_t at = 0; at + kHead + kMinLength + kSum <= tail.size(); ++at) {
        uint32_t length = 0;
        std::memcpy(&length, tail.data() + at, sizeof length);  // little-endian, as is the Pi
        if (length < kMinLength || length > kMaxLength || tail.size() - at < kHead + length + kSum)
            continue;
        const uint8_t kind = tail[at + 4];
        if (kind < 1 || kind > 3)
            continue;
        // The clear checksum of the file's own format version (format.md 5.5).
        const auto sum = segment::clearChecksum(
            version, std::span<const uint8_t>(tail.data() + at, kHead + length));
        if (std::memcmp(sum.data(), tail.data() + at + kHead + length, kSum) == 0)
            return true;
    }
    return false;
}

/// Whether the bytes after the last complete record are what a crash leaves,
/// and may be cut: a record cut short; zeros (a power cut after the file grew
/// but before its data landed); or the record being written when the power
/// went, whose blocks landed in some other order (partly zeros or stale
/// blocks). Every record before that one was fdatasynced before it was
/// written, so a tail with no complete record anywhere in it can only be a
/// torn write. A complete record after the damage means damage in the middle
/// of a file, which is not cut away: the records after it may still be good.
bool tornTail(const std::filesystem::path& file, const segment::Scan& sc) {
    if (sc.problem.rfind("torn record", 0) == 0)
        return true;
    // A torn write is at most one record (a fragment, or the final record);
    // a longer tail than the largest record is not one.
    constexpr uint64_t kLongestTornTail = 64ull * 1024 * 1024 + 29;
    const uint64_t length = sc.fileBytes - sc.validBytes;
    if (length > kLongestTornTail)
        return false;
    int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    std::vector<uint8_t> tail(length);
    size_t got = 0;
    while (got < tail.size()) {
        const ssize_t n = ::pread(fd, tail.data() + got, tail.size() - got,
                                  static_cast<off_t>(sc.validBytes + got));
        if (n <= 0)
            break;
        got += static_cast<size_t>(n);
    }
    ::close(fd);
    if (got != tail.size())
        return false;
    return !holdsCompleteRecord(tail, sc.version);
}

Expected<Found> inspect(const std::filesystem::path& file, ReconcileReport& report) {
    auto sc = segment::scan(file);
    if (!sc)
        return sc.error();
    Found f{*sc, false};
    if (sc->validBytes < sc->fileBytes && !tornTail(file, *sc)) {
        PL_LOG(StorageLog, Error) << "repair: " << file.string() << ": " << sc->problem
                                  << "; damaged before its end, so it is kept whole (check it "
                                     "with porchlight-vault verify)";
        f.hasVideo = true;
        return f;
    }
    if (sc->validBytes < sc->fileBytes) {
        if (auto t = segment::truncateTo(file, sc->validBytes); !t)
            return t.error();
        PL_LOG(StorageLog, Notice)
            << "repair: " << file.string() << ": trimmed " << (sc->fileBytes - sc->validBytes)
            << " bytes after the last complete fragment (" << sc->problem << ")";
        ++report.trimmed;
        f.scan.fileBytes = sc->validBytes;
    } else if (struct stat st{}; ::stat(file.c_str(), &st) == 0 &&
                                 static_cast<uint64_t>(st.st_blocks) * 512 > sc->fileBytes + 4096) {
        // A segment a crash left open still holds the space preallocated
        // past its end (Writer::createSealed); truncating to the size it
        // has gives that back and changes nothing in the file.
        if (auto t = segment::truncateTo(file, sc->validBytes); !t)
            return t.error();
    }
    // Records: init, fragments, final. Video means at least one fragment.
    const uint32_t fragments = sc->records - (sc->records > 0 ? 1 : 0) - (sc->finished ? 1 : 0);
    f.hasVideo = fragments > 0;
    return f;
}

}  // namespace

Expected<ReconcileReport> reconcile(Index& index) {
    ReconcileReport report;
    const auto root = index.stateDir();

    // 1. Deletions a crash interrupted: the row is already gone, finish the rest.
    auto garbage = index.garbage();
    if (!garbage)
        return garbage.error();
    for (const auto& path : *garbage) {
        const auto file = root / path;
        ::unlink(file.c_str());
        // The unlink must be on disk before the garbage row goes, or a power
        // cut could bring the file back with nothing left to delete it.
        if (int dir = ::open(file.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
            dir >= 0) {
            ::fsync(dir);
            ::close(dir);
        }
        if (auto r = index.forgetGarbage(path); !r)
            return r.error();
        PL_LOG(StorageLog, Notice) << "repair: finished deleting " << path;
        ++report.garbageFinished;
    }

    // 2. Every segment file on disk.
    std::set<std::string> onDisk;
    std::error_code ec;
    const auto recordings = root / "recordings";
    if (std::filesystem::exists(recordings, ec)) {
        auto it = std::filesystem::recursive_directory_iterator(recordings, ec);
        for (; !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
            std::error_code typeError;
            if (!it->is_regular_file(typeError) || typeError)
                continue;
            if (it->path().extension() != ".plseg")
                continue;
            onDisk.insert(std::filesystem::relative(it->path(), root).string());
        }
    }
    // A listing that failed half way (a bad SD card, a folder we cannot read)
    // would make every unlisted file look gone: repair nothing, say why.
    if (ec)
        return makeError("cannot list " + recordings.string() + ": " + ec.message() +
                         " (nothing was repaired; check the disk and start again)");

    // 3. Rows without files, and rows a crash left "writing".
    auto all = index.segments("", INT64_MIN, INT64_MAX);
    if (!all)
        return all.error();
    std::set<std::string> indexed;
    for (const auto& row : *all) {
        indexed.insert(row.path);
        if (!onDisk.count(row.path)) {
            PL_LOG(StorageLog, Warning)
                << "repair: " << row.path << " is in the index but not on disk; forgetting it";
            if (auto r = index.removeSegmentRow(row.id); !r)
                return r.error();
            ++report.removedMissing;
            continue;
        }
        if (row.state != SegmentState::Writing)
            continue;
        const auto file = root / row.path;
        auto found = inspect(file, report);
        if (!found) {
            if (auto r = index.removeSegmentRow(row.id); !r)
                return r.error();
            setAside(index, file, row.path, found.error(), report);
            continue;
        }
        if (!found->hasVideo) {
            ::unlink(file.c_str());
            if (auto r = index.removeSegmentRow(row.id); !r)
                return r.error();
            PL_LOG(StorageLog, Notice)
                << "repair: removed " << row.path << " (a crash left it with no video in it)";
            ++report.removedEmpty;
            continue;
        }
        const SegmentState state =
            found->scan.finished ? SegmentState::Complete : SegmentState::Repaired;
        if (auto r = index.updateSegment(row.id, found->scan.endUs, found->scan.fileBytes, state);
            !r)
            return r.error();
        if (found->scan.finished) {
            ++report.closed;
            PL_LOG(StorageLog, Info) << "repair: " << row.path << " was complete; index updated";
        } else {
            ++report.repaired;
            PL_LOG(StorageLog, Notice)
                << "repair: " << row.path << " was cut by a crash; kept up to its last fragment";
        }
    }

    // 4. Files the index does not know: adopt what holds video.
    for (const auto& path : onDisk) {
        if (indexed.count(path))
            continue;
        const auto file = root / path;
        auto found = inspect(file, report);
        if (!found) {
            setAside(index, file, path, found.error(), report);
            continue;
        }
        if (!found->hasVideo) {
            ::unlink(file.c_str());
            PL_LOG(StorageLog, Notice) << "repair: removed " << path << " (no video in it)";
            ++report.removedEmpty;
            continue;
        }
        SegmentRow row;
        row.camera = found->scan.identity.camera;
        row.sequence = found->scan.identity.sequence;
        row.startUs = found->scan.identity.startUs;
        row.endUs = found->scan.endUs;
        row.bytes = found->scan.fileBytes;
        row.path = path;
        row.state = found->scan.finished ? SegmentState::Complete : SegmentState::Repaired;
        if (auto r = index.addSegment(row); !r) {
            // Most likely the same camera and sequence under another name: keep the file, say so.
            PL_LOG(StorageLog, Error)
                << "repair: cannot adopt " << path << ": " << r.error().message;
            continue;
        }
        PL_LOG(StorageLog, Notice)
            << "repair: adopted " << path << " (on disk, but missing from the index)";
        ++report.adopted;
    }
    return report;
}

}  // namespace porchlight::storage
