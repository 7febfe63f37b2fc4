//! The client state machine: one mail transaction, greeting to QUIT.
//!
//! The driver's loop is always the same:
//! 1. write [`Client::output`] to the socket and [`Client::consume_output`];
//! 2. while [`Client::wants_body`], [`Client::push_body`] the next chunk of the
//!    message, then [`Client::finish_body`];
//! 3. when [`Client::awaiting_reply`], read and [`Client::feed`] the bytes
//!    (or report [`Client::handle_eof`], [`Client::handle_io_error`],
//!    [`Client::handle_timeout`]);
//! 4. drain [`Client::poll_event`] into the transcript;
//!
//! until [`Client::is_closed`]; then [`Client::outcome`] says what happened.
//! A timeout is per complete reply: restart the clock whenever
//! [`Client::wait_epoch`] changes.
//!
//! [`Client::new`] sends one message and quits. [`Client::session`] keeps
//! the connection: once [`Client::is_ready`], [`Client::begin`] a message,
//! drive until ready again, [`Client::take_outcome`]; [`Client::quit`] ends.

use std::collections::VecDeque;
use std::time::Duration;

use memchr::memchr;

use crate::address::{check_client_name, check_mailbox, needs_smtputf8};
use crate::auth::{self, Credentials, Mechanism};
use crate::command::Command;
use crate::data::{DataEncoder, MessageInfo, Scanner};
use crate::error::{Error, Refusal, Stage, TlsFailure};
use crate::extension::Extensions;
use crate::reply::{Reply, ReplyAssembler, ReplyError, MAX_LINE};

/// Bytes the server may send while we are not waiting for a reply (during
/// the message) before we call it a protocol violation.
pub const MAX_UNSOLICITED: usize = 64 * 1024;

/// Longest message line copied into the transcript.
const MAX_LOGGED_LINE: usize = 4096;

/// Whether and how the connection is encrypted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TlsMode {
    /// Plain SMTP.
    #[default]
    Off,
    /// STARTTLS (RFC 3207), or fail before anything else is sent.
    StartTls,
    /// STARTTLS when the server offers it, plain SMTP when not.
    StartTlsIfOffered,
    /// TLS from the first byte (SMTPS, RFC 8314): the driver does the
    /// handshake before the greeting.
    Implicit,
}

/// Settings for one send.
#[derive(Clone, Debug)]
pub struct Config {
    /// The name given with EHLO/HELO.
    pub client_name: String,
    /// How many lines of the message to report as `Send` events; the rest
    /// are summed up in one `Info` event.
    pub message_lines_logged: u32,
    /// Use PIPELINING (RFC 2920) when the server offers it.
    pub pipelining: bool,
    /// Produce transcript events at all (off: nobody is listening, and
    /// building them would be wasted work).
    pub transcript: bool,
    pub tls: TlsMode,
    /// Log in (RFC 4954) before MAIL FROM.
    pub credentials: Option<Credentials>,
    /// Send credentials even over an unencrypted connection.
    pub allow_plaintext_auth: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            client_name: "localhost".into(),
            message_lines_logged: 20,
            pipelining: true,
            transcript: true,
            tls: TlsMode::Off,
            credentials: None,
            allow_plaintext_auth: false,
        }
    }
}

/// Something for the transcript.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// One line as written to the server, CRLF included.
    Send(Vec<u8>),
    /// One line as read from the server, line end included.
    Reply(Vec<u8>),
    /// A remark of the client's own.
    Info(String),
}

/// What a successful send achieved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Receipt {
    pub accepted: Vec<String>,
    pub refused: Vec<Refusal>,
    /// The reply to the final dot (often carries a queue id).
    pub reply: Reply,
}

/// A command whose reply we are waiting for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Awaiting {
    Greeting,
    Ehlo,
    Helo,
    StartTls,
    Auth(AuthStep),
    Mail,
    Rcpt(usize),
    Data,
    EndOfData,
    Rset,
    Quit,
}

impl Awaiting {
    fn stage(self) -> Stage {
        match self {
            Awaiting::Greeting => Stage::Greeting,
            Awaiting::Ehlo => Stage::Ehlo,
            Awaiting::Helo => Stage::Helo,
            Awaiting::StartTls => Stage::StartTls,
            Awaiting::Auth(_) => Stage::Auth,
            Awaiting::Mail => Stage::MailFrom,
            Awaiting::Rcpt(_) => Stage::RcptTo,
            Awaiting::Data => Stage::Data,
            Awaiting::EndOfData => Stage::EndOfData,
            Awaiting::Rset => Stage::Rset,
            Awaiting::Quit => Stage::Quit,
        }
    }
}

/// What a reply during AUTH answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum AuthStep {
    /// The last response: 235 means logged in.
    Final,
    /// `AUTH LOGIN`: a 334 asks for the user name.
    LoginUser,
    /// The user name: a 334 asks for the password.
    LoginPassword,
    /// `AUTH CRAM-MD5`: a 334 carries the challenge.
    CramChallenge,
    /// The empty line after an XOAUTH2 error, or `*` cancelling: the
    /// exchange is over and failed.
    Aborted,
}

