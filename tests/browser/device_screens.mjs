// device_screens.mjs - the device's kiosk and staff pages in real headless
// Chromium (Debian's package, driven by playwright-core), against real
// regulars-device daemons seeded by regularsctl. See docs/testing-browser.md.
//
// Kiosk: a sim tap of a consenting customer's card shows their first name
// within --budget-ms (default 500) of `regularsctl tap` returning; unknown,
// no-consent and refused cards show what they must and nothing more.
// Staff (a second daemon with role handheld): a wrong PIN is refused, the
// right one logs in, a tap on the handheld's reader opens the profile, a note
// is saved, and `regularsctl device outbox --json` has that note.
// Screenshots of every screen go to --artefacts.
//
// Run by run.sh (which provides --modules and --chromium); by hand:
//   node device_screens.mjs --modules DIR/node_modules --chromium /usr/bin/chromium \
//     --ctl build/tools/regularsctl/regularsctl \
//     --daemon build/firmware/daemon/regulars-device --ui firmware/ui \
//     --artefacts build/artefacts/browser
import { spawn } from "node:child_process";
import { createWriteStream, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { performance } from "node:perf_hooks";

const USAGE = `usage: node device_screens.mjs --modules DIR --chromium PATH --ctl PATH --daemon PATH
                              --ui DIR --artefacts DIR [--budget-ms N] [--taps N]
                              [--keep-tmp]`;

// ---- arguments ----
const opt = { budgetMs: 500, taps: 5, keepTmp: false };
{
	const a = process.argv.slice(2);
	const names = { "--modules": "modules", "--chromium": "chromium", "--ctl": "ctl", "--daemon": "daemon",
		"--ui": "ui", "--artefacts": "artefacts", "--budget-ms": "budgetMs", "--taps": "taps" };
	for (let i = 0; i < a.length; i++) {
		if (a[i] === "--help" || a[i] === "-h") { console.log(USAGE); process.exit(0); }
		if (a[i] === "--keep-tmp") { opt.keepTmp = true; continue; }
		const k = names[a[i]];
		if (!k || i + 1 >= a.length) { console.error(`device_screens: bad argument ${a[i]}\n${USAGE}`); process.exit(2); }
		opt[k] = a[++i];
	}
	for (const k of ["modules", "chromium", "ctl", "daemon", "ui", "artefacts"])
		if (!opt[k]) { console.error(`device_screens: --${k} is required\n${USAGE}`); process.exit(2); }
	opt.budgetMs = Number(opt.budgetMs);
	opt.taps = Number(opt.taps);
	opt.ui = resolve(opt.ui);
	opt.artefacts = resolve(opt.artefacts);
}

const require = createRequire(join(resolve(opt.modules), "..", "device_screens.cjs"));
const { chromium } = require("playwright-core");

// The flags verified on Debian 12 (FIELD-NOTES): no sandbox (root in a
// container), no GPU, and nothing that talks to the network by itself.
const CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
	"--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"];
const PIN = "1234";
const WAIT_MS = 10000;      // any single wait for the page or a daemon
const OVERALL_MS = 110000;  // below ctest's TIMEOUT, so we clean up ourselves

const now = () => performance.timeOrigin + performance.now(); // epoch ms, sub-ms

// ---- results ----
let passed = 0, failed = 0;
function check(name, ok, detail) {
	if (ok) { passed++; console.log(`ok   ${name}`); }
	else { failed++; console.log(`FAIL ${name}${detail ? ": " + detail : ""}`); }
	return ok;
}
class Fatal extends Error {
	constructor(message, counted = false) { super(message); this.counted = counted; }
}
function must(name, ok, detail) {
	if (!check(name, ok, detail)) throw new Fatal(name, true);
}

