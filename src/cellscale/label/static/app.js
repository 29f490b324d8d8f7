// cellscale label: the labelling page. Plain JavaScript, no build step, nothing from the network.
// The server holds the labels and the undo history; every edit is sent to it and comes back as a
// patch (the labels of the edited box), which the page writes into its copy and redraws.
"use strict";

const $ = (id) => document.getElementById(id);
const TOOLS = { v: "select", b: "paint", e: "erase", f: "fill", m: "merge", s: "split", a: "add" };
const TOOL_NAMES = { select: "pick", paint: "paint", erase: "erase", fill: "fill", merge: "merge",
                     split: "split", add: "add cell" };
const FILL_ALPHA = 90, PICKED_ALPHA = 150;
// Planes larger than WINDOW pixels along y or x are labelled through a window of that side
// (?window=N overrides it), over an overview subsampled to about OVERVIEW_SIDE pixels.
const WINDOW = 3072, OVERVIEW_SIDE = 2048;
const POLL_MS = 2000;  // how often an idle page checks for changes made elsewhere

const S = {
  images: [], id: null, info: null, frame: 0, channel: 0, lo: null, hi: null,
  labels: null, h: 0, w: 0, ly0: 0, lx0: 0, lh: 0, lw: 0, windowed: false, overview: null,
  winSize: parseInt(new URLSearchParams(location.search).get("window"), 10) || WINDOW,
  version: 0, seq: 0, unsaved: false, objects: 0, maxLabel: 0,
  selected: 0, tool: "select", brush: 4, showLabels: true,
  scale: 1, ox: 0, oy: 0, img: null, overlay: null, overlayCtx: null, overlayData: null,
  stroke: null, mergeFirst: 0, pan: null, space: false, mouse: null,
  queue: Promise.resolve(), busy: 0, pending: 0,
};

// ---- talking to the server ---------------------------------------------------------------
function api(path) { return `/api/images/${S.id}${path}`; }

// body[data-busy]: requests in flight plus queued work not finished (the tests wait for 0).
function showBusy() { document.body.dataset.busy = String(S.busy + S.pending); }

async function request(url, options = {}) {
  S.busy += 1; showBusy();
  try {
    const res = await fetch(url, options);
    if (!res.ok) {
      let detail = `${res.status} ${res.statusText}`;
      try { detail = (await res.json()).detail || detail; } catch (e) { /* not JSON */ }
      const err = new Error(typeof detail === "string" ? detail : JSON.stringify(detail));
      err.status = res.status;
      throw err;
    }
    return res;
  } finally {
    S.busy -= 1; showBusy();
  }
}

async function postJSON(path, body) {
  const res = await request(api(path), { method: "POST", headers: { "Content-Type": "application/json" },
                                          body: JSON.stringify(body) });
  return res.json();
}

// Requests that change the labels run one after another, in the order the user made them.
function enqueue(work) {
  S.pending += 1; showBusy();
  S.queue = S.queue.then(work).catch((err) => message(err.message, "error"))
    .finally(() => { S.pending -= 1; showBusy(); });
  return S.queue;
}

// ---- labels and their overlay ------------------------------------------------------------
function decode(b64) {
  const bin = atob(b64);
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  return new Uint32Array(bytes.buffer);  // little-endian, as every browser's platform is
}

const colours = new Map();
function colour(label) {
  let c = colours.get(label);
  if (!c) {
    const hue = (label * 137.508) % 360, s = 0.75, l = 0.55;
    const k = (n) => (n + hue / 30) % 12, a = s * Math.min(l, 1 - l);
    const f = (n) => Math.round(255 * (l - a * Math.max(-1, Math.min(k(n) - 3, 9 - k(n), 1))));
    c = [f(0), f(8), f(4)];
    colours.set(label, c);
  }
  return c;
}

