//! The embeddable host: a [`Mailer`] built once, a fresh sandbox per call.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::component::{HasSelf, Linker, ResourceTable};
use wasmtime::{Engine, Store, StoreLimits, StoreLimitsBuilder, Trap, UpdateDeadline};
use wasmtime_wasi::sockets::SocketAddrUse;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::bindings::smtp_send::client::{host, types};
use crate::bindings::{SmtpClient, SmtpClientPre};
use crate::grant::Grant;
use crate::lookup::{self, GrantedLookup};
use crate::tls::{Provider, TlsTrust};
use crate::transcript::{Direction, Silent, Transcript};
use crate::{cache, SmtpError};
use smtp_proto::auth::Credentials;
pub use smtp_proto::client::TlsMode;
use wasmtime_wasi_tls::{WasiTlsCtx, WasiTlsCtxBuilder, WasiTlsCtxView, WasiTlsView};

/// The guest component, embedded at build time.
static GUEST_WASM: &[u8] = include_bytes!(env!("SMTP_GUEST_WASM_PATH"));

/// How often the engine's epoch advances: the granularity of deadlines.
const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Protocol settings for one call.
#[derive(Clone, Debug)]
pub struct Options {
    /// Sent with EHLO/HELO. Defaults to this machine's host name.
    pub client_name: String,
    /// Wait for each complete reply (and for the connect).
    pub reply_timeout: Duration,
    /// Message lines reported one by one in the transcript.
    pub message_lines_logged: u32,
    /// Use PIPELINING when offered.
    pub pipelining: bool,
    /// STARTTLS, implicit TLS, or none.
    pub tls: TlsMode,
    /// Log in before MAIL FROM (for this call only).
    pub credentials: Option<Credentials>,
    /// Send credentials even without TLS.
    pub allow_plaintext_auth: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            client_name: default_client_name(),
            reply_timeout: Duration::from_secs(60),
            message_lines_logged: 20,
            pipelining: true,
            tls: TlsMode::Off,
            credentials: None,
            allow_plaintext_auth: false,
        }
    }
}

/// This machine's host name, if it is usable in EHLO; else `localhost`.
pub fn default_client_name() -> String {
    let name = gethostname::gethostname().to_string_lossy().into_owned();
    match smtp_proto::address::check_client_name(&name) {
        Ok(()) => name,
        Err(_) => "localhost".into(),
    }
}

/// One send: the envelope, the message, and the sandbox it runs in.
pub struct Call {
    pub server: String,
    pub from: String,
    pub to: Vec<String>,
    pub message: String,
    /// The servers the guest may reach. Nothing by default.
    pub grant: Arc<Grant>,
    pub options: Options,
    /// The whole call, instantiation to QUIT; enforced even on a guest that
    /// never returns to the host (epoch interruption).
    pub deadline: Duration,
    /// The most linear memory the guest may have.
    pub memory_limit: usize,
    pub transcript: Arc<dyn Transcript>,
    /// The CAs TLS trusts; `None`: the system's roots.
    pub trust: Option<Arc<TlsTrust>>,
}

impl Call {
    pub fn new(server: &str, from: &str, to: &[String], message: String) -> Self {
        Call {
            server: server.to_owned(),
            from: from.to_owned(),
            to: to.to_vec(),
            memory_limit: 64 * 1024 * 1024 + 2 * message.len(),
            message,
            grant: Arc::new(Grant::none()),
            options: Options::default(),
            deadline: Duration::from_secs(300),
            transcript: Arc::new(Silent),
            trust: None,
        }
    }
}

/// A failed call: the component's own report, or the sandbox stopping it.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error(transparent)]
    Smtp(#[from] SmtpError),
    #[error("the send took longer than its deadline of {} s", .0.as_secs_f64())]
    Deadline(Duration),
    #[error("the component went over its memory limit of {0} bytes")]
    MemoryLimit(usize),
    #[error("the component failed: {0}")]
    Trap(String),
}

