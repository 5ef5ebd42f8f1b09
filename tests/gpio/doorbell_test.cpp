// The doorbell button: presses counted once through contact bounce, read on a
// real io_context from a pipe that carries the kernel's event records, and
// the messages an owner sees when the chip setting is wrong. The real GPIO
// chip path runs only where the gpio-sim kernel module is loaded.
#include "doorbell.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "log.h"
#include "run_until.h"

namespace porchlight::gpio {
namespace {

using namespace std::chrono_literals;
using porchlight::test::runFor;
using porchlight::test::runUntil;

constexpr int64_t kMs = 1'000'000;  // ns

int64_t monotonicNowNs() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

int64_t wallNowUs() {
    return std::chrono::duration_cast<std::chrono::microseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

/// A Doorbell on a pipe, with the presses it reported.
class DoorbellTest : public ::testing::Test {
protected:
    void SetUp() override {
        auto pair = PipeLineSource::create();
        ASSERT_TRUE(pair) << pair.error().message;
        writer_ = std::make_unique<PipeLineWriter>(std::move(pair->writer));
        doorbell_ = std::make_unique<Doorbell>(io_, std::move(pair->source), 50,
                                               [this](int64_t us) { presses_.push_back(us); });
        // Stamps near now, as the kernel's are, so press times map to the wall clock.
        t0_ = monotonicNowNs() - 10 * 1000 * kMs;
    }

    void press(int64_t atMs) { ASSERT_TRUE(writer_->press(t0_ + atMs * kMs)); }
    void release(int64_t atMs) { ASSERT_TRUE(writer_->release(t0_ + atMs * kMs)); }
    /// Let the loop read everything written so far.
    void settle() { runFor(io_, 100ms); }

    boost::asio::io_context io_;
    std::unique_ptr<PipeLineWriter> writer_;
    std::unique_ptr<Doorbell> doorbell_;
    std::vector<int64_t> presses_;
    int64_t t0_ = 0;
};

TEST_F(DoorbellTest, CleanPressRingsOnce) {
    press(0);
    release(300);
    ASSERT_TRUE(runUntil(io_, [&] { return !presses_.empty(); }));
    settle();
    ASSERT_EQ(presses_.size(), 1u);
    EXPECT_TRUE(doorbell_->running());
    // The press happened 10 s ago on the monotonic clock: the reported wall
    // time says so (generous bounds: this is a mapping check, not timing).
    const int64_t expected = wallNowUs() - 10'000'000;
    EXPECT_NEAR(static_cast<double>(presses_[0]), static_cast<double>(expected), 2e6);
}

TEST_F(DoorbellTest, ContactBounceRingsOnce) {
    // A contact chattering on the way down and on the way up.
    press(0);
    release(1);
    press(2);
    release(4);
    press(5);
    release(300);
    press(301);
    release(303);
    settle();
    EXPECT_EQ(presses_.size(), 1u);
}

TEST_F(DoorbellTest, ChatterLongerThanTheWindowRingsOnce) {
    // Edges every 5 ms for 200 ms: each is within 50 ms of the one before.
    bool down = true;
    for (int ms = 0; ms <= 200; ms += 5, down = !down)
        down ? press(ms) : release(ms);
    release(600);
    settle();
    EXPECT_EQ(presses_.size(), 1u);
}

TEST_F(DoorbellTest, TwoPresses200msApartRingTwice) {
    press(0);
    release(100);
    press(200);
    release(300);
    ASSERT_TRUE(runUntil(io_, [&] { return presses_.size() >= 2; }));
    settle();
    ASSERT_EQ(presses_.size(), 2u);
    EXPECT_NEAR(static_cast<double>(presses_[1] - presses_[0]), 200'000.0, 1'000.0);
}

TEST_F(DoorbellTest, PressesInSeparateReadsRingTwice) {
    press(0);
    release(100);
    ASSERT_TRUE(runUntil(io_, [&] { return presses_.size() == 1; }));
    press(200);
    release(300);
    ASSERT_TRUE(runUntil(io_, [&] { return presses_.size() == 2; }));
}

TEST_F(DoorbellTest, ReleaseWithoutPressDoesNothing) {
    release(0);
    release(500);
    settle();
    EXPECT_TRUE(presses_.empty());
    EXPECT_TRUE(doorbell_->running());
}

TEST_F(DoorbellTest, ButtonHeldAtStartCountsFromItsNextPress) {
    release(0);  // the first thing seen is letting go
    press(500);
    release(700);
    settle();
    EXPECT_EQ(presses_.size(), 1u);
}

TEST_F(DoorbellTest, PressNeedsAReleaseBeforeTheNext) {
    // A lost release (the kernel's queue overflowed): the second press is not a new ring.
    press(0);
    press(500);
    settle();
    EXPECT_EQ(presses_.size(), 1u);
    release(800);
    press(1000);
    settle();
    EXPECT_EQ(presses_.size(), 2u);
}

TEST_F(DoorbellTest, ShortTapDoesNotSwallowTheNextPress) {
    // The release of a 20 ms tap falls inside the bounce window; the button is
    // still up afterwards, so the next press rings.
    press(0);
    release(20);
    press(1000);
    release(1200);
    settle();
    EXPECT_EQ(presses_.size(), 2u);
}

TEST_F(DoorbellTest, TornRecordStopsOnlyTheDoorbell) {
    int fds[2];
    ASSERT_EQ(::pipe2(fds, O_CLOEXEC | O_NONBLOCK), 0);
    setLogFd(fds[1]);
    const char junk[10] = {};
    ASSERT_TRUE(writer_->writeRaw(junk, sizeof junk));
    ASSERT_TRUE(runUntil(io_, [&] { return !doorbell_->running(); }));
    setLogFd(-1);
    char log[4096] = {};
    const ssize_t n = ::read(fds[0], log, sizeof log - 1);
    ::close(fds[0]);
    ::close(fds[1]);
    EXPECT_NE(doorbell_->lastError().find("torn"), std::string::npos) << doorbell_->lastError();
    ASSERT_GT(n, 0);
    EXPECT_NE(std::string(log).find("doorbell on pipe stopped"), std::string::npos) << log;

    // Stopped means stopped: later edges ring nothing, and the loop has no work left.
    press(1000);
    settle();
    EXPECT_TRUE(presses_.empty());
    io_.restart();
    EXPECT_EQ(io_.poll(), 0u);
}

TEST_F(DoorbellTest, EndOfFileStopsTheDoorbell) {
    writer_->close();
    ASSERT_TRUE(runUntil(io_, [&] { return !doorbell_->running(); }));
    EXPECT_NE(doorbell_->lastError().find("closed"), std::string::npos) << doorbell_->lastError();
}

TEST_F(DoorbellTest, DestroyingCancelsTheWaitAndClosesTheLine) {
    press(0);  // queued, not yet read
    auto pair = PipeLineSource::create();
    ASSERT_TRUE(pair);
    const int fd = pair->source->fd();
    bool rang = false;
    auto other =
        std::make_unique<Doorbell>(io_, std::move(pair->source), 50, [&](int64_t) { rang = true; });
    ASSERT_TRUE(pair->writer.press(monotonicNowNs()));
    other.reset();
    EXPECT_EQ(::fcntl(fd, F_GETFD), -1);
    EXPECT_EQ(errno, EBADF);
    doorbell_.reset();
    settle();
    EXPECT_FALSE(rang);
    EXPECT_TRUE(presses_.empty());
}

TEST_F(DoorbellTest, CallbackMayDestroyTheDoorbell) {
    auto pair = PipeLineSource::create();
    ASSERT_TRUE(pair);
    std::unique_ptr<Doorbell> self;
    int rings = 0;
    self = std::make_unique<Doorbell>(io_, std::move(pair->source), 50, [&](int64_t) {
        ++rings;
        self.reset();  // e.g. a reload that removes the camera
    });
    const int64_t t = monotonicNowNs();
    ASSERT_TRUE(pair->writer.press(t));
    ASSERT_TRUE(pair->writer.release(t + 100 * kMs));
    ASSERT_TRUE(pair->writer.press(t + 200 * kMs));
    settle();
    EXPECT_EQ(rings, 1);
    EXPECT_EQ(self, nullptr);
}

TEST(DoorbellDebounce, ZeroDebounceCountsEveryChange) {
    boost::asio::io_context io;
    auto pair = PipeLineSource::create();
    ASSERT_TRUE(pair);
    int rings = 0;
    Doorbell doorbell(io, std::move(pair->source), 0, [&](int64_t) { ++rings; });
    const int64_t t = monotonicNowNs();
    ASSERT_TRUE(pair->writer.press(t));
    ASSERT_TRUE(pair->writer.release(t + 1 * kMs));
    ASSERT_TRUE(pair->writer.press(t + 2 * kMs));
    runFor(io, 100ms);
    EXPECT_EQ(rings, 2);
}

/// A source whose fd the loop cannot wait on: a regular file (epoll refuses those).
class FileLineSource final : public LineSource {
public:
    FileLineSource() : fd_(::open("/proc/self/exe", O_RDONLY | O_CLOEXEC)) {}
    int fd() const override { return fd_.get(); }
    Expected<std::vector<Edge>> read() override { return std::vector<Edge>{}; }
    std::string name() const override { return "a file"; }

private:
    UniqueFd fd_;
};

TEST(DoorbellDebounce, UnwaitableLineStopsInsteadOfSpinning) {
    boost::asio::io_context io;
    Doorbell doorbell(io, std::make_unique<FileLineSource>(), 50, [](int64_t) {});
    ASSERT_TRUE(runUntil(
        io, [&] { return !doorbell.running(); }, 2s));
    EXPECT_NE(doorbell.lastError().find("waiting for the line failed"), std::string::npos)
        << doorbell.lastError();
    io.restart();
    EXPECT_EQ(io.poll(), 0u);
}

// --- The kernel side, without a chip: what we ask for and how we read it.

TEST(DoorbellChardev, ActiveLowIsLeftToTheKernel) {
    // The kernel inverts an active-low line's edges, so a rising event is
    // always a press: check we ask for that and decode accordingly.
    DoorbellConfig config;
    config.chip = "gpiochip0";
    config.line = 17;
    config.activeLow = true;
    config.debounceMs = 50;
    const gpio_v2_line_request req = makeLineRequest(config, true);
    EXPECT_EQ(req.num_lines, 1u);
    EXPECT_EQ(req.offsets[0], 17u);
    EXPECT_STREQ(req.consumer, "porchlightd doorbell");
    const uint64_t want = GPIO_V2_LINE_FLAG_INPUT | GPIO_V2_LINE_FLAG_EDGE_RISING |
                          GPIO_V2_LINE_FLAG_EDGE_FALLING | GPIO_V2_LINE_FLAG_ACTIVE_LOW |
                          GPIO_V2_LINE_FLAG_BIAS_PULL_UP;
    EXPECT_EQ(req.config.flags, want);
    ASSERT_EQ(req.config.num_attrs, 1u);
    EXPECT_EQ(req.config.attrs[0].attr.id, static_cast<uint32_t>(GPIO_V2_LINE_ATTR_ID_DEBOUNCE));
    EXPECT_EQ(req.config.attrs[0].attr.debounce_period_us, 50'000u);
    EXPECT_EQ(req.config.attrs[0].mask, 1u);

    gpio_v2_line_event rising{};
    rising.id = GPIO_V2_LINE_EVENT_RISING_EDGE;
    rising.timestamp_ns = 1234;
    EXPECT_EQ(decodeEvent(rising), (Edge{true, 1234}));
    gpio_v2_line_event falling{};
    falling.id = GPIO_V2_LINE_EVENT_FALLING_EDGE;
    EXPECT_EQ(decodeEvent(falling), (Edge{false, 0}));
    gpio_v2_line_event unknown{};
    unknown.id = 99;
    EXPECT_EQ(decodeEvent(unknown), std::nullopt);
}

TEST(DoorbellChardev, ActiveHighAndSoftwareDebounceOnly) {
    DoorbellConfig config;
    config.chip = "gpiochip0";
    config.line = 3;
    config.activeLow = false;
    const gpio_v2_line_request req = makeLineRequest(config, false);
    EXPECT_EQ(req.config.flags & GPIO_V2_LINE_FLAG_ACTIVE_LOW, 0u);
    EXPECT_NE(req.config.flags & GPIO_V2_LINE_FLAG_BIAS_PULL_DOWN, 0u);
    EXPECT_EQ(req.config.num_attrs, 0u);
}

TEST(DoorbellChardev, ChipNameOrPath) {
    EXPECT_EQ(chipPath("gpiochip0"), "/dev/gpiochip0");
    EXPECT_EQ(chipPath("/dev/gpiochip4"), "/dev/gpiochip4");
}

TEST(DoorbellChardev, MissingChipSaysWhatToCheck) {
    DoorbellConfig config;
    config.chip = "gpiochip-porchlight-test-none";
    config.line = 0;
    auto source = ChardevLineSource::open(config);
    ASSERT_FALSE(source);
    EXPECT_EQ(source.error().message,
              "doorbell: /dev/gpiochip-porchlight-test-none does not exist: check "
              "[camera.doorbell] chip (ls /dev/gpiochip*)");
}

TEST(DoorbellChardev, NotAGpioChip) {
    DoorbellConfig config;
    config.chip = "/dev/null";
    config.line = 0;
    auto source = ChardevLineSource::open(config);
    ASSERT_FALSE(source);
    EXPECT_EQ(source.error().message,
              "doorbell: /dev/null is not a GPIO chip: check [camera.doorbell] chip (ls "
              "/dev/gpiochip*)");

    // A regular file, as a typo'd path might name.
    char path[] = "/tmp/porchlight-doorbell-XXXXXX";
    const int fd = ::mkstemp(path);
    ASSERT_GE(fd, 0);
    ::close(fd);
    config.chip = path;
    source = ChardevLineSource::open(config);
    ::unlink(path);
    ASSERT_FALSE(source);
    EXPECT_NE(source.error().message.find("is not a GPIO chip"), std::string::npos)
        << source.error().message;
}

TEST(DoorbellChardev, LineNotSet) {
    DoorbellConfig config;
    config.chip = "gpiochip0";
    auto source = ChardevLineSource::open(config);
    ASSERT_FALSE(source);
    EXPECT_NE(source.error().message.find("no line set"), std::string::npos)
        << source.error().message;
}

// --- A real chip: the gpio-sim kernel module, when it is loaded.

std::string readLine(const std::filesystem::path& path) {
    std::ifstream in(path);
    std::string s;
    std::getline(in, s);
    return s;
}

bool writeText(const std::filesystem::path& path, const std::string& text) {
    std::ofstream out(path);
    out << text;
    out.flush();
    return static_cast<bool>(out);
}

/// A simulated chip with 8 lines, made through configfs and torn down after.
class GpioSim {
public:
    GpioSim() {
        namespace fs = std::filesystem;
        const fs::path root = "/sys/kernel/config/gpio-sim";
        if (!fs::is_directory(root))
            return;
        dir_ = root / ("porchlight-test-" + std::to_string(::getpid()));
        std::error_code ec;
        if (!fs::create_directory(dir_, ec) || !fs::create_directory(dir_ / "bank0", ec) ||
            !writeText(dir_ / "bank0" / "num_lines", "8") || !writeText(dir_ / "live", "1"))
            return;
        chip_ = readLine(dir_ / "bank0" / "chip_name");
        device_ = readLine(dir_ / "dev_name");
    }
    ~GpioSim() {
        if (dir_.empty())
            return;
        writeText(dir_ / "live", "0");
        std::error_code ec;
        std::filesystem::remove(dir_ / "bank0", ec);
        std::filesystem::remove(dir_, ec);
    }
    bool ok() const { return !chip_.empty() && !device_.empty(); }
    const std::string& chip() const { return chip_; }
    /// Drive line as the outside world would: "pull-up" or "pull-down".
    bool pull(int line, const std::string& how) const {
        return writeText(std::filesystem::path("/sys/devices/platform") / device_ / chip_ /
                             ("sim_gpio" + std::to_string(line)) / "pull",
                         how);
    }

private:
    std::filesystem::path dir_;
    std::string chip_;
    std::string device_;
};

TEST(DoorbellGpioSim, PressOnASimulatedChip) {
    GpioSim sim;
    if (!sim.ok())
        GTEST_SKIP() << "no gpio-sim (as root: modprobe gpio-sim, with configfs mounted)";

    DoorbellConfig config;
    config.chip = sim.chip();
    config.line = 99;
    auto bad = ChardevLineSource::open(config);
    ASSERT_FALSE(bad);
    EXPECT_NE(bad.error().message.find(sim.chip()), std::string::npos);
    EXPECT_NE(bad.error().message.find("has no line 99 (it has 8 lines)"), std::string::npos)
        << bad.error().message;

    config.line = 2;
    config.activeLow = true;  // our request pulls the line up: released at rest
    config.debounceMs = 20;
    auto source = ChardevLineSource::open(config);
    ASSERT_TRUE(source) << source.error().message;

    // A second request for the same line is refused with who holds it.
    auto again = ChardevLineSource::open(config);
    ASSERT_FALSE(again);
    EXPECT_NE(again.error().message.find("in use by \"porchlightd doorbell\""), std::string::npos)
        << again.error().message;

    boost::asio::io_context io;
    int rings = 0;
    Doorbell doorbell(io, std::move(*source), config.debounceMs, [&](int64_t) { ++rings; });
    ASSERT_TRUE(sim.pull(2, "pull-down"));  // active low: the button goes down
    ASSERT_TRUE(runUntil(
        io, [&] { return rings == 1; }, 5s));
    ASSERT_TRUE(sim.pull(2, "pull-up"));
    runFor(io, 200ms);
    ASSERT_TRUE(sim.pull(2, "pull-down"));
    ASSERT_TRUE(runUntil(
        io, [&] { return rings == 2; }, 5s));
    EXPECT_TRUE(doorbell.running());
}

}  // namespace
}  // namespace porchlight::gpio
