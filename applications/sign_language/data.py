"""Finding, decoding and caching the Sign Language Digits dataset.

The dataset is a folder `Dataset/<digit>/<image>` with one folder per class
`0`..`9` (github.com/ardamavi/Sign-Language-Digits-Dataset). Most images are
100x100 RGB JPEGs, a few are 3024x3024 camera photos; every image is resized
on load, and the decoded arrays are cached in an `.npz` so that later runs do
not decode the large photos again.

Where the data comes from, first match wins (`resolve_data_dir`):

1. the `data_dir` argument (`--data-dir` on the command line);
2. the environment variable `SIGN_LANGUAGE_DIGITS_DIR`;
3. the Keras cache, `$KERAS_HOME/datasets/sign-language-digits` (by default
   `~/.keras/datasets/...`), where an earlier download was extracted;
4. a download of the public archive with `keras.utils.get_file`, extracted
   into that cache. The archive is that of one commit of the public
   repository (4b09433, 2021-05-08, its last), not of a branch, so what it
   holds cannot change.

Whatever the source, training checks the images against `dataset.sha256`
(beside this file; `sha256sum -c` reads it too), the SHA-256 of all 2,062
images of the public archive at that commit (`verify_dataset`): a changed
image stops the run with an error naming the files; images the manifest does
not list are left out with a warning; a folder holding only some of the
images (the development copy holds 1,753) is used as it is, but the dataset
extracted into the Keras cache from a download must hold every image, or the
error names the cache files to delete. `--no-verify-data` turns the check off.

The archive's own SHA-256 is not published (`ARCHIVE_SHA256` is `None`), so
it is recorded on first use: once the images extracted from a download have
all been verified against the manifest, the archive's digest is written
beside it (`<archive>.sha256`), and every later `download` passes it to
`keras.utils.get_file(file_hash=...)`, which downloads a cached archive that
no longer matches again (and an error names the files to delete when that
fails).
"""

import dataclasses
import hashlib
import json
import os
import pathlib
import re
import tarfile
import warnings
import zipfile
import zlib

import numpy as np

from applications.common.errors import RunFailedError
from applications.common.errors import UsageError
from applications.sign_language.config import DATASET_URL as _DATASET_URL

#: Environment variable naming a folder that holds `Dataset/<digit>/`.
ENV_VAR = "SIGN_LANGUAGE_DIGITS_DIR"
#: The public archive of the dataset (see `config.DATASET_URL`).
DATASET_URL = _DATASET_URL
#: SHA-256 of the archive at `DATASET_URL`, passed to `keras.utils.get_file`
#: as `file_hash` when known. `None`: not published; the digest of the first
#: download whose images all match `MANIFEST` is recorded instead
#: (`recorded_archive_hash`).
ARCHIVE_SHA256 = None
#: SHA-256 of every image of the public archive (2,062), `<digit>/<file>`
#: paths relative to the class root, in `sha256sum` format.
MANIFEST = pathlib.Path(__file__).with_name("dataset.sha256")
#: Name of the dataset's folder under the Keras cache's `datasets/`.
CACHE_NAME = "sign-language-digits"
#: Class names, in label order: label `i` is the digit `str(i)`.
CLASS_NAMES = tuple(str(digit) for digit in range(10))
#: File suffixes tried as images (anything else in a class folder is skipped).
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp")
COLOR_MODES = ("rgb", "grayscale")
# Bump when the decoding changes so that stale caches are not reused.
_CACHE_VERSION = 1


class DatasetError(UsageError):
    """The dataset is missing or malformed (the message says what and where,
    the `hint` how to fix it). A `ValueError`; exit status 2."""


def keras_home():
    """The Keras cache folder: `$KERAS_HOME`, else `~/.keras`."""
    return pathlib.Path(
        os.environ.get("KERAS_HOME", os.path.join("~", ".keras"))
    ).expanduser()


def _has_classes(folder):
    return all((folder / name).is_dir() for name in CLASS_NAMES)


def find_class_root(folder, max_depth=3):
    """Returns the folder holding the class folders `0`..`9` under `folder`.

    Accepts the class root itself, a folder with `Dataset/` (the layout of
    the public archive and of the development copy), or an extracted archive
    with those a few levels down. Returns `None` if there is none.

    Args:
        folder: where to look.
        max_depth: how many folder levels below `folder` to search.
    """
    folder = pathlib.Path(folder)
    if not folder.is_dir():
        return None
    if (folder / "Dataset").is_dir():
        return folder / "Dataset"
    if _has_classes(folder):
        return folder
    if max_depth > 0:
        for child in sorted(p for p in folder.iterdir() if p.is_dir()):
            found = find_class_root(child, max_depth - 1)
            if found is not None:
                return found
    return None


