// The recordings API as handler calls: ranges and events from the index,
// playback that starts at the right keyframe, crosses segment boundaries,
// follows the segment being written and skips a damaged one, an export that
// ffprobe reads with the expected duration, snapshots, bad parameters, and
// streams that stop when their session ends.
#include "recordings.h"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "fmp4.h"
#include "h264_frames.h"
#include "keys.h"
#include "run_until.h"
#include "sealed.h"
#include "segment_file.h"
#include "temp_dir.h"

using namespace porchlight;
using namespace porchlight::web;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

constexpr int64_t kT0 = 1'700'000'000'000'000;  // 2023-11-14T22:13:20Z
constexpr int64_t kFrameUs = 100'000;           // 10 fps
constexpr uint32_t kFrameTicks = 9000;
constexpr int kKeyEvery = 20;       // a keyframe every 2 s
constexpr int kFramesPerFrag = 10;  // 1 s fragments

mp4::TrackInfo track() {
    mp4::TrackInfo t;
    t.avcC = {1,    0x42, 0xc0, 0x1e, 0xff, 0xe1, 0x00, 0x04, 0x67, 0x42,
              0xc0, 0x1e, 0x01, 0x00, 0x04, 0x68, 0xce, 0x3c, 0x80};
    t.width = 320;
    t.height = 240;
    return t;
}

/// A fake access unit naming its frame number, so the order can be checked.
mp4::Sample frame(int i, int64_t dts) {
    mp4::Sample s;
    s.data = {0,
              0,
              0,
              4,
              static_cast<uint8_t>(i >> 24),
              static_cast<uint8_t>(i >> 16),
              static_cast<uint8_t>(i >> 8),
              static_cast<uint8_t>(i)};
    s.dts = dts;
    s.duration = kFrameTicks;
    s.keyframe = i % kKeyEvery == 0;
    return s;
}
int frameNumber(const mp4::Sample& s) {
    return (s.data[4] << 24) | (s.data[5] << 16) | (s.data[6] << 8) | s.data[7];
}

struct Piece {
    int frame;
    int64_t dts;
    bool keyframe;
};

/// The samples of a fragmented MP4 body, in order.
std::vector<Piece> parseStream(const std::string& body, bool* sawInit = nullptr) {
    std::vector<Piece> out;
    const auto* p = reinterpret_cast<const uint8_t*>(body.data());
    size_t at = 0;
    size_t moofAt = std::string::npos;
    while (at + 8 <= body.size()) {
        const uint32_t size = (p[at] << 24) | (p[at + 1] << 16) | (p[at + 2] << 8) | p[at + 3];
        const std::string type(body.data() + at + 4, 4);
        if (size < 8 || at + size > body.size())
            break;
        if (type == "moov" && sawInit)
            *sawInit = true;
        if (type == "moof")
            moofAt = at;
        if (type == "mdat" && moofAt != std::string::npos) {
            auto samples = mp4::parseFragment(std::span(p + moofAt, at + size - moofAt));
            EXPECT_TRUE(samples.hasValue()) << samples.error().message;
            if (samples)
                for (auto& s : *samples)
                    out.push_back({frameNumber(s), s.dts, s.keyframe});
            moofAt = std::string::npos;
        }
        at += size;
    }
    return out;
}

class RecordingsTest : public ::testing::Test {
protected:
    void SetUp() override {
        auto idx = storage::Index::open(dir_.path());
        ASSERT_TRUE(idx.hasValue()) << idx.error().message;
        index_.emplace(std::move(*idx));
        auto log = audit::AuditLog::open(dir_.path());
        ASSERT_TRUE(log.hasValue()) << log.error().message;
        audit_ = std::move(*log);
        auto owner = keys::createOwner(dir_.path(), "correct horse battery staple");
        ASSERT_TRUE(owner.hasValue()) << owner.error().message;
        publicKey_ = owner->keyPair.publicKey;
        session_.key = std::move(owner->keyPair);
        session_.client = "192.0.2.7";
        Recordings::Options o;
        o.followPoll = 20ms;
        o.followIdleEnd = 2s;  // longer than a test takes to append a fragment
        recordings_ = std::make_unique<Recordings>(
            io_, dir_.path(), [this] { return &*index_; },
            [](const std::string& id) { return id == "door"; }, *audit_, o);
    }
    void TearDown() override {
        recordings_.reset();
        io_.run_for(50ms);
    }

