// Guard-room console: the live feed (server-sent events), the closed loop (acknowledge, dispatch, note,
// resolve), remote actions by role, history with filters and CSV, the site plan, alerts per severity.
// No framework and no build step; every value from the gateway goes through textContent.
// Texts come from the gateway's gettext catalogs (/api/i18n): t("English source") gives the translation.
"use strict";

const state = {
  csrf: "", offset: 0, alarms: [], seen: null, escalated: new Set(), sound: false, audio: null,
  messages: {}, kinds: {}, language: "en", timezone: "UTC", alerts: {}, actions: [], role: "guard",
  plan: null, timers: {}, alertCount: 0, ask: null,
};
const SEVERITIES = ["critical", "major", "warning", "info"];

function t(text) { return state.messages[text] || text; }
function fmt(text, values) { return t(text).replace(/\{(\w+)\}/g, (_, k) => String(values[k] ?? "")); }

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") node.className = v;
    else if (k.startsWith("data-") || k === "aria-label") node.setAttribute(k, v);
    else node[k] = v;
  }
  for (const child of children) node.append(child instanceof Node ? child : String(child ?? ""));
  return node;
}

function now() { return Date.now() / 1000 + state.offset; }

function age(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  if (s < 60) return fmt("{n} s", { n: s });
  if (s < 3600) return fmt("{m} min {s} s", { m: Math.floor(s / 60), s: s % 60 });
  if (s < 86400) return fmt("{h} h {m} min", { h: Math.floor(s / 3600), m: Math.floor(s % 3600 / 60) });
  return fmt("{d} d {h} h", { d: Math.floor(s / 86400), h: Math.floor(s % 86400 / 3600) });
}

// time left to acknowledge within the severity's response target
function deadline(due) {
  const left = due - now();
  return left > 0 ? fmt("respond within {left}", { left: age(left) }) : t("response time missed");
}

function duration(seconds) { return seconds === null || seconds === undefined ? "" : age(seconds); }

// 24-hour clock in the site's time zone
function clock(ts, withDate) {
  const opts = { timeZone: state.timezone, hour12: false, hour: "2-digit", minute: "2-digit", second: "2-digit" };
  if (withDate) Object.assign(opts, { year: "numeric", month: "2-digit", day: "2-digit" });
  return new Intl.DateTimeFormat(state.language === "zh-CN" ? "zh-CN" : "en-GB", opts).format(new Date(ts * 1000));
}

function fallClip(a) {
  // a fall_detected alarm: play its clip (MJPEG, any browser) and link the MP4 evidence
  const clip = a.kind === "fall_detected" && a.details && a.details.clip;
  if (!clip) return "";
  const url = "/api/falls/clips/" + encodeURIComponent(clip.name);
  const box = el("div", { class: "clip" });
  const play = el("button", { class: "play", type: "button", onclick: () =>
    box.replaceChildren(el("img", { src: url + "/play", alt: "fall clip", class: "clip-video" })) }, "播放录像 Play clip");
  box.append(play, " ", el("a", { href: url, download: clip.name }, "MP4"));
  return box;
}

function kindLabel(kind) { return (state.kinds[kind] || {}).label || kind; }
function kindInstruction(kind) { return (state.kinds[kind] || {}).instruction || ""; }
function detailText(a) { return (a.text && a.text[state.language]) || ""; }
function can(action) { return state.actions.includes(action); }

function unacknowledged(alarms) { return alarms.filter(a => a.state === "raised"); }

// ---- active alarms ------------------------------------------------------------------------------------

