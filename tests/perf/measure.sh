#!/usr/bin/env bash
# Whole-process cost of porchlightd against bare GStreamer doing the same work.
#
# For each case, porchlightd (one camera) and a gst-launch-1.0 running the
# same elements with the same caps and encoder settings (ending in fakesinks
# where the daemon has appsinks) run one after the other for the same time.
# After a warm-up, CPU time (utime+stime from /proc/PID/stat, every thread)
# and resident memory (VmRSS sampled each second, VmHWM at the end, from
# /proc/PID/status) are measured, and the ratios printed.
#
#   a) rtsp: H.264 passthrough from rtsp_test_server (1920x1080, 30 fps,
#      4000 kbit/s). The server's encoding is not counted: only the client
#      process is measured (the server's CPU is shown for context).
#   b) test: the built-in test camera, software-encoded with x264 at the
#      daemon's defaults (1280x720, 15 fps, 2 Mbit/s, keyframe every 2 s).
#
# Usage: tests/perf/measure.sh [BUILD_DIR]   (default: build)
# PERF_WARMUP and PERF_DURATION (seconds, default 5 and 30) change the timing,
# RTSP_TEST_SERVER the server binary (default BUILD_DIR/tests/tools/rtsp_test_server);
# the whole run takes about 4 x (warm-up + duration) plus a few seconds.
# Everything listens and connects on 127.0.0.1 only.
set -euo pipefail

build=${1:-build}
warmup=${PERF_WARMUP:-5}
duration=${PERF_DURATION:-30}

daemon_bin=$build/daemon/porchlightd
server_bin=${RTSP_TEST_SERVER:-$build/tests/tools/rtsp_test_server}
for bin in "$daemon_bin" "$server_bin"; do
    if [[ ! -x $bin ]]; then
        echo "measure.sh: $bin is missing: build first (ninja -C $build)" >&2
        exit 2
    fi
done
if ! command -v gst-launch-1.0 >/dev/null; then
    echo "measure.sh: gst-launch-1.0 is missing (apt-get install gstreamer1.0-tools)" >&2
    exit 2
fi
# The daemon picks the Pi's hardware encoder when the kernel offers one; the
# bare pipeline below is x264, so the comparison only holds without it.
if gst-inspect-1.0 v4l2h264enc >/dev/null 2>&1; then
    echo "measure.sh: v4l2h264enc is present; the daemon would use it, not x264enc" >&2
    exit 2
fi

tick=$(getconf CLK_TCK)
work=$(mktemp -d /tmp/porchlight-perf.XXXXXX)
pids=()

cleanup() {
    local pid
    for pid in "${pids[@]}"; do
        kill -KILL "$pid" 2>/dev/null || true
    done
    rm -rf "$work"
}
trap cleanup EXIT

