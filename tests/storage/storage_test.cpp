// Recording storage end to end, in process: real H.264 in, encrypted
// segments out, then verified, exported, tampered with, repaired, and held to
// the owner's retention, with an injected clock.
#include "storage.h"

#include <gtest/gtest.h>
#include <sys/mount.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>

#include "disk_worker.h"
#include "fake_clock.h"
#include "h264_frames.h"
#include "keys.h"
#include "sealed.h"
#include "segment_file.h"
#include "vault.h"

using namespace porchlight;
using namespace porchlight::storage;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

constexpr int64_t kT0 = 1'790'000'000'000'000;  // 2026-09-21, µs
constexpr const char* kPassphrase = "correct horse battery staple";

std::string readAll(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

/// ffprobe's view of a file: "frames duration", or "" without ffprobe.
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

struct Probe {
    long frames = -1;
    double seconds = -1;
};
Probe probeNumbers(const fs::path& file) {
    std::istringstream in(probe(file));
    Probe p;
    in >> p.frames >> p.seconds;
    return p;
}

class StorageTest : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        // One owner key for the suite: Argon2id at its real cost is slow by design.
        templateDir_ = new std::string(::testing::TempDir() + "pl-owner-XXXXXX");
        ASSERT_NE(mkdtemp(templateDir_->data()), nullptr);
        auto created = keys::createOwner(*templateDir_, kPassphrase);
        ASSERT_TRUE(created.hasValue()) << created.error().message;
        frames_ = new std::vector<VideoFrame>(test::makeH264Frames(35, 15, kT0));
        ASSERT_EQ(frames_->size(), 525u);
    }
    static void TearDownTestSuite() {
        fs::remove_all(*templateDir_);
        delete templateDir_;
        delete frames_;
    }

    void SetUp() override {
        dir_ = ::testing::TempDir() + "pl-storage-XXXXXX";
        ASSERT_NE(mkdtemp(dir_.data()), nullptr);
        fs::copy(fs::path(*templateDir_) / "keys", fs::path(dir_) / "keys",
                 fs::copy_options::recursive);
        clock_.setWall(std::chrono::system_clock::time_point(std::chrono::microseconds(kT0)));
        auto owner = keys::unlockWithPassphrase(dir_, kPassphrase);
        ASSERT_TRUE(owner.hasValue()) << owner.error().message;
        owner_ = std::move(*owner);
    }
    void TearDown() override {
        storage_.reset();
        umountIfMounted();
        fs::remove_all(dir_);
    }
    void umountIfMounted() {
        if (mounted_)
            ::umount2(dir_.c_str(), MNT_DETACH);
        mounted_ = false;
    }

    void openStorage(StorageOptions o = {}) {
        o.segmentSeconds = o.segmentSeconds == 60.0 ? 10.0 : o.segmentSeconds;
        auto s = Storage::open(
            dir_, clock_,
            [this](std::function<void()> fn) { boost::asio::post(io_, std::move(fn)); }, o);
        ASSERT_TRUE(s.hasValue()) << s.error().message;
        storage_ = std::move(*s);
    }
    /// Run the loop until the disk thread has nothing left and its reports are in.
    void settle() {
        for (int i = 0; i < 2000; ++i) {
            io_.restart();
            io_.poll();
            if (storage_->pendingDiskJobs() == 0) {
                io_.restart();
                io_.poll();
                if (storage_->pendingDiskJobs() == 0)
                    return;
            }
            std::this_thread::sleep_for(1ms);
        }
        FAIL() << "the disk thread did not settle";
    }
    void feed(size_t from, size_t to, bool settleEachSecond = false) {
        for (size_t i = from; i < to && i < frames_->size(); ++i) {
            VideoFrame f = (*frames_)[i];
            storage_->onFrame("door", std::move(f));
            if (settleEachSecond && i % 15 == 14)
                settle();
        }
    }
    void finish() {
        bool done = false;
        storage_->finishAll([&] { done = true; });
        for (int i = 0; i < 20000 && !done; ++i) {
            io_.restart();
            io_.poll();
            if (!done)
                std::this_thread::sleep_for(1ms);
        }
        ASSERT_TRUE(done);
        settle();
    }
    std::vector<SegmentRow> rows() {
        auto r = storage_->index().segments("", INT64_MIN, INT64_MAX);
        EXPECT_TRUE(r.hasValue());
        return r ? *r : std::vector<SegmentRow>{};
    }
    vault::VerifyReport verify() {
        auto r = vault::verify(dir_, owner_);
        EXPECT_TRUE(r.hasValue()) << (r ? "" : r.error().message);
        return r ? *r : vault::VerifyReport{};
    }
    std::string problems(const vault::VerifyReport& r) {
        std::string s;
        for (const auto& p : r.problems)
            s += p + "\n";
        return s;
    }

    static std::string* templateDir_;
    static std::vector<VideoFrame>* frames_;
    std::string dir_;
    boost::asio::io_context io_;
    test::FakeClock clock_;
    keys::OwnerKeyPair owner_;
    std::unique_ptr<Storage> storage_;
    bool mounted_ = false;
};

std::string* StorageTest::templateDir_ = nullptr;
std::vector<VideoFrame>* StorageTest::frames_ = nullptr;

