SUMMARY = "Porchlight: a privacy-first recorder for doorbell cameras"
DESCRIPTION = "porchlightd records doorbell and IP cameras encrypted to the \
owner's public key, keeps every frame in the house and answers to its owner \
alone: a system service with a D-Bus API, a web UI on the home network, \
porchlightctl and the offline tool porchlight-vault."
SECTION = "multimedia"
LICENSE = "GPL-3.0-or-later"
LIC_FILES_CHKSUM = "file://LICENSE;md5=1ebbd3e34237af26da5dc08a4e440464"

# The source is the git repository this layer lives in (the layer is
# image/meta-porchlight of the Porchlight tree), at the head of
# PORCHLIGHT_BRANCH: what is committed there, not what is only in the work
# tree. Pin a release with PORCHLIGHT_SRCREV = "<commit>" (kas: local_conf_header),
# build another clone with PORCHLIGHT_GIT_DIR, or build uncommitted changes
# with externalsrc:
#   INHERIT += "externalsrc"
#   EXTERNALSRC:pn-porchlight = "/path/to/porchlight"
# (docs/guide/install.md has the kas form of each.)
PORCHLIGHT_GIT_DIR ??= "${@os.path.normpath(d.getVar('PORCHLIGHT_LAYERDIR') + '/../..')}"
PORCHLIGHT_BRANCH ??= "main"
PORCHLIGHT_SRCREV ??= "${AUTOREV}"
SRC_URI = "git://${PORCHLIGHT_GIT_DIR};protocol=file;branch=${PORCHLIGHT_BRANCH} \
           file://run-ptest \
           file://porchlight-ptest-install.py \
"
SRCREV = "${PORCHLIGHT_SRCREV}"
PV = "0.1.0+git"

# scarthgap unpacks into WORKDIR; later series into UNPACKDIR.
UNPACKDIR ??= "${WORKDIR}"
S = "${UNPACKDIR}/git"

inherit meson pkgconfig systemd useradd ptest

# One line per dependency() of meson.build (tests/image/check_layer.py holds
# the mapping and fails when a new one has no line here):
#   gstreamer-1.0                                -> gstreamer1.0
#   gstreamer-app-1.0, gstreamer-video-1.0       -> gstreamer1.0-plugins-base
#   tomlplusplus                                 -> tomlplusplus
#   boost (header-only: Asio, Beast)             -> boost
#   libcamera                                    -> libcamera
#   libsodium                                    -> libsodium
#   sqlite3                                      -> sqlite3
#   nlohmann_json                                -> nlohmann-json
#   openssl                                      -> openssl
#   libsystemd                                   -> systemd
#   libxxhash (segment checksums, XXH3: >= 0.8)  -> xxhash (meta-oe)
# and, only when the tests are built (ptest):
#   gtest, gmock                                 -> googletest
#   gstreamer-rtsp-server-1.0 (a test camera)    -> gstreamer1.0-rtsp-server
# benchmark (Google Benchmark) is not needed: the benchmarks are off.
DEPENDS = " \
    gstreamer1.0 \
    gstreamer1.0-plugins-base \
    tomlplusplus \
    boost \
    libcamera \
    libsodium \
    sqlite3 \
    nlohmann-json \
    openssl \
    systemd \
    xxhash \
    ${@bb.utils.contains('PTEST_ENABLED', '1', 'googletest gstreamer1.0-rtsp-server', '', d)} \
"

# -Dsource_www=false: the web UI always comes from /usr/share/porchlight/www,
#   and no build path is compiled into porchlightd (Yocto's buildpaths check).
# -Dwerror=false: CI builds warning-free with Debian's compiler; a distribution
#   build must not break on a new warning of another compiler.
EXTRA_OEMESON = " \
    -Dlibcamera=enabled \
    -Dbenchmarks=false \
    -Dsource_www=false \
    -Dtests=${@bb.utils.contains('PTEST_ENABLED', '1', 'true', 'false', d)} \
    -Dwerror=false \
"

