// The offline vault: see vault.h.
#include "vault.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <optional>
#include <set>

#include "fmp4.h"
#include "index.h"
#include "segment_file.h"

namespace porchlight::vault {

namespace {

int64_t ticksToUs(int64_t ticks) {
    return ticks * 100 / 9;
}
int64_t usToTicks(int64_t us) {
    return us * 9 / 100;
}

segment::Identity identityOf(const storage::SegmentRow& row) {
    return {row.camera, row.sequence, row.startUs};
}

/// Buffered, checked writes to a file descriptor.
class Output {
public:
    explicit Output(int fd) : fd_(fd) { buffer_.reserve(kSize); }
    Expected<void> write(const uint8_t* data, size_t size) {
        if (buffer_.size() + size > kSize)
            if (auto r = flush(); !r)
                return r;
        if (size >= kSize)
            return writeAll(data, size);
        buffer_.insert(buffer_.end(), data, data + size);
        return {};
    }
    Expected<void> flush() {
        auto r = writeAll(buffer_.data(), buffer_.size());
        buffer_.clear();
        return r;
    }
    uint64_t written() const { return written_ + buffer_.size(); }

private:
    static constexpr size_t kSize = 1 << 20;
    Expected<void> writeAll(const uint8_t* p, size_t n) {
        while (n > 0) {
            ssize_t w = ::write(fd_, p, n);
            if (w < 0) {
                if (errno == EINTR)
                    continue;
                return makeError(std::string("cannot write the export: ") + std::strerror(errno));
            }
            p += w;
            n -= static_cast<size_t>(w);
            written_ += static_cast<uint64_t>(w);
        }
        return {};
    }
    int fd_;
    std::vector<uint8_t> buffer_;
    uint64_t written_ = 0;
};

struct Picked {
    size_t row;             // index into the segment rows
    uint64_t firstOrdinal;  // sample ordinals within that segment, [first, end)
    uint64_t endOrdinal;
};

/// "+HH:MM" or "+HHMM" (or -), hours up to 14 as real zones go: seconds east of UTC.
std::optional<long> parseUtcOffset(const std::string& zone) {
    std::string digits;
    if (zone.size() == 6 && zone[3] == ':')
        digits = zone.substr(1, 2) + zone.substr(4, 2);
    else if (zone.size() == 5)
        digits = zone.substr(1);
    else
        return std::nullopt;
    if ((zone[0] != '+' && zone[0] != '-') ||
        !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; }))
        return std::nullopt;
    const int hh = (digits[0] - '0') * 10 + (digits[1] - '0');
    const int mm = (digits[2] - '0') * 10 + (digits[3] - '0');
    if (hh > 14 || mm > 59)
        return std::nullopt;
    const long offset = hh * 3600L + mm * 60L;
    return zone[0] == '+' ? offset : -offset;
}

}  // namespace

