// porchlightctl's sd-bus calls: see bus_client.h.
//
// Every sd_bus, sd_bus_message and sd_bus_error lives in an RAII holder, so
// that each early return on a failed read releases what it holds.
#include "bus_client.h"

#include <systemd/sd-bus.h>

#include <algorithm>
#include <cstring>
#include <map>

namespace porchlight::ctl {

namespace {

constexpr const char* kService = "org.porchlight.Nvr1";
constexpr const char* kManagerPath = "/org/porchlight/Nvr1";
constexpr const char* kManagerInterface = "org.porchlight.Nvr1.Manager";
constexpr const char* kCameraInterface = "org.porchlight.Nvr1.Camera";
// Long enough for a Reload on a slow Pi; short enough that a hung daemon
// gets a message rather than a prompt that never comes back.
constexpr uint64_t kCallTimeoutUs = 15'000'000;

struct MessageDeleter {
    void operator()(sd_bus_message* m) const { sd_bus_message_unref(m); }
};
using MessagePtr = std::unique_ptr<sd_bus_message, MessageDeleter>;

/// An sd_bus_error that frees itself.
class ScopedError {
public:
    ScopedError() = default;
    ~ScopedError() { sd_bus_error_free(&error_); }
    ScopedError(const ScopedError&) = delete;
    ScopedError& operator=(const ScopedError&) = delete;

