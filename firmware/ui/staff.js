// Staff screen for handhelds: PIN login, then the customer's full context and
// the actions staff may take. Every action is recorded by the daemon in its
// outbox before the request returns, so "saved" on screen means it is durable.
"use strict";
const $ = (id) => document.getElementById(id);
let current = null;      // profile view shown
let lastUnknownScan = 0; // scan number of the last card that matched nobody

async function api(method, path, body) {
  const opt = { method, headers: {}, credentials: "same-origin" };
  if (body !== undefined) { opt.headers["Content-Type"] = "application/json"; opt.body = JSON.stringify(body); }
  const r = await fetch("api/v1" + path, opt);
  let data = {};
  try { data = await r.json(); } catch (e) { /* empty body */ }
  if (r.status === 401 && path !== "/session") showLogin();
  return { status: r.status, data };
}

function showLogin() { $("login").classList.remove("hidden"); $("app").classList.add("hidden"); $("logout").classList.add("hidden"); }
function showApp() { $("login").classList.add("hidden"); $("app").classList.remove("hidden"); $("logout").classList.remove("hidden"); }

function cell(tr, text) { const td = document.createElement("td"); td.textContent = text; tr.appendChild(td); }

function hhmm(ms) {
  const d = new Date(ms);
  return String(d.getHours()).padStart(2, "0") + ":" + String(d.getMinutes()).padStart(2, "0");
}

function render(p) {
  current = p;
  $("profile").classList.remove("hidden");
  $("p-name").textContent = p.name || p.first_name || p.id;
  $("p-tier").textContent = p.tier || "";
  $("p-points").textContent = (p.points ?? 0) + " points";
  $("p-home").textContent = p.home_store || "-";
  $("p-nba").textContent = p.next_best_action || "";
  // Freshness (docs/device-api.md): as of the last page from the gateway, or
  // of the cached profile; and this device's interactions central lacks yet.
  const f = p.freshness || {};
  $("p-asof").textContent = f.as_of ? "points as of " + hhmm(f.as_of) : "points as of: unknown";
  const n = f.unsynced || 0;
  $("p-unsynced").textContent = n === 0 ? "all interactions synced"
    : n + (n === 1 ? " interaction" : " interactions") + " not yet synced";
  $("p-lang").textContent = p.language || "-";
  $("p-public").textContent = p.consent && p.consent.show_in_public ? "yes" : "no";
  const eps = $("p-episodes"); eps.replaceChildren();
  for (const e of p.episodes || []) {
    const tr = document.createElement("tr");
    cell(tr, e.department); cell(tr, e.title || ""); cell(tr, e.status);
    const td = document.createElement("td");
    if (e.status !== "resolved") {
      const b = document.createElement("button"); b.type = "button"; b.textContent = "Resolve";
      b.onclick = () => act("POST", "/profiles/" + encodeURIComponent(p.id) + "/episodes/" + encodeURIComponent(e.id) + "/resolve", {});
      td.appendChild(b);
    }
    tr.appendChild(td); eps.appendChild(tr);
  }
  const its = $("p-interactions"); its.replaceChildren();
  for (const i of p.interactions || []) {
    const tr = document.createElement("tr");
    cell(tr, i.at || ""); cell(tr, i.channel || ""); cell(tr, i.summary || i.kind || "");
    // this device's own interactions: synced once central acknowledged them
    cell(tr, i.synced === true ? "synced" : i.synced === false ? "not yet synced" : "");
    if (i.synced === false) tr.classList.add("unsynced");
    its.appendChild(tr);
  }
  $("link-box").classList.toggle("hidden", !lastUnknownScan);
}

async function showProfile(id) {
  const r = await api("GET", "/profiles/" + encodeURIComponent(id));
  if (r.status === 200) render(r.data);
  else $("scan-status").textContent = r.data.message || "could not load the customer";
}

async function act(method, path, body) {
  $("action-status").textContent = "saving...";
  const r = await api(method, path, body);
  if (r.status >= 200 && r.status < 300) {
    $("action-status").textContent = "Saved (" + (r.data.interaction || "ok") + ")";
    if (r.data.profile) render(r.data.profile);
    return true;
  }
  $("action-status").textContent = r.data.message || ("failed: " + r.status);
  return false;
}

$("login-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const r = await api("POST", "/session", { pin: $("pin").value });
  $("pin").value = "";
  if (r.status === 200) { $("login-error").textContent = ""; showApp(); }
  else $("login-error").textContent = r.data.message || "login failed";
});
$("logout").addEventListener("click", async () => { await api("DELETE", "/session"); showLogin(); });
$("lookup-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const r = await api("GET", "/lookup?card=" + encodeURIComponent($("card").value));
  if (r.status === 200 && r.data.profile) { $("scan-status").textContent = ""; render(r.data.profile); }
  else $("scan-status").textContent = r.data.message || "no customer with this card";
});
$("note-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  if (current && await act("POST", "/profiles/" + encodeURIComponent(current.id) + "/notes", { text: $("note").value }))
    $("note").value = "";
});
$("redeem-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  if (current && await act("POST", "/profiles/" + encodeURIComponent(current.id) + "/points/redeem",
                           { points: Number($("redeem-points").value), reason: $("redeem-reason").value }))
    { $("redeem-points").value = ""; $("redeem-reason").value = ""; }
});
$("episode-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  if (current && await act("POST", "/profiles/" + encodeURIComponent(current.id) + "/episodes",
                           { department: $("ep-dept").value, title: $("ep-title").value }))
    $("ep-title").value = "";
});
$("toggle-public").addEventListener("click", () => {
  if (current) act("POST", "/profiles/" + encodeURIComponent(current.id) + "/consent",
                   { show_in_public: !(current.consent && current.consent.show_in_public) });
});
$("link-button").addEventListener("click", async () => {
  if (current && lastUnknownScan &&
      await act("POST", "/profiles/" + encodeURIComponent(current.id) + "/cards", { scan: lastUnknownScan }))
    { lastUnknownScan = 0; $("link-box").classList.add("hidden"); }
});

// Scans on this handheld arrive as "scan" events; they carry no personal data,
// only which profile (if any) matched. The profile itself is fetched with the session.
const es = new EventSource("api/v1/events");
es.addEventListener("scan", (e) => {
  let s; try { s = JSON.parse(e.data); } catch (err) { return; }
  if ($("app").classList.contains("hidden")) return;
  if (s.state === "greeting" && s.profile) { $("scan-status").textContent = ""; showProfile(s.profile); }
  else if (s.state === "unknown") { lastUnknownScan = s.scan; $("scan-status").textContent = "Card not known. Find the customer, then link the card."; $("link-box").classList.toggle("hidden", !current); }
  else if (s.state === "refused") $("scan-status").textContent = "Refused: " + (s.reason || "");
});

api("GET", "/session").then((r) => { if (r.data.staff) showApp(); else showLogin(); });