// The DiskWorker's two stages: every job's disk stage in the order given
// (plain jobs and sealed ones alike), the sealing stages in that order too,
// and sealing overlapping the disk stage before it.
TEST(DiskWorkerTest, StagesKeepTheOrderJobsWereGiven) {
    std::mutex mutex;
    std::vector<int> sealed;
    std::vector<int> written;
    {
        DiskWorker worker;
        for (int i = 0; i < 200; ++i) {
            if (i % 3 == 0) {
                worker.run([&, i] {
                    std::lock_guard lock(mutex);
                    written.push_back(i);
                });
            } else {
                worker.runSealed([&, i]() -> DiskWorker::Job {
                    {
                        std::lock_guard lock(mutex);
                        sealed.push_back(i);
                    }
                    if (i % 7 == 0)
                        return nullptr;  // nothing to write: no disk stage
                    return [&, i] {
                        std::lock_guard lock(mutex);
                        written.push_back(i);
                    };
                });
            }
        }
    }  // the destructor runs everything queued, both stages
    std::vector<int> wantSealed;
    std::vector<int> wantWritten;
    for (int i = 0; i < 200; ++i) {
        if (i % 3 != 0)
            wantSealed.push_back(i);
        if (i % 3 == 0 || i % 7 != 0)
            wantWritten.push_back(i);
    }
    EXPECT_EQ(sealed, wantSealed);
    EXPECT_EQ(written, wantWritten);
}

TEST(DiskWorkerTest, SealingOverlapsTheDiskStageBeforeIt) {
    // Job 1's disk stage waits until job 2 has been sealed: that can only
    // happen if sealing runs beside the disk stage. (The wait has a generous
    // limit so that a serial worker fails the test instead of hanging it.)
    std::mutex mutex;
    std::condition_variable changed;
    bool secondSealed = false;
    bool overlapped = false;
    bool secondWritten = false;
    {
        DiskWorker worker;
        worker.runSealed([&]() -> DiskWorker::Job {
            return [&] {
                std::unique_lock lock(mutex);
                overlapped = changed.wait_for(lock, 30s, [&] { return secondSealed; });
            };
        });
        worker.runSealed([&]() -> DiskWorker::Job {
            {
                std::lock_guard lock(mutex);
                secondSealed = true;
            }
            changed.notify_all();
            return [&] {
                std::lock_guard lock(mutex);
                secondWritten = true;
            };
        });
        // Both jobs count until both stages are done.
        EXPECT_GE(worker.backlog(), 1u);
    }
    EXPECT_TRUE(overlapped) << "job 2 was not sealed while job 1 was on the disk";
    EXPECT_TRUE(secondWritten);
}

TEST_F(StorageTest, SegmentsRotateOnKeyframesVerifyAndExportAcrossBoundaries) {
    openStorage();
    feed(0, 525);
    finish();
    auto r = rows();
    ASSERT_EQ(r.size(), 4u) << "35 s in 10 s segments";
    for (size_t i = 0; i < r.size(); ++i) {
        EXPECT_EQ(r[i].state, SegmentState::Complete);
        EXPECT_EQ(r[i].sequence, i + 1);
        EXPECT_EQ(r[i].startUs, kT0 + static_cast<int64_t>(i) * 10'000'000);
        EXPECT_EQ(r[i].bytes, fs::file_size(fs::path(dir_) / r[i].path));
    }
    EXPECT_EQ(r.back().endUs, kT0 + 35'000'000);
    auto v = verify();
    EXPECT_TRUE(v.ok()) << problems(v);

    const fs::path out = fs::path(dir_) / "all.mp4";
    auto e = vault::exportRange(dir_, owner_, "door", kT0, kT0 + 60'000'000, out);
    ASSERT_TRUE(e.hasValue()) << e.error().message;
    EXPECT_EQ(e->samples, 525u);
    EXPECT_EQ(e->segments, 4);
    EXPECT_TRUE(e->warnings.empty());
    EXPECT_NEAR(e->seconds, 35.0, 0.01);
    const Probe whole = probeNumbers(out);
    if (whole.frames >= 0) {
        EXPECT_EQ(whole.frames, 525);
        EXPECT_NEAR(whole.seconds, 35.0, 0.1);
    }

    // A range inside: from the keyframe before its start, to its end.
    const fs::path part = fs::path(dir_) / "part.mp4";
    auto e2 = vault::exportRange(dir_, owner_, "door", kT0 + 13'000'000, kT0 + 23'000'000, part);
    ASSERT_TRUE(e2.hasValue()) << e2.error().message;
    EXPECT_NEAR(e2->seconds, 11.0, 0.1) << "keyframes every 2 s: starts at 12 s";
    const Probe inside = probeNumbers(part);
    if (inside.frames >= 0) {
        EXPECT_EQ(inside.frames, 165);
    }
}

