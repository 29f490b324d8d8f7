"""Find a model from what the user gave: a shipped name, a path, a folder or a URL.

URLs are downloaded once into a cache and read from there afterwards, without
the network. The cache folder is ``cache_dir``, else ``$CELLSCALE_CACHE``, else
``~/.cache/cellscale/models``; it holds::

    urls/<sha256 of the card URL>.json     the card as downloaded
    <card.sha256>/<network file name>      the network, checked against the card
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from cellscale.errors import (
    FileFormatError,
    InputNotFoundError,
    InvalidArgumentError,
    OutputNotWritableError,
)
from cellscale.models._card import ModelCard, sha256_of
from cellscale.models._registry import (
    SHIPPED_MODELS,
    available_models,
    is_model_name,
    known_names,
    shipped_card_path,
)
from cellscale.models._runtime import Model, open_model

__all__ = ["default_cache_dir", "load_model", "model_info"]

Spec = str | os.PathLike[str]

#: Largest card accepted from a URL (cards are a few kB).
_MAX_CARD_BYTES = 1 << 20
_CHUNK = 1 << 20


def default_cache_dir() -> Path:
    """``$CELLSCALE_CACHE`` if set, else ``~/.cache/cellscale/models`` (read at each call)."""
    env = os.environ.get("CELLSCALE_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "cellscale" / "models"


def _is_url(spec: Spec) -> bool:
    return isinstance(spec, str) and "://" in spec


def _is_bare_name(spec: str) -> bool:
    return not any(sep in spec for sep in ("/", "\\", os.sep)) and Path(spec).suffix == ""


# -- local specs --------------------------------------------------------------------


def _card_in_folder(folder: Path) -> Path:
    candidates = sorted(folder.glob("*.json"))
    cards, problems = [], []
    for path in candidates:
        try:
            ModelCard.read(path)
        except FileFormatError as exc:
            problems.append(str(exc))
        else:
            cards.append(path)
    if len(cards) == 1:
        return cards[0]
    if cards:
        raise InvalidArgumentError(
            f"{folder}: holds {len(cards)} model cards, pass one of them: {[str(p) for p in cards]}"
        )
    if problems:
        raise FileFormatError(
            f"{folder}: no valid model card among its .json files: {'; '.join(problems)}"
        )
    raise InputNotFoundError(f"{folder}: no model card (.json) in this folder")


def _network_of(card: ModelCard, card_path: Path) -> Path:
    net = card_path.parent / card.file
    if not net.is_file():
        raise InputNotFoundError(
            f"{card_path}: the card's network file {card.file!r} is not there ({net} not found); "
            "a model is a card and its network side by side"
        )
    return net


def _resolve_local(spec: Spec) -> tuple[Path, Path | None, str]:
    """(card path, network path or None when the card names it, source) for a non-URL spec."""
    if isinstance(spec, str) and is_model_name(spec):
        card = shipped_card_path(spec)
        return card, card.with_suffix(".onnx"), spec
    path = Path(spec).expanduser()
    if not path.exists():
        if isinstance(spec, str) and _is_bare_name(spec):
            installed = available_models()
            raise InvalidArgumentError(
                f"unknown model {spec!r} (and no file or folder of that name): shipped models are "
                f"{list(SHIPPED_MODELS)}, installed: {installed if installed else 'none'}; or pass "
                "a path to a card (.json), a network (.onnx) with its card beside it, "
                "a model folder, or an http(s) URL of a card"
            )
        raise InputNotFoundError(f"{path}: no such model file or folder")
    if path.is_dir():
        return _card_in_folder(path), None, str(path)
    suffix = path.suffix.lower()
    if suffix == ".json":
        return path, None, str(path)
    if suffix == ".onnx":
        card = path.with_suffix(".json")
        if not card.is_file():
            raise InputNotFoundError(
                f"{path}: no model card beside this network (expected {card}); "
                "a model is NAME.onnx with its card NAME.json"
            )
        return card, path, str(path)
    raise InvalidArgumentError(
        f"{path}: not a model: expected a card (.json), a network (.onnx), a model folder, "
        f"a shipped name ({known_names()}) or an http(s) URL"
    )


# -- URLs --------------------------------------------------------------------------------


def _check_url(url: str) -> None:
    scheme = urllib.parse.urlsplit(url).scheme.lower()
    if scheme not in ("http", "https"):
        raise InvalidArgumentError(
            f"{url}: unsupported URL scheme {scheme!r}; use http:// or https://, or a local path"
        )


def _unreachable(url: str, what: str, exc: BaseException, hint: str) -> InputNotFoundError:
    if isinstance(exc, urllib.error.HTTPError):
        reason: object = f"HTTP {exc.code} {exc.reason}"
    else:
        reason = getattr(exc, "reason", None) or exc
    return InputNotFoundError(
        f"{url}: could not download the {what} ({reason}). Check the address and the "
        f"network connection, or download it by hand {hint} and pass its local path"
    )


@contextmanager
def _atomic_write(target: Path) -> Iterator[IO[bytes]]:
    """Write to a temporary file beside ``target``; rename it into place only on success."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _open_url(url: str, timeout: float):
    from cellscale import __version__

    request = urllib.request.Request(url, headers={"User-Agent": f"cellscale/{__version__}"})
    return urllib.request.urlopen(request, timeout=timeout)


