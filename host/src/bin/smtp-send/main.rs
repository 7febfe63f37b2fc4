//! `smtp-send`: the seed program (smtplib with `set_debuglevel(1)` and its
//! error handling), with the SMTP client sandboxed in a component.

mod compose;
mod message;
mod output;
mod report;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use message::{Body, Message};
use report::Reporter;
use smtp_proto::message::default_message;

use anyhow::Context as _;
use clap::Parser;
use smtp_host::transcript::Silent;
use smtp_host::{
    Call, Credentials, Grant, Mailer, Mechanism, Options, Receipt, Sandbox, SendError, SmtpError,
    TlsMode, TlsTrust,
};
use smtp_proto::error::exit;
use smtp_proto::server::ServerAddress;

const EXAMPLES: &str = "\
Examples:
  # The default test message, to a local debugging server (python -m aiosmtpd -n):
  smtp-send localhost:8025 me@example.com you@example.com

  # A real message, with an attachment, over STARTTLS with a login:
  SMTP_PASSWORD=secret smtp-send --starttls --user me \\
      --subject 'Quarterly report' --body @notes.txt --attach report.pdf \\
      mail.example.com:587 me@example.com you@example.com

  # A message file, the result as JSON for a script, the transcript to a file:
  smtp-send --message msg.eml --json --transcript json --transcript-file t.jsonl \\
      mail.example.com me@example.com you@example.com";

/// Send one message through an SMTP server and show the whole conversation.
///
/// The SMTP client runs as a WebAssembly component that may reach SERVER and
/// nothing else. The transcript goes to stderr in smtplib's debug format; the
/// result goes to stdout. Exit status follows sysexits.h: 0 sent, 64 usage,
/// 65 invalid input, 66 unreadable message file, 68 unknown host, 69 refused
/// by the server (5xx) or extension missing, 70 internal error, 73 transcript
/// file not writable, 74 I/O error or disconnect, 75 timeout or temporary
/// refusal (4xx), 76 malformed reply, 77 denied by the sandbox's network
/// policy or failed login.
#[derive(Parser, Debug)]
#[command(name = "smtp-send", version, after_long_help = EXAMPLES)]
struct Args {
    /// The server: host, host:port, [v6addr]:port or an IP literal (port 25 by default).
    #[arg(value_name = "SERVER")]
    server: String,

    /// The envelope sender ("" for the null sender <>).
    #[arg(value_name = "FROMADDR")]
    from: String,

    /// The envelope recipients.
    #[arg(value_name = "TOADDR", required = true)]
    to: Vec<String>,

    /// Port to connect to (overrides a port in SERVER).
    #[arg(short, long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    port: Option<u16>,

    /// Name to send with EHLO/HELO [default: this machine's host name].
    #[arg(long, value_name = "NAME")]
    ehlo: Option<String>,

    /// Seconds to wait for each complete reply, and for the connect.
    #[arg(long, value_name = "SECONDS", default_value = "60", value_parser = smtp_proto::args::seconds)]
    timeout: Duration,

    /// Seconds the whole send may take, whatever the server or the component does.
    #[arg(long, value_name = "SECONDS", default_value = "300", value_parser = smtp_proto::args::seconds)]
    deadline: Duration,

    /// Send this file as the message ('-' for stdin) instead of the default
    /// test message. It is sent as given (line endings become CRLF). Give it
    /// several times to send several messages over one connection; files
    /// over 16 MiB are streamed, memory staying bounded.
    #[arg(short, long, value_name = "FILE")]
    message: Vec<PathBuf>,

    /// Instead of the default message, a generated test message with a body
    /// of BYTES octets in 80-octet lines (for load tests).
    #[arg(long, value_name = "BYTES", conflicts_with = "message")]
    size: Option<usize>,

    /// Send each message N times (load tests; prints a RESULT line with the
    /// time taken on stderr). Each send gets a new connection and a fresh
    /// sandbox unless --reuse.
    #[arg(long, value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(u64).range(1..))]
    count: u64,

    /// Send every message over one connection (an SMTP session), not one
    /// connection each.
    #[arg(long)]
    reuse: bool,

