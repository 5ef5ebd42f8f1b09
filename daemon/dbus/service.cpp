// Porchlight on D-Bus: see service.h and org.porchlight.Nvr1.xml.
#include "service.h"

#include <cmath>
#include <cstring>

#include "log.h"
#include "porchlight-config.h"

PL_DECLARE_LOG_CATEGORY(Dbus)

namespace porchlight::dbus {

using namespace std::chrono_literals;

namespace {

constexpr const char* kErrNoSuchCamera = "org.porchlight.Nvr1.Error.NoSuchCamera";
constexpr const char* kErrNoSuchEvent = "org.porchlight.Nvr1.Error.NoSuchEvent";
constexpr const char* kErrAlreadySetUp = "org.porchlight.Nvr1.Error.AlreadySetUp";
constexpr const char* kErrStorage = "org.porchlight.Nvr1.Error.Storage";
constexpr const char* kErrInvalidConfig = "org.porchlight.Nvr1.Error.InvalidConfig";
constexpr double kMaxRetentionDays = 3650;
constexpr uint64_t kMinRetentionBytes = 64 * 1024;

Service* serviceOf(void* userdata) {
    return static_cast<Service*>(userdata);
}

int noSuchCamera(sd_bus_error* error, const std::string& id, Service* s) {
    std::string known;
    for (const auto& c : s->cameraIds())
        known += (known.empty() ? "" : ", ") + c;
    return sd_bus_error_setf(error, kErrNoSuchCamera, "no camera \"%s\" (configured: %s)",
                             id.c_str(), known.empty() ? "none" : known.c_str());
}

// ---- Manager properties

int managerProperty(sd_bus*, const char*, const char*, const char* property, sd_bus_message* reply,
                    void* userdata, sd_bus_error*) {
    Service* s = serviceOf(userdata);
    if (!std::strcmp(property, "Version"))
        return sd_bus_message_append(reply, "s", PORCHLIGHT_VERSION);
    const ManagerProps p = s->managerProps();
    if (!std::strcmp(property, "State"))
        return sd_bus_message_append(reply, "u", p.state);
    if (!std::strcmp(property, "OwnerConfigured"))
        return sd_bus_message_append(reply, "b", static_cast<int>(p.ownerConfigured));
    if (!std::strcmp(property, "StorageUsedBytes"))
        return sd_bus_message_append(reply, "t", p.usedBytes);
    if (!std::strcmp(property, "StorageFreeBytes"))
        return sd_bus_message_append(reply, "t", p.freeBytes);
    if (!std::strcmp(property, "OldestRecording"))
        return sd_bus_message_append(reply, "x", p.oldestRecording);
    if (!std::strcmp(property, "Cameras"))
        return sd_bus_message_append(reply, "u", p.cameras);
    if (!std::strcmp(property, "LastStorageProblem"))
        return sd_bus_message_append(reply, "s", p.lastStorageProblem.c_str());
    if (!std::strcmp(property, "DiskFull"))
        return sd_bus_message_append(reply, "b", static_cast<int>(p.diskFull));
    return -ENOENT;
}

// ---- Manager methods

int methodReload(sd_bus_message* m, void* userdata, sd_bus_error* error) {
    Service* s = serviceOf(userdata);
    if (auto r = s->daemon().reload(); !r)
        return sd_bus_error_setf(error, kErrInvalidConfig,
                                 "the configuration has errors; still running on the previous "
                                 "one:\n%s",
                                 r.error().message.c_str());
    return sd_bus_reply_method_return(m, "");
}

int appendRetention(sd_bus_message* reply, Service* s, const std::string& id) {
    auto* storage = s->daemon().storage();
    const RetentionConfig r = storage ? storage->retentionFor(id) : RetentionConfig{};
    int e = sd_bus_message_open_container(reply, 'a', "{sv}");
    if (e < 0)
        return e;
    if (r.maxDays && (e = sd_bus_message_append(reply, "{sv}", "max_days", "d", *r.maxDays)) < 0)
        return e;
    if (r.maxBytes && (e = sd_bus_message_append(reply, "{sv}", "max_bytes", "t", *r.maxBytes)) < 0)
        return e;
    const char* source = storage && storage->hasOwnerRetention(id)
                             ? "owner"
                             : (r.maxDays || r.maxBytes ? "config" : "none");
    if ((e = sd_bus_message_append(reply, "{sv}", "source", "s", source)) < 0)
        return e;
    return sd_bus_message_close_container(reply);
}

bool knownCamera(Service* s, const std::string& id) {
    return s->daemon().camera(id) != nullptr;
}

int methodGetRetention(sd_bus_message* m, void* userdata, sd_bus_error* error) {
    Service* s = serviceOf(userdata);
    const char* camera = nullptr;
    int r = sd_bus_message_read(m, "s", &camera);
    if (r < 0)
        return r;
    if (!knownCamera(s, camera))
        return noSuchCamera(error, camera, s);
    sd_bus_message* raw = nullptr;
    if ((r = sd_bus_message_new_method_return(m, &raw)) < 0)
        return r;
    MessagePtr reply(raw);
    if ((r = appendRetention(reply.get(), s, camera)) < 0)
        return r;
    return sd_bus_send(nullptr, reply.get(), nullptr);
}

int methodSetRetention(sd_bus_message* m, void* userdata, sd_bus_error* error) {
    Service* s = serviceOf(userdata);
    const char* camera = nullptr;
    int r = sd_bus_message_read(m, "s", &camera);
    if (r < 0)
        return r;
    const std::string id = camera;
    if (!knownCamera(s, id))
        return noSuchCamera(error, id, s);
    auto* storage = s->daemon().storage();
    if (!storage)
        return sd_bus_error_set(error, kErrStorage, "storage is not available");
    RetentionConfig next = storage->retentionFor(id);

    if ((r = sd_bus_message_enter_container(m, 'a', "{sv}")) < 0)
        return r;
    for (;;) {
        if ((r = sd_bus_message_enter_container(m, 'e', "sv")) < 0)
            return r;
        if (r == 0)
            break;
        const char* key = nullptr;
        if ((r = sd_bus_message_read(m, "s", &key)) < 0)
            return r;
        const char* contents = nullptr;
        if ((r = sd_bus_message_peek_type(m, nullptr, &contents)) < 0)
            return r;
        if (!std::strcmp(key, "max_days")) {
            if (std::strcmp(contents, "d") != 0)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                         "max_days must be a double (d), not \"%s\"", contents);
            double days = 0;
            if ((r = sd_bus_message_read(m, "v", "d", &days)) < 0)
                return r;
            if (!std::isfinite(days) || days < 0 || days > kMaxRetentionDays)
                return sd_bus_error_setf(
                    error, SD_BUS_ERROR_INVALID_ARGS,
                    "invalid retention: max_days must be > 0 and at most %g (0 removes the "
                    "limit), got %g",
                    kMaxRetentionDays, days);
            next.maxDays = days > 0 ? std::optional<double>(days) : std::nullopt;
        } else if (!std::strcmp(key, "max_bytes")) {
            if (std::strcmp(contents, "t") != 0)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                         "max_bytes must be an unsigned 64-bit integer (t), not "
                                         "\"%s\"",
                                         contents);
            uint64_t bytes = 0;
            if ((r = sd_bus_message_read(m, "v", "t", &bytes)) < 0)
                return r;
            if (bytes != 0 && (bytes < kMinRetentionBytes || bytes > INT64_MAX))
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                         "invalid retention: max_bytes must be at least %llu "
                                         "(64 KiB; 0 removes the limit), got %llu",
                                         static_cast<unsigned long long>(kMinRetentionBytes),
                                         static_cast<unsigned long long>(bytes));
            next.maxBytes = bytes > 0 ? std::optional<uint64_t>(bytes) : std::nullopt;
        } else {
            return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                     "unknown retention setting \"%s\" (allowed: max_days, "
                                     "max_bytes)",
                                     key);
        }
        if ((r = sd_bus_message_exit_container(m)) < 0)
            return r;
    }
    if ((r = sd_bus_message_exit_container(m)) < 0)
        return r;

    if (auto set = storage->setRetention(id, next); !set)
        return sd_bus_error_set(error, kErrStorage, set.error().message.c_str());
    s->cameraChanged(id, false);  // RetentionMaxDays/-Bytes
    return sd_bus_reply_method_return(m, "");
}