def archive_paths(cache_dir=None):
    """Where `download` keeps the archive and its extracted content.

    Returns:
        `(archive file, extraction folder)` under `<cache_dir>/datasets/`
        (names chosen by `keras.utils.get_file` for `fname=CACHE_NAME`).
    """
    cache_dir = keras_home() if cache_dir is None else pathlib.Path(cache_dir)
    datasets = cache_dir / "datasets"
    return datasets / f"{CACHE_NAME}_archive", datasets / CACHE_NAME


def _digest_record(archive):
    return archive.with_name(archive.name + ".sha256")


def recorded_archive_hash(cache_dir=None):
    """The archive's SHA-256 recorded after its images were verified, or `None`."""
    archive, _ = archive_paths(cache_dir)
    record = _digest_record(archive)
    if not record.is_file():
        return None
    digest = record.read_text().split()[:1]
    return digest[0] if digest and re.fullmatch("[0-9a-f]{64}", digest[0]) else None


def record_archive_hash(cache_dir=None):
    """Records the cached archive's SHA-256 beside it (first use only).

    Called once the images extracted from the archive have all been
    verified against the manifest; `download` then has `keras.utils.get_file`
    check the archive against it. Does nothing when the archive is gone or
    a digest is already recorded.
    """
    archive, _ = archive_paths(cache_dir)
    record = _digest_record(archive)
    if archive.is_file() and not record.exists():
        temporary = record.with_name(record.name + ".partial")
        temporary.write_text(f"{_sha256(archive)}  {archive.name}\n")
        os.replace(temporary, record)


def _delete_hint(cache_dir=None):
    archive, extracted = archive_paths(cache_dir)
    return (
        f"delete {archive} and {extracted}, then rerun to download it again "
        "(or pass --data-dir DIR)"
    )


def download(url=DATASET_URL, cache_dir=None, file_hash=None):
    """Downloads and extracts the dataset archive into the Keras cache.

    Uses `keras.utils.get_file`, so an archive already downloaded is reused.

    Args:
        url: where the `.zip` or `.tar.gz` archive is (`https://`, `file://`).
        cache_dir: the Keras cache folder; default `keras_home()`.
        file_hash: SHA-256 of the archive, or `None` (default:
            `ARCHIVE_SHA256`, else the digest recorded at the first verified
            download, else none): a cached archive that does not match is
            downloaded again, a download that does not match is an error.

    Returns:
        The extraction folder `<cache_dir>/datasets/sign-language-digits`.

    Raises:
        RunFailedError: the download failed (names the URL and `--data-dir`).
        DatasetError: the archive is truncated, corrupt or holds no dataset
            (names the files to delete).
    """
    import keras

    cache_dir = keras_home() if cache_dir is None else pathlib.Path(cache_dir)
    if file_hash is None:
        file_hash = ARCHIVE_SHA256 or recorded_archive_hash(cache_dir)
    archive, extracted = archive_paths(cache_dir)
    # get_file falls back to /tmp/.keras when the folder is not writable,
    # which includes "does not exist yet".
    cache_dir.mkdir(parents=True, exist_ok=True)
    fetched = archive.exists()
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "Could not extract archive")
            path = keras.utils.get_file(
                fname=CACHE_NAME,
                origin=url,
                extract=True,
                file_hash=file_hash,
                cache_dir=str(cache_dir),
                cache_subdir="datasets",
            )
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, zlib.error) as error:
        raise DatasetError(
            f"the dataset archive {archive} is truncated or corrupt ({error})",
            hint=_delete_hint(cache_dir),
        ) from error
    except ValueError as error:  # get_file: the download's hash does not match
        raise DatasetError(
            f"the archive downloaded from {url} does not match its SHA-256 {file_hash}",
            hint=_delete_hint(cache_dir),
        ) from error
    except Exception as error:  # noqa: BLE001 - get_file raises bare Exception
        if isinstance(error, OSError) and error.filename:
            raise  # a file or folder that cannot be written: cli.run names it
        if fetched:
            raise DatasetError(
                f"could not extract {archive} ({error})", hint=_delete_hint(cache_dir)
            ) from error
        reason = str(error).split(" -- ")[-1]
        raise RunFailedError(
            f"could not download the dataset from {url} ({reason})",
            hint="check the network and rerun, or download and unpack the "
            "archive yourself and pass --data-dir DIR (the folder holding "
            "Dataset/0..9)",
        ) from error
    return pathlib.Path(path)


