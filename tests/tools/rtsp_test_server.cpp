// rtsp_test_server: a stand-in RTSP IP camera for tests and measurements.
//
// Serves a live test pattern, encoded as an IP doorbell would (H.264, or
// H.265 to exercise the "only H.264 is supported" path), on 127.0.0.1 only:
// tests must never open anything beyond loopback. Prints
// "READY rtsp://127.0.0.1:PORT/PATH" once it accepts connections, so a test
// that asked for port 0 learns which port it got; exits cleanly on SIGTERM
// or SIGINT.
//
//   rtsp_test_server [--port N] [--path /cam] [--width W] [--height H]
//                    [--framerate F] [--bitrate KBITS] [--key-int-max FRAMES]
//                    [--pattern NAME] [--codec h264|h265]
#include <glib-unix.h>
#include <gst/gst.h>
#include <gst/rtsp-server/rtsp-server.h>

#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

namespace {

struct Settings {
    int port = 0;
    std::string path = "/cam";
    int width = 640;
    int height = 360;
    int framerate = 15;
    int bitrate = 1000;  // kbit/s, as x264enc and x265enc take it
    int keyIntMax = 0;   // 0: two seconds' worth of frames
    std::string pattern = "smpte";
    std::string codec = "h264";
};

const char* const usage =
    "usage: rtsp_test_server [--port N] [--path /cam] [--width W] [--height H]\n"
    "                        [--framerate F] [--bitrate KBITS] [--key-int-max FRAMES]\n"
    "                        [--pattern NAME] [--codec h264|h265]\n";

std::optional<int> parseInt(std::string_view text, int min, int max) {
    int value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size() || value < min || value > max)
        return std::nullopt;
    return value;
}

/// Fills \a s from the command line; prints what is wrong and returns false on a mistake.
bool parseArgs(int argc, char** argv, Settings& s) {
    for (int i = 1; i < argc; ++i) {
        const std::string_view name = argv[i];
        if (name == "--help" || name == "-h") {
            std::fputs(usage, stdout);
            std::exit(0);
        }
        if (i + 1 >= argc) {
            std::fprintf(stderr, "rtsp_test_server: %s needs a value\n%s", argv[i], usage);
            return false;
        }
        const std::string_view value = argv[++i];
        auto number = [&](int& out, int min, int max) {
            auto v = parseInt(value, min, max);
            if (!v) {
                std::fprintf(stderr, "rtsp_test_server: %s must be a number from %d to %d\n",
                             argv[i - 1], min, max);
                return false;
            }
            out = *v;
            return true;
        };
        bool ok = true;
        if (name == "--port")
            ok = number(s.port, 0, 65535);
        else if (name == "--width")
            ok = number(s.width, 16, 7680);
        else if (name == "--height")
            ok = number(s.height, 16, 4320);
        else if (name == "--framerate")
            ok = number(s.framerate, 1, 120);
        else if (name == "--bitrate")
            ok = number(s.bitrate, 16, 100000);
        else if (name == "--key-int-max")
            ok = number(s.keyIntMax, 1, 1000);
        else if (name == "--path") {
            if (value.empty() || value[0] != '/') {
                std::fprintf(stderr, "rtsp_test_server: --path must start with /\n");
                return false;
            }
            s.path = value;
        } else if (name == "--pattern")
            s.pattern = value;
        else if (name == "--codec") {
            if (value != "h264" && value != "h265") {
                std::fprintf(stderr, "rtsp_test_server: --codec must be h264 or h265\n");
                return false;
            }
            s.codec = value;
        } else {
            std::fprintf(stderr, "rtsp_test_server: unknown option %s\n%s", argv[i - 1], usage);
            return false;
        }
        if (!ok)
            return false;
    }
    return true;
}

std::string launchLine(const Settings& s) {
    const int gop = s.keyIntMax > 0 ? s.keyIntMax : 2 * s.framerate;
    const std::string source = "videotestsrc is-live=true pattern=" + s.pattern +
                               " ! video/x-raw,width=" + std::to_string(s.width) +
                               ",height=" + std::to_string(s.height) +
                               ",framerate=" + std::to_string(s.framerate) + "/1";
    const std::string rate =
        " key-int-max=" + std::to_string(gop) + " bitrate=" + std::to_string(s.bitrate);
    // config-interval=-1 repeats the parameter sets with every keyframe, so a
    // client that joins the shared stream late (or reconnects) can decode at once.
    if (s.codec == "h265")
        return "( " + source + " ! x265enc tune=zerolatency speed-preset=ultrafast" + rate +
               " ! rtph265pay name=pay0 pt=96 config-interval=-1 )";
    return "( " + source + " ! x264enc tune=zerolatency speed-preset=ultrafast bframes=0" + rate +
           " ! rtph264pay name=pay0 pt=96 config-interval=-1 )";
}

gboolean onSignal(gpointer loop) {
    g_main_loop_quit(static_cast<GMainLoop*>(loop));
    return G_SOURCE_CONTINUE;
}

}  // namespace

int main(int argc, char** argv) {
    gst_init(&argc, &argv);
    Settings s;
    if (!parseArgs(argc, argv, s))
        return 2;

    const char* encoder = s.codec == "h265" ? "x265enc" : "x264enc";
    if (GstElementFactory* f = gst_element_factory_find(encoder)) {
        gst_object_unref(f);
    } else {
        std::fprintf(stderr, "rtsp_test_server: the GStreamer element %s is not installed\n",
                     encoder);
        return 3;
    }

    GMainLoop* loop = g_main_loop_new(nullptr, FALSE);
    GstRTSPServer* server = gst_rtsp_server_new();
    gst_rtsp_server_set_address(server, "127.0.0.1");
    const std::string service = std::to_string(s.port);
    gst_rtsp_server_set_service(server, service.c_str());

    GstRTSPMediaFactory* factory = gst_rtsp_media_factory_new();
    const std::string launch = launchLine(s);
    gst_rtsp_media_factory_set_launch(factory, launch.c_str());
    // One encoder for every client, as a real camera has: a client that
    // reconnects joins the running stream rather than starting a new one.
    gst_rtsp_media_factory_set_shared(factory, TRUE);
    GstRTSPMountPoints* mounts = gst_rtsp_server_get_mount_points(server);
    gst_rtsp_mount_points_add_factory(mounts, s.path.c_str(), factory);  // takes factory
    g_object_unref(mounts);

    if (gst_rtsp_server_attach(server, nullptr) == 0) {
        std::fprintf(stderr, "rtsp_test_server: cannot listen on 127.0.0.1:%d\n", s.port);
        g_object_unref(server);
        g_main_loop_unref(loop);
        return 1;
    }
    g_unix_signal_add(SIGTERM, onSignal, loop);
    g_unix_signal_add(SIGINT, onSignal, loop);

    std::printf("READY rtsp://127.0.0.1:%d%s\n", gst_rtsp_server_get_bound_port(server),
                s.path.c_str());
    std::fflush(stdout);

    g_main_loop_run(loop);

    g_object_unref(server);
    g_main_loop_unref(loop);
    return 0;
}
