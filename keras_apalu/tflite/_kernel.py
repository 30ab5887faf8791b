"""Builds, caches and loads the APALU TFLite kernel (tflite/apalu_op.c).

The shared library is compiled from source with the machine's C and C++
compilers the first time it is needed and cached in `cache_dir()`
(`$XDG_CACHE_HOME/keras_apalu/tflite`, by default
`~/.cache/keras_apalu/tflite`; `build_library(directory=...)` picks another),
keyed by a hash of the sources, the compiler, the flags and the TensorFlow
library it links to; any change rebuilds it. The cache lives outside the
package, so a read-only, non-editable install works too. `python -m
keras_apalu.tflite build` builds it ahead of time; `load_library(library=...)`
(and the `library` argument of `interpreter` and `convert`) uses a prebuilt
library instead.

No TensorFlow import happens here: the library links to the tensorflow
wheel's `libtensorflow_cc.so.2`, which exports
`tflite::MutableOpResolver::AddCustom`, and is loaded with ctypes.
"""

import ctypes
import hashlib
import importlib.util
import os
import pathlib
import platform
import shlex
import subprocess
import sys
import tempfile
import threading

from keras_apalu.errors import KernelUnavailableError

#: Name of the custom op in the flatbuffer and in the resolver.
OP_NAME = "APALU"
#: `void KerasApalu_RegisterAPALU(tflite::MutableOpResolver*)`, for
#: `custom_op_registerers=[REGISTERER_NAME]` once the library is loaded with
#: `load_library(global_symbols=True)`.
REGISTERER_NAME = "KerasApalu_RegisterAPALU"
#: `const TfLiteRegistration* KerasApalu_Register_APALU(void)`, for C/C++ apps.
REGISTRATION_GETTER = "KerasApalu_Register_APALU"

KERNEL_SOURCE = "apalu_op.c"
#: The runtime-free math (apalu_core.h/.c) the classic glue is linked with.
CORE_SOURCES = ("apalu_core.c",)
CORE_HEADERS = ("apalu_core.h",)
REGISTERER_SOURCE = "apalu_registerer.cc"
# -fno-trapping-math lets the compiler vectorise the final select and
# -ffp-contract=fast lets it use fused multiply-adds (which -std=c11 turns
# off); unlike -ffast-math neither allows reassociation or ignores NaN/inf.
C_FLAGS = (
    "-std=c11",
    "-O3",
    "-fno-trapping-math",
    "-ffp-contract=fast",
    "-fPIC",
    "-pthread",
    "-Wall",
)
CXX_FLAGS = ("-std=c++17", "-O2", "-fPIC", "-pthread", "-Wall")
# The kernel's worker threads run the library's code: never unload it.
LINK_FLAGS = () if sys.platform == "darwin" else ("-Wl,-z,nodelete",)

_LOCK = threading.Lock()
_LOADED = {}


def _how_to_register():
    return (
        "A .tflite file converted with mode='custom' contains the custom op "
        f"'{OP_NAME}', which needs the keras_apalu kernel:\n"
        "  - Python: open it with keras_apalu.tflite.interpreter(path) (it "
        "builds and registers the kernel; needs a C and C++ compiler, or pass "
        "library= a prebuilt kernel library), or pass "
        "custom_op_registerers=[keras_apalu.tflite.registerer()] to "
        "ai_edge_litert.interpreter.InterpreterWithCustomOps;\n"
        "  - C++: compile tflite/apalu_op.c into the app and call "
        'resolver.AddCustom("APALU", KerasApalu_Register_APALU(), 1);\n'
        "  - Android/iOS: the same, in the app's native library (see "
        "docs/tflite.md);\n"
        "  - or convert with mode='builtin' for a model that needs no "
        "custom op."
    )


def source_dir():
    """The folder holding the kernel's C/C++ sources.

    In a source checkout or an editable install this is the repository's
    top-level `tflite/` (reached through the `native` link in this package);
    a wheel ships the same files as package data under `native/`.
    """
    candidates = [
        pathlib.Path(__file__).resolve().parent / "native",
        pathlib.Path(__file__).resolve().parents[2] / "tflite",
    ]
    for folder in candidates:
        if (folder / KERNEL_SOURCE).is_file():
            return folder
    raise KernelUnavailableError(
        f"The APALU kernel source {KERNEL_SOURCE} was not found in "
        f"{', '.join(map(str, candidates))}; reinstall keras-apalu."
    )


def tensorflow_cc_library():
    """Path of the tensorflow wheel's libtensorflow_cc (without importing it)."""
    spec = importlib.util.find_spec("tensorflow")
    if spec is None or not spec.submodule_search_locations:
        raise KernelUnavailableError(
            "The APALU kernel's Python registration needs the tensorflow "
            "package (its libtensorflow_cc exports "
            "tflite::MutableOpResolver::AddCustom): pip install "
            "'keras-apalu[tflite]'.\n" + _how_to_register()
        )
    folder = pathlib.Path(list(spec.submodule_search_locations)[0])
    names = (
        ["libtensorflow_cc.2.dylib"]
        if sys.platform == "darwin"
        else ["libtensorflow_cc.so.2"]
    )
    for name in names:
        if (folder / name).exists():
            return folder / name
    raise KernelUnavailableError(
        f"No {names[0]} in {folder}; the tensorflow installation looks "
        "incomplete.\n" + _how_to_register()
    )


def cache_dir():
    """Where built kernel libraries are cached (see the module docstring)."""
    base = os.environ.get("XDG_CACHE_HOME") or pathlib.Path.home() / ".cache"
    return pathlib.Path(base) / "keras_apalu" / "tflite"


