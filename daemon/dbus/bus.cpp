// sd-bus on the asio loop: see bus.h.
#include "bus.h"

#include <poll.h>
#include <time.h>

#include <boost/asio/post.hpp>
#include <cstring>

#include "log.h"

PL_DEFINE_LOG_CATEGORY(Dbus, "dbus")

namespace porchlight::dbus {

Expected<std::unique_ptr<Connection>> Connection::open(boost::asio::io_context& io, BusType type) {
    sd_bus* raw = nullptr;
    int r = type == BusType::System ? sd_bus_open_system(&raw) : sd_bus_open_user(&raw);
    if (r < 0)
        return makeError(std::string("cannot connect to the ") +
                         (type == BusType::System ? "system" : "session") +
                         " bus: " + std::strerror(-r));
    BusPtr bus(raw);
    int fd = sd_bus_get_fd(raw);
    if (fd < 0)
        return makeError(std::string("D-Bus: no fd: ") + std::strerror(-fd));
    std::unique_ptr<Connection> c(new Connection(io, std::move(bus), fd));
    c->arm();
    return c;
}

Connection::Connection(boost::asio::io_context& io, BusPtr bus, int fd)
    : io_(io),
      bus_(std::move(bus)),
      fd_(io, fd),
      timer_(io),
      alive_(std::make_shared<bool>(true)) {}

Connection::~Connection() {
    alive_.reset();
    boost::system::error_code ec;
    fd_.cancel(ec);
    timer_.cancel();
    // The fd belongs to sd-bus, which closes it.
    fd_.release();
}

Expected<void> Connection::requestName(const std::string& name) {
    int r = sd_bus_request_name(bus_.get(), name.c_str(), 0);
    if (r < 0)
        return makeError("cannot own the name " + name + " on the bus: " + std::strerror(-r) +
                         (r == -EACCES || r == -EPERM
                              ? " (is the bus policy installed, and is porchlightd running as "
                                "its user?)"
                              : ""));
    arm();
    return {};
}

void Connection::kick() {
    if (kickPosted_)
        return;
    kickPosted_ = true;
    boost::asio::post(io_, [this, alive = std::weak_ptr<bool>(alive_)] {
        if (alive.expired())
            return;
        kickPosted_ = false;
        process();
    });
}

void Connection::process() {
    for (;;) {
        int r = sd_bus_process(bus_.get(), nullptr);
        if (r < 0) {
            PL_LOG(Dbus, Error) << "the bus connection failed: " << std::strerror(-r);
            return;  // not re-armed: the daemon runs on without D-Bus
        }
        if (r == 0)
            break;
    }
    arm();
}

void Connection::arm() {
    const int events = sd_bus_get_events(bus_.get());
    if (events < 0)
        return;
    auto alive = std::weak_ptr<bool>(alive_);
    if ((events & POLLIN) && !readWaiting_) {
        readWaiting_ = true;
        fd_.async_wait(boost::asio::posix::stream_descriptor::wait_read,
                       [this, alive](const boost::system::error_code& ec) {
                           if (alive.expired())
                               return;
                           readWaiting_ = false;
                           if (!ec)
                               process();
                       });
    }
    if ((events & POLLOUT) && !writeWaiting_) {
        writeWaiting_ = true;
        fd_.async_wait(boost::asio::posix::stream_descriptor::wait_write,
                       [this, alive](const boost::system::error_code& ec) {
                           if (alive.expired())
                               return;
                           writeWaiting_ = false;
                           if (!ec)
                               process();
                       });
    }
    uint64_t usec = 0;
    if (sd_bus_get_timeout(bus_.get(), &usec) >= 0 && usec != UINT64_MAX) {
        // sd-bus gives an absolute CLOCK_MONOTONIC time, which steady_clock is on Linux.
        struct timespec now {};
        clock_gettime(CLOCK_MONOTONIC, &now);
        const uint64_t nowUs = static_cast<uint64_t>(now.tv_sec) * 1'000'000 +
                               static_cast<uint64_t>(now.tv_nsec) / 1000;
        const auto delay = std::chrono::microseconds(usec > nowUs ? usec - nowUs : 0);
        timer_.expires_after(delay);
        timer_.async_wait([this, alive](const boost::system::error_code& ec) {
            if (alive.expired() || ec)
                return;
            process();
        });
    }
}

}  // namespace porchlight::dbus
