"""The sign-language command line: help, exit statuses, and every mistake a
first-time user can make answered in one or two lines, nothing lost.

Tests marked `backend_independent` exercise argument parsing and checks that
run before any tensor exists; they need one backend only.
"""

import importlib.util
import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from applications.common import cli as common_cli
from applications.sign_language import __main__ as cli
from applications.sign_language import callbacks as run_callbacks
from tests.conftest import REPO

PROG = [sys.executable, "-m", "applications.sign_language"]
NOISE = (
    "I0000",
    "E0000",
    "W0000",
    "absl::",
    "oneDNN",
    "Traceback",
    "--- last native log lines ---",
)


def _subprocess(*args, **env_changes):
    env = dict(os.environ, **env_changes)
    return subprocess.run(
        [*PROG, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=300
    )


def _run(argv, capsys):
    """`console_main(argv)` in this process: (status, stdout, stderr lines)."""
    status = cli.console_main(argv)
    captured = capsys.readouterr()
    return status, captured.out, captured.err.splitlines()


@pytest.mark.backend_independent
@pytest.mark.parametrize(
    "command", ["", "main", "train", "evaluate", "predict", "export", "compare"]
)
def test_help_prints_only_the_help(command):
    result = _subprocess(*([command] if command else []), "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(
        "usage: python -m applications.sign_language"
        + (f" {command}" if command else "")
    )
    assert result.stderr == ""
    for noise in NOISE:
        assert noise not in result.stdout, noise


@pytest.mark.backend_independent
def test_help_loads_no_backend():
    script = (
        "import runpy, sys\n"
        "sys.argv = ['x', 'train', '--help']\n"
        "try:\n"
        "    runpy.run_module('applications.sign_language', run_name='__main__')\n"
        "except SystemExit as stop:\n"
        "    print('exit', stop.code, 'keras' in sys.modules, file=sys.stderr)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.stderr == "exit 0 False\n"


@pytest.mark.backend_independent
@pytest.mark.parametrize(
    "args, env, source",
    [
        (
            ["train", "--quick"],
            {"KERAS_BACKEND": "tensorflw"},
            "KERAS_BACKEND='tensorflw'",
        ),
        (["--backend", "jaxx", "train"], {}, "--backend='jaxx'"),
        (["train", "--backend", "pytorch"], {}, "--backend='pytorch'"),
    ],
)
def test_unknown_backend_is_two_lines(args, env, source):
    result = _subprocess(*args, **env)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"error: {source} is not a Keras backend",
        "hint: choose one of tensorflow, jax, torch (e.g. KERAS_BACKEND=jax or "
        "--backend jax)",
    ]
    assert result.stdout == ""


@pytest.mark.backend_independent
def test_uninstalled_backend_says_how_to_install_it(monkeypatch, capsys):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "torch" else real(name, *a),
    )
    status, out, err = _run(["--backend", "torch", "predict", "x.jpg"], capsys)
    assert status == 2
    assert err[0] == "error: the torch backend (--backend) is not installed"
    assert err[1].startswith("hint: pip install -e '.[torch]'")


@pytest.mark.backend_independent
def test_unknown_option_is_a_usage_error(capsys):
    status, out, err = _run(["train", "--epochs", "1", "--bogus"], capsys)
    assert status == 2
    assert err == [
        "error: python -m applications.sign_language: unrecognized arguments: --bogus",
        "hint: see python -m applications.sign_language --help",
    ]


@pytest.mark.backend_independent
@pytest.mark.parametrize(
    "argv",
    [
        ["train", "--run-dir", "{file}/run"],
        ["export", "--run-dir", "{file}/run"],
        ["compare", "--out-dir", "{file}/run"],  # the deprecated spelling, too
    ],
)
def test_unwritable_run_folder_fails_before_any_work(tmp_path, capsys, argv):
    blocker = tmp_path / "a-file"
    blocker.write_text("in the way")
    argv = [token.format(file=blocker) for token in argv]
    status, out, err = _run(
        argv + ["--data-dir", str(tmp_path / "none")] if argv[0] != "export" else argv,
        capsys,
    )
    assert status == 2
    assert err[-2:] == [
        f"error: cannot create the folder {blocker}/run: {blocker} is a file",
        "hint: choose a folder you can write to with --run-dir DIR",
    ]
    if argv[0] == "compare":
        assert err[0] == "note: --out-dir is deprecated; use --run-dir."
    assert blocker.read_text() == "in the way"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]


