#!/usr/bin/env python3
"""Check image/meta-porchlight and image/kas against the source tree, without
building anything.

What breaks an image build or a device late (hours into bitbake, or at first
boot) is checked here in a second: the layer's fields, the recipe's DEPENDS
against every dependency() of meson.build, the meson options it passes, the
licence checksum, the service and its user against systemd/, that every
installed file lands in a package, that every GStreamer element porchlightd
creates has its plugin package in RDEPENDS, the image's no-login and no-SSH
settings, the kas files and their lock file, and Upstream-Status on patches.

    check_layer.py SOURCE_ROOT [BUILD_ROOT]

BUILD_ROOT (a configured meson build directory) adds the checks that need
meson's own list of installed files. Every problem is printed as
FILE:LINE: what is wrong; the exit status is 1 when there is one.
"""

import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys

import yaml

# --- What the checks compare against ---------------------------------------

# meson dependency() name -> the recipe that provides it, or None when the
# toolchain does (threads). "ptest": needed only when the tests are built
# (-Dtests=true, which the recipe does for ptest). "benchmarks": only with
# -Dbenchmarks=true. A dependency() missing here fails the check: add its
# recipe to porchlight_git.bb's DEPENDS and a line here.
MESON_TO_RECIPE = {
    "gstreamer-1.0": ("gstreamer1.0", None),
    "gstreamer-app-1.0": ("gstreamer1.0-plugins-base", None),
    "gstreamer-video-1.0": ("gstreamer1.0-plugins-base", None),
    "tomlplusplus": ("tomlplusplus", None),
    "threads": (None, None),
    "boost": ("boost", None),
    "libcamera": ("libcamera", None),
    "libsodium": ("libsodium", None),
    "sqlite3": ("sqlite3", None),
    "nlohmann_json": ("nlohmann-json", None),
    "openssl": ("openssl", None),
    "libsystemd": ("systemd", None),
    "libxxhash": ("xxhash", None),
    "gtest": ("googletest", "ptest"),
    "gmock": ("googletest", "ptest"),
    "gstreamer-rtsp-server-1.0": ("gstreamer1.0-rtsp-server", "ptest"),
    "benchmark": ("googlebenchmark", "benchmarks"),
}

# GStreamer element -> the package holding it in OpenEmbedded (plugin
# packages are <recipe>-<plugin>), or None with the reason it needs none.
ELEMENT_PACKAGE = {
    "videotestsrc": "gstreamer1.0-plugins-base-videotestsrc",
    "videoconvert": "gstreamer1.0-plugins-base-videoconvertscale",
    "videoscale": "gstreamer1.0-plugins-base-videoconvertscale",
    "videorate": "gstreamer1.0-plugins-base-videorate",
    "appsink": "gstreamer1.0-plugins-base-app",
    "appsrc": "gstreamer1.0-plugins-base-app",
    "decodebin": "gstreamer1.0-plugins-base-playback",
    "uridecodebin": "gstreamer1.0-plugins-base-playback",
    "clockoverlay": "gstreamer1.0-plugins-base-pango",
    "timeoverlay": "gstreamer1.0-plugins-base-pango",
    "v4l2src": "gstreamer1.0-plugins-good-video4linux2",
    "v4l2h264enc": "gstreamer1.0-plugins-good-video4linux2",
    "rtspsrc": "gstreamer1.0-plugins-good-rtsp",
    "rtph264depay": "gstreamer1.0-plugins-good-rtp",
    "jpegenc": "gstreamer1.0-plugins-good-jpeg",
    "h264parse": "gstreamer1.0-plugins-bad-videoparsersbad",
    "x264enc": "gstreamer1.0-plugins-ugly-x264",
    "avdec_h264": "gstreamer1.0-libav",
    "libcamerasrc": "libcamera-gst",
    "openh264enc": None,  # the last fallback; x264enc is shipped instead
    "plmask": None,  # Porchlight's own, linked into porchlightd
    "tee": None, "queue": None, "valve": None, "capsfilter": None,  # core
    "filesrc": None, "clocksync": None, "identity": None, "fakesink": None,  # core
}

