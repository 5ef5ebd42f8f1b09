// The doorbell button: a GPIO input line whose presses ring the camera.
//
// The line is read through the kernel's GPIO character device (uAPI v2) on the
// daemon's asio loop, without polling: the kernel queues timestamped edge
// events on a file descriptor, and the loop wakes when one is readable. Where
// the edges come from is a LineSource, so tests feed edges through a pipe and
// exercise the same asio code path a real chip does.
#pragma once

#include <linux/gpio.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config.h"
#include "expected.h"

namespace porchlight::gpio {

/// A file descriptor that closes itself; move-only.
class UniqueFd {
public:
    UniqueFd() = default;
    explicit UniqueFd(int fd) : fd_(fd) {}
    UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
    UniqueFd& operator=(UniqueFd&& other) noexcept;
    UniqueFd(const UniqueFd&) = delete;
    UniqueFd& operator=(const UniqueFd&) = delete;
    ~UniqueFd() { reset(); }

    int get() const { return fd_; }
    bool valid() const { return fd_ >= 0; }
    int release() {
        const int fd = fd_;
        fd_ = -1;
        return fd;
    }
    void reset(int fd = -1);

private:
    int fd_ = -1;
};

/// One change of the line's logical level: active-low is already applied, so
/// pressed is true when the button went down whatever the wiring.
struct Edge {
    bool pressed = false;
    int64_t timeNs = 0;  // CLOCK_MONOTONIC (steady_clock), as the kernel stamps edges
    bool operator==(const Edge&) const = default;
};

/// Where edges come from: a file descriptor that becomes readable when edges
/// are queued, and a non-blocking read of what is queued.
class LineSource {
public:
    virtual ~LineSource();
    /// Owned by the source; valid for its lifetime.
    virtual int fd() const = 0;
    /// The queued edges, oldest first; empty when none are queued yet.
    virtual Expected<std::vector<Edge>> read() = 0;
    /// For log lines: "gpiochip0 line 17".
    virtual std::string name() const = 0;
};

/// A line of a GPIO chip, requested through the character device.
class ChardevLineSource final : public LineSource {
public:
    /// Request config.line of config.chip as an input with edge events.
    /// Errors say what to check: the chip name, the line number, permissions,
    /// or another user of the line.
    static Expected<std::unique_ptr<ChardevLineSource>> open(const DoorbellConfig& config);

    int fd() const override { return fd_.get(); }
    Expected<std::vector<Edge>> read() override;
    std::string name() const override { return name_; }
    /// Whether the kernel debounces the line (it does since Linux 5.10,
    /// in hardware or in gpiolib); when not, only Doorbell's debounce applies.
    bool kernelDebounce() const { return kernelDebounce_; }

private:
    ChardevLineSource(UniqueFd fd, std::string name, bool kernelDebounce);

    UniqueFd fd_;
    std::string name_;
    bool kernelDebounce_;
};

class PipeLineSource;

/// The write end of a PipeLineSource: a test (or a simulator) injects edges here.
class PipeLineWriter {
public:
    explicit PipeLineWriter(UniqueFd fd) : fd_(std::move(fd)) {}
    /// Queue an edge, written as the kernel would: one gpio_v2_line_event.
    Expected<void> write(const Edge& edge);
    Expected<void> press(int64_t timeNs) { return write({true, timeNs}); }
    Expected<void> release(int64_t timeNs) { return write({false, timeNs}); }
    /// Queue arbitrary bytes, e.g. a torn record.
    Expected<void> writeRaw(const void* data, size_t size);
    /// The reader then sees end of file, as if the chip went away.
    void close() { fd_.reset(); }

private:
    UniqueFd fd_;
};

/// Edges from a pipe, in the kernel's record format, so the decoding is the
/// same as for a chip.
class PipeLineSource final : public LineSource {
public:
    struct Pair;
    static Expected<Pair> create();

    int fd() const override { return fd_.get(); }
    Expected<std::vector<Edge>> read() override;
    std::string name() const override { return "pipe"; }

private:
    explicit PipeLineSource(UniqueFd fd) : fd_(std::move(fd)) {}
    UniqueFd fd_;
};

struct PipeLineSource::Pair {
    std::unique_ptr<PipeLineSource> source;
    PipeLineWriter writer;
};

/// Turns a line's edges into debounced presses, on the asio loop.
///
/// A press counts on the edge that makes the line active, so the ring is not
/// delayed by the debounce; edges within debounceMs of the previous edge are
/// contact bounce and ignored, and a press needs a release in between. The
/// line starts released: a button held at start counts from its next press.
/// A read error is logged and stops this doorbell only.
class Doorbell {
public:
    /// timeUs: when the button went down, wall clock, microseconds since the epoch.
    using PressCallback = std::function<void(int64_t timeUs)>;

    Doorbell(boost::asio::io_context& io, std::unique_ptr<LineSource> source, int debounceMs,
             PressCallback onPress);
    /// Cancels the wait and closes the line; no callback runs afterwards.
    ~Doorbell();
    Doorbell(const Doorbell&) = delete;
    Doorbell& operator=(const Doorbell&) = delete;

    /// False after an error stopped it; lastError() says why.
    bool running() const { return running_; }
    const std::string& lastError() const { return lastError_; }

private:
    void arm();
    void readable();
    /// False when the callback destroyed this Doorbell.
    bool handle(const Edge& edge, int64_t wallOffsetNs);
    void stop(const std::string& why);

    std::unique_ptr<LineSource> source_;
    boost::asio::posix::stream_descriptor descriptor_;
    int64_t debounceNs_;
    PressCallback onPress_;

    bool pressed_ = false;     // debounced, as of the last edge outside a bounce window
    bool rawPressed_ = false;  // as the last edge left it, bounce or not
    bool haveEdge_ = false;
    int64_t lastEdgeNs_ = 0;
    bool running_ = true;
    std::string lastError_;
    // Handlers hold a weak_ptr to this: a completion already queued when the
    // Doorbell is destroyed must not touch it.
    std::shared_ptr<bool> alive_;
};

/// "gpiochip0" -> "/dev/gpiochip0"; a path is used as it is.
std::string chipPath(std::string_view chip);

/// The request ChardevLineSource makes; exposed so tests can check the flags
/// without a GPIO chip. debounce: ask the kernel to debounce too.
gpio_v2_line_request makeLineRequest(const DoorbellConfig& config, bool debounce);

/// One kernel event record as an Edge; nullopt for an event id we do not know.
std::optional<Edge> decodeEvent(const gpio_v2_line_event& event);

}  // namespace porchlight::gpio
