// Listing libcamera cameras: see libcamera_cameras.h.
#include "libcamera_cameras.h"

#include <algorithm>
#include <memory>

#include "porchlight-config.h"

#if HAVE_LIBCAMERA
#include <libcamera/camera.h>
#include <libcamera/camera_manager.h>
#endif

namespace porchlight {

Expected<std::vector<std::string>> listLibcameraCameras() {
    std::vector<std::string> ids;
#if HAVE_LIBCAMERA
    auto manager = std::make_unique<libcamera::CameraManager>();
    if (int ret = manager->start(); ret < 0)
        return makeError("libcamera could not start (error " + std::to_string(-ret) + ")");
    for (const auto& camera : manager->cameras())
        ids.push_back(camera->id());
    manager->stop();
#endif
    return ids;
}

std::string resolveLibcameraName(const CameraConfig& camera,
                                 const std::vector<std::string>& found) {
    if (camera.libcameraIndex) {
        const int i = *camera.libcameraIndex;
        return i >= 0 && static_cast<size_t>(i) < found.size() ? found[static_cast<size_t>(i)] : "";
    }
    if (camera.libcameraId.empty())
        return found.empty() ? "" : found.front();
    return std::find(found.begin(), found.end(), camera.libcameraId) != found.end()
               ? camera.libcameraId
               : "";
}

}  // namespace porchlight
