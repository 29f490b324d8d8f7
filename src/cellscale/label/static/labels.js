// cellscale label: the labels the page holds (a plane, or a window of a large one), their
// overlay, the patches the server sends, and loading an image, a frame or a window.
import { $, FILL_ALPHA, OVERVIEW_SIDE, PICKED_ALPHA, POLL_MS, S, api, enqueue, message, request }
  from "./state.js";
import { draw, fit, toImage, view } from "./view.js";

// ---- labels and their overlay ------------------------------------------------------------
export function decode(b64) {
  const bin = atob(b64);
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  return new Uint32Array(bytes.buffer);  // little-endian, as every browser's platform is
}

const colours = new Map();
export function colour(label) {
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
export function renderOverlay(y0, x0, y1, x1) {
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

export function bboxOf(label) {
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

export function select(label) {
  const old = S.selected;
  S.selected = label || 0;
  for (const l of [old, S.selected]) {
    const b = bboxOf(l);
    if (b) renderOverlay(...b);
  }
  $("status-selected").textContent = S.selected ? String(S.selected) : "none";
  draw();
}

export function applyStatus(st) {
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

export function applyPatch(p) {
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
export async function fetchPlane(params) {
  const res = await request(`${api("/plane.png")}?${new URLSearchParams(params)}`);
  const head = (k) => parseFloat(res.headers.get(k));
  const img = new Image();
  img.src = URL.createObjectURL(await res.blob());
  await img.decode();
  URL.revokeObjectURL(img.src);  // decoded: the blob can go
  return { img, lo: head("X-Lo"), hi: head("X-Hi"), min: head("X-Min"), max: head("X-Max") };
}

// The channel shown: one (its index), or "all": a composite of the image's first 2 or 3 channels.
export function planeBase() {
  return S.channel === "all"
    ? { channels: S.info.channels.slice(0, 3).map((_, i) => i).join(","), frame: S.frame }
    : { channel: S.channel, frame: S.frame };
}

export function windowParams() {
  return { y0: S.ly0, x0: S.lx0, h: S.lh, w: S.lw };
}

export async function loadPlane(keepContrast) {
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

// The labels of the frame (or of a window: `region`, default the current one).
export async function loadLabels(region) {
  const q = new URLSearchParams({ frame: S.frame, ...(S.windowed ? region || windowParams() : {}) });
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
  return j.messages || [];
}

// Every page of this server edits one copy of the labels. When they change elsewhere (another
// tab, another client), the page reloads them and says so; it also looks every few seconds.
export function resync() {
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
export function followView() {
  if (!S.windowed || !S.labels) return;
  clearTimeout(windowTimer);
  windowTimer = setTimeout(() => {
    const [vy0, vx0] = toImage(0, 0), [vy1, vx1] = toImage(view.width, view.height);
    const top = Math.max(0, vy0), left = Math.max(0, vx0);
    const bottom = Math.min(S.h, vy1), right = Math.min(S.w, vx1);
    if (top >= S.ly0 && left >= S.lx0 && bottom <= S.ly0 + S.lh && right <= S.lx0 + S.lw) return;
    const y0 = clampWindow((vy0 + vy1) / 2, S.h), x0 = clampWindow((vx0 + vx1) / 2, S.w);
    if (Math.abs(y0 - S.ly0) < Math.max(16, S.lh / 8) && Math.abs(x0 - S.lx0) < Math.max(16, S.lw / 8)) return;
    // The window moves only when its labels arrive (patches meanwhile go to the old one).
    const next = { y0, x0, h: S.lh, w: S.lw };
    enqueue(async () => {
      document.body.dataset.window = "loading";
      const img = (await fetchPlane({ ...planeBase(), lo: S.lo, hi: S.hi, ...next })).img;
      await loadLabels(next);
      S.img = img;
      draw();
      document.body.dataset.window = `${S.ly0},${S.lx0}`;
    });
  }, 250);
}

function clampWindow(centre, size) {
  return Math.max(0, Math.min(size - S.winSize, Math.round(centre - S.winSize / 2)));
}

export async function openImage(id) {
  document.body.dataset.ready = "0";
  S.id = id; S.frame = 0; S.channel = 0; S.lo = S.hi = null; S.mergeFirst = 0;
  S.img = S.labels = S.overlay = S.overview = null; S.h = S.w = 0;  // nothing of the last image stays
  S.selected = 0; $("status-selected").textContent = "none";
  S.uncertain = []; S.uncertainAt = -1;
  applyStatus({ version: 0, unsaved: false, objects: 0 });
  $("status-count").textContent = "-"; $("status-version").textContent = "-";
  draw();
  S.info = S.images.find((im) => im.id === id);
  document.title = `${S.info.name} - cellscale label`;
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
    const notes = await loadLabels();  // e.g. a history that had to be moved aside
    fit();
    if (notes.length) message(notes.join(" "), "error");
    else message(`${S.info.name}: ${S.w} x ${S.h}` + (S.windowed ? `; labels are loaded for a ${S.lw} x ` +
                 `${S.lh} window that follows the view (outlined)` : ""), "info");
    document.body.dataset.ready = "1";
  } catch (err) {
    message(err.message, "error");
    document.body.dataset.ready = "error";
  }
}

export async function changeFrame(frame) {
  const n = S.info.frames || 1;
  frame = Math.max(0, Math.min(n - 1, frame | 0));
  if (frame === S.frame) return;
  document.body.dataset.ready = "0";
  S.frame = frame; $("frame").value = String(frame);
  S.uncertain = []; S.uncertainAt = -1;
  await enqueue(async () => { await loadPlane(true); await loadLabels(); });
  document.body.dataset.ready = "1";
}
