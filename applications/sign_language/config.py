"""The settings of a training run, and the names the command line offers.

Imports neither keras nor numpy, so that `--help` and bad usage are answered
before a backend loads.
"""

import dataclasses

from applications.common.cli import default_run_dir
from applications.common.errors import UsageError

#: Activations the network can use (`model.make_activation`).
ACTIVATIONS = ("apalu", "relu", "gelu", "elu", "leaky_relu", "prelu", "swish")
#: Where `main` and `train` write by default (`runs/sign_language`).
DEFAULT_RUN_DIR = default_run_dir("sign_language")
#: The public archive of the dataset (Apache-2.0, Mavi & Dikle), at the
#: repository's last commit (4b09433, 2021-05-08), so it cannot change.
DATASET_URL = (
    "https://github.com/ardamavi/Sign-Language-Digits-Dataset/"
    "archive/4b09433ef9d5c60602e8805bb54b8aa2428527f8.zip"
)


@dataclasses.dataclass
class TrainConfig:
    """Settings of one training run (every field is a `train` option).

    Attributes:
        run_dir: where the run's files go.
        data_dir: dataset folder (see `data.resolve_data_dir`), or None.
        image_size: side of the square input images, pixels.
        color_mode: "rgb" or "grayscale".
        activation: one of `ACTIVATIONS`.
        width: filters of the first conv block (doubled per block).
        blocks: number of conv blocks.
        convs_per_block: 3x3 convolutions per block.
        dropout: dropout before the classifier.
        augment: augmentation strength (0 = off).
        epochs: maximum number of epochs.
        patience: EarlyStopping patience on val_loss (0 = no early stop).
        batch_size: global batch size.
        learning_rate: peak learning rate of AdamW (cosine decay to 1%).
        weight_decay: AdamW weight decay (not applied to APALU a, b or BN).
        split: "signer" (default) or "random".
        split_seed: seed of the split.
        val_fraction, test_fraction: shares of the images.
        seed: seed of weights, augmentation and shuffling.
        distribute: data-parallel training on all local devices.
        plots: write the PNG figures.
        verbose: Keras fit verbosity ("auto", 0, 1 or 2; `--quiet` is 0).
        max_per_class: use only the first N images (by file name) of each
            class; for quick trials and tests.
        cache_dir: folder of the decoded-image cache (default: Keras cache).
        download_url: archive used when the dataset must be downloaded.
        verify_data: check the images against the SHA-256 manifest
            (`data.verify_dataset`); unlisted images are left out.
        worker_timeout: seconds a worker waits for the others (start-up
            rendezvous and every gradient all-reduce) before the job stops
            with an error; only under several workers (`workers` module).
    """

    run_dir: str = DEFAULT_RUN_DIR
    data_dir: str = None
    image_size: int = 64
    color_mode: str = "rgb"
    activation: str = "apalu"
    width: int = 16
    blocks: int = 4
    convs_per_block: int = 1
    dropout: float = 0.2
    augment: float = 1.0
    epochs: int = 40
    patience: int = 10
    batch_size: int = 32
    learning_rate: float = 3e-3
    weight_decay: float = 1e-4
    split: str = "signer"
    split_seed: int = 0
    val_fraction: float = 0.15
    test_fraction: float = 0.15
    seed: int = 0
    distribute: bool = False
    plots: bool = True
    verbose: object = "auto"
    max_per_class: int = None
    cache_dir: str = None
    download_url: str = DATASET_URL
    verify_data: bool = True
    worker_timeout: int = 300

    def validate(self):
        if self.activation not in ACTIVATIONS:
            raise UsageError(
                f"--activation must be one of {ACTIVATIONS}; got {self.activation!r}"
            )
        for name in (
            "image_size",
            "width",
            "blocks",
            "convs_per_block",
            "epochs",
            "batch_size",
            "worker_timeout",
        ):
            if int(getattr(self, name)) < 1:
                raise UsageError(
                    f"--{name.replace('_', '-')} must be >= 1; got {getattr(self, name)}"
                )
        if self.image_size < 2**self.blocks:
            raise UsageError(
                f"--image-size {self.image_size} is too small for {self.blocks} "
                f"pooling blocks (needs >= {2**self.blocks})"
            )
