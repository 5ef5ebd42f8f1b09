#!/usr/bin/env python3
"""porchlight-ptest-install.py and run-ptest (the recipe's ptest) against
this build tree: every meson test is either installed or skipped with a
reason, the build machine's own suites are skipped, and run-ptest reports
PASS, FAIL and SKIP the way ptest-runner reads them.

    ptest_install_test.py SOURCE_ROOT BUILD_ROOT
"""

import json
import os
import subprocess
import sys
import tempfile

FILES = "image/meta-porchlight/recipes-porchlight/porchlight/files"
# A quick unit test that runs anywhere: installed and run for real.
QUICK = "ctl"

failures = []


def expect(cond, what):
    print(f"{'ok' if cond else 'FAILED'}: {what}")
    if not cond:
        failures.append(what)


def main(argv):
    source, build = (os.path.abspath(a) for a in argv[1:3])
    tests = {t["name"]: t for t in json.load(open(os.path.join(build, "meson-info", "intro-tests.json")))}
    with tempfile.TemporaryDirectory(prefix="porchlight-ptest-") as dest:
        # The device's PTEST_PATH is the scratch directory itself, so that the
        # installed tests can run here.
        r = subprocess.run([sys.executable, os.path.join(source, FILES, "porchlight-ptest-install.py"),
                            "--build", build, "--source", source, "--dest", dest, "--ptest-path", dest],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        print(r.stdout.strip())
        expect(r.returncode == 0, "the installer succeeds")
        if r.returncode != 0:
            return 1
        rows = [line.split("\t") for line in open(os.path.join(dest, "tests.tsv")).read().splitlines() if line]
        names = [row[0] for row in rows]
        expect(sorted(names) == sorted(tests), "every meson test is listed once (installed or skipped)")
        by_name = {row[0]: row for row in rows}
        for name, t in tests.items():
            suites = [s.split(":")[-1] for s in t["suite"]]
            if {"e2e", "system"} & set(suites):
                expect(by_name.get(name, [None, None])[1] == "SKIP", f"{name} (suite {suites[0]}) is skipped")
        runnable = [row for row in rows if row[1] != "SKIP"]
        expect(len(runnable) > 0, "some tests are installed to run")
        for row in runnable:
            prog = os.path.join(dest, row[2])
            expect(os.access(prog, os.X_OK), f"{row[0]}: {row[2]} is installed and executable")
            for entry in row[3:]:
                key, value = entry.split("=", 1)
                if value.startswith((source + "/", build + "/")):
                    expect(False, f"{row[0]}: {key} still points into the source or build tree")
                elif value.startswith(dest + "/"):
                    expect(os.path.exists(value), f"{row[0]}: {key} points to its copy in the ptest directory")
        skipped = [row for row in rows if row[1] == "SKIP"]
        expect(all(len(row) == 3 and row[2] for row in skipped), "every skip says why")
        print("\n".join(f"  SKIP {row[0]}: {row[2]}" for row in skipped))

        # run-ptest on a short list: one real test, one that fails, one skip.
        if QUICK in by_name and by_name[QUICK][1] != "SKIP":
            quick = by_name[QUICK]
        else:
            quick = None
            expect(False, f"{QUICK} is installed to run")
        with open(os.path.join(dest, "tests.tsv"), "w") as f:
            if quick:
                f.write("\t".join(quick) + "\n")
            f.write("always-fails\t30\tfails.sh\n")
            f.write("needs-the-build-machine\tSKIP\tsuite e2e needs the build machine\n")
        with open(os.path.join(dest, "fails.sh"), "w") as f:
            f.write("#!/bin/sh\necho failing on purpose\nexit 3\n")
        os.chmod(os.path.join(dest, "fails.sh"), 0o755)
        run_ptest = os.path.join(dest, "run-ptest")
        with open(os.path.join(source, FILES, "run-ptest")) as src, open(run_ptest, "w") as dst:
            dst.write(src.read())
        os.chmod(run_ptest, 0o755)
        r = subprocess.run([run_ptest], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           env=dict(os.environ, PORCHLIGHT_PTEST_TIMEOUT_MULTIPLIER="2"))
        print(r.stdout.strip())
        lines = r.stdout.splitlines()
        if quick:
            expect(f"PASS: {QUICK}" in lines, f"run-ptest runs {QUICK} and it passes")
        expect(any(line.startswith("FAIL: always-fails (exit status 3") for line in lines),
               "a failing test is a FAIL with its exit status")
        expect(any(line.startswith("SKIP: needs-the-build-machine") for line in lines), "a skipped test is a SKIP")
        expect(r.returncode == 1, "run-ptest exits 1 when a test failed")
        expect(os.path.exists(os.path.join(dest, "always-fails.log")), "each test's output is kept in NAME.log")
    print(f"ptest_install_test: {len(failures)} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
