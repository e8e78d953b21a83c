// The voicebot page: one conversation over /ws (see the README's "Websocket bridge").
// Capture: getUserMedia → capture worklet (16 kHz PCM16, 20 ms frames) → binary frames.
// Playback: binary frames (PCM16 24 kHz) → playback worklet (its own jitter buffer),
// whose position goes back as {"type": "played"}. Events fill #transcript.
"use strict";

const INPUT_RATE = 16000;
const OUTPUT_RATE = 24000;
const REPORT_INTERVAL_MS = 100;

const $ = (id) => document.getElementById(id);
const ui = { talk: $("talk"), mute: $("mute"), level: document.querySelector("#level > div"),
             status: $("status"), transcript: $("transcript"), tokenRow: $("token-row"),
             token: $("token") };

// Read by people debugging and by the browser test.
const voicebot = window.voicebot = {
  records: [], framesSent: 0, closed: null,
  playback: { played: 0, received: 0, audible: 0, hash: 2166136261, runsDry: 0, dropped: 0 },
};

let ws = null, mic = null, captureCtx = null, playCtx = null, player = null, capture = null;
let ready = false, muted = false, lastReport = { samples: -1, at: 0 }, reportTimer = null;
const turns = new Map();

function status(text) { ui.status.textContent = text; }

function turnRow(turn, role) {
  let t = turns.get(turn);
  if (!t) { t = {}; turns.set(turn, t); }
  if (!t[role]) {
    if (role === "assistant" && !t.user) turnRow(turn, "user");
    const div = document.createElement("div");
    div.className = role;
    div.dataset.turn = String(turn);
    ui.transcript.appendChild(div);
    t[role] = div;
  }
  return t[role];
}

function onRecord(r) {
  voicebot.records.push(r);
  switch (r.type) {
    case "ready":
      ready = true;
      status("Listening.");
      startCapture().catch((e) => { status(`Microphone: ${e.message}`); stop(); });
      break;
    case "state":
      status({ listening: "Listening.", thinking: "Thinking…", speaking: "Speaking — talk to interrupt.",
               sleeping: "Waiting." }[r.state] || r.state);
      break;
    case "user": {
      const said = r.text || r.transcript || (r.audio_s != null ? `[speech, ${r.audio_s.toFixed(1)} s]` : "");
      turnRow(r.turn, "user").textContent = said;
      break;
    }
    case "transcript.delta":
      turnRow(r.turn, "assistant").textContent += r.text;
      break;
    case "interrupted":
      if (player) player.port.postMessage({ type: "flush" });
      turnRow(r.turn, "assistant").classList.add("interrupted");
      break;
    case "error":
      status(`Error: ${r.message}`);
      break;
  }
}

function report(force) {
  // {"type": "played"}: what the worklet has played (or dropped on barge-in) so far.
  const samples = voicebot.playback.played;
  const now = performance.now();
  if (!ws || ws.readyState !== WebSocket.OPEN || !ready || samples === lastReport.samples) return;
  if (!force && now - lastReport.at < REPORT_INTERVAL_MS) return;
  ws.send(JSON.stringify({ type: "played", samples }));
  lastReport = { samples, at: now };
}

async function startPlayback() {
  playCtx = new AudioContext({ sampleRate: OUTPUT_RATE, latencyHint: "interactive" });
  await playCtx.audioWorklet.addModule("/static/playback-worklet.js");
  player = new AudioWorkletNode(playCtx, "playback", { outputChannelCount: [1],
                                                      processorOptions: { prebufferMs: 100 } });
  player.port.onmessage = (e) => {
    voicebot.playback = e.data;
    report(e.data.played === e.data.received);
  };
  player.connect(playCtx.destination);
  await playCtx.resume();
}

async function startCapture() {
  mic = await navigator.mediaDevices.getUserMedia({ audio: {
    channelCount: 1, echoCancellation: true, noiseSuppression: true, autoGainControl: true } });
  captureCtx = new AudioContext({ latencyHint: "interactive" });
  await captureCtx.audioWorklet.addModule("/static/capture-worklet.js");
  const source = captureCtx.createMediaStreamSource(mic);
  capture = new AudioWorkletNode(captureCtx, "capture", { numberOfOutputs: 1,
    processorOptions: { targetRate: INPUT_RATE, frameMs: 20 } });
  capture.port.onmessage = (e) => {
    ui.level.style.width = `${Math.min(100, Math.round(e.data.rms * 400))}%`;
    if (ws && ws.readyState === WebSocket.OPEN && ready) {
      ws.send(e.data.pcm);
      voicebot.framesSent++;
    }
  };
  source.connect(capture);
  capture.connect(captureCtx.destination); // outputs silence; keeps the node pulled
  await captureCtx.resume();
  capture.port.postMessage({ muted });
  ui.mute.disabled = false;
}

async function start() {
  ui.talk.setAttribute("aria-pressed", "true");
  ui.talk.textContent = "Stop";
  status("Connecting…");
  await startPlayback(); // inside the click: browsers allow audio to start here
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  ws = new WebSocket(`${scheme}://${location.host}/ws`);
  ws.binaryType = "arraybuffer";
  ws.onopen = () => {
    const hello = { type: "hello", sample_rate: INPUT_RATE };
    if (ui.token.value) hello.token = ui.token.value;
    ws.send(JSON.stringify(hello));
  };
  ws.onmessage = (e) => {
    if (typeof e.data === "string") onRecord(JSON.parse(e.data));
    else if (player) player.port.postMessage(e.data, [e.data]);
  };
  ws.onclose = (e) => {
    voicebot.closed = { code: e.code, reason: e.reason };
    status(e.code === 1000 || e.code === 1005 ? "Ended." : `Closed: ${e.reason || e.code}`);
    if (e.code === 1008 && /token/.test(e.reason)) ui.tokenRow.hidden = false;
    stop();
  };
  reportTimer = setInterval(() => report(false), REPORT_INTERVAL_MS);
}

function stop() {
  ready = false;
  if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: "bye" }));
  ws = null;
  clearInterval(reportTimer);
  if (mic) mic.getTracks().forEach((t) => t.stop());
  if (captureCtx) captureCtx.close();
  mic = captureCtx = capture = null;
  ui.talk.setAttribute("aria-pressed", "false");
  ui.talk.textContent = "Talk";
  ui.mute.disabled = true;
  ui.level.style.width = "0";
}

ui.talk.addEventListener("click", () => {
  if (ws) stop();
  else start().catch((e) => { status(`Cannot start: ${e.message}`); stop(); });
});

ui.mute.addEventListener("click", () => {
  muted = !muted;
  ui.mute.setAttribute("aria-pressed", String(muted));
  ui.mute.textContent = muted ? "Unmute" : "Mute";
  if (capture) capture.port.postMessage({ muted });
});

fetch("/healthz").then((r) => r.json()).then((h) => { if (h.token) ui.tokenRow.hidden = false; })
  .catch(() => {});
