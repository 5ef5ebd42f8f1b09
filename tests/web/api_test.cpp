// The web API as handler calls, request in and response out: what needs a
// session, CSRF, same origin, setup with the code, login and its backoff,
// logout, and 401 for routes that do not exist.
#include "api.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>

#include "run_until.h"

using namespace porchlight;
using namespace porchlight::web;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

class ApiTest : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = ::testing::TempDir() + "pl-api-XXXXXX";
        ASSERT_NE(mkdtemp(dir_.data()), nullptr);
        Options o;
        o.stateDir = dir_;
        o.configFile = dir_ + "/none.toml";
        daemon_ = std::make_unique<Daemon>(io_, clock_, o);
        auto log = audit::AuditLog::open(dir_);
        ASSERT_TRUE(log.hasValue()) << log.error().message;
        audit_ = std::move(*log);
        auth_ = std::make_unique<Auth>(
            clock_, [this](std::function<void()> fn) { boost::asio::post(io_, std::move(fn)); },
            dir_, *audit_);
        auth_->setSetupCode("12345-67890");
        api_ = std::make_unique<Api>(*daemon_, *auth_, *audit_);
    }
    void TearDown() override {
        api_.reset();
        auth_.reset();
        audit_.reset();
        daemon_.reset();
        fs::remove_all(dir_);
    }

    Response call(const std::string& method, const std::string& path, const std::string& body = "",
                  std::map<std::string, std::string> headers = {}) {
        Request r;
        r.method = method;
        r.path = path;
        r.body = body;
        r.headers = std::move(headers);
        r.headers["host"] = "door.local:8443";
        r.clientAddress = "192.0.2.7";
        r.secure = secure_;
        std::optional<Response> got;
        api_->handle(r, [&](Response resp) { got = std::move(resp); });
        EXPECT_TRUE(test::runUntil(
            io_, [&] { return got.has_value(); }, 20s))
            << path;
        return got.value_or(Response{});
    }
    static std::string cookieOf(const Response& r) {
        for (const auto& [k, v] : r.headers)
            if (k == "Set-Cookie")
                return v.substr(0, v.find(';'));
        return {};
    }
    std::map<std::string, std::string> session(const std::string& csrf = "") {
        std::map<std::string, std::string> h{{"cookie", cookie_}};
        if (!csrf.empty())
            h["x-csrf-token"] = csrf;
        return h;
    }
    std::string setUp() {
        auto r = call(
            "POST", "/api/setup",
            R"({"code":"12345-67890","passphrase":"correct horse battery","confirm":"correct horse battery"})");
        EXPECT_EQ(r.status, 200u) << r.body;
        cookie_ = cookieOf(r);
        return nlohmann::json::parse(r.body).value("csrf", "");
    }

    boost::asio::io_context io_;
    AsioClock clock_{io_};
    std::string dir_;
    std::string cookie_;
    bool secure_ = true;  // as over HTTPS, the default
    std::unique_ptr<Daemon> daemon_;
    std::unique_ptr<audit::AuditLog> audit_;
    std::unique_ptr<Auth> auth_;
    std::unique_ptr<Api> api_;
};

TEST_F(ApiTest, WithoutASessionEverythingButStateSetupAndLoginIs401) {
    EXPECT_EQ(call("GET", "/api/state").status, 200u);
    for (const char* path : {"/api/cameras", "/api/audit", "/api/session", "/api/audit/verify",
                             "/api/no-such-route", "/api/recordings/../../etc/passwd", "/api/"})
        EXPECT_EQ(call("GET", path).status, 401u) << path;
    EXPECT_EQ(call("POST", "/api/logout").status, 401u);
    EXPECT_EQ(call("DELETE", "/api/cameras").status, 401u);
    // The recordings routes too, well-formed or not.
    for (const char* path : {"/api/recordings", "/api/playback", "/api/export",
                             "/api/events/1/snapshot", "/api/events/x/snapshot"})
        EXPECT_EQ(call("GET", path).status, 401u) << path;
    // A made-up cookie is no session.
    cookie_ = "porchlight_session=forged";
    EXPECT_EQ(call("GET", "/api/cameras", "", session()).status, 401u);
}

