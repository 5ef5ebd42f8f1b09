// libFuzzer harness for start-up repair (daemon/storage/reconcile.cpp): a
// state directory built from the input (segment files written whole, cut,
// flipped or padded with zeros, files of raw bytes, index rows in any state,
// rows left as garbage, things in recordings/ that are not segments), then
// reconcile() as the daemon runs it at start-up, with no key.
//
// Afterwards the promises of docs/design/storage.md must hold: every row
// names a file that exists, no row is left "writing", no file that held a
// complete fragment (and was not being deleted) is gone, and a second
// repair finds nothing left to do.
#include <cstdint>
#include <cstdlib>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "fuzz_support.h"
#include "index.h"
#include "segment_file.h"
#include "storage.h"

using namespace porchlight;
using namespace porchlight::storage;
namespace fs = std::filesystem;

namespace {

const char* const kCameras[] = {"front", "back"};
constexpr int64_t kStartUs = 1700000000000000;

[[noreturn]] void fail(const std::string& what) {
    std::fprintf(stderr, "fuzz_reconcile: %s\n", what.c_str());
    std::abort();
}

struct Fixture {
    fuzz::ScratchDir dir{"porchlight-fuzz-reconcile"};
    keys::OwnerKeyPair owner = fuzz::testOwner();
};

Fixture& fixture() {
    static Fixture f;
    return f;
}

struct Slot {
    std::string camera;
    uint64_t sequence;
    int64_t startUs;
    std::string path;  // relative
};

Slot slotFor(fuzz::Input& in) {
    Slot s;
    s.camera = kCameras[in.byte() % 2];
    s.sequence = in.byte() % 6;
    s.startUs = kStartUs + static_cast<int64_t>(s.sequence) * 60'000'000;
    s.path = segmentRelativePath(s.camera, s.sequence, s.startUs);
    return s;
}

void writeSegment(const fs::path& root, const Slot& slot, fuzz::Input& in) {
    const fs::path file = root / slot.path;
    fs::create_directories(file.parent_path());
    fs::remove(file);
    const int fragments = in.byte() % 4;
    const bool finish = in.byte() & 1;
    {
        auto w = segment::Writer::create(file, {slot.camera, slot.sequence, slot.startUs},
                                         fixture().owner.publicKey);
        if (!w)
            fail("cannot write a segment: " + w.error().message);
        std::vector<uint8_t> init(48, 0x01);
        (void)w->append(segment::ChunkKind::Init, init, slot.startUs, false);
        int64_t end = slot.startUs;
        for (int i = 0; i < fragments; ++i) {
            end += 1'000'000;
            std::vector<uint8_t> frag(100 + in.byte(), 0x02);
            (void)w->append(segment::ChunkKind::Fragment, frag, end, false);
        }
        if (finish)
            (void)w->finish(end);
    }
    const uint64_t size = fs::file_size(file);
    const uint8_t damage = in.byte() % 5;
    const uint32_t where = in.u32();
    if (damage == 1 && size > 0) {
        fs::resize_file(file, where % size);  // a crash mid-write
    } else if (damage == 2 && size > 0) {     // a bad sector
        FILE* fp = std::fopen(file.c_str(), "r+b");
        std::fseek(fp, static_cast<long>(where % size), SEEK_SET);
        int c = std::fgetc(fp);
        std::fseek(fp, static_cast<long>(where % size), SEEK_SET);
        std::fputc(c ^ (in.byte() | 1), fp);
        std::fclose(fp);
    } else if (damage == 3) {  // power cut: the file grew, its data never landed
        fs::resize_file(file, size + 1 + where % 5000);
    } else if (damage == 4) {  // a torn record: some bytes of a further one
        auto extra = in.bytes(512);
        FILE* fp = std::fopen(file.c_str(), "ab");
        std::fwrite(extra.data(), 1, extra.size(), fp);
        std::fclose(fp);
    }
}

/// What a keyless scan says the file holds: the number of complete fragments.
int fragmentsIn(const fs::path& file) {
    auto sc = segment::scan(file);
    if (!sc)
        return -1;
    return static_cast<int>(sc->records) - (sc->records > 0 ? 1 : 0) - (sc->finished ? 1 : 0);
}

bool reportEmpty(const ReconcileReport& r) {
    return r.garbageFinished == 0 && r.trimmed == 0 && r.adopted == 0 && r.removedEmpty == 0 &&
           r.removedMissing == 0 && r.quarantined == 0 && r.closed == 0;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    fuzz::quietLogs();
    fixture();
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const fs::path root = fixture().dir.path();
    fuzz::clearDir(root);
    fuzz::Input in(data, size);

    std::set<std::string> garbage;
    {
        auto index = Index::open(root);
        if (!index)
            fail("cannot create an index: " + index.error().message);
        std::map<std::string, int64_t> rows;  // path -> row id
        for (int op = 0; op < 24 && !in.empty(); ++op) {
            switch (in.byte() % 6) {
                case 0:
                case 1:
                    writeSegment(root, slotFor(in), in);
                    break;
                case 2: {  // a file of any bytes where a segment would be
                    Slot s = slotFor(in);
                    fs::create_directories((root / s.path).parent_path());
                    fuzz::writeFile(root / s.path, in.bytes(2048));
                    break;
                }
                case 3: {  // a row, in any state, whether or not its file exists
                    Slot s = slotFor(in);
                    SegmentRow row;
                    row.camera = s.camera;
                    row.sequence = s.sequence;
                    row.startUs = s.startUs;
                    row.endUs = s.startUs + in.byte() * 1'000'000;
                    row.bytes = in.u32() % 100000;
                    row.path = s.path;
                    row.state = static_cast<SegmentState>(in.byte() % 3);
                    row.isProtected = in.byte() & 1;
                    if (auto id = index->addSegment(row))
                        rows[s.path] = *id;
                    break;
                }
                case 4: {  // retention was deleting it when the power went
                    Slot s = slotFor(in);
                    auto it = rows.find(s.path);
                    if (it == rows.end())
                        break;
                    SegmentRow row;
                    row.id = it->second;
                    row.path = s.path;
                    if (index->markGarbage({row})) {
                        garbage.insert(s.path);
                        rows.erase(it);
                    }
                    break;
                }
                case 5: {  // things that are not segment files
                    Slot s = slotFor(in);
                    const fs::path p = root / s.path;
                    fs::create_directories(p.parent_path());
                    std::error_code ec;
                    switch (in.byte() % 3) {
                        case 0:
                            fs::create_directories(p.parent_path() / "folder.plseg", ec);
                            break;
                        case 1:
                            fuzz::writeFile(p.parent_path() / "notes.txt", in.bytes(64));
                            break;
                        case 2:
                            fs::create_symlink("/dev/null", p.parent_path() / "link.plseg", ec);
                            break;
                    }
                    break;
                }
            }
        }
    }

    // What holds video before the repair, by a keyless scan.
    std::set<std::string> precious;
    std::error_code ec;
    if (fs::exists(root / "recordings"))
        for (auto it = fs::recursive_directory_iterator(root / "recordings", ec);
             !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
            std::error_code typeError;
            if (!it->is_regular_file(typeError) || it->path().extension() != ".plseg")
                continue;
            const std::string rel = fs::relative(it->path(), root).string();
            if (!garbage.count(rel) && fragmentsIn(it->path()) > 0)
                precious.insert(rel);
        }

    auto index = Index::open(root);
    if (!index)
        fail("cannot reopen the index: " + index.error().message);
    auto report = reconcile(*index);
    if (!report) {
        if (report.error().message.empty())
            fail("reconcile failed without saying why");
        return 0;
    }

    auto all = index->segments("", INT64_MIN, INT64_MAX);
    if (!all)
        fail("cannot list the index after repair: " + all.error().message);
    for (const auto& row : *all) {
        if (!fs::is_regular_file(root / row.path))
            fail("after repair the index names a missing file: " + row.path);
        if (row.state == SegmentState::Writing)
            fail("after repair a row is still writing: " + row.path);
    }
    for (const auto& rel : precious) {
        const fs::path p(rel);
        if (!fs::exists(root / p) && !fs::exists(root / "damaged" / p.filename()))
            fail("repair lost a file that held video: " + rel);
    }
    auto left = index->garbage();
    if (!left || !left->empty())
        fail("after repair garbage rows are left");

    auto again = reconcile(*index);
    if (!again)
        fail("a second repair failed: " + again.error().message);
    if (!reportEmpty(*again))
        fail("a second repair still found work: the first left the state inconsistent");
    return 0;
}
