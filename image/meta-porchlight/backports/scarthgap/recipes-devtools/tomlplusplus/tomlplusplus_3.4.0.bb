SUMMARY = "toml++: a TOML parser and serializer for C++17 and later"
DESCRIPTION = "Header-only TOML v1.0 parser. meta-oe has it from walnascar \
on; this is the same release for scarthgap, which lacks it."
HOMEPAGE = "https://github.com/marzer/tomlplusplus"
LICENSE = "MIT"
LIC_FILES_CHKSUM = "file://LICENSE;md5=90960f22c10049c117d56ed2ee5ee167"

SRC_URI = "git://github.com/marzer/tomlplusplus.git;protocol=https;branch=master"
# v3.4.0
SRCREV = "30172438cee64926dc41fdd9c11fb3ba5b2ba9de"
S = "${WORKDIR}/git"

inherit meson pkgconfig

# Header-only (build_lib stays false): nothing to compile for the target but
# the pkg-config file (what Porchlight finds it with); no tests, no examples.
EXTRA_OEMESON = "-Dbuild_tests=false -Dbuild_examples=false -Dgenerate_cmake_config=false"

# Only headers and build files: everything belongs in -dev, and the empty main
# package is still wanted by what RDEPENDS on ${PN}.
ALLOW_EMPTY:${PN} = "1"
