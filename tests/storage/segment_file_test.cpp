// Tests for encrypted segment files: what is written reads back exactly with
// the owner's key and only with it; any change, swap, splice or cut is found;
// the crash scan finds the last complete record at every possible cut; and no
// plaintext reaches the disk.
#include "segment_file.h"

#include <gtest/gtest.h>

#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <xxhash.h>

#include "temp_dir.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

namespace porchlight::segment {
namespace {

namespace fs = std::filesystem;
using Bytes = std::vector<uint8_t>;

/// Each test's scratch directory, named after this suite.
class TempDir : public porchlight::test::TempDir {
public:
    TempDir() : porchlight::test::TempDir("porchlight-segment") {}
};

Bytes readFile(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    return Bytes(std::istreambuf_iterator<char>(in), {});
}

void writeFile(const fs::path& path, const Bytes& data) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data.data()),
              static_cast<std::streamsize>(data.size()));
}

keys::OwnerKeyPair makeOwner() {
    keys::OwnerKeyPair owner;
    owner.secretKey = keys::SecretBytes(crypto_box_SECRETKEYBYTES);
    crypto_box_keypair(owner.publicKey.data(), owner.secretKey.data());
    return owner;
}

Bytes randomBytes(size_t size, std::mt19937& rng) {
    Bytes b(size);
    for (auto& x : b)
        x = static_cast<uint8_t>(rng());
    return b;
}

/// What was written, to compare with what is read.
struct Written {
    ChunkKind kind;
    int64_t endUs;
    Bytes plaintext;
};

struct Segment {
    fs::path path;
    Identity identity;
    std::vector<Written> chunks;
    std::vector<uint64_t> recordEnds;  // file offset after each record, final included
    uint64_t headerBytes = 0;
    int64_t finalEndUs = 0;
};

/// Write a segment: an init chunk, then fragments of the given sizes, then
/// (when \a finish) the final record.
Segment writeSegment(const fs::path& path, const Identity& identity, const keys::PublicKey& owner,
                     const std::vector<size_t>& fragmentSizes, bool finish, uint32_t seed = 1,
                     uint16_t version = kCurrentFormatVersion) {
    std::mt19937 rng(seed);
    Segment seg{path, identity, {}, {}, 0, 0};
    auto w = Writer::create(path, identity, owner, version);
    EXPECT_TRUE(w) << w.error().message;
    if (!w)
        return seg;
    seg.headerBytes = w->size();
    int64_t t = identity.startUs;
    auto add = [&](ChunkKind kind, Bytes data) {
        t += 1'000'000;
        auto ok = w->append(kind, data, t, kind == ChunkKind::Init);
        EXPECT_TRUE(ok) << ok.error().message;
        seg.chunks.push_back({kind, t, std::move(data)});
        seg.recordEnds.push_back(w->size());
    };
    add(ChunkKind::Init, randomBytes(700, rng));
    for (size_t size : fragmentSizes)
        add(ChunkKind::Fragment, randomBytes(size, rng));
    if (finish) {
        seg.finalEndUs = t + 500'000;
        auto ok = w->finish(seg.finalEndUs);
        EXPECT_TRUE(ok) << ok.error().message;
        seg.recordEnds.push_back(w->size());
    }
    return seg;
}

/// Everything a Reader gives, up to the end or the first error.
struct ReadResult {
    std::vector<Chunk> chunks;
    std::optional<std::string> error;
    bool finished = false;
};

ReadResult readAll(const fs::path& path, const keys::OwnerKeyPair& owner,
                   const std::optional<Identity>& expected = std::nullopt) {
    ReadResult r;
    auto reader = Reader::open(path, owner, expected);
    if (!reader) {
        r.error = reader.error().message;
        return r;
    }
    for (;;) {
        auto chunk = reader->next();
        if (!chunk) {
            r.error = chunk.error().message;
            break;
        }
        if (!*chunk)
            break;
        r.chunks.push_back(std::move(**chunk));
    }
    r.finished = reader->finished();
    return r;
}

void expectSameChunks(const std::vector<Chunk>& got, const std::vector<Written>& want,
                      size_t count) {
    ASSERT_EQ(got.size(), count);
    for (size_t i = 0; i < count; ++i) {
        EXPECT_EQ(got[i].kind, want[i].kind) << i;
        EXPECT_EQ(got[i].endUs, want[i].endUs) << i;
        EXPECT_TRUE(got[i].plaintext == want[i].plaintext) << "chunk " << i << " differs";
    }
}

bool contains(const Bytes& haystack, const Bytes& needle) {
    return std::search(haystack.begin(), haystack.end(), needle.begin(), needle.end()) !=
           haystack.end();
}

bool mentions(const std::optional<std::string>& error, const std::string& text) {
    return error && error->find(text) != std::string::npos;
}

/// Replace a record's clear checksum with the right one for its (changed)
/// bytes: what an attacker can do, since the checksum has no key.
void fixRecordChecksum(Bytes& file, uint64_t start, uint64_t end) {
    const uint16_t version = static_cast<uint16_t>(file[8] | (file[9] << 8));
    const auto sum = clearChecksum(version, std::span(&file[start], end - 16 - start));
    std::copy(sum.begin(), sum.end(), &file[end - 16]);
}

