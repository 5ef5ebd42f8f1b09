// porchlightctl against a real porchlightd on a private session bus: what the
// owner sees from status, cameras and retention, that a retention change
// outlives a restart, and the messages for no daemon and a wrong camera.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "process.h"

using namespace std::chrono_literals;
using porchlight::test::Process;
using ::testing::ContainsRegex;
using ::testing::HasSubstr;
using ::testing::Not;

namespace {

std::string envOr(const char* name, const char* fallback) {
    const char* v = std::getenv(name);
    return v && *v ? v : fallback;
}

std::string readFile(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

struct CtlResult {
    int code = -1;
    std::string out;
    std::string err;
};

class CtlBusTest : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = ::testing::TempDir() + "ctl-bus-XXXXXX";
        ASSERT_NE(mkdtemp(dir_.data()), nullptr);
        const std::string dbusDaemon = envOr("DBUS_DAEMON", "");
        if (dbusDaemon.empty() || !std::filesystem::exists(dbusDaemon))
            GTEST_SKIP() << "dbus-daemon is not installed (Debian package dbus)";

        // A bus of our own: nothing of the developer's session can answer,
        // and the daemon under test cannot clash with a running one.
        const std::string address = "unix:path=" + dir_ + "/bus";
        bus_ = std::make_unique<Process>(
            std::vector<std::string>{dbusDaemon, "--session", "--nofork", "--nopidfile",
                                     "--address=" + address, "--print-address=1"},
            dir_ + "/bus.log");
        ASSERT_TRUE(bus_->started());
        ASSERT_TRUE(bus_->waitForOutput(address, 10s)) << bus_->output();
        // Children inherit it; replacing it (not adding a second entry) keeps
        // a developer's own session bus address out of the picture.
        setenv("DBUS_SESSION_BUS_ADDRESS", address.c_str(), 1);

        config_ = write("porchlight.toml", camera("door") + camera("garden"));
    }

    void TearDown() override {
        stopDaemon();
        bus_.reset();
        unsetenv("DBUS_SESSION_BUS_ADDRESS");
        std::filesystem::remove_all(dir_);
    }

    static std::string camera(const std::string& id) {
        return "[[camera]]\nid = \"" + id +
               "\"\nsource = \"test\"\nwidth = 320\nheight = 240\nframerate = 10\n\n";
    }

    std::string write(const std::string& name, const std::string& text) {
        const std::string path = dir_ + "/" + name;
        // Tests serve only on loopback, on a port of their own (0: any free one).
        std::ofstream(path) << text << "\n[web]\nlisten = [\"http://127.0.0.1:0\"]\n";
        return path;
    }

    /// Start porchlightd and wait until both cameras stream, as ctl sees them.
    void startDaemon() {
        daemon_ = std::make_unique<Process>(
            std::vector<std::string>{envOr("PORCHLIGHTD", "porchlightd"), "--bus", "session",
                                     "--config", config_, "--state-dir", dir_ + "/state"},
            dir_ + "/daemon-" + std::to_string(++starts_) + ".log",
            std::vector<std::string>{"PORCHLIGHT_LOG=info"});
        ASSERT_TRUE(daemon_->started());
        const auto end = std::chrono::steady_clock::now() + 30s;
        std::string last;
        while (std::chrono::steady_clock::now() < end) {
            CtlResult r = ctl({"--user", "--json", "cameras"});
            last = r.out + r.err;
            if (r.code == 0) {
                auto j = nlohmann::json::parse(r.out, nullptr, false);
                int streaming = 0;
                if (j.is_array())
                    for (const auto& c : j)
                        streaming += c.value("state", "") == "streaming" && c.value("width", 0) > 0;
                if (streaming == 2)
                    return;
            }
            std::this_thread::sleep_for(200ms);
        }
        FAIL() << "porchlightd not ready in 30 s; ctl said: " << last << "\ndaemon log:\n"
               << daemon_->output();
    }

    void stopDaemon() {
        if (!daemon_)
            return;
        daemon_->signal(SIGTERM);
        EXPECT_EQ(daemon_->wait(15s), 0) << daemon_->output();
        daemon_.reset();
    }

    /// Run porchlightctl to the end, stdout and stderr apart.
    CtlResult ctl(std::vector<std::string> args) {
        args.insert(args.begin(), envOr("PORCHLIGHTCTL", "porchlightctl"));
        const std::string outFile = dir_ + "/ctl.out";
        const std::string errFile = dir_ + "/ctl.err";
        std::vector<char*> argv;
        for (auto& a : args)
            argv.push_back(a.data());
        argv.push_back(nullptr);
        posix_spawn_file_actions_t actions;
        posix_spawn_file_actions_init(&actions);
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
        posix_spawn_file_actions_addopen(&actions, 1, outFile.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                         0644);
        posix_spawn_file_actions_addopen(&actions, 2, errFile.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                         0644);
        pid_t pid = -1;
        const int spawned = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
        posix_spawn_file_actions_destroy(&actions);
        CtlResult r;
        if (spawned != 0) {
            r.err = "cannot start " + args[0];
            return r;
        }
        int status = 0;
        waitpid(pid, &status, 0);
        r.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        r.out = readFile(outFile);
        r.err = readFile(errFile);
        return r;
    }

