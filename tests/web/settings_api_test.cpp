// The Settings page's API as handler calls against a running daemon (fake
// camera streams): each setting's round trip, refusals that name the field and
// change nothing, CSRF and session, persistence across a restart, a reload
// that restarts only the changed camera, events protected and deleted, and the
// passphrase change.
#include "settings_api.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "api.h"
#include "run_until.h"

using namespace porchlight;
using namespace porchlight::web;
using namespace std::chrono_literals;
namespace fs = std::filesystem;
using Json = nlohmann::json;

namespace {

constexpr const char* kPass = "correct horse battery";

class FakeStream final : public CameraStream {
public:
    Expected<void> play() override { return {}; }
    void sendEos() override {}
    void setLiveEnabled(bool) override {}
    void setRawEnabled(bool) override {}
    const std::string& description() const override { return description_; }

private:
    std::string description_ = "fake";
};

std::string readAll(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

class SettingsApiTest : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = ::testing::TempDir() + "pl-settings-XXXXXX";
        ASSERT_NE(mkdtemp(dir_.data()), nullptr);
        std::ofstream(dir_ + "/porchlight.toml") << R"([[camera]]
id = "door"
bitrate = "1M"

[camera.retention]
max_days = 30

[[camera]]
id = "gate"
mode = "events"
)";
        start();
    }
    void start() {
        Options o;
        o.stateDir = dir_ + "/state";
        o.configFile = dir_ + "/porchlight.toml";
        daemon_ = std::make_unique<Daemon>(
            io_, clock_, o,
            [this](const CameraConfig& c,
                   CameraStream::Callbacks) -> Expected<std::unique_ptr<CameraStream>> {
                ++streams_[c.id];
                return std::unique_ptr<CameraStream>(std::make_unique<FakeStream>());
            });
        auto started = daemon_->start();
        ASSERT_TRUE(started) << started.error().message;
        auto log = audit::AuditLog::open(o.stateDir);
        ASSERT_TRUE(log.hasValue()) << log.error().message;
        audit_ = std::move(*log);
        auth_ = std::make_unique<Auth>(
            clock_, [this](std::function<void()> fn) { boost::asio::post(io_, std::move(fn)); },
            o.stateDir, *audit_);
        auth_->setSetupCode("12345-67890");
        api_ = std::make_unique<Api>(*daemon_, *auth_, *audit_);
    }
    void stop() {
        api_.reset();
        auth_.reset();
        audit_.reset();
        daemon_.reset();
    }
    void TearDown() override {
        stop();
        fs::remove_all(dir_);
    }

    Response call(const std::string& method, const std::string& path, const std::string& body = "",
                  bool withCsrf = true, const std::string& cookie = "") {
        Request r;
        r.method = method;
        r.path = path;
        r.body = body;
        r.headers["host"] = "door.local:8443";
        r.headers["cookie"] = cookie.empty() ? cookie_ : cookie;
        if (withCsrf)
            r.headers["x-csrf-token"] = csrf_;
        r.clientAddress = "192.0.2.7";
        r.secure = true;
        std::optional<Response> got;
        api_->handle(r, [&](Response resp) { got = std::move(resp); });
        EXPECT_TRUE(test::runUntil(
            io_, [&] { return got.has_value(); }, 30s))
            << path;
        return got.value_or(Response{});
    }
    static std::string cookieOf(const Response& r) {
        for (const auto& [k, v] : r.headers)
            if (k == "Set-Cookie")
                return v.substr(0, v.find(';'));
        return {};
    }
    void setUpOwner() {
        auto r = call(
            "POST", "/api/setup",
            Json{{"code", "12345-67890"}, {"passphrase", kPass}, {"confirm", kPass}}.dump(), false);
        ASSERT_EQ(r.status, 200u) << r.body;
        cookie_ = cookieOf(r);
        csrf_ = Json::parse(r.body)["csrf"];
        recoveryKey_ = Json::parse(r.body)["recoveryKey"];
    }
    std::pair<std::string, std::string> login(const std::string& passphrase) {
        auto r = call("POST", "/api/login", Json{{"passphrase", passphrase}}.dump(), false, "x=y");
        if (r.status != 200)
            return {};
        return {cookieOf(r), Json::parse(r.body)["csrf"].get<std::string>()};
    }
    Json camera(const std::string& id) {
        auto r = call("GET", "/api/settings");
        EXPECT_EQ(r.status, 200u) << r.body;
        const Json all = Json::parse(r.body);
        for (const auto& c : all["cameras"])
            if (c["id"] == id)
                return c;
        ADD_FAILURE() << "no camera " << id << " in " << r.body;
        return {};
    }
    Response put(const std::string& id, const Json& body) {
        return call("PUT", "/api/cameras/" + id + "/settings", body.dump());
    }
    std::vector<Json> auditOf(const std::string& kind) {
        std::vector<Json> out;
        auto all = audit_->entries(0, 1000);
        EXPECT_TRUE(all.hasValue());
        if (all)
            for (auto& e : *all)
                if (e["kind"] == kind)
                    out.push_back(e);
        return out;
    }
    fs::path settingsFile() const { return fs::path(dir_) / "state" / "settings.toml"; }

    boost::asio::io_context io_;
    AsioClock clock_{io_};
    std::string dir_;
    std::string cookie_, csrf_, recoveryKey_;
    std::map<std::string, int> streams_;
    std::unique_ptr<Daemon> daemon_;
    std::unique_ptr<audit::AuditLog> audit_;
    std::unique_ptr<Auth> auth_;
    std::unique_ptr<Api> api_;
};

