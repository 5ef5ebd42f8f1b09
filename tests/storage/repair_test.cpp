// Start-up repair against what a power cut can leave, at every boundary the
// segment format has (docs/ref/format.md section 5, docs/RELIABILITY.md):
// cuts inside the header, at and inside every record (head, ciphertext,
// checksum), zero-filled tails, a last record whose blocks landed out of
// order, garbage tails, and damage in the middle. For each: what reconcile()
// keeps, what the index says, and that verify and export agree with it.
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "fake_clock.h"
#include "fmp4.h"
#include "h264_frames.h"
#include "keys.h"
#include "segment_file.h"
#include "storage.h"
#include "vault.h"

using namespace porchlight;
using namespace porchlight::storage;
namespace fs = std::filesystem;

namespace {

constexpr int64_t kT0 = 1'790'000'000'000'000;
constexpr const char* kPassphrase = "correct horse battery staple";

/// One record of the reference segment, from its clear framing.
struct Record {
    uint64_t offset = 0;
    uint64_t total = 0;  // 13-byte head + ciphertext + 16-byte checksum
    uint32_t ciphertext = 0;
    uint8_t kind = 0;
    int64_t endUs = 0;
    size_t samples = 0;  // video frames in it (fragments only)
    uint64_t end() const { return offset + total; }
};

std::vector<uint8_t> readFile(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), {}};
}
void writeFile(const fs::path& p, const std::vector<uint8_t>& bytes) {
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(bytes.data()),
              static_cast<std::streamsize>(bytes.size()));
}
template <typename T>
T le(const std::vector<uint8_t>& b, uint64_t at) {
    T v{};
    std::memcpy(&v, b.data() + at, sizeof v);
    return v;
}