DISTRO = "porchlight-os"
KAS_MACHINES = {"raspberrypi4-64", "raspberrypi5", "raspberrypi0-2w-64"}
# The collection each layer directory the kas files add provides.
LAYER_COLLECTIONS = {
    "meta": "core", "meta-poky": "yocto", "meta-oe": "openembedded-layer",
    "meta-python": "meta-python", "meta-multimedia": "multimedia-layer",
    ".": "raspberrypi", "image/meta-porchlight": "porchlight",
}
# scarthgap: the current LTS; wrynose: what meta-raspberrypi's master branch
# declares in LAYERSERIES_COMPAT_raspberrypi.
SERIES = {"scarthgap", "wrynose"}
LOGIN_FEATURES = {"debug-tweaks", "empty-root-password", "allow-empty-password", "allow-root-login"}
UPSTREAM_STATUS = re.compile(
    r"^Upstream-Status: (Pending|Submitted|Backport|Denied|Inactive-Upstream|Inappropriate)\b", re.M)
SHA1 = re.compile(r"^[0-9a-f]{40}$")

# --- Reporting ---------------------------------------------------------------

problems = []


def fail(where, what):
    problems.append(f"{where}: {what}")


# --- Reading bitbake files -----------------------------------------------------

ASSIGN = re.compile(r'^\s*(?:export\s+)?([A-Za-z0-9_\-:${}\[\]./+~]+?)\s*(\?\?=|\?=|:=|\+=|=\+|\.=|=\.|=)\s*"(.*)"\s*$', re.S)


class BitbakeFile:
    """The plain assignments of a .bb/.bbappend/.conf file, enough for checks."""

    def __init__(self, path):
        self.path = path
        self.text = open(path).read()
        self.assignments = {}  # name -> [(op, value, line)]
        lines = self.text.split("\n")
        i = 0
        while i < len(lines):
            start = i
            line = lines[i]
            while line.endswith("\\") and i + 1 < len(lines):
                i += 1
                line = line[:-1] + " " + lines[i]
            i += 1
            if line.lstrip().startswith("#"):
                continue
            m = ASSIGN.match(line)
            if m:
                self.assignments.setdefault(m.group(1), []).append((m.group(2), m.group(3), start + 1))

    def get(self, name):
        value = None
        for op, v, _ in self.assignments.get(name, []):
            if op in ("=", ":="):
                value = v
            elif op in ("?=", "??="):
                value = v if value is None else value
            elif op == "+=":
                value = (value or "") + " " + v
            elif op == ".=":
                value = (value or "") + v
        return value

    def line(self, name):
        entries = self.assignments.get(name)
        return entries[0][2] if entries else 1

    def where(self, name):
        return f"{self.path}:{self.line(name)}"


def rel(path, root):
    return os.path.relpath(path, root)


# --- The checks ---------------------------------------------------------------


def check_layer_conf(layer, kas_layers):
    conf = BitbakeFile(os.path.join(layer, "conf", "layer.conf"))
    if "porchlight" not in (conf.get("BBFILE_COLLECTIONS") or "").split():
        fail(conf.where("BBFILE_COLLECTIONS"), 'BBFILE_COLLECTIONS must add "porchlight"')
    if not conf.get("BBFILE_PATTERN_porchlight"):
        fail(conf.path, "BBFILE_PATTERN_porchlight is not set")
    prio = conf.get("BBFILE_PRIORITY_porchlight")
    if not (prio or "").isdigit():
        fail(conf.where("BBFILE_PRIORITY_porchlight"), f"BBFILE_PRIORITY_porchlight must be a number, not {prio!r}")
    compat = set((conf.get("LAYERSERIES_COMPAT_porchlight") or "").split())
    if not SERIES <= compat:
        fail(conf.where("LAYERSERIES_COMPAT_porchlight"),
             f"LAYERSERIES_COMPAT_porchlight must name {' and '.join(sorted(SERIES))}; it names {sorted(compat)}")
    deps = set((conf.get("LAYERDEPENDS_porchlight") or "").split())
    for needed in ("core", "openembedded-layer", "multimedia-layer", "raspberrypi"):
        if needed not in deps:
            fail(conf.where("LAYERDEPENDS_porchlight"), f"LAYERDEPENDS_porchlight lacks {needed}")
    provided = {LAYER_COLLECTIONS.get(layer_dir) for layer_dir in kas_layers}
    for dep in sorted(deps - provided):
        fail(conf.where("LAYERDEPENDS_porchlight"),
             f"LAYERDEPENDS_porchlight names {dep}, which no layer of the kas files provides")
    if "BBFILES" not in conf.assignments:
        fail(conf.path, "BBFILES is not extended: no recipe of the layer would be parsed")


