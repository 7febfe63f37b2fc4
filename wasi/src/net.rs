//! TCP through `wasi:sockets`, with every wait bounded by a deadline on the
//! monotonic clock (`wasi:io/poll` over the stream and a timer).

use std::cell::RefCell;
use std::net::IpAddr;
use std::time::Duration;

use smtp_proto::server::{Host, ServerAddress};
use smtp_proto::{Error, Stage, TlsFailure};

#[cfg(feature = "tls")]
use crate::tls::{ClientConnection, ClientHandshake};
use wasip2::clocks::monotonic_clock;
use wasip2::io::poll::{poll, Pollable};
use wasip2::io::streams::{InputStream, OutputStream, StreamError};
use wasip2::sockets::instance_network::instance_network;
use wasip2::sockets::ip_name_lookup::resolve_addresses;
use wasip2::sockets::network::{
    ErrorCode, IpAddress, IpAddressFamily, IpSocketAddress, Ipv4SocketAddress, Ipv6SocketAddress,
    Network,
};
use wasip2::sockets::tcp::TcpSocket;
use wasip2::sockets::tcp_create_socket::create_tcp_socket;

/// Bytes asked of each read. The host zeroes a buffer of this size for
/// every read, so it is sized for replies (a long EHLO reply is a few
/// hundred bytes), not for bulk data.
const READ_SIZE: u64 = 4096;

/// Writes up to this size go out in one blocking call (the WASI limit for
/// `blocking-write-and-flush`).
const SMALL_WRITE: usize = 4096;

/// A monotonic-clock instant in nanoseconds.
pub type Instant = u64;