def _describe_folder(folder):
    """What a folder without a dataset holds, for an error message."""
    folder = pathlib.Path(folder)
    if not folder.exists():
        return "it does not exist"
    if not folder.is_dir():
        return "it is a file, not a folder"
    entries = list(folder.iterdir())
    if not entries:
        return "it is empty"
    classes = sorted(p.name for p in entries if p.is_dir() and p.name in CLASS_NAMES)
    if classes:
        absent = [name for name in CLASS_NAMES if name not in classes]
        return f"it has class folders {', '.join(classes)} but not {', '.join(absent)}"
    shown = ", ".join(sorted(p.name + ("/" if p.is_dir() else "") for p in entries)[:5])
    more = f" and {len(entries) - 5} more" if len(entries) > 5 else ""
    return f"it holds {shown}{more}, no class folders 0..9"


def resolve_data_dir(
    data_dir=None, cache_dir=None, url=DATASET_URL, allow_download=True
):
    """Finds the dataset's class root (the folder holding `0`..`9`).

    Tries, in order: `data_dir`; the `SIGN_LANGUAGE_DIGITS_DIR` environment
    variable; the Keras cache; a download into the Keras cache.

    Args:
        data_dir: explicit dataset folder (`--data-dir`), or `None`.
        cache_dir: the Keras cache folder; default `keras_home()`.
        url: archive to download when nothing is found locally.
        allow_download: if `False`, raise instead of downloading.

    Returns:
        `pathlib.Path` of the class root.

    Raises:
        DatasetError: an explicitly named folder (argument or environment
            variable) has no dataset, or nothing was found and downloading
            is not allowed or gave no dataset.
        RunFailedError: the download failed.
    """
    for source, value in (("--data-dir", data_dir), (ENV_VAR, os.environ.get(ENV_VAR))):
        if value:
            root = find_class_root(value)
            if root is None:
                raise DatasetError(
                    f"no Sign Language Digits dataset in {value} (given by "
                    f"{source}): {_describe_folder(value)}",
                    hint="name the folder holding the class folders 0..9 (or "
                    "a Dataset/ folder with them)",
                )
            return root
    archive, cached = archive_paths(cache_dir)
    root = find_class_root(cached)
    if root is not None:
        return root
    if not allow_download:
        raise DatasetError(
            "Sign Language Digits dataset not found",
            hint=f"pass --data-dir, set {ENV_VAR}, or allow the download into {cached}",
        )
    root = find_class_root(download(url, cache_dir))
    if root is None:
        what = (
            "holds no class folders 0..9"
            if cached.exists()
            else "is truncated or not a zip or tar archive"
        )
        raise DatasetError(
            f"the archive {archive} (from {url}) {what}", hint=_delete_hint(cache_dir)
        )
    return root


def in_keras_cache(root, cache_dir=None):
    """Whether `root` lies in the folder `download` extracts into."""
    _, extracted = archive_paths(cache_dir)
    return pathlib.Path(root).resolve().is_relative_to(extracted.resolve())


def list_images(root):
    """Lists `(path, label)` of every image file, sorted by class and name.

    Raises:
        DatasetError: a class folder is missing or holds no image files.
    """
    root = pathlib.Path(root)
    entries = []
    for label, name in enumerate(CLASS_NAMES):
        folder = root / name
        if not folder.is_dir():
            raise DatasetError(
                f"class folder {folder} is missing",
                hint=f"the dataset needs one folder per class {', '.join(CLASS_NAMES)}",
            )
        files = sorted(
            p
            for p in folder.iterdir()
            if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
        )
        if not files:
            raise DatasetError(
                f"class folder {folder} holds no image files "
                f"({', '.join(IMAGE_SUFFIXES)})"
            )
        entries.extend((path, label) for path in files)
    return entries


def read_manifest(path=MANIFEST):
    """The manifest as a dict `{"<digit>/<file>": sha256 hex digest}`."""
    entries = {}
    for number, line in enumerate(pathlib.Path(path).read_text().splitlines(), 1):
        if not line.strip():
            continue
        digest, _, name = line.partition("  ")
        if len(digest) != 64 or not name:
            raise DatasetError(
                f"{path}, line {number}: not `<sha256>  <path>`: {line!r}"
            )
        entries[name] = digest
    return entries


def _sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclasses.dataclass
class Verification:
    """What `verify_dataset` found (paths `<digit>/<file>`, sorted).

    Attributes:
        verified: images whose SHA-256 matches the manifest.
        unlisted: images the manifest does not list.
        missing: manifest entries with no file (a subset is not an error).
    """

    verified: list
    unlisted: list
    missing: list


