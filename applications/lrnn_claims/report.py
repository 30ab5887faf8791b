"""The parts every study's summary shares: the run folder's JSON and
Markdown files, the per-seed statistics and the verdict line."""

import datetime
import json
import math

from applications.common import runs
from applications.common import stats

#: Significance level of every verdict's Welch test.
ALPHA = 0.05
#: Peak Adam learning rate per model (cosine-decayed to 1 %): the best rates
#: of implicit_fields' sweep (docs/implicit_fields.md) for the same families.
LEARNING_RATES = {
    "lrnn_sin": 1e-2,
    "lrnn_apalu": 1e-2,
    "mlp_relu": 1e-2,
    "mlp_gelu": 1e-2,
    "mlp_apalu": 1e-2,
    "fourier": 1e-2,
    "siren": 3e-3,
}


def learning_rate(name, override=None):
    """`override` if given, else the rate of `name` (frozen variants share it)."""
    return (
        override
        if override is not None
        else LEARNING_RATES[name.removesuffix("_frozen")]
    )


def finite(values):
    """`values` as floats with non-finite entries (diverged runs) dropped."""
    return [float(v) for v in values if math.isfinite(float(v))]


def compare(x, y):
    """`{"mean_x", "mean_y", "p"}`: the means and Welch's two-sided p."""
    return {
        "mean_x": stats.mean(finite(x)),
        "mean_y": stats.mean(finite(y)),
        "p": stats.welch_p(finite(x), finite(y)),
    }


def header(title, settings, records, command):
    """The first lines of a results.md: title, command, settings, machine."""
    import keras

    return [
        f"# {title}",
        "",
        f"Command: `{command}`",
        "",
        f"Settings: `{json.dumps(settings, sort_keys=True)}`",
        "",
        f"Machine: {runs.describe_machine()}; {len(records)} jobs, "
        f"{runs.compute_seconds(records) / 60:.1f} compute-minutes; "
        f"written {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC "
        f"(keras {keras.__version__}).",
        "",
    ]


def write(folder, lines, summary):
    """Writes `results.md` (`lines`) and `results.json` (`summary`)."""
    folder.write_text("results.md", "\n".join(lines) + "\n")
    folder.write_text(
        "results.json", json.dumps(_clean(summary), indent=1, sort_keys=True)
    )


def _clean(value):
    # JSON has no NaN or infinity: they become null.
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value
