// The Settings page: per camera recording mode, retention (with the disk it
// needs), motion zones and privacy masks drawn on the current picture,
// doorbell line; storage state; the events (protect, delete); the passphrase.
//
// Shapes live in two text areas (one polygon per line, "x,y x,y x,y", in
// fractions of the picture), which the pointer drawing only appends to: the
// keyboard and the mouse edit the same thing.
import { api } from "./api.js";
import { h, errorBox, showError, field, newId, timeElement, formatTime } from "./dom.js";

const kCanvasWidth = 640;

export function settingsPage(ctx) {
    const error = errorBox();
    const storageBox = h("div", { id: "storage" }, h("p", {}, "Loading…"));
    const camerasBox = h("div", { class: "cameras", id: "camera-settings" });
    const eventsBox = h("div", { id: "events" });
    let stopped = false;
    // What the last save said, per camera: the form is built anew after it.
    const notes = {};

    const fail = (e, box = error) => {
        if (stopped)
            return;
        if (e.status === 401)
            return ctx.sessionEnded();
        showError(box, e.message);
    };

    async function load() {
        try {
            const data = await api("/api/settings");
            if (stopped)
                return;
            storageBox.replaceChildren(storageView(data.storage));
            camerasBox.replaceChildren(...(data.cameras.length
                ? data.cameras.map((c) => cameraForm(c, fail, load, notes))
                : [h("p", {}, "No cameras.")]));
        } catch (e) {
            fail(e);
        }
        loadEvents();
    }

    async function loadEvents() {
        try {
            const { events } = await api("/api/events?limit=50");
            if (!stopped)
                eventsBox.replaceChildren(eventsView(events, fail, loadEvents));
        } catch (e) {
            fail(e);
        }
    }
    load();

    return {
        title: "Settings",
        node: h("section", { "aria-labelledby": "settings-h" },
            h("h1", { id: "settings-h", tabindex: "-1" }, "Settings"),
            error,
            h("h2", {}, "Storage"), storageBox,
            camerasBox,
            h("h2", { id: "events-h" }, "Events"), eventsBox,
            passphraseForm(fail)),
        stop() {
            stopped = true;
        },
    };
}

// ---- sizes

const kUnits = [["TiB", 2 ** 40], ["GiB", 2 ** 30], ["MiB", 2 ** 20], ["KiB", 2 ** 10]];

export function formatBytes(n) {
    if (n === null || n === undefined)
        return "—";
    for (const [unit, size] of kUnits)
        if (n >= size)
            return `${(n / size).toFixed(n >= 10 * size ? 0 : 1)} ${unit}`;
    return `${n} B`;
}

/** "50GiB", "2 GB", "123" (bytes) -> bytes; "" -> 0 (no limit); NaN when unreadable. */
export function parseSize(text) {
    const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]i?b?|b)?\s*$/i.exec(text);
    if (!text.trim())
        return 0;
    if (!m)
        return NaN;
    const unit = (m[2] || "b").toLowerCase().replace(/b$/, "");
    const bin = { "": 1, ki: 2 ** 10, mi: 2 ** 20, gi: 2 ** 30, ti: 2 ** 40 };
    const dec = { k: 1e3, m: 1e6, g: 1e9, t: 1e12 };
    const factor = unit in bin ? bin[unit] : dec[unit];
    return factor ? Math.round(Number(m[1]) * factor) : NaN;
}

/** The same rule as the daemon's retentionEstimate() (docs/ref/http-api.md). */
export function estimate(r, bytesPerDay) {
    const kinds = [r.continuousDays, r.motionDays, r.ringDays].filter((d) => d > 0);
    let days = kinds.length ? Math.max(...kinds) : null;
    if (r.maxDays > 0)
        days = days === null ? r.maxDays : Math.min(days, r.maxDays);
    if (days === null)
        return r.maxBytes > 0 ? r.maxBytes : null;
    const bytes = Math.floor(bytesPerDay * days);
    return r.maxBytes > 0 ? Math.min(bytes, r.maxBytes) : bytes;
}

