// The owner's settings from the web UI: STATE/settings.toml.
//
// /etc/porchlight is read-only on a device (the service's sandbox), so what
// the owner changes on the Settings page is kept as one more configuration
// file in the state directory, read after every other file and checked by the
// same parser (loadConfig with ownerSettings). This file edits its text one
// camera at a time and writes it atomically. Retention is not kept here: it
// goes to the index, as the D-Bus SetRetention keeps it.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config.h"
#include "expected.h"

namespace porchlight {

/// STATE/settings.toml
std::filesystem::path ownerSettingsPath(const std::filesystem::path& stateDir);

/// What the owner changes for one camera; unset members stay as they are.
struct CameraSettingsChange {
    std::optional<RecordingMode> mode;
    std::optional<std::vector<Polygon>> masks;
    std::optional<bool> motionEnabled;
    std::optional<double> sensitivity;
    std::optional<std::vector<MotionZone>> zones;
    /// An empty chip removes the button the page set (one from the files stays).
    std::optional<DoorbellConfig> doorbell;
    bool empty() const {
        return !mode && !masks && !motionEnabled && !sensitivity && !zones && !doorbell;
    }
};

/// \a text (the settings file as it is, possibly empty) with \a change made
/// to camera \a id. \a identities: when the configuration files name no
/// camera, every camera the daemon runs, whose source is written too so that
/// the file keeps them as they are; empty otherwise.
Expected<std::string> withCameraSettings(std::string_view text, const std::string& id,
                                         const CameraSettingsChange& change,
                                         const std::vector<CameraConfig>& identities);

/// Write \a text to \a file (mode 0600): a temporary file beside it, fsync,
/// rename over the old one, fsync of the directory. Either the old or the new
/// file is there after a crash, never a mix.
Expected<void> writeFileAtomically(const std::filesystem::path& file, std::string_view text);

/// The file's text, "" when there is none; an error when it cannot be read.
Expected<std::string> readOwnerSettings(const std::filesystem::path& file);

}  // namespace porchlight
