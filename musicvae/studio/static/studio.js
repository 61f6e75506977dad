// musicvae studio: the page's controls over the studio's JSON API (see musicvae/studio/app.py).
// Plain JavaScript, no build step. Audio is fetched as WAV and played through WebAudio.
"use strict";

const $ = (id) => document.getElementById(id);
const VOICE_COLOURS = ["#d62728", "#2ca02c", "#1f77b4", "#9467bd"];

// What tests and the bench read: the last audio played, and how long each morph took to be heard.
const studio = {
  info: null,
  played: [],          // {url, duration, sampleRate, channels} of each buffer started
  timings: {morph: [], morphResult: [], sample: [], sampleResult: [], blend: [], harmonize: []},
  lastBytes: null,     // the last played WAV's bytes (ArrayBuffer)
  jobSeconds: {},      // API path -> the seconds each of its jobs ran on the studio
  progress: [],        // every progress report a bar showed
  async lastPlayedBase64() {
    const bytes = new Uint8Array(this.lastBytes);
    let text = "";
    for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
    return btoa(text);
  },
};
window.studio = studio;

// ---------------------------------------------------------------------------
// The API
// ---------------------------------------------------------------------------

async function api(path, form) {
  const options = form ? {method: "POST", body: form, headers: {"X-Studio": "1"}} : {};
  const response = await fetch(path, options);
  const type = response.headers.get("content-type") || "";
  const body = type.includes("json") ? await response.json() : {error: await response.text()};
  if (!response.ok) throw new Error(body.error || `${response.status} ${response.statusText}`);
  return body;
}

// Start a job and follow its progress (a long poll wakes on every step) until its result.
async function runJob(path, form, progress) {
  const {job} = await api(path, form);
  let version = -1;
  for (;;) {
    const state = await api(`/api/jobs/${job}?after=${version}&wait=5`);
    version = state.version;
    showProgress(progress, state);
    if (state.state === "done") {
      (studio.jobSeconds[path] ||= []).push(state.seconds);  // the job's own time on the studio's thread
      return state.result;
    }
    if (state.state === "error") throw new Error(state.error);
  }
}

function showProgress(element, state) {
  if (!element) return;
  studio.progress.push({bar: element.id, state: state.state, done: state.done, total: state.total, stage: state.stage});
  element.hidden = state.state === "done";
  element.querySelector(".bar").style.width = `${Math.round(100 * state.done / state.total)}%`;
  element.querySelector(".stage").textContent = `${state.stage} (${state.done}/${state.total})`;
}

function showError(id, error) {
  const element = $(id);
  element.hidden = !error;
  element.textContent = error ? error.message || String(error) : "";
}

function listLines(id, lines) {
  $(id).replaceChildren(...(lines || []).map((line) => Object.assign(document.createElement("li"), {textContent: line})));
}

function link(href, text, download) {
  const a = Object.assign(document.createElement("a"), {href, textContent: text, className: "download"});
  if (download) a.download = download;
  return a;
}

// ---------------------------------------------------------------------------
// Audio: WAV files decoded by WebAudio, kept per address
// ---------------------------------------------------------------------------

let context = null;
let playing = null;
const buffers = new Map();   // url -> {buffer, bytes}

function audioContext() {
  if (!context) context = new AudioContext();
  return context;
}

async function loadAudio(url) {
  if (!buffers.has(url)) {
    buffers.set(url, (async () => {
      const bytes = await (await fetch(url)).arrayBuffer();
      const buffer = await audioContext().decodeAudioData(bytes.slice(0));
      return {buffer, bytes};
    })());
  }
  return buffers.get(url);
}

async function play(url) {
  const {buffer, bytes} = await loadAudio(url);
  if (playing) { try { playing.stop(); } catch (e) { /* already ended */ } }
  const ctx = audioContext();
  if (ctx.state === "suspended") await ctx.resume();
  const source = ctx.createBufferSource();
  source.buffer = buffer;
  source.connect(ctx.destination);
  source.start();
  playing = source;
  studio.lastBytes = bytes;
  studio.played.push({url, duration: buffer.duration, sampleRate: buffer.sampleRate, channels: buffer.numberOfChannels});
  $("status").textContent = `playing ${url.split("/").pop()} (${buffer.duration.toFixed(2)} s)`;
  return buffer;
}

// ---------------------------------------------------------------------------
// Piano rolls
// ---------------------------------------------------------------------------

