"""Cell Tracking Challenge files: writing, reading, validation, gap splitting."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from cellscale.data._ctc import (
    check_lineage,
    lineage_from_labels,
    read_ctc,
    split_track_gaps,
    write_ctc_ground_truth,
    write_ctc_result,
)
from cellscale.errors import FileFormatError, InvalidImageError, OutputExistsError


def _toy() -> tuple[np.ndarray, pd.DataFrame]:
    """Cell 1 divides into 2 and 3 after frame 1; cell 4 enters at frame 2."""
    labels = np.zeros((4, 16, 16), np.uint32)
    labels[0:2, 2:6, 2:6] = 1
    labels[2:4, 2:5, 2:5] = 2
    labels[2:4, 6:9, 2:5] = 3
    labels[2:4, 10:14, 10:14] = 4
    lineage = pd.DataFrame({"label": [1, 2, 3, 4], "begin": [0, 2, 2, 2], "end": [1, 3, 3, 3],
                            "parent": [0, 1, 1, 0]})
    return labels, lineage


def test_ground_truth_round_trip(tmp_path):
    labels, lineage = _toy()
    write_ctc_ground_truth(labels, lineage, tmp_path / "01_GT")
    names = sorted(p.name for p in (tmp_path / "01_GT" / "TRA").iterdir())
    assert names == ["man_track.txt", "man_track000.tif", "man_track001.tif", "man_track002.tif",
                     "man_track003.tif"]
    assert (tmp_path / "01_GT" / "SEG" / "man_seg003.tif").is_file()
    text = (tmp_path / "01_GT" / "TRA" / "man_track.txt").read_text()
    assert text.splitlines() == ["1 0 1 0", "2 2 3 1", "3 2 3 1", "4 2 3 0"]
    got, got_lineage = read_ctc(tmp_path / "01_GT")
    np.testing.assert_array_equal(got, labels)
    pd.testing.assert_frame_equal(got_lineage, lineage)


def test_result_round_trip_and_frame_digits(tmp_path):
    labels = np.zeros((1000, 4, 4), np.uint16)
    labels[:, 1, 1] = 7
    lineage = pd.DataFrame({"label": [7], "begin": [0], "end": [999], "parent": [0]})
    write_ctc_result(labels, lineage, tmp_path / "01_RES")
    assert (tmp_path / "01_RES" / "mask0999.tif").is_file()
    assert (tmp_path / "01_RES" / "res_track.txt").read_text() == "7 0 999 0\n"
    got, got_lineage = read_ctc(tmp_path / "01_RES")
    np.testing.assert_array_equal(got, labels)
    assert got.dtype == np.uint32 and got_lineage["end"].tolist() == [999]


def test_write_refuses_inconsistent_input(tmp_path):
    labels, lineage = _toy()
    bad = lineage.copy()
    bad.loc[bad.label == 2, "begin"] = 1  # parent 1 still alive at frame 1
    with pytest.raises(InvalidImageError, match="track 2 .* label absent from frame"):
        write_ctc_result(labels, bad, tmp_path / "a")
    with pytest.raises(InvalidImageError, match="not in the track table"):
        write_ctc_result(labels, lineage[lineage.label != 4], tmp_path / "b")
    bad = lineage.copy()
    bad.loc[bad.label == 4, "parent"] = 9
    with pytest.raises(InvalidImageError, match="parent 9 is not a track"):
        write_ctc_ground_truth(labels, bad, tmp_path / "c")
    with pytest.raises(InvalidImageError, match="uint16"):
        write_ctc_result(labels.astype(np.uint32) * 70000, lineage, tmp_path / "d")
    assert not any(tmp_path.iterdir())  # nothing half-written
    write_ctc_result(labels, lineage, tmp_path / "e")
    with pytest.raises(OutputExistsError):
        write_ctc_result(labels, lineage, tmp_path / "e")


def test_read_names_the_bad_file(tmp_path):
    labels, lineage = _toy()
    folder = write_ctc_result(labels, lineage, tmp_path / "01_RES")
    (folder / "res_track.txt").write_text("1 0 1 0\n2 2 3 1\n3 1 3 1\n4 2 3 0\n")
    with pytest.raises(FileFormatError, match=r"res_track\.txt: track 3"):
        read_ctc(folder)
    (folder / "res_track.txt").write_text("1 0 x 0\n")
    with pytest.raises(FileFormatError, match="line 1"):
        read_ctc(folder)
    (folder / "mask001.tif").unlink()
    (folder / "res_track.txt").write_text("1 0 1 0\n")
    with pytest.raises(FileFormatError, match=r"missing for frame\(s\) \[1\]"):
        read_ctc(folder)
    with pytest.raises(FileFormatError, match="not a CTC folder"):
        read_ctc(tmp_path)


def test_gaps_are_split_into_linked_tracks():
    labels = np.zeros((6, 8, 8), np.uint16)
    labels[[0, 1, 3, 4, 5], 2:4, 2:4] = 5  # absent in frame 2
    labels[5, 5:7, 5:7] = 6  # appears at the end, child of 5 in the simulation
    lineage = pd.DataFrame({"label": [5, 6], "begin": [0, 5], "end": [5, 5], "parent": [0, 0]})
    with pytest.raises(InvalidImageError, match="absent from frame"):
        check_lineage(labels, lineage)
    check_lineage(labels, lineage, allow_gaps=True)
    labels[5, 2:4, 2:4] = 0  # 5 now ends at frame 4, before its child
    lineage = pd.DataFrame({"label": [5, 6], "begin": [0, 5], "end": [4, 5], "parent": [0, 5]})
    new, new_lineage = split_track_gaps(labels, lineage)
    check_lineage(new, new_lineage)
    assert new_lineage.values.tolist() == [[5, 0, 1, 0], [6, 5, 5, 7], [7, 3, 4, 5]]
    assert set(np.unique(new[3])) == {0, 7}
    _, far = split_track_gaps(labels, lineage, max_gap=0)
    assert far.values.tolist() == [[5, 0, 1, 0], [6, 5, 5, 7], [7, 3, 4, 0]]


def test_lineage_from_labels():
    labels, lineage = _toy()
    got = lineage_from_labels(labels, {2: 1, 3: 1})
    pd.testing.assert_frame_equal(got, lineage)


def test_py_ctcmetrics_scores_ground_truth_against_itself(tmp_path):
    ctc_metrics = pytest.importorskip("ctc_metrics")
    from cellscale.data import _movie

    sample = _movie.simulate_movie(shape=(96, 96), n_frames=12, seed=5, division_rate=0.05,
                                   dropout_rate=0.02)
    labels, lineage = sample.labels["nuclei"], sample.lineage
    assert (lineage.parent > 0).any()
    write_ctc_ground_truth(labels, lineage, tmp_path / "01_GT")
    write_ctc_result(labels, lineage, tmp_path / "01_RES")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # py-ctcmetrics warns when a result is invalid
        scores = ctc_metrics.evaluate_sequence(str(tmp_path / "01_RES"), str(tmp_path / "01_GT"),
                                               metrics=["TRA", "DET", "SEG"], threads=1)
    assert scores["TRA"] == 1.0 and scores["DET"] == 1.0 and scores["SEG"] == 1.0
