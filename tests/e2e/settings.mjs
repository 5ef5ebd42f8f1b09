#!/usr/bin/env node
// End-to-end test of the Settings page: a real porchlightd on 127.0.0.1 with a
// test camera, serving D-Bus on a private session bus of its own, driven
// through Debian's chromium with playwright-core. A retention changed on the
// page shows in `porchlightctl status`; a motion zone drawn with the mouse is
// saved; a ring's event is protected and then deleted from the page; the
// passphrase form refuses a wrong current passphrase.
//
// Environment:
//   PORCHLIGHTD, PORCHLIGHTCTL  the programs (default: build/daemon/...)
//   DBUS_DAEMON                 default: /usr/bin/dbus-daemon
//   CHROMIUM                    the browser (default: /usr/bin/chromium)
//   PORCHLIGHT_SCREENSHOTS      where settings.png goes (default: docs/guide)
//   PORCHLIGHT_E2E_DEBUG=1      print the daemon's log and the browser console
//
// Prints "N passed, N failed" last; exits 77 (a skip for meson) when
// playwright-core, chromium or dbus-daemon is missing.

import { execFile } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { Child, debug, expect, finish, freePort, kPassphrase, launchChromium, loadChromium,
    program, requirePrograms, shot, skip, startDaemon, step, stopAll, tally, tempDir, testCamera,
    watchConsole, webConfig } from "./harness.mjs";

const daemonPath = program("PORCHLIGHTD", "daemon", "porchlightd");
const ctlPath = program("PORCHLIGHTCTL", "daemon", "ctl", "porchlightctl");
const dbusPath = process.env.DBUS_DAEMON || "/usr/bin/dbus-daemon";
const kStepTimeoutMs = 20000;

await loadChromium();
if (!fs.existsSync(dbusPath))
    skip(`no dbus-daemon at ${dbusPath} (apt-get install dbus)`);
requirePrograms({ PORCHLIGHTD: daemonPath, PORCHLIGHTCTL: ctlPath });

const tmp = tempDir("porchlight-e2e-settings-");
const port = await freePort();
const base = `http://127.0.0.1:${port}`;
const busAddress = `unix:path=${path.join(tmp, "bus")}`;
const config = webConfig(base) +
    testCamera("door", { width: 320, height: 240, framerate: 10, bitrate: "500k" });

function ctl(...args) {
    return new Promise((resolve) => {
        execFile(ctlPath, ["--user", ...args], {
            env: { ...process.env, DBUS_SESSION_BUS_ADDRESS: busAddress }, timeout: 15000,
        }, (error, stdout, stderr) => resolve({ code: error ? error.code ?? 1 : 0, stdout, stderr }));
    });
}