// voices: [{notes: [[pitch, start, end], ...], colour}], length in steps.
function drawRoll(canvas, voices, length, stepsPerBar) {
  const ctx = canvas.getContext("2d");
  const width = canvas.width, height = canvas.height;
  ctx.fillStyle = "#fbfbfd";
  ctx.fillRect(0, 0, width, height);
  const pitches = voices.flatMap((v) => v.notes.map((n) => n[0]));
  const low = pitches.length ? Math.min(...pitches) - 2 : 58, high = pitches.length ? Math.max(...pitches) + 2 : 74;
  const rows = high - low + 1, rowH = height / rows, stepW = width / length;
  for (let p = low; p <= high; p++) {
    if ([1, 3, 6, 8, 10].includes(((p % 12) + 12) % 12)) {
      ctx.fillStyle = "#eef0f5";
      ctx.fillRect(0, height - (p - low + 1) * rowH, width, rowH);
    }
  }
  for (let s = 0; s <= length; s += stepsPerBar / 4) {
    ctx.strokeStyle = s % stepsPerBar === 0 ? "#9aa0ad" : "#dde0e7";
    ctx.beginPath(); ctx.moveTo(s * stepW + 0.5, 0); ctx.lineTo(s * stepW + 0.5, height); ctx.stroke();
  }
  ctx.fillStyle = "#6b7280";
  ctx.font = "10px system-ui, sans-serif";
  for (let p = low; p <= high; p++) {
    if (((p % 12) + 12) % 12 === 0) ctx.fillText(`C${Math.floor(p / 12) - 1}`, 3, height - (p - low) * rowH - 2);
  }
  for (const voice of voices) {
    ctx.fillStyle = voice.colour;
    for (const [pitch, start, end] of voice.notes) {
      const x = start * stepW, y = height - (pitch - low + 1) * rowH;
      ctx.fillRect(x + 1, y + 1, Math.max(2, (end - start) * stepW - 2), Math.max(2, rowH - 2));
    }
  }
}

// A grid of melodies: a card per step with its roll, a play button and its MIDI file.
function showMelodies(gridId, result, kind) {
  const grid = $(gridId);
  grid.replaceChildren();
  result.steps.forEach((step, i) => {
    const card = document.createElement("div");
    card.className = "card";
    card.dataset.step = i;
    const title = Object.assign(document.createElement("div"), {className: "card-title", textContent: step.label});
    const canvas = Object.assign(document.createElement("canvas"), {width: 320, height: 120});
    drawRoll(canvas, [{notes: step.notes, colour: "#3b5bdb"}], result.length, result.steps_per_bar);
    const button = Object.assign(document.createElement("button"), {className: "play", innerHTML: "&#9654; Play"});
    button.addEventListener("click", () => play(step.audio).catch((e) => showError(`${kind}-error`, e)));
    const actions = document.createElement("div");
    actions.className = "card-actions";
    actions.append(button, link(step.midi, "MIDI", `${kind}-${i}.mid`));
    card.append(title, canvas, actions);
    grid.append(card);
  });
}

// ---------------------------------------------------------------------------
// Tabs
// ---------------------------------------------------------------------------

function showTab(name) {
  for (const button of document.querySelectorAll("[role=tab]")) {
    button.setAttribute("aria-selected", String(button.dataset.tab === name));
  }
  for (const panel of document.querySelectorAll(".tab")) panel.hidden = panel.id !== `tab-${name}`;
  history.replaceState(null, "", `#${name}`);
}

function setUpDrops() {
  for (const zone of document.querySelectorAll("[data-drop]")) {
    const input = zone.querySelector("input[type=file]");
    const name = zone.querySelector(".drop-name");
    const empty = name.textContent;
    const show = () => {
      name.textContent = input.files.length ? input.files[0].name : empty;
      zone.classList.toggle("filled", input.files.length > 0);
    };
    input.addEventListener("change", show);
    zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("over"); });
    zone.addEventListener("dragleave", () => zone.classList.remove("over"));
    zone.addEventListener("drop", (e) => {
      e.preventDefault();
      zone.classList.remove("over");
      if (e.dataTransfer.files.length) { input.files = e.dataTransfer.files; input.dispatchEvent(new Event("change")); }
    });
  }
  for (const range of document.querySelectorAll("input[type=range]")) {
    const out = document.querySelector(`output[for=${range.id}]`);
    if (out) range.addEventListener("input", () => { out.textContent = range.value; });
  }
}