function renderAlarms(alarms) {
  const first = state.seen === null;
  const fresh = [];
  for (const a of alarms) {
    const isNew = first || !state.seen.has(a.alarm_id);
    if (a.state === "raised" && (isNew || (a.escalated_at && !state.escalated.has(a.alarm_id)))) fresh.push(a);
    if (a.escalated_at) state.escalated.add(a.alarm_id);
  }
  state.seen = new Set(alarms.map(a => a.alarm_id));
  state.alarms = alarms;
  const body = document.querySelector("#alarms tbody");
  body.replaceChildren(...alarms.map(alarmRow));
  document.getElementById("alarm-count").textContent = alarms.length;
  document.getElementById("no-alarms").hidden = alarms.length > 0;
  renderBanner(alarms);
  renderTitle(alarms);
  renderPlanAlarms(alarms);
  const alerting = fresh.filter(a => { const c = state.alerts[a.severity] || {}; return c.flash || c.sound; });
  if (alerting.length) alert_(alerting);
  scheduleRepeats(alarms);
}

// the alarm's picture (kept on the gateway's disk): a thumbnail that opens the full-size viewer
function alarmThumb(alarmId) {
  const src = "/api/alarms/" + encodeURIComponent(alarmId) + "/snapshot.jpg";
  return el("button", { type: "button", class: "thumb", onclick: ev => { ev.stopPropagation(); view(src); },
    "aria-label": t("Show picture") }, el("img", { src, alt: t("Snapshot"), loading: "lazy" }));
}

function alarmRow(a) {
  const stateText = [t(a.state)];
  if (a.cleared_at) stateText.push(t("cleared"));
  if (a.escalated_at && a.state === "raised") stateText.push(t("response time missed"));
  const who = a.handling_by ? fmt("sent: {note}", { note: a.handling_note || "" }) :
    (a.acknowledged_by ? fmt("by {who}", { who: a.acknowledged_by.replace(/^console:/, "") }) : "");
  const details = el("td", { class: "details", "data-label": t("Details") }, el("span", {}, detailText(a)),
    fallClip(a));
  if (a.snapshot) details.append(alarmThumb(a.alarm_id));
  const row = el("tr", { class: "sev-" + a.severity + " st-" + a.state + (a.cleared_at ? " cleared" : "") +
      (a.escalated_at && a.state === "raised" ? " escalated" : "") +
      // an unacknowledged alarm of a flashing severity flashes until someone acknowledges it
      (a.state === "raised" && (state.alerts[a.severity] || {}).flash ? " flash" : ""), "data-alarm-id": a.alarm_id },
    el("td", { "data-label": t("Severity") }, el("span", { class: "badge sev-" + a.severity }, t(a.severity))),
    el("td", { class: "kind", "data-label": t("Alarm") }, el("b", {}, kindLabel(a.kind)),
      el("div", { class: "instruction" }, kindInstruction(a.kind))),
    el("td", { class: "where", "data-label": t("Where") }, a.device_name,
      a.area_name ? el("div", { class: "quiet" }, a.area_name) : ""),
    el("td", { "data-label": t("Time") }, clock(a.raised_at),
      el("div", { class: "age quiet", "data-since": a.raised_at }, age(now() - a.raised_at)),
      a.state === "raised" && a.target_s ? el("div", { class: "deadline", "data-due": a.raised_at + a.target_s },
        deadline(a.raised_at + a.target_s)) : ""),
    el("td", { class: "state-cell", "data-label": t("State") }, el("span", { class: "state" }, stateText[0]),
      stateText.length > 1 ? el("div", { class: "flag" }, stateText.slice(1).join(" · ")) : "",
      who ? el("div", { class: "quiet" }, who) : ""),
    details,
    el("td", { class: "buttons", "data-label": t("Actions") }, ...alarmButtons(a)));
  return row;
}

