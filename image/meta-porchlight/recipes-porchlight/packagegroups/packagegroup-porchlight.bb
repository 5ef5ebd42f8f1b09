SUMMARY = "Porchlight and what it needs on a Raspberry Pi"
# MACHINE_EXTRA_RRECOMMENDS (the Wi-Fi and Bluetooth firmware of each board)
# makes this machine-specific.
PACKAGE_ARCH = "${MACHINE_ARCH}"

inherit packagegroup

RDEPENDS:${PN} = " \
    porchlight \
    porchlight-appliance \
    avahi-daemon \
    packagegroup-base-wifi \
"
# kernel-modules: the camera sensors (imx219, imx477, imx708, ov5647), the
# receivers (unicam; rp1-cfe and the PiSP back end on the Pi 5), the ISP and
# the H.264 encoder (bcm2835-isp, bcm2835-codec on the Pi 4 and Zero 2 W),
# USB cameras (uvcvideo), and the Wi-Fi drivers. Recommended rather than
# required, as meta-raspberrypi does, because a kernel may build them in.
RRECOMMENDS:${PN} = " \
    kernel-modules \
    ${MACHINE_EXTRA_RRECOMMENDS} \
"
