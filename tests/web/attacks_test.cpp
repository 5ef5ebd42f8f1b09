// Attacks on the LAN face, against a real porchlightd on 127.0.0.1 with a
// test camera recording: every route without a session, CSRF, session
// fixation and reuse, login brute force, path traversal, oversized requests,
// slow clients and idle connections. Throughout, the daemon must go on
// recording and answer a normal client about as fast as before the attack
// (docs/RELIABILITY.md, "Attacks on the LAN face").
//
// One daemon serves every test of this file, in the order they are written
// (setup first). Attackers connect from other loopback addresses
// (127.0.0.2, ...) so that the per-address limits they trip are theirs,
// while the normal client stays 127.0.0.1.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "api.h"
#include "process.h"

using namespace std::chrono_literals;
using porchlight::test::Process;
using porchlight::web::Api;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

std::string env(const char* name, const char* fallback) {
    const char* v = std::getenv(name);
    return v && *v ? v : fallback;
}

struct Reply {
    unsigned status = 0;
    std::string head;
    std::string body;
    bool closed = false;  // the server closed the connection after answering
    std::chrono::microseconds took{0};
    std::string header(const std::string& name) const {
        // Header names as the server writes them; good enough for ours.
        size_t at = head.find("\r\n" + name + ": ");
        if (at == std::string::npos)
            return {};
        at += name.size() + 4;
        return head.substr(at, head.find("\r\n", at) - at);
    }
};

