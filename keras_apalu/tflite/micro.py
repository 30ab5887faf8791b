"""TensorFlow Lite Micro builds of the APALU op: for the host and Cortex-M.

`build_runner(target)` compiles the TFLM interpreter core, the builtin
kernels the project's models use, the APALU glue (tflite/apalu_micro.cc) and
core (tflite/apalu_core.c), and a small runner (tflite/tflm_runner.cc) that
runs a .tflite model over a file of samples. Only those sources are compiled
(about 60 files, not TFLM's whole library), each object is cached under
`cache_dir()/build/<key>/` keyed by the TFLM tree, the target, the compiler and
its flags, and the runner by the kernel sources too: a second build links
from the cache in about a second.

The TFLM source comes from `tflm_dir` (a TFLM checkout with its
`tools/make/downloads/` filled, e.g. after one `make` of TFLM) or, in a
checkout of this project, from the pinned offline bundle in
`../shared/vendor/tflite-micro` (extracted once into the cache).

Targets:
    "host": the machine's g++/gcc.
    "cortex-m4", "cortex-m55": arm-none-eabi-gcc with TFLM's `cortex_m_qemu`
        flags (-mthumb -mfloat-abi=soft, newlib semihosting), reference
        kernels, linked with a vector table at 0 for qemu-system-arm's MPS2
        (cortex-m4: mps2-an386) and MPS3 (cortex-m55: mps3-an547) boards.
`run_runner` runs a built runner (under qemu-system-arm for Cortex-M, with
`-icount shift=0` so that virtual time counts instructions).
"""

import concurrent.futures
import dataclasses
import hashlib
import os
import pathlib
import re
import shutil
import subprocess
import tarfile
import tempfile

from keras_apalu.tflite import _kernel

BUNDLE_DIR = (
    pathlib.Path(__file__).resolve().parents[2].parent
    / "shared"
    / "vendor"
    / "tflite-micro"
)
MICRO = "tensorflow/lite/micro"

# The interpreter core (no kernels), relative to the TFLM root.
CORE_SOURCES = [
    f"{MICRO}/{name}.cc"
    for name in (
        "micro_interpreter",
        "micro_interpreter_context",
        "micro_interpreter_graph",
        "micro_allocator",
        "micro_allocation_info",
        "micro_context",
        "micro_log",
        "debug_log",
        "micro_op_resolver",
        "micro_resource_variable",
        "micro_utils",
        "memory_helpers",
        "flatbuffer_utils",
        "system_setup",
        "micro_time",
        "micro_profiler",
        "arena_allocator/non_persistent_arena_buffer_allocator",
        "arena_allocator/persistent_arena_buffer_allocator",
        "arena_allocator/single_arena_buffer_allocator",
        "memory_planner/greedy_memory_planner",
        "memory_planner/linear_memory_planner",
        "memory_planner/non_persistent_buffer_planner_shim",
        "tflite_bridge/flatbuffer_conversions_bridge",
        "tflite_bridge/micro_error_reporter",
    )
] + [
    "tensorflow/lite/core/api/flatbuffer_conversions.cc",
    "tensorflow/lite/core/api/tensor_utils.cc",
    "tensorflow/lite/core/c/common.cc",
    "tensorflow/lite/kernels/internal/common.cc",
    "tensorflow/lite/kernels/internal/quantization_util.cc",
    "tensorflow/lite/kernels/internal/runtime_shape.cc",
    "tensorflow/lite/kernels/internal/tensor_ctypes.cc",
    "tensorflow/lite/kernels/kernel_util.cc",
    "tensorflow/lite/kernels/internal/portable_tensor_utils.cc",
    "tensorflow/compiler/mlir/lite/core/api/error_reporter.cc",
    "tensorflow/compiler/mlir/lite/schema/schema_utils.cc",
]
# The builtin kernels tflm_runner.cc registers (the sign-language models' ops,
# and ReLU, PReLU for comparison), with their *_common.cc where TFLM has one.
KERNELS = (
    "conv",
    "depthwise_conv",
    "pooling",
    "fully_connected",
    "reshape",
    "shape",
    "strided_slice",
    "pack",
    "activations",
    "prelu",
    "quantize",
    "dequantize",
    "kernel_util",
    "micro_tensor_utils",
)

