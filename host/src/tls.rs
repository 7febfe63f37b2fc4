//! TLS for the guest: the host does the handshake and the crypto natively
//! (`wasi:tls`, rustls), verifying the server's certificate against the
//! system roots plus any CA the caller adds, and the server's name. There is
//! no way to turn verification off.

use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{CertificateError, ClientConfig, RootCertStore};
use wasmtime_wasi_tls::{TlsProvider, TlsStream, TlsTransport};

use crate::transcript::{Direction, Transcript};

/// Which certificate authorities a call trusts. Build it once and share it:
/// loading the system roots takes a few milliseconds.
#[derive(Clone, Debug)]
pub struct TlsTrust {
    config: Arc<ClientConfig>,
}

/// A CA file that could not be used.
#[derive(Debug, thiserror::Error)]
#[error("CA file {path}: {why}")]
pub struct TrustError {
    path: String,
    why: String,
}

impl TlsTrust {
    /// The system's roots (`/etc/ssl/certs`); Mozilla's bundle
    /// (`webpki-roots`) where the system has none.
    pub fn system() -> Self {
        Self::with_roots(system_roots())
    }

    /// The system's roots and every certificate in these PEM files.
    pub fn with_ca_files<P: AsRef<Path>>(files: &[P]) -> Result<Self, TrustError> {
        let mut roots = system_roots();
        for path in files {
            let path = path.as_ref();
            let fail = |why: String| TrustError {
                path: path.display().to_string(),
                why,
            };
            let mut added = 0;
            for cert in CertificateDer::pem_file_iter(path).map_err(|e| fail(e.to_string()))? {
                let cert = cert.map_err(|e| fail(e.to_string()))?;
                roots.add(cert).map_err(|e| fail(e.to_string()))?;
                added += 1;
            }
            if added == 0 {
                return Err(fail("no PEM certificate in it".into()));
            }
        }
        Ok(Self::with_roots(roots))
    }

    fn with_roots(roots: RootCertStore) -> Self {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("ring supports the default TLS versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        TlsTrust {
            config: Arc::new(config),
        }
    }

    /// The shared default: system roots, loaded on first use.
    pub fn default_shared() -> Arc<TlsTrust> {
        static DEFAULT: OnceLock<Arc<TlsTrust>> = OnceLock::new();
        DEFAULT.get_or_init(|| Arc::new(TlsTrust::system())).clone()
    }
}

fn system_roots() -> RootCertStore {
    let mut roots = RootCertStore::empty();
    let found = rustls_native_certs::load_native_certs();
    let (added, _) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    }
    roots
}

/// One call's `wasi:tls` provider: verifies with the call's trust and
/// reports the negotiated parameters to the call's transcript.
pub(crate) struct Provider {
    pub trust: Option<Arc<TlsTrust>>,
    pub transcript: Arc<dyn Transcript>,
}

type Handshake =
    Pin<Box<dyn Future<Output = Result<Box<dyn TlsStream>, wasmtime_wasi_tls::Error>> + Send>>;

impl TlsProvider for Provider {
    fn connect(&self, server_name: String, transport: Box<dyn TlsTransport>) -> Handshake {
        let trust = self.trust.clone().unwrap_or_else(TlsTrust::default_shared);
        let transcript = self.transcript.clone();
        Box::pin(async move {
            let name = ServerName::try_from(server_name.clone()).map_err(|_| {
                wasmtime_wasi_tls::Error::msg(format!(
                    "TLS handshake failed: {server_name:?} is not a valid server name"
                ))
            })?;
            let stream = tokio_rustls::TlsConnector::from(trust.config.clone())
                .connect(name, transport)
                .await
                .map_err(|e| wasmtime_wasi_tls::Error::msg(describe(&server_name, &e)))?;
            transcript.line(Direction::Info, established(stream.get_ref().1).as_bytes());
            Ok(Box::new(stream) as Box<dyn TlsStream>)
        })
    }
}

/// `TLS established: TLSv1_3 TLS13_AES_256_GCM_SHA384, peer CN=mx.example.com`
fn established(conn: &rustls::ClientConnection) -> String {
    let version = conn
        .protocol_version()
        .map_or("?".into(), |v| format!("{v:?}"));
    let cipher = conn
        .negotiated_cipher_suite()
        .map_or("?".into(), |c| format!("{:?}", c.suite()));
    let peer = conn
        .peer_certificates()
        .and_then(|certs| certs.first())
        .and_then(|der| x509_parser::parse_x509_certificate(der).ok())
        .map_or("(no certificate)".into(), |(_, cert)| {
            cert.subject().to_string()
        });
    format!("TLS established: {version} {cipher}, peer {peer}")
}

/// Words for a failed handshake. Certificate problems say "certificate" and
/// which problem it is; the guest tells them apart by that word.
fn describe(server: &str, e: &std::io::Error) -> String {
    let Some(err) = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) else {
        return format!("TLS handshake failed: {e}");
    };
    let problem = match err {
        rustls::Error::InvalidCertificate(c) => c,
        other => return format!("TLS handshake failed: {other}"),
    };
    let what = match problem {
        CertificateError::UnknownIssuer => {
            "is not trusted: its issuer is unknown (self-signed, or a CA that is not \
             trusted here; add it with --cafile)"
                .to_owned()
        }
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
            format!("has expired ({problem})")
        }
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
            format!("is not valid yet ({problem})")
        }
        CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
            format!("is not valid for this name ({problem})")
        }
        CertificateError::BadSignature
        | CertificateError::UnsupportedSignatureAlgorithmContext { .. }
        | CertificateError::UnsupportedSignatureAlgorithmForPublicKeyContext { .. } => {
            "is not trusted: its signature does not verify against any trusted CA \
             (self-signed, or forged)"
                .to_owned()
        }
        other => format!("is invalid: {other:?}"),
    };
    format!("certificate of {server} {what}")
}