class SegmentTest : public ::testing::Test {
protected:
    TempDir dir_;
    keys::OwnerKeyPair owner_ = makeOwner();
    Identity identity_{"front-door", 42, 1'700'000'000'000'000};
    fs::path path(const std::string& name) const { return dir_.path() / name; }
};

// ---------------------------------------------------------------------------

TEST_F(SegmentTest, RoundTrip) {
    const std::vector<size_t> sizes = {0, 1, 17, 4096, 1'000'000, 123'457, 0, 65536};
    const Segment seg = writeSegment(path("a.plseg"), identity_, owner_.publicKey, sizes, true);

    struct stat st {};
    ASSERT_EQ(::stat(seg.path.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    EXPECT_EQ(static_cast<uint64_t>(st.st_size), seg.recordEnds.back());

    const ReadResult r = readAll(seg.path, owner_, identity_);
    EXPECT_FALSE(r.error) << *r.error;
    EXPECT_TRUE(r.finished);
    expectSameChunks(r.chunks, seg.chunks, seg.chunks.size());
    ASSERT_EQ(r.chunks.size(), seg.chunks.size());
    EXPECT_EQ(r.chunks[0].offset, seg.headerBytes);
    for (size_t i = 1; i < r.chunks.size(); ++i)
        EXPECT_EQ(r.chunks[i].offset, seg.recordEnds[i - 1]);

    auto s = scan(seg.path);
    ASSERT_TRUE(s) << s.error().message;
    EXPECT_EQ(s->identity, identity_);
    EXPECT_EQ(s->headerBytes, seg.headerBytes);
    EXPECT_EQ(s->validBytes, seg.recordEnds.back());
    EXPECT_EQ(s->fileBytes, seg.recordEnds.back());
    EXPECT_EQ(s->records, sizes.size() + 2);
    EXPECT_TRUE(s->finished);
    EXPECT_EQ(s->endUs, seg.finalEndUs);
    EXPECT_EQ(s->problem, "");
}

TEST_F(SegmentTest, HeaderOnlyAndUnfinishedSegments) {
    {
        auto w = Writer::create(path("empty.plseg"), identity_, owner_.publicKey);
        ASSERT_TRUE(w) << w.error().message;
    }
    auto s = scan(path("empty.plseg"));
    ASSERT_TRUE(s) << s.error().message;
    EXPECT_EQ(s->records, 0u);
    EXPECT_FALSE(s->finished);
    EXPECT_EQ(s->endUs, identity_.startUs);
    EXPECT_EQ(s->validBytes, s->fileBytes);
    EXPECT_EQ(s->problem, "");
    const ReadResult r = readAll(path("empty.plseg"), owner_);
    EXPECT_FALSE(r.error);
    EXPECT_TRUE(r.chunks.empty());
    EXPECT_FALSE(r.finished);
}

TEST_F(SegmentTest, WriterRefusesWhatWouldBreakTheFormat) {
    const Segment seg = writeSegment(path("a.plseg"), identity_, owner_.publicKey, {10}, true);
    // Never overwrites.
    EXPECT_FALSE(Writer::create(seg.path, identity_, owner_.publicKey));
    EXPECT_EQ(readAll(seg.path, owner_).chunks.size(), 2u);
    // Camera ids must fit their length byte.
    EXPECT_FALSE(Writer::create(path("b.plseg"), Identity{"", 1, 0}, owner_.publicKey));
    EXPECT_FALSE(
        Writer::create(path("c.plseg"), Identity{std::string(256, 'x'), 1, 0}, owner_.publicKey));
    EXPECT_TRUE(
        Writer::create(path("d.plseg"), Identity{std::string(255, 'x'), 1, 0}, owner_.publicKey));

    auto w = Writer::create(path("e.plseg"), identity_, owner_.publicKey);
    ASSERT_TRUE(w);
    ASSERT_TRUE(w->append(ChunkKind::Init, Bytes(5, 1), 1, false));
    ASSERT_TRUE(w->finish(2));
    EXPECT_FALSE(w->append(ChunkKind::Fragment, Bytes(5, 1), 3, false));
    EXPECT_FALSE(w->finish(4));
    EXPECT_TRUE(readAll(path("e.plseg"), owner_).finished);
}

TEST_F(SegmentTest, NoPlaintextOnDisk) {
    Bytes pattern = {'f', 't', 'y', 'p', 'i', 's', 'o', 'm'};
    for (int i = 0; i < 4096; ++i)
        pattern.push_back(static_cast<uint8_t>("PORCHLIGHT-MARKER"[i % 17]));
    auto w = Writer::create(path("a.plseg"), identity_, owner_.publicKey);
    ASSERT_TRUE(w);
    ASSERT_TRUE(w->append(ChunkKind::Init, pattern, 1, true));
    ASSERT_TRUE(w->append(ChunkKind::Fragment, pattern, 2, true));
    ASSERT_TRUE(w->finish(3));

    const Bytes file = readFile(path("a.plseg"));
    EXPECT_FALSE(contains(file, Bytes{'f', 't', 'y', 'p', 'i', 's', 'o', 'm'}));
    EXPECT_FALSE(contains(file, Bytes(pattern.begin() + 8, pattern.begin() + 8 + 12)));
    // And it does decrypt to the pattern.
    const ReadResult r = readAll(path("a.plseg"), owner_);
    ASSERT_EQ(r.chunks.size(), 2u);
    EXPECT_TRUE(r.chunks[1].plaintext == pattern);
}

TEST_F(SegmentTest, OnlyTheOwnerKeyOpensIt) {
    const Segment seg = writeSegment(path("a.plseg"), identity_, owner_.publicKey, {10}, true);
    const keys::OwnerKeyPair stranger = makeOwner();
    const ReadResult r = readAll(seg.path, stranger);
    EXPECT_TRUE(mentions(r.error, "not sealed to this owner key")) << r.error.value_or("");
    EXPECT_TRUE(r.chunks.empty());
    // The device, without any key, can still scan it.
    auto s = scan(seg.path);
    ASSERT_TRUE(s);
    EXPECT_TRUE(s->finished);
}

TEST_F(SegmentTest, ChangedByteInARecordIsFoundAtItsOffset) {
    const Segment seg =
        writeSegment(path("a.plseg"), identity_, owner_.publicKey, {300, 300, 300}, true);
    const Bytes original = readFile(seg.path);
    const size_t victim = 2;  // the second fragment
    const uint64_t start = seg.recordEnds[victim - 1];
    const uint64_t end = seg.recordEnds[victim];
    const std::string offset = "offset " + std::to_string(start);

    // Damage (bit rot): the clear checksum catches it, the device can see it.
    Bytes damaged = original;
    damaged[start + 13 + 100] ^= 0x01;
    writeFile(seg.path, damaged);
    ReadResult r = readAll(seg.path, owner_);
    EXPECT_TRUE(mentions(r.error, "damaged at " + offset)) << r.error.value_or("");
    expectSameChunks(r.chunks, seg.chunks, victim);
    auto s = scan(seg.path);
    ASSERT_TRUE(s);
    EXPECT_EQ(s->problem, "checksum mismatch at " + offset);
    EXPECT_EQ(s->validBytes, start);
    EXPECT_FALSE(s->finished);

    // Tampering: the checksum is recomputed, the AEAD still catches it. The
    // clear kind and endUs are authenticated as well as the ciphertext.
    for (const uint64_t at : {start + 13 + 100, start + 13, end - 17, start + 4, start + 5}) {
        Bytes tampered = original;
        tampered[at] ^= 0x01;
        fixRecordChecksum(tampered, start, end);
        writeFile(seg.path, tampered);
        r = readAll(seg.path, owner_);
        EXPECT_TRUE(mentions(r.error, "authentication failed at " + offset))
            << at << ": " << r.error.value_or("");
        expectSameChunks(r.chunks, seg.chunks, victim);
    }
}

TEST_F(SegmentTest, EveryChangedByteIsFound) {
    const Segment seg = writeSegment(path("a.plseg"), identity_, owner_.publicKey, {0, 40}, true);
    const Bytes original = readFile(seg.path);
    for (size_t at = 0; at < original.size(); ++at) {
        Bytes changed = original;
        changed[at] ^= 0x20;
        writeFile(seg.path, changed);
        const ReadResult r = readAll(seg.path, owner_);
        // Either an error, or (a length byte grown past the end of the file)
        // a segment that reads as cut short: never a clean, complete read.
        EXPECT_TRUE(r.error || !r.finished) << "change at " << at << " went unnoticed";
        ASSERT_LE(r.chunks.size(), seg.chunks.size());
        expectSameChunks(r.chunks, seg.chunks, r.chunks.size());
        if (at < seg.headerBytes) {
            EXPECT_TRUE(r.error) << at;
            EXPECT_FALSE(scan(seg.path)) << "header change at " << at;
        } else {
            auto s = scan(seg.path);
            ASSERT_TRUE(s);
            EXPECT_NE(s->problem, "") << "change at " << at;
        }
    }
}

TEST_F(SegmentTest, HeaderDamageAndForeignFiles) {
    const Segment seg = writeSegment(path("a.plseg"), identity_, owner_.publicKey, {10}, true);
    const Bytes original = readFile(seg.path);

    Bytes damaged = original;
    damaged[30] ^= 0x01;
    writeFile(path("damaged.plseg"), damaged);
    auto s = scan(path("damaged.plseg"));
    ASSERT_FALSE(s);
    EXPECT_NE(s.error().message.find("damaged header"), std::string::npos) << s.error().message;

    writeFile(path("text.plseg"), Bytes{'h', 'e', 'l', 'l', 'o', '\n', 'w', 'o', 'r', 'l', 'd'});
    s = scan(path("text.plseg"));
    ASSERT_FALSE(s);
    EXPECT_NE(s.error().message.find("not a Porchlight segment"), std::string::npos);

    for (const size_t cut : {size_t{0}, size_t{5}, size_t{12}, size_t{60}, seg.headerBytes - 1}) {
        writeFile(path("short.plseg"), Bytes(original.begin(), original.begin() + cut));
        s = scan(path("short.plseg"));
        ASSERT_FALSE(s) << cut;
        EXPECT_NE(s.error().message.find("damaged header"), std::string::npos)
            << cut << ": " << s.error().message;
    }

    Bytes future = original;
    future[8] = 3;
    writeFile(path("future.plseg"), future);
    s = scan(path("future.plseg"));
    ASSERT_FALSE(s);
    EXPECT_NE(s.error().message.find("version 3"), std::string::npos) << s.error().message;
}

TEST_F(SegmentTest, RenamedOrSwappedFilesAreCaught) {
    const Identity idA = identity_;
    const Identity idB{"front-door", 43, identity_.startUs + 60'000'000};
    writeSegment(path("a.plseg"), idA, owner_.publicKey, {10}, true);
    writeSegment(path("b.plseg"), idB, owner_.publicKey, {10}, true);
    // Swap the two files behind the index's back.
    fs::rename(path("a.plseg"), path("tmp"));
    fs::rename(path("b.plseg"), path("a.plseg"));
    fs::rename(path("tmp"), path("b.plseg"));

    const ReadResult r = readAll(path("a.plseg"), owner_, idA);
    ASSERT_TRUE(r.error);
    EXPECT_TRUE(mentions(r.error, "file claims camera \"front-door\" sequence 43")) << *r.error;
    EXPECT_TRUE(mentions(r.error, "index says camera \"front-door\" sequence 42")) << *r.error;
    for (const Identity& other :
         {Identity{"back-door", 43, idB.startUs}, Identity{"front-door", 43, idB.startUs + 1}}) {
        EXPECT_TRUE(mentions(readAll(path("a.plseg"), owner_, other).error, "file claims"));
    }
    EXPECT_FALSE(readAll(path("a.plseg"), owner_, idB).error);
}

TEST_F(SegmentTest, RewrittenHeaderIdentityFailsAuthentication) {
    // An attacker edits the clear identity (and fixes the header checksum):
    // every record's associated data still names the original identity.
    const Segment seg = writeSegment(path("a.plseg"), identity_, owner_.publicKey, {10}, true);
    Bytes file = readFile(seg.path);
    const size_t sequenceAt = 13 + identity_.camera.size();
    file[sequenceAt] ^= 0x01;  // 42 -> 43
    fixRecordChecksum(file, 0, seg.headerBytes);
    writeFile(seg.path, file);
    const Identity claimed{identity_.camera, 43, identity_.startUs};
    const ReadResult r = readAll(seg.path, owner_, claimed);
    EXPECT_TRUE(
        mentions(r.error, "authentication failed at offset " + std::to_string(seg.headerBytes)))
        << r.error.value_or("");
    EXPECT_TRUE(r.chunks.empty());
}

TEST_F(SegmentTest, SplicedOrReorderedRecordsFailAuthentication) {
    const Segment a = writeSegment(path("a.plseg"), identity_, owner_.publicKey, {50, 60}, false);
    const Segment b =
        writeSegment(path("b.plseg"), Identity{"front-door", 43, identity_.startUs + 1},
                     owner_.publicKey, {70}, false, 2);
    const Bytes fileA = readFile(a.path);
    Bytes fileB = readFile(b.path);

    // A's second fragment appended to B.
    const uint64_t spliceAt = fileB.size();
    fileB.insert(fileB.end(), fileA.begin() + static_cast<ptrdiff_t>(a.recordEnds[1]),
                 fileA.begin() + static_cast<ptrdiff_t>(a.recordEnds[2]));
    writeFile(path("spliced.plseg"), fileB);
    auto s = scan(path("spliced.plseg"));
    ASSERT_TRUE(s);
    EXPECT_EQ(s->problem, "");  // framing alone cannot tell...
    ReadResult r = readAll(path("spliced.plseg"), owner_);
    EXPECT_TRUE(mentions(r.error, "authentication failed at offset " + std::to_string(spliceAt)))
        << r.error.value_or("");  // ...the key can
    expectSameChunks(r.chunks, b.chunks, b.chunks.size());

    // A's two fragments swapped.
    Bytes reordered(fileA.begin(), fileA.begin() + static_cast<ptrdiff_t>(a.recordEnds[0]));
    reordered.insert(reordered.end(), fileA.begin() + static_cast<ptrdiff_t>(a.recordEnds[1]),
                     fileA.begin() + static_cast<ptrdiff_t>(a.recordEnds[2]));
    reordered.insert(reordered.end(), fileA.begin() + static_cast<ptrdiff_t>(a.recordEnds[0]),
                     fileA.begin() + static_cast<ptrdiff_t>(a.recordEnds[1]));
    writeFile(path("reordered.plseg"), reordered);
    r = readAll(path("reordered.plseg"), owner_);
    EXPECT_TRUE(
        mentions(r.error, "authentication failed at offset " + std::to_string(a.recordEnds[0])))
        << r.error.value_or("");
    expectSameChunks(r.chunks, a.chunks, 1);

    // A record dropped from the middle.
    Bytes dropped(fileA.begin(), fileA.begin() + static_cast<ptrdiff_t>(a.recordEnds[0]));
    dropped.insert(dropped.end(), fileA.begin() + static_cast<ptrdiff_t>(a.recordEnds[1]),
                   fileA.end());
    writeFile(path("dropped.plseg"), dropped);
    r = readAll(path("dropped.plseg"), owner_);
    EXPECT_TRUE(mentions(r.error, "authentication failed")) << r.error.value_or("");
}

TEST_F(SegmentTest, DataAfterTheFinalRecord) {
    const Segment seg = writeSegment(path("a.plseg"), identity_, owner_.publicKey, {10}, true);
    Bytes file = readFile(seg.path);
    file.insert(file.end(), {1, 2, 3});
    writeFile(seg.path, file);
    auto s = scan(seg.path);
    ASSERT_TRUE(s);
    EXPECT_TRUE(s->finished);
    EXPECT_EQ(s->validBytes, seg.recordEnds.back());
    EXPECT_EQ(s->problem, "unexpected data after the final record at offset " +
                              std::to_string(seg.recordEnds.back()));
    const ReadResult r = readAll(seg.path, owner_);
    EXPECT_TRUE(mentions(r.error, "after the final record")) << r.error.value_or("");
    expectSameChunks(r.chunks, seg.chunks, seg.chunks.size());
    ASSERT_TRUE(truncateTo(seg.path, s->validBytes));
    EXPECT_EQ(scan(seg.path)->problem, "");
    EXPECT_FALSE(readAll(seg.path, owner_).error);
}

TEST_F(SegmentTest, CutAtEveryByteReadsTheCompleteRecordsBeforeIt) {
    const Segment seg =
        writeSegment(path("a.plseg"), identity_, owner_.publicKey, {0, 5, 100, 300}, true);
    const Bytes original = readFile(seg.path);
    ASSERT_EQ(original.size(), seg.recordEnds.back());
    const fs::path cutPath = path("cut.plseg");

    for (uint64_t cut = seg.headerBytes; cut <= original.size(); ++cut) {
        writeFile(cutPath, Bytes(original.begin(), original.begin() + static_cast<ptrdiff_t>(cut)));
        // The complete records before the cut (the final one counts).
        size_t complete = 0;
        uint64_t boundary = seg.headerBytes;
        while (complete < seg.recordEnds.size() && seg.recordEnds[complete] <= cut)
            boundary = seg.recordEnds[complete++];
        const bool whole = cut == original.size();

        auto s = scan(cutPath);
        ASSERT_TRUE(s) << cut << ": " << s.error().message;
        EXPECT_EQ(s->validBytes, boundary) << cut;
        EXPECT_EQ(s->fileBytes, cut);
        EXPECT_EQ(s->records, complete) << cut;
        EXPECT_EQ(s->finished, whole) << cut;
        if (cut == boundary)
            EXPECT_EQ(s->problem, "") << cut;
        else
            EXPECT_EQ(s->problem, "torn record at offset " + std::to_string(boundary)) << cut;

        const ReadResult r = readAll(cutPath, owner_, identity_);
        EXPECT_FALSE(r.error) << cut << ": " << *r.error;
        EXPECT_EQ(r.finished, whole) << cut;
        expectSameChunks(r.chunks, seg.chunks, std::min(complete, seg.chunks.size()));

        // The repair the recorder runs after a crash.
        ASSERT_TRUE(truncateTo(cutPath, s->validBytes));
        auto repaired = scan(cutPath);
        ASSERT_TRUE(repaired);
        EXPECT_EQ(repaired->problem, "");
        EXPECT_EQ(repaired->validBytes, repaired->fileBytes);
        EXPECT_EQ(repaired->records, complete);
    }
}

TEST_F(SegmentTest, FailedWriteLeavesATornTailAndEndsTheWriter) {
    // A file size limit makes write() stop part-way, as a full disk does.
    auto w = Writer::create(path("a.plseg"), identity_, owner_.publicKey);
    ASSERT_TRUE(w);
    ASSERT_TRUE(w->append(ChunkKind::Init, Bytes(100, 7), 1, true));
    const uint64_t good = w->size();

    struct sigaction ignore {
    }, old{};
    ignore.sa_handler = SIG_IGN;
    ASSERT_EQ(::sigaction(SIGXFSZ, &ignore, &old), 0);
    struct rlimit saved {};
    ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &saved), 0);
    struct rlimit limited = saved;
    limited.rlim_cur = good + 1000;
    ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &limited), 0);
    auto failed = w->append(ChunkKind::Fragment, Bytes(5000, 8), 2, true);
    ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &saved), 0);
    ASSERT_EQ(::sigaction(SIGXFSZ, &old, nullptr), 0);

    ASSERT_FALSE(failed);
    EXPECT_NE(failed.error().message.find("File too large"), std::string::npos)
        << failed.error().message;
    EXPECT_FALSE(isDiskFullError(failed.error()));
    EXPECT_EQ(w->size(), good);
    // The stream has moved on: nothing more may be written to this file.
    EXPECT_FALSE(w->append(ChunkKind::Fragment, Bytes(10, 9), 3, true));
    EXPECT_FALSE(w->finish(4));

    auto s = scan(path("a.plseg"));
    ASSERT_TRUE(s);
    EXPECT_EQ(s->fileBytes, good + 1000);
    EXPECT_EQ(s->validBytes, good);
    EXPECT_EQ(s->problem, "torn record at offset " + std::to_string(good));
    ASSERT_TRUE(truncateTo(path("a.plseg"), s->validBytes));
    const ReadResult r = readAll(path("a.plseg"), owner_);
    EXPECT_FALSE(r.error);
    ASSERT_EQ(r.chunks.size(), 1u);
    EXPECT_TRUE(r.chunks[0].plaintext == Bytes(100, 7));
}

