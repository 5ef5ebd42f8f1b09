// One background thread for everything that waits on the disk: encrypting
// and writing segments, fsync, unlinking. The event loop never blocks on I/O;
// jobs run in the order given, and report back by posting to the loop.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

namespace porchlight::storage {

class DiskWorker {
public:
    DiskWorker();
    /// Runs every job already queued, then stops the thread.
    ~DiskWorker();
    DiskWorker(const DiskWorker&) = delete;
    DiskWorker& operator=(const DiskWorker&) = delete;

    void run(std::function<void()> job);
    /// Jobs not yet finished (waiting, or running), for back-pressure and tests.
    size_t backlog() const;

private:
    void loop();

    mutable std::mutex mutex_;
    std::condition_variable wake_;
    std::deque<std::function<void()>> jobs_;
    bool stopping_ = false;
    bool busy_ = false;
    std::thread thread_;
};

}  // namespace porchlight::storage
