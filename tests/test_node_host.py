"""The library component embedded by a host in another language: Node.js,
through jco's transpiled bindings and preview2-shim (examples/js). Nothing
of ours in Rust runs: if this passes, the WIT interface is the product.

`make node-example` installs the pinned jco and transpiles the component;
without it these tests are skipped, unless SMTP_TESTS_REQUIRE_SERVERS=1
(as in `make test`), where a missing piece is a failure."""

import json
import os
import shutil
import subprocess

import pytest

from conftest import ROOT
from servers import AioServer, Recorder

EXAMPLE = ROOT / "examples/js"
FROM = "me@example.com"

# Independent of SMTP_SEND_RUNNER: run once, with the native pass.
pytestmark = pytest.mark.native_only


@pytest.fixture(scope="module")
def node():
    node = shutil.which("node")
    ready = node and (EXAMPLE / "generated/smtp.js").exists()
    if not ready:
        why = "node or the transpiled component (make node-example) is missing"
        if os.environ.get("SMTP_TESTS_REQUIRE_SERVERS") == "1":
            pytest.fail(why)
        pytest.skip(why)
    return node


def send(node, *args):
    p = subprocess.run([node, str(EXAMPLE / "send.mjs"), *args],
                       capture_output=True, timeout=60)
    out = p.stdout.decode()
    result = json.loads(out.splitlines()[-1]) if out.strip() else None
    return p.returncode, result, p.stderr.decode()


def test_node_host_sends_a_message(node):
    with AioServer() as srv:
        status, result, transcript = send(node, f"127.0.0.1:{srv.port}", FROM,
                                          "you@example.com", "them@example.com")
    assert status == 0, transcript
    assert result["ok"]["accepted"] == ["you@example.com", "them@example.com"]
    assert result["ok"]["reply"]["code"] == 250
    assert result["ok"]["reply"]["text"].endswith("queued as TEST1")
    [env] = srv.envelopes
    assert env["mail_from"] == FROM
    assert env["rcpt_tos"] == ["you@example.com", "them@example.com"]
    assert b"Subject: from Node.js\r\n" in env["content"]
    assert env["content"].endswith(b"hosted in Node.js.\r\n")
    # The transcript comes through the component's `host.log` import.
    assert "send: 'mail FROM:<me@example.com> SIZE=" in transcript
    assert "reply: '250 2.0.0 OK: queued as TEST1\\r\\n'" in transcript


def test_node_host_gets_the_typed_error_for_a_refused_recipient(node):
    handler = Recorder(refuse_rcpt={"nobody@example.com": "550 5.1.1 no such user"})
    with AioServer(handler) as srv:
        status, result, transcript = send(node, f"127.0.0.1:{srv.port}", FROM,
                                          "nobody@example.com")
    assert status == 1, transcript
    error = result["error"]
    assert error["tag"] == "recipients-refused"
    [refusal] = error["val"]
    assert refusal["address"] == "nobody@example.com"
    assert refusal["reply"] == {"code": 550, "enhancedStatus": "5.1.1",
                                "text": "5.1.1 no such user"}
    # Nothing was delivered, and the transaction was not left half open.
    assert srv.envelopes == []
    assert ("RCPT", "nobody@example.com", []) in handler.commands
    assert "send: 'quit\\r\\n'" in transcript or "send: 'rset\\r\\n'" in transcript


def test_node_host_reports_a_failed_name_lookup(node):
    status, result, _ = send(node, "mail.example.invalid:25", FROM, "you@example.com")
    assert status == 1
    assert result["error"]["tag"] == "lookup-failed"
    assert "mail.example.invalid" in result["error"]["val"]