    std::string dir_;
    std::string config_;
    int starts_ = 0;
    std::unique_ptr<Process> bus_;
    std::unique_ptr<Process> daemon_;
};

TEST_F(CtlBusTest, StatusAndCamerasShowBothCameras) {
    ASSERT_NO_FATAL_FAILURE(startDaemon());

    CtlResult status = ctl({"--user", "status"});
    ASSERT_EQ(status.code, 0) << status.err;
    EXPECT_EQ(status.err, "");
    EXPECT_THAT(status.out, HasSubstr("porchlightd 0.1.0"));
    EXPECT_THAT(status.out, HasSubstr("Camera: door (test)"));
    EXPECT_THAT(status.out, HasSubstr("Camera: garden (test)"));
    EXPECT_THAT(status.out, HasSubstr("Picture: 320x240, "));
    EXPECT_THAT(status.out, HasSubstr("Storage: "));
    EXPECT_THAT(status.out, HasSubstr("Retention: "));

    CtlResult cameras = ctl({"--user", "cameras"});
    ASSERT_EQ(cameras.code, 0) << cameras.err;
    EXPECT_THAT(cameras.out, HasSubstr("ID"));
    EXPECT_THAT(cameras.out, HasSubstr("door"));
    EXPECT_THAT(cameras.out, HasSubstr("garden"));
    EXPECT_THAT(cameras.out, HasSubstr("320x240"));

    CtlResult json = ctl({"--json", "--user", "cameras"});
    ASSERT_EQ(json.code, 0) << json.err;
    auto j = nlohmann::json::parse(json.out, nullptr, false);
    ASSERT_TRUE(j.is_array()) << json.out;
    ASSERT_EQ(j.size(), 2u);
    EXPECT_EQ(j[0]["id"], "door");
    EXPECT_EQ(j[1]["id"], "garden");
    for (const auto& c : j) {
        EXPECT_EQ(c["source"], "test");
        EXPECT_EQ(c["mode"], "continuous");
        EXPECT_EQ(c["state"], "streaming");
        EXPECT_EQ(c["width"], 320);
        EXPECT_EQ(c["height"], 240);
    }

    CtlResult statusJson = ctl({"--user", "--json", "status"});
    ASSERT_EQ(statusJson.code, 0) << statusJson.err;
    auto s = nlohmann::json::parse(statusJson.out, nullptr, false);
    ASSERT_TRUE(s.is_object()) << statusJson.out;
    EXPECT_EQ(s["daemon"]["version"], "0.1.0");
    EXPECT_EQ(s["daemon"]["cameras"], 2);
    EXPECT_EQ(s["cameras"].size(), 2u);
    EXPECT_TRUE(s["storage"]["free_bytes"].is_number());
}

TEST_F(CtlBusTest, RetentionSetShownAndKeptAcrossRestart) {
    ASSERT_NO_FATAL_FAILURE(startDaemon());

    CtlResult set = ctl({"--user", "retention", "door", "--days", "2"});
    ASSERT_EQ(set.code, 0) << set.err;
    EXPECT_THAT(set.out, HasSubstr("Max age: 2 days"));

    CtlResult show = ctl({"--user", "retention", "door"});
    ASSERT_EQ(show.code, 0) << show.err;
    EXPECT_THAT(show.out, HasSubstr("Max age: 2 days"));
    EXPECT_THAT(show.out, HasSubstr("Max size: no limit"));
    EXPECT_THAT(show.out, HasSubstr("Set by: owner"));

    CtlResult bytes = ctl({"--user", "retention", "door", "--bytes", "1GiB"});
    ASSERT_EQ(bytes.code, 0) << bytes.err;
    // Keys not given keep their value.
    EXPECT_THAT(bytes.out, HasSubstr("Max age: 2 days"));
    EXPECT_THAT(bytes.out, HasSubstr("Max size: 1.0 GiB"));

    CtlResult other = ctl({"--user", "retention", "garden"});
    ASSERT_EQ(other.code, 0) << other.err;
    EXPECT_THAT(other.out, HasSubstr("Max age: no limit"));

    stopDaemon();
    ASSERT_NO_FATAL_FAILURE(startDaemon());

    CtlResult after = ctl({"--user", "--json", "retention", "door"});
    ASSERT_EQ(after.code, 0) << after.err;
    auto j = nlohmann::json::parse(after.out, nullptr, false);
    ASSERT_TRUE(j.is_object()) << after.out;
    EXPECT_EQ(j["camera"], "door");
    EXPECT_EQ(j["max_days"], 2.0);
    EXPECT_EQ(j["max_bytes"], uint64_t{1} << 30);
    EXPECT_EQ(j["source"], "owner");

    // "none" takes the limit away again.
    CtlResult removed = ctl({"--user", "retention", "door", "--days", "none"});
    ASSERT_EQ(removed.code, 0) << removed.err;
    EXPECT_THAT(removed.out, HasSubstr("Max age: no limit"));
    EXPECT_THAT(removed.out, HasSubstr("Max size: 1.0 GiB"));
}