def meson_dependencies(root):
    """dependency() calls of every meson.build: {name: [(file, line, test_only)]}."""
    found = {}
    skip = {"build", "node_modules", "subprojects", ".git", "image"}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d not in skip and not d.startswith("build")]
        if "meson.build" not in filenames:
            continue
        path = os.path.join(dirpath, "meson.build")
        test_only = rel(path, root).split(os.sep)[0] == "tests"
        for n, line in enumerate(open(path), 1):
            for m in re.finditer(r"\bdependency\(\s*'([^']+)'", line.split("#", 1)[0]):
                found.setdefault(m.group(1), []).append((path, n, test_only))
    return found


def meson_options(root):
    names = set()
    for f in ("meson_options.txt", "meson.options"):
        p = os.path.join(root, f)
        if os.path.exists(p):
            names |= set(re.findall(r"option\(\s*'([^']+)'", open(p).read()))
    return names


def check_recipe_depends(root, recipe):
    raw = recipe.get("DEPENDS") or ""
    ptest_part = re.compile(r"\$\{@bb\.utils\.contains\('PTEST_ENABLED',\s*'1',\s*'([^']*)',\s*'',\s*d\)\}")
    ptest_deps = set()
    for m in ptest_part.finditer(raw):
        ptest_deps |= set(m.group(1).split())
    always = set(ptest_part.sub("", raw).split())
    extra = recipe.get("EXTRA_OEMESON") or ""
    options = dict(re.findall(r"-D([A-Za-z0-9_]+)=(\S+)", extra))
    benchmarks_off = options.get("benchmarks") == "false"
    justified = set()
    for name, uses in sorted(meson_dependencies(root).items()):
        path, line, _ = uses[0]
        test_only = all(t for _, _, t in uses)
        if name not in MESON_TO_RECIPE:
            fail(f"{path}:{line}", f"dependency('{name}') has no recipe: add it to DEPENDS in "
                 f"{rel(recipe.path, root)} and to MESON_TO_RECIPE in {rel(__file__, root)}")
            continue
        pkg, when = MESON_TO_RECIPE[name]
        if pkg is None:
            continue
        justified.add(pkg)
        if when == "benchmarks":
            if not benchmarks_off and pkg not in always:
                fail(recipe.where("DEPENDS"), f"dependency('{name}') ({path}:{line}) is built "
                     f"unless -Dbenchmarks=false: add {pkg} to DEPENDS or turn the benchmarks off")
        elif when == "ptest" or test_only:
            if pkg not in always and pkg not in ptest_deps:
                fail(recipe.where("DEPENDS"), f"dependency('{name}') ({path}:{line}) needs {pkg} "
                     f"in DEPENDS when the tests are built (PTEST_ENABLED)")
        elif pkg not in always:
            fail(recipe.where("DEPENDS"), f"dependency('{name}') ({path}:{line}) needs {pkg} in DEPENDS")
    for pkg in sorted((always | ptest_deps) - justified):
        fail(recipe.where("DEPENDS"), f"DEPENDS has {pkg}, which no dependency() of meson.build needs")
    known = meson_options(root) | {"werror", "buildtype", "b_ndebug", "default_library", "cpp_std"}
    for opt in sorted(options):
        if opt not in known:
            fail(recipe.where("EXTRA_OEMESON"), f"-D{opt} is not an option of meson_options.txt")
    if options.get("tests") and "PTEST_ENABLED" not in options["tests"]:
        fail(recipe.where("EXTRA_OEMESON"), "-Dtests must follow PTEST_ENABLED (the tests are ptest)")


