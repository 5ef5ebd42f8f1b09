// libFuzzer harness for the JSON API's router and its body parsing
// (daemon/web/api.cpp, with the real Auth and audit log behind it): each
// input is a request as the server would hand it over, written as text:
//
//   METHOD\nPATH[?QUERY]\nname: value\n...\n\nBODY
//
// In header values "@COOKIE@" and "@CSRF@" stand for a live session's, so
// the routes behind the login are reached too; the header "x-fuzz-tls"
// marks the request as having come over HTTPS.
//
// Argon2id (64 MiB, about a second) must not run per input. The seams:
// two devices, one before setup (setup and passphrase logins are refused
// before any key derivation: the setup code is random and never sent, and
// there is no owner to log in to) and one with an owner (logins with a
// recovery key, which needs no Argon2id, and everything behind a session).
// A request that would derive a key on the second goes to the first.
#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "api.h"
#include "fuzz_support.h"

using namespace porchlight;
using namespace porchlight::web;
namespace asio = boost::asio;
namespace fs = std::filesystem;
using Json = nlohmann::json;

namespace {

[[noreturn]] void fail(const std::string& what) {
    std::fprintf(stderr, "fuzz_api: %s\n", what.c_str());
    std::abort();
}

/// One device: its daemon (not started: the API only reads its state),
/// audit log, sessions and router.
struct Device {
    fs::path dir;
    asio::io_context& io;
    AsioClock clock{io};
    std::unique_ptr<Daemon> daemon;
    std::unique_ptr<audit::AuditLog> audit;
    std::unique_ptr<Auth> auth;
    std::unique_ptr<Api> api;
    std::string setupCode;

    Device(fs::path stateDir, asio::io_context& context) : dir(std::move(stateDir)), io(context) {
        Options o;
        o.stateDir = dir;
        o.configFile = (dir / "none.toml").string();
        daemon = std::make_unique<Daemon>(io, clock, o);
        reset();
    }
    /// A fresh audit log and sessions (the log grows with every failed attempt).
    void reset() {
        api.reset();
        auth.reset();
        if (audit)
            fs::remove(audit->file());
        audit.reset();
        auto log = audit::AuditLog::open(dir);
        if (!log)
            fail("cannot open an audit log: " + log.error().message);
        audit = std::move(*log);
        Auth::Options options;
        options.freeFailures = 1 << 30;  // the backoff has its own tests; here it would hide paths
        auth = std::make_unique<Auth>(
            clock, [this](std::function<void()> fn) { asio::post(io, std::move(fn)); }, dir, *audit,
            options);
        unsigned char code[24];
        randombytes_buf(code, sizeof code);
        setupCode.clear();
        for (unsigned char c : code)
            setupCode += static_cast<char>('A' + c % 26);
        auth->setSetupCode(setupCode);
        api = std::make_unique<Api>(*daemon, *auth, *audit);
    }
};

std::optional<Response> call(Device& d, const Request& r) {
    std::optional<Response> got;
    d.api->handle(r, [&](Response resp) {
        if (got)
            fail("the API answered twice");
        got = std::move(resp);
    });
    const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (!got) {
        if (std::chrono::steady_clock::now() > end)
            fail("the API never answered " + r.method + " " + r.path);
        d.io.restart();
        d.io.run_one_for(std::chrono::milliseconds(50));
    }
    return got;
}

struct Fixture {
    fuzz::ScratchDir dir{"porchlight-fuzz-api"};
    asio::io_context io;
    std::unique_ptr<Device> fresh;  // before setup
    std::unique_ptr<Device> owned;  // with an owner
    std::string recoveryKey;
    std::string cookie, csrf;
    size_t inputs = 0;

