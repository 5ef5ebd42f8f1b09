// What the storage benchmarks share: where they write (a real disk, not
// tmpfs), a synthetic 4 Mbit/s H.264-shaped stream, a Storage driven by a
// private io_context and a fake clock, and the process's CPU and I/O counters.
//
// Header-only so each benchmark program stays one file plus this.
#pragma once

#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <sodium.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "fake_clock.h"
#include "keys.h"
#include "log.h"
#include "storage.h"

namespace porchlight::bench {

namespace fs = std::filesystem;

constexpr int64_t kT0Us = 1'790'000'000'000'000;  // 2026-09-21, µs
constexpr const char* kCamera = "door";
constexpr const char* kPassphrase = "correct horse battery staple";

[[noreturn]] inline void fail(const std::string& what) {
    std::fprintf(stderr, "benchmark setup failed: %s\n", what.c_str());
    std::exit(2);
}

template <typename T>
T check(Expected<T> e, const char* what) {
    if (!e)
        fail(std::string(what) + ": " + e.error().message);
    return std::move(*e);
}
inline void check(Expected<void> e, const char* what) {
    if (!e)
        fail(std::string(what) + ": " + e.error().message);
}

inline long envLong(const char* name, long fallback) {
    const char* v = std::getenv(name);
    return v && *v ? std::strtol(v, nullptr, 10) : fallback;
}

/// Where benchmarks write: $PORCHLIGHT_BENCH_DIR, else /var/tmp, which is on
/// the root disk on Debian (/tmp may be tmpfs, which would measure memory).
inline fs::path benchRoot() {
    const char* v = std::getenv("PORCHLIGHT_BENCH_DIR");
    return v && *v ? fs::path(v) : fs::path("/var/tmp");
}

inline std::string filesystemType(const fs::path& p) {
    struct statfs st {};
    if (::statfs(p.c_str(), &st) != 0)
        return "unknown";
    switch (static_cast<unsigned long>(st.f_type)) {
        case 0xEF53:
            return "ext4";
        case 0x58465342:
            return "xfs";
        case 0x9123683E:
            return "btrfs";
        case 0x01021994:
            return "tmpfs (memory, not a disk: set PORCHLIGHT_BENCH_DIR)";
        case 0x4d44:
            return "vfat";
        case 0xF2F52010:
            return "f2fs";
        default: {
            char buf[32];
            std::snprintf(buf, sizeof buf, "0x%lx", static_cast<unsigned long>(st.f_type));
            return buf;
        }
    }
}

inline uint64_t freeBytesAt(const fs::path& p) {
    struct statvfs st {};
    if (::statvfs(p.c_str(), &st) != 0)
        return 0;
    return static_cast<uint64_t>(st.f_bavail) * st.f_frsize;
}

/// Put the benchmark directory and its filesystem into the report's context.
inline void describeBenchDir() {
    const fs::path root = benchRoot();
    benchmark::AddCustomContext("bench_dir", root.string());
    benchmark::AddCustomContext("bench_fs", filesystemType(root));
}

/// Benchmark logs would interleave with the table; warnings and errors still show.
inline void quietLogs() {
    const char* spec = std::getenv("PORCHLIGHT_LOG");
    applyLogSpec(spec && *spec ? spec : "warning");
}

/// A fresh directory under benchRoot(), removed with everything in it.
class TempDir {
public:
    explicit TempDir(const std::string& prefix) {
        std::error_code ec;
        fs::create_directories(benchRoot(), ec);
        std::string tmpl = (benchRoot() / (prefix + "-XXXXXX")).string();
        if (!::mkdtemp(tmpl.data()))
            fail("cannot create a directory in " + benchRoot().string() +
                 " (set PORCHLIGHT_BENCH_DIR to a writable directory on the disk to measure)");
        path_ = tmpl;
    }
    ~TempDir() {
        std::error_code ec;
        fs::remove_all(path_, ec);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const fs::path& path() const { return path_; }

private:
    fs::path path_;
};

// ------------------------------------------------------------------ clocks

inline double secondsOf(const timespec& t) {
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) * 1e-9;
}
inline double clockSeconds(clockid_t id) {
    timespec t{};
    ::clock_gettime(id, &t);
    return secondsOf(t);
}
inline double wallSeconds() {
    return clockSeconds(CLOCK_MONOTONIC);
}
/// Every thread of the process, the DiskWorker included.
inline double processCpuSeconds() {
    return clockSeconds(CLOCK_PROCESS_CPUTIME_ID);
}
inline double threadCpuSeconds() {
    return clockSeconds(CLOCK_THREAD_CPUTIME_ID);
}

struct CpuSplit {
    double user = 0;
    double system = 0;
};
inline CpuSplit processCpuSplit() {
    rusage ru{};
    ::getrusage(RUSAGE_SELF, &ru);
    auto s = [](const timeval& t) {
        return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) * 1e-6;
    };
    return {s(ru.ru_utime), s(ru.ru_stime)};
}

