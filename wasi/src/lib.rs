//! The WASI side of the SMTP client: `wasi:sockets` connections with every
//! wait bounded (net), and the loop that drives `smtp-proto`'s state
//! machine over one (driver). Shared by the library component (guest/) and
//! the command component (cli/); neither prints nor owns policy here.

pub mod driver;
pub mod net;

pub use driver::Link;

/// `wasi:tls`, with its streams the same types as the sockets' streams.
#[cfg(feature = "tls")]
mod tls_bindings {
    wit_bindgen::generate!({
        inline: "
            package smtp-send:tls-import;
            world tls { import wasi:tls/types@0.2.0-draft; }
        ",
        path: "../wit",
        features: ["tls"],
        with: {
            "wasi:io/streams@0.2.12": wasip2::io::streams,
            "wasi:io/poll@0.2.12": wasip2::io::poll,
            "wasi:io/error@0.2.12": wasip2::io::error,
            "wasi:tls/types@0.2.0-draft": generate,
        },
    });
}

#[cfg(feature = "tls")]
pub(crate) use tls_bindings::wasi::tls::types as tls;
