// A Clock for tests: time moves only when the test says so.
#pragma once

#include <algorithm>
#include <functional>
#include <map>
#include <memory>

#include "clock.h"

namespace porchlight::test {

class FakeClock final : public Clock {
public:
    TimePoint now() const override { return now_; }
    WallTime wallNow() const override { return wall_ + (now_ - TimePoint{}); }

    std::unique_ptr<Timer> schedule(Duration delay, std::function<void()> callback) override {
        const uint64_t id = nextId_++;
        pending_.emplace(id, Entry{now_ + delay, std::move(callback)});
        return std::make_unique<FakeTimer>(this, id);
    }

    /// Move time forward, running every timer that falls due, in order.
    void advance(Duration d) {
        const TimePoint end = now_ + d;
        for (;;) {
            auto due = std::min_element(pending_.begin(), pending_.end(), [](auto& a, auto& b) {
                return a.second.at < b.second.at ||
                       (a.second.at == b.second.at && a.first < b.first);
            });
            if (due == pending_.end() || due->second.at > end)
                break;
            now_ = std::max(now_, due->second.at);
            auto cb = std::move(due->second.callback);
            pending_.erase(due);
            cb();
        }
        now_ = end;
    }
    size_t pendingTimers() const { return pending_.size(); }
    /// Set the wall clock (as NTP might): steady time is not affected.
    void setWall(WallTime wall) { wall_ = wall - (now_ - TimePoint{}); }

private:
    struct Entry {
        TimePoint at;
        std::function<void()> callback;
    };
    class FakeTimer final : public Timer {
    public:
        FakeTimer(FakeClock* clock, uint64_t id) : clock_(clock), id_(id) {}
        ~FakeTimer() override { cancel(); }
        void cancel() override { clock_->pending_.erase(id_); }

    private:
        FakeClock* clock_;
        uint64_t id_;
    };

    TimePoint now_{std::chrono::hours(1)};
    WallTime wall_{std::chrono::seconds(1'800'000'000)};
    uint64_t nextId_ = 1;
    std::map<uint64_t, Entry> pending_;
};

}  // namespace porchlight::test