impl SendError {
    /// The WIT case name, or `deadline`/`trap` for the sandbox's own stops.
    pub fn case(&self) -> &'static str {
        match self {
            SendError::Smtp(e) => e.case(),
            SendError::Deadline(_) => "timeout",
            SendError::MemoryLimit(_) | SendError::Trap(_) => "trap",
        }
    }

    /// sysexits.h: the deadline is a timeout (75), a trap a software error (70).
    pub fn exit_status(&self) -> i32 {
        use smtp_proto::error::exit;
        match self {
            SendError::Smtp(e) => e.exit_status(),
            SendError::Deadline(_) => exit::TEMPFAIL,
            SendError::MemoryLimit(_) | SendError::Trap(_) => exit::SOFTWARE,
        }
    }

    /// `<case>: <detail>` lines for people.
    pub fn report_lines(&self) -> Vec<String> {
        match self {
            SendError::Smtp(e) => e.report_lines(),
            other => vec![format!("{}: {other}", other.case())],
        }
    }
}

/// Advances the engine's epoch while the mailer lives.
struct Ticker {
    stop: Arc<AtomicBool>,
}

impl Ticker {
    fn start(engine: Engine) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        std::thread::Builder::new()
            .name("smtp-epoch".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    engine.increment_epoch();
                }
            })
            .expect("spawn the epoch thread");
        Ticker { stop }
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Engine, precompiled component and linker, shared by every call.
pub struct Mailer {
    engine: Engine,
    pre: SmtpClientPre<State>,
    _ticker: Ticker,
}

/// What one call's store holds.
struct State {
    wasi: WasiCtx,
    tls: WasiTlsCtx,
    table: ResourceTable,
    limits: StoreLimits,
    grant: Arc<Grant>,
    transcript: Arc<dyn Transcript>,
    options: types::Options,
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiTlsView for State {
    fn tls(&mut self) -> WasiTlsCtxView<'_> {
        WasiTlsCtxView {
            ctx: &mut self.tls,
            table: &mut self.table,
        }
    }
}

impl types::Host for State {}

impl host::Host for State {
    fn log(&mut self, direction: host::Direction, line: Vec<u8>) {
        let direction = match direction {
            host::Direction::Send => Direction::Send,
            host::Direction::Reply => Direction::Reply,
            host::Direction::Info => Direction::Info,
        };
        self.transcript.line(direction, &line);
    }

    fn default_options(&mut self) -> types::Options {
        self.options.clone()
    }
}

impl Mailer {
    /// Builds the engine and loads the component, from the on-disk cache
    /// when it can ([`cache`]).
    pub fn new() -> wasmtime::Result<Self> {
        Self::with_cache_dir(cache::default_dir().as_deref())
    }

    /// As [`Mailer::new`], caching compiled code in `dir` (`None`: no cache).
    pub fn with_cache_dir(dir: Option<&std::path::Path>) -> wasmtime::Result<Self> {
        Self::with_component(GUEST_WASM, dir)
    }

