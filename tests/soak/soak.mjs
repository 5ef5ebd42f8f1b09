#!/usr/bin/env node
// Load and soak test (issue 8): a real porchlightd on 127.0.0.1 with 4 test
// cameras recording, 8 live viewers (2 per camera, WebSocket clients reading
// the fMP4 stream) and 2 playbacks (HTTP streaming /api/playback) at once.
//
// Checks:
//   - no frame dropped from recording: the frames each camera handed to the
//     recorder (the daemon logs the count when it stops) equal the frames in
//     its recordings (porchlight-vault export + ffprobe), the recording's
//     timestamps have no hole longer than 1.5 frame intervals, and the count
//     matches framerate x recorded time. Only without retention churn: with
//     it, the oldest video is deleted on purpose (then the hole check runs on
//     what is left).
//   - live latency: each frame message carries wallUs (when its picture was
//     taken); latency = the client's receive time minus wallUs (same
//     machine, same clock). p99 and max must stay under 1 s after the first
//     10 s (the start-up of 4 encoders at once is not steady state).
//   - no viewer disconnected, no live frame dropped for a slow viewer, no
//     playback ending with an error.
//   - resources: every 10 s the daemon's RSS, open fds, threads and CPU go
//     to a CSV. After the warm-up (PORCHLIGHT_SOAK_WARMUP seconds, default a
//     fifth of the run, at least 60 s and at most 300 s) the RSS must not grow by more than 1%:
//     the mean RSS of the last fifth of the samples against the mean of the
//     first fifth after warm-up (means, so one sample's allocator noise does
//     not decide). The fd count after warm-up may not exceed its warm-up
//     maximum + 2. CPU steady: the mean CPU of the last fifth within 25% of
//     the first fifth after warm-up.
//
// Environment:
//   PORCHLIGHTD, PORCHLIGHT_VAULT  the programs (default build/daemon/...)
//   FFPROBE                        default: ffprobe on the PATH
//   PORCHLIGHT_SOAK_SECONDS        run length (default 90)
//   PORCHLIGHT_SOAK_CHURN=1        tight retention (max_bytes) and 10 s segments
//   PORCHLIGHT_SOAK_CAMERA         "WIDTHxHEIGHT@FPS" (default 320x240@15)
//   PORCHLIGHT_SOAK_BITRATE        encoder bitrate (default 1M, a doorbell's)
//   PORCHLIGHT_SOAK_PATTERN        the test source's pattern (default snow)
//   PORCHLIGHT_SOAK_CSV            where the samples go (default in the temp dir)
//   PORCHLIGHT_SOAK_WARMUP         seconds before the resource checks start
//   PORCHLIGHT_SOAK=1              required when run by meson (suite "soak")
//   PORCHLIGHT_SOAK_DEBUG=1        daemon log on stderr
// Exits 0 when all passed, 1 when one failed, 77 (skip) without
// PORCHLIGHT_SOAK=1 when PORCHLIGHT_SOAK_REQUIRE_OPT_IN=1.

import { execFile } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import net from "node:net";
import path from "node:path";
import { promisify } from "node:util";
import { check, freePort, kPassphrase, program, requirePrograms, skip, sleep, startDaemon,
    tally, tempDir, testCamera, webConfig } from "../e2e/harness.mjs";

const run = promisify(execFile);
const daemonPath = program("PORCHLIGHTD", "daemon", "porchlightd");
const vaultPath = program("PORCHLIGHT_VAULT", "daemon", "vault", "porchlight-vault");
const seconds = Number(process.env.PORCHLIGHT_SOAK_SECONDS || 90);
const churn = process.env.PORCHLIGHT_SOAK_CHURN === "1";
const debug = process.env.PORCHLIGHT_SOAK_DEBUG === "1";
const [, camW, camH, camFps] = (process.env.PORCHLIGHT_SOAK_CAMERA || "320x240@15")
    .match(/^(\d+)x(\d+)@(\d+)$/) || [0, 320, 240, 15];
