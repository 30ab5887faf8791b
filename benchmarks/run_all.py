"""Runs every benchmark, one after the other, and collects their reports.

    python benchmarks/run_all.py                  # full runs
    python benchmarks/run_all.py --quick          # smoke runs
    python benchmarks/run_all.py --threads 1 --update-readme

Each script writes benchmarks/results/<name>.md. With --update-readme the
reports replace the results section of benchmarks/README.md (between the
`<!-- results:start -->` and `<!-- results:end -->` markers). Other options
(--quick, --backends; --threads and --clock to the timing scripts) are
passed on.
"""

import argparse
import pathlib
import subprocess
import sys
import time

HERE = pathlib.Path(__file__).resolve().parent
SCRIPTS = ("op_benchmark", "model_benchmark", "memory_benchmark")
START, END = "<!-- results:start -->", "<!-- results:end -->"


def update_readme(names):
    readme = HERE / "README.md"
    text = readme.read_text()
    if START not in text or END not in text:
        raise SystemExit(f"{readme} has no {START} ... {END} section to fill.")
    reports = []
    for name in names:
        report = (HERE / "results" / f"{name}.md").read_text()
        # Demote the report's headings one level under the README's.
        reports.append("\n".join(
            "#" + line if line.startswith("#") else line
            for line in report.splitlines()))
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    readme.write_text(head + START + "\n\n" + "\n\n".join(reports) + "\n\n"
                      + END + tail)
    print(f"updated {readme}")


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--threads", type=int)
    parser.add_argument("--clock", choices=["wall", "cpu"])
    parser.add_argument("--backends", nargs="+")
    parser.add_argument("--only", nargs="+", choices=SCRIPTS,
                        help="run only these benchmarks")
    parser.add_argument("--update-readme", action="store_true")
    args = parser.parse_args(argv)
    common = ["--quick"] if args.quick else []
    if args.backends:
        common += ["--backends", *args.backends]
    timing = []  # memory does not depend on threads or the clock
    if args.threads:
        timing += ["--threads", str(args.threads)]
    if args.clock:
        timing += ["--clock", args.clock]
    names = args.only or SCRIPTS
    failed = []
    for name in names:
        extra = common + (timing if name != "memory_benchmark" else [])
        print(f"\n===== {name} {' '.join(extra)} =====", flush=True)
        start = time.perf_counter()
        code = subprocess.call(
            [sys.executable, str(HERE / f"{name}.py"), *extra])
        print(f"===== {name}: exit {code}, "
              f"{time.perf_counter() - start:.0f} s =====", flush=True)
        if code:
            failed.append(name)
    if args.update_readme:
        update_readme(names)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
