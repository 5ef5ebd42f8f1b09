// Issue 3, targets 1 and 2.
//
// RecorderVsPlainWrite (target 1): the path the recorder really uses, a
// Storage (fMP4 fragments on the loop, sealing on the DiskWorker's sealing
// thread overlapping the write and fdatasync of the fragment before on its
// disk thread, segment files created and closed, index rows), against a
// plain write() + fdatasync of the same video bytes, one second per write,
// to a plain file in the same directory. Each iteration is one 60 s segment
// each way, alternating which goes first.
//
// EncryptedVsPlainWrite (the write path alone, serially): Writer::append of a
// recording fragment against a plain write of the same bytes to the same
// directory, with the fdatasync the recorder does after every fragment, and
// without it to show what the cryptography alone costs.
//
// A fragment is one second of video: 500 000 bytes at 4 Mbit/s. Each
// iteration writes one fragment both ways, alternating which goes first, so
// both see the same disk at the same moment; the ratio of their throughputs
// comes from one run. Every 60 fragments both start a new file, as the
// recorder starts a new 60 s segment (not timed: the target is about the
// steady write path).
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <sodium.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <optional>
#include <span>
#include <vector>

#include "bench_support.h"
#include "segment_file.h"

namespace {

using namespace porchlight;
using namespace porchlight::bench;

constexpr uint64_t kFragmentsPerSegment = 60;
constexpr double kSegmentSeconds = 60;
constexpr double kStreamBytesPerSecond = 4e6 / 8;

void writeAll(int fd, const uint8_t* data, size_t size) {
    while (size > 0) {
        const ssize_t n = ::write(fd, data, size);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            fail("plain write: " + std::string(std::strerror(errno)));
        data += n;
        size -= static_cast<size_t>(n);
    }
}

/// The two files being written: an encrypted segment and a plain file beside it.
class Pair {
public:
    Pair(const fs::path& dir, const keys::PublicKey& owner) : dir_(dir), owner_(owner) {}
    ~Pair() { close(); }

