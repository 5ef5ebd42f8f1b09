// Element creation with clear errors: see elements.h.
#include "elements.h"

#include <array>
#include <utility>

#include "gst_ptr.h"

namespace porchlight {

std::string_view debianPackageFor(std::string_view factory) {
    static constexpr std::array<std::pair<std::string_view, std::string_view>, 28> packages{{
        {"x264enc", "gstreamer1.0-plugins-ugly"},
        {"openh264enc", "gstreamer1.0-plugins-bad"},
        {"h264parse", "gstreamer1.0-plugins-bad"},
        {"v4l2h264enc", "gstreamer1.0-plugins-good"},
        {"v4l2src", "gstreamer1.0-plugins-good"},
        {"rtspsrc", "gstreamer1.0-plugins-good"},
        {"rtph264depay", "gstreamer1.0-plugins-good"},
        {"jpegenc", "gstreamer1.0-plugins-good"},
        {"libcamerasrc", "gstreamer1.0-libcamera"},
        {"avdec_h264", "gstreamer1.0-libav"},
        {"videotestsrc", "gstreamer1.0-plugins-base"},
        {"videoconvert", "gstreamer1.0-plugins-base"},
        {"videoscale", "gstreamer1.0-plugins-base"},
        {"videorate", "gstreamer1.0-plugins-base"},
        {"appsink", "gstreamer1.0-plugins-base"},
        {"appsrc", "gstreamer1.0-plugins-base"},
        {"decodebin", "gstreamer1.0-plugins-base"},
        {"uridecodebin", "gstreamer1.0-plugins-base"},
        {"clockoverlay", "gstreamer1.0-plugins-base"},
        {"timeoverlay", "gstreamer1.0-plugins-base"},
        {"tee", "libgstreamer1.0-0"},
        {"queue", "libgstreamer1.0-0"},
        {"valve", "libgstreamer1.0-0"},
        {"capsfilter", "libgstreamer1.0-0"},
        {"filesrc", "libgstreamer1.0-0"},
        {"clocksync", "libgstreamer1.0-0"},
        {"identity", "libgstreamer1.0-0"},
        {"fakesink", "libgstreamer1.0-0"},
    }};
    for (const auto& [f, p] : packages)
        if (f == factory)
            return p;
    return {};
}

bool elementAvailable(std::string_view factory) {
    GstElementFactory* f = gst_element_factory_find(std::string(factory).c_str());
    if (!f)
        return false;
    gst_object_unref(f);
    return true;
}

Expected<GstElement*> makeElement(std::string_view factory, std::string_view name) {
    GstElement* e =
        gst_element_factory_make(std::string(factory).c_str(), std::string(name).c_str());
    if (e)
        return e;
    std::string msg = std::string(factory) + " not found";
    if (std::string_view pkg = debianPackageFor(factory); !pkg.empty())
        msg += ": install " + std::string(pkg);
    else
        msg += ": install the GStreamer plugin that provides it";
    return makeError(std::move(msg));
}

}  // namespace porchlight