/// A plain TCP connection to the daemon from a chosen loopback address, with
/// deadlines on every read so a test can never hang on the server.
class Conn {
public:
    Conn(uint16_t port, const std::string& from = "127.0.0.1") {
        fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in local{};
        local.sin_family = AF_INET;
        ::inet_pton(AF_INET, from.c_str(), &local.sin_addr);
        if (::bind(fd_, reinterpret_cast<sockaddr*>(&local), sizeof local) != 0) {
            close();
            return;
        }
        sockaddr_in to{};
        to.sin_family = AF_INET;
        to.sin_port = htons(port);
        ::inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
        if (::connect(fd_, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0)
            close();
    }
    ~Conn() { close(); }
    Conn(const Conn&) = delete;
    Conn& operator=(const Conn&) = delete;

    bool ok() const { return fd_ >= 0; }
    void close() {
        if (fd_ >= 0)
            ::close(fd_);
        fd_ = -1;
    }
    bool send(const std::string& data) {
        size_t at = 0;
        while (fd_ >= 0 && at < data.size()) {
            ssize_t n = ::send(fd_, data.data() + at, data.size() - at, MSG_NOSIGNAL);
            if (n <= 0)
                return false;
            at += static_cast<size_t>(n);
        }
        return fd_ >= 0;
    }
    /// Reads whatever arrives until \a deadline; true when the server closed
    /// (end of stream or reset) before it.
    bool readUntilClosed(std::string& out, std::chrono::milliseconds deadline) {
        const auto end = Clock::now() + deadline;
        char buf[16384];
        while (fd_ >= 0) {
            const auto left =
                std::chrono::duration_cast<std::chrono::milliseconds>(end - Clock::now());
            if (left.count() <= 0)
                return false;
            pollfd p{fd_, POLLIN, 0};
            if (::poll(&p, 1, static_cast<int>(left.count())) <= 0)
                continue;
            ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
            if (n <= 0)
                return true;
            out.append(buf, static_cast<size_t>(n));
        }
        return true;
    }
    /// Reads one answer with a Content-Length body (ours all have one).
    bool readAnswer(std::string& out, std::chrono::milliseconds deadline) {
        const auto end = Clock::now() + deadline;
        char buf[16384];
        while (fd_ >= 0 && Clock::now() < end) {
            size_t headEnd = out.find("\r\n\r\n");
            if (headEnd != std::string::npos) {
                size_t cl = out.find("Content-Length: ");
                if (cl != std::string::npos && cl < headEnd &&
                    out.size() >= headEnd + 4 + std::stoul(out.substr(cl + 16)))
                    return true;
            }
            pollfd p{fd_, POLLIN, 0};
            if (::poll(&p, 1, 100) <= 0)
                continue;
            ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
            if (n <= 0)
                return false;
            out.append(buf, static_cast<size_t>(n));
        }
        return false;
    }

private:
    int fd_ = -1;
};

Reply parse(const std::string& raw) {
    Reply r;
    size_t end = raw.find("\r\n\r\n");
    r.head = raw.substr(0, end);
    if (end != std::string::npos)
        r.body = raw.substr(end + 4);
    if (raw.size() > 12 && raw.starts_with("HTTP/1.1 "))
        r.status = static_cast<unsigned>(std::atoi(raw.substr(9, 3).c_str()));
    return r;
}

bool isJsonError(const Reply& r) {
    auto j = nlohmann::json::parse(r.body, nullptr, false);
    return !j.is_discarded() && j.is_object() && j.contains("error") && j["error"].is_string() &&
           r.head.find("Content-Type: application/json") != std::string::npos;
}

/// A path for \a pattern: {name} segments filled in with something plausible.
std::string pathFor(std::string pattern) {
    for (size_t at; (at = pattern.find('{')) != std::string::npos;)
        pattern.replace(at, pattern.find('}', at) - at + 1, "1");
    return pattern;
}

class Attacks : public ::testing::Test {
public:
    static void SetUpTestSuite() {
        std::string d = ::testing::TempDir() + "porchlight-attacks-XXXXXX";
        ASSERT_NE(mkdtemp(d.data()), nullptr);
        dir_ = d;
        const fs::path config = dir_ / "porchlight.toml";
        std::ofstream(config) << "[[camera]]\nid = \"door\"\nsource = \"test\"\nwidth = 320\n"
                                 "height = 240\nframerate = 10\n\n[storage]\nsegment_seconds = 10\n"
                                 "\n[web]\nlisten = [\"http://127.0.0.1:0\"]\n";
        // The session bus: this test needs no D-Bus, and must never take the
        // system bus name another daemon on this machine may hold.
        daemon_ = new Process({env("PORCHLIGHTD", "porchlightd"), "--config", config.string(),
                               "--state-dir", (dir_ / "state").string(), "--bus", "session"},
                              (dir_ / "porchlightd.log").string(), {"PORCHLIGHT_LOG=info"});
        ASSERT_TRUE(daemon_->started());
        ASSERT_TRUE(daemon_->waitForOutput("with plain HTTP (port ", 30s)) << daemon_->output();
        ASSERT_TRUE(daemon_->waitForOutput("setup code: ", 30s)) << daemon_->output();
        const std::string out = daemon_->output();
        size_t at = out.find("with plain HTTP (port ") + 22;
        port_ = static_cast<uint16_t>(std::stoi(out.substr(at)));
        at = out.find("setup code: ") + 12;
        setupCode_ = out.substr(at, 11);
    }
    static void TearDownTestSuite() {
        if (daemon_) {
            daemon_->signal(SIGTERM);
            EXPECT_EQ(daemon_->wait(15s), 0) << daemon_->output();
            delete daemon_;
            daemon_ = nullptr;
        }
        std::error_code ec;
        if (!::testing::UnitTest::GetInstance()->Failed())
            fs::remove_all(dir_, ec);
        else
            std::cerr << "kept for inspection: " << dir_ << "\n";
    }

protected:
    /// One request on its own connection; \a raw is sent as is.
    static Reply raw(const std::string& raw, const std::string& from = "127.0.0.1",
                     std::chrono::milliseconds deadline = 20s) {
        const auto start = Clock::now();
        Conn c(port_, from);
        std::string out;
        // The server may answer (and stop reading) before everything is sent.
        if (!c.ok())
            return Reply{};
        c.send(raw);
        const bool closed = c.readUntilClosed(out, deadline);
        Reply r = parse(out);
        r.closed = closed;
        r.took = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start);
        return r;
    }
    static Reply request(const std::string& method, const std::string& target,
                         const std::string& headers = "", const std::string& body = "",
                         const std::string& from = "127.0.0.1") {
        std::string text = method + " " + target +
                           " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port_) +
                           "\r\nConnection: close\r\n" + headers;
        if (!body.empty() || method == "POST")
            text +=
                "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
                "\r\n";
        return raw(text + "\r\n" + body, from);
    }
    static std::string cookieHeader(const std::string& token) {
        return "Cookie: porchlight_session=" + token + "\r\n";
    }
    static std::string tokenOf(const Reply& r) {
        const std::string set = r.header("Set-Cookie");
        const std::string prefix = "porchlight_session=";
        if (!set.starts_with(prefix))
            return {};
        return set.substr(prefix.size(), set.find(';') - prefix.size());
    }
    /// Logs in with the passphrase from \a from: {token, csrf}, empty on failure.
    static std::pair<std::string, std::string> login(const std::string& from = "127.0.0.1",
                                                     const std::string& extra = "") {
        Reply r = request("POST", "/api/login", extra,
                          R"({"passphrase":")" + std::string(kPassphrase) + R"("})", from);
        if (r.status != 200)
            return {};
        auto j = nlohmann::json::parse(r.body, nullptr, false);
        return {tokenOf(r), j.is_object() ? j.value("csrf", "") : ""};
    }

