// Porchlight's web UI: a small one-page app. The part after # names the page
// (#/live, #/audit, ...); whether setup or login comes first is asked of the
// daemon (/api/state, /api/session), never remembered in the browser.
import { api, setCsrf } from "./api.js";
import { setupPage, recoveryKeyPage, loginPage } from "./auth.js";
import { livePage, auditPage, notBuiltPage } from "./pages.js";
import { timelinePage } from "./timeline.js";
import { exportPage } from "./export.js";

const view = document.getElementById("view");
const nav = document.getElementById("nav");
const version = document.getElementById("version");

const pages = {
    live: livePage,
    timeline: timelinePage,
    export: exportPage,
    // Loaded when first opened: the first load stays small.
    settings: lazyPage("Settings", () => import("./settings.js").then((m) => m.settingsPage)),
    audit: auditPage,
};

/** A page whose module is fetched the first time it is shown. */
function lazyPage(title, load) {
    return (ctx) => {
        let inner = null;
        let stopped = false;
        const node = document.createElement("section");
        const p = document.createElement("p");
        p.setAttribute("role", "status");
        p.textContent = `Loading ${title}…`;
        node.append(p);
        load().then((make) => {
            if (stopped)
                return;
            inner = make(ctx);
            node.replaceWith(inner.node);
            inner.node.querySelector("h1")?.focus();
        }, (e) => {
            p.className = "error";
            p.textContent = `Error: cannot load the ${title} page (${e.message}).`;
        });
        return { title, node, stop() {
            stopped = true;
            inner?.stop?.();
        } };
    };
}

// "setup" (no owner), "login" (no session) or "in".
let phase = "loading";
let current = null;
let loginNotice = "";
// After an expired session, login returns to the page that was open; after a
// logout or at the first visit, it goes to Live.
let returnTo = "";

function routeName() {
    const name = location.hash.replace(/^#\/?/, "").split(/[/?]/)[0];
    return name in pages ? name : "live";
}

function show(page) {
    current?.stop?.();
    current = page;
    document.title = `${page.title} · Porchlight`;
    view.replaceChildren(page.node);
    // Move the keyboard and screen reader to the new page's heading.
    const heading = view.querySelector("h1");
    (heading || view).focus({ preventScroll: false });
}

function render() {
    if (phase === "setup") {
        nav.hidden = true;
        return show(setupPage((csrf, recoveryKey) => {
            setCsrf(csrf);
            phase = "recovery";
            show(recoveryKeyPage(recoveryKey, () => {
                phase = "in";
                api("/api/state").then(showVersion, () => {});
                if (location.hash !== "#/live")
                    location.hash = "#/live";
                else
                    render();
            }));
        }));
    }
    if (phase === "recovery")
        return;  // stays until "Continue"
    if (phase === "login") {
        nav.hidden = true;
        const notice = loginNotice;
        loginNotice = "";
        return show(loginPage((csrf) => {
            setCsrf(csrf);
            phase = "in";
            const target = `#/${returnTo || "live"}`;
            returnTo = "";
            if (location.hash !== target)
                location.hash = target;  // renders on hashchange
            else
                render();
        }, notice));
    }
    const name = routeName();
    nav.hidden = false;
    for (const a of nav.querySelectorAll("a[data-route]")) {
        if (a.dataset.route === name)
            a.setAttribute("aria-current", "page");
        else
            a.removeAttribute("aria-current");
    }
    show(pages[name]({ sessionEnded }));
}

/** The API answered 401: the session expired or was ended elsewhere. */
function sessionEnded() {
    setCsrf("");
    phase = "login";
    loginNotice = "Your session has ended. Log in again.";
    returnTo = routeName();
    render();
}

async function logout() {
    try {
        await api("/api/logout", { method: "POST", body: {} });
    } catch (e) {
        // A session that is already gone is logged out too.
        if (e.status !== 401) {
            const p = document.createElement("p");
            p.className = "error";
            p.setAttribute("role", "alert");
            p.textContent = `Error: logging out failed: ${e.message}`;
            view.prepend(p);
            return;
        }
    }
    setCsrf("");
    phase = "login";
    loginNotice = "You are logged out.";
    render();
}

function showVersion(state) {
    version.textContent = `porchlightd ${state.version} · ${state.state}`;
}

async function start() {
    try {
        const state = await api("/api/state");
        showVersion(state);
        if (state.setupNeeded) {
            phase = "setup";
        } else {
            try {
                const session = await api("/api/session");
                setCsrf(session.csrf);
                phase = "in";
            } catch (e) {
                if (e.status !== 401)
                    throw e;
                phase = "login";
                if (location.hash)
                    returnTo = routeName();
            }
        }
        render();
    } catch (e) {
        const p = document.createElement("p");
        p.className = "error";
        p.setAttribute("role", "alert");
        p.textContent = `Error: ${e.message}`;
        view.replaceChildren(p);
    }
}

window.addEventListener("hashchange", () => {
    if (phase === "in")
        render();
});
document.getElementById("logout").addEventListener("click", logout);
start();
