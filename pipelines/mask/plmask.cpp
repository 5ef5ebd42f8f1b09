// The `plmask` element (GstPlMask, a GstVideoFilter): privacy masks burned in
// as black before encoding; see plmask.h.
//
// Threads: `polygons` may be set from any thread. The new value is parsed
// there, then handed over under the object lock and picked up by the
// streaming thread in before_transform(), which alone owns the rasterized
// spans and decides passthrough. Deciding passthrough on the streaming thread
// means two racing property changes can never leave the element passing
// frames through while masks are set.
//
// Cost: after a change of masks or caps, the first frame rasterizes the
// polygons once (rows x edges); every frame then only fills the precomputed
// spans, one memset per span and plane.
#include "plmask.h"

#include <gst/base/gstbasetransform.h>
#include <gst/gst.h>
#include <gst/video/gstvideofilter.h>
#include <gst/video/video.h>

#include <array>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "mask_polygons.h"

GST_DEBUG_CATEGORY_STATIC(plMaskDebug);
#define GST_CAT_DEFAULT plMaskDebug

namespace {

using porchlight::MaskPolygon;
using porchlight::MaskRaster;

// Our own log domain, so that a refused mask is attributable (and so tests can
// catch the warning without silencing anyone else's).
constexpr const char* kLogDomain = "plmask";

enum { PROP_0, PROP_POLYGONS };

// How one plane of the negotiated format is blacked out: the bytes of one
// black sample in that plane (all of its components, e.g. U and V for NV12's
// interleaved chroma) and which samples are covered.
struct PlaneFill {
    int plane = 0;
    int pixelStride = 1;
    std::array<guint8, 4> pattern{0xff, 0xff, 0xff, 0xff};
    bool uniform = true;  // all pattern bytes equal: a plain memset will do
    MaskRaster raster;
};

struct State {
    // Guarded by the object lock.
    std::string text;
    std::vector<MaskPolygon> pending;
    bool changed = true;

    // Streaming thread only.
    std::vector<MaskPolygon> polygons;
    bool stale = true;
    int builtWidth = 0;
    int builtHeight = 0;
    std::vector<PlaneFill> fills;
};

}  // namespace

struct GstPlMask {
    GstVideoFilter parent;
    State* state;  // owned; C++ members cannot live in a GObject instance directly
};

struct GstPlMaskClass {
    GstVideoFilterClass parentClass;
};