    /// Bytes the recorder has written so far (segments grow a fragment a second).
    static uintmax_t recordedBytes() {
        uintmax_t total = 0;
        std::error_code ec;
        for (auto it = fs::recursive_directory_iterator(dir_ / "state/recordings", ec);
             !ec && it != fs::recursive_directory_iterator(); it.increment(ec))
            if (it->is_regular_file(ec))
                total += it->file_size(ec);
        return total;
    }
    /// How long a normal client waits for GET /api/state now.
    static std::chrono::microseconds probe() {
        Reply r = request("GET", "/api/state");
        return r.status == 200 ? r.took : std::chrono::microseconds::max();
    }

    /// Watches a normal client and the recorder while an attack runs: a
    /// baseline first, then GET /api/state every 100 ms until stop().
    class Watch {
    public:
        Watch() {
            std::vector<std::chrono::microseconds> base;
            for (int i = 0; i < 10; ++i) {
                base.push_back(probe());
                std::this_thread::sleep_for(20ms);
            }
            std::sort(base.begin(), base.end());
            baselineWorst_ = base.back();
            bytesBefore_ = recordedBytes();
            thread_ = std::thread([this] {
                while (!stop_) {
                    auto t = probe();
                    {
                        std::lock_guard lock(mutex_);
                        during_.push_back(t);
                    }
                    std::this_thread::sleep_for(100ms);
                }
            });
        }
        ~Watch() { stop(); }
        void stop() {
            stop_ = true;
            if (thread_.joinable())
                thread_.join();
        }
        /// Stops watching and checks: every probe answered, their median no
        /// more than 10 times the worst of the baseline, and the recording grew.
        void expectUnharmed(const char* attack) {
            stop();
            SCOPED_TRACE(attack);
            ASSERT_FALSE(during_.empty());
            auto sorted = during_;
            std::sort(sorted.begin(), sorted.end());
            EXPECT_NE(sorted.back(), std::chrono::microseconds::max())
                << "a normal GET /api/state was not answered during the attack";
            const auto median = sorted[sorted.size() / 2];
            std::cout << attack << ": GET /api/state baseline worst " << baselineWorst_.count()
                      << " µs; during the attack median " << median.count() << " µs over "
                      << sorted.size() << " probes\n";
            EXPECT_LE(median.count(), 10 * std::max<int64_t>(baselineWorst_.count(), 1000))
                << "median answer " << median.count() << " µs against a baseline of "
                << baselineWorst_.count() << " µs at worst";
            // A fragment is written every second: wait for the next one at most 10 s.
            const auto end = Clock::now() + 10s;
            while (recordedBytes() <= bytesBefore_ && Clock::now() < end)
                std::this_thread::sleep_for(200ms);
            EXPECT_GT(recordedBytes(), bytesBefore_) << "the recording stopped growing";
        }

    private:
        std::chrono::microseconds baselineWorst_{0};
        uintmax_t bytesBefore_ = 0;
        std::atomic<bool> stop_{false};
        std::mutex mutex_;
        std::vector<std::chrono::microseconds> during_;
        std::thread thread_;
    };

    static constexpr const char* kPassphrase = "correct horse battery staple";
    static inline fs::path dir_;
    static inline Process* daemon_ = nullptr;
    static inline uint16_t port_ = 0;
    static inline std::string setupCode_;
    static inline std::string token_, csrf_;  // the owner's session from setup
};

std::string setupBody(const std::string& code) {
    return R"({"code":")" + code + R"(","passphrase":"correct horse battery staple",)" +
           R"("confirm":"correct horse battery staple"})";
}

TEST_F(Attacks, SetupFromAnotherSiteIsRefusedThenTheOwnerSetsUp) {
    // With the right code even: another site's page cannot claim the device.
    for (const char* h :
         {"Origin: https://evil.example\r\n", "Origin: null\r\n", "Origin: http://127.0.0.1:1\r\n",
          "Sec-Fetch-Site: cross-site\r\n", "Sec-Fetch-Site: same-site\r\n"}) {
        Reply r = request("POST", "/api/setup", h, setupBody(setupCode_));
        EXPECT_EQ(r.status, 403u) << h << r.body;
        EXPECT_TRUE(isJsonError(r)) << r.body;
        EXPECT_EQ(tokenOf(r), "") << h;
    }
    Reply state = request("GET", "/api/state");
    ASSERT_EQ(state.status, 200u);
    EXPECT_TRUE(nlohmann::json::parse(state.body)["setupNeeded"].get<bool>());

    // The device's own page (same Origin) sets up.
    Reply r = request(
        "POST", "/api/setup",
        "Origin: http://127.0.0.1:" + std::to_string(port_) + "\r\nSec-Fetch-Site: same-origin\r\n",
        setupBody(setupCode_));
    ASSERT_EQ(r.status, 200u) << r.body;
    token_ = tokenOf(r);
    csrf_ = nlohmann::json::parse(r.body).value("csrf", "");
    ASSERT_FALSE(token_.empty());
    ASSERT_FALSE(csrf_.empty());
    ASSERT_TRUE(daemon_->waitForOutput("camera: door: streaming", 30s)) << daemon_->output();
    // Recording has started: the segment grows.
    const auto end = Clock::now() + 20s;
    while (recordedBytes() == 0 && Clock::now() < end)
        std::this_thread::sleep_for(200ms);
    EXPECT_GT(recordedBytes(), 0u);
}

