// Issue 3, target 4: export speed. The target is an hour of 1080p video
// exported in under 10 s.
//
// A state directory is filled through a real Storage with synthetic 1080p
// video (30 fps, 4 Mbit/s, 60 s segments), then vault::exportRange, what
// `porchlight-vault export` runs, makes one MP4 of all of it: every segment
// decrypted and authenticated, every fragment parsed, the MP4 written and
// fsynced. Export never decodes video, so random payload measures it fairly.
//
// How much video: $PORCHLIGHT_BENCH_EXPORT_MINUTES, 5 by default so that
// `meson test --benchmark` stays short; 60 measures the target itself
// (1.8 GB of recordings and as much again for the MP4; the directory is
// removed at exit). Export runs twice: "warm", straight after recording
// with the files in the page cache, and "cold", with the state directory's
// files dropped from the page cache first, so they are read from the disk.
#include <benchmark/benchmark.h>

#include <memory>

#include "bench_support.h"
#include "vault.h"

namespace {

using namespace porchlight;
using namespace porchlight::bench;

double exportMinutes() {
    return static_cast<double>(envLong("PORCHLIGHT_BENCH_EXPORT_MINUTES", 5));
}

/// Bytes the recordings and their export will take, with room to spare.
uint64_t spaceNeeded() {
    const double video = exportMinutes() * 60 * 4e6 / 8;
    return static_cast<uint64_t>(video * 2.2) + (512ull << 20);
}

/// The recorded state directory, made once per process.
struct Recorded {
    TempDir dir{"pl-bench-export"};
    uint64_t frames = 0;
    double seconds = 0;
    double recordWallSeconds = 0;

    Recorded() {
        Owner::get().installInto(dir.path());
        const double w0 = wallSeconds();
        RecordingDriver driver(dir.path());
        const SyntheticStream stream = record(driver, exportMinutes() * 60);
        frames = stream.frames();
        seconds = stream.mediaSeconds();
        recordWallSeconds = wallSeconds() - w0;
    }
};

std::unique_ptr<Recorded>& recorded() {
    static std::unique_ptr<Recorded> r;
    return r;
}

void BM_Export(benchmark::State& state) {
    const bool cold = state.range(0) != 0;
    if (freeBytesAt(benchRoot()) < spaceNeeded() && !recorded()) {
        state.SkipWithError(
            "not enough free space in the benchmark directory "
            "(set PORCHLIGHT_BENCH_DIR or PORCHLIGHT_BENCH_EXPORT_MINUTES)");
        return;
    }
    if (!recorded())
        recorded() = std::make_unique<Recorded>();
    const Recorded& rec = *recorded();
    const fs::path out = rec.dir.path() / "export.mp4";

    double wall = 0;
    double cpu = 0;
    uint64_t bytes = 0;
    double otherCoreSeconds = 0;
    for (auto _ : state) {
        if (cold)
            evictFromPageCache(rec.dir.path());
        const OtherLoad others;
        const double w0 = wallSeconds();
        const double c0 = processCpuSeconds();
        auto r =
            vault::exportRange(rec.dir.path(), Owner::get().keyPair(), kCamera, kT0Us,
                               kT0Us + static_cast<int64_t>(rec.seconds * 1e6) + 1'000'000, out);
        const double c1 = processCpuSeconds();
        const double w1 = wallSeconds();
        otherCoreSeconds += others.cores() * (w1 - w0);
        if (!r) {
            state.SkipWithError(r.error().message.c_str());
            return;
        }
        if (r->samples != rec.frames || !r->warnings.empty()) {
            state.SkipWithError("the export is not the whole recording");
            return;
        }
        state.SetIterationTime(w1 - w0);
        wall += w1 - w0;
        cpu += c1 - c0;
        bytes += r->bytes;
        // Its blocks go back now, not at exit: an hour is 1.8 GB.
        fs::remove(out);
    }
    const auto n = static_cast<double>(state.iterations());
    state.SetBytesProcessed(static_cast<int64_t>(bytes));
    state.counters["video_min"] = rec.seconds / 60;
    state.counters["export_s"] = wall / n;
    state.counters["MBps"] = static_cast<double>(bytes) / wall / 1e6;
    state.counters["s_per_video_hour"] = wall / n * 3600 / rec.seconds;
    state.counters["cpu_s"] = cpu / n;
    state.counters["record_s"] = rec.recordWallSeconds;
    state.counters["other_cores"] = otherCoreSeconds / wall;
}

BENCHMARK(BM_Export)->ArgName("cold")->Arg(0)->Arg(1)->Iterations(1)->UseManualTime()->Unit(
    benchmark::kMillisecond);

}  // namespace

int main(int argc, char** argv) {
    const int rc = porchlight::bench::runBenchmarks(argc, argv);
    recorded().reset();
    return rc;
}
