# libcamerasrc, the GStreamer element porchlightd records libcamera cameras
# with, is built only with the "gst" PACKAGECONFIG; meta-multimedia's recipe
# leaves PACKAGECONFIG empty. The element is packaged as libcamera-gst.
PACKAGECONFIG:append = " gst"