TEST_F(Attacks, EveryRouteWithoutASessionIs401) {
    ASSERT_FALSE(token_.empty()) << "setup failed";
    size_t sessionRoutes = 0;
    for (const Api::Route& route : Api::routes()) {
        const std::string path = pathFor(route.pattern);
        if (route.access == Api::Access::Public)
            continue;
        ++sessionRoutes;
        SCOPED_TRACE(std::string(route.method) + " " + path);
        const std::string body = route.changesState ? "{}" : "";
        // No cookie, a made-up one, an empty one, and the real one garbled.
        for (const std::string& cookie :
             {std::string(), cookieHeader("attacker-chosen-value"), cookieHeader(""),
              cookieHeader(token_ + "x"), "Cookie: other=" + token_ + "\r\n"}) {
            Reply r = request(route.method, path, cookie + "X-CSRF-Token: " + csrf_ + "\r\n", body);
            EXPECT_EQ(r.status, 401u) << cookie << r.body;
            EXPECT_TRUE(isJsonError(r)) << r.head << r.body;
        }
        // With the session the route itself answers (logout is tested on its own:
        // it would end the session).
        if (std::string(route.pattern) == "/api/logout")
            continue;
        Reply ok = request(route.method, path,
                           cookieHeader(token_) + "X-CSRF-Token: " + csrf_ + "\r\n", body);
        EXPECT_NE(ok.status, 401u) << ok.body;
        EXPECT_EQ(ok.body.find("no such API route"), std::string::npos) << ok.body;
    }
    EXPECT_GE(sessionRoutes, 8u);

    // Routes that do not exist, in many shapes, and methods the routes do not have.
    const std::vector<std::pair<std::string, std::string>> unknown = {
        {"GET", "/api"},
        {"GET", "/api/"},
        {"GET", "/api/no-such-route"},
        {"GET", "/api/CAMERAS"},
        {"GET", "/api/cameras/"},
        {"GET", "/api//cameras"},
        {"GET", "/api/cameras/door/live"},
        {"GET", "/api/events//snapshot"},
        {"GET", "/api/events/1/2/snapshot"},
        {"GET", "/api/../api/cameras"},
        {"GET", "/api/%2e%2e/etc/passwd"},
        {"GET", "/api/cameras%00"},
        {"GET", "/api/cameras?x=1"},
        {"GET", "/api/admin"},
        {"POST", "/api/cameras"},
        {"PUT", "/api/settings"},
        {"DELETE", "/api/recordings"},
        {"PATCH", "/api/session"},
        {"OPTIONS", "/api/cameras"},
        {"HEAD", "/api/cameras"},
        {"POST", "/api/state"},
        {"GET", "/api/setup"},
        {"GET", "/api/login"},
    };
    for (const auto& [method, path] : unknown) {
        Reply r = request(method, path, "", method == "GET" || method == "HEAD" ? "" : "{}");
        EXPECT_EQ(r.status, 401u) << method << " " << path << ": " << r.body;
        if (method != "HEAD") {
            EXPECT_TRUE(isJsonError(r)) << method << " " << path << ": " << r.body;
        }
    }
    // Public routes stay public.
    EXPECT_EQ(request("GET", "/api/state").status, 200u);
}

TEST_F(Attacks, EveryStateChangingRouteNeedsTheCsrfToken) {
    ASSERT_FALSE(token_.empty()) << "setup failed";
    // A second session of the same owner: its token is no good for the first.
    auto [otherToken, otherCsrf] = login();
    ASSERT_FALSE(otherToken.empty());
    ASSERT_NE(otherCsrf, csrf_);
    size_t checked = 0;
    for (const Api::Route& route : Api::routes()) {
        if (!route.changesState || route.access != Api::Access::Session)
            continue;
        ++checked;
        const std::string path = pathFor(route.pattern);
        SCOPED_TRACE(std::string(route.method) + " " + path);
        for (const std::string& csrf :
             {std::string(), std::string("X-CSRF-Token: \r\n"),
              std::string("X-CSRF-Token: wrong\r\n"), "X-CSRF-Token: " + otherCsrf + "\r\n",
              "X-CSRF-Token: " + csrf_ + "x\r\n", "X-CSRF-Token: " + token_ + "\r\n"}) {
            Reply r = request(route.method, path, cookieHeader(token_) + csrf, "{}");
            EXPECT_EQ(r.status, 403u) << csrf << r.body;
            EXPECT_TRUE(isJsonError(r)) << r.body;
        }
    }
    EXPECT_GE(checked, 1u);
    // The session is still alive after all that (logout was refused each time).
    EXPECT_EQ(request("GET", "/api/session", cookieHeader(token_)).status, 200u);
    // Logging out the other session with its own token works.
    EXPECT_EQ(request("POST", "/api/logout",
                      cookieHeader(otherToken) + "X-CSRF-Token: " + otherCsrf + "\r\n")
                  .status,
              200u);
}

