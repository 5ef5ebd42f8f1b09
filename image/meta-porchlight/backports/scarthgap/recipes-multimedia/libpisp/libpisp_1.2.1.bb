SUMMARY = "Configuration helper for the Raspberry Pi 5 image signal processor (PiSP)"
DESCRIPTION = "libcamera's rpi/pisp pipeline (Raspberry Pi 5 cameras) needs it. \
meta-raspberrypi has it from walnascar on; this is the release libcamera \
0.5.2 names (subprojects/libpisp.wrap), for scarthgap."
HOMEPAGE = "https://github.com/raspberrypi/libpisp"
LICENSE = "BSD-2-Clause & GPL-2.0-only & GPL-2.0-or-later"
LIC_FILES_CHKSUM = "file://LICENSE;md5=3417a46e992fdf62e5759fba9baef7a7 \
                    file://LICENSES/GPL-2.0-only.txt;md5=b234ee4d69f5fce4486a80fdaf4a4263 \
                    file://LICENSES/GPL-2.0-or-later.txt;md5=fed54355545ffd980b814dab4a3b312c"

SRC_URI = "git://github.com/raspberrypi/libpisp.git;protocol=https;branch=main"
# v1.2.1
SRCREV = "981977ff21f32c8a97d2a0ecbdff3e39d42ccce3"
S = "${WORKDIR}/git"

DEPENDS = "nlohmann-json"

inherit meson pkgconfig

# Logging through Boost.Log is optional; libcamera does not need it.
EXTRA_OEMESON = "-Dlogging=disabled -Dexamples=false"