INCLUDES = (
    ".",
    f"{MICRO}/tools/make/downloads",
    f"{MICRO}/tools/make/downloads/gemmlowp",
    f"{MICRO}/tools/make/downloads/flatbuffers/include",
    f"{MICRO}/tools/make/downloads/ruy",
)
COMMON_FLAGS = (
    "-Os",
    "-ffunction-sections",
    "-fdata-sections",
    "-fno-unwind-tables",
    "-fno-asynchronous-unwind-tables",
    "-DTF_LITE_STATIC_MEMORY",
    "-DTF_LITE_DISABLE_X86_NEON",
)
CXX_ONLY = ("-std=c++17", "-fno-rtti", "-fno-exceptions", "-fno-threadsafe-statics")
C_ONLY = ("-std=c11", "-fno-trapping-math", "-ffp-contract=fast")
QEMU_BOARDS = {"cortex-m4": "mps2-an386", "cortex-m55": "mps3-an547"}
# Requantise with one rounding (TFLM's default is two), as LiteRT's default
# optimised int8 kernels (the Python interpreter's) do: with it the int8
# outputs are identical to the classic interpreter's, for APALU, ReLU and
# PReLU models alike; without it they match LiteRT's reference kernels
# instead and its default kernels only within one step.
SINGLE_ROUNDING = "-DTFLITE_SINGLE_ROUNDING=1"


class ToolMissingError(RuntimeError):
    """A compiler or emulator is missing; the message names the package."""


class MicroBuildError(RuntimeError):
    """Building or running the TFLM runner failed."""


@dataclasses.dataclass(frozen=True)
class Target:
    name: str
    prefix: str  # compiler prefix, "" for the host
    package: str  # apt package of the compiler
    flags: tuple  # compile flags for C and C++
    link_flags: tuple


TARGETS = {
    "host": Target(
        "host",
        "",
        "build-essential",
        ("-DTF_LITE_USE_CTIME", SINGLE_ROUNDING),
        ("-lm",),
    ),
    "cortex-m4": Target(
        "cortex-m4",
        "arm-none-eabi-",
        "gcc-arm-none-eabi libnewlib-arm-none-eabi libstdc++-arm-none-eabi-newlib",
        (
            "-mcpu=cortex-m4",
            "-mthumb",
            "-mfloat-abi=soft",
            "-mlittle-endian",
            "-funsigned-char",
            "-fomit-frame-pointer",
            "--specs=rdimon.specs",
            "-DTF_LITE_MCU_DEBUG_LOG",
            "-DAPALU_RUNNER_CMSDK_TIMER",
            "-DAPALU_NO_SIMD",
            SINGLE_ROUNDING,
        ),
        (
            "-Wl,--gc-sections",
            "-lm",
            "-Wl,--undefined=__isr_vector",
            "-Wl,--section-start=.isr_vector=0x0",
            "-Wl,--defsym=__qemu_initial_sp=0x20010000",
        ),
    ),
}
# MPS3 AN547 runs the image from its 512 KiB ITCM: smaller runner buffers,
# and no tick count (its timers sit elsewhere).
TARGETS["cortex-m55"] = dataclasses.replace(
    TARGETS["cortex-m4"],
    name="cortex-m55",
    flags=tuple(
        f if f != "-mcpu=cortex-m4" else "-mcpu=cortex-m55"
        for f in TARGETS["cortex-m4"].flags
        if f != "-DAPALU_RUNNER_CMSDK_TIMER"
    )
    + ("-DAPALU_RUNNER_MODEL_BYTES=131072", "-DAPALU_RUNNER_ARENA_BYTES=65536"),
)