TEST_F(SettingsApiTest, NeedsASessionAndTheCsrfToken) {
    for (const char* path : {"/api/settings", "/api/events"})
        EXPECT_EQ(call("GET", path).status, 401u) << path;
    EXPECT_EQ(put("door", {{"mode", "off"}}).status, 401u);
    EXPECT_EQ(call("POST", "/api/events/1/protect", R"({"protected":true})").status, 401u);
    EXPECT_EQ(call("DELETE", "/api/events/1").status, 401u);
    EXPECT_EQ(call("POST", "/api/passphrase", "{}").status, 401u);

    setUpOwner();
    auto r = call("PUT", "/api/cameras/door/settings", R"({"mode":"off"})", false);
    EXPECT_EQ(r.status, 403u) << r.body;
    EXPECT_EQ(call("DELETE", "/api/events/1", "", false).status, 403u);
    EXPECT_EQ(call("POST", "/api/passphrase", "{}", false).status, 403u);
    EXPECT_EQ(camera("door")["mode"], "continuous");
    EXPECT_FALSE(fs::exists(settingsFile()));
}

TEST_F(SettingsApiTest, EverySettingRoundTripsAndIsAudited) {
    setUpOwner();
    Json c = camera("door");
    EXPECT_EQ(c["mode"], "continuous");
    EXPECT_EQ(c["retention"]["maxDays"], 30.0);
    EXPECT_EQ(c["retentionSource"], "config");
    // 1 Mbit/s configured (no frames yet): 10.8 GB a day.
    EXPECT_EQ(c["estimate"]["bytesPerDay"], 10'800'000'000u);
    EXPECT_EQ(c["estimate"]["basis"], "configured bitrate");

    const Json change = {
        {"mode", "events"},
        {"retention", {{"maxDays", 14}, {"maxBytes", "2GiB"}, {"motionDays", 7}, {"ringDays", 14}}},
        {"masks", Json::array({Json::array({{0, 0}, {1, 0}, {1, 0.2}})})},
        {"motion",
         {{"enabled", true},
          {"sensitivity", 0.75},
          {"zones", Json::array({{{"name", "road"},
                                  {"mode", "exclude"},
                                  {"points", {{0, 0.3}, {1, 0.3}, {1, 0.5}, {0, 0.5}}}}})}}},
        {"doorbell", {{"chip", "gpiochip0"}, {"line", 17}, {"activeLow", true}}}};
    auto r = put("door", change);
    ASSERT_EQ(r.status, 200u) << r.body;
    c = camera("door");
    EXPECT_EQ(c["mode"], "events");
    EXPECT_EQ(c["retention"]["maxDays"], 14.0);
    EXPECT_EQ(c["retention"]["maxBytes"], 2ull << 30);
    EXPECT_EQ(c["retention"]["motionDays"], 7.0);
    EXPECT_EQ(c["retention"]["ringDays"], 14.0);
    EXPECT_TRUE(c["retention"]["continuousDays"].is_null());
    EXPECT_EQ(c["retentionSource"], "owner");
    EXPECT_EQ(c["masks"], Json::array({Json::array({{0.0, 0.0}, {1.0, 0.0}, {1.0, 0.2}})}));
    EXPECT_EQ(c["motion"]["enabled"], true);
    EXPECT_EQ(c["motion"]["sensitivity"], 0.75);
    EXPECT_EQ(c["motion"]["zones"][0]["name"], "road");
    EXPECT_EQ(c["motion"]["zones"][0]["mode"], "exclude");
    EXPECT_EQ(c["doorbell"]["chip"], "gpiochip0");
    EXPECT_EQ(c["doorbell"]["line"], 17);

    // Retention took the D-Bus path: storage (what GetRetention and status read) has it.
    const RetentionConfig held = daemon_->storage()->retentionFor("door");
    EXPECT_EQ(held.maxDays, 14.0);
    EXPECT_EQ(held.maxBytes, 2ull << 30);
    EXPECT_TRUE(daemon_->storage()->hasOwnerRetention("door"));
    // The running camera got the rest.
    ASSERT_NE(daemon_->cameraConfig("door"), nullptr);
    EXPECT_EQ(daemon_->cameraConfig("door")->mode, RecordingMode::Events);

    auto entries = auditOf("settings");
    ASSERT_EQ(entries.size(), 1u);
    const Json& changes = entries[0]["detail"]["changes"];
    EXPECT_EQ(entries[0]["detail"]["camera"], "door");
    EXPECT_EQ(changes["mode"]["old"], "continuous");
    EXPECT_EQ(changes["mode"]["new"], "events");
    EXPECT_EQ(changes["retention.maxDays"]["old"], "30.0");
    EXPECT_EQ(changes["retention.maxDays"]["new"], "14.0");
    EXPECT_TRUE(changes.contains("masks"));
    EXPECT_TRUE(changes.contains("doorbell"));
    EXPECT_TRUE(audit::verifyAuditLog(audit_->file())->ok);

    // Saving the same again changes nothing and records nothing.
    r = put("door", change);
    ASSERT_EQ(r.status, 200u) << r.body;
    EXPECT_EQ(Json::parse(r.body)["changed"], 0);
    EXPECT_EQ(auditOf("settings").size(), 1u);

    // Limits go again with null (or 0), the doorbell with null.
    r = put("door",
            {{"retention", {{"maxBytes", nullptr}, {"motionDays", 0}}}, {"doorbell", nullptr}});
    ASSERT_EQ(r.status, 200u) << r.body;
    c = camera("door");
    EXPECT_TRUE(c["retention"]["maxBytes"].is_null());
    EXPECT_TRUE(c["retention"]["motionDays"].is_null());
    EXPECT_EQ(c["retention"]["maxDays"], 14.0);
    EXPECT_TRUE(c["doorbell"].is_null());
}

TEST_F(SettingsApiTest, WrongValuesAre400NamingTheFieldAndChangeNothing) {
    setUpOwner();
    const Json before = camera("door");
    struct Case {
        Json body;
        std::string field;
    };
    const std::vector<Case> cases = {
        {{{"mode", "sometimes"}}, "mode"},
        {{{"mode", "events"}, {"retention", {{"maxDays", -1}}}}, "retention.maxDays"},
        {{{"retention", {{"maxDays", 4000}}}}, "retention.maxDays"},
        {{{"retention", {{"maxBytes", "12 parsecs"}}}}, "retention.maxBytes"},
        {{{"retention", {{"maxBytes", 1000}}}}, "retention.maxBytes"},
        {{{"retention", {{"weeks", 2}}}}, "retention.weeks"},
        {{{"masks", Json::array({Json::array({{0, 0}, {2, 0}, {1, 1}})})}}, "masks[0][1]"},
        {{{"masks", Json::array({Json::array({{0, 0}, {1, 1}})})}}, "masks[0]"},
        {{{"motion", {{"sensitivity", 3}}}}, "motion.sensitivity"},
        {{{"motion", {{"zones", Json::array({{{"mode", "maybe"}, {"points", Json::array()}}})}}}},
         "motion.zones[0].mode"},
        {{{"doorbell", {{"chip", "gpiochip0"}, {"line", 9999}}}}, "doorbell.line"},
        {{{"colour", "blue"}}, "colour"},
        // Accepted by the page's checks, refused by the config parser: the
        // points lie on one line. Named as the settings file's line.
        {{{"mode", "off"}, {"masks", Json::array({Json::array({{0, 0}, {0.5, 0.5}, {1, 1}})})}},
         "settings"},
    };
    for (const auto& c : cases) {
        auto r = put("door", c.body);
        EXPECT_EQ(r.status, 400u) << c.body.dump() << " -> " << r.body;
        auto body = Json::parse(r.body, nullptr, false);
        ASSERT_TRUE(body.is_object()) << r.body;
        EXPECT_EQ(body.value("field", ""), c.field) << c.body.dump() << " -> " << r.body;
        EXPECT_FALSE(body.value("error", "").empty());
    }
    auto r = put("door", {{"mode", "off"},
                          {"masks", Json::array({Json::array({{0, 0}, {0.5, 0.5}, {1, 1}})})}});
    EXPECT_NE(r.body.find("settings.toml:"), std::string::npos) << r.body;
    EXPECT_EQ(camera("door"), before);
    EXPECT_FALSE(fs::exists(settingsFile()));
    EXPECT_FALSE(daemon_->storage()->hasOwnerRetention("door"));
    EXPECT_TRUE(auditOf("settings").empty());
    EXPECT_EQ(put("nosuch", {{"mode", "off"}}).status, 404u);
}

TEST_F(SettingsApiTest, ARestartKeepsTheSettingsAndAReloadRestartsOnlyThatCamera) {
    setUpOwner();
    ASSERT_EQ(streams_["door"], 1);
    ASSERT_EQ(streams_["gate"], 1);
    auto r = put("gate", {{"mode", "continuous"}, {"retention", {{"ringDays", 60}}}});
    ASSERT_EQ(r.status, 200u) << r.body;
    ASSERT_TRUE(test::runUntil(
        io_, [&] { return streams_["gate"] == 2; }, 10s));
    test::runFor(io_, 100ms);
    EXPECT_EQ(streams_["door"], 1) << "the other camera was restarted";
    EXPECT_EQ(daemon_->cameraConfig("gate")->mode, RecordingMode::Continuous);
    // Retention alone restarts nothing.
    r = put("door", {{"retention", {{"maxDays", 3}}}});
    ASSERT_EQ(r.status, 200u) << r.body;
    test::runFor(io_, 100ms);
    EXPECT_EQ(streams_["door"], 1);
    EXPECT_EQ(streams_["gate"], 2);

    // The file the page wrote names only what it manages.
    const std::string text = readAll(settingsFile());
    EXPECT_NE(text.find("mode = 'continuous'"), std::string::npos) << text;
    EXPECT_EQ(text.find("source"), std::string::npos) << text;
    EXPECT_EQ(fs::status(settingsFile()).permissions() & fs::perms::others_all, fs::perms::none);

    // A SIGHUP-style reload keeps them too.
    ASSERT_TRUE(daemon_->reload());
    EXPECT_EQ(daemon_->cameraConfig("gate")->mode, RecordingMode::Continuous);

    stop();
    test::runFor(io_, 50ms);
    streams_.clear();
    start();
    EXPECT_EQ(daemon_->cameraConfig("gate")->mode, RecordingMode::Continuous);
    EXPECT_EQ(daemon_->storage()->retentionFor("gate").ringDays, 60.0);
    EXPECT_EQ(daemon_->storage()->retentionFor("door").maxDays, 3.0);
}

TEST_F(SettingsApiTest, ProtectedEventsCannotBeDeletedAndEveryActIsAudited) {
    setUpOwner();
    ASSERT_TRUE(daemon_->ring("door"));
    auto r = call("GET", "/api/events");
    ASSERT_EQ(r.status, 200u) << r.body;
    auto events = Json::parse(r.body)["events"];
    ASSERT_EQ(events.size(), 1u) << r.body;
    const int64_t id = events[0]["id"];
    EXPECT_EQ(events[0]["kind"], "ring");
    EXPECT_EQ(events[0]["protected"], false);
    const std::string path = "/api/events/" + std::to_string(id);

    EXPECT_EQ(call("POST", path + "/protect", R"({"protected":"yes"})").status, 400u);
    r = call("POST", path + "/protect", R"({"protected":true})");
    ASSERT_EQ(r.status, 200u) << r.body;
    EXPECT_TRUE(daemon_->storage()->index().event(id).value()->isProtected);
    r = call("DELETE", path);
    EXPECT_EQ(r.status, 409u) << r.body;
    EXPECT_NE(r.body.find("protected"), std::string::npos);
    EXPECT_TRUE(daemon_->storage()->index().event(id).value().has_value());

    ASSERT_EQ(call("POST", path + "/protect", R"({"protected":false})").status, 200u);
    r = call("DELETE", path);
    ASSERT_EQ(r.status, 200u) << r.body;
    EXPECT_FALSE(daemon_->storage()->index().event(id).value().has_value());
    EXPECT_EQ(call("DELETE", path).status, 404u);
    EXPECT_EQ(call("POST", "/api/events/99999/protect", R"({"protected":true})").status, 404u);

    auto protects = auditOf("protect");
    ASSERT_EQ(protects.size(), 2u);
    EXPECT_EQ(protects[1]["detail"]["new"], true);  // newest first
    EXPECT_EQ(protects[0]["detail"]["new"], false);
    auto deletes = auditOf("delete");
    ASSERT_EQ(deletes.size(), 1u);
    EXPECT_EQ(deletes[0]["detail"]["event"], id);
    EXPECT_EQ(deletes[0]["detail"]["camera"], "door");
}

TEST_F(SettingsApiTest, PassphraseChangeNeedsTheCurrentOneAndEndsOtherSessions) {
    setUpOwner();
    const fs::path owner = fs::path(dir_) / "state" / "keys" / "owner.json";
    const std::string before = readAll(owner);
    const std::string next = "a brand new passphrase";

    auto r = call(
        "POST", "/api/passphrase",
        Json{{"current", "not the passphrase"}, {"passphrase", next}, {"confirm", next}}.dump());
    EXPECT_EQ(r.status, 403u) << r.body;
    EXPECT_EQ(Json::parse(r.body)["field"], "current");
    EXPECT_EQ(readAll(owner), before);
    r = call("POST", "/api/passphrase",
             Json{{"current", kPass}, {"passphrase", next}, {"confirm", "something else"}}.dump());
    EXPECT_EQ(r.status, 400u);
    EXPECT_EQ(Json::parse(r.body)["field"], "confirm");
    r = call("POST", "/api/passphrase",
             Json{{"current", kPass}, {"passphrase", "short"}, {"confirm", "short"}}.dump());
    EXPECT_EQ(r.status, 400u);
    EXPECT_EQ(Json::parse(r.body)["field"], "passphrase");
    EXPECT_EQ(readAll(owner), before);

    // A second browser, logged in before the change.
    auto other = login(kPass);
    ASSERT_FALSE(other.first.empty());
    r = call("POST", "/api/passphrase",
             Json{{"current", kPass}, {"passphrase", next}, {"confirm", next}}.dump());
    ASSERT_EQ(r.status, 200u) << r.body;
    EXPECT_NE(readAll(owner), before);
    EXPECT_EQ(call("GET", "/api/settings").status, 200u) << "the changing session stays";
    EXPECT_EQ(call("GET", "/api/settings", "", false, other.first).status, 401u);

    EXPECT_TRUE(login(kPass).first.empty());
    EXPECT_FALSE(login(next).first.empty());
    // The recovery key works for the next change.
    r = call("POST", "/api/passphrase",
             Json{{"recoveryKey", recoveryKey_}, {"passphrase", kPass}, {"confirm", kPass}}.dump());
    ASSERT_EQ(r.status, 200u) << r.body;
    EXPECT_FALSE(login(kPass).first.empty());

    auto changes = auditOf("passphrase");
    ASSERT_EQ(changes.size(), 2u);
    EXPECT_EQ(changes[0]["detail"]["method"], "recovery key");
    EXPECT_EQ(changes[1]["detail"]["method"], "passphrase");
    const std::string log = readAll(audit_->file());
    EXPECT_EQ(log.find(next), std::string::npos);
    EXPECT_EQ(log.find(recoveryKey_), std::string::npos);
    EXPECT_NE(log.find("passphrase change"), std::string::npos) << "the wrong attempt is logged";
}

TEST(RetentionEstimate, LongestKindCappedByMaxDaysAndMaxBytes) {
    RetentionConfig r;
    EXPECT_EQ(retentionEstimate(r, 1000), std::nullopt);
    r.maxBytes = 5000;
    EXPECT_EQ(retentionEstimate(r, 1000), 5000u);
    r = {};
    r.motionDays = 2;
    r.ringDays = 10;
    EXPECT_EQ(retentionEstimate(r, 1000), 10'000u);
    r.maxDays = 4;
    EXPECT_EQ(retentionEstimate(r, 1000), 4'000u);
    r.maxBytes = 3'500;
    EXPECT_EQ(retentionEstimate(r, 1000), 3'500u);
}

}  // namespace
