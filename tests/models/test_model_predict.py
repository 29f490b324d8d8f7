"""Model.predict: values, shapes and the checks on the batch."""

from __future__ import annotations

import numpy as np
import pytest

from cellscale.errors import FileFormatError, InvalidImageError
from cellscale.models import load_model


@pytest.fixture
def tiny(tmp_path, make_model):
    return make_model(tmp_path)


def test_predict_matches_numpy(tiny):
    model = load_model(tiny.card, threads=1)
    batch = np.random.default_rng(1).normal(size=(3, 2, 16, 24)).astype(np.float32)
    out = model.predict(batch)
    assert out.dtype == np.float32 and out.shape == (3, 2, 16, 24)
    np.testing.assert_allclose(out, tiny.expected(batch), rtol=1e-5, atol=1e-6)
    # float64 is accepted and converted; an empty batch gives an empty result
    np.testing.assert_allclose(model.predict(batch.astype(np.float64)), out, atol=1e-7)
    assert model.predict(np.zeros((0, 2, 8, 8), np.float32)).shape == (0, 2, 8, 8)


@pytest.mark.parametrize(
    ("shape", "dtype", "match"),
    [
        (
            (1, 3, 16, 16),
            np.float32,
            r"\(N, 2, H, W\) with channels \['DNA', 'membrane'\], got 3 channels",
        ),
        ((1, 1, 16, 16), np.float32, "got 1 channels"),
        (
            (1, 2, 20, 16),
            np.float32,
            r"multiples of 8 .*got H=20, W=16; pad the image, e.g. to 24x16",
        ),
        ((1, 2, 16, 0), np.float32, "positive multiples of 8"),
        ((2, 16, 16), np.float32, r"got array of shape \(2, 16, 16\)"),
        ((1, 2, 16, 16), np.uint16, "got dtype uint16; normalise the image first"),
    ],
)
def test_bad_batches_are_refused(tiny, shape, dtype, match):
    model = load_model(tiny.card)
    with pytest.raises(InvalidImageError, match=match):
        model.predict(np.zeros(shape, dtype=dtype))


def test_nan_is_refused(tiny):
    batch = np.zeros((1, 2, 8, 8), np.float32)
    batch[0, 1, 3, 3] = np.nan
    with pytest.raises(InvalidImageError, match="NaN"):
        load_model(tiny.card).predict(batch)


def test_output_at_other_resolution_is_the_wrong_kind(tmp_path, make_model):
    halving = make_model(tmp_path, halve=True)
    model = load_model(halving.card)  # shapes are dynamic: only a prediction can tell
    with pytest.raises(
        FileFormatError, match=r"wrong kind: for input \(1, 2, 16, 16\) it returned \(1, 2, 8, 8\)"
    ):
        model.predict(np.zeros((1, 2, 16, 16), np.float32))


def test_network_with_fixed_size_says_so(tmp_path, make_model):
    fixed = make_model(tmp_path, hw=16)
    model = load_model(fixed.card)
    assert model.predict(np.zeros((1, 2, 16, 16), np.float32)).shape == (1, 2, 16, 16)
    with pytest.raises(InvalidImageError, match=r"tiny\.onnx: this network only takes H=16"):
        model.predict(np.zeros((1, 2, 24, 16), np.float32))


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_predict_many_runs_concurrently_and_keeps_order(tiny, threads):
    model = load_model(tiny.card, threads=threads)
    assert model.concurrency == min(threads, 4)
    rng = np.random.default_rng(2)
    batches = [rng.normal(size=(1 + k % 2, 2, 16, 8 * (1 + k % 3))).astype(np.float32)
               for k in range(9)]
    taken = []

    def lazily():  # a generator of batches, as predict_tiled passes
        for batch in batches:
            taken.append(len(taken))
            yield batch

    outs = list(model.predict_many(lazily()))
    assert len(outs) == len(batches) == len(taken)
    for batch, out in zip(batches, outs):
        np.testing.assert_allclose(out, tiny.expected(batch), rtol=1e-5, atol=1e-6)
    with pytest.raises(InvalidImageError, match="got 1 channels"):
        list(model.predict_many([np.zeros((1, 1, 8, 8), np.float32)]))
