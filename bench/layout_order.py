#!/usr/bin/env python3
"""Write the link order of rbk's functions from callgrind profiles.

    layout_order.py BINARY OUT PROFILE...

Each PROFILE is a callgrind output file (run with --demangle=no) of BINARY.
OUT gets one symbol per line: every function of BINARY that ran, in the order
of the profiles given and, within one profile, in the order callgrind first
recorded it. The linker (lld's --symbol-ordering-file, see build.rs) places
them side by side, so a run touches a few hundred KiB of text instead of
pages scattered over the whole binary.
"""

import re
import sys

ENTRY = re.compile(r"^(c?)(ob|fn)=\((\d+)\)(?: (.*))?$")


def functions_run(profile, binary):
    """The functions of `binary` that have their own cost in `profile`."""
    objects, names, order, seen = {}, {}, [], set()
    current = None
    with open(profile, encoding="utf-8", errors="replace") as f:
        for line in f:
            m = ENTRY.match(line.rstrip("\n"))
            if not m:
                continue
            called, kind, ident, name = m.groups()
            if kind == "ob":
                if name:
                    objects[ident] = name
                if not called:
                    current = objects.get(ident)
                continue
            if name:
                names[ident] = name
            if called or current != binary or ident in seen:
                continue
            seen.add(ident)
            order.append(ident)
    # Unnamed code (addresses such as 0x37d6a0) cannot be ordered by name.
    return [names[i] for i in order if i in names and not names[i].startswith("0x")]


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    binary, out, profiles = sys.argv[1], sys.argv[2], sys.argv[3:]
    symbols, seen = [], set()
    for profile in profiles:
        for name in functions_run(profile, binary):
            if name not in seen:
                seen.add(name)
                symbols.append(name)
    if not symbols:
        sys.exit(f"error: no function of {binary} in the profiles")
    with open(out, "w", encoding="utf-8") as f:
        f.write("".join(s + "\n" for s in symbols))
    print(f"{out}: {len(symbols)} functions", file=sys.stderr)


if __name__ == "__main__":
    main()
