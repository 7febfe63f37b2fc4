//! Runs the protocol state machine over a connection: the whole of the
//! guest's I/O policy is in [`Link::run`].

use std::time::Duration;

use smtp_proto::client::TlsMode;
use smtp_proto::data::MessageInfo;
use smtp_proto::server::{Host, ServerAddress};
use smtp_proto::{Client, Config, Error, Event, Receipt, Stage};

use crate::net::{self, deadline_after, Connection, Instant, NetError};

/// Where transcript events go (`None`: nobody shows them).
pub type Log = Option<Box<dyn Fn(Event)>>;

/// Message bytes handed to the encoder at a time: large enough that a big
/// message costs few host calls, small enough to keep memory flat.
const BODY_CHUNK: usize = 256 * 1024;

/// The end of a message in wire form that still goes through the client, so
/// that it leaves with the final dot in one write.
const DIRECT_TAIL: usize = 16 * 1024;

/// One message over a new connection, then QUIT. Every check on the input
/// comes before the first network call.
pub fn send_one(
    server: &ServerAddress,
    config: Config,
    timeout: Duration,
    envelope: (&str, &[String]),
    message: &str,
    log: Log,
) -> Result<Receipt, Error> {
    let (from, to) = envelope;
    let info = MessageInfo::scan(message.as_bytes())?;
    let tls = config.tls;
    let mut client = Client::new(config, from, to, info)?;
    let mut link = Link::connect(server, tls, timeout, log)?;
    link.run_with_body(&mut client, message.as_bytes(), info.wire_ready, |_| false);
    client.into_outcome().unwrap_or_else(|| {
        Err(Error::ServerDisconnected {
            stage: Stage::Quit,
            detail: "the connection ended without an outcome".into(),
        })
    })
}

/// A connection and what the loop needs to drive a client over it.
pub struct Link {
    conn: Connection,
    /// The name the certificate must carry: the host name as given, or the
    /// IP literal (checked against the certificate's IP addresses).
    server_name: String,
    timeout: Duration,
    epoch: u64,
    reply_deadline: Instant,
    /// Something was written since the last read.
    wrote: bool,
    log: Log,
}

impl Link {
    /// Resolves, connects and, for implicit TLS, does the handshake.
    pub fn connect(
        server: &ServerAddress,
        tls: TlsMode,
        timeout: Duration,
        log: Log,
    ) -> Result<Link, Error> {
        let mut conn = net::connect(server, timeout, &mut |line| {
            if let Some(log) = &log {
                log(Event::Info(line));
            }
        })?;
        let server_name = match &server.host {
            Host::Name(name) => name.clone(),
            Host::Ip(ip) => ip.to_string(),
        };
        if tls == TlsMode::Implicit {
            conn.start_tls(&server_name, deadline_after(timeout))
                .map_err(|(failure, detail)| Error::TlsError {
                    failure,
                    detail,
                    reply: None,
                })?;
        }
        Ok(Link {
            conn,
            server_name,
            timeout,
            epoch: 0,
            reply_deadline: 0,
            wrote: false,
            log,
        })
    }

    /// Writes, handshakes and reads for `client` until `until(client)`
    /// holds with nothing left to write, or the connection is closed.
    pub fn run(&mut self, client: &mut Client, until: impl Fn(&Client) -> bool) {
        loop {
            while let Some(event) = client.poll_event() {
                if let Some(log) = &self.log {
                    log(event);
                }
            }
            if client.is_closed() {
                return;
            }
            if !client.output().is_empty() {
                match self.conn.write(client.output(), self.timeout) {
                    Ok(n) => {
                        client.consume_output(n);
                        self.wrote = true;
                    }
                    Err(e) => self.report(client, e),
                }
                continue;
            }
            if until(client) {
                return;
            }
            if client.wants_tls() {
                match self
                    .conn
                    .start_tls(&self.server_name, deadline_after(self.timeout))
                {
                    Ok(()) => client.tls_established(),
                    Err((failure, detail)) => client.handle_tls_error(failure, detail),
                }
                continue;
            }
            if client.awaiting_reply() {
                // The timeout bounds each complete reply, not each read.
                if client.wait_epoch() != self.epoch {
                    self.epoch = client.wait_epoch();
                    self.reply_deadline = deadline_after(self.timeout);
                }
                // Fresh after a write, the reply cannot be there yet; left
                // over from a read, it may.
                let expect_wait = std::mem::take(&mut self.wrote) && client.input_buffered() == 0;
                match self.conn.read(self.reply_deadline, expect_wait) {
                    Ok(bytes) => client.feed(&bytes),
                    Err(e) => self.report(client, e),
                }
                continue;
            }
            // Idle: waiting for the caller (the next message, more body).
            return;
        }
    }

    /// As [`Link::run`], pushing `message` whenever the client wants body.
    /// A message already in wire form (`wire_ready`) is written straight
    /// from its buffer, all but its last lines, which go through the client
    /// with the final dot: one write ends the data, so no small write trails
    /// a large one (Nagle would hold it for the peer's delayed ACK).
    pub fn run_with_body(
        &mut self,
        client: &mut Client,
        message: &[u8],
        wire_ready: bool,
        until: impl Fn(&Client) -> bool,
    ) {
        let mut pos = 0;
        loop {
            self.run(client, |c| c.wants_body() || until(c));
            if !client.wants_body() {
                return;
            }
            if pos == 0 && wire_ready && message.len() > DIRECT_TAIL {
                pos = self.write_directly(client, message);
                continue;
            }
            let end = message.len().min(pos + BODY_CHUNK);
            client.push_body(&message[pos..end]);
            pos = end;
            // The last chunk and the final dot go out in one write.
            if pos == message.len() {
                client.finish_body();
            }
        }
    }

    /// Writes the message up to its last line end before the tail; returns
    /// where the client's part begins. On a failed write the client learns
    /// of it and stops wanting body.
    fn write_directly(&mut self, client: &mut Client, message: &[u8]) -> usize {
        let split = message[..message.len() - DIRECT_TAIL]
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        let mut pos = 0;
        while pos < split {
            match self.conn.write(&message[pos..split], self.timeout) {
                Ok(n) => {
                    client.body_written_directly(&message[pos..pos + n]);
                    pos += n;
                }
                Err(e) => {
                    self.report(client, e);
                    return message.len();
                }
            }
        }
        self.wrote = true;
        split
    }

    fn report(&self, client: &mut Client, e: NetError) {
        match e {
            NetError::Timeout => client.handle_timeout(self.timeout),
            NetError::Closed => client.handle_eof(),
            NetError::Failed(detail) => client.handle_io_error(detail),
        }
    }
}
