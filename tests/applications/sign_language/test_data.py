import hashlib
import pathlib
import shutil
import warnings
import zipfile

import numpy as np
import pytest
from PIL import Image

from applications.common.errors import RunFailedError
from applications.sign_language import data
from tests.conftest import REPO

PUBLIC_MANIFEST = (
    REPO.parent
    / "shared"
    / "datasets"
    / "manifests"
    / "sign-language-digits-4b09433.sha256"
)

# File handling, hashing and image decoding: no Keras backend involved;
# runs in one backend's pass only (tests/conftest.py).
pytestmark = pytest.mark.backend_independent


def _make_dataset(root, per_class=2, size=(20, 12)):
    """Writes Dataset/<digit>/IMG_<n>.JPG with a flat colour per class."""
    number = 100
    for digit in range(10):
        folder = root / "Dataset" / str(digit)
        folder.mkdir(parents=True, exist_ok=True)
        for _ in range(per_class):
            Image.new("RGB", size, (20 * digit, 100, 200)).save(
                folder / f"IMG_{number}.JPG"
            )
            number += 1
    return root


@pytest.fixture
def isolated(monkeypatch, tmp_path):
    """No environment variable, and an empty Keras home in tmp_path."""
    monkeypatch.delenv(data.ENV_VAR, raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    return tmp_path


def test_resolution_order(isolated, monkeypatch):
    explicit = _make_dataset(isolated / "explicit")
    from_env = _make_dataset(isolated / "env")
    cached = _make_dataset(
        isolated / "keras_home" / "datasets" / data.CACHE_NAME / "extracted"
    )
    monkeypatch.setenv(data.ENV_VAR, str(from_env))

    assert data.resolve_data_dir(explicit) == explicit / "Dataset"
    assert data.resolve_data_dir() == from_env / "Dataset"
    monkeypatch.delenv(data.ENV_VAR)
    assert data.resolve_data_dir(allow_download=False) == cached / "Dataset"


def test_explicit_folder_without_dataset_is_an_error(isolated, monkeypatch):
    with pytest.raises(data.DatasetError, match="--data-dir"):
        data.resolve_data_dir(isolated / "nothing")
    monkeypatch.setenv(data.ENV_VAR, str(isolated / "nothing"))
    with pytest.raises(data.DatasetError, match=data.ENV_VAR):
        data.resolve_data_dir()


def test_missing_dataset_without_download_is_an_error(isolated):
    with pytest.raises(data.DatasetError, match="not found"):
        data.resolve_data_dir(allow_download=False)


def test_download_from_file_url(isolated):
    source = _make_dataset(isolated / "source")
    archive = isolated / "master.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted(source.rglob("*.JPG")):
            relative = path.relative_to(source)
            zf.write(path, f"Sign-Language-Digits-Dataset-master/{relative.as_posix()}")

    root = data.resolve_data_dir(url=archive.as_uri())

    expected = isolated / "keras_home" / "datasets" / data.CACHE_NAME
    assert root.is_relative_to(expected)
    assert sorted(p.name for p in root.iterdir()) == sorted(data.CLASS_NAMES)
    assert len(list(root.rglob("*.JPG"))) == 20
    # Found in the Keras cache from now on, without downloading again.
    archive.unlink()
    assert data.resolve_data_dir(url=archive.as_uri()) == root


def test_load_resizes_and_converts(tmp_path):
    _make_dataset(tmp_path, size=(300, 200))
    loaded = data.load_dataset(tmp_path / "Dataset", image_size=8, use_cache=False)
    assert loaded["images"].shape == (20, 8, 8, 3)
    assert loaded["images"].dtype == np.uint8
    np.testing.assert_array_equal(loaded["labels"], np.repeat(np.arange(10), 2))
    # A flat colour stays that colour (up to JPEG rounding).
    expected = np.array([[20 * d, 100, 200] for d in np.repeat(np.arange(10), 2)])
    np.testing.assert_allclose(loaded["images"].mean(axis=(1, 2)), expected, atol=3)
    grey = data.load_dataset(tmp_path / "Dataset", 8, "grayscale", use_cache=False)
    assert grey["images"].shape == (20, 8, 8, 1)
    luminance = expected @ np.array([0.299, 0.587, 0.114])
    np.testing.assert_allclose(grey["images"].mean(axis=(1, 2, 3)), luminance, atol=3)


def test_corrupt_files_are_skipped_with_a_counted_warning(tmp_path):
    root = _make_dataset(tmp_path) / "Dataset"
    (root / "3" / "IMG_900.JPG").write_bytes(b"not a jpeg at all")
    (root / "5" / "IMG_901.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    (root / "5" / "notes.txt").write_text("ignored: not an image suffix")
    with pytest.warns(UserWarning, match=r"Skipped 2 unreadable image file\(s\) of 22"):
        loaded = data.load_dataset(root, image_size=8, use_cache=False)
    assert len(loaded["labels"]) == 20
    assert not any("IMG_90" in f for f in loaded["files"])


@pytest.mark.parametrize("problem", ["missing", "empty"])
def test_missing_or_empty_class_folder_is_an_error(tmp_path, problem):
    root = _make_dataset(tmp_path) / "Dataset"
    for path in (root / "7").iterdir():
        path.unlink()
    if problem == "missing":
        (root / "7").rmdir()
    with pytest.raises(data.DatasetError, match=r"7"):
        data.load_dataset(root, image_size=8, use_cache=False)


def test_class_with_only_corrupt_files_is_an_error(tmp_path):
    root = _make_dataset(tmp_path, per_class=1) / "Dataset"
    (root / "2" / "IMG_102.JPG").write_bytes(b"garbage")
    with pytest.warns(UserWarning), pytest.raises(data.DatasetError, match=r"\[2\]"):
        data.load_dataset(root, image_size=8, use_cache=False)


def test_cache_is_reused_and_invalidated(tmp_path, monkeypatch):
    root = _make_dataset(tmp_path / "d") / "Dataset"
    cache = tmp_path / "cache"
    first = data.load_dataset(root, 8, cache_dir=cache)
    assert len(list(cache.glob("*.npz"))) == 1

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded although cached")

    monkeypatch.setattr(data, "load_image", no_decoding)
    second = data.load_dataset(root, 8, cache_dir=cache)
    for name in ("images", "labels", "files"):
        np.testing.assert_array_equal(first[name], second[name])
    monkeypatch.undo()
    # A new file changes the key: decoded again, new cache entry.
    Image.new("RGB", (9, 9)).save(root / "0" / "IMG_999.JPG")
    third = data.load_dataset(root, 8, cache_dir=cache)
    assert len(third["labels"]) == 21
    assert len(list(cache.glob("*.npz"))) == 2


def test_development_copy_layout(sign_language_dir):
    entries = data.list_images(data.resolve_data_dir(sign_language_dir))
    assert len(entries) > 1000
    assert {label for _, label in entries} == set(range(10))
    assert all(isinstance(p, pathlib.Path) for p, _ in entries)


# -- integrity: the SHA-256 manifest -----------------------------------------


def test_download_is_pinned_to_a_commit_archive():
    assert data.DATASET_URL.endswith(
        "/archive/4b09433ef9d5c60602e8805bb54b8aa2428527f8.zip"
    )


def _parse_sha256sum(path):
    # Independent of read_manifest: split each line at the first run of blanks.
    entries = {}
    for line in pathlib.Path(path).read_text().splitlines():
        digest, name = line.split(None, 1)
        entries[name.lstrip("*")] = digest
    return entries


def test_manifest_is_the_public_archive_and_holds_the_development_copy(
    sign_language_dir,
):
    public = _parse_sha256sum(PUBLIC_MANIFEST)
    assert len(public) == 2062
    assert data.read_manifest() == public
    # Independent of verify_dataset: hash every image here with hashlib.
    root = pathlib.Path(sign_language_dir) / "Dataset"
    images = {
        f"{p.parent.name}/{p.name}": hashlib.sha256(p.read_bytes()).hexdigest()
        for p in root.glob("*/*")
        if p.is_file()
    }
    assert len(images) == 1753
    assert {name: public[name] for name in images} == images


def test_development_copy_verifies_without_a_warning(sign_language_dir):
    root = pathlib.Path(sign_language_dir) / "Dataset"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        files = data.verified_files(root)
    assert len(files) == 1753
    check = data.verify_dataset(root)
    assert not check.unlisted and len(check.missing) == 2062 - 1753


def _copy(tiny_dataset, target):
    shutil.copytree(tiny_dataset, target)
    return target / "Dataset"


def test_changed_images_are_named_in_the_error(tiny_dataset, tmp_path):
    root = _copy(tiny_dataset, tmp_path / "copy")
    victims = [sorted((root / digit).iterdir())[1] for digit in ("3", "8")]
    for path in victims:
        content = bytearray(path.read_bytes())
        content[-3] ^= 0xFF  # one flipped byte
        path.write_bytes(bytes(content))
    with pytest.raises(data.DatasetError, match=r"2 image\(s\).*differ") as error:
        data.verify_dataset(root)
    for path in victims:
        assert f"{path.parent.name}/{path.name}" in str(error.value)
    assert "--no-verify-data" in error.value.hint


def test_unlisted_images_are_left_out_and_missing_ones_counted(tiny_dataset, tmp_path):
    root = _copy(tiny_dataset, tmp_path / "copy")
    Image.new("RGB", (10, 10)).save(root / "4" / "IMG_99999.JPG")
    check = data.verify_dataset(root)
    assert check.unlisted == ["4/IMG_99999.JPG"]
    assert len(check.verified) == 120
    assert len(check.missing) == 2062 - 120
    with pytest.warns(UserWarning, match=r"Left out 1 image\(s\).*4/IMG_99999.JPG"):
        files = data.verified_files(root)
    loaded = data.load_dataset(root, 8, use_cache=False, files=files)
    assert len(loaded["files"]) == 120 and "4/IMG_99999.JPG" not in loaded["files"]


def test_a_dataset_the_manifest_does_not_know_is_an_error(tmp_path):
    root = _make_dataset(tmp_path) / "Dataset"
    with pytest.raises(data.DatasetError, match="none of the 20 images"):
        data.verify_dataset(root)


def test_training_data_is_verified_unless_the_user_opts_out(tiny_dataset, tmp_path):
    from applications.sign_language import __main__ as cli
    from applications.sign_language.train import load_data

    root = _copy(tiny_dataset, tmp_path / "copy")
    victim = sorted((root / "0").iterdir())[0]
    content = bytearray(victim.read_bytes())
    content[len(content) // 2] ^= 0x01  # still a decodable JPEG, other pixels
    victim.write_bytes(bytes(content))
    args = cli.build_parser().parse_args(
        [
            "train",
            "--data-dir",
            str(root.parent),
            "--cache-dir",
            str(tmp_path / "c"),
            "--image-size",
            "8",
        ]
    )
    config = cli._config_from(args)
    assert config.verify_data is True
    with pytest.raises(data.DatasetError, match=f"0/{victim.name}"):
        load_data(config)
    args = cli.build_parser().parse_args(
        [
            "train",
            "--data-dir",
            str(root.parent),
            "--cache-dir",
            str(tmp_path / "c"),
            "--image-size",
            "8",
            "--no-verify-data",
        ]
    )
    config = cli._config_from(args)
    assert config.verify_data is False
    assert len(load_data(config)["labels"]) == 120


# -- first use: download, Keras cache, data folders ---------------------------


def _zip_dataset(source, archive, top="Sign-Language-Digits-Dataset-4b09433"):
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted(source.rglob("*.JPG")):
            zf.write(path, f"{top}/{path.relative_to(source).as_posix()}")
    return archive


def _manifest_of(root, path, extra=()):
    """A sha256sum manifest of the images under `root` (plus `extra` lines)."""
    lines = [
        f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.parent.name}/{p.name}"
        for p in sorted(root.glob("*/*"))
    ]
    path.write_text("\n".join(lines + list(extra)) + "\n")
    return path


def test_failed_download_names_the_url_and_data_dir(isolated):
    url = (isolated / "offline" / "archive.zip").as_uri()
    with pytest.raises(
        RunFailedError,
        match="could not download the dataset from " + url.replace(".", r"\."),
    ) as error:
        data.resolve_data_dir(url=url)
    assert "--data-dir" in error.value.hint
    archive, extracted = data.archive_paths()
    assert not archive.exists() and not extracted.exists()


@pytest.mark.parametrize("damage", ["truncated", "corrupt", "foreign"])
def test_bad_archive_in_the_cache_names_the_files_to_delete(isolated, damage):
    source = _make_dataset(isolated / "source")
    good = _zip_dataset(source, isolated / "good.zip").read_bytes()
    archive, extracted = data.archive_paths()
    archive.parent.mkdir(parents=True)
    if damage == "truncated":
        archive.write_bytes(good[: len(good) // 2])
    elif damage == "corrupt":  # intact structure, one image's bytes changed
        start = good.index(b"\xff\xd8\xff") + 40
        archive.write_bytes(
            good[:start] + bytes([good[start] ^ 0xFF]) + good[start + 1 :]
        )
    else:
        with zipfile.ZipFile(archive, "w") as zf:
            zf.writestr("other-project/README.md", "not the dataset")
    # The URL is never used: the cached archive is taken as downloaded.
    with pytest.raises(data.DatasetError, match=str(archive)) as error:
        data.resolve_data_dir(url=(isolated / "absent.zip").as_uri())
    assert f"delete {archive} and {extracted}" in error.value.hint


def test_a_download_that_does_not_match_its_hash_is_an_error(isolated):
    source = _make_dataset(isolated / "source")
    url = _zip_dataset(source, isolated / "archive.zip").as_uri()
    with pytest.raises(data.DatasetError, match="does not match its SHA-256"):
        data.download(url, file_hash="0" * 64)
    digest = hashlib.sha256((isolated / "archive.zip").read_bytes()).hexdigest()
    assert data.download(url, file_hash=digest) == data.archive_paths()[1]


def test_an_incomplete_dataset_in_the_cache_names_the_files_to_delete(isolated):
    source = _make_dataset(isolated / "source", per_class=3)
    manifest = _manifest_of(source / "Dataset", isolated / "manifest.sha256")
    root = data.resolve_data_dir(url=_zip_dataset(source, isolated / "a.zip").as_uri())
    assert data.in_keras_cache(root)
    assert len(data.verified_files(root, manifest)) == 30  # whole: no error
    (root / "6" / "IMG_118.JPG").unlink()  # as from an interrupted extraction
    with pytest.raises(
        data.DatasetError,
        match=r"lacks 1 of the archive's 30 images "
        r"\(e\.g\. 6/IMG_118\.JPG\)",
    ) as error:
        data.verified_files(root, manifest)
    assert "delete" in error.value.hint and data.CACHE_NAME in error.value.hint
    # The same images given by --data-dir are a subset: used, no warning.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(data.verified_files(root, manifest, complete=False)) == 29


def test_public_layout_subset_and_superset_of_the_manifest(tmp_path):
    """A folder may hold fewer images than the manifest (silently) or more
    (left out, with a warning); those it holds must match."""
    full = _make_dataset(tmp_path / "full", per_class=3) / "Dataset"
    manifest = _manifest_of(full, tmp_path / "manifest.sha256")
    subset = _copy(full.parent, tmp_path / "subset")
    for digit in "0259":
        sorted((subset / digit).iterdir())[0].unlink()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        files = data.verified_files(subset, manifest)
    assert len(files) == 26
    assert len(data.verify_dataset(subset, manifest).missing) == 4
    superset = _copy(full.parent, tmp_path / "superset")
    Image.new("RGB", (5, 5), (1, 2, 3)).save(superset / "3" / "IMG_5000.JPG")
    with pytest.warns(UserWarning, match=r"Left out 1 image\(s\).*3/IMG_5000\.JPG"):
        files = data.verified_files(superset, manifest)
    assert len(files) == 30 and "3/IMG_5000.JPG" not in files


@pytest.mark.parametrize(
    "content, expected",
    [
        ("empty", "it is empty"),
        ("files", "it holds notes.txt, photo.jpg, no class folders 0..9"),
        ("some classes", "it has class folders 0, 1, 2, 3, 4 but not 5, 6, 7, 8, 9"),
    ],
)
def test_a_data_folder_without_a_dataset_says_what_it_holds(
    isolated, content, expected
):
    folder = isolated / "mine"
    folder.mkdir()
    if content == "files":
        (folder / "notes.txt").write_text("x")
        Image.new("RGB", (4, 4)).save(folder / "photo.jpg")
    elif content == "some classes":
        for digit in range(5):
            (folder / str(digit)).mkdir()
    with pytest.raises(
        data.DatasetError, match=f"in {folder} .given by --data-dir.: " + expected
    ):
        data.resolve_data_dir(folder)


def test_mixed_content_in_class_folders_is_skipped_and_counted(tmp_path):
    root = _make_dataset(tmp_path) / "Dataset"
    (root / "1" / "thumbs.db").write_bytes(b"\x00" * 10)  # not an image suffix
    (root / "1" / "sub").mkdir()  # a folder inside a class folder
    (root / "8" / "IMG_9.png").write_text("text in a .png")
    with pytest.warns(
        UserWarning,
        match=r"Skipped 1 unreadable image file\(s\) of 21: "
        r".*IMG_9\.png",
    ):
        loaded = data.load_dataset(root, image_size=8, use_cache=False)
    assert len(loaded["labels"]) == 20


def test_first_verified_download_pins_the_archive_digest(isolated):
    """No published digest: the first download whose images all verify has
    its SHA-256 recorded, and `get_file` then checks the cached archive
    against it (a changed archive is downloaded again)."""
    source = _make_dataset(isolated / "source", per_class=2)
    manifest = _manifest_of(source / "Dataset", isolated / "manifest.sha256")
    zipped = _zip_dataset(source, isolated / "a.zip")
    url = zipped.as_uri()
    root = data.resolve_data_dir(url=url)
    assert data.recorded_archive_hash() is None  # not verified yet
    data.verified_files(root, manifest)
    digest = hashlib.sha256(zipped.read_bytes()).hexdigest()
    assert data.recorded_archive_hash() == digest
    # A cached archive changed later is replaced by a fresh download.
    archive, extracted = data.archive_paths()
    archive.write_bytes(b"not the archive")
    shutil.rmtree(extracted)
    assert data.download(url) == extracted
    assert hashlib.sha256(archive.read_bytes()).hexdigest() == digest
    # ... and where that download differs too, the error says what to delete.
    zipped.write_bytes(b"moved on")
    archive.write_bytes(b"not the archive")
    shutil.rmtree(extracted)
    with pytest.raises(data.DatasetError, match="does not match its SHA-256") as error:
        data.download(url)
    assert f"delete {archive}" in error.value.hint


def test_an_incomplete_download_records_no_digest(isolated):
    source = _make_dataset(isolated / "source", per_class=2)
    manifest = _manifest_of(
        source / "Dataset", isolated / "manifest.sha256", extra=[f"{'0' * 64}  3/X.JPG"]
    )
    root = data.resolve_data_dir(url=_zip_dataset(source, isolated / "a.zip").as_uri())
    with pytest.raises(data.DatasetError, match="lacks 1"):
        data.verified_files(root, manifest)
    assert data.recorded_archive_hash() is None
