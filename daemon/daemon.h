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
#include "options.h"
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
    /// A doorbell press from another source; false for an unknown camera.
    bool ring(const std::string& camera);
    int64_t lastRingUs(const std::string& camera) const;
    /// The one-time code first-run setup asks for; empty once an owner exists.
    const std::string& setupCode() const { return setupCode_; }

    /// Observers (the D-Bus service): the set of cameras changed; a camera's
    /// state changed; an event (a ring) happened.
    std::function<void()> onCamerasChanged;
    std::function<void(Camera&)> onCameraChanged;
    std::function<void(const std::string& camera, const std::string& kind, int64_t startUs)>
        onEvent;
    /// Shutdown began (sd_notify STOPPING=1).
    std::function<void()> onShutdown;
    /// A one-line summary for systemctl status.
    std::string statusLine() const;

    const Config& config() const { return config_; }
    Camera* camera(const std::string& id) const;
    std::vector<Camera*> cameras() const;
    const std::string& stateDir() const { return stateDir_; }
    storage::Storage* storage() const { return storage_.get(); }

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
    std::map<std::string, int64_t> lastRing_;
    std::string setupCode_;
    bool started_ = false;
    bool shuttingDown_ = false;
    bool storageFinishing_ = false;
    int exitCode_ = 0;
};

}  // namespace porchlight