    /// Frames [first, first + count) in one segment starting at frame \a first.
    /// With \a open the segment stays open (being written) in \a writer.
    storage::SegmentRow writeSegment(uint64_t sequence, int first, int count,
                                     std::optional<segment::Writer>* open = nullptr) {
        const int64_t startUs = kT0 + first * kFrameUs;
        storage::SegmentRow row;
        row.camera = "door";
        row.sequence = sequence;
        row.startUs = startUs;
        row.path = storage::segmentRelativePath("door", sequence, startUs);
        fs::create_directories((dir_.path() / row.path).parent_path());
        auto w = segment::Writer::create(dir_.path() / row.path, {"door", sequence, startUs},
                                         publicKey_);
        EXPECT_TRUE(w.hasValue()) << w.error().message;
        auto init = mp4::writeInitSegment(track());
        EXPECT_TRUE(w->append(segment::ChunkKind::Init, init, startUs, false).hasValue());
        appendFrames(*w, sequence, first, first, count);
        row.endUs = startUs + count * kFrameUs;
        if (open) {
            row.state = storage::SegmentState::Writing;
            row.endUs = startUs;
        } else {
            EXPECT_TRUE(w->finish(row.endUs).hasValue());
            row.state = storage::SegmentState::Complete;
        }
        row.bytes = w->size();
        auto id = index_->addSegment(row);
        EXPECT_TRUE(id.hasValue());
        row.id = *id;
        if (open)
            open->emplace(std::move(*w));
        return row;
    }
    static void appendFrames(segment::Writer& w, uint64_t, int segmentFirst, int first, int count) {
        for (int f = first; f < first + count; f += kFramesPerFrag) {
            std::vector<mp4::Sample> samples;
            for (int i = f; i < std::min(f + kFramesPerFrag, first + count); ++i)
                samples.push_back(frame(i, int64_t(i - segmentFirst) * kFrameTicks));
            const int64_t endUs = kT0 + (f + int64_t(samples.size())) * kFrameUs;
            auto bytes = mp4::writeFragment(static_cast<uint32_t>(f / kFramesPerFrag + 1), samples);
            EXPECT_TRUE(w.append(segment::ChunkKind::Fragment, bytes, endUs, false).hasValue());
        }
    }

    struct Got {
        Response response;
        std::string body;
        bool complete = false;  // the stream's last piece came
        bool failed = false;    // the stream was cut
        int pieces = 0;
    };

    Request request(const std::string& path, std::map<std::string, std::string> query) {
        Request r;
        r.method = "GET";
        r.path = path;
        r.query = std::move(query);
        r.clientAddress = "192.0.2.7";
        return r;
    }

    Response call(const std::string& path, std::map<std::string, std::string> query) {
        std::optional<Response> got;
        recordings_->handle(request(path, std::move(query)), session_, session_.alive,
                            [&](Response r) { got = std::move(r); });
        EXPECT_TRUE(test::runUntil(
            io_, [&] { return got.has_value(); }, 20s))
            << path;
        return got.value_or(Response{});
    }

    /// Pulls pieces of a streamed body until it ends, or \a until says enough.
    void pull(Got& g, const std::function<bool(const Got&)>& until = {}) {
        while (g.response.stream && !g.complete && !g.failed && !(until && until(g))) {
            std::optional<BodySource::Piece> piece;
            g.response.stream->next([&](BodySource::Piece p) { piece = std::move(p); });
            if (!test::runUntil(
                    io_, [&] { return piece.has_value(); }, 20s)) {
                ADD_FAILURE() << "no piece within 20 s";
                return;
            }
            ++g.pieces;
            g.body += piece->data;
            g.complete = piece->last;
            g.failed = piece->failed;
        }
    }

    Got fetch(const std::string& path, std::map<std::string, std::string> query,
              const std::function<bool(const Got&)>& until = {}) {
        Got g;
        g.response = call(path, std::move(query));
        if (!g.response.stream)
            g.body = g.response.body;
        pull(g, until);
        return g;
    }

