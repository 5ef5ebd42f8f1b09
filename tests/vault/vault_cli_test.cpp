// porchlight-vault as the owner uses it, through the real binaries: init an
// owner, let porchlightd record a real test-pattern camera into the same state
// directory, then verify, export (checked with ffprobe), change the
// passphrase, detect tampering, refuse bad usage, and show that a stolen copy
// of the state directory holds no video in the clear.
#include <gtest/gtest.h>
#include <signal.h>
#include <sodium.h>
#include <spawn.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "index_rows.h"
#include "keys.h"
#include "process.h"
#include "segment_file.h"

using namespace std::chrono_literals;
using porchlight::test::Process;
namespace fs = std::filesystem;

extern char** environ;

namespace {

constexpr const char* kPassphrase = "correct horse battery staple";
constexpr const char* kCamera = "door";
constexpr double kFramerate = 15;
// How long the shared recording runs once the camera streams: more than two
// 10 s segments, so that there are at least three and two boundaries.
constexpr auto kRecordFor = 23s;

std::string env(const char* name, const char* fallback) {
    const char* v = std::getenv(name);
    return v && *v ? v : fallback;
}
std::string vaultPath() {
    return env("PORCHLIGHT_VAULT", "porchlight-vault");
}
std::string daemonPath() {
    return env("PORCHLIGHTD", "porchlightd");
}
std::string ffprobePath() {
    return env("FFPROBE", "");
}

std::string readAll(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}
void writeAll(const fs::path& p, const std::string& text) {
    std::ofstream(p, std::ios::binary | std::ios::trunc) << text;
}
bool contains(const std::string& haystack, const std::string& needle) {
    return haystack.find(needle) != std::string::npos;
}

struct RunResult {
    int code = -1;  // exit code, 128 + signal, or -1 if it did not finish in time
    std::string out;
    std::string err;
};

/// Runs \a argv (argv[0] a path) to completion, stdout and stderr apart.
RunResult run(const std::vector<std::string>& argv, const fs::path& scratch,
              std::chrono::seconds deadline = 60s) {
    static int counter = 0;
    const std::string base = (scratch / ("run-" + std::to_string(++counter))).string();
    const std::string outFile = base + ".out", errFile = base + ".err";
    std::vector<char*> args;
    for (const auto& a : argv)
        args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 1, outFile.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                     0600);
    posix_spawn_file_actions_addopen(&actions, 2, errFile.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                     0600);
    pid_t pid = -1;
    RunResult r;
    const int spawned = posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (spawned != 0) {
        r.err = "cannot start " + argv[0] + ": " + std::strerror(spawned);
        return r;
    }
    const auto end = std::chrono::steady_clock::now() + deadline;
    for (;;) {
        int st = 0;
        if (::waitpid(pid, &st, WNOHANG) == pid) {
            r.code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
            break;
        }
        if (std::chrono::steady_clock::now() > end) {
            ::kill(pid, SIGKILL);
            ::waitpid(pid, &st, 0);
            break;
        }
        std::this_thread::sleep_for(10ms);
    }
    r.out = readAll(outFile);
    r.err = readAll(errFile);
    fs::remove(outFile);
    fs::remove(errFile);
    return r;
}

std::string describe(const RunResult& r) {
    return "exit " + std::to_string(r.code) + "\n--- stdout:\n" + r.out + "--- stderr:\n" + r.err;
}

using Row = porchlight::test::IndexRow;

/// What ffprobe says about a file's video stream (decoding every frame).
struct Probe {
    int code = -1;
    std::string codec;
    long frames = -1;      // frames actually decoded
    long declared = -1;    // frames the container lists
    double duration = -1;  // the container's duration, s
    std::string raw;
};

Probe probe(const fs::path& file, const fs::path& scratch) {
    Probe p;
    auto r = run({ffprobePath(), "-v", "error", "-count_frames", "-select_streams", "v:0",
                  "-show_entries", "stream=codec_name,nb_frames,nb_read_frames:format=duration",
                  "-of", "default=noprint_wrappers=1", file.string()},
                 scratch);
    p.code = r.code;
    p.raw = describe(r);
    std::istringstream in(r.out);
    std::string line;
    while (std::getline(in, line)) {
        auto eq = line.find('=');
        if (eq == std::string::npos)
            continue;
        const std::string k = line.substr(0, eq), v = line.substr(eq + 1);
        if (k == "codec_name")
            p.codec = v;
        else if (k == "nb_read_frames")
            p.frames = std::atol(v.c_str());
        else if (k == "nb_frames")
            p.declared = std::atol(v.c_str());
        else if (k == "duration")
            p.duration = std::atof(v.c_str());
    }
    return p;
}

