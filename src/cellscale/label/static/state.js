// cellscale label: the page's state (S) and its talk with the server. The page holds one copy of
// the labels (or of a window of them); every change is made by the server and sent back as a patch.

export const $ = (id) => document.getElementById(id);
export const TOOLS = { v: "select", b: "paint", e: "erase", f: "fill", m: "merge", s: "split", a: "add" };
export const TOOL_NAMES = { select: "pick", paint: "paint", erase: "erase", fill: "fill",
                            merge: "merge", split: "split", add: "add cell" };
export const FILL_ALPHA = 90, PICKED_ALPHA = 150;
// Planes larger than WINDOW pixels along y or x are labelled through a window of that side
// (?window=N overrides it), over an overview subsampled to about OVERVIEW_SIDE pixels.
export const WINDOW = 3072, OVERVIEW_SIDE = 2048;
export const POLL_MS = 2000;  // how often an idle page checks for changes made elsewhere

export const S = {
  images: [], id: null, info: null, frame: 0, channel: 0, lo: null, hi: null,
  labels: null, h: 0, w: 0, ly0: 0, lx0: 0, lh: 0, lw: 0, windowed: false, overview: null,
  winSize: parseInt(new URLSearchParams(location.search).get("window"), 10) || WINDOW,
  uncertain: [], uncertainAt: -1, finetuneJob: null,
  version: 0, seq: 0, unsaved: false, objects: 0, maxLabel: 0,
  selected: 0, tool: "select", brush: 4, showLabels: true,
  scale: 1, ox: 0, oy: 0, fitted: false, img: null, overlay: null, overlayCtx: null, overlayData: null,
  stroke: null, mergeFirst: 0, pan: null, space: false, mouse: null,
  queue: Promise.resolve(), busy: 0, pending: 0,
};

// ---- talking to the server ---------------------------------------------------------------
export function api(path) { return `/api/images/${S.id}${path}`; }

// body[data-busy]: requests in flight plus queued work not finished (the tests wait for 0).
export function showBusy() { document.body.dataset.busy = String(S.busy + S.pending); }

export async function request(url, options = {}) {
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

export async function postJSON(path, body) {
  const res = await request(api(path), { method: "POST", headers: { "Content-Type": "application/json" },
                                          body: JSON.stringify(body) });
  return res.json();
}

// Requests that change the labels run one after another, in the order the user made them.
export function enqueue(work) {
  S.pending += 1; showBusy();
  S.queue = S.queue.then(work).catch((err) => message(err.message, "error"))
    .finally(() => { S.pending -= 1; showBusy(); });
  return S.queue;
}


export function message(text, kind) {
  const el = $("status-message");
  el.textContent = text || ""; el.className = kind || "";
}