namespace {

gpointer parentClass = nullptr;

GstPlMask* plMask(gpointer instance) {
    return reinterpret_cast<GstPlMask*>(instance);
}

// Only formats where every component is 8 bits, and all components sharing a
// plane are sampled alike, so a plane's black sample is a fixed byte pattern.
GstStaticPadTemplate sinkTemplate = GST_STATIC_PAD_TEMPLATE(
    "sink", GST_PAD_SINK, GST_PAD_ALWAYS,
    GST_STATIC_CAPS(GST_VIDEO_CAPS_MAKE("{ I420, YV12, NV12, NV21, Y42B, Y444, GRAY8, RGB, BGR, "
                                        "RGBx, BGRx, xRGB, xBGR, RGBA, BGRA, ARGB, ABGR }")));
GstStaticPadTemplate srcTemplate = GST_STATIC_PAD_TEMPLATE(
    "src", GST_PAD_SRC, GST_PAD_ALWAYS,
    GST_STATIC_CAPS(GST_VIDEO_CAPS_MAKE("{ I420, YV12, NV12, NV21, Y42B, Y444, GRAY8, RGB, BGR, "
                                        "RGBx, BGRx, xRGB, xBGR, RGBA, BGRA, ARGB, ABGR }")));

// Black as the format and its colour range define it: limited range puts
// black at 16, full range at 0; chroma is neutral at 128; alpha is opaque so
// the mask cannot be made see-through by a later compositor.
guint8 blackValue(const GstVideoFormatInfo* f, guint component, bool limitedRange) {
    const guint8 black = limitedRange ? 16 : 0;
    if (GST_VIDEO_FORMAT_INFO_HAS_ALPHA(f) && component == GST_VIDEO_COMP_A)
        return 255;
    if (GST_VIDEO_FORMAT_INFO_IS_YUV(f))
        return component == GST_VIDEO_COMP_Y ? black : 128;
    return black;  // RGB and GRAY
}

// Rebuilds the per-plane fills for \a info. False for a layout that the
// pattern-per-plane scheme cannot express (the caps template keeps those out).
bool buildFills(State& s, const GstVideoInfo& info) {
    s.fills.clear();
    const GstVideoFormatInfo* f = info.finfo;
    const int width = GST_VIDEO_INFO_WIDTH(&info);
    const int height = GST_VIDEO_INFO_HEIGHT(&info);
    const bool limited = info.colorimetry.range == GST_VIDEO_COLOR_RANGE_16_235;
    const MaskRaster full = porchlight::rasterizeMask(s.polygons, width, height);

    for (guint p = 0; p < GST_VIDEO_FORMAT_INFO_N_PLANES(f); ++p) {
        PlaneFill fill;
        fill.plane = static_cast<int>(p);
        int wSub = -1;
        int hSub = -1;
        int stride = -1;
        for (guint c = 0; c < GST_VIDEO_FORMAT_INFO_N_COMPONENTS(f); ++c) {
            if (GST_VIDEO_FORMAT_INFO_PLANE(f, c) != p)
                continue;
            const int pstride = GST_VIDEO_FORMAT_INFO_PSTRIDE(f, c);
            const int poffset = GST_VIDEO_FORMAT_INFO_POFFSET(f, c);
            const int w = GST_VIDEO_FORMAT_INFO_W_SUB(f, c);
            const int h = GST_VIDEO_FORMAT_INFO_H_SUB(f, c);
            if (GST_VIDEO_FORMAT_INFO_DEPTH(f, c) != 8 || GST_VIDEO_FORMAT_INFO_SHIFT(f, c) != 0 ||
                pstride < 1 || pstride > static_cast<int>(fill.pattern.size()) || poffset < 0 ||
                poffset >= pstride ||
                (stride >= 0 && (pstride != stride || w != wSub || h != hSub)))
                return false;
            stride = pstride;
            wSub = w;
            hSub = h;
            fill.pattern[static_cast<std::size_t>(poffset)] = blackValue(f, c, limited);
        }
        if (stride < 0)
            return false;
        fill.pixelStride = stride;
        for (int i = 1; i < stride; ++i)
            fill.uniform =
                fill.uniform && fill.pattern[static_cast<std::size_t>(i)] == fill.pattern[0];
        fill.raster = porchlight::subsampleMask(full, wSub, hSub);
        s.fills.push_back(std::move(fill));
    }
    s.builtWidth = width;
    s.builtHeight = height;
    s.stale = false;
    return true;
}

void burn(const PlaneFill& fill, GstVideoFrame* frame) {
    auto* data = static_cast<guint8*>(GST_VIDEO_FRAME_PLANE_DATA(frame, fill.plane));
    const std::ptrdiff_t stride = GST_VIDEO_FRAME_PLANE_STRIDE(frame, fill.plane);
    const std::size_t ps = static_cast<std::size_t>(fill.pixelStride);
    for (int y = 0; y < fill.raster.height(); ++y) {
        guint8* line = data + y * stride;
        for (const porchlight::MaskSpan& span : fill.raster.row(y)) {
            guint8* p = line + static_cast<std::size_t>(span.begin) * ps;
            const std::size_t n = static_cast<std::size_t>(span.end - span.begin);
            if (fill.uniform) {
                std::memset(p, fill.pattern[0], n * ps);
            } else {
                for (std::size_t i = 0; i < n; ++i, p += ps)
                    std::memcpy(p, fill.pattern.data(), ps);
            }
        }
    }
}

void setProperty(GObject* object, guint id, const GValue* value, GParamSpec* pspec) {
    GstPlMask* self = plMask(object);
    switch (id) {
        case PROP_POLYGONS: {
            const gchar* text = g_value_get_string(value);
            auto parsed = porchlight::parseMaskPolygons(text ? text : "");
            if (!parsed) {
                // Keeping the old masks fails safe: a typo must never unmask.
                g_log(kLogDomain, G_LOG_LEVEL_WARNING,
                      "%s: refusing polygons \"%s\", the previous masks stay in force: %s",
                      GST_STR_NULL(GST_OBJECT_NAME(self)), text ? text : "",
                      parsed.error().message.c_str());
                return;
            }
            GST_DEBUG_OBJECT(self, "polygons: \"%s\" (%zu)", text ? text : "", parsed->size());
            GST_OBJECT_LOCK(self);
            self->state->text = text ? text : "";
            self->state->pending = std::move(*parsed);
            self->state->changed = true;
            GST_OBJECT_UNLOCK(self);
            break;
        }
        default:
            G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, pspec);
            break;
    }
}

void getProperty(GObject* object, guint id, GValue* value, GParamSpec* pspec) {
    GstPlMask* self = plMask(object);
    switch (id) {
        case PROP_POLYGONS:
            GST_OBJECT_LOCK(self);
            g_value_set_string(value, self->state->text.c_str());
            GST_OBJECT_UNLOCK(self);
            break;
        default:
            G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, pspec);
            break;
    }
}

void finalize(GObject* object) {
    delete plMask(object)->state;
    G_OBJECT_CLASS(parentClass)->finalize(object);
}

// Runs on the streaming thread before each buffer, passthrough or not, so it
// is where new masks take over: from this very buffer on.
void beforeTransform(GstBaseTransform* trans, GstBuffer* buffer) {
    if (auto* parent = GST_BASE_TRANSFORM_CLASS(parentClass); parent->before_transform)
        parent->before_transform(trans, buffer);

    GstPlMask* self = plMask(trans);
    State& s = *self->state;
    GST_OBJECT_LOCK(self);
    const bool changed = std::exchange(s.changed, false);
    if (changed)
        s.polygons = std::move(s.pending);
    s.pending.clear();
    GST_OBJECT_UNLOCK(self);

    if (changed) {
        s.stale = true;
        gst_base_transform_set_passthrough(trans, s.polygons.empty());
    }
}

