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


@pytest.mark.parametrize(
    "row",
    [pytest.param(r, marks=pytest.mark.native_only) if r.native_only else r for r in ROWS],
    ids=lambda r: r.id,
)
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

    if row.shows:
        lines = iter(r.transcript)
        for pattern in row.shows:
            assert any(re.fullmatch(sub(pattern), l) for l in lines), f"no {pattern!r}\n{r}"

    if row.received is not None:
        assert srv.commands() == row.received, r


@pytest.mark.native_only
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


def peak_rss_kib(*args):
    """Runs smtp-send and returns (exit status, its peak resident set in KiB)."""
    import os
    import subprocess

    from conftest import BIN, CACHE

    p = subprocess.Popen([str(BIN), *map(str, args)], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL,
                         env=dict(os.environ, SMTP_SEND_CACHE_DIR=CACHE))
    _, status, usage = os.wait4(p.pid, 0)
    return os.waitstatus_to_exitcode(status), usage.ru_maxrss


@pytest.mark.native_only
def test_hostile_replies_do_not_grow_memory():
    """Memory stays bounded whatever the server sends. The bound: the guest
    keeps at most one reply line (8 KiB), one reply (256 lines, 64 KiB) and
    one read (16 KiB); the host keeps nothing per reply line. So a server
    that streams continuation lines without end, or a 64 MiB line without
    CRLF, costs the process no more than a normal send, within 16 MiB of
    allocator and page-cache noise."""
    from servers import AioServer, FaultServer

    with AioServer() as srv:
        status, normal = peak_rss_kib(f"127.0.0.1:{srv.port}", "me@example.com", "you@example.com")
    assert status == 0
    floods = [
        [("send", b"220 hi\r\n"), ("line",), ("repeat", b"250-and more\r\n" * 4096)],
        [("send", b"220-"), ("repeat", b"x" * 65536)],
    ]
    for script in floods:
        with FaultServer(script) as srv:
            status, peak = peak_rss_kib(f"127.0.0.1:{srv.port}", "me@example.com", "you@example.com")
        assert status == 76
        assert peak < normal + 16 * 1024, f"peak {peak} KiB vs {normal} KiB for a normal send"
