"""Development sessions: ``nox -s tests``, ``lint``, ``typecheck``, ``docs-build``, ``notebooks``.

Every session installs from scratch, and against ``constraints.txt``: the exact versions of
every package (unifs's dependencies and theirs, the test, lint, type and docs tools) the
suite was last green with, so that an upstream release cannot turn a run red overnight.
``nox -s lock`` regenerates that file from pyproject.toml's ranges (uv's resolver, for
every platform); ``nox -s tests-latest`` runs the same suite against the newest releases
instead, so an upstream change is seen the day it ships. The library's own dependency
ranges in pyproject.toml stay ranges: the lock binds only this repository's sessions.

Azurite (Node) is pinned the same way, by package-lock.json.
"""

from __future__ import annotations

import os

import nox
import nox.command

nox.options.sessions = ["tests", "lint", "typecheck", "docs-build", "notebooks"]
nox.options.default_venv_backend = "venv"
nox.options.reuse_existing_virtualenvs = True

PYTHON = "3.11"
#: The lock every session installs with (pip constraints, made by ``nox -s lock``).
LOCK = "constraints.txt"
# the fork/spawn tests run a PyTorch DataLoader; pinned to the CPU build this project tests with
TORCH = "torch==2.13.0"


def _install(session: nox.Session, *requirements: str) -> None:
    """``pip install`` ``requirements`` with every version taken from the lock."""
    session.install("-c", LOCK, *requirements)


def _install_azurite(session: nox.Session, attempts: int = 3) -> None:
    if os.path.exists("node_modules/.bin/azurite-blob"):
        return
    # The registry sometimes sends a tarball npm finds corrupted, and npm's own retry of it
    # can then fail on the half-unpacked folder: start over (npm ci clears node_modules).
    for attempt in range(1, attempts + 1):
        try:
            session.run("npm", "ci", "--no-audit", "--no-fund", "--fetch-retries=5", external=True)
            return
        except nox.command.CommandFailed:
            if attempt == attempts:
                raise
            session.log(f"npm ci failed (attempt {attempt} of {attempts}); trying again")


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """The whole test suite against moto, fake-gcs-server, Azurite and the OCI server."""
    _install(session, ".[test]", TORCH)
    _install_azurite(session)
    session.run("pytest", *session.posargs)


@nox.session(name="tests-latest", python=PYTHON)
def tests_latest(session: nox.Session) -> None:
    """The same suite against the newest release of every dependency (no lock)."""
    # eager: a reused environment is brought up to today's releases too
    session.install("--upgrade", "--upgrade-strategy", "eager", ".[test]", TORCH)
    _install_azurite(session)
    session.run("pip", "list", "--format", "freeze", silent=False)
    session.run("pytest", *session.posargs)


@nox.session(python=PYTHON)
def lock(session: nox.Session) -> None:
    """Regenerate constraints.txt from pyproject.toml's ranges (newest versions that fit)."""
    session.install("uv")
    session.run(
        "uv", "pip", "compile", "pyproject.toml", "--extra", "dev",
        "--universal", "--python-version", PYTHON, "--upgrade",
        "--output-file", LOCK,
        env={"UV_CUSTOM_COMPILE_COMMAND": "nox -s lock"},
    )  # fmt: skip
    session.log(f"{LOCK} regenerated: run `nox -s tests` against it before committing it")


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff: lint and formatting."""
    _install(session, "ruff")
    session.run("ruff", "check", "unifs", "tests", "bench", "noxfile.py")
    session.run("ruff", "format", "--check", "unifs", "tests", "bench", "noxfile.py")


@nox.session(python=PYTHON)
def typecheck(session: nox.Session) -> None:
    """mypy over the package."""
    _install(session, ".[test]", TORCH, "mypy", "pandas-stubs", "types-requests", "types-PyYAML")
    session.run("mypy")


@nox.session(name="docs-build", python=PYTHON)
def docs_build(session: nox.Session) -> None:
    """Build the mkdocs site with strict checking."""
    _install(session, ".[all]", "mkdocs-material", "mkdocstrings[python]")
    session.run(
        "mkdocs", "build", "--strict", "--site-dir", "site", env={"NO_MKDOCS_2_WARNING": "1"}
    )


#: where ``nox -s notebooks`` leaves the executed notebooks, outputs and pictures included
EXECUTED_NOTEBOOKS = "build/notebooks"


@nox.session(python=PYTHON)
def notebooks(session: nox.Session) -> None:
    """Execute every notebook against the local servers; each must end with a chart.

    The executed copies (outputs, charts) are written to build/notebooks/; the notebooks in
    git stay without outputs. ``nox -s notebooks -- --export-charts docs/img`` also renews
    the docs' charts from this run.
    """
    _install(
        session, ".[test]", TORCH, "nbclient", "nbformat", "ipykernel", "ipywidgets", "matplotlib"
    )
    _install_azurite(session)
    session.run(
        "python", "-m", "unifs.testing.notebooks", "notebooks",
        "--output-dir", EXECUTED_NOTEBOOKS, *session.posargs,
    )  # fmt: skip
    # the runner's own tests: executed copies, the final chart, no server request log
    session.run("pytest", "tests/test_notebooks.py")
