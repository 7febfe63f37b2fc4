"""TLS and AUTH against real servers: aiosmtpd with STARTTLS, implicit TLS and
an authenticator; Postfix's submission port with STARTTLS and Cyrus SASL.
Certificates come from a throwaway CA (tests/certgen)."""

import base64
import hmac
import json
import ssl

import pytest

pytestmark = pytest.mark.native_only
from aiosmtpd.smtp import AuthResult, LoginPassword

from conftest import run_send
from postfix import SASL_PASSWORD, SASL_USER
from servers import AioServer, FaultServer, Recorder

FROM = "me@example.com"
TO = "you@example.com"
BANNER = " *** Your message may not have been sent!"
USER = "alice"
PASSWORD = "correct horse battery staple"
TOKEN = "ya29.oauth-token-for-alice"


def server_context(certs, name="server"):
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(certs / f"{name}.pem", certs / f"{name}.key")
    return ctx


class AuthRecorder(Recorder):
    """Records who logged in; also speaks CRAM-MD5 and XOAUTH2."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.logins = []

    def authenticator(self, server, session, envelope, mechanism, auth_data):
        ok = isinstance(auth_data, LoginPassword) and \
            (auth_data.login, auth_data.password) == (USER.encode(), PASSWORD.encode())
        self.logins.append((mechanism, auth_data.login.decode(), ok))
        # handled=False: aiosmtpd sends the 535 itself.
        return AuthResult(success=ok, handled=False)

    async def auth_CRAM__MD5(self, server, args):
        challenge = b"<1896.697170952@mx.test.example>"
        response = await server.challenge_auth(challenge)
        user, _, digest = response.decode().partition(" ")
        expected = hmac.new(PASSWORD.encode(), challenge, "md5").hexdigest()
        ok = (user, digest) == (USER, expected)
        self.logins.append(("CRAM-MD5", user, ok))
        return AuthResult(success=ok, handled=False)

    async def auth_XOAUTH2(self, server, args):
        fields = dict(
            f.split("=", 1) for f in base64.b64decode(args[1]).decode().split("\x01") if f
        )
        ok = fields == {"user": USER, "auth": f"Bearer {TOKEN}"}
        self.logins.append(("XOAUTH2", fields.get("user"), ok))
        if ok:
            return AuthResult(success=True)
        await server.challenge_auth(json.dumps({"status": "401", "schemes": "bearer"}).encode())
        return AuthResult(success=False, handled=False,
                          message="535 5.7.8 Username and Password not accepted")


def starttls_server(certs, name="server", handler=None, **kw):
    handler = handler or AuthRecorder()
    if "authenticator" not in kw:
        kw["authenticator"] = handler.authenticator
    return AioServer(handler, tls_context=server_context(certs, name), **kw)


def secrets_in(text):
    forms = [PASSWORD, TOKEN]
    for s in (PASSWORD, TOKEN):
        forms.append(base64.b64encode(s.encode()).decode())
    forms.append(base64.b64encode(f"\0{USER}\0{PASSWORD}".encode()).decode())
    forms.append(base64.b64encode(f"user={USER}\x01auth=Bearer {TOKEN}\x01\x01".encode()).decode())
    return [f for f in forms if f in text]


# ---------------------------------------------------------------- STARTTLS


@pytest.mark.parametrize("mechanism", [None, "PLAIN", "LOGIN", "CRAM-MD5"])
def test_starttls_and_auth(certs, mechanism):
    handler = AuthRecorder()
    extra = ["--auth", mechanism] if mechanism else []
    with starttls_server(certs, handler=handler, require_starttls=True, auth_required=True) as srv:
        r = run_send(f"localhost:{srv.port}", FROM, TO, "--starttls", "--cafile",
                     certs / "ca.pem", "--user", USER, *extra, env={"SMTP_PASSWORD": PASSWORD})
    assert r.status == 0, r
    # aiosmtpd offers LOGIN and PLAIN (and CRAM-MD5 through the handler):
    # the strongest is chosen unless one is forced.
    assert handler.logins == [(mechanism or "CRAM-MD5", USER, True)]
    assert srv.envelopes[0]["rcpt_tos"] == [TO]
    t = r.transcript
    i = t.index("send: 'STARTTLS\\r\\n'")
    assert t[i + 1].startswith("reply: '220 ")
    assert t[i + 2] == "TLS established: TLSv1_3 TLS13_AES_256_GCM_SHA384, peer CN=localhost"
    assert t[i + 3].startswith("send: 'ehlo ")
    assert any("<redacted>" in l for l in t)
    assert secrets_in(r.stdout + r.stderr) == []
    # The mail went over the encrypted session.
    assert handler.mail_over_tls == [True]


def test_xoauth2(certs):
    handler = AuthRecorder()
    with starttls_server(certs, handler=handler) as srv:
        ok = run_send(f"localhost:{srv.port}", FROM, TO, "--starttls", "--cafile", certs / "ca.pem",
                      "--user", USER, "--auth", "XOAUTH2", env={"SMTP_PASSWORD": TOKEN})
        bad = run_send(f"localhost:{srv.port}", FROM, TO, "--starttls", "--cafile", certs / "ca.pem",
                       "--user", USER, "--auth", "XOAUTH2", env={"SMTP_PASSWORD": "expired"})
    assert ok.status == 0, ok
    assert "send: 'AUTH XOAUTH2 <redacted>\\r\\n'" in ok.transcript
    assert bad.status == 77, bad
    assert bad.stdout.splitlines()[1] == (
        "auth-failed: 535 5.7.8 Username and Password not accepted "
        '(the server said: {"status": "401", "schemes": "bearer"})'
    )
    assert [l[2] for l in handler.logins] == [True, False]
    assert secrets_in(ok.stdout + ok.stderr + bad.stdout + bad.stderr) == []


def test_wrong_password(certs):
    with starttls_server(certs) as srv:
        r = run_send(f"localhost:{srv.port}", FROM, TO, "--starttls", "--cafile", certs / "ca.pem",
                     "--user", USER, "--auth", "PLAIN", env={"SMTP_PASSWORD": "wrong " + PASSWORD})
    assert r.status == 77, r
    assert r.stdout.splitlines() == [
        BANNER, "auth-failed: 535 5.7.8 Authentication credentials invalid (authentication failed)"]
    assert r.transcript[-2:] == ["send: 'quit\\r\\n'", "reply: '221 Bye\\r\\n'"]
    assert srv.envelopes == []


def test_temporary_auth_failure(certs):
    handler = AuthRecorder()
    handler.authenticator = lambda *a: AuthResult(
        success=False, handled=False, message="454 4.7.0 Temporary authentication failure")
    with starttls_server(certs, handler=handler) as srv:
        r = run_send(f"localhost:{srv.port}", FROM, TO, "--starttls", "--cafile", certs / "ca.pem",
                     "--user", USER, "--auth", "LOGIN", env={"SMTP_PASSWORD": PASSWORD})
    assert r.status == 75, r
    assert r.stdout.splitlines()[1].startswith("auth-failed: 454 4.7.0 ")


def test_password_file_and_its_trailing_newline(certs, tmp_path):
    f = tmp_path / "password"
    f.write_text(PASSWORD + "\n")
    handler = AuthRecorder()
    with starttls_server(certs, handler=handler) as srv:
        r = run_send(f"localhost:{srv.port}", FROM, TO, "--starttls", "--cafile", certs / "ca.pem",
                     "--user", USER, "--auth", "PLAIN", "--password-file", f)
    assert r.status == 0, r
    assert handler.logins == [("PLAIN", USER, True)]


def test_no_credentials_over_plaintext(certs):
    handler = AuthRecorder()
    with AioServer(handler, authenticator=handler.authenticator, auth_require_tls=False) as srv:
        refused = run_send(f"127.0.0.1:{srv.port}", FROM, TO, "--user", USER,
                           env={"SMTP_PASSWORD": PASSWORD})
        allowed = run_send(f"127.0.0.1:{srv.port}", FROM, TO, "--user", USER, "--auth", "LOGIN",
                           "--allow-plaintext-auth", env={"SMTP_PASSWORD": PASSWORD})
    assert refused.status == 77, refused
    assert refused.stdout.splitlines()[1].startswith(
        "auth-failed: refusing to send credentials over an unencrypted connection")
    assert allowed.status == 0, allowed
    # The first connection never sent AUTH; the second did.
    assert srv.commands() == ["ehlo", "quit", "ehlo", "auth", "mail", "rcpt", "data", ".", "quit"]
    assert handler.logins == [("LOGIN", USER, True)]


def test_credentials_but_no_auth_offered(certs):
    with starttls_server(certs, handler=Recorder(), authenticator=None,
                         auth_exclude_mechanism=["LOGIN", "PLAIN"]) as srv:
        r = run_send(f"localhost:{srv.port}", FROM, TO, "--starttls", "--cafile", certs / "ca.pem",
                     "--user", USER, env={"SMTP_PASSWORD": PASSWORD})
    assert r.status == 69, r
    assert r.stdout.splitlines()[1] == (
        "not-supported: credentials were given but the server offers no AUTH")


def test_starttls_required_but_not_offered():
    with AioServer() as srv:
        r = run_send(f"127.0.0.1:{srv.port}", FROM, TO, "--starttls")
    assert r.status == 69, r
    assert r.stdout.splitlines()[1].startswith(
        "not-supported: the server does not offer STARTTLS, and TLS is required")
    assert srv.commands() == ["ehlo", "quit"]


def test_starttls_if_offered():
    with AioServer() as srv:
        r = run_send(f"127.0.0.1:{srv.port}", FROM, TO, "--starttls-if-offered")
    assert r.status == 0, r
    assert "the server does not offer STARTTLS: continuing without encryption" in r.transcript


@pytest.mark.parametrize("cert, cafile, says", [
    ("wrongname", True, "is not valid for this name"),
    ("expired", True, "has expired"),
    ("selfsigned", True, "is not trusted"),
    ("server", False, "is not trusted: its issuer is unknown"),
])
def test_bad_certificates(certs, cert, cafile, says):
    extra = ["--cafile", certs / "ca.pem"] if cafile else []
    with starttls_server(certs, name=cert) as srv:
        r = run_send(f"localhost:{srv.port}", FROM, TO, "--starttls", "--user", USER, *extra,
                     env={"SMTP_PASSWORD": PASSWORD})
    assert r.status == 69, r
    line = r.stdout.splitlines()[1]
    assert line.startswith("tls-error: certificate of localhost ") and says in line, r
    # Nothing followed in the clear, and no credentials went anywhere.
    assert r.transcript[-1] == "reply: '220 Ready to start TLS\\r\\n'"
    assert srv.handler.logins == [] and srv.handler.commands == []


def test_certificate_of_an_ip_literal_is_checked_against_its_ip_addresses(certs):
    with starttls_server(certs) as good, starttls_server(certs, name="wrongname") as bad:
        ok = run_send(f"127.0.0.1:{good.port}", FROM, TO, "--starttls", "--cafile", certs / "ca.pem")
        no = run_send(f"127.0.0.1:{bad.port}", FROM, TO, "--starttls", "--cafile", certs / "ca.pem")
    assert ok.status == 0, ok
    assert no.status == 69, no
    assert "certificate of 127.0.0.1 is not valid for this name" in no.stdout


def test_starttls_response_injection():
    """The classic STARTTLS injection (CVE-2011-0411 class): plaintext after
    the 220, before the handshake, must abort the connection."""
    with FaultServer([("send", b"220 fault.test ESMTP\r\n"), ("line",),
                      ("send", b"250-fault.test\r\n250 STARTTLS\r\n"), ("line",),
                      ("send", b"220 2.0.0 Ready\r\n250-injected\r\n250 AUTH PLAIN\r\n"),
                      ("sleep", 5)]) as srv:
        r = run_send(f"127.0.0.1:{srv.port}", FROM, TO, "--starttls", "--user", USER,
                     env={"SMTP_PASSWORD": PASSWORD})
    assert r.status == 76, r
    assert r.stdout.splitlines()[1] == (
        "tls-error: the server sent 30 bytes after its 220 reply to STARTTLS, before the TLS "
        "handshake: refusing to go on (STARTTLS response injection)")
    assert srv.commands() == ["ehlo", "starttls"]


def test_starttls_refused():
    with FaultServer([("send", b"220 fault.test ESMTP\r\n"), ("line",),
                      ("send", b"250-fault.test\r\n250 STARTTLS\r\n"), ("line",),
                      ("send", b"454 4.7.0 TLS not available due to local problem\r\n"),
                      ("line",), ("send", b"221 bye\r\n"), ("close",)]) as srv:
        r = run_send(f"127.0.0.1:{srv.port}", FROM, TO, "--starttls")
    assert r.status == 75, r
    assert r.stdout.splitlines()[1] == (
        "tls-error: 454 4.7.0 TLS not available due to local problem "
        "(the server refused STARTTLS)")
    assert srv.commands() == ["ehlo", "starttls", "quit"]


# ---------------------------------------------------------------- implicit TLS


def test_implicit_tls(certs):
    handler = AuthRecorder()
    with AioServer(handler, ssl_context=server_context(certs), authenticator=handler.authenticator,
                   auth_require_tls=False) as srv:
        r = run_send(f"localhost:{srv.port}", FROM, TO, "--tls", "--cafile", certs / "ca.pem",
                     "--user", USER, env={"SMTP_PASSWORD": PASSWORD})
    assert r.status == 0, r
    t = r.transcript
    assert t[2] == "TLS established: TLSv1_3 TLS13_AES_256_GCM_SHA384, peer CN=localhost"
    assert t[3].startswith("reply: '220 ")
    assert "send: 'STARTTLS\\r\\n'" not in t
    assert handler.logins == [("CRAM-MD5", USER, True)]
    assert handler.mail_over_tls == [True]
    assert srv.envelopes[0]["rcpt_tos"] == [TO]


def test_implicit_tls_defaults_to_port_465():
    r = run_send("127.0.0.1", FROM, TO, "--tls", "--timeout", "2")
    assert r.transcript[0] == "connect: ('127.0.0.1', 465)"
    assert r.status in (74, 75), r


def test_implicit_tls_against_a_plaintext_server():
    with AioServer() as srv:
        r = run_send(f"127.0.0.1:{srv.port}", FROM, TO, "--tls", "--timeout", "5")
    assert r.status == 76, r
    assert r.stdout.splitlines()[1].startswith("tls-error: TLS handshake failed"), r


# ---------------------------------------------------------------- Postfix


def test_postfix_submission_with_starttls_and_sasl(certs, postfix, tmp_path):
    rcpt = postfix.user()
    f = tmp_path / "password"
    f.write_text(SASL_PASSWORD + "\n")
    r = run_send(postfix.submission, FROM, rcpt, "--starttls", "--cafile", certs / "ca.pem",
                 "--user", SASL_USER, "--password-file", f)
    assert r.status == 0, r
    assert any(l.startswith("TLS established: TLSv1_") for l in r.transcript)
    assert any("<redacted>" in l for l in r.transcript)
    assert SASL_PASSWORD not in r.stderr + r.stdout
    [delivered] = postfix.wait_for(rcpt)
    assert b"This is a test message sent to you from the program.\n" in delivered
    # Postfix records the TLS session and the login in its Received header
    # and its log.
    assert b"(using TLSv1.3" in delivered
    assert f"sasl_username={SASL_USER}" in postfix.log()


def test_postfix_submission_refuses_without_tls(postfix):
    r = run_send(postfix.submission, FROM, postfix.user(), "--user", SASL_USER,
                 "--allow-plaintext-auth", env={"SMTP_PASSWORD": SASL_PASSWORD})
    # smtpd_tls_auth_only: Postfix offers no AUTH before TLS.
    assert r.status == 69, r
    assert r.stdout.splitlines()[1] == (
        "not-supported: credentials were given but the server offers no AUTH")


def test_postfix_wrong_password(certs, postfix):
    r = run_send(postfix.submission, FROM, postfix.user(), "--starttls", "--cafile",
                 certs / "ca.pem", "--user", SASL_USER, "--auth", "PLAIN",
                 env={"SMTP_PASSWORD": "not-" + SASL_PASSWORD})
    assert r.status == 77, r
    assert r.stdout.splitlines()[1].startswith("auth-failed: 535 5.7.8 ")
