"""Development sessions: ``nox -s tests``, ``lint``, ``typecheck``, ``docs-build``, ``notebooks``.

``nox -s tests`` installs everything the suite needs from scratch: unifs with its test
extras (pip) and the pinned Azurite (npm, from package-lock.json).
"""

from __future__ import annotations

import os

import nox
import nox.command

nox.options.sessions = ["tests", "lint", "typecheck", "docs-build", "notebooks"]
nox.options.default_venv_backend = "venv"
nox.options.reuse_existing_virtualenvs = True

PYTHON = "3.11"


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


# the fork/spawn tests run a PyTorch DataLoader; pinned to the CPU build this project tests with
TORCH = "torch==2.13.0"


def tests_impl(session: nox.Session, *pytest_args: str) -> None:
    """Install unifs with its test extras, torch and Azurite, then run pytest."""
    session.install(".[test]", TORCH)
    _install_azurite(session)
    session.run("pytest", *pytest_args, *session.posargs)


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """The whole test suite against moto, fake-gcs-server, Azurite and the OCI server."""
    tests_impl(session)


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff: lint and formatting."""
    session.install("ruff>=0.6")
    session.run("ruff", "check", "unifs", "tests", "bench", "noxfile.py")
    session.run("ruff", "format", "--check", "unifs", "tests", "bench", "noxfile.py")


@nox.session(python=PYTHON)
def typecheck(session: nox.Session) -> None:
    """mypy over the package."""
    session.install(".[test]", "mypy>=1.10", "pandas-stubs", "types-requests", "types-PyYAML")
    session.run("mypy")


@nox.session(name="docs-build", python=PYTHON)
def docs_build(session: nox.Session) -> None:
    """Build the mkdocs site with strict checking."""
    session.install(".[all]", "mkdocs-material>=9.5", "mkdocstrings[python]>=0.25")
    session.run(
        "mkdocs", "build", "--strict", "--site-dir", "site", env={"NO_MKDOCS_2_WARNING": "1"}
    )


@nox.session(python=PYTHON)
def notebooks(session: nox.Session) -> None:
    """Execute every notebook against the local servers."""
    session.install(
        ".[test]", "nbclient>=0.10", "nbformat>=5.10", "ipykernel>=6.29", "ipywidgets>=8.1"
    )
    _install_azurite(session)
    session.run("python", "-m", "unifs.testing.notebooks", "notebooks")