int methodListRecordings(sd_bus_message* m, void* userdata, sd_bus_error* error) {
    Service* s = serviceOf(userdata);
    const char* camera = nullptr;
    int64_t from = 0, to = 0;
    int r = sd_bus_message_read(m, "sxx", &camera, &from, &to);
    if (r < 0)
        return r;
    if (*camera && !knownCamera(s, camera))
        return noSuchCamera(error, camera, s);
    if (to <= from)
        return sd_bus_error_set(error, SD_BUS_ERROR_INVALID_ARGS,
                                "the range is empty: \"to\" must be after \"from\" (µs since the "
                                "epoch)");
    auto* storage = s->daemon().storage();
    if (!storage)
        return sd_bus_error_set(error, kErrStorage, "storage is not available");
    auto rows = storage->index().segments(camera, from, to);
    if (!rows)
        return sd_bus_error_set(error, kErrStorage, rows.error().message.c_str());
    sd_bus_message* raw = nullptr;
    if ((r = sd_bus_message_new_method_return(m, &raw)) < 0)
        return r;
    MessagePtr reply(raw);
    if ((r = sd_bus_message_open_container(reply.get(), 'a', "(stxxtub)")) < 0)
        return r;
    for (const auto& row : *rows)
        if ((r = sd_bus_message_append(reply.get(), "(stxxtub)", row.camera.c_str(),
                                       static_cast<uint64_t>(row.sequence), row.startUs, row.endUs,
                                       row.bytes, static_cast<uint32_t>(row.state),
                                       static_cast<int>(row.isProtected))) < 0)
            return r;
    if ((r = sd_bus_message_close_container(reply.get())) < 0)
        return r;
    return sd_bus_send(nullptr, reply.get(), nullptr);
}

