"""One command-line dialect for every application.

Every `python -m applications.<name>` command takes the same flag for the
same thing:

| flag | meaning |
|---|---|
| `--backend NAME` | Keras backend (tensorflow, jax, torch) when `KERAS_BACKEND` is not set |
| `--run-dir DIR` | the run folder; default `runs/<application>/...`; rerun to resume |
| `--data-dir DIR` | where the data set is (applications that read one) |
| `--seeds S [S ...]` | seeds, each an integer or a range `A-B` (`--seeds 0-4` = 0 1 2 3 4) |
| `--quick` | a seconds-long smoke run (what CI runs) |
| `--quiet` | no progress bars |
| `--verbose` | tracebacks and native (TensorFlow, XLA, converter) log lines |

Exit status: 0 success, 1 failure, 2 bad usage or input, 130 interrupted
(Ctrl-C; rerun the same command to resume). `run()` is the console wrapper
that makes it so: errors are one or two lines naming the problem and the fix,
the traceback only with `--verbose`. Flags renamed in this release keep
working for one release with a one-line notice (`deprecated_flags`).

Nothing here imports keras: the backend is chosen before keras is imported.
"""

import argparse
import importlib.util
import os
import pathlib
import sys
import tempfile
import traceback

from applications.common.errors import ApplicationError
from applications.common.errors import UsageError
from applications.common.native_logs import native_stderr_to_file
from applications.common.native_logs import quiet_python_logs

BACKENDS = ("tensorflow", "jax", "torch")
#: Folder under which every application writes by default.
RUNS_ROOT = "runs"


def default_run_dir(application, *parts):
    """`runs/<application>/<parts...>` (relative to the working directory)."""
    return str(pathlib.Path(RUNS_ROOT, application, *parts))


def seed_list(values):
    """Seeds from `--seeds` values: integers and inclusive ranges `A-B`.

    Args:
        values: strings (or integers) as argparse collected them.

    Returns:
        A list of distinct non-negative integers in the order given.

    Raises:
        UsageError: a value that is neither, or a range with B < A.
    """
    seeds = []
    for value in values:
        text = str(value).strip()
        try:
            if "-" in text.lstrip("-"):
                low, high = (int(part) for part in text.split("-", 1))
                if high < low:
                    raise ValueError
                chunk = range(low, high + 1)
            else:
                chunk = [int(text)]
        except ValueError:
            raise UsageError(
                f"--seeds: {text!r} is not a seed or a range",
                hint="give integers or ranges, e.g. --seeds 0 1 2 or --seeds 0-4",
            ) from None
        for seed in chunk:
            if seed < 0:
                raise UsageError(f"--seeds: seeds are >= 0; got {seed}")
            if seed not in seeds:
                seeds.append(seed)
    return seeds


def add_common_arguments(
    parser, *, run_dir=None, data_dir=False, seeds=None, quick=False, quiet=True
):
    """Adds the shared flags to `parser` (a command's or a sub-command's).

    Args:
        parser: an `argparse.ArgumentParser`.
        run_dir: default of `--run-dir` (for example
            `default_run_dir("sign_language")`); `None` adds no `--run-dir`.
        data_dir: `True` adds `--data-dir` (default `None`: the application
            finds or downloads its data).
        seeds: default seed list of `--seeds`; `None` adds no `--seeds`. The
            parsed value is always a list of integers (see `seed_list`).
        quick: `True` adds `--quick`.
        quiet: `True` adds `--quiet` (no progress bars).

    `--verbose` is always added: it is read by `run()` before parsing.
    """
    if run_dir is not None:
        parser.add_argument(
            "--run-dir",
            default=run_dir,
            metavar="DIR",
            help="run folder, resumed when rerun (default: %(default)s)",
        )
    if data_dir:
        parser.add_argument(
            "--data-dir",
            default=None,
            metavar="DIR",
            help="data set folder (default: found or downloaded)",
        )
    if seeds is not None:
        parser.add_argument(
            "--seeds",
            nargs="+",
            default=list(seeds),
            metavar="S",
            type=_seed_token,
            help="seeds: integers or ranges A-B "
            f"(default: {' '.join(map(str, seeds))})",
        )
    if quick:
        parser.add_argument(
            "--quick", action="store_true", help="seconds-long smoke run (CI)"
        )
    if quiet:
        parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument(
        "--verbose", action="store_true", help="show tracebacks and native log lines"
    )


