// The pages after login: Live, Audit, and those whose API is not built yet.
import { api } from "./api.js";
import { livePlayer } from "./live.js";
import { h, errorBox, showError, timeElement, ago, formatBitrate, formatTime } from "./dom.js";

const kRefreshMs = 2000;

/**
 * Each camera's live picture (live.js), with its state and last events beside
 * it from /api/cameras, refreshed every 2 s. A camera's card and player stay
 * while the page is open; only the details are redrawn.
 */
export function livePage(ctx) {
    const list = h("div", { class: "cameras", id: "cameras" }, h("p", {}, "Loading cameras…"));
    const error = errorBox();
    const updated = h("p", { class: "hint", id: "updated" });
    const cards = new Map();  // id -> { node, details, player }
    let timer = 0;
    let stopped = false;

    function card(c) {
        let entry = cards.get(c.id);
        if (!entry) {
            const player = livePlayer(c.id, ctx);
            const details = h("div", { class: "camera-details" });
            const node = h("article", { class: "camera", "data-camera": c.id,
                "aria-labelledby": `cam-${c.id}` },
            h("h2", { id: `cam-${c.id}` }, c.id), player.node, details);
            entry = { node, details, player };
            cards.set(c.id, entry);
        }
        entry.details.replaceChildren(cameraDetails(c));
        return entry.node;
    }

    async function refresh() {
        try {
            const { cameras } = await api("/api/cameras");
            if (stopped)
                return;
            showError(error, "");
            for (const [id, entry] of cards)
                if (!cameras.some((c) => c.id === id)) {
                    entry.player.stop();
                    cards.delete(id);
                }
            list.replaceChildren(...(cameras.length ? cameras.map(card)
                : [h("p", {}, "No cameras are configured. Add a [[camera]] to porchlightd's " +
                    "configuration file.")]));
            updated.textContent = `Updated ${new Date().toLocaleTimeString()}.`;
        } catch (e) {
            if (stopped)
                return;
            if (e.status === 401)
                return ctx.sessionEnded();
            showError(error, e.message);
        }
        if (!stopped)
            timer = setTimeout(refresh, kRefreshMs);
    }
    refresh();

    return {
        title: "Live",
        node: h("section", { "aria-labelledby": "live-h" },
            h("h1", { id: "live-h", tabindex: "-1" }, "Live"),
            error, list, updated),
        stop() {
            stopped = true;
            clearTimeout(timer);
            for (const entry of cards.values())
                entry.player.stop();
        },
    };
}

function cameraDetails(c) {
    const now = Date.now();
    const when = (us) => us ? [timeElement(us), ` (${ago(us, now)})`] : "never";
    const row = (name, ...value) => [h("dt", {}, name), h("dd", {}, ...value)];
    const streaming = c.state === "streaming";
    return h("dl", {},
        row("State", h("span", { class: `badge ${streaming ? "ok" : "warn"}` },
            streaming ? "✓ " : "! ", c.state)),
        row("Recording", c.recording ? h("span", { class: "badge rec" }, "● Recording")
            : "Not recording"),
        row("Last ring", when(c.lastRingUs)),
        row("Last motion", when(c.lastMotionUs)),
        row("Mode", c.mode),
        row("Resolution", c.width && c.height ? `${c.width} × ${c.height}` : "—"),
        row("Frame rate", c.fps ? `${Number(c.fps).toFixed(1)} fps` : "—"),
        row("Bitrate", formatBitrate(c.bitrateBps)),
        row("Source", c.source),
        c.lastError ? row("Problem", h("span", { class: "problem" }, c.lastError)) : null);
}

/** The audit log, newest first, 50 at a time. */
export function auditPage(ctx) {
    const kPage = 50;
    const body = h("tbody", { id: "audit-rows" });
    const error = errorBox();
    const more = h("button", { type: "button", class: "secondary", hidden: true }, "Show older");
    const status = h("p", { role: "status", class: "hint" }, "Loading…");
    let offset = 0;
    let stopped = false;

    async function load() {
        more.disabled = true;
        try {
            const { entries } = await api(`/api/audit?offset=${offset}&limit=${kPage}`);
            if (stopped)
                return;
            showError(error, "");
            body.append(...entries.map(auditRow));
            offset += entries.length;
            more.hidden = entries.length < kPage;
            status.textContent = offset ? `${offset} entries shown, newest first.`
                : "The audit log is empty.";
        } catch (e) {
            if (stopped)
                return;
            if (e.status === 401)
                return ctx.sessionEnded();
            showError(error, e.message);
        }
        more.disabled = false;
    }
    more.addEventListener("click", load);
    load();

    return {
        title: "Audit",
        node: h("section", { "aria-labelledby": "audit-h" },
            h("h1", { id: "audit-h", tabindex: "-1" }, "Audit log"),
            h("p", {}, "Every login, setup and logout is recorded here. Each entry commits to " +
                "the one before it, so a removed or changed entry shows."),
            error, status,
            h("table", { class: "audit" },
                h("caption", { class: "visually-hidden" }, "Audit log entries, newest first"),
                h("thead", {}, h("tr", {},
                    h("th", { scope: "col" }, "Time"), h("th", { scope: "col" }, "Kind"),
                    h("th", { scope: "col" }, "Who"), h("th", { scope: "col" }, "Detail"))),
                body),
            h("div", { class: "actions" }, more)),
        stop() {
            stopped = true;
        },
    };
}

function auditRow(e) {
    const detail = e.detail && typeof e.detail === "object" ? Object.entries(e.detail)
        .map(([k, v]) => `${k}: ${typeof v === "object" ? JSON.stringify(v) : v}`).join(", ")
        : String(e.detail ?? "");
    return h("tr", { "data-kind": e.kind, title: `#${e.seq} ${formatTime(e.time_us)}` },
        h("td", { "data-label": "Time" }, timeElement(e.time_us)),
        h("td", { "data-label": "Kind" }, h("strong", {}, e.kind)),
        h("td", { "data-label": "Who" }, e.who || "—"),
        h("td", { "data-label": "Detail" }, detail || "—"));
}

function notBuilt(sentence) {
    return h("p", { class: "not-built" }, h("strong", {}, "Not built yet: "), sentence);
}

/** A page whose API does not exist yet: it says so rather than pretend. */
export function notBuiltPage(title, sentence) {
    return () => ({
        title,
        node: h("section", { "aria-labelledby": "nb-h" },
            h("h1", { id: "nb-h", tabindex: "-1" }, title),
            notBuilt(sentence)),
    });
}