// ---- processes ----
/** Runs a command to completion; resolves {code, stdout, stderr, startAt, exitAt}. */
function run(cmd, args, { input, timeoutMs = 30000 } = {}) {
	return new Promise((resolveRun, reject) => {
		const startAt = now();
		const p = spawn(cmd, args, { stdio: [input === undefined ? "ignore" : "pipe", "pipe", "pipe"] });
		let stdout = "", stderr = "", exitAt = 0;
		const timer = setTimeout(() => { p.kill("SIGKILL"); reject(new Error(`${cmd} ${args.join(" ")}: timed out`)); }, timeoutMs);
		p.stdout.on("data", (d) => { stdout += d; });
		p.stderr.on("data", (d) => { stderr += d; });
		p.on("error", (e) => { clearTimeout(timer); reject(e); });
		p.on("exit", () => { exitAt = now(); });
		p.on("close", (code) => { clearTimeout(timer); resolveRun({ code, stdout, stderr, startAt, exitAt: exitAt || now() }); });
		if (input !== undefined) {
			p.stdin.on("error", () => {}); // a child that exits without reading: its exit status tells
			p.stdin.end(input);
		}
	});
}

async function ctl(args, opts) {
	const r = await run(opt.ctl, args, opts);
	if (r.code !== 0)
		throw new Fatal(`regularsctl ${args.join(" ")} exited ${r.code}: ${r.stderr.trim() || r.stdout.trim()}`);
	return r.stdout;
}

// Daemons still running: whatever happens to this process, they die with it
// (an orphan would keep ctest's pipes open until its timeout).
const liveDaemons = new Set();
process.on("exit", () => { for (const d of liveDaemons) d.proc.kill("SIGKILL"); });
for (const ev of ["uncaughtException", "unhandledRejection"])
	process.on(ev, (e) => {
		console.log(`FAIL ${ev}: ${(e && e.stack) || e}`);
		console.log(`${passed} passed, ${failed + 1} failed`);
		process.exit(1);
	});

/** A regulars-device child: its stderr goes to a log file and is watched. */
class Daemon {
	constructor(name, config) {
		this.name = name;
		this.logPath = join(opt.artefacts, `daemon-${name}.log`);
		this.log = createWriteStream(this.logPath);
		this.lines = [];
		this.waiters = [];
		this.exited = null;
		this.proc = spawn(opt.daemon, ["--config", config], {
			stdio: ["ignore", "pipe", "pipe"],
			env: { ...process.env, REGULARS_LOG_LEVEL: process.env.REGULARS_LOG_LEVEL || "info" },
		});
		let buf = "";
		this.proc.stdout.on("data", (d) => this.log.write(d));
		this.proc.stderr.on("data", (d) => {
			this.log.write(d);
			buf += d;
			let nl;
			while ((nl = buf.indexOf("\n")) >= 0) { this.onLine(buf.slice(0, nl)); buf = buf.slice(nl + 1); }
		});
		liveDaemons.add(this);
		this.closed = new Promise((res) => {
			this.proc.on("exit", (code, sig) => {
				liveDaemons.delete(this);
				this.exited = { code, sig };
				for (const w of this.waiters) w.fail(new Fatal(`${name} daemon exited (${code ?? sig}) while waiting for ${w.re}; log ${this.logPath}`));
				this.waiters = [];
				res(this.exited);
			});
		});
		this.proc.on("error", (e) => { for (const w of this.waiters) w.fail(e); this.waiters = []; });
	}
	onLine(line) {
		this.lines.push(line);
		this.waiters = this.waiters.filter((w) => {
			const m = w.re.exec(line);
			if (m) w.ok(m);
			return !m;
		});
	}
	/** Resolves with the match of the first log line (past or future) matching re. */
	waitLog(re, timeoutMs = WAIT_MS) {
		for (const l of this.lines) { const m = re.exec(l); if (m) return Promise.resolve(m); }
		if (this.exited) return Promise.reject(new Fatal(`${this.name} daemon is not running; log ${this.logPath}`));
		return new Promise((ok, fail) => {
			const t = setTimeout(() => fail(new Fatal(`${this.name} daemon: no log line ${re} within ${timeoutMs} ms; log ${this.logPath}`)), timeoutMs);
			this.waiters.push({ re, ok: (m) => { clearTimeout(t); ok(m); }, fail: (e) => { clearTimeout(t); fail(e); } });
		});
	}
	/** SIGTERM, then SIGKILL after timeoutMs; resolves with the exit status. */
	async stop(timeoutMs = 10000) {
		if (!this.exited) {
			this.proc.kill("SIGTERM");
			const t = setTimeout(() => { if (!this.exited) this.proc.kill("SIGKILL"); }, timeoutMs);
			await this.closed;
			clearTimeout(t);
		}
		await new Promise((r) => this.log.end(r));
		return this.exited;
	}
}

