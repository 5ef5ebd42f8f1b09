// The owner's settings file: see owner_settings.h.
#include "owner_settings.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include <toml++/toml.h>

namespace porchlight {

namespace {

constexpr std::string_view kHeader =
    "# Settings changed on porchlightd's web page (Settings). Read after\n"
    "# /etc/porchlight/porchlight.toml and its drop-ins, and wins over them.\n"
    "# porchlightd rewrites this file: edit the configuration files instead.\n\n";

toml::array polygonPoints(const Polygon& p) {
    toml::array points;
    for (const auto& [x, y] : p.points)
        points.push_back(toml::array{x, y});
    return points;
}

toml::table* cameraTable(toml::table& root, const std::string& id) {
    if (!root.contains("camera"))
        root.insert("camera", toml::array{});
    toml::array* cameras = root.get_as<toml::array>("camera");
    if (!cameras)
        return nullptr;
    for (toml::node& n : *cameras)
        if (toml::table* t = n.as_table())
            if (auto v = t->get_as<std::string>("id"); v && v->get() == id)
                return t;
    cameras->push_back(toml::table{{"id", id}});
    return cameras->back().as_table();
}

void writeIdentity(toml::table& t, const CameraConfig& c) {
    t.insert_or_assign("source", std::string(sourceKindName(c.source)));
    switch (c.source) {
        case SourceKind::Test:
            t.insert_or_assign("pattern", c.pattern);
            break;
        case SourceKind::Libcamera:
            if (!c.libcameraId.empty())
                t.insert_or_assign("camera", c.libcameraId);
            else if (c.libcameraIndex)
                t.insert_or_assign("camera", static_cast<int64_t>(*c.libcameraIndex));
            break;
        case SourceKind::V4l2:
            t.insert_or_assign("device", c.device);
            break;
        case SourceKind::Rtsp:
            t.insert_or_assign("url", c.url);
            break;
        case SourceKind::File:
            t.insert_or_assign("path", c.path);
            break;
    }
}

}  // namespace

std::filesystem::path ownerSettingsPath(const std::filesystem::path& stateDir) {
    return stateDir / "settings.toml";
}

Expected<std::string> withCameraSettings(std::string_view text, const std::string& id,
                                         const CameraSettingsChange& change,
                                         const std::vector<CameraConfig>& identities) {
    toml::table root;
    try {
        root = toml::parse(text, std::string_view{"settings.toml"});
    } catch (const toml::parse_error& e) {
        return makeError("the settings file is not valid TOML (" + std::string(e.description()) +
                         "); remove it to start again from the configuration files");
    }
    for (const auto& c : identities)
        if (toml::table* t = cameraTable(root, c.id))
            writeIdentity(*t, c);
    toml::table* cam = cameraTable(root, id);
    if (!cam)
        return makeError("the settings file's \"camera\" is not an array of tables");
    if (change.mode)
        cam->insert_or_assign("mode", std::string(recordingModeName(*change.mode)));
    if (change.masks) {
        toml::array masks;
        for (const auto& m : *change.masks)
            masks.push_back(toml::table{{"points", polygonPoints(m)}});
        cam->insert_or_assign("mask", std::move(masks));
    }
    if (change.motionEnabled || change.sensitivity || change.zones) {
        if (!cam->get_as<toml::table>("motion"))
            cam->insert_or_assign("motion", toml::table{});
        toml::table& motion = *cam->get_as<toml::table>("motion");
        if (change.motionEnabled)
            motion.insert_or_assign("enabled", *change.motionEnabled);
        if (change.sensitivity)
            motion.insert_or_assign("sensitivity", *change.sensitivity);
        if (change.zones) {
            toml::array zones;
            for (const auto& z : *change.zones) {
                toml::table zt{{"points", polygonPoints(z.polygon)},
                               {"mode", z.include ? "include" : "exclude"}};
                if (!z.name.empty())
                    zt.insert("name", z.name);
                zones.push_back(std::move(zt));
            }
            motion.insert_or_assign("zone", std::move(zones));
        }
    }
    if (change.doorbell) {
        if (change.doorbell->chip.empty()) {
            cam->erase("doorbell");
        } else {
            cam->insert_or_assign(
                "doorbell",
                toml::table{{"chip", change.doorbell->chip},
                            {"line", static_cast<int64_t>(change.doorbell->line)},
                            {"active_low", change.doorbell->activeLow},
                            {"debounce_ms", static_cast<int64_t>(change.doorbell->debounceMs)}});
        }
    }
    std::ostringstream out;
    out << kHeader << toml::toml_formatter(root) << "\n";
    return out.str();
}

Expected<void> writeFileAtomically(const std::filesystem::path& file, std::string_view text) {
    const std::filesystem::path tmp =
        file.parent_path() / ("." + file.filename().string() + ".tmp");
    auto fail = [&](const char* what) {
        const std::string message =
            std::string("cannot ") + what + " " + tmp.string() + ": " + std::strerror(errno);
        ::unlink(tmp.c_str());
        return makeError(message);
    };
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return fail("create");
    size_t done = 0;
    while (done < text.size()) {
        ssize_t n = ::write(fd, text.data() + done, text.size() - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            ::close(fd);
            return fail("write");
        }
        done += static_cast<size_t>(n);
    }
    if (::fsync(fd) != 0) {
        ::close(fd);
        return fail("fsync");
    }
    ::close(fd);
    if (::rename(tmp.c_str(), file.c_str()) != 0)
        return fail("rename");
    int dir = ::open(file.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir >= 0) {
        ::fsync(dir);
        ::close(dir);
    }
    return {};
}

Expected<std::string> readOwnerSettings(const std::filesystem::path& file) {
    std::ifstream in(file, std::ios::binary);
    if (!in) {
        if (errno == ENOENT || !std::filesystem::exists(file))
            return std::string();
        return makeError("cannot read " + file.string() + ": " + std::strerror(errno));
    }
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

}  // namespace porchlight