    static std::string header(const Response& r, const std::string& name) {
        for (const auto& [k, v] : r.headers)
            if (k == name)
                return v;
        return {};
    }
    static nlohmann::json body(const Response& r) { return nlohmann::json::parse(r.body); }
    static std::string us(int64_t v) { return std::to_string(v); }

    test::TempDir dir_{"pl-recordings"};
    boost::asio::io_context io_;
    std::optional<storage::Index> index_;
    std::unique_ptr<audit::AuditLog> audit_;
    keys::PublicKey publicKey_{};
    Session session_;
    std::unique_ptr<Recordings> recordings_;
};

TEST_F(RecordingsTest, RangesJoinAdjacentSegmentsAndShowGapsAndEvents) {
    writeSegment(1, 0, 100);    // 0 .. 10 s
    writeSegment(2, 100, 100);  // 10 .. 20 s: joins the first
    writeSegment(3, 300, 100);  // 30 .. 40 s: after a gap
    storage::EventRow ring;
    ring.camera = "door";
    ring.kind = storage::EventKind::Ring;
    ring.startUs = ring.endUs = kT0 + 12'000'000;
    ring.isProtected = true;
    ASSERT_TRUE(index_->addEvent(ring).hasValue());

    Response r = call(
        "/api/recordings",
        {{"camera", "door"}, {"from", us(kT0 - 3'600'000'000)}, {"to", us(kT0 + 3'600'000'000)}});
    ASSERT_EQ(r.status, 200u) << r.body;
    auto j = body(r);
    ASSERT_EQ(j["ranges"].size(), 2u) << r.body;
    EXPECT_EQ(j["ranges"][0]["startUs"], kT0);
    EXPECT_EQ(j["ranges"][0]["endUs"], kT0 + 20'000'000);
    EXPECT_EQ(j["ranges"][1]["startUs"], kT0 + 30'000'000);
    EXPECT_EQ(j["ranges"][1]["endUs"], kT0 + 40'000'000);
    ASSERT_EQ(j["events"].size(), 1u);
    EXPECT_EQ(j["events"][0]["kind"], "ring");
    EXPECT_EQ(j["events"][0]["startUs"], kT0 + 12'000'000);
    EXPECT_EQ(j["events"][0]["protected"], true);
    EXPECT_EQ(j["events"][0]["snapshot"], false);

    // A window that holds only the gap has no range.
    r = call("/api/recordings",
             {{"camera", "door"}, {"from", us(kT0 + 21'000'000)}, {"to", us(kT0 + 29'000'000)}});
    EXPECT_EQ(body(r)["ranges"].size(), 0u) << r.body;
}

