"""The shared command-line dialect (applications.common.cli): seeds, renamed
flags, backend selection, the console wrapper's exit statuses and messages."""

import argparse
import importlib.util
import os
import sys
import tempfile

import pytest

from applications.common import cli
from applications.common.errors import RunFailedError
from applications.common.errors import UsageError

pytestmark = pytest.mark.backend_independent


def test_seed_list_reads_integers_and_ranges_once_each():
    assert cli.seed_list(["3", "0-2", 1, " 5-5 "]) == [3, 0, 1, 2, 5]


@pytest.mark.parametrize("value", ["x", "4-2", "1-", "-3", "1.5"])
def test_seed_list_rejects_what_is_no_seed(value):
    with pytest.raises(UsageError, match="--seeds") as error:
        cli.seed_list([value])
    assert "--seeds" in str(error.value)


def test_common_arguments_parse_to_the_shared_meanings():
    parser = argparse.ArgumentParser()
    cli.add_common_arguments(
        parser,
        run_dir=cli.default_run_dir("demo", "x"),
        data_dir=True,
        seeds=[0, 1],
        quick=True,
    )
    args = cli.flatten_seeds(parser.parse_args([]))
    assert (args.run_dir, args.data_dir, args.seeds) == ("runs/demo/x", None, [0, 1])
    assert (args.quick, args.quiet, args.verbose) == (False, False, False)
    args = cli.flatten_seeds(
        parser.parse_args(
            ["--seeds", "2-4", "3", "9", "--quick", "--quiet", "--verbose"]
        )
    )
    assert args.seeds == [2, 3, 4, 9] and args.quick and args.quiet and args.verbose


def test_bad_seeds_are_an_argparse_usage_error(capsys):
    parser = argparse.ArgumentParser(prog="demo")
    cli.add_common_arguments(parser, seeds=[0])
    with pytest.raises(SystemExit) as stop:
        parser.parse_args(["--seeds", "a-b"])
    assert stop.value.code == 2
    assert "argument --seeds: 'a-b' is not a seed or a range" in capsys.readouterr().err


def test_deprecated_flags_rewrite_with_one_notice_each(capsys):
    def level(rest):
        if rest and rest[0] == "0":
            return ["--quiet"], 1
        return None

    renames = {"--out-dir": "--run-dir", "--verbose": level}
    argv = ["cmd", "--out-dir=d", "--verbose", "0", "--verbose", "--out-dir", "e"]
    assert cli.deprecated_flags(argv, renames) == [
        "cmd",
        "--run-dir=d",
        "--quiet",
        "--verbose",
        "--run-dir",
        "e",
    ]
    assert capsys.readouterr().err.splitlines() == [
        "note: --out-dir is deprecated; use --run-dir.",
        "note: --verbose 0 is deprecated; it now reads as --quiet.",
        "note: --out-dir is deprecated; use --run-dir.",
    ]


def test_select_backend_names_a_bad_backend_and_its_source(monkeypatch):
    monkeypatch.setenv("KERAS_BACKEND", "tensorflw")
    with pytest.raises(
        UsageError, match="KERAS_BACKEND='tensorflw' is not a Keras backend"
    ) as error:
        cli.select_backend([])
    assert "jax" in error.value.hint
    with pytest.raises(UsageError, match="--backend='mxnet'"):
        cli.select_backend(["run", "--backend", "mxnet"])
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "jax" else real(name, *a),
    )
    with pytest.raises(
        UsageError, match="the jax backend .--backend. is not installed"
    ):
        cli.select_backend(["--backend=jax"])


def test_select_backend_refuses_to_switch_a_loaded_keras(monkeypatch):
    import keras

    current = keras.backend.backend()
    other = next(name for name in cli.BACKENDS if name != current)
    monkeypatch.setenv("KERAS_BACKEND", current)
    assert cli.select_backend([]) == current
    with pytest.raises(UsageError, match=f"already imported with the {current}"):
        cli.select_backend(["--backend", other])