TEST_F(Attacks, LoginFromAnotherSiteIsRefused) {
    for (const char* h : {"Origin: https://evil.example\r\n", "Origin: null\r\n",
                          "Sec-Fetch-Site: cross-site\r\n"}) {
        Reply r = request("POST", "/api/login", h,
                          R"({"passphrase":")" + std::string(kPassphrase) + R"("})");
        EXPECT_EQ(r.status, 403u) << h << r.body;
        EXPECT_EQ(tokenOf(r), "") << h;
    }
    // And the refusals are no failed logins (they never reached the passphrase).
    Reply audit = request("GET", "/api/audit?limit=1000", cookieHeader(token_));
    ASSERT_EQ(audit.status, 200u);
    const auto entries = nlohmann::json::parse(audit.body)["entries"];
    for (const auto& e : entries)
        EXPECT_NE(e.value("kind", ""), "login_failed") << e.dump();
}

TEST_F(Attacks, SessionFixationAndReuseAfterLogout) {
    // The attacker plants a cookie value and the owner logs in with it set:
    // the daemon issues a fresh token and never adopts the planted one.
    const std::string planted = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    auto [token, csrf] = login("127.0.0.1", cookieHeader(planted));
    ASSERT_FALSE(token.empty());
    EXPECT_NE(token, planted);
    EXPECT_EQ(request("GET", "/api/session", cookieHeader(planted)).status, 401u);
    // Even a real session's cookie sent to login is not kept: a new token.
    auto [token2, csrf2] = login("127.0.0.1", cookieHeader(token));
    ASSERT_FALSE(token2.empty());
    EXPECT_NE(token2, token);
    EXPECT_NE(csrf2, csrf);
    EXPECT_GE(token.size(), 43u) << "session tokens are 32 random bytes";

    // Logout ends the session for good, on a new connection and on a kept-alive one.
    Conn kept(port_);
    ASSERT_TRUE(kept.ok());
    const std::string host = "Host: 127.0.0.1:" + std::to_string(port_) + "\r\n";
    ASSERT_TRUE(kept.send("GET /api/session HTTP/1.1\r\n" + host + cookieHeader(token) + "\r\n"));
    std::string first;
    ASSERT_TRUE(kept.readAnswer(first, 10s));
    EXPECT_EQ(parse(first).status, 200u);

    Reply out =
        request("POST", "/api/logout", cookieHeader(token) + "X-CSRF-Token: " + csrf + "\r\n");
    EXPECT_EQ(out.status, 200u);
    EXPECT_TRUE(out.header("Set-Cookie").starts_with("porchlight_session=;")) << out.head;
    EXPECT_NE(out.header("Set-Cookie").find("Max-Age=0"), std::string::npos) << out.head;

    for (const char* path : {"/api/session", "/api/cameras", "/api/audit"})
        EXPECT_EQ(request("GET", path, cookieHeader(token)).status, 401u) << path;
    EXPECT_EQ(request("POST", "/api/logout", cookieHeader(token) + "X-CSRF-Token: " + csrf + "\r\n")
                  .status,
              401u);
    std::string second;
    ASSERT_TRUE(kept.send("GET /api/cameras HTTP/1.1\r\n" + host + cookieHeader(token) + "\r\n"));
    ASSERT_TRUE(kept.readAnswer(second, 10s));
    EXPECT_EQ(parse(second).status, 401u) << second;
    // The other sessions are untouched.
    EXPECT_EQ(request("GET", "/api/session", cookieHeader(token2)).status, 200u);
    EXPECT_EQ(request("GET", "/api/session", cookieHeader(token_)).status, 200u);
}