/// How to leave after a failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Leave {
    /// The connection is unusable or the server is going away (421).
    Close,
    /// Politely: QUIT.
    Quit,
    /// A transaction may be open: RSET, then QUIT.
    RsetQuit,
    /// The message failed but the session goes on: ready for the next.
    Idle,
    /// As `Idle`, after RSET.
    RsetIdle,
}

#[derive(Debug, Default)]
struct BodyLog {
    shown: u32,
    partial: Vec<u8>,
    hidden_lines: u64,
    hidden_bytes: u64,
}

/// One mail transaction over one connection.
#[derive(Debug)]
pub struct Client {
    config: Config,
    from: String,
    to: Vec<String>,
    info: MessageInfo,
    ext: Extensions,
    mail_params: Vec<String>,
    pipelined: bool,
    pending: VecDeque<Awaiting>,
    stage: Stage,
    assembler: ReplyAssembler,
    inbuf: Vec<u8>,
    out: Vec<u8>,
    out_pos: usize,
    events: VecDeque<Event>,
    accepted: Vec<String>,
    refused: Vec<Refusal>,
    sending_body: bool,
    encoder: DataEncoder,
    body_log: BodyLog,
    outcome: Option<Result<Receipt, Error>>,
    wrap_up: VecDeque<Awaiting>,
    closed: bool,
    wait_epoch: u64,
    tls_active: bool,
    tls_pending: bool,
    authenticated: bool,
    /// Bytes received after the reply being handled (STARTTLS injection check).
    unread_after_reply: usize,
    /// What the server said about a failed AUTH (XOAUTH2's JSON error).
    auth_detail: Option<String>,
    /// Keep the connection open between messages.
    session: bool,
    /// A message was begun (in `from`, `to`, `info`).
    has_envelope: bool,
    /// Greeting, EHLO, TLS and AUTH are done and no message is under way.
    ready: bool,
    /// Once the wrap-up commands are answered: ready again (not closed).
    then_idle: bool,
    /// A streamed message is checked as it is pushed (line length, 8-bit).
    body_check: Option<Scanner>,
}

impl Client {
    /// Checks the envelope and prepares to read the greeting. Every check on
    /// user input happens here, before the driver opens a connection.
    pub fn new(
        config: Config,
        from: &str,
        to: &[String],
        info: MessageInfo,
    ) -> Result<Self, Error> {
        check_envelope(from, to)?;
        let mut client = Self::open(config, false)?;
        client.set_envelope(from, to, info);
        Ok(client)
    }

    /// A connection for several messages: after the greeting, EHLO, TLS and
    /// AUTH it waits in [`Client::is_ready`] for [`Client::begin`].
    pub fn session(config: Config) -> Result<Self, Error> {
        Self::open(config, true)
    }

    fn open(config: Config, session: bool) -> Result<Self, Error> {
        check_client_name(&config.client_name).map_err(Error::InvalidInput)?;
        Ok(Client {
            from: String::new(),
            to: Vec::new(),
            info: MessageInfo::default(),
            ext: Extensions::default(),
            mail_params: Vec::new(),
            pipelined: false,
            pending: VecDeque::from([Awaiting::Greeting]),
            stage: Stage::Greeting,
            assembler: ReplyAssembler::default(),
            inbuf: Vec::new(),
            out: Vec::new(),
            out_pos: 0,
            events: VecDeque::new(),
            accepted: Vec::new(),
            refused: Vec::new(),
            sending_body: false,
            encoder: DataEncoder::default(),
            body_log: BodyLog::default(),
            outcome: None,
            wrap_up: VecDeque::new(),
            closed: false,
            wait_epoch: 1,
            tls_active: config.tls == TlsMode::Implicit,
            tls_pending: false,
            authenticated: false,
            unread_after_reply: 0,
            auth_detail: None,
            session,
            has_envelope: false,
            ready: false,
            then_idle: false,
            body_check: None,
            config,
        })
    }

    fn set_envelope(&mut self, from: &str, to: &[String], info: MessageInfo) {
        self.from = from.to_owned();
        self.to = to.to_vec();
        self.info = info;
        self.has_envelope = true;
        self.mail_params.clear();
        self.accepted.clear();
        self.refused.clear();
        self.encoder = DataEncoder::default();
        self.body_log = BodyLog::default();
        self.outcome = None;
        self.wrap_up.clear();
        self.then_idle = false;
        self.body_check = None;
    }

