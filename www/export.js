// The Export page: a camera and a time range, or one event, downloaded as a
// standard MP4 (/api/export). porchlightd records each export in the audit log.
import { api } from "./api.js";
import { h, errorBox, showError, field } from "./dom.js";

/** "2026-11-29T14:05:00" in local time, as datetime-local inputs take it. */
function localInput(ms) {
    const d = new Date(ms);
    const p = (n) => String(n).padStart(2, "0");
    return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:` +
        `${p(d.getMinutes())}:${p(d.getSeconds())}`;
}
function clock(us) {
    return new Date(us / 1000).toLocaleString(undefined, { dateStyle: "short", timeStyle: "medium" });
}

export function exportPage(ctx) {
    const error = errorBox();
    const status = h("p", { role: "status", class: "hint", id: "export-status" });
    const cameraSelect = h("select", { id: "ex-camera", name: "camera" });
    const now = Date.now();
    const from = field("From", { type: "datetime-local", step: "1", name: "from", required: true,
        value: localInput(now - 5 * 60000) }, "Local time.");
    const to = field("To", { type: "datetime-local", step: "1", name: "to", required: true,
        value: localInput(now) });
    const eventSelect = h("select", { id: "ex-event", name: "event" },
        h("option", { value: "" }, "Loading events…"));
    const link = h("a", { hidden: true, id: "ex-link" });
    let stopped = false;

    function failed(e) {
        if (stopped)
            return;
        if (e.status === 401)
            return ctx.sessionEnded();
        showError(error, e.message);
    }

    function download(query, name) {
        link.href = `/api/export?${query}`;
        link.setAttribute("download", name);
        link.click();
        status.textContent = "Download started: porchlightd decrypts and sends the clip as it " +
            "goes. It is recorded in the audit log.";
    }

    async function loadEvents() {
        const camera = cameraSelect.value;
        if (!camera)
            return;
        const toUs = Date.now() * 1000;
        try {
            const { events } = await api(`/api/recordings?camera=${encodeURIComponent(camera)}` +
                `&from=${toUs - 24 * 3600e6}&to=${toUs}`);
            if (stopped)
                return;
            eventSelect.replaceChildren(...(events.length
                ? events.slice().reverse().map((e) => h("option", { value: e.id },
                    `${e.kind === "ring" ? "Ring" : "Motion"} at ${clock(e.startUs)}`))
                : [h("option", { value: "" }, "No events in the last 24 hours")]));
        } catch (e) {
            failed(e);
        }
    }

    const rangeForm = h("form", { id: "ex-range", "aria-labelledby": "ex-range-h" },
        h("h2", { id: "ex-range-h" }, "A time range"),
        h("div", { class: "field" }, h("label", { for: "ex-camera" }, "Camera"), cameraSelect),
        from.node, to.node,
        h("div", { class: "actions" }, h("button", { type: "submit" }, "Download MP4")));
    rangeForm.addEventListener("submit", async (e) => {
        e.preventDefault();
        showError(error, "");
        const fromUs = new Date(from.input.value).getTime() * 1000;
        const toUs = new Date(to.input.value).getTime() * 1000;
        if (!(fromUs > 0) || !(toUs > 0))
            return showError(error, "choose both times");
        if (toUs <= fromUs)
            return showError(error, "\"To\" must come after \"From\"");
        const camera = cameraSelect.value;
        // Ask first whether anything is there, so an empty range is said in
        // words instead of a failed download.
        try {
            const { ranges } = await api(`/api/recordings?camera=${encodeURIComponent(camera)}` +
                `&from=${fromUs}&to=${toUs}`);
            if (!ranges.length)
                return showError(error, `camera ${camera} recorded nothing in that range`);
        } catch (err) {
            return failed(err);
        }
        download(`camera=${encodeURIComponent(camera)}&from=${fromUs}&to=${toUs}`,
            `porchlight-${camera}.mp4`);
    });

    const eventForm = h("form", { id: "ex-event-form", "aria-labelledby": "ex-event-h" },
        h("h2", { id: "ex-event-h" }, "Or one event"),
        h("div", { class: "field" }, h("label", { for: "ex-event" }, "Event"), eventSelect),
        h("div", { class: "actions" }, h("button", { type: "submit" }, "Download event")));
    eventForm.addEventListener("submit", (e) => {
        e.preventDefault();
        showError(error, "");
        if (!eventSelect.value)
            return showError(error, "choose an event");
        download(`event=${encodeURIComponent(eventSelect.value)}`,
            `porchlight-event-${eventSelect.value}.mp4`);
    });
    cameraSelect.addEventListener("change", loadEvents);

    api("/api/cameras").then(({ cameras }) => {
        if (stopped)
            return;
        cameraSelect.replaceChildren(...cameras.map((c) => h("option", { value: c.id }, c.id)));
        loadEvents();
    }, failed);

    return {
        title: "Export",
        node: h("section", { "aria-labelledby": "ex-h" },
            h("h1", { id: "ex-h", tabindex: "-1" }, "Export"),
            h("p", {}, "Download a clip as a standard MP4 file that any player opens. The " +
                "video is decrypted as it is sent and never stored in the clear; each export " +
                "is recorded in the audit log."),
            error, rangeForm, eventForm, status, link),
        stop() {
            stopped = true;
        },
    };
}