const fps = Number(camFps);
const bitrate = process.env.PORCHLIGHT_SOAK_BITRATE || "1M";
// "snow" (noise) makes the encoder spend its whole bitrate, as a camera
// watching a street does; the default "smpte" bars would compress to a tenth.
const pattern = process.env.PORCHLIGHT_SOAK_PATTERN || "snow";
const warmup = Number(process.env.PORCHLIGHT_SOAK_WARMUP || Math.max(60, Math.min(300, seconds / 5)));
const kCameras = ["door", "gate", "yard", "drive"];
const kViewersPerCamera = 2;
const kPlaybacks = 2;
const kSampleSeconds = 10;
const kSeekSeconds = 30;
const kLatencyGraceSeconds = 10;

if (process.env.PORCHLIGHT_SOAK_REQUIRE_OPT_IN === "1" && process.env.PORCHLIGHT_SOAK !== "1") {
    skip("set PORCHLIGHT_SOAK=1 to run the load test (it takes minutes and both cores)");
}
requirePrograms({ PORCHLIGHTD: daemonPath, PORCHLIGHT_VAULT: vaultPath });

// Latencies go into 1 ms buckets (the last one: 10 s and more), so that a
// 24-hour run does not keep ten million numbers.
const kBuckets = 10001;
class Histogram {
    constructor() {
        this.counts = new Float64Array(kBuckets);
        this.n = 0;
        this.max = 0;
    }
    add(ms) {
        this.counts[Math.min(kBuckets - 1, Math.max(0, Math.floor(ms)))] += 1;
        this.n += 1;
        this.max = Math.max(this.max, ms);
    }
    merge(other) {
        for (let i = 0; i < kBuckets; ++i)
            this.counts[i] += other.counts[i];
        this.n += other.n;
        this.max = Math.max(this.max, other.max);
    }
    // The bucket (whole ms) that holds the p-quantile.
    percentile(p) {
        const want = Math.min(this.n, Math.floor(p * this.n) + 1);
        for (let i = 0, seen = 0; i < kBuckets; ++i) {
            seen += this.counts[i];
            if (seen >= want)
                return i;
        }
        return NaN;
    }
}
const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;

// ---- the daemon -------------------------------------------------------------

const tmp = tempDir("porchlight-soak-");
const stateDir = path.join(tmp, "state");
const csvPath = process.env.PORCHLIGHT_SOAK_CSV || path.join(tmp, "resources.csv");
const port = await freePort();
const host = `127.0.0.1:${port}`;
// Churn: 10 s segments and room for about 60 s of one camera's video, so
// that every camera's retention deletes a segment every ten seconds or so.
const bytesPerSecond = Number(String(bitrate).replace(/[kK]$/, "e3").replace(/M$/, "e6")) / 8;
const maxBytes = Math.max(64 * 1024, Math.round(bytesPerSecond * 60));
let config = webConfig(`http://${host}`);
if (churn)
    config += `
[storage]
segment_seconds = 10
`;
for (const id of kCameras) {
    config += testCamera(id,
        { width: Number(camW), height: Number(camH), framerate: fps, bitrate, pattern });
    if (churn)
        config += `
[camera.retention]
max_bytes = ${maxBytes}
`;
}
fs.mkdirSync(stateDir, { mode: 0o700 });
fs.writeFileSync(path.join(tmp, "passphrase"), kPassphrase + "\n", { mode: 0o600 });

// The owner exists before the daemon starts, so it records from its first frame.
await run(vaultPath, ["init", "--state-dir", stateDir, "--passphrase-file",
    path.join(tmp, "passphrase")]);

// startDaemon puts the state in tmp/state, where the owner already is.
const daemon = startDaemon(daemonPath, tmp, config, { echo: debug });

// ---- HTTP -------------------------------------------------------------------

