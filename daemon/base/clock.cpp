// The real Clock on asio: see clock.h.
#include "clock.h"

#include <boost/asio/steady_timer.hpp>

namespace porchlight {

namespace {

class AsioTimer final : public Timer {
public:
    AsioTimer(boost::asio::io_context& io, Clock::Duration delay, std::function<void()> callback)
        : timer_(io, delay), alive_(std::make_shared<bool>(true)) {
        timer_.async_wait([alive = std::weak_ptr<bool>(alive_),
                           cb = std::move(callback)](const boost::system::error_code& ec) {
            // The weak pointer, not only the error code, decides: a timer that
            // already fired cannot be cancelled by asio any more.
            if (!ec && !alive.expired())
                cb();
        });
    }
    ~AsioTimer() override { cancel(); }
    void cancel() override {
        alive_.reset();
        timer_.cancel();
    }

private:
    boost::asio::steady_timer timer_;
    std::shared_ptr<bool> alive_;
};

}  // namespace

std::unique_ptr<Timer> AsioClock::schedule(Duration delay, std::function<void()> callback) {
    return std::make_unique<AsioTimer>(io_, delay, std::move(callback));
}

}  // namespace porchlight
