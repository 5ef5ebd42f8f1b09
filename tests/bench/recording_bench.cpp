// Issue 3, targets 2 and 3: the whole recording path, as the daemon runs it.
//
// A real Storage (fMP4 fragments built on the loop, encryption, writes and
// fdatasync on its DiskWorker, index rows in SQLite) is fed a synthetic
// 1080p stream: 30 fps, 4 Mbit/s, a keyframe every 2 s. It is fed faster
// than real time, which changes nothing per fragment and lets a minute of
// video be measured in a fraction of one.
//
//  - RecordingCpu: the process's CPU time (every thread) to record the
//    stream, over the stream's duration: the share of one core that one
//    camera costs. Frames are made before the clock starts.
//  - BytesWritten: after ten minutes in 60 s segments, the bytes on disk
//    (segments and the index with its WAL) and the bytes the kernel says
//    were written, per byte of video; PlainAppendBytes is the same count for
//    plain appends of the same bytes, the filesystem's own share.
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <sodium.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <vector>

#include "bench_support.h"

namespace {

using namespace porchlight;
using namespace porchlight::bench;

void BM_RecordingCpu(benchmark::State& state) {
    const auto seconds = static_cast<double>(envLong("PORCHLIGHT_BENCH_CPU_SECONDS", 60));
    double cpu = 0;
    double user = 0;
    double system = 0;
    double wall = 0;
    double media = 0;
    double otherCoreSeconds = 0;
    for (auto _ : state) {
        TempDir dir("pl-bench-cpu");
        Owner::get().installInto(dir.path());
        SyntheticStream stream;
        std::vector<storage::VideoFrame> frames;
        frames.reserve(static_cast<size_t>(seconds * stream.fps()));
        for (size_t i = 0; i < frames.capacity(); ++i)
            frames.push_back(stream.next());
        RecordingDriver driver(dir.path());

        const OtherLoad others;
        const double w0 = wallSeconds();
        const double c0 = processCpuSeconds();
        const CpuSplit s0 = processCpuSplit();
        for (auto& f : frames)
            driver.push(std::move(f));
        driver.finish();
        const double c1 = processCpuSeconds();
        const CpuSplit s1 = processCpuSplit();
        const double w1 = wallSeconds();

        cpu += c1 - c0;
        user += s1.user - s0.user;
        system += s1.system - s0.system;
        wall += w1 - w0;
        otherCoreSeconds += others.cores() * (w1 - w0);
        media += stream.mediaSeconds();
        state.SetIterationTime(w1 - w0);
        if (driver.storage().segmentsClosed() == 0)
            state.SkipWithError("no segment was recorded");
    }
    state.counters["media_s"] = media / static_cast<double>(state.iterations());
    state.counters["cpu_pct_of_core"] = cpu / media * 100;
    state.counters["user_pct"] = user / media * 100;
    state.counters["sys_pct"] = system / media * 100;
    state.counters["x_realtime"] = media / wall;
    state.counters["other_cores"] = otherCoreSeconds / wall;
}

BENCHMARK(BM_RecordingCpu)->Iterations(3)->UseManualTime()->Unit(benchmark::kMillisecond);

struct Sizes {
    uint64_t recordings = 0;  // apparent sizes of the segment files
    uint64_t index = 0;       // index.db, -wal, -shm
    uint64_t allocated = 0;   // blocks allocated to all of them
    uint64_t segments = 0;
};

Sizes measure(const fs::path& stateDir) {
    Sizes s;
    for (const auto& e : fs::recursive_directory_iterator(stateDir)) {
        if (!e.is_regular_file())
            continue;
        const std::string rel = fs::relative(e.path(), stateDir).string();
        if (rel.rfind("keys/", 0) == 0)
            continue;  // written once at setup, not per byte of video
        struct stat st {};
        if (::stat(e.path().c_str(), &st) != 0)
            continue;
        if (rel.rfind("recordings/", 0) == 0) {
            s.recordings += static_cast<uint64_t>(st.st_size);
            ++s.segments;
        } else {
            s.index += static_cast<uint64_t>(st.st_size);
        }
        s.allocated += static_cast<uint64_t>(st.st_blocks) * 512;
    }
    return s;
}

void BM_BytesWritten(benchmark::State& state) {
    const auto minutes = static_cast<double>(envLong("PORCHLIGHT_BENCH_RECORD_MINUTES", 10));
    for (auto _ : state) {
        TempDir dir("pl-bench-bytes");
        Owner::get().installInto(dir.path());
        // Everything on the disk until now is outside the count; the index's creation is in it.
        ::sync();
        const uint64_t io0 = procWriteBytes();
        const auto dev0 = deviceWrittenBytes(dir.path());
        const double w0 = wallSeconds();

        auto driver = std::make_unique<RecordingDriver>(dir.path());
        const SyntheticStream stream = record(*driver, minutes * 60);
        // As the running daemon leaves them: the index open, its WAL and shm present.
        const Sizes open = measure(dir.path());
        const uint64_t io1 = procWriteBytes();
        driver.reset();  // closing the index checkpoints its WAL into index.db
        const Sizes closed = measure(dir.path());
        // The index is not fsynced per commit (synchronous=NORMAL): flush it
        // now so the device counter sees it.
        const int fd = ::open(dir.path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        ::syncfs(fd);
        ::close(fd);
        const uint64_t io2 = procWriteBytes();
        const auto dev1 = deviceWrittenBytes(dir.path());
        state.SetIterationTime(wallSeconds() - w0);

        const auto video = static_cast<double>(stream.payloadBytes());
        state.counters["video_MB"] = video / 1e6;
        state.counters["segments"] = static_cast<double>(open.segments);
        state.counters["index_KB"] = static_cast<double>(open.index) / 1e3;
        state.counters["files_ratio"] = static_cast<double>(open.recordings + open.index) / video;
        state.counters["files_ratio_closed"] =
            static_cast<double>(closed.recordings + closed.index) / video;
        state.counters["alloc_ratio"] = static_cast<double>(open.allocated) / video;
        state.counters["proc_write_ratio"] = static_cast<double>(io1 - io0) / video;
        state.counters["proc_write_ratio_closed"] = static_cast<double>(io2 - io0) / video;
        if (dev0 && dev1)
            state.counters["device_ratio"] = static_cast<double>(*dev1 - *dev0) / video;
    }
}

BENCHMARK(BM_BytesWritten)->Iterations(1)->UseManualTime()->Unit(benchmark::kMillisecond);

/// The floor under BytesWritten's device_ratio: the same video bytes as
/// plain appends with an fdatasync each, no format and no index. What the
/// filesystem adds per fdatasync (inode, allocation, journal commit) shows
/// here. With prealloc, each 60 s file is fallocate'd first (KEEP_SIZE), so
/// that block allocation is not journaled fragment by fragment.
void BM_PlainAppendBytes(benchmark::State& state) {
    const auto fragment = static_cast<size_t>(state.range(0));
    const bool prealloc = state.range(1) != 0;
    const auto minutes = static_cast<uint64_t>(envLong("PORCHLIGHT_BENCH_RECORD_MINUTES", 10));
    const uint64_t perFile = 60 * 500'000 / fragment;
    const uint64_t files = minutes;
    std::vector<uint8_t> data(fragment);
    std::array<uint8_t, randombytes_SEEDBYTES> seed{};
    randombytes_buf_deterministic(data.data(), data.size(), seed.data());
    for (auto _ : state) {
        TempDir dir("pl-bench-plain");
        ::sync();
        const uint64_t io0 = procWriteBytes();
        const auto dev0 = deviceWrittenBytes(dir.path());
        const double w0 = wallSeconds();
        for (uint64_t f = 0; f < files; ++f) {
            const fs::path path = dir.path() / std::to_string(f);
            const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
            if (fd < 0)
                fail("cannot create " + path.string());
            if (prealloc)
                ::fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, static_cast<off_t>(perFile * fragment));
            for (uint64_t i = 0; i < perFile; ++i) {
                for (size_t done = 0; done < data.size();) {
                    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
                    if (n <= 0)
                        fail("write: " + std::string(std::strerror(errno)));
                    done += static_cast<size_t>(n);
                }
                ::fdatasync(fd);
            }
            ::fsync(fd);
            ::close(fd);
        }
        const int dfd = ::open(dir.path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        ::syncfs(dfd);
        ::close(dfd);
        const uint64_t io1 = procWriteBytes();
        const auto dev1 = deviceWrittenBytes(dir.path());
        state.SetIterationTime(wallSeconds() - w0);
        const auto video = static_cast<double>(files * perFile * fragment);
        state.counters["video_MB"] = video / 1e6;
        state.counters["proc_write_ratio"] = static_cast<double>(io1 - io0) / video;
        if (dev0 && dev1)
            state.counters["device_ratio"] = static_cast<double>(*dev1 - *dev0) / video;
    }
}

BENCHMARK(BM_PlainAppendBytes)
    ->ArgNames({"fragment_bytes", "prealloc"})
    ->Args({500'000, 0})
    ->Args({500'000, 1})
    ->Args({1'000'000, 0})
    ->Iterations(1)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace

int main(int argc, char** argv) {
    return porchlight::bench::runBenchmarks(argc, argv);
}
