"""Real SMTP servers on 127.0.0.1 for the tests, each recording what it got.

- AioServer: aiosmtpd in-process, with handler hooks that refuse a sender, a
  recipient or the data, recording every envelope and every raw byte received.
- SmtpSink: Postfix's smtp-sink as a subprocess, dumping each transaction to a
  file.
- FaultServer: a scripted server of our own, only for faults real servers
  will not produce on demand (a reply cut in half, a malformed code).
"""

import os
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP


VERBS = {b"ehlo", b"helo", b"mail", b"rcpt", b"data", b"rset", b"quit", b"noop", b"starttls", b"auth"}


def commands_in(lines):
    """The SMTP commands among lines a server received (verbs lower-cased,
    "." for the end of data); message lines are skipped."""
    out = []
    for line in lines:
        line = line.rstrip(b"\r")
        if line == b".":
            out.append(".")
            continue
        verb = line.split(b" ", 1)[0].lower()
        if verb in VERBS:
            out.append(verb.decode())
    return out


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port, host="127.0.0.1", timeout=10.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"nothing listens on {host}:{port}")


class Recorder:
    """aiosmtpd handler: records envelopes, refuses what it is told to."""

    def __init__(self, refuse_mail=None, refuse_rcpt=None, data_reply=None):
        self.refuse_mail = refuse_mail or {}
        self.refuse_rcpt = refuse_rcpt or {}
        self.data_reply = data_reply
        self.envelopes = []
        self.commands = []
        # For each MAIL: was the session encrypted (STARTTLS or implicit TLS)?
        self.mail_over_tls = []

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        self.commands.append(("MAIL", address, list(mail_options)))
        self.mail_over_tls.append(
            session.ssl is not None or server.transport.get_extra_info("ssl_object") is not None)
        if address in self.refuse_mail:
            return self.refuse_mail[address]
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 2.1.0 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        self.commands.append(("RCPT", address, list(rcpt_options)))
        if address in self.refuse_rcpt:
            return self.refuse_rcpt[address]
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_RSET(self, server, session, envelope):
        self.commands.append(("RSET",))
        return "250 OK"

    async def handle_QUIT(self, server, session, envelope):
        self.commands.append(("QUIT",))
        return "221 Bye"

    async def handle_DATA(self, server, session, envelope):
        self.commands.append(("DATA-END",))
        self.envelopes.append(
            {
                "mail_from": envelope.mail_from,
                "mail_options": list(envelope.mail_options),
                "rcpt_tos": list(envelope.rcpt_tos),
                "content": envelope.original_content,
            }
        )
        return self.data_reply or "250 2.0.0 OK: queued as TEST1"


class AioServer:
    """aiosmtpd on 127.0.0.1, recording raw bytes and connections."""

    def __init__(self, handler=None, **smtp_kwargs):
        self.handler = handler or Recorder()
        self.port = free_port()
        self.raw = []  # bytes received, one entry per connection
        self.connections = 0
        outer = self

        class RecordingSMTP(SMTP):
            def connection_made(self, transport):
                outer.connections += 1
                self._raw_index = len(outer.raw)
                outer.raw.append(b"")
                super().connection_made(transport)

            def data_received(self, data):
                outer.raw[self._raw_index] += data
                super().data_received(data)

        class RecordingController(Controller):
            def factory(self):
                return RecordingSMTP(self.handler, **self.SMTP_kwargs)

        self.controller = RecordingController(
            self.handler, hostname="127.0.0.1", port=self.port, **smtp_kwargs
        )

    @property
    def envelopes(self):
        return self.handler.envelopes

    @property
    def received(self):
        return b"".join(self.raw)

    def commands(self):
        return commands_in(self.received.split(b"\n"))

    def __enter__(self):
        self.controller.start()
        # Controller.start() connects once to check the server is up.
        self.connections = 0
        self.raw.clear()
        return self

    def __exit__(self, *exc):
        self.controller.stop()


class SmtpSink:
    """Postfix's smtp-sink, dumping each mail transaction to a file."""

    BIN = shutil.which("smtp-sink") or "/usr/sbin/smtp-sink"

    def __init__(self, *options):
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="smtp-sink-"))
        os.chmod(self.dir, 0o777)
        self.options = list(options)
        self.proc = None
        self.log = b""

    def __enter__(self):
        user = ["-u", "nobody"] if os.geteuid() == 0 else []
        cmd = [self.BIN, *user, "-d", f"{self.dir}/msg.", *self.options,
               f"127.0.0.1:{self.port}", "64"]
        self._log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=self._log)
        wait_for_port(self.port)
        return self

    def __exit__(self, *exc):
        self.proc.terminate()
        self.proc.wait(timeout=10)
        self._log.seek(0)
        self.log = self._log.read()
        self._log.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def commands(self):
        """With -v: the commands smtp-sink logged (read after it stopped).
        wait_for_port's probe connection logs no commands."""
        prefix = re.compile(rb"^\S*smtp-sink: ")
        return commands_in(
            prefix.sub(b"", l) for l in self.log.split(b"\n") if prefix.match(l)
        )

    def dumps(self, expect=1, timeout=5.0):
        """The dump files' contents; waits until `expect` files are complete."""
        end = time.monotonic() + timeout
        while True:
            files = sorted(self.dir.glob("msg.*"))
            texts = [f.read_bytes() for f in files]
            # smtp-sink writes the file as it reads DATA: complete ones end
            # with the empty line it appends.
            if len(texts) >= expect and all(t.endswith(b"\n\n") for t in texts):
                return texts
            if time.monotonic() > end:
                return texts
            time.sleep(0.02)


class FaultServer:
    """A scripted server for faults no real server produces on demand.

    `script` is a list of steps run on the first connection:
      ("send", bytes)      write bytes
      ("line",)            read one line from the client
      ("close",)           close the connection
      ("sleep", seconds)   wait
      ("trickle", bytes, interval)  write one byte every `interval`, forever
      ("repeat", bytes)    write bytes again and again, as fast as taken
    Everything the client sent is kept in `received`.
    """

    def __init__(self, script):
        self.script = script
        self.received = b""
        self.connections = 0
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.sock.close()
        self.thread.join(timeout=5)

    def commands(self):
        return commands_in(self.received.split(b"\n"))

    def _serve(self):
        try:
            conn, _ = self.sock.accept()
        except OSError:
            return
        self.connections += 1
        buf = b""
        conn.settimeout(0.2)
        try:
            for step in self.script:
                if self.stop.is_set():
                    return
                if step[0] == "send":
                    conn.sendall(step[1])
                elif step[0] == "line":
                    while b"\n" not in buf and not self.stop.is_set():
                        try:
                            data = conn.recv(65536)
                        except socket.timeout:
                            continue
                        if not data:
                            return
                        buf += data
                        self.received += data
                    _, _, buf = buf.partition(b"\n")
                elif step[0] == "close":
                    conn.close()
                    return
                elif step[0] == "sleep":
                    self.stop.wait(step[1])
                elif step[0] == "repeat":
                    while not self.stop.is_set():
                        conn.sendall(step[1])
                elif step[0] == "trickle":
                    while not self.stop.is_set():
                        for b in step[1]:
                            conn.sendall(bytes([b]))
                            if self.stop.wait(step[2]):
                                return
            # Keep reading until the client goes away.
            while not self.stop.is_set():
                try:
                    data = conn.recv(65536)
                except socket.timeout:
                    continue
                if not data:
                    break
                self.received += data
        except OSError:
            pass
        finally:
            conn.close()
