// From the pipeline's encoded frames to storage's: the recording branch's
// samples become VideoFrames, with the codec configuration read from caps
// once per change rather than once per frame.
#pragma once

#include <memory>

#include "camera_pipeline.h"
#include "expected.h"
#include "storage.h"

namespace porchlight {

class RecordingAdapter {
public:
    /// nullopt for a frame that cannot be recorded (no caps, or caps without
    /// codec_data); the reason is logged once per caps change.
    std::optional<storage::VideoFrame> convert(const EncodedFrame& frame);

private:
    GstCaps* lastCaps_ = nullptr;  // identity only, never dereferenced
    std::shared_ptr<const mp4::TrackInfo> track_;
};

}  // namespace porchlight