function alarmButtons(a) {
  const out = [];
  if (a.state === "raised" && can("acknowledge"))
    out.push(el("button", { class: "ack", type: "button", onclick: () => acknowledge(a.alarm_id) }, t("Acknowledge")));
  if (a.state !== "resolved" && a.state !== "in_handling" && can("handle"))
    out.push(el("button", { class: "handle", type: "button", onclick: () => askFor("handle", a) }, t("Send someone")));
  if (can("note"))
    out.push(el("button", { class: "note", type: "button", onclick: () => askFor("note", a) }, t("Note")));
  if (a.state !== "resolved" && can("resolve"))
    out.push(el("button", { class: "resolve", type: "button", onclick: () => askFor("resolve", a) }, t("Resolve")));
  if (can("reset") && a.condition !== false)
    out.push(el("button", { class: "reset", type: "button", onclick: () => askFor("reset", a) }, t("Reset detector")));
  return out;
}

function renderBanner(alarms) {
  const urgent = unacknowledged(alarms).filter(a => a.severity === "critical" || a.severity === "major");
  const banner = document.getElementById("banner");
  banner.hidden = urgent.length === 0;
  banner.className = urgent.some(a => a.severity === "critical") ? "sev-critical" : "sev-major";
  banner.textContent = urgent.length ? fmt("{n} unacknowledged alarm(s): ", { n: urgent.length }) +
    urgent.map(a => kindLabel(a.kind) + " · " + (a.area_name || a.device_name)).join(", ") : "";
}

function renderTitle(alarms) {
  const n = unacknowledged(alarms).length;
  document.title = (n ? "(" + n + ") " : "") + t("Guard room");
}

// ---- alerts: flash and sound per severity, repeated until acknowledged ---------------------------------

function alert_(alarms) {
  const flash = alarms.some(a => (state.alerts[a.severity] || {}).flash);
  const sound = alarms.some(a => (state.alerts[a.severity] || {}).sound);
  state.alertCount += 1;
  document.body.dataset.alerts = String(state.alertCount);
  if (flash) {
    document.body.classList.remove("alerting");
    void document.body.offsetWidth;  // restart the flash animation
    document.body.classList.add("alerting");
  }
  if (sound && state.sound) beep(alarms.some(a => a.severity === "critical") ? 3 : 2);
}

function scheduleRepeats(alarms) {
  for (const severity of SEVERITIES) {
    const cfg = state.alerts[severity] || {};
    const open = unacknowledged(alarms).filter(a => a.severity === severity);
    if (open.length && cfg.repeat_s > 0 && (cfg.flash || cfg.sound)) {
      if (!state.timers[severity]) state.timers[severity] = setInterval(() => {
        const still = unacknowledged(state.alarms).filter(a => a.severity === severity);
        if (still.length) alert_(still);
      }, cfg.repeat_s * 1000);
    } else if (state.timers[severity]) {
      clearInterval(state.timers[severity]);
      delete state.timers[severity];
    }
  }
  if (!unacknowledged(alarms).length) document.body.classList.remove("alerting");
}

function beep(count) {
  try {
    state.audio = state.audio || new AudioContext();
    const ctx = state.audio, start = ctx.currentTime;
    for (let i = 0; i < count; i++) {
      const osc = ctx.createOscillator(), gain = ctx.createGain();
      osc.frequency.value = 880; osc.type = "square"; gain.gain.value = 0.15;
      osc.connect(gain).connect(ctx.destination);
      osc.start(start + i * 0.4); osc.stop(start + i * 0.4 + 0.25);
    }
    document.body.dataset.beeps = String(Number(document.body.dataset.beeps || 0) + 1);
  } catch (e) { /* no audio device: the flashing still shows */ }
}

// ---- actions --------------------------------------------------------------------------------------------

const ASK = {
  handle: ["Send someone", "Who was sent, and where?"],
  note: ["Note", "What happened?"],
  resolve: ["Resolve", "What was found, what was done?"],
  reset: ["Reset detector", "Why is it safe to reset? (required)"],
  open_gate: ["Open gate", "Why open the gate? (required)"],
  hold_door: ["Hold lift door", "Why hold the door? (required)"],
};

