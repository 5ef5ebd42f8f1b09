// Recording storage: see storage.h.
#include "storage.h"

#include <fcntl.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>

#include "log.h"
#include "sealed.h"
#include "segment_file.h"

PL_DEFINE_LOG_CATEGORY(StorageLog, "storage")

namespace porchlight::storage {

namespace {

// Rounded, so a 15 fps stream's 66 666 667 ns frames are 6000 ticks each, not 5999.
int64_t nsToTicks(int64_t ns) {
    return (ns >= 0 ? ns * 9 + 50'000 : ns * 9 - 50'000) / 100'000;
}
int64_t ticksToUs(int64_t ticks) {
    return ticks * 100 / 9;
}

/// fsync a directory, so a new or removed entry in it survives a power cut.
void syncDirectory(const std::filesystem::path& dir) {
    int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return;
    ::fsync(fd);
    ::close(fd);
}

/// Create the directories of \a file below \a root, fsyncing each parent that got a new entry.
std::error_code makeParents(const std::filesystem::path& root, const std::filesystem::path& file) {
    std::error_code ec;
    std::filesystem::path dir = root;
    for (const auto& part : file.parent_path()) {
        std::filesystem::path next = dir / part;
        if (!std::filesystem::exists(next, ec)) {
            if (!std::filesystem::create_directory(next, ec) && ec)
                return ec;
            std::filesystem::permissions(next, std::filesystem::perms::owner_all,
                                         std::filesystem::perm_options::replace, ec);
            syncDirectory(dir);
        }
        dir = next;
    }
    return {};
}

/// The most disk space preallocated for one segment.
constexpr uint64_t kMaxReserve = 256ull << 20;

}  // namespace

/// A segment being written. Loop-side fields are touched only on the loop,
/// the sealer only in the sealing stage of DiskWorker jobs, the writer only
/// in their disk stage (each stage runs one job at a time, in order).
struct Storage::Segment {
    // loop side
    segment::Identity identity;
    std::string path;  // relative to the state directory
    int64_t rowId = 0;
    bool rowPending = false;             // its row is waiting for room in the index
    std::optional<RowChange> rowChange;  // the last change made while it waited
    int64_t endUs = 0;                   // end of the last fragment handed to the writer
    // sealing stage: the segment's stream key, in guarded memory
    std::optional<segment::Sealer> sealer;
    // disk stage
    std::optional<segment::Writer> writer;
    // Set by the disk stage when the segment cannot go on; read by the sealing
    // stage only to skip work that would be thrown away.
    std::atomic<bool> failed = false;
};

struct Storage::Recorder {
    std::string camera;
    RecordingMode mode = RecordingMode::Continuous;
    int64_t preRollUs = 5'000'000;
    int64_t postRollUs = 10'000'000;
    int64_t recordUntilUs = 0;       // events mode: the window of an event
    std::deque<VideoFrame> preRoll;  // events mode: recent frames, in memory only
    std::shared_ptr<const mp4::TrackInfo> track;
    std::shared_ptr<Segment> segment;
    int64_t firstDtsNs = 0;
    std::optional<VideoFrame> held;  // waits for the next frame to know its duration
    std::vector<mp4::Sample> fragment;
    uint32_t fragmentSequence = 0;
    uint32_t lastDurationTicks = 3000;
    uint64_t nextSequence = 0;
    uint64_t segmentBytes = 0;  // fragment bytes handed to the writer in this segment
    double bytesPerSecond = 0;  // this camera's rate over its last segment (0: not known yet)
    // The previous frame's clocks, to notice the wall clock jumping (NTP).
    std::optional<int64_t> lastWallUs;
    int64_t lastDtsNs = 0;
};

Expected<std::unique_ptr<Storage>> Storage::open(const std::filesystem::path& stateDir,
                                                 Clock& clock, Post post, StorageOptions options) {
    std::error_code ec;
    std::filesystem::create_directories(stateDir / "recordings", ec);
    if (ec)
        return makeError("cannot create " + (stateDir / "recordings").string() + ": " +
                         ec.message());
    auto index = Index::open(stateDir);
    if (!index)
        return index.error();
    auto report = reconcile(*index);
    if (!report)
        return report.error();
    std::unique_ptr<Storage> s(
        new Storage(stateDir, clock, std::move(post), std::move(options), std::move(*index)));
    s->report_ = *report;
    auto overrides = s->index_.retentionOverrides();
    if (overrides)
        s->overrides_ = std::move(*overrides);
    s->reloadOwner();
    s->scheduleRetention();
    return s;
}

Storage::Storage(const std::filesystem::path& stateDir, Clock& clock, Post post,
                 StorageOptions options, Index index)
    : stateDir_(stateDir),
      clock_(clock),
      post_(std::move(post)),
      options_(std::move(options)),
      index_(std::move(index)),
      alive_(std::make_shared<bool>(true)),
      worker_(std::make_unique<DiskWorker>()) {}

Storage::~Storage() {
    retentionTimer_.reset();
    // Close what is open so no segment is left "writing" by an orderly exit.
    for (auto& [camera, r] : recorders_)
        closeSegment(*r, std::nullopt);
    worker_.reset();
}

void Storage::reloadOwner() {
    auto pk = keys::loadPublicKey(stateDir_);
    if (pk) {
        if (!publicKey_)
            PL_LOG(StorageLog, Info) << "owner key present: recording is on";
        publicKey_ = *pk;
        warnedNoOwner_ = false;
    } else {
        publicKey_.reset();
    }
}

void Storage::setOptions(StorageOptions options) {
    options_ = std::move(options);
    enforceRetention();
}

void Storage::setConfiguredRetention(std::map<std::string, RetentionConfig> retention) {
    // A camera that left the configuration keeps its last retention, so its
    // recordings still expire on time instead of staying until the disk fills.
    for (auto& [camera, r] : retention)
        configured_[camera] = std::move(r);
    enforceRetention();
}

Expected<void> Storage::setRetention(const std::string& camera, const RetentionConfig& retention) {
    if (auto r = index_.setRetentionOverride(camera, retention); !r)
        return r;
    overrides_[camera] = retention;
    PL_LOG(StorageLog, Info) << "camera " << camera << ": retention set by the owner";
    enforceRetention();
    return {};
}

RetentionConfig Storage::retentionFor(const std::string& camera) const {
    if (auto o = overrides_.find(camera); o != overrides_.end())
        return o->second;
    if (auto c = configured_.find(camera); c != configured_.end())
        return c->second;
    return {};
}

Storage::Recorder& Storage::recorder(const std::string& camera) {
    auto& slot = recorders_[camera];
    if (!slot) {
        slot = std::make_unique<Recorder>();
        slot->camera = camera;
        auto next = index_.nextSequence(camera);
        slot->nextSequence = next ? *next : 1;
    }
    return *slot;
}

void Storage::setCameraMode(const std::string& camera, RecordingMode mode, double preRollSeconds,
                            double postRollSeconds) {
    Recorder& r = recorder(camera);
    if (r.mode != mode)
        closeSegment(r, std::nullopt);
    r.mode = mode;
    r.preRollUs = static_cast<int64_t>(preRollSeconds * 1e6);
    r.postRollUs = static_cast<int64_t>(postRollSeconds * 1e6);
    if (mode != RecordingMode::Events)
        r.preRoll.clear();
}

bool Storage::writing(const std::string& camera) const {
    auto it = recorders_.find(camera);
    return it != recorders_.end() && it->second->segment != nullptr;
}

void Storage::keepRecordingUntil(const std::string& camera, int64_t untilUs) {
    Recorder& r = recorder(camera);
    r.recordUntilUs = std::max(r.recordUntilUs, untilUs);
}

void Storage::onFrame(const std::string& camera, VideoFrame&& frame) {
    if (!publicKey_) {
        if (!warnedNoOwner_) {
            PL_LOG(StorageLog, Warning)
                << "no owner key yet: nothing is recorded until the owner sets up the device "
                   "(web UI setup, or porchlight-vault init)";
            warnedNoOwner_ = true;
        }
        return;
    }
    Recorder& r = recorder(camera);
    followWallClock(r, frame);
    switch (r.mode) {
        case RecordingMode::Off:
            return;
        case RecordingMode::Continuous:
            record(r, std::move(frame));
            return;
        case RecordingMode::Events:
            break;
    }
    if (frame.wallUs > r.recordUntilUs) {
        // Between events: nothing is written; the last few seconds wait in memory.
        if (r.segment)
            closeSegment(r, frame.dtsNs);
        const int64_t now = frame.wallUs;
        r.preRoll.push_back(std::move(frame));
        trimPreRoll(r, now);
        return;
    }
    if (!r.preRoll.empty()) {
        // An event began: what led up to it goes first, from its keyframe.
        std::deque<VideoFrame> before = std::move(r.preRoll);
        r.preRoll.clear();
        for (auto& f : before)
            record(r, std::move(f));
    }
    record(r, std::move(frame));
}

void Storage::followWallClock(Recorder& r, const VideoFrame& frame) {
    // The stream's own clock is monotonic; the wall clock may jump (NTP
    // setting the time after boot, or correcting it). When the two disagree
    // by more than a couple of seconds between consecutive frames, the wall
    // clock jumped: what is kept in wall time here (an event's window, the
    // pre-roll's labels) moves with it, so an event still lasts its post-roll
    // in real time and the pre-roll stays a few seconds long.
    constexpr int64_t kJumpUs = 2'000'000;
    if (r.lastWallUs && frame.dtsNs > r.lastDtsNs) {
        const int64_t expected = *r.lastWallUs + (frame.dtsNs - r.lastDtsNs) / 1000;
        const int64_t jump = frame.wallUs - expected;
        if (jump > kJumpUs || jump < -kJumpUs) {
            PL_LOG(StorageLog, Notice)
                << "camera " << r.camera << ": the wall clock jumped by "
                << static_cast<double>(jump) / 1e6
                << " s; recordings keep their lengths, new ones take the new time";
            if (r.recordUntilUs != 0)
                r.recordUntilUs += jump;
            for (auto& f : r.preRoll)
                f.wallUs += jump;
        }
    }
    r.lastWallUs = frame.wallUs;
    r.lastDtsNs = frame.dtsNs;
}

void Storage::trimPreRoll(Recorder& r, int64_t nowUs) {
    // Keep from the newest keyframe that is at least pre_roll old, so the
    // clip starts on a picture that decodes and covers the whole pre-roll.
    auto& q = r.preRoll;
    while (!q.empty() && !q.front().keyframe)
        q.pop_front();
    for (;;) {
        auto next = std::find_if(q.begin() + (q.empty() ? 0 : 1), q.end(),
                                 [](const VideoFrame& f) { return f.keyframe; });
        if (next == q.end() || next->wallUs > nowUs - r.preRollUs)
            break;
        q.erase(q.begin(), next);
    }
}

void Storage::record(Recorder& r, VideoFrame&& frame) {
    if (r.segment) {
        const bool newCodec = !frame.track || !r.track || !(*frame.track == *r.track);
        const bool backwards = r.held && frame.dtsNs <= r.held->dtsNs;
        // Measured on the stream's clock, with half a frame's slack, so a keyframe
        // due exactly at segment_seconds is not missed by scheduling jitter.
        const bool due = frame.keyframe && static_cast<double>(frame.dtsNs - r.firstDtsNs) >=
                                               options_.segmentSeconds * 1e9 - 20e6;
        if (newCodec || backwards)
            closeSegment(r, std::nullopt);
        else if (due)
            closeSegment(r, frame.dtsNs);
    }
    if (!r.segment) {
        // Every segment starts on a keyframe, so each one plays on its own.
        if (!frame.keyframe || !frame.track)
            return;
        r.track = frame.track;
        openSegment(r, frame);
        if (!r.segment)
            return;
        r.held = std::move(frame);
        return;
    }
    pushHeld(r, frame.dtsNs);
    r.held = std::move(frame);
}

void Storage::pushHeld(Recorder& r, int64_t nextDtsNs) {
    if (!r.held)
        return;
    VideoFrame& h = *r.held;
    mp4::Sample s;
    s.dts = nsToTicks(h.dtsNs - r.firstDtsNs);
    int64_t duration = nsToTicks(nextDtsNs - r.firstDtsNs) - s.dts;
    if (duration <= 0 || duration > 10 * mp4::kTimescale)
        duration = r.lastDurationTicks;
    s.duration = static_cast<uint32_t>(duration);
    r.lastDurationTicks = s.duration;
    s.ctsOffset = static_cast<int32_t>(nsToTicks(h.ptsNs - h.dtsNs));
    s.keyframe = h.keyframe;
    s.data = std::move(h.data);
    r.held.reset();
    r.fragment.push_back(std::move(s));
    const auto& first = r.fragment.front();
    const auto& last = r.fragment.back();
    if (ticksToUs(last.dts + last.duration - first.dts) >= options_.fragmentUs)
        emitFragment(r);
}

void Storage::openSegment(Recorder& r, const VideoFrame& first) {
    auto seg = std::make_shared<Segment>();
    seg->identity = {r.camera, r.nextSequence++, first.wallUs};
    seg->path = segmentRelativePath(r.camera, seg->identity.sequence, first.wallUs);
    seg->endUs = first.wallUs;
    r.segment = seg;
    r.firstDtsNs = first.dtsNs;
    r.fragment.clear();
    r.fragmentSequence = 0;
    r.segmentBytes = 0;

    auto init = mp4::writeInitSegment(*r.track);
    // Preallocate about a segment's worth (this camera's rate over its last
    // segment, times the segment length, and a tenth more): each fragment's
    // fdatasync then commits less filesystem metadata (docs/PERFORMANCE.md,
    // storage target 3). What is not used is given back when the segment is
    // closed. Nothing for a camera's first segment: its rate is not known.
    const uint64_t reserve = static_cast<uint64_t>(std::min(
        r.bytesPerSecond * options_.segmentSeconds * 1.1, static_cast<double>(kMaxReserve)));
    // Sealing stage: the segment key, the header and the init record. Disk
    // stage: create the file with them, then tell the loop.
    worker_->runSealed([this, seg, init = std::move(init), pk = *publicKey_, reserve,
                        root = stateDir_, post = post_,
                        alive = std::weak_ptr<bool>(alive_)]() -> DiskWorker::Job {
        std::string sealError;
        std::vector<uint8_t> header;
        std::vector<uint8_t> initRecord;
        if (auto sealer = segment::Sealer::create(seg->identity, pk); !sealer) {
            sealError = sealer.error().message;
        } else if (auto a = sealer->seal(initRecord, segment::ChunkKind::Init, init,
                                         seg->identity.startUs);
                   !a) {
            sealError = a.error().message;
        } else {
            header = sealer->header();
            seg->sealer = std::move(*sealer);
        }
        return [this, seg, header = std::move(header), initRecord = std::move(initRecord),
                sealError = std::move(sealError), reserve, root, post, alive] {
            const std::filesystem::path file = root / seg->path;
            std::string error;
            bool full = false;
            if (!sealError.empty()) {
                error = sealError;
            } else if (std::error_code ec = makeParents(root, seg->path); ec) {
                error = "cannot create " + file.parent_path().string() + ": " + ec.message();
                full = ec == std::errc::no_space_on_device;
            } else if (auto w = segment::Writer::createSealed(file, header, reserve); !w) {
                error = w.error().message;
                full = segment::isDiskFullError(w.error());
            } else if (auto a = w->appendSealed(initRecord, true); !a) {
                error = a.error().message;
                full = segment::isDiskFullError(a.error());
                ::unlink(file.c_str());
            } else {
                syncDirectory(file.parent_path());
                const uint64_t bytes = w->size();
                seg->writer = std::move(*w);
                post([this, seg, bytes, alive] {
                    if (alive.expired())
                        return;
                    // Only now, with header and init segment on disk, does the index say it exists.
                    SegmentRow row;
                    row.camera = seg->identity.camera;
                    row.sequence = seg->identity.sequence;
                    row.startUs = row.endUs = seg->identity.startUs;
                    row.bytes = bytes;
                    row.path = seg->path;
                    row.state = SegmentState::Writing;
                    addRow(seg, row);
                });
                return;
            }
            seg->failed = true;
            post([this, seg, error, full, alive] {
                if (!alive.expired())
                    onWriteError(seg->identity.camera, error, full, seg);
            });
        };
    });
}

void Storage::emitFragment(Recorder& r) {
    if (r.fragment.empty() || !r.segment)
        return;
    const auto& last = r.fragment.back();
    const int64_t endUs = r.segment->identity.startUs + ticksToUs(last.dts + last.duration);
    r.segment->endUs = endUs;
    auto bytes = mp4::writeFragment(++r.fragmentSequence, r.fragment);
    r.fragment.clear();
    lastFragmentBytes_ = std::max<uint64_t>(lastFragmentBytes_, bytes.size());
    r.segmentBytes += bytes.size();
    // Sealing stage: encrypt and checksum, overlapping the write and
    // fdatasync of the fragment before. Disk stage: write it.
    worker_->runSealed([this, seg = r.segment, bytes = std::move(bytes), endUs, root = stateDir_,
                        post = post_,
                        alive = std::weak_ptr<bool>(alive_)]() mutable -> DiskWorker::Job {
        if (seg->failed || !seg->sealer)
            return nullptr;
        std::vector<uint8_t> record;
        auto sealed = seg->sealer->seal(record, segment::ChunkKind::Fragment, bytes, endUs);
        std::vector<uint8_t>().swap(bytes);  // the plaintext is not needed any more
        return [this, seg, record = std::move(record), sealed = std::move(sealed), root, post,
                alive] {
            if (seg->failed || !seg->writer)
                return;
            // One write of the whole fragment and one fdatasync: large sequential
            // writes for the SD card, and at most one fragment lost to a crash.
            auto a = sealed ? seg->writer->appendSealed(record, true) : sealed;
            if (a)
                return;
            seg->failed = true;
            const bool full = segment::isDiskFullError(a.error());
            // Cut the torn record off now, so the file stays sound (and space comes back).
            const std::filesystem::path file = root / seg->path;
            seg->writer.reset();
            int64_t goodEnd = seg->identity.startUs;
            uint64_t goodBytes = 0;
            bool hasVideo = false;
            if (auto sc = segment::scan(file); sc) {
                (void)segment::truncateTo(file, sc->validBytes);
                goodEnd = sc->endUs;
                goodBytes = sc->validBytes;
                hasVideo = sc->records > 1;  // more than the init segment
            }
            if (!hasVideo) {
                ::unlink(file.c_str());
                syncDirectory(file.parent_path());
            }
            post([this, seg, error = a.error().message, full, goodEnd, goodBytes, hasVideo, alive] {
                if (alive.expired())
                    return;
                if (hasVideo)
                    changeRow(seg, {seg->rowId, goodEnd, goodBytes, SegmentState::Repaired, false});
                else
                    changeRow(seg, {seg->rowId, 0, 0, SegmentState::Repaired, true});
                onWriteError(seg->identity.camera, error, full, seg);
            });
        };
    });
}

void Storage::closeSegment(Recorder& r, std::optional<int64_t> nextDtsNs) {
    if (!r.segment)
        return;
    if (r.held) {
        const VideoFrame& h = *r.held;
        int64_t next = nextDtsNs ? *nextDtsNs
                                 : h.dtsNs + (h.durationNs > 0 ? h.durationNs
                                                               : r.lastDurationTicks * 100'000 / 9);
        pushHeld(r, next);
    }
    emitFragment(r);
    const int64_t endUs = r.segment->endUs;
    // The rate for the next segment's preallocation; a segment under a second
    // (a stream that stopped at once) says too little to go by.
    if (const double seconds = static_cast<double>(endUs - r.segment->identity.startUs) / 1e6;
        seconds >= 1.0)
        r.bytesPerSecond = static_cast<double>(r.segmentBytes) / seconds;
    worker_->runSealed([this, seg = r.segment, endUs, root = stateDir_, post = post_,
                        alive = std::weak_ptr<bool>(alive_)]() -> DiskWorker::Job {
        if (seg->failed || !seg->sealer)
            return nullptr;
        std::vector<uint8_t> record;
        auto sealed = seg->sealer->sealFinal(record, endUs);
        seg->sealer.reset();  // wipes the stream key
        return [this, seg, record = std::move(record), sealed = std::move(sealed), endUs, root,
                post, alive] {
            if (seg->failed || !seg->writer)
                return;
            auto f = sealed ? seg->writer->finishSealed(record) : sealed;
            uint64_t bytes = seg->writer->size();
            seg->writer.reset();
            std::string error = f ? std::string() : f.error().message;
            const bool full = !f && segment::isDiskFullError(f.error());
            int64_t goodEnd = endUs;
            if (!f) {
                // The final record did not make it (a full disk): the fragments
                // before it are sound; cut what is torn and keep them.
                const std::filesystem::path file = root / seg->path;
                if (auto sc = segment::scan(file); sc) {
                    (void)segment::truncateTo(file, sc->validBytes);
                    bytes = sc->validBytes;
                    goodEnd = sc->endUs;
                }
            }
            post([this, seg, error, full, bytes, endUs, goodEnd, alive] {
                if (alive.expired())
                    return;
                if (!error.empty()) {
                    changeRow(seg, {seg->rowId, goodEnd, bytes, SegmentState::Repaired, false});
                    onWriteError(seg->identity.camera, error, full);
                    return;
                }
                changeRow(seg, {seg->rowId, endUs, bytes, SegmentState::Complete, false});
                ++segmentsClosed_;
                PL_LOG(StorageLog, Debug) << "closed " << seg->path << " (" << bytes << " bytes)";
            });
        };
    });
    r.segment.reset();
    r.held.reset();
    r.fragment.clear();
}

Expected<int64_t> Storage::startEvent(const std::string& camera, EventKind kind, int64_t startUs,
                                      const std::string& detailsJson) {
    EventRow e;
    e.camera = camera;
    e.kind = kind;
    e.startUs = startUs;
    // Without an owner there is no key to seal to: the details are dropped,
    // never kept in the clear.
    if (publicKey_ && !detailsJson.empty())
        e.details = sealed::seal(detailsJson, *publicKey_);
    auto id = index_.addEvent(e);
    if (!id) {
        lastProblem_ = id.error().message;
        return id.error();
    }
    PL_LOG(StorageLog, Info) << "camera " << camera << ": " << eventKindName(kind) << " event "
                             << *id << " started";
    return id;
}

Expected<void> Storage::endEvent(int64_t id, int64_t endUs) {
    return index_.endEvent(id, endUs);
}

void Storage::saveSnapshot(int64_t eventId, const std::string& camera, int64_t startUs,
                           std::vector<uint8_t> jpeg) {
    if (!publicKey_)
        return;
    std::string rel = segmentRelativePath(camera, static_cast<uint64_t>(eventId), startUs);
    // recordings/<camera>/<day>/<n>-<start>.plseg ->
    // snapshots/<camera>/<day>/<event>-<start>.plsnap
    rel = "snapshots" + rel.substr(std::string("recordings").size());
    rel = rel.substr(0, rel.size() - std::string(".plseg").size()) + ".plsnap";
    worker_->run([this, eventId, camera, startUs, rel, jpeg = std::move(jpeg), pk = *publicKey_,
                  root = stateDir_, post = post_, alive = std::weak_ptr<bool>(alive_)] {
        auto w = sealed::writeSnapshot(root / rel, {camera, eventId, startUs}, jpeg, pk);
        post([this, eventId, rel, ok = w.hasValue(), error = w ? std::string() : w.error().message,
              alive] {
            if (alive.expired())
                return;
            if (!ok) {
                PL_LOG(StorageLog, Warning) << "event " << eventId << ": no snapshot: " << error;
                return;
            }
            (void)index_.setEventSnapshot(eventId, rel);
        });
    });
}

Expected<bool> Storage::protectEvent(int64_t id, bool isProtected) {
    auto changed = index_.setEventProtected(id, isProtected);
    if (changed && *changed)
        PL_LOG(StorageLog, Info) << "event " << id << (isProtected ? " protected" : " released");
    return changed;
}

Expected<Storage::EventDeletion> Storage::deleteEvent(int64_t id) {
    EventDeletion out;
    auto found = index_.event(id);
    if (!found)
        return found.error();
    if (!*found)
        return out;
    out.found = true;
    const EventRow e = **found;
    if (e.isProtected) {
        out.refused = "event " + std::to_string(id) + " is protected: release it first";
        return out;
    }
    if (e.endUs == 0) {
        out.refused = "event " + std::to_string(id) + " is still under way: wait for it to end";
        return out;
    }
    auto rows = index_.segments(e.camera, e.startUs, std::max(e.endUs, e.startUs + 1));
    if (!rows)
        return rows.error();
    std::vector<SegmentRow> drop;
    for (const auto& seg : *rows) {
        bool keep = seg.state == SegmentState::Writing || seg.isProtected;
        auto inside = index_.events(seg.camera, seg.startUs, seg.endUs);
        if (!inside)
            return inside.error();
        std::vector<int64_t> others;
        for (const auto& other : *inside) {
            if (other.id == id)
                continue;
            keep = keep || other.isProtected;
            others.push_back(other.id);
        }
        if (keep) {
            ++out.keptSegments;
            continue;
        }
        for (int64_t o : others)
            if (std::find(out.otherEvents.begin(), out.otherEvents.end(), o) ==
                out.otherEvents.end())
                out.otherEvents.push_back(o);
        drop.push_back(seg);
        out.bytes += seg.bytes;
    }
    out.segments = drop.size();
    if (!drop.empty())
        deleteSegments(drop, "deleted by the owner (event " + std::to_string(id) + ")");
    // Its own row goes whether or not some of its video had to stay.
    if (auto still = index_.event(id); still && *still)
        forgetEvents({**still});
    PL_LOG(StorageLog, Info) << "event " << id << " deleted by the owner: " << out.segments
                             << " segment(s), " << out.bytes << " bytes";
    return out;
}

std::vector<SegmentRow> Storage::expiredByKind(const std::string& camera,
                                               const RetentionConfig& limits, int64_t nowUs) {
    auto cutoff = [nowUs](const std::optional<double>& days) -> std::optional<int64_t> {
        if (!days)
            return std::nullopt;
        return nowUs - static_cast<int64_t>(std::llround(*days * 86'400e6));
    };
    const auto continuous = cutoff(limits.continuousDays);
    const auto motion = cutoff(limits.motionDays);
    const auto ring = cutoff(limits.ringDays);
    // Nothing can expire before the shortest of the limits that are set.
    int64_t earliest = INT64_MIN;
    for (const auto& c : {continuous, motion, ring})
        if (c)
            earliest = std::max(earliest, *c);
    std::vector<SegmentRow> out;
    if (earliest == INT64_MIN)
        return out;
    auto old = index_.endedBefore(camera, earliest);
    if (!old)
        return out;
    for (const auto& seg : *old) {
        auto hasMotion = index_.hasEventIn(camera, EventKind::Motion, seg.startUs, seg.endUs);
        auto hasRing = index_.hasEventIn(camera, EventKind::Ring, seg.startUs, seg.endUs);
        if (!hasMotion || !hasRing)
            continue;
        // A segment is kept while any kind it holds still wants it; a kind
        // without a limit wants it for ever (max_days and max_bytes aside).
        auto expired = [&seg](const std::optional<int64_t>& c) { return c && seg.endUs < *c; };
        bool drop;
        if (!*hasMotion && !*hasRing)
            drop = expired(continuous);
        else
            drop = (!*hasMotion || expired(motion)) && (!*hasRing || expired(ring));
        if (drop)
            out.push_back(seg);
    }
    return out;
}

void Storage::deleteOrphanedEvents(int64_t nowUs) {
    // Events without video (a camera in mode off, or before setup) still go
    // after the camera's max_days. Events whose video retention deleted go
    // with it (forgetEventsOf). Running and protected events always stay.
    std::vector<std::string> cameras;
    for (const auto& [c, _] : configured_)
        cameras.push_back(c);
    for (const auto& [c, _] : overrides_)
        if (!configured_.count(c))
            cameras.push_back(c);
    std::vector<EventRow> gone;
    for (const auto& camera : cameras) {
        const auto days = retentionFor(camera).maxDays;
        if (!days)
            continue;
        auto old = index_.orphanedEvents(
            camera, nowUs - static_cast<int64_t>(std::llround(*days * 86'400e6)));
        if (old)
            for (auto& e : *old)
                if (e.startUs >= kEarliestPlausibleWallUs)  // an unknown age is not an old one
                    gone.push_back(std::move(e));
    }
    forgetEvents(gone);
}

void Storage::forgetEventsOf(const std::vector<SegmentRow>& deleted) {
    std::vector<EventRow> gone;
    for (const auto& row : deleted) {
        auto events = index_.events(row.camera, row.startUs, row.endUs);
        if (!events)
            continue;
        for (const auto& e : *events) {
            if (e.endUs == 0 || e.isProtected)
                continue;
            auto left = index_.segments(e.camera, e.startUs, std::max(e.endUs, e.startUs + 1));
            if (left && left->empty() &&
                std::none_of(gone.begin(), gone.end(),
                             [&](const EventRow& g) { return g.id == e.id; }))
                gone.push_back(e);
        }
    }
    forgetEvents(gone);
}

void Storage::forgetEvents(const std::vector<EventRow>& gone) {
    std::vector<std::string> snapshots;
    for (const auto& e : gone) {
        (void)index_.removeEvent(e.id);
        if (!e.snapshot.empty())
            snapshots.push_back(e.snapshot);
    }
    if (snapshots.empty())
        return;
    worker_->run([snapshots, root = stateDir_] {
        for (const auto& p : snapshots) {
            const std::filesystem::path file = root / p;
            ::unlink(file.c_str());
            syncDirectory(file.parent_path());
            std::error_code ec;
            std::filesystem::remove(file.parent_path(), ec);
        }
    });
}

void Storage::endStream(const std::string& camera) {
    auto it = recorders_.find(camera);
    if (it != recorders_.end())
        closeSegment(*it->second, std::nullopt);
}

void Storage::finishAll(std::function<void()> done) {
    for (auto& [camera, r] : recorders_)
        closeSegment(*r, std::nullopt);
    // Once the disk work is done and its results are in (posts arrive in
    // order), try once more the index changes a full disk refused, so that
    // an orderly stop leaves no row "writing" for a file that is gone.
    worker_->run([this, post = post_, done = std::move(done), alive = std::weak_ptr<bool>(alive_)] {
        post([this, done, alive] {
            if (!alive.expired())
                retryRows();
            done();
        });
    });
}

void Storage::onWriteError(const std::string& camera, const std::string& message, bool diskFull,
                           const std::shared_ptr<Segment>& failed) {
    lastProblem_ = "camera " + camera + ": " + message;
    // The segment that failed, if it is still the one being recorded (compared
    // by identity: its writer-side fields belong to the disk thread).
    if (auto it = recorders_.find(camera);
        failed && it != recorders_.end() && it->second->segment == failed) {
        // Start over on the next keyframe, in a new file.
        it->second->segment.reset();
        it->second->held.reset();
        it->second->fragment.clear();
    }
    if (diskFull) {
        if (!diskFull_)
            PL_LOG(StorageLog, Error) << "disk full while recording camera " << camera
                                      << ": deleting the oldest recordings to make room";
        diskFull_ = true;
        // The write needed more than what is free, whatever min_free says:
        // make room beyond it for about a segment of every camera. Room for a
        // few fragments only (as before) filled again within seconds, and each
        // time a fragment and the wait for the next keyframe were lost.
        // On a small filesystem, no more than a quarter of it.
        const auto fragments = static_cast<uint64_t>(std::ceil(options_.segmentSeconds)) + 4;
        uint64_t room = lastFragmentBytes_ * fragments * std::max<uint64_t>(1, recorders_.size());
        struct statvfs st {};
        if (::statvfs(stateDir_.c_str(), &st) == 0)
            room = std::min<uint64_t>(room, static_cast<uint64_t>(st.f_blocks) * st.f_frsize / 4);
        enforceRetention(std::max(room, 4 * lastFragmentBytes_));
    } else {
        PL_LOG(StorageLog, Error) << lastProblem_;
    }
}

std::optional<uint64_t> Storage::freeBytes() const {
    if (options_.freeBytesOverride)
        return options_.freeBytesOverride();
    struct statvfs st {};
    if (::statvfs(stateDir_.c_str(), &st) != 0)
        return std::nullopt;
    return static_cast<uint64_t>(st.f_bavail) * st.f_frsize;
}

uint64_t Storage::minFreeBytes() const {
    if (options_.minFree.bytes)
        return *options_.minFree.bytes;
    struct statvfs st {};
    if (::statvfs(stateDir_.c_str(), &st) != 0)
        return 0;
    const double total = static_cast<double>(st.f_blocks) * static_cast<double>(st.f_frsize);
    return static_cast<uint64_t>(total * options_.minFree.percent / 100.0);
}

void Storage::scheduleRetention() {
    retentionTimer_ = clock_.schedule(options_.retentionInterval, [this] {
        enforceRetention();
        scheduleRetention();
    });
}

void Storage::setRow(const RowChange& change) {
    auto done = change.remove
                    ? index_.removeSegmentRow(change.id)
                    : index_.updateSegment(change.id, change.endUs, change.bytes, change.state);
    if (done)
        return;
    // Most likely the disk is full and SQLite cannot grow: the file is sound,
    // so keep the change and try again after retention has made room
    // (otherwise the row would stay "writing", which retention never deletes).
    lastProblem_ = done.error().message;
    PL_LOG(StorageLog, Warning) << "index: cannot record segment " << change.id << " yet ("
                                << done.error().message << "); trying again shortly";
    pendingRows_.push_back(change);
}

void Storage::addRow(const std::shared_ptr<Segment>& seg, const SegmentRow& row) {
    auto id = index_.addSegment(row);
    if (!id) {
        // Most likely the disk is full and SQLite cannot grow. The file is
        // sound and recording goes on into it; without a row, retention
        // could not see it and an orderly stop would leave it unindexed. Try
        // again after retention has made room (and at the latest on stop).
        lastProblem_ = id.error().message;
        PL_LOG(StorageLog, Error) << seg->path << ": " << id.error().message
                                  << "; adding it to the index again shortly";
        seg->rowPending = true;
        pendingAdds_.emplace_back(seg, row);
        return;
    }
    seg->rowId = *id;
    seg->rowPending = false;
    if (seg->rowChange) {
        RowChange change = *seg->rowChange;
        seg->rowChange.reset();
        change.id = seg->rowId;
        setRow(change);
    }
    if (diskFull_) {
        diskFull_ = false;
        PL_LOG(StorageLog, Notice) << "recording again: space was freed";
    }
}

void Storage::changeRow(const std::shared_ptr<Segment>& seg, RowChange change) {
    if (seg->rowId) {
        change.id = seg->rowId;
        setRow(change);
    } else if (seg->rowPending && change.remove) {
        // Its file is gone: nothing to add any more.
        seg->rowPending = false;
        seg->rowChange.reset();
        std::erase_if(pendingAdds_, [&](const auto& p) { return p.first == seg; });
    } else if (seg->rowPending) {
        seg->rowChange = change;
    }
}

void Storage::retryRows() {
    auto adds = std::move(pendingAdds_);
    pendingAdds_.clear();
    for (const auto& [seg, row] : adds)
        if (seg->rowPending)
            addRow(seg, row);
    auto pending = std::move(pendingRows_);
    pendingRows_.clear();
    for (const auto& change : pending)
        setRow(change);
}

void Storage::enforceRetention(uint64_t extraFree) {
    retryRows();
    const int64_t nowUs =
        std::chrono::duration_cast<std::chrono::microseconds>(clock_.wallNow().time_since_epoch())
            .count();
    std::vector<std::string> cameras;
    for (const auto& [c, _] : configured_)
        cameras.push_back(c);
    for (const auto& [c, _] : overrides_)
        if (!configured_.count(c))
            cameras.push_back(c);

    // Until the clock is set, "days old" means nothing: an age limit measured
    // from 1970 keeps everything, and one measured from the moment NTP answers
    // would wipe whatever was recorded before. Ages wait; sizes do not.
    const bool clockSet = nowUs >= kEarliestPlausibleWallUs;
    if (!clockSet && !warnedClockUnset_)
        PL_LOG(StorageLog, Warning)
            << "the wall clock is not set (it says " << nowUs / 1'000'000
            << " s since 1970): retention by age waits for it; size limits and min_free "
               "still apply";
    warnedClockUnset_ = !clockSet;
    // Recordings labelled while the clock was unset have no known age.
    const auto withKnownAge = [](std::vector<SegmentRow> rows) {
        std::erase_if(rows,
                      [](const SegmentRow& r) { return r.startUs < kEarliestPlausibleWallUs; });
        return rows;
    };

    uint64_t skipped = 0;
    std::optional<Expected<std::map<std::string, CameraUsage>>> usage;
    for (const auto& camera : cameras) {
        const RetentionConfig limits = retentionFor(camera);
        if (clockSet)
            if (auto byKind = withKnownAge(expiredByKind(camera, limits, nowUs)); !byKind.empty())
                deleteSegments(byKind, "past the retention for their kind");
        if (limits.maxDays && clockSet) {
            const int64_t cutoff =
                nowUs - static_cast<int64_t>(std::llround(*limits.maxDays * 86'400e6));
            auto old = index_.endedBefore(camera, cutoff);
            if (old)
                if (auto known = withKnownAge(std::move(*old)); !known.empty())
                    deleteSegments(known,
                                   "older than " + std::to_string(*limits.maxDays) + " days");
        }
        if (limits.maxBytes) {
            // The sums are one scan of the index: once a pass, and only when a
            // camera has a size limit at all.
            if (!usage)
                usage = index_.usage();
            if (!*usage)
                continue;
            uint64_t used = (**usage)[camera].bytes;
            if (used <= *limits.maxBytes)
                continue;
            auto candidates = index_.oldestDeletable(camera, 100'000);
            if (!candidates)
                continue;
            std::vector<SegmentRow> drop;
            for (const auto& row : *candidates) {
                if (used <= *limits.maxBytes)
                    break;
                used -= std::min(used, row.bytes);
                drop.push_back(row);
            }
            if (!drop.empty())
                deleteSegments(drop, "over the camera's size limit");
            if (used > *limits.maxBytes) {
                auto prot = index_.protectedUsage();
                if (prot)
                    skipped += (*prot)[camera].segments;
            }
        }
    }

    // The filesystem's free space, whatever the cameras' own limits say.
    if (auto free = freeBytes()) {
        const uint64_t want = minFreeBytes() + extraFree;
        if (*free < want) {
            uint64_t need = want - *free;
            auto candidates = index_.oldestDeletable("", 100'000);
            std::vector<SegmentRow> drop;
            if (candidates)
                for (const auto& row : *candidates) {
                    if (need == 0)
                        break;
                    need -= std::min(need, row.bytes);
                    drop.push_back(row);
                }
            if (!drop.empty())
                deleteSegments(drop, "to keep the disk's minimum free space");
            if (need > 0 && !diskFull_) {
                lastProblem_ = "low disk space: nothing left that retention may delete";
                PL_LOG(StorageLog, Warning) << lastProblem_;
            }
        }
    }
    protectedSkipped_ = skipped;
    if (clockSet)
        deleteOrphanedEvents(nowUs);
}

void Storage::deleteSegments(const std::vector<SegmentRow>& rows, const std::string& why) {
    if (auto r = index_.markGarbage(rows); !r) {
        if (!diskFull_) {
            lastProblem_ = r.error().message;
            PL_LOG(StorageLog, Error) << "retention: " << r.error().message;
            return;
        }
        // The disk is so full that the index cannot even record the deletion.
        // Remove the files first, then their rows: a crash in between leaves
        // rows without files, which start-up repair forgets (reconcile()).
        PL_LOG(StorageLog, Warning)
            << "retention: the index cannot grow (" << r.error().message << "); deleting "
            << rows.size() << " segment(s) before their index rows";
        worker_->run(
            [this, rows, root = stateDir_, post = post_, alive = std::weak_ptr<bool>(alive_)] {
                for (const auto& row : rows) {
                    const std::filesystem::path file = root / row.path;
                    ::unlink(file.c_str());
                    syncDirectory(file.parent_path());
                }
                post([this, rows, alive] {
                    if (alive.expired())
                        return;
                    for (const auto& row : rows)
                        setRow({row.id, 0, 0, SegmentState::Repaired, true});
                });
            });
        return;
    }
    forgetEventsOf(rows);
    uint64_t bytes = 0;
    for (const auto& row : rows)
        bytes += row.bytes;
    PL_LOG(StorageLog, Info) << "retention: deleting " << rows.size() << " segment(s), " << bytes
                             << " bytes, " << why;
    std::vector<std::string> paths;
    for (const auto& row : rows)
        paths.push_back(row.path);
    worker_->run([this, paths = std::move(paths), root = stateDir_, post = post_,
                  alive = std::weak_ptr<bool>(alive_)] {
        for (const auto& p : paths) {
            const std::filesystem::path file = root / p;
            ::unlink(file.c_str());
            syncDirectory(file.parent_path());
            std::error_code ec;
            // An emptied day folder goes too (remove fails harmlessly if not empty).
            std::filesystem::remove(file.parent_path(), ec);
        }
        post([this, paths, alive] {
            if (alive.expired())
                return;
            for (const auto& p : paths)
                (void)index_.forgetGarbage(p);
        });
    });
}

StorageStatus Storage::status() {
    StorageStatus s;
    if (auto u = index_.usage())
        for (const auto& [c, usage] : *u)
            s.usedBytes += usage.bytes;
    s.freeBytes = freeBytes().value_or(0);
    if (auto o = index_.oldestRecordingUs())
        s.oldestUs = *o;
    s.ownerConfigured = publicKey_.has_value();
    s.diskFull = diskFull_;
    s.lastProblem = lastProblem_;
    s.protectedSkipped = protectedSkipped_;
    return s;
}

}  // namespace porchlight::storage