/// The top-level MP4 boxes of a file, in order.
std::vector<std::string> topLevelBoxes(const std::string& data) {
    std::vector<std::string> boxes;
    size_t at = 0;
    while (at + 8 <= data.size()) {
        auto u8 = [&](size_t i) { return static_cast<uint64_t>(static_cast<uint8_t>(data[i])); };
        uint64_t size = u8(at) << 24 | u8(at + 1) << 16 | u8(at + 2) << 8 | u8(at + 3);
        boxes.push_back(data.substr(at + 4, 4));
        if (size == 1 && at + 16 <= data.size()) {
            size = 0;
            for (size_t i = 0; i < 8; ++i)
                size = size << 8 | u8(at + 8 + i);
        } else if (size == 0) {
            size = data.size() - at;
        }
        if (size < 8) {
            boxes.push_back("<bad size>");
            break;
        }
        at += size;
    }
    if (at != data.size())
        boxes.push_back("<trailing bytes>");
    return boxes;
}

uint32_t le32(const std::string& d, size_t at) {
    uint32_t v = 0;
    for (int i = 3; i >= 0; --i)
        v = v << 8 | static_cast<uint8_t>(d[at + static_cast<size_t>(i)]);
    return v;
}

/// Record start offsets of a segment file (docs/ref/format.md, 5.1 and 5.3).
std::vector<size_t> recordOffsets(const std::string& d) {
    std::vector<size_t> offsets;
    if (d.size() < 12)
        return offsets;
    size_t at = static_cast<uint8_t>(d[10]) | static_cast<size_t>(static_cast<uint8_t>(d[11])) << 8;
    while (at + 13 <= d.size()) {
        offsets.push_back(at);
        at += le32(d, at) + 29;
    }
    return offsets;
}

/// Seconds since the epoch as ISO 8601, in UTC ("Z") or at \a offsetMinutes east.
std::string iso(int64_t seconds, int offsetMinutes, bool zulu) {
    time_t t = static_cast<time_t>(seconds + offsetMinutes * 60);
    struct tm tm {};
    gmtime_r(&t, &tm);
    char buf[64];
    strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
    std::string s = buf;
    if (zulu)
        return s + "Z";
    char zone[16];
    const int m = std::abs(offsetMinutes);
    std::snprintf(zone, sizeof zone, "%c%02d:%02d", offsetMinutes < 0 ? '-' : '+', m / 60, m % 60);
    return s + zone;
}

std::string at(int64_t seconds) {
    return "@" + std::to_string(seconds);
}

class VaultCliTest : public ::testing::Test {
protected:
    // The shared fixture: one owner, one recording of about 23 s.
    static inline std::string problem_;  // why the fixture is unusable, if it is
    static inline fs::path dir_;
    static inline fs::path state_;
    static inline fs::path passFile_;
    static inline fs::path recoveryFile_;
    static inline std::string recoveryKey_;
    static inline std::string initOutput_;
    static inline std::string ownerJson_;
    static inline std::string daemonLog_;
    static inline std::vector<Row> rows_;
    static inline double wallSeconds_ = 0;  // "streaming" seen to SIGTERM sent

