// From encoded frames to storage frames: see recording.h.
#include "recording.h"

#include "log.h"

PL_DEFINE_LOG_CATEGORY(RecordingLog, "recording")

namespace porchlight {

std::optional<storage::VideoFrame> RecordingAdapter::convert(const EncodedFrame& frame) {
    GstSample* sample = frame.sample.get();
    GstBuffer* buffer = sample ? gst_sample_get_buffer(sample) : nullptr;
    GstCaps* caps = sample ? gst_sample_get_caps(sample) : nullptr;
    if (!buffer || !caps)
        return std::nullopt;

    if (caps != lastCaps_) {
        lastCaps_ = caps;
        const GstStructure* s = gst_caps_get_structure(caps, 0);
        const GValue* cd = gst_structure_get_value(s, "codec_data");
        int width = 0, height = 0;
        gst_structure_get_int(s, "width", &width);
        gst_structure_get_int(s, "height", &height);
        if (!cd || !GST_VALUE_HOLDS_BUFFER(cd) || width <= 0 || height <= 0) {
            PL_LOG(RecordingLog, Warning) << "encoded caps lack codec_data or size; not recording";
            track_.reset();
        } else {
            auto t = std::make_shared<mp4::TrackInfo>();
            GstBuffer* cdb = gst_value_get_buffer(cd);
            GstMapInfo map;
            if (gst_buffer_map(cdb, &map, GST_MAP_READ)) {
                t->avcC.assign(map.data, map.data + map.size);
                gst_buffer_unmap(cdb, &map);
            }
            t->width = static_cast<uint32_t>(width);
            t->height = static_cast<uint32_t>(height);
            // Same settings again (a renegotiation): keep the old pointer, no new segment.
            if (!track_ || !(*track_ == *t))
                track_ = std::move(t);
        }
    }
    if (!track_)
        return std::nullopt;

    storage::VideoFrame f;
    f.track = track_;
    GstMapInfo map;
    if (!gst_buffer_map(buffer, &map, GST_MAP_READ))
        return std::nullopt;
    f.data.assign(map.data, map.data + map.size);
    gst_buffer_unmap(buffer, &map);
    f.dtsNs = frame.dts >= 0 ? frame.dts : frame.pts;
    f.ptsNs = frame.pts >= 0 ? frame.pts : f.dtsNs;
    f.durationNs = frame.duration;
    f.wallUs = frame.wallUs;
    f.keyframe = frame.keyframe;
    return f;
}

}  // namespace porchlight