def _fetch_card(url: str, cache: Path, timeout: float) -> tuple[ModelCard, Path]:
    """The card at ``url``: from the cache if there, else downloaded and cached."""
    key = hashlib.sha256(url.encode("utf-8")).hexdigest()
    cached = cache / "urls" / f"{key}.json"
    if cached.is_file():
        try:
            return ModelCard.read(cached), cached
        except FileFormatError:
            pass  # a damaged cache entry: fetch it again
    hint = "(the card and the network file it names, into one folder)"
    try:
        with _open_url(url, timeout) as response:
            data = response.read(_MAX_CARD_BYTES + 1)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise _unreachable(url, "model card", exc, hint) from exc
    if len(data) > _MAX_CARD_BYTES:
        raise FileFormatError(f"{url}: not a model card (larger than {_MAX_CARD_BYTES} bytes)")
    # Validate before caching, with errors that name the URL rather than a temporary file.
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir) / "card.json"
        tmp.write_bytes(data)
        try:
            card = ModelCard.read(tmp)
        except FileFormatError as exc:
            raise FileFormatError(str(exc).replace(str(tmp), url)) from exc
    with _atomic_write(cached) as fh:
        fh.write(data)
    return card, cached


def _fetch_network(url: str, card: ModelCard, cache: Path, timeout: float) -> Path:
    """The network for a card fetched from ``url``: cached by checksum, downloaded if absent."""
    net_url = urllib.parse.urljoin(url, card.file)
    name = Path(urllib.parse.urlsplit(net_url).path).name
    if name in ("", ".", ".."):
        raise FileFormatError(f"{url}: the card's file {card.file!r} does not name a file")
    target = cache / card.sha256 / name
    if target.is_file() and sha256_of(target) == card.sha256:
        return target
    _check_url(net_url)
    digest = hashlib.sha256()
    hint = f"(with its card {url}, into one folder)"
    try:
        with _open_url(net_url, timeout) as response, _atomic_write(target) as fh:
            while block := response.read(_CHUNK):
                digest.update(block)
                fh.write(block)
            if digest.hexdigest() != card.sha256:
                raise FileFormatError(
                    f"{net_url}: checksum mismatch: downloaded file has sha256 "
                    f"{digest.hexdigest()}, card {url} says {card.sha256}; the file is corrupt "
                    "or not the one the card describes (nothing was cached)"
                )
    except (urllib.error.URLError, OSError, ValueError) as exc:
        if isinstance(exc, FileFormatError):
            raise
        raise _unreachable(net_url, "model network", exc, hint) from exc
    return target


