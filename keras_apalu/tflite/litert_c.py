"""The APALU op under LiteRT 2's C API (libLiteRt.so of the ai-edge-litert
wheel), float32 models.

`build_runner()` compiles tflite/litert_runner.c (a small program: model,
compiled model, tensor buffers, run) with the LiteRT 2 glue
tflite/apalu_litert.c (`KerasApalu_LiteRt_Register(options)`, which calls
`LiteRtAddCustomOpKernelOption`) and the core tflite/apalu_core.c, links it
to the wheel's libLiteRt.so, and caches it (keyed by the sources, the
compiler and the library). `run_model()` runs a model on samples.

LiteRT's custom-op dispatcher refuses constant buffers that are not 64-byte
aligned in host memory ("Unaligned host memory pointer"), and the converter
does not align them: `aligned_model()` rewrites the flatbuffer with every
buffer's data 64-byte aligned (same model otherwise).

`arch="aarch64"` cross-compiles the runner with aarch64-linux-gnu-gcc
against the aarch64 wheel's libLiteRt.so (same ai-edge-litert version,
downloaded once with `pip download` and cached in
~/.cache/keras_apalu/litert_aarch64/) and runs it under qemu-aarch64.
qemu-user shows the guest the host's /proc/cpuinfo and /sys CPU files, on
which LiteRT's CPU detection (cpuinfo, used by XNNPACK) crashes: the
emulator's root (`emulator_root()`) holds an aarch64 /proc/cpuinfo (one
Cortex-A72) and a one-CPU /sys/devices/system/cpu, which qemu-user opens in
place of the host's (files under -L take precedence).
"""

import hashlib
import importlib.util
import os
import pathlib
import shlex
import subprocess
import sys
import tempfile
import zipfile

from keras_apalu.tflite import _kernel
from keras_apalu.tflite import micro

ALIGNMENT = 64
C_FLAGS = ("-std=c11", "-O3", "-fno-trapping-math", "-ffp-contract=fast", "-Wall")


def litert_library():
    """Path of the ai-edge-litert wheel's libLiteRt.so."""
    spec = importlib.util.find_spec("ai_edge_litert")
    if spec is None or not spec.submodule_search_locations:
        raise micro.ToolMissingError(
            "ai_edge_litert is not installed: pip install "
            "'ai-edge-litert>=2.3' (its wheel ships libLiteRt.so)."
        )
    path = pathlib.Path(next(iter(spec.submodule_search_locations))) / "libLiteRt.so"
    if not path.is_file():
        raise micro.ToolMissingError(
            f"No libLiteRt.so in {path.parent}: the LiteRT 2 C API needs "
            "ai-edge-litert 2.3 or later on Linux x86_64."
        )
    return path


AARCH64_WHEEL_PLATFORM = "manylinux_2_27_aarch64"
AARCH64_SYSROOT = pathlib.Path("/usr/aarch64-linux-gnu")
# What qemu-user's guest reads in place of the host's CPU description.
EMULATED_CPU_FILES = {
    "proc/cpuinfo": "processor\t: 0\nBogoMIPS\t: 100.00\n"
    "Features\t: fp asimd evtstrm crc32 cpuid\nCPU implementer\t: 0x41\n"
    "CPU architecture: 8\nCPU variant\t: 0x0\nCPU part\t: 0xd08\n"
    "CPU revision\t: 3\n\n",
    "sys/devices/system/cpu/possible": "0\n",
    "sys/devices/system/cpu/present": "0\n",
    "sys/devices/system/cpu/online": "0\n",
    "sys/devices/system/cpu/kernel_max": "0\n",
}


class WheelUnavailableError(micro.ToolMissingError):
    """The aarch64 ai-edge-litert wheel could not be downloaded."""


def _cache():
    return micro.cache_dir().parent


