#!/usr/bin/env python3
"""Applies the configuration test's "Add these lines" / "Remove" lists to docs/CONFIGURATION.md.

Usage: cargo test --test deploy_config configuration_reference 2>&1 | python3 scripts/sync-config-doc.py
Rows with an environment variable go to the "Options" table, the others to "Command arguments";
both tables stay sorted. Review the free-text cells afterwards.
"""
import re
import sys

text = sys.stdin.read()
add, remove, mode = [], [], None
for line in text.splitlines():
    if line.startswith("Add these lines"):
        mode = add
    elif line.startswith("Remove or correct"):
        mode = remove
    elif line.startswith("| ") and mode is not None:
        mode.append(line.rstrip())
    elif mode is not None and line.strip() == "":
        mode = None

path = "docs/CONFIGURATION.md"
doc = open(path, encoding="utf-8").read().splitlines()

def table_bounds(title):
    start = next(i for i, l in enumerate(doc) if l.startswith(title))
    sep = next(i for i in range(start, len(doc)) if doc[i].startswith("|---"))
    end = sep + 1
    while end < len(doc) and doc[end].startswith("|"):
        end += 1
    return sep + 1, end

def removed(row):
    cells = [c.strip() for c in row.strip("|").split("|")]
    for r in remove:
        rc = [c.strip() for c in r.strip("|").split("|")]
        if cells[:2] == rc[:2]:
            return True
    return False

for title, pick in (("## Options", lambda r: "`ONSHI_" in r.split("|")[2]),
                    ("## Command arguments", lambda r: "`ONSHI_" not in r.split("|")[2])):
    a, b = table_bounds(title)
    rows = [r for r in doc[a:b] if not removed(r)]
    rows += [r for r in add if pick(r)]
    doc[a:b] = sorted(set(rows))

open(path, "w", encoding="utf-8").write("\n".join(doc) + "\n")
print(f"added {len(add)} rows, removed {len(remove)}")
