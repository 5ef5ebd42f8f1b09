// One camera's live picture: fragmented MP4 over a WebSocket into
// MediaSource (docs/ref/http-api.md, /api/cameras/{id}/live), kept within a
// fraction of a second of the live edge. Where MediaSource is missing or
// cannot play the camera's codec, a JPEG snapshot about once a second.
//
// For the latency measurement (tests/e2e/live.mjs), each presented frame's
// delay from capture to the screen goes to window.porchlightLive[id]
// (latencies; arrivals: from capture to its arrival in the page).
import { h } from "./dom.js";

const kMaxBehindS = 0.5;      // further behind the live edge than this: jump to it
const kKeepS = 4;             // buffered video kept behind the playhead
const kSnapshotMs = 1000;
const kRetryMs = 2000;
const kMaxSamples = 20000;

function mediaSourceClass() {
    return window.MediaSource || window.ManagedMediaSource || null;
}

/** The live picture of camera \a id; ctx.sessionEnded() on a 401 or a closed session. */
export function livePlayer(id, ctx) {
    const video = h("video", {
        class: "live-video", muted: true, autoplay: true, playsinline: true,
        disableremoteplayback: true, "aria-label": `Live picture of ${id}`,
    });
    video.muted = true;
    const img = h("img", { class: "live-video", alt: `Latest picture of ${id}`, hidden: true });
    const status = h("p", { class: "hint live-status", role: "status" }, "Connecting…");
    const node = h("figure", { class: "live", "data-mode": "connecting" }, video, img,
        h("figcaption", {}, status));
    const stats = { latencies: [], arrivals: [], frames: 0, mode: "connecting" };
    (window.porchlightLive ||= {})[id] = stats;

    let stopped = false;
    let ws = null;
    let timer = 0;
    let objectUrl = "";

    function setMode(mode, text) {
        stats.mode = mode;
        node.dataset.mode = mode;
        status.textContent = text;
    }

    // ---- snapshots --------------------------------------------------------

    function startSnapshots(why) {
        video.hidden = true;
        img.hidden = false;
        setMode("snapshot", `${why} Showing a picture a second instead.`);
        pollSnapshot(why);
    }

    async function pollSnapshot(why) {
        if (stopped)
            return;
        try {
            const r = await fetch(`/api/cameras/${encodeURIComponent(id)}/snapshot`,
                { credentials: "same-origin", cache: "no-store" });
            if (r.status === 401)
                return ctx.sessionEnded();
            if (!r.ok) {
                const body = await r.json().catch(() => ({}));
                status.textContent = `No picture: ${body.error || r.statusText}`;
            } else {
                const url = URL.createObjectURL(await r.blob());
                if (stopped)
                    return URL.revokeObjectURL(url);
                if (img.dataset.url)
                    URL.revokeObjectURL(img.dataset.url);
                img.dataset.url = url;
                img.src = url;
                stats.frames += 1;
                status.textContent = `${why} Picture of ${new Date().toLocaleTimeString()}.`;
            }
        } catch (e) {
            status.textContent = `No picture: ${e.message}`;
        }
        if (!stopped)
            timer = setTimeout(() => pollSnapshot(why), kSnapshotMs);
    }

    // ---- MediaSource ------------------------------------------------------

    const MS = mediaSourceClass();
    if (!MS) {
        startSnapshots("This browser cannot play live video (no MediaSource).");
        return { node, stop };
    }

    let ms = null;
    let sb = null;
    let codec = "";
    const queue = [];
    const wallOf = new Map();  // presentation time (ms) -> wall clock (µs)
    let pending = null;        // the text message announcing the next binary one
    let failures = 0;

    function connect() {
        ms = new MS();
        sb = null;
        codec = "";
        queue.length = 0;
        if (objectUrl)
            URL.revokeObjectURL(objectUrl);
        objectUrl = URL.createObjectURL(ms);
        video.src = objectUrl;
        ms.addEventListener("sourceopen", openSocket, { once: true });
    }

    function openSocket() {
        if (stopped)
            return;
        // A stream without an end: Chrome then renders in its low-delay mode
        // instead of keeping several decoded frames in hand.
        try {
            ms.duration = Infinity;
        } catch { /* not settable here: only costs latency */ }
        const scheme = location.protocol === "https:" ? "wss" : "ws";
        ws = new WebSocket(`${scheme}://${location.host}/api/cameras/${encodeURIComponent(id)}/live`);
        ws.binaryType = "arraybuffer";
        let got = false;
        ws.onmessage = (e) => {
            got = true;
            if (typeof e.data === "string") {
                pending = JSON.parse(e.data);
                return;
            }
            const msg = pending;
            pending = null;
            if (!msg)
                return;
            if (msg.type === "init")
                return onInit(msg, e.data);
            if (msg.type === "frame") {
                // How old the frame is as it arrives: the part of the latency
                // before the browser's decoder.
                stats.arrivals.push(performance.timeOrigin + performance.now() - msg.wallUs / 1000);
                if (stats.arrivals.length > kMaxSamples)
                    stats.arrivals.shift();
                wallOf.set(Math.round(msg.t * 1000), msg.wallUs);
                if (wallOf.size > 600)
                    wallOf.delete(wallOf.keys().next().value);
                append(e.data);
            }
        };
        ws.onclose = (e) => {
            ws = null;
            if (stopped || stats.mode === "snapshot")
                return;
            if (e.code === 1008)
                return ctx.sessionEnded();
            failures = got ? 0 : failures + 1;
            if (failures >= 3)
                return startSnapshots("The live video cannot connect (too many viewers, or " +
                    "the camera is not available).");
            setMode("connecting", e.reason ? `Live video stopped: ${e.reason}. Reconnecting…`
                : "Live video interrupted. Reconnecting…");
            timer = setTimeout(connect, kRetryMs);
        };
    }

    function onInit(msg, bytes) {
        const type = `video/mp4; codecs="${msg.codec}"`;
        if (!MS.isTypeSupported(type)) {
            ws?.close();
            return startSnapshots(`This browser cannot play ${msg.codec} video.`);
        }
        try {
            if (!sb) {
                sb = ms.addSourceBuffer(type);
                sb.mode = "segments";
                sb.addEventListener("updateend", pump);
                sb.addEventListener("error", () => failed("the video could not be decoded"));
            } else if (msg.codec !== codec && sb.changeType) {
                sb.changeType(type);
            }
        } catch (e) {
            return failed(e.message);
        }
        codec = msg.codec;
        node.dataset.size = `${msg.width}x${msg.height}`;
        append(bytes);
    }

    function failed(why) {
        ws?.close();
        startSnapshots(`The live video failed (${why}).`);
    }

    function append(bytes) {
        queue.push(bytes);
        pump();
    }

    function pump() {
        if (!sb || sb.updating || stopped)
            return;
        const b = video.buffered;
        if (b.length) {
            const end = b.end(b.length - 1);
            // Keep the buffer short: behind the live edge, jump to it.
            if (video.currentTime < b.start(0) || end - video.currentTime > kMaxBehindS)
                video.currentTime = Math.max(b.start(b.length - 1), end - 0.05);
            if (video.paused)
                video.play().catch(() => {});
            if (video.currentTime - b.start(0) > 2 * kKeepS) {
                sb.remove(b.start(0), video.currentTime - kKeepS);
                return;
            }
            if (stats.mode !== "video")
                setMode("video", "Live.");
        }
        const next = queue.shift();
        if (!next)
            return;
        try {
            sb.appendBuffer(next);
        } catch (e) {
            failed(e.message);
        }
    }

    // Each presented frame: how long since it left the encoder.
    if (video.requestVideoFrameCallback) {
        const onFrame = (now, meta) => {
            if (stopped)
                return;
            const key = Math.round(meta.mediaTime * 1000);
            const wallUs = wallOf.get(key) ?? wallOf.get(key - 1) ?? wallOf.get(key + 1);
            if (wallUs) {
                const ms = performance.timeOrigin + meta.presentationTime - wallUs / 1000;
                stats.latencies.push(ms);
                if (stats.latencies.length > kMaxSamples)
                    stats.latencies.shift();
                node.dataset.latencyMs = ms.toFixed(0);
            }
            stats.frames += 1;
            video.requestVideoFrameCallback(onFrame);
        };
        video.requestVideoFrameCallback(onFrame);
    }

    connect();

    function stop() {
        stopped = true;
        clearTimeout(timer);
        ws?.close();
        if (objectUrl)
            URL.revokeObjectURL(objectUrl);
        if (img.dataset.url)
            URL.revokeObjectURL(img.dataset.url);
        video.removeAttribute("src");
    }
    return { node, stop };
}
