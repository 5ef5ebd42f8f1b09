// The recordings API: see recordings.h.
#include "recordings.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <ctime>
#include <map>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <nlohmann/json.hpp>

#include "fmp4.h"
#include "log.h"
#include "sealed.h"
#include "segment_file.h"

PL_DEFINE_LOG_CATEGORY(RecordingsLog, "recordings")

namespace porchlight::web {

namespace asio = boost::asio;
using Json = nlohmann::json;

namespace {

// Ranges closer than this are one recorded range on the timeline (a segment
// boundary in continuous recording leaves a gap of at most a frame or two).
constexpr int64_t kJoinUs = 2'000'000;
// The longest span one request may cover: a day and a bit (a local day
// around a daylight saving change is 25 h).
constexpr int64_t kMaxRangeUs = 26LL * 3600 * 1'000'000;
// Event export: from a little before the event (events mode keeps at least
// 5 s of pre-roll) to its end, at least this long for a ring (an instant).
constexpr int64_t kEventBeforeUs = 5'000'000;
constexpr int64_t kEventMinUs = 10'000'000;

int64_t ticksToUs(int64_t ticks) {
    return ticks * 100 / 9;
}
int64_t usToTicks(int64_t us) {
    return us * 9 / 100;
}

Response json(const Json& body, unsigned status = 200) {
    Response r;
    r.status = status;
    r.body = body.dump();
    return r;
}

/// 400 naming the parameter that is wrong in "field", as every 400 of the
/// API names the bad part of a request.
Response badParameter(const std::string& name, const std::string& why) {
    Response r = json({{"error", "parameter " + name + ": " + why}, {"field", name}}, 400);
    return r;
}

std::optional<std::string> param(const Request& request, const std::string& name) {
    auto it = request.query.find(name);
    if (it == request.query.end())
        return std::nullopt;
    return it->second;
}

/// A whole number of microseconds (or an id).
Expected<int64_t> parseInteger(const std::string& text) {
    if (text.empty() || text.size() > 20)
        return makeError("must be a whole number");
    size_t i = text[0] == '-' ? 1 : 0;
    if (i == text.size())
        return makeError("must be a whole number");
    for (size_t k = i; k < text.size(); ++k)
        if (text[k] < '0' || text[k] > '9')
            return makeError("must be a whole number");
    errno = 0;
    char* end = nullptr;
    long long v = std::strtoll(text.c_str(), &end, 10);
    if (errno != 0 || *end)
        return makeError("is out of range");
    return static_cast<int64_t>(v);
}

bool validCameraId(const std::string& id) {
    if (id.empty() || id.size() > 64)
        return false;
    return std::all_of(id.begin(), id.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '-' || c == '_' || c == '.';
    });
}

std::string utcText(int64_t us, const char* format) {
    time_t secs = static_cast<time_t>(us / 1'000'000);
    struct tm tm {};
    gmtime_r(&secs, &tm);
    char buf[64];
    std::strftime(buf, sizeof buf, format, &tm);
    return buf;
}

std::string codecString(const mp4::TrackInfo& track) {
    if (track.avcC.size() < 4)
        return "avc1.42e01e";
    char buf[16];
    std::snprintf(buf, sizeof buf, "avc1.%02x%02x%02x", track.avcC[1], track.avcC[2],
                  track.avcC[3]);
    return buf;
}

segment::Identity identityOf(const storage::SegmentRow& row) {
    return {row.camera, row.sequence, row.startUs};
}

/// Where a segment being written has got to, without any key.
int64_t liveEnd(const std::filesystem::path& stateDir, const storage::SegmentRow& row) {
    if (row.state != storage::SegmentState::Writing)
        return row.endUs;
    auto s = segment::scan(stateDir / row.path);
    return s ? std::max(s->endUs, row.startUs) : row.startUs;
}

}  // namespace

Expected<std::vector<storage::SegmentRow>> segmentsFor(storage::Index& index,
                                                       const std::string& camera, int64_t fromUs,
                                                       int64_t toUs) {
    auto rows = index.segments(camera, fromUs, toUs);
    if (!rows)
        return rows.error();
    // A row being written says it ends where it starts until it is closed.
    auto writing = index.segmentsInState(storage::SegmentState::Writing);
    if (!writing)
        return writing.error();
    for (auto& w : *writing)
        if (w.camera == camera && w.startUs < toUs &&
            std::none_of(rows->begin(), rows->end(), [&](const auto& r) { return r.id == w.id; }))
            rows->push_back(w);
    std::sort(rows->begin(), rows->end(),
              [](const auto& a, const auto& b) { return a.startUs < b.startUs; });
    return rows;
}

// ---------------------------------------------------------------- shared

struct Recordings::Shared {
    asio::io_context& io;
    std::filesystem::path stateDir;
    IndexAccess index;
    CameraKnown known;
    audit::AuditLog* audit;
    Options options;
    std::unique_ptr<asio::thread_pool> pool;
    bool closed = false;
    size_t streams = 0;

