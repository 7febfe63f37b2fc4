//! `smtp-send`: the seed program (smtplib with `set_debuglevel(1)` and its
//! error handling), with the SMTP client sandboxed in a component.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;
use smtp_host::transcript::{Silent, Stderr};
use smtp_host::{Call, Credentials, Grant, Mailer, Mechanism, Options, TlsMode, TlsTrust};
use smtp_proto::error::exit;
use smtp_proto::server::{ServerAddress, ServerError};

/// Send one message through an SMTP server and show the whole conversation.
///
/// The SMTP client runs as a WebAssembly component that may reach SERVER and
/// nothing else. The transcript goes to stderr in smtplib's debug format; the
/// result goes to stdout. Exit status follows sysexits.h: 0 sent, 64 usage,
/// 65 invalid input, 66 unreadable message file, 68 unknown host, 69 refused
/// by the server (5xx) or extension missing, 70 internal error, 74 I/O error
/// or disconnect, 75 timeout or temporary refusal (4xx), 76 malformed reply,
/// 77 denied by the sandbox's network policy.
#[derive(Parser, Debug)]
#[command(name = "smtp-send", version)]
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
    #[arg(long, value_name = "SECONDS", default_value = "60", value_parser = positive_seconds)]
    timeout: Duration,

    /// Seconds the whole send may take, whatever the server or the component does.
    #[arg(long, value_name = "SECONDS", default_value = "300", value_parser = positive_seconds)]
    deadline: Duration,

    /// Send this file as the message ('-' for stdin) instead of the default
    /// test message. It is sent as given (line endings become CRLF).
    #[arg(short, long, value_name = "FILE")]
    message: Option<PathBuf>,

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

fn positive_seconds(s: &str) -> Result<Duration, String> {
    let secs: f64 = s
        .parse()
        .map_err(|_| format!("{s:?} is not a number of seconds"))?;
    if !(secs > 0.0 && secs <= 86_400.0) {
        return Err("must be more than 0 and at most 86400".into());
    }
    Ok(Duration::from_secs_f64(secs))
}

fn main() -> ExitCode {
    let args = match Args::try_parse() {
        Ok(args) => args,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { exit::USAGE as u8 } else { 0 });
        }
    };
    let status = match run(args) {
        Ok(status) => status,
        Err(e) => failure(&[format!("trap: {e:#}")], exit::SOFTWARE),
    };
    ExitCode::from(u8::try_from(status).unwrap_or(1))
}

/// Prints the seed program's failure banner and the reasons; returns `status`.
fn failure(lines: &[String], status: i32) -> i32 {
    println!(" *** Your message may not have been sent!");
    for line in lines {
        println!("{line}");
    }
    status
}

