"""TFLite latency: APALU's custom op against builtin ops, ReLU and int8.

    python -m benchmarks tflite                       # every mode
    python -m benchmarks tflite --modes float --model runs/model.keras
    python -m benchmarks tflite --modes builds --threads 1

Converted and run under the TensorFlow backend (its own process), in the
LiteRT interpreter at --threads threads. Each mode times its variants side
by side (interleaved rounds of invokes; median per invoke with the rounds'
spread) and reports each one's ratio to the mode's anchor:

* float: one APALU (a, b per channel) on a 1x64x64x64 tensor, and a stand-in
  CNN (conv 32-64-128, dense 64; per-channel and per-element slopes) or the
  model of --model. Variants: "custom" (the fused kernel), "kept" (custom
  with the model's layer order kept, `reorder_max_pool=False`), "builtin"
  (the decomposition in builtin ops) and "relu" (the same model with ReLU,
  the anchor).
* int8: the tensor case (a, b per channel, and one a, b) as "float custom"
  (the anchor), "int8 custom" (the kernel's table lookup) and "int8 builtin";
  the stand-in CNN's file sizes; and, where the Sign Language Digits images
  are found (not with --quick), a small APALU CNN trained for --epochs:
  accuracy of Keras, float and int8 files on held-out signers.
* builds: the kernel built as the package builds it ("x86": target clones,
  AVX-512 lookups), "portable" (-DAPALU_NO_SIMD -DAPALU_NO_CLONES: the source
  ARM builds compile) and "scalar" (also -fno-tree-vectorize, as 32-bit ARM),
  against "builtin" (XNNPACK, the anchor) and "builtin no-xnnpack", float32
  and int8, on the tensor case.
* app: the sign-language application's model (random weights) as LiteRT
  three ways: the custom op, its builtin decomposition and Keras'
  `model.export(format="litert")` (the anchor): size, operators, largest
  difference to Keras, latency.
"""

import os
import pathlib

from benchmarks import _common

TITLE = "APALU in TFLite: latency"
CANDIDATES = None
MODES = ("float", "int8", "builds", "app")
TENSOR = (64, 64, 64)
KERNEL_BUILDS = {
    "x86": "",
    "portable": "-DAPALU_NO_SIMD -DAPALU_NO_CLONES",
    "scalar": "-DAPALU_NO_SIMD -DAPALU_NO_CLONES -fno-tree-vectorize",
}


def add_arguments(parser):
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    parser.add_argument("--model", help="a .keras model with APALU (float mode)")
    parser.add_argument(
        "--epochs", type=int, default=8, help="int8 mode's sign-language training"
    )
    parser.add_argument(
        "--dataset",
        default=os.environ.get(
            "SIGN_LANGUAGE_DIGITS_DIR",
            str(_common.REPO.parent / "shared" / "datasets" / "sign-language-digits"),
        ),
        help="Sign Language Digits folder (Dataset/<digit>/*.JPG) for int8 mode",
    )


def settle(args):
    args.rounds = args.rounds or (2 if args.quick else 10)
    args.min_time = args.min_time or (0.005 if args.quick else 0.1)
    if args.quick:
        args.tensor = (8, 8, 16)
        args.input_shape = (16, 16, 3)
    else:
        args.tensor, args.input_shape = TENSOR, (64, 64, 3)


# --------------------------------------------------------------------------
# Child (TensorFlow backend).
# --------------------------------------------------------------------------


def _quantised(interpreter, x):
    """`x` as the interpreter's input: quantised if the model takes int8."""
    import numpy as np

    detail = interpreter.get_input_details()[0]
    if detail["dtype"] == np.int8:
        scale, zero = detail["quantization"]
        x = np.clip(np.round(x / scale) + zero, -128, 127).astype(np.int8)
    return x


def _ready(interpreter, x):
    interpreter.set_tensor(
        interpreter.get_input_details()[0]["index"], _quantised(interpreter, x)
    )
    return interpreter.invoke


def _time(args, interpreters, x):
    invokes = {name: _ready(it, x) for name, it in interpreters.items()}
    return _common.time_side_by_side(
        invokes, min_time=args.min_time, rounds=args.rounds
    )


def _rows(mode, case, anchor, stats, sizes=None, **extra):
    return [
        {
            "mode": mode,
            "case": case,
            "variant": name,
            "anchor": anchor,
            "stats": s,
            "bytes": (sizes or {}).get(name),
            **extra.get(name, {}),
        }
        for name, s in stats.items()
    ]