int methodListEvents(sd_bus_message* m, void* userdata, sd_bus_error* error) {
    Service* s = serviceOf(userdata);
    const char* camera = nullptr;
    int64_t from = 0, to = 0;
    int r = sd_bus_message_read(m, "sxx", &camera, &from, &to);
    if (r < 0)
        return r;
    if (*camera && !knownCamera(s, camera))
        return noSuchCamera(error, camera, s);
    if (to <= from)
        return sd_bus_error_set(error, SD_BUS_ERROR_INVALID_ARGS,
                                "the range is empty: \"to\" must be after \"from\"");
    auto* storage = s->daemon().storage();
    if (!storage)
        return sd_bus_error_set(error, kErrStorage, "storage is not available");
    auto events = storage->index().events(camera, from, to);
    if (!events)
        return sd_bus_error_set(error, kErrStorage, events.error().message.c_str());
    sd_bus_message* raw = nullptr;
    if ((r = sd_bus_message_new_method_return(m, &raw)) < 0)
        return r;
    MessagePtr reply(raw);
    if ((r = sd_bus_message_open_container(reply.get(), 'a', "(tssxxb)")) < 0)
        return r;
    for (const auto& e : *events) {
        const std::string kind(storage::eventKindName(e.kind));
        if ((r = sd_bus_message_append(reply.get(), "(tssxxb)", static_cast<uint64_t>(e.id),
                                       e.camera.c_str(), kind.c_str(), e.startUs, e.endUs,
                                       static_cast<int>(e.isProtected))) < 0)
            return r;
    }
    if ((r = sd_bus_message_close_container(reply.get())) < 0)
        return r;
    return sd_bus_send(nullptr, reply.get(), nullptr);
}

int methodProtectEvent(sd_bus_message* m, void* userdata, sd_bus_error* error) {
    Service* s = serviceOf(userdata);
    uint64_t id = 0;
    int protect = 0;
    int r = sd_bus_message_read(m, "tb", &id, &protect);
    if (r < 0)
        return r;
    auto* storage = s->daemon().storage();
    if (!storage)
        return sd_bus_error_set(error, kErrStorage, "storage is not available");
    auto changed = storage->protectEvent(static_cast<int64_t>(id), protect != 0);
    if (!changed)
        return sd_bus_error_set(error, kErrStorage, changed.error().message.c_str());
    if (!*changed)
        return sd_bus_error_setf(error, kErrNoSuchEvent, "no event %llu",
                                 static_cast<unsigned long long>(id));
    return sd_bus_reply_method_return(m, "");
}