uint64_t allocatedBytes(const fs::path& path) {
    struct stat st {};
    EXPECT_EQ(::stat(path.c_str(), &st), 0);
    return static_cast<uint64_t>(st.st_blocks) * 512;
}

// Space reserved for a segment lies beyond its end: the size (what a crash
// scan sees) is only ever the data, and what is left over is given back
// when the segment is finished, or by truncateTo (the crash repair).
TEST_F(SegmentTest, ReservedSpaceIsBeyondTheEndAndGivenBack) {
    constexpr uint64_t kReserve = 8 << 20;
    for (const bool finish : {true, false}) {
        SCOPED_TRACE(finish ? "finished" : "left open");
        const fs::path file = path(finish ? "a.plseg" : "b.plseg");
        auto sealer = Sealer::create(identity_, owner_.publicKey);
        ASSERT_TRUE(sealer);
        auto w = Writer::createSealed(file, sealer->header(), kReserve);
        ASSERT_TRUE(w) << w.error().message;
        if (allocatedBytes(file) < kReserve)
            GTEST_SKIP() << "this filesystem does not preallocate (fallocate KEEP_SIZE)";
        Bytes record;
        ASSERT_TRUE(sealer->seal(record, ChunkKind::Init, Bytes(700, 1), identity_.startUs));
        ASSERT_TRUE(w->appendSealed(record, true));
        EXPECT_EQ(fs::file_size(file), w->size());
        auto s = scan(file);
        ASSERT_TRUE(s) << s.error().message;
        EXPECT_EQ(s->validBytes, s->fileBytes) << s->problem;
        if (finish) {
            ASSERT_TRUE(sealer->sealFinal(record, identity_.startUs + 1));
            ASSERT_TRUE(w->finishSealed(record));
        } else {
            ASSERT_TRUE(truncateTo(file, w->size()));
        }
        EXPECT_LT(allocatedBytes(file), 64u << 10);
        EXPECT_FALSE(readAll(file, owner_, identity_).error);
    }
}