function storageView(s) {
    if (!s)
        return h("p", {}, "Storage is not available.");
    const total = s.usedBytes + s.freeBytes;
    return h("div", {},
        s.diskFull ? h("p", { class: "error", role: "alert" },
            "⚠ The disk is full: recording has stopped until space is freed. Lower a " +
            "retention, or release protected events.") : null,
        h("dl", { class: "facts" },
            h("dt", {}, "Recordings"), h("dd", { id: "storage-used" }, formatBytes(s.usedBytes)),
            h("dt", {}, "Free"), h("dd", {}, `${formatBytes(s.freeBytes)}` +
                (total ? ` (${Math.round(100 * s.freeBytes / total)} % of the disk)` : "")),
            h("dt", {}, "Oldest recording"), h("dd", {}, s.oldestUs ? timeElement(s.oldestUs) : "none"),
            s.lastProblem ? [h("dt", {}, "Last problem"),
                h("dd", { class: "problem" }, s.lastProblem)] : null));
}

// ---- one camera

function numberField(label, value, hint, attrs = {}) {
    return field(label, {
        type: "text", inputmode: "decimal", value: value ?? "", autocomplete: "off", ...attrs,
    }, hint);
}

function cameraForm(c, fail, reload, notes) {
    const id = c.id;
    const error = errorBox();
    const status = h("p", { role: "status", class: "hint" }, notes[id] || "");
    delete notes[id];

    const modeId = newId("mode");
    const mode = h("select", { id: modeId, name: "mode" },
        ...["continuous", "events", "off"].map((m) =>
            h("option", { value: m, selected: c.mode === m }, m)));

    const r = c.retention;
    const days = (v) => (v ? String(v) : "");
    const ret = {
        maxDays: numberField("Keep at most (days)", days(r.maxDays), "Empty: no age limit."),
        maxBytes: numberField("Use at most (size)", r.maxBytes ? formatBytes(r.maxBytes).replace(" ", "") : "",
            "For example 50GiB or 500MB. Empty: no size limit.", { inputmode: "text" }),
        continuousDays: numberField("Video outside events (days)", days(r.continuousDays), ""),
        motionDays: numberField("Motion events (days)", days(r.motionDays), ""),
        ringDays: numberField("Doorbell rings (days)", days(r.ringDays), ""),
    };
    const estimateOut = h("output", { class: "estimate", "aria-live": "polite" });
    function retentionValues() {
        const v = {};
        for (const [k, f] of Object.entries(ret))
            v[k] = k === "maxBytes" ? parseSize(f.input.value) : Number(f.input.value.trim() || 0);
        return v;
    }
    function updateEstimate() {
        const v = retentionValues();
        if (Object.values(v).some((x) => Number.isNaN(x)))
            return void (estimateOut.textContent = "Estimate: — (a value is not a number)");
        const e = estimate(v, c.estimate.bytesPerDay);
        estimateOut.textContent = e === null
            ? "Estimate: no limit: recordings grow until the disk's minimum free space."
            : `Estimate: about ${formatBytes(e)} of disk` +
              (c.estimate.bytesPerDay ? ` (${formatBytes(c.estimate.bytesPerDay)} a day, ` +
                  `${c.estimate.basis})` : " (no rate known yet)");
    }
    for (const f of Object.values(ret))
        f.input.addEventListener("input", updateEstimate);
    updateEstimate();

    const motionOn = h("input", { type: "checkbox", id: newId("motion"), checked: c.motion.enabled });
    const sensitivity = numberField("Motion sensitivity (0 to 1)", String(c.motion.sensitivity),
        "Higher fires on smaller, fainter changes.");

    const bell = c.doorbell || {};
    const chip = field("Doorbell GPIO chip", { type: "text", value: bell.chip || "", autocomplete: "off" },
        "For example gpiochip0. Empty: no button.");
    const line = numberField("Doorbell GPIO line", bell.line ?? "", "0 to 511, as gpioinfo lists them.",
        { inputmode: "numeric" });
    const activeLow = h("input", { type: "checkbox", id: newId("al"), checked: bell.activeLow ?? true });

    const shapes = shapeEditor(c);

    const fields = { mode, ...Object.fromEntries(Object.entries(ret).map(([k, f]) => [`retention.${k}`, f.input])),
        "motion.sensitivity": sensitivity.input, "doorbell.chip": chip.input, "doorbell.line": line.input,
        masks: shapes.masks, "motion.zones": shapes.zones };

    const save = h("button", { type: "submit" }, `Save ${id}`);
    const form = h("form", { class: "camera", "data-camera": id, novalidate: true,
        "aria-labelledby": `set-${id}` },
    h("h2", { id: `set-${id}` }, `Camera ${id}`),
    h("div", { class: "field" }, h("label", { for: modeId }, "Recording mode"),
        h("p", { class: "hint" }, "continuous: always; events: around motion and rings; off."), mode),
    h("fieldset", {}, h("legend", {}, "Retention"),
        ...Object.values(ret).map((f) => f.node), estimateOut,
        h("p", { class: "hint" }, `Now: ${formatBytes(c.usedBytes)} recorded; set by ${c.retentionSource}.`)),
    h("fieldset", {}, h("legend", {}, "Motion"),
        h("div", { class: "check" }, motionOn, h("label", { for: motionOn.id }, "Detect motion")),
        sensitivity.node),
    shapes.node,
    h("fieldset", {}, h("legend", {}, "Doorbell button"), chip.node, line.node,
        h("div", { class: "check" }, activeLow,
            h("label", { for: activeLow.id }, "Pressed reads 0 (button to ground)"))),
    error, h("div", { class: "actions" }, save), status);

    // What the form says, as the API takes it. Only what differs from what the
    // page showed is sent, so a save does not pin the other settings in
    // settings.toml (the configuration files keep deciding them).
    function collect() {
        const v = retentionValues();
        for (const [k, x] of Object.entries(v))
            if (Number.isNaN(x))
                throw Object.assign(new Error(`retention.${k}: not a number or size`),
                    { field: `retention.${k}` });
        const body = {
            mode: mode.value,
            retention: v,
            motion: { enabled: motionOn.checked, sensitivity: Number(sensitivity.input.value),
                zones: shapes.parse("zones") },
            doorbell: chip.input.value.trim() ? { chip: chip.input.value.trim(),
                line: Number(line.input.value), activeLow: activeLow.checked } : null,
        };
        if (c.masksAllowed)
            body.masks = shapes.parse("masks");
        return body;
    }
    let initial = {};
    try {
        initial = collect();
    } catch {
        // Shown when the owner saves.
    }

    form.addEventListener("submit", async (event) => {
        event.preventDefault();
        showError(error, "");
        for (const el of Object.values(fields))
            el.removeAttribute("aria-invalid");
        let body;
        try {
            body = changedOnly(collect(), initial);
        } catch (e) {
            return markField(e.field, e.message);
        }
        if (!Object.keys(body).length) {
            status.textContent = "Nothing changed.";
            return;
        }
        save.disabled = true;
        status.textContent = "Saving…";
        try {
            const result = await api(`/api/cameras/${encodeURIComponent(id)}/settings`,
                { method: "PUT", body });
            notes[id] = result.changed ? `Saved (${result.changed} change(s)).`
                : "Nothing changed.";
            status.textContent = notes[id];
            reload();
        } catch (e) {
            status.textContent = "";
            if (e.status === 401)
                return fail(e);
            markField(e.field, e.message);
        }
        save.disabled = false;
    });
    function markField(name, message) {
        showError(error, message);
        const el = fields[name] || fields[(name || "").replace(/\[.*$/, "")];
        if (el) {
            el.setAttribute("aria-invalid", "true");
            el.focus();
        }
    }
    return form;
}

/** The members of \a body that differ from \a before (motion member by member). */
function changedOnly(body, before) {
    const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);
    const out = {};
    for (const [k, v] of Object.entries(body)) {
        if (k === "motion") {
            const m = Object.fromEntries(Object.entries(v)
                .filter(([mk, mv]) => !same(mv, before.motion?.[mk])));
            if (Object.keys(m).length)
                out.motion = m;
        } else if (k === "retention") {
            const r = Object.fromEntries(Object.entries(v)
                .filter(([rk, rv]) => !same(rv, before.retention?.[rk])));
            if (Object.keys(r).length)
                out.retention = r;
        } else if (!same(v, before[k])) {
            out[k] = v;
        }
    }
    return out;
}