int methodRing(sd_bus_message* m, void* userdata, sd_bus_error* error) {
    Service* s = serviceOf(userdata);
    const char* camera = nullptr;
    int r = sd_bus_message_read(m, "s", &camera);
    if (r < 0)
        return r;
    if (!s->daemon().ring(camera))
        return noSuchCamera(error, camera, s);
    return sd_bus_reply_method_return(m, "");
}

int methodGetSetupCode(sd_bus_message* m, void* userdata, sd_bus_error* error) {
    Service* s = serviceOf(userdata);
    // The bus policy already allows only root; check again here.
    sd_bus_creds* creds = nullptr;
    uid_t uid = 1;
    if (sd_bus_query_sender_creds(m, SD_BUS_CREDS_EUID, &creds) >= 0) {
        sd_bus_creds_get_euid(creds, &uid);
        sd_bus_creds_unref(creds);
    }
    if (uid != 0)
        return sd_bus_error_set(error, SD_BUS_ERROR_ACCESS_DENIED,
                                "only root may read the setup code");
    const std::string& code = s->daemon().setupCode();
    if (code.empty() || (s->daemon().storage() && s->daemon().storage()->hasOwner()))
        return sd_bus_error_set(error, kErrAlreadySetUp,
                                "the device is already set up: there is no setup code any more");
    return sd_bus_reply_method_return(m, "s", code.c_str());
}

constexpr uint64_t kEmits = SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE;
constexpr uint64_t kConst = SD_BUS_VTABLE_PROPERTY_CONST;
// Access is the bus policy's job (root and group porchlight); without this
// flag sd-bus would also demand CAP_SYS_ADMIN of every caller.
constexpr uint64_t kOpen = SD_BUS_VTABLE_UNPRIVILEGED;

const sd_bus_vtable kManagerVtable[] = {
    SD_BUS_VTABLE_START(0), SD_BUS_PROPERTY("Version", "s", managerProperty, 0, kConst),
    SD_BUS_PROPERTY("State", "u", managerProperty, 0, kEmits),
    SD_BUS_PROPERTY("OwnerConfigured", "b", managerProperty, 0, kEmits),
    SD_BUS_PROPERTY("StorageUsedBytes", "t", managerProperty, 0, kEmits),
    SD_BUS_PROPERTY("StorageFreeBytes", "t", managerProperty, 0, kEmits),
    SD_BUS_PROPERTY("OldestRecording", "x", managerProperty, 0, kEmits),
    SD_BUS_PROPERTY("Cameras", "u", managerProperty, 0, kEmits),
    SD_BUS_PROPERTY("LastStorageProblem", "s", managerProperty, 0, kEmits),
    SD_BUS_PROPERTY("DiskFull", "b", managerProperty, 0, kEmits),
    SD_BUS_METHOD("Reload", "", "", methodReload, kOpen),
    SD_BUS_METHOD_WITH_ARGS("GetRetention", SD_BUS_ARGS("s", camera),
                            SD_BUS_RESULT("a{sv}", settings), methodGetRetention, kOpen),
    SD_BUS_METHOD_WITH_ARGS("SetRetention", SD_BUS_ARGS("s", camera, "a{sv}", settings),
                            SD_BUS_NO_RESULT, methodSetRetention, kOpen),
    SD_BUS_METHOD_WITH_ARGS("ListRecordings", SD_BUS_ARGS("s", camera, "x", from, "x", to),
                            SD_BUS_RESULT("a(stxxtub)", recordings), methodListRecordings, kOpen),
    SD_BUS_METHOD_WITH_ARGS("ListEvents", SD_BUS_ARGS("s", camera, "x", from, "x", to),
                            SD_BUS_RESULT("a(tssxxb)", events), methodListEvents, kOpen),
    SD_BUS_METHOD_WITH_ARGS("Ring", SD_BUS_ARGS("s", camera), SD_BUS_NO_RESULT, methodRing, kOpen),
    SD_BUS_METHOD_WITH_ARGS("ProtectEvent", SD_BUS_ARGS("t", id, "b", protect), SD_BUS_NO_RESULT,
                            methodProtectEvent, kOpen),
    // Not kOpen: sd-bus itself refuses callers without CAP_SYS_ADMIN (root).
    SD_BUS_METHOD_WITH_ARGS("GetSetupCode", SD_BUS_NO_ARGS, SD_BUS_RESULT("s", code),
                            methodGetSetupCode, 0),
    SD_BUS_SIGNAL_WITH_ARGS("StorageWarning", SD_BUS_ARGS("s", message), 0),
    SD_BUS_SIGNAL_WITH_ARGS("Event", SD_BUS_ARGS("s", camera, "s", kind, "x", start, "t", id), 0),
    SD_BUS_SIGNAL_WITH_ARGS("EventEnded", SD_BUS_ARGS("s", camera, "s", kind, "t", id, "x", end),
                            0),
    SD_BUS_VTABLE_END};