def _relu_twin(model):
    """`model` with each APALU layer replaced by ReLU (other weights kept)."""
    import keras

    from keras_apalu.layers import APALU

    def clone(layer):
        if isinstance(layer, APALU):
            return keras.layers.ReLU(name=layer.name)
        return layer.__class__.from_config(layer.get_config())

    twin = keras.models.clone_model(model, clone_function=clone)
    for source, target in zip(model.layers, twin.layers):
        if not isinstance(source, APALU) and source.weights:
            target.set_weights(source.get_weights())
    return twin


def _random(shape, seed=0, scale=1.0, count=1):
    import numpy as np

    rng = np.random.default_rng(seed)
    return rng.normal(scale=scale, size=(count, *shape)).astype("float32")


def float_mode(args):
    import keras

    from benchmarks.models import small_cnn
    from keras_apalu import tflite
    from keras_apalu.layers import APALU

    inputs = keras.Input(args.tensor)
    cases = {
        "tensor, a, b per channel": (
            keras.Model(inputs, APALU(shared_axes=[1, 2])(inputs)),
            keras.Model(inputs, keras.layers.ReLU()(inputs)),
        )
    }
    if args.model:
        model = keras.saving.load_model(args.model, compile=False)
        cases[f"model {pathlib.Path(args.model).name}"] = (model, _relu_twin(model))
    else:
        relu = small_cnn(lambda rank: keras.layers.ReLU(), args.input_shape)
        per_channel = small_cnn(
            lambda rank: APALU(shared_axes=[1, 2] if rank == 4 else None),
            args.input_shape,
        )
        cases["CNN, a, b per channel"] = (per_channel, relu)
        cases["CNN, a, b per element"] = (
            small_cnn(lambda rank: APALU(), args.input_shape),
            relu,
        )
    rows = []
    for case, (model, twin) in cases.items():
        contents = {
            "custom": tflite.convert(model, mode="custom"),
            "kept": tflite.convert(model, mode="custom", reorder_max_pool=False),
            "builtin": tflite.convert(model, mode="builtin"),
            "relu": tflite.convert(twin, mode="builtin"),
        }
        interpreters = {
            name: tflite.interpreter(model_content=c, num_threads=args.threads or None)
            for name, c in contents.items()
        }
        stats = _time(args, interpreters, _random(model.input_shape[1:]))
        sizes = {name: len(c) for name, c in contents.items()}
        rows += _rows("float", case, "relu", stats, sizes)
    return rows


def _int8_contents(model, calibration):
    from keras_apalu import tflite

    def int8(mode):
        return tflite.convert(
            model, mode=mode, quantize="int8", representative_data=calibration
        )

    return {
        "float custom": tflite.convert(model, mode="custom"),
        "int8 custom": int8("custom"),
        "int8 builtin": int8("builtin"),
    }


def int8_mode(args):
    import keras

    from benchmarks.models import small_cnn
    from keras_apalu import tflite
    from keras_apalu.layers import APALU

    rows = []
    for what, shared_axes in (("a, b per channel", [1, 2]), ("one a, b", "all")):
        inputs = keras.Input(args.tensor)
        model = keras.Model(inputs, APALU(shared_axes=shared_axes)(inputs))
        contents = _int8_contents(model, _random(args.tensor, 1, 2.0, 16))
        interpreters = {
            name: tflite.interpreter(model_content=c, num_threads=args.threads or None)
            for name, c in contents.items()
        }
        stats = _time(args, interpreters, _random(args.tensor, 2, 2.0))
        sizes = {name: len(c) for name, c in contents.items()}
        rows += _rows("int8", f"tensor, {what}", "float custom", stats, sizes)
    cnn = small_cnn(
        lambda rank: APALU(shared_axes=[1, 2] if rank == 4 else None),
        args.input_shape,
    )
    contents = _int8_contents(cnn, _random(args.input_shape, 3, 1.0, 32))
    rows += _rows(
        "int8",
        "stand-in CNN, file sizes",
        "float custom",
        dict.fromkeys(contents),
        {name: len(c) for name, c in contents.items()},
    )
    if not args.quick and pathlib.Path(args.dataset, "Dataset").is_dir():
        rows += _sign_language_accuracy(args)
    return rows


