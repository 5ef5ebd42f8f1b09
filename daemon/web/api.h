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

#include "audit.h"
#include "auth.h"
#include "daemon.h"
#include "http.h"
#include "recordings.h"
#include "settings_api.h"
#include "live.h"

namespace porchlight::web {

class Api final : public Handler {
public:
    Api(Daemon& daemon, Auth& auth, audit::AuditLog& audit);
    ~Api() override;
    void handle(const Request& request, std::function<void(Response)> respond) override;

    static constexpr const char* kCookie = "porchlight_session";

private:
    void setup(const Request& request, std::function<void(Response)> respond);
    void login(const Request& request, std::function<void(Response)> respond);
    Response state() const;
    Response cameras() const;
    Response audit(const Request& request) const;

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