// ---- Cameras

int cameraProperty(sd_bus*, const char*, const char*, const char* property, sd_bus_message* reply,
                   void* userdata, sd_bus_error* error) {
    auto* obj = static_cast<CameraObject*>(userdata);
    if (!obj->service->daemon().camera(obj->id))
        return sd_bus_error_setf(error, kErrNoSuchCamera, "camera \"%s\" is gone", obj->id.c_str());
    const CameraProps p = obj->service->cameraProps(obj->id);
    if (!std::strcmp(property, "Id"))
        return sd_bus_message_append(reply, "s", p.id.c_str());
    if (!std::strcmp(property, "Source"))
        return sd_bus_message_append(reply, "u", p.source);
    if (!std::strcmp(property, "Mode"))
        return sd_bus_message_append(reply, "u", p.mode);
    if (!std::strcmp(property, "State"))
        return sd_bus_message_append(reply, "u", p.state);
    if (!std::strcmp(property, "LastError"))
        return sd_bus_message_append(reply, "s", p.lastError.c_str());
    if (!std::strcmp(property, "Recording"))
        return sd_bus_message_append(reply, "b", static_cast<int>(p.recording));
    if (!std::strcmp(property, "Width"))
        return sd_bus_message_append(reply, "u", p.width);
    if (!std::strcmp(property, "Height"))
        return sd_bus_message_append(reply, "u", p.height);
    if (!std::strcmp(property, "Framerate"))
        return sd_bus_message_append(reply, "d", p.framerate);
    if (!std::strcmp(property, "BitrateBps"))
        return sd_bus_message_append(reply, "t", p.bitrate);
    if (!std::strcmp(property, "FramesTotal"))
        return sd_bus_message_append(reply, "t", p.frames);
    if (!std::strcmp(property, "LastMotion"))
        return sd_bus_message_append(reply, "x", p.lastMotion);
    if (!std::strcmp(property, "LastRing"))
        return sd_bus_message_append(reply, "x", p.lastRing);
    if (!std::strcmp(property, "DoorbellError"))
        return sd_bus_message_append(reply, "s", p.doorbellError.c_str());
    if (!std::strcmp(property, "RetentionMaxDays"))
        return sd_bus_message_append(reply, "d", p.retentionDays);
    if (!std::strcmp(property, "RetentionMaxBytes"))
        return sd_bus_message_append(reply, "t", p.retentionBytes);
    return -ENOENT;
}

