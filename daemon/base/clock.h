// Time as a dependency: the daemon's parts ask a Clock for the time and for
// timers, so tests can drive backoff, retention and timeouts without waiting.
#pragma once

#include <chrono>
#include <functional>
#include <memory>

#include <boost/asio/io_context.hpp>

namespace porchlight {

/// A pending timer; destroying or cancelling it guarantees the callback will not run.
class Timer {
public:
    virtual ~Timer() = default;
    virtual void cancel() = 0;
};

class Clock {
public:
    using Duration = std::chrono::steady_clock::duration;
    using TimePoint = std::chrono::steady_clock::time_point;
    using WallTime = std::chrono::system_clock::time_point;

    virtual ~Clock() = default;
    virtual TimePoint now() const = 0;
    virtual WallTime wallNow() const = 0;
    /// Run \a callback on the event loop after \a delay.
    [[nodiscard]] virtual std::unique_ptr<Timer> schedule(Duration delay,
                                                          std::function<void()> callback) = 0;
};

/// The real clock: steady_clock and asio timers on the daemon's io_context.
class AsioClock final : public Clock {
public:
    explicit AsioClock(boost::asio::io_context& io) : io_(io) {}
    TimePoint now() const override { return std::chrono::steady_clock::now(); }
    WallTime wallNow() const override { return std::chrono::system_clock::now(); }
    std::unique_ptr<Timer> schedule(Duration delay, std::function<void()> callback) override;

private:
    boost::asio::io_context& io_;
};

}  // namespace porchlight