TEST_F(Attacks, LoginBruteForceIsRateLimitedAndAudited) {
    ASSERT_FALSE(token_.empty()) << "setup failed";
    const std::string attacker = "127.0.0.9";
    Watch watch;
    // Tried attempts cost an Argon2id derivation; refused ones (429) must
    // not: compare the two in this run.
    std::vector<std::chrono::microseconds> tried, refused;
    int retryAfterMissing = 0;
    // At least 8 s and 3 tried attempts (Argon2id is slow on a busy machine).
    const auto end = Clock::now() + 8s, hardEnd = Clock::now() + 40s;
    int attempts = 0;
    while (attempts < 2000 && Clock::now() < hardEnd && (Clock::now() < end || tried.size() < 3)) {
        ++attempts;
        Reply r =
            request("POST", "/api/login", "",
                    R"({"passphrase":"guess )" + std::to_string(attempts) + R"("})", attacker);
        if (r.status == 401)
            tried.push_back(r.took);
        else if (r.status == 429) {
            refused.push_back(r.took);
            retryAfterMissing += std::atoi(r.header("Retry-After").c_str()) < 1;
            std::this_thread::sleep_for(10ms);  // spread them over the backoff
        } else {
            ADD_FAILURE() << "attempt " << attempts << ": " << r.status << " " << r.body;
        }
    }
    // 3 free failures, then 1 s, 2 s, 4 s, 8 s... between tries: in 8 to 40 s
    // at most 3 + 4 tries, however many attempts were made.
    EXPECT_GE(tried.size(), 3u);
    EXPECT_LE(tried.size(), 7u) << "of " << attempts << " attempts";
    EXPECT_GE(refused.size(), 20u) << "of " << attempts << " attempts";
    EXPECT_EQ(retryAfterMissing, 0);
    std::sort(tried.begin(), tried.end());
    std::sort(refused.begin(), refused.end());
    if (!tried.empty() && !refused.empty()) {
        std::cout << attempts << " attempts: " << tried.size() << " tried (median "
                  << tried[tried.size() / 2].count() << " µs), " << refused.size()
                  << " refused (median " << refused[refused.size() / 2].count() << " µs)\n";
        // An Argon2id run takes a good part of a second; a refusal is a lookup.
        EXPECT_GT(tried[tried.size() / 2].count(), 5 * refused[refused.size() / 2].count())
            << "tried " << tried[tried.size() / 2].count() << " µs, refused "
            << refused[refused.size() / 2].count() << " µs (medians)";
    }
    // The limit is the attacker's address's: the owner logs in meanwhile.
    auto [token, csrf] = login("127.0.0.1");
    EXPECT_FALSE(token.empty()) << "the owner was locked out by someone else's failures";
    // Still blocked after the owner's success. (The current wait may have
    // run out just now; then this try fails and starts a longer one.)
    Reply again = request("POST", "/api/login", "", R"({"passphrase":"x"})", attacker);
    if (again.status == 401u) {
        tried.push_back(again.took);
        again = request("POST", "/api/login", "", R"({"passphrase":"x"})", attacker);
    }
    EXPECT_EQ(again.status, 429u);
    // Even the right passphrase is not tried while blocked.
    EXPECT_EQ(request("POST", "/api/login", "",
                      R"({"passphrase":")" + std::string(kPassphrase) + R"("})", attacker)
                  .status,
              429u);

    // The audit log has each tried failure, from the attacker's address, counted.
    Reply audit = request("GET", "/api/audit?limit=1000", cookieHeader(token_));
    ASSERT_EQ(audit.status, 200u);
    int failures = 0, highest = 0;
    const auto entries = nlohmann::json::parse(audit.body)["entries"];
    for (const auto& e : entries) {
        if (e.value("kind", "") != "login_failed")
            continue;
        EXPECT_EQ(e.value("who", ""), attacker) << e.dump();
        ++failures;
        highest = std::max(highest, e["detail"].value("failures", 0));
    }
    EXPECT_EQ(failures, static_cast<int>(tried.size()));
    EXPECT_EQ(highest, static_cast<int>(tried.size()));
    watch.expectUnharmed("login brute force");
}

