// The recorder's two background threads: everything that waits on the disk
// (writes, fsync, unlinking) runs on the disk thread, and the CPU work that
// comes before a write (encrypting and checksumming a fragment) can run on a
// sealing thread in front of it, so that fragment N+1 is sealed while
// fragment N is being written and synced. The event loop never blocks on
// either; jobs report back by posting to the loop.
//
// Order: every job's disk stage runs in the order the jobs were given
// (whether given with run() or runSealed()), and the sealing stages run in
// that order too, one at a time. So a segment's header is created before its
// first record is written, its records are written in the order they were
// sealed, and a deletion queued after a write happens after it.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

namespace porchlight::storage {

class DiskWorker {
public:
    using Job = std::function<void()>;
    /// Runs on the sealing thread; returns the job's disk stage.
    using Prepare = std::function<Job()>;

    DiskWorker();
    /// Runs every job already queued (both stages), then stops the threads.
    ~DiskWorker();
    DiskWorker(const DiskWorker&) = delete;
    DiskWorker& operator=(const DiskWorker&) = delete;

    /// A job with only a disk stage.
    void run(Job job);
    /// A job whose \a prepare runs on the sealing thread, overlapping the disk
    /// stages of the jobs before it; what it returns then runs on the disk thread.
    void runSealed(Prepare prepare);
    /// Jobs not yet finished (waiting or running in either stage), for
    /// back-pressure and tests.
    size_t backlog() const;

private:
    void sealLoop();
    void diskLoop();

    mutable std::mutex mutex_;
    std::condition_variable sealWake_;
    std::condition_variable diskWake_;
    std::deque<Prepare> sealing_;  // first stage: waiting
    std::deque<Job> writing_;      // second stage: waiting
    bool sealBusy_ = false;
    bool diskBusy_ = false;
    bool stopSealing_ = false;
    bool stopWriting_ = false;
    std::thread sealThread_;
    std::thread diskThread_;
};

}  // namespace porchlight::storage