gboolean setInfo(GstVideoFilter* filter, GstCaps*, GstVideoInfo*, GstCaps*, GstVideoInfo*) {
    plMask(filter)->state->stale = true;
    return TRUE;
}

GstFlowReturn transformFrameIp(GstVideoFilter* filter, GstVideoFrame* frame) {
    State& s = *plMask(filter)->state;
    if (s.stale || s.builtWidth != GST_VIDEO_FRAME_WIDTH(frame) ||
        s.builtHeight != GST_VIDEO_FRAME_HEIGHT(frame)) {
        if (!buildFills(s, frame->info)) {
            // Never let an unmasked frame through.
            GST_ELEMENT_ERROR(
                filter, STREAM, FORMAT,
                ("Cannot apply privacy masks to %s video.",
                 GST_STR_NULL(gst_video_format_to_string(GST_VIDEO_FRAME_FORMAT(frame)))),
                (nullptr));
            return GST_FLOW_NOT_NEGOTIATED;
        }
        GST_DEBUG_OBJECT(filter, "masks rasterized for %dx%d: %zu pixels covered", s.builtWidth,
                         s.builtHeight,
                         s.fills.empty() ? std::size_t{0} : s.fills[0].raster.area());
    }
    for (const PlaneFill& fill : s.fills)
        burn(fill, frame);
    return GST_FLOW_OK;
}

void classInit(gpointer klass, gpointer) {
    parentClass = g_type_class_peek_parent(klass);

    GObjectClass* objectClass = G_OBJECT_CLASS(klass);
    objectClass->set_property = setProperty;
    objectClass->get_property = getProperty;
    objectClass->finalize = finalize;

    g_object_class_install_property(
        objectClass, PROP_POLYGONS,
        g_param_spec_string(
            "polygons", "Polygons",
            "Privacy masks burned in as black: polygons separated by ';', each of at least "
            "3 space-separated x,y corners in picture fractions 0..1 (0,0 top left), e.g. "
            "\"0.1,0.1 0.5,0.1 0.5,0.4; 0.6,0.6 0.9,0.6 0.9,0.9 0.6,0.9\". Empty: no masks. "
            "A pixel is masked when its centre is inside (even-odd rule). An invalid value "
            "is refused with a warning and the previous masks stay.",
            "",
            static_cast<GParamFlags>(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
                                     GST_PARAM_MUTABLE_PLAYING)));

    GstElementClass* elementClass = GST_ELEMENT_CLASS(klass);
    gst_element_class_set_static_metadata(
        elementClass, "Porchlight privacy mask", "Filter/Effect/Video",
        "Burns privacy mask polygons into raw video as solid black, before encoding",
        "Porchlight <https://porchlight.invalid>");
    gst_element_class_add_static_pad_template(elementClass, &sinkTemplate);
    gst_element_class_add_static_pad_template(elementClass, &srcTemplate);

    GST_BASE_TRANSFORM_CLASS(klass)->before_transform = beforeTransform;

    GstVideoFilterClass* filterClass = GST_VIDEO_FILTER_CLASS(klass);
    filterClass->set_info = setInfo;
    filterClass->transform_frame_ip = transformFrameIp;
}

void instanceInit(GTypeInstance* instance, gpointer) {
    GstPlMask* self = plMask(instance);
    self->state = new State;
    auto* trans = GST_BASE_TRANSFORM(instance);
    // GstVideoFilter offers both transform vfuncs; we only write in place.
    gst_base_transform_set_in_place(trans, TRUE);
    // No masks yet; before_transform() revises this before the first buffer.
    gst_base_transform_set_passthrough(trans, TRUE);
    // GstVideoFilter turns QoS on, which drops late frames; in a recorder a
    // silent gap costs more than the few memsets it would save.
    gst_base_transform_set_qos_enabled(trans, FALSE);
}

}  // namespace

GType gst_pl_mask_get_type(void) {
    static gsize type = 0;
    if (g_once_init_enter(&type)) {
        GST_DEBUG_CATEGORY_INIT(plMaskDebug, "plmask", 0, "Porchlight privacy mask");
        // The daemon links this code statically and libgstporchlight.so
        // carries its own copy; if both end up in one process, the second
        // reuses the first one's (identical) type instead of failing to
        // register the name again.
        GType t = g_type_from_name("GstPlMask");
        if (t == 0 || !g_type_is_a(t, GST_TYPE_VIDEO_FILTER))
            t = g_type_register_static_simple(
                GST_TYPE_VIDEO_FILTER, g_intern_static_string("GstPlMask"), sizeof(GstPlMaskClass),
                classInit, sizeof(GstPlMask), instanceInit, static_cast<GTypeFlags>(0));
        g_once_init_leave(&type, t);
    }
    return type;
}

namespace porchlight {

bool porchlightRegisterElements() {
    return gst_element_register(nullptr, "plmask", GST_RANK_NONE, GST_TYPE_PL_MASK);
}

}  // namespace porchlight
