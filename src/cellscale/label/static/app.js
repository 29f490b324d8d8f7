// cellscale label: the labelling page. Plain JavaScript modules, no build step, nothing from the
// network. The server holds the labels and the undo history; every edit is sent to it and comes
// back as a patch (the labels of the edited box), which the page writes into its copy and redraws.
import { $, S, TOOLS, TOOL_NAMES, enqueue, message, postJSON, request } from "./state.js";
import { applyPatch, applyStatus, changeFrame, followView, loadPlane, openImage, select } from "./labels.js";
import { canvasPoint, draw, fit, inside, labelAt, resize, toImage, toScreen, view } from "./view.js";
import { nextUncertain, showUncertain, startFinetune } from "./learn.js";

// ---- messages and tools ------------------------------------------------------------------

export function setTool(tool) {
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

export function setBrush(r) {
  S.brush = Math.max(1, Math.min(200, r));
  $("brush-size").textContent = String(S.brush);
  draw();
}

export function edit(body, after) {
  return enqueue(async () => {
    const p = await postJSON("/edit", { ...body, frame: S.frame });
    applyPatch(p);
    if (after) after(p);
  });
}

export function undo() {
  return enqueue(async () => {
    const p = await postJSON("/undo", { frame: S.frame });
    if (!applyPatch(p)) message("nothing to undo", "info");
  });
}

export function redo() {
  return enqueue(async () => {
    const p = await postJSON("/redo", { frame: S.frame });
    if (!applyPatch(p)) message("nothing to redo", "info");
  });
}

export function deleteSelected() {
  if (!S.selected) { message("pick an object first (click it with the pick tool, V)", "error"); return; }
  const label = S.selected;
  edit({ op: "delete", label }, () => message(`deleted object ${label}`, "info"));
}

export function save(force) {
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
    S.ox = S.pan[2] + cx - S.pan[0]; S.oy = S.pan[3] + cy - S.pan[1]; S.fitted = false;
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

export function endStroke() {
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
  S.scale = scale; S.fitted = false;
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
  if (key === "u") { showUncertain(); return; }
  if (key === "n") { nextUncertain(); return; }
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
$("uncertain").addEventListener("click", () => showUncertain());
$("finetune").addEventListener("click", () => startFinetune());
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
$("image-select").addEventListener("change", (ev) => { view.focus(); openImage(ev.target.value); });
$("channel").addEventListener("change", (ev) => {
  S.channel = ev.target.value === "all" ? "all" : +ev.target.value;
  view.focus();  // the keys go to the image again, not to the list
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

export async function start() {
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
