#!/usr/bin/env bash
# The boot test: Porchlight installed (meson install --destdir) into a minimal
# Debian 12 root filesystem, booted under a real systemd with systemd-nspawn,
# and checked from outside with nsenter, the way an owner would use it: the
# user made by sysusers, readiness and status, the D-Bus name and its policy,
# porchlightctl, first-run setup and the web UI, encrypted recordings, the
# watchdog, a clean stop, and the IP allow-list in force.
#
# Usage: boot_test.sh SOURCE_DIR BUILD_DIR   (as root; TAP on stdout)
#
# The build must be configured for a system install (prefix /usr,
# sysconfdir /etc, localstatedir /var, as .ci/build does); otherwise, and
# when not root or without mmdebstrap / systemd-nspawn, the test is skipped
# (exit 77) saying why.
#
# The root filesystem is built once with mmdebstrap from the Debian mirror in
# this machine's apt sources and cached in $PORCHLIGHT_BOOT_CACHE (default
# ~/.cache/porchlight/boot-rootfs), keyed by a hash of the package list, the
# mirrors, and the host's versions of those packages (so that binaries built
# here always find the libraries they were built against). The cache is never
# written to: each run stacks an overlay on it, and the container runs with
# --volatile=overlay on top of that. The container has --private-network:
# nothing in it can reach any network.
#
# What differs from a real install, in the test only: a drop-in shortens
# WatchdogSec to 5 s (the watchdog step would otherwise wait 30 s plus the
# abort timeout), and a configuration drop-in sets a small test-pattern camera
# and 10 s segments, to spare this machine's CPU and the test's time.
set -uo pipefail

src=$(realpath "$1")
build=$(realpath "$2")
packages_file="$src/tests/system/rootfs-packages.txt"
# Bump when the way the root filesystem is made changes.
recipe=1

skip() {
    echo "1..0 # SKIP $*"
    exit 77
}

[ "$(id -u)" = 0 ] || skip "needs root (systemd-nspawn, mounts)"
for tool in mmdebstrap systemd-nspawn nsenter flock; do
    command -v "$tool" >/dev/null || skip "$tool not installed (.ci/install-deps installs it)"
