// The demo camera's moving object: a bright box drawn over the test pattern,
// so that motion detection and playback have something to follow.
#pragma once

#include <gst/gst.h>

namespace porchlight {

/// Draw a box that crosses the picture every four seconds on each I420 frame
/// leaving \a pad. Its position follows the buffer timestamp, so tests can
/// tell where it is.
void addMovingBox(GstPad* pad);

/// Where the box is at \a pts (ns) in a frame of the given size.
struct BoxRect {
    int x, y, width, height;
};
BoxRect movingBoxAt(GstClockTime pts, int frameWidth, int frameHeight);

}  // namespace porchlight