TEST_F(StorageTest, ExportKeepsGapsAsWallClockTime) {
    openStorage();
    feed(0, 150);  // 0..10 s
    finish();
    // The camera comes back 20 s later (a new stream: timestamps start over).
    auto later = test::makeH264Frames(10, 15, kT0 + 30'000'000);
    for (auto& f : later)
        storage_->onFrame("door", std::move(f));
    finish();
    const fs::path out = fs::path(dir_) / "gap.mp4";
    auto e = vault::exportRange(dir_, owner_, "door", kT0, kT0 + 60'000'000, out);
    ASSERT_TRUE(e.hasValue()) << e.error().message;
    EXPECT_EQ(e->samples, 300u);
    EXPECT_NEAR(e->seconds, 40.0, 0.01);
    const Probe p = probeNumbers(out);
    if (p.frames >= 0) {
        EXPECT_NEAR(p.seconds, 40.0, 0.1);
    }
}

TEST_F(StorageTest, NothingReadableReachesTheDisk) {
    openStorage();
    feed(0, 300);
    finish();
    // What every plaintext we write contains, and the encoder's own bytes,
    // appear in no file of the state dir. Patterns of 8 bytes or more: a lone
    // 4-byte box name turns up in megabytes of ciphertext by chance.
    const std::string nal((*frames_)[20].data.begin() + 4, (*frames_)[20].data.begin() + 36);
    const auto& avcC = (*frames_)[0].track->avcC;
    const std::string codecConfig(avcC.begin(), avcC.end());
    // A box and its first child: "moov" 8 bytes before "mvhd", "moof" before "mfhd".
    auto nested = [](const std::string& data, const char* outer, const char* inner) {
        for (size_t pos = data.find(inner); pos != std::string::npos;
             pos = data.find(inner, pos + 1))
            if (pos >= 8 && data.compare(pos - 8, 4, outer) == 0)
                return true;
        return false;
    };
    for (const auto& entry : fs::recursive_directory_iterator(dir_)) {
        if (!entry.is_regular_file())
            continue;
        const std::string data = readAll(entry.path());
        EXPECT_EQ(data.find("ftypisom"), std::string::npos)
            << "an init segment in " << entry.path();
        EXPECT_FALSE(nested(data, "moov", "mvhd")) << "a moov box in " << entry.path();
        EXPECT_FALSE(nested(data, "moof", "mfhd")) << "a fragment in " << entry.path();
        EXPECT_EQ(data.find(codecConfig), std::string::npos) << "the avcC in " << entry.path();
        EXPECT_EQ(data.find(nal), std::string::npos) << "video bytes in " << entry.path();
    }
}

TEST_F(StorageTest, NoOwnerMeansNothingIsRecorded) {
    fs::remove_all(fs::path(dir_) / "keys");
    openStorage();
    EXPECT_FALSE(storage_->hasOwner());
    feed(0, 150);
    finish();
    EXPECT_TRUE(rows().empty());
    EXPECT_TRUE(fs::is_empty(fs::path(dir_) / "recordings"));
}

TEST_F(StorageTest, TamperingIsDetectedAndTheRestStillExports) {
    openStorage();
    feed(0, 525);
    finish();
    auto r = rows();
    ASSERT_EQ(r.size(), 4u);

    // A flipped byte in the middle of segment 2.
    const fs::path seg2 = fs::path(dir_) / r[1].path;
    {
        std::fstream f(seg2, std::ios::in | std::ios::out | std::ios::binary);
        const auto at = static_cast<std::streamoff>(fs::file_size(seg2) / 2);
        f.seekg(at);
        char c;
        f.get(c);
        f.seekp(at);
        f.put(static_cast<char>(c ^ 0x20));
    }
    auto v = verify();
    ASSERT_EQ(v.problems.size(), 1u) << problems(v);
    EXPECT_NE(v.problems[0].find(r[1].path), std::string::npos);
    EXPECT_NE(v.problems[0].find("offset"), std::string::npos) << v.problems[0];

    const fs::path out = fs::path(dir_) / "rest.mp4";
    auto e = vault::exportRange(dir_, owner_, "door", kT0, kT0 + 60'000'000, out);
    ASSERT_TRUE(e.hasValue()) << e.error().message;
    std::string warnings;
    for (const auto& w : e->warnings)
        warnings += w + "\n";
    EXPECT_EQ(e->warnings.size(), 1u) << warnings;
    EXPECT_GT(e->samples, 375u) << "the other segments, and segment 2 up to the damage";
    EXPECT_LT(e->samples, 525u);
    const Probe p = probeNumbers(out);
    if (p.frames >= 0) {
        EXPECT_EQ(p.frames, static_cast<long>(e->samples));
    }
}

TEST_F(StorageTest, SwappedAndRenamedSegmentsAreDetected) {
    openStorage();
    feed(0, 525);
    finish();
    auto r = rows();
    ASSERT_EQ(r.size(), 4u);
    const fs::path a = fs::path(dir_) / r[0].path, b = fs::path(dir_) / r[1].path;
    const fs::path tmp = fs::path(dir_) / "swap";
    fs::rename(a, tmp);
    fs::rename(b, a);
    fs::rename(tmp, b);
    auto v = verify();
    ASSERT_EQ(v.problems.size(), 2u) << problems(v);
    for (const auto& p : v.problems)
        EXPECT_NE(p.find("index says"), std::string::npos) << p;
    auto e =
        vault::exportRange(dir_, owner_, "door", kT0, kT0 + 60'000'000, fs::path(dir_) / "x.mp4");
    ASSERT_TRUE(e.hasValue());
    EXPECT_EQ(e->samples, 225u) << "only the two untouched segments";

    // Renamed: the index loses the file, the file loses the index.
    fs::rename(fs::path(dir_) / r[3].path, fs::path(dir_) / "recordings" / "moved.plseg");
    v = verify();
    EXPECT_EQ(v.problems.size(), 4u) << problems(v);
}

