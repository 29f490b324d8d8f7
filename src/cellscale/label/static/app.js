// cellscale label: the labelling page. Plain JavaScript, no build step, nothing from the network.
// The server holds the labels and the undo history; every edit is sent to it and comes back as a
// patch (the labels of the edited box), which the page writes into its copy and redraws.
"use strict";

const $ = (id) => document.getElementById(id);
const TOOLS = { v: "select", b: "paint", e: "erase", f: "fill", m: "merge", s: "split", a: "add" };
const TOOL_NAMES = { select: "pick", paint: "paint", erase: "erase", fill: "fill", merge: "merge",
                     split: "split", add: "add cell" };
const FILL_ALPHA = 90, PICKED_ALPHA = 150;

const S = {
  images: [], id: null, info: null, frame: 0, channel: 0, lo: null, hi: null,
  labels: null, h: 0, w: 0, version: 0, unsaved: false, objects: 0, maxLabel: 0,
  selected: 0, tool: "select", brush: 4, showLabels: true,
  scale: 1, ox: 0, oy: 0, img: null, overlay: null, overlayCtx: null, overlayData: null,
  stroke: null, mergeFirst: 0, pan: null, space: false, mouse: null,
  queue: Promise.resolve(), busy: 0,
};

// ---- talking to the server ---------------------------------------------------------------
function api(path) { return `/api/images/${S.id}${path}`; }

async function request(url, options = {}) {
  S.busy += 1; document.body.dataset.busy = String(S.busy);
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
    S.busy -= 1; document.body.dataset.busy = String(S.busy);
  }
}

async function postJSON(path, body) {
  const res = await request(api(path), { method: "POST", headers: { "Content-Type": "application/json" },
                                          body: JSON.stringify(body) });
  return res.json();
}