    sd_bus_error* get() { return &error_; }
    bool isSet() const { return sd_bus_error_is_set(&error_); }
    std::string name() const { return error_.name ? error_.name : ""; }
    std::string message() const { return error_.message ? error_.message : ""; }

private:
    sd_bus_error error_ = SD_BUS_ERROR_NULL;
};

std::string errnoText(int r) {
    return std::strerror(r < 0 ? -r : r);
}

/// A failed call. sd-bus names local errors too (ECONNRESET becomes
/// "System.Error.ECONNRESET"), which would read like the daemon's answer; a
/// closed connection is what tells that the bus, not the daemon, failed.
BusFailure callFailure(sd_bus* bus, int r, const ScopedError& error) {
    if (sd_bus_is_open(bus) <= 0)
        return BusFailure{"", errnoText(r), r};
    if (error.isSet())
        return BusFailure{error.name(), error.message(), r};
    return BusFailure{"", errnoText(r), r};
}

/// A reply that does not match the API: a different daemon or version.
BusFailure badReply(int r, const char* what) {
    return BusFailure{"org.porchlight.Nvr1.ctl.BadReply",
                      std::string("porchlightd's reply to ") + what +
                          " is not what porchlightctl expects (" + errnoText(r) +
                          "): are both the same version?",
                      r};
}

template <typename... Args>
BusResult<MessagePtr> callMethod(sd_bus* bus, const char* path, const char* interface,
                                 const char* member, const char* types, Args... args) {
    ScopedError error;
    sd_bus_message* reply = nullptr;
    const int r = sd_bus_call_method(bus, kService, path, interface, member, error.get(), &reply,
                                     types, args...);
    MessagePtr owned(reply);
    if (r < 0)
        return callFailure(bus, r, error);
    return MessagePtr(std::move(owned));
}

// Property values of the types the API uses; others are skipped.
using Value =
    std::variant<std::monostate, std::string, bool, uint32_t, int32_t, uint64_t, int64_t, double>;
using Dict = std::map<std::string, Value>;

template <typename T>
int readBasic(sd_bus_message* m, char type, Value& out) {
    T v{};
    const int r = sd_bus_message_read_basic(m, type, &v);
    if (r >= 0)
        out = v;
    return r;
}

/// Read one variant ('v') at the current position into \a out.
int readVariant(sd_bus_message* m, Value& out) {
    const char* contents = nullptr;
    int r = sd_bus_message_peek_type(m, nullptr, &contents);
    if (r < 0)
        return r;
    r = sd_bus_message_enter_container(m, SD_BUS_TYPE_VARIANT, contents);
    if (r < 0)
        return r;
    out = std::monostate{};
    if (std::strlen(contents) != 1) {
        r = sd_bus_message_skip(m, contents);
    } else {
        switch (contents[0]) {
            case 's':
            case 'o':
            case 'g': {
                const char* s = nullptr;
                r = sd_bus_message_read_basic(m, contents[0], &s);
                if (r >= 0)
                    out = std::string(s ? s : "");
                break;
            }
            case 'b': {
                int b = 0;
                r = sd_bus_message_read_basic(m, 'b', &b);
                if (r >= 0)
                    out = b != 0;
                break;
            }
            case 'u':
                r = readBasic<uint32_t>(m, 'u', out);
                break;
            case 'i':
                r = readBasic<int32_t>(m, 'i', out);
                break;
            case 't':
                r = readBasic<uint64_t>(m, 't', out);
                break;
            case 'x':
                r = readBasic<int64_t>(m, 'x', out);
                break;
            case 'd':
                r = readBasic<double>(m, 'd', out);
                break;
            default:
                r = sd_bus_message_skip(m, contents);
                break;
        }
    }
    if (r < 0)
        return r;
    return sd_bus_message_exit_container(m);
}

/// Read an a{sv} at the current position.
int readDict(sd_bus_message* m, Dict& out) {
    int r = sd_bus_message_enter_container(m, SD_BUS_TYPE_ARRAY, "{sv}");
    if (r < 0)
        return r;
    while ((r = sd_bus_message_enter_container(m, SD_BUS_TYPE_DICT_ENTRY, "sv")) > 0) {
        const char* key = nullptr;
        if ((r = sd_bus_message_read_basic(m, 's', &key)) < 0)
            return r;
        Value value;
        if ((r = readVariant(m, value)) < 0)
            return r;
        out[key] = std::move(value);
        if ((r = sd_bus_message_exit_container(m)) < 0)
            return r;
    }
    if (r < 0)
        return r;
    return sd_bus_message_exit_container(m);
}

/// Copy \a key into \a into when present with the API's type; a missing or
/// mistyped property keeps the default, so an older daemon still shows the rest.
template <typename T>
void take(const Dict& d, const char* key, T& into) {
    auto it = d.find(key);
    if (it == d.end())
        return;
    if (const T* v = std::get_if<T>(&it->second))
        into = *v;
}

ManagerInfo managerFrom(const Dict& d) {
    ManagerInfo m;
    take(d, "Version", m.version);
    take(d, "State", m.state);
    take(d, "OwnerConfigured", m.ownerConfigured);
    take(d, "StorageUsedBytes", m.storageUsedBytes);
    take(d, "StorageFreeBytes", m.storageFreeBytes);
    take(d, "OldestRecording", m.oldestRecording);
    take(d, "Cameras", m.cameras);
    take(d, "LastStorageProblem", m.lastStorageProblem);
    take(d, "DiskFull", m.diskFull);
    return m;
}

CameraInfo cameraFrom(const Dict& d) {
    CameraInfo c;
    take(d, "Id", c.id);
    take(d, "Source", c.source);
    take(d, "Mode", c.mode);
    take(d, "State", c.state);
    take(d, "LastError", c.lastError);
    take(d, "Recording", c.recording);
    take(d, "Width", c.width);
    take(d, "Height", c.height);
    take(d, "Framerate", c.framerate);
    take(d, "BitrateBps", c.bitrateBps);
    take(d, "FramesTotal", c.framesTotal);
    take(d, "LastMotion", c.lastMotion);
    take(d, "LastRing", c.lastRing);
    return c;
}

/// GetManagedObjects' a{oa{sa{sv}}}: the camera interface's properties of each object.
int readCameras(sd_bus_message* m, std::vector<CameraInfo>& out) {
    int r = sd_bus_message_enter_container(m, SD_BUS_TYPE_ARRAY, "{oa{sa{sv}}}");
    if (r < 0)
        return r;
    while ((r = sd_bus_message_enter_container(m, SD_BUS_TYPE_DICT_ENTRY, "oa{sa{sv}}")) > 0) {
        const char* path = nullptr;
        if ((r = sd_bus_message_read_basic(m, 'o', &path)) < 0)
            return r;
        if ((r = sd_bus_message_enter_container(m, SD_BUS_TYPE_ARRAY, "{sa{sv}}")) < 0)
            return r;
        while ((r = sd_bus_message_enter_container(m, SD_BUS_TYPE_DICT_ENTRY, "sa{sv}")) > 0) {
            const char* interface = nullptr;
            if ((r = sd_bus_message_read_basic(m, 's', &interface)) < 0)
                return r;
            if (std::strcmp(interface, kCameraInterface) == 0) {
                Dict props;
                if ((r = readDict(m, props)) < 0)
                    return r;
                out.push_back(cameraFrom(props));
                // The id is also the last path element; use it if the property is missing.
                if (out.back().id.empty()) {
                    const char* slash = std::strrchr(path, '/');
                    out.back().id = slash ? slash + 1 : path;
                }
            } else if ((r = sd_bus_message_skip(m, "a{sv}")) < 0) {
                return r;
            }
            if ((r = sd_bus_message_exit_container(m)) < 0)
                return r;
        }
        if (r < 0)
            return r;
        if ((r = sd_bus_message_exit_container(m)) < 0 ||
            (r = sd_bus_message_exit_container(m)) < 0)
            return r;
    }
    if (r < 0)
        return r;
    return sd_bus_message_exit_container(m);
}

}  // namespace

void BusClient::BusDeleter::operator()(sd_bus* bus) const {
    sd_bus_flush_close_unref(bus);
}

BusResult<BusClient> BusClient::connect(bool user) {
    sd_bus* raw = nullptr;
    const int r = user ? sd_bus_open_user(&raw) : sd_bus_open_system(&raw);
    BusPtr bus(raw);
    if (r < 0)
        return BusFailure{"", errnoText(r), r};
    sd_bus_set_method_call_timeout(bus.get(), kCallTimeoutUs);
    return BusClient(std::move(bus));
}

BusResult<ManagerInfo> BusClient::manager() {
    auto reply = callMethod(bus_.get(), kManagerPath, "org.freedesktop.DBus.Properties", "GetAll",
                            "s", kManagerInterface);
    if (!reply)
        return reply.failure();
    Dict props;
    if (int r = readDict(reply->get(), props); r < 0)
        return badReply(r, "GetAll");
    return managerFrom(props);
}

BusResult<std::vector<CameraInfo>> BusClient::cameras() {
    auto reply = callMethod(bus_.get(), kManagerPath, "org.freedesktop.DBus.ObjectManager",
                            "GetManagedObjects", "");
    if (!reply)
        return reply.failure();
    std::vector<CameraInfo> cameras;
    if (int r = readCameras(reply->get(), cameras); r < 0)
        return badReply(r, "GetManagedObjects");
    std::sort(cameras.begin(), cameras.end(),
              [](const CameraInfo& a, const CameraInfo& b) { return a.id < b.id; });
    return cameras;
}

BusResult<RetentionInfo> BusClient::retention(const std::string& camera) {
    auto reply = callMethod(bus_.get(), kManagerPath, kManagerInterface, "GetRetention", "s",
                            camera.c_str());
    if (!reply)
        return reply.failure();
    Dict settings;
    if (int r = readDict(reply->get(), settings); r < 0)
        return badReply(r, "GetRetention");
    RetentionInfo info;
    if (auto it = settings.find("max_days"); it != settings.end())
        if (const double* v = std::get_if<double>(&it->second))
            info.maxDays = *v;
    if (auto it = settings.find("max_bytes"); it != settings.end())
        if (const uint64_t* v = std::get_if<uint64_t>(&it->second))
            info.maxBytes = *v;
    info.source = "none";
    take(settings, "source", info.source);
    return info;
}

BusResult<Done> BusClient::setRetention(const std::string& camera, std::optional<double> maxDays,
                                        std::optional<uint64_t> maxBytes) {
    sd_bus_message* raw = nullptr;
    int r = sd_bus_message_new_method_call(bus_.get(), &raw, kService, kManagerPath,
                                           kManagerInterface, "SetRetention");
    MessagePtr call(raw);
    if (r >= 0)
        r = sd_bus_message_append(call.get(), "s", camera.c_str());
    if (r >= 0)
        r = sd_bus_message_open_container(call.get(), SD_BUS_TYPE_ARRAY, "{sv}");
    if (r >= 0 && maxDays)
        r = sd_bus_message_append(call.get(), "{sv}", "max_days", "d", *maxDays);
    if (r >= 0 && maxBytes)
        r = sd_bus_message_append(call.get(), "{sv}", "max_bytes", "t", *maxBytes);
    if (r >= 0)
        r = sd_bus_message_close_container(call.get());
    if (r < 0)
        return BusFailure{"", errnoText(r), r};

    ScopedError error;
    sd_bus_message* reply = nullptr;
    r = sd_bus_call(bus_.get(), call.get(), 0, error.get(), &reply);
    MessagePtr owned(reply);
    if (r < 0)
        return callFailure(bus_.get(), r, error);
    return Done{};
}

BusResult<std::vector<RecordingInfo>> BusClient::recordings(const std::string& camera, int64_t from,
                                                            int64_t to) {
    auto reply = callMethod(bus_.get(), kManagerPath, kManagerInterface, "ListRecordings", "sxx",
                            camera.c_str(), from, to);
    if (!reply)
        return reply.failure();
    sd_bus_message* m = reply->get();
    std::vector<RecordingInfo> out;
    int r = sd_bus_message_enter_container(m, SD_BUS_TYPE_ARRAY, "(stxxtub)");
    if (r < 0)
        return badReply(r, "ListRecordings");
    for (;;) {
        const char* cam = nullptr;
        RecordingInfo rec;
        int isProtected = 0;
        r = sd_bus_message_read(m, "(stxxtub)", &cam, &rec.sequence, &rec.start, &rec.end,
                                &rec.bytes, &rec.state, &isProtected);
        if (r <= 0)
            break;
        rec.camera = cam;
        rec.isProtected = isProtected != 0;
        out.push_back(std::move(rec));
    }
    if (r < 0 || (r = sd_bus_message_exit_container(m)) < 0)
        return badReply(r, "ListRecordings");
    return out;
}

BusResult<std::vector<EventInfo>> BusClient::events(const std::string& camera, int64_t from,
                                                    int64_t to) {
    auto reply = callMethod(bus_.get(), kManagerPath, kManagerInterface, "ListEvents", "sxx",
                            camera.c_str(), from, to);
    if (!reply)
        return reply.failure();
    sd_bus_message* m = reply->get();
    std::vector<EventInfo> out;
    int r = sd_bus_message_enter_container(m, SD_BUS_TYPE_ARRAY, "(tssxxb)");
    if (r < 0)
        return badReply(r, "ListEvents");
    for (;;) {
        const char* cam = nullptr;
        const char* kind = nullptr;
        EventInfo e;
        int isProtected = 0;
        r = sd_bus_message_read(m, "(tssxxb)", &e.id, &cam, &kind, &e.start, &e.end, &isProtected);
        if (r <= 0)
            break;
        e.camera = cam;
        e.kind = kind;
        e.isProtected = isProtected != 0;
        out.push_back(std::move(e));
    }
    if (r < 0 || (r = sd_bus_message_exit_container(m)) < 0)
        return badReply(r, "ListEvents");
    return out;
}

BusResult<Done> BusClient::ring(const std::string& camera) {
    auto reply =
        callMethod(bus_.get(), kManagerPath, kManagerInterface, "Ring", "s", camera.c_str());
    if (!reply)
        return reply.failure();
    return Done{};
}

BusResult<Done> BusClient::reload() {
    auto reply = callMethod(bus_.get(), kManagerPath, kManagerInterface, "Reload", "");
    if (!reply)
        return reply.failure();
    return Done{};
}

BusResult<std::string> BusClient::setupCode() {
    auto reply = callMethod(bus_.get(), kManagerPath, kManagerInterface, "GetSetupCode", "");
    if (!reply)
        return reply.failure();
    const char* code = nullptr;
    if (int r = sd_bus_message_read(reply->get(), "s", &code); r < 0)
        return badReply(r, "GetSetupCode");
    return std::string(code);
}

}  // namespace porchlight::ctl