Bytes hexBytes(const std::string& hex) {
    Bytes out(hex.size() / 2);
    EXPECT_EQ(
        sodium_hex2bin(out.data(), out.size(), hex.data(), hex.size(), nullptr, nullptr, nullptr),
        0);
    return out;
}

TEST(Checksum, EachVersionHasItsDocumentedFunction) {
    // Version 1: unkeyed BLAKE2b with a 16-byte digest.
    const std::string abc = "abc";
    const auto data = std::span(reinterpret_cast<const uint8_t*>(abc.data()), abc.size());
    std::array<uint8_t, 16> blake{};
    crypto_generichash(blake.data(), blake.size(), data.data(), data.size(), nullptr, 0);
    EXPECT_EQ(clearChecksum(kFormatV1, data), blake);
    // Version 2: XXH3-128, seed 0, high 64 bits big-endian then low 64 bits
    // big-endian (xxHash's canonical form), with the values given in
    // docs/ref/format.md section 5.5, and computed here from the two halves.
    const XXH128_hash_t h = XXH3_128bits(data.data(), data.size());
    std::array<uint8_t, 16> expected{};
    for (int i = 0; i < 8; ++i) {
        expected[static_cast<size_t>(i)] = static_cast<uint8_t>(h.high64 >> (56 - 8 * i));
        expected[static_cast<size_t>(8 + i)] = static_cast<uint8_t>(h.low64 >> (56 - 8 * i));
    }
    EXPECT_EQ(clearChecksum(kFormatV2, data), expected);
    const Bytes documentedAbc = hexBytes("06b05ab6733a618578af5f94892f3950");
    const Bytes documentedEmpty = hexBytes("99aa06d3014798d86001c324468d497f");
    const auto abcSum = clearChecksum(kFormatV2, data);
    const auto emptySum = clearChecksum(kFormatV2, {});
    EXPECT_TRUE(std::equal(abcSum.begin(), abcSum.end(), documentedAbc.begin()));
    EXPECT_TRUE(std::equal(emptySum.begin(), emptySum.end(), documentedEmpty.begin()));
}