// The page holds the labels of a window of the plane (the whole plane unless it is large:
// then a window around the view, reloaded as the view moves, over a subsampled overview image).
// Coordinates are the plane's (row, column) everywhere; the window starts at (ly0, lx0).
function renderOverlay(y0, x0, y1, x1) {
  const wy0 = S.ly0, wx0 = S.lx0, lh = S.lh, lw = S.lw;
  y0 = Math.max(wy0, y0 - 1); x0 = Math.max(wx0, x0 - 1);
  y1 = Math.min(wy0 + lh, y1 + 1); x1 = Math.min(wx0 + lw, x1 + 1);
  if (y1 <= y0 || x1 <= x0) return;
  const L = S.labels, d = S.overlayData.data;
  for (let y = y0 - wy0; y < y1 - wy0; y++) {
    for (let x = x0 - wx0; x < x1 - wx0; x++) {
      const i = y * lw + x, l = L[i], o = 4 * i;
      if (l === 0) { d[o + 3] = 0; continue; }
      const edge = (x > 0 && L[i - 1] !== l) || (x < lw - 1 && L[i + 1] !== l) ||
                   (y > 0 && L[i - lw] !== l) || (y < lh - 1 && L[i + lw] !== l);
      const c = l === S.selected && edge ? [255, 255, 255] : colour(l);
      d[o] = c[0]; d[o + 1] = c[1]; d[o + 2] = c[2];
      d[o + 3] = edge ? 255 : (l === S.selected ? PICKED_ALPHA : FILL_ALPHA);
    }
  }
  S.overlayCtx.putImageData(S.overlayData, 0, 0, x0 - wx0, y0 - wy0, x1 - x0, y1 - y0);
}

function bboxOf(label) {
  if (!label || !S.labels) return null;
  const L = S.labels, w = S.lw;
  let y0 = S.lh, x0 = w, y1 = -1, x1 = -1;
  for (let i = 0; i < L.length; i++) {
    if (L[i] === label) {
      const y = (i / w) | 0, x = i - y * w;
      if (y < y0) y0 = y; if (y > y1) y1 = y; if (x < x0) x0 = x; if (x > x1) x1 = x;
    }
  }
  return y1 < 0 ? null : [S.ly0 + y0, S.lx0 + x0, S.ly0 + y1 + 1, S.lx0 + x1 + 1];
}

function select(label) {
  const old = S.selected;
  S.selected = label || 0;
  for (const l of [old, S.selected]) {
    const b = bboxOf(l);
    if (b) renderOverlay(...b);
  }
  $("status-selected").textContent = S.selected ? String(S.selected) : "none";
  draw();
}

function applyStatus(st) {
  if (st.version !== undefined) S.version = st.version;
  if (st.unsaved !== undefined) S.unsaved = st.unsaved;
  if (st.objects !== undefined) S.objects = st.objects;
  if (st.max_label !== undefined) S.maxLabel = st.max_label;
  $("status-count").textContent = String(S.objects);
  $("status-version").textContent = String(S.version);
  $("status-unsaved").textContent = S.unsaved ? "unsaved changes" : "";
  $("save").classList.toggle("unsaved", S.unsaved);
  for (const m of st.messages || []) message(m, "error");
}

function applyPatch(p) {
  if (!p) return false;
  const ours = p.seq === S.seq + 1;  // else another tab or client changed the labels meanwhile
  S.seq = p.seq;
  if (!ours) resync();
  const data = decode(p.data);
  // Only the part inside the window the page holds (the server has the rest).
  const y0 = Math.max(p.y0, S.ly0), y1 = Math.min(p.y0 + p.h, S.ly0 + S.lh);
  const x0 = Math.max(p.x0, S.lx0), x1 = Math.min(p.x0 + p.w, S.lx0 + S.lw);
  for (let y = y0; y < y1 && x0 < x1; y++) {
    const row = (y - p.y0) * p.w;
    S.labels.set(data.subarray(row + x0 - p.x0, row + x1 - p.x0), (y - S.ly0) * S.lw + x0 - S.lx0);
  }
  renderOverlay(p.y0, p.x0, p.y0 + p.h, p.x0 + p.w);
  applyStatus(p);
  if (S.selected && !bboxOf(S.selected)) select(0);
  draw();
  return true;
}

