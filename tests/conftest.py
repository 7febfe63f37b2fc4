import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(os.environ.get("SMTP_SEND", ROOT / "target/release/smtp-send"))
# SMTP_SEND_RUNNER=wasm: the same tests against the command component under
# the stock wasmtime CLI, instead of the native smtp-send.
RUNNER = os.environ.get("SMTP_SEND_RUNNER", "native")
WASM = Path(os.environ.get("SMTP_SEND_WASM",
                           ROOT / "target/wasm32-wasip2/release/smtp-send.wasm"))
# scripts/deps.sh installs it with `cargo install`, into ~/.cargo/bin.
WASMTIME = os.environ.get("WASMTIME") or shutil.which("wasmtime") or os.path.expanduser(
    "~/.cargo/bin/wasmtime")
CERTGEN = BIN.parent / "certgen"
CACHE = tempfile.mkdtemp(prefix="smtp-send-cache-")


@dataclass
class Result:
    status: int
    stdout: str
    stderr: str

    @property
    def transcript(self):
        return self.stderr.splitlines()

    def __str__(self):
        return f"exit {self.status}\n--- stdout\n{self.stdout}--- stderr\n{self.stderr}"


def command(*args):
    """The command line that runs smtp-send with these arguments."""
    if RUNNER == "wasm":
        # As a user would: network and name lookups allowed, /tmp mapped so
        # that message files are readable.
        return [WASMTIME, "run", "-S", "inherit-network", "-S", "allow-ip-name-lookup",
                "--dir", "/tmp", str(WASM), *map(str, args)]
    return [str(BIN), *map(str, args)]


def run_send(*args, input=None, timeout=120, env=None):
    """Runs the real smtp-send binary (or the command component)."""
    full_env = dict(os.environ, SMTP_SEND_CACHE_DIR=CACHE, **(env or {}))
    p = subprocess.run(
        command(*args),
        input=input,
        capture_output=True,
        timeout=timeout,
        env=full_env,
    )
    return Result(
        p.returncode,
        p.stdout.decode("utf-8", "replace"),
        p.stderr.decode("utf-8", "replace"),
    )


@pytest.fixture(scope="session", autouse=True)
def binary_exists():
    needed = WASM if RUNNER == "wasm" else BIN
    if not needed.exists():
        pytest.exit(f"{needed} is missing: run `make build` first", returncode=2)


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "native_only: needs the native host (policy, TLS, library, deadline)")


def pytest_collection_modifyitems(config, items):
    if RUNNER != "wasm":
        return
    skip = pytest.mark.skip(reason="the command component under stock wasmtime lacks this")
    for item in items:
        if "native_only" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def certs(tmp_path_factory):
    """A throwaway CA and server certificates (tests/certgen)."""
    d = tmp_path_factory.mktemp("certs")
    subprocess.run([str(CERTGEN), str(d)], check=True)
    for key in d.glob("*.key"):
        key.chmod(0o644)  # read by Postfix's smtpd after it drops privileges
    return d


@pytest.fixture(scope="session")
def postfix(certs):
    """A real MTA for the session (tests/postfix.py)."""
    from postfix import Postfix

    if os.geteuid() != 0:
        if os.environ.get("SMTP_TESTS_REQUIRE_SERVERS"):
            pytest.fail("the Postfix tests need root")
        pytest.skip("the Postfix tests need root (make test on CI has it)")
    pf = Postfix(certs)
    pf.start()
    yield pf
    pf.stop()