def check_license(root, recipe):
    chk = recipe.get("LIC_FILES_CHKSUM") or ""
    m = re.search(r"file://([^;\s]+);md5=([0-9a-f]{32})", chk)
    if not m:
        fail(recipe.where("LIC_FILES_CHKSUM"), "LIC_FILES_CHKSUM names no file with an md5")
        return
    path = os.path.join(root, m.group(1))
    if not os.path.exists(path):
        fail(recipe.where("LIC_FILES_CHKSUM"), f"LIC_FILES_CHKSUM names {m.group(1)}, which does not exist")
        return
    actual = hashlib.md5(open(path, "rb").read()).hexdigest()
    if actual != m.group(2):
        fail(recipe.where("LIC_FILES_CHKSUM"), f"md5 of {m.group(1)} is {actual}, the recipe says {m.group(2)}")
    project = re.search(r"license:\s*'([^']+)'", open(os.path.join(root, "meson.build")).read())
    if project and recipe.get("LICENSE") != project.group(1):
        fail(recipe.where("LICENSE"), f"LICENSE is {recipe.get('LICENSE')!r}, meson.build says {project.group(1)!r}")


def parse_sysusers(path):
    groups, users, members = set(), {}, {}
    for n, line in enumerate(open(path), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        f = shlex.split(line)
        if f[0] == "g":
            groups.add(f[1])
        elif f[0] == "u":
            uid = f[2] if len(f) > 2 else "-"
            users[f[1]] = {
                "id": uid, "line": n,
                "group": uid.split(":", 1)[1] if ":" in uid else f[1],
                "comment": f[3] if len(f) > 3 and f[3] != "-" else None,
                "home": f[4] if len(f) > 4 and f[4] != "-" else None,
            }
        elif f[0] == "m":
            members.setdefault(f[1], set()).add(f[2])
    return groups, users, members


def parse_useradd(value):
    opts = {"groups": set()}
    args = shlex.split(value or "")
    i = 0
    while i < len(args):
        a = args[i]
        if a in ("--gid", "-g", "--home-dir", "-d", "--comment", "-c", "--shell", "-s", "--groups", "-G"):
            key = {"-g": "--gid", "-d": "--home-dir", "-c": "--comment", "-s": "--shell", "-G": "--groups"}.get(a, a)
            if key == "--groups":
                opts["groups"] = set(args[i + 1].split(","))
            else:
                opts[key] = args[i + 1]
            i += 2
        elif a.startswith("-"):
            i += 1
        else:
            opts["name"] = a
            i += 1
    return opts


def unit_settings(path):
    settings = {}
    for line in open(path):
        m = re.match(r"^(\w+)=(.*)$", line.strip())
        if m:
            settings.setdefault(m.group(1), []).append(m.group(2))
    return settings


def check_service_and_user(root, recipe, installed):
    service = (recipe.get("SYSTEMD_SERVICE:${PN}") or "").split()
    if not service:
        fail(recipe.path, "SYSTEMD_SERVICE:${PN} is not set")
    units = {os.path.basename(d) for d in installed if re.search(r"/lib/systemd/system/[^/]+$", d)}
    if installed is not None and installed:
        for s in service:
            if s not in units:
                fail(recipe.where("SYSTEMD_SERVICE:${PN}"),
                     f"SYSTEMD_SERVICE names {s}; meson installs {sorted(units) or 'no unit'}")
    sysusers = os.path.join(root, "systemd", "porchlight.sysusers")
    groups, users, members = parse_sysusers(sysusers)
    gadd = (recipe.get("GROUPADD_PARAM:${PN}") or "").split(";")
    recipe_groups = {shlex.split(g)[-1] for g in gadd if g.strip()}
    for g in sorted(groups - recipe_groups):
        fail(recipe.where("GROUPADD_PARAM:${PN}"), f"{rel(sysusers, root)} creates group {g}; GROUPADD_PARAM does not")
    for g in sorted(recipe_groups - groups):
        fail(recipe.where("GROUPADD_PARAM:${PN}"), f"GROUPADD_PARAM creates group {g}; {rel(sysusers, root)} does not")
    uadd = [parse_useradd(u) for u in (recipe.get("USERADD_PARAM:${PN}") or "").split(";") if u.strip()]
    by_name = {u.get("name"): u for u in uadd}
    for name, u in users.items():
        where = f"{rel(sysusers, root)}:{u['line']}"
        r = by_name.get(name)
        if not r:
            fail(recipe.where("USERADD_PARAM:${PN}"), f"{where} creates user {name}; USERADD_PARAM does not")
            continue
        for key, want in (("--gid", u["group"]), ("--comment", u["comment"]), ("--home-dir", u["home"])):
            if want and r.get(key) != want:
                fail(recipe.where("USERADD_PARAM:${PN}"), f"USERADD_PARAM has {key} {r.get(key)!r}; {where} says {want!r}")
        want_groups = members.get(name, set())
        if r["groups"] != want_groups:
            fail(recipe.where("USERADD_PARAM:${PN}"),
                 f"USERADD_PARAM --groups is {sorted(r['groups'])}; {rel(sysusers, root)} makes {name} a member of {sorted(want_groups)}")
        if ":" in u["id"] and f"^u {name} {u['id']} " not in recipe.text:
            fail(where, f"the user's ID {u['id']!r} (uid:group) stops oe-core's systemd_sysusers_check "
                 f"at do_rootfs; {rel(recipe.path, root)} must rewrite the line (its do_install:append)")
    for name in sorted(set(by_name) - set(users)):
        fail(recipe.where("USERADD_PARAM:${PN}"), f"USERADD_PARAM creates user {name}; {rel(sysusers, root)} does not")
    unit = os.path.join(root, "systemd", "porchlight.service.in")
    if os.path.exists(unit):
        s = unit_settings(unit)
        for key, want in (("User", set(users)), ("Group", {u["group"] for u in users.values()})):
            if set(s.get(key, [])) != want:
                fail(rel(unit, root), f"{key}={' '.join(s.get(key, []))} but sysusers defines {sorted(want)}")
        supp = set(" ".join(s.get("SupplementaryGroups", [])).split())
        allowed = set().union(*members.values()) if members else set()
        if not supp <= allowed:
            fail(rel(unit, root), f"SupplementaryGroups={' '.join(sorted(supp))} but sysusers adds the user only to {sorted(allowed)}")


def check_installed_files(recipe, build):
    """Every file meson installs must fall into a package (else do_package's
    installed-vs-shipped QA error stops the build)."""
    info = os.path.join(build, "meson-info")
    installed = json.load(open(os.path.join(info, "intro-installed.json"))).values()
    opts = {o["name"]: o["value"] for o in json.load(open(os.path.join(info, "intro-buildoptions.json")))}
    prefix = opts["prefix"]

    def d(name):
        v = opts[name]
        return v if os.path.isabs(v) else os.path.join(prefix, v)

    dirs = {"bindir": d("bindir"), "sbindir": d("sbindir"), "libexecdir": d("libexecdir"),
            "libdir": d("libdir"), "datadir": d("datadir"), "sysconfdir": d("sysconfdir"),
            "mandir": d("mandir"), "localstatedir": d("localstatedir"), "prefix": prefix,
            "nonarch_libdir": os.path.join(prefix, "lib"), "BPN": "porchlight"}
    files = " ".join(recipe.get(k) or "" for k in ("FILES:${PN}", "FILES:${PN}-doc"))
    default = ("${bindir} ${sbindir} ${libexecdir} ${sysconfdir} ${localstatedir} ${prefix}/lib/udev "
               "${datadir}/${BPN} ${mandir} ${datadir}/doc ${nonarch_libdir}/systemd/system")
    patterns = []
    for p in (default + " " + files).split():
        expanded = re.sub(r"\$\{(\w+)\}", lambda m: dirs.get(m.group(1), m.group(0)), p)
        if "${" not in expanded:
            patterns.append(expanded.rstrip("/*"))
    for dest in sorted(installed):
        if not any(dest == p or dest.startswith(p + "/") for p in patterns):
            fail(recipe.where("FILES:${PN}"),
                 f"meson installs {dest}, which no FILES of {os.path.basename(recipe.path)} (nor bitbake's defaults) covers")
    return list(installed)


def check_rdepends(root, recipe):
    rdepends = set((recipe.get("RDEPENDS:${PN}") or "").split())
    used = {}
    for sub in ("pipelines", "daemon"):
        for dirpath, _, filenames in os.walk(os.path.join(root, sub)):
            for f in filenames:
                if not f.endswith(".cpp"):
                    continue
                path = os.path.join(dirpath, f)
                for n, line in enumerate(open(path), 1):
                    for m in re.finditer(r'\b(?:add|makeElement|elementAvailable|gst_element_factory_make)\("([a-z0-9_]+)"', line):
                        used.setdefault(m.group(1), f"{path}:{n}")
    for element, where in sorted(used.items()):
        if element not in ELEMENT_PACKAGE:
            fail(where, f"GStreamer element {element} has no package in ELEMENT_PACKAGE "
                 f"({rel(__file__, root)}): add it there and to RDEPENDS:${{PN}}")
        elif ELEMENT_PACKAGE[element] and ELEMENT_PACKAGE[element] not in rdepends:
            fail(recipe.where("RDEPENDS:${PN}"), f"{element} ({where}) needs {ELEMENT_PACKAGE[element]} in RDEPENDS:${{PN}}")


def check_element_packages(root):
    """Where this machine has GStreamer, ELEMENT_PACKAGE's plugin names must be
    the plugins the elements really live in: <recipe>-<plugin> packages hold
    libgst<plugin>.so. Elements this machine lacks (v4l2h264enc exists only
    where the kernel has the encoder) are not checked."""
    inspect = shutil.which("gst-inspect-1.0")
    if not inspect:
        return
    for element, pkg in sorted(ELEMENT_PACKAGE.items()):
        m = re.match(r"^gstreamer1\.0-plugins-(?:base|good|bad|ugly)-(.+)$", pkg or "")
        if not m:
            continue
        r = subprocess.run([inspect, "--no-colors", element], stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL, text=True)
        f = re.search(r"^\s*Filename\s+(\S+)", r.stdout, re.M)
        if r.returncode != 0 or not f:
            continue
        plugin = re.sub(r"^libgst|\.so$", "", os.path.basename(f.group(1)))
        if plugin != m.group(1):
            fail(f"{rel(__file__, root)}", f"ELEMENT_PACKAGE maps {element} to {pkg}, but the element is "
                 f"in the plugin {plugin} ({f.group(1)}): its package is ...-{plugin}")


def check_image(layer):
    image = BitbakeFile(os.path.join(layer, "recipes-porchlight", "images", "porchlight-image.bb"))
    features = set((image.get("IMAGE_FEATURES") or "").split())
    bad = {f for f in features if f in LOGIN_FEATURES or f.startswith("ssh-server")}
    if bad:
        fail(image.where("IMAGE_FEATURES"), f"IMAGE_FEATURES has {sorted(bad)}: no password login, no SSH by default")
    removed = set((image.get("IMAGE_FEATURES:remove") or "").split())
    if not LOGIN_FEATURES <= removed:
        fail(image.where("IMAGE_FEATURES:remove"),
             f"IMAGE_FEATURES:remove must hold {sorted(LOGIN_FEATURES - removed)} too, against a local.conf that adds them")
    install = image.get("IMAGE_INSTALL") or ""
    for word in ("openssh", "dropbear"):
        if word in install:
            fail(image.where("IMAGE_INSTALL"), f"IMAGE_INSTALL has {word}: SSH is off by default")
    wks = image.get("WKS_FILE")
    wks_path = os.path.join(layer, "wic", wks or "")
    if not wks or not os.path.isfile(wks_path):
        fail(image.where("WKS_FILE"), f"WKS_FILE {wks!r} is not in {rel(os.path.join(layer, 'wic'), layer)}")
    elif not re.search(r"^part /var/lib/porchlight\s", open(wks_path).read(), re.M):
        fail(wks_path, "no partition for /var/lib/porchlight")
    distro = BitbakeFile(os.path.join(layer, "conf", "distro", DISTRO + ".conf"))
    if distro.get("DISTRO") != DISTRO:
        fail(distro.where("DISTRO"), f"DISTRO is {distro.get('DISTRO')!r}; the file is named for {DISTRO!r}")
    # DISTRO (like MACHINE) becomes an override: one named like a recipe
    # makes that recipe's VAR:${PN} an override (pkgvarcheck QA error).
    recipes = {re.split(r"[_.]", f)[0] for _, _, fs in os.walk(layer) for f in fs if f.endswith(".bb")}
    for name in sorted({distro.get("DISTRO")} & recipes):
        fail(distro.where("DISTRO"), f"DISTRO {name!r} is also a recipe name: as an override it breaks VAR:${{PN}} there")
    if distro.get("INIT_MANAGER") != "systemd":
        fail(distro.where("INIT_MANAGER"), 'INIT_MANAGER must be "systemd"')
    if "camera_auto_detect=1" not in (distro.get("RPI_EXTRA_CONFIG:append:rpi") or ""):
        fail(distro.path, "RPI_EXTRA_CONFIG does not turn on camera_auto_detect for the camera modules")
    append = BitbakeFile(os.path.join(layer, "recipes-multimedia", "libcamera", "libcamera_%.bbappend"))
    if "gst" not in (append.get("PACKAGECONFIG:append") or "").split():
        fail(append.path, 'libcamera needs PACKAGECONFIG "gst" for libcamerasrc')


def check_kas(root, layer):
    kas_dir = os.path.join(root, "image", "kas")
    docs = {}
    for f in sorted(os.listdir(kas_dir)):
        if f.endswith((".yml", ".yaml")):
            path = os.path.join(kas_dir, f)
            try:
                docs[f] = yaml.safe_load(open(path))
            except yaml.YAMLError as e:
                fail(path, f"not YAML: {e}")
                continue
            version = (docs[f] or {}).get("header", {}).get("version")
            if not isinstance(version, int) or version < 14:
                fail(path, f"header.version must be 14 or later (commit and branch keys), not {version!r}")
    common_name = "porchlight-common.yml"
    common = docs.get(common_name)
    if not common:
        fail(kas_dir, f"{common_name} is missing")
        return []
    cpath = os.path.join(kas_dir, common_name)
    if common.get("distro") != DISTRO or not os.path.exists(os.path.join(layer, "conf", "distro", DISTRO + ".conf")):
        fail(cpath, f"distro must be {DISTRO} (conf/distro/{DISTRO}.conf), not {common.get('distro')!r}")
    if common.get("target") != "porchlight-image":
        fail(cpath, f"target must be porchlight-image, not {common.get('target')!r}")
    header_text = " ".join(str(v) for v in (common.get("local_conf_header") or {}).values())
    for f in LOGIN_FEATURES:
        if f in header_text:
            fail(cpath, f"local_conf_header mentions {f}")
    lock_name = "porchlight-common.lock.yml"
    lock = (docs.get(lock_name) or {}).get("overrides", {}).get("repos", {})
    if not lock:
        fail(os.path.join(kas_dir, lock_name), "lock file is missing or pins nothing")
    layers = []
    repos = common.get("repos") or {}
    for name, repo in repos.items():
        repo = repo or {}
        for layer_dir in (repo.get("layers") or {}):
            layers.append(layer_dir)
            if "url" not in repo and not os.path.isdir(os.path.join(root, layer_dir)):
                fail(cpath, f"repo {name}: layer {layer_dir} does not exist in this repository")
        if "url" not in repo:
            continue
        commit = repo.get("commit")
        if not isinstance(commit, str) or not SHA1.match(commit):
            fail(cpath, f"repo {name} is not pinned: commit must be 40 hex digits, not {commit!r}")
        if not repo.get("branch"):
            fail(cpath, f"repo {name} names no branch (kas checks the commit is on it)")
        locked = (lock.get(name) or {}).get("commit")
        if locked != commit:
            fail(os.path.join(kas_dir, lock_name), f"repo {name}: lock file has {locked!r}, {common_name} has {commit!r}")
    for name in sorted(set(lock) - set(repos)):
        fail(os.path.join(kas_dir, lock_name), f"lock file pins {name}, which {common_name} does not have")
    machines = {}
    for f, doc in docs.items():
        if doc and "machine" in doc:
            includes = doc.get("header", {}).get("includes") or []
            if common_name not in includes:
                fail(os.path.join(kas_dir, f), f"does not include {common_name}")
            machines[doc["machine"]] = f
    for m in sorted(KAS_MACHINES - set(machines)):
        fail(kas_dir, f"no kas file for machine {m}")
    return layers


def check_patches_and_sources(layer):
    for dirpath, _, filenames in os.walk(layer):
        for f in filenames:
            path = os.path.join(dirpath, f)
            if f.endswith((".patch", ".diff")):
                head = open(path, errors="replace").read().split("\n---\n", 1)[0]
                if not UPSTREAM_STATUS.search(head):
                    fail(path, "no Upstream-Status: line (Pending, Submitted [where], Backport [version], "
                         "Denied, Inactive-Upstream or Inappropriate [why]) in the patch header")
            if not f.endswith((".bb", ".bbappend", ".conf", ".patch")) and os.path.isfile(path):
                with open(path, "rb") as fh:
                    first = fh.readline()
                if first.startswith(b"#!/bin/sh"):
                    r = subprocess.run(["sh", "-n", path], stderr=subprocess.PIPE, text=True)
                    if r.returncode != 0:
                        fail(path, f"sh -n: {r.stderr.strip()}")
                    if not os.access(path, os.X_OK):
                        fail(path, "a script that is not executable")
            if f.endswith((".bb", ".bbappend")):
                recipe = BitbakeFile(path)
                bpn = re.split(r"[_.]", f)[0]
                search = [os.path.join(dirpath, d) for d in ("files", bpn)]
                for m in re.finditer(r"file://([^;\s\"]+)", recipe.get("SRC_URI") or ""):
                    name = m.group(1)
                    if os.path.isabs(name) or "${" in name:
                        continue
                    if not any(os.path.exists(os.path.join(s, name)) for s in search):
                        fail(recipe.where("SRC_URI"), f"file://{name} is in no directory the fetcher searches ({', '.join(rel(s, layer) for s in search)})")


def main(argv):
    if len(argv) not in (2, 3):
        sys.exit(__doc__)
    root = os.path.abspath(argv[1])
    build = os.path.abspath(argv[2]) if len(argv) == 3 else None
    layer = os.path.join(root, "image", "meta-porchlight")
    recipe = BitbakeFile(os.path.join(layer, "recipes-porchlight", "porchlight", "porchlight_git.bb"))
    kas_layers = check_kas(root, layer)
    check_layer_conf(layer, kas_layers)
    check_recipe_depends(root, recipe)
    check_license(root, recipe)
    installed = check_installed_files(recipe, build) if build else []
    check_service_and_user(root, recipe, installed)
    check_rdepends(root, recipe)
    check_element_packages(root)
    check_image(layer)
    check_patches_and_sources(layer)
    for p in problems:
        print(f"FAILED: {p}")
    print(f"check_layer: {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