    Fixture() {
        fs::create_directories(dir.path() / "fresh");
        fs::create_directories(dir.path() / "owned");
        fresh = std::make_unique<Device>(dir.path() / "fresh", io);
        owned = std::make_unique<Device>(dir.path() / "owned", io);
        // The one Argon2id of the run.
        auto created = keys::createOwner(dir.path() / "owned", "fuzzing passphrase one");
        if (!created)
            fail("cannot create the owner: " + created.error().message);
        recoveryKey = created->recoveryKey;
        login();
    }
    void login() {
        Request r;
        r.method = "POST";
        r.path = "/api/login";
        r.clientAddress = "192.0.2.1";
        r.headers["host"] = "127.0.0.1:8080";
        r.body = Json{{"recoveryKey", recoveryKey}}.dump();
        auto resp = call(*owned, r);
        if (resp->status != 200)
            fail("cannot log in with the recovery key: " + resp->body);
        csrf = Json::parse(resp->body).value("csrf", "");
        for (const auto& [k, v] : resp->headers)
            if (k == "Set-Cookie")
                cookie = v.substr(0, v.find(';'));
    }
};

Fixture& fixture() {
    static Fixture f;
    return f;
}

void replaceAll(std::string& s, std::string_view what, const std::string& with) {
    for (size_t at = s.find(what); at != std::string::npos; at = s.find(what, at + with.size()))
        s.replace(at, what.size(), with);
}

Request parse(std::string_view text, const Fixture& f) {
    Request r;
    auto line = [&]() {
        size_t nl = text.find('\n');
        std::string out(text.substr(0, nl));
        text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
        return out;
    };
    r.method = line();
    std::string target = line();
    size_t q = target.find('?');
    r.path = target.substr(0, q);
    if (q != std::string::npos) {
        // The server's parseQuery is fuzzed through fuzz_http; here names and values as given.
        std::string_view query = std::string_view(target).substr(q + 1);
        while (!query.empty()) {
            size_t amp = query.find('&');
            std::string_view item = query.substr(0, amp);
            size_t eq = item.find('=');
            r.query[std::string(item.substr(0, eq))] =
                eq == std::string_view::npos ? "" : std::string(item.substr(eq + 1));
            query.remove_prefix(amp == std::string_view::npos ? query.size() : amp + 1);
        }
    }
    r.clientAddress = "192.0.2.7";
    for (std::string h = line(); !h.empty(); h = line()) {
        size_t colon = h.find(':');
        std::string name = h.substr(0, colon);
        std::string value = colon == std::string::npos ? "" : h.substr(colon + 1);
        while (!value.empty() && value.front() == ' ')
            value.erase(0, 1);
        std::transform(name.begin(), name.end(), name.begin(),
                       [](unsigned char c) { return std::tolower(c); });
        replaceAll(value, "@COOKIE@", f.cookie);
        replaceAll(value, "@CSRF@", f.csrf);
        if (name == "x-fuzz-tls")
            r.secure = true;
        else if (name == "x-fuzz-client")
            r.clientAddress = value;
        else
            r.headers[name] = value;
    }
    r.body = std::string(text);
    return r;
}

/// Whether \a r would start an Argon2id derivation on the device with an owner.
bool derivesKey(const Request& r) {
    if (r.path.find("passphrase") != std::string::npos)
        return true;
    if (r.path != "/api/login")
        return false;
    Json body = Json::parse(r.body, nullptr, false);
    if (!body.is_object())
        return false;
    auto it = body.find("recoveryKey");
    return it == body.end() || !it->is_string() || it->get<std::string>().empty();
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    fuzz::quietLogs();
    fixture();
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    Fixture& f = fixture();
    std::string_view text(reinterpret_cast<const char*>(data), size);
    Request r = parse(text, f);
    if (r.body.find(f.fresh->setupCode) != std::string::npos)
        return 0;  // a setup that would succeed runs Argon2id: not per input

    Device& d = derivesKey(r) ? *f.fresh : *f.owned;
    const size_t kdfBefore = d.auth->kdfRuns();
    auto resp = call(d, r);
    if (resp->status < 200 || resp->status > 599)
        fail("an answer without a sensible status");
    if (resp->contentType == "application/json") {
        Json body = Json::parse(resp->body, nullptr, false);
        if (body.is_discarded() || !body.is_object())
            fail("a JSON answer that is not an object: " + resp->body);
        if (resp->status >= 400 && (!body.contains("error") || !body["error"].is_string() ||
                                    body["error"].get<std::string>().empty()))
            fail("an error answer without {\"error\": ...}: " + resp->body);
    }
    // kdfRuns() counts every job on the worker, recovery-key logins (a hash) too.
    const bool recoveryLogin = r.path == "/api/login" && !derivesKey(r);
    if (d.auth->kdfRuns() != kdfBefore && !recoveryLogin) {
        static bool said = false;
        if (!said)
            std::fprintf(stderr, "fuzz_api: %s %s ran Argon2id; teach derivesKey() about it\n",
                         r.method.c_str(), r.path.c_str());
        said = true;
    }

    // Keep the fixture as it was: a session (a logout ends it), and audit
    // logs that do not grow without end.
    if (++f.inputs % 20000 == 0) {
        f.fresh->reset();
        f.owned->reset();
        f.login();
    } else if (!f.owned->auth->find(f.cookie.substr(f.cookie.find('=') + 1))) {
        f.login();
    }
    return 0;
}