// ---- customers ----
function ean13(first12) {
	let sum = 0;
	for (let i = 0; i < 12; i++) sum += Number(first12[i]) * (i % 2 ? 3 : 1);
	return first12 + String((10 - (sum % 10)) % 10);
}

function loadCustomers(file) {
	return readFileSync(file, "utf8").split("\n").filter((l) => l.trim()).map((l) => {
		const c = JSON.parse(l);
		const p = c.profile || {};
		const loyalty = (c.identifiers || []).find((i) => i.type === "loyalty");
		const consent = (p.consent && p.consent.show_in_public) || [];
		return { id: c.id, name: p.name || "", first: p.first_name || "", card: loyalty && loyalty.value, consent };
	}).filter((c) => c.card);
}

// ---- device setup ----
async function makeDevice(tmp, role, customersFile, pinHash) {
	const dir = join(tmp, role);
	mkdirSync(join(dir, "keys"), { recursive: true, mode: 0o700 });
	const config = join(dir, "device.json");
	const sock = join(dir, "reader.sock");
	writeFileSync(config, JSON.stringify({
		device_id: `dev-browser-${role === "kiosk" ? "k1" : "h1"}`,
		store_id: "0042",
		role,
		database: join(dir, "device.db"),
		keystore: { backend: "file", options: `dir=${join(dir, "keys")}` },
		readers: [{ backend: "sim", options: `path=${sock}` }],
		http: { bind: "127.0.0.1", port: 0, assets: opt.ui },
		staff: { pin_hash: pinHash },
	}, null, 2));
	await ctl(["device", "provision", "--config", config, "--generate-tenant-key"]);
	await ctl(["device", "seed", "--config", config, "--file", customersFile]);
	const daemon = new Daemon(role, config);
	const m = await daemon.waitLog(/event=http_listening\b.*\bport=(\d+)/);
	await daemon.waitLog(/event=started\b/); // logged once the readers are open
	return { role, dir, config, sock, daemon, url: `http://127.0.0.1:${m[1]}/` };
}

async function readOutbox(config) {
	const out = await ctl(["device", "outbox", "--config", config, "--json"]);
	let v;
	try { v = JSON.parse(out); } catch {
		v = out.split("\n").filter((l) => l.trim()).map((l) => JSON.parse(l)); // JSON Lines
	}
	return Array.isArray(v) ? v : (v.rows || []);
}

// ---- browser helpers ----
// Installed before any page script: keeps the page's EventSources so the test
// can wait until the SSE stream is open before it taps.
const TRACK_EVENT_SOURCES = `(() => {
	const Orig = window.EventSource, list = [];
	window.__rgEventSources = list;
	window.EventSource = class extends Orig { constructor(...a) { super(...a); list.push(this); } };
})();`;

async function openPage(browser, url, name, pageErrors) {
	const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
	await context.addInitScript(TRACK_EVENT_SOURCES);
	const page = await context.newPage();
	page.setDefaultTimeout(WAIT_MS);
	page.on("pageerror", (e) => pageErrors.push(`${name}: ${e.message}`));
	const resp = await page.goto(url, { waitUntil: "load" });
	must(`${name}: GET / answers 200`, resp && resp.status() === 200, resp ? `status ${resp.status()}` : "no response");
	await page.waitForFunction(() => (window.__rgEventSources || []).some((e) => e.readyState === 1),
		null, { polling: 50, timeout: WAIT_MS });
	return page;
}

async function shot(page, file) {
	const p = join(opt.artefacts, file);
	await page.screenshot({ path: p, fullPage: true });
	console.log(`     screenshot ${p}`);
}

/** Taps on the device's sim reader while the page is watched for `pred`
 * (polled on every animation frame). Returns the delay from `regularsctl tap`
 * returning to the frame where pred first held (frameMs), and to when this
 * process learnt it (observedMs, an upper bound that includes CDP latency);
 * fullMs is from starting `regularsctl tap` to the same moment. */