    /// Starts a message on a session (checked first: an invalid envelope
    /// changes nothing). Call when [`Client::is_ready`], or before the
    /// session is ready to have it sent as soon as it is.
    pub fn begin(&mut self, from: &str, to: &[String], info: MessageInfo) -> Result<(), Error> {
        check_envelope(from, to)?;
        if self.closed || self.has_envelope {
            return Err(Error::InvalidInput(
                "the session is closed or already sending a message".into(),
            ));
        }
        self.set_envelope(from, to, info);
        if self.ready {
            self.ready = false;
            self.start_mail();
        }
        Ok(())
    }

    /// As [`Client::begin`], for a message pushed in chunks that nobody has
    /// scanned in full: `declared` comes from the caller (its size for
    /// SIZE, whether it is 8-bit), and every chunk is checked as it goes. A
    /// line over 998 octets, or 8-bit data declared 7-bit, closes the
    /// connection without ending the data: the server delivers nothing.
    pub fn begin_stream(
        &mut self,
        from: &str,
        to: &[String],
        declared: MessageInfo,
    ) -> Result<(), Error> {
        self.begin(from, to, declared)?;
        self.body_check = Some(Scanner::default());
        Ok(())
    }

    /// Ends a session politely (QUIT) once it is ready.
    pub fn quit(&mut self) {
        if self.ready && !self.closed {
            self.ready = false;
            self.session = false;
            self.send(Awaiting::Quit);
        } else if !self.has_envelope {
            self.session = false;
        }
    }

    /// The last message's result, taken (session mode).
    pub fn take_outcome(&mut self) -> Option<Result<Receipt, Error>> {
        self.has_envelope = false;
        self.outcome.take()
    }

    /// Ready for [`Client::begin`].
    pub fn is_ready(&self) -> bool {
        self.ready && !self.closed
    }

    // ----- what the driver asks -----

    /// Bytes to write to the server.
    pub fn output(&self) -> &[u8] {
        &self.out[self.out_pos..]
    }

    /// `n` bytes of [`Client::output`] were written.
    pub fn consume_output(&mut self, n: usize) {
        self.out_pos = (self.out_pos + n).min(self.out.len());
        if self.out_pos == self.out.len() {
            self.out.clear();
            self.out_pos = 0;
        }
    }

    /// The server's reply is awaited: read.
    pub fn awaiting_reply(&self) -> bool {
        !self.closed && !self.pending.is_empty()
    }

    /// Changes whenever a new wait for a reply begins.
    pub fn wait_epoch(&self) -> u64 {
        self.wait_epoch
    }

    /// The message may be pushed now (after 354, once earlier output is written).
    pub fn wants_body(&self) -> bool {
        self.sending_body && !self.closed && self.output().is_empty()
    }

    /// STARTTLS was accepted: do the TLS handshake now, then report
    /// [`Client::tls_established`] or [`Client::handle_tls_error`].
    pub fn wants_tls(&self) -> bool {
        self.tls_pending && !self.closed && self.output().is_empty()
    }

    /// The connection is encrypted (implicit TLS, or after STARTTLS).
    pub fn is_encrypted(&self) -> bool {
        self.tls_active
    }

