// The Settings page's part of the JSON API (docs/ref/http-api.md): a camera's
// recording mode, retention, masks, motion zones and doorbell line; storage
// state and the disk a retention needs; the owner's events (protect, delete);
// the passphrase change.
//
// Api routes here only after it has checked the session and, for state
// changes, the CSRF token. Every change is checked in full before anything
// is written, goes through the same daemon paths as D-Bus and SIGHUP, and is
// recorded in the audit log with what changed (old -> new).
#pragma once

#include <functional>
#include <optional>

#include "audit.h"
#include "auth.h"
#include "daemon.h"
#include "http.h"

namespace porchlight::web {

/// The disk a retention needs for a camera writing \a bytesPerDay: the
/// longest per-kind days set (else max_days), no more than max_days, times the
/// rate, no more than max_bytes. nullopt: no limit at all (until min_free).
std::optional<uint64_t> retentionEstimate(const RetentionConfig& retention, double bytesPerDay);

class SettingsApi {
public:
    SettingsApi(Daemon& daemon, Auth& auth, audit::AuditLog& audit);
    /// false when \a request is none of its routes.
    bool handle(const Request& request, Session& session, std::function<void(Response)>& respond);

private:
    Response settings();
    Response changeCamera(const std::string& id, const Request& request, const Session& session);
    Response events(const Request& request);
    Response protect(int64_t id, const Request& request, const Session& session);
    Response deleteEvent(int64_t id, const Session& session);
    void changePassphrase(const Request& request, Session& session,
                          std::function<void(Response)> respond);
    void record(std::string_view kind, const Session& session, const nlohmann::json& detail);

    Daemon& daemon_;
    Auth& auth_;
    audit::AuditLog& audit_;
};

}  // namespace porchlight::web
