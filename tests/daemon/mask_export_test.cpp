// Privacy masks, all the way: porchlightd records a camera with a mask, the
// owner exports the clip with porchlight-vault, and the decoded pictures are
// black inside the polygon and not outside it.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "process.h"

using namespace std::chrono_literals;
using porchlight::test::Process;
namespace fs = std::filesystem;

namespace {

const char* env(const char* name) {
    const char* v = std::getenv(name);
    return v ? v : "";
}

TEST(MaskExport, MaskedPixelsAreBlackInTheExportedClip) {
    if (!*env("FFMPEG"))
        GTEST_SKIP() << "ffmpeg is not installed";
    std::string dir = ::testing::TempDir() + "pl-maskexport-XXXXXX";
    ASSERT_NE(mkdtemp(dir.data()), nullptr);
    // A triangle over the top-left corner: the neighbour's window.
    std::ofstream(dir + "/p.toml") << "[[camera]]\nid = \"door\"\nsource = \"test\"\n"
                                      "pattern = \"white\"\nwidth = 320\nheight = 240\n"
                                      "framerate = 10\n\n[[camera.mask]]\n"
                                      "points = [[0.0, 0.0], [0.6, 0.0], [0.0, 0.6]]\n"
                                      "\n[web]\nlisten = [\"http://127.0.0.1:0\"]\n";
    {
        Process d({env("PORCHLIGHTD"), "--demo", "--config", dir + "/p.toml", "--state-dir",
                   dir + "/state"},
                  dir + "/daemon.log", {"DBUS_SESSION_BUS_ADDRESS="});
        ASSERT_TRUE(d.waitForOutput("camera: door: streaming", 20s)) << d.output();
        std::this_thread::sleep_for(4s);
        d.signal(SIGTERM);
        ASSERT_EQ(d.wait(10s), 0) << d.output();
    }
    std::ofstream(dir + "/pass") << "porchlight-demo\n";
    Process v({env("PORCHLIGHT_VAULT"), "export", "--state-dir", dir + "/state", "--camera", "door",
               "--from", "@0", "--to", "@9999999999", "--out", dir + "/clip.mp4",
               "--passphrase-file", dir + "/pass"},
              dir + "/vault.log");
    ASSERT_EQ(v.wait(60s), 0) << v.output();
    // Every 10th picture, as 8-bit grey.
    Process f(
        {env("FFMPEG"), "-v", "error", "-i", dir + "/clip.mp4", "-vf", "select=not(mod(n\\,10))",
         "-vsync", "0", "-f", "rawvideo", "-pix_fmt", "gray", dir + "/frames.gray"},
        dir + "/ffmpeg.log");
    ASSERT_EQ(f.wait(60s), 0) << f.output();
    std::ifstream in(dir + "/frames.gray", std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    const std::string frames = ss.str();
    const size_t frameBytes = 320 * 240;
    ASSERT_GE(frames.size() / frameBytes, 2u);
    for (size_t n = 0; n + frameBytes <= frames.size(); n += frameBytes) {
        int worstInside = 0, darkOutside = 0, outside = 0;
        for (int y = 0; y < 240; ++y)
            for (int x = 0; x < 320; ++x) {
                const double u = (x + 0.5) / 320, w = (y + 0.5) / 240;
                const int value =
                    static_cast<uint8_t>(frames[n + static_cast<size_t>(y * 320 + x)]);
                // A margin of a few pixels either side of the edge for the codec.
                if (u + w < 0.6 - 0.04)
                    worstInside = std::max(worstInside, value);
                else if (u + w > 0.6 + 0.04 && y < 120) {
                    ++outside;
                    darkOutside += value < 128;
                }
            }
        EXPECT_LE(worstInside, 24) << "frame " << n / frameBytes << ": masked pixels are visible";
        // The clock overlay darkens a little of the white picture; the rest is bright.
        EXPECT_LT(darkOutside, outside / 5) << "frame " << n / frameBytes;
    }
    fs::remove_all(dir);
}

}  // namespace