def _compilers():
    cc = shlex.split(os.environ.get("CC", "cc"))
    cxx = shlex.split(os.environ.get("CXX", "c++"))
    return cc, cxx


def _compiler_identity(command):
    try:
        return subprocess.run(
            [*command, "--version"], capture_output=True, text=True, timeout=60
        ).stdout
    except (OSError, subprocess.SubprocessError) as error:
        raise KernelUnavailableError(
            f"Cannot run the compiler {' '.join(command)!r} ({error}); install "
            "a C/C++ compiler (e.g. apt-get install build-essential) or set "
            "CC/CXX.\n" + _how_to_register()
        ) from None


def _build_key(sources, cc, cxx, tf_library):
    digest = hashlib.sha256()
    for path in sources:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    stat = tf_library.stat()
    for part in (
        " ".join(cc),
        " ".join(cxx),
        _compiler_identity(cc),
        _compiler_identity(cxx),
        " ".join(C_FLAGS),
        " ".join(CXX_FLAGS),
        " ".join(LINK_FLAGS),
        str(tf_library.resolve()),
        str(stat.st_size),
        str(stat.st_mtime_ns),
        platform.machine(),
        sys.platform,
    ):
        digest.update(part.encode())
        digest.update(b"\0")
    return digest.hexdigest()[:16]


def _run(command, what):
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise KernelUnavailableError(
            f"Building the APALU kernel failed while {what}:\n"
            f"$ {' '.join(map(str, command))}\n{result.stdout}{result.stderr}\n"
            + _how_to_register()
        )


def build_library(force=False, directory=None):
    """Builds the kernel library if needed and returns its path.

    Args:
        force: rebuild even if a cached library with the same key exists.
        directory: cache folder; defaults to `cache_dir()`.

    Returns:
        The `pathlib.Path` of the shared library.

    Raises:
        KernelUnavailableError: no compiler, no TensorFlow, or a build error.
    """
    folder = source_dir()
    kernel, registerer = folder / KERNEL_SOURCE, folder / REGISTERER_SOURCE
    core = [folder / name for name in CORE_SOURCES]
    headers = [folder / name for name in CORE_HEADERS]
    tf_library = tensorflow_cc_library()
    cc, cxx = _compilers()
    key = _build_key((kernel, *core, *headers, registerer), cc, cxx, tf_library)
    directory = pathlib.Path(directory) if directory else cache_dir()
    suffix = ".dylib" if sys.platform == "darwin" else ".so"
    target = directory / f"libkeras_apalu_tflite-{key}{suffix}"
    if target.exists() and not force:
        return target
    directory.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=directory, prefix=".build-") as tmp:
        tmp = pathlib.Path(tmp)
        objects = []
        for source in (kernel, *core):
            objects.append(tmp / (source.stem + ".o"))
            _run(
                [*cc, *C_FLAGS, "-c", str(source), "-o", str(objects[-1])],
                f"compiling {source.name}",
            )
        partial = tmp / target.name
        _run(
            [
                *cxx,
                *CXX_FLAGS,
                *LINK_FLAGS,
                "-shared",
                str(registerer),
                *map(str, objects),
                "-o",
                str(partial),
                str(tf_library),
                f"-Wl,-rpath,{tf_library.parent}",
            ],
            f"linking {target.name}",
        )
        # Atomic: a concurrent build or reader never sees a partial file.
        os.replace(partial, target)
    return target


def load_library(global_symbols=False, library=None):
    """Builds (if needed) and loads the kernel library with ctypes.

    Args:
        global_symbols: load with RTLD_GLOBAL so that the interpreter can find
            `REGISTERER_NAME` by name in `custom_op_registerers`. This also
            makes libtensorflow_cc's symbols global, which has been seen to
            crash a later first import of numpy.random; numpy.random is
            therefore imported first. Prefer `registerer()` (no global
            symbols).
        library: path of a prebuilt kernel library (from `build_library`
            or `python -m keras_apalu.tflite build` elsewhere) to load
            instead of building one; default: build or reuse the cached one.

    Returns:
        The `ctypes.CDLL`.
    """
    with _LOCK:
        key = (str(library) if library else None, global_symbols)
        if key in _LOADED:
            return _LOADED[key]
        path = pathlib.Path(library) if library else build_library()
        if global_symbols:
            import numpy.random  # noqa: F401  (see the docstring)
        mode = ctypes.RTLD_GLOBAL if global_symbols else ctypes.RTLD_LOCAL
        try:
            loaded = ctypes.CDLL(str(path), mode=mode)
            register = getattr(loaded, REGISTERER_NAME)
        except (OSError, AttributeError) as error:
            raise KernelUnavailableError(
                f"Could not load the APALU kernel library {path}: {error}\n"
                + _how_to_register()
            ) from None
        register.argtypes = [ctypes.c_void_p]
        register.restype = None
        _LOADED[key] = loaded
        return loaded


def library_path():
    """Path of the (built, cached) kernel library."""
    return build_library()


def registerer(library=None):
    """A registerer for `custom_op_registerers` that adds the APALU kernel.

    The returned callable takes the address of the interpreter's
    `tflite::MutableOpResolver` (as the LiteRT and TF interpreters pass it)
    and registers the op; it works with the library loaded privately.

    Args:
        library: a prebuilt kernel library (see `load_library`).
    """
    register = getattr(load_library(library=library), REGISTERER_NAME)

    def register_apalu(resolver_address):
        register(ctypes.c_void_p(resolver_address))

    return register_apalu


def how_to_register():
    """The instructions shown when a model's APALU op has no kernel."""
    return _how_to_register()