// ---- loading an image --------------------------------------------------------------------
async function fetchPlane(params) {
  const res = await request(`${api("/plane.png")}?${new URLSearchParams(params)}`);
  const head = (k) => parseFloat(res.headers.get(k));
  const img = new Image();
  img.src = URL.createObjectURL(await res.blob());
  await img.decode();
  return { img, lo: head("X-Lo"), hi: head("X-Hi"), min: head("X-Min"), max: head("X-Max") };
}

// The channel shown: one (its index), or "all": a composite of the image's first 2 or 3 channels.
function planeBase() {
  return S.channel === "all"
    ? { channels: S.info.channels.slice(0, 3).map((_, i) => i).join(","), frame: S.frame }
    : { channel: S.channel, frame: S.frame };
}

function windowParams() {
  return { y0: S.ly0, x0: S.lx0, h: S.lh, w: S.lw };
}

async function loadPlane(keepContrast) {
  const base = planeBase();
  if (keepContrast && S.lo !== null) { base.lo = S.lo; base.hi = S.hi; }
  let shown;
  if (!S.windowed) {
    shown = await fetchPlane(base);
    S.img = shown.img; S.overview = null;
  } else {
    const step = Math.max(1, Math.ceil(Math.max(S.h, S.w) / OVERVIEW_SIDE));
    shown = await fetchPlane({ ...base, step });
    S.overview = { img: shown.img, step };
    S.img = (await fetchPlane({ ...base, lo: shown.lo, hi: shown.hi, ...windowParams() })).img;
  }
  S.lo = shown.lo; S.hi = shown.hi;
  for (const [id, v] of [["contrast-lo", shown.lo], ["contrast-hi", shown.hi]]) {
    const el = $(id);
    el.min = String(Math.min(shown.min, v)); el.max = String(Math.max(shown.max, v)); el.value = String(v);
  }
  draw();
}

async function loadLabels() {
  const q = new URLSearchParams({ frame: S.frame, ...(S.windowed ? windowParams() : {}) });
  const j = await (await request(`${api("/labels")}?${q}`)).json();
  S.ly0 = j.y0; S.lx0 = j.x0; S.lh = j.h; S.lw = j.w; S.seq = j.seq;
  S.labels = decode(j.data);
  S.overlay = document.createElement("canvas");
  S.overlay.width = S.lw; S.overlay.height = S.lh;
  S.overlayCtx = S.overlay.getContext("2d");
  S.overlayData = S.overlayCtx.createImageData(S.lw, S.lh);
  renderOverlay(S.ly0, S.lx0, S.ly0 + S.lh, S.lx0 + S.lw);
  $("status-selected").textContent = S.selected ? String(S.selected) : "none";
  applyStatus(j);
}

// Every page of this server edits one copy of the labels. When they change elsewhere (another
// tab, another client), the page reloads them and says so; it also looks every few seconds.
function resync() {
  enqueue(async () => {
    await loadLabels();
    draw();
    message("the labels were changed in another tab or by another client: reloaded", "info");
  });
}

async function poll() {
  if (!S.labels || S.busy || S.pending || document.hidden || S.id === null) return;
  try {
    const st = await (await request(`${api("/status")}?frame=${S.frame}`)).json();
    if (S.busy || S.pending || !S.labels) return;  // an edit went out meanwhile: its answer tells
    if (st.seq !== S.seq) resync();
    else applyStatus(st);
  } catch (err) { /* the next look tries again */ }
}
setInterval(poll, POLL_MS);