pub fn deadline_after(d: Duration) -> Instant {
    monotonic_clock::now().saturating_add(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// A stream pair and the pollables that say they are ready, made once per
/// stream (each wait would otherwise cost two more host calls). Field
/// order is drop order: pollables before their streams.
struct Streams {
    input_ready: Pollable,
    output_ready: Pollable,
    input: InputStream,
    output: OutputStream,
}

impl Streams {
    fn new(input: InputStream, output: OutputStream) -> Self {
        Streams {
            input_ready: input.subscribe(),
            output_ready: output.subscribe(),
            input,
            output,
        }
    }
}

/// An open connection, plain or TLS. Field order is drop order: the
/// streams are children of the TLS connection, which is a child of the
/// socket's streams, which are children of the socket.
pub struct Connection {
    timer: RefCell<Option<(Instant, Pollable)>>,
    io: Option<Streams>,
    #[cfg(feature = "tls")]
    _tls: Option<ClientConnection>,
    _socket: TcpSocket,
}

/// What a read or write ran into.
pub enum NetError {
    Timeout,
    Closed,
    Failed(String),
}

impl Connection {
    fn new(input: InputStream, output: OutputStream, socket: TcpSocket) -> Self {
        Connection {
            timer: RefCell::new(None),
            io: Some(Streams::new(input, output)),
            #[cfg(feature = "tls")]
            _tls: None,
            _socket: socket,
        }
    }

    /// Waits until `p` is ready; false if `deadline` came first.
    ///
    /// Every host call counts when a message costs a few dozen of them, so
    /// one timer serves many waits: it is kept while it would not fire
    /// after the deadline, and when it fires early (a later deadline than
    /// the one it was made for), the clock decides.
    fn wait(&self, p: &Pollable, deadline: Instant) -> bool {
        let mut timer = self.timer.borrow_mut();
        loop {
            if timer.as_ref().is_none_or(|(at, _)| *at > deadline) {
                *timer = Some((deadline, monotonic_clock::subscribe_instant(deadline)));
            }
            let Some((_, t)) = timer.as_ref() else {
                return false;
            };
            if poll(&[p, t]).contains(&0) {
                return true;
            }
            if monotonic_clock::now() >= deadline {
                return false;
            }
            *timer = None;
        }
    }

    /// Reads what is there, waiting until `deadline` for something. With
    /// `expect_wait` (a command was just written: its reply cannot be there
    /// yet) it waits first rather than try a read that would come back empty.
    pub fn read(&self, deadline: Instant, expect_wait: bool) -> Result<Vec<u8>, NetError> {
        let Some(io) = &self.io else {
            return Err(NetError::Closed);
        };
        if expect_wait && !self.wait(&io.input_ready, deadline) {
            return Err(NetError::Timeout);
        }
        loop {
            match io.input.read(READ_SIZE) {
                Ok(bytes) if !bytes.is_empty() => return Ok(bytes),
                Ok(_) => {
                    if !self.wait(&io.input_ready, deadline) {
                        return Err(NetError::Timeout);
                    }
                }
                Err(e) => return Err(stream_error(e)),
            }
        }
    }

    /// Writes as much of `data` as the stream takes at once (all of it, for
    /// anything but a large message), waiting up to `timeout` for room. The
    /// host sends what is written without an explicit flush.
    pub fn write(&self, data: &[u8], timeout: Duration) -> Result<usize, NetError> {
        let Some(io) = &self.io else {
            return Err(NetError::Closed);
        };
        // A command is small and the server has just answered the last one:
        // one call writes and flushes it. (Its wait, should the server stop
        // reading, is bounded by the host's deadline.)
        if data.len() <= SMALL_WRITE {
            io.output
                .blocking_write_and_flush(data)
                .map_err(stream_error)?;
            return Ok(data.len());
        }
        let mut deadline = None;
        loop {
            match io.output.check_write() {
                Ok(0) => {
                    let at = *deadline.get_or_insert_with(|| deadline_after(timeout));
                    if !self.wait(&io.output_ready, at) {
                        return Err(NetError::Timeout);
                    }
                }
                Ok(room) => {
                    let n = data.len().min(usize::try_from(room).unwrap_or(usize::MAX));
                    io.output.write(&data[..n]).map_err(stream_error)?;
                    return Ok(n);
                }
                Err(e) => return Err(stream_error(e)),
            }
        }
    }

    /// Without wasi:tls (the command component for stock runtimes).
    #[cfg(not(feature = "tls"))]
    pub fn start_tls(&mut self, _: &str, _: Instant) -> Result<(), (TlsFailure, String)> {
        Err((
            TlsFailure::Handshake,
            "this build of the component has no TLS (wasi:tls): use the native smtp-send".into(),
        ))
    }

    /// Runs the TLS handshake over the connection (through the host's
    /// `wasi:tls`, which also verifies the certificate against `server_name`)
    /// and carries on over the encrypted streams.
    #[cfg(feature = "tls")]
    pub fn start_tls(
        &mut self,
        server_name: &str,
        deadline: Instant,
    ) -> Result<(), (TlsFailure, String)> {
        let Some(io) = self.io.take() else {
            return Err((TlsFailure::Handshake, "the connection is closed".into()));
        };
        let Streams {
            input_ready,
            output_ready,
            input,
            output,
        } = io;
        drop((input_ready, output_ready));
        let handshake = ClientHandshake::new(server_name, input, output);
        let future = ClientHandshake::finish(handshake);
        let ready = future.subscribe();
        let result = loop {
            if let Some(result) = future.get() {
                break result;
            }
            if !self.wait(&ready, deadline) {
                return Err((
                    TlsFailure::Handshake,
                    "the TLS handshake took too long".into(),
                ));
            }
        };
        drop(ready);
        match result {
            Ok(Ok((tls, input, output))) => {
                self.io = Some(Streams::new(input, output));
                self._tls = Some(tls);
                Ok(())
            }
            Ok(Err(e)) => Err(classify_tls_error(&e.to_debug_string())),
            Err(()) => Err((
                TlsFailure::Handshake,
                "the TLS handshake result was lost".into(),
            )),
        }
    }
}

/// The host reports certificate problems in words that name the
/// certificate; anything else is a failed handshake.
#[cfg(feature = "tls")]
fn classify_tls_error(message: &str) -> (TlsFailure, String) {
    let line = first_line(message);
    let failure = if line.to_ascii_lowercase().contains("certificate") {
        TlsFailure::Certificate
    } else {
        TlsFailure::Handshake
    };
    (failure, line)
}

fn stream_error(e: StreamError) -> NetError {
    match e {
        StreamError::Closed => NetError::Closed,
        StreamError::LastOperationFailed(err) => {
            NetError::Failed(first_line(&err.to_debug_string()))
        }
    }
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or("").to_owned()
}

/// Resolves the server (through the host, which only answers for granted
/// names) and connects to the first address that answers.
pub fn connect(
    server: &ServerAddress,
    timeout: Duration,
    info: &mut dyn FnMut(String),
) -> Result<Connection, Error> {
    let network = instance_network();
    let port = server.port;
    info(format!("connect: ('{}', {port})", server.host));
    let deadline = deadline_after(timeout);
    let addresses = match &server.host {
        Host::Ip(ip) => vec![*ip],
        Host::Name(name) => resolve(&network, name, deadline)?,
    };
    if addresses.is_empty() {
        return Err(Error::AddressError(format!(
            "{} has no address",
            server.host
        )));
    }
    let mut last = None;
    for ip in addresses {
        let shown = format!("('{ip}', {port})");
        match connect_one(&network, ip, port, deadline_after(timeout)) {
            Ok(conn) => {
                info(format!("connect: to {shown}"));
                return Ok(conn);
            }
            Err(e) => {
                info(format!("connect: to {shown} failed: {e}"));
                // A refusal by policy explains more than a later failure.
                if !matches!(last, Some(Error::Denied(_))) {
                    last = Some(e);
                }
            }
        }
    }
    Err(last.unwrap_or_else(|| Error::AddressError("no address to connect to".into())))
}

fn resolve(network: &Network, name: &str, deadline: Instant) -> Result<Vec<IpAddr>, Error> {
    let lookup_error = |code: ErrorCode| match code {
        ErrorCode::AccessDenied => {
            Error::Denied(format!("the host does not allow looking up {name:?}"))
        }
        ErrorCode::InvalidArgument => {
            Error::AddressError(format!("{name:?} is not a valid host name"))
        }
        ErrorCode::NameUnresolvable => {
            Error::LookupFailed(format!("{name}: name does not resolve"))
        }
        ErrorCode::TemporaryResolverFailure => {
            Error::LookupFailed(format!("{name}: temporary failure in name resolution"))
        }
        other => Error::LookupFailed(format!("{name}: {}", other.message())),
    };
    let stream = resolve_addresses(network, name).map_err(lookup_error)?;
    let mut out = Vec::new();
    loop {
        match stream.resolve_next_address() {
            Ok(Some(addr)) => out.push(from_wasi(addr)),
            Ok(None) => return Ok(out),
            Err(ErrorCode::WouldBlock) => {
                if !wait(&stream.subscribe(), deadline) {
                    return Err(Error::Timeout {
                        stage: Stage::Connect,
                        detail: format!("looking up {name} took too long"),
                    });
                }
            }
            Err(code) => return Err(lookup_error(code)),
        }
    }
}

fn connect_one(
    network: &Network,
    ip: IpAddr,
    port: u16,
    deadline: Instant,
) -> Result<Connection, Error> {
    let peer = match ip {
        IpAddr::V4(_) => format!("{ip}:{port}"),
        IpAddr::V6(_) => format!("[{ip}]:{port}"),
    };
    let fail = |code: ErrorCode| match code {
        ErrorCode::AccessDenied => Error::Denied(format!(
            "the host's network policy does not allow connecting to {peer}"
        )),
        ErrorCode::Timeout => Error::Timeout {
            stage: Stage::Connect,
            detail: format!("connecting to {peer} took too long"),
        },
        ErrorCode::ConnectionRefused => Error::Io {
            stage: Stage::Connect,
            detail: format!("connection to {peer} refused"),
        },
        other => Error::Io {
            stage: Stage::Connect,
            detail: format!("connecting to {peer}: {}", other.message()),
        },
    };
    let (family, addr) = match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, d] = v4.octets();
            (
                IpAddressFamily::Ipv4,
                IpSocketAddress::Ipv4(Ipv4SocketAddress {
                    port,
                    address: (a, b, c, d),
                }),
            )
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            (
                IpAddressFamily::Ipv6,
                IpSocketAddress::Ipv6(Ipv6SocketAddress {
                    port,
                    flow_info: 0,
                    address: (s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]),
                    scope_id: 0,
                }),
            )
        }
    };
    let socket = create_tcp_socket(family).map_err(fail)?;
    socket.start_connect(network, addr).map_err(fail)?;
    let (input, output) = {
        let ready = socket.subscribe();
        loop {
            match socket.finish_connect() {
                Ok(streams) => break streams,
                Err(ErrorCode::WouldBlock) => {
                    if !wait(&ready, deadline) {
                        return Err(fail(ErrorCode::Timeout));
                    }
                }
                Err(code) => return Err(fail(code)),
            }
        }
    };
    Ok(Connection::new(input, output, socket))
}

/// Waits until `p` is ready; false if `deadline` came first (for the few
/// waits before a connection exists).
fn wait(p: &Pollable, deadline: Instant) -> bool {
    let timer = monotonic_clock::subscribe_instant(deadline);
    poll(&[p, &timer]).contains(&0)
}

fn from_wasi(addr: IpAddress) -> IpAddr {
    match addr {
        IpAddress::Ipv4((a, b, c, d)) => IpAddr::from([a, b, c, d]),
        IpAddress::Ipv6((a, b, c, d, e, f, g, h)) => IpAddr::from([a, b, c, d, e, f, g, h]),
    }
}
