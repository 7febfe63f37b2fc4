import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(os.environ.get("SMTP_SEND", ROOT / "target/release/smtp-send"))
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


def run_send(*args, input=None, timeout=120, env=None):
    """Runs the real smtp-send binary."""
    full_env = dict(os.environ, SMTP_SEND_CACHE_DIR=CACHE, **(env or {}))
    p = subprocess.run(
        [str(BIN), *map(str, args)],
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
    if not BIN.exists():
        pytest.exit(f"{BIN} is missing: run `make build` first", returncode=2)


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