    static void SetUpTestSuite() {
        std::string d = ::testing::TempDir() + "vault-cli-XXXXXX";
        if (!mkdtemp(d.data())) {
            problem_ = "mkdtemp failed";
            return;
        }
        dir_ = d;
        state_ = dir_ / "state";
        passFile_ = dir_ / "passphrase";
        recoveryFile_ = dir_ / "recovery-key";
        writeAll(passFile_, std::string(kPassphrase) + "\n");

        auto init = run({vaultPath(), "init", "--state-dir", state_.string(), "--passphrase-file",
                         passFile_.string()},
                        dir_);
        initOutput_ = init.out;
        if (init.code != 0) {
            problem_ = "porchlight-vault init failed: " + describe(init);
            return;
        }
        std::smatch m;
        static const std::regex key("[A-Z2-7]{6}(-[A-Z2-7]{6}){8}");
        if (!std::regex_search(initOutput_, m, key)) {
            problem_ = "init printed no recovery key: " + initOutput_;
            return;
        }
        recoveryKey_ = m.str();
        writeAll(recoveryFile_, recoveryKey_ + "\n");
        ownerJson_ = readAll(state_ / "keys" / "owner.json");

        const fs::path config = dir_ / "porchlight.toml";
        writeAll(config, std::string("[[camera]]\nid = \"") + kCamera +
                             "\"\nsource = \"test\"\nwidth = 320\nheight = 240\n"
                             "framerate = 15\n\n[storage]\nsegment_seconds = 10\n"
                             "\n[web]\nlisten = [\"http://127.0.0.1:0\"]\n");
        Process daemon({daemonPath(), "--config", config.string(), "--state-dir", state_.string()},
                       (dir_ / "porchlightd.log").string(), {"PORCHLIGHT_LOG=info"});
        if (!daemon.started()) {  // never signal an unstarted Process: its pid is -1
            problem_ = "cannot start " + daemonPath();
            return;
        }
        if (!daemon.waitForOutput(std::string("camera: ") + kCamera + ": streaming", 30s)) {
            problem_ = "porchlightd did not stream: " + daemon.output();
            return;
        }
        const auto streaming = std::chrono::steady_clock::now();
        std::this_thread::sleep_for(kRecordFor);
        wallSeconds_ =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - streaming).count();
        daemon.signal(SIGTERM);
        auto code = daemon.wait(15s);
        daemonLog_ = daemon.output();
        if (code != 0) {
            problem_ = "porchlightd did not exit 0 after SIGTERM (" +
                       (code ? std::to_string(*code) : std::string("still running")) +
                       "): " + daemonLog_;
            return;
        }
        std::string error;
        rows_ = porchlight::test::readIndex(state_, kCamera, error);
        if (!error.empty())
            problem_ = error;
        else if (rows_.size() < 2)
            problem_ = "expected at least 2 segments from " + std::to_string(kRecordFor.count()) +
                       " s at 10 s each, the index has " + std::to_string(rows_.size());
    }
    static void TearDownTestSuite() {
        if (!dir_.empty())
            fs::remove_all(dir_);
    }

    void SetUp() override {
        ASSERT_TRUE(problem_.empty()) << problem_;
        scratch_ = dir_ / ::testing::UnitTest::GetInstance()->current_test_info()->name();
        fs::create_directories(scratch_);
    }
    void TearDown() override { fs::remove_all(scratch_); }

    RunResult vault(std::vector<std::string> args, const fs::path& state = {}) {
        args.insert(args.begin(), vaultPath());
        if (!state.empty()) {
            args.push_back("--state-dir");
            args.push_back(state.string());
        }
        return run(args, scratch_);
    }
    RunResult exportRange(const std::string& from, const std::string& to, const fs::path& out,
                          const fs::path& state = state_) {
        return vault({"export", "--camera", kCamera, "--from", from, "--to", to, "--out",
                      out.string(), "--passphrase-file", passFile_.string()},
                     state);
    }
    /// A copy of the recorded state directory, for tests that change it.
    fs::path copyOfState() {
        const fs::path copy = scratch_ / "state-copy";
        fs::copy(state_, copy, fs::copy_options::recursive);
        return copy;
    }
    /// Skip (not fail) the MP4 checks where ffprobe is missing.
    bool haveFfprobe() const { return !ffprobePath().empty(); }

    static int64_t firstStartS() { return rows_.front().startUs / 1'000'000; }
    static double recordedSeconds() {
        return static_cast<double>(rows_.back().endUs - rows_.front().startUs) / 1e6;
    }

    fs::path scratch_;
};

#define REQUIRE_FFPROBE()                                           \
    do {                                                            \
        if (!haveFfprobe())                                         \
            GTEST_SKIP() << "FFPROBE is not set: no ffprobe found"; \
    } while (0)

TEST_F(VaultCliTest, InitCreatesTheOwnerAndShowsTheRecoveryKeyOnce) {
    // The fixture's init: the key file, and a recovery key of 9 groups of 6.
    ASSERT_TRUE(fs::is_regular_file(state_ / "keys" / "owner.json"));
    EXPECT_EQ(fs::status(state_ / "keys" / "owner.json").permissions() & fs::perms::all,
              fs::perms::owner_read | fs::perms::owner_write);
    EXPECT_EQ(fs::status(state_ / "keys").permissions() & fs::perms::all, fs::perms::owner_all);
    EXPECT_TRUE(
        std::regex_search(initOutput_, std::regex("\\n\\s*[A-Z2-7]{6}(-[A-Z2-7]{6}){8}\\s*\\n")))
        << initOutput_;
    // Shown once: never stored, never logged; nor is the passphrase.
    const std::string compact = std::regex_replace(recoveryKey_, std::regex("-"), "");
    for (const auto& entry : fs::recursive_directory_iterator(state_)) {
        if (!entry.is_regular_file())
            continue;
        const std::string content = readAll(entry.path());
        EXPECT_FALSE(contains(content, recoveryKey_)) << entry.path();
        EXPECT_FALSE(contains(content, compact)) << entry.path();
        EXPECT_FALSE(contains(content, kPassphrase)) << entry.path();
    }
    EXPECT_FALSE(contains(daemonLog_, recoveryKey_));

    // A second init is refused, clearly, and leaves the key file alone.
    auto again = vault({"init", "--passphrase-file", passFile_.string()}, state_);
    EXPECT_EQ(again.code, 1) << describe(again);
    EXPECT_TRUE(contains(again.err, "already exists")) << describe(again);
    EXPECT_EQ(readAll(state_ / "keys" / "owner.json"), ownerJson_);

    // A too-short passphrase is refused, and nothing is created.
    const fs::path shortFile = scratch_ / "short";
    writeAll(shortFile, "short\n");
    const fs::path fresh = scratch_ / "fresh";
    auto weak = vault({"init", "--passphrase-file", shortFile.string()}, fresh);
    EXPECT_EQ(weak.code, 1) << describe(weak);
    EXPECT_TRUE(contains(weak.err, "at least")) << describe(weak);
    EXPECT_FALSE(fs::exists(fresh / "keys" / "owner.json"));

    // A fresh directory with a good passphrase: a different recovery key each time.
    auto ok = vault({"init", "--passphrase-file", passFile_.string()}, fresh);
    EXPECT_EQ(ok.code, 0) << describe(ok);
    EXPECT_TRUE(fs::is_regular_file(fresh / "keys" / "owner.json"));
    EXPECT_FALSE(contains(ok.out, recoveryKey_));
}

