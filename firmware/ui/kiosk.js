// Kiosk screen: shows what the device daemon broadcasts on /api/v1/events
// ("screen" events). Only what the view model contains is shown; the daemon
// already left out everything the customer did not consent to show in public
// (and what screen.privacy hides). Configured texts come in the view model
// (greeting, greeting_idle) and are shown with textContent, never as HTML.
"use strict";
const TEXT = {
  en: { welcome: "Welcome!", again: "Welcome back!", hello: "Welcome back, {name}!", unknown: "Welcome! We could not find your card - please ask a colleague.",
        refused: "Sorry, this code cannot be used.", tap: "Tap your card or scan your code", refresh: "Please open the app and show a fresh code.", points: "{n} points", tier: "{tier} member", closed: "We are closed right now. See you soon!" },
  de: { welcome: "Willkommen!", again: "Schön, dass Sie wieder da sind!", hello: "Willkommen zurück, {name}!", unknown: "Willkommen! Wir konnten Ihre Karte nicht finden - bitte fragen Sie uns.",
        refused: "Dieser Code kann leider nicht verwendet werden.", tap: "Karte auflegen oder Code scannen", refresh: "Bitte öffnen Sie die App und zeigen Sie einen neuen Code.", points: "{n} Punkte", tier: "{tier}-Mitglied", closed: "Wir haben gerade geschlossen. Bis bald!" },
  fr: { welcome: "Bienvenue !", again: "Ravis de vous revoir !", hello: "Bon retour, {name} !", unknown: "Bienvenue ! Nous n'avons pas trouvé votre carte - demandez à un conseiller.",
        refused: "Désolé, ce code ne peut pas être utilisé.", tap: "Présentez votre carte ou scannez votre code", refresh: "Ouvrez l'application et présentez un nouveau code.", points: "{n} points", tier: "membre {tier}", closed: "Nous sommes fermés pour le moment. À bientôt !" },
  nl: { welcome: "Welkom!", again: "Fijn dat u er weer bent!", hello: "Welkom terug, {name}!", unknown: "Welkom! We konden uw kaart niet vinden - vraag het een collega.",
        refused: "Sorry, deze code kan niet worden gebruikt.", tap: "Houd uw kaart voor de lezer of scan uw code", refresh: "Open de app en toon een nieuwe code.", points: "{n} punten", tier: "{tier}-lid", closed: "We zijn nu gesloten. Tot snel!" },
};
function t(lang, key, vars) {
  const table = TEXT[lang] || TEXT.en;
  let s = table[key] || TEXT.en[key];
  for (const [k, v] of Object.entries(vars || {})) s = s.replace("{" + k + "}", String(v));
  return s;
}
const REFRESHABLE = new Set(["token_expired", "token_replayed", "totp_out_of_window", "totp_reused"]);
const $ = (id) => document.getElementById(id);
let idleTimer = null;

function render(v) {
  const lang = (v.language && TEXT[v.language]) ? v.language : (v.default_language || "en");
  document.documentElement.lang = lang;
  $("screen").dataset.state = v.state;
  $("screen").className = "kiosk state-" + v.state;
  $("tier").textContent = "";
  $("points").textContent = "";
  $("items").replaceChildren();
  $("message").textContent = "";
  if (v.state === "greeting") {
    // No first name in the view: the customer did not consent to be named in public.
    $("greeting").textContent = v.greeting || (v.first_name ? t(lang, "hello", { name: v.first_name }) : t(lang, "again"));
    if (v.tier) $("tier").textContent = t(lang, "tier", { tier: v.tier });
    if (typeof v.points === "number") $("points").textContent = t(lang, "points", { n: v.points });
    for (const it of (v.items || []).slice(0, 3)) {
      const li = document.createElement("li");
      li.textContent = it;
      $("items").appendChild(li);
    }
  } else if (v.state === "unknown") {
    $("greeting").textContent = v.greeting || t(lang, "unknown");
  } else if (v.state === "closed") {
    // Outside the opening hours: the daemon ignores reads until it opens.
    $("greeting").textContent = v.greeting || t(lang, "closed");
  } else if (v.state === "refused") {
    $("greeting").textContent = t(lang, "refused");
    // Reasons are codes for staff and logs; a customer only gets a hint when
    // there is something they can do (a wallet code that went stale).
    if (REFRESHABLE.has(v.reason)) $("message").textContent = t(lang, "refresh");
  } else {
    $("greeting").textContent = v.greeting_idle || t(lang, "welcome");
    $("message").textContent = t(lang, "tap");
  }
  clearTimeout(idleTimer);
  if (v.state !== "idle" && v.idle_after_ms)
    idleTimer = setTimeout(() => render({ state: "idle", default_language: v.default_language, greeting_idle: v.greeting_idle }), v.idle_after_ms);
}

function connect() {
  const es = new EventSource("api/v1/events");
  es.addEventListener("screen", (e) => {
    try { render(JSON.parse(e.data)); } catch (err) { console.error("bad screen event", err); }
  });
  es.onopen = () => { $("status").textContent = ""; };
  es.onerror = () => { $("status").textContent = "reconnecting..."; };
}
render({ state: "idle" });
connect();