const sd_bus_vtable kCameraVtable[] = {
    SD_BUS_VTABLE_START(0),
    SD_BUS_PROPERTY("Id", "s", cameraProperty, 0, kConst),
    SD_BUS_PROPERTY("Source", "u", cameraProperty, 0, kConst),
    SD_BUS_PROPERTY("Mode", "u", cameraProperty, 0, kConst),
    SD_BUS_PROPERTY("State", "u", cameraProperty, 0, kEmits),
    SD_BUS_PROPERTY("LastError", "s", cameraProperty, 0, kEmits),
    SD_BUS_PROPERTY("Recording", "b", cameraProperty, 0, kEmits),
    SD_BUS_PROPERTY("Width", "u", cameraProperty, 0, kEmits),
    SD_BUS_PROPERTY("Height", "u", cameraProperty, 0, kEmits),
    SD_BUS_PROPERTY("Framerate", "d", cameraProperty, 0, kEmits),
    SD_BUS_PROPERTY("BitrateBps", "t", cameraProperty, 0, kEmits),
    SD_BUS_PROPERTY("FramesTotal", "t", cameraProperty, 0, kEmits),
    SD_BUS_PROPERTY("LastMotion", "x", cameraProperty, 0, kEmits),
    SD_BUS_PROPERTY("LastRing", "x", cameraProperty, 0, kEmits),
    SD_BUS_PROPERTY("DoorbellError", "s", cameraProperty, 0, kEmits),
    SD_BUS_PROPERTY("RetentionMaxDays", "d", cameraProperty, 0, kEmits),
    SD_BUS_PROPERTY("RetentionMaxBytes", "t", cameraProperty, 0, kEmits),
    SD_BUS_VTABLE_END};

}  // namespace

std::string Service::cameraPath(const std::string& id) {
    char* path = nullptr;
    if (sd_bus_path_encode(kCameraPrefix, id.c_str(), &path) < 0)
        return {};
    std::string p = path;
    free(path);
    return p;
}

Expected<std::unique_ptr<Service>> Service::start(boost::asio::io_context& io, Clock& clock,
                                                  Daemon& daemon, BusType type) {
    std::unique_ptr<Service> s(new Service(io, clock, daemon));
    auto c = Connection::open(io, type);
    if (!c)
        return c.error();
    s->connection_ = std::move(*c);
    if (auto r = s->registerObjects(); !r)
        return r.error();
    if (auto r = s->connection_->requestName(kBusName); !r)
        return r.error();
    s->camerasChanged();
    s->manager_ = s->managerProps();
    daemon.onCamerasChanged = [p = s.get()] { p->camerasChanged(); };
    daemon.onCameraChanged = [p = s.get()](Camera& cam) {
        p->cameraChanged(cam.id(), false);
        p->managerChanged(false);
    };
    daemon.onEvent = [p = s.get()](const std::string& camera, const std::string& kind,
                                   int64_t start, int64_t id) {
        sd_bus_emit_signal(p->connection_->get(), kManagerPath, kManagerInterface, "Event", "ssxt",
                           camera.c_str(), kind.c_str(), start, static_cast<uint64_t>(id));
        p->cameraChanged(camera, false);
        p->connection_->kick();
    };
    daemon.onEventEnded = [p = s.get()](const std::string& camera, const std::string& kind,
                                        int64_t id, int64_t end) {
        sd_bus_emit_signal(p->connection_->get(), kManagerPath, kManagerInterface, "EventEnded",
                           "sstx", camera.c_str(), kind.c_str(), static_cast<uint64_t>(id), end);
        p->connection_->kick();
    };
    s->tickTimer_ = clock.schedule(1s, [p = s.get()] { p->tick(); });
    PL_LOG(Dbus, Info) << "serving " << kBusName << " on the "
                       << (type == BusType::System ? "system" : "session") << " bus";
    return s;
}

Service::Service(boost::asio::io_context& io, Clock& clock, Daemon& daemon)
    : io_(io), clock_(clock), daemon_(daemon) {}

Service::~Service() {
    daemon_.onCamerasChanged = nullptr;
    daemon_.onCameraChanged = nullptr;
    daemon_.onEvent = nullptr;
    daemon_.onEventEnded = nullptr;
    tickTimer_.reset();
    slots_.clear();
}

CameraObject* Service::cameraObject(const std::string& id) {
    auto it = objects_.find(id);
    return it != objects_.end() && daemon_.camera(id) ? it->second.get() : nullptr;
}

std::vector<std::string> Service::cameraIds() const {
    std::vector<std::string> ids;
    for (const Camera* c : daemon_.cameras())
        ids.push_back(c->id());
    return ids;
}

