// libFuzzer harness for the segment format (daemon/storage/segment_file.cpp):
// the keyless scan and crash repair the device runs, and the Reader that
// decrypts with the owner's key.
//
// The first byte picks the mode. Even: the rest of the input is a segment
// file as found on disk (the seeds are real segments encrypted to the fixed
// test key, so mutations of them get through the header and the sealed
// segment key and reach the records). Odd: the input describes chunks,
// which the Writer encrypts into a valid segment that is then cut, flipped
// or extended; what reads back must then be exactly a prefix of what was
// written.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <optional>
#include <vector>

#include "fuzz_support.h"
#include "segment_file.h"

using namespace porchlight;
using namespace porchlight::segment;
namespace fs = std::filesystem;

namespace {

struct Fixture {
    fuzz::ScratchDir dir{"porchlight-fuzz-segment"};
    keys::OwnerKeyPair owner = fuzz::testOwner();
    fs::path file = dir.path() / "000000000001-1700000000000000.plseg";
};

Fixture& fixture() {
    static Fixture f;
    return f;
}

struct Written {
    ChunkKind kind;
    int64_t endUs;
    std::vector<uint8_t> plaintext;
};

[[noreturn]] void fail(const char* what) {
    std::fprintf(stderr, "fuzz_segment: %s\n", what);
    std::abort();
}

/// Read everything the owner's key opens; the chunks before the first error.
std::vector<Chunk> readAll(const fs::path& file, const keys::OwnerKeyPair& owner,
                           const std::optional<Identity>& expected, bool checksums,
                           bool* clean = nullptr) {
    std::vector<Chunk> chunks;
    auto reader = Reader::open(file, owner, expected);
    if (clean)
        *clean = false;
    if (!reader)
        return chunks;
    reader->setVerifyChecksums(checksums);
    (void)reader->identity();
    for (int guard = 0; guard < 100000; ++guard) {
        auto next = reader->next();
        if (!next) {
            if (next.error().message.empty())
                fail("an error without a message");
            return chunks;
        }
        if (!next->has_value()) {
            if (clean)
                *clean = reader->finished();
            return chunks;
        }
        chunks.push_back(std::move(**next));
    }
    fail("the reader never ends");
}

/// The device's side, with no key: scan, repair a torn tail, scan again.
void scanAndRepair(const fs::path& file) {
    auto sc = scan(file);
    if (!sc) {
        if (sc.error().message.empty())
            fail("a scan error without a message");
        return;
    }
    if (sc->validBytes > sc->fileBytes || sc->headerBytes > sc->validBytes)
        fail("scan: valid bytes beyond the file, or header beyond the valid bytes");
    if ((sc->validBytes < sc->fileBytes) == sc->problem.empty())
        fail("scan: a short file must say why, and only then");
    if (sc->validBytes == sc->fileBytes)
        return;
    if (!truncateTo(file, sc->validBytes))
        return;
    auto again = scan(file);
    if (!again || again->validBytes != again->fileBytes || again->records != sc->records ||
        again->finished != sc->finished || again->endUs != sc->endUs)
        fail("scan: a repaired file does not scan as the valid part of the original");
}

void rawFile(fuzz::Input& in) {
    Fixture& f = fixture();
    auto bytes = in.rest();
    fuzz::writeFile(f.file, bytes);
    readAll(f.file, f.owner, std::nullopt, true);
    readAll(f.file, f.owner, Identity{"front", 1, 1700000000000000}, false);
    scanAndRepair(f.file);
}

void written(fuzz::Input& in) {
    Fixture& f = fixture();
    Identity id;
    id.camera = std::string(1 + in.byte() % 12, 'a' + in.byte() % 26);
    id.sequence = in.u32();
    id.startUs = static_cast<int64_t>(in.u32()) * 1000;
    const int count = in.byte() % 8;
    const bool finish = in.byte() & 1;
    const bool sync = false;

    std::vector<Written> chunks;
    {
        auto writer = Writer::create(f.file, id, f.owner.publicKey);
        if (!writer)
            fail("cannot create a segment in the scratch directory");
        int64_t endUs = id.startUs;
        for (int i = 0; i < count; ++i) {
            auto bytes = in.bytes(4096);
            endUs += in.byte() * 1000;
            Written w{i == 0 ? ChunkKind::Init : ChunkKind::Fragment, endUs,
                      std::vector<uint8_t>(bytes.begin(), bytes.end())};
            if (!writer->append(w.kind, w.plaintext, w.endUs, sync))
                fail("append failed on tmpfs");
            chunks.push_back(std::move(w));
        }
        if (finish && !writer->finish(endUs))
            fail("finish failed on tmpfs");
    }  // an unfinished writer closes here, as a crash would leave it

    // Damage, as a crash or a bad disk would.
    const uint8_t damage = in.byte() % 4;
    const uint32_t where = in.u32();
    const uint8_t value = in.byte();
    const uint64_t size = fs::file_size(f.file);
    if (damage == 1 && size > 0) {
        fs::resize_file(f.file, where % size);
    } else if (damage == 2 && size > 0) {
        FILE* fp = std::fopen(f.file.c_str(), "r+b");
        std::fseek(fp, static_cast<long>(where % size), SEEK_SET);
        int c = std::fgetc(fp);
        std::fseek(fp, static_cast<long>(where % size), SEEK_SET);
        std::fputc(c ^ (value | 1), fp);
        std::fclose(fp);
    } else if (damage == 3) {
        auto extra = in.rest();
        FILE* fp = std::fopen(f.file.c_str(), "ab");
        std::fwrite(extra.data(), 1, extra.size(), fp);
        std::fclose(fp);
    }

    bool clean = false;
    auto read = readAll(f.file, f.owner, id, true, &clean);
    if (read.size() > chunks.size())
        fail("read more chunks than were written");
    for (size_t i = 0; i < read.size(); ++i)
        if (read[i].kind != chunks[i].kind || read[i].endUs != chunks[i].endUs ||
            read[i].plaintext != chunks[i].plaintext)
            fail("a chunk read back differs from the one written");
    if (damage == 0 && (read.size() != chunks.size() || clean != finish))
        fail("an undamaged segment does not read back whole");
    if (damage == 2 && clean && read.size() == chunks.size())
        fail("a flipped byte went unnoticed");

    // With the wrong identity nothing may come out.
    Identity other = id;
    other.sequence += 1;
    if (!readAll(f.file, f.owner, other, false).empty())
        fail("a segment opened under another identity");
    scanAndRepair(f.file);
}

/// PORCHLIGHT_FUZZ_WRITE_SEEDS=DIR: write the seed corpus (real segments
/// encrypted to the test key) into DIR and exit; how corpus/segment/ was made.
void writeSeeds(const fs::path& dir) {
    Fixture& f = fixture();
    const Identity id{"front", 1, 1700000000000000};
    for (int fragments : {0, 1, 3}) {
        for (bool finish : {false, true}) {
            fs::remove(f.file);
            {
                auto w = Writer::create(f.file, id, f.owner.publicKey);
                if (!w)
                    fail(w.error().message.c_str());
                std::vector<uint8_t> init(64, 0x11);
                (void)w->append(ChunkKind::Init, init, id.startUs, false);
                int64_t end = id.startUs;
                for (int i = 0; i < fragments; ++i) {
                    end += 1'000'000;
                    std::vector<uint8_t> frag(200 + 50 * i, static_cast<uint8_t>(0x20 + i));
                    (void)w->append(ChunkKind::Fragment, frag, end, false);
                }
                if (finish)
                    (void)w->finish(end);
            }
            std::ifstream in(f.file, std::ios::binary);
            std::vector<uint8_t> bytes{0};  // even first byte: a file as found on disk
            bytes.insert(bytes.end(), std::istreambuf_iterator<char>(in), {});
            fuzz::writeFile(dir / ("segment-" + std::to_string(fragments) + "-" +
                                   (finish ? "finished" : "open")),
                            bytes);
        }
    }
    // Structured: odd first byte, then camera, sequence, start, chunks, finish.
    const std::vector<uint8_t> structured = {1,   4, 5, 0,   0,   0,   7,   0,   0,   1,   0,   3,
                                             1,   0, 0, 0,   8,   'i', 'n', 'i', 't', 'i', 'n', 'i',
                                             't', 0, 0, 0,   0,   4,   'f', 'r', 'a', 'g', 10,  0,
                                             0,   0, 4, 'm', 'o', 'r', 'e', 10,  0};
    fuzz::writeFile(dir / "structured-finished", structured);
    fs::remove(f.file);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    fuzz::quietLogs();
    fixture();
    if (const char* dir = std::getenv("PORCHLIGHT_FUZZ_WRITE_SEEDS")) {
        writeSeeds(dir);
        std::exit(0);
    }
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    Fixture& f = fixture();
    fs::remove(f.file);
    fuzz::Input in(data, size);
    if (in.byte() & 1)
        written(in);
    else
        rawFile(in);
    return 0;
}