TEST_F(Attacks, PathTraversalNeverLeavesTheWwwDirectory) {
    // The daemon serves the source tree's www/ here: its parent holds
    // README.md and meson.build, the obvious targets next to /etc/passwd.
    const std::vector<std::string> targets = {
        "/../README.md",
        "/../../../../etc/passwd",
        "/%2e%2e/README.md",
        "/%2E%2E/%2E%2E/etc/passwd",
        "/.%2e/README.md",
        "/%252e%252e/README.md",
        "/..%2fREADME.md",
        "/..%2F..%2F..%2Fetc%2Fpasswd",
        "/..\\README.md",
        "/..%5cREADME.md",
        "/%5c..%5cREADME.md",
        "/index.html%00/../../README.md",
        "/README.md%00.html",
        "/%00",
        "/%c0%ae%c0%ae/README.md",
        "/%c0%af../README.md",
        "/%e0%80%ae%e0%80%ae/README.md",
        "/etc/passwd",
        "//etc/passwd",
        "/%2fetc%2fpasswd",
        "///../README.md",
        "/./../README.md",
        "/index.html/../../README.md",
        "/%",
        "/%zz",
        "/%2",
    };
    std::string readme;
    {
        std::ifstream in(fs::path(PORCHLIGHT_SOURCE_ROOT) / "README.md");
        std::getline(in, readme);
    }
    ASSERT_FALSE(readme.empty());
    for (const auto& target : targets) {
        Reply r = request("GET", target);
        EXPECT_TRUE(r.status == 400 || r.status == 404) << target << ": " << r.status;
        EXPECT_EQ(r.body.find("root:"), std::string::npos) << target;
        EXPECT_EQ(r.body.find(readme), std::string::npos) << target;
        EXPECT_EQ(r.body.find("project('porchlight"), std::string::npos) << target;
    }
    // A target that is not a path at all (absolute-form, authority-form).
    for (const char* target : {"http://127.0.0.1/../README.md", "file:///etc/passwd", "*"}) {
        Reply r = request("GET", target);
        EXPECT_TRUE(r.status == 400 || r.status == 404) << target << ": " << r.status;
        EXPECT_EQ(r.body.find("root:"), std::string::npos) << target;
    }
    // The real pages are still there.
    EXPECT_EQ(request("GET", "/").status, 200u);
}

TEST_F(Attacks, OversizedHeadersAndBodiesAreRefusedAndTheConnectionClosed) {
    Watch watch;
    const std::string host = "Host: 127.0.0.1:" + std::to_string(port_) + "\r\n";
    // The 8 KiB header limit: one big header, many small ones, a long target.
    const std::vector<std::string> bigHeads = {
        "GET / HTTP/1.1\r\n" + host + "X-Big: " + std::string(9000, 'a') + "\r\n\r\n",
        "GET /api/state HTTP/1.1\r\n" + host +
            [] {
                std::string h;
                for (int i = 0; i < 400; ++i)
                    h += "X-" + std::to_string(i) + ": abcdefghijklmnop\r\n";
                return h;
            }() +
            "\r\n",
        "GET /" + std::string(9000, 'a') + " HTTP/1.1\r\n" + host + "\r\n",
        "GET /api/state HTTP/1.1\r\n" + host + cookieHeader(std::string(9000, 'c')) + "\r\n",
    };
    for (const auto& text : bigHeads) {
        // A request after it on the same connection must not be answered.
        Reply r = raw(text + "GET /api/state HTTP/1.1\r\n" + host + "\r\n");
        EXPECT_EQ(r.status, 431u) << text.substr(0, 40) << ": " << r.head;
        EXPECT_TRUE(isJsonError(r)) << r.body;
        EXPECT_TRUE(r.closed) << "the connection stayed open";
        EXPECT_EQ(r.body.find("HTTP/1.1"), std::string::npos) << "a second answer came";
    }
    // The 64 KiB body limit: announced, sent, chunked, and announced but never sent.
    const std::string login =
        "POST /api/login HTTP/1.1\r\n" + host + "Content-Type: application/json\r\n";
    const std::vector<std::string> bigBodies = {
        login + "Content-Length: 70000\r\n\r\n" + std::string(70000, 'b'),
        login + "Content-Length: 65537\r\n\r\n",
        login + "Content-Length: 99999999999999\r\n\r\n",
        login + "Transfer-Encoding: chunked\r\n\r\n" +
            [] {
                std::string b;
                for (int i = 0; i < 20; ++i)
                    b += "1000\r\n" + std::string(0x1000, 'd') + "\r\n";
                return b + "0\r\n\r\n";
            }(),
    };
    for (const auto& text : bigBodies) {
        Reply r = raw(text);
        EXPECT_EQ(r.status, 413u) << text.substr(0, 80) << ": " << r.head;
        EXPECT_TRUE(isJsonError(r)) << r.body;
        EXPECT_TRUE(r.closed) << "the connection stayed open";
    }
    // None of those was a login attempt.
    Reply audit = request("GET", "/api/audit?limit=1000", cookieHeader(token_));
    ASSERT_EQ(audit.status, 200u);
    int before = 0;
    const auto entries = nlohmann::json::parse(audit.body)["entries"];
    for (const auto& e : entries)
        before += e.value("who", "") == "127.0.0.1" && e.value("kind", "") == "login_failed";
    EXPECT_EQ(before, 0);
    watch.expectUnharmed("oversized requests");
}

