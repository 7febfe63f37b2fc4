#!/usr/bin/env python3
"""Prints the README's "what can go wrong" table from tests/fault_matrix.py."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from fault_matrix import ROWS  # noqa: E402

print("| what can go wrong | what you see (stdout) | exit | produced by |")
print("|---|---|---|---|")
for r in ROWS:
    shown = r.shown.replace("{port}", "PORT").replace("|", "\\|")
    if r.shown_re:
        shown = "server-disconnected or io-error: … (at message \\| end-of-data)"
    print(f"| {r.fault} | `{shown}` | {r.status} | {r.via} |")