function askFor(action, alarm, target) {
  const [title, hint] = ASK[action];
  state.ask = { action, alarm, target };
  document.getElementById("ask-title").textContent = t(title) + (alarm ? " · " + kindLabel(alarm.kind) : "") +
    (target ? " · " + target : "");
  document.getElementById("ask-hint").textContent = t(hint);
  document.getElementById("ask-text").value = "";
  document.getElementById("ask-error").hidden = true;
  document.getElementById("ask").showModal();
}

async function submitAsk(ev) {
  ev.preventDefault();
  const { action, alarm, target } = state.ask || {};
  const text = document.getElementById("ask-text").value.trim();
  const body = { action, text };
  if (alarm) body.alarm_id = alarm.alarm_id;
  if (action === "reset") body.target = alarm.device;
  else if (target) body.target = target;
  if (action === "hold_door") body.seconds = 120;
  const error = await post(body);
  if (error) {
    const box = document.getElementById("ask-error");
    box.hidden = false; box.textContent = error;
  } else {
    document.getElementById("ask").close();
    if (alarm) loadHistory();
  }
}

async function post(body) {
  const res = await fetch("/api/actions", { method: "POST", credentials: "same-origin",
    headers: { "X-CSRF-Token": state.csrf, "Content-Type": "application/json" }, body: JSON.stringify(body) });
  if (res.status === 401) { location.assign("/login"); return "login"; }
  if (res.ok) return null;
  const answer = await res.json().catch(() => ({}));
  return t("Refused") + ": " + (answer.error || answer.reason || res.status);
}

async function acknowledge(alarmId) {
  const error = await post({ action: "acknowledge", alarm_id: alarmId });
  if (error) {
    const banner = document.getElementById("banner");
    banner.hidden = false;
    banner.textContent = t("Acknowledge failed") + ": " + error;
  }
}

function setupControls(meta) {
  const section = document.getElementById("controls-section");
  const gates = meta.gates || [], lifts = meta.lifts || [];
  const showGate = can("open_gate") && gates.length, showLift = (can("hold_door") || can("release_door")) && lifts.length;
  section.hidden = !(showGate || showLift);
  const gateSelect = document.getElementById("gate-select"), liftSelect = document.getElementById("lift-select");
  gateSelect.replaceChildren(...gates.map(g => el("option", { value: g }, g)));
  liftSelect.replaceChildren(...lifts.map(l => el("option", { value: l }, l)));
  document.getElementById("open-gate").hidden = !showGate;
  gateSelect.closest("label").hidden = !showGate;
  liftSelect.closest("label").hidden = !showLift;
  document.getElementById("hold-door").hidden = !(showLift && can("hold_door"));
  document.getElementById("release-door").hidden = !(showLift && can("release_door"));
  document.getElementById("open-gate").onclick = () => askFor("open_gate", null, gateSelect.value);
  document.getElementById("hold-door").onclick = () => askFor("hold_door", null, liftSelect.value);
  document.getElementById("release-door").onclick = async () => {
    const error = await post({ action: "release_door", target: liftSelect.value });
    if (error) { const b = document.getElementById("banner"); b.hidden = false; b.textContent = error; }
  };
}

// ---- pictures and the site plan ------------------------------------------------------------------------

function view(src) {
  document.getElementById("viewer-image").src = src;
  document.getElementById("viewer").showModal();
}

function setupPlan(meta) {
  if (!meta.plan) return;
  state.plan = meta.plan;
  document.getElementById("plan-section").hidden = false;
  document.getElementById("plan-tab").hidden = false;
  document.getElementById("plan-image").src = "/api/plan";
  document.getElementById("plan-image").alt = t("Site plan");
}

