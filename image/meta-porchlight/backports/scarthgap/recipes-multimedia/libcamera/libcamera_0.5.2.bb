SUMMARY = "libcamera: the Linux camera stack"
DESCRIPTION = "libcamera 0.5.2 for scarthgap, whose meta-multimedia has \
0.4.0: 0.4.0 has no pipeline for the Raspberry Pi 5's camera interface and \
ISP (rpi/pisp, first released in 0.5.0). Follows meta-multimedia's own \
recipe for 0.5.2 (walnascar)."
HOMEPAGE = "https://libcamera.org/"
SECTION = "libs"
LICENSE = "GPL-2.0-or-later & LGPL-2.1-or-later"
LIC_FILES_CHKSUM = " \
    file://LICENSES/GPL-2.0-or-later.txt;md5=fed54355545ffd980b814dab4a3b312c \
    file://LICENSES/LGPL-2.1-or-later.txt;md5=2a4f4fd2128ea2f65047ee63fbca9f68 \
"

SRC_URI = "git://git.libcamera.org/libcamera/libcamera.git;protocol=https;branch=master"
# v0.5.2 (the commit; the annotated tag object is 096c50ca)
SRCREV = "aa0a91c48ddb38c302390d5c4899cb9e093ddd24"
# meta-multimedia's recipe has PE = "1"; keep it so that versions compare.
PE = "1"
S = "${WORKDIR}/git"

DEPENDS = "python3-pyyaml-native python3-jinja2-native python3-ply-native \
           udev gnutls chrpath-native libevent libyaml"

PACKAGES =+ "${PN}-gst ${PN}-pycamera"

PACKAGECONFIG ??= ""
PACKAGECONFIG[gst] = "-Dgstreamer=enabled,-Dgstreamer=disabled,gstreamer1.0 gstreamer1.0-plugins-base"
PACKAGECONFIG[pycamera] = "-Dpycamera=enabled,-Dpycamera=disabled,python3 python3-pybind11"

LIBCAMERA_PIPELINES ??= "auto"

EXTRA_OEMESON = " \
    -Dpipelines=${LIBCAMERA_PIPELINES} \
    -Dv4l2=enabled \
    -Dcam=enabled \
    -Dlc-compliance=disabled \
    -Dtest=false \
    -Ddocumentation=disabled \
"

inherit meson pkgconfig python3native

# meta-raspberrypi (scarthgap) appends PACKAGECONFIG "raspberrypi" with
# -Dpipelines=rpi/vc4 -Dipas=rpi/vc4: the Pi 4 and Zero 2 W only. These come
# after it on the meson command line (meson takes the last), and add the
# Pi 5's pipeline and the library it needs.
EXTRA_OEMESON:append:rpi = " -Dpipelines=rpi/vc4,rpi/pisp -Dipas=rpi/vc4,rpi/pisp"
DEPENDS:append:rpi = " libpisp"

do_configure:prepend() {
    # py_compile=True writes .pyc files next to the mojom templates, with
    # build paths in them.
    sed -i -e 's|py_compile=True,||' ${S}/utils/codegen/ipc/mojo/public/tools/mojom/mojom/generate/template_expander.py
}

do_install:append() {
    chrpath -d ${D}${libdir}/libcamera.so
    chrpath -d ${D}${libexecdir}/libcamera/v4l2-compat.so
}

# The IPA modules are signed at build time; stripping them in do_package
# invalidates the signatures, so sign them again afterwards.
do_package:append() {
    bb.build.exec_func("do_package_recalculate_ipa_signatures", d)
}

do_package_recalculate_ipa_signatures() {
    local modules
    for module in $(find ${PKGD}/usr/lib/libcamera -name "*.so.sign"); do
        module="${module%.sign}"
        if [ -f "${module}" ] ; then
            modules="${modules} ${module}"
        fi
    done
    ${S}/src/ipa/ipa-sign-install.sh ${B}/src/ipa-priv-key.pem "${modules}"
}

FILES:${PN} += "${libexecdir}/libcamera/v4l2-compat.so"
FILES:${PN}-gst = "${libdir}/gstreamer-1.0"
FILES:${PN}-pycamera = "${PYTHON_SITEPACKAGES_DIR}/libcamera"

# The V4L2 compatibility layer sets _FILE_OFFSET_BITS=32 on purpose, to reach
# both the 32- and 64-bit file APIs.
GLIBC_64BIT_TIME_FLAGS = ""
INSANE_SKIP:${PN} += "32bit-time"