    /// Runs another component of the `smtp-client` world (your own build of
    /// the guest, or a test fixture) under the same sandbox.
    pub fn with_component(wasm: &[u8], dir: Option<&std::path::Path>) -> wasmtime::Result<Self> {
        let mut config = wasmtime::Config::new();
        config.epoch_interruption(true);
        let engine = Engine::new(&config)?;
        let component = cache::load(&engine, wasm, dir)?;

        let mut linker = Linker::<State>::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        linker.allow_shadowing(true);
        lookup::add_to_linker(&mut linker, |s: &mut State| GrantedLookup {
            table: &mut s.table,
            grant: &s.grant,
        })?;
        linker.allow_shadowing(false);
        let mut tls = wasmtime_wasi_tls::p2::LinkOptions::default();
        tls.tls(true);
        wasmtime_wasi_tls::p2::add_to_linker(&mut linker, &tls)?;
        SmtpClient::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s)?;
        let pre = SmtpClientPre::new(linker.instantiate_pre(&component)?)?;
        Ok(Mailer {
            _ticker: Ticker::start(engine.clone()),
            engine,
            pre,
        })
    }

    /// Sends through the component's `send-with-options`, returning who was
    /// accepted and refused.
    pub async fn send(&self, call: Call) -> Result<smtp_proto::Receipt, SendError> {
        let (mut store, limit, deadline) = self.store(&call);
        let options = wit_options(&call.options);
        let run = async {
            let client = self.pre.instantiate_async(&mut store).await?;
            client
                .smtp_send_client_mailer()
                .call_send_with_options(
                    &mut store,
                    &call.server,
                    &call.from,
                    &call.to,
                    &call.message,
                    &options,
                )
                .await
        };
        match tokio::time::timeout(deadline, run).await {
            Err(_) => Err(SendError::Deadline(deadline)),
            Ok(Err(trap)) => Err(classify(trap, limit, deadline)),
            Ok(Ok(Ok(receipt))) => Ok(from_wit_receipt(receipt)),
            Ok(Ok(Err(e))) => Err(SendError::Smtp(from_wit_error(e))),
        }
    }

    /// Sends through the component's plain `send` (the smtplib-shaped call),
    /// which takes its options from the host.
    pub async fn send_plain(&self, call: Call) -> Result<(), SendError> {
        let (mut store, limit, deadline) = self.store(&call);
        let run = async {
            let client = self.pre.instantiate_async(&mut store).await?;
            client
                .smtp_send_client_mailer()
                .call_send(
                    &mut store,
                    &call.server,
                    &call.from,
                    &call.to,
                    &call.message,
                )
                .await
        };
        match tokio::time::timeout(deadline, run).await {
            Err(_) => Err(SendError::Deadline(deadline)),
            Ok(Err(trap)) => Err(classify(trap, limit, deadline)),
            Ok(Ok(Ok(()))) => Ok(()),
            Ok(Ok(Err(e))) => Err(SendError::Smtp(from_wit_error(e))),
        }
    }

    /// A fresh store: its own WASI context limited to the grant, memory cap
    /// and deadline.
    fn store(&self, call: &Call) -> (Store<State>, usize, Duration) {
        let grant = call.grant.clone();
        let mut wasi = WasiCtx::builder();
        wasi.allow_tcp(true)
            .allow_udp(false)
            .allow_ip_name_lookup(true)
            .socket_addr_check(move |addr, use_| {
                let grant = grant.clone();
                Box::pin(async move {
                    match use_ {
                        SocketAddrUse::TcpConnect => grant.allows_connect(addr).await,
                        // The implicit bind of a connect; explicit binds to a
                        // chosen address or port, and listening, are refused.
                        SocketAddrUse::TcpBind => addr.ip().is_unspecified() && addr.port() == 0,
                        _ => false,
                    }
                })
            });
        let provider = Provider {
            trust: call.trust.clone(),
            transcript: call.transcript.clone(),
        };
        let state = State {
            wasi: wasi.build(),
            tls: WasiTlsCtxBuilder::new()
                .provider(Box::new(provider))
                .build(),
            table: ResourceTable::new(),
            limits: StoreLimitsBuilder::new()
                .memory_size(call.memory_limit)
                .trap_on_grow_failure(true)
                .build(),
            grant: call.grant.clone(),
            transcript: call.transcript.clone(),
            options: wit_options(&call.options),
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limits);
        let deadline = call.deadline;
        let ends = Instant::now() + deadline;
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |_| {
            if Instant::now() >= ends {
                Ok(UpdateDeadline::Interrupt)
            } else {
                // Let other calls on this thread run, and the timeout fire.
                Ok(UpdateDeadline::Yield(1))
            }
        });
        (store, call.memory_limit, deadline)
    }
}

fn classify(trap: wasmtime::Error, limit: usize, deadline: Duration) -> SendError {
    if trap.downcast_ref::<Trap>() == Some(&Trap::Interrupt) {
        return SendError::Deadline(deadline);
    }
    let chain = format!("{trap:?}");
    if chain.contains("forcing trap when growing memory") {
        return SendError::MemoryLimit(limit);
    }
    let what = match trap.downcast_ref::<Trap>() {
        Some(t) => t.to_string(),
        None => trap.to_string(),
    };
    SendError::Trap(what.lines().next().unwrap_or("").to_owned())
}

fn wit_options(o: &Options) -> types::Options {
    types::Options {
        client_name: o.client_name.clone(),
        reply_timeout_ms: u32::try_from(o.reply_timeout.as_millis()).unwrap_or(u32::MAX),
        message_lines_logged: o.message_lines_logged,
        pipelining: o.pipelining,
        tls: match o.tls {
            TlsMode::Off => types::TlsMode::Off,
            TlsMode::StartTls => types::TlsMode::Starttls,
            TlsMode::StartTlsIfOffered => types::TlsMode::StarttlsIfOffered,
            TlsMode::Implicit => types::TlsMode::Implicit,
        },
        credentials: o.credentials.as_ref().map(|c| types::Credentials {
            user: c.user.clone(),
            secret: c.secret.clone(),
            mechanism: c.mechanism.map(|m| m.name().to_owned()),
        }),
        allow_plaintext_auth: o.allow_plaintext_auth,
    }
}

