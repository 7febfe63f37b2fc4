//! The embeddable host: a [`Mailer`] built once, a fresh sandbox per call.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use wasmtime::component::{ComponentExportIndex, HasSelf, Linker, ResourceTable, TypedFunc};
use wasmtime::{Engine, Store, StoreLimits, StoreLimitsBuilder, Trap, UpdateDeadline};
use wasmtime_wasi::sockets::SocketAddrUse;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::bindings::smtp_send::client::{host, types};
use crate::bindings::{SmtpClient, SmtpClientPre};
use crate::convert;
use crate::grant::Grant;
use crate::lookup::{self, GrantedLookup};
use crate::session::Session;
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

/// The sandbox one call or session runs in.
#[derive(Clone)]
pub struct Sandbox {
    /// The servers the guest may reach. Nothing by default.
    pub grant: Arc<Grant>,
    /// Each call (one send, or one step of a session), instantiation to
    /// reply; enforced even on a guest that never returns to the host
    /// (epoch interruption).
    pub deadline: Duration,
    /// The most linear memory the guest may have.
    pub memory_limit: usize,
    /// Where the transcript goes.
    pub transcript: Arc<dyn Transcript>,
    /// The CAs TLS trusts; `None`: the system's roots.
    pub trust: Option<Arc<TlsTrust>>,
}

impl Default for Sandbox {
    fn default() -> Self {
        Sandbox {
            grant: Arc::new(Grant::none()),
            deadline: Duration::from_secs(300),
            memory_limit: 64 * 1024 * 1024,
            transcript: Arc::new(Silent),
            trust: None,
        }
    }
}

/// One send: the envelope, the message, and the sandbox it runs in.
pub struct Call {
    pub server: String,
    pub from: String,
    pub to: Vec<String>,
    pub message: String,
    pub options: Options,
    pub sandbox: Sandbox,
}