def _seed_token(text):
    # argparse calls this per token; ranges are expanded by seed_list.
    try:
        return seed_list([text])
    except UsageError as error:
        raise argparse.ArgumentTypeError(str(error).removeprefix("--seeds: ")) from None


def flatten_seeds(args):
    """After parsing: `args.seeds` as one flat list of distinct integers."""
    if getattr(args, "seeds", None) is not None:
        flat = []
        for item in args.seeds:
            for seed in item if isinstance(item, list) else [item]:
                if seed not in flat:
                    flat.append(seed)
        args.seeds = flat
    return args


def deprecated_flags(argv, renames, *, stream=None):
    """Rewrites flags renamed in this release, with a one-line notice each.

    Args:
        argv: the command-line tokens.
        renames: old flag -> new flag (e.g. `{"--out-dir": "--run-dir"}`),
            or old flag -> callable `(tokens_after_flag) -> (replacement
            tokens, number of following tokens consumed)` for changes of
            meaning; a callable that returns `None` keeps the flag as it is,
            without a notice (a flag whose old use is only one of its uses).
        stream: where the notices go (default `sys.stderr`).

    Returns:
        The rewritten token list.
    """
    stream = stream or sys.stderr
    out, index = [], 0
    while index < len(argv):
        token = argv[index]
        flag, eq, inline = token.partition("=")
        if flag in renames:
            target = renames[flag]
            if callable(target):
                rest = ([inline] if eq else []) + list(argv[index + 1 :])
                rewritten = target(rest)
                if rewritten is None:
                    out.append(token)
                    index += 1
                    continue
                replacement, used = rewritten
                consumed = used - (1 if eq else 0)
                new = " ".join(replacement) or "nothing"
                print(
                    f"note: {token} {' '.join(rest[: used - (1 if eq else 0)])}".rstrip()
                    + f" is deprecated; it now reads as {new}.",
                    file=stream,
                )
                out.extend(replacement)
                index += 1 + max(consumed, 0)
                continue
            print(f"note: {flag} is deprecated; use {target}.", file=stream)
            out.append(target + (eq + inline if eq else ""))
        else:
            out.append(token)
        index += 1
    return out


def writable_folder(path, flag="--run-dir"):
    """Checks, before any work, that `path` can be created and written to.

    Creates nothing: it probes the nearest existing folder above `path`
    with a temporary file that is removed at once.

    Args:
        path: the folder a command will write into.
        flag: the option that names it, for the message.

    Returns:
        `path` as a `pathlib.Path`.

    Raises:
        UsageError: a file stands where a folder must be, or the folder (or
            the nearest existing one above it) is not writable.
    """
    path = pathlib.Path(path)
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    hint = f"choose a folder you can write to with {flag} DIR"
    if not existing.is_dir():
        raise UsageError(
            f"cannot create the folder {path}: {existing} is a file", hint=hint
        )
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as error:
        raise UsageError(
            f"cannot write to {path}: {existing}: {error.strerror or error}", hint=hint
        ) from None
    return path


def seed_count_form(rest):
    """For `deprecated_flags`: the old count form `--seeds N` (one integer
    N > 0 alone) reads as `--seeds 0-(N-1)`; anything else is kept.

    Use as `renames={"--seeds": seed_count_form}` in applications whose
    `--seeds` was a count.
    """
    values = []
    for token in rest:
        if token.startswith("-") and not token.lstrip("-").isdigit():
            break
        values.append(token)
    if len(values) == 1 and values[0].isdigit() and int(values[0]) > 0:
        return ["--seeds", f"0-{int(values[0]) - 1}"], 1
    return None