    Shared(asio::io_context& context, std::filesystem::path dir, IndexAccess i, CameraKnown k,
           audit::AuditLog& a, Options o)
        : io(context),
          stateDir(std::move(dir)),
          index(std::move(i)),
          known(std::move(k)),
          audit(&a),
          options(o),
          pool(std::make_unique<asio::thread_pool>(std::max(1u, o.workers))) {}
    ~Shared() {
        pool->stop();
        pool->join();
    }

    /// Runs \a work on a worker, then \a done with its result on the loop,
    /// unless \a owner is gone by then.
    template <typename Result, typename Owner>
    void offLoop(std::weak_ptr<Owner> owner, std::function<Result()> work,
                 std::function<void(std::shared_ptr<Owner>, Result)> done) {
        asio::post(*pool, [&io = io, owner, work = std::move(work), done = std::move(done)] {
            Result result = work();
            asio::post(io, [owner, result = std::move(result), done]() mutable {
                if (auto o = owner.lock())
                    done(std::move(o), std::move(result));
            });
        });
    }

    void record(const char* kind, const std::string& who, const Json& detail) {
        if (!audit)
            return;
        if (auto ok = audit->append(kind, who, detail); !ok)
            PL_LOG(RecordingsLog, Error)
                << "cannot record a " << kind << " in the audit log: " << ok.error().message;
    }
};

// ---------------------------------------------------------------- playback

namespace {

/// The worker's side of a playback stream: the open segment and what has
/// been sent. Only one job at a time touches it.
struct PlaybackWork {
    int64_t fromUs = 0;
    int64_t baseTicks = 0;  // 90 kHz since 1970 of media time 0
    bool started = false;
    uint32_t sequence = 0;
    std::optional<mp4::TrackInfo> track;
    std::vector<mp4::Sample> pending;  // from the last keyframe at or before fromUs
    int64_t pendingStartUs = 0;
    std::optional<segment::Reader> reader;
    storage::SegmentRow row;
    int64_t lastEndUs = 0;  // wall time the stream has reached
};

enum class Step { Data, SegmentEnd, Stalled, Damaged, TrackChanged };

struct StepResult {
    Step step = Step::Data;
    std::string bytes;
    std::string problem;
};

/// \a samples' dts count from \a rowStartUs (0: they are absolute already).
std::string fragmentBytes(PlaybackWork& w, std::vector<mp4::Sample> samples, int64_t rowStartUs) {
    // Media time follows the wall clock from baseTicks, so the gaps between
    // recordings are gaps on the player's timeline too.
    const int64_t shift = usToTicks(rowStartUs) - w.baseTicks;
    for (auto& s : samples)
        s.dts += shift;
    auto bytes = mp4::writeFragment(++w.sequence, samples);
    return std::string(bytes.begin(), bytes.end());
}

/// Decrypts chunks until one fragment's worth of output (or an end).
StepResult playbackStep(PlaybackWork& w) {
    StepResult out;
    for (;;) {
        auto chunk = w.reader->next();
        if (!chunk) {
            out.step = Step::Damaged;
            out.problem = chunk.error().message;
            return out;
        }
        if (!*chunk) {
            out.step = w.reader->finished() ? Step::SegmentEnd : Step::Stalled;
            return out;
        }
        auto& c = **chunk;
        if (c.kind == segment::ChunkKind::Init) {
            auto t = mp4::parseInitSegment(c.plaintext);
            if (!t) {
                out.step = Step::Damaged;
                out.problem = w.row.path + ": " + t.error().message;
                return out;
            }
            if (!w.track) {
                w.track = *t;
            } else if (!(*w.track == *t)) {
                out.step = Step::TrackChanged;
                return out;
            }
            continue;
        }
        if (!w.track) {
            out.step = Step::Damaged;
            out.problem = w.row.path + ": a fragment before the init segment";
            return out;
        }
        auto samples = mp4::parseFragment(c.plaintext);
        if (!samples) {
            out.step = Step::Damaged;
            out.problem = w.row.path + ": " + samples.error().message;
            return out;
        }
        if (samples->empty())
            continue;
        const auto absUs = [&](const mp4::Sample& s) { return w.row.startUs + ticksToUs(s.dts); };
        const auto& lastSample = samples->back();
        w.lastEndUs = absUs(lastSample) + ticksToUs(lastSample.duration);
        if (w.started) {
            out.bytes = fragmentBytes(w, std::move(*samples), w.row.startUs);
            return out;
        }
        // Not started: keep the samples from the latest keyframe at or before
        // fromUs (or the first keyframe after it) and start once fromUs is reached.
        for (auto& s : *samples) {
            const int64_t at = absUs(s);
            if (s.keyframe && (at <= w.fromUs || w.pending.empty())) {
                w.pending.clear();
                w.pendingStartUs = at;
            }
            if (!w.pending.empty() || s.keyframe) {
                // Absolute: the pending GOP may start in the segment before.
                s.dts += usToTicks(w.row.startUs);
                w.pending.push_back(std::move(s));
            }
        }
        if (w.pending.empty() || w.lastEndUs <= w.fromUs)
            continue;  // fromUs is further on
        w.started = true;
        w.baseTicks = w.pending.front().dts;
        auto init = mp4::writeInitSegment(*w.track);
        out.bytes.assign(init.begin(), init.end());
        std::vector<mp4::Sample> first = std::move(w.pending);
        w.pending.clear();
        out.bytes += fragmentBytes(w, std::move(first), 0);
        return out;
    }
}

}  // namespace

