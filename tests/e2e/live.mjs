#!/usr/bin/env node
// End-to-end test of the Live page in Debian's chromium (playwright-core): a
// real porchlightd on 127.0.0.1 with a test camera. The owner is set up
// through the API, then the Live page must play the camera's H.264 through
// MediaSource (videoWidth > 0, currentTime advancing, near the live edge),
// and show snapshots a second instead when MediaSource is taken away.
//
// It also measures, for docs/PERFORMANCE.md:
//   - the Live page's first load (bytes of every HTTP response: bodies and
//     headers, uncompressed as porchlightd sends them; the WebSocket not counted);
//   - the live latency: for each frame the page presents
//     (requestVideoFrameCallback), its presentation time minus the wall-clock
//     time the daemon stamped on it as it left the encoder (same machine, so
//     the clocks compare), over PORCHLIGHT_LATENCY_SECONDS (default 5).
//
// Environment: PORCHLIGHTD, CHROMIUM, PORCHLIGHT_SCREENSHOTS (default
// docs/guide), PORCHLIGHT_E2E_DEBUG=1, PORCHLIGHT_LATENCY_SECONDS,
// PORCHLIGHT_CAMERA="WIDTHxHEIGHT@FPS" (default 320x240@10).
// Exits 0 when all passed, 1 when one failed, 77 (skip) without chromium or
// playwright-core.

import fs from "node:fs";
import path from "node:path";
import { debug, expect, finish, freePort, kPassphrase, launchChromium, loadChromium, percentile,
    program, requirePrograms, shot, startDaemon, step, stopAll, tally, tempDir, testCamera,
    watchConsole, webConfig } from "./harness.mjs";

const daemonPath = program("PORCHLIGHTD", "daemon", "porchlightd");
const latencySeconds = Number(process.env.PORCHLIGHT_LATENCY_SECONDS || 5);
const [, camW, camH, camFps] = (process.env.PORCHLIGHT_CAMERA || "320x240@10")
    .match(/^(\d+)x(\d+)@(\d+)$/) || [0, 320, 240, 10];
const kStepTimeoutMs = 30000;

await loadChromium();
requirePrograms({ PORCHLIGHTD: daemonPath });

const tmp = tempDir("porchlight-e2e-live-");
const port = await freePort();
const base = `http://127.0.0.1:${port}`;
const daemon = startDaemon(daemonPath, tmp, webConfig(base) + testCamera("door",
    { width: Number(camW), height: Number(camH), framerate: Number(camFps) }), { echo: debug });

