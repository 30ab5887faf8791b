"""`web`'s usage errors and the selftest's image selection (no browser)."""

import pytest

from applications.sign_language import __main__ as app
from applications.sign_language.web import selftest
from tests.applications import cli_checks

pytestmark = pytest.mark.backend_independent


def test_selftest_needs_images(capsys):
    code, _, err = cli_checks.run(app.main, capsys, ["web", "--selftest"])
    assert code == 2
    assert err[0] == "error: --selftest needs --images DIR"


def test_selftest_limit_must_be_positive(tmp_path, capsys):
    code, _, err = cli_checks.run(
        app.main,
        capsys,
        ["web", "--selftest", "--images", str(tmp_path), "--limit", "0"],
    )
    assert code == 2
    assert err[0] == "error: --limit must be >= 1; got 0"


def test_port_out_of_range(capsys):
    code, _, err = cli_checks.run(app.main, capsys, ["web", "--port", "70000"])
    assert code == 2
    assert err[0] == "error: --port must be 0..65535; got 70000"


def test_missing_browser_says_what_to_install(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(selftest, "CHROMIUM", str(tmp_path / "no-chromium"))
    code, _, err = cli_checks.run(
        app.main, capsys, ["web", "--selftest", "--images", str(tmp_path)]
    )
    assert code == 2
    assert err == [
        f"error: the selftest needs headless Chromium: {tmp_path / 'no-chromium'} "
        "is missing (apt-get install -y chromium)",
        "hint: ./install.sh installs chromium, chromium-driver and selenium",
    ]


def test_select_images_takes_each_class_in_turn(tmp_path):
    for digit in "0123":
        (tmp_path / digit).mkdir()
        for i in range(3):
            (tmp_path / digit / f"{i}.jpg").write_bytes(b"")
    (tmp_path / "notes.txt").write_text("not an image")
    chosen = selftest.select_images(tmp_path, limit=6)
    assert [label for _, label in chosen] == ["0", "1", "2", "3", "0", "1"]
    assert len(selftest.select_images(tmp_path)) == 12


def test_select_images_unlabelled_and_empty(tmp_path):
    (tmp_path / "hand.png").write_bytes(b"")
    assert selftest.select_images(tmp_path) == [(tmp_path / "hand.png", None)]
    (tmp_path / "hand.png").unlink()
    with pytest.raises(Exception, match="no image files"):
        selftest.select_images(tmp_path)
