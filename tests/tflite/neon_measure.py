"""Instructions per element of the float kernel on aarch64, NEON path and
scalar build (-DAPALU_NO_NEON), counted by qemu-aarch64 (`-singlestep -d
exec,nochain`: one trace line per executed instruction), as the difference
between a run over N elements and a run over none.

    python -m tests.tflite.neon_measure [--elements 4096]

qemu's wall time is no guide here (it emulates each float operation with a
helper call, vector or not); instruction counts are.
"""

import argparse
import pathlib
import subprocess
import tempfile

from tests.tflite import native_build
from tests.tflite.test_neon import CHECK
from tests.tflite.test_neon import FLAGS


def count(qemu, binary, elements, log):
    subprocess.run(
        [
            qemu,
            "-singlestep",
            "-d",
            "exec,nochain",
            "-D",
            str(log),
            str(binary),
            "--bench",
            "1",
            str(elements),
            "0",
        ],
        check=True,
        capture_output=True,
    )
    with open(log, "rb") as file:
        return sum(line.startswith(b"Trace") for line in file)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--elements", type=int, default=4096)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = pathlib.Path(tmp)
        for name, defines in (("NEON", []), ("scalar", ["-DAPALU_NO_NEON"])):
            binary = tmp / name
            native_build.run(
                [
                    "aarch64-linux-gnu-gcc",
                    *FLAGS,
                    *defines,
                    "-static",
                    CHECK,
                    native_build.CORE,
                    "-lm",
                    "-o",
                    binary,
                ]
            )
            base = count("qemu-aarch64", binary, 0, tmp / "log")
            total = count("qemu-aarch64", binary, args.elements, tmp / "log")
            print(
                f"{name:6s}: {(total - base) / args.elements:.1f} "
                "instructions per element (aarch64, scalar slopes)"
            )


if __name__ == "__main__":
    main()
