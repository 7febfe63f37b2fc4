#!/usr/bin/env bash
# Regenerates the README's fault table from tests/fault_matrix.py.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 - <<'PY'
import subprocess, sys
table = subprocess.run([sys.executable, "scripts/error-table.py"], capture_output=True,
                       text=True, check=True).stdout
s = open("README.md").read()
start = s.index("<!-- fault-matrix:start -->")
end = s.index("<!-- fault-matrix:end -->")
s = s[:start] + "<!-- fault-matrix:start -->\n" + table + s[end:]
open("README.md", "w").write(s)
PY