// Large planes: move the window to the view when the view has left it (after pan or zoom).
let windowTimer = null;
function followView() {
  if (!S.windowed || !S.labels) return;
  clearTimeout(windowTimer);
  windowTimer = setTimeout(() => {
    const [vy0, vx0] = toImage(0, 0), [vy1, vx1] = toImage(view.width, view.height);
    const top = Math.max(0, vy0), left = Math.max(0, vx0);
    const bottom = Math.min(S.h, vy1), right = Math.min(S.w, vx1);
    if (top >= S.ly0 && left >= S.lx0 && bottom <= S.ly0 + S.lh && right <= S.lx0 + S.lw) return;
    const y0 = clampWindow((vy0 + vy1) / 2, S.h), x0 = clampWindow((vx0 + vx1) / 2, S.w);
    if (Math.abs(y0 - S.ly0) < Math.max(16, S.lh / 8) && Math.abs(x0 - S.lx0) < Math.max(16, S.lw / 8)) return;
    S.ly0 = y0; S.lx0 = x0;
    enqueue(async () => {
      document.body.dataset.window = "loading";
      const img = (await fetchPlane({ ...planeBase(), lo: S.lo, hi: S.hi,
                                      ...windowParams() })).img;
      await loadLabels();
      S.img = img;
      draw();
      document.body.dataset.window = `${S.ly0},${S.lx0}`;
    });
  }, 250);
}

function clampWindow(centre, size) {
  return Math.max(0, Math.min(size - S.winSize, Math.round(centre - S.winSize / 2)));
}

async function openImage(id) {
  document.body.dataset.ready = "0";
  S.id = id; S.frame = 0; S.channel = 0; S.lo = S.hi = null; S.mergeFirst = 0;
  S.img = S.labels = S.overlay = S.overview = null; S.h = S.w = 0;  // nothing of the last image stays
  S.selected = 0; $("status-selected").textContent = "none";
  applyStatus({ version: 0, unsaved: false, objects: 0 });
  $("status-count").textContent = "-"; $("status-version").textContent = "-";
  draw();
  S.info = S.images.find((im) => im.id === id);
  const ch = $("channel");
  ch.innerHTML = "";
  for (const c of ["contrast-lo", "contrast-hi", "contrast-auto"]) $(c).disabled = false;
  (S.info.channels || ["0"]).forEach((name, i) => ch.add(new Option(name, String(i))));
  const n = (S.info.channels || []).length;
  if (n === 2) ch.add(new Option("composite (green, magenta)", "all"));
  if (n >= 3) ch.add(new Option(n === 3 ? "composite (RGB)" : "composite of the first 3 (RGB)", "all"));
  $("frame-box").hidden = !(S.info.frames > 1);
  $("export-ctc").hidden = !(S.info.frames > 1);
  $("frame").max = String((S.info.frames || 1) - 1); $("frame").value = "0";
  message(`opening ${S.info.name} (the model proposes labels the first time; this may take a while)`, "info");
  try {
    if (!S.info.shape) throw new Error(S.info.error || `${S.info.name} cannot be read`);
    [S.h, S.w] = S.info.shape;
    S.windowed = Math.max(S.h, S.w) > S.winSize;
    S.lh = Math.min(S.h, S.winSize); S.lw = Math.min(S.w, S.winSize);
    S.ly0 = S.windowed ? clampWindow(S.h / 2, S.h) : 0;
    S.lx0 = S.windowed ? clampWindow(S.w / 2, S.w) : 0;
    if (!S.windowed) { S.lh = S.h; S.lw = S.w; }
    await loadPlane(false);
    await loadLabels();
    fit();
    message(`${S.info.name}: ${S.w} x ${S.h}` + (S.windowed ? `; labels are loaded for a ${S.lw} x ${S.lh} ` +
            "window that follows the view (outlined)" : ""), "info");
    document.body.dataset.ready = "1";
  } catch (err) {
    message(err.message, "error");
    document.body.dataset.ready = "error";
  }
}