TEST_F(RecordingsTest, TheSegmentBeingWrittenShowsHowFarItHasGot) {
    writeSegment(1, 0, 100);
    std::optional<segment::Writer> open;
    writeSegment(2, 100, 30, &open);
    Response r = call("/api/recordings",
                      {{"camera", "door"}, {"from", us(kT0)}, {"to", us(kT0 + 3'600'000'000)}});
    auto j = body(r);
    ASSERT_EQ(j["ranges"].size(), 1u) << r.body;
    EXPECT_EQ(j["ranges"][0]["endUs"], kT0 + 13'000'000);
    EXPECT_EQ(j["ranges"][0]["writing"], true);
}

TEST_F(RecordingsTest, PlaybackStartsAtTheKeyframeAtOrBeforeTheMoment) {
    writeSegment(1, 0, 100);
    // 5.5 s in: frame 55; the keyframe before it is frame 40 (every 20).
    Got g = fetch("/api/playback", {{"camera", "door"}, {"from", us(kT0 + 5'550'000)}});
    ASSERT_EQ(g.response.status, 200u) << g.response.body;
    EXPECT_EQ(g.response.contentType, "video/mp4");
    EXPECT_EQ(header(g.response, "X-Porchlight-Start-Us"), us(kT0 + 4'000'000));
    EXPECT_EQ(header(g.response, "X-Porchlight-Codec"), "avc1.42c01e");
    EXPECT_TRUE(g.complete);
    bool init = false;
    auto frames = parseStream(g.body, &init);
    EXPECT_TRUE(init);
    ASSERT_FALSE(frames.empty());
    EXPECT_EQ(frames.front().frame, 40);
    EXPECT_TRUE(frames.front().keyframe);
    EXPECT_EQ(frames.front().dts, 0);
    EXPECT_EQ(frames.back().frame, 99);
    // The audit log has it, with camera and time.
    auto entries = audit_->entries(0, 10);
    ASSERT_TRUE(entries.hasValue());
    ASSERT_FALSE(entries->empty());
    EXPECT_EQ((*entries)[0]["kind"], "playback");
    EXPECT_EQ((*entries)[0]["detail"]["camera"], "door");
    EXPECT_EQ((*entries)[0]["detail"]["fromUs"], kT0 + 5'550'000);
}

TEST_F(RecordingsTest, PlaybackOnAKeyframeStartsThere) {
    writeSegment(1, 0, 100);
    Got g = fetch("/api/playback", {{"camera", "door"}, {"from", us(kT0 + 6'000'000)}});
    auto frames = parseStream(g.body);
    ASSERT_FALSE(frames.empty());
    EXPECT_EQ(frames.front().frame, 60);
}

TEST_F(RecordingsTest, PlaybackContinuesAcrossSegmentBoundariesAndGaps) {
    writeSegment(1, 0, 100);
    writeSegment(2, 100, 100);
    writeSegment(3, 300, 50);
    Got g = fetch("/api/playback", {{"camera", "door"}, {"from", us(kT0 + 9'000'000)}});
    ASSERT_EQ(g.response.status, 200u) << g.response.body;
    auto frames = parseStream(g.body);
    ASSERT_FALSE(frames.empty());
    EXPECT_EQ(frames.front().frame, 80);
    // Every frame of 80..199 then 300..349, on a timeline that follows the
    // wall clock (the gap stays a gap).
    std::vector<int> want;
    for (int i = 80; i < 200; ++i)
        want.push_back(i);
    for (int i = 300; i < 350; ++i)
        want.push_back(i);
    std::vector<int> got;
    for (const auto& f : frames) {
        got.push_back(f.frame);
        EXPECT_EQ(f.dts, int64_t(f.frame - 80) * kFrameTicks) << "frame " << f.frame;
    }
    EXPECT_EQ(got, want);
}

TEST_F(RecordingsTest, PlaybackFollowsTheSegmentBeingWritten) {
    writeSegment(1, 0, 100);
    std::optional<segment::Writer> open;
    writeSegment(2, 100, 30, &open);
    Got g = fetch("/api/playback", {{"camera", "door"}, {"from", us(kT0 + 11'000'000)}},
                  [](const Got& got) {
                      auto f = parseStream(got.body);
                      return !f.empty() && f.back().frame == 129;
                  });
    ASSERT_EQ(g.response.status, 200u) << g.response.body;
    ASSERT_FALSE(g.complete);
    EXPECT_EQ(parseStream(g.body).front().frame, 100);
    // The recorder appends two more fragments: they arrive on the same stream.
    appendFrames(*open, 2, 100, 130, 20);
    pull(g, [](const Got& got) { return parseStream(got.body).back().frame == 149; });
    EXPECT_EQ(parseStream(g.body).back().frame, 149);
    // Nothing more for a while: the stream ends cleanly.
    pull(g);
    EXPECT_TRUE(g.complete);
    EXPECT_FALSE(g.failed);
}

TEST_F(RecordingsTest, ADamagedSegmentIsSkippedAndPlaybackGoesOn) {
    writeSegment(1, 0, 100);
    auto bad = writeSegment(2, 100, 100);
    writeSegment(3, 200, 100);
    {
        // Flip one byte in the middle of the second segment.
        std::fstream f(dir_.path() / bad.path, std::ios::in | std::ios::out | std::ios::binary);
        f.seekp(static_cast<std::streamoff>(bad.bytes / 2));
        char c = 0;
        f.read(&c, 1);
        f.seekp(static_cast<std::streamoff>(bad.bytes / 2));
        c = static_cast<char>(c ^ 0x55);
        f.write(&c, 1);
    }
    Got g = fetch("/api/playback", {{"camera", "door"}, {"from", us(kT0 + 1'000'000)}});
    ASSERT_EQ(g.response.status, 200u);
    EXPECT_TRUE(g.complete);
    auto frames = parseStream(g.body);
    std::set<int> seen;
    for (auto& f : frames)
        seen.insert(f.frame);
    EXPECT_TRUE(seen.count(99));
    EXPECT_FALSE(seen.count(199)) << "the damaged part was played";
    EXPECT_TRUE(seen.count(200) && seen.count(299)) << "playback stopped at the damage";

    // Export reports the damaged segment and still gives a file.
    Got e =
        fetch("/api/export", {{"camera", "door"}, {"from", us(kT0)}, {"to", us(kT0 + 30'000'000)}});
    ASSERT_EQ(e.response.status, 200u) << e.response.body;
    EXPECT_TRUE(e.complete);
    EXPECT_EQ(header(e.response, "X-Porchlight-Skipped"), us(bad.startUs) + "-" + us(bad.endUs));
    EXPECT_EQ(e.body.size(), *e.response.streamLength);
}

TEST_F(RecordingsTest, ExportOfAnEventCoversItWithItsPreRoll) {
    writeSegment(1, 0, 100);
    writeSegment(2, 100, 100);
    storage::EventRow ring;
    ring.camera = "door";
    ring.kind = storage::EventKind::Ring;
    ring.startUs = ring.endUs = kT0 + 9'000'000;
    auto id = index_->addEvent(ring);
    ASSERT_TRUE(id.hasValue());
    Got g = fetch("/api/export", {{"event", std::to_string(*id)}});
    ASSERT_EQ(g.response.status, 200u) << g.response.body;
    EXPECT_TRUE(g.complete);
    EXPECT_EQ(g.body.size(), *g.response.streamLength);
    EXPECT_NE(header(g.response, "Content-Disposition").find("-event" + std::to_string(*id)),
              std::string::npos);
    auto entries = audit_->entries(0, 1);
    ASSERT_TRUE(entries.hasValue());
    EXPECT_EQ((*entries)[0]["kind"], "export");
    EXPECT_EQ((*entries)[0]["detail"]["event"], *id);
    // 5 s before the ring (4 s, a keyframe) to 10 s after it (19 s).
    EXPECT_EQ((*entries)[0]["detail"]["fromUs"], kT0 + 4'000'000);
    EXPECT_EQ((*entries)[0]["detail"]["toUs"], kT0 + 19'000'000);
    EXPECT_NEAR((*entries)[0]["detail"]["seconds"].get<double>(), 15.0, 0.01);
    // An event that does not exist, or mixed with a range, is refused.
    EXPECT_EQ(call("/api/export", {{"event", "999"}}).status, 404u);
    EXPECT_EQ(call("/api/export", {{"event", std::to_string(*id)}, {"camera", "door"}}).status,
              400u);
}

TEST_F(RecordingsTest, NothingToPlayIs404) {
    writeSegment(1, 0, 100);
    Response r = call("/api/playback", {{"camera", "door"}, {"from", us(kT0 + 60'000'000)}});
    // The camera is known: it waits for more, then says there is nothing.
    EXPECT_EQ(r.status, 404u) << r.body;
    EXPECT_TRUE(body(r).contains("error"));
}

TEST_F(RecordingsTest, AStreamStopsWhenItsSessionEnds) {
    writeSegment(1, 0, 100);
    std::optional<segment::Writer> open;
    writeSegment(2, 100, 30, &open);
    Got g = fetch("/api/playback", {{"camera", "door"}, {"from", us(kT0 + 1'000'000)}},
                  [](const Got& got) { return got.pieces >= 2; });
    ASSERT_FALSE(g.complete);
    session_.alive.reset();  // what Auth does when the session ends
    pull(g);
    EXPECT_TRUE(g.failed);
    g.response.stream.reset();
    io_.run_for(50ms);
    EXPECT_EQ(recordings_->activeStreams(), 0u);
}

TEST_F(RecordingsTest, BadParametersSayWhichOne) {
    auto check = [&](const std::string& path, std::map<std::string, std::string> q,
                     const std::string& parameter) {
        Response r = call(path, q);
        EXPECT_EQ(r.status, 400u) << path << " " << r.body;
        auto j = body(r);
        EXPECT_EQ(j["field"], parameter) << r.body;
        EXPECT_NE(j["error"].get<std::string>().find(parameter), std::string::npos) << r.body;
    };
    check("/api/recordings", {{"from", "1"}, {"to", "2"}}, "camera");
    check("/api/recordings", {{"camera", "../etc"}, {"from", "1"}, {"to", "2"}}, "camera");
    check("/api/recordings", {{"camera", "door"}, {"from", "soon"}, {"to", "2"}}, "from");
    check("/api/recordings", {{"camera", "door"}, {"from", "5"}}, "to");
    check("/api/recordings", {{"camera", "door"}, {"from", "5"}, {"to", "4"}}, "to");
    check("/api/recordings",
          {{"camera", "door"}, {"from", "0"}, {"to", us(30LL * 24 * 3600 * 1'000'000)}}, "to");
    check("/api/playback", {{"camera", "door"}}, "from");
    check("/api/playback", {{"camera", "door"}, {"from", "12x"}}, "from");
    check("/api/export", {{"camera", "door"}, {"from", "10"}, {"to", "x"}}, "to");
    check("/api/export", {{"event", "abc"}}, "event");
    Response r = call("/api/recordings", {{"camera", "garage"}, {"from", "1"}, {"to", "2"}});
    EXPECT_EQ(r.status, 404u);
    EXPECT_NE(body(r)["error"].get<std::string>().find("garage"), std::string::npos);
    r = call("/api/events/999/snapshot", {});
    EXPECT_EQ(r.status, 404u);
    Request post = request("/api/export", {});
    post.method = "POST";
    std::optional<Response> got;
    recordings_->handle(post, session_, session_.alive, [&](Response x) { got = std::move(x); });
    ASSERT_TRUE(got);
    EXPECT_EQ(got->status, 405u);
}

TEST_F(RecordingsTest, SnapshotIsDecryptedWithTheSessionKey) {
    storage::EventRow motion;
    motion.camera = "door";
    motion.kind = storage::EventKind::Motion;
    motion.startUs = kT0;
    motion.endUs = kT0 + 5'000'000;
    auto id = index_->addEvent(motion);
    ASSERT_TRUE(id.hasValue());
    const std::vector<uint8_t> jpeg = {0xff, 0xd8, 0xff, 0xe0, 1, 2, 3, 0xff, 0xd9};
    const std::string rel = "snapshots/door/2023-11-14/1.plsnap";
    fs::create_directories((dir_.path() / rel).parent_path());
    ASSERT_TRUE(
        sealed::writeSnapshot(dir_.path() / rel, {"door", *id, kT0}, jpeg, publicKey_).hasValue());
    ASSERT_TRUE(index_->setEventSnapshot(*id, rel).hasValue());
    Response r = call("/api/events/" + std::to_string(*id) + "/snapshot", {});
    ASSERT_EQ(r.status, 200u) << r.body;
    EXPECT_EQ(r.contentType, "image/jpeg");
    EXPECT_EQ(header(r, "Cache-Control"), "no-store");
    EXPECT_EQ(std::vector<uint8_t>(r.body.begin(), r.body.end()), jpeg);
    Response list =
        call("/api/recordings", {{"camera", "door"}, {"from", us(kT0 - 1)}, {"to", us(kT0 + 1)}});
    EXPECT_EQ(body(list)["events"][0]["snapshot"], true);
}

/// ffprobe's "frames\nduration" for a file, or "" without ffprobe.
std::string probe(const fs::path& file) {
    const char* ffprobe = std::getenv("FFPROBE");
    if (!ffprobe || !*ffprobe)
        return "";
    std::string cmd = std::string(ffprobe) +
                      " -v error -count_frames -select_streams v:0 -show_entries "
                      "stream=nb_read_frames:format=duration -of default=nw=1:nk=1 '" +
                      file.string() + "'";
    FILE* p = popen(cmd.c_str(), "r");
    std::string out;
    char buf[256];
    while (p && fgets(buf, sizeof buf, p))
        out += buf;
    if (p)
        pclose(p);
    return out;
}

TEST_F(RecordingsTest, ExportOfARangeIsAStandardMp4WithTheRightDuration) {
    if (!std::getenv("FFPROBE") || !*std::getenv("FFPROBE"))
        GTEST_SKIP() << "no ffprobe";
    // Real H.264 (x264, a keyframe every 2 s), 6 s in two 3 s segments.
    auto frames = test::makeH264Frames(6, 10, kT0);
    ASSERT_EQ(frames.size(), 60u);
    for (int seg = 0; seg < 2; ++seg) {
        const int64_t startUs = frames[seg * 30].wallUs;
        const std::string rel = storage::segmentRelativePath("door", seg + 1, startUs);
        fs::create_directories((dir_.path() / rel).parent_path());
        auto w = segment::Writer::create(dir_.path() / rel, {"door", uint64_t(seg + 1), startUs},
                                         publicKey_);
        ASSERT_TRUE(w.hasValue());
        auto init = mp4::writeInitSegment(*frames[0].track);
        ASSERT_TRUE(w->append(segment::ChunkKind::Init, init, startUs, false).hasValue());
        const int64_t dts0 = frames[seg * 30].dtsNs;
        for (int f = seg * 30; f < seg * 30 + 30; f += 10) {
            std::vector<mp4::Sample> samples;
            for (int i = f; i < f + 10; ++i) {
                mp4::Sample s;
                s.data = frames[i].data;
                s.dts = (frames[i].dtsNs - dts0) * 9 / 100'000;
                s.ctsOffset =
                    static_cast<int32_t>((frames[i].ptsNs - frames[i].dtsNs) * 9 / 100'000);
                s.duration = kFrameTicks;
                s.keyframe = frames[i].keyframe;
                samples.push_back(std::move(s));
            }
            auto bytes = mp4::writeFragment(uint32_t(f / 10 + 1), samples);
            ASSERT_TRUE(w->append(segment::ChunkKind::Fragment, bytes,
                                  frames[f + 9].wallUs + kFrameUs, false)
                            .hasValue());
        }
        const int64_t endUs = frames[seg * 30 + 29].wallUs + kFrameUs;
        ASSERT_TRUE(w->finish(endUs).hasValue());
        storage::SegmentRow row;
        row.camera = "door";
        row.sequence = seg + 1;
        row.startUs = startUs;
        row.endUs = endUs;
        row.bytes = w->size();
        row.path = rel;
        row.state = storage::SegmentState::Complete;
        ASSERT_TRUE(index_->addSegment(row).hasValue());
    }
    // 1 s .. 5 s: starts at the keyframe at 0 s, so 5 s long.
    Got g = fetch("/api/export",
                  {{"camera", "door"}, {"from", us(kT0 + 1'000'000)}, {"to", us(kT0 + 5'000'000)}});
    ASSERT_EQ(g.response.status, 200u) << g.response.body;
    EXPECT_TRUE(g.complete);
    EXPECT_EQ(g.response.contentType, "video/mp4");
    EXPECT_NE(
        header(g.response, "Content-Disposition").find("attachment; filename=\"porchlight-door-"),
        std::string::npos);
    ASSERT_TRUE(g.response.streamLength);
    EXPECT_EQ(g.body.size(), *g.response.streamLength);
    EXPECT_GT(g.pieces, 2) << "the export came in one piece, not streamed";
    // The moov comes first (a progressive download plays at once).
    EXPECT_EQ(g.body.substr(4, 4), "ftyp");
    EXPECT_NE(g.body.find("moov"), std::string::npos);
    EXPECT_LT(g.body.find("moov"), g.body.find("mdat"));
    // This test's scratch file: the download a browser would save.
    const fs::path file = dir_.path() / "download.mp4";
    std::ofstream(file, std::ios::binary) << g.body;
    std::istringstream out(probe(file));
    int nframes = 0;
    double seconds = 0;
    out >> nframes >> seconds;
    EXPECT_EQ(nframes, 50);
    EXPECT_NEAR(seconds, 5.0, 0.15);
    auto entries = audit_->entries(0, 1);
    ASSERT_TRUE(entries.hasValue());
    EXPECT_EQ((*entries)[0]["kind"], "export");
    EXPECT_EQ((*entries)[0]["detail"]["camera"], "door");
    EXPECT_EQ((*entries)[0]["detail"]["toUs"], kT0 + 5'000'000);
}

}  // namespace