const results = {};
const consoleProblems = [];
let context;
try {
    let setupCode = "";
    await step("porchlightd starts", async () => {
        setupCode = (await daemon.waitForLog(/setup code: (\d{5}-\d{5})/, kStepTimeoutMs))[1];
        await daemon.waitForLog(/web UI on /, kStepTimeoutMs);
    });

    let page;
    await step("chromium starts and MediaSource plays H.264 here", async () => {
        context = await launchChromium(path.join(tmp, "profile"),
            { args: ["--autoplay-policy=no-user-gesture-required"] });
        context.setDefaultTimeout(kStepTimeoutMs);
        page = context.pages()[0] || await context.newPage();
        // Every tab's errors; the last step leaves out the ones the logout provokes.
        watchConsole(page, consoleProblems);
        context.on("page", (p) => watchConsole(p, consoleProblems));
        await page.goto(`${base}/`);
        results.mse = await page.evaluate(
            () => window.MediaSource?.isTypeSupported('video/mp4; codecs="avc1.42E01E"') ?? false);
        console.log(`  MediaSource.isTypeSupported('video/mp4; codecs="avc1.42E01E"'): ${results.mse}`);
        expect(results.mse, "this chromium cannot play H.264 through MediaSource");
    });

    await step("setup through the API", async () => {
        const status = await page.evaluate(async ([code, pass]) => {
            const r = await fetch("/api/setup", {
                method: "POST", credentials: "same-origin",
                headers: { "Content-Type": "application/json" },
                body: JSON.stringify({ code, passphrase: pass, confirm: pass }),
            });
            return r.status;
        }, [setupCode, kPassphrase]);
        expect(status === 200, `setup answered ${status}`);
    });

    await step("the Live page's first load is small", async () => {
        // A fresh tab with an empty cache, as a phone opening the page.
        const fresh = await context.newPage();
        const client = await context.newCDPSession(fresh);
        await client.send("Network.enable");
        await client.send("Network.setCacheDisabled", { cacheDisabled: true });
        let bytes = 0;
        const counted = [];
        client.on("Network.loadingFinished", (e) => {
            bytes += e.encodedDataLength;
            counted.push(e.requestId);
        });
        await fresh.goto(`${base}/#/live`, { waitUntil: "networkidle" });
        await fresh.locator('figure.live[data-mode="video"]').waitFor();
        await fresh.close();
        results.firstLoadBytes = bytes;
        console.log(`  first load of Live: ${bytes} bytes transferred in ${counted.length} ` +
            "responses (the WebSocket not counted)");
        expect(bytes > 0 && bytes < 100 * 1024, `first load is ${bytes} bytes`);
    });

    await step("Live plays the camera: videoWidth > 0 and currentTime advancing", async () => {
        // The tab still shows setup: load the page again, now with a session.
        await page.goto(`${base}/#/live`);
        await page.reload();
        await page.getByRole("heading", { name: "Live", level: 1 }).waitFor();
        const figure = page.locator('article[data-camera="door"] figure.live');
        await figure.and(page.locator('[data-mode="video"]')).waitFor();
        const video = figure.locator("video");
        await page.waitForFunction(() => document.querySelector("video.live-video")?.videoWidth > 0);
        const t0 = await video.evaluate((v) => v.currentTime);
        await page.waitForTimeout(2000);
        const s = await video.evaluate((v) => ({
            width: v.videoWidth, height: v.videoHeight, t: v.currentTime, paused: v.paused,
            end: v.buffered.length ? v.buffered.end(v.buffered.length - 1) : 0,
        }));
        expect(s.width === Number(camW) && s.height === Number(camH),
            `video is ${s.width}x${s.height}`);
        expect(!s.paused && s.t > t0 + 1, `currentTime went from ${t0} to ${s.t} in 2 s`);
        expect(s.end - s.t < 1.5, `playing ${(s.end - s.t).toFixed(2)} s behind the buffered end`);
        // The state and last events are beside the picture.
        await page.locator('article[data-camera="door"]').filter({ hasText: "Last ring" })
            .filter({ hasText: "streaming" }).waitFor();
    });

    await step(`latency over ${latencySeconds} s`, async () => {
        await page.evaluate(() => {
            window.porchlightLive.door.latencies.length = 0;
            window.porchlightLive.door.arrivals.length = 0;
        });
        await page.waitForTimeout(latencySeconds * 1000);
        const samples = await page.evaluate(() => [...window.porchlightLive.door.latencies]);
        const arrivals = await page.evaluate(() => [...window.porchlightLive.door.arrivals]);
        arrivals.sort((a, b) => a - b);
        expect(samples.length > latencySeconds, `only ${samples.length} frames measured`);
        samples.sort((a, b) => a - b);
        results.latency = {
            frames: samples.length,
            median: percentile(samples, 0.5),
            p95: percentile(samples, 0.95),
            min: samples[0],
            max: samples[samples.length - 1],
            arrivalMedian: percentile(arrivals, 0.5),
            arrivalP95: percentile(arrivals, 0.95),
        };
        const f = (x) => x.toFixed(0);
        console.log(`  latency over ${samples.length} frames: median ${f(results.latency.median)} ms,` +
            ` p95 ${f(results.latency.p95)} ms (min ${f(results.latency.min)}, max ` +
            `${f(results.latency.max)}); frames arrive ${f(results.latency.arrivalMedian)} ms ` +
            `(p95 ${f(results.latency.arrivalP95)}) after capture`);
        const shown = await page.locator("figure.live").getAttribute("data-latency-ms");
        expect(shown !== null, "the page does not show data-latency-ms");
    });

    await step("screenshot of Live", async () => {
        // With its animations: the video is what the picture is for.
        await shot(page, "live", { animations: "allow" });
    });

    await step("without MediaSource, Live shows a snapshot a second", async () => {
        const old = await context.newPage();
        await old.addInitScript(() => {
            for (const name of ["MediaSource", "ManagedMediaSource", "WebKitMediaSource"])
                Object.defineProperty(window, name, { value: undefined, configurable: true });
        });
        await old.goto(`${base}/#/live`);
        const figure = old.locator('article[data-camera="door"] figure.live');
        await figure.and(old.locator('[data-mode="snapshot"]')).waitFor();
        await figure.getByText("no MediaSource").waitFor();
        await old.waitForFunction(() => {
            const img = document.querySelector("figure.live img");
            return img && !img.hidden && img.complete && img.naturalWidth > 0;
        });
        const first = await old.evaluate(() => document.querySelector("figure.live img").src);
        await old.waitForFunction((src) => document.querySelector("figure.live img").src !== src,
            first, { timeout: 5000 });
        expect(await figure.locator("video").isHidden(), "the video still shows");
        await shot(old, "live-snapshot", { animations: "allow" });
        await old.close();
    });

    await step("logging out ends the live view", async () => {
        const csrf = (await page.evaluate(() => fetch("/api/session").then((r) => r.json()))).csrf;
        await page.evaluate((token) => fetch("/api/logout", {
            method: "POST", headers: { "X-CSRF-Token": token, "Content-Type": "application/json" },
            body: "{}",
        }), csrf);
        await page.getByRole("heading", { name: "Log in" }).waitFor();
        await daemon.waitForLog(/live viewer left/, kStepTimeoutMs);
    });

    await step("no console errors or CSP violations", async () => {
        // The 401s the logout provokes are expected.
        const problems = consoleProblems.filter((m) => !/status of 401\b/.test(m));
        expect(problems.length === 0, problems.join("\n"));
    });
} finally {
    await context?.close().catch(() => {});
    await stopAll();
    if (debug || tally.failed)
        console.error(`---- porchlightd log ----\n${daemon.log}`);
    fs.rmSync(tmp, { recursive: true, force: true });
}

console.log(`RESULT ${JSON.stringify(results)}`);
finish();
