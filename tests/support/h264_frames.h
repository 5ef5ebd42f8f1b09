// Real H.264 for storage tests, made faster than real time: a non-live
// videotestsrc encoded by x264 and read from an appsink, converted by the
// daemon's own RecordingAdapter, with wall-clock times laid out from \a t0Us.
#pragma once

#include <gst/app/gstappsink.h>
#include <gst/gst.h>

#include <string>
#include <vector>

#include "recording.h"

namespace porchlight::test {

inline std::vector<storage::VideoFrame> makeH264Frames(int seconds, int fps, int64_t t0Us,
                                                       int width = 320, int height = 240,
                                                       const char* pattern = "ball") {
    const std::string launch =
        "videotestsrc is-live=false pattern=" + std::string(pattern) +
        " num-buffers=" + std::to_string(seconds * fps) +
        " ! video/x-raw,width=" + std::to_string(width) + ",height=" + std::to_string(height) +
        ",framerate=" + std::to_string(fps) +
        "/1 ! x264enc speed-preset=ultrafast tune=zerolatency bframes=0 key-int-max=" +
        std::to_string(fps * 2) +
        " ! h264parse ! video/x-h264,stream-format=avc,alignment=au ! appsink name=sink sync=false";
    GError* err = nullptr;
    GstElement* pipeline = gst_parse_launch(launch.c_str(), &err);
    if (!pipeline) {
        g_clear_error(&err);
        return {};
    }
    GstElement* sink = gst_bin_get_by_name(GST_BIN(pipeline), "sink");
    gst_element_set_state(pipeline, GST_STATE_PLAYING);
    RecordingAdapter adapter;
    std::vector<storage::VideoFrame> frames;
    int64_t firstPts = -1;
    while (GstSample* sample = gst_app_sink_pull_sample(GST_APP_SINK(sink))) {
        GstBuffer* b = gst_sample_get_buffer(sample);
        EncodedFrame f;
        f.pts = static_cast<int64_t>(GST_BUFFER_PTS(b));
        f.dts = GST_BUFFER_DTS_IS_VALID(b) ? static_cast<int64_t>(GST_BUFFER_DTS(b)) : f.pts;
        f.duration = static_cast<int64_t>(GST_BUFFER_DURATION(b));
        f.keyframe = !GST_BUFFER_FLAG_IS_SET(b, GST_BUFFER_FLAG_DELTA_UNIT);
        // The encoder's timestamps start wherever it likes; the wall clock at t0.
        if (firstPts < 0)
            firstPts = f.pts;
        f.wallUs = t0Us + (f.pts - firstPts) / 1000;
        f.sample = GstPtr<GstSample>::adopt(sample);
        if (auto v = adapter.convert(f))
            frames.push_back(std::move(*v));
    }
    gst_element_set_state(pipeline, GST_STATE_NULL);
    gst_object_unref(sink);
    gst_object_unref(pipeline);
    return frames;
}

}  // namespace porchlight::test
