// The sealing and disk threads: see disk_worker.h.
#include "disk_worker.h"

#include <utility>

namespace porchlight::storage {

DiskWorker::DiskWorker()
    : sealThread_([this] { sealLoop(); }), diskThread_([this] { diskLoop(); }) {}

DiskWorker::~DiskWorker() {
    // First let the sealing thread hand on everything queued, then let the
    // disk thread finish it: no sealed record is dropped on the way out.
    {
        std::lock_guard lock(mutex_);
        stopSealing_ = true;
    }
    sealWake_.notify_one();
    sealThread_.join();
    {
        std::lock_guard lock(mutex_);
        stopWriting_ = true;
    }
    diskWake_.notify_one();
    diskThread_.join();
}

void DiskWorker::run(Job job) {
    // Through the sealing queue as well, with nothing to do there, so that
    // it keeps its place behind jobs still being sealed.
    runSealed([job = std::move(job)]() mutable { return std::move(job); });
}

void DiskWorker::runSealed(Prepare prepare) {
    {
        std::lock_guard lock(mutex_);
        sealing_.push_back(std::move(prepare));
    }
    sealWake_.notify_one();
}

size_t DiskWorker::backlog() const {
    std::lock_guard lock(mutex_);
    return sealing_.size() + (sealBusy_ ? 1 : 0) + writing_.size() + (diskBusy_ ? 1 : 0);
}

void DiskWorker::sealLoop() {
    for (;;) {
        Prepare prepare;
        {
            std::unique_lock lock(mutex_);
            sealWake_.wait(lock, [this] { return stopSealing_ || !sealing_.empty(); });
            if (sealing_.empty())
                return;  // stopping, and everything queued is handed on
            prepare = std::move(sealing_.front());
            sealing_.pop_front();
            sealBusy_ = true;
        }
        Job job = prepare();
        prepare = nullptr;  // let go of the plaintext before waiting for more
        {
            std::lock_guard lock(mutex_);
            if (job)
                writing_.push_back(std::move(job));
            sealBusy_ = false;
        }
        diskWake_.notify_one();
    }
}

void DiskWorker::diskLoop() {
    for (;;) {
        Job job;
        {
            std::unique_lock lock(mutex_);
            diskWake_.wait(lock, [this] { return stopWriting_ || !writing_.empty(); });
            if (writing_.empty())
                return;  // stopping, and everything queued is done
            job = std::move(writing_.front());
            writing_.pop_front();
            diskBusy_ = true;
        }
        job();
        job = nullptr;
        std::lock_guard lock(mutex_);
        diskBusy_ = false;
    }
}

}  // namespace porchlight::storage
