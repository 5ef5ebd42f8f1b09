// Initialises GStreamer once for a test binary that uses real pipelines.
#include <gst/gst.h>
#include <gtest/gtest.h>

#include <cstdlib>

#include "plmask.h"

namespace {

class GstEnvironment : public ::testing::Environment {
public:
    void SetUp() override {
        // Tests must not depend on plugins the user may have in ~/.local.
        setenv("LIBCAMERA_LOG_LEVELS", "*:ERROR", 0);
        gst_init(nullptr, nullptr);
        porchlight::porchlightRegisterElements();
    }
};

[[maybe_unused]] ::testing::Environment* const environment =
    ::testing::AddGlobalTestEnvironment(new GstEnvironment);

}  // namespace