// Requests that change the labels run one after another, in the order the user made them.
function enqueue(work) {
  S.queue = S.queue.then(work).catch((err) => message(err.message, "error"));
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

function renderOverlay(y0, x0, y1, x1) {
  y0 = Math.max(0, y0 - 1); x0 = Math.max(0, x0 - 1);
  y1 = Math.min(S.h, y1 + 1); x1 = Math.min(S.w, x1 + 1);
  if (y1 <= y0 || x1 <= x0) return;
  const L = S.labels, d = S.overlayData.data, w = S.w, h = S.h;
  for (let y = y0; y < y1; y++) {
    for (let x = x0; x < x1; x++) {
      const i = y * w + x, l = L[i], o = 4 * i;
      if (l === 0) { d[o + 3] = 0; continue; }
      const edge = (x > 0 && L[i - 1] !== l) || (x < w - 1 && L[i + 1] !== l) ||
                   (y > 0 && L[i - w] !== l) || (y < h - 1 && L[i + w] !== l);
      const c = l === S.selected && edge ? [255, 255, 255] : colour(l);
      d[o] = c[0]; d[o + 1] = c[1]; d[o + 2] = c[2];
      d[o + 3] = edge ? 255 : (l === S.selected ? PICKED_ALPHA : FILL_ALPHA);
    }
  }
  S.overlayCtx.putImageData(S.overlayData, 0, 0, x0, y0, x1 - x0, y1 - y0);
}

function bboxOf(label) {
  if (!label) return null;
  const L = S.labels, w = S.w;
  let y0 = S.h, x0 = w, y1 = -1, x1 = -1;
  for (let i = 0; i < L.length; i++) {
    if (L[i] === label) {
      const y = (i / w) | 0, x = i - y * w;
      if (y < y0) y0 = y; if (y > y1) y1 = y; if (x < x0) x0 = x; if (x > x1) x1 = x;
    }
  }
  return y1 < 0 ? null : [y0, x0, y1 + 1, x1 + 1];
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
  const data = decode(p.data);
  for (let r = 0; r < p.h; r++) {
    S.labels.set(data.subarray(r * p.w, (r + 1) * p.w), (p.y0 + r) * S.w + p.x0);
  }
  renderOverlay(p.y0, p.x0, p.y0 + p.h, p.x0 + p.w);
  applyStatus(p);
  if (S.selected && !bboxOf(S.selected)) select(0);
  draw();
  return true;
}

// ---- loading an image --------------------------------------------------------------------
async function loadPlane(keepContrast) {
  const q = new URLSearchParams({ channel: S.channel, frame: S.frame });
  if (keepContrast && S.lo !== null) { q.set("lo", S.lo); q.set("hi", S.hi); }
  const res = await request(`${api("/plane.png")}?${q}`);
  const lo = parseFloat(res.headers.get("X-Lo")), hi = parseFloat(res.headers.get("X-Hi"));
  const min = parseFloat(res.headers.get("X-Min")), max = parseFloat(res.headers.get("X-Max"));
  const blob = await res.blob();
  const img = new Image();
  img.src = URL.createObjectURL(blob);
  await img.decode();
  S.img = img; S.lo = lo; S.hi = hi;
  for (const [id, v] of [["contrast-lo", lo], ["contrast-hi", hi]]) {
    const el = $(id);
    el.min = String(Math.min(min, v)); el.max = String(Math.max(max, v)); el.value = String(v);
  }
  draw();
}

async function loadLabels() {
  const res = await request(`${api("/labels")}?frame=${S.frame}`);
  const j = await res.json();
  S.h = j.h; S.w = j.w;
  S.labels = decode(j.data);
  S.overlay = document.createElement("canvas");
  S.overlay.width = S.w; S.overlay.height = S.h;
  S.overlayCtx = S.overlay.getContext("2d");
  S.overlayData = S.overlayCtx.createImageData(S.w, S.h);
  S.selected = 0; $("status-selected").textContent = "none";
  renderOverlay(0, 0, S.h, S.w);
  applyStatus(j);
}

async function openImage(id) {
  document.body.dataset.ready = "0";
  S.id = id; S.frame = 0; S.channel = 0; S.lo = S.hi = null; S.mergeFirst = 0;
  S.img = S.labels = S.overlay = null; S.h = S.w = 0;  // nothing of the last image stays on show
  S.selected = 0; $("status-selected").textContent = "none";
  applyStatus({ version: 0, unsaved: false, objects: 0 });
  $("status-count").textContent = "-"; $("status-version").textContent = "-";
  draw();
  S.info = S.images.find((im) => im.id === id);
  const ch = $("channel");
  ch.innerHTML = "";
  (S.info.channels || ["0"]).forEach((name, i) => ch.add(new Option(name, String(i))));
  $("frame-box").hidden = !(S.info.frames > 1);
  $("frame").max = String((S.info.frames || 1) - 1); $("frame").value = "0";
  message(`opening ${S.info.name} (the model proposes labels the first time; this may take a while)`, "info");
  try {
    await loadPlane(false);
    await loadLabels();
    fit();
    message(`${S.info.name}: ${S.w} x ${S.h}`, "info");
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
  ctx.drawImage(S.img, 0, 0);
  if (S.showLabels && S.overlay) ctx.drawImage(S.overlay, 0, 0);
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
  const r = Math.round(y), c = Math.round(x);
  if (!S.labels || r < 0 || c < 0 || r >= S.h || c >= S.w) return 0;
  return S.labels[r * S.w + c];
}
function inside(y, x) { return y > -0.5 && x > -0.5 && y < S.h - 0.5 && x < S.w - 0.5; }

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
view.addEventListener("contextmenu", (ev) => ev.preventDefault());

view.addEventListener("mousedown", (ev) => {
  view.focus();
  if (!S.labels) return;
  if (ev.button === 1 || (ev.button === 0 && S.space)) {
    S.pan = [ev.offsetX, ev.offsetY, S.ox, S.oy];
    view.classList.add("panning");
    ev.preventDefault();
    return;
  }
  if (ev.button !== 0) return;
  const [y, x] = toImage(ev.offsetX, ev.offsetY);
  if (!inside(y, x)) return;
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

view.addEventListener("mousemove", (ev) => {
  if (S.pan) {
    S.ox = S.pan[2] + ev.offsetX - S.pan[0]; S.oy = S.pan[3] + ev.offsetY - S.pan[1];
    draw(); return;
  }
  const [y, x] = toImage(ev.offsetX, ev.offsetY);
  S.mouse = [y, x];
  if (S.labels && inside(y, x)) {
    $("status-position").textContent = `y ${Math.round(y)}, x ${Math.round(x)}, label ${labelAt(y, x)}`;
  }
  if (S.stroke) S.stroke.points.push([y, x]);
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
  if (S.pan) { S.pan = null; view.classList.remove("panning"); return; }
  endStroke();
});

view.addEventListener("wheel", (ev) => {
  ev.preventDefault();
  const f = Math.exp(-ev.deltaY * 0.0015);
  const scale = Math.max(0.02, Math.min(64, S.scale * f)), k = scale / S.scale;
  S.ox = ev.offsetX - (ev.offsetX - S.ox) * k; S.oy = ev.offsetY - (ev.offsetY - S.oy) * k;
  S.scale = scale;
  draw();
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
  if (key === "0") { fit(); return; }
  if (key === "escape") { S.stroke = null; S.mergeFirst = 0; select(0); return; }
  if (key === "," || key === ".") { changeFrame(S.frame + (key === "," ? -1 : 1)); }
});
document.addEventListener("keyup", (ev) => { if (ev.key === " ") S.space = false; });

// ---- controls ----------------------------------------------------------------------------
for (const b of document.querySelectorAll("[data-tool]")) b.addEventListener("click", () => setTool(b.dataset.tool));
$("delete").addEventListener("click", deleteSelected);
$("undo").addEventListener("click", () => undo());
$("redo").addEventListener("click", () => redo());
$("save").addEventListener("click", () => save(false));
$("keep-mine").addEventListener("click", () => save(true));
$("conflict-cancel").addEventListener("click", () => { $("conflict").hidden = true; });
$("overlay-toggle").addEventListener("change", (ev) => { S.showLabels = ev.target.checked; draw(); });
// Unsaved edits stay on the server (until it stops), so switching images loses nothing.
$("image-select").addEventListener("change", (ev) => openImage(ev.target.value));
$("channel").addEventListener("change", (ev) => { S.channel = +ev.target.value; enqueue(() => loadPlane(false)); });
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