    /// The conversation is over: close the connection and read the outcome.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    fn emit(&mut self, event: Event) {
        if self.config.transcript {
            self.events.push_back(event);
        }
    }

    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Set once the result is known (possibly before the polite QUIT).
    pub fn outcome(&self) -> Option<&Result<Receipt, Error>> {
        self.outcome.as_ref()
    }

    pub fn into_outcome(self) -> Option<Result<Receipt, Error>> {
        self.outcome
    }

    /// The step we are at, for reports.
    pub fn stage(&self) -> Stage {
        self.pending.front().map_or(self.stage, |a| a.stage())
    }

    /// Received bytes not yet consumed (bounded by [`MAX_UNSOLICITED`]).
    pub fn input_buffered(&self) -> usize {
        self.inbuf.len()
    }

    /// What the server offered in its EHLO reply.
    pub fn extensions(&self) -> &Extensions {
        &self.ext
    }

    // ----- what the driver tells -----

    /// Bytes read from the server.
    pub fn feed(&mut self, data: &[u8]) {
        if self.closed {
            return;
        }
        self.inbuf.extend_from_slice(data);
        self.process_input();
    }

    /// Whether a lost connection needs no report of its own: the client is
    /// closed or done (then it only closes), or a reply that came before the
    /// loss explains more and has been taken instead.
    fn loss_already_settled(&mut self) -> bool {
        if self.closed {
            return true;
        }
        if self.outcome.is_some() {
            self.close();
            return true;
        }
        self.take_early_reply()
    }

    /// The server closed its side.
    pub fn handle_eof(&mut self) {
        if self.loss_already_settled() {
            return;
        }
        let stage = self.stage();
        let detail = if self.assembler.in_progress() || !self.inbuf.is_empty() {
            "the server closed the connection in the middle of a reply".to_owned()
        } else {
            match stage {
                Stage::Greeting => "the server closed the connection without a greeting".to_owned(),
                Stage::Message => "the server closed the connection while the message was being sent: it was not accepted".to_owned(),
                Stage::EndOfData => "the server closed the connection after the whole message was sent and before replying to it: the message may or may not have been accepted".to_owned(),
                s => format!("the server closed the connection instead of replying to {s}"),
            }
        };
        self.fail(Error::ServerDisconnected { stage, detail }, Leave::Close);
    }

    /// Reading or writing failed.
    pub fn handle_io_error(&mut self, detail: String) {
        if self.loss_already_settled() {
            return;
        }
        let stage = self.stage();
        let detail = match stage {
            Stage::EndOfData => format!(
                "{detail}; the whole message was sent, so it may or may not have been accepted"
            ),
            _ => detail,
        };
        self.fail(Error::Io { stage, detail }, Leave::Close);
    }

    /// The driver waited `waited` for a complete reply (or for the server to
    /// take our data) in vain.
    pub fn handle_timeout(&mut self, waited: Duration) {
        if self.closed {
            return;
        }
        if self.outcome.is_some() {
            self.close();
            return;
        }
        let stage = self.stage();
        let secs = waited.as_secs_f64();
        let mut detail = if self.awaiting_reply() {
            format!("no complete reply within {secs} s")
        } else {
            format!("the server took none of our data for {secs} s")
        };
        if stage == Stage::EndOfData {
            detail.push_str(
                " after the whole message was sent: it may or may not have been accepted",
            );
        }
        self.fail(Error::Timeout { stage, detail }, Leave::Close);
    }

    /// The TLS handshake after STARTTLS succeeded: start over with EHLO and
    /// forget everything learnt in the clear (RFC 3207 §4.2).
    pub fn tls_established(&mut self) {
        if !self.tls_pending || self.closed {
            return;
        }
        self.tls_pending = false;
        self.tls_active = true;
        self.ext = Extensions::default();
        self.inbuf.clear();
        self.assembler = ReplyAssembler::default();
        self.send(Awaiting::Ehlo);
    }

    /// The TLS handshake failed: nothing more can be sent on this connection.
    pub fn handle_tls_error(&mut self, failure: TlsFailure, detail: String) {
        if self.closed {
            return;
        }
        self.tls_pending = false;
        self.fail(
            Error::TlsError {
                failure,
                detail,
                reply: None,
            },
            Leave::Close,
        );
    }

    /// Appends part of the message (only while [`Client::wants_body`]).
    pub fn push_body(&mut self, chunk: &[u8]) {
        if !self.sending_body || self.closed {
            return;
        }
        if let Some(check) = &mut self.body_check {
            let problem = match check.push(chunk) {
                Err(e) => Some(e.to_string()),
                Ok(()) if !self.info.eight_bit && !chunk.is_ascii() => {
                    Some("the message has 8-bit bytes but was declared 7-bit".to_owned())
                }
                Ok(()) => None,
            };
            if let Some(problem) = problem {
                let detail = format!("{problem}: the data was not ended, so nothing was delivered");
                self.fail(Error::InvalidInput(detail), Leave::Close);
                return;
            }
        }
        let start = self.out.len();
        self.encoder.encode(chunk, &mut self.out);
        self.log_body(start, self.out.len());
    }

    /// For a message in wire form ([`MessageInfo::wire_ready`]): the driver
    /// wrote `chunk` itself, straight from the message, sparing a copy; the
    /// client only reports it. Only whole lines, from the start of the
    /// message, before any [`Client::push_body`].
    pub fn body_written_directly(&mut self, chunk: &[u8]) {
        if self.sending_body && !self.closed && self.config.transcript {
            let limit = self.config.message_lines_logged;
            log_lines(&mut self.body_log, &mut self.events, limit, chunk);
        }
    }

    /// The whole message was pushed: send the final dot.
    pub fn finish_body(&mut self) {
        if !self.sending_body || self.closed {
            return;
        }
        self.sending_body = false;
        let start = self.out.len();
        self.encoder.finish(&mut self.out);
        let dot = self.out.len() - 3;
        self.log_body(start, dot);
        let log = &self.body_log;
        if log.hidden_lines > 0 {
            let summary = format!(
                "data: {} more lines ({} bytes) not shown",
                log.hidden_lines, log.hidden_bytes
            );
            self.emit(Event::Info(summary));
        }
        self.emit(Event::Send(b".\r\n".to_vec()));
        self.expect(Awaiting::EndOfData);
        self.process_input();
    }

    // ----- internals -----

    fn process_input(&mut self) {
        let mut start = 0;
        while self.awaiting_reply() {
            let rest = &self.inbuf[start..];
            let Some(i) = memchr(b'\n', rest) else {
                if rest.len() >= MAX_LINE {
                    self.malformed(ReplyError::LineTooLong);
                }
                break;
            };
            if i >= MAX_LINE {
                self.malformed(ReplyError::LineTooLong);
                break;
            }
            let raw = rest[..=i].to_vec();
            start += i + 1;
            self.unread_after_reply = self.inbuf.len() - start;
            let line = strip_line_end(&raw);
            let result = self.assembler.push_line(line);
            self.emit(Event::Reply(raw));
            match result {
                Ok(None) => {}
                Ok(Some(reply)) => self.on_reply(reply),
                Err(e) => self.malformed(e),
            }
        }
        if self.closed {
            self.inbuf = Vec::new();
            return;
        }
        self.inbuf.drain(..start);
        if self.inbuf.len() > MAX_UNSOLICITED {
            let stage = self.stage();
            self.fail(
                Error::MalformedReply {
                    stage,
                    detail: format!(
                        "the server sent over {MAX_UNSOLICITED} bytes nobody asked for"
                    ),
                },
                Leave::Close,
            );
        }
    }

    /// A reply that arrived while the message was being sent (a server that
    /// refuses mid-message and hangs up): report it rather than the hang-up.
    fn take_early_reply(&mut self) -> bool {
        if !self.sending_body || self.inbuf.is_empty() {
            return false;
        }
        let mut assembler = ReplyAssembler::default();
        let inbuf = std::mem::take(&mut self.inbuf);
        for raw in inbuf.split_inclusive(|&b| b == b'\n') {
            if !raw.ends_with(b"\n") {
                break;
            }
            self.emit(Event::Reply(raw.to_vec()));
            match assembler.push_line(strip_line_end(raw)) {
                Ok(Some(reply)) => {
                    self.fail(
                        Error::DataRefused {
                            stage: Stage::Message,
                            reply,
                        },
                        Leave::Close,
                    );
                    return true;
                }
                Ok(None) => {}
                Err(_) => break,
            }
        }
        false
    }

    fn malformed(&mut self, e: ReplyError) {
        let stage = self.stage();
        self.fail(
            Error::MalformedReply {
                stage,
                detail: e.to_string(),
            },
            Leave::Close,
        );
    }

    fn on_reply(&mut self, reply: Reply) {
        let Some(cmd) = self.pending.pop_front() else {
            return;
        };
        self.stage = cmd.stage();
        self.wait_epoch += 1;
        if self.outcome.is_some() {
            self.drain_reply(cmd, &reply);
        } else {
            self.dispatch(cmd, reply);
        }
        if !self.closed && !self.ready && self.pending.is_empty() && self.outcome.is_some() {
            self.wrap_up_next();
        }
    }

    /// After a message's result: the next wrap-up command, or ready/closed.
    fn wrap_up_next(&mut self) {
        match self.wrap_up.pop_front() {
            Some(next) => self.send(next),
            None if self.then_idle => {
                self.then_idle = false;
                self.ready = true;
            }
            None => self.close(),
        }
    }

    /// How a failed message leaves: QUIT for a single send, back to ready
    /// for a session; RSET first when MAIL may have opened a transaction.
    fn txn_leave(&self, rset: bool) -> Leave {
        match (self.session, rset) {
            (true, true) => Leave::RsetIdle,
            (true, false) => Leave::Idle,
            (false, true) => Leave::RsetQuit,
            (false, false) => Leave::Quit,
        }
    }

    /// A reply that no longer changes the outcome: a pipelined reply after a
    /// failure, or the replies to RSET and QUIT.
    fn drain_reply(&mut self, cmd: Awaiting, reply: &Reply) {
        if reply.code == 421 || cmd == Awaiting::Quit {
            self.close();
        } else if cmd == Awaiting::Data && reply.code == 354 {
            // RFC 2920 §3.1: DATA went through although the transaction
            // failed; end it with an empty message.
            self.out.extend_from_slice(b".\r\n");
            self.emit(Event::Send(b".\r\n".to_vec()));
            self.expect(Awaiting::EndOfData);
        }
    }

    /// Fails on a reply that refused the command. A 421 closes at once,
    /// whatever `leave` says: the server is going away (RFC 5321 §3.8).
    fn fail_on_reply(&mut self, code: u16, err: Error, leave: Leave) {
        let leave = if code == 421 { Leave::Close } else { leave };
        self.fail(err, leave);
    }

    fn dispatch(&mut self, cmd: Awaiting, reply: Reply) {
        match cmd {
            Awaiting::Greeting if reply.code == 220 => self.send(Awaiting::Ehlo),
            Awaiting::Greeting => {
                self.fail_on_reply(reply.code, Error::ConnectRefused(reply), Leave::Quit);
            }
            Awaiting::Ehlo if reply.is_positive() => {
                self.ext = Extensions::from_ehlo(&reply);
                self.after_hello();
            }
            Awaiting::Ehlo if reply.code >= 500 => self.send(Awaiting::Helo),
            Awaiting::Helo if reply.is_positive() => {
                self.ext = Extensions::default();
                self.after_hello();
            }
            Awaiting::Ehlo | Awaiting::Helo => {
                self.fail_on_reply(reply.code, Error::HeloRefused(reply), Leave::Quit);
            }
            Awaiting::StartTls if reply.code == 220 => {
                if self.unread_after_reply > 0 {
                    let detail = format!(
                        "the server sent {} bytes after its 220 reply to STARTTLS, before the TLS handshake: \
                         refusing to go on (STARTTLS response injection)",
                        self.unread_after_reply
                    );
                    self.fail(
                        Error::TlsError {
                            failure: TlsFailure::Protocol,
                            detail,
                            reply: None,
                        },
                        Leave::Close,
                    );
                } else {
                    self.tls_pending = true;
                }
            }
            Awaiting::StartTls => {
                self.fail_on_reply(
                    reply.code,
                    Error::TlsError {
                        failure: TlsFailure::Refused,
                        detail: "the server refused STARTTLS".into(),
                        reply: Some(reply),
                    },
                    Leave::Quit,
                );
            }
            Awaiting::Auth(step) => self.on_auth_reply(step, reply),
            Awaiting::Mail if reply.is_positive() => {
                if !self.pipelined {
                    self.send(Awaiting::Rcpt(0));
                }
            }
            Awaiting::Mail => {
                let code = reply.code;
                let refusal = Refusal {
                    address: self.from.clone(),
                    reply,
                };
                self.fail_on_reply(code, Error::SenderRefused(refusal), self.txn_leave(true));
            }
            Awaiting::Rcpt(i) => {
                let closing = reply.code == 421;
                let address = self.to[i].clone();
                if reply.is_positive() {
                    self.accepted.push(address);
                } else {
                    self.refused.push(Refusal { address, reply });
                }
                if closing {
                    self.fail(Error::RecipientsRefused(self.refused.clone()), Leave::Close);
                } else if i + 1 < self.to.len() {
                    if !self.pipelined {
                        self.send(Awaiting::Rcpt(i + 1));
                    }
                } else if self.accepted.is_empty() {
                    self.fail(
                        Error::RecipientsRefused(self.refused.clone()),
                        self.txn_leave(true),
                    );
                } else if !self.pipelined {
                    self.send(Awaiting::Data);
                }
            }
            Awaiting::Data if reply.code == 354 => {
                self.sending_body = true;
                self.stage = Stage::Message;
            }
            Awaiting::Data => {
                self.fail_on_reply(
                    reply.code,
                    Error::DataRefused {
                        stage: Stage::Data,
                        reply,
                    },
                    self.txn_leave(true),
                );
            }
            Awaiting::EndOfData if reply.is_positive() => {
                self.outcome = Some(Ok(Receipt {
                    accepted: std::mem::take(&mut self.accepted),
                    refused: std::mem::take(&mut self.refused),
                    reply,
                }));
                if self.session {
                    self.then_idle = true;
                } else {
                    self.wrap_up = VecDeque::from([Awaiting::Quit]);
                }
            }
            Awaiting::EndOfData => {
                self.fail_on_reply(
                    reply.code,
                    Error::DataRefused {
                        stage: Stage::EndOfData,
                        reply,
                    },
                    self.txn_leave(true),
                );
            }
            // A session's own QUIT (wrap-up replies go to drain_reply).
            Awaiting::Quit => self.close(),
            Awaiting::Rset => {}
        }
    }

    /// After EHLO/HELO: STARTTLS first if wanted, then AUTH, then the mail.
    fn after_hello(&mut self) {
        if !self.tls_active {
            match self.config.tls {
                TlsMode::StartTls | TlsMode::StartTlsIfOffered if self.ext.starttls => {
                    self.send(Awaiting::StartTls);
                    return;
                }
                TlsMode::StartTls => {
                    let detail = "the server does not offer STARTTLS, and TLS is required: \
                                  nothing was sent in the clear"
                        .to_owned();
                    self.fail(Error::NotSupported(detail), Leave::Quit);
                    return;
                }
                TlsMode::StartTlsIfOffered => self.emit(Event::Info(
                    "the server does not offer STARTTLS: continuing without encryption".into(),
                )),
                TlsMode::Off | TlsMode::Implicit => {}
            }
        }
        if self.config.credentials.is_some() && !self.authenticated {
            self.start_auth();
        } else {
            self.hello_done();
        }
    }

    /// The connection is set up: send the message begun, or wait for one.
    fn hello_done(&mut self) {
        if self.has_envelope {
            self.start_mail();
        } else if self.session {
            self.ready = true;
        } else {
            // quit() came before the session was ready.
            self.send(Awaiting::Quit);
        }
    }

    fn start_auth(&mut self) {
        let Some(creds) = self.config.credentials.clone() else {
            return;
        };
        if !self.tls_active && !self.config.allow_plaintext_auth {
            let detail = "refusing to send credentials over an unencrypted connection \
                          (use STARTTLS or implicit TLS, or allow plaintext AUTH explicitly)"
                .to_owned();
            self.fail(
                Error::AuthFailed {
                    detail,
                    reply: None,
                },
                Leave::Quit,
            );
            return;
        }
        let mechanism = match auth::choose(&self.ext.auth, creds.mechanism) {
            Ok(m) => m,
            Err(detail) => {
                self.fail(Error::NotSupported(detail), Leave::Quit);
                return;
            }
        };
        match mechanism {
            Mechanism::Plain => {
                let wire = format!("AUTH PLAIN {}", auth::plain_response(&creds));
                self.send_line(
                    Awaiting::Auth(AuthStep::Final),
                    &wire,
                    "AUTH PLAIN <redacted>",
                );
            }
            Mechanism::XOAuth2 => {
                let wire = format!("AUTH XOAUTH2 {}", auth::xoauth2_response(&creds));
                self.send_line(
                    Awaiting::Auth(AuthStep::Final),
                    &wire,
                    "AUTH XOAUTH2 <redacted>",
                );
            }
            Mechanism::Login => {
                self.send_line(
                    Awaiting::Auth(AuthStep::LoginUser),
                    "AUTH LOGIN",
                    "AUTH LOGIN",
                );
            }
            Mechanism::CramMd5 => {
                self.send_line(
                    Awaiting::Auth(AuthStep::CramChallenge),
                    "AUTH CRAM-MD5",
                    "AUTH CRAM-MD5",
                );
            }
        }
    }

    fn on_auth_reply(&mut self, step: AuthStep, reply: Reply) {
        let Some(creds) = self.config.credentials.clone() else {
            return;
        };
        let challenge = reply.lines.first().cloned().unwrap_or_default();
        match (step, reply.code) {
            (AuthStep::Final, 235) => {
                self.authenticated = true;
                self.hello_done();
            }
            (AuthStep::LoginUser, 334) => {
                let wire = auth::base64(creds.user.as_bytes());
                self.send_line(Awaiting::Auth(AuthStep::LoginPassword), &wire, "<redacted>");
            }
            (AuthStep::LoginPassword, 334) => {
                let wire = auth::base64(creds.secret.as_bytes());
                self.send_line(Awaiting::Auth(AuthStep::Final), &wire, "<redacted>");
            }
            (AuthStep::CramChallenge, 334) => match auth::cram_md5_response(&creds, &challenge) {
                Some(wire) => self.send_line(Awaiting::Auth(AuthStep::Final), &wire, "<redacted>"),
                None => {
                    self.auth_detail = Some("the CRAM-MD5 challenge is not base64".into());
                    self.send_line(Awaiting::Auth(AuthStep::Aborted), "*", "*");
                }
            },
            (AuthStep::Final, 334) => {
                // XOAUTH2 reports its error as a 334 with base64 JSON and
                // waits for an empty line; anything else asking for more
                // after our last response gets cancelled.
                self.auth_detail = Some(match auth::decode_text(&challenge) {
                    Some(text) if !text.is_empty() => format!("the server said: {text}"),
                    _ => "the server asked for more after the last response".into(),
                });
                let line = if creds.mechanism == Some(Mechanism::XOAuth2) {
                    ""
                } else {
                    "*"
                };
                self.send_line(Awaiting::Auth(AuthStep::Aborted), line, line);
            }
            _ => {
                let detail = self
                    .auth_detail
                    .take()
                    .unwrap_or_else(|| "authentication failed".into());
                self.fail_on_reply(
                    reply.code,
                    Error::AuthFailed {
                        detail,
                        reply: Some(reply),
                    },
                    Leave::Quit,
                );
            }
        }
    }

    /// After EHLO/HELO: check the message fits what the server offers, then
    /// MAIL FROM (and, with PIPELINING, every RCPT TO and DATA with it).
    fn start_mail(&mut self) {
        let utf8_address = std::iter::once(&self.from)
            .chain(&self.to)
            .find(|a| needs_smtputf8(a));
        if let Some(addr) = utf8_address {
            if !self.ext.smtputf8 {
                let detail = format!(
                    "address {addr:?} is not ASCII and the server does not offer SMTPUTF8 (RFC 6531)"
                );
                self.fail(Error::NotSupported(detail), self.txn_leave(false));
                return;
            }
        }
        if self.info.eight_bit && !self.ext.eight_bit_mime && utf8_address.is_none() {
            let detail =
                "the message has 8-bit bytes and the server does not offer 8BITMIME (RFC 6152)"
                    .to_owned();
            self.fail(Error::NotSupported(detail), self.txn_leave(false));
            return;
        }
        if let Some(limit) = self.ext.size_limit() {
            if self.info.size > limit {
                let detail = format!(
                    "the message is {} octets and the server accepts at most {limit} (SIZE, RFC 1870)",
                    self.info.size
                );
                self.fail(Error::NotSupported(detail), self.txn_leave(false));
                return;
            }
        }
        let mut params = Vec::new();
        if self.ext.size.is_some() {
            params.push(format!("SIZE={}", self.info.size));
        }
        if self.info.eight_bit && self.ext.eight_bit_mime {
            params.push("BODY=8BITMIME".to_owned());
        }
        if utf8_address.is_some() {
            params.push("SMTPUTF8".to_owned());
        }
        self.mail_params = params;
        self.pipelined = self.config.pipelining && self.ext.pipelining;
        self.send(Awaiting::Mail);
        if self.pipelined {
            for i in 0..self.to.len() {
                self.send(Awaiting::Rcpt(i));
            }
            self.send(Awaiting::Data);
        }
    }

    /// Queues a command and its wait for a reply.
    fn send(&mut self, cmd: Awaiting) {
        let start = self.out.len();
        let name = self.config.client_name.as_str();
        let command = match cmd {
            Awaiting::Ehlo => Command::Ehlo(name),
            Awaiting::Helo => Command::Helo(name),
            Awaiting::Mail => Command::Mail {
                from: &self.from,
                params: &self.mail_params,
            },
            Awaiting::Rcpt(i) => Command::Rcpt { to: &self.to[i] },
            Awaiting::Data => Command::Data,
            Awaiting::Rset => Command::Rset,
            Awaiting::Quit => Command::Quit,
            Awaiting::StartTls => Command::StartTls,
            Awaiting::Greeting | Awaiting::EndOfData | Awaiting::Auth(_) => return,
        };
        command.write_to(&mut self.out);
        self.emit(Event::Send(self.out[start..].to_vec()));
        self.expect(cmd);
    }

    /// Queues a line that may carry a secret: the transcript gets `shown`.
    fn send_line(&mut self, cmd: Awaiting, wire: &str, shown: &str) {
        self.out.extend_from_slice(wire.as_bytes());
        self.out.extend_from_slice(b"\r\n");
        self.emit(Event::Send(format!("{shown}\r\n").into_bytes()));
        self.expect(cmd);
    }

    fn expect(&mut self, cmd: Awaiting) {
        if self.pending.is_empty() {
            self.wait_epoch += 1;
        }
        self.pending.push_back(cmd);
    }

    fn fail(&mut self, err: Error, leave: Leave) {
        if self.outcome.is_none() {
            self.outcome = Some(Err(err));
        }
        self.sending_body = false;
        self.then_idle = matches!(leave, Leave::Idle | Leave::RsetIdle);
        self.wrap_up = match leave {
            Leave::Close => {
                self.close();
                return;
            }
            Leave::Quit => VecDeque::from([Awaiting::Quit]),
            Leave::RsetQuit => VecDeque::from([Awaiting::Rset, Awaiting::Quit]),
            Leave::Idle => VecDeque::new(),
            Leave::RsetIdle => VecDeque::from([Awaiting::Rset]),
        };
        // With pipelining, replies to commands already sent come first.
        if self.pending.is_empty() {
            self.wrap_up_next();
        }
    }

    fn close(&mut self) {
        self.closed = true;
        self.tls_pending = false;
        self.pending.clear();
        self.sending_body = false;
    }

    /// Reports the message's lines as sent, the first few one by one.
    fn log_body(&mut self, start: usize, end: usize) {
        if self.config.transcript {
            let limit = self.config.message_lines_logged;
            log_lines(
                &mut self.body_log,
                &mut self.events,
                limit,
                &self.out[start..end],
            );
        }
    }
}