class PlaybackSource final : public BodySource,
                             public std::enable_shared_from_this<PlaybackSource> {
public:
    PlaybackSource(std::shared_ptr<Recordings::Shared> shared, Session& session,
                   std::weak_ptr<const void> alive, std::string camera, int64_t fromUs)
        : shared_(std::move(shared)),
          session_(&session),
          sessionAlive_(std::move(alive)),
          camera_(std::move(camera)),
          timer_(shared_->io) {
        work_ = std::make_shared<PlaybackWork>();
        work_->fromUs = fromUs;
        work_->lastEndUs = fromUs;
        ++shared_->streams;
    }
    ~PlaybackSource() override { --shared_->streams; }

    /// Find the start and produce the first piece (init + first fragment);
    /// \a ready gets false when there is nothing to play.
    void prime(std::function<void(bool, std::string)> ready) {
        ready_ = std::move(ready);
        produce();
    }
    int64_t baseUs() const { return ticksToUs(work_->baseTicks); }
    std::string codec() const { return work_->track ? codecString(*work_->track) : ""; }
    const std::vector<std::string>& skipped() const { return skipped_; }

    void next(std::function<void(Piece)> give) override {
        if (!primed_.empty()) {
            Piece p{std::move(primed_), false, false};
            primed_.clear();
            return give(std::move(p));
        }
        give_ = std::move(give);
        produce();
    }
    void cancel() override {
        cancelled_ = true;
        give_ = nullptr;
        ready_ = nullptr;
        timer_.cancel();
    }

private:
    bool sessionGone() const { return sessionAlive_.expired() || shared_->closed; }

    void deliver(Piece piece) {
        if (ready_) {
            auto ready = std::move(ready_);
            ready_ = nullptr;
            const bool ok = !piece.failed && !piece.data.empty();
            primed_ = std::move(piece.data);
            ready(ok, ok ? std::string() : problem_);
            return;
        }
        if (give_) {
            auto give = std::move(give_);
            give_ = nullptr;
            give(std::move(piece));
        }
    }
    void end() { deliver(Piece{"", true, false}); }

    /// On the loop: make sure a segment is open, then decrypt on a worker.
    void produce() {
        if (cancelled_)
            return;
        if (sessionGone()) {
            PL_LOG(RecordingsLog, Info) << "playback of " << camera_ << " stopped: session ended";
            problem_ = "the session ended";
            return deliver(Piece{"", false, true});
        }
        if (!work_->reader && !openNext())
            return;  // ended, or waiting for the next segment
        shared_->offLoop<StepResult, PlaybackSource>(
            weak_from_this(), [work = work_] { return playbackStep(*work); },
            [](std::shared_ptr<PlaybackSource> self, StepResult r) {
                self->stepped(std::move(r));
            });
    }

    void stepped(StepResult r) {
        if (cancelled_)
            return;
        switch (r.step) {
            case Step::Data:
                idleSince_.reset();
                if (r.bytes.empty())
                    return produce();
                return deliver(Piece{std::move(r.bytes), false, false});
            case Step::SegmentEnd:
                work_->reader.reset();
                return produce();
            case Step::Stalled:
                return stalled();
            case Step::Damaged:
                // Skip the rest of this segment; the player sees the gap.
                PL_LOG(RecordingsLog, Warning) << "playback of " << camera_ << ": " << r.problem
                                               << " (skipped to the next segment)";
                skipped_.push_back(r.problem);
                problem_ = r.problem;
                work_->reader.reset();
                return produce();
            case Step::TrackChanged:
                // A new resolution needs a new init segment: the player asks
                // again from here.
                return end();
        }
    }

    /// At the end of what is on disk of a segment that is not closed.
    void stalled() {
        storage::Index* index = shared_->closed ? nullptr : shared_->index();
        std::optional<storage::SegmentRow> row;
        if (index)
            if (auto r = index->segmentByPath(work_->row.path); r && *r)
                row = **r;
        if (row && row->state != storage::SegmentState::Writing) {
            // Closed since, or cut by a crash and repaired: one more read
            // finds the final record, else it ends here.
            if (!finalChance_) {
                finalChance_ = true;
                return produce();
            }
            finalChance_ = false;
            work_->reader.reset();
            return produce();
        }
        if (!row) {
            work_->reader.reset();  // deleted meanwhile (retention)
            return produce();
        }
        waitAndRetry();
    }

    void waitAndRetry() {
        const auto now = std::chrono::steady_clock::now();
        if (!idleSince_)
            idleSince_ = now;
        if (now - *idleSince_ >= shared_->options.followIdleEnd)
            return end();
        timer_.expires_after(shared_->options.followPoll);
        timer_.async_wait([weak = weak_from_this()](boost::system::error_code ec) {
            auto self = weak.lock();
            if (!self || ec)
                return;
            self->produce();
        });
    }

    /// Opens the next segment after the one played (or the first one).
    /// false when it ended the stream or set a timer to look again.
    bool openNext() {
        storage::Index* index = shared_->closed ? nullptr : shared_->index();
        if (!index) {
            problem_ = "the recordings index is not open yet";
            deliver(Piece{"", false, true});
            return false;
        }
        const bool first = !haveRow_;
        const int64_t from = first ? work_->fromUs : work_->row.startUs;
        auto rows = segmentsFor(*index, camera_, from, INT64_MAX);
        if (!rows) {
            problem_ = rows.error().message;
            deliver(Piece{"", false, true});
            return false;
        }
        for (const auto& row : *rows) {
            if (!first && row.startUs <= work_->row.startUs)
                continue;
            if (first && row.state != storage::SegmentState::Writing && row.endUs < from)
                continue;
            // The owner's key opens the segment's key here, on the loop,
            // while the session is known to be alive.
            auto reader =
                segment::Reader::open(shared_->stateDir / row.path, session_->key, identityOf(row));
            haveRow_ = true;
            work_->row = row;
            if (!reader) {
                PL_LOG(RecordingsLog, Warning)
                    << "playback of " << camera_ << ": " << reader.error().message << " (skipped)";
                skipped_.push_back(reader.error().message);
                problem_ = reader.error().message;
                continue;
            }
            reader->setVerifyChecksums(false);  // the AEAD authenticates what is played
            work_->reader = std::move(*reader);
            return true;
        }
        // Nothing further yet: follow the camera while it records.
        if (!first && shared_->known(camera_)) {
            waitAndRetry();
            return false;
        }
        if (problem_.empty())
            problem_ = "no recording of camera \"" + camera_ + "\" at or after that time";
        if (work_->started)
            end();
        else
            deliver(Piece{"", false, true});
        return false;
    }

    std::shared_ptr<Recordings::Shared> shared_;
    Session* session_;  // valid while sessionAlive_ has not expired
    std::weak_ptr<const void> sessionAlive_;
    std::string camera_;
    asio::steady_timer timer_;
    std::shared_ptr<PlaybackWork> work_;
    bool haveRow_ = false;
    bool cancelled_ = false;
    bool finalChance_ = false;
    std::function<void(bool, std::string)> ready_;
    std::function<void(Piece)> give_;
    std::string primed_;
    std::string problem_;
    std::vector<std::string> skipped_;
    std::optional<std::chrono::steady_clock::time_point> idleSince_;
};