# utime+stime of every thread of PID, in clock ticks.
cpu_ticks() {
    local stat rest
    stat=$(<"/proc/$1/stat")
    # The command name may hold spaces; fields are counted after its ")".
    rest=${stat##*) }
    local -a f
    read -ra f <<<"$rest"
    echo $((f[11] + f[12]))
}

# A /proc/PID/status field in kB.
status_kb() {
    awk -v key="$2:" '$1 == key { print $2 }' "/proc/$1/status"
}

# Stop PID with SIGNAL and reap it (SIGKILL after 15 s); sets stopped_status.
stop_process() {
    local pid=$1 signal=$2 i
    kill "-$signal" "$pid" 2>/dev/null || true
    for ((i = 0; i < 150; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    stopped_status=0
    wait "$pid" 2>/dev/null || stopped_status=$?
    local -a left=()
    for i in "${pids[@]}"; do
        [[ $i == "$pid" ]] || left+=("$i")
    done
    pids=("${left[@]}")
}

results=$work/results
: >"$results"

# measure CASE WHAT STOP_SIGNAL COMMAND...: run COMMAND, warm up, measure,
# stop; appends "CASE WHAT cpu_s wall_s rss_mean_kb hwm_kb" to the results.
measure() {
    local case=$1 what=$2 signal=$3
    shift 3
    local log=$work/$case-$what.log
    "$@" >"$log" 2>&1 &
    local pid=$!
    pids+=("$pid")
    sleep "$warmup"
    if ! kill -0 "$pid" 2>/dev/null; then
        echo "measure.sh: $what ($case) exited during warm-up:" >&2
        cat "$log" >&2
        exit 1
    fi
    local t0 w0 t1 w1 rss sum=0 n=0 i hwm
    t0=$(cpu_ticks "$pid")
    w0=$EPOCHREALTIME
    for ((i = 0; i < duration; i++)); do
        sleep 1
        rss=$(status_kb "$pid" VmRSS)
        sum=$((sum + rss))
        n=$((n + 1))
    done
    t1=$(cpu_ticks "$pid")
    w1=$EPOCHREALTIME
    hwm=$(status_kb "$pid" VmHWM)
    stop_process "$pid" "$signal"
    if [[ $stopped_status != 0 ]]; then
        echo "measure.sh: $what ($case) exited with status $stopped_status:" >&2
        cat "$log" >&2
        exit 1
    fi
    # gst-launch says "ERROR:", the daemon logs errors at syslog priority 3.
    # No system bus here is expected: the daemon records on without D-Bus.
    if grep -E '^(ERROR|<3>)' "$log" | grep -qv 'running without D-Bus'; then
        echo "measure.sh: $what ($case) reported an error:" >&2
        cat "$log" >&2
        exit 1
    fi
    awk -v c="$case" -v w="$what" -v t="$((t1 - t0))" -v hz="$tick" -v w0="$w0" -v w1="$w1" \
        -v rss="$((sum / n))" -v hwm="$hwm" \
        'BEGIN { printf "%s %s %.2f %.2f %d %d\n", c, w, t / hz, w1 - w0, rss, hwm }' \
        >>"$results"
}

# The daemon finishes a camera's recording branch on SIGTERM; it must have streamed.
check_daemon_log() {
    local log=$work/$1-porchlightd.log
    if ! grep -q "recording branch flushed" "$log"; then
        echo "measure.sh: porchlightd ($1) did not stream and flush:" >&2
        cat "$log" >&2
        exit 1
    fi
    # "... recording branch flushed after N frames": the frame rate it delivered.
    local frames
    frames=$(sed -n 's/.*recording branch flushed after \([0-9]*\) frames.*/\1/p' "$log" | tail -1)
    echo "  porchlightd ($1): $frames frames in about $((warmup + duration)) s"
}

# Both pipelines' shared tail, as camera_pipeline.cpp builds it: an encoded
# tee feeding the recording (never leaky) and a closed live valve.
# shellcheck disable=SC2054  # the commas belong to caps, not to the array
encoded_tail=(
    video/x-h264,stream-format=avc,alignment=au '!' tee name=enc
    enc. '!' queue '!' fakesink sync=false async=false
    enc. '!' queue leaky=downstream max-size-buffers=30 max-size-bytes=0 max-size-time=0
    '!' valve drop=true '!' fakesink sync=false async=false
)

echo "porchlightd against bare gst-launch-1.0: ${warmup} s warm-up, ${duration} s measured each"
echo "machine: $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)," \
    "$(sed -n 's/^PRETTY_NAME="\(.*\)"$/\1/p' /etc/os-release), kernel $(uname -r)," \
    "$(gst-launch-1.0 --version | sed -n 's/^GStreamer //p')"

# --- a) RTSP passthrough -----------------------------------------------------
rtsp_w=1920 rtsp_h=1080 rtsp_fps=30 rtsp_kbps=4000
"$server_bin" --port 0 --path /cam --width "$rtsp_w" --height "$rtsp_h" \
    --framerate "$rtsp_fps" --bitrate "$rtsp_kbps" >"$work/server.out" 2>"$work/server.err" &
server_pid=$!
pids+=("$server_pid")
url=
for ((i = 0; i < 100; i++)); do
    url=$(sed -n 's/^READY \(rtsp:.*\)$/\1/p' "$work/server.out")
    [[ -n $url ]] && break
    sleep 0.1
done
if [[ -z $url ]]; then
    echo "measure.sh: rtsp_test_server did not start:" >&2
    cat "$work/server.err" >&2
    exit 1
fi
server_t0=$(cpu_ticks "$server_pid")
server_w0=$EPOCHREALTIME

echo "a) rtsp ${rtsp_w}x${rtsp_h} ${rtsp_fps} fps ${rtsp_kbps} kbit/s from $url"
measure rtsp gst-launch INT gst-launch-1.0 \
    rtspsrc location="$url" latency=200 protocols=tcp '!' rtph264depay '!' h264parse '!' \
    "${encoded_tail[@]}"

cat >"$work/rtsp.toml" <<EOF
[web]
listen = ["http://127.0.0.1:0"]

[[camera]]
id = "door"
source = "rtsp"
url = "$url"
EOF
mkdir -p "$work/state-rtsp"
measure rtsp porchlightd TERM "$daemon_bin" --config "$work/rtsp.toml" --state-dir "$work/state-rtsp"
check_daemon_log rtsp

server_cpu=$(awk -v t="$(($(cpu_ticks "$server_pid") - server_t0))" -v hz="$tick" \
    -v w0="$server_w0" -v w1="$EPOCHREALTIME" 'BEGIN { printf "%.0f", 100 * t / hz / (w1 - w0) }')
stop_process "$server_pid" TERM

# --- b) test camera, software encode ----------------------------------------
test_w=1280 test_h=720 test_fps=15 test_bps=2000000 test_gop=30
echo "b) test camera ${test_w}x${test_h} ${test_fps} fps $((test_bps / 1000)) kbit/s, x264enc"
measure test gst-launch INT gst-launch-1.0 \
    videotestsrc is-live=true pattern=smpte '!' \
    "video/x-raw,format=I420,width=$test_w,height=$test_h,framerate=$test_fps/1" '!' \
    clockoverlay "time-format=%Y-%m-%d %H:%M:%S" shaded-background=true halignment=left \
    valignment=top '!' tee name=raw \
    raw. '!' queue '!' x264enc tune=zerolatency speed-preset=ultrafast \
    bitrate=$((test_bps / 1000)) key-int-max=$test_gop bframes=0 '!' h264parse '!' \
    "${encoded_tail[@]}" \
    raw. '!' queue leaky=downstream max-size-buffers=2 max-size-bytes=0 max-size-time=0 '!' \
    valve drop=true '!' videorate drop-only=true '!' videoscale '!' videoconvert '!' \
    video/x-raw,format=GRAY8,width=320,framerate=5/1,pixel-aspect-ratio=1/1 '!' \
    fakesink sync=false async=false

cat >"$work/test.toml" <<EOF
[web]
listen = ["http://127.0.0.1:0"]

[[camera]]
id = "perf"
source = "test"
pattern = "smpte"
width = $test_w
height = $test_h
framerate = $test_fps
bitrate = $test_bps
keyframe_interval = $(awk -v g="$test_gop" -v f="$test_fps" 'BEGIN { print g / f }')
EOF
mkdir -p "$work/state-test"
measure test porchlightd TERM "$daemon_bin" --config "$work/test.toml" --state-dir "$work/state-test"
check_daemon_log test

# --- report -----------------------------------------------------------------
echo
awk -v server_cpu="$server_cpu" '
{ cpu[$1, $2] = $3; wall[$1, $2] = $4; rss[$1, $2] = $5; hwm[$1, $2] = $6; cases[$1] = 1 }
END {
    printf "| case | process | CPU (s) | CPU (%% of one core) | RSS steady (MB) | RSS peak (MB) |\n"
    printf "|---|---|---:|---:|---:|---:|\n"
    n = split("rtsp test", order, " ")
    for (i = 1; i <= n; i++) {
        c = order[i]
        if (!(c in cases)) continue
        split("gst-launch porchlightd", procs, " ")
        for (j = 1; j <= 2; j++) {
            p = procs[j]
            printf "| %s | %s | %.2f | %.1f | %.1f | %.1f |\n", c, p, cpu[c, p],
                100 * cpu[c, p] / wall[c, p], rss[c, p] / 1024, hwm[c, p] / 1024
        }
        g = "gst-launch"; d = "porchlightd"
        printf "| %s | **ratio** | | **%.2f** | **%.2f** | **%.2f** |\n", c,
            (cpu[c, d] / wall[c, d]) / (cpu[c, g] / wall[c, g]),
            rss[c, d] / rss[c, g], hwm[c, d] / hwm[c, g]
    }
    printf "\nrtsp_test_server (not counted) used %s%% of one core while serving.\n", server_cpu
}' "$work/results"