class RepairTest : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        // The reference: one camera's 5 s, one segment (init, five 1 s
        // fragments, final), recorded by the real Storage.
        reference_ = new fs::path(::testing::TempDir() + "pl-repair-ref-XXXXXX");
        std::string d = reference_->string();
        ASSERT_NE(mkdtemp(d.data()), nullptr);
        *reference_ = d;
        auto created = keys::createOwner(*reference_, kPassphrase);
        ASSERT_TRUE(created) << created.error().message;
        auto frames = test::makeH264Frames(5, 15, kT0);
        ASSERT_EQ(frames.size(), 75u);
        {
            boost::asio::io_context io;
            test::FakeClock clock;
            StorageOptions o;
            o.minFree.percent = 0.0001;
            auto s = Storage::open(
                *reference_, clock,
                [&io](std::function<void()> fn) { boost::asio::post(io, std::move(fn)); }, o);
            ASSERT_TRUE(s) << s.error().message;
            for (auto& f : frames)
                (*s)->onFrame("door", std::move(f));
            bool done = false;
            (*s)->finishAll([&] { done = true; });
            for (int i = 0; i < 20000 && !done; ++i) {
                io.restart();
                io.poll();
                std::this_thread::sleep_for(std::chrono::milliseconds(1));
            }
            ASSERT_TRUE(done);
            io.restart();
            io.poll();
            auto rows = (*s)->index().segments("", INT64_MIN, INT64_MAX);
            ASSERT_TRUE(rows);
            ASSERT_EQ(rows->size(), 1u);
            segmentPath_ = new std::string(rows->front().path);
            rowId_ = rows->front().id;
        }
        auto owner = keys::unlockWithPassphrase(*reference_, kPassphrase);
        ASSERT_TRUE(owner) << owner.error().message;
        owner_ = new keys::OwnerKeyPair(std::move(*owner));

        // Its records, from the clear framing, and the frames in each.
        const auto bytes = readFile(*reference_ / *segmentPath_);
        headerBytes_ = le<uint16_t>(bytes, 10);
        records_ = new std::vector<Record>();
        for (uint64_t at = headerBytes_; at < bytes.size();) {
            Record r;
            r.offset = at;
            r.ciphertext = le<uint32_t>(bytes, at);
            r.kind = bytes[at + 4];
            r.endUs = le<int64_t>(bytes, at + 5);
            r.total = 13 + r.ciphertext + 16;
            records_->push_back(r);
            at += r.total;
        }
        auto reader = segment::Reader::open(*reference_ / *segmentPath_, *owner_);
        ASSERT_TRUE(reader);
        for (auto& r : *records_) {
            if (r.kind == 3)
                break;  // the final record carries no chunk
            auto chunk = reader->next();
            ASSERT_TRUE(chunk && *chunk);
            if (r.kind == 2) {
                auto samples = mp4::parseFragment((*chunk)->plaintext);
                ASSERT_TRUE(samples);
                r.samples = samples->size();
            }
        }
        ASSERT_GE(records_->size(), 6u) << "init, fragments, final";
        ASSERT_EQ(records_->front().kind, 1);
        ASSERT_EQ(records_->back().kind, 3);
    }
    static void TearDownTestSuite() {
        fs::remove_all(*reference_);
        delete reference_;
        delete records_;
        delete segmentPath_;
        delete owner_;
    }

    void SetUp() override {
        std::string d = ::testing::TempDir() + "pl-repair-XXXXXX";
        ASSERT_NE(mkdtemp(d.data()), nullptr);
        dir_ = d;
    }
    void TearDown() override { fs::remove_all(dir_); }

    /// A fresh copy of the reference state, as a crash leaves it: the
    /// segment's row still "writing" (or, with \a rowLost, a power cut that
    /// took the row's commit with it). Returns the segment file.
    fs::path crashedCopy(bool rowLost) {
        fs::remove_all(dir_);
        fs::copy(*reference_, dir_, fs::copy_options::recursive);
        auto index = Index::open(dir_);
        EXPECT_TRUE(index);
        if (rowLost) {
            EXPECT_TRUE(index->removeSegmentRow(rowId_));
        } else {
            EXPECT_TRUE(index->updateSegment(rowId_, kT0, 0, SegmentState::Writing));
        }
        return dir_ / *segmentPath_;
    }

    struct Outcome {
        ReconcileReport report;
        std::vector<SegmentRow> rows;
    };
    Outcome repair() {
        Outcome o;
        auto index = Index::open(dir_);
        EXPECT_TRUE(index);
        auto r = reconcile(*index);
        EXPECT_TRUE(r) << (r ? "" : r.error().message);
        if (r)
            o.report = *r;
        auto rows = index->segments("", INT64_MIN, INT64_MAX);
        EXPECT_TRUE(rows);
        if (rows)
            o.rows = *rows;
        return o;
    }

    /// What must hold when repair keeps the first \a kept records (0: none).
    void expectKept(size_t kept, bool rowLost) {
        const Outcome o = repair();
        const auto& recs = *records_;
        const fs::path file = dir_ / *segmentPath_;
        if (kept <= 1) {
            // Header and init segment at most: no video, so no file and no row.
            EXPECT_EQ(o.report.removedEmpty, 1);
            EXPECT_TRUE(o.rows.empty());
            EXPECT_FALSE(fs::exists(file));
        } else {
            ASSERT_EQ(o.rows.size(), 1u);
            const SegmentRow& row = o.rows[0];
            const bool whole = kept == recs.size();
            EXPECT_EQ(row.state, whole ? SegmentState::Complete : SegmentState::Repaired);
            EXPECT_EQ(row.bytes, recs[kept - 1].end());
            EXPECT_EQ(fs::file_size(file), recs[kept - 1].end()) << "cut back to the last record";
            EXPECT_EQ(row.endUs, recs[kept - 1].endUs);
            EXPECT_EQ(o.report.adopted, rowLost ? 1 : 0);
            EXPECT_EQ(o.report.quarantined, 0);
        }
        auto v = vault::verify(dir_, *owner_);
        ASSERT_TRUE(v);
        std::string problems;
        for (const auto& p : v->problems)
            problems += p + "\n";
        EXPECT_TRUE(v->ok()) << problems;
        EXPECT_EQ(v->segments, kept <= 1 ? 0 : 1);

        size_t samples = 0;
        for (size_t i = 0; i < kept; ++i)
            samples += recs[i].samples;
        auto e = vault::exportRange(dir_, *owner_, "door", kT0, kT0 + 60'000'000, dir_ / "out.mp4");
        if (samples == 0) {
            EXPECT_FALSE(e) << "nothing to export";
        } else {
            ASSERT_TRUE(e) << e.error().message;
            EXPECT_EQ(e->samples, samples) << "every frame that was kept comes out";
            EXPECT_TRUE(e->warnings.empty());
        }
    }

    /// How many leading records lie wholly within the first \a bytes.
    static size_t completeWithin(uint64_t bytes) {
        size_t n = 0;
        for (const auto& r : *records_)
            if (r.end() <= bytes)
                ++n;
        return n;
    }

    static fs::path* reference_;
    static std::vector<Record>* records_;
    static std::string* segmentPath_;
    static keys::OwnerKeyPair* owner_;
    static inline int64_t rowId_ = 0;
    static inline uint64_t headerBytes_ = 0;
    fs::path dir_;
};