function fileOf(id) {
  const input = $(id);
  return input.files.length ? input.files[0] : null;
}

// ---------------------------------------------------------------------------
// Morph and Sample
// ---------------------------------------------------------------------------

async function runMelodies(kind, path, form) {
  const started = performance.now();
  showError(`${kind}-error`, null);
  const button = $(`${kind}-run`);
  button.disabled = true;
  try {
    const result = await runJob(path, form, $(`${kind}-progress`));
    studio.timings[`${kind}Result`].push(performance.now() - started);  // the job's result arrived
    if ($(`${kind}-warnings`)) listLines(`${kind}-warnings`, result.warnings);
    showMelodies(`${kind}-grid`, result, kind);
    const every = kind === "morph" ? "all steps, A to B" : "all melodies";
    $(`${kind}-downloads`).replaceChildren(link(result.midi, `Download ${every} (MIDI)`, `${kind}.mid`));
    await Promise.all(result.steps.map((step) => loadAudio(step.audio)));  // every step ready to play
    const ms = performance.now() - started;
    studio.timings[kind].push(ms);
    $("status").textContent = `${kind}: ${result.steps.length} melodies ready to play in ${ms.toFixed(0)} ms`;
    document.body.dataset[`${kind}Ready`] = String(studio.timings[kind].length);
    return result;
  } catch (error) {
    showError(`${kind}-error`, error);
    $(`${kind}-progress`).hidden = true;
  } finally {
    button.disabled = false;
  }
}

function morph() {
  const form = new FormData();
  const a = fileOf("morph-a"), b = fileOf("morph-b");
  if (a) form.append("a", a);
  if (b) form.append("b", b);
  form.append("steps", $("morph-steps").value);
  form.append("temperature", $("morph-temperature").value);
  return runMelodies("morph", "/api/morph", form);
}

function sample() {
  const form = new FormData();
  form.append("n", $("sample-n").value);
  form.append("temperature", $("sample-temperature").value);
  form.append("seed", $("sample-seed").value);
  return runMelodies("sample", "/api/sample", form);
}

// ---------------------------------------------------------------------------
// Blend
// ---------------------------------------------------------------------------

const blends = new Map();  // pitch -> result, for the current endpoints
let blendPitch = null;

function blendEndpointsChanged() {
  blends.clear();
  const label = (end) => fileOf(`blend-${end}-file`)?.name || $(`blend-${end}`).value;
  $("blend-label-a").textContent = label("source");
  $("blend-label-b").textContent = label("target");
}

function setUpBlend(info) {
  for (const id of ["blend-source", "blend-target"]) {
    $(id).replaceChildren(...info.families.map((f) => new Option(f, f)));
  }
  $("blend-target").value = info.families[info.families.length - 1];
  const steps = info.morph_steps;
  $("blend-amount").max = String(steps);
  $("blend-amount").value = String(Math.round(steps / 2));
  const [low, high] = info.pitch_range;
  const keys = $("blend-keys");
  for (let p = low; p <= high; p++) {
    const key = document.createElement("button");
    const black = [1, 3, 6, 8, 10].includes(p % 12);
    key.className = `key ${black ? "black" : "white"}`;
    key.dataset.pitch = p;
    key.title = `MIDI ${p}`;
    key.textContent = p % 12 === 0 ? `C${p / 12 - 1}` : "";
    key.addEventListener("click", () => blendNote(p));
    keys.append(key);
  }
  for (const id of ["blend-source", "blend-target", "blend-source-file", "blend-target-file"]) {
    $(id).addEventListener("change", blendEndpointsChanged);
  }
  $("blend-amount").addEventListener("input", () => {
    $("blend-amount-out").textContent = (Number($("blend-amount").value) / steps).toFixed(2);
    if (blendPitch !== null && blends.has(blendPitch)) drawBlendStep(blends.get(blendPitch));
  });
  $("blend-amount").addEventListener("change", () => { if (blendPitch !== null) blendNote(blendPitch); });
  blendEndpointsChanged();
}