TEST_F(ApiTest, SetupNeedsTheCodeThenGivesARecoveryKeyAndASession) {
    auto state = nlohmann::json::parse(call("GET", "/api/state").body);
    EXPECT_TRUE(state["setupNeeded"].get<bool>());
    auto wrong = call(
        "POST", "/api/setup",
        R"({"code":"00000-00000","passphrase":"correct horse battery","confirm":"correct horse battery"})");
    EXPECT_EQ(wrong.status, 400u);
    EXPECT_NE(wrong.body.find("setup code"), std::string::npos) << wrong.body;
    auto other = call("POST", "/api/setup", R"({"code":"12345-67890"})",
                      {{"origin", "https://evil.example"}});
    EXPECT_EQ(other.status, 403u);

    auto r = call(
        "POST", "/api/setup",
        R"({"code":"12345-67890","passphrase":"correct horse battery","confirm":"correct horse battery"})");
    ASSERT_EQ(r.status, 200u) << r.body;
    const std::string key = nlohmann::json::parse(r.body)["recoveryKey"].get<std::string>();
    EXPECT_EQ(std::count(key.begin(), key.end(), '-'), 8) << key;
    const std::string cookie = [&] {
        for (const auto& [k, v] : r.headers)
            if (k == "Set-Cookie")
                return v;
        return std::string();
    }();
    EXPECT_NE(cookie.find("HttpOnly"), std::string::npos);
    EXPECT_NE(cookie.find("SameSite=Strict"), std::string::npos);
    EXPECT_NE(cookie.find("Secure"), std::string::npos);
    cookie_ = cookieOf(r);
    EXPECT_EQ(call("GET", "/api/cameras", "", session()).status, 200u);
    EXPECT_EQ(call("GET", "/api/no-such-route", "", session()).status, 404u);
    EXPECT_FALSE(nlohmann::json::parse(call("GET", "/api/state").body)["setupNeeded"].get<bool>());
    // Only once.
    auto again = call(
        "POST", "/api/setup",
        R"({"code":"12345-67890","passphrase":"another pass phrase","confirm":"another pass phrase"})");
    EXPECT_EQ(again.status, 400u);
}

TEST_F(ApiTest, StateChangesNeedTheCsrfTokenAndLogoutEndsTheSession) {
    const std::string csrf = setUp();
    ASSERT_FALSE(csrf.empty());
    EXPECT_EQ(call("POST", "/api/logout", "", session()).status, 403u) << "no CSRF header";
    EXPECT_EQ(call("POST", "/api/logout", "", session("wrong-token")).status, 403u);
    EXPECT_EQ(call("GET", "/api/session", "", session()).status, 200u);
    auto out = call("POST", "/api/logout", "", session(csrf));
    EXPECT_EQ(out.status, 200u);
    EXPECT_NE(cookieOf(out).find("porchlight_session="), std::string::npos);
    EXPECT_EQ(call("GET", "/api/cameras", "", session()).status, 401u) << "reused after logout";
}

TEST_F(ApiTest, RecordingsRoutesNeedTheSessionThenCheckTheirParameters) {
    setUp();
    // With a session the recordings API answers, and says which parameter is wrong.
    auto r = call("GET", "/api/recordings", "", session());
    EXPECT_EQ(r.status, 400u) << r.body;
    EXPECT_EQ(nlohmann::json::parse(r.body)["field"], "camera") << r.body;
    // (No storage in this test: the daemon is not started.)
    EXPECT_NE(call("GET", "/api/events/1/snapshot", "", session()).status, 401u);
}

TEST_F(ApiTest, LoginBacksOffAfterFailuresAndEverythingIsAudited) {
    const std::string csrf = setUp();
    ASSERT_EQ(call("POST", "/api/logout", "", session(csrf)).status, 200u);
    // Wrong passphrases are answered 401 until the backoff starts, then 429
    // without even trying the passphrase.
    int refused = 0;
    Response last;
    for (int i = 0; i < 6; ++i) {
        last = call("POST", "/api/login", R"({"passphrase":"not the passphrase"})");
        if (last.status != 401u)
            break;
        ++refused;
    }
    EXPECT_GE(refused, 2);
    EXPECT_LE(refused, 3);
    EXPECT_EQ(last.status, 429u) << last.body;
    auto blocked = call("POST", "/api/login", R"({"passphrase":"correct horse battery"})");
    EXPECT_EQ(blocked.status, 429u) << blocked.body;
    bool retryAfter = false;
    for (const auto& [k, v] : blocked.headers)
        retryAfter |= k == "Retry-After" && std::stoi(v) >= 1;
    EXPECT_TRUE(retryAfter);

    auto entries = audit_->entries(0, 100);
    ASSERT_TRUE(entries.hasValue());
    std::map<std::string, int> kinds;
    for (const auto& e : *entries)
        ++kinds[e["kind"].get<std::string>()];
    EXPECT_EQ(kinds["setup"], 1);
    EXPECT_EQ(kinds["logout"], 1);
    EXPECT_EQ(kinds["login_failed"], refused);
}

