// The JSON API: see api.h.
#include "api.h"

#include <arpa/inet.h>

#include <nlohmann/json.hpp>

#include "log.h"
#include "porchlight-config.h"

namespace porchlight::web {

using namespace std::chrono_literals;

namespace {

using Json = nlohmann::json;

Response json(const Json& body, unsigned status = 200) {
    Response r;
    r.status = status;
    r.body = body.dump();
    return r;
}

std::string cookieValue(const Request& request, std::string_view name) {
    auto it = request.headers.find("cookie");
    if (it == request.headers.end())
        return {};
    std::string_view all = it->second;
    while (!all.empty()) {
        size_t end = all.find(';');
        std::string_view part = all.substr(0, end);
        while (!part.empty() && part.front() == ' ')
            part.remove_prefix(1);
        if (part.size() > name.size() && part.substr(0, name.size()) == name &&
            part[name.size()] == '=')
            return std::string(part.substr(name.size() + 1));
        if (end == std::string_view::npos)
            break;
        all.remove_prefix(end + 1);
    }
    return {};
}

std::string header(const Request& request, const std::string& name) {
    auto it = request.headers.find(name);
    return it == request.headers.end() ? std::string() : it->second;
}

bool changesState(const Request& request) {
    return request.method != "GET" && request.method != "HEAD";
}

/// Over plain HTTP (loopback, or behind a proxy) a page could reach us through
/// DNS rebinding: a name of the attacker's that resolves to this device. It
/// always arrives with that name in Host; the device's own pages use an
/// address, or localhost.
bool hostIsAnAddress(const Request& request) {
    std::string host = header(request, "host");
    if (host.empty() || host.front() == '[')
        return true;  // none (not a browser), or an IPv6 literal
    host = host.substr(0, host.rfind(':') == std::string::npos ? host.size() : host.rfind(':'));
    if (host == "localhost")
        return true;
    in_addr v4{};
    return inet_pton(AF_INET, host.c_str(), &v4) == 1;
}

/// Setup and login come before any session: refuse what another site's page
/// sends (browsers always send Origin on cross-site POSTs).
bool sameOrigin(const Request& request) {
    // Browsers that send Sec-Fetch-Site say outright where the request comes from.
    const std::string site = header(request, "sec-fetch-site");
    if (!site.empty() && site != "same-origin" && site != "none")
        return false;
    const std::string origin = header(request, "origin");
    if (origin.empty())
        return true;
    const std::string host = header(request, "host");
    return origin == "https://" + host || origin == "http://" + host;
}

/// Whether \a path fits \a pattern segment by segment; {name} segments of
/// the pattern match any one non-empty segment, which goes to \a params.
bool matchPattern(std::string_view pattern, std::string_view path,
                  std::vector<std::string>& params) {
    for (;;) {
        const size_t p = pattern.find('/', 1), q = path.find('/', 1);
        const std::string_view want = pattern.substr(0, p), got = path.substr(0, q);
        if (want.size() > 2 && want[1] == '{' && want.back() == '}') {
            if (got.size() < 2)
                return false;
            params.emplace_back(got.substr(1));
        } else if (want != got) {
            return false;
        }
        if (p == std::string_view::npos || q == std::string_view::npos)
            return p == q;
        pattern.remove_prefix(p);
        path.remove_prefix(q);
    }
}

std::optional<Json> parseBody(const Request& request) {
    Json body = Json::parse(request.body, nullptr, false);
    if (body.is_discarded() || !body.is_object())
        return std::nullopt;
    return body;
}

std::string field(const Json& body, const char* name) {
    auto it = body.find(name);
    return it != body.end() && it->is_string() ? it->get<std::string>() : std::string();
}

Response retryLater(std::chrono::milliseconds wait) {
    const auto seconds = std::max<long long>(
        1, std::chrono::duration_cast<std::chrono::seconds>(wait + std::chrono::milliseconds(999))
               .count());
    Response r =
        jsonError(429, "too many failed attempts: try again in " + std::to_string(seconds) + " s");
    r.headers.emplace_back("Retry-After", std::to_string(seconds));
    return r;
}

}  // namespace

std::string sessionCookie(const std::string& token) {
    if (token.empty())
        return std::string(Api::kCookie) +
               "=; Path=/; Max-Age=0; Secure; HttpOnly; SameSite=Strict";
    return std::string(Api::kCookie) + "=" + token + "; Path=/; Secure; HttpOnly; SameSite=Strict";
}

Api::Api(Daemon& daemon, Auth& auth, audit::AuditLog& audit)
    : daemon_(daemon),
      auth_(auth),
      audit_(audit),
      recordings_(std::make_unique<Recordings>(
          daemon.io(), daemon.stateDir(),
          [this]() -> storage::Index* {
              auto* s = daemon_.storage();
              return s ? &s->index() : nullptr;
          },
          [this](const std::string& id) { return daemon_.camera(id) != nullptr; }, audit)),
      settings_(daemon, auth, audit),
      live_(std::make_unique<LiveService>(daemon, daemon.clock())) {
    auth_.onSessionEnded = [this](const Session& s) { live_->sessionEnded(s.token); };
}

Api::~Api() {
    auth_.onSessionEnded = nullptr;
}

// The router's table. The dispatcher answers nothing that is not here, and
// tests go through every entry (Api::routes()), so a route added here is
// covered by the 401/403 checks at once. To add a route: one line here plus
// a member function `void Api::name(Call& call)` (declared in api.h) that
// ends by calling call.respond once (now or later). Session routes get
// call.session; {name} segments of the pattern arrive in call.params.
// changesState must be true for every method but GET: the dispatcher then
// demands the session's X-CSRF-Token (session routes) or a same-origin
// request (public routes), before the handler runs.
const Api::Route Api::kRoutes[] = {
    // method, pattern, access, changesState (CSRF), handler
    {"GET", "/api/state", Access::Public, false, &Api::state},
    {"POST", "/api/setup", Access::Public, true, &Api::setup},
    {"POST", "/api/login", Access::Public, true, &Api::login},
    {"POST", "/api/logout", Access::Session, true, &Api::logout},
    {"GET", "/api/session", Access::Session, false, &Api::session},
    {"GET", "/api/cameras", Access::Session, false, &Api::cameras},
    {"GET", "/api/audit", Access::Session, false, &Api::audit},
    {"GET", "/api/audit/verify", Access::Session, false, &Api::auditVerify},
    {"GET", "/api/recordings", Access::Session, false, &Api::recordings},
    {"GET", "/api/playback", Access::Session, false, &Api::recordings},
    {"GET", "/api/export", Access::Session, false, &Api::recordings},
    {"GET", "/api/events/{id}/snapshot", Access::Session, false, &Api::recordings},
    {"GET", "/api/cameras/{id}/live", Access::Session, false, &Api::live},  // WebSocket
    {"GET", "/api/cameras/{id}/snapshot", Access::Session, false, &Api::snapshot},
    {"GET", "/api/settings", Access::Session, false, &Api::settings},
    {"PUT", "/api/cameras/{id}/settings", Access::Session, true, &Api::settings},
    {"POST", "/api/cameras/{id}/settings", Access::Session, true, &Api::settings},
    {"GET", "/api/events", Access::Session, false, &Api::settings},
    {"POST", "/api/events/{id}/protect", Access::Session, true, &Api::settings},
    {"DELETE", "/api/events/{id}", Access::Session, true, &Api::settings},
    {"POST", "/api/passphrase", Access::Session, true, &Api::settings},
};

std::span<const Api::Route> Api::routes() {
    return kRoutes;
}

void Api::handle(const Request& request, std::function<void(Response)> respond) {
    if (!request.secure && !hostIsAnAddress(request))
        return respond(jsonError(421,
                                 "over plain HTTP, open this device by its address (for "
                                 "example http://127.0.0.1:8080), not by a name"));
    const Route* route = nullptr;
    std::vector<std::string> params;
    std::string allow;  // the methods the path has, when the request's is not one of them
    for (const Route& r : kRoutes) {
        std::vector<std::string> p;
        if (!matchPattern(r.pattern, request.path, p))
            continue;
        if (request.method == r.method) {
            route = &r;
            params = std::move(p);
            break;
        }
        allow += (allow.empty() ? "" : ", ") + std::string(r.method);
    }
    Call call{request, nullptr, std::move(params), std::move(respond)};
    // Unknown routes need a session too: nobody learns what exists without one.
    if (!route || route->access == Access::Session) {
        call.session = auth_.find(cookieValue(request, kCookie));
        if (!call.session)
            return call.respond(jsonError(401, "log in first"));
    }
    if (!route && allow.empty())
        return call.respond(jsonError(404, "no such API route: " + request.path));
    if (!route) {
        Response r = jsonError(405, request.path + " answers " + allow + " only");
        r.headers.emplace_back("Allow", allow);
        return call.respond(std::move(r));
    }
    // A method other than GET is a state change whatever the table says.
    if (route->changesState || changesState(request)) {
        if (route->access == Access::Public && !sameOrigin(request))
            return call.respond(
                jsonError(403, "this must come from this device's own page, not another site"));
        if (route->access == Access::Session &&
            !auth_.checkCsrf(*call.session, header(request, "x-csrf-token")))
            return call.respond(
                jsonError(403, "missing or wrong X-CSRF-Token header: reload the page"));
    }
    (this->*route->handler)(call);
}

Response Api::openLive(const Request& request, const Session& session, const std::string& camera) {
    if (!request.webSocketUpgrade) {
        Response r = jsonError(426, "this is a WebSocket: open it with new WebSocket(url)");
        r.headers.emplace_back("Upgrade", "websocket");
        return r;
    }
    // Browsers send Origin with every WebSocket handshake, and SameSite does
    // not stop a cross-site one: only this device's own page may watch.
    if (header(request, "origin").empty() || !sameOrigin(request))
        return jsonError(403, "the live view must be opened from this device's own page");
    return live_->openLive(camera, session.token);
}

void Api::live(Call& call) {
    call.respond(openLive(call.request, *call.session, call.params.at(0)));
}

void Api::snapshot(Call& call) {
    live_->snapshot(call.params.at(0), std::move(call.respond));
}

void Api::settings(Call& call) {
    // SettingsApi parses its own paths; the table has already matched one of them.
    if (!settings_.handle(call.request, *call.session, call.respond))
        call.respond(jsonError(404, "no such API route: " + call.request.path));
}

void Api::state(Call& call) {
    static constexpr const char* names[] = {"starting", "running", "needs-setup", "degraded",
                                            "stopping"};
    call.respond(json({{"version", PORCHLIGHT_VERSION},
                       {"state", names[static_cast<size_t>(daemon_.state())]},
                       {"setupNeeded", !auth_.ownerExists()}}));
}

void Api::setup(Call& call) {
    auto body = parseBody(call.request);
    if (!body)
        return call.respond(jsonError(400, "send a JSON object with code, passphrase and confirm"));
    auth_.setup(field(*body, "code"), field(*body, "passphrase"), field(*body, "confirm"),
                call.request.clientAddress,
                [this, respond = std::move(call.respond)](Expected<SetupResult> result) {
                    if (!result)
                        return respond(jsonError(400, result.error().message));
                    // Recording starts as soon as the owner's key exists.
                    daemon_.ownerCreated();
                    Response r = json(
                        {{"recoveryKey", result->recoveryKey}, {"csrf", result->session->csrf}});
                    r.headers.emplace_back("Set-Cookie", sessionCookie(result->session->token));
                    respond(std::move(r));
                });
}

void Api::login(Call& call) {
    const Request& request = call.request;
    if (auto wait = auth_.retryAfter(request.clientAddress); wait.count() > 0)
        return call.respond(retryLater(wait));
    auto body = parseBody(request);
    if (!body)
        return call.respond(jsonError(400, "send a JSON object with passphrase (or recoveryKey)"));
    auto done = [this, client = request.clientAddress,
                 respond = std::move(call.respond)](Expected<Session*> session) {
        if (!session) {
            // This attempt was tried and failed: say so (401), and when the
            // next one must wait, say how long.
            std::string message = session.error().message;
            if (auto wait = auth_.retryAfter(client); wait.count() > 0) {
                const auto seconds =
                    std::chrono::duration_cast<std::chrono::seconds>(wait + 999ms).count();
                message += "; wait " + std::to_string(seconds) + " s before the next try";
            }
            return respond(jsonError(401, message));
        }
        Response r = json({{"csrf", (*session)->csrf}});
        r.headers.emplace_back("Set-Cookie", sessionCookie((*session)->token));
        respond(std::move(r));
    };
    const std::string recovery = field(*body, "recoveryKey");
    if (!recovery.empty())
        auth_.loginWithRecoveryKey(recovery, request.clientAddress, std::move(done));
    else
        auth_.login(field(*body, "passphrase"), request.clientAddress, std::move(done));
}

void Api::logout(Call& call) {
    auth_.logout(cookieValue(call.request, kCookie));
    Response r = json({{"ok", true}});
    r.headers.emplace_back("Set-Cookie", sessionCookie(""));
    call.respond(std::move(r));
}

void Api::session(Call& call) {
    call.respond(json({{"csrf", call.session->csrf}}));
}

void Api::recordings(Call& call) {
    recordings_->handle(call.request, *call.session, call.session->alive, std::move(call.respond));
}

void Api::auditVerify(Call& call) {
    auto report = audit::verifyAuditLog(audit_.file());
    if (!report)
        return call.respond(jsonError(500, report.error().message));
    call.respond(json({{"ok", report->ok},
                       {"entries", report->entries},
                       {"line", report->line},
                       {"problem", report->problem},
                       {"lastHash", report->lastHash}}));
}

void Api::cameras(Call& call) {
    Json list = Json::array();
    for (const Camera* c : daemon_.cameras()) {
        const auto& s = c->stats();
        list.push_back({{"id", c->id()},
                        {"source", std::string(sourceKindName(c->config().source))},
                        {"mode", std::string(recordingModeName(c->config().mode))},
                        {"state", std::string(cameraStateName(c->state()))},
                        {"lastError", c->lastError()},
                        {"recording", daemon_.isRecording(*c)},
                        {"width", s.width},
                        {"height", s.height},
                        {"fps", s.fps},
                        {"bitrateBps", s.bitrateBps},
                        {"lastRingUs", daemon_.lastRingUs(c->id())},
                        {"lastMotionUs", daemon_.lastMotionUs(c->id())}});
    }
    call.respond(json({{"cameras", list}}));
}

void Api::audit(Call& call) {
    const Request& request = call.request;
    size_t offset = 0, limit = 100;
    try {
        if (auto it = request.query.find("offset"); it != request.query.end())
            offset = std::stoul(it->second);
        if (auto it = request.query.find("limit"); it != request.query.end())
            limit = std::min<size_t>(std::stoul(it->second), 1000);
    } catch (const std::exception&) {
        return call.respond(jsonError(400, "offset and limit must be whole numbers"));
    }
    auto entries = audit_.entries(offset, limit);
    if (!entries)
        return call.respond(jsonError(500, entries.error().message));
    call.respond(json({{"entries", *entries}}));
}

}  // namespace porchlight::web
