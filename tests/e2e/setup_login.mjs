#!/usr/bin/env node
// End-to-end test of Porchlight's web UI: a real porchlightd on 127.0.0.1 with
// a test camera and a fresh state dir, driven through Debian's chromium with
// playwright-core. First-run setup with the code from the daemon's log, the
// recovery key shown once, Live, Timeline (plays the recording, seek time
// measured), Export (an MP4 ffprobe reads), Audit, logout (the
// API then answers 401), failed logins up to the rate limit, login again.
//
// Environment:
//   PORCHLIGHTD             the daemon (default: build/daemon/porchlightd)
//   CHROMIUM                the browser (default: /usr/bin/chromium)
//   PORCHLIGHT_SCREENSHOTS  where the PNGs go (default: docs/guide of the repo)
//   PORCHLIGHT_E2E_DEBUG=1  print the daemon's log and the browser console
//   PORCHLIGHT_E2E_COLOR_SCHEME=dark  look at the pages in dark mode
//
// Prints "N passed, N failed" last; exits 0 when all passed, 1 when one failed,
// 77 (a skip for meson) when node_modules/playwright-core or chromium is missing.

import fs from "node:fs";
import path from "node:path";
import { debug, expect, finish, freePort, kPassphrase, launchChromium, loadChromium, program,
    repo, requirePrograms, shot, startDaemon, step, stopAll, tally, tempDir, testCamera,
    watchConsole, webConfig } from "./harness.mjs";

const daemonPath = program("PORCHLIGHTD", "daemon", "porchlightd");
const kStepTimeoutMs = 20000;

await loadChromium();
requirePrograms({ PORCHLIGHTD: daemonPath });

const tmp = tempDir("porchlight-e2e-");
const port = await freePort();
const base = `http://127.0.0.1:${port}`;
const daemon = startDaemon(daemonPath, tmp,
    webConfig(base) + testCamera("door", { width: 320, height: 240, framerate: 10 }),
    { echo: debug });

const profile = path.join(tmp, "chromium-profile");
let context;
const consoleProblems = [];
let firstLoadBytes = 0;

