// The Timeline page: one camera, one local day. Recorded ranges and events on
// a time axis; a click (or a drag, or the keyboard) plays from that moment.
// Playback is fragmented MP4 from /api/playback fed into MediaSource; its
// media time follows the wall clock from X-Porchlight-Start-Us, so the gaps
// between recordings are jumped over here.
import { api, ApiError } from "./api.js";
import { h, errorBox, showError } from "./dom.js";

const kSvg = "http://www.w3.org/2000/svg";
const kBufferAheadS = 30;   // stop reading the stream this far ahead
const kRefreshMs = 10000;   // the day being recorded grows

function svg(tag, attrs = {}, ...children) {
    const el = document.createElementNS(kSvg, tag);
    for (const [k, v] of Object.entries(attrs))
        el.setAttribute(k, String(v));
    el.append(...children);
    return el;
}

function dayStart(date) {
    return new Date(date.getFullYear(), date.getMonth(), date.getDate());
}
function addDays(date, n) {
    return new Date(date.getFullYear(), date.getMonth(), date.getDate() + n);
}
function clock(us, seconds = true) {
    return new Date(us / 1000).toLocaleTimeString(undefined,
        { hour: "2-digit", minute: "2-digit", second: seconds ? "2-digit" : undefined });
}
const kindName = { ring: "Ring", motion: "Motion" };

/** Plays /api/playback into a <video> through MediaSource. */
class Player {
    constructor(video, onStatus) {
        this.video = video;
        this.onStatus = onStatus;
        this.abort = null;
        this.startUs = 0;
        this.camera = "";
        video.addEventListener("waiting", () => this.jumpGap());
        video.addEventListener("timeupdate", () => this.jumpGap());
    }

    /** Wall-clock time of what is on screen (µs), or 0. */
    nowUs() {
        return this.startUs ? this.startUs + this.video.currentTime * 1e6 : 0;
    }

    stop() {
        this.abort?.abort();
        this.abort = null;
    }

    async play(camera, fromUs) {
        this.stop();
        const abort = new AbortController();
        this.abort = abort;
        this.camera = camera;
        const clicked = performance.now();
        this.video.dataset.seekMs = "";
        const video = this.video;
        if (!window.MediaSource)
            throw new Error("this browser cannot play recordings (no MediaSource); use Export");
        const response = await fetch(`/api/playback?camera=${encodeURIComponent(camera)}&from=${fromUs}`,
            { signal: abort.signal, credentials: "same-origin", cache: "no-store" });
        if (!response.ok) {
            let message = `porchlightd answered ${response.status}`;
            try {
                message = (await response.json()).error || message;
            } catch { /* not JSON */ }
            throw new ApiError(response.status, message);
        }
        const codec = response.headers.get("X-Porchlight-Codec") || "avc1.42e01e";
        const startUs = Number(response.headers.get("X-Porchlight-Start-Us"));
        const source = new MediaSource();
        const url = URL.createObjectURL(source);
        video.src = url;
        await new Promise((resolve) => source.addEventListener("sourceopen", resolve, { once: true }));
        URL.revokeObjectURL(url);
        if (abort.signal.aborted)
            return;
        const buffer = source.addSourceBuffer(`video/mp4; codecs="${codec}"`);
        this.startUs = startUs;
        let first = true;
        const reader = response.body.getReader();
        const appended = () => new Promise((resolve, reject) => {
            buffer.addEventListener("updateend", resolve, { once: true });
            buffer.addEventListener("error", reject, { once: true });
        });
        const firstFrame = new Promise((resolve) => {
            if (video.requestVideoFrameCallback)
                video.requestVideoFrameCallback(() => resolve());
            else
                video.addEventListener("playing", () => resolve(), { once: true });
        });
        firstFrame.then(() => {
            if (abort.signal.aborted)
                return;
            const ms = Math.round(performance.now() - clicked);
            video.dataset.seekMs = String(ms);
            this.onStatus(`Playing from ${clock(fromUs)} (first frame in ${ms} ms).`);
        });
        try {
            for (;;) {
                const { value, done } = await reader.read();
                if (done || abort.signal.aborted)
                    break;
                // Back-pressure: the server makes the next piece only once
                // this one is read.
                while (!abort.signal.aborted && video.buffered.length &&
                    video.buffered.end(video.buffered.length - 1) - video.currentTime > kBufferAheadS)
                    await new Promise((r) => setTimeout(r, 500));
                buffer.appendBuffer(value);
                await appended();
                if (first) {
                    first = false;
                    video.currentTime = Math.max(0, (fromUs - startUs) / 1e6);
                    video.play().catch(() => {});
                }
            }
            if (!abort.signal.aborted && source.readyState === "open")
                source.endOfStream();
        } catch (e) {
            if (!abort.signal.aborted)
                throw e;
        }
    }

