// The daemon: one io_context thread owning the configuration and the cameras.
//
// Signals arrive on the loop through asio: SIGTERM and SIGINT finish every
// camera's stream and end the loop; SIGHUP reloads the configuration and
// restarts only the cameras whose settings changed. Later parts (storage,
// D-Bus, HTTP) attach to the same loop and reach the cameras through here.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "camera.h"
#include "clock.h"
#include "config.h"
#include "doorbell.h"
#include "motion.h"
#include "options.h"
#include "owner_settings.h"
#include "recording.h"
#include "storage.h"

namespace porchlight {

class Daemon {
public:
    /// \a factory makes camera streams; empty means real GStreamer pipelines.
    Daemon(boost::asio::io_context& io, Clock& clock, Options options,
           Camera::StreamFactory factory = {});
    ~Daemon();
    Daemon(const Daemon&) = delete;
    Daemon& operator=(const Daemon&) = delete;

    /// Load the configuration and start the cameras; false (and the reason
    /// logged) when the daemon cannot run. Exit code 2 for a bad configuration.
    Expected<void> start();
    int exitCode() const { return exitCode_; }

    /// Install SIGTERM/SIGINT/SIGHUP handlers on the loop.
    void handleSignals();

    /// Re-read the configuration; on error keep running as before and log why.
    Expected<void> reload();
    /// Finish every camera, then stop the loop (within the shutdown deadline).
    void shutdown();

    /// What the daemon is doing, for D-Bus and sd_notify (values as in the D-Bus API).
    enum class State : uint32_t {
        Starting = 0,
        Running = 1,
        NeedsSetup = 2,
        Degraded = 3,
        Stopping = 4
    };
    State state() const;
    /// Whether \a camera's video is being written to disk now.
    bool isRecording(const Camera& camera) const;
    /// A doorbell press (D-Bus, porchlightctl, or the camera's GPIO button);
    /// false for an unknown camera. \a atUs: when, wall clock (0: now).
    bool ring(const std::string& camera, int64_t atUs = 0);
    int64_t lastRingUs(const std::string& camera) const;
    int64_t lastMotionUs(const std::string& camera) const;
    /// Why the camera's doorbell button is not working ("" when it is, or none is set).
    std::string doorbellError(const std::string& camera) const;
    /// First-run setup made the owner's key: recording starts now.
    void ownerCreated();
    /// The one-time code first-run setup asks for; empty once an owner exists.
    const std::string& setupCode() const { return setupCode_; }

    /// Observers (the D-Bus service): the set of cameras changed; a camera's
    /// state changed; an event (a ring) happened.
    std::function<void()> onCamerasChanged;
    std::function<void(Camera&)> onCameraChanged;
    std::function<void(const std::string& camera, const std::string& kind, int64_t startUs,
                       int64_t id)>
        onEvent;
    std::function<void(const std::string& camera, const std::string& kind, int64_t id,
                       int64_t endUs)>
        onEventEnded;
    /// Shutdown began (sd_notify STOPPING=1).
    std::function<void()> onShutdown;
    /// A one-line summary for systemctl status.
    std::string statusLine() const;

    /// The owner changed \a camera's settings on the web page: checked with
    /// the whole configuration by the config parser, kept in
    /// STATE/settings.toml, and applied through the reload path (only that
    /// camera restarts). Nothing is written or changed when refused.
    struct SettingsRefusal {
        bool invalid = false;  // the settings are wrong (else: the disk, or no such camera)
        bool noSuchCamera = false;
        std::string message;
    };
    std::optional<SettingsRefusal> changeCameraSettings(const std::string& camera,
                                                        const CameraSettingsChange& change);
    /// The settings \a camera runs with (or will, once it has restarted); null if unknown.
    const CameraConfig* cameraConfig(const std::string& id) const;
    /// Every camera's settings, by id, including those restarting with new ones.
    std::vector<const CameraConfig*> cameraConfigs() const;

    const Config& config() const { return config_; }
    Camera* camera(const std::string& id) const;
    std::vector<Camera*> cameras() const;
    const std::string& stateDir() const { return stateDir_; }
    Clock& clock() const { return clock_; }
    storage::Storage* storage() const { return storage_.get(); }
    /// The loop everything runs on (the web API's timers use it).
    boost::asio::io_context& io() const { return io_; }

private:
    std::vector<CameraConfig> camerasToRun(const Config& config);
    void applyConfig(Config config);
    void addCamera(const CameraConfig& config);
    void retireCamera(const std::string& id, std::optional<CameraConfig> next);
    Expected<std::unique_ptr<CameraStream>> makeStream(const CameraConfig& config,
                                                       CameraStream::Callbacks callbacks);
    bool libcameraInUse() const;
    void refreshLibcameraList(const Config& config);
    void waitForSignal();
    void maybeFinishShutdown();
    Expected<void> prepareDemoOwner();
    void applyStorageSettings();

    boost::asio::io_context& io_;
    Clock& clock_;
    Options options_;
    Camera::StreamFactory factory_;
    std::string configFile_;
    std::string stateDir_;
    Config config_;

    std::map<std::string, std::unique_ptr<Camera>> cameras_;
    // Cameras finishing their stream before they go (reload or shutdown), and
    // what to start in their place once they have.
    std::vector<std::unique_ptr<Camera>> retiring_;
    std::map<std::string, CameraConfig> pendingStart_;
    std::vector<std::string> libcameraCameras_;

    std::unique_ptr<storage::Storage> storage_;
    std::map<std::string, RecordingAdapter> adapters_;

    std::optional<boost::asio::signal_set> signals_;
    std::unique_ptr<Timer> shutdownDeadline_;
    /// Per camera: motion detection, the doorbell button, the event under way.
    struct Watch {
        std::unique_ptr<MotionDetector> motion;
        int64_t motionEvent = 0;  // id of the motion event under way
        int64_t lastMotionUs = 0;
        int64_t lastRingUs = 0;
        std::unique_ptr<gpio::Doorbell> doorbell;
        std::string doorbellError;
        int64_t snapshotEvent = 0;  // the event waiting for its picture
        int64_t snapshotStartUs = 0;
    };
    void watchCamera(Camera& camera);
    void onRawFrame(const std::string& camera, const RawFrame& frame);
    void startEvent(const std::string& camera, storage::EventKind kind, int64_t startUs,
                    const std::string& details, int64_t* id);
    int64_t wallNowUs() const;
    std::map<std::string, Watch> watches_;
    std::string setupCode_;
    bool started_ = false;
    bool shuttingDown_ = false;
    bool storageFinishing_ = false;
    int exitCode_ = 0;
};

}  // namespace porchlight
