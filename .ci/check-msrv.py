#!/usr/bin/env python3
"""The minimum Rust version in Cargo.toml (`rust-version`) must be at least
the highest `rust-version` of every package the build of rbk itself uses
(normal dependencies, transitively, on this platform). A dependency bump
that raises the minimum then fails CI until Cargo.toml and the README say
so. (Installing an older toolchain to `cargo +VERSION check` is not
possible here: rustup reaches no server.)"""
import json
import re
import subprocess
import sys

meta = json.loads(subprocess.run(
    ["cargo", "metadata", "--format-version", "1", "--filter-platform",
     "x86_64-unknown-linux-gnu"],
    check=True, capture_output=True, text=True).stdout)
packages = {p["id"]: p for p in meta["packages"]}
nodes = {n["id"]: n for n in meta["resolve"]["nodes"]}
root = meta["resolve"]["root"]


def version(v):
    parts = [int(x) for x in (v or "0").split(".")]
    return tuple((parts + [0, 0])[:3])


seen, stack = set(), [root]
while stack:
    pid = stack.pop()
    if pid in seen:
        continue
    seen.add(pid)
    for dep in nodes[pid]["deps"]:
        kinds = {k["kind"] for k in dep["dep_kinds"]}
        # Normal and build dependencies; dev-dependencies only of the root
        # are left out (they build tests, not rbk).
        if kinds & {None, "build"}:
            stack.append(dep["pkg"])

needed = max((version(packages[p].get("rust_version")), packages[p]["name"])
             for p in seen if p != root)
declared = version(packages[root].get("rust_version"))
readme = open("README.md", encoding="utf-8").read()
stated = re.search(r"Rust toolchain \((\d+\.\d+) or newer\)", readme)
print(f"rust-version {'.'.join(map(str, declared))}; dependencies need "
      f"{'.'.join(map(str, needed[0]))} ({needed[1]})")
if declared < needed[0]:
    sys.exit("Cargo.toml's rust-version is below what the dependencies need")
if not stated or version(stated.group(1)) != declared:
    sys.exit("README.md does not state the rust-version of Cargo.toml")
