"""The implicit-fields command line: the messages a user sees for each
mistake (one or two lines, exit status 2), Ctrl-C (130) and --help (0)."""

import pytest

from applications.common import runs
from applications.implicit_fields import compare as compare_lib
from applications.implicit_fields.__main__ import main
from tests.applications import cli_checks

PROG = "python -m applications.implicit_fields"


def run(capsys, argv):
    return cli_checks.run(main, capsys, argv)


def test_help_prints_only_the_help(capsys):
    code, out, err = run(capsys, ["ct", "--help"])
    assert code == 0 and err == []
    assert out.startswith(f"usage: {PROG} ct") and "--angles" in out


def test_unknown_backend(capsys):
    code, _, err = run(capsys, ["image", "--backend", "nope"])
    assert code == 2 and err[0] == "error: --backend='nope' is not a Keras backend"
    assert err[1].startswith("hint: choose one of tensorflow, jax, torch")


@pytest.mark.parametrize(
    "argv, message",
    [
        (
            ["image", "--models", "siren", "nerf"],
            f"error: {PROG} image: argument --models: invalid choice: 'nerf'",
        ),
        (["image", "--colour"], f"error: {PROG}: unrecognized arguments: --colour"),
        (
            ["image", "--steps", "25", "--eval-every", "10"],
            f"error: {PROG}: --steps (25) must be a multiple of --eval-every (10)",
        ),
        (
            ["image", "--seeds", "3-1"],
            f"error: {PROG} image: argument --seeds: '3-1' is not a seed or a range",
        ),
    ],
)
def test_bad_usage_is_two_lines_and_status_2(capsys, tmp_path, argv, message):
    code, _, err = run(capsys, argv + ["--run-dir", str(tmp_path)])
    assert code == 2 and len(err) == 2 and err[0].startswith(message), err
    assert (
        err[1] == f"hint: see {PROG} image --help"
        or err[1] == f"hint: see {PROG} --help"
    )


def test_run_folder_with_other_settings(capsys, tmp_path):
    runs.RunFolder(tmp_path / "image", {"task": "image", "size": 99})
    code, _, err = run(capsys, ["image", "--quick", "--run-dir", str(tmp_path)])
    assert code == 2
    assert err[0].startswith(
        f"error: {tmp_path / 'image'} holds runs made with other settings (changed: "
    )
    assert "size" in err[0] and err[1].startswith("hint: use another --run-dir")


def test_unwritable_run_folder(capsys, tmp_path):
    (tmp_path / "file").write_text("")
    code, _, err = run(
        capsys, ["image", "--quick", "--run-dir", str(tmp_path / "file")]
    )
    cli_checks.assert_unwritable_refused(code, err, tmp_path / "file" / "image")


def test_ctrl_c_says_how_to_resume(capsys, tmp_path, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(compare_lib, "run_one", interrupted)
    code, _, err = run(
        capsys, ["image", "--quick", "--quiet", "--run-dir", str(tmp_path)]
    )
    assert code == 130
    assert err == [
        "interrupted: finished work is saved; rerun the same command to resume"
    ]


def test_seed_ranges(capsys):
    from applications.implicit_fields.__main__ import parse

    assert parse(["image", "--seeds", "0-2", "5"]).seeds == [0, 1, 2, 5]
    assert parse(["ct", "--seeds", "4"]).seeds == [4]
