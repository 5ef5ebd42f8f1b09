#!/usr/bin/env bash
# Static checks of the installed service: systemd's own security score (at
# most 2.0), the IP allow-list that keeps everything in the house, the device
# allow-list, and the sysusers entry creating the user in a scratch root.
# What the unit does when booted is boot_test.sh's part.
set -euo pipefail

unit=$1
sysusers=$(realpath "$2")
avahi=$3
passed=0
failed=0
check() {
    local what=$1
    shift
    if "$@"; then
        passed=$((passed + 1))
    else
        echo "FAILED: $what" >&2
        failed=$((failed + 1))
    fi
}

# 1. systemd-analyze's exposure score: --threshold is in tenths.
score=$(systemd-analyze security --offline=true "$unit" 2>/dev/null | tail -n 1)
echo "$score"
check "security exposure at most 2.0 ($score)" \
    systemd-analyze security --offline=true --threshold=20 "$unit" >/dev/null

# 2. Nothing leaves the house: deny everything, then allow only the local ranges.
check "IPAddressDeny=any" grep -qx 'IPAddressDeny=any' "$unit"
allow=$(grep '^IPAddressAllow=' "$unit" | cut -d= -f2-)
for range in localhost link-local multicast 10.0.0.0/8 172.16.0.0/12 192.168.0.0/16 fc00::/7; do
    check "IPAddressAllow has $range" grep -qw -- "$range" <<<"$allow"
done
check "no other IPAddressAllow line" test "$(grep -c '^IPAddressAllow=' "$unit")" = 1

# 3. Devices: closed, with only cameras, DMA heaps and GPIO chips.
check "DevicePolicy=closed" grep -qx 'DevicePolicy=closed' "$unit"
devices=$(grep '^DeviceAllow=' "$unit" | cut -d= -f2 | cut -d' ' -f1 | sort | tr '\n' ' ')
check "DeviceAllow only cameras, media, dma_heap, gpiochip ($devices)" \
    test "$devices" = "char-dma_heap char-gpiochip char-media char-video4linux "
check "empty CapabilityBoundingSet" grep -qx 'CapabilityBoundingSet=' "$unit"
for key in Type=notify BusName=org.porchlight.Nvr1 User=porchlight 'SupplementaryGroups=video gpio' \
    StateDirectory=porchlight ConfigurationDirectory=porchlight ProtectSystem=strict \
    Restart=on-failure WatchdogSec=30s MemoryDenyWriteExecute=yes PrivateUsers=yes \
    PrivateMounts=yes ProcSubset=pid; do
    check "$key" grep -qx "$key" "$unit"
done
check "the unit parses" bash -c "systemd-analyze verify '$unit' 2>&1 | grep -v 'is not executable\|man porchlightd\|failed with code' | grep -q . && exit 1 || exit 0"

# 4. sysusers makes the user and its groups (in a scratch root).
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/etc"
printf 'root:x:0:0::/root:/bin/sh\n' >"$root/etc/passwd"
printf 'root:x:0:\nvideo:x:44:\n' >"$root/etc/group"
check "systemd-sysusers accepts the entry" systemd-sysusers --root="$root" "$sysusers"
check "user porchlight exists" grep -q '^porchlight:' "$root/etc/passwd"
check "porchlight is in group video" grep -q '^video:x:44:.*porchlight' "$root/etc/group"
check "group gpio exists, with porchlight in it" grep -q '^gpio:x:[0-9]*:.*porchlight' "$root/etc/group"

# 5. The Avahi service file is well-formed and announces the web UI.
check "avahi file parses" xmllint --noout "$avahi"
check "avahi announces _https._tcp" grep -q '<type>_https._tcp</type>' "$avahi"

echo "$passed passed, $failed failed"
test "$failed" = 0
