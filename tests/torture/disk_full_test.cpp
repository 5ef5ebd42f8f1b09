// Disk full, end to end: porchlightd records two cameras onto a small real
// filesystem (a size-limited tmpfs mounted over the state directory; needs
// root, skipped otherwise) until writes fail with ENOSPC. Retention must make
// room, both cameras must go on recording, nothing finished may be damaged
// (porchlight-vault verify), and the condition must show on D-Bus
// (DiskFull, LastStorageProblem, the StorageWarning signal), as an owner
// watching `porchlightctl status` would see it.
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mount.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "index.h"
#include "process.h"

using namespace std::chrono_literals;
using porchlight::test::Process;
namespace fs = std::filesystem;

namespace {

std::string env(const char* n) {
    const char* v = std::getenv(n);
    return v ? v : "";
}

int64_t wallUs() {
    return std::chrono::duration_cast<std::chrono::microseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

class DiskFullTest : public ::testing::Test {
protected:
    void SetUp() override {
        std::string d = ::testing::TempDir() + "porchlight-diskfull-XXXXXX";
        ASSERT_NE(mkdtemp(d.data()), nullptr);
        dir_ = d;
        state_ = dir_ / "state";
        fs::create_directories(state_);
        if (env("DBUS_DAEMON").empty() || !fs::exists(env("DBUS_DAEMON")))
            GTEST_SKIP() << "dbus-daemon is not installed (Debian package dbus)";
        // 16 MiB: a few segments of each camera beside the index.
        if (::mount("tmpfs", state_.c_str(), "tmpfs", 0, "size=16m,mode=0700") != 0)
            GTEST_SKIP() << "cannot mount a tmpfs here (needs root): " << std::strerror(errno);
        mounted_ = true;
        const std::string address = "unix:path=" + (dir_ / "bus").string();
        bus_ = std::make_unique<Process>(
            std::vector<std::string>{env("DBUS_DAEMON"), "--session", "--nofork", "--nopidfile",
                                     "--address=" + address, "--print-address=1"},
            (dir_ / "bus.log").string());
        ASSERT_TRUE(bus_->started());
        ASSERT_TRUE(bus_->waitForOutput(address, 10s)) << bus_->output();
        setenv("DBUS_SESSION_BUS_ADDRESS", address.c_str(), 1);
    }
    void TearDown() override {
        daemon_.reset();
        monitor_.reset();
        bus_.reset();
        unsetenv("DBUS_SESSION_BUS_ADDRESS");
        if (mounted_)
            ::umount2(state_.c_str(), MNT_DETACH);
        if (!HasFailure())
            fs::remove_all(dir_);
        else
            std::cerr << "kept for inspection: " << dir_ << "\n";
    }

    nlohmann::json status() {
        Process p({env("PORCHLIGHTCTL"), "--user", "--json", "status"},
                  (dir_ / "ctl.out").string());
        if (!p.started() || p.wait(10s) != 0)
            return {};
        // stdout and stderr share the file; the JSON is the object in it.
        const std::string out = p.output();
        const auto open = out.find('{');
        if (open == std::string::npos)
            return {};
        return nlohmann::json::parse(out.substr(open), nullptr, false);
    }

    fs::path dir_, state_;
    bool mounted_ = false;
    std::unique_ptr<Process> bus_, daemon_, monitor_;
};

TEST_F(DiskFullTest, RetentionMakesRoomRecordingGoesOnAndDBusSaysSo) {
    const fs::path pass = dir_ / "passphrase";
    std::ofstream(pass) << "disk full passphrase\n";
    {
        Process init({env("PORCHLIGHT_VAULT"), "init", "--state-dir", state_.string(),
                      "--passphrase-file", pass.string()},
                     (dir_ / "init.log").string());
        ASSERT_EQ(init.wait(120s), 0) << init.output();
    }
    const fs::path config = dir_ / "porchlight.toml";
    // Two cameras at 1.5 Mbit/s fill 16 MiB in about 45 s. min_free at its
    // smallest, so the writes themselves hit ENOSPC (not only retention's margin).
    std::ofstream(config) << "[[camera]]\nid = \"door\"\nsource = \"test\"\nwidth = 640\n"
                             "height = 360\nframerate = 15\nbitrate = 1500000\n\n"
                             "[[camera]]\nid = \"yard\"\nsource = \"test\"\nwidth = 640\n"
                             "height = 360\nframerate = 15\nbitrate = 1500000\n\n"
                             "[storage]\nsegment_seconds = 10\nmin_free = \"64KiB\"\n\n"
                             "[web]\nlisten = [\"http://127.0.0.1:0\"]\n";
    if (!env("DBUS_MONITOR").empty())
        monitor_ = std::make_unique<Process>(
            std::vector<std::string>{env("DBUS_MONITOR"), "--session",
                                     "type='signal',member='StorageWarning'"},
            (dir_ / "monitor.log").string());
    daemon_ = std::make_unique<Process>(
        std::vector<std::string>{env("PORCHLIGHTD"), "--bus", "session", "--config",
                                 config.string(), "--state-dir", state_.string()},
        (dir_ / "porchlightd.log").string(), std::vector<std::string>{"PORCHLIGHT_LOG=info"});
    ASSERT_TRUE(daemon_->started());

    // Watch the daemon as the owner would, until the disk has filled and
    // emptied a few times.
    bool sawDiskFull = false;
    std::string problem;
    int64_t firstFullUs = 0;
    const auto end = std::chrono::steady_clock::now() + 150s;
    while (std::chrono::steady_clock::now() < end) {
        auto s = status();
        if (s.is_object() && s.contains("storage")) {
            if (s["storage"].value("disk_full", false)) {
                sawDiskFull = true;
                if (!firstFullUs)
                    firstFullUs = wallUs();
            }
            const std::string p = s["storage"].value("last_problem", "");
            if (p.find("disk full") != std::string::npos)
                problem = p;
        }
        if (daemon_->countOf("disk full while recording") >= 1 && !problem.empty() &&
            daemon_->countOf("recording again: space was freed") >= 2)
            break;
        std::this_thread::sleep_for(200ms);
    }
    if (!firstFullUs && daemon_->countOf("disk full while recording"))
        firstFullUs = wallUs();
    const std::string log = daemon_->output();
    ASSERT_GE(daemon_->countOf("disk full while recording"), 1) << log;
    EXPECT_GE(daemon_->countOf("recording again: space was freed"), 1) << log;
    EXPECT_GE(daemon_->countOf("retention: deleting"), 1) << log;
    EXPECT_FALSE(problem.empty()) << "LastStorageProblem never said \"disk full\"";
    std::cout << "DiskFull seen true on D-Bus: " << sawDiskFull
              << "; LastStorageProblem: " << problem << "\n";
    // DiskFull is true from the failed write to the next segment that opens
    // (about a keyframe interval): polling may miss it, the signal does not.
    if (monitor_) {
        EXPECT_TRUE(monitor_->waitForOutput("disk full", 5s)) << monitor_->output();
    }

    // Recording goes on after the disk filled: both cameras, several seconds.
    std::this_thread::sleep_for(12s);
    const int64_t stopUs = wallUs();
    daemon_->signal(SIGTERM);
    ASSERT_EQ(daemon_->wait(30s), 0) << daemon_->output();

    auto index = porchlight::storage::Index::open(state_);
    ASSERT_TRUE(index) << index.error().message;
    auto rows = index->segments("", INT64_MIN, INT64_MAX);
    ASSERT_TRUE(rows);
    std::map<std::string, int64_t> recorded;  // µs of video after the disk first filled
    std::set<std::string> indexed;
    for (const auto& r : *rows) {
        indexed.insert(r.path);
        if (r.endUs > firstFullUs)
            recorded[r.camera] += r.endUs - std::max(r.startUs, firstFullUs);
        std::error_code ec;
        EXPECT_EQ(fs::file_size(state_ / r.path, ec), r.bytes) << r.path;
        EXPECT_NE(r.state, porchlight::storage::SegmentState::Writing) << r.path;
    }
    // Each disk-full write costs its fragment and the wait for the next
    // keyframe; retention then makes room for about a segment per camera.
    for (const auto& camera : {"door", "yard"}) {
        const double share =
            static_cast<double>(recorded[camera]) / static_cast<double>(stopUs - firstFullUs);
        std::cout << camera << ": recorded " << share * 100
                  << " % of the time after the disk first filled\n";
        EXPECT_GE(share, 0.6) << camera << " did not record on after the disk filled";
    }
    for (const auto& e : fs::recursive_directory_iterator(state_ / "recordings"))
        if (e.is_regular_file()) {
            EXPECT_TRUE(indexed.count(fs::relative(e.path(), state_).string())) << e.path();
        }

    Process verify({env("PORCHLIGHT_VAULT"), "verify", "--state-dir", state_.string(),
                    "--passphrase-file", pass.string()},
                   (dir_ / "verify.log").string());
    EXPECT_EQ(verify.wait(120s), 0) << verify.output();
    EXPECT_NE(verify.output().find("all sound"), std::string::npos) << verify.output();
}

}  // namespace