def _resolve(
    spec: Spec, *, cache_dir: Spec | None, timeout: float, need_network: bool
) -> tuple[Path, Path | None, str]:
    """(card path, network path or None, source) for any spec; downloads URLs."""
    if not isinstance(spec, str | os.PathLike):
        raise InvalidArgumentError(
            f"model must be a shipped name {list(SHIPPED_MODELS)}, a path or an http(s) URL, "
            f"got {type(spec).__name__}"
        )
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
        raise InvalidArgumentError(f"timeout must be positive seconds, got {timeout!r}")
    if _is_url(spec):
        _check_url(spec)
        cache = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
        try:
            cache.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputNotWritableError(
                f"{cache}: cannot create the model cache ({exc.strerror}); pass cache_dir= "
                "or set CELLSCALE_CACHE to a writable folder"
            ) from exc
        card, card_path = _fetch_card(spec, cache, timeout)
        net = _fetch_network(spec, card, cache, timeout) if need_network else None
        return card_path, net, spec
    return _resolve_local(spec)


# -- public ------------------------------------------------------------------------------


def load_model(
    spec: Spec,
    *,
    cache_dir: Spec | None = None,
    providers: str | Sequence[str] | None = None,
    threads: int | None = None,
    timeout: float = 30.0,
) -> Model:
    """Load a model and check that its network is the one its card describes.

    Parameters
    ----------
    spec : str or path-like
        One of: a shipped model name (``"nuclei"``, ``"cells"``; see
        :func:`available_models`); a path to a card ``.json``; a path to a network
        ``.onnx`` with its card (same name, ``.json``) beside it; a folder holding
        one card; or an ``http(s)://`` URL of a card, whose network is fetched from
        the same folder as the card. A string that is a shipped name means that
        model even if a file of that name exists; write ``./nuclei`` for the file.
    cache_dir : str or path-like, optional
        Where downloaded models are kept. Default ``$CELLSCALE_CACHE``, else
        ``~/.cache/cellscale/models``. A URL is downloaded once; later calls read
        the cache and need no network.
    providers : str or sequence of str, optional
        ONNX Runtime execution providers in priority order. Default:
        ``CUDAExecutionProvider`` when available, then ``CPUExecutionProvider``.
    threads : int, optional
        Intra-op threads of the session. Default: ONNX Runtime's choice.
    timeout : float, default 30.0
        Seconds to wait for a server before giving up on a download.

    Returns
    -------
    Model
        Calling again with the same unchanged files and options returns the same object.

    Raises
    ------
    InvalidArgumentError
        Unknown name, unsupported path or URL scheme, bad ``providers``/``threads``.
    InputNotFoundError
        A path that does not exist, a shipped model whose weights are not
        installed, a card without its network, or a URL that cannot be downloaded.
    FileFormatError
        A card that is not a card, a checksum mismatch, a network that is not
        ONNX, or a network whose inputs/outputs do not match the card.

    Examples
    --------
    >>> import numpy as np
    >>> from cellscale.models import available_models, load_model
    >>> for name in available_models():
    ...     model = load_model(name)
    ...     c, m = len(model.card.inputs.channels), model.card.inputs.size_multiple
    ...     maps = model.predict(np.zeros((1, c, m, m), dtype=np.float32))
    ...     assert maps.shape == (1, len(model.card.outputs), m, m)
    """
    card_path, net_path, source = _resolve(
        spec, cache_dir=cache_dir, timeout=timeout, need_network=True
    )
    if net_path is None:
        net_path = _network_of(ModelCard.read(card_path), card_path)
    return open_model(card_path, net_path, source=source, providers=providers, threads=threads)


def model_info(spec: Spec, *, cache_dir: Spec | None = None, timeout: float = 30.0) -> ModelCard:
    """The card of a model, without loading (or downloading) its network.

    Parameters
    ----------
    spec : str or path-like
        Anything :func:`load_model` accepts.
    cache_dir : str or path-like, optional
        Cache for cards given by URL, as in :func:`load_model`.
    timeout : float, default 30.0
        Seconds to wait for a server.

    Returns
    -------
    ModelCard
        The validated card. Its checksum is not verified here; :func:`load_model` does.

    Examples
    --------
    >>> from cellscale.models import available_models, model_info
    >>> for name in available_models():
    ...     card = model_info(name)
    ...     assert card.outputs and card.inputs.channels
    """
    if isinstance(spec, str) and is_model_name(spec):
        return ModelCard.read(shipped_card_path(spec, need_network=False))
    card_path, _, _ = _resolve(spec, cache_dir=cache_dir, timeout=timeout, need_network=False)
    return ModelCard.read(card_path)