def _sign_language_images(folder, size=32):
    """`(x_train, y_train, x_test, y_test)`: greyscale images in [0, 1], split
    by signer (each signer photographed the digits in order, so a signer
    ends where the label drops by file number); every fifth signer held out."""
    import re

    import numpy as np
    from PIL import Image

    files = sorted(
        pathlib.Path(folder, "Dataset").glob("*/*.JPG"),
        key=lambda p: int(re.findall(r"\d+", p.stem)[-1]),
    )
    labels = np.array([int(f.parent.name) for f in files])
    images = (
        np.stack(
            [
                np.asarray(Image.open(f).convert("L").resize((size, size)), "float32")
                for f in files
            ]
        )[..., None]
        / 255.0
    )
    test = np.cumsum(np.r_[0, np.diff(labels) < 0]) % 5 == 4
    return images[~test], labels[~test], images[test], labels[test]


def _sign_language_accuracy(args):
    import keras
    import numpy as np

    from keras_apalu import tflite
    from keras_apalu.layers import APALU

    x_train, y_train, x_test, y_test = _sign_language_images(args.dataset)
    keras.utils.set_random_seed(3)
    model = keras.Sequential(
        [
            keras.Input(x_train.shape[1:]),
            keras.layers.Conv2D(8, 3, padding="same"),
            APALU(shared_axes=[1, 2]),
            keras.layers.MaxPooling2D(),
            keras.layers.Conv2D(16, 3, padding="same"),
            APALU(shared_axes="all"),
            keras.layers.MaxPooling2D(),
            keras.layers.Flatten(),
            keras.layers.Dense(32),
            APALU(),
            keras.layers.Dense(10),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(3e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    model.fit(x_train, y_train, epochs=args.epochs, batch_size=32, verbose=0)
    logits = np.asarray(model.predict(x_test, verbose=0))
    accuracy = {"keras float32": float(np.mean(logits.argmax(1) == y_test))}
    sizes = {}
    for name, content in _int8_contents(model, x_train[::6]).items():
        it = tflite.interpreter(model_content=content)
        out = []
        for sample in x_test:
            it.set_tensor(
                it.get_input_details()[0]["index"], _quantised(it, sample[None])
            )
            it.invoke()
            detail = it.get_output_details()[0]
            y = it.get_tensor(detail["index"]).astype("float32")
            if detail["dtype"] == np.int8:
                scale, zero = detail["quantization"]
                y = (y - zero) * scale
            out.append(y)
        accuracy[name] = float(np.mean(np.concatenate(out).argmax(1) == y_test))
        sizes[name] = len(content)
    case = f"sign language ({args.epochs} epochs, {len(x_test)} held-out images)"
    return _rows(
        "int8",
        case,
        "float custom",
        dict.fromkeys(accuracy),
        sizes,
        **{name: {"accuracy": acc} for name, acc in accuracy.items()},
    )


def _kernel_registerers(folder):
    """A registerer per kernel build of KERNEL_BUILDS (each loaded privately)."""
    import ctypes

    from keras_apalu.tflite import _kernel

    registerers = {}
    base = os.environ.get("CC", "cc")
    for name, flags in KERNEL_BUILDS.items():
        os.environ["CC"] = f"{base} {flags}".strip()
        try:
            path = _kernel.build_library(directory=pathlib.Path(folder) / name)
        finally:
            os.environ["CC"] = base
        register = getattr(ctypes.CDLL(str(path)), _kernel.REGISTERER_NAME)
        register.argtypes = [ctypes.c_void_p]
        register.restype = None
        registerers[name] = lambda address, r=register: r(ctypes.c_void_p(address))
    return registerers


def builds_mode(args):
    import tempfile

    import keras
    from ai_edge_litert.interpreter import InterpreterWithCustomOps
    from ai_edge_litert.interpreter import OpResolverType

    from keras_apalu import tflite
    from keras_apalu.layers import APALU

    def interpreter(content, registerer=None, resolver=OpResolverType.AUTO):
        it = InterpreterWithCustomOps(
            model_content=content,
            custom_op_registerers=[registerer] if registerer else [],
            num_threads=args.threads or 1,
            experimental_op_resolver_type=resolver,
        )
        it.allocate_tensors()
        return it

    inputs = keras.Input(args.tensor)
    model = keras.Model(inputs, APALU(shared_axes=[1, 2])(inputs))
    contents = {"float": {}, "int8": {}}
    for mode in ("custom", "builtin"):
        contents["float"][mode] = tflite.convert(model, mode=mode)
        contents["int8"][mode] = tflite.convert(
            model,
            mode=mode,
            quantize="int8",
            representative_data=_random(args.tensor, 1, 2.0, 16),
        )
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        registerers = _kernel_registerers(folder)
        for dtype, content in contents.items():
            interpreters = {
                f"{dtype} {name}": interpreter(content["custom"], reg)
                for name, reg in registerers.items()
            }
            interpreters[f"{dtype} builtin"] = interpreter(content["builtin"])
            interpreters[f"{dtype} builtin no-xnnpack"] = interpreter(
                content["builtin"],
                resolver=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
            )
            stats = _time(args, interpreters, _random(args.tensor, 2, 2.0))
            rows += _rows("builds", f"tensor, {dtype}", f"{dtype} builtin", stats)
    return rows


def app_mode(args):
    import collections
    import tempfile

    import numpy as np

    from applications.sign_language.model import build_model
    from keras_apalu import export
    from keras_apalu import tflite

    model = build_model(input_shape=args.input_shape, seed=0, augment=0.0)
    rng = np.random.default_rng(1)
    x = rng.uniform(0, 255, (8, *args.input_shape)).astype("float32")
    expected = np.asarray(model.predict(x, verbose=0))
    with tempfile.TemporaryDirectory() as folder:
        files = {
            "custom op": pathlib.Path(folder, "custom.tflite"),
            "builtin": pathlib.Path(folder, "builtin.tflite"),
            "Keras litert": pathlib.Path(folder, "keras.tflite"),
        }
        tflite.export(model, files["custom op"], mode="custom")
        tflite.export(model, files["builtin"], mode="builtin")
        export.export(model, files["Keras litert"], "litert")
        interpreters = {
            name: tflite.interpreter(
                model_path=str(p), num_threads=args.threads or None
            )
            for name, p in files.items()
        }
        stats = _time(args, interpreters, x[:1])
        extra = {}
        for name, path in files.items():
            ops = collections.Counter(tflite.op_names(path.read_bytes()))
            got = export.load(path, "litert")(x)
            extra[name] = {
                "ops": dict(ops),
                "max_abs_error": float(np.max(np.abs(got - expected))),
            }
        sizes = {name: p.stat().st_size for name, p in files.items()}
    return _rows("app", "sign-language model", "Keras litert", stats, sizes, **extra)


def child(args):
    import traceback

    run = {
        "float": float_mode,
        "int8": int8_mode,
        "builds": builds_mode,
        "app": app_mode,
    }
    rows = []
    for mode in args.modes:
        try:
            rows += run[mode](args)
        except Exception as error:  # recorded in the report
            traceback.print_exc()
            rows.append(
                {"mode": mode, "error": f"{type(error).__name__}: {error}"[:300]}
            )
    _common.emit_rows(rows)


# --------------------------------------------------------------------------
# Report.
# --------------------------------------------------------------------------


def _sections(rows):
    sections = []
    cases = dict.fromkeys((r["mode"], r.get("case")) for r in rows)
    for mode, case in cases:
        sub = [r for r in rows if r["mode"] == mode and r.get("case") == case]
        if case is None:
            sections.append([f"## {mode}: failed", "", f"`{sub[0]['error']}`"])
            continue
        anchor = next((r for r in sub if r["variant"] == r["anchor"]), {})
        anchor_time = (anchor.get("stats") or [None])[0]
        anchor_bytes = anchor.get("bytes")
        table = []
        for r in sub:
            t = (r.get("stats") or [None])[0]
            cells = [
                r["variant"],
                _common.fmt_spread(r.get("stats")),
                _common.ratio(t, anchor_time),
                f"{r['bytes']:,}" if r.get("bytes") else "",
                _common.ratio(r.get("bytes"), anchor_bytes),
            ]
            if "accuracy" in r:
                cells.append(f"accuracy {r['accuracy']:.4f}")
            elif "ops" in r:
                ops = sorted(r["ops"].items(), key=lambda kv: -kv[1])[:5]
                cells.append(
                    f"{sum(r['ops'].values())} ops ("
                    + ", ".join(f"{k} {v}" for k, v in ops)
                    + f"); max abs error {r['max_abs_error']:.1e}"
                )
            else:
                cells.append("")
            table.append(cells)
        sections.append(
            [f"## {mode}: {case}", ""]
            + _common.markdown_table(
                [
                    "variant",
                    "per invoke, median (min-max)",
                    f"x {anchor.get('variant', 'anchor')}",
                    "bytes",
                    "x size",
                    "",
                ],
                table,
            )
        )
    return sections


def main(args):
    rows, failures = _common.run_children(args, backends=["tensorflow"])
    sections = _sections(rows)
    sections.append([__doc__.split("\n\n", 2)[2].strip()])
    _common.write_report(args, TITLE, sections, rows, failures)
    return _common.exit_status(rows, failures)
