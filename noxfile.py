"""Developer sessions: ``nox -s tests``, ``nox -s lint``, ``nox -s bench``, ``nox -s quality``."""

import nox

nox.options.sessions = ["lint", "tests"]
nox.options.reuse_existing_virtualenvs = True


@nox.session
def tests(session: nox.Session) -> None:
    """The test suite (Triton kernels run in the interpreter on CPU)."""
    session.install("-e", ".[dev,peers]")
    session.run("pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    session.install("ruff")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmarks print tables; kernel benchmarks need CUDA for figures. ``bench_e2e.py`` (about 30
    minutes on a 2-core CPU) needs an image set: see its docstring."""
    session.install("-e", ".[dev,peers]")
    scripts = (
        "bench_simclr_throughput.py",
        "bench_ntxent.py",
        "bench_info_nce.py",
        "bench_cross_modal.py",
        "kernel_accuracy.py",
        "bench_mae_masking.py",
        "gpu_check.py",
        "bench_audio.py",
        "bench_augment.py",
        "bench_cli_errors.py",
        "bench_memory.py",
    )
    for script in scripts:
        session.run("python", f"benchmarks/{script}")


@nox.session
def quality(session: nox.Session) -> None:
    """What each default buys against random init and the raw input, 3 seeds a set (about 15-20
    minutes a set on a 2-core CPU): ``nox -s quality -- digits spoken-digits mnist5k``; see
    ``benchmarks/quality.py`` for the sets and the packages each needs."""
    session.install("-e", ".[dev,peers]")
    session.run("python", "benchmarks/quality.py", *(session.posargs or ["digits", "spoken-digits"]))
