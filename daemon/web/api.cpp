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
    const std::string origin = header(request, "origin");
    if (origin.empty())
        return true;
    const std::string host = header(request, "host");
    return origin == "https://" + host || origin == "http://" + host;
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

/// The camera id of /api/cameras/{id}/{what}.
std::optional<std::string> cameraRoute(const std::string& path, std::string_view what) {
    constexpr std::string_view prefix = "/api/cameras/";
    if (!path.starts_with(prefix) || !path.ends_with(what) ||
        path.size() <= prefix.size() + what.size() + 1)
        return std::nullopt;
    std::string id = path.substr(prefix.size(), path.size() - prefix.size() - what.size());
    if (id.back() != '/')
        return std::nullopt;
    id.pop_back();
    if (id.empty() || id.find('/') != std::string::npos)
        return std::nullopt;
    return id;
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

void Api::handle(const Request& request, std::function<void(Response)> respond) {
    const std::string& path = request.path;
    if (!request.secure && !hostIsAnAddress(request))
        return respond(jsonError(421,
                                 "over plain HTTP, open this device by its address (for "
                                 "example http://127.0.0.1:8080), not by a name"));
    // The routes anyone may use: what the page needs to show setup or login.
    if (path == "/api/state" && request.method == "GET")
        return respond(state());
    if (path == "/api/setup" && request.method == "POST")
        return setup(request, std::move(respond));
    if (path == "/api/login" && request.method == "POST")
        return login(request, std::move(respond));

    Session* session = auth_.find(cookieValue(request, kCookie));
    if (!session)
        return respond(jsonError(401, "log in first"));
    if (changesState(request) && !auth_.checkCsrf(*session, header(request, "x-csrf-token")))
        return respond(jsonError(403, "missing or wrong X-CSRF-Token header: reload the page"));

    if (path == "/api/logout" && request.method == "POST") {
        auth_.logout(cookieValue(request, kCookie));
        Response r = json({{"ok", true}});
        r.headers.emplace_back("Set-Cookie", sessionCookie(""));
        return respond(std::move(r));
    }
    if (path == "/api/session" && request.method == "GET")
        return respond(json({{"csrf", session->csrf}}));
    if (Recordings::handles(path))
        return recordings_->handle(request, *session, session->alive, std::move(respond));
    if (path == "/api/cameras" && request.method == "GET")
        return respond(cameras());
    if (path == "/api/audit" && request.method == "GET")
        return respond(audit(request));
    if (auto camera = cameraRoute(path, "live"); camera && request.method == "GET")
        return respond(openLive(request, *session, *camera));
    if (auto camera = cameraRoute(path, "snapshot"); camera && request.method == "GET")
        return live_->snapshot(*camera, std::move(respond));
    if (path == "/api/audit/verify" && request.method == "GET") {
        auto report = audit::verifyAuditLog(audit_.file());
        if (!report)
            return respond(jsonError(500, report.error().message));
        return respond(json({{"ok", report->ok},
                             {"entries", report->entries},
                             {"line", report->line},
                             {"problem", report->problem},
                             {"lastHash", report->lastHash}}));
    }
    if (settings_.handle(request, *session, respond))
        return;
    return respond(jsonError(404, "no such API route: " + path));
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

Response Api::state() const {
    static constexpr const char* names[] = {"starting", "running", "needs-setup", "degraded",
                                            "stopping"};
    return json({{"version", PORCHLIGHT_VERSION},
                 {"state", names[static_cast<size_t>(daemon_.state())]},
                 {"setupNeeded", !auth_.ownerExists()}});
}

void Api::setup(const Request& request, std::function<void(Response)> respond) {
    if (!sameOrigin(request))
        return respond(jsonError(403, "setup must come from this device's own page"));
    auto body = parseBody(request);
    if (!body)
        return respond(jsonError(400, "send a JSON object with code, passphrase and confirm"));
    auth_.setup(
        field(*body, "code"), field(*body, "passphrase"), field(*body, "confirm"),
        request.clientAddress, [this, respond = std::move(respond)](Expected<SetupResult> result) {
            if (!result)
                return respond(jsonError(400, result.error().message));
            // Recording starts as soon as the owner's key exists.
            daemon_.ownerCreated();
            Response r =
                json({{"recoveryKey", result->recoveryKey}, {"csrf", result->session->csrf}});
            r.headers.emplace_back("Set-Cookie", sessionCookie(result->session->token));
            respond(std::move(r));
        });
}

void Api::login(const Request& request, std::function<void(Response)> respond) {
    if (!sameOrigin(request))
        return respond(jsonError(403, "log in from this device's own page"));
    if (auto wait = auth_.retryAfter(request.clientAddress); wait.count() > 0)
        return respond(retryLater(wait));
    auto body = parseBody(request);
    if (!body)
        return respond(jsonError(400, "send a JSON object with passphrase (or recoveryKey)"));
    auto done = [this, client = request.clientAddress,
                 respond = std::move(respond)](Expected<Session*> session) {
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

Response Api::cameras() const {
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
    return json({{"cameras", list}});
}

Response Api::audit(const Request& request) const {
    size_t offset = 0, limit = 100;
    try {
        if (auto it = request.query.find("offset"); it != request.query.end())
            offset = std::stoul(it->second);
        if (auto it = request.query.find("limit"); it != request.query.end())
            limit = std::min<size_t>(std::stoul(it->second), 1000);
    } catch (const std::exception&) {
        return jsonError(400, "offset and limit must be whole numbers");
    }
    auto entries = audit_.entries(offset, limit);
    if (!entries)
        return jsonError(500, entries.error().message);
    return json({{"entries", *entries}});
}

}  // namespace porchlight::web