/// How busy the rest of the machine was while something was measured: the
/// machine's busy CPU time (/proc/stat) minus this process's own, over the
/// wall time, in cores. A result taken while other work ran says so in its
/// "other_cores" counter. It is an upper bound: kernel threads and
/// interrupts serving this process's own I/O count as "other" too.
class OtherLoad {
public:
    OtherLoad()
        : machine0_(machineBusySeconds()), own0_(processCpuSeconds()), wall0_(wallSeconds()) {}
    double cores() const {
        const double wall = wallSeconds() - wall0_;
        const double busy = machineBusySeconds() - machine0_;
        const double own = processCpuSeconds() - own0_;
        return wall > 0 ? std::max(0.0, busy - own) / wall : 0;
    }

private:
    static double machineBusySeconds() {
        std::ifstream in("/proc/stat");
        std::string cpu;
        uint64_t user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0,
                 steal = 0;
        in >> cpu >> user >> nice >> system >> idle >> iowait >> irq >> softirq >> steal;
        const double hz = static_cast<double>(::sysconf(_SC_CLK_TCK));
        return static_cast<double>(user + nice + system + irq + softirq + steal) / hz;
    }
    double machine0_;
    double own0_;
    double wall0_;
};

// --------------------------------------------------------------- I/O counters

/// write_bytes of /proc/self/io: what this process sent (or caused to be
/// sent) to the block layer, as the kernel accounts it when pages are dirtied.
inline uint64_t procWriteBytes() {
    std::ifstream in("/proc/self/io");
    std::string key;
    uint64_t value = 0;
    while (in >> key >> value)
        if (key == "write_bytes:")
            return value;
    return 0;
}

/// Sectors written to the block device holding \a p (field 7 of its stat
/// file), times 512: journal and metadata included, but also every other
/// process's writes to that device in the same time.
inline std::optional<uint64_t> deviceWrittenBytes(const fs::path& p) {
    struct stat st {};
    if (::stat(p.c_str(), &st) != 0)
        return std::nullopt;
    const std::string file = "/sys/dev/block/" + std::to_string(major(st.st_dev)) + ":" +
                             std::to_string(minor(st.st_dev)) + "/stat";
    std::ifstream in(file);
    uint64_t f[7] = {};
    for (auto& v : f)
        if (!(in >> v))
            return std::nullopt;
    return f[6] * 512;
}

