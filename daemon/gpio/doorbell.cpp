// The doorbell button on a GPIO line: see doorbell.h.
//
// We speak the kernel's GPIO character device uAPI v2 directly instead of
// using libgpiod: what we need is three ioctls (chip info, line info, line
// request) and read(2) of fixed-size event records, all of it a stable kernel
// ABI. libgpiod 1.x and 2.x have incompatible APIs and distributions and Yocto
// releases ship either, so depending on it would tie the build to one of them
// and add a library to the image for a few dozen lines of code.
#include "doorbell.h"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/error.hpp>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <optional>

#include "log.h"

PL_DEFINE_LOG_CATEGORY(GpioLog, "gpio")

namespace porchlight::gpio {

namespace {

// Enough for a burst of contact bounce on a line the kernel does not
// debounce; the kernel's default is 16 events per line.
constexpr uint32_t kEventBufferSize = 256;
// Events taken per read(2); more wake the loop again at once.
constexpr size_t kEventsPerRead = 16;

std::string errnoText(int err) {
    return std::strerror(err);
}

std::string cString(const char* text, size_t size) {
    return std::string(text, strnlen(text, size));
}

const char* const kCheckChip = "check [camera.doorbell] chip (ls /dev/gpiochip*)";

/// Read queued gpio_v2_line_event records from a non-blocking fd. Both the
/// chip and the pipe deliver whole records: the kernel never splits one, and a
/// pipe write of one record is atomic.
Expected<std::vector<Edge>> readEvents(int fd) {
    gpio_v2_line_event events[kEventsPerRead];
    ssize_t n;
    do {
        n = ::read(fd, events, sizeof events);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return std::vector<Edge>{};
        const int err = errno;
        return makeError("reading the line failed: " + errnoText(err) +
                         (err == ENODEV ? " (the GPIO chip went away)" : ""));
    }
    if (n == 0)
        return makeError("the line was closed (end of file)");
    if (static_cast<size_t>(n) % sizeof(gpio_v2_line_event) != 0)
        return makeError("read a torn event record (" + std::to_string(n) + " bytes, records are " +
                         std::to_string(sizeof(gpio_v2_line_event)) + ")");
    std::vector<Edge> edges;
    const size_t count = static_cast<size_t>(n) / sizeof(gpio_v2_line_event);
    edges.reserve(count);
    for (size_t i = 0; i < count; ++i)
        if (auto edge = decodeEvent(events[i]))
            edges.push_back(*edge);
        else
            PL_LOG(GpioLog, Debug) << "ignoring a GPIO event with unknown id " << events[i].id;
    return edges;
}

Expected<void> writeAll(int fd, const void* data, size_t size) {
    if (fd < 0)
        return makeError("the pipe is closed");
    ssize_t n;
    do {
        n = ::write(fd, data, size);
    } while (n < 0 && errno == EINTR);
    if (n < 0)
        return makeError("writing to the pipe failed: " + errnoText(errno));
    if (static_cast<size_t>(n) != size)
        return makeError("short write to the pipe");
    return {};
}

int64_t nowNs(std::chrono::nanoseconds sinceEpoch) {
    return static_cast<int64_t>(sinceEpoch.count());
}

}  // namespace

UniqueFd& UniqueFd::operator=(UniqueFd&& other) noexcept {
    if (this != &other)
        reset(other.release());
    return *this;
}

void UniqueFd::reset(int fd) {
    if (fd_ >= 0)
        ::close(fd_);
    fd_ = fd;
}

LineSource::~LineSource() = default;

std::string chipPath(std::string_view chip) {
    if (chip.find('/') != std::string_view::npos)
        return std::string(chip);
    return "/dev/" + std::string(chip);
}

gpio_v2_line_request makeLineRequest(const DoorbellConfig& config, bool debounce) {
    gpio_v2_line_request req{};
    req.offsets[0] = static_cast<uint32_t>(config.line);
    req.num_lines = 1;
    // Shown by gpioinfo and in our own "in use by" message to whoever else wants the line.
    std::strncpy(req.consumer, "porchlightd doorbell", sizeof req.consumer - 1);
    req.event_buffer_size = kEventBufferSize;
    uint64_t flags =
        GPIO_V2_LINE_FLAG_INPUT | GPIO_V2_LINE_FLAG_EDGE_RISING | GPIO_V2_LINE_FLAG_EDGE_FALLING;
    // The kernel applies active-low to the edges it reports, so a "rising"
    // edge is always the button going down. The bias holds the line at rest
    // when the button is open, so the common wiring (a bare button to ground,
    // or to 3.3 V when active high) works without a resistor; an external
    // pull resistor in the same direction does not mind. Chips without bias
    // control ignore it.
    if (config.activeLow)
        flags |= GPIO_V2_LINE_FLAG_ACTIVE_LOW | GPIO_V2_LINE_FLAG_BIAS_PULL_UP;
    else
        flags |= GPIO_V2_LINE_FLAG_BIAS_PULL_DOWN;
    req.config.flags = flags;
    if (debounce && config.debounceMs > 0) {
        const int64_t us = static_cast<int64_t>(config.debounceMs) * 1000;
        req.config.num_attrs = 1;
        req.config.attrs[0].attr.id = GPIO_V2_LINE_ATTR_ID_DEBOUNCE;
        req.config.attrs[0].attr.debounce_period_us =
            static_cast<uint32_t>(std::min<int64_t>(us, UINT32_MAX));
        req.config.attrs[0].mask = 1;  // bit 0: the first (only) line of the request
    }
    return req;
}

std::optional<Edge> decodeEvent(const gpio_v2_line_event& event) {
    const auto timeNs = static_cast<int64_t>(event.timestamp_ns);
    switch (event.id) {
        case GPIO_V2_LINE_EVENT_RISING_EDGE:
            return Edge{true, timeNs};
        case GPIO_V2_LINE_EVENT_FALLING_EDGE:
            return Edge{false, timeNs};
        default:
            return std::nullopt;
    }
}

// --- ChardevLineSource

ChardevLineSource::ChardevLineSource(UniqueFd fd, std::string name, bool kernelDebounce)
    : fd_(std::move(fd)), name_(std::move(name)), kernelDebounce_(kernelDebounce) {}

Expected<std::unique_ptr<ChardevLineSource>> ChardevLineSource::open(const DoorbellConfig& config) {
    if (config.chip.empty())
        return makeError("doorbell: no chip set: " + std::string(kCheckChip));
    if (config.line < 0)
        return makeError(
            "doorbell: no line set: set [camera.doorbell] line to the GPIO's "
            "offset on " +
            config.chip + " (gpioinfo lists them)");
    const std::string path = chipPath(config.chip);

    UniqueFd chip(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
    if (!chip.valid()) {
        const int err = errno;
        if (err == ENOENT || err == ENOTDIR)
            return makeError("doorbell: " + path + " does not exist: " + kCheckChip);
        if (err == EACCES || err == EPERM)
            return makeError("doorbell: no permission to open " + path +
                             ": add the user porchlightd runs as to the gpio group, or give it "
                             "the chip with a udev rule such as SUBSYSTEM==\"gpio\", "
                             "GROUP=\"gpio\", MODE=\"0660\"");
        return makeError("doorbell: cannot open " + path + ": " + errnoText(err));
    }

    gpiochip_info info{};
    if (::ioctl(chip.get(), GPIO_GET_CHIPINFO_IOCTL, &info) < 0) {
        const int err = errno;
        if (err == ENOTTY || err == EINVAL || err == ENOSYS)
            return makeError("doorbell: " + path + " is not a GPIO chip: " + kCheckChip);
        return makeError("doorbell: cannot query " + path + ": " + errnoText(err));
    }
    std::string chipName = cString(info.name, sizeof info.name);
    if (chipName.empty())
        chipName = path;
    const std::string label = cString(info.label, sizeof info.label);
    if (static_cast<uint32_t>(config.line) >= info.lines)
        return makeError("doorbell: " + chipName + (label.empty() ? "" : " (" + label + ")") +
                         " has no line " + std::to_string(config.line) + " (it has " +
                         std::to_string(info.lines) + " lines)");

    std::string name = chipName + " line " + std::to_string(config.line);
    gpio_v2_line_info lineInfo{};
    lineInfo.offset = static_cast<uint32_t>(config.line);
    const bool haveLineInfo = ::ioctl(chip.get(), GPIO_V2_GET_LINEINFO_IOCTL, &lineInfo) == 0;
    if (haveLineInfo) {
        const std::string lineName = cString(lineInfo.name, sizeof lineInfo.name);
        if (!lineName.empty())
            name += " (" + lineName + ")";
    }

    bool kernelDebounce = config.debounceMs > 0;
    gpio_v2_line_request req = makeLineRequest(config, kernelDebounce);
    int r = ::ioctl(chip.get(), GPIO_V2_GET_LINE_IOCTL, &req);
    if (r < 0 && kernelDebounce && (errno == EINVAL || errno == ENOTSUP || errno == EOPNOTSUPP)) {
        // Some drivers refuse a hardware debounce period they cannot do
        // rather than leaving it to gpiolib; Doorbell debounces anyway.
        PL_LOG(GpioLog, Info) << "doorbell on " << name
                              << ": the kernel cannot debounce this line (" << errnoText(errno)
                              << "): debouncing in porchlightd";
        kernelDebounce = false;
        req = makeLineRequest(config, false);
        r = ::ioctl(chip.get(), GPIO_V2_GET_LINE_IOCTL, &req);
    }
    if (r < 0) {
        const int err = errno;
        if (err == EBUSY) {
            std::string consumer;
            if (::ioctl(chip.get(), GPIO_V2_GET_LINEINFO_IOCTL, &lineInfo) == 0)
                consumer = cString(lineInfo.consumer, sizeof lineInfo.consumer);
            return makeError("doorbell: " + name + " is in use" +
                             (consumer.empty() ? "" : " by \"" + consumer + "\"") +
                             ": stop the program or remove the device-tree overlay that "
                             "claims it, or wire the button to another line");
        }
        if (err == ENOTTY)
            return makeError("doorbell: the kernel does not offer GPIO uAPI v2 on " + path +
                             " (Linux 5.10 or later is needed)");
        if (err == EACCES || err == EPERM)
            return makeError("doorbell: no permission to request " + name +
                             ": add the user porchlightd runs as to the gpio group");
        return makeError("doorbell: cannot request " + name + " as an input: " + errnoText(err));
    }
    UniqueFd line(req.fd);
    // The chip fd is no longer needed: the request holds the line on its own.
    chip.reset();

    // We read only after the loop says the fd is readable, but a wakeup may be
    // spurious; a blocking read would then stall every camera.
    const int fl = ::fcntl(line.get(), F_GETFL);
    if (fl < 0 || ::fcntl(line.get(), F_SETFL, fl | O_NONBLOCK) < 0)
        return makeError("doorbell: cannot make " + name + " non-blocking: " + errnoText(errno));

    gpio_v2_line_values values{};
    values.mask = 1;
    if (::ioctl(line.get(), GPIO_V2_LINE_GET_VALUES_IOCTL, &values) == 0 && (values.bits & 1))
        // Either someone holds the button, or the wiring is the other way
        // round: then presses would count on release.
        PL_LOG(GpioLog, Warning) << "doorbell on " << name
                                 << " reads pressed at start: if nobody holds the button, set "
                                    "[camera.doorbell] active_low = "
                                 << (config.activeLow ? "false" : "true");

    PL_LOG(GpioLog, Info) << "doorbell on " << name << ": active "
                          << (config.activeLow ? "low" : "high") << ", debounce "
                          << config.debounceMs << " ms"
                          << (kernelDebounce ? " (in the kernel)" : "");
    return std::unique_ptr<ChardevLineSource>(
        new ChardevLineSource(std::move(line), std::move(name), kernelDebounce));
}

Expected<std::vector<Edge>> ChardevLineSource::read() {
    return readEvents(fd_.get());
}

// --- PipeLineSource

Expected<void> PipeLineWriter::write(const Edge& edge) {
    gpio_v2_line_event event{};
    event.timestamp_ns = static_cast<uint64_t>(edge.timeNs);
    event.id = edge.pressed ? GPIO_V2_LINE_EVENT_RISING_EDGE : GPIO_V2_LINE_EVENT_FALLING_EDGE;
    return writeAll(fd_.get(), &event, sizeof event);
}

Expected<void> PipeLineWriter::writeRaw(const void* data, size_t size) {
    return writeAll(fd_.get(), data, size);
}

Expected<PipeLineSource::Pair> PipeLineSource::create() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC | O_NONBLOCK) < 0)
        return makeError("cannot create a pipe: " + errnoText(errno));
    return Pair{std::unique_ptr<PipeLineSource>(new PipeLineSource(UniqueFd(fds[0]))),
                PipeLineWriter(UniqueFd(fds[1]))};
}