let cookie = "";
let csrf = "";
function request(method, urlPath, body) {
    return new Promise((resolve, reject) => {
        const data = body === undefined ? undefined : JSON.stringify(body);
        const req = http.request({
            host: "127.0.0.1", port, method, path: urlPath,
            headers: {
                Origin: `http://${host}`,
                ...(cookie ? { Cookie: cookie } : {}),
                ...(csrf ? { "X-CSRF-Token": csrf } : {}),
                ...(data ? { "Content-Type": "application/json" } : {}),
            },
        }, (res) => {
            const chunks = [];
            res.on("data", (c) => chunks.push(c));
            res.on("end", () => resolve({ status: res.statusCode, headers: res.headers,
                body: Buffer.concat(chunks).toString() }));
            res.on("error", reject);
        });
        req.on("error", reject);
        req.end(data);
    });
}

// ---- a WebSocket client (RFC 6455, just what the live view needs) ----------

class LiveViewer {
    constructor(camera, index) {
        this.camera = camera;
        this.name = `${camera}#${index}`;
        this.frames = 0;
        this.bytes = 0;
        this.inits = 0;
        this.latency = new Histogram(); // ms, after the grace period
        this.closed = null; // why, when it closed
        this.pendingFrame = null;
        this.buffer = Buffer.alloc(0);
    }

    open(graceUntil) {
        this.graceUntil = graceUntil;
        return new Promise((resolve, reject) => {
            const key = crypto.randomBytes(16).toString("base64");
            const socket = net.connect(port, "127.0.0.1");
            this.socket = socket;
            let upgraded = false;
            socket.on("connect", () => {
                socket.write(`GET /api/cameras/${this.camera}/live HTTP/1.1\r\nHost: ${host}\r\n` +
                    `Origin: http://${host}\r\nCookie: ${cookie}\r\nUpgrade: websocket\r\n` +
                    `Connection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\n` +
                    "Sec-WebSocket-Version: 13\r\n\r\n");
            });
            socket.on("data", (chunk) => {
                this.buffer = Buffer.concat([this.buffer, chunk]);
                if (!upgraded) {
                    const end = this.buffer.indexOf("\r\n\r\n");
                    if (end < 0)
                        return;
                    const head = this.buffer.subarray(0, end).toString();
                    this.buffer = this.buffer.subarray(end + 4);
                    if (!/^HTTP\/1\.1 101/.test(head)) {
                        reject(new Error(`${this.name}: handshake answered ${head.split("\r\n")[0]}`));
                        socket.destroy();
                        return;
                    }
                    upgraded = true;
                    resolve();
                }
                this.parse();
            });
            socket.on("error", (e) => {
                if (!upgraded)
                    reject(e);
                this.closed ??= `error ${e.message}`;
            });
            socket.on("close", () => {
                this.closed ??= "the connection closed";
            });
        });
    }

    send(opcode, payload) {
        const mask = crypto.randomBytes(4);
        const masked = Buffer.from(payload);
        for (let i = 0; i < masked.length; ++i)
            masked[i] ^= mask[i % 4];
        this.socket.write(Buffer.concat([Buffer.from([0x80 | opcode, 0x80 | masked.length]), mask,
            masked]));
    }

    parse() {
        for (;;) {
            const b = this.buffer;
            if (b.length < 2)
                return;
            const opcode = b[0] & 0x0f;
            let len = b[1] & 0x7f;
            let at = 2;
            if (len === 126) {
                if (b.length < 4)
                    return;
                len = b.readUInt16BE(2);
                at = 4;
            } else if (len === 127) {
                if (b.length < 10)
                    return;
                len = Number(b.readBigUInt64BE(2));
                at = 10;
            }
            if (b[1] & 0x80)
                throw new Error(`${this.name}: the server masked a frame`);
            if (b.length < at + len)
                return;
            const payload = b.subarray(at, at + len);
            const fin = (b[0] & 0x80) !== 0;
            this.buffer = b.subarray(at + len);
            if (opcode >= 0x8) {
                this.message(opcode, payload); // control frames come whole, even mid-message
                continue;
            }
            // A data message may come in fragments (continuation frames, opcode 0).
            if (opcode !== 0x0) {
                this.partOpcode = opcode;
                this.parts = [];
            }
            this.parts.push(Buffer.from(payload));
            if (fin)
                this.message(this.partOpcode, Buffer.concat(this.parts));
        }
    }