async function blendNote(pitch) {
  const started = performance.now();
  showError("blend-error", null);
  blendPitch = pitch;
  for (const key of document.querySelectorAll(".key")) key.classList.toggle("active", Number(key.dataset.pitch) === pitch);
  try {
    if (!blends.has(pitch)) {
      const form = new FormData();
      form.append("pitch", String(pitch));
      for (const end of ["source", "target"]) {
        const file = fileOf(`blend-${end}-file`);
        if (file) form.append(`${end}_file`, file); else form.append(end, $(`blend-${end}`).value);
      }
      blends.set(pitch, await runJob("/api/blend", form, $("blend-progress")));
    }
    const result = blends.get(pitch);
    listLines("blend-messages", result.messages);
    const step = drawBlendStep(result);
    await play(step.audio);
    studio.timings.blend.push(performance.now() - started);
    $("blend-downloads").replaceChildren(link(step.audio, "This note (WAV)", `blend-${pitch}-${step.amount}.wav`),
      link(result.audio, `All ${result.steps.length} steps (WAV)`, `blend-${pitch}.wav`));
    document.body.dataset.blendReady = String(studio.timings.blend.length);
  } catch (error) {
    blends.delete(pitch);
    showError("blend-error", error);
    $("blend-progress").hidden = true;
  }
}

function drawBlendStep(result) {
  const k = Number($("blend-amount").value);
  const step = result.steps[Math.min(k, result.steps.length - 1)];
  const spec = step.spectrogram;  // [bins][frames], 0..255, low bins first
  const canvas = $("blend-spectrogram"), ctx = canvas.getContext("2d");
  const bins = spec.length, frames = spec[0].length;
  const image = ctx.createImageData(frames, bins);
  for (let b = 0; b < bins; b++) {
    for (let f = 0; f < frames; f++) {
      const [r, g, bl] = colour(spec[b][f] / 255);
      const i = ((bins - 1 - b) * frames + f) * 4;
      image.data[i] = r; image.data[i + 1] = g; image.data[i + 2] = bl; image.data[i + 3] = 255;
    }
  }
  const off = Object.assign(document.createElement("canvas"), {width: frames, height: bins});
  off.getContext("2d").putImageData(image, 0, 0);
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(off, 0, 0, canvas.width, canvas.height);
  const top = result.band_hz.length ? `${Math.round(result.band_hz[result.band_hz.length - 1])} Hz` : "";
  $("blend-caption").textContent = `MIDI ${result.pitch}, ${result.labels[0]} → ${result.labels[1]} at ` +
    `${step.amount.toFixed(2)}: mel spectrogram, 0 to ${top}, 1 s`;
  return step;
}

// A dark-blue-to-yellow ramp (close to viridis) for spectrogram levels 0..1.
function colour(t) {
  const stops = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];
  const x = Math.max(0, Math.min(1, t)) * (stops.length - 1), i = Math.min(stops.length - 2, Math.floor(x)), f = x - i;
  return stops[i].map((c, j) => Math.round(c + (stops[i + 1][j] - c) * f));
}

// ---------------------------------------------------------------------------
// Harmonize
// ---------------------------------------------------------------------------

let chorale = null;

async function harmonize(variation) {
  const started = performance.now();
  showError("harmonize-error", null);
  const melody = fileOf("harmonize-melody");
  const form = new FormData();
  if (melody) form.append("melody", melody);
  form.append("variation", String(variation));
  form.append("seed", $("harmonize-seed").value);
  try {
    const result = await runJob("/api/harmonize", form, $("harmonize-progress"));
    chorale = result;
    listLines("harmonize-warnings", result.warnings);
    $("harmonize-result").hidden = false;
    $("harmonize-title").textContent = `Variation ${result.variation}` +
      (result.variation === 1 ? " (the most likely)" : ` (seed ${result.seed})`) + `, key ${result.key}`;
    $("harmonize-legend").replaceChildren(...result.voices.map((v, i) => {
      const span = Object.assign(document.createElement("span"), {textContent: v.name});
      span.style.setProperty("--colour", VOICE_COLOURS[i]);
      return span;
    }));
    drawRoll($("harmonize-roll"), result.voices.map((v, i) => ({notes: v.notes, colour: VOICE_COLOURS[i]})),
      result.length, result.steps_per_bar);
    $("harmonize-score").innerHTML = result.score.join("");
    const stem = melody ? melody.name.replace(/\.[^.]+$/, "") : "chorale";
    $("harmonize-downloads").replaceChildren(link(result.midi, "MIDI", `${stem}-chorale.mid`),
      link(result.musicxml, "MusicXML", `${stem}-chorale.musicxml`), link(result.audio, "WAV", `${stem}-chorale.wav`));
    await loadAudio(result.audio);
    studio.timings.harmonize.push(performance.now() - started);
    document.body.dataset.harmonizeReady = String(studio.timings.harmonize.length);
  } catch (error) {
    showError("harmonize-error", error);
    $("harmonize-progress").hidden = true;
  }
}