def aarch64_library(log=None):
    """Path of libLiteRt.so for aarch64, from the ai-edge-litert wheel of the
    installed version (downloaded with `pip download` on first use, cached
    in ~/.cache/keras_apalu/litert_aarch64/VERSION/)."""
    import importlib.metadata

    try:
        version = importlib.metadata.version("ai-edge-litert")
    except importlib.metadata.PackageNotFoundError as error:
        raise micro.ToolMissingError(
            "ai_edge_litert is not installed: pip install 'ai-edge-litert>=2.3'"
        ) from error
    directory = _cache() / "litert_aarch64" / version
    library = directory / "libLiteRt.so"
    if library.is_file():
        return library
    directory.mkdir(parents=True, exist_ok=True)
    if log is not None:
        log(f"Downloading the aarch64 ai-edge-litert {version} wheel ...")
    with tempfile.TemporaryDirectory(dir=directory) as tmp:
        command = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "--platform",
            AARCH64_WHEEL_PLATFORM,
            "--python-version",
            f"{sys.version_info.major}.{sys.version_info.minor}",
            f"ai-edge-litert=={version}",
            "-d",
            tmp,
        ]
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=900, check=False
        )
        wheels = sorted(pathlib.Path(tmp).glob("*.whl"))
        if result.returncode != 0 or not wheels:
            raise WheelUnavailableError(
                f"Could not download the aarch64 ai-edge-litert {version} "
                f"wheel (no network to PyPI?):\n$ {' '.join(command)}\n"
                f"{result.stderr[-1500:]}"
            )
        with zipfile.ZipFile(wheels[0]) as wheel:
            payload = wheel.read("ai_edge_litert/libLiteRt.so")
        os.replace(wheels[0], directory / wheels[0].name)
        partial = library.with_name(f"libLiteRt.so.{os.getpid()}.tmp")
        partial.write_bytes(payload)
        os.replace(partial, library)
    return library


def emulator_root():
    """The root qemu-aarch64 runs the runner in (-L): the aarch64 libraries
    of /usr/aarch64-linux-gnu and the one-CPU description EMULATED_CPU_FILES;
    returns its path."""
    if not (AARCH64_SYSROOT / "lib" / "ld-linux-aarch64.so.1").exists():
        raise micro.ToolMissingError(
            f"No aarch64 C library in {AARCH64_SYSROOT}: apt-get install "
            "libc6-dev-arm64-cross libstdc++6-arm64-cross"
        )
    root = _cache() / "litert_aarch64" / "qemu_root"
    root.mkdir(parents=True, exist_ok=True)
    for name, text in EMULATED_CPU_FILES.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.is_file() or path.read_text() != text:
            path.write_text(text)
    lib = root / "lib"
    if not lib.is_symlink():
        partial = root / f"lib.{os.getpid()}.tmp"
        partial.symlink_to(AARCH64_SYSROOT / "lib")
        os.replace(partial, lib)
    return root


