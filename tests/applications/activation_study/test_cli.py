"""The activation study's command line: the messages a user sees for each
mistake (one or two lines, exit status 2), Ctrl-C (130), --help (0), and the
deprecated count form of --seeds."""

import pytest

from applications.activation_study import depth
from applications.activation_study.__main__ import main
from applications.common import runs
from tests.applications import cli_checks


def run(capsys, argv):
    return cli_checks.run(main, capsys, argv)


def test_help_prints_only_the_help(capsys):
    code, out, err = run(capsys, ["depth", "--help"])
    assert code == 0 and err == []
    assert out.startswith("usage: python -m applications.activation_study depth")
    assert "--seeds S [S ...]" in out and "--mlp-depths" in out


@pytest.mark.parametrize(
    "argv, env, message",
    [
        (
            ["depth", "--backend", "nope"],
            None,
            "error: --backend='nope' is not a Keras backend",
        ),
        (["depth"], "nope", "error: KERAS_BACKEND='nope' is not a Keras backend"),
    ],
)
def test_unknown_backend(capsys, monkeypatch, argv, env, message):
    if env:
        monkeypatch.setenv("KERAS_BACKEND", env)
    code, _, err = run(capsys, argv)
    assert code == 2 and err == [
        message,
        "hint: choose one of tensorflow, jax, torch "
        "(e.g. KERAS_BACKEND=jax or --backend jax)",
    ]


@pytest.mark.parametrize(
    "argv, message",
    [
        (
            ["depth", "--activations", "swishy"],
            "error: python -m applications.activation_study depth: argument --activations: "
            "invalid choice: 'swishy'",
        ),
        (
            ["depth", "--colour", "3"],
            "error: python -m applications.activation_study: unrecognized arguments: "
            "--colour 3",
        ),
        (
            ["nonsense"],
            "error: python -m applications.activation_study: argument STUDY: "
            "invalid choice: 'nonsense'",
        ),
        (
            ["depth", "--seeds", "0", "x"],
            "error: python -m applications.activation_study depth: "
            "argument --seeds: 'x' is not a seed or a range",
        ),
        (
            ["depth", "--quick", "--mlp-depths", "0"],
            "error: mlp_depths must be >= 1; got [0].",
        ),
        (
            ["sensitivity", "--quick", "--seeds", "5-6"],
            "error: --seeds 5 6: this study trains its seeds side by side from one random stream",
        ),
    ],
)
def test_bad_usage_is_two_lines_and_status_2(capsys, tmp_path, argv, message):
    code, _, err = run(capsys, argv + ["--run-dir", str(tmp_path / "run")])
    assert code == 2 and 1 <= len(err) <= 2
    assert err[0].startswith(message), err


def test_run_folder_with_other_settings(capsys, tmp_path):
    runs.RunFolder(tmp_path, {"epochs": 99})
    code, _, err = run(capsys, ["depth", "--quick", "--run-dir", str(tmp_path)])
    cli_checks.assert_other_settings_refused(code, err, tmp_path)


def test_unwritable_run_folder(capsys, tmp_path):
    (tmp_path / "file").write_text("")
    code, _, err = run(
        capsys, ["depth", "--quick", "--run-dir", str(tmp_path / "file" / "run")]
    )
    cli_checks.assert_unwritable_refused(code, err, tmp_path / "file" / "run")


def test_ctrl_c_says_how_to_resume(capsys, tmp_path, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(runs, "run_jobs", interrupted)
    code, _, err = run(
        capsys, ["depth", "--quick", "--quiet", "--run-dir", str(tmp_path)]
    )
    assert code == 130
    assert err == [
        "interrupted: finished work is saved; rerun the same command to resume"
    ]


def test_seed_lists_and_the_deprecated_count_form(capsys, monkeypatch):
    seen = []
    monkeypatch.setattr(depth, "run", lambda args: seen.append(args.seeds) or "folder")
    assert main(["depth", "--seeds", "3"]) == "folder"
    assert (
        "note: --seeds 3 is deprecated; it now reads as --seeds 0-2."
        in capsys.readouterr().err
    )
    main(["depth", "--seeds", "0", "4-5", "--quick"])
    main(["depth", "--seeds", "0"])
    main(["depth", "--quick"])
    main(["depth"])
    assert seen == [[0, 1, 2], [0, 4, 5], [0], [0, 1], [0, 1, 2, 3, 4]]
    assert "deprecated" not in capsys.readouterr().err