def cache_dir():
    """Where the TFLM tree and builds are cached: `~/.cache/keras_apalu/tflm`
    (or under `$XDG_CACHE_HOME`). Kept apart from the kernel library's cache,
    which the tests point at a fresh folder: a TFLM build is reused."""
    base = os.environ.get("XDG_CACHE_HOME") or pathlib.Path.home() / ".cache"
    return pathlib.Path(base) / "keras_apalu" / "tflm"


def _say(log, message):
    if log is not None:
        log(message)


def tool(name, package):
    """Path of `name`, or ToolMissingError naming the apt package."""
    path = shutil.which(name)
    if path is None:
        raise ToolMissingError(
            f"{name} not found: install it with `apt-get install {package}` "
            "(install.sh does, where apt is available)."
        )
    return path


def bundle_archive():
    """The pinned offline TFLM archive in ../shared/vendor/tflite-micro."""
    archives = sorted(BUNDLE_DIR.glob("tflite-micro-*-offline.tar.gz"))
    if not archives:
        raise MicroBuildError(
            f"No TFLite Micro source: pass tflm_dir (a TFLM checkout whose "
            f"tools/make/downloads/ is filled), or provide the offline bundle "
            f"in {BUNDLE_DIR}."
        )
    return archives[-1]


def _sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _check_tree(root):
    root = pathlib.Path(root)
    if not (root / MICRO / "micro_interpreter.h").is_file():
        raise MicroBuildError(
            f"{root} is not a TFLite Micro source tree (no "
            f"{MICRO}/micro_interpreter.h); pass the root of a tflite-micro "
            "checkout."
        )
    downloads = root / MICRO / "tools/make/downloads"
    if not (downloads / "flatbuffers/include").is_dir():
        raise MicroBuildError(
            f"{root} has no {MICRO}/tools/make/downloads/flatbuffers: run "
            "one TFLM make there first (it downloads its dependencies)."
        )
    return root


def tflm_tree(tflm_dir=None, log=None):
    """The TFLM source root: `tflm_dir`, or the bundle extracted in the cache
    (once; an interrupted extraction leaves nothing behind)."""
    if tflm_dir is not None:
        return _check_tree(tflm_dir)
    archive = bundle_archive()
    expected = archive.parent / "SHA256SUMS"
    sha = _sha256(archive)
    if expected.is_file() and sha not in expected.read_text():
        raise MicroBuildError(f"{archive} does not match its SHA256SUMS.")
    folder = cache_dir() / sha[:12]
    top = archive.name[: -len("-offline.tar.gz")]
    root = folder / top
    if (root / MICRO / "micro_interpreter.h").is_file():
        return root
    _say(log, f"Extracting {archive.name} to {folder} ...")
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder, prefix=".extract-") as tmp:
        with tarfile.open(archive) as tar:
            tar.extractall(tmp, filter="data")
        os.replace(pathlib.Path(tmp) / top, root)
    return root


def _tree_key(root):
    """Identifies a TFLM tree: the bundle's sha (from its cache folder name)
    or, for a user's checkout, its path and the interpreter's sources."""
    digest = hashlib.sha256(str(root.resolve()).encode())
    for name in ("micro_interpreter.cc", "micro_allocator.cc"):
        digest.update((root / MICRO / name).read_bytes())
    return digest.hexdigest()[:12]


def _sources(root):
    sources = list(CORE_SOURCES)
    for kernel in KERNELS:
        for name in (kernel, f"{kernel}_common"):
            if (root / MICRO / "kernels" / f"{name}.cc").is_file():
                sources.append(f"{MICRO}/kernels/{name}.cc")
    missing = [s for s in sources if not (root / s).is_file()]
    if missing:
        raise MicroBuildError(
            f"{root} lacks {', '.join(missing[:3])}: a different TFLM "
            "version than the pinned one? Use ../shared/vendor/tflite-micro."
        )
    return sources


def _compile(command, source):
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise MicroBuildError(
            f"Compiling {source} failed:\n$ {' '.join(map(str, command))}\n"
            f"{result.stdout[-3000:]}{result.stderr[-3000:]}"
        )