try {
    let setupCode = "";
    await step("porchlightd starts and logs the setup code", async () => {
        setupCode = (await daemon.waitForLog(/setup code: (\d{5}-\d{5})/, kStepTimeoutMs))[1];
        await daemon.waitForLog(/web UI on /, kStepTimeoutMs);
    });

    let page;
    await step("chromium starts", async () => {
        context = await launchChromium(profile, {
            isMobile: false,
            acceptDownloads: true,
            colorScheme: process.env.PORCHLIGHT_E2E_COLOR_SCHEME === "dark" ? "dark" : "light",
        });
        context.setDefaultTimeout(kStepTimeoutMs);
        page = context.pages()[0] || await context.newPage();
        // The answers the test provokes: 400 (wrong setup code), 401 (wrong
        // passphrase, fetch after logout), 429 (rate limit).
        watchConsole(page, consoleProblems, /status of (400|401|429)\b/);
    });

    await step("first load shows setup, under 100 KB", async () => {
        let bytes = 0;
        const count = async (response) => {
            try {
                const body = await response.body();
                bytes += body.length;
            } catch { /* a redirect or an aborted load has no body */ }
            const headers = await response.allHeaders().catch(() => ({}));
            bytes += Object.entries(headers).reduce((n, [k, v]) => n + k.length + v.length + 4, 0);
        };
        const pending = [];
        const onResponse = (r) => pending.push(count(r));
        page.on("response", onResponse);
        await page.goto(`${base}/`, { waitUntil: "networkidle" });
        page.off("response", onResponse);
        await Promise.all(pending);
        firstLoadBytes = bytes;
        await page.getByRole("heading", { name: "Set up Porchlight" }).waitFor();
        // An installed copy of www (PREFIX/share/porchlight/www) wins over the
        // source tree's: make sure these are the pages under test.
        const served = await (await page.request.get(`${base}/app.js`)).text();
        expect(served === fs.readFileSync(path.join(repo, "www", "app.js"), "utf8"),
            "porchlightd serves another www than this source tree's (an installed copy?)");
        expect(bytes < 100 * 1024, `first load is ${bytes} bytes`);
        console.log(`  first load: ${(bytes / 1024).toFixed(1)} KB (uncompressed)`);
    });

    await step("setup form has labelled fields (screenshot)", async () => {
        await page.getByLabel("Setup code", { exact: true }).fill(setupCode);
        await page.getByLabel("Passphrase", { exact: true }).fill(kPassphrase);
        await page.getByLabel("Confirm passphrase", { exact: true }).fill(kPassphrase);
        await shot(page, "setup");
    });

    await step("a wrong setup code is refused in words", async () => {
        await page.getByLabel("Setup code", { exact: true }).fill("00000-00000");
        await page.getByRole("button", { name: "Set up" }).click();
        await page.getByRole("alert").filter({ hasText: "wrong setup code" }).waitFor();
        await page.getByLabel("Setup code", { exact: true }).fill(setupCode);
    });

    let recoveryKey = "";
    await step("setup with the code shows the recovery key once", async () => {
        await page.getByRole("button", { name: "Set up" }).click();
        await page.getByRole("heading", { name: "Your recovery key" }).waitFor();
        recoveryKey = (await page.locator("#recovery-key").textContent()).trim();
        const groups = recoveryKey.split("-");
        expect(groups.length === 9 && groups.every((g) => /^[A-Za-z0-9]+$/.test(g)),
            `recovery key "${recoveryKey}" is not 9 dash-separated groups`);
        await shot(page, "recovery-key");
    });

    await step("Continue is disabled until \"I have saved it\" is checked", async () => {
        const next = page.getByRole("button", { name: "Continue" });
        expect(await next.isDisabled(), "Continue is enabled before the box is checked");
        await page.getByLabel("I have saved it").check();
        expect(await next.isEnabled(), "Continue stays disabled after the box is checked");
        await page.getByLabel("I have saved it").uncheck();
        expect(await next.isDisabled(), "Continue is enabled after unchecking");
    });

    await step("Download gives a .txt file with the key", async () => {
        const [download] = await Promise.all([
            page.waitForEvent("download"),
            page.getByRole("button", { name: "Download" }).click(),
        ]);
        expect(download.suggestedFilename().endsWith(".txt"),
            `downloaded ${download.suggestedFilename()}`);
        const text = fs.readFileSync(await download.path(), "utf8");
        expect(text.includes(recoveryKey), "the downloaded file lacks the key");
    });

    await step("Continue leads to Live with camera door streaming", async () => {
        await page.getByLabel("I have saved it").check();
        await page.getByRole("button", { name: "Continue" }).click();
        await page.getByRole("heading", { name: "Live", level: 1 }).waitFor();
        const door = page.locator('article[data-camera="door"]');
        await door.filter({ hasText: "streaming" }).waitFor();
        const nav = page.getByRole("navigation", { name: "Main" });
        for (const name of ["Live", "Timeline", "Export", "Settings", "Audit"])
            await nav.getByRole("link", { name, exact: true }).waitFor();
        await nav.getByRole("button", { name: "Log out" }).waitFor();
    });

    await step("Live refreshes and shows recording, resolution and fps", async () => {
        const door = page.locator('article[data-camera="door"]');
        // Recording starts as soon as setup is complete.
        await door.filter({ hasText: "● Recording" }).waitFor();
        await door.filter({ hasText: "320 × 240" }).waitFor();
        await door.filter({ hasText: /\d+(\.\d)? fps/ }).waitFor();
        const before = await page.locator("#updated").textContent();
        await page.waitForFunction((t) => document.getElementById("updated")?.textContent !== t,
            before, { timeout: 6000 });
        // live.png comes from live.mjs, with the video playing.
    });

    let recorded = null;
    await step("Timeline shows today's recording and plays it (screenshot)", async () => {
        const nav = page.getByRole("navigation", { name: "Main" });
        await nav.getByRole("link", { name: "Timeline", exact: true }).click();
        await page.getByRole("heading", { name: "Timeline", level: 1 }).waitFor();
        // The segment being written shows once it holds a fragment; the page
        // looks again every 10 s.
        const range = page.locator("#tl-axis rect.tl-range").first();
        await range.waitFor({ state: "attached", timeout: 30000 });
        recorded = {
            startUs: Number(await range.getAttribute("data-start-us")),
            endUs: Number(await range.getAttribute("data-end-us")),
        };
        expect(recorded.endUs > recorded.startUs, `empty range ${JSON.stringify(recorded)}`);
        // Click where the recording is on the day's bar: it plays from there.
        const axis = await page.locator("#tl-axis").boundingBox();
        const dayStart = new Date(); dayStart.setUTCHours(0, 0, 0, 0);
        const f = (recorded.startUs / 1000 - dayStart.getTime()) / 86400000;
        await page.mouse.click(axis.x + f * axis.width, axis.y + axis.height / 2);
        await page.waitForFunction(() => {
            const v = document.getElementById("tl-video");
            return v && v.videoWidth > 0 && v.currentTime > 0;
        }, null, { timeout: kStepTimeoutMs });
        const t1 = await page.evaluate(() => document.getElementById("tl-video").currentTime);
        await page.waitForFunction((t) => document.getElementById("tl-video").currentTime > t + 0.5,
            t1, { timeout: 10000 });
        const width = await page.evaluate(() => document.getElementById("tl-video").videoWidth);
        expect(width === 320, `videoWidth is ${width}`);
        await page.getByText(/On screen: /).waitFor();
        // Zoomed in, the recording is a bar, not a pixel.
        await page.getByLabel("Show", { exact: true }).selectOption("600");
        // (The page looks for more of the day every 10 s.)
        await page.waitForFunction(
            () => document.querySelector("#tl-axis rect.tl-range")?.getBoundingClientRect().width > 5,
            null, { timeout: 25000 });
        await shot(page, "timeline");
        await page.getByLabel("Show", { exact: true }).selectOption("0");
    });

    await step("seeking shows the first frame quickly (measured in the browser)", async () => {
        // Each click is a new request: decrypt from the keyframe before the
        // moment, MediaSource, first decoded frame (requestVideoFrameCallback).
        const runs = Number(process.env.PORCHLIGHT_E2E_SEEKS || 5);
        const axis = await page.locator("#tl-axis").boundingBox();
        const dayStart = new Date(); dayStart.setUTCHours(0, 0, 0, 0);
        const f = (recorded.startUs / 1000 - dayStart.getTime()) / 86400000;
        const times = [];
        for (let i = 0; i < runs; i++) {
            await page.mouse.click(axis.x + f * axis.width, axis.y + axis.height / 2);
            const ms = await page.waitForFunction(
                () => document.getElementById("tl-video").dataset.seekMs || false,
                null, { timeout: kStepTimeoutMs });
            times.push(Number(await ms.jsonValue()));
        }
        times.sort((a, b) => a - b);
        console.log(`  seek to first frame: median ${times[Math.floor(times.length / 2)]} ms, ` +
            `min ${times[0]} ms, max ${times[times.length - 1]} ms over ${runs} clicks`);
    });

    await step("Export downloads an MP4 that ffprobe accepts (screenshot)", async () => {
        const nav = page.getByRole("navigation", { name: "Main" });
        await nav.getByRole("link", { name: "Export", exact: true }).click();
        await page.getByRole("heading", { name: "Export", level: 1 }).waitFor();
        await page.locator("#ex-camera option[value=door]").waitFor({ state: "attached" });
        // The browser runs in UTC: datetime-local takes the ISO time without the zone.
        const local = (us) => new Date(us / 1000).toISOString().slice(0, 19);
        // Wait until 5 s past the start are on the disk (the page loaded the
        // range when it was young).
        await page.waitForFunction(async (startUs) => {
            const r = await fetch(`/api/recordings?camera=door&from=${startUs}&to=${startUs + 3600e6}`)
                .then((x) => x.json());
            return r.ranges.length && r.ranges[0].endUs >= startUs + 6e6;
        }, recorded.startUs, { timeout: 20000, polling: 500 });
        const fromUs = recorded.startUs + 1e6;
        const toUs = fromUs + 4e6;
        await page.getByLabel("From", { exact: true }).fill(local(fromUs));
        await page.getByLabel("To", { exact: true }).fill(local(toUs));
        await shot(page, "export");
        const [download] = await Promise.all([
            page.waitForEvent("download"),
            page.getByRole("button", { name: "Download MP4" }).click(),
        ]);
        expect(/^porchlight-door-.*\.mp4$/.test(download.suggestedFilename()),
            `downloaded ${download.suggestedFilename()}`);
        const file = await download.path();
        const bytes = fs.readFileSync(file);
        expect(bytes.subarray(4, 8).toString() === "ftyp", "the download is not an MP4");
        const ffprobe = ["/usr/bin/ffprobe", "/usr/local/bin/ffprobe"].find((p) => fs.existsSync(p));
        if (ffprobe) {
            const { execFileSync } = await import("node:child_process");
            const out = execFileSync(ffprobe, ["-v", "error", "-show_entries",
                "format=duration:stream=codec_name,width", "-of", "default=nw=1", file]).toString();
            expect(/codec_name=h264/.test(out) && /width=320/.test(out),
                `ffprobe says:\n${out}`);
            const duration = Number((out.match(/duration=([\d.]+)/) || [])[1]);
            // From the keyframe at or before "From" (2 s apart here) to "To".
            expect(duration >= 3.5 && duration <= 6.5, `duration ${duration} s`);
            console.log(`  export: ${bytes.length} bytes, ${duration} s (ffprobe)`);
        } else {
            console.log("  (no ffprobe: only the MP4 signature checked)");
        }
    });

    await step("Audit lists the setup entry, newest first", async () => {
        await page.getByRole("navigation", { name: "Main" })
            .getByRole("link", { name: "Audit", exact: true }).click();
        await page.getByRole("heading", { name: "Audit log" }).waitFor();
        await page.locator('#audit-rows tr[data-kind="setup"]').waitFor();
        const kinds = await page.locator("#audit-rows tr").evaluateAll(
            (rows) => rows.map((r) => r.dataset.kind));
        expect(kinds.includes("playback") && kinds.includes("export"),
            `no playback or export entry in ${kinds}`);
        expect(kinds.includes("login_failed"), `no login_failed entry in ${kinds}`);
        expect(kinds.indexOf("setup") < kinds.indexOf("login_failed"),
            `not newest first: ${kinds}`);
        await shot(page, "audit");
    });

    await step("the page survives a reload (session and CSRF token recovered)", async () => {
        await page.reload();
        await page.getByRole("heading", { name: "Audit log" }).waitFor();
    });

    await step("Log out returns to login and the API answers 401", async () => {
        await page.getByRole("button", { name: "Log out" }).click();
        await page.getByRole("heading", { name: "Log in" }).waitFor();
        await page.getByText("You are logged out.").waitFor();
        expect(await page.getByRole("navigation", { name: "Main" }).isHidden(),
            "the navigation still shows after logout");
        const status = await page.evaluate(
            () => fetch("/api/cameras", { credentials: "same-origin" }).then((r) => r.status));
        expect(status === 401, `/api/cameras answered ${status}`);
        await shot(page, "login");
    });

    await step("wrong passphrases show the API's error, then the rate-limit wait", async () => {
        const pass = page.getByLabel("Passphrase", { exact: true });
        const submit = page.getByRole("button", { name: "Log in", exact: true });
        let sawWait = false;
        for (let i = 0; i < 4 && !sawWait; i++) {
            await pass.fill(`wrong passphrase ${i}`);
            await submit.click();
            await page.getByRole("alert").filter({ hasText: /wrong passphrase|try again in/ })
                .waitFor();
            sawWait = await page.getByText(/Wait \d+ s before trying again/).isVisible();
        }
        expect(sawWait, "no rate-limit wait shown after 4 wrong passphrases");
        expect(await submit.isDisabled(), "Log in is enabled during the wait");
    });

    await step("the recovery-key toggle shows a labelled field", async () => {
        const key = page.getByLabel("Recovery key", { exact: true });
        const pass = page.getByLabel("Passphrase", { exact: true });
        expect(await key.isHidden(), "the recovery key field shows before the toggle");
        await page.getByRole("button", { name: "Log in with the recovery key instead" }).click();
        await key.waitFor();
        expect(await pass.isHidden(), "the passphrase field still shows");
        await page.getByRole("button", { name: "Log in with the passphrase instead" }).click();
        await pass.waitFor();
        expect(await key.isHidden(), "the recovery key field still shows");
    });

    await step("log in again with the passphrase → Live", async () => {
        const submit = page.getByRole("button", { name: "Log in", exact: true });
        await page.waitForFunction(
            () => [...document.querySelectorAll("button[type=submit]")].some((b) => !b.disabled),
            null, { timeout: 15000 });
        await page.getByLabel("Passphrase", { exact: true }).fill(kPassphrase);
        await submit.click();
        await page.getByRole("heading", { name: "Live", level: 1 }).waitFor();
        await page.locator('article[data-camera="door"]').filter({ hasText: "streaming" })
            .waitFor();
    });

    await step("log out, log in with the recovery key → Live", async () => {
        await page.getByRole("button", { name: "Log out" }).click();
        await page.getByRole("heading", { name: "Log in" }).waitFor();
        await page.getByRole("button", { name: "Log in with the recovery key instead" }).click();
        await page.getByLabel("Recovery key", { exact: true }).fill(recoveryKey.toLowerCase());
        await page.getByRole("button", { name: "Log in", exact: true }).click();
        await page.getByRole("heading", { name: "Live", level: 1 }).waitFor();
    });

    await step("no console errors or CSP violations", async () => {
        expect(consoleProblems.length === 0, consoleProblems.join("\n"));
    });
} finally {
    await context?.close().catch(() => {});
    await stopAll();
    if (debug || tally.failed)
        console.error(`---- porchlightd log ----\n${daemon.log}`);
    fs.rmSync(tmp, { recursive: true, force: true });
}

if (firstLoadBytes)
    console.log(`page weight: ${firstLoadBytes} bytes on the first load`);
finish();