async function tapAndWait(dev, page, tapArgs, pred, arg) {
	const seen = page.waitForFunction(pred, arg, { polling: "raf", timeout: WAIT_MS });
	seen.catch(() => {}); // awaited below; avoid an unhandled rejection meanwhile
	const r = await run(opt.ctl, ["tap", "--socket", dev.sock, ...tapArgs], { timeoutMs: WAIT_MS });
	must(`tap ${tapArgs.join(" ")} on the ${dev.role} reader is queued`, r.code === 0 && r.stdout.trim() === "ok",
		`exit ${r.code} ${r.stdout.trim()} ${r.stderr.trim()}`);
	const handle = await seen;
	const seenAt = now();
	const frameAt = await handle.jsonValue();
	return { frameMs: frameAt - r.exitAt, observedMs: seenAt - r.exitAt, fullMs: seenAt - r.startAt };
}

// In-page predicates: return the frame's epoch time when they hold.
const screenIs = ({ state, name }) => {
	const s = document.getElementById("screen"), g = document.getElementById("greeting");
	if (!s || s.dataset.state !== state || !g.checkVisibility()) return false;
	if (name && !g.textContent.includes(name)) return false;
	return performance.timeOrigin + performance.now();
};

// ---- the kiosk ----
async function kioskFlow(browser, kiosk, customers, pageErrors) {
	const page = await openPage(browser, kiosk.url, "kiosk", pageErrors);
	check("kiosk: idle screen before any tap", await page.evaluate(() => document.getElementById("screen").dataset.state) === "idle");
	await shot(page, "kiosk-idle.png");

	// Consenting customers with distinct first names, so each tap changes the screen.
	const named = [];
	for (const c of customers)
		if (c.consent.length && c.first && !named.some((n) => n.first === c.first)) named.push(c);
	must("kiosk: the generated customers include consenting ones", named.length >= 2, `${named.length}`);
	const taps = Math.max(1, Math.min(opt.taps, named.length));
	const observed = [], full = [];
	for (let i = 0; i < taps; i++) {
		const c = named[i];
		const t = await tapAndWait(kiosk, page, ["barcode", c.card], screenIs, { state: "greeting", name: c.first });
		observed.push(t.observedMs);
		full.push(t.fullMs);
		console.log(`     tap ${i + 1}: ${c.id} "${c.first}" seen by the test ${t.observedMs.toFixed(1)} ms after the tap ` +
			`returned (on screen in the frame at ${t.frameMs.toFixed(1)} ms; ${t.fullMs.toFixed(1)} ms from starting the tap)`);
		check(`kiosk: ${c.id}'s first name shown within ${opt.budgetMs} ms of the tap`, t.observedMs < opt.budgetMs,
			`${t.observedMs.toFixed(1)} ms`);
		const text = await page.evaluate(() => document.body.innerText);
		const last = c.name.startsWith(c.first) ? c.name.slice(c.first.length).trim() : "";
		check(`kiosk: ${c.id}'s full name is not on the public screen`, !last || !text.includes(last), `found "${last}"`);
		if (i === 0) await shot(page, "kiosk-greeting.png");
	}
	const stats = (xs) => {
		const v = [...xs].sort((a, b) => a - b);
		return `first ${xs[0].toFixed(1)} ms, median ${v[Math.floor(v.length / 2)].toFixed(1)} ms, max ${v[v.length - 1].toFixed(1)} ms`;
	};
	console.log(`     kiosk, tap returned -> first name seen: ${stats(observed)} over ${taps} taps (budget ${opt.budgetMs} ms)`);
	console.log(`     kiosk, tap started  -> first name seen: ${stats(full)}`);

	// A valid card nobody has: a polite greeting, no name.
	const maxId = customers.reduce((m, c) => Math.max(m, Number(String(c.id).replace(/\D/g, "")) || 0), 0);
	const strangerCard = ean13("2" + String(maxId + 1000).padStart(11, "0"));
	await tapAndWait(kiosk, page, ["barcode", strangerCard], screenIs, { state: "unknown" });
	check("kiosk: unknown card shows the unknown greeting", true);
	await shot(page, "kiosk-unknown.png");

	// A known customer who did not consent: greeted, but no name and no details.
	const shy = customers.find((c) => !c.consent.length && c.first);
	if (check("kiosk: the generated customers include one without consent", !!shy)) {
		await tapAndWait(kiosk, page, ["barcode", shy.card], screenIs, { state: "greeting" });
		const v = await page.evaluate(() => ({
			text: document.body.innerText,
			tier: document.getElementById("tier").textContent,
			points: document.getElementById("points").textContent,
			items: document.getElementById("items").children.length,
		}));
		check(`kiosk: ${shy.id} (no consent) is greeted without a name`, !v.text.includes(shy.first), v.text);
		check(`kiosk: ${shy.id} (no consent) shows no tier, points or items`, !v.tier && !v.points && !v.items, JSON.stringify(v));
		await shot(page, "kiosk-no-consent.png");
	}

	// A card with a wrong check digit: refused.
	const good = named[0].card;
	const bad = good.slice(0, 12) + String((Number(good[12]) + 1) % 10);
	await tapAndWait(kiosk, page, ["barcode", bad], screenIs, { state: "refused" });
	check("kiosk: a card with a bad check digit shows the refusal", true);
	await shot(page, "kiosk-refused.png");
	await page.context().close();

	const rows = await readOutbox(kiosk.config);
	const kinds = rows.map((r) => r.kind);
	check("kiosk outbox: one identified row per known tap", kinds.filter((k) => k === "identified").length === taps + 1,
		JSON.stringify(kinds));
	check("kiosk outbox: the unknown card is recorded", kinds.filter((k) => k === "unknown_identifier").length === 1,
		JSON.stringify(kinds));
	check("kiosk outbox: nothing else, so no row for the refused card", kinds.length === taps + 2, JSON.stringify(kinds));
	return { named };
}

