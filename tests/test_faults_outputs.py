"""Fault battery, outputs: writers killed (SIGKILL) at several byte counts inside their writes leave
no partial file; incomplete exports are refused; stores on read-only storage stay readable; the
store file alone holds every finished result."""

from __future__ import annotations

import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.exports import configs_sidecar
from sweep.profiles import get_profile
from harness.store import ResultStore, read_results
from tests.conftest import REPO

from tests.fault_helpers import child_env, invoke, make_store, one_line_error, rows_of


# ---- 1. atomic outputs; incomplete exports are refused ----------------------------------------
class _Killing:
    """A file opened for writing whose writes count towards LIMIT; the write that crosses it is cut
    there and flushed, then the process SIGKILLs itself."""

    written = 0
    limit = -1

    def __init__(self, handle):
        self._handle = handle

    def write(self, data):
        if 0 <= _Killing.limit < _Killing.written + len(data):
            self._handle.write(data[: _Killing.limit - _Killing.written])
            self._handle.flush()
            os.kill(os.getpid(), signal.SIGKILL)
        _Killing.written += len(data)
        return self._handle.write(data)

    def __getattr__(self, name):
        return getattr(self._handle, name)

    def __iter__(self):
        return iter(self._handle)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return self._handle.__exit__(*exc)


def run_killed(limit: int, module: str, args, timeout: float = 120) -> tuple[bool, int]:
    """Run `harness <module's command> args` in a forked process that SIGKILLs itself once `limit`
    bytes went into files it opened for writing (never when -1). Returns (killed, bytes written)."""
    import builtins
    import importlib

    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 3
        try:
            os.close(read_end)
            real_open = builtins.open
            _Killing.limit, _Killing.written = limit, 0

            def patched(file, mode="r", *a, **k):
                handle = real_open(file, mode, *a, **k)
                return _Killing(handle) if any(c in mode for c in "wax+") else handle

            builtins.open = patched
            command = importlib.import_module(module).command
            command.main([str(a) for a in args], prog_name="harness", standalone_mode=False)
            os.write(write_end, str(_Killing.written).encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write_end)
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            raise AssertionError(f"{module} {args} did not finish in {timeout} s")
        time.sleep(0.02)
    with os.fdopen(read_end, "rb") as pipe:
        reported = pipe.read()
    killed = os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    assert killed or (os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0), (module, args, status)
    return killed, int(reported or -1)


def _visible(folder: Path) -> dict[str, bytes]:
    """Files at their destinations (hidden temporary files left by a kill excluded)."""
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not p.name.startswith(".")
    }