// ---------------------------------------------------------------- export

namespace {

struct SampleMeta {
    uint32_t row;
    uint32_t ordinal;
    int64_t absUs;
    mp4::SampleInfo info;
};

struct Pass1Result {
    std::vector<SampleMeta> samples;
    std::optional<mp4::TrackInfo> track;
    std::string problem;  // the segment was cut short or skipped
    bool skipWhole = false;
};

/// Pass 1 over one segment: every sample's timing and size, no video kept.
Pass1Result scanSegment(segment::Reader& reader, const storage::SegmentRow& row,
                        uint32_t rowIndex) {
    Pass1Result out;
    uint32_t ordinal = 0;
    for (;;) {
        auto chunk = reader.next();
        if (!chunk) {
            out.problem = chunk.error().message;
            return out;
        }
        if (!*chunk)
            return out;
        auto& c = **chunk;
        if (c.kind == segment::ChunkKind::Init) {
            auto t = mp4::parseInitSegment(c.plaintext);
            if (!t) {
                out.problem = row.path + ": " + t.error().message;
                out.skipWhole = true;
                return out;
            }
            if (out.track && !(*out.track == *t)) {
                out.problem = row.path + ": a second, different init segment";
                out.skipWhole = true;
                return out;
            }
            out.track = *t;
            continue;
        }
        auto samples = mp4::parseFragment(c.plaintext);
        if (!samples) {
            out.problem = row.path + ": " + samples.error().message;
            return out;
        }
        for (const auto& s : *samples) {
            SampleMeta m;
            m.row = rowIndex;
            m.ordinal = ordinal++;
            m.absUs = row.startUs + ticksToUs(s.dts);
            m.info.size = static_cast<uint32_t>(s.data.size());
            m.info.ctsOffset = s.ctsOffset;
            m.info.duration = s.duration;
            m.info.keyframe = s.keyframe;
            out.samples.push_back(m);
        }
    }
}

struct Picked {
    uint32_t row;
    uint32_t first;  // ordinals [first, end) of that segment
    uint32_t end;
};

struct Pass2Work {
    std::optional<segment::Reader> reader;
    uint32_t ordinal = 0;
    Picked pick{};
    std::string path;
};

struct Pass2Result {
    std::string bytes;
    bool done = false;  // this segment's picked samples are all out
    std::string problem;
};

/// Pass 2: the picked samples' data of one fragment at a time.
Pass2Result exportStep(Pass2Work& w) {
    Pass2Result out;
    while (out.bytes.empty()) {
        if (w.ordinal >= w.pick.end) {
            out.done = true;
            return out;
        }
        auto chunk = w.reader->next();
        if (!chunk) {
            out.problem = chunk.error().message;
            return out;
        }
        if (!*chunk) {
            out.problem = w.path + " changed while it was exported";
            return out;
        }
        if ((*chunk)->kind != segment::ChunkKind::Fragment)
            continue;
        auto samples = mp4::parseFragment((*chunk)->plaintext);
        if (!samples) {
            out.problem = w.path + ": " + samples.error().message;
            return out;
        }
        for (const auto& s : *samples) {
            if (w.ordinal >= w.pick.first && w.ordinal < w.pick.end)
                out.bytes.append(reinterpret_cast<const char*>(s.data.data()), s.data.size());
            ++w.ordinal;
        }
    }
    return out;
}

}  // namespace

