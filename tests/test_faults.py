"""The fault matrix (tests/fault_matrix.py): one test per row, each checking
the error case and detail, the exit status, the end of the transcript, and
what the server received (nothing more than it should have)."""

import contextlib
import re
from pathlib import Path

import pytest

from conftest import run_send
from fault_matrix import FILES, ROWS
from servers import free_port

BANNER = " *** Your message may not have been sent!"
ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("row", ROWS, ids=lambda r: r.id)
def test_fault(row, tmp_path):
    ctx = row.server() if row.server else contextlib.nullcontext()
    with ctx as srv:
        port = srv.port if srv else free_port()

        def sub(text):
            return text.replace("{port}", str(port))

        args = []
        for a in row.args:
            if a in FILES:
                path = tmp_path / "message"
                path.write_bytes(FILES[a])
                a = str(path)
            args.append(sub(a))
        r = run_send(sub(row.target), *args, timeout=60)
    assert r.status == row.status, r

    out = r.stdout.splitlines()
    shown = sub(row.shown)
    if row.status == 0:
        assert out[0] == shown, r
    else:
        assert out[0] == BANNER, r
        if row.shown_re:
            assert re.fullmatch(shown, out[1]), r
        else:
            assert out[1] == shown, r

    if row.tail:
        tail = r.transcript[-len(row.tail):]
        assert len(tail) == len(row.tail), r
        for line, pattern in zip(tail, row.tail):
            assert re.fullmatch(sub(pattern), line), f"{line!r} !~ {pattern!r}\n{r}"

    if row.received is not None:
        assert srv.commands() == row.received, r


def test_the_readme_table_is_the_matrix():
    """The README's failure table is generated from the rows."""
    import subprocess
    import sys

    table = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "error-table.py")],
        capture_output=True, text=True, check=True,
    ).stdout
    readme = (ROOT / "README.md").read_text()
    start = readme.index("<!-- fault-matrix:start -->")
    end = readme.index("<!-- fault-matrix:end -->")
    assert readme[start:end].split("\n", 1)[1] == table, \
        "README.md is stale: run `make readme-table`"