async function changeFrame(frame) {
  const n = S.info.frames || 1;
  frame = Math.max(0, Math.min(n - 1, frame | 0));
  if (frame === S.frame) return;
  document.body.dataset.ready = "0";
  S.frame = frame; $("frame").value = String(frame);
  await enqueue(async () => { await loadPlane(true); await loadLabels(); });
  document.body.dataset.ready = "1";
}

// ---- drawing -----------------------------------------------------------------------------
const view = $("view");
const ctx = view.getContext("2d");

function resize() {
  const r = view.getBoundingClientRect();
  view.width = Math.max(1, Math.round(r.width)); view.height = Math.max(1, Math.round(r.height));
  draw();
}

function fit() {
  if (!S.w) return;
  S.scale = Math.min(view.width / S.w, view.height / S.h) * 0.98;
  S.ox = (view.width - S.w * S.scale) / 2; S.oy = (view.height - S.h * S.scale) / 2;
  draw();
}

function draw() {
  ctx.setTransform(1, 0, 0, 1, 0, 0);
  ctx.fillStyle = "#000"; ctx.fillRect(0, 0, view.width, view.height);
  if (!S.img) return;
  ctx.setTransform(S.scale, 0, 0, S.scale, S.ox, S.oy);
  ctx.imageSmoothingEnabled = false;
  if (S.overview) {
    const o = S.overview;
    ctx.drawImage(o.img, 0, 0, o.img.width * o.step, o.img.height * o.step);
    ctx.drawImage(S.img, S.lx0, S.ly0);
  } else {
    ctx.drawImage(S.img, 0, 0);
  }
  if (S.showLabels && S.overlay) ctx.drawImage(S.overlay, S.lx0, S.ly0);
  if (S.overview) {
    ctx.setLineDash([6 / S.scale, 4 / S.scale]);
    ctx.strokeStyle = "rgba(255,255,255,0.6)"; ctx.lineWidth = 1 / S.scale;
    ctx.strokeRect(S.lx0, S.ly0, S.lw, S.lh);
    ctx.setLineDash([]);
  }
  if (S.stroke && S.stroke.points.length) {
    const pts = S.stroke.points;
    ctx.beginPath();
    ctx.moveTo(pts[0][1] + 0.5, pts[0][0] + 0.5);
    for (const [y, x] of pts) ctx.lineTo(x + 0.5, y + 0.5);
    if (S.stroke.tool === "split") {
      ctx.strokeStyle = "#ff0"; ctx.lineWidth = 2 / S.scale;
    } else {
      ctx.strokeStyle = S.stroke.tool === "erase" ? "rgba(0,0,0,0.6)" : "rgba(255,255,255,0.5)";
      ctx.lineWidth = 2 * S.brush + 1; ctx.lineCap = "round"; ctx.lineJoin = "round";
    }
    ctx.stroke();
  }
  if (S.mouse && (S.tool === "paint" || S.tool === "erase")) {
    ctx.beginPath();
    ctx.arc(S.mouse[1] + 0.5, S.mouse[0] + 0.5, S.brush + 0.5, 0, 2 * Math.PI);
    ctx.strokeStyle = "#fff"; ctx.lineWidth = 1 / S.scale; ctx.stroke();
  }
}

// Image pixel (row, column) under a canvas point, and back (the test uses toScreen).
function toImage(cx, cy) { return [(cy - S.oy) / S.scale - 0.5, (cx - S.ox) / S.scale - 0.5]; }
function toScreen(y, x) {
  const r = view.getBoundingClientRect();
  return [r.left + S.ox + (x + 0.5) * S.scale, r.top + S.oy + (y + 0.5) * S.scale];
}
function labelAt(y, x) {
  const r = Math.round(y) - S.ly0, c = Math.round(x) - S.lx0;
  if (!S.labels || r < 0 || c < 0 || r >= S.lh || c >= S.lw) return 0;
  return S.labels[r * S.lw + c];
}
// Inside the part of the plane whose labels the page holds (the whole plane unless it is large).
function inside(y, x) {
  return y > S.ly0 - 0.5 && x > S.lx0 - 0.5 && y < S.ly0 + S.lh - 0.5 && x < S.lx0 + S.lw - 0.5;
}

