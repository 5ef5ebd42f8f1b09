// libgstporchlight.so: the project's elements as a loadable GStreamer plugin,
// so that gst-launch-1.0, gst-inspect-1.0 and other applications can use
// `plmask` outside the daemon (which registers the same code statically).
#include <gst/gst.h>

#include "plmask.h"
#include "porchlight-config.h"

// GST_PLUGIN_DEFINE takes the plugin's source module name from PACKAGE.
#define PACKAGE "porchlight"

namespace {

gboolean pluginInit(GstPlugin* plugin) {
    return gst_element_register(plugin, "plmask", GST_RANK_NONE, GST_TYPE_PL_MASK);
}

}  // namespace

GST_PLUGIN_DEFINE(GST_VERSION_MAJOR, GST_VERSION_MINOR, porchlight,
                  "Porchlight's own elements: privacy masks burned into video", pluginInit,
                  PORCHLIGHT_VERSION, "GPL", "Porchlight", "https://porchlight.invalid")
