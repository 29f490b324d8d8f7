"""Run a Cellpose 3 model trained from scratch on z-stacks with ``do_3D``; runs in the cellpose venv.

Usage::

    python cellpose3_3d_runner.py MODEL_DIR STACKS_DIR OUT_DIR [--threads T]

``MODEL_DIR`` is a model trained by ``cellpose3_runner.py train`` (its
``train_info.json`` names the weights). ``STACKS_DIR`` holds ``NAME.tif``
(``z, y, x``) and ``stacks.json``: ``{NAME: {"anisotropy": a, "diameter": d}}``
with the xy diameter in pixels given to Cellpose (its own resizing), so the
peer is told the true size. Cellpose's 3-D mode runs the 2-D network on the
xy, xz and yz planes of the stack resampled to cubic voxels (``anisotropy``),
averages the flows and follows them in 3-D. Labels go to ``OUT_DIR/NAME.tif``
and times to ``OUT_DIR/result.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import tifffile

sys.path.insert(0, str(Path(__file__).resolve().parent))
from runner_io import write_json, write_labels


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model_dir")
    p.add_argument("stacks_dir")
    p.add_argument("out_dir")
    p.add_argument("--threads", type=int, default=None)
    args = p.parse_args()

    import torch
    from cellpose import models, version

    if args.threads:
        torch.set_num_threads(args.threads)
    info = json.loads((Path(args.model_dir) / "train_info.json").read_text())
    model = models.CellposeModel(gpu=False, pretrained_model=info["weights"], nchan=2)
    stacks = json.loads((Path(args.stacks_dir) / "stacks.json").read_text())
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    per_stack = []
    for name, meta in stacks.items():
        stack = tifffile.imread(Path(args.stacks_dir) / f"{name}.tif").astype(np.float32)
        start = time.perf_counter()
        masks = model.eval(stack, channels=[0, 0], z_axis=0, do_3D=True,
                           anisotropy=float(meta["anisotropy"]), diameter=float(meta["diameter"]))[0]
        seconds = time.perf_counter() - start
        write_labels(out, name, masks)
        per_stack.append({"name": name, "shape": list(stack.shape), "seconds": seconds,
                          "n": int(np.asarray(masks).max()), **meta})
        print(f"{name}: {per_stack[-1]['n']} objects in {seconds:.1f} s", flush=True)
    write_json(out / "result.json", {
        "method": "cellpose3 do_3D", "model": info["weights"], "per_stack": per_stack,
        "torch_threads": torch.get_num_threads(),
        "versions": {"cellpose": version, "torch": torch.__version__}, "train_info": info})


if __name__ == "__main__":
    main()
