// The daemon's loop-side state: see daemon.h.
#include "daemon.h"

#include <sys/stat.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <cstdlib>
#include <filesystem>
#include <system_error>

#include <gst/video/video.h>
#include <sodium.h>

#include <nlohmann/json.hpp>

#include "keys.h"
#include "libcamera_cameras.h"
#include "log.h"
#include "porchlight-config.h"

PL_DEFINE_LOG_CATEGORY(DaemonLog, "daemon")

namespace porchlight {

using namespace std::chrono_literals;

namespace {
constexpr auto shutdownDeadline = 4500ms;  // systemd and the issue give us 5 s

void logDiagnostics(const std::vector<ConfigDiagnostic>& diagnostics) {
    for (const auto& d : diagnostics)
        PL_LOG(DaemonLog, Error) << d.format();
}

void applyLogSettings(const Config& config) {
    if (std::string err = applyLogSpec(config.log.spec()); !err.empty())
        PL_LOG(DaemonLog, Warning) << "[log]: " << err;
    // The environment wins over the file: it is how a developer asks for more.
    if (const char* env = std::getenv("PORCHLIGHT_LOG"); env && *env)
        if (std::string err = applyLogSpec(env); !err.empty())
            PL_LOG(DaemonLog, Warning) << "PORCHLIGHT_LOG: " << err;
}
}  // namespace

Daemon::Daemon(boost::asio::io_context& io, Clock& clock, Options options,
               Camera::StreamFactory factory)
    : io_(io),
      clock_(clock),
      options_(std::move(options)),
      factory_(std::move(factory)),
      configFile_(effectiveConfigFile(options_)),
      stateDir_(effectiveStateDir(options_)) {}

Daemon::~Daemon() {
    shutdownDeadline_.reset();
    cameras_.clear();
    retiring_.clear();
    storage_.reset();
}

namespace {
/// The configuration files, then the owner's settings from the web page.
ConfigResult load(const std::string& file, const std::string& stateDir) {
    const std::filesystem::path settings = ownerSettingsPath(stateDir);
    auto text = readOwnerSettings(settings);
    if (!text) {
        ConfigResult r;
        r.diagnostics.push_back(
            ConfigDiagnostic{SourceLocation{settings.string(), 0, 0}, text.error().message});
        return r;
    }
    std::optional<std::pair<std::string, std::string>> owner;
    if (!text->empty())
        owner.emplace(settings.string(), std::move(*text));
    ConfigResult r = loadConfig(file, owner);
    if (r.ok())
        for (const auto& what : r.config->ignoredSettings)
            PL_LOG(DaemonLog, Warning) << settings.string() << ": " << what
                                       << " is not applied (only the cameras of the "
                                          "configuration files, and only the settings the web "
                                          "page manages)";
    return r;
}
}  // namespace

Expected<void> Daemon::start() {
    ConfigResult loaded = load(configFile_, stateDir_);
    if (!loaded.ok()) {
        logDiagnostics(loaded.diagnostics);
        exitCode_ = 2;
        return makeError("the configuration has " + std::to_string(loaded.diagnostics.size()) +
                         " error(s); fix them and start again");
    }
    applyLogSettings(*loaded.config);

    std::error_code ec;
    std::filesystem::create_directories(stateDir_, ec);
    if (ec) {
        exitCode_ = 1;
        return makeError("cannot create the state directory " + stateDir_ + ": " + ec.message());
    }
    // Recordings are encrypted, but their index and timing are still the owner's business.
    ::chmod(stateDir_.c_str(), 0700);

    PL_LOG(DaemonLog, Info) << "porchlightd " << PORCHLIGHT_VERSION << " starting; configuration "
                            << (loaded.config->files.empty() ? std::string("defaults (no file)")
                                                             : configFile_)
                            << ", state in " << stateDir_;
    if (options_.demo)
        if (auto d = prepareDemoOwner(); !d) {
            exitCode_ = 1;
            return d;
        }

    storage::StorageOptions so;
    so.segmentSeconds = loaded.config->storage.segmentSeconds;
    so.minFree = loaded.config->storage.minFree;
    auto opened = storage::Storage::open(
        stateDir_, clock_,
        [this](std::function<void()> fn) { boost::asio::post(io_, std::move(fn)); }, so);
    if (!opened) {
        exitCode_ = 1;
        return makeError("storage: " + opened.error().message);
    }
    storage_ = std::move(*opened);
    if (!storage_->hasOwner())
        PL_LOG(DaemonLog, Warning) << "no owner yet: the cameras stream, but nothing is recorded "
                                      "until the owner sets up the device";

    if (!storage_->hasOwner()) {
        // A neighbour on the same Wi-Fi must not claim the device first:
        // setup asks for this code, which only the log and root can read.
        uint8_t raw[5];
        randombytes_buf(raw, sizeof raw);
        for (size_t i = 0; i < 10; ++i) {
            if (i == 5)
                setupCode_ += '-';
            const int nibble = (raw[i / 2] >> (i % 2 ? 4 : 0)) & 0xF;
            setupCode_ += static_cast<char>('0' + nibble % 10);
        }
        PL_LOG(DaemonLog, Notice) << "setup code: " << setupCode_
                                  << " (first-run setup asks for it)";
    }
    refreshLibcameraList(*loaded.config);
    applyConfig(std::move(*loaded.config));
    started_ = true;
    return {};
}

Expected<void> Daemon::prepareDemoOwner() {
    // The demo's passphrase is public by design: a demo records a test pattern.
    constexpr const char* passphrase = "porchlight-demo";
    if (keys::ownerExists(stateDir_)) {
        PL_LOG(DaemonLog, Notice) << "demo: owner exists; its passphrase is \"" << passphrase
                                  << "\" unless you changed it";
        return {};
    }
    auto created = keys::createOwner(stateDir_, passphrase);
    if (!created)
        return makeError("demo: cannot create the owner key: " + created.error().message);
    PL_LOG(DaemonLog, Notice) << "demo: owner created. Passphrase: \"" << passphrase
                              << "\"  Recovery key: " << created->recoveryKey;
    return {};
}

void Daemon::applyStorageSettings() {
    if (!storage_)
        return;
    storage::StorageOptions so;
    so.segmentSeconds = config_.storage.segmentSeconds;
    so.minFree = config_.storage.minFree;
    storage_->setOptions(so);
    std::map<std::string, RetentionConfig> retention;
    for (const auto& [id, cam] : cameras_)
        retention[id] = cam->config().retention;
    for (const auto& [id, next] : pendingStart_)
        retention[id] = next.retention;
    storage_->setConfiguredRetention(std::move(retention));
}

void Daemon::refreshLibcameraList(const Config& config) {
    // Starting libcamera costs memory (its pipeline handlers and IPA modules
    // stay loaded): only when a libcamera camera is configured, or when none
    // is and we look for one.
    const bool wanted =
        (config.cameras.empty() && !options_.demo) ||
        std::any_of(config.cameras.begin(), config.cameras.end(),
                    [](const CameraConfig& c) { return c.source == SourceKind::Libcamera; });
    if (!wanted || factory_ || libcameraInUse())
        return;
    auto found = listLibcameraCameras();
    if (!found) {
        PL_LOG(DaemonLog, Warning) << found.error().message;
        return;
    }
    libcameraCameras_ = std::move(*found);
    for (const auto& id : libcameraCameras_)
        PL_LOG(DaemonLog, Info) << "libcamera found " << id;
}

bool Daemon::libcameraInUse() const {
    for (const auto& [id, c] : cameras_)
        if (c->config().source == SourceKind::Libcamera)
            return true;
    for (const auto& c : retiring_)
        if (c->config().source == SourceKind::Libcamera)
            return true;
    return false;
}

std::vector<CameraConfig> Daemon::camerasToRun(const Config& config) {
    if (!config.cameras.empty())
        return config.cameras;
    // The demo's passphrase is public: it must never record a real camera.
    if (options_.demo) {
        CameraConfig demo;
        demo.id = "demo";
        demo.source = SourceKind::Test;
        return {demo};
    }
    std::vector<CameraConfig> found;
    for (size_t i = 0; i < libcameraCameras_.size(); ++i) {
        CameraConfig c;
        c.id = "camera" + std::to_string(i);
        c.source = SourceKind::Libcamera;
        c.libcameraId = libcameraCameras_[i];
        found.push_back(std::move(c));
    }
    if (!found.empty()) {
        PL_LOG(DaemonLog, Info) << "no camera configured: using the " << found.size()
                                << " camera(s) libcamera found";
        return found;
    }
    CameraConfig demo;
    demo.id = "demo";
    demo.source = SourceKind::Test;
    PL_LOG(DaemonLog, Notice) << "no camera configured and none found: the demo camera (a "
                                 "test pattern) is in use";
    return {demo};
}

void Daemon::applyConfig(Config config) {
    std::vector<CameraConfig> wanted = camerasToRun(config);
    config_ = std::move(config);

    std::map<std::string, const CameraConfig*> byId;
    for (const auto& c : wanted)
        byId[c.id] = &c;

    // Cameras that went away or changed finish their stream first.
    std::vector<std::string> running;
    for (const auto& [id, cam] : cameras_)
        running.push_back(id);
    for (const auto& id : running) {
        auto it = byId.find(id);
        if (it == byId.end()) {
            PL_LOG(DaemonLog, Info) << "camera " << id << ": removed from the configuration";
            retireCamera(id, std::nullopt);
        } else if (!cameras_[id]->config().sameSettings(*it->second)) {
            PL_LOG(DaemonLog, Info) << "camera " << id << ": settings changed, restarting it";
            retireCamera(id, *it->second);
        } else {
            PL_LOG(DaemonLog, Debug) << "camera " << id << ": unchanged";
        }
    }
    // A camera still finishing from an earlier reload starts with the newest settings.
    for (auto it = pendingStart_.begin(); it != pendingStart_.end();) {
        auto w = byId.find(it->first);
        if (w == byId.end()) {
            it = pendingStart_.erase(it);
        } else {
            it->second = *w->second;
            ++it;
        }
    }
    for (const auto& c : wanted) {
        if (cameras_.count(c.id) || pendingStart_.count(c.id))
            continue;
        addCamera(c);
    }
    applyStorageSettings();
}

void Daemon::addCamera(const CameraConfig& config) {
    auto factory =
        factory_ ? factory_
                 : Camera::StreamFactory([this](const CameraConfig& c, CameraStream::Callbacks cb) {
                       return makeStream(c, std::move(cb));
                   });
    auto camera = std::make_unique<Camera>(config, clock_, std::move(factory));
    Camera* raw = camera.get();
    adapters_[config.id] = RecordingAdapter();
    if (storage_) {
        storage_->setCameraMode(config.id, config.mode, config.preRollSeconds,
                                config.postRollSeconds);
        if (config.mode != RecordingMode::Off)
            raw->setRecordingConsumer([this, id = config.id](const EncodedFrame& frame) {
                auto f = adapters_[id].convert(frame);
                if (f)
                    storage_->onFrame(id, std::move(*f));
            });
    }
    watchCamera(*raw);
    raw->setStateListener([this](Camera& c) {
        // A stream that stopped or failed closes its segment; the next one starts afresh.
        if (c.state() == CameraState::Retrying || c.state() == CameraState::Stopped) {
            if (storage_)
                storage_->endStream(c.id());
            // A picture asked of the old pipeline will not come; later events ask again.
            if (auto w = watches_.find(c.id()); w != watches_.end())
                w->second.snapshotEvent = 0;
        }
        if (onCameraChanged)
            onCameraChanged(c);
    });
    cameras_[config.id] = std::move(camera);
    if (onCamerasChanged)
        onCamerasChanged();
    PL_LOG(DaemonLog, Info) << "camera " << config.id << ": " << sourceKindName(config.source)
                            << ", recording " << recordingModeName(config.mode);
    raw->start();
}

void Daemon::retireCamera(const std::string& id, std::optional<CameraConfig> next) {
    auto it = cameras_.find(id);
    if (it == cameras_.end())
        return;
    Camera* raw = it->second.get();
    retiring_.push_back(std::move(it->second));
    cameras_.erase(it);
    if (onCamerasChanged)
        onCamerasChanged();
    if (next)
        pendingStart_[id] = std::move(*next);
    raw->stop([this, raw, id] {
        // Not from inside the camera's own call: it is destroyed here.
        boost::asio::post(io_, [this, raw, id] {
            std::erase_if(retiring_, [raw](const auto& c) { return c.get() == raw; });
            if (shuttingDown_) {
                maybeFinishShutdown();
                return;
            }
            if (auto p = pendingStart_.find(id); p != pendingStart_.end()) {
                CameraConfig next = std::move(p->second);
                pendingStart_.erase(p);
                if (next.source == SourceKind::Libcamera)
                    refreshLibcameraList(config_);
                addCamera(next);
            }
        });
    });
}

Expected<std::unique_ptr<CameraStream>> Daemon::makeStream(const CameraConfig& config,
                                                           CameraStream::Callbacks callbacks) {
    PipelineOptions options;
    // RTSP would have to decode for it; motion detection (which needs it) comes with events.
    options.rawBranch = config.source != SourceKind::Rtsp;
    if (config.source == SourceKind::Libcamera)
        options.libcameraName = resolveLibcameraName(config, libcameraCameras_);
    auto post = [this](std::function<void()> fn) { boost::asio::post(io_, std::move(fn)); };
    auto pipeline = CameraPipeline::build(config, options, post, std::move(callbacks));
    if (!pipeline)
        return pipeline.error();
    return std::unique_ptr<CameraStream>(std::move(*pipeline));
}

Expected<void> Daemon::reload() {
    PL_LOG(DaemonLog, Info) << "reloading the configuration";
    ConfigResult loaded = load(configFile_, stateDir_);
    if (!loaded.ok()) {
        logDiagnostics(loaded.diagnostics);
        PL_LOG(DaemonLog, Error) << "the new configuration has " << loaded.diagnostics.size()
                                 << " error(s); still running on the previous one";
        std::string all;
        for (const auto& d : loaded.diagnostics)
            all += (all.empty() ? "" : "\n") + d.format();
        return makeError(all);
    }
    applyLogSettings(*loaded.config);
    // An owner made meanwhile with porchlight-vault init: start recording.
    if (storage_ && !storage_->hasOwner()) {
        storage_->reloadOwner();
        if (storage_->hasOwner())
            ownerCreated();
    }
    refreshLibcameraList(*loaded.config);
    applyConfig(std::move(*loaded.config));
    return {};
}

void Daemon::handleSignals() {
    signals_.emplace(io_, SIGTERM, SIGINT, SIGHUP);
    waitForSignal();
}

void Daemon::waitForSignal() {
    signals_->async_wait([this](const boost::system::error_code& ec, int signal) {
        if (ec)
            return;
        if (signal == SIGHUP) {
            (void)reload();
        } else {
            PL_LOG(DaemonLog, Info) << (signal == SIGTERM ? "SIGTERM" : "SIGINT")
                                    << ": finishing recordings and stopping";
            shutdown();
        }
        waitForSignal();
    });
}

void Daemon::shutdown() {
    if (shuttingDown_)
        return;
    shuttingDown_ = true;
    if (onShutdown)
        onShutdown();
    pendingStart_.clear();
    shutdownDeadline_ = clock_.schedule(shutdownDeadline, [this] {
        PL_LOG(DaemonLog, Warning) << "not every camera finished in time; exiting anyway";
        io_.stop();
    });
    std::vector<std::string> ids;
    for (const auto& [id, c] : cameras_)
        ids.push_back(id);
    for (const auto& id : ids)
        retireCamera(id, std::nullopt);
    maybeFinishShutdown();
}

void Daemon::maybeFinishShutdown() {
    if (!shuttingDown_ || !cameras_.empty() || !retiring_.empty() || storageFinishing_)
        return;
    auto finished = [this] {
        shutdownDeadline_.reset();
        PL_LOG(DaemonLog, Info) << "stopped";
        signals_.reset();
        io_.stop();
    };
    if (!storage_) {
        finished();
        return;
    }
    // Every segment closed and on disk before we go.
    storageFinishing_ = true;
    storage_->finishAll(finished);
}

const CameraConfig* Daemon::cameraConfig(const std::string& id) const {
    if (auto p = pendingStart_.find(id); p != pendingStart_.end())
        return &p->second;
    if (Camera* c = camera(id))
        return &c->config();
    return nullptr;
}

std::vector<const CameraConfig*> Daemon::cameraConfigs() const {
    std::map<std::string, const CameraConfig*> all;
    for (const auto& [id, c] : cameras_)
        all[id] = &c->config();
    for (const auto& [id, next] : pendingStart_)
        all[id] = &next;
    std::vector<const CameraConfig*> out;
    for (const auto& [id, c] : all)
        out.push_back(c);
    return out;
}

std::optional<Daemon::SettingsRefusal> Daemon::changeCameraSettings(
    const std::string& id, const CameraSettingsChange& change) {
    if (shuttingDown_)
        return SettingsRefusal{false, false,
                               "porchlightd is stopping; change it after the restart"};
    if (!cameraConfig(id))
        return SettingsRefusal{false, true, "no camera \"" + id + "\""};
    const std::filesystem::path file = ownerSettingsPath(stateDir_);
    auto text = readOwnerSettings(file);
    if (!text)
        return SettingsRefusal{false, false, text.error().message};
    // Cameras the daemon picked itself (none configured) are written whole the
    // first time, so that the file keeps all of them as they are.
    std::vector<CameraConfig> identities;
    if (config_.cameras.empty())
        for (const auto& [cid, cam] : cameras_)
            identities.push_back(cam->config());
    auto next = withCameraSettings(*text, id, change, identities);
    if (!next)
        return SettingsRefusal{false, false, next.error().message};
    // The same parser, with every file, judges the result before it is kept.
    ConfigResult loaded = loadConfig(configFile_, std::make_pair(file.string(), *next));
    if (!loaded.ok()) {
        std::string all;
        for (const auto& d : loaded.diagnostics)
            all += (all.empty() ? "" : "\n") + d.format();
        return SettingsRefusal{true, false, all};
    }
    if (auto w = writeFileAtomically(file, *next); !w)
        return SettingsRefusal{false, false, w.error().message};
    PL_LOG(DaemonLog, Info) << "camera " << id << ": settings changed by the owner (kept in "
                            << file.string() << ")";
    refreshLibcameraList(*loaded.config);
    applyConfig(std::move(*loaded.config));
    return std::nullopt;
}

Camera* Daemon::camera(const std::string& id) const {
    auto it = cameras_.find(id);
    return it == cameras_.end() ? nullptr : it->second.get();
}

std::vector<Camera*> Daemon::cameras() const {
    std::vector<Camera*> out;
    for (const auto& [id, c] : cameras_)
        out.push_back(c.get());
    return out;
}

}  // namespace porchlight

