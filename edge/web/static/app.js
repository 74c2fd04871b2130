// Guard-room console: renders the live feed (server-sent events) and acknowledges alarms.
// No framework and no build step; every value from the gateway goes through textContent.
"use strict";

const state = { csrf: "", offset: 0, alarms: [], seen: null, sound: false, audio: null };

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") node.className = v;
    else if (k.startsWith("data-")) node.setAttribute(k, v);
    else node[k] = v;
  }
  for (const child of children) node.append(child instanceof Node ? child : String(child ?? ""));
  return node;
}

function now() { return Date.now() / 1000 + state.offset; }

function age(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  if (s < 60) return s + "s";
  if (s < 3600) return Math.floor(s / 60) + "m" + String(s % 60).padStart(2, "0") + "s";
  if (s < 86400) return Math.floor(s / 3600) + "h" + String(Math.floor(s % 3600 / 60)).padStart(2, "0") + "m";
  return Math.floor(s / 86400) + "d" + String(Math.floor(s % 86400 / 3600)).padStart(2, "0") + "h";
}

function clock(ts) { return new Date(ts * 1000).toLocaleTimeString(); }

function details(obj) {
  return Object.entries(obj || {}).map(([k, v]) => k + "=" + (typeof v === "object" ? JSON.stringify(v) : v)).join(" ");
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

function renderAlarms(alarms) {
  const fresh = [];
  if (state.seen !== null) {
    for (const a of alarms) {
      if (!state.seen.has(a.alarm_id) && a.severity === "critical" && a.state === "raised") fresh.push(a);
    }
  }
  state.seen = new Set(alarms.map(a => a.alarm_id));
  state.alarms = alarms;
  const body = document.querySelector("#alarms tbody");
  body.replaceChildren(...alarms.map(a => {
    const ack = a.state === "raised"
      ? el("button", { class: "ack", type: "button", onclick: () => acknowledge(a.alarm_id) }, "Acknowledge")
      : el("span", { class: "quiet" }, a.acknowledged_by || "");
    const row = el("tr", { class: "sev-" + a.severity + " st-" + a.state, "data-alarm-id": a.alarm_id },
      el("td", {}, el("span", { class: "badge sev-" + a.severity }, a.severity)),
      el("td", {}, a.kind), el("td", {}, a.device), el("td", {}, a.area || ""),
      el("td", { class: "age", "data-since": a.raised_at }, age(now() - a.raised_at)),
      el("td", { class: "state" }, a.state), el("td", { class: "details" }, details(a.details), fallClip(a)),
      el("td", {}, ack));
    if (fresh.some(f => f.alarm_id === a.alarm_id)) row.classList.add("flash");
    return row;
  }));
  document.getElementById("alarm-count").textContent = alarms.length;
  document.getElementById("no-alarms").hidden = alarms.length > 0;
  const critical = alarms.filter(a => a.severity === "critical" && a.state === "raised");
  const banner = document.getElementById("banner");
  banner.hidden = critical.length === 0;
  banner.textContent = critical.length ? critical.length + " unacknowledged critical alarm(s): " +
    critical.map(a => a.kind + " at " + (a.area || a.device)).join(", ") : "";
  if (fresh.length) alert_(fresh);
}

function alert_(fresh) {
  document.body.classList.remove("alerting");
  void document.body.offsetWidth;  // restart the flash animation
  document.body.classList.add("alerting");
  if (state.sound) beep();
  document.title = "(!) " + fresh[0].kind + " - Guard room";
}

function beep() {
  try {
    state.audio = state.audio || new AudioContext();
    const ctx = state.audio, t = ctx.currentTime;
    for (let i = 0; i < 3; i++) {
      const osc = ctx.createOscillator(), gain = ctx.createGain();
      osc.frequency.value = 880; osc.type = "square"; gain.gain.value = 0.15;
      osc.connect(gain).connect(ctx.destination);
      osc.start(t + i * 0.4); osc.stop(t + i * 0.4 + 0.25);
    }
  } catch (e) { /* no audio device: the flashing still shows */ }
}

function renderDevices(areas) {
  const root = document.getElementById("devices");
  root.replaceChildren(...areas.map(area => {
    const counts = {};
    for (const d of area.devices) counts[d.status] = (counts[d.status] || 0) + 1;
    const summary = Object.entries(counts).map(([k, v]) => v + " " + k).join(", ");
    return el("div", { class: "area", "data-area": area.area },
      el("h3", {}, area.area, el("span", { class: "quiet" }, " " + summary)),
      el("ul", {}, ...area.devices.map(d => {
        const bits = [d.profile || ""];
        if (d.battery !== null) bits.push("battery " + d.battery + d.battery_unit + (d.low_battery ? " LOW" : ""));
        else if (d.low_battery) bits.push("battery LOW");
        if (d.faults.length) bits.push("fault: " + d.faults.join(", "));
        if (d.reason) bits.push(d.reason);
        if (d.last_seen) bits.push("seen " + age(now() - d.last_seen) + " ago");
        return el("li", { class: "dev " + d.status, "data-device": d.id, title: d.status },
          el("span", { class: "dot" }), el("b", {}, d.id), " ", el("span", { class: "quiet" }, bits.join(" · ")));
      })));
  }));
}

function renderAccess(entries) {
  const body = document.querySelector("#access tbody");
  body.replaceChildren(...entries.map(e => el("tr", { class: "res-" + e.result, "data-entry-id": e.id },
    el("td", {}, clock(e.ts)), el("td", {}, e.gate), el("td", {}, e.result), el("td", {}, e.person || "unknown"),
    el("td", {}, e.distance === null ? "" : e.distance.toFixed(3)), el("td", { class: "quiet" }, e.reason || ""),
    el("td", {}, e.snapshot ? el("a", { href: "/api/access/" + encodeURIComponent(e.id) + "/snapshot.jpg",
      target: "_blank" }, el("img", { src: "/api/access/" + encodeURIComponent(e.id) + "/snapshot.jpg",
      alt: "snapshot", loading: "lazy" })) : ""))));
}

async function acknowledge(alarmId) {
  const res = await fetch("/api/alarms/" + encodeURIComponent(alarmId) + "/ack", {
    method: "POST", headers: { "X-CSRF-Token": state.csrf }, credentials: "same-origin" });
  if (res.status === 401) location.assign("/login");
  else if (!res.ok) {
    const body = await res.json().catch(() => ({}));
    document.getElementById("banner").hidden = false;
    document.getElementById("banner").textContent = "Acknowledge failed: " + (body.error || res.status);
  }
}

function setLink(up) {
  const link = document.getElementById("link");
  link.textContent = up ? "live" : "reconnecting";
  link.className = "link " + (up ? "up" : "down");
}

function tick() {
  for (const cell of document.querySelectorAll("td.age")) cell.textContent = age(now() - Number(cell.dataset.since));
}

async function start() {
  const res = await fetch("/api/state", { credentials: "same-origin" });
  if (res.status === 401) { location.assign("/login"); return; }
  const first = await res.json();
  state.csrf = first.csrf;
  state.offset = first.server_time - Date.now() / 1000;
  document.getElementById("user").textContent = first.user;
  document.getElementById("site").textContent = first.site + " / " + first.gateway;
  renderAlarms(first.alarms); renderDevices(first.devices); renderAccess(first.access);

  const sound = document.getElementById("sound");
  sound.addEventListener("click", () => {
    state.sound = !state.sound;
    sound.textContent = state.sound ? "Sound on" : "Sound off";
    sound.setAttribute("aria-pressed", String(state.sound));
    if (state.sound) beep();  // a click unlocks audio in the browser
  });

  const source = new EventSource("/api/stream");
  source.onopen = () => setLink(true);
  source.onerror = async () => {
    setLink(false);
    const probe = await fetch("/api/state", { credentials: "same-origin" }).catch(() => null);
    if (probe && probe.status === 401) location.assign("/login");
  };
  source.addEventListener("hello", ev => { state.offset = JSON.parse(ev.data).server_time - Date.now() / 1000; });
  source.addEventListener("alarms", ev => renderAlarms(JSON.parse(ev.data)));
  source.addEventListener("devices", ev => renderDevices(JSON.parse(ev.data)));
  source.addEventListener("access", ev => renderAccess(JSON.parse(ev.data)));
  source.addEventListener("logout", () => { source.close(); location.assign("/login"); });
  setInterval(tick, 1000);
}

document.addEventListener("DOMContentLoaded", start);