def _some(names, limit=10):
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def verify_dataset(root, manifest=MANIFEST):
    """Checks every image under the class root against the SHA-256 manifest.

    Hashes the image files `list_images` would load (25 MB for the whole
    development copy: about a second).

    Args:
        root: the class root (the folder holding `0`..`9`).
        manifest: the `sha256sum`-format manifest file.

    Returns:
        A `Verification`.

    Raises:
        DatasetError: an image differs from the manifest (the message names
            the files), or no image at all is listed in it.
    """
    root = pathlib.Path(root)
    expected = read_manifest(manifest)
    verified, unlisted, changed = [], [], []
    for path, _ in list_images(root):
        name = f"{path.parent.name}/{path.name}"
        digest = expected.get(name)
        if digest is None:
            unlisted.append(name)
        elif _sha256(path) == digest:
            verified.append(name)
        else:
            changed.append(name)
    if changed:
        raise DatasetError(
            f"{len(changed)} image(s) in {root} differ from the dataset "
            f"manifest {pathlib.Path(manifest).name}: {_some(changed)}",
            hint="the data may be corrupted or substituted: use a fresh copy, "
            "or pass --no-verify-data to train on it anyway",
        )
    if not verified:
        raise DatasetError(
            f"none of the {len(unlisted)} images in {root} is in the dataset "
            f"manifest {pathlib.Path(manifest).name} (e.g. {_some(unlisted, 3)})",
            hint="pass --no-verify-data to train on unverified data",
        )
    found = set(verified) | set(unlisted)
    missing = sorted(name for name in expected if name not in found)
    return Verification(verified, unlisted, missing)


def verified_files(root, manifest=MANIFEST, complete=None):
    """The images of `root` that match the manifest, for `load_dataset(files=)`.

    Warns when unlisted images are left out. A folder holding a subset of
    the manifest (such as the development copy) is used as it is, without a
    warning.

    Args:
        root: the class root.
        manifest: the `sha256sum`-format manifest file.
        complete: every image of the manifest must be there; default
            `in_keras_cache(root)`: the dataset extracted from a download
            must be whole, a folder given by the user may be a subset.

    When `root` is the dataset extracted from a download and every image of
    the manifest is there and matches, the archive's SHA-256 is recorded
    (`record_archive_hash`) for later downloads to check against.

    Raises:
        DatasetError: as `verify_dataset`, or images are missing although
            `complete` (the message names the cache files to delete).
    """
    check = verify_dataset(root, manifest)
    if complete is None:
        complete = in_keras_cache(root)
    if complete and check.missing:
        total = len(check.missing) + len(check.verified)
        raise DatasetError(
            f"the dataset extracted into the Keras cache, {root}, lacks "
            f"{len(check.missing)} of the archive's {total} images (e.g. "
            f"{_some(check.missing, 3)})",
            hint=_delete_hint(),
        )
    if not check.missing and not check.unlisted and in_keras_cache(root):
        record_archive_hash()  # the download is proven whole: pin its digest
    if check.unlisted:
        warnings.warn(
            f"Left out {len(check.unlisted)} image(s) of {root} that the "
            f"dataset manifest does not list ({_some(check.unlisted, 5)}); "
            "--no-verify-data uses them unverified.",
            stacklevel=2,
        )
    return check.verified


def load_image(path, image_size=64, color_mode="rgb"):
    """Decodes one image file and resizes it to `image_size` square.

    Args:
        path: image file (any format Pillow reads).
        image_size: side of the square output, in pixels.
        color_mode: `"rgb"` (3 channels) or `"grayscale"` (1 channel).

    Returns:
        `uint8` array of shape `(image_size, image_size, channels)`.

    Raises:
        OSError: the file is not a readable image (Pillow's error).
    """
    from PIL import Image

    if color_mode not in COLOR_MODES:
        raise UsageError(f"color_mode must be one of {COLOR_MODES}; got {color_mode!r}")
    with Image.open(path) as image:
        # draft() lets the JPEG decoder scale the 3024x3024 photos down by
        # up to 8x while decoding, which is much faster than a full decode.
        image.draft("RGB", (image_size, image_size))
        image = image.convert("L" if color_mode == "grayscale" else "RGB")
        image = image.resize((image_size, image_size), Image.Resampling.BILINEAR)
        array = np.asarray(image, dtype=np.uint8)
    return array[..., None] if array.ndim == 2 else array