// ---- the staff page ----
async function staffFlow(browser, hh, customer, pageErrors) {
	const page = await openPage(browser, hh.url, "staff", pageErrors);
	await page.locator("#login").waitFor({ state: "visible" });
	check("staff: the login form shows first", await page.locator("#app").isHidden());
	await shot(page, "staff-login.png");

	await page.fill("#pin", "0000");
	await page.click("#login-button");
	await page.waitForFunction(() => document.getElementById("login-error").textContent.trim() !== "");
	check("staff: a wrong PIN is refused", await page.locator("#app").isHidden(),
		"the app opened with a wrong PIN");
	await shot(page, "staff-wrong-pin.png");

	await page.fill("#pin", PIN);
	await page.click("#login-button");
	await page.locator("#app").waitFor({ state: "visible" });
	check("staff: the right PIN logs in", await page.locator("#login").isHidden());

	// Scan the customer's card on the handheld: the page fetches the profile.
	const t = await tapAndWait(hh, page, ["barcode", customer.card], ({ name }) => {
		const p = document.getElementById("profile"), n = document.getElementById("p-name");
		return p && p.checkVisibility() && n.textContent === name ? performance.timeOrigin + performance.now() : false;
	}, { name: customer.name });
	console.log(`     staff: ${customer.id} profile on screen ${t.observedMs.toFixed(1)} ms after the tap returned`);
	check(`staff: a scan of ${customer.id}'s card shows the profile with the full name`, true);
	await shot(page, "staff-profile.png");

	const note = `browser test note ${Date.now().toString(36)}`;
	await page.fill("#note", note);
	await page.click("#note-button");
	const status = page.locator("#action-status");
	await page.waitForFunction(() => /^Saved \(|failed|error/i.test(document.getElementById("action-status").textContent));
	const st = (await status.textContent()) || "";
	const m = /^Saved \(([0-9a-f-]{36})\)/.exec(st);
	must("staff: the note is saved with an interaction id", !!m, st);
	check("staff: the note field is cleared after saving", (await page.inputValue("#note")) === "");
	const firstRow = await page.evaluate(() => { const r = document.querySelector("#p-interactions tr"); return r ? r.textContent : ""; });
	check("staff: the note is first in the profile's recent interactions", firstRow.includes(note), firstRow);
	await shot(page, "staff-note-saved.png");

	// Redeem points at the till: the balance on screen drops at once.
	const pointsBefore = parseInt((await page.textContent("#p-points")) || "0", 10);
	must(`staff: ${customer.id} has points to redeem`, pointsBefore >= 1, String(pointsBefore));
	await page.fill("#redeem-points", "1");
	await page.fill("#redeem-reason", "browser test voucher");
	await page.evaluate(() => { document.getElementById("action-status").textContent = ""; });
	await page.click("#redeem-form button");
	await page.waitForFunction(() => /^Saved \(|failed|error/i.test(document.getElementById("action-status").textContent));
	const after = parseInt((await page.textContent("#p-points")) || "0", 10);
	check("staff: redeeming 1 point lowers the balance on screen by 1", after === pointsBefore - 1, `${pointsBefore} -> ${after}`);
	await page.context().close();

	const rows = await readOutbox(hh.config);
	const notes = rows.filter((r) => r.kind === "note" && r.profile === customer.id);
	check(`staff: the outbox has a note row for ${customer.id}`, notes.length === 1,
		JSON.stringify(rows.map((r) => ({ kind: r.kind, profile: r.profile }))));
	if (notes.length === 1) {
		check("staff: the outbox row is the interaction the page confirmed", notes[0].id === m[1],
			`row ${notes[0].id}, page ${m[1]}`);
		const body = notes[0].body || {};
		check("staff: the outbox row carries the note text", body.text === note, JSON.stringify(body));
	}
	const redeemed = rows.filter((r) => r.kind === "points_redeemed" && r.profile === customer.id);
	check(`staff: the outbox has a points_redeemed row of 1 point for ${customer.id}`,
		redeemed.length === 1 && (redeemed[0].body || {}).points === 1,
		JSON.stringify(redeemed.map((r) => r.body)));
}

// ---- main ----
async function main() {
	mkdirSync(opt.artefacts, { recursive: true });
	const tmp = mkdtempSync(join(tmpdir(), "rg-browser-"));
	const devices = [];
	let browser = null;
	const watchdog = setTimeout(() => {
		console.log(`FAIL the browser test did not finish within ${OVERALL_MS} ms`);
		console.log(`${passed} passed, ${failed + 1} failed`);
		process.exit(1); // the exit handler kills the daemons
	}, OVERALL_MS);
	try {
		console.log(`     temp dir ${tmp}; artefacts in ${opt.artefacts}`);
		const customersFile = join(tmp, "customers.jsonl");
		await ctl(["customers", "generate", "--count", "50", "--out", customersFile]);
		const customers = loadCustomers(customersFile);
		must("50 customers generated", customers.length === 50, `${customers.length}`);
		const pinHash = (await ctl(["device", "pin-hash"], { input: `${PIN}\n` })).trim();
		must("regularsctl device pin-hash gives a hash", pinHash.length > 0 && !pinHash.includes(PIN));

		devices.push(await makeDevice(tmp, "kiosk", customersFile, pinHash));
		devices.push(await makeDevice(tmp, "handheld", customersFile, pinHash));
		const [kiosk, hh] = devices;
		console.log(`     kiosk ${kiosk.url}  handheld ${hh.url}`);

		browser = await chromium.launch({ executablePath: opt.chromium, headless: true, args: CHROMIUM_ARGS, timeout: 30000 });
		console.log(`     chromium ${browser.version()}`);
		const pageErrors = [];
		const { named } = await kioskFlow(browser, kiosk, customers, pageErrors);
		await staffFlow(browser, hh, named[0], pageErrors);
		check("no uncaught script errors in the pages", pageErrors.length === 0, pageErrors.join("; "));
	} catch (e) {
		if (!(e instanceof Fatal)) check("unexpected error", false, e.stack || String(e));
		else if (!e.counted) check(e.message, false);
	} finally {
		if (browser) await browser.close().catch(() => {});
		for (const d of devices) {
			const x = await d.daemon.stop();
			check(`${d.role} daemon stops cleanly on SIGTERM`, x && x.code === 0, JSON.stringify(x));
		}
		clearTimeout(watchdog);
		if (opt.keepTmp || failed) console.log(`     kept ${tmp}`);
		else rmSync(tmp, { recursive: true, force: true });
	}
	console.log(`     screenshots and daemon logs: ${opt.artefacts}`);
	console.log(`${passed} passed, ${failed} failed`);
	process.exit(failed ? 1 : 0);
}

main();
