#!/usr/bin/env python3
"""The LibTorch line, checked: no source of a LibTorch-free library reaches a LibTorch header.

Debian installs ATen, c10 and torch under /usr/include, so an `#include <ATen/ATen.h>` in a
LibTorch-free target compiles there without complaint. This check preprocesses every source of the
given targets with its own compile command from compile_commands.json (`-H`: every header opened,
with its depth) and fails naming the source, the LibTorch header and the chain of headers that led
to it.

  check_libtorch_line.py BUILD_DIR TARGET...       check these targets' sources
  check_libtorch_line.py --self-test BUILD_DIR      the check must catch a LibTorch header reached
                                                   through a project header (model/transformer.h)
"""
import concurrent.futures
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile

# A header path is LibTorch's when it lies under one of these include roots.
TORCH_DIRS = re.compile(r"/(ATen|c10|torch|caffe2)/")


def load_entries(build_dir):
    path = os.path.join(build_dir, "compile_commands.json")
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        sys.exit(f"{path}: cannot read ({e}); configure the build first")


def target_of(entry):
    """The CMake target an entry's object file belongs to (…/CMakeFiles/<target>.dir/…)."""
    m = re.search(r"CMakeFiles/([^/]+)\.dir/", entry["command"])
    return m.group(1) if m else None


def preprocess_command(entry, source):
    """The entry's compile command turned into 'preprocess `source`, list every header opened'."""
    args = shlex.split(entry["command"])
    out = []
    skip = False
    for a in args:
        if skip:
            skip = False
            continue
        if a == "-o":
            skip = True
            continue
        if a == "-c" or a == entry["file"]:
            continue
        out.append(a)
    return out + ["-E", "-H", "-o", os.devnull, source]


def violation(entry, source):
    """None, or a line naming the LibTorch header `source` reaches and the chain of headers to it."""
    run = subprocess.run(preprocess_command(entry, source), cwd=entry["directory"], capture_output=True, text=True)
    chain = []  # chain[d-1]: the header open at depth d
    for line in run.stderr.splitlines():
        m = re.match(r"^(\.+) (.*)$", line)
        if not m:
            continue
        depth, header = len(m.group(1)), os.path.normpath(m.group(2))
        del chain[depth - 1:]
        chain.append(header)
        if TORCH_DIRS.search(header):
            return f"{source}: reaches LibTorch: " + " -> ".join(chain)
    if run.returncode != 0:
        errors = [l for l in run.stderr.splitlines() if not re.match(r"^\.+ ", l)] or ["(no message)"]
        return f"{source}: does not preprocess: {errors[0]}"
    return None


def check(build_dir, targets):
    entries = [e for e in load_entries(build_dir) if target_of(e) in targets]
    found = {target_of(e) for e in entries}
    missing = sorted(set(targets) - found)
    if missing:
        sys.exit(f"no sources in compile_commands.json for: {', '.join(missing)}")
    with concurrent.futures.ThreadPoolExecutor(os.cpu_count() or 2) as pool:
        problems = [p for p in pool.map(lambda e: violation(e, e["file"]), entries) if p]
    for p in problems:
        print(p)
    print(f"{len(entries)} sources of {len(found)} LibTorch-free targets checked, {len(problems)} reach LibTorch")
    return 1 if problems else 0


def self_test(build_dir):
    """A LibTorch-free compile command on a source that includes model/transformer.h must be refused."""
    entries = load_entries(build_dir)
    entry = next((e for e in entries if target_of(e) == "r1_core"), None)
    if entry is None:
        sys.exit("no r1_core source in compile_commands.json")
    with tempfile.NamedTemporaryFile("w", suffix=".cpp", delete=False) as f:
        f.write('#include "core/error.h"\n#include "model/transformer.h"\n')
        bad = f.name
    with tempfile.NamedTemporaryFile("w", suffix=".cpp", delete=False) as f:
        f.write('#include "core/error.h"\n#include "tokenizer/tokenizer.h"\n')
        good = f.name
    try:
        caught, passed = violation(entry, bad), violation(entry, good)
    finally:
        os.unlink(bad)
        os.unlink(good)
    print("bad source:", caught)
    print("good source:", passed)
    ok = caught is not None and "model/transformer.h -> " in caught and "ATen" in caught and passed is None
    return 0 if ok else 1


def main(argv):
    if len(argv) >= 2 and argv[0] == "--self-test":
        return self_test(argv[1])
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    return check(argv[0], set(argv[1:]))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