    message(opcode, payload) {
        // The wall clock (as the daemon reads it: a monotonic clock would drift
        // from it over a day), in µs; milliseconds are fine enough against 1 s.
        const now = Date.now() * 1000;
        if (opcode === 0x1) {
            const m = JSON.parse(payload.toString());
            if (m.type === "frame") {
                this.pendingFrame = m;
                const latencyMs = (now - m.wallUs) / 1000;
                if (now / 1000 >= this.graceUntil) {
                    this.latency.add(latencyMs);
                }
            } else if (m.type === "init") {
                this.inits += 1;
            }
        } else if (opcode === 0x2) {
            this.bytes += payload.length;
            if (this.pendingFrame)
                this.frames += 1;
            this.pendingFrame = null;
        } else if (opcode === 0x8) {
            const code = payload.length >= 2 ? payload.readUInt16BE(0) : 1005;
            this.closed ??= `closed by the daemon with ${code} ${payload.subarray(2).toString()}`;
            this.socket.end();
        } else if (opcode === 0x9) {
            this.send(0xa, payload);
        }
    }
}

// ---- playback: HTTP streaming from the oldest recording, following the
// camera when it reaches the present; every 30 s it seeks back to the oldest.

class Playback {
    constructor(camera) {
        this.camera = camera;
        this.streams = 0;
        this.bytes = 0;
        this.errors = [];
        this.stopped = false;
    }

    async loop() {
        while (!this.stopped) {
            const r = await this.once().catch((e) => ({ error: e.message }));
            if (this.stopped)
                break;
            if (r.error)
                this.errors.push(r.error);
            await sleep(500);
        }
    }

    once() {
        this.seeking = false;
        // From an hour ago: the keyframe at or after it, i.e. the oldest video kept.
        const from = (Date.now() - 3600e3) * 1000;
        return new Promise((resolve, reject) => {
            const req = http.get({
                host: "127.0.0.1", port,
                path: `/api/playback?camera=${this.camera}&from=${from}`,
                headers: { Cookie: cookie, Origin: `http://${host}` },
            }, (res) => {
                if (res.statusCode !== 200) {
                    res.resume();
                    resolve({ error: `playback answered ${res.statusCode}` });
                    return;
                }
                this.streams += 1;
                this.req = req;
                // The owner seeks back on the timeline now and then: start again
                // from the oldest video (a burst of reading and decrypting).
                const seek = setTimeout(() => {
                    this.seeking = true;
                    req.destroy();
                }, kSeekSeconds * 1000);
                res.on("close", () => clearTimeout(seek));
                res.on("data", (c) => {
                    this.bytes += c.length;
                });
                res.on("end", () => resolve(res.complete ? {} : { error: "playback cut short" }));
                res.on("error", (e) => resolve(this.stopped || this.seeking ? {} : { error: e.message }));
                res.on("aborted", () => resolve(this.stopped || this.seeking ? {} : { error: "aborted" }));
            });
            req.on("error", reject);
        });
    }

    stop() {
        this.stopped = true;
        this.req?.destroy();
    }
}

// ---- resources --------------------------------------------------------------

const clockTicks = 100; // sysconf(_SC_CLK_TCK) on Linux
function sample(pid) {
    const status = fs.readFileSync(`/proc/${pid}/status`, "utf8");
    const rssKiB = Number(status.match(/^VmRSS:\s+(\d+)/m)[1]);
    const anonKiB = Number(status.match(/^RssAnon:\s+(\d+)/m)[1]);
    const fileKiB = Number(status.match(/^RssFile:\s+(\d+)/m)[1]);
    const threads = Number(status.match(/^Threads:\s+(\d+)/m)[1]);
    const fds = fs.readdirSync(`/proc/${pid}/fd`).length;
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const cpuSeconds = (Number(fields[11]) + Number(fields[12])) / clockTicks;
    return { t: Date.now() / 1000, rssKiB, anonKiB, fileKiB, threads, fds, cpuSeconds };
}