Expected<std::vector<Edge>> PipeLineSource::read() {
    return readEvents(fd_.get());
}

// --- Doorbell

Doorbell::Doorbell(boost::asio::io_context& io, std::unique_ptr<LineSource> source, int debounceMs,
                   PressCallback onPress)
    : source_(std::move(source)),
      descriptor_(io),
      debounceNs_(static_cast<int64_t>(std::max(debounceMs, 0)) * 1'000'000),
      onPress_(std::move(onPress)),
      alive_(std::make_shared<bool>(true)) {
    boost::system::error_code ec;
    descriptor_.assign(source_->fd(), ec);
    if (ec) {
        stop("cannot watch the line: " + ec.message());
        return;
    }
    arm();
}

Doorbell::~Doorbell() {
    alive_.reset();
    boost::system::error_code ec;
    descriptor_.cancel(ec);
    // The source owns the fd and closes it when it goes, right after this.
    if (descriptor_.is_open())
        descriptor_.release();
}

void Doorbell::arm() {
    descriptor_.async_wait(
        boost::asio::posix::stream_descriptor::wait_read,
        [this, alive = std::weak_ptr<bool>(alive_)](const boost::system::error_code& ec) {
            if (alive.expired() || ec == boost::asio::error::operation_aborted)
                return;
            if (ec) {
                stop("waiting for the line failed: " + ec.message());
                return;
            }
            readable();
        });
}