impl Call {
    /// A call with default options and a sandbox that grants nothing yet,
    /// with room in memory for this message.
    pub fn new(server: &str, from: &str, to: &[String], message: String) -> Self {
        let mut sandbox = Sandbox::default();
        sandbox.memory_limit += 2 * message.len();
        Call {
            server: server.to_owned(),
            from: from.to_owned(),
            to: to.to_vec(),
            message,
            options: Options::default(),
            sandbox,
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
    /// `send-with-options`, looked up once: the per-call path skips the
    /// bindings' check of every export's type at each instantiation.
    send_with_options: ComponentExportIndex,
    _ticker: Ticker,
}

/// What one call's store holds.
pub(crate) struct State {
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

/// How to build a [`Mailer`].
pub struct MailerBuilder<'a> {
    component: &'a [u8],
    cache_dir: Option<std::path::PathBuf>,
    concurrency: u32,
}

impl<'a> MailerBuilder<'a> {
    /// Runs another component of the `smtp-client` world (your own build of
    /// the guest, or a test fixture) under the same sandbox.
    pub fn component(mut self, wasm: &'a [u8]) -> Self {
        self.component = wasm;
        self
    }

    /// Where compiled code is cached (`None`: compile at every start).
    pub fn cache_dir(mut self, dir: Option<std::path::PathBuf>) -> Self {
        self.cache_dir = dir;
        self
    }

    /// How many sandboxes may be alive at once. Their memory is reserved up
    /// front and reused (wasmtime's pooling allocator): a new sandbox then
    /// costs no mmap, munmap or page fault. 0: allocate each on demand.
    pub fn concurrency(mut self, n: u32) -> Self {
        self.concurrency = n;
        self
    }

    pub fn build(self) -> wasmtime::Result<Mailer> {
        let mut config = wasmtime::Config::new();
        config.epoch_interruption(true);
        let engine = if self.concurrency > 0 {
            config.allocation_strategy(pooling(self.concurrency));
            // The pool reserves address space up front; where that is not
            // allowed (ulimit -v, valgrind), allocate on demand instead.
            Engine::new(&config).or_else(|_| {
                config.allocation_strategy(wasmtime::InstanceAllocationStrategy::OnDemand);
                Engine::new(&config)
            })?
        } else {
            Engine::new(&config)?
        };
        let component = cache::load(&engine, self.component, self.cache_dir.as_deref())?;

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
        // The bindings check every export's type here, once.
        let pre = SmtpClientPre::new(linker.instantiate_pre(&component)?)?;
        let interface = component
            .get_export_index(None, "smtp-send:client/mailer@0.1.0")
            .ok_or_else(|| wasmtime::format_err!("the component exports no mailer"))?;
        let send_with_options = component
            .get_export_index(Some(&interface), "send-with-options")
            .ok_or_else(|| wasmtime::format_err!("the component exports no send-with-options"))?;
        Ok(Mailer {
            _ticker: Ticker::start(engine.clone()),
            engine,
            pre,
            send_with_options,
        })
    }
}

/// Largest linear memory a pooled sandbox may grow to; [`Sandbox::memory_limit`]
/// caps each call below it. Only address space is reserved for it.
const POOL_MEMORY: usize = 1 << 30;

fn pooling(slots: u32) -> wasmtime::InstanceAllocationStrategy {
    let mut pool = wasmtime::PoolingAllocationConfig::default();
    // The component has a few core instances (the program and its shims),
    // one memory and a couple of tables.
    pool.total_component_instances(slots)
        .total_core_instances(slots * 8)
        .max_core_instances_per_component(8)
        .total_memories(slots)
        .max_memories_per_component(1)
        .total_tables(slots * 4)
        .max_tables_per_component(4)
        .total_stacks(slots)
        .max_memory_size(POOL_MEMORY)
        // Reused memory stays mapped: resetting it is a memset, not page
        // faults.
        .linear_memory_keep_resident(64 << 10)
        .table_keep_resident(64 << 10);
    wasmtime::InstanceAllocationStrategy::Pooling(pool)
}

impl Mailer {
    /// A mailer with the embedded component, the on-disk code cache
    /// ([`cache`]) and room for 16 sandboxes at once.
    pub fn new() -> wasmtime::Result<Self> {
        Self::builder().build()
    }

    pub fn builder() -> MailerBuilder<'static> {
        MailerBuilder {
            component: GUEST_WASM,
            cache_dir: cache::default_dir(),
            concurrency: 16,
        }
    }

    /// As [`Mailer::new`], caching compiled code in `dir` (`None`: no cache).
    pub fn with_cache_dir(dir: Option<&std::path::Path>) -> wasmtime::Result<Self> {
        Self::builder().cache_dir(dir.map(Into::into)).build()
    }

    /// Runs another component of the `smtp-client` world under the same sandbox.
    pub fn with_component(wasm: &[u8], dir: Option<&std::path::Path>) -> wasmtime::Result<Self> {
        Mailer::builder()
            .component(wasm)
            .cache_dir(dir.map(Into::into))
            .build()
    }

    /// Sends through the component's `send-with-options` in a fresh
    /// sandbox, returning who was accepted and refused.
    pub async fn send(&self, call: Call) -> Result<smtp_proto::Receipt, SendError> {
        let options = convert::options(&call.options, call.sandbox.transcript.wants_lines());
        let mut store = self.store(&call.sandbox, options.clone());
        let run = async {
            let instance = self
                .pre
                .instance_pre()
                .instantiate_async(&mut store.store)
                .await?;
            let func = instance
                .get_func(&mut store.store, self.send_with_options)
                .ok_or_else(|| wasmtime::format_err!("send-with-options is missing"))?;
            // SAFETY: SmtpClientPre::new checked this export's type against
            // these Rust types when the mailer was built.
            let send = unsafe {
                TypedFunc::<
                    (&str, &str, &[String], &str, &types::Options),
                    (Result<types::Receipt, types::SmtpError>,),
                >::new_unchecked(func)
            };
            let args = (
                call.server.as_str(),
                call.from.as_str(),
                call.to.as_slice(),
                call.message.as_str(),
                &options,
            );
            send.call_async(&mut store.store, args)
                .await
                .map(|(result,)| result)
        };
        let result = within(store.deadline, run).await;
        store.finish(result).map(convert::receipt)
    }

    /// Sends through the component's plain `send` (the smtplib-shaped
    /// call), which takes its options from the host.
    pub async fn send_plain(&self, call: Call) -> Result<(), SendError> {
        let mut store = self.store(
            &call.sandbox,
            convert::options(&call.options, call.sandbox.transcript.wants_lines()),
        );
        let run = async {
            let client = self.pre.instantiate_async(&mut store.store).await?;
            client
                .smtp_send_client_mailer()
                .call_send(
                    &mut store.store,
                    &call.server,
                    &call.from,
                    &call.to,
                    &call.message,
                )
                .await
        };
        let result = within(store.deadline, run).await;
        store.finish(result)
    }

    /// Opens a session: one connection (greeting, EHLO, TLS, AUTH once)
    /// for several messages, in one sandbox whose deadline applies to each
    /// step (opening, each message, quitting).
    pub async fn session(
        &self,
        server: &str,
        options: Options,
        sandbox: Sandbox,
    ) -> Result<Session, SendError> {
        let options = convert::options(&options, sandbox.transcript.wants_lines());
        let mut store = self.store(&sandbox, options.clone());
        let run = async {
            let client = self.pre.instantiate_async(&mut store.store).await?;
            let opened = client
                .smtp_send_client_mailer()
                .session()
                .call_open(&mut store.store, server, &options)
                .await?;
            Ok((client, opened))
        };
        let result = within(store.deadline, run).await;
        let (client, opened) = store.value(result)?;
        let handle = opened.map_err(|e| SendError::Smtp(convert::error(e)))?;
        Ok(Session::new(store, client, handle))
    }

    /// Builds a sandbox and instantiates the component in it, then drops
    /// both, calling nothing: the fixed cost of one call, for benchmarks.
    #[doc(hidden)]
    pub async fn instantiate_only(&self, sandbox: &Sandbox) -> Result<(), SendError> {
        let mut store = self.store(sandbox, convert::options(&Options::default(), false));
        let result = within(store.deadline, self.pre.instantiate_async(&mut store.store)).await;
        store.value(result).map(drop)
    }

    /// A fresh store: its own WASI context limited to the grant, memory cap
    /// and deadline.
    fn store(&self, sandbox: &Sandbox, options: types::Options) -> CallStore {
        let grant = sandbox.grant.clone();
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
            trust: sandbox.trust.clone(),
            transcript: sandbox.transcript.clone(),
        };
        let state = State {
            wasi: wasi.build(),
            tls: WasiTlsCtxBuilder::new()
                .provider(Box::new(provider))
                .build(),
            table: ResourceTable::new(),
            limits: StoreLimitsBuilder::new()
                .memory_size(sandbox.memory_limit)
                .trap_on_grow_failure(true)
                .build(),
            grant: sandbox.grant.clone(),
            transcript: sandbox.transcript.clone(),
            options,
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limits);
        let ends = Arc::new(Mutex::new(Instant::now() + sandbox.deadline));
        let watch = ends.clone();
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |_| {
            if Instant::now() >= *watch.lock().unwrap_or_else(|e| e.into_inner()) {
                Ok(UpdateDeadline::Interrupt)
            } else {
                // Let other calls on this thread run, and the timeout fire.
                Ok(UpdateDeadline::Yield(1))
            }
        });
        CallStore {
            store,
            ends,
            deadline: sandbox.deadline,
            limit: sandbox.memory_limit,
        }
    }
}

