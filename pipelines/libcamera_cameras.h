// Cameras as libcamera sees them, listed with its C++ API.
//
// libcamera allows one CameraManager per process, and libcamerasrc keeps its
// own while any of its pipelines exist. So the daemon lists cameras only
// while no libcamera pipeline runs (at start-up, and on a reload that finds
// none running) and keeps the list; pipelines resolve against that list.
#pragma once

#include <string>
#include <vector>

#include "config.h"
#include "expected.h"

namespace porchlight {

/// The ids of the cameras libcamera finds now (empty when built without libcamera).
Expected<std::vector<std::string>> listLibcameraCameras();

/// The libcamerasrc camera-name for \a camera, or "" when it is not among \a found.
std::string resolveLibcameraName(const CameraConfig& camera, const std::vector<std::string>& found);

}  // namespace porchlight
