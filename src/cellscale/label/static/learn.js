// cellscale label: active learning in the page. The tiles where the model is least sure are
// outlined for correction first; one button fine-tunes the model on the corrected labels in the
// background (cellscale train --from MODEL), and images without saved labels are then proposed
// again by the new model.
import { $, S, api, enqueue, message, request } from "./state.js";
import { followView, loadLabels } from "./labels.js";
import { draw, view } from "./view.js";

const FINETUNE_POLL_MS = 2000;

// Outline the tiles of this frame where the model is least sure (U).
export function showUncertain() {
  return enqueue(async () => {
    message("looking for the tiles where the model is least sure...", "info");
    const tile = Math.max(64, Math.min(256, Math.round(Math.min(S.h, S.w) / 4)));
    const q = new URLSearchParams({ frame: S.frame, n: 8, tile });
    S.uncertain = await (await request(`${api("/uncertain")}?${q}`)).json();
    S.uncertainAt = -1;
    draw();
    message(S.uncertain.length
      ? `${S.uncertain.length} tiles where the model is least sure are outlined (1: the most unsure; ` +
        "N goes from one to the next): correct them first"
      : "no tile to suggest", "info");
  });
}

// Zoom on the next outlined tile (N).
export function nextUncertain() {
  if (!S.uncertain.length) { message("no tiles outlined: press U (or Unsure tiles) first", "error"); return; }
  S.uncertainAt = (S.uncertainAt + 1) % S.uncertain.length;
  const t = S.uncertain[S.uncertainAt];
  S.scale = Math.min(view.width / (t.x1 - t.x0), view.height / (t.y1 - t.y0)) * 0.9;
  S.ox = view.width / 2 - ((t.x0 + t.x1) / 2) * S.scale;
  S.oy = view.height / 2 - ((t.y0 + t.y1) / 2) * S.scale;
  S.fitted = false;
  draw();
  followView();
  const why = t.reason ? `: ${t.reason}` : "";
  message(`tile ${S.uncertainAt + 1} of ${S.uncertain.length} (doubt ${t.score.toFixed(2)})${why}`, "info");
}

// Fine-tune the model on every image's corrected labels, in the background.
export async function startFinetune() {
  const minutes = parseFloat($("finetune-minutes").value) || 3;
  try {
    const job = await (await request("/api/finetune", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ minutes }),
    })).json();
    S.finetuneJob = job.job;
    $("finetune").disabled = true;
    message(`fine-tuning on ${job.images.length} image(s) for up to ${minutes} min (job ${job.job})...`, "info");
    setTimeout(watchFinetune, FINETUNE_POLL_MS);
  } catch (err) {
    message(err.message, "error");
  }
}

async function watchFinetune() {
  const id = S.finetuneJob;
  if (!id) return;
  let st;
  try {
    st = await (await request(`/api/finetune/${encodeURIComponent(id)}`)).json();
  } catch (err) {
    message(err.message, "error"); $("finetune").disabled = false; S.finetuneJob = null; return;
  }
  if (st.status === "running") {
    message(`fine-tuning (job ${id}): ${Math.round(st.elapsed_s || 0)} s`, "info");
    setTimeout(watchFinetune, FINETUNE_POLL_MS);
    return;
  }
  S.finetuneJob = null;
  $("finetune").disabled = false;
  document.body.dataset.finetune = st.status;
  if (st.status !== "done") {
    const tail = (st.log_tail || "").trim().split("\n").slice(-1)[0] || "";
    message(`fine-tuning failed: ${st.error || st.status}${tail ? ` (${tail})` : ""}`, "error");
    return;
  }
  const switched = st.switched || [];
  if (switched.includes(S.id)) {
    S.uncertain = []; S.uncertainAt = -1;
    await enqueue(() => loadLabels());  // proposed again by the fine-tuned model
    draw();
  }
  message(`fine-tuned model ready: ${st.card}; ` + (switched.length
    ? `images without saved labels (${switched.length}) are proposed by it now`
    : "every image has saved labels, which stay as they are"), "info");
}