TEST_F(VaultCliTest, TheRecordingFillsTheTimeItRan) {
    // Sanity of the fixture itself, so that the export checks below mean something.
    for (size_t i = 0; i < rows_.size(); ++i) {
        SCOPED_TRACE(rows_[i].path);
        EXPECT_EQ(rows_[i].state, 1) << "SIGTERM should close every segment cleanly";
        EXPECT_EQ(rows_[i].sequence, i + 1);
        if (i + 1 < rows_.size()) {
            // A segment closes at the first keyframe at or after segment_seconds
            // (keyframes come every 2 s by default).
            const double length = static_cast<double>(rows_[i].endUs - rows_[i].startUs) / 1e6;
            EXPECT_GE(length, 9.9);
            EXPECT_LE(length, 12.1);
            // Back to back: each segment starts where the one before ended.
            EXPECT_NEAR(static_cast<double>(rows_[i + 1].startUs - rows_[i].endUs) / 1e6, 0.0, 0.1);
        }
    }
    // From the first recorded frame to SIGTERM (every frame is flushed on SIGTERM).
    std::cout << "recorded " << recordedSeconds() << " s in " << rows_.size() << " segments; "
              << wallSeconds_ << " s from \"streaming\" to SIGTERM\n";
    EXPECT_NEAR(recordedSeconds(), wallSeconds_, 1.0) << daemonLog_;
}

TEST_F(VaultCliTest, VerifyWithThePassphraseOrTheRecoveryKey) {
    auto pass = vault({"verify", "--passphrase-file", passFile_.string()}, state_);
    EXPECT_EQ(pass.code, 0) << describe(pass);
    EXPECT_TRUE(contains(pass.out, "all sound")) << describe(pass);
    EXPECT_TRUE(contains(pass.out, std::to_string(rows_.size()) + " segment(s)")) << describe(pass);

    auto recovery = vault({"verify", "--recovery-key-file", recoveryFile_.string()}, state_);
    EXPECT_EQ(recovery.code, 0) << describe(recovery);
    EXPECT_TRUE(contains(recovery.out, "all sound")) << describe(recovery);

    // The recovery key as a person might type it: lower case, spaces for dashes.
    std::string typed = std::regex_replace(recoveryKey_, std::regex("-"), " ");
    for (auto& c : typed)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    const fs::path typedFile = scratch_ / "typed";
    writeAll(typedFile, typed + "\n");
    auto sloppy = vault({"verify", "--recovery-key-file", typedFile.string()}, state_);
    EXPECT_EQ(sloppy.code, 0) << describe(sloppy);
}

TEST_F(VaultCliTest, AWrongPassphraseExportsNothing) {
    const fs::path wrong = scratch_ / "wrong";
    writeAll(wrong, "not the passphrase at all\n");
    auto v = vault({"verify", "--passphrase-file", wrong.string()}, state_);
    EXPECT_EQ(v.code, 1) << describe(v);
    EXPECT_TRUE(contains(v.err, "wrong passphrase")) << describe(v);
    EXPECT_FALSE(contains(v.out, "all sound"));

    const fs::path out = scratch_ / "stolen.mp4";
    auto e = vault({"export", "--camera", kCamera, "--from", "@0", "--to", "@9999999999", "--out",
                    out.string(), "--passphrase-file", wrong.string()},
                   state_);
    EXPECT_EQ(e.code, 1) << describe(e);
    EXPECT_TRUE(contains(e.err, "wrong passphrase")) << describe(e);
    EXPECT_FALSE(fs::exists(out));
    EXPECT_FALSE(fs::exists(out.string() + ".partial"));
    // Nothing at all was left behind: the scratch directory holds only the passphrase file.
    for (const auto& entry : fs::directory_iterator(scratch_))
        EXPECT_EQ(entry.path(), wrong) << "left behind";

    // A recovery key with one character changed: caught by its check, no export either.
    std::string mistyped = recoveryKey_;
    mistyped[3] = mistyped[3] == 'A' ? 'B' : 'A';
    const fs::path badKey = scratch_ / "bad-key";
    writeAll(badKey, mistyped + "\n");
    auto k = vault({"export", "--camera", kCamera, "--from", "@0", "--to", "@9999999999", "--out",
                    out.string(), "--recovery-key-file", badKey.string()},
                   state_);
    EXPECT_EQ(k.code, 1) << describe(k);
    EXPECT_FALSE(fs::exists(out));
    EXPECT_FALSE(fs::exists(out.string() + ".partial"));
}