    /// Transcript detail: 1 lines as sent and received, 2 also timestamps.
    #[arg(short, long, value_name = "LEVEL", default_value_t = 1,
          value_parser = clap::value_parser!(u8).range(1..=2))]
    debug: u8,

    /// No transcript (the result lines on stdout stay).
    #[arg(short, long)]
    quiet: bool,

    /// Never pipeline commands, even when the server offers PIPELINING.
    #[arg(long)]
    no_pipelining: bool,

    /// Network policy: the only servers the component may reach, as
    /// tcp://HOST:PORT (repeatable) [default: SERVER itself]. For wrappers
    /// that pass a user's SERVER on but must pin where mail can go.
    #[arg(long, value_name = "tcp://HOST:PORT", value_parser = parse_grant)]
    grant: Vec<String>,

    #[command(flatten)]
    tls: TlsArgs,

    /// Also trust the CA certificates in this PEM file (repeatable).
    /// Certificates are always verified, against the system's roots and
    /// these, and the server's name.
    #[arg(long, value_name = "PEM")]
    cafile: Vec<PathBuf>,

    /// Log in as NAME. The password comes from $SMTP_PASSWORD or
    /// --password-file, never from the command line.
    #[arg(long, value_name = "NAME")]
    user: Option<String>,

    /// Read the password (or XOAUTH2 token) from FILE; one trailing newline
    /// is not part of it.
    #[arg(long, value_name = "FILE", requires = "user")]
    password_file: Option<PathBuf>,

    /// AUTH mechanism: PLAIN, LOGIN, CRAM-MD5, or XOAUTH2 (the secret is an
    /// OAuth 2.0 token) [default: the strongest offered of CRAM-MD5, PLAIN, LOGIN].
    #[arg(long, value_name = "MECH", requires = "user", value_parser = parse_mechanism)]
    auth: Option<Mechanism>,

    /// Send credentials even over an unencrypted connection.
    #[arg(long, requires = "user")]
    allow_plaintext_auth: bool,

    /// Build a MIME message with this subject (non-ASCII is RFC 2047 encoded)
    /// instead of the default test message.
    #[arg(long, value_name = "TEXT", conflicts_with_all = ["message", "size"])]
    subject: Option<String>,

    /// The built message's text: TEXT, or @FILE for a file's contents.
    #[arg(long, value_name = "TEXT|@FILE", conflicts_with_all = ["message", "size"])]
    body: Option<String>,

    /// Another header of the built message (repeatable).
    #[arg(long, value_name = "NAME: VALUE", conflicts_with_all = ["message", "size"])]
    header: Vec<String>,

    /// Attach a file to the built message (repeatable; MIME type from its name).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["message", "size"])]
    attach: Vec<PathBuf>,

    /// Also send to ADDR, listed in the Cc: header (repeatable).
    #[arg(long, value_name = "ADDR", conflicts_with_all = ["message", "size"])]
    cc: Vec<String>,

    /// Also send to ADDR, in the envelope only: never in a header (repeatable).
    #[arg(long, value_name = "ADDR")]
    bcc: Vec<String>,

    /// Transcript format: text (smtplib's debug lines) or json (one object
    /// per line: {"t", "dir", "line"}, never abbreviated).
    #[arg(long, value_name = "FORMAT", default_value = "text",
          value_parser = ["text", "json"])]
    transcript: String,

    /// Write the transcript to PATH instead of stderr.
    #[arg(long, value_name = "PATH")]
    transcript_file: Option<PathBuf>,

    /// Print the result as one JSON object on stdout, and nothing else there.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args, Debug)]
#[group(multiple = false)]
struct TlsArgs {
    /// Use STARTTLS (RFC 3207); fail with not-supported, having sent nothing
    /// else, when the server does not offer it.
    #[arg(long)]
    starttls: bool,

    /// Use STARTTLS when the server offers it; otherwise go on unencrypted
    /// (the transcript says so).
    #[arg(long)]
    starttls_if_offered: bool,

    /// Implicit TLS (SMTPS, RFC 8314) from the first byte; port 465 unless given.
    #[arg(long)]
    tls: bool,
}

fn parse_mechanism(s: &str) -> Result<Mechanism, String> {
    Mechanism::parse(s).ok_or_else(|| format!("{s:?}: use PLAIN, LOGIN, CRAM-MD5 or XOAUTH2"))
}

fn parse_grant(s: &str) -> Result<String, String> {
    Grant::none()
        .allow(s)
        .map(|_| s.to_owned())
        .map_err(|e| e.to_string())
}

fn main() {
    // Errors that the host handles by the thousand (a socket that would
    // block) must not capture a backtrace each, whatever RUST_BACKTRACE
    // says: nothing here prints library backtraces.
    if std::env::var_os("RUST_LIB_BACKTRACE").is_none() {
        // SAFETY: first thing in main, before any other thread exists.
        unsafe { std::env::set_var("RUST_LIB_BACKTRACE", "0") };
    }
    let args = match Args::try_parse() {
        Ok(args) => args,
        Err(e) => {
            let _ = e.print();
            let status = if e.use_stderr() { exit::USAGE } else { 0 };
            if status != 0 && std::env::args().any(|a| a == "--json") {
                let what = e.kind().to_string();
                Reporter { json: true }.refused(&format!("usage: {what}"), status);
            }
            std::process::exit(status);
        }
    };
    let reporter = Reporter { json: args.json };
    let status = match run(args, &reporter) {
        Ok(status) => status,
        Err(e) => reporter.refused(&format!("trap: {e:#}"), exit::SOFTWARE),
    };
    // The results are printed: leave without tearing down the engine and
    // the compiled code (unmapping it costs more than the send did).
    let _ = std::io::Write::flush(&mut std::io::stdout());
    std::process::exit(status)
}