# The service user, created at build time so that the image's /etc/passwd
# has it before anything runs, the same as systemd/porchlight.sysusers
# (installed as /usr/lib/sysusers.d/porchlight.conf) describes it: a system
# group porchlight, a system user porchlight in it, home /var/lib/porchlight
# (the state directory, created by systemd, so not by useradd), no login
# shell, member of video for the cameras and of gpio for the doorbell
# (systemd/70-porchlight-gpio.rules gives /dev/gpiochip* to group gpio). On a writable rootfs
# systemd-sysusers would create the same at first boot; doing it here keeps
# a read-only rootfs working and lets oe-core's systemd_sysusers_check
# compare the two at image time. tests/image/check_layer.py checks that these
# lines and the sysusers file agree.
USERADD_PACKAGES = "${PN}"
GROUPADD_PARAM:${PN} = "--system porchlight; --system gpio"
USERADD_PARAM:${PN} = "--system --gid porchlight --groups video,gpio \
    --home-dir /var/lib/porchlight --no-create-home \
    --shell /sbin/nologin --comment 'Porchlight recorder' porchlight"

SYSTEMD_SERVICE:${PN} = "porchlight.service"
SYSTEMD_AUTO_ENABLE:${PN} = "enable"

do_install_ptest() {
    python3 ${UNPACKDIR}/porchlight-ptest-install.py \
        --build ${B} --source ${S} --forbid ${TMPDIR} --strip "${STRIP}" \
        --dest ${D}${PTEST_PATH} --ptest-path ${PTEST_PATH}
}

FILES:${PN} += " \
    ${libdir}/gstreamer-1.0/libgstporchlight.so \
    ${datadir}/dbus-1 \
    ${nonarch_libdir}/sysusers.d \
    ${nonarch_libdir}/udev/rules.d \
    ${datadir}/bash-completion \
"

# The GStreamer elements porchlightd builds its pipelines from, by the
# package each one is split into (plugin packages are named
# <recipe>-<plugin>); pipelines/elements.cpp has the Debian names.
RDEPENDS:${PN} = " \
    gstreamer1.0-plugins-base-videotestsrc \
    gstreamer1.0-plugins-base-videoconvertscale \
    gstreamer1.0-plugins-base-videorate \
    gstreamer1.0-plugins-base-app \
    gstreamer1.0-plugins-base-playback \
    gstreamer1.0-plugins-base-typefindfunctions \
    gstreamer1.0-plugins-base-pango \
    gstreamer1.0-plugins-good-video4linux2 \
    gstreamer1.0-plugins-good-rtsp \
    gstreamer1.0-plugins-good-rtp \
    gstreamer1.0-plugins-good-rtpmanager \
    gstreamer1.0-plugins-good-udp \
    gstreamer1.0-plugins-good-jpeg \
    gstreamer1.0-plugins-good-isomp4 \
    gstreamer1.0-plugins-bad-videoparsersbad \
    gstreamer1.0-plugins-ugly-x264 \
    gstreamer1.0-libav \
    libcamera-gst \
    dbus \
"
# videotestsrc, videoconvert + videoscale (one plugin since GStreamer 1.22),
# videorate, appsink/appsrc, decodebin (file cameras) and the type finders it
# needs, clockoverlay (the test pattern's clock); v4l2src and v4l2h264enc (the
# Pi 4's and Zero 2 W's hardware encoder), rtspsrc with its RTP, RTP manager
# and UDP plugins, rtph264depay, jpegenc (snapshots), qtdemux (MP4 files);
# h264parse; x264enc (the software encoder: Raspberry Pi 5, USB cameras);
# avdec_h264 (an RTSP camera's stream decoded for masks and motion);
# libcamerasrc. tee, queue, valve, capsfilter, filesrc, identity and
# fakesink are GStreamer's core elements, in gstreamer1.0 itself.

# Found as porchlight.local: the Avahi service file is in this package, the
# daemon that announces it is recommended (porchlight-image installs it). A
# font for the test pattern's clock.
RRECOMMENDS:${PN} = "avahi-daemon ttf-bitstream-vera"

# On the device the tests need what the daemon needs, plus a D-Bus daemon of
# their own (dbus_test starts a private bus).
RDEPENDS:${PN}-ptest += "${PN} dbus"
