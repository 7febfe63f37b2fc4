//! smtp-send as a command component: what the native `smtp-send` does, for
//! a user with nothing but a WASI runtime.
//!
//!     wasmtime run -S inherit-network -S allow-ip-name-lookup smtp-send.wasm \
//!         SERVER FROMADDR TOADDR [TOADDR...]
//!
//! The same protocol code (smtp-proto, smtp-wasi), the same transcript on
//! stderr, the same result lines and exit statuses. What needs a host of our
//! own is not here: the network policy (the runtime's flags grant the
//! network), TLS and AUTH (no wasi:tls in stock runtimes), the code cache.

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::Parser;
use smtp_proto::error::exit;
use smtp_proto::message::default_message;
use smtp_proto::report::{failure_lines, success_lines, BANNER};
use smtp_proto::server::ServerAddress;
use smtp_proto::transcript::{format_line, Direction};
use smtp_proto::{Config, Error, Event};
use smtp_wasi::driver::{send_one, Log};

/// Send one message through an SMTP server and show the whole conversation
/// (the command-component build of smtp-send).
///
/// The transcript goes to stderr in smtplib's debug format; the result goes
/// to stdout. Exit status follows sysexits.h, as for the native smtp-send.
#[derive(Parser, Debug)]
#[command(name = "smtp-send", version)]
struct Args {
    /// The server: host, host:port, [v6addr]:port or an IP literal (port 25 by default).
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
    /// Name to send with EHLO/HELO (a component cannot ask the machine's name).
    #[arg(long, value_name = "NAME", default_value = "localhost")]
    ehlo: String,
    /// Seconds to wait for each complete reply, and for the connect.
    #[arg(long, value_name = "SECONDS", default_value = "60", value_parser = smtp_proto::args::seconds)]
    timeout: Duration,
    /// Send this file as the message ('-' for stdin; the runtime must map its
    /// directory, e.g. wasmtime's --dir) instead of the default test message.
    #[arg(short, long, value_name = "FILE")]
    message: Option<PathBuf>,
    /// Transcript detail: 1 lines as sent and received, 2 also timestamps (UTC).
    #[arg(short, long, value_name = "LEVEL", default_value_t = 1,
          value_parser = clap::value_parser!(u8).range(1..=2))]
    debug: u8,
    /// No transcript (the result lines on stdout stay).
    #[arg(short, long)]
    quiet: bool,
    /// Never pipeline commands, even when the server offers PIPELINING.
    #[arg(long)]
    no_pipelining: bool,
}

fn main() {
    let status = match Args::try_parse() {
        Ok(args) => run(args),
        Err(e) => {
            let _ = e.print();
            if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            }
        }
    };
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    if status != 0 {
        // wasi:cli/exit's exit-with-code (0.2.12): std's exit would only
        // tell success from failure.
        wasip2::cli::exit::exit_with_code(u8::try_from(status).unwrap_or(1));
    }
}

/// A failure of our own before anything was sent: the banner and its line.
fn fail(line: &str, status: i32) -> i32 {
    println!("{BANNER}");
    println!("{line}");
    status
}

fn run(args: Args) -> i32 {
    let message = match &args.message {
        None => default_message(&args.from, &args.to),
        Some(path) => match read_message(path) {
            Ok(m) => m,
            Err((line, status)) => return fail(&line, status),
        },
    };
    let server = match ServerAddress::parse(&args.server, args.port) {
        Ok(s) => s,
        Err(e) => return report_failure(&e.into()),
    };
    let timestamps = args.debug >= 2;
    let log: Log = (!args.quiet).then(|| -> Box<dyn Fn(Event)> {
        Box::new(move |event| {
            let (direction, bytes) = match &event {
                Event::Send(l) => (Direction::Send, l.as_slice()),
                Event::Reply(l) => (Direction::Reply, l.as_slice()),
                Event::Info(t) => (Direction::Info, t.as_bytes()),
            };
            let mut line = if timestamps { now_utc() } else { String::new() };
            line.push_str(&format_line(direction, bytes));
            line.push('\n');
            let _ = std::io::stderr().write_all(line.as_bytes());
        })
    });
    let config = Config {
        client_name: args.ehlo,
        pipelining: !args.no_pipelining,
        transcript: !args.quiet,
        ..Config::default()
    };
    let envelope = (args.from.as_str(), args.to.as_slice());
    match send_one(&server, config, args.timeout, envelope, &message, log) {
        Ok(receipt) => {
            for line in success_lines(&receipt, "") {
                println!("{line}");
            }
            exit::OK
        }
        Err(e) => report_failure(&e),
    }
}

/// The banner and the error's lines on stdout; returns its exit status.
fn report_failure(e: &Error) -> i32 {
    let (lines, status) = failure_lines(e);
    for line in lines {
        println!("{line}");
    }
    status
}

fn read_message(path: &PathBuf) -> Result<String, (String, i32)> {
    let bytes = if path.as_os_str() == "-" {
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

/// `HH:MM:SS.ffffff ` in UTC: a component has no time zone.
fn now_utc() -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs() % 86_400;
    format!(
        "{:02}:{:02}:{:02}.{:06} ",
        secs / 3600,
        secs / 60 % 60,
        secs % 60,
        now.subsec_micros()
    )
}