def build_runner(target="host", tflm_dir=None, log=None, jobs=None):
    """Builds (or finds in the cache) tflm_runner for `target`.

    Args:
        target: "host", "cortex-m4" or "cortex-m55" (see the module docstring).
        tflm_dir: root of a TFLM checkout; default: the pinned bundle.
        log: a callable given progress lines (e.g. `print`), or None.
        jobs: parallel compiler processes (default: the CPU count).

    Returns:
        The runner executable's `pathlib.Path` (an ELF for Cortex-M).

    Raises:
        ToolMissingError: no compiler for the target (names the package).
        MicroBuildError: no TFLM tree, or a compile or link error.
    """
    if target not in TARGETS:
        raise ValueError(f"target must be one of {sorted(TARGETS)}; got {target!r}.")
    spec = TARGETS[target]
    cxx = tool(f"{spec.prefix}g++", spec.package)
    cc = tool(f"{spec.prefix}gcc", spec.package)
    root = tflm_tree(tflm_dir, log)
    kernel_dir = _kernel.source_dir()
    identity = subprocess.run(
        [cxx, "--version"], capture_output=True, text=True, check=False
    ).stdout
    flags = (
        *COMMON_FLAGS,
        *spec.flags,
        *(f"-I{root / inc}" for inc in INCLUDES),
        f"-I{kernel_dir}",
    )
    key = hashlib.sha256(
        "\0".join(
            [_tree_key(root), target, identity, *flags, *spec.link_flags]
        ).encode()
    ).hexdigest()[:16]
    folder = cache_dir() / "build" / key
    objects_dir = folder / "tflm"
    objects_dir.mkdir(parents=True, exist_ok=True)

    # The project's sources: their hash names the runner.
    own = [kernel_dir / n for n in ("apalu_core.c", "apalu_micro.cc", "tflm_runner.cc")]
    own_headers = [kernel_dir / n for n in ("apalu_core.h", "apalu_micro.h")]
    own_key = hashlib.sha256(
        b"".join(p.name.encode() + p.read_bytes() for p in (*own, *own_headers))
    ).hexdigest()[:16]
    runner = folder / f"tflm_runner-{own_key}"
    if runner.exists():
        return runner

    tasks = []
    for source in _sources(root):
        obj = objects_dir / (source.replace("/", "_")[:-3] + ".o")
        if not obj.exists():
            tasks.append(
                ([cxx, *CXX_ONLY, *flags, "-c", str(root / source)], obj, source)
            )
    own_objects = []
    for source in own:
        obj = folder / f"{source.stem}-{own_key}.o"
        own_objects.append(obj)
        compiler = [cc, *C_ONLY] if source.suffix == ".c" else [cxx, *CXX_ONLY]
        if not obj.exists():
            tasks.append(
                ([*compiler, *flags, "-Wall", "-c", str(source)], obj, source.name)
            )
    if target != "host":
        vectors = BUNDLE_DIR / "qemu-system" / "vectors.S"
        if not vectors.is_file():
            raise MicroBuildError(
                f"{vectors} is missing (the qemu-system overlay of the TFLM bundle)."
            )
        obj = folder / "vectors.o"
        own_objects.append(obj)
        if not obj.exists():
            tasks.append(([cc, *spec.flags, "-c", str(vectors)], obj, "vectors.S"))
    if tasks:
        _say(
            log,
            f"Building TFLite Micro for {target}: compiling "
            f"{len(tasks)} files (a few minutes the first time; "
            f"cached in {folder}) ...",
        )

    def run(task):
        command, obj, source = task
        partial = obj.with_name(obj.name + f".{os.getpid()}.tmp")
        _compile([*command, "-o", str(partial)], source)
        os.replace(partial, obj)

    with concurrent.futures.ThreadPoolExecutor(jobs or os.cpu_count()) as ex:
        for future in [ex.submit(run, task) for task in tasks]:
            future.result()
    tflm_objects = sorted(objects_dir.glob("*.o"))
    partial = runner.with_name(runner.name + f".{os.getpid()}.tmp")
    command = [
        cxx,
        *CXX_ONLY,
        *spec.flags,
        *map(str, own_objects),
        *map(str, tflm_objects),
        *spec.link_flags,
        "-o",
        str(partial),
    ]
    if target == "host":
        command.append("-Wl,--gc-sections")
    _compile(command, "the runner (link)")
    os.replace(partial, runner)
    return runner