class ExportSource final : public BodySource, public std::enable_shared_from_this<ExportSource> {
public:
    struct Plan {
        std::vector<storage::SegmentRow> rows;
        std::vector<Picked> picks;
        std::string header;
        uint64_t length = 0;
        double seconds = 0;
    };

    ExportSource(std::shared_ptr<Recordings::Shared> shared, Session& session,
                 std::weak_ptr<const void> alive, std::string camera, int64_t fromUs, int64_t toUs)
        : shared_(std::move(shared)),
          session_(&session),
          sessionAlive_(std::move(alive)),
          camera_(std::move(camera)),
          fromUs_(fromUs),
          toUs_(toUs) {
        ++shared_->streams;
    }
    ~ExportSource() override { --shared_->streams; }

    /// Pass 1, segment by segment on the worker; then \a ready with the plan
    /// (or an error in words).
    void plan(std::function<void(Expected<void>)> ready) {
        ready_ = std::move(ready);
        storage::Index* index = shared_->closed ? nullptr : shared_->index();
        if (!index)
            return fail("the recordings index is not open yet");
        auto rows = segmentsFor(*index, camera_, fromUs_, toUs_);
        if (!rows)
            return fail(rows.error().message);
        plan_.rows = std::move(*rows);
        if (plan_.rows.empty())
            return fail("camera \"" + camera_ + "\" has no recording in that range");
        scanRow(0);
    }
    const Plan& planned() const { return plan_; }
    const std::vector<std::string>& skipped() const { return skipped_; }

    void next(std::function<void(Piece)> give) override {
        if (cancelled_)
            return;
        if (sessionGone())
            return give(Piece{"", false, true});
        if (!headerSent_) {
            headerSent_ = true;
            headerLength_ = plan_.header.size();
            return give(Piece{std::move(plan_.header), plan_.length == plan_.header.size(), false});
        }
        if (!work_->reader) {
            if (pick_ >= plan_.picks.size())
                return give(Piece{"", true, false});
            const auto& p = plan_.picks[pick_];
            const auto& row = plan_.rows[p.row];
            auto reader =
                segment::Reader::open(shared_->stateDir / row.path, session_->key, identityOf(row));
            if (!reader) {
                PL_LOG(RecordingsLog, Warning) << "export: " << reader.error().message;
                return give(Piece{"", false, true});
            }
            reader->setVerifyChecksums(false);
            work_->reader = std::move(*reader);
            work_->ordinal = 0;
            work_->pick = p;
            work_->path = row.path;
        }
        give_ = std::move(give);
        shared_->offLoop<Pass2Result, ExportSource>(
            weak_from_this(), [w = work_] { return exportStep(*w); },
            [](std::shared_ptr<ExportSource> self, Pass2Result r) { self->wrote(std::move(r)); });
    }
    void cancel() override {
        cancelled_ = true;
        give_ = nullptr;
        ready_ = nullptr;
    }

private:
    bool sessionGone() const { return sessionAlive_.expired() || shared_->closed; }

    void fail(std::string why) {
        if (auto ready = std::move(ready_)) {
            ready_ = nullptr;
            ready(makeError(std::move(why)));
        }
    }

    void scanRow(size_t i) {
        if (cancelled_)
            return;
        if (sessionGone())
            return fail("the session ended");
        if (i >= plan_.rows.size())
            return finishPlan();
        const auto& row = plan_.rows[i];
        auto reader =
            segment::Reader::open(shared_->stateDir / row.path, session_->key, identityOf(row));
        if (!reader) {
            skip(row, reader.error().message);
            return scanRow(i + 1);
        }
        reader->setVerifyChecksums(false);  // the AEAD authenticates what export reads
        auto r = std::make_shared<segment::Reader>(std::move(*reader));
        shared_->offLoop<Pass1Result, ExportSource>(
            weak_from_this(),
            [r, row, i] { return scanSegment(*r, row, static_cast<uint32_t>(i)); },
            [i](std::shared_ptr<ExportSource> self, Pass1Result result) {
                self->scanned(i, std::move(result));
            });
    }