void Doorbell::readable() {
    auto edges = source_->read();
    if (!edges) {
        stop(edges.error().message);
        return;
    }
    // Edges are stamped on the monotonic clock, which NTP cannot step, so
    // debouncing compares those; only a press is turned into wall time, with
    // the offset taken once for the batch so presses keep their spacing.
    const int64_t wallOffsetNs = nowNs(std::chrono::system_clock::now().time_since_epoch()) -
                                 nowNs(std::chrono::steady_clock::now().time_since_epoch());
    for (const Edge& edge : *edges)
        if (!handle(edge, wallOffsetNs))
            return;
    arm();
}

bool Doorbell::handle(const Edge& edge, int64_t wallOffsetNs) {
    // The window runs from the last edge of any kind, so a contact that
    // chatters for longer than debounceMs still counts once.
    const bool inBounce = haveEdge_ && edge.timeNs - lastEdgeNs_ < debounceNs_;
    const bool settled = rawPressed_;
    haveEdge_ = true;
    lastEdgeNs_ = edge.timeNs;
    rawPressed_ = edge.pressed;
    if (inBounce) {
        PL_LOG(GpioLog, Debug) << "doorbell on " << source_->name() << ": ignoring a "
                               << (edge.pressed ? "press" : "release") << " as bounce";
        return true;
    }
    // The line stayed as the previous edge left it for a whole window, so
    // that is its real level, whether that edge counted or not: a short tap
    // whose release fell inside the window must not leave the button "down"
    // and swallow the next press.
    pressed_ = settled;
    if (edge.pressed == pressed_)
        return true;  // no change: a release with no press, or a press with no release
    pressed_ = edge.pressed;
    if (!edge.pressed)
        return true;
    PL_LOG(GpioLog, Debug) << "doorbell on " << source_->name() << ": pressed";
    if (!onPress_)
        return true;
    std::weak_ptr<bool> alive = alive_;
    onPress_((edge.timeNs + wallOffsetNs) / 1000);
    // The callback may have destroyed us (a reload that drops the camera).
    return !alive.expired();
}

void Doorbell::stop(const std::string& why) {
    running_ = false;
    lastError_ = why;
    PL_LOG(GpioLog, Error) << "doorbell on " << source_->name() << " stopped: " << why
                           << "; the cameras keep recording, but presses are not seen until "
                              "porchlightd reloads or restarts";
    boost::system::error_code ec;
    descriptor_.cancel(ec);
}

}  // namespace porchlight::gpio
