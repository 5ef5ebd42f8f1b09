// porchlightctl without a bus: the command line (and its exit status 2), the
// times people type, the sizes and times it prints, and status as text and JSON.
#include "ctl.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <time.h>

#include <cerrno>
#include <sstream>

#include "run.h"

using namespace porchlight::ctl;
using ::testing::HasSubstr;
using ::testing::Not;

namespace {

constexpr int64_t kSecond = 1'000'000;
constexpr int64_t kMinute = 60 * kSecond;
constexpr int64_t kHour = 60 * kMinute;
constexpr int64_t kDay = 24 * kHour;
// 2026-11-29T14:05:00Z
constexpr int64_t kNow = 1'795'961'100 * kSecond;
// 2026-11-29T00:00:00Z
constexpr int64_t kMidnight = 1'795'910'400 * kSecond;

/// Local time is UTC unless a test says otherwise, so expectations are fixed.
class CtlTest : public ::testing::Test {
protected:
    void SetUp() override { setTimeZone("UTC0"); }
    void TearDown() override { setTimeZone("UTC0"); }
    static void setTimeZone(const char* tz) {
        setenv("TZ", tz, 1);
        tzset();
    }
};

Command parseOk(std::vector<std::string> args) {
    ParseResult r = parseArguments(args, kNow);
    EXPECT_TRUE(r.ok()) << r.error.message;
    return r.command.value_or(Command{});
}

std::string parseError(std::vector<std::string> args) {
    ParseResult r = parseArguments(args, kNow);
    EXPECT_FALSE(r.ok());
    return r.error.message;
}

struct RunResult {
    int code;
    std::string out;
    std::string err;
};

RunResult runCtl(std::vector<std::string> args) {
    std::ostringstream out, err;
    const int code = run(args, out, err);
    return {code, out.str(), err.str()};
}

// --- Command line -----------------------------------------------------------

TEST_F(CtlTest, NoCommandIsStatusOnTheSystemBus) {
    Command c = parseOk({});
    EXPECT_EQ(c.verb, Verb::Status);
    EXPECT_FALSE(c.user);
    EXPECT_FALSE(c.json);
}

TEST_F(CtlTest, EachCommandParses) {
    EXPECT_EQ(parseOk({"status"}).verb, Verb::Status);
    EXPECT_EQ(parseOk({"cameras"}).verb, Verb::Cameras);
    EXPECT_EQ(parseOk({"reload"}).verb, Verb::Reload);
    EXPECT_EQ(parseOk({"setup-code"}).verb, Verb::SetupCode);

    Command ring = parseOk({"ring", "door"});
    EXPECT_EQ(ring.verb, Verb::Ring);
    EXPECT_EQ(ring.camera, "door");

    Command show = parseOk({"retention", "door"});
    EXPECT_EQ(show.verb, Verb::Retention);
    EXPECT_EQ(show.camera, "door");
    EXPECT_FALSE(show.days);
    EXPECT_FALSE(show.bytes);

    Command rec = parseOk({"recordings", "door"});
    EXPECT_EQ(rec.verb, Verb::Recordings);
    EXPECT_EQ(rec.camera, "door");
    EXPECT_FALSE(rec.since);
    EXPECT_FALSE(rec.until);

    Command all = parseOk({"events"});
    EXPECT_EQ(all.verb, Verb::Events);
    EXPECT_EQ(all.camera, "");
    EXPECT_EQ(parseOk({"events", "door"}).camera, "door");
}

TEST_F(CtlTest, GlobalOptionsGoAnywhere) {
    for (const auto& args : std::vector<std::vector<std::string>>{
             {"--user", "--json", "cameras"},
             {"--json", "--user", "cameras"},
             {"--json", "cameras", "--user"},
             {"cameras", "--user", "--json"},
         }) {
        Command c = parseOk(args);
        EXPECT_EQ(c.verb, Verb::Cameras);
        EXPECT_TRUE(c.user);
        EXPECT_TRUE(c.json);
    }
    Command c = parseOk({"--user", "retention", "door", "--json"});
    EXPECT_EQ(c.camera, "door");
    EXPECT_TRUE(c.user && c.json);
}

TEST_F(CtlTest, RetentionValues) {
    Command c = parseOk({"retention", "door", "--days", "2", "--bytes", "50GiB"});
    EXPECT_EQ(c.days, 2.0);
    EXPECT_EQ(c.bytes, uint64_t{50} << 30);

    EXPECT_EQ(parseOk({"retention", "door", "--days=0.5"}).days, 0.5);
    EXPECT_EQ(parseOk({"retention", "door", "--bytes=1.5 TiB"}).bytes, uint64_t{3} << 39);
    EXPECT_EQ(parseOk({"retention", "door", "--bytes", "500MB"}).bytes, 500'000'000u);
    // "none" removes a limit: 0 on the bus, as the API has it.
    EXPECT_EQ(parseOk({"retention", "door", "--days", "none"}).days, 0.0);
    EXPECT_EQ(parseOk({"retention", "door", "--bytes", "None"}).bytes, 0u);
}

TEST_F(CtlTest, RetentionRefusesWhatTheServerWould) {
    EXPECT_THAT(parseError({"retention", "door", "--days", "0"}),
                HasSubstr("invalid retention: days must be > 0"));
    EXPECT_THAT(parseError({"retention", "door", "--days", "-1"}),
                HasSubstr("invalid retention: days must be > 0"));
    EXPECT_THAT(parseError({"retention", "door", "--days", "0"}), HasSubstr("--days none"));
    EXPECT_THAT(parseError({"retention", "door", "--days", "4000"}), HasSubstr("at most 3650"));
    EXPECT_THAT(parseError({"retention", "door", "--days", "week"}),
                HasSubstr("--days takes a number of days"));
    EXPECT_THAT(parseError({"retention", "door", "--bytes", "lots"}),
                HasSubstr("--bytes takes a size"));
    EXPECT_THAT(parseError({"retention", "door", "--bytes", "0"}), HasSubstr("--bytes none"));
    EXPECT_THAT(parseError({"retention", "door", "--bytes", "1kB"}), HasSubstr("at least 64 KiB"));
}

TEST_F(CtlTest, UsageErrorsSayWhatIsExpected) {
    EXPECT_THAT(parseError({"frobnicate"}), HasSubstr("unknown command \"frobnicate\""));
    EXPECT_THAT(parseError({"--frob", "status"}), HasSubstr("unknown option \"--frob\""));
    EXPECT_THAT(parseError({"retention"}),
                HasSubstr("retention needs a CAMERA: porchlightctl retention CAMERA"));
    EXPECT_THAT(parseError({"ring"}), HasSubstr("porchlightctl cameras lists them"));
    EXPECT_THAT(parseError({"ring", "door", "garden"}),
                HasSubstr("unexpected argument \"garden\""));
    EXPECT_THAT(parseError({"status", "door"}), HasSubstr("unexpected argument \"door\""));
    EXPECT_THAT(parseError({"retention", "door", "--days"}), HasSubstr("--days needs a value"));
    EXPECT_THAT(parseError({"cameras", "--days", "2"}), HasSubstr("--days is only for retention"));
    EXPECT_THAT(parseError({"ring", "door", "--since", "1h"}),
                HasSubstr("--since is only for recordings and events"));
    EXPECT_THAT(parseError({"--user=yes", "status"}), HasSubstr("--user takes no value"));
    EXPECT_THAT(parseError({"recordings", "door", "--since", "soon"}),
                HasSubstr("--since takes a time such as"));
    EXPECT_THAT(parseError({"recordings", "door", "--since", "1h", "--until", "2h"}),
                HasSubstr("--since must be before --until"));
    EXPECT_THAT(parseError({"ring", ""}), HasSubstr("camera id is empty"));
}

TEST_F(CtlTest, HelpAndVersionWinOverEverything) {
    EXPECT_EQ(parseOk({"--help"}).verb, Verb::Help);
    EXPECT_EQ(parseOk({"-h"}).verb, Verb::Help);
    EXPECT_EQ(parseOk({"help"}).verb, Verb::Help);
    EXPECT_EQ(parseOk({"retention", "--frob", "--help"}).verb, Verb::Help);
    EXPECT_EQ(parseOk({"--version"}).verb, Verb::Version);
}

TEST_F(CtlTest, SinceAndUntil) {
    Command c = parseOk({"recordings", "door", "--since", "2h", "--until=1h"});
    EXPECT_EQ(c.since, kNow - 2 * kHour);
    EXPECT_EQ(c.until, kNow - kHour);
    Command e = parseOk({"events", "--since", "2026-11-29T14:00:00Z"});
    EXPECT_EQ(e.since, kNow - 5 * kMinute);
}

TEST_F(CtlTest, RunExitsTwoOnUsageErrorsWithoutTouchingTheBus) {
    RunResult bad = runCtl({"frobnicate"});
    EXPECT_EQ(bad.code, 2);
    EXPECT_EQ(bad.out, "");
    EXPECT_THAT(bad.err, HasSubstr("porchlightctl: unknown command \"frobnicate\" (see "
                                   "porchlightctl --help)"));

    RunResult days = runCtl({"--user", "retention", "door", "--days", "0"});
    EXPECT_EQ(days.code, 2);
    EXPECT_THAT(days.err, HasSubstr("invalid retention: days must be > 0"));

    RunResult help = runCtl({"--help"});
    EXPECT_EQ(help.code, 0);
    EXPECT_THAT(help.out, HasSubstr("Usage: porchlightctl [--user] [--json] COMMAND"));
    for (const char* command : {"status", "cameras", "retention CAMERA", "recordings CAMERA",
                                "events [CAMERA]", "ring CAMERA", "reload", "setup-code"})
        EXPECT_THAT(help.out, HasSubstr(command));

    RunResult version = runCtl({"--version"});
    EXPECT_EQ(version.code, 0);
    EXPECT_EQ(version.out, "porchlightctl 0.1.0\n");
}

// --- Times ------------------------------------------------------------------

TEST_F(CtlTest, Iso8601) {
    EXPECT_EQ(parseTime("2026-11-29T14:05:00Z", kNow), kNow);
    EXPECT_EQ(parseTime("2026-11-29t14:05:00z", kNow), kNow);
    EXPECT_EQ(parseTime("2026-11-29T15:05:00+01:00", kNow), kNow);
    EXPECT_EQ(parseTime("2026-11-29T15:05:00+0100", kNow), kNow);
    EXPECT_EQ(parseTime("2026-11-29T09:05:00-05:00", kNow), kNow);
    EXPECT_EQ(parseTime("2026-11-29T14:05:00.25Z", kNow), kNow + 250'000);
    EXPECT_EQ(parseTime("2026-11-29T14:05Z", kNow), kNow);
    // Without an offset: local time (UTC here).
    EXPECT_EQ(parseTime("2026-11-29 14:05:00", kNow), kNow);
    EXPECT_EQ(parseTime("2026-11-29T14:05", kNow), kNow);
    EXPECT_EQ(parseTime("2026-11-29", kNow), kMidnight);
}

TEST_F(CtlTest, LocalTimeFollowsTheZoneAndItsSummerTime) {
    setTimeZone("CET-1CEST,M3.5.0,M10.5.0/3");
    EXPECT_EQ(parseTime("2026-11-29 15:05:00", kNow), kNow);
    // July: CEST, two hours ahead of UTC.
    const int64_t julyNoonUtc = *parseTime("2026-07-01T12:00:00Z", kNow);
    EXPECT_EQ(parseTime("2026-07-01 14:00", kNow), julyNoonUtc);
    EXPECT_EQ(formatTime(kNow), "2026-11-29 15:05:00");
}

TEST_F(CtlTest, UnixSecondsAndWords) {
    EXPECT_EQ(parseTime("@1795961100", kNow), kNow);
    EXPECT_EQ(parseTime("@1795961100.5", kNow), kNow + 500'000);
    EXPECT_EQ(parseTime("now", kNow), kNow);
    EXPECT_EQ(parseTime("today", kNow), kMidnight);
    EXPECT_EQ(parseTime("Yesterday", kNow), kMidnight - kDay);
}

TEST_F(CtlTest, SpansMeanThatLongAgo) {
    EXPECT_EQ(parseTime("1h", kNow), kNow - kHour);
    EXPECT_EQ(parseTime("30min", kNow), kNow - 30 * kMinute);
    EXPECT_EQ(parseTime("90s", kNow), kNow - 90 * kSecond);
    EXPECT_EQ(parseTime("2d", kNow), kNow - 2 * kDay);
    EXPECT_EQ(parseTime("1w", kNow), kNow - 7 * kDay);
    EXPECT_EQ(parseTime("1h 30min", kNow), kNow - 90 * kMinute);
    EXPECT_EQ(parseTime("1h30min", kNow), kNow - 90 * kMinute);
    EXPECT_EQ(parseTime("2 days ago", kNow), kNow - 2 * kDay);
    EXPECT_EQ(parseTime("1.5h", kNow), kNow - 90 * kMinute);
}

TEST_F(CtlTest, NonsenseTimesAreRefused) {
    for (const char* text : {"", "soon", "5", "1x", "h", "@", "@abc", "2026-13-01",
                             "2026-02-30T00:00Z", "2026-11-29T25:00", "2026-11-29T14:05:00Q",
                             "2026-11-29T14:05:00+25:00", "2026-11-29T14:5", "1h -2min"})
        EXPECT_FALSE(parseTime(text, kNow).has_value()) << text;
}

// --- Sizes and times printed ------------------------------------------------

TEST_F(CtlTest, Sizes) {
    EXPECT_EQ(formatSize(0), "0 B");
    EXPECT_EQ(formatSize(1023), "1023 B");
    EXPECT_EQ(formatSize(1024), "1.0 KiB");
    EXPECT_EQ(formatSize(1536), "1.5 KiB");
    EXPECT_EQ(formatSize(1'288'490'189), "1.2 GiB");
    EXPECT_EQ(formatSize(uint64_t{50} << 30), "50.0 GiB");
    EXPECT_EQ(formatSize((uint64_t{1} << 20) - 1), "1.0 MiB");  // not "1024.0 KiB"
    EXPECT_EQ(formatSize(uint64_t{3} << 40), "3.0 TiB");
}

TEST_F(CtlTest, Bitrates) {
    EXPECT_EQ(formatBitrate(0), "0 bit/s");
    EXPECT_EQ(formatBitrate(512'000), "512 kbit/s");
    EXPECT_EQ(formatBitrate(2'000'000), "2.0 Mbit/s");
    EXPECT_EQ(formatBitrate(999'999), "1.0 Mbit/s");
}

TEST_F(CtlTest, TimesAndHowLongAgo) {
    EXPECT_EQ(formatTime(kNow), "2026-11-29 14:05:00");
    EXPECT_EQ(formatTime(0), "never");
    EXPECT_EQ(formatRelative(kNow, kNow), "just now");
    EXPECT_EQ(formatRelative(kNow - 5 * kSecond, kNow), "5 s ago");
    EXPECT_EQ(formatRelative(kNow - 3 * kMinute, kNow), "3 min ago");
    EXPECT_EQ(formatRelative(kNow - 2 * kHour - 5 * kMinute, kNow), "2 h 5 min ago");
    EXPECT_EQ(formatRelative(kNow - 12 * kHour - 5 * kMinute, kNow), "12 h ago");
    EXPECT_EQ(formatRelative(kNow - kDay, kNow), "1 day ago");
    EXPECT_EQ(formatRelative(kNow - 3 * kDay, kNow), "3 days ago");
    EXPECT_EQ(formatRelative(kNow + 5 * kMinute, kNow), "in 5 min");
    EXPECT_EQ(formatTimeAndRelative(kNow - 3 * kMinute, kNow), "2026-11-29 14:02:00 (3 min ago)");
    EXPECT_EQ(formatTimeAndRelative(0, kNow), "never");
}

TEST_F(CtlTest, Days) {
    EXPECT_EQ(formatDays(2), "2 days");
    EXPECT_EQ(formatDays(1), "1 day");
    EXPECT_EQ(formatDays(1.5), "1.5 days");
    EXPECT_EQ(formatDays(0.5), "12 h");
    EXPECT_EQ(formatDays(1.0 / 96), "15 min");
    EXPECT_EQ(formatDays(3650), "3650 days");
}

// --- Rendering --------------------------------------------------------------

StatusInfo sampleStatus() {
    StatusInfo s;
    s.manager.version = "0.1.0";
    s.manager.state = 1;
    s.manager.ownerConfigured = true;
    s.manager.storageUsedBytes = 1'288'490'189;
    s.manager.storageFreeBytes = uint64_t{30} << 30;
    s.manager.oldestRecording = kNow - 3 * kDay;
    s.manager.cameras = 2;

    CameraInfo door;
    door.id = "door";
    door.source = 0;
    door.mode = 0;
    door.state = 1;
    door.recording = true;
    door.width = 320;
    door.height = 240;
    door.framerate = 10;
    door.bitrateBps = 512'000;
    door.framesTotal = 1234;
    door.lastRing = kNow - 3 * kMinute;
    CameraInfo porch;
    porch.id = "porch";
    porch.source = 3;
    porch.mode = 1;
    porch.state = 2;
    porch.lastError = "connection refused";
    s.cameras = {door, porch};

    s.retention["door"] = RetentionInfo{2.0, std::nullopt, "owner"};
    s.retention["porch"] = RetentionInfo{std::nullopt, std::nullopt, "none"};
    s.lastEvents = {EventInfo{7, "door", "ring", kNow - 3 * kMinute, kNow - 3 * kMinute, false}};
    return s;
}

TEST_F(CtlTest, StatusAsText) {
    const std::string text = renderStatus(sampleStatus(), kNow);
    EXPECT_THAT(text, HasSubstr("Daemon: running (porchlightd 0.1.0)\n"));
    EXPECT_THAT(text, HasSubstr("Owner: set up\n"));
    EXPECT_THAT(text, HasSubstr("Storage: 1.2 GiB used, 30.0 GiB free\n"));
    EXPECT_THAT(text, HasSubstr("Oldest recording: 2026-11-26 14:05:00 (3 days ago)\n"));
    EXPECT_THAT(text, HasSubstr("Camera: door (test)\n"));
    EXPECT_THAT(text, HasSubstr("State: streaming, recording (mode continuous)\n"));
    EXPECT_THAT(text, HasSubstr("Picture: 320x240, 10.0 fps, 512 kbit/s\n"));
    EXPECT_THAT(text, HasSubstr("Retention: 2 days, no size limit (set at run time)\n"));
    EXPECT_THAT(text, HasSubstr("Last ring: 2026-11-29 14:02:00 (3 min ago)\n"));
    EXPECT_THAT(text, HasSubstr("Last motion: never\n"));
    EXPECT_THAT(text, HasSubstr("Camera: porch (rtsp)\n"));
    EXPECT_THAT(text,
                HasSubstr("State: retrying: connection refused, not recording (mode events)\n"));
    EXPECT_THAT(text, HasSubstr("Picture: no frame yet\n"));
    EXPECT_THAT(text, HasSubstr("Retention: everything is kept (no limit set)\n"));
    EXPECT_THAT(text, HasSubstr("Last events: 2026-11-29 14:02:00  door  ring (3 min ago)\n"));
    EXPECT_THAT(text, Not(HasSubstr("Storage problem")));

    // Labels right-aligned, timedatectl style: every ": " in one column.
    std::istringstream lines(text);
    std::string line;
    std::optional<size_t> column;
    while (std::getline(lines, line)) {
        if (line.empty())
            continue;
        const size_t at = line.find(": ");
        ASSERT_NE(at, std::string::npos) << line;
        if (!column)
            column = at;
        EXPECT_EQ(at, *column) << line;
    }
}

TEST_F(CtlTest, StatusSaysWhatNeedsAttention) {
    StatusInfo s = sampleStatus();
    s.manager.state = 2;
    s.manager.ownerConfigured = false;
    s.manager.diskFull = true;
    s.manager.lastStorageProblem = "no space left on /var/lib/porchlight";
    s.lastEvents.clear();
    const std::string text = renderStatus(s, kNow);
    EXPECT_THAT(text, HasSubstr("Daemon: needs-setup (porchlightd 0.1.0)"));
    EXPECT_THAT(text, HasSubstr("nothing is recorded until the owner sets up"));
    EXPECT_THAT(text, HasSubstr("porchlightctl setup-code"));
    EXPECT_THAT(text, HasSubstr("(disk full: recording waits for space)"));
    EXPECT_THAT(text, HasSubstr("Storage problem: no space left on /var/lib/porchlight\n"));
    EXPECT_THAT(text, HasSubstr("Last events: none in the last 7 days\n"));
}

TEST_F(CtlTest, StatusAsJson) {
    const Json j = statusJson(sampleStatus());
    EXPECT_EQ(j["daemon"]["version"], "0.1.0");
    EXPECT_EQ(j["daemon"]["state"], "running");
    EXPECT_EQ(j["daemon"]["owner_configured"], true);
    EXPECT_EQ(j["storage"]["used_bytes"], 1'288'490'189u);
    EXPECT_EQ(j["storage"]["free_bytes"], uint64_t{30} << 30);
    EXPECT_EQ(j["storage"]["oldest_recording_usec"], kNow - 3 * kDay);
    EXPECT_EQ(j["storage"]["disk_full"], false);
    ASSERT_EQ(j["cameras"].size(), 2u);
    const Json& door = j["cameras"][0];
    EXPECT_EQ(door["id"], "door");
    EXPECT_EQ(door["source"], "test");
    EXPECT_EQ(door["mode"], "continuous");
    EXPECT_EQ(door["state"], "streaming");
    EXPECT_EQ(door["recording"], true);
    EXPECT_EQ(door["width"], 320);
    EXPECT_EQ(door["height"], 240);
    EXPECT_EQ(door["framerate"], 10.0);
    EXPECT_EQ(door["bitrate_bps"], 512'000);
    EXPECT_EQ(door["frames_total"], 1234);
    EXPECT_EQ(door["last_ring_usec"], kNow - 3 * kMinute);
    EXPECT_TRUE(door["last_motion_usec"].is_null());
    EXPECT_EQ(door["retention"]["max_days"], 2.0);
    EXPECT_TRUE(door["retention"]["max_bytes"].is_null());
    EXPECT_EQ(door["retention"]["source"], "owner");
    EXPECT_EQ(j["cameras"][1]["last_error"], "connection refused");
    EXPECT_EQ(j["cameras"][1]["state"], "retrying");
    ASSERT_EQ(j["last_events"].size(), 1u);
    EXPECT_EQ(j["last_events"][0]["kind"], "ring");
    EXPECT_EQ(j["last_events"][0]["camera"], "door");
    // The id leads, for a person reading the JSON.
    EXPECT_EQ(door.begin().key(), "id");
}

TEST_F(CtlTest, CamerasTable) {
    StatusInfo s = sampleStatus();
    const std::string text = renderCameras(s.cameras);
    EXPECT_THAT(text, HasSubstr("ID     SOURCE  MODE        STATE      RECORDING  PICTURE  FPS   "
                                "BITRATE\n"));
    EXPECT_THAT(text, HasSubstr("door   test    continuous  streaming  yes        320x240  10.0  "
                                "512 kbit/s\n"));
    EXPECT_THAT(text, HasSubstr("porch  rtsp    events      retrying   no         -"));
    EXPECT_EQ(renderCameras({}), "No cameras configured.\n");
}

TEST_F(CtlTest, RetentionShown) {
    const std::string text =
        renderRetention("door", RetentionInfo{2.0, uint64_t{50} << 30, "owner"});
    EXPECT_THAT(text, HasSubstr("Camera: door\n"));
    EXPECT_THAT(text, HasSubstr("Max age: 2 days\n"));
    EXPECT_THAT(text, HasSubstr("Max size: 50.0 GiB\n"));
    EXPECT_THAT(text, HasSubstr("Set by: owner"));
    const std::string none =
        renderRetention("door", RetentionInfo{std::nullopt, std::nullopt, "none"});
    EXPECT_THAT(none, HasSubstr("Max age: no limit\n"));
    EXPECT_THAT(none, HasSubstr("Max size: no limit\n"));

    const Json j = retentionJson("door", RetentionInfo{std::nullopt, 65536, "config"});
    EXPECT_EQ(j["camera"], "door");
    EXPECT_TRUE(j["max_days"].is_null());
    EXPECT_EQ(j["max_bytes"], 65536);
    EXPECT_EQ(j["source"], "config");
}

TEST_F(CtlTest, RecordingsAndEvents) {
    std::vector<RecordingInfo> recs{
        {"door", 1, kNow - 2 * kMinute, kNow - kMinute, 3 << 20, 1, false},
        {"door", 2, kNow - kMinute, 0, 1 << 20, 0, true},
    };
    const std::string text = renderRecordings(recs);
    EXPECT_THAT(text, HasSubstr("CAMERA  SEQUENCE  START"));
    EXPECT_THAT(text, HasSubstr("2026-11-29 14:03:00  2026-11-29 14:04:00  1 min 0 s  3.0 MiB  "
                                "complete\n"));
    EXPECT_THAT(text, HasSubstr("writing, protected"));
    EXPECT_THAT(text, HasSubstr("2 recordings, 4.0 MiB.\n"));
    EXPECT_EQ(renderRecordings({}), "No recordings.\n");
    const Json r = recordingJson(recs[1]);
    EXPECT_EQ(r["sequence"], 2);
    EXPECT_EQ(r["state"], "writing");
    EXPECT_TRUE(r["end_usec"].is_null());
    EXPECT_EQ(r["protected"], true);

    std::vector<EventInfo> events{{3, "door", "motion", kNow - kMinute, 0, false}};
    EXPECT_THAT(renderEvents(events),
                HasSubstr("3   door    motion  2026-11-29 14:04:00  ongoing"));
    EXPECT_EQ(renderEvents({}), "No events.\n");
    const Json e = eventJson(events[0]);
    EXPECT_EQ(e["id"], 3);
    EXPECT_EQ(e["kind"], "motion");
    EXPECT_EQ(e["start_usec"], kNow - kMinute);
}

// --- Failures ---------------------------------------------------------------

TEST_F(CtlTest, FailuresSayWhatToDo) {
    const std::string notRunning = "porchlightd is not running (systemctl start porchlight)";
    EXPECT_EQ(
        explainFailure({"org.freedesktop.DBus.Error.ServiceUnknown", "x", -EIO}, Verb::Status),
        notRunning);
    EXPECT_EQ(
        explainFailure({"org.freedesktop.DBus.Error.NameHasNoOwner", "x", -EIO}, Verb::Cameras),
        notRunning);
    EXPECT_EQ(explainFailure({"", "Connection refused", -ECONNREFUSED}, Verb::Status), notRunning);
    EXPECT_EQ(explainFailure({"", "No such file or directory", -ENOENT}, Verb::Status), notRunning);

    EXPECT_EQ(
        explainFailure({"org.freedesktop.DBus.Error.AccessDenied", "x", -EACCES}, Verb::Retention),
        "permission denied: add yourself to the porchlight group");
    EXPECT_EQ(
        explainFailure({"org.freedesktop.DBus.Error.AccessDenied", "x", -EACCES}, Verb::SetupCode),
        "permission denied: only root may read the setup code");

    EXPECT_EQ(explainFailure({"org.freedesktop.DBus.Error.InvalidArgs",
                              "max_bytes must be at least 65536", -EINVAL},
                             Verb::Retention),
              "max_bytes must be at least 65536");
    EXPECT_EQ(explainFailure({"org.porchlight.Nvr1.Error.NoSuchCamera", "no camera \"x\"", -EIO},
                             Verb::Ring),
              "no camera \"x\"");
    EXPECT_EQ(explainFailure({"org.porchlight.Nvr1.Error.AlreadySetUp", "", -EIO}, Verb::SetupCode),
              "org.porchlight.Nvr1.Error.AlreadySetUp");
    EXPECT_THAT(
        explainFailure({"org.freedesktop.DBus.Error.NoReply", "x", -ETIMEDOUT}, Verb::Reload),
        HasSubstr("did not answer"));
}

}  // namespace
