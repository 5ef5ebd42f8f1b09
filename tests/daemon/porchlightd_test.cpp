// porchlightd as a whole process: command line, config checking, SIGTERM
// finishing the recording branch, SIGHUP touching only what changed.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "process.h"

using namespace std::chrono_literals;
using porchlight::test::Process;

namespace {

std::string daemonPath() {
    const char* p = std::getenv("PORCHLIGHTD");
    return p ? p : "porchlightd";
}

class PorchlightdTest : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = ::testing::TempDir() + "porchlightd-XXXXXX";
        ASSERT_NE(mkdtemp(dir_.data()), nullptr);
    }
    void TearDown() override { std::filesystem::remove_all(dir_); }

    std::string write(const std::string& name, const std::string& text) {
        std::string path = dir_ + "/" + name;
        std::filesystem::create_directories(std::filesystem::path(path).parent_path());
        // Tests serve only on loopback, on a port of their own (0: any free one).
        std::ofstream(path) << text << "\n[web]\nlisten = [\"http://127.0.0.1:0\"]\n";
        return path;
    }
    std::unique_ptr<Process> run(std::vector<std::string> args, const std::string& log = "log") {
        args.insert(args.begin(), daemonPath());
        // Levels fixed here so that a developer's PORCHLIGHT_LOG cannot change what we read.
        return std::make_unique<Process>(args, dir_ + "/" + log,
                                         std::vector<std::string>{"PORCHLIGHT_LOG=info"});
    }
    static std::string camera(const std::string& id, const std::string& pattern = "smpte") {
        return "[[camera]]\nid = \"" + id +
               "\"\nsource = \"test\"\nwidth = 320\nheight = 240\nframerate = 10\npattern = \"" +
               pattern + "\"\n\n";
    }

    std::string dir_;
};

TEST_F(PorchlightdTest, VersionHelpAndBadArguments) {
    auto v = run({"--version"});
    ASSERT_EQ(v->wait(10s), 0);
    EXPECT_EQ(v->output(), "porchlightd 0.1.0\n");

    auto h = run({"--help"}, "help");
    ASSERT_EQ(h->wait(10s), 0);
    EXPECT_NE(h->output().find("Usage: porchlightd [--config FILE]"), std::string::npos);
    EXPECT_NE(h->output().find("--check-config"), std::string::npos);

    auto bad = run({"--frobnicate"}, "bad");
    ASSERT_EQ(bad->wait(10s), 2);
    EXPECT_NE(bad->output().find("unknown argument \"--frobnicate\""), std::string::npos);

    auto bus = run({"--bus", "tram"}, "bus");
    ASSERT_EQ(bus->wait(10s), 2);
    EXPECT_NE(bus->output().find("--bus must be \"system\" or \"session\""), std::string::npos);
}

TEST_F(PorchlightdTest, CheckConfigSaysValidOrPointsAtTheLine) {
    std::string good = write("good.toml", camera("door"));
    auto ok = run({"--check-config", "--config", good});
    ASSERT_EQ(ok->wait(10s), 0);
    EXPECT_NE(ok->output().find("configuration is valid: 1 camera(s)"), std::string::npos);

    std::string broken = write("broken.toml", camera("door") + "[storage]\nsegment_seconds = 1\n");
    auto bad = run({"--check-config", "--config", broken}, "bad");
    ASSERT_EQ(bad->wait(10s), 2);
    EXPECT_NE(bad->output().find(broken + ":10:"), std::string::npos) << bad->output();
}

TEST_F(PorchlightdTest, BadConfigAtStartExitsTwoWithTheLine) {
    std::string broken = write("broken.toml", "[[camera]]\nid = \"Front Door\"\n");
    auto d = run({"--config", broken, "--state-dir", dir_ + "/state"});
    ASSERT_EQ(d->wait(10s), 2);
    EXPECT_NE(d->output().find(broken + ":2:"), std::string::npos) << d->output();
}

TEST_F(PorchlightdTest, NoCameraConfiguredRunsTheDemoCamera) {
    std::string empty = write("empty.toml", "");
    auto d = run({"--config", empty, "--state-dir", dir_ + "/state"});
    ASSERT_TRUE(d->waitForOutput("camera: demo: streaming", 20s)) << d->output();
    EXPECT_NE(d->output().find("the demo camera (a test pattern) is in use"), std::string::npos);
    d->signal(SIGTERM);
    EXPECT_EQ(d->wait(10s), 0);
}

TEST_F(PorchlightdTest, SigtermFinishesTheRecordingBranchAndExitsZero) {
    std::string config = write("p.toml", camera("door"));
    auto d = run({"--config", config, "--state-dir", dir_ + "/state"});
    ASSERT_TRUE(d->waitForOutput("camera: door: streaming", 20s)) << d->output();
    const auto sent = std::chrono::steady_clock::now();
    d->signal(SIGTERM);
    auto code = d->wait(10s);
    ASSERT_TRUE(code.has_value()) << "still running 10 s after SIGTERM";
    EXPECT_EQ(*code, 0);
    // Generous: the promise is 5 s; this catches a hang, not a slow machine.
    EXPECT_LT(std::chrono::steady_clock::now() - sent, 6s);
    EXPECT_NE(d->output().find("door: recording branch flushed after"), std::string::npos)
        << d->output();
    EXPECT_TRUE(std::filesystem::is_directory(dir_ + "/state"));
}

TEST_F(PorchlightdTest, SighupRestartsOnlyWhatChanged) {
    std::string config = write("p.toml", camera("a") + camera("b") + camera("c"));
    auto d = run({"--config", config, "--state-dir", dir_ + "/state"});
    ASSERT_TRUE(d->waitForOutput("camera: a: streaming", 20s));
    ASSERT_TRUE(d->waitForOutput("camera: b: streaming", 20s));
    ASSERT_TRUE(d->waitForOutput("camera: c: streaming", 20s));

    // b changes, c goes, n is new, a stays as it was.
    write("p.toml", camera("a") + camera("b", "ball") + camera("n"));
    d->signal(SIGHUP);
    ASSERT_TRUE(d->waitForOutput("camera: b: streaming", 20s, 2)) << d->output();
    ASSERT_TRUE(d->waitForOutput("camera: n: streaming", 20s)) << d->output();
    ASSERT_TRUE(d->waitForOutput("camera c: removed from the configuration", 5s));
    EXPECT_NE(d->output().find("camera b: settings changed, restarting it"), std::string::npos);
    EXPECT_EQ(d->countOf("camera: a: starting"), 1) << "an unchanged camera was restarted";
    EXPECT_EQ(d->countOf("camera: c: starting"), 1);
    EXPECT_EQ(d->countOf("c: recording branch flushed"), 1);

    // A broken file on reload: logged with its line, and nothing touched.
    write("p.toml", camera("a") + "[[camera]]\nid = \"b\"\nsource = \"tape\"\n");
    d->signal(SIGHUP);
    ASSERT_TRUE(d->waitForOutput("still running on the previous one", 10s)) << d->output();
    EXPECT_NE(d->output().find(config + ":11:10:"), std::string::npos) << d->output();
    EXPECT_EQ(d->countOf("camera: b: starting"), 2);
    EXPECT_EQ(d->countOf("camera: n: starting"), 1);
    // Still the one setup code it printed at start (setup would refuse any other).
    EXPECT_EQ(d->countOf("setup code: "), 1);

    d->signal(SIGTERM);
    EXPECT_EQ(d->wait(10s), 0);
}

}  // namespace