// ---- messages and tools ------------------------------------------------------------------
function message(text, kind) {
  const el = $("status-message");
  el.textContent = text || ""; el.className = kind || "";
}

function setTool(tool) {
  S.tool = tool; S.mergeFirst = 0; S.stroke = null;
  for (const b of document.querySelectorAll("[data-tool]")) b.classList.toggle("active", b.dataset.tool === tool);
  $("status-tool").textContent = TOOL_NAMES[tool];
  const hints = {
    select: "click an object to pick it", paint: "drag to paint the picked object (none picked: a new one)",
    erase: "drag to erase", fill: "click a region to fill it with the picked object (none picked: a new one)",
    merge: "click the object to keep, then the one to merge into it",
    split: "draw a line across the object to cut", add: "click a missed cell",
  };
  message(hints[tool], "info");
  draw();
}

function setBrush(r) {
  S.brush = Math.max(1, Math.min(200, r));
  $("brush-size").textContent = String(S.brush);
  draw();
}

function edit(body, after) {
  return enqueue(async () => {
    const p = await postJSON("/edit", { ...body, frame: S.frame });
    applyPatch(p);
    if (after) after(p);
  });
}

function undo() {
  return enqueue(async () => {
    const p = await postJSON("/undo", { frame: S.frame });
    if (!applyPatch(p)) message("nothing to undo", "info");
  });
}

function redo() {
  return enqueue(async () => {
    const p = await postJSON("/redo", { frame: S.frame });
    if (!applyPatch(p)) message("nothing to redo", "info");
  });
}

function deleteSelected() {
  if (!S.selected) { message("pick an object first (click it with the pick tool, V)", "error"); return; }
  const label = S.selected;
  edit({ op: "delete", label }, () => message(`deleted object ${label}`, "info"));
}

function save(force) {
  return enqueue(async () => {
    try {
      const body = { base_version: S.version };
      if (force) body.force = true;
      message((S.info.frames || 1) > 1 ? "saving (frames not opened yet are proposed first)..." : "saving...", "info");
      const r = await postJSON("/save", body);
      applyStatus({ version: r.version, unsaved: false });
      $("conflict").hidden = true;
      message(`saved version ${r.version}`, "info");
    } catch (err) {
      if (err.status === 409) {
        $("conflict-message").textContent = err.message;
        $("conflict").hidden = false;
        message("not saved: the labels were saved elsewhere since you opened them", "error");
      } else {
        throw err;
      }
    }
  });
}

// ---- mouse -------------------------------------------------------------------------------
// The pointer in canvas pixels (the canvas's pixels are its CSS pixels: see resize).
function canvasPoint(ev) {
  const r = view.getBoundingClientRect();
  return [ev.clientX - r.left, ev.clientY - r.top];
}

view.addEventListener("contextmenu", (ev) => ev.preventDefault());