def aligned_model(content):
    """The flatbuffer `content` rewritten with each buffer's bytes aligned to
    64 bytes from the start of the file."""
    import flatbuffers
    import numpy as np
    from ai_edge_litert import schema_py_generated as schema

    class AlignedBuilder(flatbuffers.Builder):
        def CreateNumpyVector(self, x):
            if x.dtype != np.uint8:
                return super().CreateNumpyVector(x)
            payload = x.tobytes()
            self.StartVector(1, len(payload), ALIGNMENT)
            self.head = self.head - len(payload)
            self.Bytes[self.head : self.head + len(payload)] = payload
            self.vectorNumElems = len(payload)
            return self.EndVector()

    model = schema.ModelT.InitFromObj(schema.Model.GetRootAs(content, 0))
    builder = AlignedBuilder(len(content) + 4096)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def build_runner(log=None, arch=None, defines=()):
    """Builds (or finds in the cache) litert_runner; returns its path.
    `arch`: None for the host, or "aarch64" (cross-compiled, to run under
    qemu-aarch64). `defines`: extra -D flags (e.g. "APALU_NO_NEON", the
    scalar float path, for measurements)."""
    if arch is None:
        cc = shlex.split(os.environ.get("CC", "cc"))
        micro.tool(cc[0], "build-essential")
        library = litert_library()
    elif arch == "aarch64":
        cc = [micro.tool("aarch64-linux-gnu-gcc", "gcc-aarch64-linux-gnu")]
        library = aarch64_library(log)
    else:
        raise ValueError(f"arch must be None or 'aarch64', got {arch!r}")
    folder = _kernel.source_dir()
    sources = [
        folder / n for n in ("litert_runner.c", "apalu_litert.c", "apalu_core.c")
    ]
    digest = hashlib.sha256()
    for path in (*sources, folder / "apalu_core.h"):
        digest.update(path.read_bytes())
    stat = library.stat()
    identity = subprocess.run(
        [*cc, "--version"], capture_output=True, text=True, check=False
    ).stdout
    for part in (
        identity,
        *C_FLAGS,
        *(f"-D{d}" for d in defines),
        str(library),
        str(stat.st_size),
        str(stat.st_mtime_ns),
    ):
        digest.update(part.encode() + b"\0")
    directory = micro.cache_dir().parent / "litert_c"
    target = directory / f"litert_runner-{digest.hexdigest()[:16]}"
    if target.exists():
        return target
    directory.mkdir(parents=True, exist_ok=True)
    if log is not None:
        log(f"Building the LiteRT 2 C API runner into {directory} ...")
    partial = target.with_name(target.name + f".{os.getpid()}.tmp")
    command = [
        *cc,
        *C_FLAGS,
        *(f"-D{d}" for d in defines),
        f"-I{folder}",
        *map(str, sources),
        str(library),
        f"-Wl,-rpath,{library.parent}",
        "-lm",
        "-o",
        str(partial),
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise micro.MicroBuildError(
            f"Building the LiteRT C runner failed:\n$ {' '.join(command)}\n"
            f"{result.stdout[-3000:]}{result.stderr[-3000:]}"
        )
    os.replace(partial, target)
    return target


def run_model(model_path, samples, output_shape, log=None, timeout=600, arch=None):
    """Runs a float32 model through the LiteRT 2 C API on `samples` (one
    input per row, batch 1 each); returns the outputs, one flattened row per
    sample. `arch="aarch64"`: the aarch64 build under qemu-aarch64."""
    import numpy as np

    runner = build_runner(log, arch)
    prefix = []
    if arch == "aarch64":
        qemu = micro.tool("qemu-aarch64", "qemu-user")
        prefix = [qemu, "-L", str(emulator_root())]
    samples = np.ascontiguousarray(samples, np.float32)
    in_dims = ",".join(str(d) for d in (1, *samples.shape[1:]))
    out_dims = ",".join(str(int(d)) for d in output_shape)
    with tempfile.TemporaryDirectory(prefix="apalu-litert-c-") as tmp:
        tmp = pathlib.Path(tmp)
        model = tmp / "model.tflite"
        model.write_bytes(aligned_model(pathlib.Path(model_path).read_bytes()))
        inputs, outputs = tmp / "inputs.bin", tmp / "outputs.bin"
        inputs.write_bytes(samples.tobytes())
        result = subprocess.run(
            [
                *prefix,
                str(runner),
                str(model),
                str(inputs),
                str(outputs),
                in_dims,
                out_dims,
            ],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        text = result.stdout + result.stderr
        if (
            result.returncode != 0
            or f"litert_runner: {len(samples)} samples" not in text
        ):
            raise micro.MicroBuildError(
                f"The LiteRT C runner failed (exit {result.returncode}):\n"
                f"{text[-3000:]}"
            )
        values = np.fromfile(outputs, np.float32)
    return values.reshape(len(samples), -1)