    /** Past the end of one buffered range with another after it: jump there. */
    jumpGap() {
        const v = this.video;
        const b = v.buffered;
        for (let i = 0; i + 1 < b.length; ++i)
            if (v.currentTime >= b.end(i) - 0.15 && v.currentTime < b.start(i + 1)) {
                const fromUs = this.startUs + b.end(i) * 1e6;
                const toUs = this.startUs + b.start(i + 1) * 1e6;
                v.currentTime = b.start(i + 1);
                this.onGap?.(fromUs, toUs);
                return;
            }
    }
}

export function timelinePage(ctx) {
    const error = errorBox();
    const status = h("p", { role: "status", class: "hint", id: "timeline-status" }, "Loading…");
    const cameraSelect = h("select", { id: "tl-camera" });
    const dayLabel = h("strong", { id: "tl-day" });
    const prev = h("button", { type: "button", class: "secondary" }, "◀ Previous day");
    const next = h("button", { type: "button", class: "secondary" }, "Next day ▶");
    const nextEvent = h("button", { type: "button", class: "secondary", id: "tl-next-event" },
        "Next event ⏭");
    const video = h("video", { id: "tl-video", controls: true, muted: true, playsinline: true,
        "aria-label": "Recording" });
    video.muted = true;
    const playhead = h("p", { class: "hint", id: "tl-playhead" });
    const track = svg("svg", { viewBox: "0 0 1000 60", preserveAspectRatio: "none",
        class: "tl-track", "aria-hidden": "true" });
    const axis = h("div", { class: "tl-axis", role: "slider", tabindex: "0", id: "tl-axis",
        "aria-label": "Time of day: arrows move, Enter plays", "aria-valuemin": "0",
        "aria-valuemax": "86400", "aria-valuenow": "0" }, track);
    const eventList = h("ul", { class: "tl-events", id: "tl-events" });
    const player = new Player(video, (text) => { status.textContent = text; });
    // A gap in what was played where the index says there is a recording:
    // video that could not be decrypted (the daemon's log names the file).
    player.onGap = (fromUs, toUs) => {
        const recorded = data.ranges.reduce((n, r) =>
            n + Math.max(0, Math.min(r.endUs, toUs) - Math.max(r.startUs, fromUs)), 0);
        const seconds = ((toUs - fromUs) / 1e6).toFixed(1);
        status.textContent = recorded > 2e6
            ? `Skipped ${seconds} s from ${clock(fromUs)} that could not be read (damaged?); ` +
              "porchlightd's log names the file."
            : `Jumped over ${seconds} s without recording, to ${clock(toUs)}.`;
    };

    let day = dayStart(new Date());
    let camera = "";
    let data = { ranges: [], events: [] };
    let cursorUs = 0;
    let stopped = false;
    let timer = 0;

    const dayFromUs = () => day.getTime() * 1000;
    const dayToUs = () => addDays(day, 1).getTime() * 1000;
    // The bar shows the whole day, or a zoomed window of it: on a phone a
    // pixel of the whole day is about four minutes.
    const zoomSelect = h("select", { id: "tl-zoom" },
        h("option", { value: "0" }, "Whole day"),
        h("option", { value: "3600" }, "1 hour"),
        h("option", { value: "600" }, "10 minutes"));
    const hours = h("div", { class: "tl-hours", "aria-hidden": "true" });
    let spanUs = 0;      // 0: the whole day
    let centerUs = 0;    // middle of a zoomed window
    function viewFromUs() {
        if (!spanUs)
            return dayFromUs();
        return Math.min(dayToUs() - spanUs, Math.max(dayFromUs(), centerUs - spanUs / 2));
    }
    const viewToUs = () => (spanUs ? viewFromUs() + spanUs : dayToUs());
    const xOf = (us) => ((us - viewFromUs()) / (viewToUs() - viewFromUs())) * 1000;
    /** Keep \a us in a zoomed window: recentre when it leaves. */
    function follow(us) {
        if (spanUs && (us < viewFromUs() || us > viewToUs()))
            centerUs = us;
    }
    function latestUs() {
        const last = data.ranges[data.ranges.length - 1];
        return last ? last.endUs : Math.min(Date.now() * 1000, dayToUs());
    }
    zoomSelect.addEventListener("change", () => {
        spanUs = Number(zoomSelect.value) * 1e6;
        centerUs = cursorUs || latestUs();
        draw();
    });

    function failed(e) {
        if (stopped)
            return;
        if (e.status === 401)
            return ctx.sessionEnded();
        showError(error, e.message);
    }

    function draw() {
        const parts = [];
        // Ticks at a round step, about eight across; five time labels under the bar.
        const from = viewFromUs(), to = viewToUs();
        const step = [60e6, 300e6, 600e6, 1800e6, 3600e6, 10800e6].find((t) => (to - from) / t <= 9);
        for (let t = Math.ceil(from / step) * step; t <= to; t += step)
            parts.push(svg("line", { x1: xOf(t), x2: xOf(t), y1: 0, y2: 60, class: "tl-tick" }));
        hours.replaceChildren(...[0, 1, 2, 3, 4].map((i) =>
            h("span", {}, i === 4 && !spanUs ? "24:00" : clock(from + (i / 4) * (to - from), false))));
        for (const r of data.ranges) {
            const x1 = Math.max(0, xOf(r.startUs));
            const x2 = Math.min(1000, xOf(r.endUs));
            if (x2 < 0 || x1 > 1000)
                continue;
            // At least 4 units (a pixel or two) wide, so a short recording shows.
            parts.push(svg("rect", { x: Math.min(x1, 996), y: 18, width: Math.max(4, x2 - x1),
                height: 24,
                class: r.writing ? "tl-range writing" : "tl-range",
                "data-start-us": r.startUs, "data-end-us": r.endUs }));
        }
        for (const e of data.events) {
            const x = xOf(e.startUs);
            // Shape says the kind without colour: ring ▼ at the top, motion ▲ at the bottom.
            const path = e.kind === "ring" ? `M${x - 6},0 L${x + 6},0 L${x},14 Z`
                : `M${x - 5},60 L${x + 5},60 L${x},47 Z`;
            parts.push(svg("path", { d: path, class: `tl-event ${e.kind}`, "data-event": e.id }));
        }
        if (cursorUs)
            parts.push(svg("line", { x1: xOf(cursorUs), x2: xOf(cursorUs), y1: 0, y2: 60,
                class: "tl-cursor" }));
        track.replaceChildren(...parts);
        dayLabel.textContent = day.toLocaleDateString(undefined,
            { weekday: "long", year: "numeric", month: "long", day: "numeric" });
        next.disabled = addDays(day, 1) > new Date();
        const seconds = cursorUs ? Math.round((cursorUs - dayFromUs()) / 1e6) : 0;
        axis.setAttribute("aria-valuenow", String(seconds));
        axis.setAttribute("aria-valuetext", cursorUs ? clock(cursorUs) : "no time chosen");
    }

    function listEvents() {
        eventList.replaceChildren(...data.events.map((e) => h("li", { "data-event": e.id },
            e.snapshot ? h("img", { src: `/api/events/${e.id}/snapshot`, loading: "lazy",
                width: 96, height: 72, alt: `Snapshot of the ${e.kind} at ${clock(e.startUs)}` })
                : null,
            h("button", { type: "button", class: "link", onclick: () => playAt(e.startUs - 3e6) },
                `${e.kind === "ring" ? "▼" : "▲"} ${kindName[e.kind] || e.kind} at ${clock(e.startUs)}`),
            e.protected ? " (protected)" : "")));
        if (!data.events.length)
            eventList.append(h("li", {}, "No events this day."));
    }

    async function load() {
        clearTimeout(timer);
        if (!camera)
            return;
        try {
            const got = await api(`/api/recordings?camera=${encodeURIComponent(camera)}` +
                `&from=${dayFromUs()}&to=${dayToUs()}`);
            if (stopped)
                return;
            data = got;
            showError(error, "");
            draw();
            listEvents();
            const recorded = data.ranges.reduce((s, r) => s + (r.endUs - r.startUs), 0) / 60e6;
            if (!player.abort)
                status.textContent = data.ranges.length
                    ? `${data.ranges.length} recorded range${data.ranges.length > 1 ? "s" : ""}, ` +
                      `${recorded.toFixed(1)} min; ${data.events.length} events. ` +
                      "Click the bar to play from that moment."
                    : "Nothing recorded this day.";
        } catch (e) {
            failed(e);
        }
        if (!stopped && addDays(day, 1) > new Date())
            timer = setTimeout(load, kRefreshMs);
    }

    async function playAt(us) {
        cursorUs = us;
        follow(us);
        draw();
        showError(error, "");
        status.textContent = `Loading ${clock(us)}…`;
        try {
            await player.play(camera, Math.round(us));
        } catch (e) {
            failed(e);
        }
    }

    /** A moment in a gap (or a click a pixel off a short range, a pixel is
     *  minutes on a phone) becomes the nearest recorded moment. */
    function snap(us) {
        let best = us;
        let bestDistance = Infinity;
        for (const r of data.ranges) {
            if (us >= r.startUs && us < r.endUs)
                return us;
            const target = us < r.startUs ? r.startUs : Math.max(r.startUs, r.endUs - 10e6);
            const distance = Math.abs(target - us);
            if (distance < bestDistance) {
                bestDistance = distance;
                best = target;
            }
        }
        return best;
    }

    function usAtPointer(event) {
        const box = axis.getBoundingClientRect();
        const f = Math.min(1, Math.max(0, (event.clientX - box.left) / box.width));
        return viewFromUs() + f * (viewToUs() - viewFromUs());
    }
    let dragging = false;
    axis.addEventListener("pointerdown", (e) => {
        dragging = true;
        axis.setPointerCapture?.(e.pointerId);
        cursorUs = usAtPointer(e);
        draw();
    });
    axis.addEventListener("pointermove", (e) => {
        if (!dragging)
            return;
        cursorUs = usAtPointer(e);
        draw();
        status.textContent = `Release to play from ${clock(cursorUs)}.`;
    });
    axis.addEventListener("pointerup", (e) => {
        if (!dragging)
            return;
        dragging = false;
        playAt(snap(usAtPointer(e)));
    });
    axis.addEventListener("keydown", (e) => {
        const step = (e.shiftKey ? 10 : 1) * (spanUs && spanUs <= 600e6 ? 10e6 : 60e6);
        if (!cursorUs)
            cursorUs = data.ranges.length ? data.ranges[0].startUs : dayFromUs();
        if (e.key === "ArrowLeft" || e.key === "ArrowRight") {
            cursorUs = Math.min(dayToUs(), Math.max(dayFromUs(),
                cursorUs + (e.key === "ArrowLeft" ? -step : step)));
            follow(cursorUs);
            draw();
            status.textContent = `${clock(cursorUs)}: press Enter to play.`;
            e.preventDefault();
        } else if (e.key === "Enter" || e.key === " ") {
            playAt(snap(cursorUs));
            e.preventDefault();
        }
    });
    video.addEventListener("timeupdate", () => {
        const now = player.nowUs();
        if (!now)
            return;
        playhead.textContent = `On screen: ${clock(now)}`;
        cursorUs = now;
        follow(now);
        if (!dragging)
            draw();
    });
    nextEvent.addEventListener("click", () => {
        const after = (player.nowUs() || cursorUs || dayFromUs()) + 1e6;
        const e = data.events.find((ev) => ev.startUs - 3e6 > after) ||
            data.events.find((ev) => ev.startUs > after);
        if (!e) {
            status.textContent = "No later event this day.";
            return;
        }
        playAt(e.startUs - 3e6);
    });
    prev.addEventListener("click", () => { day = addDays(day, -1); player.stop(); cursorUs = 0; load(); });
    next.addEventListener("click", () => { day = addDays(day, 1); player.stop(); cursorUs = 0; load(); });
    cameraSelect.addEventListener("change", () => { camera = cameraSelect.value; player.stop(); load(); });

    api("/api/cameras").then(({ cameras }) => {
        if (stopped)
            return;
        cameraSelect.replaceChildren(...cameras.map((c) => h("option", { value: c.id }, c.id)));
        camera = cameras[0]?.id || "";
        if (!camera)
            status.textContent = "No cameras are configured.";
        load();
    }, failed);

    const cameraId = "tl-camera";
    return {
        title: "Timeline",
        node: h("section", { "aria-labelledby": "tl-h" },
            h("h1", { id: "tl-h", tabindex: "-1" }, "Timeline"),
            h("div", { class: "tl-controls" },
                h("div", { class: "field" }, h("label", { for: cameraId }, "Camera"), cameraSelect),
                h("div", { class: "actions" }, prev, dayLabel, next),
                h("div", { class: "field" }, h("label", { for: "tl-zoom" }, "Show"), zoomSelect)),
            error,
            axis,
            hours,
            h("p", { class: "hint" }, "▬ recorded · ▼ ring · ▲ motion. Click or drag on the bar to " +
                "play from that moment; with the keyboard: arrows (Shift: ten steps), then Enter."),
            video, playhead,
            h("div", { class: "actions" }, nextEvent),
            status,
            h("h2", {}, "Events"),
            eventList),
        stop() {
            stopped = true;
            clearTimeout(timer);
            player.stop();
        },
    };
}
