"""The neural-ODE command line: the messages a user sees for each mistake
(one or two lines, exit status 2), Ctrl-C (130), --help (0) and the
deprecated --seeds N and --verbose 0|1."""

import pytest

from applications.common import runs
from applications.neural_ode.__main__ import main
from applications.neural_ode.experiments import runner
from tests.applications import cli_checks

PROG = "python -m applications.neural_ode"


def run(capsys, argv):
    return cli_checks.run(main, capsys, argv)


def test_help_prints_only_the_help(capsys):
    code, out, err = run(capsys, ["--help"])
    assert code == 0 and err == []
    assert out.startswith(f"usage: {PROG}") and "--summary-only" in out


def test_unknown_backend(capsys):
    code, _, err = run(capsys, ["resnet", "--backend", "nope"])
    assert code == 2 and err[0] == "error: --backend='nope' is not a Keras backend"


@pytest.mark.parametrize(
    "argv, lines",
    [
        (
            ["resnet", "--quick", "--activations", "swish"],
            [
                "error: neural_ode: unknown activation 'swish'; choose from ('apalu_smooth', "
                "'apalu', 'relu', 'softplus', 'tanh', 'gelu')."
            ],
        ),
        (
            ["mnist"],
            [
                f"error: {PROG}: argument experiment: invalid choice: 'mnist' "
                "(choose from 'gradients', 'resnet', 'ntk', 'train')",
                f"hint: see {PROG} --help",
            ],
        ),
        (
            ["resnet", "--colour"],
            [
                f"error: {PROG}: unrecognized arguments: --colour",
                f"hint: see {PROG} --help",
            ],
        ),
        (
            ["resnet", "--set", "depth=3"],
            [
                "error: --set: unknown setting 'depth'",
                "hint: settings: activations, depths, dtype, horizon, reference_steps, samples, "
                "seeds, width",
            ],
        ),
        (
            ["resnet", "--set", "width"],
            [
                "error: --set needs NAME=VALUE; got 'width'",
                "hint: e.g. --set widths=16,64",
            ],
        ),
        (
            ["resnet", "--set", "width=wide"],
            [
                "error: --set width=wide: 'wide' is not a valid value of width",
                "hint: default: 32",
            ],
        ),
    ],
)
def test_bad_usage_is_two_lines_and_status_2(capsys, tmp_path, argv, lines):
    code, _, err = run(capsys, argv + ["--run-dir", str(tmp_path)])
    assert code == 2 and err == lines


def test_run_folder_with_other_settings(capsys, tmp_path):
    runs.RunFolder(tmp_path, {"width": 99})
    code, _, err = run(capsys, ["resnet", "--quick", "--run-dir", str(tmp_path)])
    cli_checks.assert_other_settings_refused(code, err, tmp_path)


def test_unwritable_run_folder(capsys, tmp_path):
    (tmp_path / "file").write_text("")
    code, _, err = run(
        capsys, ["resnet", "--quick", "--run-dir", str(tmp_path / "file" / "r")]
    )
    cli_checks.assert_unwritable_refused(code, err, tmp_path / "file" / "r")


def test_summary_of_an_empty_run_folder(capsys, tmp_path):
    code, _, err = run(
        capsys, ["resnet", "--quick", "--summary-only", "--run-dir", str(tmp_path)]
    )
    assert code == 2 and err == [
        f"error: neural_ode: {tmp_path} has no finished seed to summarise yet",
        "hint: run the experiment without --summary-only first",
    ]


def test_ctrl_c_says_how_to_resume(capsys, tmp_path, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(runner.experiment_module("resnet"), "run_cell", interrupted)
    code, _, err = run(
        capsys, ["resnet", "--quick", "--quiet", "--run-dir", str(tmp_path)]
    )
    assert code == 130
    assert err == [
        "interrupted: finished work is saved; rerun the same command to resume"
    ]


def test_deprecated_seed_count_and_verbose_level(capsys, monkeypatch):
    seen = []
    monkeypatch.setattr(
        runner,
        "run",
        lambda name, settings, run_dir, verbose, summary_only: seen.append(
            (settings.seeds, verbose, run_dir)
        ),
    )
    assert main(["resnet", "--seeds", "3", "--verbose", "0"]) == 0
    err = capsys.readouterr().err.splitlines()
    assert err == [
        "note: --seeds 3 is deprecated; it now reads as --seeds 0-2.",
        "note: --verbose 0 is deprecated; it now reads as --quiet.",
    ]
    main(["resnet", "--quick", "--seeds", "2-3", "--verbose", "1"])
    main(["ntk", "--verbose"])
    assert seen == [
        ((0, 1, 2), False, "runs/neural_ode/resnet"),
        ((2, 3), True, "runs/neural_ode/resnet-quick"),
        ((0, 1, 2), True, "runs/neural_ode/ntk"),
    ]