    void scanned(size_t i, Pass1Result r) {
        if (cancelled_)
            return;
        const auto& row = plan_.rows[i];
        if (!r.problem.empty())
            skip(row, r.problem);
        if (!r.skipWhole && r.track) {
            if (!track_) {
                track_ = *r.track;
            } else if (!(*track_ == *r.track)) {
                skip(row, row.path +
                              ": the camera's resolution changed here; export this part "
                              "separately");
                r.samples.clear();
            }
            samples_.insert(samples_.end(), r.samples.begin(), r.samples.end());
        }
        scanRow(i + 1);
    }

    void skip(const storage::SegmentRow& row, const std::string& why) {
        PL_LOG(RecordingsLog, Warning) << "export of " << camera_ << ": " << why << " (skipped)";
        skipped_.push_back(std::to_string(row.startUs) + "-" + std::to_string(row.endUs));
    }

    void finishPlan() {
        if (!track_ || samples_.empty())
            return fail("nothing in that range could be read");
        // From the keyframe at or before the start, to the end.
        size_t first = samples_.size();
        for (size_t i = 0; i < samples_.size(); ++i) {
            if (!samples_[i].info.keyframe)
                continue;
            if (samples_[i].absUs <= fromUs_ || first == samples_.size())
                first = i;
            if (samples_[i].absUs > fromUs_)
                break;
        }
        if (first == samples_.size())
            return fail("no keyframe in that range: nothing can be decoded");
        mp4::Mp4FileWriter writer(*track_);
        const int64_t base = samples_[first].absUs;
        uint64_t dataBytes = 0;
        for (size_t i = first; i < samples_.size() && samples_[i].absUs < toUs_; ++i) {
            const auto& m = samples_[i];
            mp4::SampleInfo info = m.info;
            info.dts = usToTicks(m.absUs - base);
            writer.add(info);
            dataBytes += info.size;
            if (plan_.picks.empty() || plan_.picks.back().row != m.row)
                plan_.picks.push_back({m.row, m.ordinal, m.ordinal + 1});
            else
                plan_.picks.back().end = m.ordinal + 1;
        }
        samples_.clear();
        samples_.shrink_to_fit();
        auto header = writer.header();
        plan_.header.assign(header.begin(), header.end());
        plan_.length = plan_.header.size() + dataBytes;
        plan_.seconds = static_cast<double>(writer.durationTicks()) / mp4::kTimescale;
        work_ = std::make_shared<Pass2Work>();
        if (auto ready = std::move(ready_)) {
            ready_ = nullptr;
            ready({});
        }
    }

    void wrote(Pass2Result r) {
        if (cancelled_ || !give_)
            return;
        auto give = std::move(give_);
        give_ = nullptr;
        if (!r.problem.empty()) {
            PL_LOG(RecordingsLog, Warning)
                << "export of " << camera_ << " cut short: " << r.problem;
            return give(Piece{"", false, true});
        }
        if (r.done) {
            work_->reader.reset();
            ++pick_;
            // Ask again: the next segment (or the end).
            return next(std::move(give));
        }
        sent_ += r.bytes.size();
        const bool last = headerLength_ + sent_ == plan_.length;
        give(Piece{std::move(r.bytes), last, false});
    }

    std::shared_ptr<Recordings::Shared> shared_;
    Session* session_;
    std::weak_ptr<const void> sessionAlive_;
    std::string camera_;
    int64_t fromUs_, toUs_;
    std::function<void(Expected<void>)> ready_;
    std::function<void(Piece)> give_;
    std::optional<mp4::TrackInfo> track_;
    std::vector<SampleMeta> samples_;
    std::vector<std::string> skipped_;
    Plan plan_;
    std::shared_ptr<Pass2Work> work_;
    size_t pick_ = 0;
    uint64_t sent_ = 0;
    uint64_t headerLength_ = 0;
    bool headerSent_ = false;
    bool cancelled_ = false;
};

// ---------------------------------------------------------------- Recordings

Recordings::Recordings(asio::io_context& io, std::filesystem::path stateDir, IndexAccess index,
                       CameraKnown known, audit::AuditLog& audit, Options options)
    : shared_(std::make_shared<Shared>(io, std::move(stateDir), std::move(index), std::move(known),
                                       audit, options)) {}

Recordings::~Recordings() {
    shared_->closed = true;
    shared_->audit = nullptr;
}

size_t Recordings::activeStreams() const {
    return shared_->streams;
}

bool Recordings::handles(const std::string& path) {
    return path == "/api/recordings" || path == "/api/playback" || path == "/api/export" ||
           (path.starts_with("/api/events/") && path.ends_with("/snapshot"));
}

void Recordings::handle(const Request& request, Session& session,
                        std::weak_ptr<const void> sessionAlive,
                        std::function<void(Response)> respond) {
    if (request.method != "GET") {
        Response r = jsonError(405, request.path + " answers GET only");
        r.headers.emplace_back("Allow", "GET");
        return respond(std::move(r));
    }
    const std::string& path = request.path;
    if (path == "/api/recordings")
        return respond(recordings(request));
    if (path == "/api/playback")
        return playback(request, session, std::move(sessionAlive), std::move(respond));
    if (path == "/api/export")
        return exportClip(request, session, std::move(sessionAlive), std::move(respond));
    // /api/events/ID/snapshot
    const std::string id = path.substr(12, path.size() - 12 - 9);
    auto eventId = parseInteger(id);
    if (!eventId || *eventId <= 0)
        return respond(jsonError(404, "no such event: " + id));
    return respond(snapshot(request, session, *eventId));
}