fn run(args: Args) -> anyhow::Result<i32> {
    let message = match &args.message {
        None => default_message(&args.from, &args.to),
        Some(path) => match read_message(path) {
            Ok(m) => m,
            Err((line, status)) => return Ok(failure(&[line], status)),
        },
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
        Some(user) => match secret(args.password_file.as_deref()) {
            Ok(secret) => Some(Credentials {
                user: user.clone(),
                secret,
                mechanism: args.auth,
            }),
            Err((line, status)) => return Ok(failure(&[line], status)),
        },
    };
    let trust = if args.cafile.is_empty() {
        None
    } else {
        match TlsTrust::with_ca_files(&args.cafile) {
            Ok(t) => Some(Arc::new(t)),
            Err(e) => return Ok(failure(&[format!("invalid-input: {e}")], exit::NOINPUT)),
        }
    };
    let server = match ServerAddress::parse_with_default(&args.server, args.port, default_port) {
        Ok(s) => s,
        Err(e @ ServerError::Control(_)) => {
            return Ok(failure(&[format!("invalid-input: {e}")], exit::DATAERR))
        }
        Err(e @ ServerError::Malformed(..)) => {
            return Ok(failure(&[format!("address-error: {e}")], exit::NOHOST))
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
    if let Some(name) = args.ehlo {
        options.client_name = name;
    }
    let mut call = Call::new(&server.to_string(), &args.from, &args.to, message);
    call.grant = Arc::new(if args.grant.is_empty() {
        Grant::server(&server)
    } else {
        let mut grant = Grant::none();
        for spec in &args.grant {
            grant = grant.allow(spec)?;
        }
        grant
    });
    call.options = options;
    call.deadline = args.deadline;
    call.trust = trust;
    call.transcript = if args.quiet {
        Arc::new(Silent)
    } else {
        Arc::new(Stderr {
            timestamps: args.debug >= 2,
        })
    };

    let mailer = Mailer::new()
        .map_err(|e| anyhow::anyhow!("{e:?}"))
        .context("loading the SMTP component")?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    Ok(match runtime.block_on(mailer.send(call)) {
        Ok(receipt) => {
            println!(
                "Message successfully sent to {} recipient(s)",
                receipt.accepted.len()
            );
            for r in &receipt.refused {
                println!("Refused {}: {}", r.address, r.reply);
            }
            exit::OK
        }
        Err(e) => failure(&e.report_lines(), e.exit_status()),
    })
}

/// The password: from the file given, else from $SMTP_PASSWORD.
fn secret(file: Option<&Path>) -> Result<String, (String, i32)> {
    match file {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                (
                    format!("invalid-input: cannot read password file {path:?}: {e}"),
                    exit::NOINPUT,
                )
            })?;
            let text = text.strip_suffix('\n').unwrap_or(&text);
            Ok(text.strip_suffix('\r').unwrap_or(text).to_owned())
        }
        None => std::env::var("SMTP_PASSWORD").map_err(|_| {
            (
                "invalid-input: --user needs a password: set SMTP_PASSWORD or use --password-file"
                    .to_owned(),
                exit::USAGE,
            )
        }),
    }
}

/// The message file as a string: the component takes text.
fn read_message(path: &Path) -> Result<String, (String, i32)> {
    let bytes = if path == Path::new("-") {
        let mut buf = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut buf).map(|_| buf)
    } else {
        std::fs::read(path)
    }
    .map_err(|e| {
        (
            format!("invalid-input: cannot read message file {path:?}: {e}"),
            exit::NOINPUT,
        )
    })?;
    String::from_utf8(bytes).map_err(|e| {
        (
            format!(
                "invalid-input: message file {path:?} is not UTF-8 (bad byte at offset {})",
                e.utf8_error().valid_up_to()
            ),
            exit::DATAERR,
        )
    })
}

/// The seed program's test message. A long `To:` is folded (RFC 5322
/// §2.2.3) so no line passes 78 characters where an address allows.
fn default_message(from: &str, to: &[String]) -> String {
    format!(
        "{}\nFrom: {from}\nSubject: Test Message from smtp-send\n\n\
         This is a test message sent to you from the program.\n",
        fold_list("To", to)
    )
}

fn fold_list(name: &str, items: &[String]) -> String {
    let mut out = format!("{name}:");
    let mut line = out.len();
    for (i, item) in items.iter().enumerate() {
        let piece = if i + 1 < items.len() {
            format!("{item},")
        } else {
            item.clone()
        };
        if i > 0 && line + 1 + piece.len() > 78 {
            out.push_str("\n ");
            line = 1;
        } else {
            out.push(' ');
            line += 1;
        }
        out.push_str(&piece);
        line += piece.len();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_message_is_the_seeds() {
        let to = vec!["a@example.com".to_string(), "b@example.com".to_string()];
        assert_eq!(
            default_message("me@example.com", &to),
            "To: a@example.com, b@example.com\nFrom: me@example.com\n\
             Subject: Test Message from smtp-send\n\n\
             This is a test message sent to you from the program.\n"
        );
    }

    #[test]
    fn long_to_headers_are_folded() {
        let to: Vec<String> = (0..100).map(|i| format!("user{i}@example.com")).collect();
        let msg = default_message("me@example.com", &to);
        let header: Vec<&str> = msg
            .lines()
            .take_while(|l| !l.starts_with("From:"))
            .collect();
        assert!(header.len() > 20);
        assert!(header.iter().all(|l| l.len() <= 78), "{header:?}");
        assert!(header[1..].iter().all(|l| l.starts_with(' ')));
        let unfolded = header.join("");
        assert_eq!(unfolded, format!("To: {}", to.join(", ")));
    }
}