done
options=$(meson introspect --buildoptions "$build" | python3 -c '
import json, sys
o = {x["name"]: x["value"] for x in json.load(sys.stdin)}
print(o["prefix"], o["sysconfdir"], o["localstatedir"])')
[ "$options" = "/usr /etc /var" ] ||
    skip "the build is configured for prefix, sysconfdir, localstatedir = $options; a system install needs" \
        "/usr /etc /var: meson configure $build -Dprefix=/usr -Dsysconfdir=/etc -Dlocalstatedir=/var"

t_start=$(date +%s)
elapsed() { echo $(($(date +%s) - t_start)); }

# ---------------------------------------------------------------------------
# TAP reporting: every check is its own numbered step.
n=0
failures=0
ok() {
    n=$((n + 1))
    echo "ok $n - $1"
}
not_ok() {
    n=$((n + 1))
    failures=$((failures + 1))
    echo "not ok $n - $1"
    shift
    [ $# -gt 0 ] && printf '%s\n' "$@" | sed 's/^/# /'
    return 0
}
diag() { printf '%s\n' "$@" | sed 's/^/# /'; }
bail() {
    echo "Bail out! $*"
    exit 1
}

# ---------------------------------------------------------------------------
# The Debian mirrors this machine is configured with (one-line and deb822
# sources), bookworm's main, updates and security suites only.
mirrors() {
    {
        for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
            [ -f "$f" ] || continue
            grep -E '^[[:space:]]*deb[[:space:]]' "$f" | sed -E 's/\[[^]]*\]//' |
                awk '{ print $2 "|" $3 }'
        done
        for f in /etc/apt/sources.list.d/*.sources; do
            [ -f "$f" ] || continue
            awk '
            function flush() {
                if (types ~ /(^| )deb( |$)/ && enabled != "no") {
                    n = split(uris, U, " "); m = split(suites, S, " ")
                    for (i = 1; i <= n; i++) for (j = 1; j <= m; j++) print U[i] "|" S[j]
                }
                types = uris = suites = enabled = ""
            }
            /^[ \t]*$/ { flush(); next }
            /^#/ { next }
            { key = tolower($1); sub(/:$/, "", key); $1 = ""; sub(/^ +/, "")
              if (key == "types") types = $0; else if (key == "uris") uris = $0
              else if (key == "suites") suites = $0; else if (key == "enabled") enabled = tolower($0) }
            END { flush() }' "$f"
        done
    } | awk -F'|' '$2 ~ /^bookworm(-updates|-security)?$/ { print "deb " $1 " " $2 " main" }' | sort -u
}

packages=$(grep -v '^[[:space:]]*\(#\|$\)' "$packages_file" | tr -d ' ' | sort -u)
mirror_lines=$(mirrors)
[ -n "$mirror_lines" ] || bail "no Debian bookworm mirror in /etc/apt/sources.list*"
# shellcheck disable=SC2086
host_versions=$(dpkg-query -W -f '${Package} ${Version}\n' $packages 2>/dev/null)
key=$(printf '%s\n' "recipe $recipe" "$packages" "$mirror_lines" "$host_versions" | sha256sum | cut -c1-16)
cache=${PORCHLIGHT_BOOT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/porchlight/boot-rootfs}
rootfs=$cache/$key
mkdir -p "$cache"

# Build it once; a second run waiting on the lock finds it made.
exec 9>"$cache/lock"
flock 9
if [ -d "$rootfs" ]; then
    diag "root filesystem: cached $rootfs"
else
    diag "root filesystem: building $rootfs with mmdebstrap (minutes; cached afterwards)"
    rm -rf "$rootfs.tmp"
    mapfile -t sources <<<"$mirror_lines"
    if ! mmdebstrap --variant=minbase --mode=root --quiet \
        --include="$(echo "$packages" | paste -sd,)" \
        --aptopt='Acquire::Languages "none"' \
        --dpkgopt='path-exclude=/usr/share/man/*' \
        --dpkgopt='path-exclude=/usr/share/doc/*' \
        --dpkgopt='path-exclude=/usr/share/locale/*' \
        --dpkgopt='path-exclude=/usr/share/info/*' \
        bookworm "$rootfs.tmp" "${sources[@]}" >"$cache/mmdebstrap.log" 2>&1; then
        tail -n 20 "$cache/mmdebstrap.log" | sed 's/^/# /'
        rm -rf "$rootfs.tmp"
        bail "mmdebstrap failed (log: $cache/mmdebstrap.log)"
    fi
    mv "$rootfs.tmp" "$rootfs"
    # Older root filesystems (another package list, older host libraries).
    for old in "$cache"/*/; do
        [ "${old%/}" = "$rootfs" ] || rm -rf "${old%/}"
    done
    diag "root filesystem built in $(elapsed) s"
fi
flock -u 9

# ---------------------------------------------------------------------------
# This run: an overlay on the cached root, Porchlight installed into it.
run=$(mktemp -d /tmp/porchlight-boot.XXXXXX)
root=$run/root
nspawn_pid=
ct_pid=
teardown() {
    # Only what this run started: the nspawn process and its container.
    if [ -n "$nspawn_pid" ] && kill -0 "$nspawn_pid" 2>/dev/null; then
        # SIGTERM asks nspawn to shut the container down (SIGRTMIN+3 to its init).
        kill -TERM "$nspawn_pid" 2>/dev/null
        for _ in $(seq 1 40); do
            kill -0 "$nspawn_pid" 2>/dev/null || break
            sleep 0.5
        done
        if kill -0 "$nspawn_pid" 2>/dev/null; then
            # Killing the container's PID 1 kills everything in its PID namespace.
            [ -n "$ct_pid" ] && kill -KILL "$ct_pid" 2>/dev/null
            kill -KILL "$nspawn_pid" 2>/dev/null
        fi
        wait "$nspawn_pid" 2>/dev/null
    fi
    if mountpoint -q "$root"; then
        umount "$root" 2>/dev/null || umount -l "$root"
    fi
    rm -rf "$run"
}
trap teardown EXIT
trap 'exit 130' INT TERM

mkdir -p "$run/upper" "$run/work" "$root"
mount -t overlay overlay -o "lowerdir=$rootfs,upperdir=$run/upper,workdir=$run/work" "$root" ||
    bail "cannot mount an overlay on $rootfs"
if ! meson install -C "$build" --no-rebuild --quiet --destdir "$root" >"$run/install.log" 2>&1; then
    sed 's/^/# /' "$run/install.log"
    bail "meson install --destdir failed"
fi

# What meson installed (before the test adds anything): the overlay's upper
# layer holds exactly that. A system install touches /usr and /etc only.
installed=$(cd "$run/upper" && find . -type f -o -type l | sed 's#^\./##' | sort)
stray=$(grep -v '^usr/\|^etc/' <<<"$installed")

# Test-only settings (see the top of this file).
mkdir -p "$root/etc/systemd/system/porchlight.service.d" "$root/etc/porchlight/porchlight.conf.d"
cat >"$root/etc/systemd/system/porchlight.service.d/50-boot-test.conf" <<'EOF'
# The boot test only: a watchdog that bites within seconds.
[Service]
WatchdogSec=5s
EOF
cat >"$root/etc/porchlight/porchlight.conf.d/50-boot-test.toml" <<'EOF'
# The boot test only: a small test-pattern camera and short segments.
[[camera]]
id = "porch"
source = "test"
pattern = "ball"
width = 320
height = 240
framerate = 10
bitrate = "200k"

[storage]
segment_seconds = 10
EOF
# A user outside group porchlight and one in it, for the bus policy.
chroot "$root" useradd --no-create-home --shell /usr/sbin/nologin outsider >/dev/null ||
    bail "useradd outsider failed"

# ---------------------------------------------------------------------------
# Boot.
diag "booting (after $(elapsed) s)"
# --system-call-filter=bpf: nspawn's own seccomp filter refuses bpf() by
# default, and without it the container's systemd cannot attach the
# IPAddressAllow=/IPAddressDeny= filter (it then silently runs without).
systemd-nspawn --quiet --boot --register=no --keep-unit --volatile=overlay --private-network \
    --system-call-filter=bpf --console=pipe --machine="porchlight-boot-$$" -D "$root" </dev/null >"$run/console.log" 2>&1 &
nspawn_pid=$!

# The container's PID 1: the descendant of nspawn that is PID 1 in its own namespace.
find_init() {
    local p todo=("$nspawn_pid")
    while [ ${#todo[@]} -gt 0 ]; do
        p=${todo[0]}
        todo=("${todo[@]:1}")
        if [ "$p" != "$nspawn_pid" ] && grep -qE '^NSpid:.*[[:space:]]1$' "/proc/$p/status" 2>/dev/null; then
            echo "$p"
            return 0
        fi
        # shellcheck disable=SC2207
        todo+=($(cat /proc/"$p"/task/*/children 2>/dev/null))
    done
    return 1
}
for _ in $(seq 1 100); do
    ct_pid=$(find_init) && break
    kill -0 "$nspawn_pid" 2>/dev/null || break
    sleep 0.2
done
if [ -z "$ct_pid" ]; then
    sed 's/^/# /' "$run/console.log" | tail -n 30
    bail "systemd-nspawn did not start a container"
fi

# A command inside the container: all its namespaces, a clean environment.
ct() {
    nsenter -t "$ct_pid" -a -- env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 TERM=dumb "$@"
}
# As another user (setpriv is util-linux, essential in Debian).
ct_as() {
    local user=$1
    shift
    ct setpriv --reuid="$user" --regid="$user" --init-groups -- "$@"
}
# Wait up to $1 seconds for a command to succeed.
wait_for() {
    local seconds=$1
    shift
    local deadline=$(($(date +%s) + seconds))
    until "$@"; do
        [ "$(date +%s)" -lt "$deadline" ] || return 1
        sleep 0.5
    done
}

state=""
for _ in $(seq 1 240); do
    state=$(ct systemctl is-system-running 2>/dev/null)
    case "$state" in running | degraded) break ;; esac
    kill -0 "$nspawn_pid" 2>/dev/null || break
    sleep 0.5
done
case "$state" in
running) ok "the container booted: systemd is running (after $(elapsed) s)" ;;
degraded)
    ok "the container booted: systemd is degraded (after $(elapsed) s)"
    diag "failed units (not Porchlight's; it is not started yet):" "$(ct systemctl --failed --no-legend)"
    ;;
*)
    not_ok "the container booted (state \"$state\")" "$(tail -n 30 "$run/console.log")"
    bail "no systemd to test under"
    ;;
esac

# ---------------------------------------------------------------------------
# The checks.
svc=porchlight.service

n_installed=$(grep -c . <<<"$installed")
if [ -z "$stray" ] && [ "$n_installed" -gt 0 ]; then
    ok "meson install --destdir put $n_installed files under /usr and /etc only"
else
    not_ok "meson install --destdir put files under /usr and /etc only" "$stray"
fi
for f in usr/sbin/porchlightd usr/bin/porchlightctl usr/bin/porchlight-vault \
    usr/lib/systemd/system/porchlight.service usr/lib/sysusers.d/porchlight.conf \
    usr/share/dbus-1/system.d/org.porchlight.Nvr1.conf usr/share/dbus-1/interfaces/org.porchlight.Nvr1.xml \
    usr/lib/udev/rules.d/70-porchlight-dma-heap.rules usr/lib/udev/rules.d/70-porchlight-gpio.rules \
    etc/avahi/services/porchlight.service etc/porchlight/porchlight.toml usr/share/porchlight/www/index.html \
    usr/share/man/man8/porchlightd.8 usr/share/man/man1/porchlightctl.1 \
    usr/share/man/man1/porchlight-vault.1 usr/share/man/man5/porchlight.toml.5; do
    grep -qx "$f" <<<"$installed" || missing_files+=" /$f"
done
if [ -z "${missing_files:-}" ]; then
    ok "the install has the programs, unit, sysusers, bus policy and interface, udev rules, Avahi file, config, web UI and man pages"
else
    not_ok "the install has everything the appliance needs" "missing:${missing_files}"
fi
unit_journal() { ct journalctl -u "$svc" --no-pager -o cat "$@"; }

# Every program finds its libraries in the root filesystem.
missing=$(ct ldd /usr/sbin/porchlightd /usr/bin/porchlightctl /usr/bin/porchlight-vault 2>&1 | grep 'not found')
if [ -z "$missing" ]; then
    ok "porchlightd, porchlightctl and porchlight-vault find all their libraries"
else
    not_ok "porchlightd, porchlightctl and porchlight-vault find all their libraries" "$missing"
fi

# sysusers made the user at boot, in groups porchlight and video.
ids=$(ct id porchlight 2>&1)
if [[ "$ids" == *"(porchlight)"* && "$ids" == *"(video)"* && "$ids" == *"(gpio)"* ]] &&
    ct getent passwd porchlight | grep -q ':/var/lib/porchlight:'; then
    ok "systemd-sysusers created user porchlight ($ids)"
else
    not_ok "systemd-sysusers created user porchlight" "$ids"
fi

# Type=notify: systemctl start returns once READY=1 arrived.
if ct timeout 120 systemctl start "$svc" && [ "$(ct systemctl is-active "$svc")" = active ]; then
    ok "systemctl start porchlight: active, READY=1 arrived (after $(elapsed) s)"
else
    not_ok "systemctl start porchlight: active" "$(ct systemctl status "$svc" --no-pager -n 30 2>&1)"
    bail "porchlightd does not start"
fi

# The STATUS= line, in systemctl status.
status_out=$(ct systemctl status "$svc" --no-pager -n 0 2>&1)
if grep -qE '^ +Status: ".+"' <<<"$status_out"; then
    ok "systemctl status shows porchlightd's STATUS= line: $(grep -E '^ +Status:' <<<"$status_out" | sed 's/^ *//')"
else
    not_ok "systemctl status shows the STATUS= line" "$status_out"
fi

# The bus name, and its properties read as root.
bus_dest=org.porchlight.Nvr1
bus_path=/org/porchlight/Nvr1
bus_iface=org.porchlight.Nvr1.Manager
version=$(ct busctl --system get-property "$bus_dest" "$bus_path" "$bus_iface" Version 2>&1)
if ct busctl --system --list --no-legend | grep -q "^$bus_dest " && [[ "$version" == s\ \"* ]]; then
    ok "busctl sees $bus_dest and reads Version as root: $version"
else
    not_ok "busctl sees $bus_dest and reads its properties as root" "$version" \
        "$(ct busctl --system --list --no-legend 2>&1 | head -n 20)"
fi

# The bus policy: a user outside group porchlight is refused, properties included.
refused=$(ct_as outsider busctl --system get-property "$bus_dest" "$bus_path" "$bus_iface" Cameras 2>&1)
if [ $? -ne 0 ] && grep -qi 'access denied\|AccessDenied' <<<"$refused"; then
    ok "the bus policy refuses a user outside group porchlight: $refused"
else
    not_ok "the bus policy refuses a user outside group porchlight" "$refused"
fi
# ... and lets a member of the group read (the owner's group is no formality).
ct usermod -a -G porchlight outsider
allowed=$(ct_as outsider busctl --system get-property "$bus_dest" "$bus_path" "$bus_iface" Cameras 2>&1)
if [ $? -eq 0 ]; then
    ok "a member of group porchlight reads properties: Cameras $allowed"
else
    not_ok "a member of group porchlight reads properties" "$allowed"
fi
code_as_member=$(ct_as outsider busctl --system call "$bus_dest" "$bus_path" "$bus_iface" GetSetupCode 2>&1)
if [ $? -ne 0 ]; then
    ok "GetSetupCode stays root only, even for group porchlight"
else
    not_ok "GetSetupCode stays root only, even for group porchlight" "$code_as_member"
fi

# porchlightctl, over the system bus.
ctl_out=$(ct porchlightctl status 2>&1)
if [ $? -eq 0 ] && grep -q porch <<<"$ctl_out"; then
    ok "porchlightctl status works"
    diag "$ctl_out"
else
    not_ok "porchlightctl status works" "$ctl_out"
fi

# systemctl reload (ExecReload= sends SIGHUP): the same process re-reads the
# configuration; a broken file is reported with its place and changes nothing.
pid_reload=$(ct systemctl show -P MainPID "$svc")
ct systemctl reload "$svc"
reloaded() { unit_journal -n 30 | grep -q 'reloading the configuration'; }
if wait_for 20 reloaded && [ "$(ct systemctl show -P MainPID "$svc")" = "$pid_reload" ] &&
    [ "$(ct systemctl is-active "$svc")" = active ]; then
    ok "systemctl reload: the same porchlightd re-reads its configuration"
else
    not_ok "systemctl reload: the same porchlightd re-reads its configuration" "$(unit_journal -n 20)"
fi
# (Written from inside: the container's root is an overlay of $root.)
ct sh -c "printf '[storage]\\nsegment_seconds = 1\\n' >/etc/porchlight/porchlight.conf.d/90-broken.toml"
ct systemctl reload "$svc"
refused() { unit_journal -n 30 | grep -q 'still running on the previous one'; }
if wait_for 20 refused && unit_journal -n 30 | grep -q '90-broken.toml:2:' &&
    [ "$(ct systemctl show -P MainPID "$svc")" = "$pid_reload" ] &&
    [ "$(ct systemctl is-active "$svc")" = active ]; then
    ok "systemctl reload with a broken drop-in: refused with FILE:LINE, still running: $(unit_journal -n 30 | grep -m1 '90-broken.toml')"
else
    not_ok "systemctl reload with a broken drop-in is refused and changes nothing" "$(unit_journal -n 20)"
fi
ct rm -f /etc/porchlight/porchlight.conf.d/90-broken.toml

# The web UI on loopback, HTTPS with the certificate made at first start.
web=https://127.0.0.1:8443
page=$(ct curl -ksS --max-time 20 "$web/" 2>&1)
if grep -qi '<html' <<<"$page"; then
    ok "the web UI answers on $web/"
else
    not_ok "the web UI answers on $web/" "$(head -c 500 <<<"$page")" "$(unit_journal -n 20)"
fi

# The allow-list is enforced, not only configured: two more addresses on the
# container's own loopback (it has no other network), one private, one from
# a range outside the list (198.51.100.0/24, reserved for documentation and
# never routed). The daemon's cgroup drops packets from the second; nothing
# leaves the container either way.
ct ip addr add 10.99.0.1/32 dev lo && ct ip addr add 198.51.100.1/32 dev lo
lan=$(ct curl -ksS --max-time 20 -o /dev/null -w '%{http_code}' https://10.99.0.1:8443/ 2>&1)
outside=$(ct curl -ksS --max-time 5 -o /dev/null -w '%{http_code}' https://198.51.100.1:8443/ 2>&1)
outside_rc=$?
if [ "$lan" = 200 ] && [ "$outside_rc" = 28 ]; then
    ok "the IP allow-list is enforced: 10.99.0.1 gets HTTP $lan, 198.51.100.1 no answer"
else
    not_ok "the IP allow-list is enforced" "10.99.0.1: $lan" "198.51.100.1 (curl exit $outside_rc): $outside" \
        "$(ct journalctl -b --no-pager -o cat | grep -i 'bpf\|firewall' | tail -n 5)"
fi

# First-run setup through the web API with the setup code (as the owner would).
passphrase="boot-test-passphrase"
setup_code=$(ct porchlightctl setup-code 2>&1)
setup=$(ct curl -ksS --max-time 60 -H 'Content-Type: application/json' \
    -d "{\"code\": \"$setup_code\", \"passphrase\": \"$passphrase\", \"confirm\": \"$passphrase\"}" \
    -w '\nHTTP %{http_code}' "$web/api/setup" 2>&1)
if grep -q 'HTTP 200' <<<"$setup" && grep -q recoveryKey <<<"$setup"; then
    ok "first-run setup with the code from porchlightctl setup-code makes the owner"
else
    not_ok "first-run setup through the web API" "code: $setup_code" "$setup"
fi

# Recordings land in the state directory, owned by the service user, encrypted.
has_segment() { [ -n "$(ct find /var/lib/porchlight/recordings/porch -name '*.plseg' -size +0 2>/dev/null)" ]; }
if wait_for 60 has_segment; then
    ok "recordings land in /var/lib/porchlight: $(ct find /var/lib/porchlight/recordings -name '*.plseg' | head -n 1)"
    diag "$(ct ls -ld /var/lib/porchlight /var/lib/porchlight/recordings)"
else
    not_ok "recordings land in /var/lib/porchlight" "$(ct find /var/lib/porchlight 2>&1 | head -n 20)" \
        "$(unit_journal -n 30)"
fi

# PrivateUsers= maps only the service's own user and group into its user
# namespace; the kernel still checks device access against the real group
# list, which must keep video (the group of /dev/video*, /dev/media*,
# /dev/dma_heap/*: without it no camera opens) and gpio (/dev/gpiochip*, the
# doorbell button).
main_pid=$(ct systemctl show -P MainPID "$svc")
video_gid=$(ct getent group video | cut -d: -f3)
gpio_gid=$(ct getent group gpio | cut -d: -f3)
groups_line=$(ct grep '^Groups:' "/proc/$main_pid/status")
if [ -n "$video_gid" ] && [ -n "$gpio_gid" ] && grep -qw "$video_gid" <<<"${groups_line#Groups:}" &&
    grep -qw "$gpio_gid" <<<"${groups_line#Groups:}"; then
    ok "porchlightd keeps groups video ($video_gid) and gpio ($gpio_gid) inside its sandbox: $groups_line"
else
    not_ok "porchlightd keeps groups video and gpio inside its sandbox" \
        "video is $video_gid, gpio $gpio_gid; $groups_line"
fi

# The sandbox leaves GStreamer working: its ORC JIT compiles SIMD code into
# a file it maps twice (writable, and separately executable), which
# MemoryDenyWriteExecute= allows; a JIT that failed would fall back to slow C
# code (and log an error, looked for here), not stop the pipeline.
main_pid=$(ct systemctl show -P MainPID "$svc")
orc_maps=$(ct grep -cE ' r-x[ps] .*orcexec' "/proc/$main_pid/maps")
orc_errors=$(unit_journal | grep -i 'orc' | grep -i 'error\|fail' | head -n 3)
if [ "${orc_maps:-0}" -gt 0 ] && [ -z "$orc_errors" ]; then
    ok "GStreamer's ORC JIT runs in the sandbox ($orc_maps executable code mapping(s))"
else
    not_ok "GStreamer's ORC JIT runs in the sandbox" "executable orcexec mappings: ${orc_maps:-none}" "$orc_errors"
fi

# The watchdog: a stopped daemon pets nothing, and systemd restarts it.
pid_before=$(ct systemctl show -P MainPID "$svc")
t_stop=$(elapsed)
restarts_before=$(ct systemctl show -P NRestarts "$svc")
ct kill -STOP "$pid_before"
restarted() {
    local pid
    pid=$(ct systemctl show -P MainPID "$svc")
    [ "$pid" != 0 ] && [ "$pid" != "$pid_before" ] && [ "$(ct systemctl is-active "$svc")" = active ]
}
if wait_for 90 restarted; then
    ok "SIGSTOP: the watchdog killed porchlightd and systemd restarted it in $(($(elapsed) - t_stop)) s (NRestarts $restarts_before -> $(ct systemctl show -P NRestarts "$svc"))"
    diag "$(unit_journal -n 200 | grep -i 'watchdog' | tail -n 3)"
else
    not_ok "SIGSTOP: the watchdog restarts porchlightd" "$(ct systemctl status "$svc" --no-pager -n 20 2>&1)"
    ct kill -CONT "$pid_before" 2>/dev/null
fi

# systemctl stop: the segment being written is finished, and the exit is clean.
wait_for 30 has_segment
sleep 3
ct systemctl stop "$svc"
# A clean stop: systemd saw exit status 0 (Result=success; "Deactivated
# successfully" rather than a signal), after the daemon flushed the recording.
result=$(ct systemctl show -p Result -p ActiveState "$svc" | sort | paste -sd' ')
stop_log=$(unit_journal -n 15)
if [ "$result" = "ActiveState=inactive Result=success" ] &&
    grep -q 'recording branch flushed' <<<"$stop_log" &&
    grep -q '^daemon: stopped' <<<"$stop_log" &&
    grep -q 'Deactivated successfully' <<<"$stop_log"; then
    ok "systemctl stop: the segment is finished and porchlightd exits cleanly ($result)"
else
    not_ok "systemctl stop: the segment is finished and porchlightd exits cleanly" "$result" "$stop_log"
fi
# Every segment, including the one cut short by the stop, authenticates with
# the owner's passphrase (porchlight-vault reads the disk without the daemon).
ct sh -c "umask 077; printf '%s' '$passphrase' >/run/passphrase"
verify=$(ct porchlight-vault verify --state-dir /var/lib/porchlight --passphrase-file /run/passphrase 2>&1)
if [ $? -eq 0 ] && grep -q 'all sound' <<<"$verify"; then
    ok "after the stop every recorded segment is complete and authenticates: $verify"
else
    not_ok "after the stop every recorded segment is complete and authenticates" "$verify"
fi

# The IP allow-list, as systemd has it.
expected_allow="IPAddressAllow=127.0.0.0/8 ::1/128 169.254.0.0/16 fe80::/64 224.0.0.0/4 ff00::/8 10.0.0.0/8 172.16.0.0/12 192.168.0.0/16 fc00::/7"
shown=$(ct systemctl show -p IPAddressAllow -p IPAddressDeny "$svc")
allow_line=$(grep '^IPAddressAllow=' <<<"$shown")
deny_line=$(grep '^IPAddressDeny=' <<<"$shown")
words() { tr ' ' '\n' <<<"${1#*=}" | sort; }
if [ "$(words "$deny_line")" = "$(words "IPAddressDeny=0.0.0.0/0 ::/0")" ] &&
    [ "$(words "$allow_line")" = "$(words "$expected_allow")" ]; then
    ok "systemctl show: $deny_line; $allow_line"
else
    not_ok "systemctl show reports the IP allow-list" "$shown" "expected: IPAddressDeny=0.0.0.0/0 ::/0; $expected_allow"
fi

echo "1..$n"
diag "boot test: $n steps, $failures failed, $(elapsed) s"
[ "$failures" = 0 ]
