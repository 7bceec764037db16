#!/usr/bin/env python3
"""Check Markdown tables: every row has its header's number of columns.

Usage: tables.py FILE...   (- reads standard input)
Prints one line per bad row and exits 1 if there is one; with --only-tables,
any line that is not part of a table is an error too (uvfio-bench --markdown
must print nothing else, not even on stderr).
"""
import sys


def cells(line):
    body = line.strip()
    if not (body.startswith("|") and body.endswith("|")) or len(body) < 2:
        return None
    return len(body[1:-1].split("|"))


def check(name, text, only_tables):
    bad = 0
    header = None
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            header = None
            continue
        if not line.lstrip().startswith("|"):
            header = None
            if only_tables:
                print(f"{name}:{n}: not a table row: {line!r}")
                bad += 1
            continue
        count = cells(line)
        if count is None:
            print(f"{name}:{n}: a row that does not end with '|': {line!r}")
            bad += 1
        elif header is None:
            header = count
        elif count != header:
            print(f"{name}:{n}: {count} columns, the header has {header}: {line!r}")
            bad += 1
    return bad


def main(argv):
    only = "--only-tables" in argv
    bad = 0
    for path in [a for a in argv if a != "--only-tables"]:
        text = sys.stdin.read() if path == "-" else open(path, encoding="utf-8").read()
        bad += check(path, text, only)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