// ---- shapes

function formatShape(points) {
    return points.map(([x, y]) => `${+x.toFixed(3)},${+y.toFixed(3)}`).join(" ");
}

function parsePoints(text, where) {
    const points = text.trim().split(/\s+/).map((pair) => pair.split(",").map(Number));
    if (points.length < 3 || points.some((p) => p.length !== 2 || p.some((n) => !(n >= 0 && n <= 1))))
        throw Object.assign(new Error(`${where}: write at least 3 points as x,y with x and y ` +
            "from 0 to 1, separated by spaces"), { field: where.startsWith("mask") ? "masks" : "motion.zones" });
    return points;
}

function shapeEditor(c) {
    const masks = h("textarea", { id: newId("masks"), rows: 3, spellcheck: "false",
        disabled: !c.masksAllowed },
    c.masks.map(formatShape).join("\n"));
    const zones = h("textarea", { id: newId("zones"), rows: 3, spellcheck: "false" },
        c.motion.zones.map((z) => `${z.mode} ${formatShape(z.points)}`).join("\n"));
    const w = c.width || 16, ht = c.height || 9;
    const canvas = h("canvas", { width: kCanvasWidth, height: Math.round(kCanvasWidth * ht / w),
        class: "draw", "data-camera": c.id, tabindex: "-1",
        "aria-label": `Picture of camera ${c.id}: click to add corners of the shape` });
    const kindId = newId("kind");
    const kind = h("select", { id: kindId },
        c.masksAllowed ? h("option", { value: "mask" }, "Privacy mask (black box)") : null,
        h("option", { value: "include" }, "Motion zone: include"),
        h("option", { value: "exclude" }, "Motion zone: exclude"));
    const finish = h("button", { type: "button", class: "secondary" }, "Finish shape");
    const cancel = h("button", { type: "button", class: "secondary" }, "Cancel shape");
    const note = h("p", { class: "hint", role: "status" });
    let picture = null;
    let pending = [];

    const img = new Image();
    img.addEventListener("load", () => {
        picture = img;
        note.textContent = "Drawn on the camera's current picture.";
        draw();
    });
    img.addEventListener("error", () => {
        note.textContent = "No current picture (the camera is offline, or pictures are not " +
            "available): drawing on a blank frame of the camera's shape.";
        draw();
    });
    img.src = `/api/cameras/${encodeURIComponent(c.id)}/snapshot`;

    function lines(area) {
        return area.value.split("\n").map((l) => l.trim()).filter(Boolean);
    }
    function draw() {
        const g = canvas.getContext("2d");
        const W = canvas.width, H = canvas.height;
        g.fillStyle = "#777068";
        g.fillRect(0, 0, W, H);
        if (picture)
            g.drawImage(picture, 0, 0, W, H);
        const path = (pts) => {
            g.beginPath();
            pts.forEach(([x, y], i) => (i ? g.lineTo(x * W, y * H) : g.moveTo(x * W, y * H)));
        };
        const shape = (pts, fill, dash) => {
            path(pts);
            g.closePath();
            g.fillStyle = fill;
            g.fill();
            g.setLineDash(dash);
            g.lineWidth = 3;
            g.strokeStyle = "#ffffff";
            g.stroke();
            g.setLineDash([]);
        };
        // Masks solid black, include zones dashed, exclude zones dotted: the
        // kinds differ by pattern, not only by colour.
        for (const l of lines(masks))
            try { shape(parsePoints(l, "mask"), "rgba(0,0,0,0.85)", []); } catch { /* shown on save */ }
        for (const l of lines(zones)) {
            const [m, ...rest] = l.split(/\s+/);
            try {
                shape(parsePoints(rest.join(" "), "zone"), m === "exclude" ? "rgba(160,40,0,0.35)"
                    : "rgba(0,110,40,0.30)", m === "exclude" ? [3, 5] : [12, 6]);
            } catch { /* shown on save */ }
        }
        if (pending.length) {
            path(pending);
            g.lineWidth = 3;
            g.strokeStyle = "#ffd000";
            g.stroke();
            for (const [x, y] of pending)
                g.fillRect(x * W - 4, y * H - 4, 8, 8);
        }
    }
    canvas.addEventListener("click", (event) => {
        const box = canvas.getBoundingClientRect();
        const x = Math.min(1, Math.max(0, (event.clientX - box.left) / box.width));
        const y = Math.min(1, Math.max(0, (event.clientY - box.top) / box.height));
        pending.push([x, y]);
        note.textContent = `${pending.length} corner(s); "Finish shape" when done (3 or more).`;
        draw();
    });
    finish.addEventListener("click", () => {
        if (pending.length < 3) {
            note.textContent = "A shape needs at least 3 corners: click on the picture.";
            return;
        }
        const text = formatShape(pending);
        const area = kind.value === "mask" ? masks : zones;
        area.value = [...lines(area), kind.value === "mask" ? text : `${kind.value} ${text}`].join("\n");
        pending = [];
        note.textContent = "Shape added below; Save to keep it.";
        draw();
    });
    cancel.addEventListener("click", () => {
        pending = [];
        draw();
    });
    masks.addEventListener("input", draw);
    zones.addEventListener("input", draw);
    draw();

    return {
        masks, zones,
        parse(which) {
            if (which === "masks")
                return lines(masks).map((l, i) => parsePoints(l, `mask ${i + 1}`));
            return lines(zones).map((l, i) => {
                const [m, ...rest] = l.split(/\s+/);
                if (m !== "include" && m !== "exclude")
                    throw Object.assign(new Error(`zone ${i + 1}: start the line with include or exclude`),
                        { field: "motion.zones" });
                return { mode: m, points: parsePoints(rest.join(" "), `zone ${i + 1}`) };
            });
        },
        node: h("fieldset", { class: "shapes" }, h("legend", {}, "Privacy masks and motion zones"),
            h("p", { class: "hint" }, "Click corners on the picture, then Finish shape. Or type: " +
                "one shape a line, corners as x,y from 0 to 1 (0,0 top left)."),
            h("div", { class: "field" }, h("label", { for: kindId }, "Shape to draw"), kind),
            canvas, note, h("div", { class: "actions" }, finish, cancel),
            h("div", { class: "field" }, h("label", { for: masks.id }, "Masks (burned in black)"),
                c.masksAllowed ? null : h("p", { class: "hint" }, "This rtsp camera is recorded " +
                    "untouched; masks need transcode = true in its configuration."), masks),
            h("div", { class: "field" }, h("label", { for: zones.id },
                "Motion zones (include or exclude, then the corners)"), zones)),
    };
}