view.addEventListener("mousedown", (ev) => {
  view.focus();
  if (!S.labels) return;
  if (ev.button === 1 || (ev.button === 0 && S.space)) {
    S.pan = [...canvasPoint(ev), S.ox, S.oy];
    view.classList.add("panning");
    ev.preventDefault();
    return;
  }
  if (ev.button !== 0) return;
  const [y, x] = toImage(...canvasPoint(ev));
  if (!inside(y, x)) {
    if (S.windowed) message("outside the loaded window: pan or zoom there, and its labels load", "error");
    return;
  }
  const l = labelAt(y, x);
  switch (S.tool) {
    case "select":
      select(l); break;
    case "paint": case "erase": case "split":
      S.stroke = { tool: S.tool, points: [[y, x]] }; draw(); break;
    case "fill":
      edit({ op: "fill", y: Math.round(y), x: Math.round(x), label: S.selected || null },
           (p) => { if (p.label) select(p.label); });
      break;
    case "merge":
      if (!l) { message("click an object", "error"); break; }
      if (!S.mergeFirst) {
        S.mergeFirst = l; select(l); message(`merge: now click the object to merge into ${l}`, "info");
      } else if (l !== S.mergeFirst) {
        const a = S.mergeFirst, b = l;
        S.mergeFirst = 0;
        edit({ op: "merge", a, b }, () => { select(a); message(`merged ${b} into ${a}`, "info"); });
      }
      break;
    case "add":
      edit({ op: "add_cell", y: Math.round(y), x: Math.round(x) }, () => {
        const added = labelAt(y, x);
        if (added) { select(added); message(`added object ${added}`, "info"); }
      });
      break;
  }
});

// On the window, not the canvas: a pan or a stroke goes on when the pointer leaves the canvas.
window.addEventListener("mousemove", (ev) => {
  if (!S.pan && !S.stroke && ev.target !== view) return;
  const [cx, cy] = canvasPoint(ev);
  if (S.pan) {
    S.ox = S.pan[2] + cx - S.pan[0]; S.oy = S.pan[3] + cy - S.pan[1];
    draw(); return;
  }
  const [y, x] = toImage(cx, cy);
  S.mouse = [y, x];
  if (S.labels && inside(y, x)) {
    $("status-position").textContent = `y ${Math.round(y)}, x ${Math.round(x)}, label ${labelAt(y, x)}`;
  }
  if (S.stroke) {
    // Kept on the image (the server refuses points outside it); thinned to half a pixel.
    const p = [Math.max(0, Math.min(S.h - 1, y)), Math.max(0, Math.min(S.w - 1, x))];
    const last = S.stroke.points[S.stroke.points.length - 1];
    if (Math.hypot(p[0] - last[0], p[1] - last[1]) >= 0.5) S.stroke.points.push(p);
  }
  draw();
});

function endStroke() {
  const st = S.stroke;
  S.stroke = null;
  if (!st) return;
  const pts = st.points.map(([y, x]) => [Math.round(y * 10) / 10, Math.round(x * 10) / 10]);
  if (st.tool === "paint") {
    edit({ op: "paint", points: pts, radius: S.brush, label: S.selected || null },
         (p) => { if (p.label && p.label !== S.selected) select(p.label); });
  } else if (st.tool === "erase") {
    edit({ op: "erase", points: pts, radius: S.brush });
  } else if (st.tool === "split") {
    if (pts.length < 2) { message("draw a line across the object", "error"); draw(); return; }
    edit({ op: "split", line: pts }, () => message("split", "info"));
  }
  draw();
}

window.addEventListener("mouseup", () => {
  if (S.pan) { S.pan = null; view.classList.remove("panning"); followView(); return; }
  endStroke();
});

view.addEventListener("wheel", (ev) => {
  ev.preventDefault();
  const f = Math.exp(-ev.deltaY * 0.0015);
  const scale = Math.max(0.02, Math.min(64, S.scale * f)), k = scale / S.scale;
  const [cx, cy] = canvasPoint(ev);
  S.ox = cx - (cx - S.ox) * k; S.oy = cy - (cy - S.oy) * k;
  S.scale = scale;
  draw();
  followView();
}, { passive: false });