function renderPlanAlarms(alarms) {
  if (!state.plan) return;
  const root = document.getElementById("plan");
  for (const pin of root.querySelectorAll(".pin")) pin.remove();
  const worst = {};
  for (const a of alarms) if (!worst[a.device] || SEVERITIES.indexOf(a.severity) < SEVERITIES.indexOf(worst[a.device].severity)) worst[a.device] = a;
  for (const [device, [x, y]] of Object.entries(state.plan.positions)) {
    const a = worst[device];
    const pin = el("span", { class: "pin " + (a ? "sev-" + a.severity + (a.state === "raised" ? " blink" : "") : "calm"),
      "data-device": device, title: (state.names[device] || device) + (a ? " · " + kindLabel(a.kind) : "") },
      el("span", { class: "pin-label" }, state.names[device] || device));
    pin.style.left = (x * 100) + "%";
    pin.style.top = (y * 100) + "%";
    root.append(pin);
  }
}

// ---- devices and access -------------------------------------------------------------------------------

function renderDevices(areas) {
  state.names = state.names || {};
  const root = document.getElementById("devices");
  root.replaceChildren(...areas.map(area => {
    const counts = {};
    for (const d of area.devices) { counts[d.status] = (counts[d.status] || 0) + 1; state.names[d.id] = d.name || d.id; }
    const summary = Object.entries(counts).map(([k, v]) => v + " " + t(k)).join(", ");
    return el("div", { class: "area", "data-area": area.area },
      el("h3", {}, area.area_name || (area.area === "unassigned" ? t("unassigned") : area.area),
        el("span", { class: "quiet" }, " " + summary)),
      el("ul", {}, ...area.devices.map(d => {
        const bits = [];
        if (d.battery !== null) bits.push(t("battery") + " " + d.battery + d.battery_unit + (d.low_battery ? " " + t("LOW") : ""));
        else if (d.low_battery) bits.push(t("battery") + " " + t("LOW"));
        if (d.faults.length) bits.push(t("fault") + ": " + d.faults.join(", "));
        if (d.reason) bits.push(d.reason);
        if (d.last_seen) bits.push(fmt("seen {age} ago", { age: age(now() - d.last_seen) }));
        return el("li", { class: "dev " + d.status, "data-device": d.id, title: d.id + " · " + t(d.status) },
          el("span", { class: "dot" }), el("b", {}, d.name || d.id), " ", el("span", { class: "quiet" }, bits.join(" · ")));
      })));
  }));
  if (state.plan) renderPlanAlarms(state.alarms);
}

function renderAccess(entries) {
  const body = document.querySelector("#access tbody");
  body.replaceChildren(...entries.map(e => {
    const src = "/api/access/" + encodeURIComponent(e.id) + "/snapshot.jpg";
    return el("tr", { class: "res-" + e.result, "data-entry-id": e.id },
      el("td", { "data-label": t("Time") }, clock(e.ts)), el("td", { "data-label": t("Gate") }, state.names[e.gate] || e.gate),
      el("td", { "data-label": t("Result") }, t(e.result)), el("td", { "data-label": t("Person") }, e.person || t("unknown")),
      el("td", { "data-label": t("Distance") }, e.distance === null ? "" : e.distance.toFixed(3)),
      el("td", { class: "quiet", "data-label": t("Why") }, e.reason || ""),
      el("td", { "data-label": t("Snapshot") }, e.snapshot ? el("button", { type: "button", class: "thumb",
        onclick: () => view(src), "aria-label": t("Show picture") }, el("img", { src, alt: t("Snapshot"), loading: "lazy" })) : ""));
  }));
}

// ---- history -------------------------------------------------------------------------------------------

function historyParams() {
  const form = document.getElementById("history-filters");
  const params = new URLSearchParams();
  for (const [k, v] of new FormData(form).entries()) {
    if (!v) continue;
    if (k === "since" || k === "until") {
      const day = dayStart(v) + (k === "until" ? 86400 : 0);
      params.set(k, String(day));
    } else params.set(k, v);
  }
  return params;
}