TEST_F(CtlBusTest, InvalidRetentionIsAUsageError) {
    CtlResult r = ctl({"--user", "retention", "door", "--days", "0"});
    EXPECT_EQ(r.code, 2);
    EXPECT_THAT(r.err, HasSubstr("invalid retention: days must be > 0"));
    EXPECT_EQ(r.out, "");
}

TEST_F(CtlBusTest, NoDaemonSaysHowToStartIt) {
    for (const auto& args : std::vector<std::vector<std::string>>{
             {"--user", "status"}, {"--user", "cameras"}, {"--user", "retention", "door"}}) {
        CtlResult r = ctl(args);
        EXPECT_EQ(r.code, 1) << args[1];
        EXPECT_EQ(r.err, "porchlightctl: porchlightd is not running (systemctl start porchlight)\n")
            << args[1];
        EXPECT_EQ(r.out, "");
    }
}

TEST_F(CtlBusTest, NoBusAtAllSaysTheSame) {
    const std::string address = "unix:path=" + dir_ + "/no-such-bus";
    setenv("DBUS_SESSION_BUS_ADDRESS", address.c_str(), 1);
    CtlResult r = ctl({"--user", "status"});
    EXPECT_EQ(r.code, 1);
    EXPECT_THAT(r.err, HasSubstr("porchlightd is not running (systemctl start porchlight)"));
}

TEST_F(CtlBusTest, UnknownCameraFailsWithTheServersMessage) {
    ASSERT_NO_FATAL_FAILURE(startDaemon());
    for (const auto& args :
         std::vector<std::vector<std::string>>{{"--user", "retention", "nosuch"},
                                               {"--user", "retention", "nosuch", "--days", "3"},
                                               {"--user", "ring", "nosuch"},
                                               {"--user", "recordings", "nosuch"}}) {
        CtlResult r = ctl(args);
        EXPECT_EQ(r.code, 1) << args[1];
        EXPECT_THAT(r.err, HasSubstr("nosuch")) << args[1];
        EXPECT_THAT(r.err, Not(HasSubstr("not running"))) << args[1];
        EXPECT_EQ(r.out, "");
    }
}

TEST_F(CtlBusTest, RingShowsAsTheLastRing) {
    ASSERT_NO_FATAL_FAILURE(startDaemon());
    CtlResult ring = ctl({"--user", "ring", "door"});
    ASSERT_EQ(ring.code, 0) << ring.err;

    // The property follows the press on the daemon's loop; give it a moment.
    nlohmann::json doorJson;
    const auto end = std::chrono::steady_clock::now() + 5s;
    while (std::chrono::steady_clock::now() < end) {
        CtlResult r = ctl({"--user", "--json", "cameras"});
        ASSERT_EQ(r.code, 0) << r.err;
        doorJson = nlohmann::json::parse(r.out, nullptr, false)[0];
        if (doorJson["last_ring_usec"].is_number())
            break;
        std::this_thread::sleep_for(100ms);
    }
    EXPECT_TRUE(doorJson["last_ring_usec"].is_number()) << doorJson.dump();
    // Shown under door with how long ago; garden has still never rung.
    CtlResult status = ctl({"--user", "status"});
    const size_t door = status.out.find("Camera: door");
    const size_t garden = status.out.find("Camera: garden");
    ASSERT_NE(door, std::string::npos) << status.out;
    ASSERT_NE(garden, std::string::npos) << status.out;
    const std::string doorPart = status.out.substr(door, garden - door);
    EXPECT_THAT(doorPart, Not(HasSubstr("Last ring: never"))) << status.out;
    EXPECT_THAT(doorPart, ContainsRegex("Last ring: [0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:]{8} \\("))
        << status.out;
    EXPECT_THAT(status.out.substr(garden), HasSubstr("Last ring: never"));
}

TEST_F(CtlBusTest, ListsAndReload) {
    ASSERT_NO_FATAL_FAILURE(startDaemon());
    CtlResult recordings = ctl({"--user", "recordings", "door", "--since", "1h"});
    EXPECT_EQ(recordings.code, 0) << recordings.err;
    CtlResult events = ctl({"--user", "--json", "events"});
    EXPECT_EQ(events.code, 0) << events.err;
    EXPECT_TRUE(nlohmann::json::parse(events.out, nullptr, false).is_array()) << events.out;

    CtlResult reload = ctl({"--user", "reload"});
    EXPECT_EQ(reload.code, 0) << reload.err;

    // A broken file: the daemon keeps its configuration and says where the error is.
    write("porchlight.toml", "[[camera]]\nid = \"Front Door\"\n");
    CtlResult broken = ctl({"--user", "reload"});
    EXPECT_EQ(broken.code, 1);
    EXPECT_THAT(broken.err, HasSubstr(config_));
    CtlResult still = ctl({"--user", "cameras"});
    EXPECT_THAT(still.out, HasSubstr("garden"));
}

}  // namespace
