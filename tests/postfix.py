"""A throwaway Postfix instance: its own config directory (from
tests/postfix/main.cf and master.cf), queue and Maildirs under a temporary
directory, listening on one loopback port. Needs root (Postfix sets its queue
ownership), as `make test` on CI has."""

import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from servers import free_port, wait_for_port

HERE = Path(__file__).parent / "postfix"

USERS = [f"user{i}" for i in range(1, 31)] + ["victim", "big"]
DOMAIN = "test.example"


# The submission port's SASL user (tests/test_tls.py logs in as it).
SASL_USER = "alice"
SASL_PASSWORD = "Postfix-submission-secret-42"


class Postfix:
    def __init__(self, certs):
        self.dir = Path(tempfile.mkdtemp(prefix="postfix-test-"))
        os.chmod(self.dir, 0o755)
        self.certs = Path(certs)
        self.port = free_port()
        self.submission_port = free_port()
        self.etc = self.dir / "etc"
        self._next_user = 0

    def start(self):
        nobody = pwd.getpwnam("nobody")
        postfix_user = pwd.getpwnam("postfix")
        subs = {
            "@DIR@": str(self.dir),
            "@CERTS@": str(self.certs),
            "@SUBPORT@": str(self.submission_port),
            "@PORT@": str(self.port),
            "@UID@": str(nobody.pw_uid),
            "@GID@": str(nobody.pw_gid),
        }
        self.etc.mkdir()
        (self.etc / "sasl").mkdir(parents=True)
        for name, dest in (("main.cf", "main.cf"), ("master.cf", "master.cf"),
                           ("smtpd.conf", "sasl/smtpd.conf")):
            text = (HERE / name).read_text()
            for k, v in subs.items():
                text = text.replace(k, v)
            (self.etc / dest).write_text(text)
        sasldb = self.dir / "sasldb2"
        subprocess.run(["saslpasswd2", "-p", "-c", "-f", str(sasldb), "-u", DOMAIN, SASL_USER],
                       input=SASL_PASSWORD.encode(), check=True, capture_output=True)
        os.chown(sasldb, postfix_user.pw_uid, postfix_user.pw_gid)
        (self.etc / "vmailbox").write_text(
            "".join(f"{u}@{DOMAIN} {u}/\n" for u in USERS))
        for d in ("queue", "data", "mail"):
            (self.dir / d).mkdir()
        os.chown(self.dir / "data", postfix_user.pw_uid, postfix_user.pw_gid)
        os.chown(self.dir / "mail", nobody.pw_uid, nobody.pw_gid)
        subprocess.run(["postfix", "-c", str(self.etc), "start"], check=True,
                       capture_output=True)
        wait_for_port(self.port, timeout=30)
        wait_for_port(self.submission_port, timeout=30)

    def stop(self):
        subprocess.run(["postfix", "-c", str(self.etc), "stop"], capture_output=True)
        # The master waits for its children; give it a moment, then tidy up.
        for _ in range(50):
            if not (self.dir / "data" / "master.lock").exists():
                break
            time.sleep(0.1)
        shutil.rmtree(self.dir, ignore_errors=True)

    @property
    def server(self):
        return f"127.0.0.1:{self.port}"

    @property
    def submission(self):
        return f"127.0.0.1:{self.submission_port}"

    def user(self):
        """A mailbox no other test uses."""
        u = USERS[self._next_user]
        self._next_user += 1
        return f"{u}@{DOMAIN}"

    def messages(self, address):
        box = self.dir / "mail" / address.split("@")[0]
        files = sorted((box / "new").glob("*")) + sorted((box / "cur").glob("*")) \
            if box.exists() else []
        return [f.read_bytes() for f in files]

    def wait_for(self, address, count=1, timeout=60.0):
        """The mailbox's messages once it has `count` (or what is there at timeout)."""
        end = time.monotonic() + timeout
        while True:
            msgs = self.messages(address)
            if len(msgs) >= count or time.monotonic() > end:
                return msgs
            time.sleep(0.05)

    def log(self):
        p = self.dir / "maillog"
        return p.read_text(errors="replace") if p.exists() else ""


def body_after_mta_headers(delivered, first_line):
    """The delivered file from our message's first line on: what Postfix
    stored after the headers it put on top (Return-Path, Delivered-To,
    Received...)."""
    start = delivered.find(b"\n" + first_line) + 1
    assert start > 0, f"{first_line!r} not found in {delivered[:500]!r}"
    return delivered[start:]


def stored_form(message):
    """How Postfix stores a message we sent: line ends as LF (Maildir), every
    bare CR a line end (we send it as CRLF), a final line end added."""
    text = message.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    if not text.endswith(b"\n"):
        text += b"\n"
    return text