// ---- events

function eventsView(events, fail, reload) {
    if (!events.length)
        return h("p", {}, "No events recorded.");
    const status = h("p", { role: "status", class: "hint" });
    const error = errorBox();
    const rows = events.map((e) => {
        const protect = h("button", { type: "button", class: "secondary",
            "aria-pressed": e.protected ? "true" : "false" },
        e.protected ? "Release" : "Protect");
        const del = h("button", { type: "button", class: "secondary", disabled: e.protected || !e.endUs,
            title: e.protected ? "Release it first" : "" }, "Delete");
        protect.addEventListener("click", async () => {
            try {
                await api(`/api/events/${e.id}/protect`, { method: "POST", body: { protected: !e.protected } });
                status.textContent = `Event ${e.id} ${e.protected ? "released" : "protected"}.`;
                reload();
            } catch (err) {
                fail(err, error);
            }
        });
        del.addEventListener("click", async () => {
            if (!window.confirm(`Delete the ${e.kind} event of ${formatTime(e.startUs)} and its video? ` +
                "This cannot be undone."))
                return;
            try {
                const r = await api(`/api/events/${e.id}`, { method: "DELETE" });
                status.textContent = `Event ${e.id} deleted (${r.segments} segment(s), ` +
                    `${formatBytes(r.bytes)}).`;
                reload();
            } catch (err) {
                fail(err, error);
            }
        });
        return h("tr", { "data-event": e.id },
            h("td", { "data-label": "Time" }, timeElement(e.startUs)),
            h("td", { "data-label": "Camera" }, e.camera),
            h("td", { "data-label": "Kind" }, e.kind),
            h("td", { "data-label": "Kept" }, e.protected ? "🔒 protected" : "by retention"),
            h("td", { "data-label": "" }, h("div", { class: "actions" }, protect, del)));
    });
    return h("div", {}, error, status,
        h("table", { class: "audit" },
            h("caption", { class: "visually-hidden" }, "Events, newest first"),
            h("thead", {}, h("tr", {}, ...["Time", "Camera", "Kind", "Kept", "Actions"]
                .map((t) => h("th", { scope: "col" }, t)))),
            h("tbody", {}, rows)));
}