namespace porchlight {

Daemon::State Daemon::state() const {
    if (shuttingDown_)
        return State::Stopping;
    if (!started_)
        return State::Starting;
    if (storage_ && !storage_->hasOwner())
        return State::NeedsSetup;
    for (const auto& [id, c] : cameras_)
        if (c->state() == CameraState::Retrying)
            return State::Degraded;
    if (storage_ && storage_->diskFull())
        return State::Degraded;
    return State::Running;
}

bool Daemon::isRecording(const Camera& camera) const {
    if (!storage_ || !storage_->hasOwner() || camera.state() != CameraState::Streaming ||
        storage_->diskFull())
        return false;
    switch (camera.config().mode) {
        case RecordingMode::Continuous:
            return true;
        case RecordingMode::Events:
            return storage_->writing(camera.id());  // inside an event's window
        case RecordingMode::Off:
            return false;
    }
    return false;
}

int64_t Daemon::wallNowUs() const {
    return std::chrono::duration_cast<std::chrono::microseconds>(
               clock_.wallNow().time_since_epoch())
        .count();
}

void Daemon::watchCamera(Camera& camera) {
    const CameraConfig& c = camera.config();
    Watch& w = watches_[c.id];
    w = Watch{};
    const std::string id = c.id;
    camera.setSnapshotConsumer([this, id](std::vector<uint8_t>&& jpeg) {
        auto it = watches_.find(id);
        if (it == watches_.end() || !it->second.snapshotEvent || !storage_)
            return;
        storage_->saveSnapshot(it->second.snapshotEvent, id, it->second.snapshotStartUs,
                               std::move(jpeg));
        it->second.snapshotEvent = 0;
    });
    if (c.motion.enabled) {
        w.motion = std::make_unique<MotionDetector>(c.motion);
        camera.setRawConsumer([this, id](const RawFrame& f) { onRawFrame(id, f); });
    }
    if (c.doorbell.configured()) {
        auto source = gpio::ChardevLineSource::open(c.doorbell);
        if (!source) {
            // Only this camera's button is out; the camera and the others go on.
            w.doorbellError = source.error().message;
            PL_LOG(DaemonLog, Error) << "camera " << id << ": " << w.doorbellError;
        } else {
            w.doorbell =
                std::make_unique<gpio::Doorbell>(io_, std::move(*source), c.doorbell.debounceMs,
                                                 [this, id](int64_t atUs) { ring(id, atUs); });
        }
    }
}

void Daemon::startEvent(const std::string& camera, storage::EventKind kind, int64_t startUs,
                        const std::string& details, int64_t* id) {
    *id = 0;
    if (storage_) {
        auto e = storage_->startEvent(camera, kind, startUs, details);
        if (e)
            *id = *e;
        else
            PL_LOG(DaemonLog, Error) << "camera " << camera << ": " << e.error().message;
    }
    Watch& w = watches_[camera];
    if (*id && !w.snapshotEvent) {
        w.snapshotEvent = *id;
        w.snapshotStartUs = startUs;
        if (Camera* c = this->camera(camera))
            c->requestSnapshot();
    }
    if (onEvent)
        onEvent(camera, std::string(storage::eventKindName(kind)), startUs, *id);
}

void Daemon::onRawFrame(const std::string& camera, const RawFrame& frame) {
    auto it = watches_.find(camera);
    Camera* cam = this->camera(camera);
    if (it == watches_.end() || !it->second.motion || !cam || !frame.sample)
        return;
    Watch& w = it->second;
    GstBuffer* buffer = gst_sample_get_buffer(frame.sample.get());
    GstVideoInfo info;
    if (!buffer || !gst_video_info_from_caps(&info, gst_sample_get_caps(frame.sample.get())))
        return;
    GstMapInfo map;
    if (!gst_buffer_map(buffer, &map, GST_MAP_READ))
        return;
    // The detector runs on the steady clock (a wall clock can jump); events
    // are stored in wall-clock time.
    const int64_t steadyUs =
        std::chrono::duration_cast<std::chrono::microseconds>(clock_.now().time_since_epoch())
            .count();
    const auto r =
        w.motion->feed(map.data, GST_VIDEO_INFO_WIDTH(&info), GST_VIDEO_INFO_HEIGHT(&info),
                       GST_VIDEO_INFO_PLANE_STRIDE(&info, 0), steadyUs);
    gst_buffer_unmap(buffer, &map);
    const int64_t now = wallNowUs();
    auto toWall = [&](int64_t us) { return now - (steadyUs - us); };
    const CameraConfig& c = cam->config();
    if (r.started) {
        nlohmann::json details{{"score", r.score}, {"zones", r.zones}};
        w.lastMotionUs = toWall(r.startUs);
        PL_LOG(DaemonLog, Info) << "camera " << camera << ": motion";
        startEvent(camera, storage::EventKind::Motion, w.lastMotionUs, details.dump(),
                   &w.motionEvent);
    }
    if (r.motion && storage_)
        storage_->keepRecordingUntil(camera, now + static_cast<int64_t>(c.postRollSeconds * 1e6));
    if (r.ended) {
        const int64_t end = toWall(r.lastMotionUs);
        if (storage_ && w.motionEvent)
            (void)storage_->endEvent(w.motionEvent, end);
        PL_LOG(DaemonLog, Info) << "camera " << camera << ": motion ended";
        if (onEventEnded)
            onEventEnded(camera, "motion", w.motionEvent, end);
        w.motionEvent = 0;
    }
}

bool Daemon::ring(const std::string& camera, int64_t atUs) {
    Camera* cam = this->camera(camera);
    if (!cam)
        return false;
    const int64_t now = atUs ? atUs : wallNowUs();
    Watch& w = watches_[camera];
    w.lastRingUs = now;
    PL_LOG(DaemonLog, Notice) << "camera " << camera << ": doorbell pressed";
    const int64_t postRoll = static_cast<int64_t>(cam->config().postRollSeconds * 1e6);
    if (storage_)
        storage_->keepRecordingUntil(camera, now + postRoll);
    int64_t id = 0;
    startEvent(camera, storage::EventKind::Ring, now, "{}", &id);
    // A press is an instant; its clip runs from the pre-roll to the post-roll.
    if (storage_ && id)
        (void)storage_->endEvent(id, now);
    return true;
}

void Daemon::ownerCreated() {
    setupCode_.clear();
    if (storage_)
        storage_->reloadOwner();
    PL_LOG(DaemonLog, Notice) << "owner set up: recording starts";
}

int64_t Daemon::lastRingUs(const std::string& camera) const {
    auto it = watches_.find(camera);
    return it == watches_.end() ? 0 : it->second.lastRingUs;
}

int64_t Daemon::lastMotionUs(const std::string& camera) const {
    auto it = watches_.find(camera);
    return it == watches_.end() ? 0 : it->second.lastMotionUs;
}

std::string Daemon::doorbellError(const std::string& camera) const {
    auto it = watches_.find(camera);
    if (it == watches_.end())
        return {};
    if (!it->second.doorbellError.empty())
        return it->second.doorbellError;
    if (it->second.doorbell && !it->second.doorbell->running())
        return it->second.doorbell->lastError();
    return {};
}

}  // namespace porchlight

namespace porchlight {

std::string Daemon::statusLine() const {
    size_t streaming = 0, recording = 0;
    std::string trouble;
    for (const auto& [id, c] : cameras_) {
        streaming += c->state() == CameraState::Streaming;
        recording += isRecording(*c);
        if (c->state() == CameraState::Retrying && trouble.empty())
            trouble = "; camera " + id + " retrying: " + c->lastError();
    }
    std::string s;
    switch (state()) {
        case State::Starting:
            return "Starting";
        case State::Stopping:
            return "Finishing recordings and stopping";
        case State::NeedsSetup:
            s = "Needs setup (nothing is recorded until an owner exists)";
            break;
        default:
            s = "Recording " + std::to_string(recording) + " of " +
                std::to_string(cameras_.size()) + " camera(s)";
    }
    s += "; " + std::to_string(streaming) + " streaming" + trouble;
    if (storage_ && storage_->diskFull())
        s += "; disk full";
    return s;
}

}  // namespace porchlight
