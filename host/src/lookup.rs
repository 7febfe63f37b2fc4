//! `wasi:sockets/ip-name-lookup`, answered from the call's [`Grant`].
//!
//! wasmtime-wasi's own lookup resolves any name once lookups are allowed (its
//! address check covers connects, not lookups), so a guest could leak data
//! through the names it asks for. This implementation replaces it in the
//! linker: granted names are resolved by the host, anything else is
//! `access-denied` without a query leaving the machine.

use std::collections::VecDeque;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use wasmtime::component::{Linker, Resource, ResourceTable};
use wasmtime_wasi::p2::bindings::sockets::network::{ErrorCode, IpAddress, Network};
use wasmtime_wasi::p2::{DynPollable, Pollable};

use crate::grant::{Grant, LookupError};

mod bindings {
    wasmtime::component::bindgen!({
        inline: "
            package smtp-send:lookup;
            world lookup {
                import wasi:sockets/ip-name-lookup@0.2.12;
            }
        ",
        path: "../wit",
        with: {
            "wasi:io": wasmtime_wasi::p2::bindings::io,
            "wasi:sockets/network": wasmtime_wasi::p2::bindings::sockets::network,
            "wasi:sockets/ip-name-lookup.resolve-address-stream": super::ResolveAddressStream,
        },
        imports: { default: trappable },
        require_store_data_send: true,
    });
}

use bindings::wasi::sockets::ip_name_lookup::{Host, HostResolveAddressStream};

type Lookup = Pin<Box<dyn Future<Output = Result<Vec<IpAddr>, ErrorCode>> + Send>>;

/// A lookup in progress, or its answer.
pub struct ResolveAddressStream {
    state: State,
}

enum State {
    Pending(Lookup),
    Done(Result<VecDeque<IpAddr>, ErrorCode>),
}

impl ResolveAddressStream {
    fn poll_done(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if let State::Pending(fut) = &mut self.state {
            match fut.as_mut().poll(cx) {
                Poll::Ready(r) => self.state = State::Done(r.map(VecDeque::from)),
                Poll::Pending => return Poll::Pending,
            }
        }
        Poll::Ready(())
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for ResolveAddressStream {
    async fn ready(&mut self) {
        std::future::poll_fn(|cx| self.poll_done(cx)).await
    }
}

/// What the lookup functions see of the store.
pub struct GrantedLookup<'a> {
    pub table: &'a mut ResourceTable,
    pub grant: &'a Arc<Grant>,
}

impl Host for GrantedLookup<'_> {
    fn resolve_addresses(
        &mut self,
        network: Resource<Network>,
        name: String,
    ) -> wasmtime::Result<Result<Resource<ResolveAddressStream>, ErrorCode>> {
        // The network handle is the capability; it must be a real one.
        self.table.get(&network)?;
        let grant = self.grant.clone();
        let lookup: Lookup = Box::pin(async move {
            grant.lookup(&name).await.map_err(|e| match e {
                LookupError::Denied(_) => ErrorCode::AccessDenied,
                LookupError::Unresolvable(_) => ErrorCode::NameUnresolvable,
            })
        });
        let stream = ResolveAddressStream {
            state: State::Pending(lookup),
        };
        Ok(Ok(self.table.push(stream)?))
    }
}

impl HostResolveAddressStream for GrantedLookup<'_> {
    fn resolve_next_address(
        &mut self,
        stream: Resource<ResolveAddressStream>,
    ) -> wasmtime::Result<Result<Option<IpAddress>, ErrorCode>> {
        let stream = self.table.get_mut(&stream)?;
        if stream
            .poll_done(&mut Context::from_waker(Waker::noop()))
            .is_pending()
        {
            return Ok(Err(ErrorCode::WouldBlock));
        }
        let State::Done(result) = &mut stream.state else {
            return Ok(Err(ErrorCode::WouldBlock));
        };
        Ok(match result {
            Ok(addrs) => Ok(addrs.pop_front().map(IpAddress::from)),
            Err(code) => Err(*code),
        })
    }

    fn subscribe(
        &mut self,
        stream: Resource<ResolveAddressStream>,
    ) -> wasmtime::Result<Resource<DynPollable>> {
        wasmtime_wasi::p2::subscribe(self.table, stream)
    }

    fn drop(&mut self, stream: Resource<ResolveAddressStream>) -> wasmtime::Result<()> {
        self.table.delete(stream)?;
        Ok(())
    }
}

struct HasGrantedLookup;

impl wasmtime::component::HasData for HasGrantedLookup {
    type Data<'a> = GrantedLookup<'a>;
}

/// Replaces wasmtime-wasi's lookup in `linker` (which must allow shadowing).
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> GrantedLookup<'_>,
) -> wasmtime::Result<()> {
    bindings::wasi::sockets::ip_name_lookup::add_to_linker::<T, HasGrantedLookup>(linker, get)
}