TEST_F(StorageTest, StartUpRepairTrimsAdoptsAndFinishesDeletions) {
    openStorage();
    feed(0, 525);
    finish();
    auto r = rows();
    ASSERT_EQ(r.size(), 4u);
    storage_.reset();

    // A crash cut the last segment mid-record, while its row still said "writing".
    const fs::path last = fs::path(dir_) / r[3].path;
    auto scan = segment::scan(last);
    ASSERT_TRUE(scan.hasValue());
    fs::resize_file(last, scan->fileBytes - 1000);
    {
        auto index = Index::open(dir_);
        ASSERT_TRUE(index.hasValue());
        ASSERT_TRUE(index->updateSegment(r[3].id, r[3].startUs, 0, SegmentState::Writing));
        // The index lost segment 3 (a power cut before its row was committed)...
        ASSERT_TRUE(index->removeSegmentRow(r[2].id));
        // ...and a deletion of segment 1 was interrupted after its garbage row.
        ASSERT_TRUE(index->markGarbage({r[0]}));
    }
    // And a file with a header only: a crash right after creating it.
    {
        auto w = segment::Writer::create(fs::path(dir_) / "recordings" / "door" / "empty.plseg",
                                         {"door", 99, kT0 + 90'000'000}, owner_.publicKey);
        ASSERT_TRUE(w.hasValue());
    }

    openStorage();
    const auto& report = storage_->startupReport();
    EXPECT_EQ(report.trimmed, 1);
    EXPECT_EQ(report.adopted, 1);
    EXPECT_EQ(report.garbageFinished, 1);
    EXPECT_EQ(report.removedEmpty, 1);
    EXPECT_FALSE(fs::exists(fs::path(dir_) / r[0].path));
    auto after = rows();
    ASSERT_EQ(after.size(), 3u);
    EXPECT_EQ(after[1].sequence, 3u);
    EXPECT_EQ(after[2].state, SegmentState::Repaired);
    EXPECT_GT(after[2].endUs, kT0 + 32'000'000) << "kept up to its last complete fragment";
    auto v = verify();
    EXPECT_TRUE(v.ok()) << problems(v);
}

TEST_F(StorageTest, RetentionByDaysFollowsTheInjectedClock) {
    StorageOptions o;
    o.minFree.percent = 0.0001;
    openStorage(o);
    feed(0, 525);
    finish();
    // Keep 15 s: at T0+40 s, segments ending before T0+25 s go (the first two).
    clock_.setWall(
        std::chrono::system_clock::time_point(std::chrono::microseconds(kT0 + 40'000'000)));
    RetentionConfig keep;
    keep.maxDays = 15.0 / 86400.0;
    ASSERT_TRUE(storage_->setRetention("door", keep));
    settle();
    auto r = rows();
    ASSERT_EQ(r.size(), 2u);
    EXPECT_EQ(r[0].sequence, 3u);
    EXPECT_EQ(std::distance(fs::recursive_directory_iterator(fs::path(dir_) / "recordings"),
                            fs::recursive_directory_iterator{}),
              4)
        << "two files and their two folders";
    EXPECT_TRUE(storage_->index().garbage()->empty());

    // The owner's setting outlives a restart and wins over the file's.
    storage_.reset();
    openStorage(o);
    RetentionConfig fromFile;
    fromFile.maxDays = 30.0;
    storage_->setConfiguredRetention({{"door", fromFile}});
    EXPECT_EQ(storage_->retentionFor("door").maxDays, keep.maxDays);

    // A camera that leaves the configuration keeps its last retention, so
    // its recordings still expire.
    storage_->setConfiguredRetention({{"yard", fromFile}});
    storage_->setConfiguredRetention({});
    EXPECT_EQ(storage_->retentionFor("yard").maxDays, 30.0);
}

TEST_F(StorageTest, RetentionBySizeAndProtection) {
    StorageOptions o;
    o.minFree.percent = 0.0001;
    openStorage(o);
    feed(0, 525);
    finish();
    auto r = rows();
    ASSERT_EQ(r.size(), 4u);
    ASSERT_TRUE(storage_->index().setProtected(r[0].id, true));
    uint64_t total = 0;
    for (const auto& row : r)
        total += row.bytes;
    RetentionConfig limit;
    limit.maxBytes = total - 1;  // one segment must go: not the protected oldest
    ASSERT_TRUE(storage_->setRetention("door", limit));
    settle();
    auto after = rows();
    ASSERT_EQ(after.size(), 3u);
    EXPECT_EQ(after[0].sequence, 1u) << "protected, kept";
    EXPECT_EQ(after[1].sequence, 3u) << "the oldest unprotected went";

    // A limit only the protected segment stands in the way of: skipped and counted.
    limit.maxBytes = 64 * 1024;
    ASSERT_TRUE(storage_->setRetention("door", limit));
    settle();
    ASSERT_EQ(rows().size(), 1u);
    EXPECT_EQ(storage_->status().protectedSkipped, 1u);
}