TEST_F(SegmentTest, NewSegmentsAreVersion2WithXxh3Checksums) {
    const Segment seg = writeSegment(path("a.plseg"), identity_, owner_.publicKey, {1000}, true);
    const Bytes file = readFile(seg.path);
    EXPECT_EQ(file[8], 2);
    EXPECT_EQ(file[9], 0);
    const auto headerSum = clearChecksum(kFormatV2, std::span(file.data(), seg.headerBytes - 16));
    EXPECT_TRUE(std::equal(headerSum.begin(), headerSum.end(), &file[seg.headerBytes - 16]));
    const auto recordSum = clearChecksum(
        kFormatV2, std::span(&file[seg.headerBytes], seg.recordEnds[0] - seg.headerBytes - 16));
    EXPECT_TRUE(std::equal(recordSum.begin(), recordSum.end(), &file[seg.recordEnds[0] - 16]));
    auto reader = Reader::open(seg.path, owner_, identity_);
    ASSERT_TRUE(reader) << reader.error().message;
    EXPECT_EQ(reader->version(), kFormatV2);
    auto s = scan(seg.path);
    ASSERT_TRUE(s) << s.error().message;
    EXPECT_EQ(s->version, kFormatV2);
}

// Segments written before version 2 keep working: read, scanned, repaired
// after a cut, and their damage found, all with BLAKE2b checksums.
TEST_F(SegmentTest, Version1SegmentsStillReadScanAndRepair) {
    const std::vector<size_t> sizes = {10, 50'000, 3};
    const Segment seg =
        writeSegment(path("v1.plseg"), identity_, owner_.publicKey, sizes, true, 1, kFormatV1);
    Bytes file = readFile(seg.path);
    EXPECT_EQ(file[8], 1);
    std::array<uint8_t, 16> blake{};
    crypto_generichash(blake.data(), blake.size(), &file[seg.headerBytes],
                       seg.recordEnds[0] - seg.headerBytes - 16, nullptr, 0);
    EXPECT_TRUE(std::equal(blake.begin(), blake.end(), &file[seg.recordEnds[0] - 16]));

    ReadResult r = readAll(seg.path, owner_, identity_);
    EXPECT_FALSE(r.error) << *r.error;
    EXPECT_TRUE(r.finished);
    expectSameChunks(r.chunks, seg.chunks, seg.chunks.size());
    auto s = scan(seg.path);
    ASSERT_TRUE(s) << s.error().message;
    EXPECT_EQ(s->version, kFormatV1);
    EXPECT_TRUE(s->finished);
    EXPECT_EQ(s->validBytes, seg.recordEnds.back());

    // A torn tail: scan finds the last complete record, repair cuts there.
    writeFile(path("torn.plseg"), Bytes(file.begin(), file.begin() + seg.recordEnds[1] + 100));
    s = scan(path("torn.plseg"));
    ASSERT_TRUE(s) << s.error().message;
    EXPECT_EQ(s->validBytes, seg.recordEnds[1]);
    EXPECT_EQ(s->problem, "torn record at offset " + std::to_string(seg.recordEnds[1]));
    ASSERT_TRUE(truncateTo(path("torn.plseg"), s->validBytes));
    r = readAll(path("torn.plseg"), owner_, identity_);
    EXPECT_FALSE(r.error) << *r.error;
    expectSameChunks(r.chunks, seg.chunks, 2);

    // Damage is found by the version 1 checksum.
    file[seg.recordEnds[1] + 20] ^= 0x10;
    writeFile(path("damaged.plseg"), file);
    s = scan(path("damaged.plseg"));
    ASSERT_TRUE(s) << s.error().message;
    EXPECT_EQ(s->problem, "checksum mismatch at offset " + std::to_string(seg.recordEnds[1]));
}

// The recorder's split: records sealed first (another thread, in the daemon),
// written afterwards, make the same readable segment.
TEST_F(SegmentTest, RecordsSealedAheadOfTheirWrite) {
    std::mt19937 rng(3);
    auto sealer = Sealer::create(identity_, owner_.publicKey);
    ASSERT_TRUE(sealer) << sealer.error().message;
    std::vector<Written> chunks;
    std::vector<Bytes> records;
    for (int i = 0; i < 4; ++i) {
        const ChunkKind kind = i == 0 ? ChunkKind::Init : ChunkKind::Fragment;
        chunks.push_back({kind, identity_.startUs + i, randomBytes(1000 + 10 * i, rng)});
        Bytes record;
        ASSERT_TRUE(sealer->seal(record, kind, chunks.back().plaintext, chunks.back().endUs));
        records.push_back(std::move(record));
    }
    Bytes final;
    ASSERT_TRUE(sealer->sealFinal(final, identity_.startUs + 9));
    Bytes more;
    EXPECT_FALSE(sealer->seal(more, ChunkKind::Fragment, Bytes(3), identity_.startUs + 10));

    auto w = Writer::createSealed(path("a.plseg"), sealer->header());
    ASSERT_TRUE(w) << w.error().message;
    for (const Bytes& record : records)
        ASSERT_TRUE(w->appendSealed(record, true));
    ASSERT_TRUE(w->finishSealed(final));
    EXPECT_FALSE(w->appendSealed(records[0], false)) << "a finished writer takes nothing more";

    const ReadResult r = readAll(path("a.plseg"), owner_, identity_);
    EXPECT_FALSE(r.error) << *r.error;
    EXPECT_TRUE(r.finished);
    expectSameChunks(r.chunks, chunks, chunks.size());

    // Written out of order, they do not decrypt past the first one.
    auto w2 = Writer::createSealed(path("b.plseg"), sealer->header());
    ASSERT_TRUE(w2);
    ASSERT_TRUE(w2->appendSealed(records[0], false));
    ASSERT_TRUE(w2->appendSealed(records[2], false));
    const ReadResult r2 = readAll(path("b.plseg"), owner_, identity_);
    EXPECT_TRUE(mentions(r2.error, "authentication failed")) << r2.error.value_or("");
    EXPECT_EQ(r2.chunks.size(), 1u);
}

/// Decrypt one of the example segments of docs/ref/format.md (sections 9.3
/// and 9.4, sealed to the key pair of 9.2) and check everything it holds.
void checkDocumentedSegment(const std::string& hex, uint16_t version) {
    const Bytes file = hexBytes(hex);
    keys::OwnerKeyPair owner;
    const std::string sk = "7ddefd53b3748d89e8180411796a27251daa43e14df7563a48b8ed429bd1d36c";
    owner.secretKey = keys::SecretBytes(crypto_box_SECRETKEYBYTES);
    ASSERT_EQ(sodium_hex2bin(owner.secretKey.data(), owner.secretKey.size(), sk.data(), sk.size(),
                             nullptr, nullptr, nullptr),
              0);
    crypto_scalarmult_base(owner.publicKey.data(), owner.secretKey.data());

    TempDir dir;
    const fs::path path = dir.path() / "000000000007-1700000000000000.plseg";
    writeFile(path, file);
    const Identity identity{"door", 7, 1'700'000'000'000'000};
    auto s = scan(path);
    ASSERT_TRUE(s) << s.error().message;
    EXPECT_EQ(s->version, version);
    EXPECT_EQ(s->identity, identity);
    EXPECT_EQ(s->headerBytes, 153u);
    EXPECT_EQ(s->records, 3u);
    EXPECT_TRUE(s->finished);
    EXPECT_EQ(s->endUs, 1'700'000'002'500'000);

    const ReadResult r = readAll(path, owner, identity);
    EXPECT_FALSE(r.error) << *r.error;
    EXPECT_TRUE(r.finished);
    const std::string init = "init";
    const std::string hello = "Hello, porch!";
    expectSameChunks(
        r.chunks,
        {{ChunkKind::Init, 1'700'000'000'000'000, Bytes(init.begin(), init.end())},
         {ChunkKind::Fragment, 1'700'000'002'000'000, Bytes(hello.begin(), hello.end())}},
        2);
}

// The vectors of docs/ref/format.md sections 9.3 and 9.4: the format must not
// drift from its specification (an independent decryptor was written from
// that text). 9.3 is version 1, as written before version 2: it must keep
// decrypting.
TEST(FormatDocument, TestVectorDecrypts) {
    checkDocumentedSegment(
        "504c53454776310a0100990004646f6f"
        "72070000000000000000401e18240a06"
        "0045472498c4b76f81d8f677cfc8be97"
        "d7b05ccd53885457268515db97cccf9d"
        "44f1412750f983268ceae3cb2c74f2e5"
        "5d05042936c0c3f28181ce8c7481d4c7"
        "6ed410da1af821a15b7f647520c781e6"
        "7b6a7141fc2762809175f1ab8bda383d"
        "ad9d185e2580a8d95ea2b14c8232d40e"
        "988662615ccb607b9e15000000010040"
        "1e18240a0600223f2c1c788ee29c099a"
        "df2245762d09ec4383429498b174af93"
        "f8509f42777119c6138ab01e00000002"
        "80c43c18240a06008ee090094362c727"
        "6c75318244ed9cd5aa701c8bf3a8d2c6"
        "a8f8b56a1330d7e9b6148fdf154586fc"
        "0bfc8827533c1100000003a065441824"
        "0a06001fbe0641fdacee9680bfb153b8"
        "c3b003c7d648c032f92cf7ca6a593d94"
        "7421af00",
        kFormatV1);
}

TEST(FormatDocument, Version2TestVectorDecrypts) {
    checkDocumentedSegment(
        "504c53454776310a0200990004646f6f"
        "72070000000000000000401e18240a06"
        "00146623809a8191a01a4f80e527bde8"
        "31625455c69599afc9e3319567d5c8cb"
        "4d48bfb0a3569e8456a56ff4f392aed8"
        "8a6c061c4ed0753fac9259fc14bc856c"
        "a13fe3a5749a8e93f3447af59afa0316"
        "ac67dd169fbf9cd3c21c92ed4b5510ad"
        "efda35e8377d0c771cc201c9fdb8ee40"
        "6e09d126ef24b23c8c15000000010040"
        "1e18240a06000c65d7b29882507c7570"
        "ca9d2e32cd8d5a0667e3b5fdd19d8d85"
        "2edf2763a6a3b48e0ade641e00000002"
        "80c43c18240a0600a8201a31255f4c30"
        "6cd90dfd8eae35a83d219f00dd7121db"
        "ced0d9d7bd6cc8a015d23fe5d9e03d0b"
        "92d67683bd9d1100000003a065441824"
        "0a0600ccc28b5c0c7482e4ab5b074b95"
        "91d264cb346dfb1278a9dff294876709"
        "d5f0fda8",
        kFormatV2);
}

TEST(DiskFull, ErrorsAreRecognisable) {
    EXPECT_TRUE(isDiskFullError(makeError("disk full: cannot write x: No space left on device")));
    EXPECT_FALSE(isDiskFullError(makeError("cannot write x: Input/output error")));
}

}  // namespace
}  // namespace porchlight::segment
