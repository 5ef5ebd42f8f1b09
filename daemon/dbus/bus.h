// An sd-bus connection served by the daemon's asio loop: no thread of its
// own. The loop waits on the bus fd (read or write, as sd-bus asks) and on
// its timeout, and runs sd_bus_process until there is nothing left.
#pragma once

#include <systemd/sd-bus.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <memory>
#include <string>

#include "expected.h"

namespace porchlight::dbus {

/// Owning pointers for sd-bus handles.
struct BusUnref {
    void operator()(sd_bus* b) const { sd_bus_flush_close_unref(b); }
};
struct SlotUnref {
    void operator()(sd_bus_slot* s) const { sd_bus_slot_unref(s); }
};
struct MessageUnref {
    void operator()(sd_bus_message* m) const { sd_bus_message_unref(m); }
};
using BusPtr = std::unique_ptr<sd_bus, BusUnref>;
using SlotPtr = std::unique_ptr<sd_bus_slot, SlotUnref>;
using MessagePtr = std::unique_ptr<sd_bus_message, MessageUnref>;

/// An sd_bus_error that frees itself.
struct BusError {
    sd_bus_error error = SD_BUS_ERROR_NULL;
    BusError() = default;
    BusError(const BusError&) = delete;
    BusError& operator=(const BusError&) = delete;
    ~BusError() { sd_bus_error_free(&error); }
    sd_bus_error* get() { return &error; }
};

enum class BusType { System, Session };

class Connection {
public:
    static Expected<std::unique_ptr<Connection>> open(boost::asio::io_context& io, BusType type);
    ~Connection();
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;

    sd_bus* get() const { return bus_.get(); }
    /// Own \a name (blocking, once, at start-up).
    Expected<void> requestName(const std::string& name);
    /// Call after queueing messages from outside a bus callback (signals):
    /// the loop then also waits for the fd to take them.
    void kick();

private:
    Connection(boost::asio::io_context& io, BusPtr bus, int fd);
    void process();
    void arm();

    boost::asio::io_context& io_;
    BusPtr bus_;
    boost::asio::posix::stream_descriptor fd_;
    boost::asio::steady_timer timer_;
    bool readWaiting_ = false;
    bool writeWaiting_ = false;
    bool kickPosted_ = false;
    std::shared_ptr<bool> alive_;
};

}  // namespace porchlight::dbus