namespace {

/// camera (known), from and to (whole µs, to after from, at most kMaxRangeUs apart).
struct RangeParams {
    std::string camera;
    int64_t fromUs = 0;
    int64_t toUs = 0;
};

std::optional<Response> readCamera(const Request& request, const Recordings::CameraKnown& known,
                                   storage::Index* index, std::string& camera) {
    auto c = param(request, "camera");
    if (!c || c->empty())
        return badParameter("camera", "missing: give a camera id");
    if (!validCameraId(*c))
        return badParameter("camera", "\"" + *c + "\" is not a camera id");
    if (!known(*c)) {
        auto usage = index ? index->usage()
                           : Expected<std::map<std::string, storage::CameraUsage>>(
                                 std::map<std::string, storage::CameraUsage>());
        if (!usage || !usage->count(*c))
            return jsonError(404, "no camera \"" + *c + "\"");
    }
    camera = *c;
    return std::nullopt;
}

std::optional<Response> readTime(const Request& request, const char* name, int64_t& out,
                                 bool required = true) {
    auto v = param(request, name);
    if (!v) {
        if (!required)
            return std::nullopt;
        return badParameter(name, "missing: give a time in microseconds since 1970 (UTC)");
    }
    auto n = parseInteger(*v);
    if (!n)
        return badParameter(
            name, "\"" + *v + "\" " + n.error().message + " (microseconds since 1970, UTC)");
    if (*n < 0 || *n > 32503680000LL * 1'000'000)
        return badParameter(name, "\"" + *v + "\" is not a plausible time");
    out = *n;
    return std::nullopt;
}

std::optional<Response> readRange(const Request& request, const Recordings::CameraKnown& known,
                                  storage::Index* index, RangeParams& p) {
    if (auto bad = readCamera(request, known, index, p.camera))
        return bad;
    if (auto bad = readTime(request, "from", p.fromUs))
        return bad;
    if (auto bad = readTime(request, "to", p.toUs))
        return bad;
    if (p.toUs <= p.fromUs)
        return badParameter("to", "must come after from");
    if (p.toUs - p.fromUs > kMaxRangeUs)
        return badParameter("to", "the range may span 26 hours at most");
    return std::nullopt;
}

}  // namespace

Response Recordings::recordings(const Request& request) {
    storage::Index* index = shared_->index();
    RangeParams p;
    if (auto bad = readRange(request, shared_->known, index, p))
        return *bad;
    if (!index)
        return jsonError(503, "the recordings index is not open yet; try again in a moment");
    auto rows = segmentsFor(*index, p.camera, p.fromUs, p.toUs);
    if (!rows)
        return jsonError(500, rows.error().message);
    Json ranges = Json::array();
    int64_t curStart = 0, curEnd = 0;
    bool curWriting = false, have = false;
    auto flush = [&] {
        if (have)
            ranges.push_back({{"startUs", curStart}, {"endUs", curEnd}, {"writing", curWriting}});
    };
    for (const auto& row : *rows) {
        const int64_t end = liveEnd(shared_->stateDir, row);
        const bool writing = row.state == storage::SegmentState::Writing;
        if (end <= row.startUs)
            continue;  // an empty segment, or one being written that has no fragment yet
        if (have && row.startUs <= curEnd + kJoinUs) {
            curEnd = std::max(curEnd, end);
            curWriting |= writing;
            continue;
        }
        flush();
        have = true;
        curStart = row.startUs;
        curEnd = end;
        curWriting = writing;
    }
    flush();
    auto events = index->events(p.camera, p.fromUs, p.toUs);
    if (!events)
        return jsonError(500, events.error().message);
    Json list = Json::array();
    for (const auto& e : *events)
        list.push_back({{"id", e.id},
                        {"kind", std::string(storage::eventKindName(e.kind))},
                        {"startUs", e.startUs},
                        {"endUs", e.endUs},
                        {"protected", e.isProtected},
                        {"snapshot", !e.snapshot.empty()}});
    return json({{"camera", p.camera},
                 {"fromUs", p.fromUs},
                 {"toUs", p.toUs},
                 {"ranges", ranges},
                 {"events", list}});
}

Response Recordings::snapshot(const Request&, Session& session, int64_t eventId) {
    storage::Index* index = shared_->index();
    if (!index)
        return jsonError(503, "the recordings index is not open yet; try again in a moment");
    auto event = index->event(eventId);
    if (!event)
        return jsonError(500, event.error().message);
    if (!*event)
        return jsonError(404, "no event " + std::to_string(eventId));
    const auto& e = **event;
    if (e.snapshot.empty())
        return jsonError(404, "event " + std::to_string(eventId) + " has no snapshot");
    // A small file and one sealed box: quick enough for the loop, and the
    // owner's key never leaves it.
    auto jpeg = sealed::readSnapshot(shared_->stateDir / e.snapshot, {e.camera, e.id, e.startUs},
                                     session.key);
    if (!jpeg) {
        PL_LOG(RecordingsLog, Warning)
            << "snapshot of event " << eventId << ": " << jpeg.error().message;
        return jsonError(500, "the snapshot of event " + std::to_string(eventId) +
                                  " cannot be read: " + jpeg.error().message);
    }
    Response r;
    r.contentType = "image/jpeg";
    r.body.assign(jpeg->begin(), jpeg->end());
    r.headers.emplace_back("Cache-Control", "no-store");
    return r;
}

