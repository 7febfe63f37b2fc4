//! Which servers one call may reach.
//!
//! Written the way Spin writes `allowed_outbound_hosts`: `tcp://host:port`.
//! The host resolves granted names itself; the guest may look up only those
//! names and connect only to the addresses they resolve to (or the granted IP
//! literals), on the granted port. Nothing else: no other name lookups (no
//! DNS exfiltration), no listening, no UDP.

use std::net::{IpAddr, SocketAddr};

use smtp_proto::server::{Host, ServerAddress, ServerError};
use tokio::sync::OnceCell;

/// A set of reachable servers. Resolution of a granted name happens at most
/// once per `Grant` and is shared by the guest's lookup and the connect check.
#[derive(Debug, Default)]
pub struct Grant {
    targets: Vec<Target>,
}

#[derive(Debug)]
struct Target {
    host: Host,
    port: u16,
    resolved: OnceCell<Result<Vec<IpAddr>, String>>,
}

/// A granted name did not resolve, or the name is not granted.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LookupError {
    #[error("{0:?} is not a granted server")]
    Denied(String),
    #[error("{0}")]
    Unresolvable(String),
}

/// A grant that could not be parsed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum GrantError {
    #[error("grant {0:?} must look like tcp://host:port")]
    Syntax(String),
    #[error("grant {0:?}: {1}")]
    Server(String, ServerError),
}

impl Grant {
    /// Grants nothing.
    pub fn none() -> Self {
        Grant::default()
    }

    /// Grants exactly one server.
    pub fn server(server: &ServerAddress) -> Self {
        Grant::none().with(server.clone())
    }

    /// Adds a server.
    pub fn with(mut self, server: ServerAddress) -> Self {
        self.targets.push(Target {
            host: server.host,
            port: server.port,
            resolved: OnceCell::new(),
        });
        self
    }

    /// Adds `tcp://host:port` (the port is required).
    pub fn allow(self, spec: &str) -> Result<Self, GrantError> {
        let syntax = || GrantError::Syntax(spec.to_owned());
        let rest = spec.strip_prefix("tcp://").ok_or_else(syntax)?;
        let has_port = match rest.strip_prefix('[') {
            Some(v6) => v6.contains("]:"),
            None => rest.matches(':').count() == 1,
        };
        if !has_port {
            return Err(syntax());
        }
        let server =
            ServerAddress::parse(rest, None).map_err(|e| GrantError::Server(spec.to_owned(), e))?;
        Ok(self.with(server))
    }

    /// The guest's name lookup: answered only for granted names.
    pub async fn lookup(&self, name: &str) -> Result<Vec<IpAddr>, LookupError> {
        let wanted = name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase();
        let literal = wanted
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .ok();
        let mut found = false;
        let mut addrs = Vec::new();
        for t in &self.targets {
            match (&t.host, literal) {
                (Host::Ip(ip), Some(lit)) if *ip == lit.to_canonical() => {
                    found = true;
                    push_unique(&mut addrs, *ip);
                }
                (Host::Name(n), None) if *n == wanted => {
                    found = true;
                    for ip in t.addresses().await.map_err(LookupError::Unresolvable)? {
                        push_unique(&mut addrs, *ip);
                    }
                }
                _ => {}
            }
        }
        if found {
            Ok(addrs)
        } else {
            Err(LookupError::Denied(name.to_owned()))
        }
    }

    /// May the guest open a TCP connection to `addr`?
    pub async fn allows_connect(&self, addr: SocketAddr) -> bool {
        let ip = addr.ip().to_canonical();
        for t in &self.targets {
            if t.port != addr.port() {
                continue;
            }
            let ok = match &t.host {
                Host::Ip(granted) => *granted == ip,
                Host::Name(_) => t.addresses().await.is_ok_and(|a| a.contains(&ip)),
            };
            if ok {
                return true;
            }
        }
        false
    }
}

impl Target {
    async fn addresses(&self) -> Result<&Vec<IpAddr>, String> {
        let Host::Name(name) = &self.host else {
            unreachable!("only names are resolved");
        };
        self.resolved
            .get_or_init(|| async {
                match tokio::net::lookup_host((name.as_str(), self.port)).await {
                    Ok(found) => {
                        let mut ips = Vec::new();
                        for a in found {
                            push_unique(&mut ips, a.ip().to_canonical());
                        }
                        Ok(ips)
                    }
                    Err(e) => Err(format!("{name}: {e}")),
                }
            })
            .await
            .as_ref()
            .map_err(Clone::clone)
    }
}

fn push_unique(v: &mut Vec<IpAddr>, ip: IpAddr) {
    if !v.contains(&ip) {
        v.push(ip);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn literal_grants() {
        let g = Grant::none().allow("tcp://127.0.0.1:2525").unwrap();
        assert!(g.allows_connect("127.0.0.1:2525".parse().unwrap()).await);
        assert!(!g.allows_connect("127.0.0.1:2526".parse().unwrap()).await);
        assert!(!g.allows_connect("127.0.0.2:2525".parse().unwrap()).await);
        assert!(
            g.allows_connect("[::ffff:127.0.0.1]:2525".parse().unwrap())
                .await
        );
        assert_eq!(
            g.lookup("127.0.0.1").await,
            Ok(vec!["127.0.0.1".parse().unwrap()])
        );
        assert!(matches!(
            g.lookup("127.0.0.2").await,
            Err(LookupError::Denied(_))
        ));
        assert!(matches!(
            g.lookup("example.com").await,
            Err(LookupError::Denied(_))
        ));
    }

    #[tokio::test]
    async fn name_grants_resolve_once_and_deny_other_names() {
        let g = Grant::none().allow("tcp://localhost:2525").unwrap();
        let addrs = g.lookup("LOCALHOST.").await.unwrap();
        assert!(addrs.contains(&"127.0.0.1".parse().unwrap()), "{addrs:?}");
        assert!(g.allows_connect("127.0.0.1:2525".parse().unwrap()).await);
        assert!(!g.allows_connect("127.0.0.1:25".parse().unwrap()).await);
        assert!(matches!(
            g.lookup("exfiltrate.secret.example").await,
            Err(LookupError::Denied(_))
        ));
        // Not a granted name, even though it resolves to a granted address.
        assert!(matches!(
            g.lookup("127.0.0.1").await,
            Err(LookupError::Denied(_))
        ));
    }

    #[tokio::test]
    async fn unresolvable_granted_name() {
        let g = Grant::none()
            .allow("tcp://no-such-host.invalid:25")
            .unwrap();
        assert!(matches!(
            g.lookup("no-such-host.invalid").await,
            Err(LookupError::Unresolvable(_))
        ));
        assert!(!g.allows_connect("127.0.0.1:25".parse().unwrap()).await);
    }

    #[test]
    fn grant_syntax() {
        assert!(Grant::none().allow("tcp://[::1]:25").is_ok());
        for bad in [
            "localhost:25",
            "tcp://localhost",
            "tcp://[::1]",
            "udp://a:1",
            "tcp://a:0",
        ] {
            assert!(Grant::none().allow(bad).is_err(), "{bad}");
        }
    }
}