@pytest.mark.parametrize("name", ["x.csv", "x.csv.gz"])
def test_export_killed_at_any_byte_leaves_no_partial_file(tmp_path, name):
    store = make_store(tmp_path / "s.sqlite", cells=60)
    args = ["--results", store, "--per-repeat", "--out"]
    killed, total = run_killed(-1, "cli.export", [*args, tmp_path / "ref" / name])
    complete = _visible(tmp_path / "ref")
    table_size = len(complete[name])
    assert set(complete) == {name, "x.configs.json"} and total == table_size + len(
        complete["x.configs.json"]
    )
    cuts = sorted(
        {1, table_size // 3, 2 * table_size // 3, table_size - 1, table_size + 5, total - 1}
    )
    for cut in cuts:
        work = tmp_path / f"cut{cut}"
        work.mkdir()
        assert run_killed(cut, "cli.export", [*args, work / name])[0], cut
        left = _visible(work)
        for file, data in left.items():  # whatever is at a destination is whole
            assert data == complete[file], (cut, file)
        assert set(left) == ({name} if cut >= table_size else set()), (cut, set(left))
        if left:  # the table made it, its sidecar did not: readers refuse it
            one_line_error(
                invoke("correlate", "--results", work / name, "--bootstrap", "0"), "no sidecar"
            )


def test_reader_refuses_a_truncated_or_sidecarless_export(tmp_path):
    store = make_store(tmp_path / "s.sqlite")
    out = tmp_path / "x.csv"
    assert invoke("export", "--results", store, "--out", out).exit_code == 0
    lines = out.read_bytes().splitlines(keepends=True)
    out.write_bytes(
        b"".join(lines[: len(lines) // 2])
    )  # cut at a line boundary, as a killed writer did
    one_line_error(
        invoke("correlate", "--results", out, "--bootstrap", "0"),
        "x.csv",
        "incomplete",
        "--accept-partial",
    )
    one_line_error(invoke("import", "--results", out, "--out", tmp_path / "n.sqlite"), "incomplete")
    assert not (tmp_path / "n.sqlite").exists()
    configs_sidecar(out).unlink()
    one_line_error(invoke("report", "--results", out, "--out", tmp_path / "rep"), "no sidecar")


def test_accept_partial_reads_it_anyway(tmp_path):
    store = make_store(tmp_path / "s.sqlite")
    out = tmp_path / "x.csv"
    assert invoke("export", "--results", store, "--out", out).exit_code == 0
    configs_sidecar(out).unlink()
    result = invoke("correlate", "--results", out, "--bootstrap", "0", "--accept-partial")
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(
    "cuts",
    [(1, 0.5), pytest.param((0.25, 0.75, 0.999), marks=pytest.mark.slow)],
    ids=["2-cuts", "3-more-cuts"],
)
def test_report_killed_at_any_byte_leaves_no_partial_file(tmp_path, cuts):
    store = make_store(tmp_path / "s.sqlite", cells=30, repeats=2)
    args = [
        "--results",
        store,
        "--metric",
        "cifar10-valid/x-valid@200",
        "--bootstrap",
        "0",
        "--out",
    ]
    total = run_killed(-1, "cli.report", [*args, tmp_path / "ref"])[1]
    complete = _visible(tmp_path / "ref")
    assert {"leaderboard.csv", "leaderboard.md", "index.html", "repeats.csv"} <= set(complete)
    for cut in cuts:
        limit = int(cut if cut >= 1 else cut * total)
        work = tmp_path / f"cut{limit}"
        assert run_killed(limit, "cli.report", [*args, work])[0], limit
        left = _visible(work) if work.exists() else {}
        assert (
            "index.html" not in left
        )  # written last: it is there only when the report is complete
        for file, data in left.items():
            assert data == complete[file], (limit, file)


_IN_PLACE = re.compile(
    r"(?<!records)(?<!atomic)\.write_(text|bytes)\("  # Path.write_text / write_bytes
    r"|\.to_(csv|parquet)\((?!index=|sys\.stdout|text|tmp)"  # pandas to a path
    r"|savefig\((?!tmp)|torch\.save\([^)]*,\s*(?!tmp)[^,\s)]+\)"  # figures, checkpoints
    r"|\bopen\((?!tmp|partial)[^)]*[\"'][wa]b?[\"']"  # open(destination, "w") / "a"
)


def test_every_writer_goes_through_the_atomic_helper():
    """No module of the harness writes a destination file in place: writers go through
    harness.atomic or write a temporary (``tmp``) / ``partial`` file that is renamed when complete."""
    offenders = []
    for folder in ("harness", "proxies", "sweep", "search", "training", "reports", "cli"):
        for path in sorted((REPO / folder).rglob("*.py")):
            if path.name == "atomic.py":
                continue
            for number, line in enumerate(path.read_text().splitlines(), 1):
                if _IN_PLACE.search(line) and "atomic" not in line:
                    offenders.append(f"{path.relative_to(REPO)}:{number}: {line.strip()}")
    assert not offenders, "\n".join(offenders)


# ---- 7. stores on read-only storage are readable ---------------------------------------------
def _unshare_ok() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "-r", "-m", "true"], capture_output=True)
    return probe.returncode == 0


def _in_read_only(folder: Path, argv: list[str], cwd: Path) -> subprocess.CompletedProcess:
    """Run `argv` with `folder` mounted read-only (a private mount namespace; root cannot write it)."""
    script = (
        f"mount --bind '{folder}' '{folder}' && mount -o remount,bind,ro '{folder}' && exec "
        + " ".join(f"'{a}'" for a in argv)
    )
    return subprocess.run(
        ["unshare", "-r", "-m", "sh", "-c", script],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
        env=child_env(),
    )


read_only_storage = pytest.mark.skipif(
    not _unshare_ok(), reason="needs `unshare -r -m` for a read-only mount"
)


@read_only_storage
def test_store_in_a_read_only_folder_is_readable(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    store = make_store(folder / "s.sqlite")
    n = len(rows_of(store))
    for left in folder.glob("s.sqlite-*"):  # as copied there: the store file alone
        left.unlink()
    # The readers behind export, correlate and report (the CLI itself is tested on a writable copy).
    reader = (
        "import sys; from harness.store import read_configs, read_results, read_runs; "
        "p = sys.argv[1]; print(len(read_results(p, per_repeat=True)), len(read_results(p)), "
        "len(read_configs(p)), len(read_runs(p)))"
    )
    proc = _in_read_only(folder, [sys.executable, "-c", reader, str(store)], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in folder.iterdir()) == ["s.sqlite"]
    assert proc.stdout.split() == [str(n), str(n // 3), "1", "1"]


@pytest.mark.slow  # a fresh `harness` process (5 s of imports); the fast check uses /proc below
@read_only_storage
def test_report_into_a_read_only_folder_is_one_line(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    store = make_store(tmp_path / "s.sqlite", cells=5)
    argv = [
        sys.executable,
        "-c",
        "from cli import main; main()",
        "report",
        "--results",
        str(store),
        "--out",
        str(folder / "rep"),
    ]
    proc = _in_read_only(folder, argv, tmp_path)
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    assert (
        lines[0].startswith("Error: cannot write the report to")
        and "Read-only file system" in lines[0]
    )


def test_report_into_an_unwritable_folder_is_one_line(tmp_path):
    store = make_store(tmp_path / "s.sqlite", cells=5)
    one_line_error(
        invoke("report", "--results", store, "--out", "/proc/harness-test/report"),
        "cannot write the report to '/proc/harness-test/report'",
    )
    blocker = tmp_path / "file"
    blocker.write_text("x")
    one_line_error(
        invoke("report", "--results", store, "--out", blocker / "sub"), "cannot write the report"
    )
    one_line_error(
        invoke("export", "--results", store, "--out", blocker / "x.csv"), "cannot write the export"
    )


@pytest.mark.parametrize(
    "args, needle",
    [
        (
            ["search", "--algo", "random", "--out", "/proc/harness-test/runs"],
            "cannot write search runs to",
        ),
        (
            [
                "search",
                "--leaderboard",
                "--out",
                REPO / "results" / "search" / "runs",
                "--leaderboard-dir",
                "/proc/harness-test",
            ],
            "cannot write the leaderboard to",
        ),
        (
            ["train", "--epochs", "1", "--out", "/proc/harness-test/train"],
            "cannot write the training run to",
        ),
    ],
)
def test_other_unwritable_outputs_are_one_line(args, needle):
    one_line_error(invoke(*args), needle, "/proc/harness-test")


def test_immutable_store_is_readable(tmp_path):
    """An immutable store file in an immutable folder (chattr +i: not even root writes there)."""
    folder = tmp_path / "frozen"
    folder.mkdir()
    store = make_store(folder / "s.sqlite", cells=5)
    if (
        shutil.which("chattr") is None
        or subprocess.run(["chattr", "+i", str(store)], capture_output=True).returncode != 0
    ):
        pytest.skip("chattr +i is not available here")
    try:
        subprocess.run(["chattr", "+i", str(folder)], check=True)
        result = invoke("export", "--results", store)
        assert result.exit_code == 0, result.output
        assert len(result.output.splitlines()) == 5 * 2 + 1
        assert invoke("correlate", "--results", store, "--bootstrap", "0").exit_code == 0
    finally:
        subprocess.run(["chattr", "-i", str(folder)], check=True)
        subprocess.run(["chattr", "-i", str(store)], check=True)


# ---- 10. the store file alone holds every finished result -------------------------------------
def test_store_file_alone_holds_results_after_a_clean_finish(tmp_path):
    from sweep.runner import SweepOptions, SweepSpec, run_sweep

    spec = SweepSpec(("params",), get_profile("bench"), "synthetic", data_source="cifar10")
    out = tmp_path / "nb201.sqlite"
    run_sweep(spec, SweepOptions([0], quiet=True), str(out))
    watcher = sqlite3.connect(out)  # e.g. a monitoring job: the last closer is not the sweep
    watcher.execute("SELECT COUNT(*) FROM results").fetchone()
    try:
        run_sweep(spec, SweepOptions([0, 1, 2], quiet=True), str(out))
        staged = tmp_path / "staged"
        staged.mkdir()
        shutil.copy(out, staged / out.name)  # a cluster job's stage-out copies the .sqlite alone
        assert sorted(read_results(staged / out.name)["index"]) == [0, 1, 2]
    finally:
        watcher.close()


def test_long_sweeps_checkpoint_periodically(tmp_path, monkeypatch):
    import sweep.runner as runner
    from sweep.runner import SweepOptions, SweepSpec, run_sweep

    calls = []
    real = ResultStore.checkpoint
    monkeypatch.setattr(
        ResultStore,
        "checkpoint",
        lambda self, mode="TRUNCATE": calls.append(mode) or real(self, mode),
    )
    monkeypatch.setattr(runner, "CHECKPOINT_SECONDS", 0.0)
    spec = SweepSpec(("params",), get_profile("bench"), "synthetic", data_source="cifar10")
    run_sweep(spec, SweepOptions([0, 1, 2], quiet=True), str(tmp_path / "s.sqlite"))
    assert calls == ["PASSIVE"] * 3 + [
        "TRUNCATE"
    ]  # after each cell here (every 60 s by default), then at the end