TEST_F(Attacks, SlowClientsAreCutOffAndOthersServed) {
    // Slowloris: headers trickled a byte a second, from two addresses, more
    // connections than one address may hold. The server's read deadline
    // (30 s for the whole request, not per byte) must close every one.
    Watch watch;
    std::vector<std::unique_ptr<Conn>> slow;
    for (const char* from : {"127.0.0.3", "127.0.0.4"})
        for (int i = 0; i < 20; ++i) {
            slow.push_back(std::make_unique<Conn>(port_, from));
            ASSERT_TRUE(slow.back()->ok());
        }
    const std::string trickle =
        "GET /api/state HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + std::string(200, 'z');
    const auto start = Clock::now();
    std::vector<bool> closed(slow.size(), false);
    std::vector<Clock::duration> closedAfter(slow.size());
    size_t at = 0;
    while (Clock::now() - start < 45s &&
           std::count(closed.begin(), closed.end(), true) < static_cast<long>(slow.size())) {
        for (size_t i = 0; i < slow.size(); ++i) {
            if (closed[i])
                continue;
            std::string got;
            // A refused one (over the per-address limit) gets its 503 and is closed.
            if (!slow[i]->send(std::string(1, trickle[at % trickle.size()])) ||
                slow[i]->readUntilClosed(got, 1ms)) {
                closed[i] = true;
                closedAfter[i] = Clock::now() - start;
                if (!got.empty()) {
                    EXPECT_EQ(parse(got).status, 503u) << got;
                }
            }
        }
        ++at;
        std::this_thread::sleep_for(1s);
    }
    std::cout << "slowloris: last connection closed after "
              << std::chrono::duration_cast<std::chrono::milliseconds>(
                     *std::max_element(closedAfter.begin(), closedAfter.end()))
                     .count()
              << " ms\n";
    EXPECT_EQ(std::count(closed.begin(), closed.end(), true), static_cast<long>(slow.size()))
        << "a connection trickling a byte a second was still open after 45 s";
    // Those accepted lasted until the deadline, not forever and not a moment.
    auto longest = *std::max_element(closedAfter.begin(), closedAfter.end());
    EXPECT_GE(longest, 25s);
    EXPECT_LE(longest, 45s);
    watch.expectUnharmed("slowloris");
}

TEST_F(Attacks, ManyIdleConnectionsUpToAndPastTheCap) {
    const std::string host = "Host: 127.0.0.1:" + std::to_string(port_) + "\r\n";
    {
        // One address opening far more than its share: the extra ones are
        // refused (503, or closed at once), the owner is served.
        Watch watch;
        std::vector<std::unique_ptr<Conn>> idle;
        for (int i = 0; i < 60; ++i)
            idle.push_back(std::make_unique<Conn>(port_, "127.0.0.5"));
        std::this_thread::sleep_for(500ms);
        int refused = 0;
        for (auto& c : idle) {
            std::string got;
            if (!c->ok() || c->readUntilClosed(got, 5ms)) {
                ++refused;
                if (!got.empty()) {
                    EXPECT_EQ(parse(got).status, 503u) << got;
                }
            }
        }
        EXPECT_GE(refused, 60 - 16);
        EXPECT_EQ(probe() != std::chrono::microseconds::max(), true);
        watch.expectUnharmed("idle connections from one address");
    }
    {
        // Many addresses past the whole server's cap (64): a new connection
        // at the cap closes the one idle the longest, so the owner is still
        // served and the attacker's oldest connections are the ones that go.
        Watch watch;
        std::vector<std::unique_ptr<Conn>> idle;
        for (int a = 10; a < 16; ++a)
            for (int i = 0; i < 14; ++i) {
                idle.push_back(std::make_unique<Conn>(port_, "127.0.0." + std::to_string(a)));
                std::this_thread::sleep_for(5ms);  // an order for "oldest"
            }
        std::this_thread::sleep_for(500ms);
        for (int i = 0; i < 5; ++i)
            EXPECT_EQ(request("GET", "/api/state").status, 200u) << "past the cap, try " << i;
        int closedByServer = 0;
        for (auto& c : idle) {
            std::string got;
            closedByServer += c->readUntilClosed(got, 5ms);
        }
        EXPECT_GE(closedByServer, 84 - 64);
        EXPECT_LE(closedByServer, 84 - 64 + 40) << "far more were closed than needed";
        // The first ones opened went first.
        std::string got;
        EXPECT_TRUE(idle.front()->readUntilClosed(got, 5ms));
        watch.expectUnharmed("idle connections past the cap");
    }
    // Idle connections are closed by the server after its idle deadline: a
    // connection that sent nothing is gone within 30 s (and some slack).
    Conn lazy(port_, "127.0.0.20");
    std::string got;
    EXPECT_TRUE(lazy.readUntilClosed(got, 45s)) << "an idle connection was kept past 45 s";
}

}  // namespace
