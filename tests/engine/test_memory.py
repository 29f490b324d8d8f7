"""Worker memory stays at the chunk's size, not the image's.

The 20,000² case (400 Mpx, ~25 min on 2 cores) is measured by
``benchmarks/scale.py``; here a 3,072² image (9.4 Mpx) runs with 512-pixel
chunks. Segmenting it whole needs about 1.2 GB in the worker (the float32
image, two float32 network maps, the labels, on top of a ~250 MB worker);
chunked, the worker's peak must stay under 700 MB.
"""

from __future__ import annotations

import pytest

from cellscale.data import simulate_nuclei
from cellscale.engine import Pipeline, run_pipeline
from cellscale.io import open_store, write_image


def _peak_rss(client) -> dict[str, int]:
    import resource

    def peak() -> int:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    return client.run(peak)


@pytest.mark.slow
def test_chunked_run_keeps_worker_memory_bounded(client, tmp_path):
    sample = simulate_nuclei(shape=(3072, 3072), seed=9, diameter=14, density=0.35, chunked=True)
    path = write_image(sample.image, tmp_path / "big.ome.zarr")
    pipeline = Pipeline.model_validate({"steps": [{"step": "segment", "model": "nuclei"},
                                                  {"step": "measure"}], "chunk_size": 512})
    report = run_pipeline([path], tmp_path / "res.zarr", pipeline=pipeline, client=client)
    assert report.ok, report.failed
    peaks = _peak_rss(client)
    assert len(peaks) == 2
    assert max(peaks.values()) < 700 * 10**6, peaks
    store = open_store(report.store)
    n = store.table("big").n_obs
    assert n > 10_000 and n == int(store.label_image("big_nuclei").max())
