//! A hostile guest (tests/fixtures/hostile-guest, built by `make unit`)
//! against the sandbox: every escape is refused, every runaway stopped, and
//! the host never panics.

use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use smtp_host::{Call, Grant, Mailer, SendError, SmtpError};

fn fixture() -> Vec<u8> {
    let path = std::env::var_os("SMTP_HOSTILE_WASM")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let target = std::env::var_os("CARGO_TARGET_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
            target.join("wasm32-wasip2/release/hostile_guest.wasm")
        });
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}: build it with `cargo build --release -p hostile-guest --target wasm32-wasip2`",
            path.display()
        )
    })
}

struct Sandbox {
    mailer: Mailer,
    rt: tokio::runtime::Runtime,
    /// A live listener: the granted server.
    granted: TcpListener,
    /// Another live listener the guest must not reach.
    other: TcpListener,
}

impl Sandbox {
    fn new() -> Self {
        Sandbox {
            mailer: Mailer::with_component(&fixture(), None).unwrap(),
            rt: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap(),
            granted: TcpListener::bind("127.0.0.1:0").unwrap(),
            other: TcpListener::bind("127.0.0.1:0").unwrap(),
        }
    }

    fn granted_port(&self) -> u16 {
        self.granted.local_addr().unwrap().port()
    }

    fn call(&self, act: &str) -> Call {
        let mut call = Call::new("localhost", "a@b", &["c@d".into()], act.into());
        call.sandbox.grant = Arc::new(
            Grant::none()
                .allow(&format!("tcp://localhost:{}", self.granted_port()))
                .unwrap(),
        );
        call.sandbox.deadline = Duration::from_secs(2);
        call.sandbox.memory_limit = 32 << 20;
        call
    }

    fn run(&self, act: &str) -> Result<(), SendError> {
        self.run_call(self.call(act))
    }

    fn run_call(&self, call: Call) -> Result<(), SendError> {
        self.rt.block_on(self.mailer.send_plain(call))
    }
}

fn denied(r: Result<(), SendError>) -> bool {
    matches!(r, Err(SendError::Smtp(SmtpError::Denied(_))))
}

#[test]
fn the_granted_server_is_reachable() {
    let s = Sandbox::new();
    // The control experiment: what the other tests refuse works when granted.
    s.run(&format!("connect 127.0.0.1:{}", s.granted_port()))
        .unwrap();
    s.run("resolve localhost").unwrap();
}

#[test]
fn other_ports_and_addresses_are_denied() {
    let s = Sandbox::new();
    let other = s.other.local_addr().unwrap().port();
    let granted = s.granted_port();
    for target in [
        format!("127.0.0.1:{other}"),
        format!("127.0.0.2:{granted}"),
        format!("[::1]:{granted}"),
    ] {
        let r = s.run(&format!("connect {target}"));
        let shown = format!("{r:?}");
        assert!(denied(r), "connect {target}: {shown}");
    }
}

#[test]
fn no_lookups_but_the_granted_name() {
    let s = Sandbox::new();
    for name in [
        "example.com",
        "secret-data.attacker.example",
        "127.0.0.1",
        "LOCALHOST.evil",
    ] {
        let r = s.run(&format!("resolve {name}"));
        let shown = format!("{r:?}");
        assert!(denied(r), "resolve {name}: {shown}");
    }
}

#[test]
fn no_binding_listening_or_udp() {
    let s = Sandbox::new();
    for act in [
        "bind 127.0.0.1:0",
        "bind 0.0.0.0:2525",
        "listen",
        "udp 127.0.0.1:0",
    ] {
        let r = s.run(act);
        let shown = format!("{r:?}");
        assert!(denied(r), "{act}: {shown}");
    }
}

#[test]
fn runaway_guests_are_stopped() {
    let s = Sandbox::new();
    let started = Instant::now();
    match s.run("loop") {
        Err(e @ SendError::Deadline(_)) => assert_eq!(e.exit_status(), 75),
        other => panic!("loop: {other:?}"),
    }
    match s.run("sleep") {
        Err(SendError::Deadline(_)) => {}
        other => panic!("sleep: {other:?}"),
    }
    // Both within a few deadlines, not forever.
    assert!(started.elapsed() < Duration::from_secs(30));

    match s.run("alloc") {
        Err(e @ SendError::MemoryLimit(_)) => {
            assert_eq!(e.exit_status(), 70);
            assert!(
                e.to_string().contains("memory limit of 33554432 bytes"),
                "{e}"
            );
        }
        other => panic!("alloc: {other:?}"),
    }
    match s.run("panic") {
        Err(e @ SendError::Trap(_)) => {
            assert_eq!(e.exit_status(), 70);
            assert_eq!(e.report_lines()[0].split(':').next(), Some("trap"));
        }
        other => panic!("panic: {other:?}"),
    }
}

#[test]
fn odd_transcript_lines_do_not_hurt_the_host() {
    let s = Sandbox::new();
    let seen = Arc::new(std::sync::Mutex::new(0usize));
    let count = seen.clone();
    let mut call = s.call("flood");
    call.sandbox.transcript = Arc::new(move |_: smtp_host::Direction, line: &[u8]| {
        *count.lock().unwrap() += line.len();
    });
    match s.run_call(call) {
        Err(SendError::Smtp(SmtpError::InvalidInput(_))) => {}
        other => panic!("{other:?}"),
    }
    assert!(*seen.lock().unwrap() > 8 << 20);
}
