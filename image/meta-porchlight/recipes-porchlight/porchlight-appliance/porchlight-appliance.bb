SUMMARY = "What turns a Raspberry Pi into the Porchlight appliance"
DESCRIPTION = "Grows the data partition (/var/lib/porchlight) to the end of \
the card, takes Wi-Fi settings from the boot partition, brings Wi-Fi up \
with DHCP, and shows the first-run setup code on the screen. \
porchlight-image installs it; it is no use on other systems."
LICENSE = "GPL-3.0-or-later"
LIC_FILES_CHKSUM = "file://${COMMON_LICENSE_DIR}/GPL-3.0-or-later;md5=1c76c4cc354acaac30ed4d5eefea7245"

SRC_URI = " \
    file://porchlight-grow-data \
    file://porchlight-grow-data.service \
    file://porchlight-wifi-import \
    file://porchlight-wifi-import.service \
    file://porchlight-setup-code \
    file://porchlight-setup-code.service \
    file://wpa_supplicant-wlan0-porchlight.conf \
    file://80-porchlight-wireless.network \
"

UNPACKDIR ??= "${WORKDIR}"
S = "${UNPACKDIR}"

inherit systemd

SYSTEMD_SERVICE:${PN} = "porchlight-grow-data.service porchlight-wifi-import.service porchlight-setup-code.service"
SYSTEMD_AUTO_ENABLE:${PN} = "enable"

do_install() {
    install -d ${D}${libexecdir}/porchlight
    install -m 0755 ${S}/porchlight-grow-data ${S}/porchlight-wifi-import ${S}/porchlight-setup-code \
        ${D}${libexecdir}/porchlight/
    install -d ${D}${systemd_system_unitdir}
    install -m 0644 ${S}/porchlight-grow-data.service ${S}/porchlight-wifi-import.service \
        ${S}/porchlight-setup-code.service \
        ${D}${systemd_system_unitdir}/
    # wpa_supplicant's own unit, started for wlan0 once there are settings.
    install -d ${D}${systemd_system_unitdir}/wpa_supplicant@wlan0.service.d
    install -m 0644 ${S}/wpa_supplicant-wlan0-porchlight.conf \
        ${D}${systemd_system_unitdir}/wpa_supplicant@wlan0.service.d/porchlight.conf
    install -d ${D}${sysconfdir}/systemd/system/multi-user.target.wants
    ln -sf ${systemd_system_unitdir}/wpa_supplicant@.service \
        ${D}${sysconfdir}/systemd/system/multi-user.target.wants/wpa_supplicant@wlan0.service
    install -d ${D}${systemd_unitdir}/network
    install -m 0644 ${S}/80-porchlight-wireless.network ${D}${systemd_unitdir}/network/
}

FILES:${PN} += "${systemd_system_unitdir} ${systemd_unitdir}/network"
RDEPENDS:${PN} = "porchlight util-linux-sfdisk util-linux-partx wpa-supplicant"