TEST_F(StorageTest, MinFreeDeletesTheOldestFirst) {
    uint64_t free = 0;
    StorageOptions o;
    o.freeBytesOverride = [&] { return std::optional<uint64_t>(free); };
    o.minFree.bytes = 10'000'000;
    free = 20'000'000;
    openStorage(o);
    feed(0, 525);
    finish();
    auto r = rows();
    ASSERT_EQ(r.size(), 4u);
    free = *o.minFree.bytes - r[0].bytes - 1;  // short by a little more than segment 1
    storage_->enforceRetention();
    settle();
    auto after = rows();
    ASSERT_EQ(after.size(), 2u);
    EXPECT_EQ(after[0].sequence, 3u);
}

TEST_F(StorageTest, DiskFullFreesSpaceKeepsRecordingAndDamagesNothingFinished) {
    // A real small filesystem over the state directory: room for about three
    // of these segments (150 kB each) beside the index.
    fs::remove_all(fs::path(dir_) / "keys");
    if (::mount("tmpfs", dir_.c_str(), "tmpfs", 0, "size=500k,mode=0700") != 0)
        GTEST_SKIP() << "cannot mount a tmpfs here (needs root): " << std::strerror(errno);
    mounted_ = true;
    fs::copy(fs::path(*templateDir_) / "keys", fs::path(dir_) / "keys",
             fs::copy_options::recursive);
    StorageOptions o;
    o.minFree.percent = 5;
    openStorage(o);
    feed(0, 525, true);
    finish();
    auto r = rows();
    ASSERT_FALSE(r.empty());
    std::string sizes;
    for (const auto& row : r)
        sizes += std::to_string(row.bytes) + " ";
    EXPECT_GT(r.front().startUs, kT0) << "the oldest recordings made room; sizes " << sizes;
    EXPECT_GT(r.back().endUs, kT0 + 30'000'000) << "recording went on to the end";
    auto v = verify();
    EXPECT_TRUE(v.ok()) << problems(v);
    EXPECT_FALSE(storage_->status().lastProblem.empty());
    storage_.reset();
    umountIfMounted();
}

TEST_F(StorageTest, EventsModeWritesOnlyAroundEventsWithPreAndPostRoll) {
    openStorage();
    storage_->setCameraMode("door", RecordingMode::Events, 5.0, 10.0);
    // A ring at 15 s: keep from the keyframe at or before 10 s, to 25 s.
    feed(0, 225);  // 0..15 s: nothing is written yet, only held in memory
    settle();
    EXPECT_TRUE(rows().empty()) << "written before any event";
    const int64_t ring = kT0 + 15'000'000;
    storage_->keepRecordingUntil("door", ring + 10'000'000);
    auto id = storage_->startEvent("door", EventKind::Ring, ring, "{}");
    ASSERT_TRUE(id.hasValue());
    ASSERT_TRUE(storage_->endEvent(*id, ring));
    feed(225, 525);  // 15..35 s
    finish();
    auto r = rows();
    ASSERT_FALSE(r.empty());
    EXPECT_LE(r.front().startUs, ring - 5'000'000) << "pre-roll of at least 5 s";
    EXPECT_GE(r.front().startUs, ring - 7'000'000) << "no more than back to one keyframe before";
    EXPECT_GE(r.back().endUs, ring + 10'000'000) << "post-roll of 10 s";
    EXPECT_LE(r.back().endUs, ring + 10'200'000) << "nothing after the post-roll";
    auto v = verify();
    EXPECT_TRUE(v.ok()) << problems(v);
    // The clip plays from its first frame.
    auto e = vault::exportRange(dir_, owner_, "door", ring - 5'000'000, ring + 10'000'000,
                                fs::path(dir_) / "ring.mp4");
    ASSERT_TRUE(e.hasValue()) << e.error().message;
    EXPECT_NEAR(e->seconds, 15.0, 0.1);
}

TEST_F(StorageTest, OffModeWritesNothing) {
    openStorage();
    storage_->setCameraMode("door", RecordingMode::Off, 5.0, 10.0);
    storage_->keepRecordingUntil("door", kT0 + 60'000'000);
    feed(0, 150);
    finish();
    EXPECT_TRUE(rows().empty());
}

