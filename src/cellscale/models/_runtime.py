"""Run a model's network with ONNX Runtime, after checking it is the network its card describes.

``onnxruntime`` is imported inside the functions that need it, so that
``import cellscale.models`` stays fast.
"""

from __future__ import annotations

import functools
import os
import threading
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from cellscale.errors import FileFormatError, InvalidArgumentError, InvalidImageError
from cellscale.models._card import ModelCard, sha256_of

if TYPE_CHECKING:
    import onnxruntime

__all__ = ["MAX_CONCURRENT_RUNS", "Model", "default_providers", "open_model"]

#: Most network runs :meth:`Model.predict_many` keeps going at once on a CPU.
MAX_CONCURRENT_RUNS = 4


def _cpu_count() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0)) or 1
    return os.cpu_count() or 1  # pragma: no cover - macOS, Windows


def default_providers() -> list[str]:
    """Execution providers used when none are asked for: CUDA first when present, then CPU."""
    import onnxruntime as ort

    available = ort.get_available_providers()
    if "CUDAExecutionProvider" in available:
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


def check_providers(providers: str | Sequence[str] | None) -> tuple[str, ...]:
    """Validate the ``providers`` option against what this onnxruntime build offers."""
    import onnxruntime as ort

    if providers is None:
        return tuple(default_providers())
    wanted = (providers,) if isinstance(providers, str) else tuple(providers)
    available = ort.get_available_providers()
    unknown = [p for p in wanted if p not in available]
    if not wanted or unknown:
        raise InvalidArgumentError(
            f"providers {list(wanted)!r}: {'none given' if not wanted else f'{unknown} not available'}"
            f"; this onnxruntime offers {available}"
        )
    return wanted


def check_threads(threads: int | None) -> int | None:
    """Validate the ``threads`` option (``None`` keeps onnxruntime's default)."""
    if threads is None:
        return None
    if isinstance(threads, bool) or not isinstance(threads, int | np.integer) or threads < 1:
        raise InvalidArgumentError(f"threads must be a positive integer or None, got {threads!r}")
    return int(threads)


def _ort_errors() -> tuple[type[BaseException], ...]:
    from onnxruntime.capi import onnxruntime_pybind11_state as state

    names = (
        "Fail",
        "InvalidArgument",
        "InvalidGraph",
        "InvalidProtobuf",
        "NoModel",
        "NotImplemented",
        "RuntimeException",
        "EPFail",
    )
    return tuple(getattr(state, n) for n in names if hasattr(state, n))


def _short(exc: BaseException, limit: int = 300) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _session(
    path: Path, providers: tuple[str, ...], threads: int | None
) -> onnxruntime.InferenceSession:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads is not None:
        options.intra_op_num_threads = threads
    try:
        return ort.InferenceSession(str(path), sess_options=options, providers=list(providers))
    except _ort_errors() as exc:
        raise FileFormatError(
            f"{path}: not a valid ONNX network that onnxruntime {ort.__version__} can run "
            f"(the file may be truncated or not ONNX at all): {_short(exc)}"
        ) from exc


def _check_kind(session: onnxruntime.InferenceSession, card: ModelCard, path: Path) -> None:
    """Raise FileFormatError when the network's inputs/outputs cannot be the card's."""
    n_in, n_out = len(card.inputs.channels), len(card.outputs)
    expect = f"the card expects one float input (N, {n_in}, H, W) and one float output (N, {n_out}, H, W)"
    inputs, outputs = session.get_inputs(), session.get_outputs()

    def wrong(problem: str) -> FileFormatError:
        return FileFormatError(f"{path}: model of the wrong kind: {problem}; {expect}")

    if len(inputs) != 1 or len(outputs) != 1:
        raise wrong(f"network has {len(inputs)} input(s) and {len(outputs)} output(s)")
    for role, node, channels in (("input", inputs[0], n_in), ("output", outputs[0], n_out)):
        if node.type != "tensor(float)":
            raise wrong(f"{role} {node.name!r} has type {node.type}")
        shape = node.shape
        if shape is None or len(shape) == 0:
            continue  # rank unknown: checked on the first prediction
        if len(shape) != 4:
            raise wrong(f"{role} {node.name!r} has rank {len(shape)} (shape {list(shape)})")
        if isinstance(shape[1], int) and shape[1] != channels:
            raise wrong(f"{role} {node.name!r} has {shape[1]} channels (shape {list(shape)})")


