// Issue 3, target 5: a retention sweep over a year of one-minute segments
// in the index takes under a second.
//
// The index of a real Storage is filled with 525 600 rows (one camera, a
// year of 60 s segments, 30 MB each; no files: what is measured is the
// index and the sweep's bookkeeping, and unlinking a missing file costs
// next to nothing). Then Storage::enforceRetention, as the daemon's timer
// calls it every 5 s:
//
//  - Sweep/by_age: the wall clock moves on a day, so max_days expires one
//    day of segments (1440 rows). "loop_ms" is the call itself, which
//    blocks the event loop; the benchmark's time also includes the
//    DiskWorker's unlinks and the garbage rows being forgotten on the loop.
//  - Sweep/by_size: max_bytes lowered by one day's bytes, so the oldest
//    1440 rows must go.
//  - Pass/idle_*: the usual case, nothing due, which runs every 5 s.
//
// $PORCHLIGHT_BENCH_RETENTION_DAYS changes the year (365) to another length.
#include <benchmark/benchmark.h>

#include <limits>
#include <map>
#include <memory>

#include "bench_support.h"
#include "sqlite.h"

namespace {

using namespace porchlight;
using namespace porchlight::bench;

constexpr int64_t kSegmentUs = 60'000'000;
constexpr int64_t kDayUs = 86'400'000'000;
constexpr uint64_t kSegmentBytes = 30'000'000;  // 60 s at 4 Mbit/s
constexpr int64_t kRowsPerDay = kDayUs / kSegmentUs;

long retentionDays() {
    return envLong("PORCHLIGHT_BENCH_RETENTION_DAYS", 365);
}

/// A Storage whose index holds a year of segments, made once per process.
struct Year {
    TempDir dir{"pl-bench-retention"};
    std::unique_ptr<RecordingDriver> driver;
    int64_t rows = 0;
    double fillSeconds = 0;

    Year() {
        storage::StorageOptions options;
        // A fixed answer, so the disk's real free space cannot start a sweep of its own.
        options.freeBytesOverride = [] { return std::optional<uint64_t>(1ull << 50); };
        driver = std::make_unique<RecordingDriver>(dir.path(), options);
        rows = retentionDays() * kRowsPerDay;
        const double w0 = wallSeconds();
        fill();
        fillSeconds = wallSeconds() - w0;
        // "Now" is the end of the year: under max_days = the year, nothing is due.
        setNow(kT0Us + retentionDays() * kDayUs);
    }

    /// The rows as Storage would have added them, in one transaction (a
    /// year of separate commits would take minutes to set up), through a
    /// second connection as the vault tool would open the index.
    void fill() const {
        auto db = check(sql::Database::open((dir.path() / "index.db").string()), "index");
        sql::Transaction tx(db);
        auto insert = check(
            db.prepare("INSERT INTO segment (camera, sequence, start_us, end_us, bytes, path, "
                       "state, protected) VALUES (?, ?, ?, ?, ?, ?, ?, 0)"),
            "insert");
        for (int64_t i = 0; i < rows; ++i) {
            const int64_t start = kT0Us + i * kSegmentUs;
            const auto sequence = static_cast<uint64_t>(i + 1);
            insert.bind(1, std::string_view(kCamera))
                .bind(2, static_cast<int64_t>(sequence))
                .bind(3, start)
                .bind(4, start + kSegmentUs)
                .bind(5, static_cast<int64_t>(kSegmentBytes))
                .bind(6, std::string_view(storage::segmentRelativePath(kCamera, sequence, start)))
                .bind(7, static_cast<int64_t>(storage::SegmentState::Complete));
            check(insert.run(), "inserting a row");
        }
        check(tx.commit(), "commit");
        // As a device that has run for a while: the WAL folded into the database.
        check(db.exec("PRAGMA wal_checkpoint(TRUNCATE)"), "checkpoint");
    }

    void setNow(int64_t us) {
        driver->clock().setWall(
            std::chrono::system_clock::time_point(std::chrono::microseconds(us)));
        nowUs = us;
    }
    uint64_t segmentCount() {
        auto u = check(driver->storage().index().usage(), "usage");
        return u[kCamera].segments;
    }
    uint64_t usedBytes() {
        auto u = check(driver->storage().index().usage(), "usage");
        return u[kCamera].bytes;
    }
    void configure(const RetentionConfig& r) {
        driver->storage().setConfiguredRetention({{kCamera, r}});
        driver->drain();
    }

