// The Settings page's API: see settings_api.h.
#include "settings_api.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>

#include <nlohmann/json.hpp>

#include "log.h"

PL_DEFINE_LOG_CATEGORY(SettingsLog, "settings")

namespace porchlight::web {

namespace {

using Json = nlohmann::json;

constexpr double kMaxDays = 3650;
constexpr uint64_t kMinBytes = 64 * 1024;

Response reply(const Json& body, unsigned status = 200) {
    Response r;
    r.status = status;
    r.body = body.dump();
    return r;
}

/// {"error": ..., "field": ...}: the page puts the message beside that field.
Response refuse(unsigned status, const std::string& field, const std::string& message) {
    Json body{{"error", message}};
    if (!field.empty())
        body["field"] = field;
    return reply(body, status);
}

/// A wrong value in the request: which field, and what is allowed.
struct Invalid {
    std::string field;
    std::string message;
};

std::optional<double> optionalDays(const Json& v, const std::string& field,
                                   std::optional<Invalid>& bad) {
    if (v.is_null())
        return std::nullopt;
    if (!v.is_number() || !std::isfinite(v.get<double>()) || v.get<double>() < 0 ||
        v.get<double>() > kMaxDays) {
        bad = Invalid{
            field, field + " must be a number of days from 0 (no limit) to 3650, got " + v.dump()};
        return std::nullopt;
    }
    const double d = v.get<double>();
    return d > 0 ? std::optional<double>(d) : std::nullopt;
}

std::optional<RetentionConfig> readRetention(const Json& j, RetentionConfig r,
                                             std::optional<Invalid>& bad) {
    if (!j.is_object()) {
        bad = Invalid{"retention", "retention must be an object"};
        return std::nullopt;
    }
    static const std::pair<const char*, std::optional<double> RetentionConfig::*> days[] = {
        {"maxDays", &RetentionConfig::maxDays},
        {"continuousDays", &RetentionConfig::continuousDays},
        {"motionDays", &RetentionConfig::motionDays},
        {"ringDays", &RetentionConfig::ringDays}};
    for (auto&& [key, value] : j.items()) {
        const std::string field = "retention." + key;
        auto d = std::find_if(std::begin(days), std::end(days),
                              [&k = key](const auto& p) { return k == p.first; });
        if (d != std::end(days)) {
            r.*(d->second) = optionalDays(value, field, bad);
        } else if (key == "maxBytes") {
            std::optional<uint64_t> bytes;
            if (value.is_number_unsigned())
                bytes = value.get<uint64_t>();
            else if (value.is_number_integer() && value.get<int64_t>() >= 0)
                bytes = static_cast<uint64_t>(value.get<int64_t>());
            else if (value.is_string())
                bytes = parseSize(value.get<std::string>());
            else if (value.is_null())
                bytes = 0;
            if (!bytes || (*bytes != 0 && (*bytes < kMinBytes || *bytes > INT64_MAX)))
                bad =
                    Invalid{field, field +
                                       " must be a size of at least 64 KiB (\"50GiB\", or bytes), "
                                       "or 0 for no limit; got " +
                                       value.dump()};
            else
                r.maxBytes = *bytes ? bytes : std::nullopt;
        } else {
            bad = Invalid{field, "unknown retention setting \"" + key +
                                     "\" (allowed: maxDays, maxBytes, continuousDays, "
                                     "motionDays, ringDays)"};
        }
        if (bad)
            return std::nullopt;
    }
    return r;
}

std::optional<Polygon> readPolygon(const Json& j, const std::string& field,
                                   std::optional<Invalid>& bad) {
    if (!j.is_array() || j.size() < 3 || j.size() > 64) {
        bad = Invalid{field, field + " must be a list of 3 to 64 points [x, y]"};
        return std::nullopt;
    }
    Polygon p;
    for (size_t i = 0; i < j.size(); ++i) {
        const Json& pt = j[i];
        const std::string f = field + "[" + std::to_string(i) + "]";
        if (!pt.is_array() || pt.size() != 2 || !pt[0].is_number() || !pt[1].is_number()) {
            bad = Invalid{f, f + " must be a point [x, y] of two numbers"};
            return std::nullopt;
        }
        const double x = pt[0].get<double>(), y = pt[1].get<double>();
        if (!(x >= 0 && x <= 1 && y >= 0 && y <= 1)) {
            bad = Invalid{f, f +
                                 ": x and y must be from 0 to 1 (fractions of the picture: 0,0 "
                                 "top left, 1,1 bottom right), got " +
                                 pt.dump()};
            return std::nullopt;
        }
        p.points.emplace_back(x, y);
    }
    return p;
}

Json polygonJson(const Polygon& p) {
    Json a = Json::array();
    for (const auto& [x, y] : p.points)
        a.push_back({x, y});
    return a;
}

Json retentionJson(const RetentionConfig& r) {
    auto num = [](const auto& o) { return o ? Json(*o) : Json(nullptr); };
    return {{"maxDays", num(r.maxDays)},
            {"maxBytes", num(r.maxBytes)},
            {"continuousDays", num(r.continuousDays)},
            {"motionDays", num(r.motionDays)},
            {"ringDays", num(r.ringDays)}};
}

Json zonesJson(const std::vector<MotionZone>& zones) {
    Json a = Json::array();
    for (const auto& z : zones)
        a.push_back({{"name", z.name},
                     {"mode", z.include ? "include" : "exclude"},
                     {"points", polygonJson(z.polygon)}});
    return a;
}

Json masksJson(const std::vector<Polygon>& masks) {
    Json a = Json::array();
    for (const auto& m : masks)
        a.push_back(polygonJson(m));
    return a;
}

Json doorbellJson(const DoorbellConfig& d) {
    if (!d.configured())
        return nullptr;
    return {{"chip", d.chip}, {"line", d.line}, {"activeLow", d.activeLow}};
}

/// Audit values as text: the log's canonical form has no floats.
std::string auditText(const Json& v) {
    return v.is_string() ? v.get<std::string>() : v.dump();
}

int64_t nowUs() {
    return std::chrono::duration_cast<std::chrono::microseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::optional<int64_t> number(const std::string& text) {
    if (text.empty() || text.size() > 19)
        return std::nullopt;
    int64_t v = 0;
    for (char c : text) {
        if (c < '0' || c > '9')
            return std::nullopt;
        v = v * 10 + (c - '0');
    }
    return v;
}

}  // namespace

std::optional<uint64_t> retentionEstimate(const RetentionConfig& r, double bytesPerDay) {
    std::optional<double> days;
    for (const auto& d : {r.continuousDays, r.motionDays, r.ringDays})
        if (d)
            days = std::max(days.value_or(0), *d);
    if (r.maxDays)
        days = days ? std::min(*days, *r.maxDays) : *r.maxDays;
    if (!days)
        return r.maxBytes;
    const double bytes = std::max(0.0, bytesPerDay) * *days;
    const uint64_t estimate = bytes >= 1.8e19 ? UINT64_MAX : static_cast<uint64_t>(bytes);
    return r.maxBytes ? std::min(estimate, *r.maxBytes) : estimate;
}

SettingsApi::SettingsApi(Daemon& daemon, Auth& auth, audit::AuditLog& audit)
    : daemon_(daemon), auth_(auth), audit_(audit) {}

bool SettingsApi::handle(const Request& request, Session& session,
                         std::function<void(Response)>& respond) {
    const std::string& path = request.path;
    const std::string& method = request.method;
    if (path == "/api/settings" && method == "GET") {
        respond(settings());
        return true;
    }
    if (path == "/api/events" && method == "GET") {
        respond(events(request));
        return true;
    }
    if (path == "/api/passphrase" && method == "POST") {
        changePassphrase(request, session, std::move(respond));
        return true;
    }
    constexpr std::string_view cameras = "/api/cameras/", events = "/api/events/";
    if (path.starts_with(cameras) && path.ends_with("/settings") &&
        path.size() > cameras.size() + 9 && (method == "PUT" || method == "POST")) {
        const std::string id =
            path.substr(cameras.size(), path.size() - cameras.size() - std::strlen("/settings"));
        respond(changeCamera(id, request, session));
        return true;
    }
    if (path.starts_with(events)) {
        std::string rest = path.substr(events.size());
        const bool protectRoute = rest.ends_with("/protect");
        if (protectRoute)
            rest.resize(rest.size() - std::strlen("/protect"));
        const auto id = number(rest);
        if (!id)
            return false;
        if (protectRoute && method == "POST") {
            respond(protect(*id, request, session));
            return true;
        }
        if (!protectRoute && method == "DELETE") {
            respond(deleteEvent(*id, session));
            return true;
        }
    }
    return false;
}

void SettingsApi::record(std::string_view kind, const Session& session, const Json& detail) {
    if (auto ok = audit_.append(kind, session.client, detail); !ok)
        PL_LOG(SettingsLog, Error)
            << "cannot record a " << kind << " in the audit log: " << ok.error().message;
}

Response SettingsApi::settings() {
    auto* storage = daemon_.storage();
    Json list = Json::array();
    std::map<std::string, storage::CameraUsage> usage;
    if (storage)
        if (auto u = storage->index().usage())
            usage = *u;
    const int64_t now = nowUs();
    for (const CameraConfig* c : daemon_.cameraConfigs()) {
        const RetentionConfig r = storage ? storage->retentionFor(c->id) : c->retention;
        // A camera restarting with new settings has no stream (nor figures) yet.
        const Camera* cam = daemon_.camera(c->id);
        const CameraStats stats = cam ? cam->stats() : CameraStats{};
        // The rate a retention is estimated from: what the camera writes now,
        // else what it is configured to write; in events mode what it has
        // recorded per day so far.
        double bytesPerDay = 0;
        std::string basis = "none";
        const double configured = c->source == SourceKind::Rtsp ? 0 : c->bitrate;
        const double bps = stats.bitrateBps > 0 ? stats.bitrateBps : configured;
        const double fullRate = bps / 8 * 86400;
        if (c->mode == RecordingMode::Continuous && bps > 0) {
            bytesPerDay = fullRate;
            basis = stats.bitrateBps > 0 ? "measured bitrate" : "configured bitrate";
        } else if (c->mode == RecordingMode::Events) {
            const auto& u = usage[c->id];
            const double spanDays =
                u.oldestUs ? static_cast<double>(now - *u.oldestUs) / 86'400e6 : 0;
            if (spanDays >= 1.0 / 24 && u.bytes > 0) {
                bytesPerDay = std::min(fullRate > 0 ? fullRate : 1e18, u.bytes / spanDays);
                basis = "recorded so far";
            } else if (bps > 0) {
                bytesPerDay = fullRate;
                basis = "at most (the full bitrate, as if every moment were an event)";
            }
        }
        const auto estimate = retentionEstimate(r, bytesPerDay);
        list.push_back({{"id", c->id},
                        {"source", std::string(sourceKindName(c->source))},
                        {"mode", std::string(recordingModeName(c->mode))},
                        {"width", stats.width ? static_cast<int>(stats.width) : c->width},
                        {"height", stats.height ? static_cast<int>(stats.height) : c->height},
                        {"masksAllowed", c->source != SourceKind::Rtsp || c->transcode},
                        {"masks", masksJson(c->masks)},
                        {"motion",
                         {{"enabled", c->motion.enabled},
                          {"sensitivity", c->motion.sensitivity},
                          {"zones", zonesJson(c->motion.zones)}}},
                        {"doorbell", doorbellJson(c->doorbell)},
                        {"retention", retentionJson(r)},
                        {"retentionSource", storage && storage->hasOwnerRetention(c->id)
                                                ? "owner"
                                                : (r == RetentionConfig{} ? "none" : "config")},
                        {"usedBytes", usage[c->id].bytes},
                        {"estimate",
                         {{"bytesPerDay", static_cast<uint64_t>(bytesPerDay)},
                          {"basis", basis},
                          {"bytes", estimate ? Json(*estimate) : Json(nullptr)}}}});
    }
    Json store = nullptr;
    if (storage) {
        const auto s = storage->status();
        store = {{"usedBytes", s.usedBytes},
                 {"freeBytes", s.freeBytes},
                 {"oldestUs", s.oldestUs ? Json(*s.oldestUs) : Json(nullptr)},
                 {"diskFull", s.diskFull},
                 {"lastProblem", s.lastProblem},
                 {"protectedSkipped", s.protectedSkipped}};
    }
    return reply({{"cameras", list}, {"storage", store}});
}

Response SettingsApi::changeCamera(const std::string& id, const Request& request,
                                   const Session& session) {
    const CameraConfig* current = daemon_.cameraConfig(id);
    if (!current)
        return refuse(404, "", "no camera \"" + id + "\"");
    const Json body = Json::parse(request.body, nullptr, false);
    if (body.is_discarded() || !body.is_object())
        return refuse(400, "", "send a JSON object with the settings to change");

    CameraSettingsChange change;
    std::optional<RetentionConfig> retention;
    std::optional<Invalid> bad;
    Json changes = Json::object();  // field -> {old, new}, for the audit log
    auto note = [&](const std::string& field, const Json& old, const Json& now) {
        if (old != now)
            changes[field] = {{"old", auditText(old)}, {"new", auditText(now)}};
    };
    for (auto&& [key, v] : body.items()) {
        if (key == "mode") {
            if (v == "continuous")
                change.mode = RecordingMode::Continuous;
            else if (v == "events")
                change.mode = RecordingMode::Events;
            else if (v == "off")
                change.mode = RecordingMode::Off;
            else
                bad = Invalid{
                    "mode", "mode must be \"continuous\", \"events\" or \"off\", got " + v.dump()};
            if (change.mode)
                note("mode", std::string(recordingModeName(current->mode)),
                     std::string(recordingModeName(*change.mode)));
        } else if (key == "retention") {
            auto* storage = daemon_.storage();
            const RetentionConfig before = storage ? storage->retentionFor(id) : current->retention;
            retention = readRetention(v, before, bad);
            if (retention) {
                const Json now = retentionJson(*retention), old = retentionJson(before);
                for (auto&& [k, val] : now.items())
                    note("retention." + k, old[k], val);
            }
        } else if (key == "masks") {
            if (!v.is_array() || v.size() > 32) {
                bad = Invalid{"masks", "masks must be a list of at most 32 polygons"};
            } else {
                std::vector<Polygon> masks;
                for (size_t i = 0; i < v.size() && !bad; ++i)
                    if (auto p = readPolygon(v[i], "masks[" + std::to_string(i) + "]", bad))
                        masks.push_back(std::move(*p));
                if (!bad) {
                    note("masks", masksJson(current->masks), masksJson(masks));
                    change.masks = std::move(masks);
                }
            }
        } else if (key == "motion") {
            if (!v.is_object()) {
                bad = Invalid{"motion", "motion must be an object"};
                continue;
            }
            for (auto&& [mk, mv] : v.items()) {
                const std::string field = "motion." + mk;
                if (mk == "enabled") {
                    if (!mv.is_boolean()) {
                        bad = Invalid{field, field + " must be true or false"};
                        break;
                    }
                    change.motionEnabled = mv.get<bool>();
                    note(field, current->motion.enabled, mv);
                } else if (mk == "sensitivity") {
                    if (!mv.is_number() || !(mv.get<double>() >= 0 && mv.get<double>() <= 1)) {
                        bad = Invalid{field,
                                      field + " must be a number from 0 to 1, got " + mv.dump()};
                        break;
                    }
                    change.sensitivity = mv.get<double>();
                    note(field, current->motion.sensitivity, mv);
                } else if (mk == "zones") {
                    if (!mv.is_array() || mv.size() > 32) {
                        bad = Invalid{field, field + " must be a list of at most 32 zones"};
                        break;
                    }
                    std::vector<MotionZone> zones;
                    for (size_t i = 0; i < mv.size() && !bad; ++i) {
                        const std::string zf = field + "[" + std::to_string(i) + "]";
                        const Json& z = mv[i];
                        if (!z.is_object()) {
                            bad = Invalid{zf, zf + " must be an object with points and mode"};
                            break;
                        }
                        MotionZone zone;
                        const std::string zmode = z.value("mode", "include");
                        if (zmode != "include" && zmode != "exclude") {
                            bad = Invalid{zf + ".mode",
                                          zf + ".mode must be \"include\" or \"exclude\""};
                            break;
                        }
                        zone.include = zmode == "include";
                        if (z.contains("name") && !z["name"].is_string()) {
                            bad = Invalid{zf + ".name", zf + ".name must be text"};
                            break;
                        }
                        zone.name = z.value("name", "");
                        if (zone.name.size() > 64) {
                            bad = Invalid{zf + ".name", zf + ".name must be at most 64 characters"};
                            break;
                        }
                        auto p = readPolygon(z.value("points", Json()), zf + ".points", bad);
                        if (!p)
                            break;
                        zone.polygon = std::move(*p);
                        zones.push_back(std::move(zone));
                    }
                    if (bad)
                        break;
                    note(field, zonesJson(current->motion.zones), zonesJson(zones));
                    change.zones = std::move(zones);
                } else {
                    bad = Invalid{field, "unknown motion setting \"" + mk +
                                             "\" (allowed: enabled, sensitivity, zones)"};
                    break;
                }
            }
        } else if (key == "doorbell") {
            DoorbellConfig d;
            if (v.is_null()) {
                // No button (one the page set goes; the files' stays).
            } else if (!v.is_object() || !v.contains("chip") || !v["chip"].is_string() ||
                       v["chip"].get<std::string>().empty()) {
                bad = Invalid{"doorbell.chip",
                              "doorbell.chip must be the GPIO chip's name (\"gpiochip0\"), or "
                              "send doorbell: null for no button"};
            } else if (!v.contains("line") || !v["line"].is_number_integer() ||
                       v["line"].get<int64_t>() < 0 || v["line"].get<int64_t>() > 511) {
                bad = Invalid{"doorbell.line",
                              "doorbell.line must be a line offset from 0 to 511, got " +
                                  v.value("line", Json()).dump()};
            } else if (v.contains("activeLow") && !v["activeLow"].is_boolean()) {
                bad = Invalid{"doorbell.activeLow", "doorbell.activeLow must be true or false"};
            } else {
                d.chip = v["chip"].get<std::string>();
                d.line = static_cast<int>(v["line"].get<int64_t>());
                d.activeLow = v.value("activeLow", true);
                d.debounceMs = current->doorbell.configured() ? current->doorbell.debounceMs : 50;
            }
            if (!bad) {
                note("doorbell", doorbellJson(current->doorbell), doorbellJson(d));
                change.doorbell = d;
            }
        } else {
            bad = Invalid{key, "unknown setting \"" + key +
                                   "\" (allowed: mode, retention, masks, motion, doorbell)"};
        }
        if (bad)
            break;
    }
    if (bad)
        return refuse(400, bad->field, bad->message);
    if (change.masks && !change.masks->empty() && current->source == SourceKind::Rtsp &&
        !current->transcode)
        return refuse(400, "masks",
                      "camera \"" + id +
                          "\" passes its rtsp stream through untouched, so masks cannot be "
                          "burned in: set transcode = true for it in the configuration file");

    if (!change.empty()) {
        if (auto refused = daemon_.changeCameraSettings(id, change)) {
            if (refused->noSuchCamera)
                return refuse(404, "", refused->message);
            return refuse(refused->invalid ? 400 : 500, refused->invalid ? "settings" : "",
                          refused->message);
        }
    }
    if (retention) {
        auto* storage = daemon_.storage();
        if (!storage)
            return refuse(503, "retention", "storage is not available");
        // The D-Bus SetRetention path: kept in the index, applied at once.
        if (auto set = storage->setRetention(id, *retention); !set)
            return refuse(500, "retention", set.error().message);
    }
    if (!changes.empty()) {
        PL_LOG(SettingsLog, Info) << "camera " << id << ": " << changes.size()
                                  << " setting(s) changed from the web page";
        record("settings", session, {{"camera", id}, {"changes", changes}});
    }
    // The camera as it is now.
    Json all = Json::parse(settings().body);
    for (const auto& c : all["cameras"])
        if (c["id"] == id)
            return reply({{"camera", c}, {"changed", changes.size()}});
    return reply({{"changed", changes.size()}});
}

Response SettingsApi::events(const Request& request) {
    auto* storage = daemon_.storage();
    if (!storage)
        return refuse(503, "", "storage is not available");
    int64_t from = 0, to = std::numeric_limits<int64_t>::max();
    size_t limit = 100;
    std::string camera;
    for (const auto& [k, v] : request.query) {
        auto n = number(v);
        if (k == "camera")
            camera = v;
        else if (k == "from" && n)
            from = *n;
        else if (k == "to" && n)
            to = *n;
        else if (k == "limit" && n)
            limit = std::clamp<size_t>(static_cast<size_t>(*n), 1, 1000);
        else
            return refuse(400, k,
                          "unknown or malformed query parameter \"" + k +
                              "\" (camera, from, to: µs since the epoch; limit)");
    }
    auto list = storage->index().events(camera, from, to);
    if (!list)
        return refuse(500, "", list.error().message);
    Json out = Json::array();
    // Newest first: the owner looks for what just happened.
    for (auto it = list->rbegin(); it != list->rend() && out.size() < limit; ++it)
        out.push_back({{"id", it->id},
                       {"camera", it->camera},
                       {"kind", std::string(storage::eventKindName(it->kind))},
                       {"startUs", it->startUs},
                       {"endUs", it->endUs},
                       {"protected", it->isProtected},
                       {"hasSnapshot", !it->snapshot.empty()}});
    return reply({{"events", out}});
}

Response SettingsApi::protect(int64_t id, const Request& request, const Session& session) {
    auto* storage = daemon_.storage();
    if (!storage)
        return refuse(503, "", "storage is not available");
    const Json body = Json::parse(request.body, nullptr, false);
    if (body.is_discarded() || !body.is_object() || !body.contains("protected") ||
        !body["protected"].is_boolean())
        return refuse(400, "protected", "send {\"protected\": true} or {\"protected\": false}");
    const bool want = body["protected"].get<bool>();
    auto before = storage->index().event(id);
    if (!before)
        return refuse(500, "", before.error().message);
    if (!*before)
        return refuse(404, "", "no event " + std::to_string(id));
    // The D-Bus ProtectEvent path.
    auto changed = storage->protectEvent(id, want);
    if (!changed)
        return refuse(500, "", changed.error().message);
    if (!*changed)
        return refuse(404, "", "no event " + std::to_string(id));
    if ((*before)->isProtected != want)
        record("protect", session,
               {{"event", id},
                {"camera", (*before)->camera},
                {"kind", std::string(storage::eventKindName((*before)->kind))},
                {"startUs", (*before)->startUs},
                {"old", (*before)->isProtected},
                {"new", want}});
    return reply({{"id", id}, {"protected", want}});
}

Response SettingsApi::deleteEvent(int64_t id, const Session& session) {
    auto* storage = daemon_.storage();
    if (!storage)
        return refuse(503, "", "storage is not available");
    auto before = storage->index().event(id);
    if (!before)
        return refuse(500, "", before.error().message);
    auto done = storage->deleteEvent(id);
    if (!done)
        return refuse(500, "", done.error().message);
    if (!done->found)
        return refuse(404, "", "no event " + std::to_string(id));
    if (!done->refused.empty())
        return refuse(409, "", done->refused);
    Json others = done->otherEvents;
    record("delete", session,
           {{"event", id},
            {"camera", (*before)->camera},
            {"kind", std::string(storage::eventKindName((*before)->kind))},
            {"startUs", (*before)->startUs},
            {"endUs", (*before)->endUs},
            {"segments", done->segments},
            {"bytes", done->bytes},
            {"keptSegments", done->keptSegments},
            {"otherEvents", others}});
    return reply({{"id", id},
                  {"segments", done->segments},
                  {"bytes", done->bytes},
                  {"keptSegments", done->keptSegments},
                  {"otherEvents", others}});
}

void SettingsApi::changePassphrase(const Request& request, Session& session,
                                   std::function<void(Response)> respond) {
    if (auto wait = auth_.retryAfter(session.client); wait.count() > 0) {
        const auto seconds = std::chrono::ceil<std::chrono::seconds>(wait).count();
        Response r = refuse(
            429, "", "too many failed attempts: try again in " + std::to_string(seconds) + " s");
        r.headers.emplace_back("Retry-After", std::to_string(seconds));
        return respond(std::move(r));
    }
    const Json body = Json::parse(request.body, nullptr, false);
    auto text = [&](const char* k) {
        return body.is_object() && body.contains(k) && body[k].is_string()
                   ? body[k].get<std::string>()
                   : std::string();
    };
    if (body.is_discarded() || !body.is_object())
        return respond(refuse(400, "", "send current (or recoveryKey), passphrase and confirm"));
    const std::string current = text("current"), recovery = text("recoveryKey");
    const std::string next = text("passphrase"), confirm = text("confirm");
    if (current.empty() && recovery.empty())
        return respond(refuse(400, "current", "enter the current passphrase, or the recovery key"));
    if (next != confirm)
        return respond(refuse(400, "confirm", "the new passphrase and its confirmation differ"));
    if (auto ok = keys::checkPassphrase(next); !ok)
        return respond(refuse(400, "passphrase", ok.error().message));
    const bool withRecovery = current.empty();
    auth_.changePassphrase(
        session, withRecovery ? recovery : current, withRecovery, next,
        [respond = std::move(respond), withRecovery](Expected<void> r) {
            if (!r) {
                const bool wrong = r.error().message.find("is wrong") != std::string::npos;
                return respond(refuse(wrong ? 403 : 400,
                                      wrong ? (withRecovery ? "recoveryKey" : "current") : "",
                                      r.error().message));
            }
            respond(reply({{"ok", true}, {"otherSessionsEnded", true}}));
        });
}

}  // namespace porchlight::web