/// The first `limit` message lines as `Send` events, the rest counted.
fn log_lines(log: &mut BodyLog, events: &mut VecDeque<Event>, limit: u32, mut data: &[u8]) {
    while !data.is_empty() {
        if log.shown >= limit {
            log.hidden_bytes += data.len() as u64;
            log.hidden_lines += memchr::memchr_iter(b'\n', data).count() as u64;
            return;
        }
        let (part, complete) = match memchr(b'\n', data) {
            Some(i) => (&data[..=i], true),
            None => (data, false),
        };
        let room = MAX_LOGGED_LINE.saturating_sub(log.partial.len());
        log.partial.extend_from_slice(&part[..part.len().min(room)]);
        if complete {
            events.push_back(Event::Send(std::mem::take(&mut log.partial)));
            log.shown += 1;
        }
        data = &data[part.len()..];
    }
}

/// The checks on an envelope: the boundary against command injection.
fn check_envelope(from: &str, to: &[String]) -> Result<(), Error> {
    check_mailbox(from).map_err(|e| Error::InvalidInput(format!("sender: {e}")))?;
    if to.is_empty() {
        return Err(Error::InvalidInput("no recipients given".into()));
    }
    for rcpt in to {
        if rcpt.is_empty() {
            return Err(Error::InvalidInput("a recipient address is empty".into()));
        }
        check_mailbox(rcpt).map_err(|e| Error::InvalidInput(format!("recipient: {e}")))?;
    }
    Ok(())
}

fn strip_line_end(raw: &[u8]) -> &[u8] {
    let line = raw.strip_suffix(b"\n").unwrap_or(raw);
    line.strip_suffix(b"\r").unwrap_or(line)
}

#[cfg(test)]
mod tests;
