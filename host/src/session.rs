//! A session: one connection, several messages, one sandbox.

use std::io::Read;

use smtp_proto::data::MessageInfo;
use wasmtime::component::ResourceAny;

use crate::bindings::exports::smtp_send::client::mailer;
use crate::bindings::SmtpClient;
use crate::mailer::{within, CallStore, SendError};
use crate::{convert, Receipt};

/// How much of a streamed message crosses into the component at a time.
const CHUNK: usize = 1 << 20;

/// An open SMTP session in its own sandbox (from [`crate::Mailer::session`]).
/// Each step — a message, quitting — gets the sandbox's deadline afresh.
/// Dropping it without [`Session::quit`] just closes the connection.
pub struct Session {
    store: CallStore,
    guest: SmtpClient,
    handle: Option<ResourceAny>,
}

impl Session {
    pub(crate) fn new(store: CallStore, guest: SmtpClient, handle: ResourceAny) -> Self {
        Session {
            store,
            guest,
            handle: Some(handle),
        }
    }

    fn handle(&self) -> Result<ResourceAny, SendError> {
        self.handle
            .ok_or_else(|| SendError::Trap("the session was already closed".into()))
    }

    /// Sends one message held in memory. A refusal of this message leaves
    /// the session usable; a failed connection does not.
    pub async fn send(
        &mut self,
        from: &str,
        to: &[String],
        message: &str,
    ) -> Result<Receipt, SendError> {
        let handle = self.handle()?;
        self.store.restart_deadline();
        let api = self.guest.smtp_send_client_mailer().session();
        let run = api.call_send(&mut self.store.store, handle, from, to, message);
        let result = within(self.store.deadline, run).await;
        self.store.finish(result).map(convert::receipt)
    }

    /// Sends a message read from `reader` a chunk at a time, so that memory
    /// stays bounded whatever its size. `info` must describe it (measure it
    /// with [`smtp_proto::data::Scanner`] first): its size goes into MAIL
    /// FROM, and the component checks the stream against it.
    pub async fn send_stream(
        &mut self,
        from: &str,
        to: &[String],
        info: MessageInfo,
        reader: impl Read,
    ) -> Result<Receipt, SendError> {
        self.send_stream_with_progress(from, to, info, reader, &mut |_| {})
            .await
    }

    /// As [`Session::send_stream`], reporting the bytes handed to the
    /// component (and so written to the server) after each chunk.
    pub async fn send_stream_with_progress(
        &mut self,
        from: &str,
        to: &[String],
        info: MessageInfo,
        mut reader: impl Read,
        progress: &mut dyn FnMut(u64),
    ) -> Result<Receipt, SendError> {
        let handle = self.handle()?;
        self.store.restart_deadline();
        let api = self.guest.smtp_send_client_mailer().session();
        let declared = mailer::MessageInfo {
            size: info.size,
            eight_bit: info.eight_bit,
        };
        let run = api.call_begin(&mut self.store.store, handle, from, to, declared);
        let result = within(self.store.deadline, run).await;
        self.store.finish(result)?;
        let mut chunk = vec![0; CHUNK];
        let mut sent = 0u64;
        loop {
            let n = read_full(&mut reader, &mut chunk).map_err(|e| {
                SendError::Smtp(crate::SmtpError::InvalidInput(format!(
                    "reading the message: {e}"
                )))
            })?;
            if n == 0 {
                break;
            }
            let run = api.call_write(&mut self.store.store, handle, &chunk[..n]);
            let result = within(self.store.deadline, run).await;
            self.store.finish(result)?;
            sent += n as u64;
            progress(sent);
        }
        let run = api.call_finish(&mut self.store.store, handle);
        let result = within(self.store.deadline, run).await;
        self.store.finish(result).map(convert::receipt)
    }

    /// QUIT and close.
    pub async fn quit(mut self) -> Result<(), SendError> {
        let Some(handle) = self.handle.take() else {
            return Ok(());
        };
        self.store.restart_deadline();
        let api = self.guest.smtp_send_client_mailer().session();
        let run = async {
            api.call_quit(&mut self.store.store, handle).await?;
            handle.resource_drop_async(&mut self.store.store).await
        };
        let result = within(self.store.deadline, run).await;
        self.store.value(result)
    }
}

/// Fills `buf` as far as the reader allows (a short read is not the end).
fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match reader.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}
