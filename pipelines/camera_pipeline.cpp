// One camera's GStreamer pipeline: see camera_pipeline.h.
#include "camera_pipeline.h"

#include <gst/app/gstappsink.h>
#include <gst/video/video.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <mutex>

#include "elements.h"
#include "log.h"
#include "mask_polygons.h"
#include "test_pattern.h"

PL_DEFINE_LOG_CATEGORY(Pipeline, "pipeline")

namespace porchlight {

size_t EncodedFrame::size() const {
    GstBuffer* b = sample ? gst_sample_get_buffer(sample.get()) : nullptr;
    return b ? gst_buffer_get_size(b) : 0;
}

/// What the loop-side of a pipeline needs; streaming threads reach it only
/// through a weak pointer that is locked on the loop.
struct CameraPipeline::Link {
    Callbacks callbacks;
    GstElement* pipeline = nullptr;  // borrowed from the CameraPipeline that owns this Link
};

namespace {

/// Owned by GStreamer (freed by its destroy notify), so it outlives every
/// streaming-thread callback that can see it.
struct ThreadContext {
    CameraPipeline::Post post;
    std::weak_ptr<CameraPipeline::Link> link;
    std::string cameraId;
    std::string rtspAddress;  // "host:port" of an rtsp camera (never its credentials)

    std::mutex mutex;
    std::string firstError;  // for play() to report synchronously

    /// Set once the fields above are filled in; a streaming thread reads it
    /// before them (acquire()). GStreamer's own locks already order the two,
    /// but they are GLib's, which ThreadSanitizer cannot see: a streaming
    /// thread taken from GLib's pool after serving another pipeline looked to
    /// it as if it read these fields while the loop thread wrote them.
    std::atomic<bool> published{false};
    void publish() { published.store(true, std::memory_order_release); }
    const ThreadContext& acquire() const {
        (void)published.load(std::memory_order_acquire);
        return *this;
    }
};

void deleteContext(gpointer p) {
    delete static_cast<ThreadContext*>(p);
}

void postToLoop(ThreadContext* ctx, std::function<void(CameraPipeline::Link&)> fn) {
    ctx->acquire();
    ctx->post([weak = ctx->link, fn = std::move(fn)] {
        if (auto link = weak.lock())
            fn(*link);
    });
}

/// Builds the element graph, remembering the first failure.
class Builder {
public:
    explicit Builder(GstBin* bin) : bin_(bin) {}

    GstElement* add(std::string_view factory, std::string_view name) {
        if (!error_.empty())
            return nullptr;
        auto e = makeElement(factory, name);
        if (!e) {
            error_ = e.error().message;
            return nullptr;
        }
        if (!gst_bin_add(bin_, *e)) {
            // A name used twice: a bug in this builder, reported rather than crashed on.
            gst_object_unref(gst_object_ref_sink(*e));
            error_ = "internal error: two elements named " + std::string(name);
            return nullptr;
        }
        return *e;
    }

    bool link(GstElement* a, GstElement* b, GstCaps* caps = nullptr) {
        GstPtr<GstCaps> owned = GstPtr<GstCaps>::adopt(caps);
        if (!error_.empty() || !a || !b)
            return false;
        if (!gst_element_link_filtered(a, b, owned.get())) {
            error_ =
                std::string("cannot link ") + GST_ELEMENT_NAME(a) + " to " + GST_ELEMENT_NAME(b);
            if (caps) {
                gchar* s = gst_caps_to_string(caps);
                error_ += std::string(" with ") + s;
                g_free(s);
            }
            return false;
        }
        return true;
    }

    /// Link a chain; returns the last element, or nullptr after an error.
    GstElement* chain(std::initializer_list<GstElement*> elements) {
        GstElement* prev = nullptr;
        for (GstElement* e : elements) {
            if (!e)
                return nullptr;
            if (prev && !link(prev, e))
                return nullptr;
            prev = e;
        }
        return prev;
    }