def _fingerprint(entries, image_size, color_mode):
    digest = hashlib.sha256()
    digest.update(f"v{_CACHE_VERSION}|{image_size}|{color_mode}".encode())
    for path, label in entries:
        stat = path.stat()
        digest.update(
            f"|{path.name}|{label}|{stat.st_size}|{stat.st_mtime_ns}".encode()
        )
    return digest.hexdigest()[:16]


def default_cache_dir():
    """Where decoded arrays are cached: `$KERAS_HOME/datasets/sign-language-digits-arrays`."""
    return keras_home() / "datasets" / f"{CACHE_NAME}-arrays"


def load_dataset(
    root, image_size=64, color_mode="rgb", cache_dir=None, use_cache=True, files=None
):
    """Loads every image of the dataset as arrays, resized.

    Files that are not readable images are skipped, with one warning that
    counts and names them.

    Args:
        root: the class root (see `resolve_data_dir`).
        image_size: side of the square images, in pixels.
        color_mode: `"rgb"` or `"grayscale"`.
        cache_dir: folder for the `.npz` cache of decoded arrays; default
            `default_cache_dir()`. The cache key covers the file list, sizes,
            modification times, image size and color mode.
        use_cache: read and write the cache.
        files: load only these `<digit>/<file>` images (for example
            `verified_files(root)`); default all.

    Returns:
        A dict with `images` (`uint8`, `(n, size, size, channels)`), `labels`
        (`int32`, `(n,)`) and `files` (`(n,)` str: `<class>/<file name>`).

    Raises:
        DatasetError: a class folder is missing or empty, or every image of
            a class is unreadable.
    """
    root = pathlib.Path(root)
    entries = list_images(root)
    if files is not None:
        keep = set(files)
        entries = [
            (path, label)
            for path, label in entries
            if f"{path.parent.name}/{path.name}" in keep
        ]
    cache_file = None
    if use_cache:
        cache_dir = (
            default_cache_dir() if cache_dir is None else pathlib.Path(cache_dir)
        )
        key = _fingerprint(entries, image_size, color_mode)
        cache_file = cache_dir / f"{color_mode}-{image_size}-{key}.npz"
        if cache_file.exists():
            with np.load(cache_file) as cached:
                return {name: cached[name] for name in ("images", "labels", "files")}
    images, labels, files, skipped = [], [], [], []
    for path, label in entries:
        try:
            images.append(load_image(path, image_size, color_mode))
        except (OSError, ValueError, SyntaxError) as error:
            skipped.append(f"{path} ({type(error).__name__}: {error})")
            continue
        labels.append(label)
        files.append(f"{path.parent.name}/{path.name}")
    if skipped:
        warnings.warn(
            f"Skipped {len(skipped)} unreadable image file(s) of {len(entries)}: "
            + "; ".join(skipped[:10])
            + (" ..." if len(skipped) > 10 else ""),
            stacklevel=2,
        )
    missing = sorted(set(range(len(CLASS_NAMES))) - set(labels))
    if missing:
        raise DatasetError(
            f"no readable image for class(es) {missing} in {root}",
            hint="the files there are not images Pillow can read (see the "
            "warning above); replace them with a fresh copy",
        )
    data = {
        "images": np.stack(images),
        "labels": np.asarray(labels, dtype=np.int32),
        "files": np.asarray(files),
    }
    if cache_file is not None:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        # One partial file per process: workers of a data-parallel job may
        # fill the same cache at once; the last complete one wins.
        partial = cache_file.with_name(f"{cache_file.name}.{os.getpid()}.partial.npz")
        np.savez(partial, **data)
        os.replace(partial, cache_file)
    return data


def load_folder(folder, image_size=64, color_mode="rgb"):
    """Loads a labelled folder `<folder>/<digit>/<image>` (not cached).

    Used by `evaluate --folder`; the same rules as `load_dataset` apply.
    """
    root = find_class_root(folder)
    if root is None:
        raise DatasetError(
            f"no labelled images in {folder}: {_describe_folder(folder)}",
            hint="--folder needs class folders 0..9 of images (directly or "
            "under Dataset/)",
        )
    return load_dataset(root, image_size, color_mode, use_cache=False)


def describe(data):
    """A short JSON-able summary: image count per class and array shape."""
    counts = np.bincount(data["labels"], minlength=len(CLASS_NAMES))
    return json.loads(
        json.dumps(
            {
                "images": int(len(data["labels"])),
                "shape": list(data["images"].shape[1:]),
                "per_class": {name: int(c) for name, c in zip(CLASS_NAMES, counts)},
            }
        )
    )