Expected<int64_t> parseTime(std::string_view text) {
    std::string t(text);
    if (!t.empty() && t[0] == '@') {
        char* end = nullptr;
        errno = 0;
        long long v = std::strtoll(t.c_str() + 1, &end, 10);
        if (errno || end == t.c_str() + 1 || *end)
            return makeError("\"" + t + "\" is not a time: after @ give whole seconds since 1970");
        return static_cast<int64_t>(v) * 1'000'000;
    }
    struct tm tm {};
    const char* rest = strptime(t.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
    if (!rest)
        rest = strptime(t.c_str(), "%Y-%m-%d %H:%M:%S", &tm);
    if (!rest) {
        rest = strptime(t.c_str(), "%Y-%m-%d", &tm);
        if (rest && *rest)
            rest = nullptr;
    }
    if (!rest)
        return makeError("\"" + t +
                         "\" is not a time: use ISO 8601 (2026-11-29T14:05:00Z, with an offset "
                         "such as +01:00, or local time without one) or @UNIXSECONDS");
    std::string zone = rest;
    time_t secs;
    if (zone.empty()) {
        tm.tm_isdst = -1;
        secs = mktime(&tm);
    } else {
        secs = timegm(&tm);
        if (zone == "Z" || zone == "z") {
        } else if (auto offset = parseUtcOffset(zone)) {
            secs -= *offset;
        } else {
            return makeError("\"" + t + "\": unknown time zone \"" + zone +
                             "\" (use Z or an offset such as +01:00)");
        }
    }
    return static_cast<int64_t>(secs) * 1'000'000;
}

Expected<ExportResult> exportRange(const std::filesystem::path& stateDir,
                                   const keys::OwnerKeyPair& owner, const std::string& camera,
                                   int64_t fromUs, int64_t toUs, const std::filesystem::path& out) {
    if (toUs <= fromUs)
        return makeError("the end of the range must come after its start");
    auto index = storage::Index::open(stateDir);
    if (!index)
        return index.error();
    auto rows = index->segments(camera, fromUs, toUs);
    if (!rows)
        return rows.error();
    if (rows->empty())
        return makeError("camera \"" + camera + "\" has no recording in that range");

    ExportResult result;
    // Pass 1: authenticate and read every sample's timing, keeping only metadata.
    struct Meta {
        size_t row;
        uint64_t ordinal;
        int64_t absUs;
        mp4::SampleInfo info;
    };
    std::vector<Meta> all;
    std::optional<mp4::TrackInfo> track;
    for (size_t i = 0; i < rows->size(); ++i) {
        const auto& row = (*rows)[i];
        auto reader = segment::Reader::open(stateDir / row.path, owner, identityOf(row));
        if (reader)
            reader->setVerifyChecksums(false);  // the AEAD authenticates what export reads
        if (!reader) {
            // The reader's messages name the file already.
            result.warnings.push_back(reader.error().message + " (skipped)");
            continue;
        }
        uint64_t ordinal = 0;
        std::vector<Meta> mine;
        bool usable = true;
        for (;;) {
            auto chunk = reader->next();
            if (!chunk) {
                result.warnings.push_back(chunk.error().message + " (exported up to there)");
                break;
            }
            if (!*chunk)
                break;
            if ((*chunk)->kind == segment::ChunkKind::Init) {
                auto t = mp4::parseInitSegment((*chunk)->plaintext);
                if (!t) {
                    result.warnings.push_back(row.path + ": " + t.error().message + " (skipped)");
                    usable = false;
                    break;
                }
                if (!track)
                    track = *t;
                if (!(*track == *t)) {
                    result.warnings.push_back(row.path +
                                              ": the camera's resolution or codec changed here; "
                                              "export this part separately (skipped)");
                    usable = false;
                    break;
                }
                continue;
            }
            auto samples = mp4::parseFragment((*chunk)->plaintext);
            if (!samples) {
                result.warnings.push_back(row.path + ": " + samples.error().message);
                break;
            }
            for (const auto& s : *samples) {
                Meta m;
                m.row = i;
                m.ordinal = ordinal++;
                m.absUs = row.startUs + ticksToUs(s.dts);
                m.info.size = static_cast<uint32_t>(s.data.size());
                m.info.ctsOffset = s.ctsOffset;
                m.info.duration = s.duration;
                m.info.keyframe = s.keyframe;
                mine.push_back(m);
            }
        }
        if (usable)
            all.insert(all.end(), mine.begin(), mine.end());
    }
    if (!track || all.empty())
        return makeError("nothing in that range could be read");

    // From the keyframe at or before the start, to the end.
    size_t first = all.size();
    for (size_t i = 0; i < all.size(); ++i) {
        if (!all[i].info.keyframe)
            continue;
        if (all[i].absUs <= fromUs || first == all.size())
            first = i;
        if (all[i].absUs > fromUs)
            break;
    }
    if (first == all.size())
        return makeError("no keyframe in that range: nothing can be decoded");
    size_t end = first;
    while (end < all.size() && all[end].absUs < toUs)
        ++end;

    mp4::Mp4FileWriter writer(*track);
    const int64_t base = all[first].absUs;
    std::vector<Picked> picked;
    for (size_t i = first; i < end; ++i) {
        mp4::SampleInfo info = all[i].info;
        info.dts = usToTicks(all[i].absUs - base);
        writer.add(info);
        if (picked.empty() || picked.back().row != all[i].row)
            picked.push_back({all[i].row, all[i].ordinal, all[i].ordinal + 1});
        else
            picked.back().endOrdinal = all[i].ordinal + 1;
    }

    // Pass 2: header, then the sample data in the same order.
    const std::filesystem::path partial = out.string() + ".partial";
    int fd = ::open(partial.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return makeError("cannot create " + partial.string() + ": " + std::strerror(errno));
    Output o(fd);
    auto fail = [&](const Error& e) -> Expected<ExportResult> {
        ::close(fd);
        ::unlink(partial.c_str());
        return e;
    };
    auto header = writer.header();
    if (auto r = o.write(header.data(), header.size()); !r)
        return fail(r.error());
    for (const auto& p : picked) {
        const auto& row = (*rows)[p.row];
        auto reader = segment::Reader::open(stateDir / row.path, owner, identityOf(row));
        if (!reader)
            return fail(reader.error());
        reader->setVerifyChecksums(false);
        uint64_t ordinal = 0;
        while (ordinal < p.endOrdinal) {
            auto chunk = reader->next();
            if (!chunk)
                return fail(chunk.error());
            if (!*chunk)
                return fail(makeError(row.path + " changed while it was exported"));
            if ((*chunk)->kind != segment::ChunkKind::Fragment)
                continue;
            auto samples = mp4::parseFragment((*chunk)->plaintext);
            if (!samples)
                return fail(samples.error());
            for (const auto& s : *samples) {
                if (ordinal >= p.firstOrdinal && ordinal < p.endOrdinal)
                    if (auto r = o.write(s.data.data(), s.data.size()); !r)
                        return fail(r.error());
                ++ordinal;
            }
        }
        ++result.segments;
    }
    if (auto r = o.flush(); !r)
        return fail(r.error());
    if (::fsync(fd) != 0 || ::close(fd) != 0) {
        ::unlink(partial.c_str());
        return makeError(std::string("cannot finish the export: ") + std::strerror(errno));
    }
    std::error_code ec;
    std::filesystem::rename(partial, out, ec);
    if (ec)
        return makeError("cannot rename the export to " + out.string() + ": " + ec.message());
    result.samples = writer.sampleCount();
    result.bytes = o.written();
    result.seconds = static_cast<double>(writer.durationTicks()) / mp4::kTimescale;
    return result;
}

Expected<VerifyReport> verify(const std::filesystem::path& stateDir,
                              const keys::OwnerKeyPair& owner) {
    auto index = storage::Index::open(stateDir);
    if (!index)
        return index.error();
    auto rows = index->segments("", INT64_MIN, INT64_MAX);
    if (!rows)
        return rows.error();
    VerifyReport report;
    std::set<std::string> indexed;
    for (const auto& row : *rows) {
        indexed.insert(row.path);
        ++report.segments;
        const auto file = stateDir / row.path;
        std::error_code ec;
        const auto size = std::filesystem::file_size(file, ec);
        if (ec) {
            report.problems.push_back(row.path + ": in the index but missing on disk");
            continue;
        }
        report.bytes += size;
        auto reader = segment::Reader::open(file, owner, identityOf(row));
        if (!reader) {
            report.problems.push_back(reader.error().message);
            continue;
        }
        bool sawInit = false;
        bool damaged = false;
        int64_t lastEnd = row.startUs;
        for (;;) {
            auto chunk = reader->next();
            if (!chunk) {
                report.problems.push_back(chunk.error().message);
                damaged = true;
                break;
            }
            if (!*chunk)
                break;
            ++report.chunks;
            const auto& c = **chunk;
            const std::string where = row.path + " at offset " + std::to_string(c.offset);
            if (c.kind == segment::ChunkKind::Init) {
                if (sawInit)
                    report.problems.push_back(where + ": a second init segment");
                sawInit = true;
                if (auto t = mp4::parseInitSegment(c.plaintext); !t)
                    report.problems.push_back(where + ": " + t.error().message);
            } else {
                if (!sawInit)
                    report.problems.push_back(where + ": a fragment before the init segment");
                if (auto s = mp4::parseFragment(c.plaintext); !s)
                    report.problems.push_back(where + ": " + s.error().message);
                if (c.endUs < lastEnd)
                    report.problems.push_back(where + ": fragment ends before the one before it");
                lastEnd = c.endUs;
            }
        }
        if (!damaged && row.state == storage::SegmentState::Complete && !reader->finished())
            report.problems.push_back(row.path +
                                      ": the index says it was closed, but its final record is "
                                      "missing (cut after it was closed?)");
        if (size != row.bytes && row.state != storage::SegmentState::Writing)
            report.problems.push_back(row.path + ": " + std::to_string(size) +
                                      " bytes on disk, the index says " +
                                      std::to_string(row.bytes));
    }
    std::error_code ec;
    const auto recordings = stateDir / "recordings";
    if (std::filesystem::exists(recordings, ec))
        for (auto it = std::filesystem::recursive_directory_iterator(recordings, ec);
             !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
            if (!it->is_regular_file())
                continue;
            const auto rel = std::filesystem::relative(it->path(), stateDir).string();
            if (!indexed.count(rel))
                report.problems.push_back(rel +
                                          ": on disk but not in the index (the daemon adopts "
                                          "it at its next start)");
        }
    return report;
}

}  // namespace porchlight::vault
