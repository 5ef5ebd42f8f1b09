// What the browser tests (tests/e2e/*.mjs) and the load test
// (tests/soak/soak.mjs) share: where the programs are, a free port, a
// porchlightd (or dbus-daemon) of our own in a temp dir whose log we can wait
// on, the ok/FAILED reporting and its exit codes (0 all passed, 1 one failed,
// 77 a skip for meson), and chromium through playwright-core.
//
// Node's built-ins only: the soak test runs without node_modules, so
// playwright-core is imported only when a browser test asks for chromium.

import { spawn } from "node:child_process";
import { createRequire } from "node:module";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

export const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
const kSkip = 77;
export const kPassphrase = "correct horse battery staple";

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export function percentile(sorted, p) {
    return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
}

// A program from the environment, else from the build dir of this source tree.
const programNames = new Map();
export function program(envName, ...inBuild) {
    programNames.set(envName, inBuild[inBuild.length - 1]);
    return process.env[envName] || path.join(repo, "build", ...inBuild);
}

export function skip(why) {
    console.log(`SKIP: ${why}`);
    process.exit(kSkip);
}

// A program we were given but cannot find is a failure, not a skip: meson
// passes its own build's paths, so a missing one means a broken build.
export function requirePrograms(byEnvName) {
    for (const [envName, p] of Object.entries(byEnvName))
        if (!fs.existsSync(p)) {
            console.error(`no ${programNames.get(envName) ?? "program"} at ${p}: set ${envName}`);
            console.log("0 passed, 1 failed");
            process.exit(1);
        }
}

export function tempDir(prefix) {
    return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export function freePort() {
    return new Promise((resolve, reject) => {
        const server = net.createServer();
        server.unref();
        server.on("error", reject);
        server.listen(0, "127.0.0.1", () => {
            const { port } = server.address();
            server.close(() => resolve(port));
        });
    });
}

// ---- processes of our own ---------------------------------------------------

// Only children of ours, each by its pid: other engineers' daemons and
// browsers run on the same machine.
const children = [];

// A test runner's timeout (SIGTERM) or ^C must not leave a child behind.
let signalsHandled = false;
function killChildrenOnSignal() {
    if (signalsHandled)
        return;
    signalsHandled = true;
    for (const signal of ["SIGTERM", "SIGINT"])
        process.on(signal, () => {
            for (const c of children)
                c.kill();
            console.log(`interrupted by ${signal}`);
            process.exit(1);
        });
}

export class Child {
    // echo: copy the output to stderr as it comes, "[name] ..." (debugging).
    constructor(cmd, args, { env = {}, name = path.basename(cmd), echo = false } = {}) {
        this.name = name;
        this.log = "";
        this.child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"],
            env: { ...process.env, ...env } });
        this.exited = new Promise((resolve) =>
            this.child.on("exit", (code, signal) => resolve({ code, signal })));
        for (const s of [this.child.stdout, this.child.stderr])
            s.on("data", (chunk) => {
                this.log += chunk;
                if (echo)
                    process.stderr.write(`[${name}] ${chunk}`);
            });
        children.push(this);
        killChildrenOnSignal();
    }

    get pid() {
        return this.child.pid;
    }

    // Started (a failed spawn has no pid) and not yet exited.
    alive() {
        return this.child.pid > 1 && this.child.exitCode === null && this.child.signalCode === null;
    }

    async waitForLog(pattern, ms) {
        const deadline = Date.now() + ms;
        while (Date.now() < deadline) {
            const m = this.log.match(pattern);
            if (m)
                return m;
            if (!this.alive())
                throw new Error(`${this.name} exited early:\n${this.log}`);
            await sleep(50);
        }
        throw new Error(`${this.name} did not log ${pattern} within ${ms} ms:\n${this.log}`);
    }

    // SIGTERM, then SIGKILL if it still runs after killAfterMs (null: wait
    // for as long as it takes, for a caller that checks the orderly stop).
    // Resolves to how it exited, { code, signal }.
    async stop(killAfterMs = 10000) {
        if (this.alive()) {
            this.child.kill("SIGTERM");
            const timer = killAfterMs === null ? null : setTimeout(() => this.kill(), killAfterMs);
            await this.exited;
            clearTimeout(timer);
        }
        // One that never started has no exit to wait for.
        return this.child.pid > 1 ? this.exited : { code: null, signal: null };
    }

    kill() {
        if (this.alive())
            this.child.kill("SIGKILL");
    }
}

// Every child still running, the last started first (porchlightd before the
// bus it is on).
export async function stopAll() {
    for (const c of [...children].reverse())
        await c.stop();
}

// The daemon reads this instead of the system bus: tests run without D-Bus,
// as in CI, unless they give it a bus of their own.
const kNoSystemBus = "unix:path=/nonexistent/porchlight-test";

