// Small helpers to build the pages from DOM nodes (never from HTML strings).

/**
 * h("p", {class: "note"}, "text", child): an element. Attributes whose value
 * is false, null or undefined are left out; "on…" attributes add listeners.
 */
export function h(tag, attrs = {}, ...children) {
    const el = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
        if (value === false || value === null || value === undefined)
            continue;
        if (name.startsWith("on") && typeof value === "function")
            el.addEventListener(name.slice(2), value);
        else if (name === "class")
            el.className = value;
        else
            el.setAttribute(name, value === true ? "" : String(value));
    }
    append(el, children);
    return el;
}

function append(el, children) {
    for (const child of children.flat(Infinity)) {
        if (child === null || child === undefined || child === false)
            continue;
        el.append(child instanceof Node ? child : String(child));
    }
}

let unique = 0;
/** An id that no other element of the page has. */
export function newId(prefix) {
    unique += 1;
    return `${prefix}-${unique}`;
}

/** A labelled input: the label is visible and tied to the field by id. */
export function field(label, attrs = {}, hint = "") {
    const id = attrs.id || newId("f");
    const hintId = hint ? `${id}-hint` : null;
    const input = h("input", { ...attrs, id, "aria-describedby": hintId });
    const node = h("div", { class: "field" },
        h("label", { for: id }, label),
        hint ? h("p", { class: "hint", id: hintId }, hint) : null,
        input);
    return { node, input };
}

/** A paragraph for errors, read out when its text changes. */
export function errorBox() {
    return h("p", { class: "error", role: "alert", hidden: true });
}

export function showError(box, message) {
    box.textContent = message ? `Error: ${message}` : "";
    box.hidden = !message;
}

/** A time in microseconds since 1970 as the reader's local date and time. */
export function formatTime(us) {
    const date = new Date(us / 1000);
    return date.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "medium" });
}

export function timeElement(us) {
    if (!us)
        return h("span", {}, "never");
    return h("time", { datetime: new Date(us / 1000).toISOString() }, formatTime(us));
}

/** "3 min ago" for a time in microseconds since 1970. */
export function ago(us, nowMs = Date.now()) {
    const s = Math.max(0, Math.round((nowMs - us / 1000) / 1000));
    if (s < 60)
        return `${s} s ago`;
    if (s < 3600)
        return `${Math.floor(s / 60)} min ago`;
    if (s < 86400)
        return `${Math.floor(s / 3600)} h ago`;
    return `${Math.floor(s / 86400)} days ago`;
}

export function formatBitrate(bps) {
    if (!bps)
        return "—";
    if (bps >= 1e6)
        return `${(bps / 1e6).toFixed(2)} Mbit/s`;
    return `${Math.round(bps / 1e3)} kbit/s`;
}
