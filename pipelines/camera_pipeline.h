// One camera's GStreamer pipeline: a source, H.264 encoded once, split three ways.
//
//   source ─ plmask ─ [raw tee] ─ encoder ─ h264parse ─ [encoded tee] ─┬─ recording appsink
//                          │                                          └─ valve ─ live appsink
//                          ├─ valve ─ videorate ─ videoscale ─ GRAY8 ─ raw appsink (motion)
//                          └─ valve ─ videoscale ─ jpegenc ─ snapshot appsink
//
// Privacy masks (plmask) are burned in before the raw tee, so no branch ever
// sees the masked pixels. RTSP cameras skip the encoder: their H.264 passes
// straight to the encoded tee, and the raw branch (when asked for) decodes
// it; with transcode = true they are decoded, masked and encoded like the
// others. The valves start closed so that a branch nobody consumes costs
// nothing.
//
// Streaming threads never call back into the daemon directly: every frame,
// error and end-of-stream is handed to the owner's event loop through the
// Post function, and delivered there only if this pipeline still exists.
#pragma once

#include <gst/gst.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "config.h"
#include "expected.h"
#include "gst_ptr.h"

namespace porchlight {

/// One H.264 access unit (stream-format=avc, alignment=au).
struct EncodedFrame {
    GstPtr<GstSample> sample;  // the buffer, and caps with codec_data
    int64_t pts = -1;          // running time, ns (-1: none)
    int64_t dts = -1;
    int64_t duration = -1;
    int64_t wallUs = 0;  // CLOCK_REALTIME when the frame left the encoder
    // Live branch only: CLOCK_REALTIME when the picture was taken, from the
    // buffer's running time against the pipeline clock (0: not known).
    int64_t captureWallUs = 0;
    bool keyframe = false;
    size_t size() const;
};

/// A small grey frame for motion analysis.
struct RawFrame {
    GstPtr<GstSample> sample;
    int width = 0;
    int height = 0;
    int64_t pts = -1;
    int64_t wallUs = 0;
};

struct PipelineOptions {
    /// Build the raw branch (RTSP needs a decoder for it; others get it nearly free).
    bool rawBranch = true;
    int rawWidth = 320;
    int rawFramerate = 5;
    /// For libcamera: the resolved camera name as libcamerasrc wants it
    /// (the daemon resolves indexes once, see libcamera_cameras.h).
    std::string libcameraName;
};

/// What a camera supervisor drives: the GStreamer pipeline below, or a fake in tests.
class CameraStream {
public:
    /// All run on the owner's loop, never after the stream is destroyed.
    struct Callbacks {
        std::function<void(EncodedFrame&&)> recording;
        std::function<void(EncodedFrame&&)> live;
        std::function<void(RawFrame&&)> raw;
        std::function<void(const std::string&)> error;
        /// End of stream reached the recording branch: everything encoded has been delivered.
        std::function<void()> eos;
        /// A JPEG of the current picture, after requestSnapshot().
        std::function<void(std::vector<uint8_t>&&)> snapshot;
    };

    virtual ~CameraStream() = default;
    /// Start streaming. Errors later arrive through Callbacks::error.
    virtual Expected<void> play() = 0;
    /// Ask every source to finish: Callbacks::eos follows once the recording branch drained.
    virtual void sendEos() = 0;
    virtual void setLiveEnabled(bool enabled) = 0;
    virtual void setRawEnabled(bool enabled) = 0;
    /// One JPEG of the next picture through Callbacks::snapshot (none when
    /// the stream has no raw picture: an RTSP camera without transcode or motion).
    virtual void requestSnapshot() {}
    /// Whether requestSnapshot() can give a picture at all.
    virtual bool canSnapshot() const { return false; }
    /// A short "a ! b ! c" summary of the main chain, for the log.
    virtual const std::string& description() const = 0;
};

class CameraPipeline final : public CameraStream {
public:
    using Post = std::function<void(std::function<void()>)>;

    static Expected<std::unique_ptr<CameraPipeline>> build(const CameraConfig& camera,
                                                           const PipelineOptions& options,
                                                           Post post, Callbacks callbacks);
    ~CameraPipeline() override;
    CameraPipeline(const CameraPipeline&) = delete;
    CameraPipeline& operator=(const CameraPipeline&) = delete;

    Expected<void> play() override;
    void sendEos() override;
    void setLiveEnabled(bool enabled) override;
    void setRawEnabled(bool enabled) override;
    void requestSnapshot() override;
    bool canSnapshot() const override { return snapshotValve_ != nullptr; }
    const std::string& description() const override { return description_; }
    GstElement* element() const { return pipeline_.get(); }

    struct Link;  // shared with streaming threads through weak pointers

private:
    CameraPipeline() = default;

    GstPtr<GstElement> pipeline_;
    GstElement* liveValve_ = nullptr;  // borrowed: owned by pipeline_
    GstElement* rawValve_ = nullptr;
    GstElement* snapshotValve_ = nullptr;
    std::shared_ptr<Link> link_;
    void* context_ = nullptr;  // the streaming threads' context, owned by the bus
    std::string description_;
};

}  // namespace porchlight
