// Owning pointers for GStreamer objects.
//
// Every wrapped object says how it got here: adopt() takes over a reference
// the caller already owns (the return of a *_get_* or *_new call), ref() takes
// a new one. Floating references are sunk on ref(), so a GstPtr never holds a
// reference somebody else may silently claim.
#pragma once

#include <gst/gst.h>

#include <utility>

namespace porchlight {

template <typename T>
struct GstTraits;

#define PL_GST_OBJECT_TRAITS(Type)                                                       \
    template <>                                                                          \
    struct GstTraits<Type> {                                                             \
        static void unref(Type* p) { gst_object_unref(p); }                              \
        static Type* ref(Type* p) { return static_cast<Type*>(gst_object_ref_sink(p)); } \
    };
PL_GST_OBJECT_TRAITS(GstElement)
PL_GST_OBJECT_TRAITS(GstBus)
PL_GST_OBJECT_TRAITS(GstPad)
#undef PL_GST_OBJECT_TRAITS

#define PL_GST_MINI_TRAITS(Type, unrefFn, refFn)       \
    template <>                                        \
    struct GstTraits<Type> {                           \
        static void unref(Type* p) { unrefFn(p); }     \
        static Type* ref(Type* p) { return refFn(p); } \
    };
PL_GST_MINI_TRAITS(GstCaps, gst_caps_unref, gst_caps_ref)
PL_GST_MINI_TRAITS(GstSample, gst_sample_unref, gst_sample_ref)
PL_GST_MINI_TRAITS(GstBuffer, gst_buffer_unref, gst_buffer_ref)
PL_GST_MINI_TRAITS(GstMessage, gst_message_unref, gst_message_ref)
#undef PL_GST_MINI_TRAITS

template <typename T>
class GstPtr {
public:
    GstPtr() = default;
    static GstPtr adopt(T* p) { return GstPtr(p); }
    static GstPtr ref(T* p) { return GstPtr(p ? GstTraits<T>::ref(p) : nullptr); }

    GstPtr(const GstPtr& o) : p_(o.p_ ? GstTraits<T>::ref(o.p_) : nullptr) {}
    GstPtr(GstPtr&& o) noexcept : p_(std::exchange(o.p_, nullptr)) {}
    GstPtr& operator=(GstPtr o) noexcept {
        std::swap(p_, o.p_);
        return *this;
    }
    ~GstPtr() { reset(); }

    void reset() {
        if (p_)
            GstTraits<T>::unref(std::exchange(p_, nullptr));
    }
    T* get() const { return p_; }
    T* release() { return std::exchange(p_, nullptr); }
    explicit operator bool() const { return p_ != nullptr; }

private:
    explicit GstPtr(T* p) : p_(p) {}
    T* p_ = nullptr;
};

}  // namespace porchlight