// porchlightd with DIR/porchlight.toml (written here) and DIR/state.
export function startDaemon(daemonPath, dir, config, { args = [], env = {}, echo = false } = {}) {
    fs.writeFileSync(path.join(dir, "porchlight.toml"), config);
    return new Child(daemonPath,
        ["--config", path.join(dir, "porchlight.toml"), "--state-dir", path.join(dir, "state"),
            ...args],
        { env: { DBUS_SYSTEM_BUS_ADDRESS: kNoSystemBus, ...env }, name: "porchlightd", echo });
}

// The [web] table: one listener, on loopback only.
export function webConfig(url) {
    return `[web]\nlisten = ["${url}"]\n`;
}

// A [[camera]] with the daemon's own test source; settings are its other keys
// (numbers stay numbers, strings are quoted).
export function testCamera(id, settings) {
    let toml = `\n[[camera]]\nid = "${id}"\nsource = "test"\n`;
    for (const [key, value] of Object.entries(settings))
        toml += `${key} = ${typeof value === "string" ? `"${value}"` : value}\n`;
    return toml;
}

// ---- reporting --------------------------------------------------------------

export const tally = { passed: 0, failed: 0, notRun: 0 };
let broken = false;

// A browser test's step: the steps build on each other, so after a failure
// the rest are reported "not run" (and counted as failed).
export async function step(name, fn) {
    if (broken) {
        tally.notRun += 1;
        console.log(`not run: ${name}`);
        return;
    }
    try {
        await fn();
        tally.passed += 1;
        console.log(`ok: ${name}`);
    } catch (e) {
        tally.failed += 1;
        broken = true;
        console.log(`FAILED: ${name}\n  ${String(e.stack || e).split("\n").join("\n  ")}`);
    }
}

export function expect(cond, message) {
    if (!cond)
        throw new Error(message);
}

// An independent check: reported and counted, and the run goes on.
export function check(ok, what) {
    console.log(`${ok ? "ok" : "FAILED"}: ${what}`);
    if (ok)
        tally.passed += 1;
    else
        tally.failed += 1;
}

// "N passed, N failed" last, and the exit code that says the same.
export function finish() {
    if (tally.notRun)
        console.log(`(${tally.notRun} not run after a failure, counted as failed)`);
    const failed = tally.failed + tally.notRun;
    console.log(`${tally.passed} passed, ${failed} failed`);
    process.exit(failed ? 1 : 0);
}

// ---- chromium ---------------------------------------------------------------

export const debug = process.env.PORCHLIGHT_E2E_DEBUG === "1";
export const shotDir = process.env.PORCHLIGHT_SCREENSHOTS || path.join(repo, "docs", "guide");
const chromiumPath = process.env.CHROMIUM || "/usr/bin/chromium";
let chromium;

// Skips the test when playwright-core (an npm devDependency) or Debian's
// chromium is missing.
export async function loadChromium() {
    try {
        const require = createRequire(path.join(repo, "package.json"));
        const mod = await import(pathToFileURL(require.resolve("playwright-core")).href);
        chromium = mod.chromium ?? mod.default?.chromium;
        if (!chromium)
            throw new Error("it has no chromium export");
    } catch (e) {
        skip(`playwright-core is not installed (run "npm ci" in ${repo}): ${e.message}`);
    }
    if (!fs.existsSync(chromiumPath))
        skip(`no chromium at ${chromiumPath} (apt-get install chromium)`);
}

// Headless, a phone-sized touch screen, British English in UTC; args and
// options add to or override that.
export async function launchChromium(profileDir, { args = [], ...options } = {}) {
    return chromium.launchPersistentContext(profileDir, {
        executablePath: chromiumPath,
        headless: true,
        // No sandbox: chromium will not start with it as root (CI, containers);
        // no GPU or /dev/shm, which a container may lack; the rest keep it
        // from reaching beyond loopback on its own.
        args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-dev-shm-usage", ...args],
        viewport: { width: 390, height: 844 },
        deviceScaleFactor: 1,
        hasTouch: true,
        locale: "en-GB",
        timezoneId: "UTC",
        ...options,
    });
}

// Collects the page's console errors (except those allowed matches) and
// uncaught exceptions into problems.
export function watchConsole(page, problems, allowed = null) {
    page.on("console", (msg) => {
        if (debug)
            console.error(`[console.${msg.type()}] ${msg.text()}`);
        if (msg.type() === "error" && !(allowed && allowed.test(msg.text())))
            problems.push(msg.text());
    });
    page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
}

export async function shot(page, name, options = {}) {
    fs.mkdirSync(shotDir, { recursive: true });
    await page.screenshot({ path: path.join(shotDir, `${name}.png`), animations: "disabled",
        ...options });
}
