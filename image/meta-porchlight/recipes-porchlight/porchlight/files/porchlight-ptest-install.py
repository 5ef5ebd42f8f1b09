#!/usr/bin/env python3
"""Install Porchlight's meson tests for ptest, from the build tree.

The list of tests, their commands, environments and timeouts is meson's own
(BUILD/meson-info/intro-tests.json), so a test added to a meson.build runs on
the device without this file or the recipe changing. What cannot run there is
left out with its reason, as a SKIP line of run-ptest:

- suites that need the build machine (e2e drives a browser, system runs
  systemd-analyze on the unit) or are given with --skip-suite;
- tests whose command is not a program of the build tree;
- programs with a path of the build machine compiled in (the source or build
  directory): on the device that path does not exist, and Yocto's buildpaths
  check refuses such files in a package.

Environment values naming a file of the build tree or the source tree are
rewritten to a copy under the ptest directory; any other path of the build
machine is emptied (a test then sees the tool as missing, as meson itself
passes an empty value when find_program found nothing).

Writes DEST/tests.tsv, read by run-ptest: name, timeout in seconds, command
relative to the ptest directory, then KEY=VALUE environment entries
(without blanks); or
name, "SKIP", reason.
"""

import argparse
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile


def under(path, root):
    return os.path.commonpath([os.path.abspath(path), root]) == root


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", required=True, help="meson build directory")
    ap.add_argument("--source", required=True, help="source directory")
    ap.add_argument("--dest", required=True, help="where PTEST_PATH is in the install root (D + PTEST_PATH)")
    ap.add_argument("--ptest-path", required=True, help="PTEST_PATH as the device sees it")
    ap.add_argument("--forbid", action="append", default=[],
                    help="another path of the build machine that must not reach the device (TMPDIR)")
    ap.add_argument("--skip-suite", action="append", default=["e2e", "system"])
    ap.add_argument("--strip", default="strip",
                    help="strip program for the target (bitbake: ${STRIP}); empty: look at the whole file")
    args = ap.parse_args()

    build = os.path.realpath(args.build)
    source = os.path.realpath(args.source)
    forbidden = [build, source] + [os.path.realpath(f) for f in args.forbid]
    intro = os.path.join(build, "meson-info", "intro-tests.json")
    try:
        with open(intro) as f:
            tests = json.load(f)
    except (OSError, ValueError) as e:
        sys.exit(f"{intro}: {e}: configure with -Dtests=true first")

    copied = {}

    def install(path):
        """Copy a build- or source-tree file; returns its path on the device."""
        real = os.path.realpath(path)
        if real in copied:
            return copied[real]
        if under(real, build):
            rel = os.path.join("build", os.path.relpath(real, build))
        else:
            rel = os.path.join("source", os.path.relpath(real, source))
        target = os.path.join(args.dest, rel)
        if os.path.isdir(real):
            # A search path (LD_LIBRARY_PATH): the files in it, not what meson
            # keeps beside them (object directories).
            os.makedirs(target, exist_ok=True)
            for f in files_in(real):
                shutil.copy2(f, target)
        else:
            os.makedirs(os.path.dirname(target), exist_ok=True)
            shutil.copy2(real, target)
        copied[real] = os.path.join(args.ptest_path, rel)
        return copied[real]

    def files_in(directory):
        return [os.path.join(directory, f) for f in sorted(os.listdir(directory))
                if os.path.isfile(os.path.join(directory, f))]

    def carries_build_path(path):
        """The build path compiled into the program, if any. Debug information
        names the build directory too; it goes to the -dbg package (with the
        paths Yocto maps), so it is stripped before looking."""
        data = None
        if args.strip and open(path, "rb").read(4) == b"\x7fELF":
            with tempfile.TemporaryDirectory() as tmp:
                stripped = os.path.join(tmp, "stripped")
                r = subprocess.run(args.strip.split() + ["--strip-debug", "-o", stripped, path],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                if r.returncode != 0:
                    sys.exit(f"{args.strip} --strip-debug {path}: {r.stderr.decode().strip()}")
                with open(stripped, "rb") as f:
                    data = f.read()
        if data is None:
            with open(path, "rb") as f:
                data = f.read()
        return next((p for p in forbidden if p.encode() in data), None)

    lines = []
    ran = skipped = 0
    for t in sorted(tests, key=lambda t: t["name"]):
        name = t["name"]
        suites = [s.split(":", 1)[-1] for s in t["suite"]]
        cmd = t["cmd"]

        def skip(reason):
            nonlocal skipped
            lines.append(f"{name}\tSKIP\t{reason}")
            skipped += 1

        hit = [s for s in suites if s in args.skip_suite]
        if hit:
            skip(f"suite {hit[0]} needs the build machine")
            continue
        if not cmd or not under(cmd[0], build) or len(cmd) > 1:
            skip(f"runs {cmd[0] if cmd else 'nothing'}, not a test program of the build tree")
            continue
        if not os.path.exists(cmd[0]):
            sys.exit(f"{name}: {cmd[0]} is not built; compile the whole build directory first")
        # Every program the test runs: its own and those named in its environment.
        env = {}
        programs = [cmd[0]]
        for key, value in sorted(t["env"].items()):
            if value and os.path.isabs(value) and (under(value, build) or under(value, source)):
                if not os.path.exists(value):
                    env[key] = ""  # a file the build did not make (an optional tool)
                    continue
                if os.path.isdir(value):
                    programs += files_in(value)
                elif under(value, build) and os.stat(value).st_mode & stat.S_IXUSR:
                    programs.append(value)
                env[key] = value
            elif any(p in value for p in forbidden):
                env[key] = ""
            else:
                env[key] = value
        tainted = [(p, carries_build_path(p)) for p in programs]
        tainted = [(p, hit) for p, hit in tainted if hit]
        if tainted:
            p, hit = tainted[0]
            skip(f"{os.path.relpath(p, build)} has the build path {hit} compiled in")
            continue
        installed_cmd = install(cmd[0])
        for key, value in env.items():
            if value and os.path.isabs(value) and (under(value, build) or under(value, source)):
                env[key] = install(value)
        rel_cmd = os.path.relpath(installed_cmd, args.ptest_path)
        timeout = int(t.get("timeout") or 30)
        fields = [name, str(timeout), rel_cmd] + [f"{k}={v}" for k, v in env.items()]
        if any(c in f for f in fields[3:] for c in " \t\n"):
            skip("its environment has a blank run-ptest cannot pass")
            continue
        lines.append("\t".join(fields))
        ran += 1

    os.makedirs(args.dest, exist_ok=True)
    with open(os.path.join(args.dest, "tests.tsv"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print(f"porchlight-ptest-install: {ran} tests installed, {skipped} skipped")
    if ran == 0:
        sys.exit("no test can run on the device: is the build configured with -Dtests=true?")


if __name__ == "__main__":
    main()