// ---- the run ----------------------------------------------------------------

const viewers = [];
const playbacks = [];
const samples = [];
let exitCode = 1;
try {
    await daemon.waitForLog(/web UI on /, 60000);
    const login = await request("POST", "/api/login", { passphrase: kPassphrase });
    check(login.status === 200, `login through the API answered ${login.status}`);
    cookie = String(login.headers["set-cookie"]).split(";")[0];
    csrf = JSON.parse(login.body).csrf;

    // Every camera streams before the clients come.
    const deadline = Date.now() + 60000;
    for (;;) {
        const r = await request("GET", "/api/cameras");
        const cams = JSON.parse(r.body).cameras;
        if (cams.length === kCameras.length && cams.every((c) => c.state === "streaming"))
            break;
        if (Date.now() > deadline)
            throw new Error(`cameras not streaming after 60 s: ${r.body}`);
        await sleep(500);
    }
    const startUs = Date.now() * 1000;
    const graceUntil = Date.now() + kLatencyGraceSeconds * 1000;
    for (const camera of kCameras)
        for (let i = 0; i < kViewersPerCamera; ++i) {
            const v = new LiveViewer(camera, i);
            await v.open(graceUntil);
            viewers.push(v);
        }
    check(viewers.length === 8, `${viewers.length} live viewers connected`);
    // Playbacks start once there is a fragment to play.
    await sleep(3000);
    for (let i = 0; i < kPlaybacks; ++i) {
        const p = new Playback(kCameras[i]);
        playbacks.push(p);
        p.loop();
    }

    const csv = fs.openSync(csvPath, "w");
    fs.writeSync(csv, "elapsed_s,rss_kib,rss_anon_kib,rss_file_kib,fds,threads,cpu_percent,live_frames," +
        "playback_bytes\n");
    const t0 = Date.now();
    let last = sample(daemon.pid);
    while (Date.now() - t0 < seconds * 1000) {
        await sleep(kSampleSeconds * 1000);
        if (!daemon.alive())
            throw new Error(`porchlightd exited:\n${daemon.log.slice(-4000)}`);
        // A page polls the cameras; this also keeps the session active.
        await request("GET", "/api/cameras");
        const s = sample(daemon.pid);
        s.cpuPercent = 100 * (s.cpuSeconds - last.cpuSeconds) / (s.t - last.t);
        s.elapsed = (Date.now() - t0) / 1000;
        last = s;
        samples.push(s);
        const liveFrames = viewers.reduce((a, v) => a + v.frames, 0);
        const pbBytes = playbacks.reduce((a, p) => a + p.bytes, 0);
        fs.writeSync(csv, `${s.elapsed.toFixed(0)},${s.rssKiB},${s.anonKiB},${s.fileKiB},` +
            `${s.fds},${s.threads},` +
            `${s.cpuPercent.toFixed(1)},${liveFrames},${pbBytes}\n`);
        if (debug || s.elapsed % 60 < kSampleSeconds)
            console.log(`  ${s.elapsed.toFixed(0)} s: RSS ${s.rssKiB} KiB, ${s.fds} fds, ` +
                `${s.threads} threads, CPU ${s.cpuPercent.toFixed(0)}%, live frames ${liveFrames}`);
    }
    fs.closeSync(csv);
    const endUs = Date.now() * 1000;

    // ---- live and playback
    for (const v of viewers) {
        const h = v.latency;
        console.log(`  viewer ${v.name}: ${v.frames} frames, ${(v.bytes / 1e6).toFixed(1)} MB, ` +
            `latency median ${h.percentile(0.5)} ms, p99 ${h.percentile(0.99)} ms, ` +
            `max ${h.max.toFixed(0)} ms`);
    }
    const all = new Histogram();
    for (const v of viewers)
        all.merge(v.latency);
    const liveSeconds = (endUs - startUs) / 1e6;
    console.log(`  live latency over ${all.n} frames: median ${all.percentile(0.5)} ms, ` +
        `p95 ${all.percentile(0.95)} ms, p99 ${all.percentile(0.99)} ms, max ` +
        `${all.max.toFixed(0)} ms`);
    check(viewers.every((v) => v.closed === null),
        `no live viewer disconnected (${viewers.filter((v) => v.closed).map((v) =>
            `${v.name}: ${v.closed}`).join("; ") || "none"})`);
    check(viewers.every((v) => v.frames >= 0.9 * fps * liveSeconds),
        `every viewer got >= 90% of ${fps} fps x ${liveSeconds.toFixed(0)} s ` +
        `(least: ${Math.min(...viewers.map((v) => v.frames))} frames)`);
    check(all.n > 0 && all.percentile(0.99) < 1000 && all.max < 1000,
        "live latency under 1 s (p99 and max)");
    for (const p of playbacks) {
        console.log(`  playback ${p.camera}: ${p.streams} streams, ${(p.bytes / 1e6).toFixed(1)} MB`);
        check(p.errors.length === 0 && p.bytes > 0,
            `playback of ${p.camera} streamed without errors (${p.errors.join("; ") || "none"})`);
    }

    // ---- resources
    const after = samples.filter((s) => s.elapsed > warmup);
    if (after.length >= 10) {
        const fifth = Math.max(2, Math.floor(after.length / 5));
        const head = after.slice(0, fifth);
        const tail = after.slice(-fifth);
        const rssHead = mean(head.map((s) => s.rssKiB));
        const rssTail = mean(tail.map((s) => s.rssKiB));
        const growth = 100 * (rssTail - rssHead) / rssHead;
        check(growth < 1, `RSS after the ${warmup} s warm-up: ${rssHead.toFixed(0)} KiB -> ` +
            `${rssTail.toFixed(0)} KiB (${growth.toFixed(2)}%, under 1%)`);
        // Where it went: the heap and other private memory, or pages of the
        // program and its libraries (which the kernel may drop and read again).
        const anonHead = mean(head.map((x) => x.anonKiB));
        const anonTail = mean(tail.map((x) => x.anonKiB));
        const fileHead = mean(head.map((x) => x.fileKiB));
        const fileTail = mean(tail.map((x) => x.fileKiB));
        console.log(`  of it anonymous ${anonHead.toFixed(0)} -> ${anonTail.toFixed(0)} KiB, ` +
            `file-backed ${fileHead.toFixed(0)} -> ${fileTail.toFixed(0)} KiB`);
        const warmFds = Math.max(...samples.filter((s) => s.elapsed <= warmup).map((s) => s.fds),
            after[0].fds);
        const maxFds = Math.max(...after.map((s) => s.fds));
        check(maxFds <= warmFds + 2, `open fds: at most ${warmFds} in warm-up, at most ${maxFds} after`);
        const threads = new Set(after.map((s) => s.threads));
        console.log(`  threads after warm-up: ${[...threads].join(", ")}`);
        const cpuHead = mean(head.map((s) => s.cpuPercent));
        const cpuTail = mean(tail.map((s) => s.cpuPercent));
        check(Math.abs(cpuTail - cpuHead) <= 0.25 * cpuHead,
            `CPU steady: ${cpuHead.toFixed(1)}% -> ${cpuTail.toFixed(1)}% of a core`);
    } else {
        console.log(`  (run too short for the resource checks: ${after.length} samples after warm-up)`);
    }
    console.log(`  samples: ${csvPath}`);

    // ---- recording: stop the daemon, then count what it recorded
    for (const v of viewers)
        v.socket.destroy();
    for (const p of playbacks)
        p.stop();
    await sleep(500);
    // However long it takes: an orderly stop flushes what the cameras recorded.
    const stopped = await daemon.stop(null);
    check(stopped.code === 0, `porchlightd stopped cleanly (exit ${stopped.code}` +
        `${stopped.signal ? `, killed by ${stopped.signal}` : ""})`);
    fs.writeFileSync(path.join(tmp, "porchlightd.log"), daemon.log);
    const left = [...daemon.log.matchAll(/live viewer left after \d+ frames \((\d+) dropped\)/g)];
    const viewerDrops = left.reduce((a, m) => a + Number(m[1]), 0);
    check(left.length === viewers.length && viewerDrops === 0,
        `no live frame dropped for a slow viewer (${viewerDrops}, ${left.length} viewers counted)`);
    if (churn) {
        const deletions = [...daemon.log.matchAll(/retention: deleting (\d+) segment/g)]
            .reduce((a, m) => a + Number(m[1]), 0);
        check(deletions >= (seconds / 60) * kCameras.length,
            `retention churned: ${deletions} segments deleted in ${seconds} s`);
    }
    for (const camera of kCameras) {
        const m = daemon.log.match(new RegExp(`${camera}: recording branch flushed after (\\d+) frames`));
        const produced = m ? Number(m[1]) : NaN;
        const out = path.join(tmp, `${camera}.mp4`);
        await run(vaultPath, ["export", "--state-dir", stateDir, "--camera", camera,
            "--from", `@${Math.floor(startUs / 1e6) - 3600}`, "--to", `@${Math.ceil(endUs / 1e6) + 60}`,
            "--out", out, "--passphrase-file", path.join(tmp, "passphrase")],
        { maxBuffer: 1 << 24 });
        const probe = await run(process.env.FFPROBE || "ffprobe", ["-v", "error", "-select_streams", "v:0",
            "-show_entries", "packet=pts_time", "-of", "csv=p=0", out], { maxBuffer: 1 << 28 });
        const pts = probe.stdout.trim().split("\n").map(Number).sort((a, b) => a - b);
        fs.rmSync(out);
        let worst = 0;
        for (let i = 1; i < pts.length; ++i)
            worst = Math.max(worst, pts[i] - pts[i - 1]);
        const span = pts[pts.length - 1] - pts[0] + 1 / fps;
        console.log(`  ${camera}: ${produced} frames to the recorder, ${pts.length} recorded over ` +
            `${span.toFixed(1)} s (${(pts.length / span).toFixed(2)} fps), longest step ` +
            `${(worst * 1000).toFixed(0)} ms`);
        if (!churn)
            check(pts.length === produced,
                `${camera}: every frame the camera produced is recorded (${pts.length} of ${produced})`);
        check(worst <= 1.5 / fps, `${camera}: no hole in the recording (longest step ` +
            `${(worst * 1000).toFixed(0)} ms, a frame is ${(1000 / fps).toFixed(0)} ms)`);
        check(Math.abs(pts.length - span * fps) <= 2,
            `${camera}: ${pts.length} frames over ${span.toFixed(1)} s is ${fps} fps`);
    }
    const verify = await run(vaultPath, ["verify", "--state-dir", stateDir, "--passphrase-file",
        path.join(tmp, "passphrase")]).then(() => 0, (e) => e.code);
    check(verify === 0, `porchlight-vault verify passes (exit ${verify})`);
    exitCode = tally.failed ? 1 : 0;
} catch (e) {
    console.log(`FAILED: ${String(e.stack || e)}`);
    if (!debug)
        console.log(daemon.log.slice(-4000));
} finally {
    for (const v of viewers)
        v.socket?.destroy();
    for (const p of playbacks)
        p.stop();
    if (daemon.alive()) {
        daemon.kill();
        await daemon.exited;
    }
    if (exitCode === 0 && !process.env.PORCHLIGHT_SOAK_CSV)
        fs.rmSync(tmp, { recursive: true, force: true });
    else
        console.log(`  kept ${tmp}`);
}
console.log(tally.failed || exitCode ? `${tally.failed} check(s) failed` : "all checks passed");
process.exit(exitCode);
