// The kiosk's status screen (see the README's "Status screen"). It renders the
// snapshots {"type": "screen", ...} that /ws sends on connect and after each change;
// the event records in between are kept in voicebot.records for debugging and tests.
// Timers count down on this page's clock from the seconds left in the last snapshot.
// Buttons send {"type": "talk"} and {"type": "mute", "muted": bool}. The connection
// comes back by itself when the kiosk restarts.
"use strict";

const WORDS = { sleeping: "Sleeping", listening: "Listening", thinking: "Thinking",
                speaking: "Speaking", error: "Error", offline: "Offline" };
const MAX_RECORDS = 200;
const RETRY_MS = [500, 1000, 2000, 4000];

const $ = (id) => document.getElementById(id);
const ui = { state: $("state"), reason: $("reason"), mutedChip: $("muted-chip"),
             time: $("time"), date: $("date"), user: $("user"), assistant: $("assistant"),
             assistantText: $("assistant-text"),
             turnError: $("turn-error"), timers: $("timers"), talk: $("talk"), mute: $("mute") };

// Read by people debugging and by the browser test.
const voicebot = window.voicebot = { records: [], snapshot: null, connected: false, sent: [] };

let ws = null, retries = 0, clockOffsetMs = 0, timers = [];

function showState(state, reason) {
  ui.state.dataset.state = state;
  document.body.dataset.state = state;
  ui.state.textContent = WORDS[state] || state;
  ui.reason.textContent = reason || "";
  ui.reason.hidden = !reason;
}

function render(s) {
  voicebot.snapshot = s;
  clockOffsetMs = s.clock_s * 1000 - Date.now();
  showState(s.state, s.reason);
  ui.mutedChip.hidden = !s.muted;
  ui.mute.setAttribute("aria-pressed", String(s.muted));
  ui.mute.textContent = s.muted ? "Unmute" : "Mute";
  const ex = s.exchange;
  ui.user.textContent = !ex ? "" : ex.user || (ex.user_audio_s != null
    ? `(spoken, ${ex.user_audio_s.toFixed(1)} s)` : "");
  ui.assistantText.textContent = ex ? ex.assistant : "";
  ui.assistant.hidden = !(ex && ex.assistant);
  ui.assistant.classList.toggle("overflowing", // the start is cut off: fade it out
    ui.assistantText.getBoundingClientRect().height > ui.assistant.clientHeight);
  ui.assistant.classList.toggle("interrupted", Boolean(ex && ex.interrupted));
  ui.turnError.textContent = ex && ex.error ? ex.error : "";
  ui.turnError.hidden = !(ex && ex.error);
  const now = performance.now();
  timers = s.timers.map((t) => ({ ...t, deadline: now + t.remaining_s * 1000 }));
  ui.timers.replaceChildren(...timers.map((t) => {
    const li = document.createElement("li");
    li.dataset.id = t.id;
    const label = document.createElement("div");
    label.className = "label";
    label.textContent = t.label || "Timer";
    const left = document.createElement("div");
    left.className = "left";
    li.append(label, left);
    t.li = li;
    t.left = left;
    return li;
  }));
  tick();
}

function formatLeft(ms) {
  const total = Math.ceil(ms / 1000);
  const h = Math.floor(total / 3600), m = Math.floor((total % 3600) / 60), sec = total % 60;
  const pad = (n) => String(n).padStart(2, "0");
  return h ? `${h}:${pad(m)}:${pad(sec)}` : `${m}:${pad(sec)}`;
}

function tick() {
  const kiosk = new Date(Date.now() + clockOffsetMs);
  ui.time.textContent = kiosk.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  ui.date.textContent = kiosk.toLocaleDateString([], { weekday: "long", day: "numeric",
                                                       month: "long" });
  const now = performance.now();
  for (const t of timers) {
    const ms = Math.max(0, t.deadline - now);
    const done = t.done || ms === 0;
    t.li.classList.toggle("done", done);
    t.left.textContent = done ? "Done" : formatLeft(ms);
    t.li.dataset.remainingMs = String(Math.round(ms));
  }
}

function send(command) {
  if (!ws || ws.readyState !== WebSocket.OPEN) return;
  ws.send(JSON.stringify(command));
  voicebot.sent.push(command);
}

function connected(yes) {
  voicebot.connected = yes;
  ui.talk.disabled = ui.mute.disabled = !yes;
  if (!yes) showState("offline", "Connecting to voicebot…");
}

function connect() {
  ws = new WebSocket(`ws://${location.host}/ws`);
  ws.onopen = () => { retries = 0; connected(true); };
  ws.onmessage = (e) => {
    const r = JSON.parse(e.data);
    if (r.type === "screen") { render(r); return; }
    voicebot.records.push(r);
    if (voicebot.records.length > MAX_RECORDS) voicebot.records.shift();
  };
  ws.onclose = () => {
    ws = null;
    connected(false);
    setTimeout(connect, RETRY_MS[Math.min(retries++, RETRY_MS.length - 1)]);
  };
}

ui.talk.addEventListener("click", () => send({ type: "talk" }));
ui.mute.addEventListener("click", () => {
  send({ type: "mute", muted: !(voicebot.snapshot && voicebot.snapshot.muted) });
});
document.addEventListener("contextmenu", (e) => e.preventDefault()); // long presses
setInterval(tick, 250);
tick();
connect();
