"""One real Dask cluster per test session: `dask scheduler` + `dask worker` processes.

Loaded by the engine and CLI tests under one module name, so both share the
cluster (starting one and importing cellscale in its workers takes ~15 s).
"""

from __future__ import annotations

import atexit
import importlib.util
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DASK = str(Path(sys.executable).parent / "dask")
_STATE: dict[str, object] = {}


def shared() -> object:
    """This module, loaded once under a fixed name (for tests in other folders)."""
    name = "_cellscale_test_dask_processes"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, __file__)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)  # type: ignore[union-attr]
    return sys.modules[name]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def address() -> str:
    """Address of the session's scheduler with two 1-thread, 1.5 GB workers."""
    if "address" in _STATE:
        return str(_STATE["address"])
    from distributed import Client

    port = free_port()
    addr = f"tcp://127.0.0.1:{port}"
    folder = tempfile.mkdtemp(prefix="cellscale-dask-")
    log = open(Path(folder) / "dask.log", "w")  # noqa: SIM115  # closed at exit by _stop
    procs = [subprocess.Popen([DASK, "scheduler", "--host", "127.0.0.1", "--port", str(port),
                               "--no-dashboard"], stdout=log, stderr=subprocess.STDOUT)]
    procs.append(subprocess.Popen(
        [DASK, "worker", addr, "--nworkers", "2", "--nthreads", "1", "--memory-limit", "1.5GB",
         "--no-dashboard", "--local-directory", folder], stdout=log, stderr=subprocess.STDOUT))
    _STATE.update(address=addr, procs=procs, log=log)
    atexit.register(_stop)
    deadline = time.monotonic() + 60
    while True:
        try:
            with Client(addr, timeout="5s") as client:
                client.wait_for_workers(2, timeout=60)
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    return addr


def _stop() -> None:
    from distributed import Client

    procs = _STATE.get("procs", [])
    try:
        with Client(str(_STATE["address"]), timeout="5s") as client:
            client.shutdown()
    except OSError:
        pass
    for proc in procs:  # type: ignore[union-attr]
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
    _STATE["log"].close()  # type: ignore[union-attr]