class ArgumentParser(argparse.ArgumentParser):
    """`argparse.ArgumentParser` whose usage errors are two lines (the
    problem and where the help is) instead of the whole usage text; exit
    status 2. Sub-parsers made with `add_subparsers` inherit it."""

    def error(self, message):
        self.exit(2, f"error: {self.prog}: {message}\nhint: see {self.prog} --help\n")


def select_backend(argv):
    """Sets `KERAS_BACKEND` from `--backend` and checks it before keras loads.

    Returns:
        The backend's name.

    Raises:
        UsageError: an unknown backend (in `--backend` or `KERAS_BACKEND`),
            one whose package is not installed, or a `--backend` that
            contradicts a keras already imported in this process.
    """
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--backend")
    known, _ = pre.parse_known_args([t for t in argv if t not in ("-h", "--help")])
    name, source = known.backend, "--backend"
    if name is None:
        name, source = os.environ.get("KERAS_BACKEND"), "KERAS_BACKEND"
    if name is None:
        name, source = "tensorflow", "the default backend"
    if name not in BACKENDS:
        raise UsageError(
            f"{source}={name!r} is not a Keras backend",
            hint=f"choose one of {', '.join(BACKENDS)} "
            f"(e.g. KERAS_BACKEND=jax or --backend jax)",
        )
    if importlib.util.find_spec(name) is None:
        raise UsageError(
            f"the {name} backend ({source}) is not installed",
            hint=f"pip install -e '.[{name}]' (torch: pip install torch==2.13.0 "
            "first), or choose another --backend",
        )
    if "keras" in sys.modules:
        current = sys.modules["keras"].backend.backend()
        if current != name and source == "--backend":
            raise UsageError(
                f"--backend {name}: keras is already imported with the {current} "
                "backend in this process"
            )
        return current
    os.environ["KERAS_BACKEND"] = name
    return name


def run(main, argv=None, *, renames=None):
    """Runs an application's `main(argv)` as a console command.

    Args:
        main: callable taking the token list; returns an exit status (int)
            or anything else for success.
        argv: tokens (default `sys.argv[1:]`).
        renames: deprecated flags for `deprecated_flags`.

    Returns:
        The exit status: 0 success, 1 failure, 2 bad usage or input, 130
        interrupted. Errors are printed as one or two lines on stderr; the
        traceback and native logs only with `--verbose`.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    verbose = "--verbose" in argv
    try:
        if renames:
            argv = deprecated_flags(argv, renames)
            verbose = "--verbose" in argv
        select_backend(argv)
        if not verbose:
            quiet_python_logs()
        with native_stderr_to_file(enabled=not verbose):
            status = main(argv)
        return status if isinstance(status, int) and not isinstance(status, bool) else 0
    except SystemExit as stop:  # argparse: --help (0) and usage errors (2)
        code = stop.code
        if code is None or isinstance(code, int):
            return code or 0
        print(f"error: {code}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            "\ninterrupted: finished work is saved; rerun the same command to resume",
            file=sys.stderr,
        )
        return 130
    except ApplicationError as error:
        return _report(error, error.lines(), error.exit_status, verbose)
    except OSError as error:
        return _report(error, _os_error_lines(error), 2, verbose)
    except Exception as error:  # noqa: BLE001 - the last resort of a console command
        lines = [
            f"error: {type(error).__name__}: {error}",
            "hint: this looks like a bug; rerun with --verbose for the "
            "traceback and report it",
        ]
        return _report(error, lines, 1, verbose)


def _os_error_lines(error):
    path = error.filename or ""
    what = error.strerror or str(error)
    if isinstance(error, PermissionError):
        return [
            f"error: {path}: permission denied",
            "hint: choose a folder you can write to (e.g. --run-dir DIR)",
        ]
    if isinstance(error, FileNotFoundError):
        return [f"error: {path}: no such file or folder"]
    return [f"error: {path + ': ' if path else ''}{what}"]


def _report(error, lines, status, verbose):
    if verbose:
        traceback.print_exception(error, file=sys.stderr)
    for line in lines:
        print(line, file=sys.stderr)
    return status