TEST_F(StorageTest, RetentionPerKindAndProtectedEvents) {
    StorageOptions o;
    o.minFree.percent = 0.0001;
    openStorage(o);
    feed(0, 525);
    finish();
    ASSERT_EQ(rows().size(), 4u);
    // A ring in segment 2 (10..20 s), a protected motion event in segment 3.
    auto ring = storage_->startEvent("door", EventKind::Ring, kT0 + 12'000'000, "{}");
    ASSERT_TRUE(storage_->endEvent(*ring, kT0 + 12'000'000));
    auto motion = storage_->startEvent("door", EventKind::Motion, kT0 + 21'000'000,
                                       R"({"zones":["path"],"score":0.02})");
    ASSERT_TRUE(storage_->endEvent(*motion, kT0 + 24'000'000));
    ASSERT_TRUE(storage_->protectEvent(*motion, true).value());

    // Two days later: continuous video kept one day, rings a week, motion one day.
    clock_.setWall(std::chrono::system_clock::time_point(
        std::chrono::microseconds(kT0 + 2 * 86'400'000'000LL)));
    RetentionConfig r;
    r.continuousDays = 1;
    r.ringDays = 7;
    r.motionDays = 1;
    ASSERT_TRUE(storage_->setRetention("door", r));
    settle();
    auto left = rows();
    ASSERT_EQ(left.size(), 2u);
    EXPECT_EQ(left[0].sequence, 2u) << "holds the ring";
    EXPECT_EQ(left[1].sequence, 3u) << "holds the protected motion event";
    EXPECT_GT(storage_->status().protectedSkipped + 1, 0u);

    // Released, the motion event's video goes; with it, the event itself.
    ASSERT_TRUE(storage_->protectEvent(*motion, false).value());
    storage_->enforceRetention();
    settle();
    storage_->enforceRetention();
    settle();
    left = rows();
    ASSERT_EQ(left.size(), 1u);
    EXPECT_EQ(left[0].sequence, 2u);
    auto events = storage_->index().events("", INT64_MIN, INT64_MAX);
    ASSERT_TRUE(events.hasValue());
    ASSERT_EQ(events->size(), 1u);
    EXPECT_EQ((*events)[0].id, *ring);
    EXPECT_FALSE(storage_->protectEvent(9999, true).value()) << "no such event";
}

// The owner deletes an event from the web page: its segments go through the
// garbage rows, a segment shared with a protected event stays, and a
// protected event itself is refused.
TEST_F(StorageTest, TheOwnerDeletesAnEventButNotAProtectedOne) {
    StorageOptions o;
    o.minFree.percent = 0.0001;
    openStorage(o);
    feed(0, 525);
    finish();
    ASSERT_EQ(rows().size(), 4u);
    // Segments 1 to 4 hold 0..10, 10..20, 20..30, 30..35 s. A ring across
    // segments 1 and 2 (5..15 s); a protected motion event in 2.
    auto ring = storage_->startEvent("door", EventKind::Ring, kT0 + 5'000'000, "{}");
    ASSERT_TRUE(storage_->endEvent(*ring, kT0 + 15'000'000));
    auto motion = storage_->startEvent("door", EventKind::Motion, kT0 + 13'000'000, "{}");
    ASSERT_TRUE(storage_->endEvent(*motion, kT0 + 14'000'000));
    ASSERT_TRUE(storage_->protectEvent(*motion, true).value());

    auto refused = storage_->deleteEvent(*motion);
    ASSERT_TRUE(refused.hasValue());
    EXPECT_TRUE(refused->found);
    EXPECT_NE(refused->refused.find("protected"), std::string::npos);
    EXPECT_EQ(rows().size(), 4u);

    auto done = storage_->deleteEvent(*ring);
    ASSERT_TRUE(done.hasValue()) << done.error().message;
    EXPECT_TRUE(done->refused.empty()) << done->refused;
    EXPECT_EQ(done->segments, 1u);
    EXPECT_EQ(done->keptSegments, 1u) << "segment 2 holds the protected event";
    settle();
    auto left = rows();
    ASSERT_EQ(left.size(), 3u);
    EXPECT_EQ(left[0].sequence, 2u);
    EXPECT_EQ(left[1].sequence, 3u);
    EXPECT_FALSE(storage_->index().event(*ring).value().has_value());
    EXPECT_TRUE(storage_->index().event(*motion).value().has_value());
    auto garbage = storage_->index().garbage();
    ASSERT_TRUE(garbage.hasValue());
    EXPECT_TRUE(garbage->empty()) << "the deletion finished";
    EXPECT_FALSE(storage_->deleteEvent(*ring)->found);
}

TEST_F(StorageTest, EventDetailsAndSnapshotsAreSealedToTheOwner) {
    openStorage();
    const std::string details = R"({"zones":["front path"],"score":0.031})";
    auto id = storage_->startEvent("door", EventKind::Motion, kT0, details);
    ASSERT_TRUE(id.hasValue());
    // A JPEG-looking payload: SOI marker and a recognisable body.
    std::vector<uint8_t> jpeg{0xFF, 0xD8, 0xFF, 0xE0};
    const std::string body = "JFIF-porchlight-test-picture-body";
    jpeg.insert(jpeg.end(), body.begin(), body.end());
    storage_->saveSnapshot(*id, "door", kT0, jpeg);
    finish();

    auto event = storage_->index().event(*id);
    ASSERT_TRUE(event.hasValue() && event->has_value());
    const EventRow& e = **event;
    ASSERT_FALSE(e.snapshot.empty());
    auto opened = sealed::open(e.details, owner_);
    ASSERT_TRUE(opened.hasValue()) << opened.error().message;
    EXPECT_EQ(*opened, details);
    auto picture = sealed::readSnapshot(fs::path(dir_) / e.snapshot, {"door", *id, kT0}, owner_);
    ASSERT_TRUE(picture.hasValue()) << picture.error().message;
    EXPECT_EQ(*picture, jpeg);
    auto wrong = sealed::readSnapshot(fs::path(dir_) / e.snapshot, {"door", *id + 1, kT0}, owner_);
    ASSERT_FALSE(wrong.hasValue());
    EXPECT_NE(wrong.error().message.find("another event"), std::string::npos);

    // Neither the zone's name nor the picture is anywhere on disk in the clear.
    for (const auto& entry : fs::recursive_directory_iterator(dir_)) {
        if (!entry.is_regular_file())
            continue;
        const std::string data = readAll(entry.path());
        EXPECT_EQ(data.find("front path"), std::string::npos) << entry.path();
        EXPECT_EQ(data.find(body), std::string::npos) << entry.path();
        EXPECT_EQ(data.find("\xFF\xD8\xFF\xE0"), std::string::npos) << entry.path();
    }
}

// Clock jumps (docs/RELIABILITY.md, "Clock jumps"): a Pi without a
// real-time clock records from 1970 until NTP answers, and NTP may also
// correct a clock that was ahead.

constexpr int64_t k1970 = 600'000'000;  // ten minutes after the epoch, µs

TEST_F(StorageTest, RetentionByAgeWaitsForTheClockAndSparesRecordingsOfUnknownAge) {
    StorageOptions o;
    o.minFree.percent = 0.0001;
    clock_.setWall(std::chrono::system_clock::time_point(std::chrono::microseconds(k1970)));
    openStorage(o);
    RetentionConfig week;
    week.maxDays = 7;
    week.continuousDays = 1;
    storage_->setConfiguredRetention({{"door", week}});
    // Ten seconds recorded at boot, before NTP: labelled 1970.
    for (size_t i = 0; i < 150; ++i) {
        VideoFrame f = (*frames_)[i];
        f.wallUs = f.wallUs - kT0 + k1970;
        storage_->onFrame("door", std::move(f));
    }
    finish();
    ASSERT_EQ(rows().size(), 1u);
    EXPECT_LT(rows()[0].startUs, kEarliestPlausibleWallUs);

    // NTP sets the clock: the boot recording is not "56 years old".
    clock_.setWall(std::chrono::system_clock::time_point(std::chrono::microseconds(kT0)));
    storage_->enforceRetention();
    settle();
    ASSERT_EQ(rows().size(), 1u) << "the recording made before NTP answered was wiped";

    // Recording goes on with the right time; eight days later that goes by
    // age as usual, and the boot recording (age unknown) stays...
    feed(150, 300);
    finish();
    ASSERT_EQ(rows().size(), 2u);
    clock_.setWall(
        std::chrono::system_clock::time_point(std::chrono::microseconds(kT0 + 8 * 86'400'000'000)));
    storage_->enforceRetention();
    settle();
    auto r = rows();
    ASSERT_EQ(r.size(), 1u);
    EXPECT_LT(r[0].startUs, kEarliestPlausibleWallUs);
    // ...until a size limit needs the room: it is the oldest label, so it goes first.
    RetentionConfig tiny;
    tiny.maxBytes = 64 * 1024;
    ASSERT_TRUE(storage_->setRetention("door", tiny));
    settle();
    EXPECT_TRUE(rows().empty());
}

TEST_F(StorageTest, NothingIsDeletedByAgeWhileTheClockIsUnset) {
    // Two days after a boot without NTP the clock says 1970-01-03: "ages"
    // measured with it mean nothing, so nothing goes by age...
    StorageOptions o;
    o.minFree.percent = 0.0001;
    clock_.setWall(std::chrono::system_clock::time_point(std::chrono::microseconds(k1970)));
    openStorage(o);
    for (size_t i = 0; i < 300; ++i) {
        VideoFrame f = (*frames_)[i];
        f.wallUs = f.wallUs - kT0 + k1970;
        storage_->onFrame("door", std::move(f));
    }
    finish();
    ASSERT_EQ(rows().size(), 2u);
    RetentionConfig day;
    day.maxDays = 1;
    day.continuousDays = 0.5;
    storage_->setConfiguredRetention({{"door", day}});
    clock_.setWall(std::chrono::system_clock::time_point(
        std::chrono::microseconds(k1970 + 2 * 86'400'000'000)));
    storage_->enforceRetention();
    settle();
    ASSERT_EQ(rows().size(), 2u) << "deleted by an age the clock cannot know";
    // ...while size limits still work with no clock.
    RetentionConfig small;
    small.maxBytes = rows()[1].bytes;
    ASSERT_TRUE(storage_->setRetention("door", small));
    settle();
    EXPECT_EQ(rows().size(), 1u);
}

/// The fixture's frames from \a from to \a to, with the wall clock moved by
/// \a jumpUs from frame \a at on (as NTP would move it).
std::vector<VideoFrame> withJump(const std::vector<VideoFrame>& frames, size_t from, size_t to,
                                 size_t at, int64_t jumpUs) {
    std::vector<VideoFrame> out;
    for (size_t i = from; i < to && i < frames.size(); ++i) {
        out.push_back(frames[i]);
        if (i >= at)
            out.back().wallUs += jumpUs;
    }
    return out;
}

TEST_F(StorageTest, AnEventLastsItsPostRollWhenTheClockJumpsBack) {
    openStorage();
    storage_->setCameraMode("door", RecordingMode::Events, 5.0, 10.0);
    feed(0, 225);
    const int64_t ring = kT0 + 15'000'000;
    storage_->keepRecordingUntil("door", ring + 10'000'000);
    // One second into the post-roll, NTP moves the clock back a year.
    constexpr int64_t kYear = 365 * 86'400'000'000;
    for (auto& f : withJump(*frames_, 225, 525, 240, -kYear))
        storage_->onFrame("door", std::move(f));
    finish();
    auto r = rows();
    ASSERT_FALSE(r.empty());
    int64_t recorded = 0;
    for (const auto& row : r)
        recorded += row.endUs - row.startUs;
    // Pre-roll (5 s back to a keyframe, at most 7) and the 10 s post-roll:
    // not the 20 s to the end of the stream that a wall-clock window gives.
    EXPECT_GE(recorded, 14'500'000);
    EXPECT_LE(recorded, 17'500'000) << "recorded past the post-roll";
}

TEST_F(StorageTest, ThePreRollStaysShortAfterTheClockJumpsBack) {
    openStorage();
    storage_->setCameraMode("door", RecordingMode::Events, 5.0, 10.0);
    constexpr int64_t kYear = 365 * 86'400'000'000;
    // The clock jumps back a year at 10 s; the doorbell rings at 20 s.
    auto frames = withJump(*frames_, 0, 525, 150, -kYear);
    for (size_t i = 0; i < 300; ++i)
        storage_->onFrame("door", VideoFrame(frames[i]));
    const int64_t ring = kT0 - kYear + 20'000'000;
    storage_->keepRecordingUntil("door", ring + 10'000'000);
    for (size_t i = 300; i < frames.size(); ++i)
        storage_->onFrame("door", VideoFrame(frames[i]));
    finish();
    auto r = rows();
    ASSERT_FALSE(r.empty());
    EXPECT_LE(r.front().startUs, ring - 5'000'000) << "pre-roll of at least 5 s";
    EXPECT_GE(r.front().startUs, ring - 7'000'000) << "the pre-roll grew across the jump";
    EXPECT_GE(r.back().endUs, ring + 10'000'000);
    EXPECT_LE(r.back().endUs, ring + 10'200'000);
    auto v = verify();
    EXPECT_TRUE(v.ok()) << problems(v);
}

TEST(Index, UpgradesFromVersionOne) {
    std::string dir = ::testing::TempDir() + "pl-index-XXXXXX";
    ASSERT_NE(mkdtemp(dir.data()), nullptr);
    {
        auto db = sql::Database::open(dir + "/index.db");
        ASSERT_TRUE(db.hasValue());
        ASSERT_TRUE(db->exec(R"sql(
CREATE TABLE segment (id INTEGER PRIMARY KEY, camera TEXT NOT NULL, sequence INTEGER NOT NULL,
    start_us INTEGER NOT NULL, end_us INTEGER NOT NULL, bytes INTEGER NOT NULL,
    path TEXT NOT NULL UNIQUE, state INTEGER NOT NULL, UNIQUE (camera, sequence));
CREATE INDEX segment_camera_start ON segment (camera, start_us);
CREATE TABLE garbage (path TEXT PRIMARY KEY);
INSERT INTO segment VALUES (1, 'door', 7, 100, 200, 300, 'recordings/door/x.plseg', 1);
PRAGMA user_version = 1;)sql"));
    }
    auto index = Index::open(dir);
    ASSERT_TRUE(index.hasValue()) << index.error().message;
    EXPECT_EQ(index->schemaVersion(), kSchemaVersion);
    auto rows = index->segments("door", 0, 1000);
    ASSERT_TRUE(rows.hasValue());
    ASSERT_EQ(rows->size(), 1u);
    EXPECT_EQ((*rows)[0].sequence, 7u);
    EXPECT_FALSE((*rows)[0].isProtected);
    EXPECT_EQ(*index->nextSequence("door"), 8u);
    RetentionConfig limits;
    limits.maxDays = 1.5;
    limits.maxBytes = 1000;
    ASSERT_TRUE(index->setRetentionOverride("door", limits));
    auto overrides = index->retentionOverrides();
    ASSERT_TRUE(overrides.hasValue());
    EXPECT_EQ((*overrides)["door"].maxDays, 1.5);
    // Schema 4: the per-kind days are kept too.
    limits.ringDays = 60;
    limits.motionDays = 7;
    ASSERT_TRUE(index->setRetentionOverride("door", limits));
    overrides = index->retentionOverrides();
    ASSERT_TRUE(overrides.hasValue());
    EXPECT_EQ((*overrides)["door"], limits);
    fs::remove_all(dir);
}

TEST(Index, RefusesANewerSchema) {
    std::string dir = ::testing::TempDir() + "pl-index-XXXXXX";
    ASSERT_NE(mkdtemp(dir.data()), nullptr);
    {
        auto db = sql::Database::open(dir + "/index.db");
        ASSERT_TRUE(db->exec("PRAGMA user_version = 99"));
    }
    auto index = Index::open(dir);
    ASSERT_FALSE(index.hasValue());
    EXPECT_NE(index.error().message.find("newer Porchlight"), std::string::npos);
    fs::remove_all(dir);
}

}  // namespace