/// Drop \a dir's files from the page cache, so the next read comes from the
/// disk: per file (POSIX_FADV_DONTNEED), without touching the rest of the machine.
inline void evictFromPageCache(const fs::path& dir) {
    for (const auto& e : fs::recursive_directory_iterator(dir)) {
        if (!e.is_regular_file())
            continue;
        const int fd = ::open(e.path().c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            continue;
        ::fdatasync(fd);  // dirty pages cannot be dropped
        ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
        ::close(fd);
    }
}

// ---------------------------------------------------------------- the owner

/// One owner key per process: Argon2id at its real cost (64 MiB) takes a
/// noticeable fraction of a second by design, so it is made once and copied.
class Owner {
public:
    static Owner& get() {
        static Owner owner;
        return owner;
    }
    /// Give \a stateDir the owner's keys/ (the public key is all Storage reads).
    void installInto(const fs::path& stateDir) const {
        fs::copy(dir_.path() / "keys", stateDir / "keys", fs::copy_options::recursive);
    }
    const keys::OwnerKeyPair& keyPair() const { return created_.keyPair; }

private:
    Owner()
        : dir_("pl-bench-owner"),
          created_(check(keys::createOwner(dir_.path(), kPassphrase), "creating the owner key")) {}
    TempDir dir_;
    keys::CreatedOwner created_;
};

// ------------------------------------------------------- a synthetic stream

/// What a 1080p doorbell camera sends: 30 fps at 4 Mbit/s, a keyframe every
/// 2 s that takes a tenth of its group's bytes.
struct StreamShape {
    int fps = 30;
    double bitsPerSecond = 4e6;
    int keyframeInterval = 60;
    double keyframeShare = 0.10;
};

/// Frames shaped like H.264 in avc form (4-byte big-endian NAL lengths, IDR
/// and non-IDR NAL headers) around random bytes. Nothing decodes them, and
/// nothing on the recording or export path needs to: Storage, the fMP4
/// writer and the exporter move samples without looking inside.
class SyntheticStream {
public:
    explicit SyntheticStream(StreamShape shape = {}, int64_t t0Us = kT0Us)
        : shape_(shape), t0Us_(t0Us), pool_(kPoolBytes) {
        if (sodium_init() < 0)
            fail("libsodium could not be initialised");
        // Fixed seed: every run writes the same bytes.
        std::array<uint8_t, randombytes_SEEDBYTES> seed{};
        randombytes_buf_deterministic(pool_.data(), pool_.size(), seed.data());
        const double groupBytes = shape_.bitsPerSecond / 8.0 * shape_.keyframeInterval / shape_.fps;
        keyBytes_ = static_cast<size_t>(groupBytes * shape_.keyframeShare);
        deltaBytes_ = static_cast<size_t>((groupBytes - static_cast<double>(keyBytes_)) /
                                          (shape_.keyframeInterval - 1));
        auto t = std::make_shared<mp4::TrackInfo>();
        // High profile, level 4.0, one SPS and one PPS: what x264 emits for 1080p.
        t->avcC = {0x01, 0x64, 0x00, 0x28, 0xff, 0xe1, 0x00, 0x1a, 0x67, 0x64, 0x00,
                   0x28, 0xac, 0xd9, 0x40, 0x78, 0x02, 0x27, 0xe5, 0x84, 0x00, 0x00,
                   0x03, 0x00, 0x04, 0x00, 0x00, 0x03, 0x00, 0xf0, 0x3c, 0x60, 0xc6,
                   0x58, 0x01, 0x00, 0x06, 0x68, 0xeb, 0xe3, 0xcb, 0x22, 0xc0};
        t->width = 1920;
        t->height = 1080;
        track_ = std::move(t);
    }

    storage::VideoFrame next() {
        const bool key = index_ % shape_.keyframeInterval == 0;
        const size_t size = key ? keyBytes_ : deltaBytes_;
        storage::VideoFrame f;
        f.track = track_;
        f.data.resize(size);
        const auto nal = static_cast<uint32_t>(size - 4);
        f.data[0] = static_cast<uint8_t>(nal >> 24);
        f.data[1] = static_cast<uint8_t>(nal >> 16);
        f.data[2] = static_cast<uint8_t>(nal >> 8);
        f.data[3] = static_cast<uint8_t>(nal);
        f.data[4] = key ? 0x65 : 0x41;
        // A different slice of the pool each frame (the stride is prime).
        const size_t offset = (index_ * 104'729) % (pool_.size() - size);
        std::copy_n(pool_.begin() + static_cast<ptrdiff_t>(offset), size - 5, f.data.begin() + 5);
        const int64_t frameNs = 1'000'000'000 / shape_.fps;
        f.dtsNs = static_cast<int64_t>(index_) * 1'000'000'000 / shape_.fps;
        f.ptsNs = f.dtsNs;
        f.durationNs = frameNs;
        f.wallUs = t0Us_ + f.dtsNs / 1000;
        f.keyframe = key;
        ++index_;
        payloadBytes_ += size;
        return f;
    }

    /// The encoder's bytes handed out so far (every frame's data, length prefixes included).
    uint64_t payloadBytes() const { return payloadBytes_; }
    uint64_t frames() const { return index_; }
    double mediaSeconds() const { return static_cast<double>(index_) / shape_.fps; }
    int fps() const { return shape_.fps; }

private:
    static constexpr size_t kPoolBytes = 8 << 20;
    StreamShape shape_;
    int64_t t0Us_;
    std::vector<uint8_t> pool_;
    size_t keyBytes_ = 0;
    size_t deltaBytes_ = 0;
    uint64_t index_ = 0;
    uint64_t payloadBytes_ = 0;
    std::shared_ptr<const mp4::TrackInfo> track_;
};

// ------------------------------------------------------ Storage, driven here

/// A Storage on its own io_context, as the daemon runs it (one loop thread,
/// the DiskWorker beside it), fed as fast as the disk allows.
class RecordingDriver {
public:
    explicit RecordingDriver(const fs::path& stateDir, storage::StorageOptions options = {})
        : work_(boost::asio::make_work_guard(io_)) {
        clock_.setWall(std::chrono::system_clock::time_point(std::chrono::microseconds(kT0Us)));
        storage_ =
            check(storage::Storage::open(
                      stateDir, clock_,
                      [this](std::function<void()> fn) { boost::asio::post(io_, std::move(fn)); },
                      std::move(options)),
                  "opening storage");
    }
    ~RecordingDriver() {
        storage_.reset();
        work_.reset();
    }
    RecordingDriver(const RecordingDriver&) = delete;
    RecordingDriver& operator=(const RecordingDriver&) = delete;

    storage::Storage& storage() { return *storage_; }
    test::FakeClock& clock() { return clock_; }

    void push(storage::VideoFrame&& frame) {
        storage_->onFrame(kCamera, std::move(frame));
        io_.poll();
        // Back-pressure the daemon does not need (a camera cannot outrun the
        // disk for long) but a generator can: keep a few fragments queued, not gigabytes.
        while (storage_->pendingDiskJobs() > kMaxBacklog)
            io_.run_one_for(std::chrono::milliseconds(1));
    }

    /// Close every segment, wait for the disk and for the index updates.
    void finish() {
        bool done = false;
        storage_->finishAll([&done] { done = true; });
        while (!done)
            io_.run_one_for(std::chrono::milliseconds(5));
        drain();
    }

    /// Until the DiskWorker is idle and everything it posted back has run.
    void drain() {
        do {
            while (storage_->pendingDiskJobs() > 0)
                io_.run_one_for(std::chrono::milliseconds(1));
            io_.poll();
        } while (storage_->pendingDiskJobs() > 0);
    }

private:
    static constexpr size_t kMaxBacklog = 8;
    boost::asio::io_context io_;
    boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
    test::FakeClock clock_;
    std::unique_ptr<storage::Storage> storage_;
};

/// Record \a seconds of a synthetic stream into \a stateDir; returns the stream (for its counts).
inline SyntheticStream record(RecordingDriver& driver, double seconds, StreamShape shape = {}) {
    SyntheticStream stream(shape);
    const auto frames = static_cast<uint64_t>(seconds * shape.fps);
    for (uint64_t i = 0; i < frames; ++i)
        driver.push(stream.next());
    driver.finish();
    return stream;
}

/// Every benchmark program's main: quiet logs, say where it writes, run.
inline int runBenchmarks(int argc, char** argv) {
    quietLogs();
    describeBenchDir();
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv))
        return 1;
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}

}  // namespace porchlight::bench