def qemu_command(target, runner, arguments):
    """qemu-system-arm command running a Cortex-M runner with semihosting
    (arguments through the semihosting command line) and -icount shift=0."""
    qemu = tool("qemu-system-arm", "qemu-system-arm")
    args = ",".join(f"arg={a}" for a in (runner, *arguments))
    return [
        qemu,
        "-M",
        QEMU_BOARDS[target],
        "-cpu",
        target,
        "-nographic",
        "-monitor",
        "none",
        "-serial",
        "none",
        "-icount",
        "shift=0",
        "-semihosting-config",
        f"enable=on,target=native,{args}",
        "-kernel",
        str(runner),
    ]


@dataclasses.dataclass
class RunnerResult:
    samples: int
    model_bytes: int
    arena_used: int
    arena_size: int
    ticks: int
    output: str


def run_runner(target, runner, model, inputs, outputs, timeout=600):
    """Runs `runner` on `model` over the samples in `inputs` (raw bytes),
    writing `outputs`; returns its summary. Cortex-M runs under qemu."""
    arguments = [str(model), str(inputs), str(outputs)]
    if target == "host":
        command = [str(runner), *arguments]
    else:
        command = qemu_command(target, runner, arguments)
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=timeout, check=False
    )
    text = result.stdout + result.stderr
    match = re.search(
        r"tflm_runner: (\d+) samples, model (\d+) bytes, arena "
        r"(\d+) bytes used of (\d+), ticks (\d+)",
        text,
    )
    if result.returncode != 0 or match is None:
        raise MicroBuildError(
            f"The TFLM runner failed (exit {result.returncode}):\n"
            f"$ {' '.join(command)}\n{text[-3000:]}"
        )
    return RunnerResult(*map(int, match.groups()), output=text)


def sizes(target, runner):
    """(text, data, bss) bytes of the runner, from `size`."""
    prefix = TARGETS[target].prefix
    size = tool(f"{prefix}size", TARGETS[target].package)
    result = subprocess.run(
        [size, str(runner)], capture_output=True, text=True, check=True
    )
    text, data, bss = result.stdout.splitlines()[1].split()[:3]
    return int(text), int(data), int(bss)


def run_model(
    model_path,
    samples,
    output_dtype,
    target="host",
    tflm_dir=None,
    log=None,
    timeout=600,
):
    """Runs a .tflite model with TFLM on `samples` and returns the outputs.

    Args:
        model_path: the .tflite file (its APALU ops run on apalu_micro.cc).
        samples: a NumPy array, one model input per row, already of the
            model input's dtype and shape (batch axis first, batch 1 each).
        output_dtype: the NumPy dtype of the model's output tensor.
        target, tflm_dir, log: as for `build_runner`.

    Returns:
        `(outputs, result)`: outputs as an array with one row per sample
        (flattened), and the runner's `RunnerResult` (arena use, ticks).
    """
    import numpy as np

    runner = build_runner(target, tflm_dir, log)
    samples = np.ascontiguousarray(samples)
    with tempfile.TemporaryDirectory(prefix="apalu-tflm-") as tmp:
        tmp = pathlib.Path(tmp)
        inputs, outputs = tmp / "inputs.bin", tmp / "outputs.bin"
        inputs.write_bytes(samples.tobytes())
        result = run_runner(
            target, runner, pathlib.Path(model_path).resolve(), inputs, outputs, timeout
        )
        values = np.frombuffer(outputs.read_bytes(), output_dtype)
    if result.samples != len(samples):
        raise MicroBuildError(
            f"The TFLM runner ran {result.samples} of {len(samples)} samples "
            "(input size mismatch?)."
        )
    return values.reshape(len(samples), -1), result
