// The JSON API under /api/, as the web UI uses it (docs/ref/http-api.md).
//
// Every route except state, setup and login needs a valid session cookie,
// and every route the API does not know answers 401 too without one, so
// nobody learns what exists. State changes also need the session's CSRF
// token in the X-CSRF-Token header; setup and login, which come before any
// session, need a same-origin request (Origin, when the browser sends it,
// must match Host) on top of the SameSite=Strict cookie.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <vector>

#include "audit.h"
#include "auth.h"
#include "daemon.h"
#include "http.h"
#include "live.h"
#include "recordings.h"
#include "settings_api.h"

namespace porchlight::web {

class Api final : public Handler {
public:
    Api(Daemon& daemon, Auth& auth, audit::AuditLog& audit);
    ~Api() override;
    void handle(const Request& request, std::function<void(Response)> respond) override;

    static constexpr const char* kCookie = "porchlight_session";

    /// One request being answered: what a route's handler gets.
    struct Call {
        const Request& request;
        Session* session = nullptr;       // null on a public route
        std::vector<std::string> params;  // the {name} segments of the pattern, in order
        std::function<void(Response)> respond;
    };
    enum class Access { Public, Session };
    /// One entry of the router's table: handle() answers only what is here.
    struct Route {
        const char* method;   // "GET", "POST", ...
        const char* pattern;  // "/api/events/{id}/snapshot": {name} is one non-empty segment
        Access access;
        bool changesState;  // needs the session's X-CSRF-Token
        void (Api::*handler)(Call&);
    };
    /// Every route the API has, for tests to go through all of them.
    static std::span<const Route> routes();

private:
    static const Route kRoutes[];

    void state(Call& call);
    void setup(Call& call);
    void login(Call& call);
    void logout(Call& call);
    void session(Call& call);
    void cameras(Call& call);
    void audit(Call& call);
    void auditVerify(Call& call);
    void recordings(Call& call);
    void live(Call& call);
    void snapshot(Call& call);
    void settings(Call& call);

    Daemon& daemon_;
    Auth& auth_;
    audit::AuditLog& audit_;
    std::unique_ptr<Recordings> recordings_;
    SettingsApi settings_;
    /// Live view (WebSocket) and snapshots.
    Response openLive(const Request& request, const Session& session, const std::string& camera);
    std::unique_ptr<LiveService> live_;
};

/// The session cookie for \a token (Secure, HttpOnly, SameSite=Strict); an
/// empty token clears it.
std::string sessionCookie(const std::string& token);

}  // namespace porchlight::web
