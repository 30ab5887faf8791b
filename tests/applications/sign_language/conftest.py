"""Fixtures of the sign-language application tests: a tiny copy of the dataset."""

import pathlib
import shutil

import pytest

from applications.sign_language.train import TrainConfig

#: Images per class in the tiny dataset: the first signers (by file number).
TINY_PER_CLASS = 12


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory, sign_language_dir):
    """A `Dataset/<digit>/` copy of the first TINY_PER_CLASS images of each class."""
    root = tmp_path_factory.mktemp("tiny") / "Dataset"
    for digit in range(10):
        source = pathlib.Path(sign_language_dir) / "Dataset" / str(digit)
        target = root / str(digit)
        target.mkdir(parents=True)
        for path in sorted(source.glob("*.JPG"))[:TINY_PER_CLASS]:
            shutil.copy(path, target / path.name)
    return root.parent


@pytest.fixture
def tiny_config(tiny_dataset, tmp_path):
    """A TrainConfig for seconds-long runs on the tiny dataset."""

    def make(**overrides):
        settings = dict(
            run_dir=str(tmp_path / "run"),
            data_dir=str(tiny_dataset),
            cache_dir=str(tmp_path / "cache"),
            image_size=16,
            width=4,
            blocks=2,
            epochs=2,
            patience=0,
            batch_size=16,
            augment=0.0,
            val_fraction=0.2,
            test_fraction=0.2,
            verbose=0,
        )
        settings.update(overrides)
        return TrainConfig(**settings)

    return make


@pytest.fixture(scope="session")
def trained_run(tiny_dataset, tmp_path_factory):
    """One tiny run with augmentation, shared by the read-only tests."""
    from applications.sign_language.train import train

    run_dir = tmp_path_factory.mktemp("trained") / "run"
    config = TrainConfig(
        run_dir=str(run_dir),
        data_dir=str(tiny_dataset),
        cache_dir=str(run_dir.parent / "cache"),
        image_size=16,
        width=4,
        blocks=2,
        epochs=2,
        patience=1,
        batch_size=16,
        augment=1.0,
        val_fraction=0.2,
        test_fraction=0.2,
        verbose=0,
    )
    metrics = train(config)
    return run_dir, metrics