class Model:
    """A verified network and its card, ready to predict.

    Create with :func:`cellscale.models.load_model`; the constructor is not public.

    Attributes
    ----------
    card : ModelCard
        What the network expects and returns.
    path : pathlib.Path
        The network file (``.onnx``) that was checked against ``card.sha256``.
    source : str
        What the model was loaded from: a shipped name, a card path or a URL.
    """

    def __init__(self, card: ModelCard, path: Path, session: Any, *, source: str,
                 threads: int | None = None) -> None:
        self.card = card
        self.path = path
        self.source = source
        self._session = session
        self._threads = threads
        self._single: Any = None  # single-threaded session for predict_many, made when needed
        self._lock = threading.Lock()
        node = session.get_inputs()[0]
        self._input_name: str = node.name
        self._input_shape: list[Any] = list(node.shape or [])
        self._output_name: str = session.get_outputs()[0].name

    @property
    def providers(self) -> list[str]:
        """Execution providers the session really uses, in priority order."""
        return list(self._session.get_providers())

    def __repr__(self) -> str:
        return (
            f"Model(name={self.card.name!r}, version={self.card.version!r}, "
            f"channels={self.card.inputs.channels}, outputs={self.card.outputs}, "
            f"path={str(self.path)!r}, providers={self.providers})"
        )

    def _check_batch(self, batch: Any) -> np.ndarray:
        channels = self.card.inputs.channels
        multiple = self.card.inputs.size_multiple
        expected = (
            f"expected float32 batch of shape (N, {len(channels)}, H, W) with channels {channels}"
        )
        arr = np.asarray(batch)
        if arr.ndim != 4:
            raise InvalidImageError(f"{expected}, got array of shape {arr.shape}")
        if not np.issubdtype(arr.dtype, np.floating):
            raise InvalidImageError(
                f"{expected}, got dtype {arr.dtype}; normalise the image first "
                f"({self.card.inputs.normalisation.method} {self.card.inputs.normalisation.low}"
                f"-{self.card.inputs.normalisation.high})"
            )
        _, c, h, w = arr.shape
        if c != len(channels):
            raise InvalidImageError(f"{expected}, got {c} channels (shape {arr.shape})")
        if h < 1 or w < 1 or h % multiple or w % multiple:
            raise InvalidImageError(
                f"{expected}: H and W must be positive multiples of {multiple} "
                f"(card inputs.size_multiple), got H={h}, W={w}; pad the image, e.g. to "
                f"{max(1, -(-h // multiple)) * multiple}x{max(1, -(-w // multiple)) * multiple}"
            )
        static = dict(enumerate(self._input_shape))
        for axis, label in ((0, "N"), (2, "H"), (3, "W")):
            size = static.get(axis)
            if isinstance(size, int) and arr.shape[axis] != size:
                raise InvalidImageError(
                    f"{self.path}: this network only takes {label}={size}, "
                    f"got array of shape {arr.shape}"
                )
        arr = np.ascontiguousarray(arr, dtype=np.float32)
        if not np.isfinite(arr).all():
            raise InvalidImageError(f"{expected}: the batch contains NaN or infinite values")
        return arr

    @property
    def concurrency(self) -> int:
        """Network runs :meth:`predict_many` keeps going at once (1 on a GPU).

        On a CPU, several single-threaded runs on different batches use the
        cores better than one multi-threaded run: some operators (layout
        transposes, depth-to-space, pooling) run on one thread only. On a
        2048² image (9 tiles, 2 cores) the shipped ``nuclei`` network took a
        median 19 % less time this way than with one 2-thread run per tile
        (6 interleaved pairs; in session 3, before the decoder lost its
        resizes, 22-30 %).
        """
        if any(p != "CPUExecutionProvider" for p in self.providers):
            return 1
        return max(1, min(self._threads or _cpu_count(), MAX_CONCURRENT_RUNS))

    def predict_many(self, batches: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        """:meth:`predict` of each batch, :attr:`concurrency` at a time; results in order.

        Batches are taken from ``batches`` only as runs finish (at most twice
        :attr:`concurrency` are held), so a generator of tiles is not
        materialised all at once.
        """
        runs = self.concurrency
        if runs == 1:
            yield from (self.predict(b) for b in batches)
            return
        from concurrent.futures import ThreadPoolExecutor

        session = self._concurrent_session(runs)
        with ThreadPoolExecutor(runs, thread_name_prefix="cellscale-net") as pool:
            pending: deque[Any] = deque()
            for batch in batches:
                pending.append(pool.submit(self._predict, batch, session))
                if len(pending) >= 2 * runs:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()

    def _concurrent_session(self, runs: int) -> Any:
        with self._lock:
            if self._single is None:
                threads = max(1, (self._threads or _cpu_count()) // runs)
                self._single = _session(self.path, tuple(self.providers), threads)
            return self._single

    def predict(self, batch: np.ndarray) -> np.ndarray:
        """Run the network on a batch of normalised images.

        Parameters
        ----------
        batch : ndarray of float, shape (N, C, H, W)
            C channels in the order of ``card.inputs.channels``, each normalised as
            ``card.inputs.normalisation`` says; H and W multiples of
            ``card.inputs.size_multiple``. Other float dtypes are converted to float32.

        Returns
        -------
        ndarray of float32, shape (N, K, H, W)
            The K maps named in ``card.outputs``, in that order.

        Raises
        ------
        InvalidImageError
            When the batch has the wrong rank, dtype, channel count or size.
        FileFormatError
            When the network returns something that is not ``(N, K, H, W)``.
        """
        return self._predict(batch, self._session)

    def _predict(self, batch: np.ndarray, session: Any) -> np.ndarray:
        arr = self._check_batch(batch)
        n, _, h, w = arr.shape
        k = len(self.card.outputs)
        if n == 0:
            return np.zeros((0, k, h, w), dtype=np.float32)
        try:
            (out,) = session.run([self._output_name], {self._input_name: arr})
        except _ort_errors() as exc:
            raise InvalidImageError(
                f"{self.path}: the network failed on a batch of shape {arr.shape}: {_short(exc)}"
            ) from exc
        out = np.asarray(out)
        if out.shape != (n, k, h, w):
            raise FileFormatError(
                f"{self.path}: model of the wrong kind: for input {arr.shape} it returned "
                f"{out.shape}, the card promises {(n, k, h, w)} (outputs {self.card.outputs})"
            )
        return out.astype(np.float32, copy=False)


def verify_checksum(card: ModelCard, path: Path, *, card_source: str) -> None:
    """Raise FileFormatError when ``path``'s sha256 is not ``card.sha256``."""
    actual = sha256_of(path)
    if actual != card.sha256:
        raise FileFormatError(
            f"{path}: checksum mismatch: sha256 is {actual}, card {card_source} says "
            f"{card.sha256}; the file is corrupt or not the one the card describes"
        )


@functools.lru_cache(maxsize=16)
def _open_cached(
    card_path: str,
    card_stat: tuple[int, int],
    net_path: str,
    net_stat: tuple[int, int],
    providers: tuple[str, ...],
    threads: int | None,
    source: str,
) -> Model:
    card = ModelCard.read(card_path)
    path = Path(net_path)
    verify_checksum(card, path, card_source=card_path)
    session = _session(path, providers, threads)
    _check_kind(session, card, path)
    return Model(card, path, session, source=source, threads=threads)


def _stat(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_mtime_ns, st.st_size


def open_model(
    card_path: Path,
    net_path: Path,
    *,
    source: str,
    providers: str | Sequence[str] | None = None,
    threads: int | None = None,
) -> Model:
    """Verify and open a network; the same unchanged files and options give the same Model."""
    card_path, net_path = card_path.resolve(), net_path.resolve()
    return _open_cached(
        str(card_path),
        _stat(card_path),
        str(net_path),
        _stat(net_path),
        check_providers(providers),
        check_threads(threads),
        source,
    )