// ---- passphrase

function passphraseForm(fail) {
    let useRecovery = false;
    const current = field("Current passphrase", { type: "password", autocomplete: "current-password" });
    const recovery = field("Recovery key", { type: "text", autocomplete: "off", spellcheck: "false" },
        "If you forgot the passphrase.");
    recovery.node.hidden = true;
    const toggle = h("button", { type: "button", class: "link" }, "Use the recovery key instead");
    toggle.addEventListener("click", () => {
        useRecovery = !useRecovery;
        current.node.hidden = useRecovery;
        recovery.node.hidden = !useRecovery;
        toggle.textContent = useRecovery ? "Use the current passphrase instead"
            : "Use the recovery key instead";
    });
    const next = field("New passphrase", { type: "password", autocomplete: "new-password" },
        "At least 12 characters.");
    const confirm = field("Confirm new passphrase", { type: "password", autocomplete: "new-password" });
    const error = errorBox();
    const status = h("p", { role: "status", class: "hint" });
    const submit = h("button", { type: "submit" }, "Change passphrase");
    const form = h("form", { id: "passphrase", novalidate: true, "aria-labelledby": "pp-h" },
        h("h2", { id: "pp-h" }, "Passphrase"),
        h("p", { class: "hint" }, "Changing it logs out every other browser. The recovery key " +
            "stays the same."),
        current.node, recovery.node, toggle, next.node, confirm.node, error,
        h("div", { class: "actions" }, submit), status);
    form.addEventListener("submit", async (event) => {
        event.preventDefault();
        showError(error, "");
        submit.disabled = true;
        status.textContent = "Checking… (this takes a few seconds)";
        try {
            await api("/api/passphrase", { method: "POST", body: {
                ...(useRecovery ? { recoveryKey: recovery.input.value.trim() }
                    : { current: current.input.value }),
                passphrase: next.input.value, confirm: confirm.input.value } });
            status.textContent = "Passphrase changed.";
            for (const f of [current, recovery, next, confirm])
                f.input.value = "";
        } catch (e) {
            status.textContent = "";
            if (e.status === 401)
                fail(e);
            else
                showError(error, e.message);
        }
        submit.disabled = false;
    });
    return form;
}