    void fail(std::string message) {
        if (error_.empty())
            error_ = std::move(message);
    }
    bool ok() const { return error_.empty(); }
    const std::string& error() const { return error_; }

private:
    GstBin* bin_;
    std::string error_;
};

void set(GstElement* e, const char* property, const char* value) {
    gst_util_set_object_arg(G_OBJECT(e), property, value);
}

GstCaps* rawCaps(const CameraConfig& c) {
    return gst_caps_new_simple("video/x-raw", "format", G_TYPE_STRING, "I420", "width", G_TYPE_INT,
                               c.width, "height", G_TYPE_INT, c.height, "framerate",
                               GST_TYPE_FRACTION, c.framerate, 1, nullptr);
}

GstCaps* encodedCaps() {
    return gst_caps_new_simple("video/x-h264", "stream-format", G_TYPE_STRING, "avc", "alignment",
                               G_TYPE_STRING, "au", nullptr);
}

/// The H.264 encoder: the hardware one where the kernel offers it (Pi 4),
/// else x264 tuned for latency, else OpenH264.
GstElement* addEncoder(Builder& b, const CameraConfig& c) {
    const int gop = std::max(1, static_cast<int>(std::lround(c.keyframeInterval * c.framerate)));
    if (elementAvailable("v4l2h264enc")) {
        GstElement* enc = b.add("v4l2h264enc", "encoder");
        if (!enc)
            return nullptr;
        std::string controls = "controls,video_bitrate=" + std::to_string(c.bitrate) +
                               ",h264_i_frame_period=" + std::to_string(gop) +
                               ",repeat_sequence_header=1";
        GstStructure* s = gst_structure_from_string(controls.c_str(), nullptr);
        g_object_set(enc, "extra-controls", s, nullptr);
        gst_structure_free(s);
        // The Pi's encoder refuses to start without an explicit level.
        GstElement* caps = b.add("capsfilter", "encoder-caps");
        if (!caps)
            return nullptr;
        GstCaps* level = gst_caps_from_string("video/x-h264,level=(string)4");
        g_object_set(caps, "caps", level, nullptr);
        gst_caps_unref(level);
        return b.link(enc, caps) ? caps : nullptr;
    }
    if (elementAvailable("x264enc") || !elementAvailable("openh264enc")) {
        GstElement* enc = b.add("x264enc", "encoder");
        if (!enc)
            return nullptr;
        set(enc, "tune", "zerolatency");
        set(enc, "speed-preset", "ultrafast");
        g_object_set(enc, "bitrate", static_cast<guint>(std::max<int64_t>(1, c.bitrate / 1000)),
                     "key-int-max", static_cast<guint>(gop), "bframes", 0u, nullptr);
        return enc;
    }
    GstElement* enc = b.add("openh264enc", "encoder");
    if (!enc)
        return nullptr;
    g_object_set(enc, "bitrate", static_cast<guint>(c.bitrate), "gop-size", static_cast<guint>(gop),
                 nullptr);
    return enc;
}

bool fileExists(const std::string& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0;
}

/// Raw sources end in I420 at the configured size and rate; returns the tail.
GstElement* buildRtspSource(Builder& b, const CameraConfig& c, ThreadContext* ctx);

GstElement* buildRawSource(Builder& b, const CameraConfig& c, const PipelineOptions& o,
                           ThreadContext* ctx) {
    switch (c.source) {
        case SourceKind::Test: {
            GstElement* src = b.add("videotestsrc", "source");
            GstElement* caps = b.add("capsfilter", "source-caps");
            GstElement* clock = b.add("clockoverlay", "clock");
            if (!b.ok())
                return nullptr;
            g_object_set(src, "is-live", TRUE, nullptr);
            set(src, "pattern", c.pattern.c_str());
            g_object_set(caps, "caps", GstPtr<GstCaps>::adopt(rawCaps(c)).get(), nullptr);
            g_object_set(clock, "time-format", "%Y-%m-%d %H:%M:%S", "shaded-background", TRUE,
                         nullptr);
            set(clock, "halignment", "left");
            set(clock, "valignment", "top");
            if (!b.chain({src, caps, clock}))
                return nullptr;
            GstPtr<GstPad> pad = GstPtr<GstPad>::adopt(gst_element_get_static_pad(caps, "src"));
            addMovingBox(pad.get());
            return clock;
        }
        case SourceKind::File: {
            if (!fileExists(c.path)) {
                b.fail("file " + c.path + " does not exist");
                return nullptr;
            }
            GstElement* src = b.add("filesrc", "source");
            GstElement* decode = b.add("decodebin", "decode");
            GstElement* convert = b.add("videoconvert", "convert");
            GstElement* scale = b.add("videoscale", "scale");
            GstElement* rate = b.add("videorate", "rate");
            GstElement* caps = b.add("capsfilter", "source-caps");
            // A file is not live: play it at its own pace, as a camera would deliver it.
            GstElement* sync = b.add("clocksync", "pace");
            if (!b.ok())
                return nullptr;
            g_object_set(src, "location", c.path.c_str(), nullptr);
            g_object_set(caps, "caps", GstPtr<GstCaps>::adopt(rawCaps(c)).get(), nullptr);
            if (!b.link(src, decode) || !b.chain({convert, scale, rate, caps, sync}))
                return nullptr;
            g_signal_connect(
                decode, "pad-added", G_CALLBACK(+[](GstElement*, GstPad* pad, gpointer data) {
                    GstElement* convert = static_cast<GstElement*>(data);
                    GstPtr<GstCaps> caps = GstPtr<GstCaps>::adopt(gst_pad_get_current_caps(pad));
                    if (!caps || !g_str_has_prefix(
                                     gst_structure_get_name(gst_caps_get_structure(caps.get(), 0)),
                                     "video/"))
                        return;
                    GstPtr<GstPad> sink =
                        GstPtr<GstPad>::adopt(gst_element_get_static_pad(convert, "sink"));
                    if (!gst_pad_is_linked(sink.get()))
                        gst_pad_link(pad, sink.get());
                }),
                convert);
            return sync;
        }
        case SourceKind::V4l2: {
            if (!fileExists(c.device)) {
                b.fail("v4l2 device " + c.device +
                       " does not exist: is the camera plugged in, and is the path right?");
                return nullptr;
            }
            GstElement* src = b.add("v4l2src", "source");
            GstElement* convert = b.add("videoconvert", "convert");
            GstElement* scale = b.add("videoscale", "scale");
            GstElement* rate = b.add("videorate", "rate");
            GstElement* caps = b.add("capsfilter", "source-caps");
            if (!b.ok())
                return nullptr;
            g_object_set(src, "device", c.device.c_str(), nullptr);
            g_object_set(caps, "caps", GstPtr<GstCaps>::adopt(rawCaps(c)).get(), nullptr);
            return b.chain({src, convert, scale, rate, caps});
        }
        case SourceKind::Libcamera: {
            if (o.libcameraName.empty()) {
                b.fail(c.libcameraIndex
                           ? "no libcamera camera with index " + std::to_string(*c.libcameraIndex) +
                                 " was found: is the camera connected and enabled?"
                       : c.libcameraId.empty()
                           ? std::string("no libcamera camera was found: is the camera "
                                         "connected and enabled?")
                           : "libcamera camera \"" + c.libcameraId + "\" was not found");
                return nullptr;
            }
            GstElement* src = b.add("libcamerasrc", "source");
            GstElement* srcCaps = b.add("capsfilter", "source-size");
            GstElement* convert = b.add("videoconvert", "convert");
            GstElement* scale = b.add("videoscale", "scale");
            GstElement* rate = b.add("videorate", "rate");
            GstElement* caps = b.add("capsfilter", "source-caps");
            if (!b.ok())
                return nullptr;
            g_object_set(src, "camera-name", o.libcameraName.c_str(), nullptr);
            GstPtr<GstCaps> size = GstPtr<GstCaps>::adopt(
                gst_caps_new_simple("video/x-raw", "width", G_TYPE_INT, c.width, "height",
                                    G_TYPE_INT, c.height, nullptr));
            g_object_set(srcCaps, "caps", size.get(), nullptr);
            g_object_set(caps, "caps", GstPtr<GstCaps>::adopt(rawCaps(c)).get(), nullptr);
            return b.chain({src, srcCaps, convert, scale, rate, caps});
        }
        case SourceKind::Rtsp:
            break;
    }
    if (c.source == SourceKind::Rtsp) {
        // transcode = true: decode the camera's stream so it can be masked.
        GstElement* parsed = buildRtspSource(b, c, ctx);
        GstElement* decode = b.add("avdec_h264", "decode");
        GstElement* convert = b.add("videoconvert", "convert");
        return b.chain({parsed, decode, convert});
    }
    b.fail("internal error: not a raw source");
    return nullptr;
}

/// RTSP: H.264 passthrough, returns the parser (encoded, not yet avc-capped).
GstElement* buildRtspSource(Builder& b, const CameraConfig& c, ThreadContext* ctx) {
    GstElement* src = b.add("rtspsrc", "source");
    GstElement* depay = b.add("rtph264depay", "depay");
    if (!b.ok())
        return nullptr;
    g_object_set(src, "location", c.url.c_str(), "latency", 200u, nullptr);
    if (c.rtspTransport == "tcp")
        set(src, "protocols", "tcp");
    else if (c.rtspTransport == "udp")
        set(src, "protocols", "udp");
    // Audio stays off unless the owner turns it on: only the video stream is set up.
    g_signal_connect(src, "select-stream",
                     G_CALLBACK(+[](GstElement*, guint, GstCaps* caps, gpointer) -> gboolean {
                         const GstStructure* s = gst_caps_get_structure(caps, 0);
                         const gchar* media = gst_structure_get_string(s, "media");
                         return media && g_str_equal(media, "video");
                     }),
                     nullptr);
    struct PadContext {
        ThreadContext* ctx;  // borrowed: outlives the pipeline's streaming
        GstElement* depay;   // borrowed: lives in the same bin as the source
    };
    g_signal_connect_data(
        src, "pad-added", G_CALLBACK(+[](GstElement*, GstPad* pad, gpointer data) {
            auto* pc = static_cast<PadContext*>(data);
            GstPtr<GstCaps> caps = GstPtr<GstCaps>::adopt(gst_pad_get_current_caps(pad));
            const GstStructure* s = caps ? gst_caps_get_structure(caps.get(), 0) : nullptr;
            const gchar* enc = s ? gst_structure_get_string(s, "encoding-name") : nullptr;
            if (!enc || !g_str_equal(enc, "H264")) {
                std::string text = std::string("the camera sends ") +
                                   (enc ? enc : "an unknown format") +
                                   " video; only H.264 is supported";
                {
                    std::lock_guard lock(pc->ctx->mutex);
                    if (pc->ctx->firstError.empty())
                        pc->ctx->firstError = text;
                }
                postToLoop(pc->ctx, [text](CameraPipeline::Link& l) {
                    if (l.callbacks.error)
                        l.callbacks.error(text);
                });
                return;
            }
            GstPtr<GstPad> sink =
                GstPtr<GstPad>::adopt(gst_element_get_static_pad(pc->depay, "sink"));
            if (!gst_pad_is_linked(sink.get()))
                gst_pad_link(pad, sink.get());
        }),
        new PadContext{ctx, depay},
        [](gpointer p, GClosure*) { delete static_cast<PadContext*>(p); }, GConnectFlags{});
    GstElement* parse = b.add("h264parse", "rtsp-parse");
    return b.chain({depay, parse});
}

/// How many frames a leaky queue holds before it drops the oldest. Encoded
/// frames are small and a decoder needs them all: 30 (two seconds at 15 fps)
/// ride out a slow consumer without a gap. A raw picture is a whole frame
/// (3 MB at 1080p): a branch that wants only the latest picture (motion,
/// snapshots) keeps 2, else a stalled consumer would hold 30 of them: memory
/// a Pi does not have, and, from a camera with a fixed set of buffers
/// (libcamera, V4L2), buffers the recording needs.
constexpr guint kLeakyEncodedFrames = 30;
constexpr guint kLeakyRawFrames = 2;

GstElement* addQueue(Builder& b, std::string_view name, bool leaky,
                     guint maxFrames = kLeakyEncodedFrames) {
    GstElement* q = b.add("queue", name);
    if (q && leaky) {
        // A slow consumer of this branch loses its own frames, never the recording's.
        set(q, "leaky", "downstream");
        g_object_set(q, "max-size-buffers", maxFrames, "max-size-bytes", 0u, "max-size-time",
                     guint64{0}, nullptr);
    }
    return q;
}

GstElement* addAppSink(Builder& b, std::string_view name) {
    GstElement* sink = b.add("appsink", name);
    if (sink)
        // Never block streaming, never hold a state change: the daemon takes
        // each sample as it comes.
        g_object_set(sink, "sync", FALSE, "async", FALSE, "emit-signals", FALSE, "max-buffers", 0u,
                     nullptr);
    return sink;
}

GstElement* addValve(Builder& b, std::string_view name) {
    GstElement* v = b.add("valve", name);
    if (v)
        g_object_set(v, "drop", TRUE, nullptr);
    return v;
}

bool readEncoded(GstSample* sample, EncodedFrame& f) {
    GstBuffer* buf = gst_sample_get_buffer(sample);
    if (!buf)
        return false;
    f.pts = GST_BUFFER_PTS_IS_VALID(buf) ? static_cast<int64_t>(GST_BUFFER_PTS(buf)) : -1;
    f.dts = GST_BUFFER_DTS_IS_VALID(buf) ? static_cast<int64_t>(GST_BUFFER_DTS(buf)) : -1;
    f.duration =
        GST_BUFFER_DURATION_IS_VALID(buf) ? static_cast<int64_t>(GST_BUFFER_DURATION(buf)) : -1;
    f.keyframe = !GST_BUFFER_FLAG_IS_SET(buf, GST_BUFFER_FLAG_DELTA_UNIT);
    f.wallUs = g_get_real_time();
    f.sample = GstPtr<GstSample>::adopt(sample);
    return true;
}

/// When the frame's picture was taken, on the wall clock: live sources stamp
/// each buffer with the running time of its capture, so the distance from
/// the pipeline's running time now is how long ago that was. \a f.wallUs
/// (now) when it cannot be told.
int64_t captureWallUs(GstElement* sink, const EncodedFrame& f) {
    const GstSegment* segment = gst_sample_get_segment(f.sample.get());
    if (!segment || f.pts < 0 || segment->format != GST_FORMAT_TIME)
        return f.wallUs;
    const GstClockTime captured =
        gst_segment_to_running_time(segment, GST_FORMAT_TIME, static_cast<GstClockTime>(f.pts));
    const GstClockTime now = gst_element_get_current_running_time(sink);
    if (!GST_CLOCK_TIME_IS_VALID(captured) || !GST_CLOCK_TIME_IS_VALID(now) || now < captured)
        return f.wallUs;
    return f.wallUs - static_cast<int64_t>((now - captured) / GST_USECOND);
}

enum class Branch { Recording, Live, Raw, Snapshot };

struct SinkContext {
    ThreadContext* ctx;  // borrowed: the bus owns it and outlives the sinks
    Branch branch;
    GstElement* valve = nullptr;  // Snapshot: closed again after one picture
};

GstFlowReturn onNewSample(GstAppSink* sink, gpointer data) {
    auto* sc = static_cast<SinkContext*>(data);
    GstSample* sample = gst_app_sink_pull_sample(sink);
    if (!sample)
        return GST_FLOW_OK;
    if (sc->branch == Branch::Snapshot) {
        // One picture per request: close the valve before anything else comes.
        g_object_set(sc->valve, "drop", TRUE, nullptr);
        auto jpeg = std::make_shared<std::vector<uint8_t>>();
        if (GstBuffer* buf = gst_sample_get_buffer(sample)) {
            GstMapInfo map;
            if (gst_buffer_map(buf, &map, GST_MAP_READ)) {
                jpeg->assign(map.data, map.data + map.size);
                gst_buffer_unmap(buf, &map);
            }
        }
        gst_sample_unref(sample);
        postToLoop(sc->ctx, [jpeg](CameraPipeline::Link& l) {
            if (l.callbacks.snapshot)
                l.callbacks.snapshot(std::move(*jpeg));
        });
        return GST_FLOW_OK;
    }
    if (sc->branch == Branch::Raw) {
        RawFrame f;
        GstCaps* caps = gst_sample_get_caps(sample);
        GstVideoInfo info;
        if (caps && gst_video_info_from_caps(&info, caps)) {
            f.width = GST_VIDEO_INFO_WIDTH(&info);
            f.height = GST_VIDEO_INFO_HEIGHT(&info);
        }
        GstBuffer* buf = gst_sample_get_buffer(sample);
        f.pts =
            buf && GST_BUFFER_PTS_IS_VALID(buf) ? static_cast<int64_t>(GST_BUFFER_PTS(buf)) : -1;
        f.wallUs = g_get_real_time();
        f.sample = GstPtr<GstSample>::adopt(sample);
        auto shared = std::make_shared<RawFrame>(std::move(f));
        postToLoop(sc->ctx, [shared](CameraPipeline::Link& l) {
            if (l.callbacks.raw)
                l.callbacks.raw(std::move(*shared));
        });
        return GST_FLOW_OK;
    }
    EncodedFrame f;
    if (!readEncoded(sample, f)) {
        gst_sample_unref(sample);
        return GST_FLOW_OK;
    }
    if (sc->branch == Branch::Live)
        f.captureWallUs = captureWallUs(GST_ELEMENT(sink), f);
    auto shared = std::make_shared<EncodedFrame>(std::move(f));
    const bool recording = sc->branch == Branch::Recording;
    postToLoop(sc->ctx, [shared, recording](CameraPipeline::Link& l) {
        auto& cb = recording ? l.callbacks.recording : l.callbacks.live;
        if (cb)
            cb(std::move(*shared));
    });
    return GST_FLOW_OK;
}

void onSinkEos(GstAppSink*, gpointer data) {
    auto* sc = static_cast<SinkContext*>(data);
    if (sc->branch != Branch::Recording)
        return;
    postToLoop(sc->ctx, [](CameraPipeline::Link& l) {
        if (l.callbacks.eos)
            l.callbacks.eos();
    });
}

void connectSink(GstElement* sink, ThreadContext* ctx, Branch branch, GstElement* valve = nullptr) {
    GstAppSinkCallbacks cbs{};
    cbs.eos = onSinkEos;
    cbs.new_sample = onNewSample;
    gst_app_sink_set_callbacks(GST_APP_SINK(sink), &cbs, new SinkContext{ctx, branch, valve},
                               [](gpointer p) { delete static_cast<SinkContext*>(p); });
}

/// "host:port" of an rtsp URL, without user and password, for messages.
std::string rtspAddress(const std::string& url) {
    size_t start = url.find("://");
    start = start == std::string::npos ? 0 : start + 3;
    size_t end = url.find('/', start);
    std::string authority =
        url.substr(start, end == std::string::npos ? std::string::npos : end - start);
    if (size_t at = authority.rfind('@'); at != std::string::npos)
        authority = authority.substr(at + 1);
    if (authority.find(':') == std::string::npos || authority.back() == ']')
        authority += ":554";
    return authority;
}

std::string errorText(GstMessage* msg, const ThreadContext& ctx) {
    GError* err = nullptr;
    gchar* debug = nullptr;
    gst_message_parse_error(msg, &err, &debug);
    std::string text = std::string(GST_OBJECT_NAME(GST_MESSAGE_SRC(msg))) + ": " +
                       (err ? err->message : "unknown error");
    // rtspsrc says "Could not open resource for reading and writing." for
    // everything from a refused connection to a bad path: name the camera.
    if (!ctx.rtspAddress.empty() && err && err->domain == GST_RESOURCE_ERROR)
        text = "cannot reach the camera at " + ctx.rtspAddress + " (" + text +
               "): is it on, and are the address and path right?";
    if (debug) {
        PL_LOG(Pipeline, Debug) << text << " (" << debug << ")";
    }
    g_clear_error(&err);
    g_free(debug);
    return text;
}

GstBusSyncReply busSyncHandler(GstBus*, GstMessage* msg, gpointer data) {
    auto* ctx = static_cast<ThreadContext*>(data);
    ctx->acquire();
    switch (GST_MESSAGE_TYPE(msg)) {
        case GST_MESSAGE_ERROR: {
            std::string text = errorText(msg, *ctx);
            {
                std::lock_guard lock(ctx->mutex);
                if (ctx->firstError.empty())
                    ctx->firstError = text;
            }
            postToLoop(ctx, [text](CameraPipeline::Link& l) {
                if (l.callbacks.error)
                    l.callbacks.error(text);
            });
            break;
        }
        case GST_MESSAGE_WARNING: {
            GError* err = nullptr;
            gst_message_parse_warning(msg, &err, nullptr);
            PL_LOG(Pipeline, Warning)
                << ctx->cameraId << ": " << GST_OBJECT_NAME(GST_MESSAGE_SRC(msg)) << ": "
                << (err ? err->message : "warning");
            g_clear_error(&err);
            break;
        }
        case GST_MESSAGE_LATENCY:
            // An element's latency changed (an RTSP jitterbuffer settling): redistribute it.
            postToLoop(ctx, [](CameraPipeline::Link& l) {
                gst_bin_recalculate_latency(GST_BIN(l.pipeline));
            });
            break;
        default:
            break;
    }
    // Nothing queues on the bus: what matters was handed to the loop above.
    return GST_BUS_DROP;
}

}  // namespace

Expected<std::unique_ptr<CameraPipeline>> CameraPipeline::build(const CameraConfig& camera,
                                                                const PipelineOptions& options,
                                                                Post post, Callbacks callbacks) {
    std::unique_ptr<CameraPipeline> p(new CameraPipeline());
    std::string name = "camera-" + camera.id;
    p->pipeline_ = GstPtr<GstElement>::ref(gst_pipeline_new(name.c_str()));
    p->link_ = std::make_shared<Link>(Link{std::move(callbacks), p->pipeline_.get()});
    GstBin* bin = GST_BIN(p->pipeline_.get());

    auto* ctx = new ThreadContext{std::move(post),
                                  p->link_,
                                  camera.id,
                                  camera.source == SourceKind::Rtsp ? rtspAddress(camera.url) : "",
                                  {},
                                  {}};
    ctx->publish();
    p->context_ = ctx;
    GstPtr<GstBus> bus = GstPtr<GstBus>::adopt(gst_element_get_bus(p->pipeline_.get()));
    gst_bus_set_sync_handler(bus.get(), busSyncHandler, ctx, deleteContext);

    Builder b(bin);
    GstElement* encodedTail = nullptr;
    GstElement* rawTee = nullptr;
    if (camera.source == SourceKind::Rtsp && !camera.transcode) {
        encodedTail = buildRtspSource(b, camera, ctx);
        p->description_ = "rtspsrc ! rtph264depay ! h264parse (passthrough)";
    } else {
        GstElement* rawTail = buildRawSource(b, camera, options, ctx);
        if (!camera.masks.empty()) {
            // Burned in before anything can see the picture: recording, live
            // view, snapshots and motion all get the masked frames.
            std::vector<MaskPolygon> polygons;
            for (const auto& m : camera.masks)
                polygons.push_back(m.points);
            GstElement* mask = b.add("plmask", "mask");
            if (mask) {
                const std::string text = formatMaskPolygons(polygons);
                g_object_set(mask, "polygons", text.c_str(), nullptr);
                rawTail = b.chain({rawTail, mask});
            }
        }
        rawTee = b.add("tee", "raw-tee");
        GstElement* q = addQueue(b, "encode-queue", false);
        GstElement* enc = b.chain({rawTail, rawTee, q}) ? addEncoder(b, camera) : nullptr;
        GstElement* parse = b.add("h264parse", "parse");
        encodedTail = b.chain({q, enc, parse});
        if (b.ok()) {
            GstPtr<GstElement> encoder =
                GstPtr<GstElement>::adopt(gst_bin_get_by_name(bin, "encoder"));
            p->description_ = std::string(sourceKindName(camera.source)) + " ! " +
                              GST_OBJECT_NAME(gst_element_get_factory(encoder.get())) +
                              " ! h264parse";
        }
    }

    // Encoded tee: recording (never leaky) and live (leaky, valve closed).
    GstElement* encTee = b.add("tee", "encoded-tee");
    b.link(encodedTail, encTee, encodedCaps());
    GstElement* recSink = addAppSink(b, "recording-sink");
    b.chain({encTee, addQueue(b, "recording-queue", false), recSink});
    p->liveValve_ = addValve(b, "live-valve");
    GstElement* liveSink = addAppSink(b, "live-sink");
    b.chain({encTee, addQueue(b, "live-queue", true), p->liveValve_, liveSink});

    GstElement* rawSink = nullptr;
    if (options.rawBranch) {
        GstElement* rawFrom = rawTee;
        // From RTSP this queue holds encoded frames (the decoder comes after it).
        GstElement* q =
            addQueue(b, "raw-queue", true, rawFrom ? kLeakyRawFrames : kLeakyEncodedFrames);
        p->rawValve_ = addValve(b, "raw-valve");
        if (!rawFrom) {
            // RTSP: the only raw picture is the decoded one; snapshots share it.
            GstElement* dec = b.add("avdec_h264", "raw-decode");
            rawTee = b.add("tee", "decoded-tee");
            b.chain({encTee, q, p->rawValve_, dec, rawTee});
            rawFrom = rawTee;
        } else {
            b.chain({rawFrom, q, p->rawValve_});
            rawFrom = p->rawValve_;
        }
        GstElement* rate = b.add("videorate", "raw-rate");
        GstElement* scale = b.add("videoscale", "raw-scale");
        GstElement* convert = b.add("videoconvert", "raw-convert");
        GstElement* caps = b.add("capsfilter", "raw-caps");
        rawSink = addAppSink(b, "raw-sink");
        if (rate)
            g_object_set(rate, "drop-only", TRUE, nullptr);
        if (caps) {
            GstPtr<GstCaps> rc = GstPtr<GstCaps>::adopt(gst_caps_new_simple(
                "video/x-raw", "format", G_TYPE_STRING, "GRAY8", "width", G_TYPE_INT,
                options.rawWidth, "framerate", GST_TYPE_FRACTION, options.rawFramerate, 1,
                "pixel-aspect-ratio", GST_TYPE_FRACTION, 1, 1, nullptr));
            g_object_set(caps, "caps", rc.get(), nullptr);
        }
        b.chain({rawFrom, rate, scale, convert, caps, rawSink});
    }

    GstElement* snapshotSink = nullptr;
    if (rawTee) {
        p->snapshotValve_ = addValve(b, "snapshot-valve");
        GstElement* convert = b.add("videoconvert", "snapshot-convert");
        GstElement* scale = b.add("videoscale", "snapshot-scale");
        GstElement* caps = b.add("capsfilter", "snapshot-caps");
        GstElement* jpeg = b.add("jpegenc", "snapshot-jpeg");
        snapshotSink = addAppSink(b, "snapshot-sink");
        if (caps) {
            // 640 wide is enough to recognise a visitor on the timeline.
            GstPtr<GstCaps> sc = GstPtr<GstCaps>::adopt(
                gst_caps_new_simple("video/x-raw", "width", G_TYPE_INT, 640, "pixel-aspect-ratio",
                                    GST_TYPE_FRACTION, 1, 1, nullptr));
            g_object_set(caps, "caps", sc.get(), nullptr);
        }
        if (jpeg)
            g_object_set(jpeg, "quality", 85, nullptr);
        b.chain({rawTee, addQueue(b, "snapshot-queue", true, kLeakyRawFrames), p->snapshotValve_,
                 convert, scale, caps, jpeg, snapshotSink});
    }

    if (!b.ok())
        return makeError(b.error());

    connectSink(recSink, ctx, Branch::Recording);
    if (snapshotSink)
        connectSink(snapshotSink, ctx, Branch::Snapshot, p->snapshotValve_);
    connectSink(liveSink, ctx, Branch::Live);
    if (rawSink)
        connectSink(rawSink, ctx, Branch::Raw);
    return p;
}

CameraPipeline::~CameraPipeline() {
    if (!pipeline_)
        return;
    // NULL stops every streaming thread before anything they use goes away.
    gst_element_set_state(pipeline_.get(), GST_STATE_NULL);
    GstPtr<GstBus> bus = GstPtr<GstBus>::adopt(gst_element_get_bus(pipeline_.get()));
    gst_bus_set_sync_handler(bus.get(), nullptr, nullptr, nullptr);
}

Expected<void> CameraPipeline::play() {
    GstStateChangeReturn r = gst_element_set_state(pipeline_.get(), GST_STATE_PLAYING);
    if (r != GST_STATE_CHANGE_FAILURE)
        return {};
    // The sync handler saw the element's own error before set_state returned.
    auto* ctx = static_cast<ThreadContext*>(context_);
    std::lock_guard lock(ctx->mutex);
    return makeError(ctx->firstError.empty() ? "the pipeline refused to start" : ctx->firstError);
}

void CameraPipeline::sendEos() {
    gst_element_send_event(pipeline_.get(), gst_event_new_eos());
}

void CameraPipeline::setLiveEnabled(bool enabled) {
    if (liveValve_)
        g_object_set(liveValve_, "drop", !enabled, nullptr);
}

void CameraPipeline::requestSnapshot() {
    if (snapshotValve_)
        g_object_set(snapshotValve_, "drop", FALSE, nullptr);
}

void CameraPipeline::setRawEnabled(bool enabled) {
    if (rawValve_)
        g_object_set(rawValve_, "drop", !enabled, nullptr);
}

}  // namespace porchlight
