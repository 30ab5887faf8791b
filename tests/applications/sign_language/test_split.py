import numpy as np
import pytest

from applications.sign_language import data
from applications.sign_language import split

# The signer split is NumPy only: no Keras backend involved;
# runs in one backend's pass only (tests/conftest.py).
pytestmark = pytest.mark.backend_independent


def _files(numbers_and_labels):
    files = [f"{label}/IMG_{number}.JPG" for number, label in numbers_and_labels]
    labels = [label for _, label in numbers_and_labels]
    return files, labels


def test_signer_groups_recovers_runs_of_digits():
    rows = (
        [(1000 + d, d) for d in range(10)]  # signer A
        + [(1010 + d, d) for d in range(9)]
        + [(1019, 8), (1020, 9)]  # B re-shot 8
        + [(1040, 5)]
        + [
            (1041 + i, d) for i, d in enumerate([0, 1, 2, 3, 4, 6, 7, 8, 9])
        ]  # C, 5 first
        + [(1060 + d, d) for d in range(4)]  # D, only 0-3
        + [(1064 + d, d) for d in range(10)]  # E right after D
    )
    files, labels = _files(rows)
    order = np.random.default_rng(0).permutation(
        len(files)
    )  # input order must not matter
    signers = split.signer_groups([files[i] for i in order], [labels[i] for i in order])
    by_file = dict(zip([files[i] for i in order], signers))
    groups = [
        {by_file[f] for f, (n, _) in zip(files, rows) if lo <= n < hi}
        for lo, hi in (
            (1000, 1010),
            (1010, 1021),
            (1040, 1050),
            (1060, 1064),
            (1064, 1074),
        )
    ]
    assert all(len(g) == 1 for g in groups), groups
    assert len(set.union(*groups)) == 5


def test_files_without_numbers_are_their_own_signers():
    signers = split.signer_groups(["0/a.jpg", "1/b.jpg", "2/IMG_5.JPG"], [0, 1, 2])
    assert len(set(signers.tolist())) == 3


@pytest.fixture(scope="module")
def dev_files(sign_language_dir):
    entries = data.list_images(data.resolve_data_dir(sign_language_dir))
    files = np.array([f"{p.parent.name}/{p.name}" for p, _ in entries])
    return files, np.array([label for _, label in entries])


def test_signer_split_has_no_overlap(dev_files):
    files, labels = dev_files
    signers = split.signer_groups(files, labels)
    parts = split.signer_split(signers, 0.15, 0.15, seed=0)
    sets = {name: set(idx.tolist()) for name, idx in parts.items()}
    assert sum(len(s) for s in sets.values()) == len(files)
    assert set.union(*sets.values()) == set(range(len(files)))
    signer_sets = {name: set(signers[idx].tolist()) for name, idx in parts.items()}
    assert not signer_sets["train"] & signer_sets["val"]
    assert not signer_sets["train"] & signer_sets["test"]
    assert not signer_sets["val"] & signer_sets["test"]
    for name, share in (("val", 0.15), ("test", 0.15)):
        assert abs(len(parts[name]) / len(files) - share) < 0.03
    # Every class is in every part (signers show all ten digits).
    for idx in parts.values():
        assert set(labels[idx].tolist()) == set(range(10))


def test_split_is_reproducible_and_seeded(dev_files):
    files, labels = dev_files
    first = split.make_split(files, labels, "signer", seed=3)
    again = split.make_split(files, labels, "signer", seed=3)
    other = split.make_split(files, labels, "signer", seed=4)
    assert first == again
    assert first["test"]["files"] != other["test"]["files"]


def test_random_split_is_stratified_and_disjoint(dev_files):
    files, labels = dev_files
    parts = split.random_split(labels, 0.15, 0.15, seed=0)
    all_idx = np.concatenate(list(parts.values()))
    assert len(all_idx) == len(set(all_idx.tolist())) == len(files)
    for label in range(10):
        n = np.sum(labels == label)
        assert abs(np.sum(labels[parts["test"]] == label) - 0.15 * n) <= 1


def test_split_record_round_trip(dev_files, tmp_path):
    files, labels = dev_files
    record = split.make_split(files, labels, "signer", seed=1)
    split.save_split(record, tmp_path / "split.json")
    loaded = split.load_split(tmp_path / "split.json")
    assert loaded == record
    indices = split.indices_of(loaded, files)
    assert sorted(files[indices["test"]].tolist()) == sorted(record["test"]["files"])
    with pytest.raises(ValueError, match="dataset changed"):
        split.indices_of(loaded, files[10:])


@pytest.mark.parametrize("val, test", [(0.0, 0.2), (0.5, 0.5), (0.2, 1.2)])
def test_bad_fractions_are_errors(val, test):
    with pytest.raises(ValueError, match="fraction"):
        split.signer_split(np.arange(30) // 10, val, test)


def test_signer_split_of_the_whole_public_archive():
    """Over the manifest's 2,062 names (what a download trains on): every
    image in exactly one part, no signer in two, the same split every time."""
    names = sorted(data.read_manifest())
    files = np.array(names)
    labels = np.array([int(name.split("/")[0]) for name in names])
    first = split.make_split(files, labels, "signer", seed=0)
    assert first == split.make_split(files, labels, "signer", seed=0)
    assert first != split.make_split(files, labels, "signer", seed=1)
    parts = [set(first[name]["files"]) for name in split.SPLITS]
    assert sum(len(p) for p in parts) == len(names) == 2062
    assert set.union(*parts) == set(names)
    signer_sets = [set(first[name]["signers"]) for name in split.SPLITS]
    assert not (
        signer_sets[0] & signer_sets[1]
        or signer_sets[0] & signer_sets[2]
        or signer_sets[1] & signer_sets[2]
    )
    assert set.union(*signer_sets) == set(range(first["signers"]))
    for name, share in (("val", 0.15), ("test", 0.15)):
        assert abs(len(first[name]["files"]) / 2062 - share) < 0.03