fn from_wit_reply(r: types::Reply) -> smtp_proto::Reply {
    smtp_proto::Reply {
        code: r.code,
        lines: r.text.split('\n').map(str::to_owned).collect(),
    }
}

fn from_wit_refusal(r: types::Refusal) -> smtp_proto::Refusal {
    smtp_proto::Refusal {
        address: r.address,
        reply: from_wit_reply(r.reply),
    }
}

fn from_wit_receipt(r: types::Receipt) -> smtp_proto::Receipt {
    smtp_proto::Receipt {
        accepted: r.accepted,
        refused: r.refused.into_iter().map(from_wit_refusal).collect(),
        reply: from_wit_reply(r.reply),
    }
}

fn from_wit_stage(s: types::Stage) -> smtp_proto::Stage {
    use smtp_proto::Stage as S;
    match s {
        types::Stage::Connect => S::Connect,
        types::Stage::Greeting => S::Greeting,
        types::Stage::Ehlo => S::Ehlo,
        types::Stage::Helo => S::Helo,
        types::Stage::Starttls => S::StartTls,
        types::Stage::Auth => S::Auth,
        types::Stage::MailFrom => S::MailFrom,
        types::Stage::RcptTo => S::RcptTo,
        types::Stage::Data => S::Data,
        types::Stage::Message => S::Message,
        types::Stage::EndOfData => S::EndOfData,
        types::Stage::Rset => S::Rset,
        types::Stage::Quit => S::Quit,
    }
}

fn from_wit_error(e: types::SmtpError) -> SmtpError {
    use types::SmtpError as W;
    match e {
        W::LookupFailed(d) => SmtpError::LookupFailed(d),
        W::AddressError(d) => SmtpError::AddressError(d),
        W::IoError(f) => SmtpError::Io {
            stage: from_wit_stage(f.stage),
            detail: f.detail,
        },
        W::Timeout(f) => SmtpError::Timeout {
            stage: from_wit_stage(f.stage),
            detail: f.detail,
        },
        W::ServerDisconnected(f) => SmtpError::ServerDisconnected {
            stage: from_wit_stage(f.stage),
            detail: f.detail,
        },
        W::MalformedReply(f) => SmtpError::MalformedReply {
            stage: from_wit_stage(f.stage),
            detail: f.detail,
        },
        W::ConnectRefused(r) => SmtpError::ConnectRefused(from_wit_reply(r)),
        W::HeloRefused(r) => SmtpError::HeloRefused(from_wit_reply(r)),
        W::SenderRefused(r) => SmtpError::SenderRefused(from_wit_refusal(r)),
        W::RecipientsRefused(list) => {
            SmtpError::RecipientsRefused(list.into_iter().map(from_wit_refusal).collect())
        }
        W::DataRefused(d) => SmtpError::DataRefused {
            stage: from_wit_stage(d.stage),
            reply: from_wit_reply(d.reply),
        },
        W::NotSupported(d) => SmtpError::NotSupported(d),
        W::InvalidInput(d) => SmtpError::InvalidInput(d),
        W::TlsError(p) => SmtpError::TlsError {
            failure: match p.failure {
                types::TlsFailure::Certificate => smtp_proto::TlsFailure::Certificate,
                types::TlsFailure::Handshake => smtp_proto::TlsFailure::Handshake,
                types::TlsFailure::Protocol => smtp_proto::TlsFailure::Protocol,
                types::TlsFailure::Refused => smtp_proto::TlsFailure::Refused,
            },
            detail: p.detail,
            reply: p.reply.map(from_wit_reply),
        },
        W::AuthFailed(p) => SmtpError::AuthFailed {
            detail: p.detail,
            reply: p.reply.map(from_wit_reply),
        },
        W::Denied(d) => SmtpError::Denied(d),
    }
}