def _run(main, argv, capsys):
    status = cli.run(main, argv)
    return status, capsys.readouterr().err.splitlines()


def _raises(error):
    def main(argv):
        raise error

    return main


@pytest.mark.parametrize(
    "result, status", [(None, 0), ({"a": 1}, 0), (3, 3), (True, 0)]
)
def test_run_returns_the_exit_status(result, status, capsys):
    assert _run(lambda argv: result, [], capsys) == (status, [])


@pytest.mark.parametrize(
    "error, status, lines",
    [
        (UsageError("bad x", hint="use y"), 2, ["error: bad x", "hint: use y"]),
        (RunFailedError("download failed"), 1, ["error: download failed"]),
        (
            PermissionError(13, "Permission denied", "/ro/run"),
            2,
            [
                "error: /ro/run: permission denied",
                "hint: choose a folder you can write to (e.g. --run-dir DIR)",
            ],
        ),
        (
            FileNotFoundError(2, "No such file or directory", "/x"),
            2,
            ["error: /x: no such file or folder"],
        ),
        (
            ZeroDivisionError("division by zero"),
            1,
            [
                "error: ZeroDivisionError: division by zero",
                "hint: this looks like a bug; rerun with --verbose for the traceback and "
                "report it",
            ],
        ),
        (
            KeyboardInterrupt(),
            130,
            [
                "",
                "interrupted: finished work is saved; rerun the same command to resume",
            ],
        ),
    ],
)
def test_run_turns_errors_into_lines_and_a_status(error, status, lines, capsys):
    assert _run(_raises(error), [], capsys) == (status, lines)


def test_run_passes_argparse_exits_through(capsys):
    def main(argv):
        argparse.ArgumentParser(prog="demo").parse_args(argv)

    assert _run(main, ["--help"], capsys)[0] == 0
    status, lines = _run(main, ["--nope"], capsys)
    assert status == 2 and lines[-1] == "demo: error: unrecognized arguments: --nope"


def test_run_prints_the_traceback_only_with_verbose(capsys):
    status, lines = _run(_raises(UsageError("bad x")), ["--verbose"], capsys)
    assert status == 2
    assert lines[0] == "Traceback (most recent call last):"
    assert lines[-2:] == [
        "applications.common.errors.UsageError: bad x",
        "error: bad x",
    ]


def test_run_reads_verbose_after_the_deprecated_rewrite(capsys):
    renames = {
        "--verbose": lambda rest: (["--quiet"], 1) if rest[:1] == ["0"] else None
    }
    seen = []

    def main(argv):
        seen.append(argv)
        raise UsageError("bad x")

    assert cli.run(main, ["--verbose", "0"], renames=renames) == 2
    lines = capsys.readouterr().err.splitlines()
    assert seen == [["--quiet"]]
    assert lines == [
        "note: --verbose 0 is deprecated; it now reads as --quiet.",
        "error: bad x",
    ]


def test_run_keeps_native_stderr_off_the_terminal_unless_verbose(capfd):
    def main(argv):
        os.write(2, b"I0000 native log line\n")
        print("python message", file=sys.stderr)

    assert cli.run(main, []) == 0
    err = capfd.readouterr().err
    assert "python message" in err and "I0000" not in err
    assert cli.run(main, ["--verbose"]) == 0
    assert "I0000 native log line" in capfd.readouterr().err


def test_writable_folder_probes_without_creating(tmp_path, monkeypatch):
    target = tmp_path / "a" / "b"
    assert cli.writable_folder(target) == target
    assert list(tmp_path.iterdir()) == []
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(
        UsageError, match=f"cannot create the folder {blocker}/run: {blocker} is a file"
    ) as error:
        cli.writable_folder(blocker / "run", flag="--out")
    assert error.value.hint == "choose a folder you can write to with --out DIR"

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "TemporaryFile", denied)
    with pytest.raises(
        UsageError, match=f"cannot write to {target}: {tmp_path}: Permission denied"
    ):
        cli.writable_folder(target)