    int64_t nowUs = 0;
};

std::unique_ptr<Year>& yearSlot() {
    static std::unique_ptr<Year> y;
    return y;
}

Year& year() {
    auto& y = yearSlot();
    if (!y) {
        y = std::make_unique<Year>();
        std::fprintf(stderr, "index filled: %lld rows in %.1f s\n", static_cast<long long>(y->rows),
                     y->fillSeconds);
    }
    return *y;
}

RetentionConfig byAge() {
    RetentionConfig r;
    r.maxDays = static_cast<double>(retentionDays());
    return r;
}

void report(benchmark::State& state, Year& y, uint64_t deleted, double loop, double total,
            const OtherLoad& others) {
    const auto n = static_cast<double>(state.iterations());
    state.counters["other_cores"] = others.cores();
    state.counters["rows"] = static_cast<double>(y.segmentCount());
    state.counters["deleted_per_pass"] = static_cast<double>(deleted) / n;
    state.counters["loop_ms"] = loop / n * 1e3;
    state.counters["total_ms"] = total / n * 1e3;
}

void BM_SweepByAge(benchmark::State& state) {
    Year& y = year();
    y.configure(byAge());
    uint64_t deleted = 0;
    double loop = 0;
    double total = 0;
    const OtherLoad others;
    for (auto _ : state) {
        const uint64_t before = y.segmentCount();
        y.setNow(y.nowUs + kDayUs);
        const double w0 = wallSeconds();
        y.driver->storage().enforceRetention();
        const double w1 = wallSeconds();
        y.driver->drain();
        const double w2 = wallSeconds();
        state.SetIterationTime(w2 - w0);
        loop += w1 - w0;
        total += w2 - w0;
        deleted += before - y.segmentCount();
    }
    report(state, y, deleted, loop, total, others);
}
BENCHMARK(BM_SweepByAge)
    ->Name("Sweep/by_age")
    ->Iterations(5)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

void BM_SweepBySize(benchmark::State& state) {
    Year& y = year();
    uint64_t deleted = 0;
    double loop = 0;
    double total = 0;
    const OtherLoad others;
    for (auto _ : state) {
        const uint64_t before = y.segmentCount();
        RetentionConfig r;
        r.maxBytes = y.usedBytes() - kRowsPerDay * kSegmentBytes;
        // setConfiguredRetention applies the new limit at once, as the daemon does on reload.
        const double w0 = wallSeconds();
        y.driver->storage().setConfiguredRetention({{kCamera, r}});
        const double w1 = wallSeconds();
        y.driver->drain();
        const double w2 = wallSeconds();
        state.SetIterationTime(w2 - w0);
        loop += w1 - w0;
        total += w2 - w0;
        deleted += before - y.segmentCount();
    }
    report(state, y, deleted, loop, total, others);
}
BENCHMARK(BM_SweepBySize)
    ->Name("Sweep/by_size")
    ->Iterations(5)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

void idlePass(benchmark::State& state, const RetentionConfig& r) {
    Year& y = year();
    y.configure(r);
    const uint64_t before = y.segmentCount();
    double loop = 0;
    const OtherLoad others;
    for (auto _ : state) {
        const double w0 = wallSeconds();
        y.driver->storage().enforceRetention();
        const double w1 = wallSeconds();
        state.SetIterationTime(w1 - w0);
        loop += w1 - w0;
    }
    report(state, y, before - y.segmentCount(), loop, loop, others);
}

void BM_IdleByAge(benchmark::State& state) {
    idlePass(state, byAge());
}
BENCHMARK(BM_IdleByAge)->Name("Pass/idle_age")->UseManualTime()->Unit(benchmark::kMillisecond);

void BM_IdleByAgeAndSize(benchmark::State& state) {
    RetentionConfig r = byAge();
    r.maxBytes = std::numeric_limits<uint64_t>::max() / 2;
    idlePass(state, r);
}
BENCHMARK(BM_IdleByAgeAndSize)
    ->Name("Pass/idle_age_and_size")
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace

int main(int argc, char** argv) {
    const int rc = porchlight::bench::runBenchmarks(argc, argv);
    yearSlot().reset();  // Storage and its disk thread end before static destructors run
    return rc;
}