@pytest.mark.backend_independent
def test_empty_data_folder_fails_before_the_run_folder_is_made(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    status, out, err = _run(
        [
            "train",
            "--quick",
            "--data-dir",
            str(empty),
            "--run-dir",
            str(tmp_path / "run"),
        ],
        capsys,
    )
    assert status == 2
    assert err == [
        f"error: no Sign Language Digits dataset in {empty} (given by --data-dir): "
        "it is empty",
        "hint: name the folder holding the class folders 0..9 (or a Dataset/ folder "
        "with them)",
    ]
    assert not (tmp_path / "run").exists()


@pytest.mark.backend_independent
def test_verbose_shows_the_traceback(tmp_path, capsys):
    status, out, err = _run(
        [
            "train",
            "--quick",
            "--data-dir",
            str(tmp_path),
            "--run-dir",
            str(tmp_path / "run"),
            "--verbose",
        ],
        capsys,
    )
    assert status == 2
    assert err[0] == "Traceback (most recent call last):"
    assert err[-2].startswith(f"error: no Sign Language Digits dataset in {tmp_path}")


@pytest.mark.backend_independent
def test_deprecated_verbose_level_and_out_dir(capsys):
    def rewrite(argv):
        return common_cli.deprecated_flags(argv, cli.renames_for(argv))

    assert rewrite(["train", "--verbose", "0", "--epochs", "3"]) == [
        "train",
        "--quiet",
        "--epochs",
        "3",
    ]
    assert rewrite(["main", "--verbose=2"]) == ["main"]
    assert rewrite(["compare", "--out-dir", "d", "--verbose", "auto"]) == [
        "compare",
        "--run-dir",
        "d",
    ]
    assert capsys.readouterr().err.splitlines() == [
        "note: --verbose 0 is deprecated; it now reads as --quiet.",
        "note: --verbose=2 is deprecated; it now reads as nothing.",
        "note: --out-dir is deprecated; use --run-dir.",
        "note: --verbose auto is deprecated; it now reads as nothing.",
    ]
    # --verbose as the shared flag, before or after the command, is kept as is.
    for argv in (
        ["--verbose", "train", "--quick"],
        ["train", "--verbose", "--quick"],
        ["predict", "--verbose", "1"],
    ):
        assert rewrite(argv) == argv
    assert capsys.readouterr().err == ""


@pytest.mark.backend_independent
def test_quick_quiet_seeds_and_default_folders():
    parse = cli.build_parser().parse_args
    config = cli._config_from(parse(["train", "--quick", "--epochs", "5", "--quiet"]))
    assert config.run_dir == "runs/sign_language"
    assert (config.epochs, config.image_size, config.max_per_class) == (5, 16, 12)
    assert config.verbose == 0
    assert cli._config_from(parse(["main"])).verbose == "auto"
    args = common_cli.flatten_seeds(parse(["compare", "--seeds", "0-2", "5", "1"]))
    assert args.seeds == [0, 1, 2, 5] and args.run_dir == "runs/sign_language/compare"
    assert parse(["predict", "x.jpg"]).model == "runs/sign_language/model.keras"
    assert parse(["export"]).run_dir == "runs/sign_language"


@pytest.fixture
def keras_home(tmp_path, monkeypatch):
    """An empty Keras cache, no dataset in the environment, an earlier run's
    file in the run folder (which must survive)."""
    from applications.sign_language import data

    monkeypatch.delenv(data.ENV_VAR, raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "metrics.json").write_text("{}")
    return tmp_path / "keras_home"


@pytest.mark.backend_independent
def test_offline_download_names_the_url_and_data_dir(keras_home, tmp_path, capsys):
    url = (tmp_path / "offline.zip").as_uri()
    status, out, err = _run(
        ["train", "--quick", "--download-url", url, "--run-dir", str(tmp_path / "run")],
        capsys,
    )
    assert status == 1
    assert err == [
        f"error: could not download the dataset from {url} ([Errno 2] No such file "
        f"or directory: '{tmp_path / 'offline.zip'}')",
        "hint: check the network and rerun, or download and unpack the archive "
        "yourself and pass --data-dir DIR (the folder holding Dataset/0..9)",
    ]
    assert (tmp_path / "run" / "metrics.json").read_text() == "{}"


@pytest.mark.backend_independent
def test_truncated_archive_in_the_cache_names_the_files_to_delete(
    keras_home, tmp_path, capsys
):
    archive = keras_home / "datasets" / "sign-language-digits_archive"
    archive.parent.mkdir(parents=True)
    archive.write_bytes(b"PK\x03\x04" + bytes(100))  # the start of a zip, cut
    url = (tmp_path / "never-used.zip").as_uri()
    status, out, err = _run(
        ["train", "--quick", "--download-url", url, "--run-dir", str(tmp_path / "run")],
        capsys,
    )
    assert status == 2
    assert err == [
        f"error: the archive {archive} (from {url}) is truncated or not a zip or "
        "tar archive",
        f"hint: delete {archive} and {keras_home / 'datasets' / 'sign-language-digits'}"
        ", then rerun to download it again (or pass --data-dir DIR)",
    ]
    assert archive.read_bytes() == b"PK\x03\x04" + bytes(100)
    assert (tmp_path / "run" / "metrics.json").read_text() == "{}"


# -- with a trained model ------------------------------------------------------


def _images(tiny_dataset, digit, count):
    return sorted((pathlib.Path(tiny_dataset) / "Dataset" / str(digit)).glob("*.JPG"))[
        :count
    ]


def test_predict_predicts_the_readable_inputs_and_exits_1(
    trained_run, tiny_dataset, tmp_path, capsys
):
    run_dir, _ = trained_run
    good = _images(tiny_dataset, 5, 2)
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(np.random.default_rng(0).bytes(300))
    missing = tmp_path / "absent.jpg"
    status, out, err = _run(
        [
            "predict",
            str(good[0]),
            str(bad),
            str(missing),
            str(good[1]),
            "--model",
            str(run_dir / "model.keras"),
        ],
        capsys,
    )
    assert status == 1
    assert [line.split(":")[0] for line in out.splitlines()] == [str(g) for g in good]
    assert err[0].startswith(f"skipped {bad}: not a readable image (")
    assert err[1:] == [
        f"skipped {missing}: no such file",
        "error: skipped 2 of 4 inputs (named above); the others were predicted",
    ]
    status, out, err = _run(
        ["predict", str(good[0]), "--model", str(run_dir / "model.keras"), "--json"],
        capsys,
    )
    assert status == 0 and err == [] and len(json.loads(out)[0]["top"]) == 3


@pytest.mark.parametrize("damage", ["truncated", "foreign"])
@pytest.mark.parametrize("suffix", [".keras", ".tflite"])
def test_unreadable_model_file_is_named(
    trained_run, tiny_dataset, tmp_path, capsys, damage, suffix
):
    run_dir, _ = trained_run
    model = tmp_path / f"model{suffix}"
    if suffix == ".tflite" and damage == "truncated":
        # A flatbuffer header, then nothing (test_export.py cuts a real one).
        model.write_bytes(b"\x1c\x00\x00\x00TFL3" + bytes(12))
    elif damage == "truncated":
        content = (run_dir / "model.keras").read_bytes()
        model.write_bytes(content[: len(content) // 2])
    else:
        model.write_bytes(np.random.default_rng(1).bytes(2000))
    before = model.read_bytes()
    for argv in (
        ["predict", str(_images(tiny_dataset, 3, 1)[0]), "--model", str(model)],
        ["evaluate", str(model), "--folder", str(tiny_dataset)],
    ):
        status, out, err = _run(argv, capsys)
        assert status == 2, err
        kind = "Keras" if suffix == ".keras" else "TFLite"
        assert len(err) == 2 and err[0].startswith(
            f"error: {model} is not a readable {kind} model ("
        ), err
        assert err[1].startswith(
            "hint: the file is truncated or foreign: "
            + ("retrain" if suffix == ".keras" else "export it again")
        )
    assert model.read_bytes() == before


class _CtrlC(run_callbacks.EpochTimer):
    """The run's epoch timer, pressing Ctrl-C in the middle of epoch 2."""

    def on_train_batch_end(self, batch, logs=None):
        if getattr(self, "_epoch", 0) == 1 and batch == 1:
            raise KeyboardInterrupt

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch
        super().on_epoch_begin(epoch, logs)


def test_ctrl_c_in_training_says_how_to_resume(
    tiny_dataset, tmp_path, capsys, monkeypatch
):
    run_dir = tmp_path / "run"
    argv = [
        "train",
        "--quick",
        "--epochs",
        "3",
        "--batch-size",
        "8",
        "--quiet",
        "--no-plots",
        "--data-dir",
        str(tiny_dataset),
        "--run-dir",
        str(run_dir),
        "--cache-dir",
        str(tmp_path / "cache"),
    ]
    monkeypatch.setattr(run_callbacks, "EpochTimer", _CtrlC)
    status, out, err = _run(argv, capsys)
    assert status == 130
    assert err[-1] == (
        "interrupted: finished work is saved; rerun the same command to resume"
    )
    assert (run_dir / "backup").is_dir() and not (run_dir / "metrics.json").exists()
    assert [
        int(r["epoch"]) for r in run_callbacks.read_history(run_dir / "history.csv")
    ] == [0]
    monkeypatch.undo()
    status, out, err = _run(argv, capsys)
    assert status == 0, err
    history = run_callbacks.read_history(run_dir / "history.csv")
    assert [int(r["epoch"]) for r in history] == [0, 1, 2]
    assert json.loads((run_dir / "metrics.json").read_text())["resumed"] is True
