"""Run each fuzz target for a time box against the ASan build and print what each did.

    python tests/native/fuzz/run.py BUILD_DIR SECONDS [TARGET ...]

Each target starts from its seed corpus in tests/native/fuzz/corpus/<target>/ (read only) and
keeps what it finds in build/fuzz/corpus/<target>/, so a later run goes on from there; crash
inputs land in build/fuzz/artifacts/. Exits non-zero when any target found a crash,
a sanitizer report or a wrong answer.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
WORK = Path("build/fuzz")
TARGETS = ("json_scan", "base64_span", "parse", "response_parse", "call_encode", "payload",
           "serialize")
STAT = re.compile(r"stat::(\w+):\s+(\d+)")
DONE = re.compile(r"#(\d+)\s+DONE\s+cov: (\d+) ft: (\d+) corp: (\d+)/")


def run(build: str, seconds: int, target: str, env: dict[str, str]) -> tuple[int, dict[str, int]]:
    corpus = WORK / "corpus" / target
    corpus.mkdir(parents=True, exist_ok=True)
    artifacts = WORK / "artifacts"
    artifacts.mkdir(parents=True, exist_ok=True)
    log = WORK / f"{target}.log"
    command = [
        sys.executable, str(HERE / "use_build.py"), build, str(HERE / "fuzz.py"), target,
        f"-max_total_time={seconds}", "-print_final_stats=1", "-max_len=4096", "-timeout=10",
        f"-artifact_prefix={artifacts}/{target}-", str(corpus), str(HERE / "corpus" / target),
    ]
    with log.open("wb") as out:
        code = subprocess.call(command, stdout=out, stderr=subprocess.STDOUT, env=env)
    text = log.read_text(errors="replace")
    stats = {name: int(value) for name, value in STAT.findall(text)}
    done = DONE.findall(text)
    if done:
        stats["cov"], stats["corpus"] = int(done[-1][1]), int(done[-1][3])
    if code != 0:
        sys.stdout.write(text[-6000:])  # the report: which input, which check, which stack
    return code, stats


def main(argv: list[str]) -> int:
    build, seconds, targets = argv[0], int(argv[1]), argv[2:] or list(TARGETS)
    env = dict(os.environ)
    env.setdefault("PYTHONMALLOC", "malloc")  # every object its own allocation, seen by ASan
    failed = []
    print(f"{'target':<15} {'seconds':>7} {'execs':>9} {'execs/s':>8} {'cov':>6} {'corpus':>6}"
          f" {'new':>5}  result")
    for target in targets:
        started = time.monotonic()
        code, stats = run(build, seconds, target, env)
        took = time.monotonic() - started
        result = "ok" if code == 0 else f"FAILED (exit {code}, log build/fuzz/{target}.log)"
        if code != 0:
            failed.append(target)
        print(f"{target:<15} {took:7.1f} {stats.get('number_of_executed_units', 0):9d}"
              f" {stats.get('average_exec_per_sec', 0):8d} {stats.get('cov', 0):6d}"
              f" {stats.get('corpus', 0):6d} {stats.get('new_units_added', 0):5d}  {result}",
              flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