Expected<void> Service::registerObjects() {
    sd_bus* bus = connection_->get();
    sd_bus_slot* slot = nullptr;
    auto keep = [&](int r, const char* what) -> Expected<void> {
        if (r < 0)
            return makeError(std::string("D-Bus: cannot add ") + what + ": " + std::strerror(-r));
        slots_.emplace_back(slot);
        slot = nullptr;
        return {};
    };
    if (auto r = keep(sd_bus_add_object_vtable(bus, &slot, kManagerPath, kManagerInterface,
                                               kManagerVtable, this),
                      "the manager");
        !r)
        return r;
    if (auto r = keep(sd_bus_add_object_manager(bus, &slot, kManagerPath), "the object manager");
        !r)
        return r;
    auto find = [](sd_bus*, const char* path, const char*, void* userdata, void** found,
                   sd_bus_error*) -> int {
        auto* self = static_cast<Service*>(userdata);
        char* id = nullptr;
        if (sd_bus_path_decode(path, kCameraPrefix, &id) <= 0)
            return 0;
        std::string camera = id;
        free(id);
        CameraObject* object = self->cameraObject(camera);
        if (!object)
            return 0;
        *found = object;
        return 1;
    };
    if (auto r = keep(sd_bus_add_fallback_vtable(bus, &slot, kCameraPrefix, kCameraInterface,
                                                 kCameraVtable, find, this),
                      "the camera objects");
        !r)
        return r;
    auto enumerate = [](sd_bus*, const char*, void* userdata, char*** nodes, sd_bus_error*) -> int {
        auto* self = static_cast<Service*>(userdata);
        auto ids = self->cameraIds();
        char** list = static_cast<char**>(calloc(ids.size() + 1, sizeof(char*)));
        if (!list)
            return -ENOMEM;
        for (size_t i = 0; i < ids.size(); ++i)
            list[i] = strdup(cameraPath(ids[i]).c_str());
        *nodes = list;
        return 0;
    };
    return keep(sd_bus_add_node_enumerator(bus, &slot, kCameraPrefix, enumerate, this),
                "the camera enumerator");
}

ManagerProps Service::managerProps() {
    ManagerProps p;
    p.state = static_cast<uint32_t>(daemon_.state());
    p.cameras = static_cast<uint32_t>(daemon_.cameras().size());
    if (auto* storage = daemon_.storage()) {
        const auto st = storage->status();
        p.ownerConfigured = st.ownerConfigured;
        p.usedBytes = st.usedBytes;
        p.freeBytes = st.freeBytes;
        p.oldestRecording = st.oldestUs.value_or(0);
        p.lastStorageProblem = st.lastProblem;
        p.diskFull = st.diskFull;
    }
    return p;
}

CameraProps Service::cameraProps(const std::string& id) {
    CameraProps p;
    p.id = id;
    const Camera* c = daemon_.camera(id);
    if (!c)
        return p;
    p.source = static_cast<uint32_t>(c->config().source);
    p.mode = static_cast<uint32_t>(c->config().mode);
    p.state = static_cast<uint32_t>(c->state());
    p.lastError = c->lastError();
    p.recording = daemon_.isRecording(*c);
    p.width = c->stats().width;
    p.height = c->stats().height;
    p.framerate = std::round(c->stats().fps * 100) / 100;
    p.bitrate = static_cast<uint64_t>(c->stats().bitrateBps);
    p.frames = c->stats().frames;
    p.lastRing = daemon_.lastRingUs(id);
    p.lastMotion = daemon_.lastMotionUs(id);
    p.doorbellError = daemon_.doorbellError(id);
    if (auto* storage = daemon_.storage()) {
        const RetentionConfig r = storage->retentionFor(id);
        p.retentionDays = r.maxDays.value_or(0);
        p.retentionBytes = r.maxBytes.value_or(0);
    }
    return p;
}

void Service::camerasChanged() {
    auto& objects = objects_;
    const auto ids = cameraIds();
    // Gone: announce and forget.
    for (auto it = objects.begin(); it != objects.end();) {
        if (std::find(ids.begin(), ids.end(), it->first) == ids.end()) {
            sd_bus_emit_interfaces_removed(connection_->get(), cameraPath(it->first).c_str(),
                                           kCameraInterface, nullptr);
            cameras_.erase(it->first);
            it = objects.erase(it);
        } else {
            ++it;
        }
    }
    // New: make the object findable first, then announce it with its properties.
    for (const auto& id : ids) {
        if (objects.count(id))
            continue;
        objects[id] = std::make_unique<CameraObject>(CameraObject{this, id});
        cameras_[id] = cameraProps(id);
        sd_bus_emit_interfaces_added(connection_->get(), cameraPath(id).c_str(), kCameraInterface,
                                     nullptr);
    }
    managerChanged(false);
    connection_->kick();
}

