// cellscale label: the canvas: zoom and pan, drawing, and image <-> screen coordinates.
import { $, S } from "./state.js";

// ---- drawing -----------------------------------------------------------------------------
export const view = $("view");
const ctx = view.getContext("2d");

export function resize() {
  const r = view.getBoundingClientRect();
  view.width = Math.max(1, Math.round(r.width)); view.height = Math.max(1, Math.round(r.height));
  if (S.fitted) fit();  // still as fitted (not zoomed or panned since): fit the new size
  else draw();
}

export function fit() {
  if (!S.w) return;
  S.scale = Math.min(view.width / S.w, view.height / S.h) * 0.98;
  S.ox = (view.width - S.w * S.scale) / 2; S.oy = (view.height - S.h * S.scale) / 2;
  S.fitted = true;
  draw();
}

export function draw() {
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
  // The tiles where the model is least sure (active learning), numbered from the most unsure.
  S.uncertain.forEach((t, i) => {
    ctx.strokeStyle = i === S.uncertainAt ? "#ffb000" : "rgba(255,176,0,0.7)";
    ctx.lineWidth = (i === S.uncertainAt ? 3 : 1.5) / S.scale;
    ctx.strokeRect(t.x0, t.y0, t.x1 - t.x0, t.y1 - t.y0);
    ctx.fillStyle = "#ffb000"; ctx.font = `${14 / S.scale}px sans-serif`;
    ctx.fillText(String(i + 1), t.x0 + 3 / S.scale, t.y0 + 15 / S.scale);
  });
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
export function toImage(cx, cy) { return [(cy - S.oy) / S.scale - 0.5, (cx - S.ox) / S.scale - 0.5]; }
export function toScreen(y, x) {
  const r = view.getBoundingClientRect();
  return [r.left + S.ox + (x + 0.5) * S.scale, r.top + S.oy + (y + 0.5) * S.scale];
}
export function labelAt(y, x) {
  const r = Math.round(y) - S.ly0, c = Math.round(x) - S.lx0;
  if (!S.labels || r < 0 || c < 0 || r >= S.lh || c >= S.lw) return 0;
  return S.labels[r * S.lw + c];
}
// Inside the part of the plane whose labels the page holds (the whole plane unless it is large).
export function inside(y, x) {
  return y > S.ly0 - 0.5 && x > S.lx0 - 0.5 && y < S.ly0 + S.lh - 0.5 && x < S.lx0 + S.lw - 0.5;
}


// The pointer in canvas pixels (the canvas's pixels are its CSS pixels: see resize).
export function canvasPoint(ev) {
  const r = view.getBoundingClientRect();
  return [ev.clientX - r.left, ev.clientY - r.top];
}