TEST_F(VaultCliTest, ExportOfEverythingIsAStandardMp4) {
    REQUIRE_FFPROBE();
    const fs::path out = scratch_ / "all.mp4";
    auto e = exportRange("@0", "@9999999999", out);
    ASSERT_EQ(e.code, 0) << describe(e);
    EXPECT_TRUE(contains(e.out, "from " + std::to_string(rows_.size()) + " segment(s)"))
        << describe(e);
    EXPECT_FALSE(fs::exists(out.string() + ".partial"));

    // A plain (not fragmented) MP4 with its index first, so players can start at once.
    const std::string data = readAll(out);
    const auto boxes = topLevelBoxes(data);
    ASSERT_GE(boxes.size(), 3u);
    EXPECT_EQ(boxes[0], "ftyp");
    EXPECT_EQ(boxes[1], "moov");
    const auto mdat = std::find(boxes.begin(), boxes.end(), "mdat");
    EXPECT_NE(mdat, boxes.end());
    EXPECT_EQ(std::find(boxes.begin(), boxes.end(), "moof"), boxes.end());
    EXPECT_EQ(std::find(boxes.begin(), boxes.end(), "<trailing bytes>"), boxes.end());

    const Probe p = probe(out, scratch_);
    ASSERT_EQ(p.code, 0) << p.raw;
    EXPECT_EQ(p.codec, "h264") << p.raw;
    EXPECT_GT(p.frames, 0) << p.raw;
    EXPECT_EQ(p.frames, p.declared) << "every listed frame decodes\n" << p.raw;
    EXPECT_NEAR(p.duration, recordedSeconds(), 1.0) << p.raw;
    EXPECT_NEAR(static_cast<double>(p.frames), recordedSeconds() * kFramerate, kFramerate) << p.raw;
}

TEST_F(VaultCliTest, ExportAcrossASegmentBoundaryPlaysThrough) {
    REQUIRE_FFPROBE();
    // 3 s before the second segment starts to 5 s after: half in each.
    const int64_t boundary = rows_[1].startUs / 1'000'000;
    const int64_t from = boundary - 3, to = boundary + 5;
    const fs::path out = scratch_ / "boundary.mp4";
    auto e = exportRange(at(from), at(to), out);
    ASSERT_EQ(e.code, 0) << describe(e);
    EXPECT_TRUE(contains(e.out, "from 2 segment(s)")) << describe(e);

    const Probe p = probe(out, scratch_);
    ASSERT_EQ(p.code, 0) << p.raw;
    EXPECT_EQ(p.codec, "h264");
    EXPECT_EQ(p.frames, p.declared) << p.raw;
    // It starts at the keyframe at or before --from (keyframes come every 2 s
    // by default), and ends at --to.
    const double asked = static_cast<double>(to - from);
    EXPECT_GE(p.duration, asked - 0.5) << p.raw;
    EXPECT_LE(p.duration, asked + 2.5) << p.raw;
    EXPECT_NEAR(static_cast<double>(p.frames), p.duration * kFramerate, 2) << p.raw;
}

TEST_F(VaultCliTest, IsoTimesMeanTheSameAsUnixSeconds) {
    const int64_t from = firstStartS() + 2, to = firstStartS() + 14;
    const fs::path ref = scratch_ / "seconds.mp4";
    auto e = exportRange(at(from), at(to), ref);
    ASSERT_EQ(e.code, 0) << describe(e);
    const std::string expected = readAll(ref);
    ASSERT_FALSE(expected.empty());

    const std::vector<std::pair<std::string, std::string>> forms = {
        {iso(from, 0, true), iso(to, 0, true)},
        {iso(from, 60, false), iso(to, 60, false)},
        {iso(from, -5 * 60, false), iso(to, -5 * 60, false)},
        {iso(from, 0, true), iso(to, 60, false)},  // mixed
    };
    int n = 0;
    for (const auto& [f, t] : forms) {
        SCOPED_TRACE(f + " .. " + t);
        const fs::path out = scratch_ / ("iso-" + std::to_string(++n) + ".mp4");
        auto r = exportRange(f, t, out);
        ASSERT_EQ(r.code, 0) << describe(r);
        EXPECT_TRUE(readAll(out) == expected) << "differs from the @seconds export";
    }
    // One hour off is a different (here: empty) range, so the offset is really applied.
    const fs::path wrongZone = scratch_ / "wrong-zone.mp4";
    auto r = exportRange(iso(from, 0, true).substr(0, 19) + "+01:00",
                         iso(to, 0, true).substr(0, 19) + "+01:00", wrongZone);
    EXPECT_EQ(r.code, 1) << describe(r);
    EXPECT_TRUE(contains(r.err, "no recording in that range")) << describe(r);
    EXPECT_FALSE(fs::exists(wrongZone));

    auto bad = exportRange("yesterday", at(to), scratch_ / "bad.mp4");
    EXPECT_NE(bad.code, 0) << describe(bad);
    EXPECT_TRUE(contains(bad.err, "is not a time")) << describe(bad);
}