// midnight of a YYYY-MM-DD day in the site's time zone, as epoch seconds
function dayStart(value) {
  const guess = Date.parse(value + "T00:00:00Z") / 1000;
  const parts = new Intl.DateTimeFormat("en-GB", { timeZone: state.timezone, hour12: false, hour: "2-digit",
    minute: "2-digit" }).formatToParts(new Date(guess * 1000));
  const h = Number(parts.find(p => p.type === "hour").value) % 24, m = Number(parts.find(p => p.type === "minute").value);
  const shift = (h > 12 ? h - 24 : h) * 3600 + m * 60;
  return guess - shift;
}

async function loadHistory() {
  const params = historyParams();
  document.getElementById("export-csv").href = "/api/history.csv?" + params.toString();
  const res = await fetch("/api/history?" + params.toString(), { credentials: "same-origin" });
  if (!res.ok) return;
  const data = await res.json();
  document.getElementById("history-count").textContent = data.count;
  const body = document.querySelector("#history tbody");
  body.replaceChildren(...data.alarms.map(r => el("tr", { class: "sev-" + r.severity, "data-alarm-id": r.alarm_id,
      onclick: () => loadSteps(r.alarm_id) },
    el("td", { "data-label": t("Severity") }, el("span", { class: "badge sev-" + r.severity }, t(r.severity))),
    el("td", { "data-label": t("Alarm") }, kindLabel(r.kind), el("div", { class: "quiet" }, detailText(r)),
      r.snapshot ? alarmThumb(r.alarm_id) : ""),
    el("td", { "data-label": t("Where") }, r.device_name, r.area_name ? el("div", { class: "quiet" }, r.area_name) : ""),
    el("td", { "data-label": t("Raised") }, clock(r.raised_at, true)),
    el("td", { class: "state", "data-label": t("State") }, t(r.closed_at ? "closed" : r.state)),
    el("td", { class: "response", "data-label": t("Response time") }, duration(r.response_s)),
    el("td", { "data-label": t("Handling time") }, duration(r.handling_s)),
    el("td", { "data-label": t("Handled by") }, (r.handling_by || r.acknowledged_by || "").replace(/^console:/, "")))));
  loadSummary();
}

async function loadSteps(alarmId) {
  const res = await fetch("/api/alarms/" + encodeURIComponent(alarmId) + "/steps", { credentials: "same-origin" });
  if (!res.ok) return;
  const data = await res.json();
  const box = document.getElementById("steps");
  box.hidden = false;
  box.replaceChildren(el("h3", {}, kindLabel(data.alarm.kind) + " · " + data.alarm.device),
    el("ol", {}, ...data.steps.map(s => el("li", { "data-step": s.step }, clock(s.ts, true) + "  " + t(s.step) +
      (s.by ? "  · " + s.by.replace(/^console:/, "") : "") + (s.note ? "  · " + s.note : "")))));
}

async function loadSummary() {
  const res = await fetch("/api/history/summary?days=7", { credentials: "same-origin" });
  if (!res.ok) return;
  const days = await res.json();
  document.querySelector("#summary tbody").replaceChildren(...days.map(d => el("tr", {},
    el("td", {}, d.day), el("td", {}, d.alarms), el("td", {}, d.acknowledged), el("td", {}, d.escalated),
    el("td", {}, d.resolved), el("td", {}, duration(d.mean_response_s)), el("td", {}, duration(d.max_response_s)),
    el("td", {}, duration(d.mean_handling_s)))));
}

function fillFilters() {
  const kinds = document.querySelector("#history-filters select[name=kind]");
  for (const [kind, text] of Object.entries(state.kinds)) kinds.append(el("option", { value: kind }, text.label));
}

function fillAreas(areas) {
  const select = document.querySelector("#history-filters select[name=area]");
  if (select.options.length > 1) return;
  for (const a of areas) if (a.area !== "unassigned") select.append(el("option", { value: a.area }, a.area_name || a.area));
}

// ---- start ---------------------------------------------------------------------------------------------

function setLink(up) {
  const link = document.getElementById("link");
  link.textContent = up ? t("live") : t("reconnecting");
  link.className = "link " + (up ? "up" : "down");
}