void Recordings::playback(const Request& request, Session& session, std::weak_ptr<const void> alive,
                          std::function<void(Response)> respond) {
    storage::Index* index = shared_->index();
    std::string camera;
    if (auto bad = readCamera(request, shared_->known, index, camera))
        return respond(*bad);
    int64_t fromUs = 0;
    if (auto bad = readTime(request, "from", fromUs))
        return respond(*bad);
    if (!index)
        return respond(
            jsonError(503, "the recordings index is not open yet; try again in a moment"));
    auto source = std::make_shared<PlaybackSource>(shared_, session, alive, camera, fromUs);
    source->prime([source, shared = shared_, camera, fromUs, client = session.client,
                   respond = std::move(respond)](bool ok, std::string problem) {
        if (!ok)
            return respond(jsonError(404, problem.empty() ? "nothing to play there" : problem));
        // Recorded once the video is found, before the first byte is sent.
        shared->record("playback", client,
                       {{"camera", camera},
                        {"fromUs", fromUs},
                        {"from", utcText(fromUs, "%Y-%m-%dT%H:%M:%SZ")},
                        {"startUs", source->baseUs()}});
        Response r;
        r.contentType = "video/mp4";
        r.headers.emplace_back("X-Porchlight-Start-Us", std::to_string(source->baseUs()));
        r.headers.emplace_back("X-Porchlight-Codec", source->codec());
        r.stream = source;
        respond(std::move(r));
    });
}

void Recordings::exportClip(const Request& request, Session& session,
                            std::weak_ptr<const void> alive,
                            std::function<void(Response)> respond) {
    storage::Index* index = shared_->index();
    RangeParams p;
    int64_t eventId = 0;
    if (auto e = param(request, "event")) {
        auto id = parseInteger(*e);
        if (!id || *id <= 0)
            return respond(badParameter("event", "\"" + *e + "\" is not an event id"));
        if (param(request, "from") || param(request, "to") || param(request, "camera"))
            return respond(
                badParameter("event", "give either an event, or camera, from and to; not both"));
        if (!index)
            return respond(
                jsonError(503, "the recordings index is not open yet; try again in a moment"));
        auto event = index->event(*id);
        if (!event)
            return respond(jsonError(500, event.error().message));
        if (!*event)
            return respond(jsonError(404, "no event " + std::to_string(*id)));
        eventId = *id;
        p.camera = (*event)->camera;
        p.fromUs = (*event)->startUs - kEventBeforeUs;
        const int64_t end = (*event)->endUs > 0 ? (*event)->endUs : (*event)->startUs;
        p.toUs = std::max(end, (*event)->startUs + kEventMinUs);
    } else if (auto bad = readRange(request, shared_->known, index, p)) {
        return respond(*bad);
    } else if (!index) {
        return respond(
            jsonError(503, "the recordings index is not open yet; try again in a moment"));
    }
    auto source =
        std::make_shared<ExportSource>(shared_, session, alive, p.camera, p.fromUs, p.toUs);
    source->plan([shared = shared_, source, p, eventId, client = session.client,
                  respond = std::move(respond)](Expected<void> ok) {
        if (!ok)
            return respond(jsonError(404, ok.error().message));
        const auto& plan = source->planned();
        Json detail = {{"camera", p.camera},
                       {"fromUs", p.fromUs},
                       {"toUs", p.toUs},
                       {"from", utcText(p.fromUs, "%Y-%m-%dT%H:%M:%SZ")},
                       {"to", utcText(p.toUs, "%Y-%m-%dT%H:%M:%SZ")},
                       {"seconds", plan.seconds},
                       {"bytes", plan.length}};
        if (eventId)
            detail["event"] = eventId;
        if (!source->skipped().empty())
            detail["skipped"] = source->skipped();
        shared->record("export", client, detail);
        Response r;
        r.contentType = "video/mp4";
        const std::string name = "porchlight-" + p.camera + "-" +
                                 utcText(p.fromUs, "%Y%m%dT%H%M%SZ") +
                                 (eventId ? "-event" + std::to_string(eventId) : "") + ".mp4";
        r.headers.emplace_back("Content-Disposition", "attachment; filename=\"" + name + "\"");
        std::string gaps;
        for (const auto& s : source->skipped())
            gaps += (gaps.empty() ? "" : ",") + s;
        if (!gaps.empty())
            r.headers.emplace_back("X-Porchlight-Skipped", gaps);
        r.stream = source;
        r.streamLength = plan.length;
        respond(std::move(r));
    });
}

}  // namespace porchlight::web
