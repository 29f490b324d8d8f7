"""The ``cellscale`` command line: one command, one subcommand per job.

Every subcommand is a thin layer over a Python function; nothing here is needed
to use cellscale from Python.
"""

from cellscale.cli._app import app, main

__all__ = ["app", "main"]
