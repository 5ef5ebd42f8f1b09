// The demo camera's moving object: see test_pattern.h.
#include "test_pattern.h"

#include <gst/video/video.h>

#include <algorithm>

#include "gst_ptr.h"

namespace porchlight {

BoxRect movingBoxAt(GstClockTime pts, int frameWidth, int frameHeight) {
    constexpr GstClockTime period = 8 * GST_SECOND;  // there and back
    const int w = std::max(2, frameWidth / 10) & ~1;
    const int h = std::max(2, frameHeight / 6) & ~1;
    const double phase = static_cast<double>(pts % period) / static_cast<double>(period);
    const double along = phase < 0.5 ? phase * 2 : (1.0 - phase) * 2;
    const int x = static_cast<int>(along * (frameWidth - w)) & ~1;
    const int y = (frameHeight * 3 / 5) & ~1;
    return {x, std::min(y, frameHeight - h), w, h};
}

namespace {

GstPadProbeReturn drawBox(GstPad* pad, GstPadProbeInfo* info, gpointer) {
    GstBuffer* buffer = GST_PAD_PROBE_INFO_BUFFER(info);
    if (!buffer || !GST_BUFFER_PTS_IS_VALID(buffer))
        return GST_PAD_PROBE_OK;
    GstPtr<GstCaps> caps = GstPtr<GstCaps>::adopt(gst_pad_get_current_caps(pad));
    GstVideoInfo vinfo;
    if (!caps || !gst_video_info_from_caps(&vinfo, caps.get()) ||
        GST_VIDEO_INFO_FORMAT(&vinfo) != GST_VIDEO_FORMAT_I420)
        return GST_PAD_PROBE_OK;

    buffer = gst_buffer_make_writable(buffer);
    GST_PAD_PROBE_INFO_DATA(info) = buffer;
    GstVideoFrame frame;
    if (!gst_video_frame_map(&frame, &vinfo, buffer, GST_MAP_WRITE))
        return GST_PAD_PROBE_OK;
    const BoxRect r = movingBoxAt(GST_BUFFER_PTS(buffer), GST_VIDEO_INFO_WIDTH(&vinfo),
                                  GST_VIDEO_INFO_HEIGHT(&vinfo));
    auto fill = [&](int plane, int x, int y, int w, int h, guint8 value) {
        guint8* data = static_cast<guint8*>(GST_VIDEO_FRAME_PLANE_DATA(&frame, plane));
        const int stride = GST_VIDEO_FRAME_PLANE_STRIDE(&frame, plane);
        for (int row = y; row < y + h; ++row)
            std::fill_n(data + row * stride + x, w, value);
    };
    fill(0, r.x, r.y, r.width, r.height, 235);
    fill(1, r.x / 2, r.y / 2, r.width / 2, r.height / 2, 128);
    fill(2, r.x / 2, r.y / 2, r.width / 2, r.height / 2, 128);
    gst_video_frame_unmap(&frame);
    return GST_PAD_PROBE_OK;
}

}  // namespace

void addMovingBox(GstPad* pad) {
    gst_pad_add_probe(pad, GST_PAD_PROBE_TYPE_BUFFER, drawBox, nullptr, nullptr);
}

}  // namespace porchlight