fn run(args: Args, reporter: &Reporter) -> anyhow::Result<i32> {
    let progress = std::io::IsTerminal::is_terminal(&std::io::stderr()) && !args.quiet;
    let parts = compose::Parts {
        from: &args.from,
        to: &args.to,
        cc: &args.cc,
        subject: args.subject.as_deref(),
        body: args.body.as_deref(),
        headers: &args.header,
        attachments: &args.attach,
    };
    let messages = if parts.wanted() {
        match compose::build(&parts) {
            Ok(text) => vec![Message {
                label: String::new(),
                body: Body::Text(text),
            }],
            Err((line, status)) => return Ok(reporter.refused(&line, status)),
        }
    } else if let Some(size) = args.size {
        vec![Message {
            label: String::new(),
            body: message::generated(&args.from, &args.to, size),
        }]
    } else if args.message.is_empty() {
        vec![Message {
            label: String::new(),
            body: Body::Text(default_message(&args.from, &args.to)),
        }]
    } else {
        let mut messages = Vec::new();
        // On a terminal, large messages are streamed so that progress shows.
        let inline = if progress {
            1 << 20
        } else {
            message::INLINE_LIMIT
        };
        for path in &args.message {
            match message::read_file(path, inline) {
                Ok(m) => messages.push(m),
                Err((line, status)) => return Ok(reporter.refused(&line, status)),
            }
        }
        messages
    };
    let tls = if args.tls.tls {
        TlsMode::Implicit
    } else if args.tls.starttls {
        TlsMode::StartTls
    } else if args.tls.starttls_if_offered {
        TlsMode::StartTlsIfOffered
    } else {
        TlsMode::Off
    };
    let default_port = if tls == TlsMode::Implicit { 465 } else { 25 };
    let credentials = match &args.user {
        None => None,
        Some(user) => match message::secret(args.password_file.as_deref()) {
            Ok(secret) => Some(Credentials {
                user: user.clone(),
                secret,
                mechanism: args.auth,
            }),
            Err((line, status)) => return Ok(reporter.refused(&line, status)),
        },
    };
    let trust = if args.cafile.is_empty() {
        None
    } else {
        match TlsTrust::with_ca_files(&args.cafile) {
            Ok(t) => Some(Arc::new(t)),
            Err(e) => return Ok(reporter.refused(&format!("invalid-input: {e}"), exit::NOINPUT)),
        }
    };
    let server = match ServerAddress::parse_with_default(&args.server, args.port, default_port) {
        Ok(s) => s,
        Err(e) => {
            let e = SmtpError::from(e);
            return Ok(reporter.refused(&format!("{}: {e}", e.case()), e.exit_status()));
        }
    };

    let mut options = Options {
        reply_timeout: args.timeout,
        pipelining: !args.no_pipelining,
        tls,
        credentials,
        allow_plaintext_auth: args.allow_plaintext_auth,
        ..Options::default()
    };
    if let Some(name) = &args.ehlo {
        options.client_name = name.clone();
    }
    let largest = messages
        .iter()
        .map(|m| match &m.body {
            Body::Text(t) => t.len(),
            Body::File { .. } | Body::Generated { .. } => 0,
        })
        .max()
        .unwrap_or(0);
    let sandbox = Sandbox {
        grant: Arc::new(if args.grant.is_empty() {
            Grant::server(&server)
        } else {
            let mut grant = Grant::none();
            for spec in &args.grant {
                grant = grant.allow(spec)?;
            }
            grant
        }),
        deadline: args.deadline,
        memory_limit: Sandbox::default().memory_limit + 2 * largest,
        transcript: match transcript(&args) {
            Ok(t) => t,
            Err(line) => return Ok(reporter.refused(&line, exit::CANTCREAT)),
        },
        trust,
    };
    if args.transcript == "json" {
        // Machines get the whole message, not the first 20 lines.
        options.message_lines_logged = u32::MAX;
    }

    // One sandbox at a time. A pool pays off over many sends; for one, its
    // set-up costs more than it saves.
    let concurrency = u32::from(args.count > 1);
    let mailer = Mailer::builder()
        .concurrency(concurrency)
        .build()
        .map_err(|e| anyhow::anyhow!("{e:?}"))
        .context("loading the SMTP component")?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    // The envelope: the To: recipients, then Cc and Bcc.
    let envelope: Vec<String> = args
        .to
        .iter()
        .chain(&args.cc)
        .chain(&args.bcc)
        .cloned()
        .collect();
    let job = Job {
        mailer: &mailer,
        server: server.to_string(),
        from: args.from.clone(),
        to: envelope,
        options,
        sandbox,
        progress,
    };
    let session = args.reuse
        || messages.len() > 1
        || messages.iter().any(|m| !matches!(m.body, Body::Text(_)));
    let bytes: u64 = messages.iter().map(|m| m.len()).sum::<u64>() * args.count;
    let started = Instant::now();
    let results = runtime.block_on(async {
        if session {
            job.over_one_connection(&messages, args.count).await
        } else {
            let message = messages.into_iter().next().expect("one message");
            job.each_in_a_fresh_sandbox(message, args.count).await
        }
    });
    if args.count > 1 || args.reuse {
        eprintln!(
            "RESULT count={} bytes={bytes} secs={:.6}",
            results.len(),
            started.elapsed().as_secs_f64()
        );
    }
    Ok(reporter.results(&results, args.count))
}

