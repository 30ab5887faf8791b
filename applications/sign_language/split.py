"""Train / validation / test splits: by signer (default) or by image.

Each student of the dataset photographed the ten digits in order, so the
image numbers of one signer are consecutive and their labels run 0, 1, ..., 9.
`signer_groups` recovers signers from the numbering; `signer_split` puts
every signer's images in exactly one of train, validation and test, so the
test accuracy measures recognition of hands never seen in training.
`random_split` (stratified, image-level) is the protocol of published
numbers, kept for comparison: it puts the same hand, background and light on
both sides and overstates accuracy.
"""

import json
import os
import pathlib
import re

import numpy as np

from applications.common.errors import UsageError

SPLITS = ("train", "val", "test")
METHODS = ("signer", "random")
_NUMBER = re.compile(r"(\d+)(?!.*\d)")
# A signer's run of photos spans at most this many consecutive numbers;
# fragments (a re-shot digit, a missing image) within this span are merged.
_MAX_SIGNER_SPAN = 14
_MAX_SIGNER_IMAGES = 12


def image_number(file_name):
    """The last integer in a file name (`"3/IMG_1121.JPG"` -> 1121), or None."""
    match = _NUMBER.search(pathlib.PurePath(str(file_name)).name)
    return int(match.group(1)) if match else None


def signer_groups(files, labels):
    """Recovers a signer id for every image from its file number and label.

    Images sorted by number are cut into runs wherever the label decreases
    (a new signer starts again at a low digit). Neighbouring fragments whose
    union still looks like one signer (at most 12 images spanning at most 14
    numbers, as when a digit was re-shot out of order) are merged, so that
    an ambiguous signer is kept whole rather than cut in two: merging can
    only make the split coarser, never leak a hand across it. Files with no
    number form one signer each.

    Args:
        files: `(n,)` file names (only the last number of each is used).
        labels: `(n,)` integer labels.

    Returns:
        `int` array `(n,)` of signer ids `0..k-1`, numbered by first image.
    """
    labels = np.asarray(labels)
    numbers = [image_number(f) for f in files]
    numbered = sorted(
        (n, int(labels[i]), i) for i, n in enumerate(numbers) if n is not None
    )
    runs = []
    for number, label, index in numbered:
        if runs and label >= runs[-1][-1][1]:
            runs[-1].append((number, label, index))
        else:
            runs.append([(number, label, index)])
    merged = []
    for run in runs:
        if merged:
            union = merged[-1] + run
            span = union[-1][0] - union[0][0] + 1
            if len(union) <= _MAX_SIGNER_IMAGES and span <= _MAX_SIGNER_SPAN:
                merged[-1] = union
                continue
        merged.append(run)
    signers = np.empty(len(labels), dtype=np.int64)
    for signer, run in enumerate(merged):
        for _, _, index in run:
            signers[index] = signer
    next_id = len(merged)
    for index, number in enumerate(numbers):
        if number is None:
            signers[index] = next_id
            next_id += 1
    return signers


def _check_fractions(val_fraction, test_fraction):
    if not (
        0 < val_fraction < 1
        and 0 < test_fraction < 1
        and val_fraction + test_fraction < 1
    ):
        raise UsageError(
            "--val-fraction and --test-fraction must be in (0, 1) with a sum "
            f"below 1; got {val_fraction} and {test_fraction}"
        )


