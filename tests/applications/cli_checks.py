"""Checks shared by the applications' command-line tests (each application's
test_cli.py runs its own command through them)."""

from applications.common import cli


def run(main, capsys, argv):
    """`cli.run(main, argv)`: (exit status, stdout, stderr lines); never a
    traceback."""
    code = cli.run(main, argv)
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err.strip().splitlines()


def assert_other_settings_refused(code, err, folder):
    """A run folder made with other settings: two lines, exit status 2."""
    assert code == 2
    assert err[0].startswith(
        f"error: {folder} holds runs made with other settings (changed: "
    )
    assert err[1] == "hint: use another --run-dir, or delete that folder to start over"


def assert_unwritable_refused(code, err, folder):
    """A run folder under a regular file: two lines, exit status 2."""
    assert code == 2
    assert err == [
        f"error: cannot write the run folder {folder} (Not a directory)",
        "hint: choose a folder you can write to with --run-dir DIR",
    ]