fs::path* RepairTest::reference_ = nullptr;
std::vector<Record>* RepairTest::records_ = nullptr;
std::string* RepairTest::segmentPath_ = nullptr;
keys::OwnerKeyPair* RepairTest::owner_ = nullptr;

TEST_F(RepairTest, TruncationAtEveryBoundaryKeepsEveryCompleteRecord) {
    // Inside the header (magic, version, length, identity, sealed key, checksum)...
    std::vector<uint64_t> cuts = {
        0, 1, 7, 8, 10, 12, 13, headerBytes_ / 2, headerBytes_ - 16, headerBytes_ - 1};
    // ...and at and inside every record: its head, its ciphertext, its checksum.
    for (const auto& r : *records_)
        for (uint64_t at :
             {r.offset, r.offset + 1, r.offset + 12, r.offset + 13,
              r.offset + 13 + r.ciphertext / 2, r.offset + 13 + r.ciphertext, r.end() - 1})
            cuts.push_back(at);
    cuts.push_back(records_->back().end());
    for (bool rowLost : {false, true})
        for (uint64_t cut : cuts) {
            SCOPED_TRACE("cut at " + std::to_string(cut) + (rowLost ? ", row lost" : ""));
            const fs::path file = crashedCopy(rowLost);
            fs::resize_file(file, cut);
            expectKept(completeWithin(cut), rowLost);
        }
}

