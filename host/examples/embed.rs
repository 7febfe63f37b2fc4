//! Embedding smtp-host: one sandboxed send, with a grant, a deadline, a
//! memory cap and a transcript callback.
//!
//!     cargo run --release --example embed -- 127.0.0.1:2525 you@example.com
use std::sync::Arc;

use smtp_host::{Call, Direction, Grant, Mailer, Sandbox};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (server, rcpt) = (args.next().ok_or("SERVER")?, args.next().ok_or("TOADDR")?);
    let mailer = Mailer::new().map_err(|e| format!("{e:?}"))?;
    let message = "Subject: hello\r\n\r\nHello from a sandbox.\r\n".to_string();
    let mut call = Call::new(&server, "app@example.com", &[rcpt], message);
    call.sandbox = Sandbox {
        // The only server this sandbox may reach (names are resolved by the host).
        grant: Arc::new(Grant::none().allow(&format!("tcp://{server}"))?),
        deadline: std::time::Duration::from_secs(30),
        memory_limit: 16 << 20,
        transcript: Arc::new(|dir: Direction, line: &[u8]| {
            eprintln!("{dir:?}: {}", String::from_utf8_lossy(line).trim_end())
        }),
        ..call.sandbox
    };
    match mailer.send(call).await {
        Ok(receipt) => println!(
            "accepted {:?}, refused {:?}",
            receipt.accepted, receipt.refused
        ),
        Err(e) => println!("{} (exit {})", e.report_lines().join("; "), e.exit_status()),
    }
    Ok(())
}
