// Crash torture: SIGKILL at seeded random moments across recording, segment
// rotation, retention deletion, first-run setup (porchlight-vault init and the
// web setup API) and passphrase changes. After every crash: start-up repair
// succeeds and quarantines nothing, the index and the files agree, every
// recording authenticates (porchlight-vault verify), each camera lost at most
// kMaxLossUs of video, the audit log chain verifies (porchlight-vault
// audit-verify) and the daemon starts again cleanly.
//
// TORTURE_CRASHES (default 20: the CI run) sets how many crashes;
// TORTURE_SEED replays a run (the seed is printed first, and with every
// failure). The full run is documented in docs/RELIABILITY.md:
//   TORTURE_CRASHES=200 build/tests/torture/crash_torture_test
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "http_post.h"
#include "index.h"
#include "keys.h"
#include "process.h"
#include "storage.h"

using namespace std::chrono_literals;
using porchlight::test::Process;
namespace fs = std::filesystem;
namespace storage = porchlight::storage;
namespace keys = porchlight::keys;

namespace {

const std::vector<std::string> kCameras = {"door", "yard"};
// What a crash may cost a camera: the fragment being collected (1 s), the
// frame held for its duration, pipeline latency and one write + fdatasync on
// a loaded machine. The same bound as tests/daemon/crash_test.cpp: "about
// two seconds", with room for a 2-core machine shared by other builds.
constexpr int64_t kMaxLossUs = 2'500'000;
// Frames are stamped with the wall clock as they leave the encoder, so no
// recording may end after the kill (beyond clock-read slack).
constexpr int64_t kAfterKillSlackUs = 300'000;

enum class Kind { Recording, Rotation, Retention, Passphrase, VaultInit, WebSetup };
const char* name(Kind k) {
    switch (k) {
        case Kind::Recording:
            return "recording";
        case Kind::Rotation:
            return "rotation";
        case Kind::Retention:
            return "retention";
        case Kind::Passphrase:
            return "passphrase";
        case Kind::VaultInit:
            return "vault-init";
        case Kind::WebSetup:
            return "web-setup";
    }
    return "?";
}

std::string env(const char* n, const char* fallback) {
    const char* v = std::getenv(n);
    return v && *v ? v : fallback;
}

bool contains(const std::string& s, const std::string& needle) {
    return s.find(needle) != std::string::npos;
}

int64_t wallUs() {
    return std::chrono::duration_cast<std::chrono::microseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

struct RunResult {
    int code = -1;
    std::string out;
};

RunResult run(const std::vector<std::string>& argv, const fs::path& log) {
    Process p(argv, log.string());
    RunResult r;
    if (!p.started())
        return r;
    auto code = p.wait(120s);
    r.code = code ? *code : -1;
    r.out = p.output();
    return r;
}

/// The value after \a key in \a text, up to the first of \a stops.
std::string after(const std::string& text, const std::string& key, const std::string& stops) {
    auto pos = text.find(key);
    if (pos == std::string::npos)
        return {};
    pos += key.size();
    return text.substr(pos, text.find_first_of(stops, pos) - pos);
}

int webPort(const std::string& log) {
    const std::string port = after(log, "(port ", ")");
    return port.empty() ? 0 : std::atoi(port.c_str());
}

std::vector<fs::path> tempKeyFiles(const fs::path& state) {
    std::vector<fs::path> out;
    std::error_code ec;
    for (auto it = fs::directory_iterator(state / "keys", ec);
         !ec && it != fs::directory_iterator(); it.increment(ec))
        if (it->path().filename().string().rfind(".owner.json.", 0) == 0)
            out.push_back(it->path());
    return out;
}

struct Loss {
    std::vector<double> seconds;
    void add(double s) { seconds.push_back(s); }
    double max() const {
        return seconds.empty() ? 0 : *std::max_element(seconds.begin(), seconds.end());
    }
    double mean() const {
        double sum = 0;
        for (double s : seconds)
            sum += s;
        return seconds.empty() ? 0 : sum / static_cast<double>(seconds.size());
    }
};

class CrashTorture : public ::testing::Test {
protected:
    void SetUp() override {
        std::string d = ::testing::TempDir() + "porchlight-torture-XXXXXX";
        ASSERT_NE(mkdtemp(d.data()), nullptr);
        dir_ = d;
        state_ = dir_ / "state";
        config_ = dir_ / "porchlight.toml";
        // Two cameras at 200 kbit/s (a 10 s segment is about 250 kB); size
        // limits of a few segments, so retention deletes about every 10 s;
        // the shortest segments allowed, so rotations are frequent.
        std::ofstream(config_) << "[[camera]]\nid = \"door\"\nsource = \"test\"\nwidth = 320\n"
                                  "height = 240\nframerate = 15\nbitrate = 200000\n"
                                  "retention = { max_bytes = \"1MiB\" }\n\n"
                                  "[[camera]]\nid = \"yard\"\nsource = \"test\"\nwidth = 320\n"
                                  "height = 240\nframerate = 15\nbitrate = 200000\n"
                                  "retention = { max_bytes = \"400KiB\" }\n\n"
                                  "[storage]\nsegment_seconds = 10\n\n"
                                  "[web]\nlisten = [\"http://127.0.0.1:0\"]\n";
        vault_ = env("PORCHLIGHT_VAULT", "porchlight-vault");
        daemon_ = env("PORCHLIGHTD", "porchlightd");
    }
    void TearDown() override {
        if (!HasFailure())
            fs::remove_all(dir_);
        else
            std::cerr << "kept for inspection: " << dir_ << "\n";
    }

    fs::path secretFile(const std::string& text) {
        const fs::path f = dir_ / ("secret-" + std::to_string(++secrets_));
        std::ofstream(f) << text << "\n";
        return f;
    }

    std::unique_ptr<Process> startDaemon(const fs::path& state, const std::string& tag) {
        const fs::path log =
            dir_ / ("porchlightd-" + std::to_string(++starts_) + "-" + tag + ".log");
        return std::make_unique<Process>(
            std::vector<std::string>{daemon_, "--config", config_.string(), "--state-dir",
                                     state.string()},
            log.string(), std::vector<std::string>{"PORCHLIGHT_LOG=info"});
    }

    /// The owner's tool, on the main state directory.
    RunResult vault(const std::vector<std::string>& args) {
        std::vector<std::string> argv = {vault_};
        argv.insert(argv.end(), args.begin(), args.end());
        return run(argv, dir_ / ("vault-" + std::to_string(++vaultRuns_) + ".log"));
    }

    /// Every check that must hold after a crash of the recording daemon.
    void checkRecordingState(int64_t runStartUs, int64_t killUs,
                             const std::map<std::string, int64_t>& streamingUs) {
        auto index = storage::Index::open(state_);
        ASSERT_TRUE(index) << index.error().message;
        // The repair porchlightd runs first thing at start-up.
        auto report = storage::reconcile(*index);
        ASSERT_TRUE(report) << report.error().message;
        EXPECT_EQ(report->quarantined, 0) << "a segment was moved to damaged/";
        repairs_ += report->trimmed + report->adopted + report->removedEmpty +
                    report->garbageFinished + report->closed + report->repaired;
        garbageFinished_ += report->garbageFinished;

        auto garbage = index->garbage();
        ASSERT_TRUE(garbage);
        EXPECT_TRUE(garbage->empty()) << "deletions left unfinished after repair";
        auto rows = index->segments("", INT64_MIN, INT64_MAX);
        ASSERT_TRUE(rows);
        std::set<std::string> indexed;
        std::map<std::string, int64_t> reached;
        for (const auto& r : *rows) {
            indexed.insert(r.path);
            EXPECT_NE(r.state, storage::SegmentState::Writing) << r.path << " still writing";
            const fs::path file = state_ / r.path;
            std::error_code ec;
            const auto size = fs::file_size(file, ec);
            EXPECT_FALSE(ec) << r.path << " is in the index but not on disk";
            EXPECT_EQ(size, r.bytes) << r.path << ": the index and the file disagree on its size";
            if (r.startUs >= runStartUs)
                reached[r.camera] = std::max(reached[r.camera], r.endUs);
        }
        std::error_code ec;
        for (auto it = fs::recursive_directory_iterator(state_ / "recordings", ec);
             !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
            if (!it->is_regular_file())
                continue;
            const std::string rel = fs::relative(it->path(), state_).string();
            EXPECT_TRUE(indexed.count(rel)) << rel << " is on disk but not in the index";
        }
        EXPECT_TRUE(fs::is_empty(state_ / "damaged", ec) || ec) << "something was quarantined";

        // How much each camera lost: from the end of its recording to the kill.
        for (const auto& camera : kCameras) {
            auto s = streamingUs.find(camera);
            ASSERT_NE(s, streamingUs.end());
            int64_t end = std::max(s->second, reached.count(camera) ? reached[camera] : INT64_MIN);
            const double lost = static_cast<double>(killUs - end) / 1e6;
            loss_[camera].add(std::max(0.0, lost));
            EXPECT_LE(killUs - end, kMaxLossUs) << camera << " lost " << lost << " s";
            if (reached.count(camera)) {
                EXPECT_LE(reached[camera], killUs + kAfterKillSlackUs)
                    << camera << ": a recording ends after the kill";
            }
        }
        // The owner's view: every chunk of every segment authenticates.
        auto verify = vault({"verify", "--state-dir", state_.string(), "--passphrase-file",
                             secretFile(passphrase_).string()});
        EXPECT_EQ(verify.code, 0) << verify.out;
        EXPECT_TRUE(contains(verify.out, "all sound")) << verify.out;
    }

    void crashRecording(Kind kind, std::mt19937_64& rng) {
        const int64_t runStartUs = wallUs();
        auto d = startDaemon(state_, name(kind));
        ASSERT_TRUE(d->started());
        std::map<std::string, int64_t> streamingUs;
        for (const auto& camera : kCameras) {
            ASSERT_TRUE(d->waitForOutput("camera: " + camera + ": streaming", 60s)) << d->output();
            streamingUs[camera] = wallUs();
        }
        ASSERT_TRUE(d->waitForOutput("web UI on", 10s)) << d->output();
        const std::string startLog = d->output();
        // The daemon started cleanly on what the last crash (and its repair) left.
        EXPECT_FALSE(contains(startLog, "moved to")) << startLog;
        EXPECT_FALSE(contains(startLog, "is damaged")) << startLog;
        EXPECT_TRUE(contains(startLog, "owner key present")) << startLog;
        // The audit log as the last crash left it (the daemon repaired a torn line at open).
        auto audit = vault({"audit-verify", "--state-dir", state_.string()});
        EXPECT_EQ(audit.code, 0) << audit.out;
        const int port = webPort(startLog);
        ASSERT_GT(port, 0) << startLog;

        // Logins all the while: each one appends to the audit log, so some
        // kills land in the middle of an audit write.
        std::atomic<bool> stop{false};
        std::atomic<int> logins{0};
        std::thread loginLoop([&] {
            while (!stop) {
                auto r = porchlight::test::httpPost(port, "/api/login",
                                                    "{\"passphrase\": \"" + passphrase_ + "\"}");
                if (r.status == 200)
                    ++logins;
                else if (r.status == 0)
                    std::this_thread::sleep_for(50ms);
            }
        });

        std::uniform_real_distribution<double> u01(0, 1);
        int64_t delayMs = 0;
        switch (kind) {
            case Kind::Recording:
                delayMs = static_cast<int64_t>(300 + u01(rng) * 8700);
                break;
            case Kind::Rotation:
                // segment_seconds = 10: the rotation is at the first keyframe after 10 s.
                delayMs = static_cast<int64_t>(9600 + u01(rng) * 1600);
                break;
            case Kind::Retention: {
                const int before = d->countOf("retention: deleting");
                if (!d->waitForOutput("retention: deleting", 25s, before + 1))
                    std::cout << "  (no deletion within 25 s; killed anyway)\n";
                delayMs = static_cast<int64_t>(u01(rng) * 40);
                break;
            }
            default:
                break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(delayMs));
        const int64_t killUs = wallUs();
        d->signal(SIGKILL);
        ASSERT_EQ(d->wait(10s), 128 + SIGKILL);
        stop = true;
        loginLoop.join();
        logins_ += logins;
        deletionsSeen_ += d->countOf("retention: deleting");
        checkRecordingState(runStartUs, killUs, streamingUs);
    }

    void crashPassphraseChange(std::mt19937_64& rng) {
        const std::string next = "torture passphrase " + std::to_string(++passphraseChanges_);
        std::uniform_int_distribution<int> delay(0, 1800);
        Process p(
            {vault_, "change-passphrase", "--state-dir", state_.string(), "--passphrase-file",
             secretFile(passphrase_).string(), "--new-passphrase-file", secretFile(next).string()},
            (dir_ / ("change-" + std::to_string(passphraseChanges_) + ".log")).string());
        ASSERT_TRUE(p.started());
        std::this_thread::sleep_for(std::chrono::milliseconds(delay(rng)));
        p.signal(SIGKILL);
        (void)p.wait(10s);
        // The key file was replaced atomically: exactly one of the two opens it.
        const bool oldOpens = keys::unlockWithPassphrase(state_, passphrase_).hasValue();
        const bool newOpens = keys::unlockWithPassphrase(state_, next).hasValue();
        EXPECT_NE(oldOpens, newOpens) << "old opens: " << oldOpens << ", new opens: " << newOpens;
        if (newOpens)
            passphrase_ = next;
        auto recovery = keys::unlockWithRecoveryKey(state_, recoveryKey_);
        EXPECT_TRUE(recovery) << recovery.error().message;
        // A kill between creating the temporary file and renaming it leaves it
        // behind: harmless (never read), counted for the report.
        strayKeyFiles_ += static_cast<int>(tempKeyFiles(state_).size());
        for (const auto& f : tempKeyFiles(state_))
            fs::remove(f);
    }

    void crashVaultInit(std::mt19937_64& rng) {
        const fs::path scratch = dir_ / ("init-" + std::to_string(++scratches_));
        std::uniform_int_distribution<int> delay(0, 1500);
        const std::string pass = "fresh owner passphrase";
        const fs::path passFile = secretFile(pass);
        Process p({vault_, "init", "--state-dir", scratch.string(), "--passphrase-file",
                   passFile.string()},
                  (dir_ / ("init-" + std::to_string(scratches_) + ".log")).string());
        ASSERT_TRUE(p.started());
        std::this_thread::sleep_for(std::chrono::milliseconds(delay(rng)));
        p.signal(SIGKILL);
        (void)p.wait(10s);
        if (keys::ownerExists(scratch)) {
            auto k = keys::unlockWithPassphrase(scratch, pass);
            EXPECT_TRUE(k) << "a half-made owner key: " << k.error().message;
        } else {
            // Nothing was made: setup can simply be done again.
            auto again = run({vault_, "init", "--state-dir", scratch.string(), "--passphrase-file",
                              passFile.string()},
                             dir_ / ("init-again-" + std::to_string(scratches_) + ".log"));
            EXPECT_EQ(again.code, 0) << again.out;
        }
        strayKeyFiles_ += static_cast<int>(tempKeyFiles(scratch).size());
        fs::remove_all(scratch);
    }

    void crashWebSetup(std::mt19937_64& rng) {
        const fs::path scratch = dir_ / ("setup-" + std::to_string(++scratches_));
        const std::string pass = "web setup passphrase";
        {
            auto d = startDaemon(scratch, "setup");
            ASSERT_TRUE(d->started());
            ASSERT_TRUE(d->waitForOutput("setup code: ", 60s)) << d->output();
            ASSERT_TRUE(d->waitForOutput("web UI on", 10s)) << d->output();
            const std::string log = d->output();
            const std::string code = after(log, "setup code: ", " ");
            const int port = webPort(log);
            ASSERT_GT(port, 0) << log;
            std::thread setup([&] {
                (void)porchlight::test::httpPost(port, "/api/setup",
                                                 "{\"code\": \"" + code + "\", \"passphrase\": \"" +
                                                     pass + "\", \"confirm\": \"" + pass + "\"}");
            });
            std::uniform_int_distribution<int> delay(0, 1500);
            std::this_thread::sleep_for(std::chrono::milliseconds(delay(rng)));
            d->signal(SIGKILL);
            EXPECT_EQ(d->wait(10s), 128 + SIGKILL);
            setup.join();
        }
        const bool owner = keys::ownerExists(scratch);
        if (owner) {
            auto k = keys::unlockWithPassphrase(scratch, pass);
            EXPECT_TRUE(k) << "a half-made owner key: " << k.error().message;
        }
        strayKeyFiles_ += static_cast<int>(tempKeyFiles(scratch).size());
        auto audit = run({vault_, "audit-verify", "--state-dir", scratch.string()},
                         dir_ / ("setup-audit-" + std::to_string(scratches_) + ".log"));
        EXPECT_EQ(audit.code, 0) << audit.out;

        // It starts again cleanly, and setup can be finished if it was not.
        auto d = startDaemon(scratch, "after-setup");
        ASSERT_TRUE(d->started());
        ASSERT_TRUE(d->waitForOutput("web UI on", 60s)) << d->output();
        if (owner) {
            EXPECT_TRUE(d->waitForOutput("owner key present", 10s)) << d->output();
        } else {
            const std::string log = d->output();
            const std::string code = after(log, "setup code: ", " ");
            auto r = porchlight::test::httpPost(webPort(log), "/api/setup",
                                                "{\"code\": \"" + code + "\", \"passphrase\": \"" +
                                                    pass + "\", \"confirm\": \"" + pass + "\"}");
            EXPECT_EQ(r.status, 200) << r.body;
        }
        d->signal(SIGTERM);
        EXPECT_EQ(d->wait(30s), 0) << d->output();
        fs::remove_all(scratch);
    }

    fs::path dir_, state_, config_;
    std::string vault_, daemon_;
    std::string passphrase_ = "torture passphrase 0";
    std::string recoveryKey_;
    int starts_ = 0, vaultRuns_ = 0, secrets_ = 0, scratches_ = 0, passphraseChanges_ = 0;
    int strayKeyFiles_ = 0;
    int logins_ = 0, repairs_ = 0, garbageFinished_ = 0, deletionsSeen_ = 0;
    std::map<std::string, Loss> loss_;
};

TEST_F(CrashTorture, SurvivesRandomKills) {
    const int crashes = std::atoi(env("TORTURE_CRASHES", "20").c_str());
    uint64_t seed = std::random_device{}();
    if (const char* s = std::getenv("TORTURE_SEED"); s && *s)
        seed = std::strtoull(s, nullptr, 10);
    std::cout << "crash torture: " << crashes << " crashes, TORTURE_SEED=" << seed << "\n";
    std::mt19937_64 rng(seed);
    const auto began = std::chrono::steady_clock::now();

    // The owner, made by the offline tool (whose recovery key is kept).
    auto init = vault({"init", "--state-dir", state_.string(), "--passphrase-file",
                       secretFile(passphrase_).string()});
    ASSERT_EQ(init.code, 0) << init.out;
    recoveryKey_ = after(init.out, "\n    ", "\n");
    ASSERT_FALSE(recoveryKey_.empty()) << init.out;

    // Every kind at least once early (so even a short run covers them all),
    // then a mix weighted towards the daemon.
    std::vector<Kind> first = {Kind::Recording,  Kind::Rotation,  Kind::Retention,
                               Kind::Passphrase, Kind::VaultInit, Kind::WebSetup};
    std::shuffle(first.begin(), first.end(), rng);
    std::map<Kind, int> counts;
    for (int i = 0; i < crashes; ++i) {
        Kind kind;
        if (static_cast<size_t>(i) < first.size()) {
            kind = first[static_cast<size_t>(i)];
        } else {
            const int roll = std::uniform_int_distribution<int>(0, 99)(rng);
            kind = roll < 30   ? Kind::Recording
                   : roll < 55 ? Kind::Rotation
                   : roll < 80 ? Kind::Retention
                   : roll < 90 ? Kind::Passphrase
                   : roll < 95 ? Kind::VaultInit
                               : Kind::WebSetup;
        }
        ++counts[kind];
        const std::string what = "TORTURE_SEED=" + std::to_string(seed) + " crash " +
                                 std::to_string(i + 1) + " (" + name(kind) + ")";
        SCOPED_TRACE(what);
        std::cout << what << "\n" << std::flush;
        switch (kind) {
            case Kind::Recording:
            case Kind::Rotation:
            case Kind::Retention:
                crashRecording(kind, rng);
                break;
            case Kind::Passphrase:
                crashPassphraseChange(rng);
                break;
            case Kind::VaultInit:
                crashVaultInit(rng);
                break;
            case Kind::WebSetup:
                crashWebSetup(rng);
                break;
        }
        if (HasFatalFailure() || (HasFailure() && std::getenv("TORTURE_KEEP_GOING") == nullptr))
            break;
    }

    // A last, orderly run on what the crashes left: it starts, records, stops cleanly.
    auto d = startDaemon(state_, "final");
    ASSERT_TRUE(d->started());
    for (const auto& camera : kCameras)
        ASSERT_TRUE(d->waitForOutput("camera: " + camera + ": streaming", 60s)) << d->output();
    std::this_thread::sleep_for(2s);
    d->signal(SIGTERM);
    EXPECT_EQ(d->wait(30s), 0) << d->output();
    auto verify = vault({"verify", "--state-dir", state_.string(), "--passphrase-file",
                         secretFile(passphrase_).string()});
    EXPECT_EQ(verify.code, 0) << verify.out;
    auto audit = vault({"audit-verify", "--state-dir", state_.string()});
    EXPECT_EQ(audit.code, 0) << audit.out;

    const double minutes =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count() / 60;
    std::cout << "\ncrash torture summary (TORTURE_SEED=" << seed << ", " << minutes << " min):\n";
    for (const auto& [k, n] : counts)
        std::cout << "  " << name(k) << ": " << n << " crash(es)\n";
    for (const auto& [camera, l] : loss_)
        std::cout << "  video lost per crash, " << camera << ": max " << l.max() << " s, mean "
                  << l.mean() << " s over " << l.seconds.size() << " crashes\n";
    std::cout << "  repairs at start-up: " << repairs_ << " (" << garbageFinished_
              << " interrupted deletions finished); retention deletions seen: " << deletionsSeen_
              << "; audited logins: " << logins_
              << "; stray temporary key files: " << strayKeyFiles_
              << "; passphrase: " << passphrase_ << "\n";
    std::cout << "  " << verify.out << "  " << audit.out;
}

}  // namespace