// ---------------------------------------------------------------------------
// Live: sessions and their knobs
// ---------------------------------------------------------------------------

async function refreshPorts() {
  try {
    const api_ = $("live-midi-api").value;
    const ports = await api(`/api/ports${api_ ? `?api=${api_}` : ""}`);
    $("midi-outputs").replaceChildren(...ports.outputs.map((p) => new Option(p)));
    $("midi-inputs").replaceChildren(...ports.inputs.map((p) => new Option(p)));
    $("ports-list").replaceChildren(
      ...ports.outputs.map((p) => Object.assign(document.createElement("li"), {textContent: `out: ${p}`})),
      ...ports.inputs.map((p) => Object.assign(document.createElement("li"), {textContent: `in: ${p}`})));
  } catch (error) {
    showError("live-error", error);
  }
}

async function startSession(kind) {
  showError("live-error", null);
  const form = new FormData();
  if ($("live-midi-api").value) form.append("midi_api", $("live-midi-api").value);
  if (kind === "live") {
    for (const end of ["a", "b"]) { const f = fileOf(`live-${end}`); if (f) form.append(end, f); }
    form.append("midi_out", $("live-midi-out").value);
    form.append("bpm", $("live-bpm").value);
    form.append("temperature", $("live-temperature").value);
  } else {
    form.append("midi_in", $("synth-midi-in").value);
    form.append("audio_out", $("synth-audio-out").value);
    if ($("synth-audio-api").value) form.append("audio_api", $("synth-audio-api").value);
  }
  const button = $(`${kind}-start`);
  button.disabled = true;
  try {
    await api(`/api/sessions/${kind}`, form);
  } catch (error) {
    showError("live-error", error);
  } finally {
    button.disabled = false;
    await showSessions();
  }
}

async function showSessions() {
  const {sessions} = await api("/api/sessions");
  const box = $("sessions");
  const seen = new Set();
  for (const s of sessions) {
    seen.add(s.id);
    // A new card's knob starts where the session's morph is; after that the knob is the performer's.
    let card = box.querySelector(`[data-session="${s.id}"]`);
    if (!card) card = box.appendChild(sessionCard(s));
    card.classList.toggle("stopped", !s.running);
    card.querySelector(".session-state").textContent = s.running ? "playing" : `stopped${s.summary ? `: ${s.summary}` : ""}${s.error ? `: ${s.error}` : ""}`;
    card.querySelector(".stop").disabled = !s.running;
  }
  for (const card of box.querySelectorAll("[data-session]")) if (!seen.has(card.dataset.session)) card.remove();
}

function sessionCard(s) {
  const card = document.createElement("div");
  card.className = "session";
  card.dataset.session = s.id;
  const head = Object.assign(document.createElement("div"), {className: "session-head"});
  head.append(Object.assign(document.createElement("strong"), {textContent: `${s.kind} #${s.id}`}),
    Object.assign(document.createElement("span"), {textContent: ` ${s.description} `}),
    Object.assign(document.createElement("span"), {className: "session-state"}));
  const knob = makeKnob(s.morph, (value) => sendMorph(s.id, value));
  const stop = Object.assign(document.createElement("button"), {className: "stop", textContent: "Stop"});
  stop.addEventListener("click", async () => {
    stop.disabled = true;
    try { await api(`/api/sessions/${s.id}/stop`, new FormData()); } catch (e) { showError("live-error", e); }
    await showSessions();
  });
  if (s.warnings.length) head.append(Object.assign(document.createElement("div"), {className: "muted", textContent: s.warnings.join("; ")}));
  card.append(head, knob.element, stop);
  card.knob = knob;
  return card;
}

// Morph messages go out at most every 30 ms; the last value always goes.
const pendingMorph = new Map();
function sendMorph(id, value) {
  const entry = pendingMorph.get(id) || {busy: false, value};
  entry.value = value;
  pendingMorph.set(id, entry);
  if (entry.busy) return;
  entry.busy = true;
  const flush = async () => {
    const v = entry.value;
    const form = new FormData();
    form.append("morph", v.toFixed(4));
    try {
      const state = await api(`/api/sessions/${id}/morph`, form);
      document.querySelector(`[data-session="${id}"]`)?.setAttribute("data-morph", String(state.morph));
    } catch (e) { showError("live-error", e); }
    await new Promise((r) => setTimeout(r, 30));
    if (entry.value !== v) return flush();
    entry.busy = false;
  };
  flush();
}