function tick() {
  for (const cell of document.querySelectorAll("#alarms .age")) cell.textContent = age(now() - Number(cell.dataset.since));
  for (const cell of document.querySelectorAll("#alarms .deadline")) {
    cell.textContent = deadline(Number(cell.dataset.due));
    cell.classList.toggle("missed", Number(cell.dataset.due) <= now());
  }
  document.getElementById("clock").textContent = clock(now());
}

function translatePage() {
  for (const node of document.querySelectorAll("[data-i18n]")) node.textContent = t(node.textContent.trim());
  document.documentElement.lang = state.language;
}

async function start() {
  const res = await fetch("/api/state", { credentials: "same-origin" });
  if (res.status === 401) { location.assign("/login"); return; }
  const first = await res.json();
  const meta = first.console;
  Object.assign(state, { language: meta.language, timezone: meta.timezone, alerts: meta.alerts,
    actions: meta.actions, role: meta.role, names: {} });
  const lang = await (await fetch("/api/i18n?lang=" + encodeURIComponent(meta.language), { credentials: "same-origin" })).json();
  state.messages = lang.messages; state.kinds = lang.kinds;
  translatePage();
  state.csrf = first.csrf;
  state.offset = first.server_time - Date.now() / 1000;
  document.getElementById("user").textContent = first.user;
  document.getElementById("role").textContent = t(meta.role);
  document.getElementById("site").textContent = first.site + " / " + first.gateway;
  document.body.dataset.role = meta.role;
  setupPlan(meta); setupControls(meta); fillFilters();
  renderDevices(first.devices); fillAreas(first.devices); renderAlarms(first.alarms); renderAccess(first.access);
  loadHistory();

  // Sound stays on across reloads (localStorage); browsers let a page play audio only after a click on it, so
  // after a reload the first click anywhere re-arms it, and the button says so until then.
  const sound = document.getElementById("sound");
  const showSound = () => {
    sound.textContent = state.sound ? (state.audio ? t("Sound on") : t("Sound on: click to arm")) : t("Sound off");
    sound.setAttribute("aria-pressed", String(state.sound));
    sound.classList.toggle("armed", state.sound && !!state.audio);
  };
  state.sound = localStorage.getItem("edge.sound") === "on";
  showSound();
  sound.addEventListener("click", ev => {
    ev.stopPropagation();
    state.sound = !state.sound;
    localStorage.setItem("edge.sound", state.sound ? "on" : "off");
    if (state.sound) beep(1);  // a click unlocks audio in the browser
    showSound();
  });
  document.addEventListener("click", () => {
    if (state.sound && !state.audio) { beep(1); showSound(); }
  }, { once: false });
  document.getElementById("history-filters").addEventListener("submit", ev => { ev.preventDefault(); loadHistory(); });
  document.getElementById("ask-form").addEventListener("submit", submitAsk);
  document.getElementById("ask-cancel").addEventListener("click", () => document.getElementById("ask").close());

  const source = new EventSource("/api/stream");
  source.onopen = () => setLink(true);
  source.onerror = async () => {
    setLink(false);
    const probe = await fetch("/api/state", { credentials: "same-origin" }).catch(() => null);
    if (probe && probe.status === 401) location.assign("/login");
  };
  source.addEventListener("hello", ev => { state.offset = JSON.parse(ev.data).server_time - Date.now() / 1000; });
  source.addEventListener("alarms", ev => {
    const before = state.alarms.length;
    renderAlarms(JSON.parse(ev.data));
    if (state.alarms.length !== before) loadHistory();
  });
  source.addEventListener("devices", ev => renderDevices(JSON.parse(ev.data)));
  source.addEventListener("access", ev => renderAccess(JSON.parse(ev.data)));
  source.addEventListener("logout", () => { source.close(); location.assign("/login"); });
  setInterval(tick, 1000);
  tick();
  document.body.dataset.ready = "1";
}

document.addEventListener("DOMContentLoaded", start);