// BUG (daemon/vault/vault.cpp, parseTime, lines 112-117): the UTC offset's
// digits are read with atoi and never checked, so "+ab:cd" is taken as +00:00
// and "+25:00" or "+01:75" as offsets no zone has; a typo silently exports a
// different range instead of being refused. Expected: only [+-]HH:MM or
// [+-]HHMM with HH 00-23 (or up to 14, the widest real zone) and MM 00-59.
TEST_F(VaultCliTest, MalformedUtcOffsetsAreRefused) {
    const int64_t from = firstStartS() + 2;
    const std::string clock = iso(from, 0, true).substr(0, 19);
    for (const std::string zone : {"+ab:cd", "+25:00", "+01:75", "-1x:00", "+0a00"}) {
        SCOPED_TRACE(clock + zone);
        const fs::path out = scratch_ / "offset.mp4";
        auto r = exportRange(clock + zone, "@9999999999", out);
        EXPECT_NE(r.code, 0) << describe(r);
        EXPECT_TRUE(contains(r.err, "time zone")) << describe(r);
        EXPECT_FALSE(fs::exists(out));
        fs::remove(out);
    }
}

TEST_F(VaultCliTest, ChangePassphraseKeepsTheRecoveryKey) {
    const fs::path state = copyOfState();
    const fs::path newPass = scratch_ / "new";
    writeAll(newPass, "a whole new passphrase\n");

    // A too-short new passphrase is refused and changes nothing.
    const fs::path shortPass = scratch_ / "short";
    writeAll(shortPass, "tiny\n");
    auto refused = vault({"change-passphrase", "--passphrase-file", passFile_.string(),
                          "--new-passphrase-file", shortPass.string()},
                         state);
    EXPECT_EQ(refused.code, 1) << describe(refused);
    EXPECT_EQ(readAll(state / "keys" / "owner.json"), ownerJson_);

    auto changed = vault({"change-passphrase", "--passphrase-file", passFile_.string(),
                          "--new-passphrase-file", newPass.string()},
                         state);
    ASSERT_EQ(changed.code, 0) << describe(changed);

    auto old = vault({"verify", "--passphrase-file", passFile_.string()}, state);
    EXPECT_EQ(old.code, 1) << describe(old);
    EXPECT_TRUE(contains(old.err, "wrong passphrase")) << describe(old);
    auto fresh = vault({"verify", "--passphrase-file", newPass.string()}, state);
    EXPECT_EQ(fresh.code, 0) << describe(fresh);
    EXPECT_TRUE(contains(fresh.out, "all sound"));
    auto recovery = vault({"verify", "--recovery-key-file", recoveryFile_.string()}, state);
    EXPECT_EQ(recovery.code, 0) << describe(recovery);

    // The new passphrase exports what the old one recorded.
    const fs::path out = scratch_ / "after.mp4";
    auto e = vault({"export", "--camera", kCamera, "--from", "@0", "--to", "@9999999999", "--out",
                    out.string(), "--passphrase-file", newPass.string()},
                   state);
    EXPECT_EQ(e.code, 0) << describe(e);
    EXPECT_GT(fs::exists(out) ? fs::file_size(out) : 0, 100'000u);

    // A forgotten passphrase: the recovery key sets a new one.
    const fs::path third = scratch_ / "third";
    writeAll(third, "remembered this time\n");
    auto reset = vault({"change-passphrase", "--recovery-key-file", recoveryFile_.string(),
                        "--new-passphrase-file", third.string()},
                       state);
    EXPECT_EQ(reset.code, 0) << describe(reset);
    EXPECT_EQ(vault({"verify", "--passphrase-file", third.string()}, state).code, 0);
    EXPECT_EQ(vault({"verify", "--passphrase-file", newPass.string()}, state).code, 1);
}

TEST_F(VaultCliTest, AFlippedByteIsFoundAndTheRestStillExports) {
    ASSERT_GE(rows_.size(), 3u) << "needs a segment between two others";
    const fs::path state = copyOfState();
    const Row& hit = rows_[1];
    const fs::path file = state / hit.path;
    std::string data = readAll(file);
    const auto records = recordOffsets(data);
    ASSERT_GE(records.size(), 4u);
    // One bit in the middle of the file; the damaged record is the one around it.
    const size_t flip = data.size() / 2;
    data[flip] = static_cast<char>(data[flip] ^ 0x40);
    writeAll(file, data);
    size_t damaged = 0;
    for (size_t r : records)
        if (r <= flip)
            damaged = r;

    auto v = vault({"verify", "--passphrase-file", passFile_.string()}, state);
    EXPECT_EQ(v.code, 1) << describe(v);
    EXPECT_FALSE(contains(v.out, "all sound"));
    EXPECT_TRUE(contains(v.out, fs::path(hit.path).filename().string())) << describe(v);
    EXPECT_TRUE(contains(v.out, "offset " + std::to_string(damaged))) << describe(v);
    EXPECT_TRUE(contains(v.out, "1 problem(s)")) << describe(v) << "only that segment is bad";

    // The segments before and after it export whole. (Whole seconds, kept clear
    // of the damaged segment's range, which touches its neighbours' and can
    // overlap them by a few milliseconds: one segment's end is its last
    // frame's time plus its duration, the next one's start its first frame's
    // capture time.)
    const int64_t beforeEndUs = std::min(rows_.front().endUs, hit.startUs);
    const int64_t afterStartUs = std::max(rows_.back().startUs, hit.endUs);
    const std::vector<std::pair<std::string, std::string>> ranges = {
        {"@0", at(beforeEndUs / 1'000'000)},
        {at(afterStartUs / 1'000'000 + 1), "@9999999999"},
    };
    for (const auto& [from, to] : ranges) {
        SCOPED_TRACE(from + " .. " + to);
        const fs::path out = scratch_ / ("part" + from + ".mp4");
        auto e = exportRange(from, to, out, state);
        ASSERT_EQ(e.code, 0) << describe(e);
        EXPECT_FALSE(contains(e.err, "warning")) << describe(e);
        if (haveFfprobe()) {
            const Probe p = probe(out, scratch_);
            EXPECT_EQ(p.code, 0) << p.raw;
            EXPECT_GT(p.frames, 0) << p.raw;
            EXPECT_EQ(p.frames, p.declared) << p.raw;
        }
    }
    // Exporting everything warns about the damaged one and keeps the rest.
    const fs::path all = scratch_ / "all.mp4";
    auto e = exportRange("@0", "@9999999999", all, state);
    EXPECT_EQ(e.code, 0) << describe(e);
    EXPECT_TRUE(contains(e.err, fs::path(hit.path).filename().string())) << describe(e);
}

TEST_F(VaultCliTest, AnAlteredRecordWithAFixedChecksumFailsAuthentication) {
    // The clear checksums are not security: recompute one after changing the
    // ciphertext, and the owner's key must still catch it.
    ASSERT_GE(sodium_init(), 0);
    const fs::path state = copyOfState();
    const Row& hit = rows_[1];
    const fs::path file = state / hit.path;
    std::string data = readAll(file);
    const auto records = recordOffsets(data);
    ASSERT_GE(records.size(), 4u);
    const size_t rec = records[3];  // a fragment (record 1 is the init segment)
    const uint32_t length = le32(data, rec);
    ASSERT_EQ(static_cast<uint8_t>(data[rec + 4]), 2) << "not a fragment record";
    data[rec + 13 + length / 2] = static_cast<char>(data[rec + 13 + length / 2] ^ 0x01);
    const uint16_t version =
        static_cast<uint16_t>(static_cast<uint8_t>(data[8]) | static_cast<uint8_t>(data[9]) << 8);
    const auto sum = porchlight::segment::clearChecksum(
        version, std::span(reinterpret_cast<const uint8_t*>(data.data() + rec), 13 + length));
    std::memcpy(data.data() + rec + 13 + length, sum.data(), sum.size());
    writeAll(file, data);

    auto v = vault({"verify", "--passphrase-file", passFile_.string()}, state);
    EXPECT_EQ(v.code, 1) << describe(v);
    EXPECT_TRUE(contains(v.out, fs::path(hit.path).filename().string())) << describe(v);
    EXPECT_TRUE(contains(v.out, "authentication failed at offset " + std::to_string(rec)))
        << describe(v);
}

// Segments of format version 1 (BLAKE2b checksums, before version 2's XXH3)
// still verify and export. The recorder writes version 2, so one segment of a
// copy is rewritten as version 1 with the same identity and the same chunks:
// the sizes are the same, so the index still matches.
TEST_F(VaultCliTest, Version1SegmentsStillVerifyAndExport) {
    namespace seg = porchlight::segment;
    const fs::path state = copyOfState();
    const Row& old = rows_[1];
    const fs::path file = state / old.path;
    const std::string before = readAll(file);
    ASSERT_EQ(static_cast<uint8_t>(before[8]), seg::kCurrentFormatVersion);

    auto owner = porchlight::keys::unlockWithPassphrase(state, kPassphrase);
    ASSERT_TRUE(owner) << owner.error().message;
    std::vector<seg::Chunk> chunks;
    seg::Identity identity;
    {
        auto reader = seg::Reader::open(file, *owner);
        ASSERT_TRUE(reader) << reader.error().message;
        for (;;) {
            auto chunk = reader->next();
            ASSERT_TRUE(chunk) << chunk.error().message;
            if (!*chunk)
                break;
            chunks.push_back(std::move(**chunk));
        }
        ASSERT_TRUE(reader->finished());
        identity = reader->identity();
    }
    ASSERT_GE(chunks.size(), 2u);
    fs::remove(file);
    {
        auto w = seg::Writer::create(file, identity, owner->publicKey, seg::kFormatV1);
        ASSERT_TRUE(w) << w.error().message;
        for (const auto& c : chunks)
            ASSERT_TRUE(w->append(c.kind, c.plaintext, c.endUs, false));
        ASSERT_TRUE(w->finish(old.endUs));
    }
    const std::string after = readAll(file);
    ASSERT_EQ(static_cast<uint8_t>(after[8]), seg::kFormatV1);
    ASSERT_EQ(after.size(), before.size());

    auto v = vault({"verify", "--passphrase-file", passFile_.string()}, state);
    EXPECT_EQ(v.code, 0) << describe(v);
    EXPECT_TRUE(contains(v.out, std::to_string(rows_.size()) + " segment(s)")) << describe(v);

    const fs::path out = scratch_ / "with-v1.mp4";
    auto e = exportRange("@0", "@9999999999", out, state);
    ASSERT_EQ(e.code, 0) << describe(e);
    EXPECT_FALSE(contains(e.err, "warning")) << describe(e);
    EXPECT_TRUE(contains(e.out, "from " + std::to_string(rows_.size()) + " segment(s)"))
        << describe(e);
    if (haveFfprobe()) {
        const Probe p = probe(out, scratch_);
        ASSERT_EQ(p.code, 0) << p.raw;
        EXPECT_EQ(p.frames, p.declared) << p.raw;
        EXPECT_NEAR(p.duration, recordedSeconds(), 1.0) << p.raw;
    }
}

TEST_F(VaultCliTest, UsageErrorsExitTwo) {
    auto unknown = vault({"frobnicate"}, state_);
    EXPECT_EQ(unknown.code, 2) << describe(unknown);
    EXPECT_TRUE(contains(unknown.err, "unknown command")) << describe(unknown);

    auto noState = vault({"verify", "--passphrase-file", passFile_.string()});
    EXPECT_EQ(noState.code, 2) << describe(noState);
    EXPECT_TRUE(contains(noState.err, "--state-dir")) << describe(noState);

    const fs::path out = scratch_ / "x.mp4";
    auto noCamera = vault({"export", "--from", "@0", "--to", "@9999999999", "--out", out.string(),
                           "--passphrase-file", passFile_.string()},
                          state_);
    EXPECT_EQ(noCamera.code, 2) << describe(noCamera);
    EXPECT_TRUE(contains(noCamera.err, "--camera")) << describe(noCamera);
    EXPECT_FALSE(fs::exists(out));

    auto noCommand = vault({}, state_);
    EXPECT_EQ(noCommand.code, 2) << describe(noCommand);
    auto badOption = vault({"verify", "--frobnicate", "1"}, state_);
    EXPECT_EQ(badOption.code, 2) << describe(badOption);
    auto noValue = vault({"verify", "--state-dir"});
    EXPECT_EQ(noValue.code, 2) << describe(noValue);

    auto help = vault({"--help"});
    EXPECT_EQ(help.code, 0);
    EXPECT_TRUE(contains(help.out, "Usage: porchlight-vault")) << describe(help);
}

TEST_F(VaultCliTest, AStolenCopyHoldsNoVideoInTheClear) {
    // Positive control: the same search finds these in a real export.
    const fs::path out = scratch_ / "control.mp4";
    auto e = exportRange("@0", "@9999999999", out);
    ASSERT_EQ(e.code, 0) << describe(e);
    const std::string control = readAll(out);
    // The MP4 signature, and x264's own text, which it writes into the stream.
    // Markers of 8 bytes or more: a lone 4-byte box name turns up in
    // megabytes of ciphertext by chance.
    const std::vector<std::string> markers = {"ftypisom", "x264 - core", "H.264/MPEG-4 AVC codec"};
    for (const auto& m : markers)
        EXPECT_TRUE(contains(control, m)) << m;

    int files = 0;
    uint64_t bytes = 0;
    for (const auto& entry : fs::recursive_directory_iterator(state_)) {
        if (!entry.is_regular_file())
            continue;
        ++files;
        const std::string content = readAll(entry.path());
        bytes += content.size();
        for (const auto& m : markers)
            EXPECT_FALSE(contains(content, m)) << entry.path() << " contains \"" << m << "\"";
    }
    EXPECT_GE(files, static_cast<int>(rows_.size()) + 2);  // segments, index, owner key
    EXPECT_GT(bytes, 1'000'000u);
}

}  // namespace