// A rotary knob 0..1: drag up/down (or the wheel, or arrow keys) to turn it.
function makeKnob(initial, onChange) {
  const element = document.createElement("div");
  element.className = "knob";
  element.tabIndex = 0;
  element.setAttribute("role", "slider");
  element.setAttribute("aria-label", "morph");
  element.setAttribute("aria-valuemin", "0");
  element.setAttribute("aria-valuemax", "1");
  element.innerHTML = `<svg viewBox="0 0 100 100" width="96" height="96">
    <circle cx="50" cy="50" r="40" class="knob-body"/>
    <path class="knob-arc" fill="none" stroke-width="8"/>
    <line x1="50" y1="50" x2="50" y2="16" class="knob-pointer" stroke-width="6" stroke-linecap="round"/>
  </svg><div class="knob-value"></div><div class="knob-label">morph A → B</div>`;
  let value = initial;
  const set = (v, notify = true) => {
    value = Math.max(0, Math.min(1, v));
    const angle = -135 + 270 * value;
    element.querySelector(".knob-pointer").setAttribute("transform", `rotate(${angle} 50 50)`);
    const end = (angle - 90) * Math.PI / 180, start = (-135 - 90) * Math.PI / 180;
    const large = 270 * value > 180 ? 1 : 0;
    element.querySelector(".knob-arc").setAttribute("d",
      `M ${50 + 46 * Math.cos(start)} ${50 + 46 * Math.sin(start)} A 46 46 0 ${large} 1 ${50 + 46 * Math.cos(end)} ${50 + 46 * Math.sin(end)}`);
    element.querySelector(".knob-value").textContent = value.toFixed(2);
    element.setAttribute("aria-valuenow", value.toFixed(3));
    if (notify) onChange(value);
  };
  let drag = null;
  element.addEventListener("pointerdown", (e) => { drag = {y: e.clientY, value}; element.setPointerCapture(e.pointerId); });
  element.addEventListener("pointermove", (e) => { if (drag) set(drag.value + (drag.y - e.clientY) / 150); });
  element.addEventListener("pointerup", () => { drag = null; });
  element.addEventListener("wheel", (e) => { e.preventDefault(); set(value - Math.sign(e.deltaY) * 0.05); });
  element.addEventListener("keydown", (e) => {
    const moves = {ArrowUp: 0.05, ArrowRight: 0.05, ArrowDown: -0.05, ArrowLeft: -0.05, PageUp: 0.25, PageDown: -0.25};
    if (e.key in moves) { e.preventDefault(); set(value + moves[e.key]); }
    if (e.key === "Home") set(0);
    if (e.key === "End") set(1);
  });
  set(initial, false);
  return {element, set, get value() { return value; }};
}

// ---------------------------------------------------------------------------
// Start
// ---------------------------------------------------------------------------

async function start() {
  setUpDrops();
  for (const button of document.querySelectorAll("[role=tab]")) {
    button.addEventListener("click", () => showTab(button.dataset.tab));
  }
  const info = await api("/api/studio");
  studio.info = info;
  $("instruments").textContent = `${info.melody.name} · ${info.timbre.name} · ${info.accompanist.name}`;
  $("morph-steps").max = String(Math.min(16, info.melody.max_steps));
  setUpBlend(info.timbre);
  $("live-midi-api").append(...info.midi_apis.map((a) => new Option(a, a)));
  $("morph-run").addEventListener("click", morph);
  $("sample-run").addEventListener("click", sample);
  $("harmonize-run").addEventListener("click", () => harmonize(1));
  $("harmonize-next").addEventListener("click", () => harmonize(chorale ? chorale.variation + 1 : 2));
  $("harmonize-play").addEventListener("click", () => chorale && play(chorale.audio).catch((e) => showError("harmonize-error", e)));
  $("live-start").addEventListener("click", () => startSession("live"));
  $("synth-start").addEventListener("click", () => startSession("synth"));
  $("ports-refresh").addEventListener("click", refreshPorts);
  $("live-midi-api").addEventListener("change", refreshPorts);
  const tab = location.hash.slice(1);
  if (document.getElementById(`tab-${tab}`)) showTab(tab);
  document.body.dataset.ready = "1";
  showSessions().catch(() => {});
}

start().catch((error) => { $("status").textContent = error.message; });
