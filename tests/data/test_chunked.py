"""Large images: lazy chunked rendering agrees with in-memory rendering."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from cellscale.data import simulate_nuclei, simulate_tissue


def test_importing_the_simulator_does_not_import_dask():
    code = "import sys, cellscale.data; print('dask' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_chunked_nuclei_labels_equal_in_memory_labels():
    kw = dict(
        shape=(300, 420), seed=11, diameter=(10, 30), density=0.4, defocus_fraction=0.3, haze=0.1
    )
    lazy = simulate_nuclei(chunked=True, chunk_size=256, **kw)
    mem = simulate_nuclei(chunked=False, **kw)
    assert lazy.image.is_lazy and type(lazy.labels["nuclei"]).__module__.startswith("dask")
    assert lazy.image.data.chunksize == (256, 256)
    np.testing.assert_array_equal(lazy.labels["nuclei"].compute(), mem.labels["nuclei"])
    assert lazy.cells.equals(mem.cells)
    a, b = lazy.image.data.compute().astype(float), mem.image.data.astype(float)
    assert a.dtype == b.dtype and a.shape == b.shape
    # Same clean image, independent noise: the difference is noise only.
    assert np.corrcoef(a.ravel(), b.ravel())[0, 1] > 0.9
    assert abs(a.mean() - b.mean()) < 0.02 * b.mean()


def test_chunked_tissue_labels_equal_in_memory_labels():
    kw = dict(shape=(280, 300), seed=5, n_markers=2, snr=80)
    lazy = simulate_tissue(chunked=True, chunk_size=256, **kw)
    mem = simulate_tissue(chunked=False, **kw)
    assert lazy.image.data.shape == (4, 280, 300) and lazy.image.data.chunksize == (4, 256, 256)
    for name in ("cells", "nuclei"):
        np.testing.assert_array_equal(lazy.labels[name].compute(), mem.labels[name])
    a, b = lazy.image.data.compute().astype(float), mem.image.data.astype(float)
    for c in range(4):
        assert np.corrcoef(a[c].ravel(), b[c].ravel())[0, 1] > 0.7


@pytest.mark.slow
def test_huge_image_is_lazy_and_cheap_to_set_up():
    s = simulate_nuclei(shape=(20_000, 20_000), seed=1, diameter=30, density=0.05)
    assert s.image.is_lazy and s.image.shape == (20_000, 20_000)
    assert s.params["lazy"] is True
    block = s.image.data.blocks[3, 4].compute()
    lab = s.labels["nuclei"].blocks[3, 4].compute()
    assert block.shape == (2048, 2048) and lab.dtype == np.uint32 and lab.max() > 0
    # Labels in the block belong to cells of the table whose centres are near the block.
    ids = np.unique(lab)[1:]
    rows = s.cells.set_index("label").loc[ids]
    assert rows["y"].between(3 * 2048 - 60, 4 * 2048 + 60).all()