def signer_split(signers, val_fraction=0.15, test_fraction=0.15, seed=0):
    """Splits by signer: no signer has images in two parts.

    Signers are shuffled with `seed`; the first ones fill the test part up
    to `test_fraction` of the images, the next the validation part, the
    rest go to training.

    Args:
        signers: `(n,)` signer id per image (`signer_groups`).
        val_fraction: share of images for validation (about; whole signers).
        test_fraction: share of images for the test.
        seed: shuffling seed; the same seed gives the same split.

    Returns:
        dict `{"train", "val", "test"}` of sorted image index arrays.
    """
    _check_fractions(val_fraction, test_fraction)
    signers = np.asarray(signers)
    ids, counts = np.unique(signers, return_counts=True)
    if len(ids) < 3:
        raise UsageError(
            f"a signer split needs at least 3 signers; found {len(ids)}",
            hint="use more images, or --split random",
        )
    order = np.random.default_rng(seed).permutation(len(ids))
    total = len(signers)
    part_of = {}
    filled = {"test": 0, "val": 0}
    targets = {"test": test_fraction * total, "val": val_fraction * total}
    for position, k in enumerate(order):
        remaining = len(order) - position
        part = "train"
        for name in ("test", "val"):
            # Each part gets at least one signer and training keeps one.
            if filled[name] == 0 or (
                filled[name] + counts[k] / 2 <= targets[name] and remaining > 1
            ):
                part = name
                break
        if part != "train":
            filled[part] += counts[k]
        part_of[ids[k]] = part
    parts = np.array([part_of[s] for s in signers])
    return {name: np.flatnonzero(parts == name) for name in SPLITS}


def random_split(labels, val_fraction=0.15, test_fraction=0.15, seed=0):
    """Stratified image-level split (the protocol of published numbers).

    Args:
        labels: `(n,)` labels; each class is split in the given proportions.
        val_fraction, test_fraction: shares of every class's images.
        seed: shuffling seed.

    Returns:
        dict `{"train", "val", "test"}` of sorted image index arrays.
    """
    _check_fractions(val_fraction, test_fraction)
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    parts = {name: [] for name in SPLITS}
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        n_test = int(round(test_fraction * len(members)))
        n_val = int(round(val_fraction * len(members)))
        parts["test"].extend(members[:n_test])
        parts["val"].extend(members[n_test : n_test + n_val])
        parts["train"].extend(members[n_test + n_val :])
    return {
        name: np.sort(np.asarray(idx, dtype=np.int64)) for name, idx in parts.items()
    }


def make_split(
    files, labels, method="signer", val_fraction=0.15, test_fraction=0.15, seed=0
):
    """Builds the split record written next to a run (see `save_split`).

    Args:
        files: `(n,)` file names (`<class>/<name>`).
        labels: `(n,)` labels.
        method: `"signer"` (default) or `"random"`.
        val_fraction, test_fraction: shares of the images.
        seed: the split's seed.

    Returns:
        dict with `method`, `seed`, fractions, and for every part the list of
        its files and (signer split) its signer ids.
    """
    if method not in METHODS:
        raise UsageError(f"split method must be one of {METHODS}; got {method!r}")
    signers = signer_groups(files, labels)
    if method == "signer":
        indices = signer_split(signers, val_fraction, test_fraction, seed)
    else:
        indices = random_split(labels, val_fraction, test_fraction, seed)
    record = {
        "method": method,
        "seed": int(seed),
        "val_fraction": float(val_fraction),
        "test_fraction": float(test_fraction),
        "signers": int(len(np.unique(signers))),
    }
    for name in SPLITS:
        record[name] = {
            "files": [str(files[i]) for i in indices[name]],
            "signers": sorted(int(s) for s in np.unique(signers[indices[name]])),
        }
    return record


def indices_of(record, files):
    """Index arrays of a split record's parts within `files`.

    Raises:
        UsageError: a file of the record is not in `files` (the dataset
            changed since the split was written).
    """
    position = {str(f): i for i, f in enumerate(files)}
    result = {}
    for name in SPLITS:
        missing = [f for f in record[name]["files"] if f not in position]
        if missing:
            raise UsageError(
                f"{len(missing)} file(s) of the split's {name} part are not "
                f"in the dataset (e.g. {missing[0]}): the dataset changed "
                "since the split was written",
                hint="use the same --data-dir as in training, or a new --run-dir",
            )
        result[name] = np.asarray(
            [position[f] for f in record[name]["files"]], dtype=np.int64
        )
    return result


def save_split(record, path):
    """Writes a split record as JSON (atomically)."""
    path = pathlib.Path(path)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(record, indent=1))
    os.replace(partial, path)


def load_split(path):
    """Reads a split record written by `save_split`."""
    return json.loads(pathlib.Path(path).read_text())