void Service::cameraChanged(const std::string& id, bool counters) {
    if (!objects_.count(id) || !daemon_.camera(id))
        return;
    const CameraProps now = cameraProps(id);
    CameraProps& was = cameras_[id];
    std::vector<const char*> names;
    if (now.state != was.state)
        names.push_back("State");
    if (now.lastError != was.lastError)
        names.push_back("LastError");
    if (now.recording != was.recording)
        names.push_back("Recording");
    if (now.width != was.width)
        names.push_back("Width");
    if (now.height != was.height)
        names.push_back("Height");
    if (now.lastMotion != was.lastMotion)
        names.push_back("LastMotion");
    if (now.lastRing != was.lastRing)
        names.push_back("LastRing");
    if (now.doorbellError != was.doorbellError)
        names.push_back("DoorbellError");
    if (now.retentionDays != was.retentionDays)
        names.push_back("RetentionMaxDays");
    if (now.retentionBytes != was.retentionBytes)
        names.push_back("RetentionMaxBytes");
    if (counters) {
        if (now.framerate != was.framerate)
            names.push_back("Framerate");
        if (now.bitrate != was.bitrate)
            names.push_back("BitrateBps");
        if (now.frames != was.frames)
            names.push_back("FramesTotal");
    } else {
        // Counters keep their last announced values until the next tick.
        CameraProps merged = now;
        merged.framerate = was.framerate;
        merged.bitrate = was.bitrate;
        merged.frames = was.frames;
        was = merged;
    }
    if (counters)
        was = now;
    if (names.empty())
        return;
    names.push_back(nullptr);
    sd_bus_emit_properties_changed_strv(connection_->get(), cameraPath(id).c_str(),
                                        kCameraInterface, const_cast<char**>(names.data()));
    connection_->kick();
}

void Service::managerChanged(bool counters) {
    const ManagerProps now = managerProps();
    ManagerProps& was = manager_;
    std::vector<const char*> names;
    if (now.state != was.state)
        names.push_back("State");
    if (now.ownerConfigured != was.ownerConfigured)
        names.push_back("OwnerConfigured");
    if (now.oldestRecording != was.oldestRecording)
        names.push_back("OldestRecording");
    if (now.cameras != was.cameras)
        names.push_back("Cameras");
    if (now.lastStorageProblem != was.lastStorageProblem)
        names.push_back("LastStorageProblem");
    if (now.diskFull != was.diskFull)
        names.push_back("DiskFull");
    if (counters) {
        if (now.usedBytes != was.usedBytes)
            names.push_back("StorageUsedBytes");
        if (now.freeBytes != was.freeBytes)
            names.push_back("StorageFreeBytes");
        was = now;
    } else {
        const uint64_t used = was.usedBytes, free = was.freeBytes;
        was = now;
        was.usedBytes = used;
        was.freeBytes = free;
    }
    if (!now.lastStorageProblem.empty() && now.lastStorageProblem != lastWarning_) {
        lastWarning_ = now.lastStorageProblem;
        sd_bus_emit_signal(connection_->get(), kManagerPath, kManagerInterface, "StorageWarning",
                           "s", now.lastStorageProblem.c_str());
    }
    if (names.empty()) {
        connection_->kick();
        return;
    }
    names.push_back(nullptr);
    sd_bus_emit_properties_changed_strv(connection_->get(), kManagerPath, kManagerInterface,
                                        const_cast<char**>(names.data()));
    connection_->kick();
}

void Service::tick() {
    for (const auto& id : cameraIds())
        cameraChanged(id, true);
    managerChanged(true);
    tickTimer_ = clock_.schedule(1s, [this] { tick(); });
}

}  // namespace porchlight::dbus