    /// Start the next segment of each (and finish the previous one).
    void rotate() {
        close();
        ++sequence_;
        const int64_t startUs = kT0Us + static_cast<int64_t>(sequence_) * 60'000'000;
        const segment::Identity id{kCamera, sequence_, startUs};
        const fs::path enc = dir_ / ("enc-" + std::to_string(sequence_) + ".plseg");
        writer_ = check(segment::Writer::create(enc, id, owner_), "creating a segment");
        // The recorder's first record is the fMP4 init segment, a few hundred bytes.
        const std::vector<uint8_t> init(700, 0x42);
        check(writer_->append(segment::ChunkKind::Init, init, startUs, true), "init record");
        const fs::path plain = dir_ / ("plain-" + std::to_string(sequence_) + ".bin");
        plainFd_ = ::open(plain.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (plainFd_ < 0)
            fail("cannot create " + plain.string());
        endUs_ = startUs;
    }

    void appendEncrypted(std::span<const uint8_t> fragment, bool sync) {
        endUs_ += 1'000'000;
        check(writer_->append(segment::ChunkKind::Fragment, fragment, endUs_, sync),
              "encrypted append");
    }
    void appendPlain(std::span<const uint8_t> fragment, bool sync) {
        writeAll(plainFd_, fragment.data(), fragment.size());
        if (sync && ::fdatasync(plainFd_) != 0)
            fail("fdatasync: " + std::string(std::strerror(errno)));
    }

private:
    void close() {
        if (writer_)
            check(writer_->finish(endUs_), "finishing a segment");
        writer_.reset();
        if (plainFd_ >= 0)
            ::close(plainFd_);
        plainFd_ = -1;
    }

    fs::path dir_;
    keys::PublicKey owner_;
    uint64_t sequence_ = 0;
    int64_t endUs_ = 0;
    std::optional<segment::Writer> writer_;
    int plainFd_ = -1;
};

struct Timed {
    double wall = 0;
    double cpu = 0;
};

template <typename F>
void timed(Timed& into, F&& f) {
    const double w0 = wallSeconds();
    const double c0 = threadCpuSeconds();
    f();
    into.cpu += threadCpuSeconds() - c0;
    into.wall += wallSeconds() - w0;
}

void BM_EncryptedVsPlainWrite(benchmark::State& state) {
    const bool sync = state.range(0) != 0;
    const auto fragmentBytes = static_cast<size_t>(state.range(1));
    TempDir dir("pl-bench-write");

    // Writer needs only the owner's public key: no Argon2id here.
    keys::PublicKey owner{};
    {
        std::array<uint8_t, crypto_box_SECRETKEYBYTES> secret{};
        crypto_box_keypair(owner.data(), secret.data());
        sodium_memzero(secret.data(), secret.size());
    }
    // A few different fragments of incompressible bytes, like encoded video.
    std::vector<std::vector<uint8_t>> fragments(4, std::vector<uint8_t>(fragmentBytes));
    std::array<uint8_t, randombytes_SEEDBYTES> seed{};
    for (auto& f : fragments) {
        ++seed[0];
        randombytes_buf_deterministic(f.data(), f.size(), seed.data());
    }

    Pair pair(dir.path(), owner);
    const OtherLoad others;
    Timed enc;
    Timed plain;
    uint64_t n = 0;
    for (auto _ : state) {
        if (n % kFragmentsPerSegment == 0)
            pair.rotate();
        const auto& fragment = fragments[n % fragments.size()];
        Timed thisEnc;
        if (n % 2 == 0) {
            timed(thisEnc, [&] { pair.appendEncrypted(fragment, sync); });
            timed(plain, [&] { pair.appendPlain(fragment, sync); });
        } else {
            timed(plain, [&] { pair.appendPlain(fragment, sync); });
            timed(thisEnc, [&] { pair.appendEncrypted(fragment, sync); });
        }
        enc.wall += thisEnc.wall;
        enc.cpu += thisEnc.cpu;
        // The benchmark's own time is the encrypted path's; the plain one is in the counters.
        state.SetIterationTime(thisEnc.wall);
        ++n;
    }

    const double bytes = static_cast<double>(n) * static_cast<double>(fragmentBytes);
    const double perSecond = kStreamBytesPerSecond / static_cast<double>(fragmentBytes);
    state.SetBytesProcessed(static_cast<int64_t>(bytes));
    state.counters["enc_MBps"] = bytes / enc.wall / 1e6;
    state.counters["plain_MBps"] = bytes / plain.wall / 1e6;
    state.counters["ratio"] = plain.wall / enc.wall;  // enc throughput / plain throughput
    state.counters["enc_cpu_ms"] = enc.cpu / static_cast<double>(n) * 1e3;
    state.counters["plain_cpu_ms"] = plain.cpu / static_cast<double>(n) * 1e3;
    // CPU for one 4 Mbit/s stream: fragments per second of video times CPU per fragment.
    state.counters["enc_cpu_pct_4M"] = enc.cpu / static_cast<double>(n) * perSecond * 100;
    state.counters["other_cores"] = others.cores();
}

// 600 fragments each way: ten minutes of one camera's video, 300 MB per side.
// With fdatasync first, so the page cache the other run leaves dirty cannot slow it.
BENCHMARK(BM_EncryptedVsPlainWrite)
    ->ArgNames({"sync", "fragment_bytes"})
    ->Args({1, 500'000})
    ->Args({0, 500'000})
    ->Iterations(600)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

void BM_RecorderVsPlainWrite(benchmark::State& state) {
    // The recorder preallocates each segment's space (after its first
    // segment, when it knows how large fragments are). plain_prealloc:1 gives
    // the plain side the same preallocation, plain_prealloc:0 none.
    const bool plainPrealloc = state.range(0) != 0;
    SyntheticStream shape;  // for its frame rate
    const auto framesPerSegment = static_cast<size_t>(kSegmentSeconds * shape.fps());
    const auto framesPerFragment = static_cast<size_t>(shape.fps());  // 1 s fragments
    double encWall = 0;
    double plainWall = 0;
    double encCpu = 0;
    double videoBytes = 0;
    double otherCoreSeconds = 0;
    double allWall = 0;
    uint64_t n = 0;
    // One recorder for the whole run, as in the daemon: from its second
    // segment on it knows how large fragments are and preallocates. One
    // segment per iteration, closed at the end of it (endStream), so that
    // each side's time covers creating, filling and closing its file.
    TempDir dir("pl-bench-recorder");
    Owner::get().installInto(dir.path());
    storage::StorageOptions options;
    options.segmentSeconds = kSegmentSeconds;
    RecordingDriver driver(dir.path(), options);
    SyntheticStream stream;
    {
        // A warm-up segment: the first one, without preallocation, is not timed.
        for (size_t i = 0; i < framesPerSegment; ++i)
            driver.push(stream.next());
        driver.storage().endStream(kCamera);
        driver.drain();
    }
    for (auto _ : state) {
        // The same 60 s of video for both sides, made before any clock starts.
        std::vector<storage::VideoFrame> frames;
        frames.reserve(framesPerSegment);
        for (size_t i = 0; i < framesPerSegment; ++i)
            frames.push_back(stream.next());
        // The plain side writes each second's frames as one block, as the
        // recorder writes each second as one record.
        std::vector<std::vector<uint8_t>> blocks;
        for (size_t i = 0; i < framesPerSegment; i += framesPerFragment) {
            std::vector<uint8_t> block;
            for (size_t j = i; j < i + framesPerFragment && j < framesPerSegment; ++j)
                block.insert(block.end(), frames[j].data.begin(), frames[j].data.end());
            blocks.push_back(std::move(block));
        }
        double bytes = 0;
        for (const auto& b : blocks)
            bytes += static_cast<double>(b.size());

        const uint64_t closedBefore = driver.storage().segmentsClosed();
        const OtherLoad others;
        const double all0 = wallSeconds();
        const auto recordAll = [&] {
            const double c0 = processCpuSeconds();
            const double w0 = wallSeconds();
            // endStream() closes the last fragment (with the last frame's own
            // duration) and the segment; drain() waits for the disk and the index.
            for (auto& f : frames)
                driver.push(std::move(f));
            driver.storage().endStream(kCamera);
            driver.drain();
            encWall += wallSeconds() - w0;
            encCpu += processCpuSeconds() - c0;
        };
        const auto writePlain = [&] {
            const double w0 = wallSeconds();
            const fs::path plain = dir.path() / ("plain-" + std::to_string(n) + ".bin");
            const int fd = ::open(plain.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
            if (fd < 0)
                fail("cannot create " + plain.string());
            if (plainPrealloc &&
                ::fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, static_cast<off_t>(bytes)) != 0)
                fail("fallocate: " + std::string(std::strerror(errno)));
            for (const auto& b : blocks) {
                writeAll(fd, b.data(), b.size());
                if (::fdatasync(fd) != 0)
                    fail("fdatasync: " + std::string(std::strerror(errno)));
            }
            if (plainPrealloc && ::ftruncate(fd, static_cast<off_t>(bytes)) != 0)
                fail("ftruncate: " + std::string(std::strerror(errno)));
            ::fsync(fd);
            ::close(fd);
            plainWall += wallSeconds() - w0;
        };
        if (n % 2 == 0) {
            recordAll();
            writePlain();
        } else {
            writePlain();
            recordAll();
        }
        const double all = wallSeconds() - all0;
        allWall += all;
        otherCoreSeconds += others.cores() * all;
        if (driver.storage().segmentsClosed() != closedBefore + 1)
            state.SkipWithError("the recorder did not close exactly one segment");
        videoBytes += bytes;
        state.SetIterationTime(all);
        ++n;
    }
    state.counters["enc_MBps"] = videoBytes / encWall / 1e6;
    state.counters["plain_MBps"] = videoBytes / plainWall / 1e6;
    state.counters["ratio"] = plainWall / encWall;  // recorder throughput / plain throughput
    // Every thread of the process while recording (loop, sealing, disk).
    state.counters["enc_cpu_ms_per_s"] = encCpu / (static_cast<double>(n) * kSegmentSeconds) * 1e3;
    state.counters["other_cores"] = allWall > 0 ? otherCoreSeconds / allWall : 0;
}

// Ten segments each way: ten minutes of one camera's video, 300 MB per side.
BENCHMARK(BM_RecorderVsPlainWrite)
    ->ArgName("plain_prealloc")
    ->Arg(1)
    ->Arg(0)
    ->Iterations(10)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

// Where the encrypted path's CPU goes, per fragment: the two passes over
// its bytes that the Sealer makes (see segment_file.cpp).
std::vector<uint8_t> randomFragment(size_t size) {
    std::vector<uint8_t> f(size);
    std::array<uint8_t, randombytes_SEEDBYTES> seed{};
    randombytes_buf_deterministic(f.data(), f.size(), seed.data());
    return f;
}

void BM_FragmentEncrypt(benchmark::State& state) {
    const auto plaintext = randomFragment(static_cast<size_t>(state.range(0)));
    std::vector<uint8_t> out(plaintext.size() + crypto_secretstream_xchacha20poly1305_ABYTES);
    std::array<uint8_t, crypto_secretstream_xchacha20poly1305_KEYBYTES> key{};
    crypto_secretstream_xchacha20poly1305_keygen(key.data());
    crypto_secretstream_xchacha20poly1305_state st;
    std::array<uint8_t, crypto_secretstream_xchacha20poly1305_HEADERBYTES> header{};
    crypto_secretstream_xchacha20poly1305_init_push(&st, header.data(), key.data());
    const std::array<uint8_t, 40> ad{};
    for (auto _ : state) {
        crypto_secretstream_xchacha20poly1305_push(&st, out.data(), nullptr, plaintext.data(),
                                                   plaintext.size(), ad.data(), ad.size(), 0);
        benchmark::DoNotOptimize(out.data());
    }
    state.SetBytesProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_FragmentEncrypt)->ArgName("bytes")->Arg(500'000)->Unit(benchmark::kMicrosecond);

/// The clear per-record checksum over the ciphertext: version 1's BLAKE2b
/// (16-byte digest) and version 2's XXH3-128 (what is written now).
void BM_FragmentChecksum(benchmark::State& state) {
    const auto data = randomFragment(static_cast<size_t>(state.range(1)));
    const auto version = static_cast<uint16_t>(state.range(0));
    for (auto _ : state) {
        auto digest = segment::clearChecksum(version, data);
        benchmark::DoNotOptimize(digest.data());
    }
    state.SetBytesProcessed(state.iterations() * state.range(1));
}
BENCHMARK(BM_FragmentChecksum)
    ->ArgNames({"version", "bytes"})
    ->Args({segment::kFormatV1, 500'000})
    ->Args({segment::kFormatV2, 500'000})
    ->Unit(benchmark::kMicrosecond);

}  // namespace

int main(int argc, char** argv) {
    return porchlight::bench::runBenchmarks(argc, argv);
}
