SUMMARY = "Porchlight: the doorbell camera recorder as a Raspberry Pi image"
DESCRIPTION = "A minimal systemd system running porchlightd, found on the \
home network as porchlight.local. No password logins, no SSH unless a build \
adds it, recordings on their own partition."
LICENSE = "MIT"

inherit core-image

# Nothing but the boot essentials and Porchlight with its runtime
# (packagegroup-porchlight: the daemon, GStreamer's plugins, libcamera,
# Avahi, Wi-Fi, kernel modules and firmware).
IMAGE_INSTALL = " \
    packagegroup-core-boot \
    packagegroup-porchlight \
    ${CORE_IMAGE_EXTRA_INSTALL} \
"
IMAGE_LINGUAS = ""

# No login with a password, from anywhere: no debug-tweaks,
# empty-root-password, allow-empty-password or allow-root-login, so
# rootfs-postcommands locks root's empty password ("*"). And no SSH server:
# an owner who wants a shell adds one with a key of their own
# (docs/guide/install.md, "A shell on the device").
IMAGE_FEATURES = ""
# Keep it that way even if a local.conf asks otherwise: a doorbell on the
# home network must not open a root shell to anyone who asks.
IMAGE_FEATURES:remove = "debug-tweaks empty-root-password allow-empty-password allow-root-login"

# The SD card: boot, root, and /var/lib/porchlight on a partition of its own.
WKS_FILE = "porchlight-sdimage.wks"
IMAGE_FSTYPES = "wic.bz2 wic.bmap"
# Room for the root file system to breathe (logs, the journal); the data
# partition is sized by the wks file and grown on the device.
IMAGE_ROOTFS_EXTRA_SPACE = "131072"

# Unit tests on a device: build with EXTRA_IMAGE_FEATURES += "ptest-pkgs" (the
# kas file kas/porchlight-ptest.yml does) and run `ptest-runner porchlight`
# on it (meta-porchlight/README.md).
