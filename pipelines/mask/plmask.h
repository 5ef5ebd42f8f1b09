// The `plmask` GStreamer element: burns privacy masks into raw video frames
// as solid black, so that the masked pixels never reach an encoder, a
// recording or a live view (PRODUCT.md, promise 5).
//
//     gst-launch-1.0 videotestsrc ! plmask polygons="0.1,0.1 0.5,0.1 0.5,0.4" ! autovideosink
//
// Property `polygons`: the masks in the text form documented in
// mask_polygons.h; may change while playing and applies from the next frame.
// A string that does not parse is refused with a g_warning and the previous
// masks stay in force. With no polygons the element is a passthrough.
//
// Formats: I420, YV12, NV12, NV21, Y42B, Y444, GRAY8 and 8-bit packed RGB
// (RGB, BGR, RGBx, BGRx, xRGB, xBGR, RGBA, BGRA, ARGB, ABGR), system memory.
// "Black" follows the negotiated colour range: Y=16, U=V=128 for limited
// range YUV, Y=0 for full range (and GRAY8, full range by default), R=G=B=0
// for RGB with opaque alpha. QoS is off by default (unlike other
// GstVideoFilters): a recorder should not silently drop late frames here.
#pragma once

#include <glib-object.h>

/// The GType of the element; also usable from C code and g_object_new().
extern "C" GType gst_pl_mask_get_type(void);
#define GST_TYPE_PL_MASK (gst_pl_mask_get_type())

namespace porchlight {

/// Registers the project's elements ("plmask") with GStreamer for this
/// process, for the daemon and tests that link them statically. Call after
/// gst_init(); calling it again is harmless. False if registration failed.
bool porchlightRegisterElements();

}  // namespace porchlight