/// The transcript sink the options ask for.
fn transcript(args: &Args) -> Result<Arc<dyn smtp_host::Transcript>, String> {
    if args.quiet {
        return Ok(Arc::new(Silent));
    }
    let out: output::Sink =
        std::sync::Mutex::new(match &args.transcript_file {
            None => Box::new(std::io::stderr()),
            Some(path) => Box::new(std::fs::File::create(path).map_err(|e| {
                format!("invalid-input: cannot write transcript file {path:?}: {e}")
            })?),
        });
    Ok(if args.transcript == "json" {
        Arc::new(output::Json {
            out,
            start: Instant::now(),
        })
    } else {
        Arc::new(output::Text {
            out,
            timestamps: args.debug >= 2,
        })
    })
}

/// What every send of this run shares.
struct Job<'a> {
    mailer: &'a Mailer,
    server: String,
    from: String,
    to: Vec<String>,
    options: Options,
    sandbox: Sandbox,
    /// Show progress of streamed messages (stderr is a terminal).
    progress: bool,
}

/// One send's label and outcome.
pub type Outcome = (String, Result<Receipt, SendError>);

impl Job<'_> {
    /// Each send in its own sandbox and connection.
    async fn each_in_a_fresh_sandbox(&self, message: Message, count: u64) -> Vec<Outcome> {
        let Body::Text(mut text) = message.body else {
            unreachable!("large files go through a session");
        };
        let mut results = Vec::new();
        for i in 0..count {
            // The last send takes the message itself: no copy of a big one.
            let text = if i + 1 == count {
                std::mem::take(&mut text)
            } else {
                text.clone()
            };
            let call = Call {
                server: self.server.clone(),
                from: self.from.clone(),
                to: self.to.clone(),
                message: text,
                options: self.options.clone(),
                sandbox: self.sandbox.clone(),
            };
            results.push((message.label.clone(), self.mailer.send(call).await));
        }
        results
    }

    /// Every send over one session.
    async fn over_one_connection(&self, messages: &[Message], count: u64) -> Vec<Outcome> {
        let mut session = match self
            .mailer
            .session(&self.server, self.options.clone(), self.sandbox.clone())
            .await
        {
            Ok(s) => s,
            // Nothing was sent: the session never opened.
            Err(e) => return vec![(String::new(), Err(e))],
        };
        let mut results = Vec::new();
        for _ in 0..count {
            for m in messages {
                let result = match &m.body {
                    Body::Text(text) => session.send(&self.from, &self.to, text).await,
                    Body::Generated { head, size } => {
                        let info = message::GeneratedBody::info(head, *size);
                        let body = message::GeneratedBody::new(head.clone(), *size);
                        session.send_stream(&self.from, &self.to, info, body).await
                    }
                    Body::File { path, info } => match std::fs::File::open(path) {
                        Ok(file) => {
                            let mut progress =
                                self.progress.then(|| output::Progress::new(info.size));
                            let mut show = |sent| {
                                if let Some(p) = &mut progress {
                                    p.sent(sent)
                                }
                            };
                            session
                                .send_stream_with_progress(
                                    &self.from, &self.to, *info, file, &mut show,
                                )
                                .await
                        }
                        Err(e) => Err(SendError::Smtp(smtp_host::SmtpError::InvalidInput(
                            format!("cannot read message file {path:?}: {e}"),
                        ))),
                    },
                };
                results.push((m.label.clone(), result));
            }
        }
        // The messages' results stand whatever QUIT does.
        let _ = session.quit().await;
        results
    }
}