/// A store and the deadline watched for it.
pub(crate) struct CallStore {
    pub store: Store<State>,
    ends: Arc<Mutex<Instant>>,
    pub deadline: Duration,
    limit: usize,
}

/// A call into the guest, bounded by the deadline even while the guest
/// waits in the host (where epoch interruption cannot reach it).
pub(crate) type Within<T> = Result<wasmtime::Result<T>, tokio::time::error::Elapsed>;

pub(crate) async fn within<T>(
    deadline: Duration,
    call: impl std::future::Future<Output = wasmtime::Result<T>>,
) -> Within<T> {
    tokio::time::timeout(deadline, call).await
}

impl CallStore {
    /// Starts a new step on this store: the deadline counts from now.
    pub fn restart_deadline(&mut self) {
        *self.ends.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now() + self.deadline;
    }

    /// The guest's value, or why the sandbox stopped it.
    pub fn value<T>(&self, r: Within<T>) -> Result<T, SendError> {
        match r {
            Err(_) => Err(SendError::Deadline(self.deadline)),
            Ok(Err(trap)) => Err(classify(trap, self.limit, self.deadline)),
            Ok(Ok(v)) => Ok(v),
        }
    }

    /// As `value`, for a call that returns the component's own result.
    pub fn finish<T>(&self, r: Within<Result<T, types::SmtpError>>) -> Result<T, SendError> {
        self.value(r)?
            .map_err(|e| SendError::Smtp(convert::error(e)))
    }
}

/// What stopped the guest: the deadline, the memory cap, or a trap.
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
