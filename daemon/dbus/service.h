// Porchlight on D-Bus: the Manager object, one object per camera, and the
// ObjectManager over them, as described in org.porchlight.Nvr1.xml.
//
// Follows timedated's idiom: a vtable per interface; each method reads its
// arguments, validates them (InvalidArgs or a documented error, with a
// message saying what is allowed), acts, and replies once. Properties are
// read from the daemon when asked; changes are found by comparing snapshots
// (on every camera state change, and once a second for the fast counters)
// and announced with PropertiesChanged.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "bus.h"
#include "clock.h"
#include "daemon.h"

namespace porchlight::dbus {

inline constexpr const char* kBusName = "org.porchlight.Nvr1";
inline constexpr const char* kManagerPath = "/org/porchlight/Nvr1";
inline constexpr const char* kCameraPrefix = "/org/porchlight/Nvr1/camera";
inline constexpr const char* kManagerInterface = "org.porchlight.Nvr1.Manager";
inline constexpr const char* kCameraInterface = "org.porchlight.Nvr1.Camera";

/// A camera's properties at one moment, compared to find what changed.
struct CameraProps {
    std::string id;
    uint32_t source = 0, mode = 0, state = 0;
    std::string lastError;
    bool recording = false;
    uint32_t width = 0, height = 0;
    double framerate = 0;
    uint64_t bitrate = 0, frames = 0;
    int64_t lastMotion = 0, lastRing = 0;
    std::string doorbellError;
    double retentionDays = 0;
    uint64_t retentionBytes = 0;
};

struct ManagerProps {
    uint32_t state = 0;
    bool ownerConfigured = false;
    uint64_t usedBytes = 0, freeBytes = 0;
    int64_t oldestRecording = 0;
    uint32_t cameras = 0;
    std::string lastStorageProblem;
    bool diskFull = false;
};

class Service;

/// What sd-bus hands a camera property getter: the camera it resolved to.
struct CameraObject {
    Service* service;
    std::string id;
};

class Service {
public:
    /// Connect, register the objects and own the bus name.
    static Expected<std::unique_ptr<Service>> start(boost::asio::io_context& io, Clock& clock,
                                                    Daemon& daemon, BusType type);
    ~Service();
    Service(const Service&) = delete;
    Service& operator=(const Service&) = delete;

    /// The path of a camera's object (ids may hold '-', which paths escape).
    static std::string cameraPath(const std::string& id);

    // Called by the vtable trampolines.
    ManagerProps managerProps();
    CameraProps cameraProps(const std::string& id);
    Daemon& daemon() { return daemon_; }
    Connection& connection() { return *connection_; }
    std::vector<std::string> cameraIds() const;
    CameraObject* cameraObject(const std::string& id);
    /// Announce what changed on a camera (\a counters: the fast ones too).
    void cameraChanged(const std::string& id, bool counters);

private:
    Service(boost::asio::io_context& io, Clock& clock, Daemon& daemon);
    Expected<void> registerObjects();
    void camerasChanged();
    void managerChanged(bool counters);
    void tick();

    boost::asio::io_context& io_;
    Clock& clock_;
    Daemon& daemon_;
    std::unique_ptr<Connection> connection_;
    std::vector<SlotPtr> slots_;
    // Handed to sd-bus by the camera lookup; one per camera while it exists.
    std::map<std::string, std::unique_ptr<CameraObject>> objects_;
    std::map<std::string, CameraProps> cameras_;  // as last announced
    ManagerProps manager_;                        // as last announced
    std::string lastWarning_;
    std::unique_ptr<Timer> tickTimer_;
};

}  // namespace porchlight::dbus
