"""A corpus of bad and hostile inputs for every command, typed as a user would.

Each case runs one command in-process and checks what a careful user expects:
the documented exit status; for a failure, ONE paragraph on stderr that names
the file concerned and gives advice in CLI words (flags, not Python keywords),
no traceback; every input byte-for-byte and timestamp-for-timestamp unchanged;
and nothing left behind (no output, no half-written ``.partial`` entry).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import tifffile
import zarr
from PIL import Image as PILImage

from cellscale.cli import main
from cellscale.data import save_sample, simulate_movie, simulate_nuclei, simulate_tissue
from cellscale.io import Image, write_image, write_store

#: Python advice that a CLI user cannot follow; never printed by the CLI.
PYTHON_WORDING = ("axes=", "isel(", "read_labels", "overwrite=True", "lazy=True", "name=",
                  "channels=")


def _world(root: Path) -> Path:
    """Every input a case uses, under ``root/in``."""
    inp = root / "in"
    inp.mkdir()
    rng = np.random.default_rng(0)
    nuclei = simulate_nuclei(shape=(64, 64), seed=1, diameter=12, density=0.3)
    pixels = np.asarray(nuclei.image.data)
    tifffile.imwrite(inp / "img.tif", pixels)
    tifffile.imwrite(inp / "labels.tif", np.asarray(nuclei.labels["nuclei"]).astype(np.uint16))
    tifffile.imwrite(inp / "labels_small.tif", np.ones((32, 32), np.uint16))
    tifffile.imwrite(inp / "float.tif", rng.random((64, 64), dtype=np.float32))
    tifffile.imwrite(inp / "stack40.tif", rng.integers(0, 500, (40, 32, 32), dtype=np.uint16))
    (inp / "empty.tif").write_bytes(b"")
    (inp / "notes.txt").write_text("not an image\n")
    (inp / "fake.png").write_text("this is text, not a PNG\n")
    whole = (inp / "img.tif").read_bytes()
    (inp / "truncated.tif").write_bytes(whole[: len(whole) // 2])
    # Colour and grey-as-colour PNGs.
    g = (pixels / max(pixels.max(), 1) * 255).astype(np.uint8)
    PILImage.fromarray(np.stack([g, g, g], -1)).save(inp / "grey_rgb.png")
    PILImage.fromarray(np.stack([g, 255 - g, g // 2], -1)).save(inp / "colour.png")
    # OME-Zarr image, and one with a corrupt chunk.
    write_image(Image.from_array(pixels, "yx"), inp / "img.ome.zarr")
    bad = write_image(Image.from_array(pixels, "yx"), inp / "corrupt.ome.zarr")
    chunk = next(p for p in sorted(bad.rglob("*")) if p.is_file() and p.name != "zarr.json")
    chunk.write_bytes(b"\x00garbage" * 8)
    # A Zarr array declaring 100,000 x 100,000 pixels (nothing written).
    zarr.open_array(str(inp / "huge.zarr"), mode="w", shape=(100_000, 100_000),
                    chunks=(4096, 4096), dtype="uint16", zarr_format=3,
                    dimension_names=["y", "x"])
    # Movies: a plain multi-page TIFF (no axes metadata), one with time metadata,
    # a folder of frames, and label movies.
    movie = simulate_movie(shape=(64, 64), n_frames=5, seed=2)
    frames = np.asarray(movie.image.data)
    tifffile.imwrite(inp / "movie.tif", frames, metadata=None)
    tifffile.imwrite(inp / "movie_t.ome.tif", frames, metadata={"axes": "TYX"})
    (inp / "frames").mkdir()
    for t, frame in enumerate(frames):
        tifffile.imwrite(inp / "frames" / f"f{t:02d}.tif", frame)
    masks = np.asarray(movie.labels["nuclei"]).astype(np.uint16)
    tifffile.imwrite(inp / "masks_short.tif", masks[:3], metadata=None, photometric="minisblack")
    tifffile.imwrite(inp / "masks_small.tif", masks[:, :32, :32], metadata=None)
    write_store(inp / "two_labels.zarr", labels={"a": masks[0], "b": masks[1]})
    # Evaluation/training layouts.
    for seed in (1, 2):
        save_sample(simulate_nuclei(shape=(64, 64), seed=seed, diameter=12), inp / "sims" / f"s{seed}")
    (inp / "sims" / "s1" / "params.json").write_text("")
    (inp / "sims" / "s2" / "params.json").write_text('{"seed": 2, "shape": [6')
    (inp / "pose").mkdir()
    tifffile.imwrite(inp / "pose" / "a.tif", pixels)
    tifffile.imwrite(inp / "pose" / "a_masks.tif", np.asarray(nuclei.labels["nuclei"]).astype(np.uint16))
    for sub in ("images", "masks"):
        (inp / "badshape" / sub).mkdir(parents=True)
    for name in ("a", "b"):
        tifffile.imwrite(inp / "badshape" / "images" / f"{name}.tif", pixels)
        tifffile.imwrite(inp / "badshape" / "masks" / f"{name}.tif", np.ones((40, 40), np.uint16))
    (inp / "nothing").mkdir()
    save_sample(simulate_tissue(shape=(64, 64), seed=3), inp / "tissue")
    (inp / "existing_folder.tif").mkdir()
    (inp / "existing_folder.tif" / "keep.txt").write_text("a user's file\n")
    (root / "out").mkdir()
    return inp


def _snapshot(root: Path) -> dict[str, tuple[int, int, str]]:
    """Every file and folder under ``root``: size, modification time and content hash."""
    found: dict[str, tuple[int, int, str]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames:
            found[str(Path(dirpath, name).relative_to(root)) + "/"] = (0, 0, "")
        for name in filenames:
            p = Path(dirpath, name)
            st = p.stat()
            found[str(p.relative_to(root))] = (st.st_size, st.st_mtime_ns,
                                               hashlib.sha1(p.read_bytes()).hexdigest())
    return found


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    return _world(tmp_path_factory.mktemp("bad-inputs"))


@dataclass
class Case:
    """One command line; ``{in}``/``{out}`` stand for the input and output folders."""

    id: str
    args: tuple[str, ...]
    code: int = 1
    names: str | None = None  #: text the message must contain (usually a file name)
    says: tuple[str, ...] = ()  #: further text the message must contain
    leaves: tuple[str, ...] = field(default_factory=tuple)  #: outputs expected (code 0)


CASES = [
    # --- segment ---
    Case("segment-missing", ("segment", "{in}/nope.tif", "-o", "{out}/l.tif"), names="nope.tif",
         says=("no such file",)),
    Case("segment-empty", ("segment", "{in}/empty.tif", "-o", "{out}/l.tif"), names="empty.tif",
         says=("empty",)),
    Case("segment-wrong-extension", ("segment", "{in}/notes.txt", "-o", "{out}/l.tif"),
         names="notes.txt", says=("unsupported",)),
    Case("segment-png-that-is-text", ("segment", "{in}/fake.png", "-o", "{out}/l.tif"),
         names="fake.png", says=("not a readable PNG",)),
    Case("segment-truncated-tiff", ("segment", "{in}/truncated.tif", "-o", "{out}/l.tif"),
         names="truncated.tif", says=("truncated",)),
    Case("segment-corrupt-zarr-chunk",
         ("segment", "{in}/corrupt.ome.zarr", "-o", "{out}/l.tif", "--model", "classical"),
         names="corrupt.ome.zarr", says=("damaged",)),
    # A network model streams an image larger than --chunk-size (tests/engine/
    # test_segment_core.py); the classical model still reads it whole, so is refused.
    Case("segment-huge-declared", ("segment", "{in}/huge.zarr", "-o", "{out}/l.tif",
                                   "--model", "classical"),
         names="huge.zarr", says=("20.0 GB", "320.0 GB", "cellscale run")),
    Case("segment-output-is-input",
         ("segment", "{in}/img.tif", "-o", "{in}/img.tif", "--overwrite"), names="img.tif",
         says=("is the input", "-o")),
    Case("segment-output-is-input-store",
         ("segment", "{in}/img.ome.zarr", "-o", "{in}/img.ome.zarr", "--overwrite"),
         names="img.ome.zarr", says=("is the input",)),
    Case("segment-output-inside-input-store",
         ("segment", "{in}/img.ome.zarr", "-o", "{in}/img.ome.zarr/labels.tif"),
         names="img.ome.zarr", says=("lies inside the input",)),
    Case("segment-output-existing-folder",
         ("segment", "{in}/img.tif", "-o", "{in}/existing_folder.tif", "--overwrite"),
         names="existing_folder.tif", says=("existing folder",)),
    Case("segment-output-exists", ("segment", "{in}/img.tif", "-o", "{in}/labels.tif"),
         names="labels.tif", says=("already exists", "--overwrite")),
    Case("segment-output-bad-ending", ("segment", "{in}/img.tif", "-o", "{out}/l.png"),
         names="l.png", says=(".tif",)),
    Case("segment-ambiguous-axes", ("segment", "{in}/stack40.tif", "-o", "{out}/l.tif"),
         names="stack40.tif", says=("--axes zyx",)),
    Case("segment-axes-do-not-fit",
         ("segment", "{in}/img.tif", "-o", "{out}/l.tif", "--axes", "zyx"), names="img.tif",
         says=("--axes",)),
    Case("segment-movie", ("segment", "{in}/movie_t.ome.tif", "-o", "{out}/l.tif",
                           "--model", "classical"),
         names="movie_t.ome.tif", says=("cellscale track",)),
    Case("segment-colour-for-one-channel-model",
         ("segment", "{in}/colour.png", "-o", "{out}/l.tif", "--model", "nuclei"),
         names="colour.png", says=("--channels",)),
    Case("segment-wrong-channel-name",
         ("segment", "{in}/tissue/image.ome.tif", "-o", "{out}/l.tif", "--model", "nuclei",
          "--channels", "GFP"), names="image.ome.tif", says=("GFP",)),
    Case("segment-unknown-model-before-reading",
         ("segment", "{in}/huge.zarr", "-o", "{out}/l.tif", "--model", "nope"),
         says=("unknown model 'nope'",)),
    Case("track-unknown-model-before-reading",
         ("track", "{in}/huge.zarr", "-o", "{out}/t", "--model", "nope"),
         says=("unknown model 'nope'",)),
    Case("segment-negative-diameter",
         ("segment", "{in}/img.tif", "-o", "{out}/l.tif", "--diameter", "-3"), says=("--diameter",)),
    Case("segment-zero-tile", ("segment", "{in}/img.tif", "-o", "{out}/l.tif", "--tile-size", "0"),
         says=("--tile-size",)),
    Case("segment-grey-png-saved-as-rgb",
         ("segment", "{in}/grey_rgb.png", "-o", "{out}/l.tif", "--model", "nuclei"), code=0,
         leaves=("l.tif",)),
    # --- evaluate ---
    Case("evaluate-missing", ("evaluate", "classical", "{in}/nope"), names="nope"),
    Case("evaluate-no-pairs", ("evaluate", "classical", "{in}/nothing"), names="nothing",
         says=("NAME_masks.tif",)),
    Case("evaluate-masks-of-another-shape", ("evaluate", "classical", "{in}/badshape"),
         names="masks/a.tif", says=("does not match",)),
    Case("evaluate-empty-and-truncated-params", ("evaluate", "classical", "{in}/sims"), code=0),
    Case("evaluate-cellpose-layout", ("evaluate", "classical", "{in}/pose"), code=0),
    # --- track ---
    Case("track-plain-multipage-tiff", ("track", "{in}/movie.tif", "-o", "{out}/t",
                                        "--model", "classical"), code=0, leaves=("t",)),
    Case("track-2d", ("track", "{in}/img.tif", "-o", "{out}/t"), names="img.tif",
         says=("2-D",)),
    Case("track-missing", ("track", "{in}/nope.tif", "-o", "{out}/t"), names="nope.tif"),
    Case("track-output-is-input-folder",
         ("track", "{in}/frames", "-o", "{in}/frames", "--overwrite"), names="frames",
         says=("is the input",)),
    Case("track-output-inside-input-folder", ("track", "{in}/frames", "-o", "{in}/frames/res"),
         names="frames", says=("lies inside the input",)),
    Case("track-output-contains-input",
         ("track", "{in}/frames/../movie.tif", "-o", "{in}", "--overwrite"), names="movie.tif",
         says=("contains the input",)),
    Case("track-output-is-a-file", ("track", "{in}/movie.tif", "-o", "{in}/notes.txt",
                                    "--overwrite"), names="notes.txt", says=("existing file",)),
    Case("track-labels-other-shape",
         ("track", "{in}/movie.tif", "-o", "{out}/t", "--labels", "{in}/masks_small.tif"),
         names="masks_small.tif", says=("do not match",)),
    Case("track-labels-other-length",
         ("track", "{in}/movie.tif", "-o", "{out}/t", "--labels", "{in}/masks_short.tif"),
         names="masks_short.tif", says=("frame",)),
    Case("track-labels-store-with-two-label-images",
         ("track", "{in}/movie.tif", "-o", "{out}/t", "--labels", "{in}/two_labels.zarr"),
         names="two_labels.zarr", says=("two_labels.zarr/labels/a",)),
    Case("track-float-labels",
         ("track", "{in}/stack40.tif", "-o", "{out}/t", "--labels", "{in}/float.tif"),
         names="float.tif", says=("integers",)),
    Case("track-negative-gap", ("track", "{in}/movie.tif", "-o", "{out}/t", "--max-gap", "-1"),
         says=("--max-gap",)),
    Case("track-corrupt-zarr", ("track", "{in}/corrupt.ome.zarr", "-o", "{out}/t"),
         names="corrupt.ome.zarr"),
    # --- info ---
    Case("info-missing", ("info", "{in}/nope.tif"), names="nope.tif"),
    Case("info-empty", ("info", "{in}/empty.tif"), names="empty.tif", says=("empty",)),
    Case("info-truncated", ("info", "{in}/truncated.tif"), names="truncated.tif",
         says=("truncated",)),
    Case("info-axes-do-not-fit", ("info", "{in}/img.tif", "--axes", "tyx"), names="img.tif",
         says=("--axes",)),
    Case("info-huge-is-not-read", ("info", "{in}/huge.zarr"), code=0),
    # --- simulate ---
    Case("simulate-zero-size", ("simulate", "nuclei", "-o", "{out}/s", "--size", "0", "0"),
         says=("--size",)),
    Case("simulate-negative-size", ("simulate", "nuclei", "-o", "{out}/s", "--size", "64", "-5"),
         says=("--size",)),
    Case("simulate-huge", ("simulate", "nuclei", "-o", "{out}/s", "--size", "100000", "100000"),
         says=("GB", "--allow-large")),
    Case("simulate-one-frame", ("simulate", "movie", "-o", "{out}/s", "--frames", "1"),
         says=("--frames",)),
    Case("simulate-output-is-a-file", ("simulate", "nuclei", "-o", "{in}/notes.txt",
                                       "--overwrite"), names="notes.txt"),
    Case("simulate-negative-markers", ("simulate", "tissue", "-o", "{out}/s", "--markers", "-1"),
         says=("--markers",)),
    # --- train ---
    Case("train-masks-of-another-shape",
         ("train", "--data", "{in}/badshape", "--model-name", "m", "--out", "{out}/m",
          "--epochs", "1"), names="badshape/masks", says=("shape",)),
    Case("train-out-inside-data",
         ("train", "--data", "{in}/pose", "--model-name", "m", "--out", "{in}/pose/m"),
         names="pose", says=("lies inside the input", "--out")),
    Case("train-missing-data", ("train", "--data", "{in}/nope", "--model-name", "m",
                                "--out", "{out}/m"), names="nope"),
    Case("train-bad-model-name", ("train", "--data", "{in}/pose", "--model-name", "../m",
                                  "--out", "{out}/m"), says=("--model-name",)),
    # --- run ---
    Case("run-output-is-input", ("run", "{in}/img.tif", "-o", "{in}/img.tif"), names="img.tif",
         says=("is the input",)),
    Case("run-output-inside-input", ("run", "{in}/frames", "-o", "{in}/frames/results.zarr"),
         names="frames", says=("lies inside the input",)),
    # --- demo ---
    Case("demo-output-is-a-file", ("demo", "-o", "{in}/notes.txt", "--overwrite"),
         names="notes.txt", says=("existing file",)),
]


def _fill(args: tuple[str, ...], root: Path) -> list[str]:
    return [a.replace("{in}", str(root / "in")).replace("{out}", str(root / "out")) for a in args]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, world: Path, capsys) -> None:
    root = world.parent
    before = _snapshot(root)
    with pytest.raises(SystemExit) as stop:
        main(_fill(case.args, root))
    code = int(stop.value.code or 0)
    err = capsys.readouterr().err
    after = _snapshot(root)
    changed = [k for k in before if k.startswith("in") and after.get(k) != before[k]]
    assert not changed, f"inputs modified: {changed}"
    assert not [k for k in after if ".partial" in k or ".old-" in k], "half-written output left"
    assert "Traceback" not in err, err
    assert code == case.code, err
    new = sorted({k.split("/")[1] for k in set(after) - set(before) if k.startswith("out/")})
    extra_in = [k for k in set(after) - set(before) if k.startswith("in")]
    assert not extra_in, f"written into the inputs: {extra_in}"
    if case.code == 0:
        assert set(case.leaves) <= set(new), (new, err)
        for name in new:  # leave the outputs folder empty for the next case
            target = root / "out" / name
            if target.is_dir():
                import shutil

                shutil.rmtree(target)
            else:
                target.unlink()
        return
    assert not new, f"output left after an error: {new}"
    lines = [line for line in err.splitlines() if line.strip()]
    message = lines[0] if lines else ""
    if code == 1:
        assert message.startswith("cellscale: error: "), err
        assert len(lines) == 2 and lines[1].startswith("Run with --debug"), err
    if case.names:
        assert case.names in message, message
    for text in case.says:
        assert text in message, message
    for wording in PYTHON_WORDING:
        assert wording not in message, f"Python advice in a CLI message: {message}"


def test_debug_after_the_subcommand_shows_the_traceback(world: Path) -> None:
    from cellscale.errors import InputNotFoundError

    with pytest.raises(InputNotFoundError):
        main(["segment", str(world / "nope.tif"), "-o", str(world.parent / "out/x.tif"), "--debug"])
    with pytest.raises(InputNotFoundError):
        main(["--debug", "info", str(world / "nope.tif")])


def test_current_and_home_folders_are_never_replaced(tmp_path: Path, monkeypatch, capsys) -> None:
    (tmp_path / "keep.txt").write_text("mine")
    monkeypatch.chdir(tmp_path)
    for args in (["simulate", "nuclei", "-o", ".", "--overwrite"],
                 ["demo", "-o", str(tmp_path), "--overwrite"],
                 ["simulate", "nuclei", "-o", str(tmp_path.parent), "--overwrite"]):
        with pytest.raises(SystemExit) as stop:
            main(args)
        err = capsys.readouterr().err
        assert stop.value.code == 1 and "is never used as an output folder" in err, err
    assert (tmp_path / "keep.txt").read_text() == "mine"


def test_track_reads_a_plain_multipage_tiff_as_a_movie(world: Path, tmp_path: Path, cli) -> None:
    """The headline of the axes fix: 5 pages without metadata are 5 frames, not 5 channels."""
    code, out, err = cli("track", str(world / "movie.tif"), "-o", str(tmp_path / "t"),
                         "--model", "classical")
    assert code == 0, err
    assert "over 5 frames" in out
    assert len(list((tmp_path / "t").glob("mask*.tif"))) == 5
    config = json.loads((tmp_path / "t" / "track_config.json").read_text())
    assert config["movie"].endswith("movie.tif")
    # --axes still wins: read as a z-stack it is refused as not a movie, with advice.
    code, _, err = cli("track", str(world / "movie.tif"), "-o", str(tmp_path / "u"),
                       "--axes", "zyx")
    assert code == 1 and "--axes tyx" in err and not (tmp_path / "u").exists()