let context;
let daemon;
const consoleProblems = [];
try {
    let setupCode = "";
    await step("a private bus and porchlightd on it start", async () => {
        const bus = new Child(dbusPath, ["--session", "--nofork", "--nopidfile",
            `--address=${busAddress}`, "--print-address=1"], { echo: debug });
        await bus.waitForLog(/unix:path=/, kStepTimeoutMs);
        daemon = startDaemon(daemonPath, tmp, config, { args: ["--bus", "session"],
            env: { DBUS_SESSION_BUS_ADDRESS: busAddress }, echo: debug });
        setupCode = (await daemon.waitForLog(/setup code: (\d{5}-\d{5})/, kStepTimeoutMs))[1];
        await daemon.waitForLog(/web UI on /, kStepTimeoutMs);
    });

    let page;
    await step("chromium starts and the owner is set up", async () => {
        context = await launchChromium(path.join(tmp, "profile"));
        context.setDefaultTimeout(kStepTimeoutMs);
        page = context.pages()[0] || await context.newPage();
        // What this test provokes: 400 (a wrong value), 403 (a wrong
        // passphrase), 404 (the snapshot route, another branch builds it).
        watchConsole(page, consoleProblems, /status of (400|403|404)\b/);
        const r = await page.request.post(`${base}/api/setup`, { data: {
            code: setupCode, passphrase: kPassphrase, confirm: kPassphrase } });
        expect(r.ok(), `setup answered ${r.status()}: ${await r.text()}`);
    });

    const form = () => page.locator('form[data-camera="door"]');
    await step("Settings shows the camera, storage and an estimate that follows the typing", async () => {
        await page.goto(`${base}/#/settings`);
        await page.getByRole("heading", { name: "Settings", level: 1 }).waitFor();
        await form().waitFor();
        await page.getByText("Oldest recording").waitFor();
        const days = form().getByLabel("Keep at most (days)");
        const estimate = form().locator("output.estimate");
        await days.fill("");
        await form().getByLabel("Use at most (size)").fill("");
        await estimate.filter({ hasText: "no limit" }).waitFor();
        await days.fill("3");
        // 500 kbit/s configured (or measured): about 15.7 GiB in 3 days.
        await estimate.filter({ hasText: /about 1\d(\.\d)? GiB/ }).waitFor();
        await form().getByLabel("Use at most (size)").fill("1GiB");
        await estimate.filter({ hasText: "about 1.0 GiB" }).waitFor();
    });

    await step("a retention saved on the page shows in porchlightctl status", async () => {
        await form().getByRole("button", { name: "Save door" }).click();
        await form().getByText(/Saved \(\d+ change/).waitFor();
        const status = await ctl("status");
        expect(status.code === 0, `porchlightctl status failed: ${status.stderr}`);
        expect(/Retention: 3 days, 1(\.0)? GiB \(set at run time\)/.test(status.stdout),
            `porchlightctl status shows:\n${status.stdout}`);
        // Retention lives in the index; only what the page changed goes to settings.toml.
        expect(!fs.existsSync(path.join(tmp, "state", "settings.toml")),
            "a retention change wrote settings.toml");
        const json = JSON.parse((await ctl("--json", "retention", "door")).stdout);
        expect(json.max_days === 3 || json.maxDays === 3 || JSON.stringify(json).includes("3"),
            `retention over D-Bus: ${JSON.stringify(json)}`);
    });

    await step("zones are drawn on the camera's current picture (the snapshot route)", async () => {
        await form().getByText("Drawn on the camera's current picture.").waitFor();
        const box = await form().locator("canvas.draw").boundingBox();
        expect(Math.abs(box.width / box.height - 320 / 240) < 0.05,
            `canvas is ${box.width}x${box.height}, not 4:3`);
    });

    await step("a motion zone drawn with the mouse is saved", async () => {
        await form().getByLabel("Shape to draw").selectOption("include");
        const canvas = form().locator("canvas.draw");
        await canvas.scrollIntoViewIfNeeded();
        const box = await canvas.boundingBox();
        for (const [x, y] of [[0.1, 0.5], [0.9, 0.5], [0.9, 0.95], [0.1, 0.95]])
            await page.mouse.click(box.x + x * box.width, box.y + y * box.height);
        await form().getByRole("button", { name: "Finish shape" }).click();
        const zones = form().getByLabel(/Motion zones/);
        const text = await zones.inputValue();
        const first = /^include ([\d.]+),([\d.]+) /.exec(text);
        expect(first && Math.abs(first[1] - 0.1) < 0.03 && Math.abs(first[2] - 0.5) < 0.03,
            `zones text: ${text}`);
        await form().getByLabel("Detect motion").check();
        await shot(page, "settings", { fullPage: true });
        await form().getByRole("button", { name: "Save door" }).click();
        await form().getByText(/Saved \(\d+ change/).waitFor();
        const s = await (await page.request.get(`${base}/api/settings`)).json();
        const door = s.cameras.find((c) => c.id === "door");
        expect(door.motion.enabled && door.motion.zones.length === 1, JSON.stringify(door.motion));
        const [p0] = door.motion.zones[0].points;
        expect(Math.abs(p0[0] - 0.1) < 0.03 && Math.abs(p0[1] - 0.5) < 0.03,
            `first corner ${JSON.stringify(p0)}`);
        const file = fs.readFileSync(path.join(tmp, "state", "settings.toml"), "utf8");
        expect(file.includes("[[camera.motion.zone]]") && !/^mode\b/m.test(file) &&
            !file.includes("doorbell"), `settings.toml holds more than what changed:\n${file}`);
    });

    await step("a wrong value is refused beside its field", async () => {
        await form().getByLabel("Motion sensitivity (0 to 1)").fill("7");
        await form().getByRole("button", { name: "Save door" }).click();
        await form().getByRole("alert").filter({ hasText: "motion.sensitivity" }).waitFor();
        expect(await form().getByLabel("Motion sensitivity (0 to 1)").getAttribute("aria-invalid")
            === "true", "the field is not marked");
        await form().getByLabel("Motion sensitivity (0 to 1)").fill("0.5");
    });

    await step("a ring's event is protected, cannot be deleted, then is deleted", async () => {
        const ring = await ctl("ring", "door");
        expect(ring.code === 0, `porchlightctl ring: ${ring.stderr}`);
        await page.reload();
        const row = page.locator("tr[data-event]").first();
        await row.waitFor();
        await row.getByRole("button", { name: "Protect" }).click();
        await page.locator("tr[data-event]").first().getByText("protected").waitFor();
        expect(await page.locator("tr[data-event]").first().getByRole("button", { name: "Delete" })
            .isDisabled(), "Delete is enabled on a protected event");
        await page.locator("tr[data-event]").first().getByRole("button", { name: "Release" }).click();
        await page.locator("tr[data-event]").first().getByText("by retention").waitFor();
        page.once("dialog", (d) => d.accept());
        await page.locator("tr[data-event]").first().getByRole("button", { name: "Delete" }).click();
        await page.getByText("No events recorded.").waitFor();
        const audit = await (await page.request.get(`${base}/api/audit?limit=50`)).json();
        const kinds = audit.entries.map((e) => e.kind);
        for (const k of ["settings", "protect", "delete"])
            expect(kinds.includes(k), `no ${k} entry in the audit log: ${kinds}`);
    });

    await step("the passphrase form refuses a wrong current passphrase", async () => {
        const f = page.locator("#passphrase");
        await f.getByLabel("Current passphrase").fill("not it at all");
        await f.getByLabel("New passphrase", { exact: true }).fill("a new passphrase here");
        await f.getByLabel("Confirm new passphrase").fill("a new passphrase here");
        await f.getByRole("button", { name: "Change passphrase" }).click();
        await f.getByRole("alert").filter({ hasText: "wrong" }).waitFor();
        await f.getByRole("button", { name: "Use the recovery key instead" }).click();
        await f.getByLabel("Recovery key").waitFor();
    });

    await step("no console errors or CSP violations", async () => {
        expect(consoleProblems.length === 0, consoleProblems.join("\n"));
    });
} finally {
    await context?.close().catch(() => {});
    await stopAll();
    if ((debug || tally.failed) && daemon)
        console.error(`---- porchlightd log ----\n${daemon.log}`);
    fs.rmSync(tmp, { recursive: true, force: true });
}

finish();