TEST_F(RepairTest, ZeroFilledTailsAreCut) {
    // The file grew (its size is journalled) before the data blocks landed:
    // zeros after the last complete record, however many.
    for (size_t k = 1; k <= records_->size(); ++k)
        for (uint64_t zeros : {1ull, 13ull, 4096ull, 300'000ull}) {
            SCOPED_TRACE("after record " + std::to_string(k) + ", " + std::to_string(zeros) +
                         " zero bytes");
            const fs::path file = crashedCopy(false);
            fs::resize_file(file, (*records_)[k - 1].end());
            fs::resize_file(file, (*records_)[k - 1].end() + zeros);
            expectKept(k, false);
        }
}

TEST_F(RepairTest, ALastRecordWhoseBlocksLandedOutOfOrderIsCut) {
    // The record being written when the power went: its length is right, but
    // some of its blocks are still zeros (the tail, the head, or the middle).
    // Every record before it was fdatasynced, so it can only be a torn write.
    for (size_t k = 2; k < records_->size(); ++k) {
        const Record& r = (*records_)[k];
        struct Hole {
            const char* what;
            uint64_t from, to;
        };
        for (const Hole& h : {Hole{"second half", r.offset + r.total / 2, r.end()},
                              Hole{"head", r.offset, r.offset + std::min<uint64_t>(r.total, 4096)},
                              Hole{"middle", r.offset + r.total / 3, r.offset + r.total * 2 / 3}}) {
            SCOPED_TRACE("record " + std::to_string(k) + ", " + h.what + " zero");
            const fs::path file = crashedCopy(false);
            fs::resize_file(file, r.end());
            auto bytes = readFile(file);
            std::fill(bytes.begin() + static_cast<long>(h.from),
                      bytes.begin() + static_cast<long>(h.to), 0);
            writeFile(file, bytes);
            expectKept(k, false);
        }
    }
}

TEST_F(RepairTest, GarbageTailsAreCut) {
    // Stale blocks (a filesystem without ordered data, such as FAT on a USB
    // disk) after the last complete record, with no complete record in them.
    std::mt19937 rng(8);
    for (size_t k = 2; k <= records_->size(); ++k)
        for (size_t n : {1u, 100u, 5000u}) {
            SCOPED_TRACE("after record " + std::to_string(k) + ", " + std::to_string(n) +
                         " bytes of garbage");
            const fs::path file = crashedCopy(false);
            fs::resize_file(file, (*records_)[k - 1].end());
            auto bytes = readFile(file);
            for (size_t i = 0; i < n; ++i)
                bytes.push_back(static_cast<uint8_t>(rng()));
            writeFile(file, bytes);
            expectKept(k, false);
        }
}

TEST_F(RepairTest, DamageInTheMiddleIsKeptWholeAndReported) {
    // A flipped byte in fragment 2, with good records after it: not a torn
    // write. Nothing is cut; verify names the offset; export keeps what it can.
    const Record& r = (*records_)[2];
    const fs::path file = crashedCopy(false);
    auto bytes = readFile(file);
    bytes[r.offset + 13 + r.ciphertext / 2] ^= 0x01;
    writeFile(file, bytes);
    const Outcome o = repair();
    ASSERT_EQ(o.rows.size(), 1u);
    EXPECT_EQ(o.report.trimmed, 0);
    EXPECT_EQ(fs::file_size(file), bytes.size()) << "kept whole";
    EXPECT_EQ(o.rows[0].bytes, bytes.size()) << "the index counts what the file takes";
    EXPECT_EQ(o.rows[0].state, SegmentState::Repaired);
    auto v = vault::verify(dir_, *owner_);
    ASSERT_TRUE(v);
    std::string problems;
    for (const auto& p : v->problems)
        problems += p + "\n";
    ASSERT_EQ(v->problems.size(), 1u) << problems;
    EXPECT_NE(v->problems[0].find("offset " + std::to_string(r.offset)), std::string::npos)
        << v->problems[0];
    auto e = vault::exportRange(dir_, *owner_, "door", kT0, kT0 + 60'000'000, dir_ / "out.mp4");
    ASSERT_TRUE(e) << e.error().message;
    EXPECT_EQ(e->samples, (*records_)[1].samples) << "the fragment before the damage";
    EXPECT_EQ(e->warnings.size(), 1u);
}

TEST_F(RepairTest, AnUnreadableHeaderIsSetAsideNotDeleted) {
    // Not something a crash does (the header is fsynced before any record),
    // but a bad sector can: the file goes to STATE/damaged/, the rest goes on.
    const fs::path file = crashedCopy(false);
    auto bytes = readFile(file);
    bytes[20] ^= 0x01;
    writeFile(file, bytes);
    const Outcome o = repair();
    EXPECT_EQ(o.report.quarantined, 1);
    EXPECT_TRUE(o.rows.empty());
    EXPECT_TRUE(fs::exists(dir_ / "damaged" / file.filename()));
    auto v = vault::verify(dir_, *owner_);
    ASSERT_TRUE(v);
    EXPECT_TRUE(v->ok());
}

}  // namespace