// ---- keyboard ----------------------------------------------------------------------------
document.addEventListener("keydown", (ev) => {
  const t = ev.target;
  if (t && (t.tagName === "SELECT" || (t.tagName === "INPUT" && t.type !== "checkbox" && t.type !== "range"))) return;
  const key = ev.key.toLowerCase(), ctrl = ev.ctrlKey || ev.metaKey;
  if (ctrl && key === "z") { ev.preventDefault(); ev.shiftKey ? redo() : undo(); return; }
  if (ctrl && key === "y") { ev.preventDefault(); redo(); return; }
  if (ctrl && key === "s") { ev.preventDefault(); save(false); return; }
  if (ctrl || ev.altKey) return;
  if (key === " ") { S.space = true; ev.preventDefault(); return; }
  if (TOOLS[key]) { setTool(TOOLS[key]); return; }
  if (key === "delete" || key === "backspace") { ev.preventDefault(); deleteSelected(); return; }
  if (key === "[") { setBrush(S.brush - 1); return; }
  if (key === "]") { setBrush(S.brush + 1); return; }
  if (key === "o") { $("overlay-toggle").click(); return; }
  if (key === "0") { fit(); followView(); return; }
  if (key === "?") { $("help").click(); return; }
  if (key === "escape") { S.stroke = null; S.mergeFirst = 0; select(0); return; }
  if (key === "," || key === ".") { changeFrame(S.frame + (key === "," ? -1 : 1)); }
});
document.addEventListener("keyup", (ev) => { if (ev.key === " ") S.space = false; });

// ---- controls ----------------------------------------------------------------------------
for (const b of document.querySelectorAll("[data-tool]")) b.addEventListener("click", () => setTool(b.dataset.tool));
// A clicked button gives the keyboard back to the image (space would press it again, not pan).
document.addEventListener("click", (ev) => { if (ev.target.closest("button")) view.focus(); });
$("delete").addEventListener("click", deleteSelected);
$("help").addEventListener("click", () => { $("help-panel").hidden = !$("help-panel").hidden; });
$("undo").addEventListener("click", () => undo());
$("redo").addEventListener("click", () => redo());
$("save").addEventListener("click", () => save(false));
$("export-ctc").addEventListener("click", () => enqueue(async () => {
  message("tracking the movie and writing the Cell Tracking Challenge result...", "info");
  const r = await postJSON("/export-ctc", {});
  message(`wrote ${r.folder}: ${r.tracks} tracks, ${r.divisions} divisions in ${r.frames} frames`, "info");
}));
$("keep-mine").addEventListener("click", () => save(true));
$("conflict-cancel").addEventListener("click", () => { $("conflict").hidden = true; });
$("overlay-toggle").addEventListener("change", (ev) => { S.showLabels = ev.target.checked; draw(); });
// Unsaved edits stay on the server (until it stops), so switching images loses nothing.
$("image-select").addEventListener("change", (ev) => openImage(ev.target.value));
$("channel").addEventListener("change", (ev) => {
  S.channel = ev.target.value === "all" ? "all" : +ev.target.value;
  for (const id of ["contrast-lo", "contrast-hi", "contrast-auto"]) $(id).disabled = S.channel === "all";
  enqueue(() => loadPlane(false));
});
$("frame").addEventListener("change", (ev) => changeFrame(+ev.target.value));
for (const id of ["contrast-lo", "contrast-hi"]) {
  $(id).addEventListener("change", () => {
    S.lo = parseFloat($("contrast-lo").value); S.hi = parseFloat($("contrast-hi").value);
    enqueue(() => loadPlane(true));
  });
}
$("contrast-auto").addEventListener("click", () => enqueue(() => loadPlane(false)));
// The canvas's pixels follow its size on the page (the window, a tool bar or status line that wraps).
new ResizeObserver(() => resize()).observe($("stage"));

async function start() {
  resize();
  setTool("select");
  try {
    S.images = await (await request("/api/images")).json();
  } catch (err) {
    message(err.message, "error"); return;
  }
  const sel = $("image-select");
  for (const im of S.images) sel.add(new Option(im.name + (im.has_saved_labels ? " (saved)" : ""), im.id));
  const wanted = new URLSearchParams(location.search).get("image");
  const first = S.images.find((im) => im.id === wanted) || S.images[0];
  if (first) { sel.value = first.id; await openImage(first.id); }
}

window.cellscaleLabel = { state: S, toScreen, labelAt, setTool };
start();
