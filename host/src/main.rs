//! `smtp-send`: the seed program (smtplib with `set_debuglevel(1)` and its
//! error handling), with the SMTP client sandboxed in a component.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;
use smtp_host::transcript::{Silent, Stderr};
use smtp_host::{Call, Grant, Mailer, Options};
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
    let server = match ServerAddress::parse(&args.server, args.port) {
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