TEST_F(ApiTest, PlainHttpAnswersOnlyToAnAddressNotAName) {
    // DNS rebinding: an attacker's name resolving to this device, over plain HTTP.
    secure_ = false;
    Request r;
    r.method = "GET";
    r.path = "/api/state";
    r.headers["host"] = "rebind.attacker.example:8080";
    std::optional<Response> got;
    api_->handle(r, [&](Response resp) { got = std::move(resp); });
    ASSERT_TRUE(got);
    EXPECT_EQ(got->status, 421u);
    for (const char* host : {"127.0.0.1:8080", "localhost:8080", "[::1]:8080", "192.168.1.20"}) {
        r.headers["host"] = host;
        got.reset();
        api_->handle(r, [&](Response resp) { got = std::move(resp); });
        ASSERT_TRUE(got);
        EXPECT_EQ(got->status, 200u) << host;
    }
}

/// A path for \a pattern, its {name} segments filled in.
std::string pathFor(std::string pattern) {
    for (size_t at; (at = pattern.find('{')) != std::string::npos;)
        pattern.replace(at, pattern.find('}', at) - at + 1, "1");
    return pattern;
}

TEST_F(ApiTest, TheRouteTableIsWellFormed) {
    std::set<std::string> seen, open;
    for (const Api::Route& r : Api::routes()) {
        const std::string name = std::string(r.method) + " " + r.pattern;
        EXPECT_TRUE(seen.insert(name).second) << "twice: " << name;
        EXPECT_TRUE(std::string_view(r.pattern).starts_with("/api/")) << name;
        EXPECT_TRUE(r.handler != nullptr) << name;
        // Only GET may leave state alone: anything else needs CSRF or same origin.
        if (std::string_view(r.method) != "GET") {
            EXPECT_TRUE(r.changesState) << name << " changes state but is not marked so";
        }
        if (r.access == Api::Access::Public)
            open.insert(name);
    }
    // Nothing else is reachable without logging in.
    EXPECT_EQ(open,
              (std::set<std::string>{"GET /api/state", "POST /api/setup", "POST /api/login"}));
}

TEST_F(ApiTest, EveryRouteInTheTableIs401WithoutASessionAndAnswersWithOne) {
    const std::string csrf = setUp();
    for (const Api::Route& r : Api::routes()) {
        if (r.access == Api::Access::Public)
            continue;
        const std::string path = pathFor(r.pattern);
        SCOPED_TRACE(std::string(r.method) + " " + path);
        const std::string saved = cookie_;
        for (const char* cookie : {"", "porchlight_session=", "porchlight_session=planted"}) {
            cookie_ = cookie;
            auto resp = call(r.method, path, "{}", session(csrf));
            EXPECT_EQ(resp.status, 401u) << cookie;
            EXPECT_NE(resp.body.find("\"error\""), std::string::npos) << resp.body;
        }
        cookie_ = saved;
        if (r.changesState) {
            EXPECT_EQ(call(r.method, path, "{}", session()).status, 403u);
            EXPECT_EQ(call(r.method, path, "{}", session("not-the-token")).status, 403u);
        } else if (std::string_view(r.pattern) != "/api/logout") {
            auto resp = call(r.method, path, "", session());
            EXPECT_NE(resp.status, 401u) << resp.body;
            EXPECT_EQ(resp.body.find("no such API route"), std::string::npos) << resp.body;
        }
    }
    // A path the table has, with a method it does not: 405 with a session, 401 without.
    EXPECT_EQ(call("DELETE", "/api/cameras", "", session(csrf)).status, 405u);
    cookie_.clear();
    EXPECT_EQ(call("DELETE", "/api/cameras", "", session(csrf)).status, 401u);
}

TEST_F(ApiTest, WhileLimitedNoKeyDerivationRuns) {
    const std::string csrf = setUp();
    ASSERT_EQ(call("POST", "/api/logout", "", session(csrf)).status, 200u);
    // Hammer login: each attempt that was tried (401) ran Argon2id once,
    // each refused one (429) not at all.
    const size_t before = auth_->kdfRuns();
    int tried = 0, refused = 0;
    for (int i = 0; i < 200; ++i) {
        auto r = call("POST", "/api/login",
                      i % 2 ? R"({"passphrase":"wrong"})" : R"({"recoveryKey":"wrong"})");
        tried += r.status == 401u;
        refused += r.status == 429u;
    }
    EXPECT_EQ(tried + refused, 200);
    EXPECT_GE(tried, 3);
    EXPECT_GE(refused, 150);
    EXPECT_EQ(auth_->kdfRuns() - before, static_cast<size_t>(tried));
}

}  // namespace
