//! Runs the protocol state machine over a connection: the whole of the
//! guest's I/O policy is in this loop.

use std::time::Duration;

use smtp_proto::{Client, Error, Event, Receipt};

use crate::net::{deadline_after, Connection, Instant, NetError};

/// Message bytes handed to the encoder at a time: large enough that a big
/// message costs few host calls, small enough to keep memory flat.
const BODY_CHUNK: usize = 256 * 1024;

pub fn run(
    mut client: Client,
    conn: &mut Connection,
    server_name: &str,
    message: &[u8],
    timeout: Duration,
    log: &mut dyn FnMut(Event),
) -> Result<Receipt, Error> {
    let mut body_pos = 0;
    let mut epoch = 0;
    let mut reply_deadline: Instant = 0;
    loop {
        while let Some(event) = client.poll_event() {
            log(event);
        }
        if client.is_closed() {
            break;
        }
        if !client.output().is_empty() {
            match conn.write(client.output(), deadline_after(timeout)) {
                Ok(n) => client.consume_output(n),
                Err(e) => report(&mut client, e, timeout),
            }
            continue;
        }
        if client.wants_body() {
            let end = message.len().min(body_pos + BODY_CHUNK);
            client.push_body(&message[body_pos..end]);
            body_pos = end;
            // The last chunk and the final dot go out in one write.
            if body_pos == message.len() {
                client.finish_body();
            }
            continue;
        }
        if client.wants_tls() {
            match conn.start_tls(server_name, deadline_after(timeout)) {
                Ok(()) => client.tls_established(),
                Err((failure, detail)) => client.handle_tls_error(failure, detail),
            }
            continue;
        }
        if client.awaiting_reply() {
            if client.wait_epoch() != epoch {
                epoch = client.wait_epoch();
                reply_deadline = deadline_after(timeout);
            }
            match conn.read(reply_deadline) {
                Ok(bytes) => client.feed(&bytes),
                Err(e) => report(&mut client, e, timeout),
            }
            continue;
        }
        // Neither writing nor reading: only a bug in the state machine gets here.
        client.handle_io_error("internal error: the client stalled".into());
    }
    client.into_outcome().unwrap_or_else(|| {
        Err(Error::Io {
            stage: smtp_proto::Stage::Quit,
            detail: "internal error: no outcome".into(),
        })
    })
}

fn report(client: &mut Client, e: NetError, timeout: Duration) {
    match e {
        NetError::Timeout => client.handle_timeout(timeout),
        NetError::Closed => client.handle_eof(),
        NetError::Failed(detail) => client.handle_io_error(detail),
    }
}
