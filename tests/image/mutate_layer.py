#!/usr/bin/env python3
"""Show that check_layer.py fails for each thing it checks.

Copies the source tree (without build directories) to a scratch directory,
breaks one thing at a time, and expects check_layer.py to exit 1 naming the
problem; the unbroken copy, and a patch that does carry Upstream-Status, must
pass. A check that cannot fail is no check.

    mutate_layer.py SOURCE_ROOT BUILD_ROOT
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile

LAYER = "image/meta-porchlight"
RECIPE = f"{LAYER}/recipes-porchlight/porchlight/porchlight_git.bb"
IMAGE = f"{LAYER}/recipes-porchlight/images/porchlight-image.bb"
LAYER_CONF = f"{LAYER}/conf/layer.conf"
DISTRO = f"{LAYER}/conf/distro/porchlight-os.conf"
COMMON = "image/kas/porchlight-common.yml"


def replace(path, old, new, count=1):
    def apply(root):
        p = os.path.join(root, path)
        text = open(p).read()
        if old not in text:
            raise AssertionError(f"mutation is stale: {old!r} is not in {path}")
        open(p, "w").write(text.replace(old, new, count))
    return apply


def regex(path, pattern, new):
    def apply(root):
        p = os.path.join(root, path)
        text = open(p).read()
        changed, n = re.subn(pattern, new, text, count=1, flags=re.M)
        if not n:
            raise AssertionError(f"mutation is stale: /{pattern}/ does not match in {path}")
        open(p, "w").write(changed)
    return apply


def append(path, text):
    def apply(root):
        with open(os.path.join(root, path), "a") as f:
            f.write(text)
    return apply


def write(path, text):
    def apply(root):
        p = os.path.join(root, path)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        open(p, "w").write(text)
    return apply


def remove(path):
    return lambda root: os.remove(os.path.join(root, path))


PATCH_HEAD = "From 1 Mon Sep 17 00:00:00 2001\nSubject: [PATCH] x\n\n{status}---\n a | 1 +\n"

# (what is broken, how, what check_layer.py must say; None: it must pass)
MUTATIONS = [
    ("series", regex(LAYER_CONF, r'^LAYERSERIES_COMPAT_porchlight = .*$', 'LAYERSERIES_COMPAT_porchlight = "scarthgap"'),
     "LAYERSERIES_COMPAT_porchlight must name"),
    ("layer dependency", replace(LAYER_CONF, "multimedia-layer raspberrypi", "multimedia-layer"),
     "LAYERDEPENDS_porchlight lacks raspberrypi"),
    ("collection", replace(LAYER_CONF, 'BBFILE_COLLECTIONS += "porchlight"', 'BBFILE_COLLECTIONS += "porch"'),
     'BBFILE_COLLECTIONS must add "porchlight"'),
    ("new meson dependency", append("meson.build", "\nfoo_dep = dependency('libfoo')\n"),
     "dependency('libfoo') has no recipe"),
    ("missing DEPENDS", regex(RECIPE, r"^    libsodium \\\n", ""), "needs libsodium in DEPENDS"),
    ("stale DEPENDS", replace(RECIPE, "    sqlite3 \\\n", "    sqlite3 \\\n    libfoo \\\n"),
     "DEPENDS has libfoo, which no dependency()"),
    ("test DEPENDS", replace(RECIPE, "'googletest gstreamer1.0-rtsp-server'", "'gstreamer1.0-rtsp-server'"),
     "needs googletest in DEPENDS when the tests are built"),
    ("benchmarks on", replace(RECIPE, "-Dbenchmarks=false", "-Dbenchmarks=true"), "dependency('benchmark')"),
    ("unknown meson option", replace(RECIPE, "    -Dwerror=false \\\n", "    -Dwerror=false -Dno_such_option=true \\\n"),
     "-Dno_such_option is not an option"),
    ("licence text", append("LICENSE", "\nchanged\n"), "md5 of LICENSE is"),
    ("licence name", replace(RECIPE, 'LICENSE = "GPL-3.0-or-later"', 'LICENSE = "MIT"'), "meson.build says"),
    ("service name", replace(RECIPE, 'SYSTEMD_SERVICE:${PN} = "porchlight.service"', 'SYSTEMD_SERVICE:${PN} = "porchlightd.service"'),
     "SYSTEMD_SERVICE names porchlightd.service"),
    ("user comment", replace("systemd/porchlight.sysusers", '"Porchlight recorder"', '"Porchlight"'),
     "USERADD_PARAM has --comment"),
    ("user groups", regex("systemd/porchlight.sysusers", r"^m porchlight video\n", ""), "--groups is ['gpio', 'video']"),
    ("new sysusers group", append("systemd/porchlight.sysusers", "g porchlight-extra -\n"),
     "creates group porchlight-extra; GROUPADD_PARAM does not"),
    ("sysusers uid:group", replace("systemd/porchlight.sysusers", "u porchlight - ", "u porchlight -:porchlight "),
     "must rewrite the line"),
    ("unpackaged file", replace(RECIPE, "    ${nonarch_libdir}/sysusers.d \\\n", ""), "sysusers.d/porchlight.conf, which no FILES"),
    ("new element", append("pipelines/elements.cpp", '\nstatic void x(B& b) { b.add("webrtcbin", "w"); }\n'),
     "webrtcbin has no package"),
    ("missing plugin", replace(RECIPE, "    gstreamer1.0-plugins-ugly-x264 \\\n", ""), "x264enc"),
    ("debug image", replace(IMAGE, 'IMAGE_FEATURES = ""', 'IMAGE_FEATURES = "debug-tweaks"'), "IMAGE_FEATURES has ['debug-tweaks']"),
    ("ssh", replace(IMAGE, "    packagegroup-porchlight \\\n", "    packagegroup-porchlight openssh \\\n"), "IMAGE_INSTALL has openssh"),
    ("wks", replace(IMAGE, 'WKS_FILE = "porchlight-sdimage.wks"', 'WKS_FILE = "sdimage-raspberrypi.wks"'), "WKS_FILE"),
    ("data partition", regex(f"{LAYER}/wic/porchlight-sdimage.wks", r"^part /var/lib/porchlight .*\n", ""),
     "no partition for /var/lib/porchlight"),
    ("distro named like the recipe", replace(DISTRO, 'DISTRO = "porchlight-os"', 'DISTRO = "porchlight"'),
     "DISTRO 'porchlight' is also a recipe name"),
    ("init", replace(DISTRO, 'INIT_MANAGER = "systemd"', 'INIT_MANAGER = "sysvinit"'), "INIT_MANAGER must be"),
    ("camera overlays", regex(DISTRO, r"^(RPI_EXTRA_CONFIG.*)camera_auto_detect=1", r"\1camera_auto_detect=0"), "camera_auto_detect"),
    ("libcamerasrc", replace(f"{LAYER}/recipes-multimedia/libcamera/libcamera_%.bbappend", '" gst"', '""'),
     'PACKAGECONFIG "gst"'),
    ("lock mismatch", regex(COMMON, r"commit: 6ca1f7", "commit: 7ca1f7"), "repo meta-raspberrypi: lock file has"),
    ("floating branch", regex(COMMON, r"commit: [0-9a-f]{40}\n(?=    layers:\n      meta:)", "commit: scarthgap\n"),
     "repo openembedded-core is not pinned"),
    ("missing machine", remove("image/kas/raspberrypi5.yml"), "no kas file for machine raspberrypi5"),
    ("broken YAML", append("image/kas/raspberrypi4-64.yml", "machine: [unclosed\n"), "not YAML"),
    ("debug in kas", replace(COMMON, 'INHERIT += "rm_work"', 'INHERIT += "rm_work"\n    EXTRA_IMAGE_FEATURES = "debug-tweaks"'),
     "local_conf_header mentions debug-tweaks"),
    ("patch without status", write(f"{LAYER}/recipes-multimedia/libcamera/files/0001-x.patch", PATCH_HEAD.format(status="")),
     "no Upstream-Status"),
    ("patch with status", write(f"{LAYER}/recipes-multimedia/libcamera/files/0001-x.patch",
                                PATCH_HEAD.format(status="Upstream-Status: Pending\n")), None),
    ("shell syntax", append(f"{LAYER}/recipes-porchlight/porchlight-appliance/files/porchlight-grow-data", "\nif then\n"),
     "sh -n"),
    ("wrong plugin package", replace("tests/image/check_layer.py", '"jpegenc": "gstreamer1.0-plugins-good-jpeg"',
                                     '"jpegenc": "gstreamer1.0-plugins-good-png"'),
     "the element is in the plugin jpeg" if shutil.which("gst-inspect-1.0") else "needs gstreamer1.0-plugins-good-png"),
    ("missing local file", replace(RECIPE, "file://run-ptest", "file://run-ptest-missing"), "file://run-ptest-missing is in no directory"),
]


def run_check(root, build):
    # The tree's own copy, so that a mutation can reach the checker's tables.
    r = subprocess.run([sys.executable, os.path.join(root, "tests", "image", "check_layer.py"), root, build],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return r.returncode, r.stdout


def main(argv):
    source, build = (os.path.abspath(a) for a in argv[1:3])
    ignore = shutil.ignore_patterns(".git", "build*", "node_modules", "demo-state", "docs", "www", "*.png", "*.mp4")
    failures = 0
    with tempfile.TemporaryDirectory(prefix="porchlight-layer-") as scratch:
        pristine = os.path.join(scratch, "pristine")
        shutil.copytree(source, pristine, ignore=ignore, symlinks=True)
        rc, out = run_check(pristine, build)
        if rc != 0:
            print(f"FAILED: the unbroken tree does not pass:\n{out}")
            return 1
        for name, mutate, expected in MUTATIONS:
            tree = os.path.join(scratch, "t")
            shutil.copytree(pristine, tree, symlinks=True)
            try:
                mutate(tree)
                rc, out = run_check(tree, build)
                if expected is None:
                    ok = rc == 0
                    why = "the check should pass"
                else:
                    ok = rc == 1 and expected in out
                    why = f"expected exit 1 naming {expected!r}"
                print(f"{'ok' if ok else 'FAILED'}: {name}")
                if not ok:
                    failures += 1
                    print(f"  {why}; got exit {rc}:\n{out}")
            except AssertionError as e:
                failures += 1
                print(f"FAILED: {name}: {e}")
            finally:
                shutil.rmtree(tree)
    print(f"mutate_layer: {len(MUTATIONS) - failures} of {len(MUTATIONS)} mutations caught")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
