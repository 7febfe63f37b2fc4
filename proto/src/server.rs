//! The SERVER argument: `host`, `host:port`, `[v6addr]:port` or an IP literal.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr};

/// RFC 5321's port for relaying; what smtplib uses without one.
pub const DEFAULT_PORT: u16 = 25;

/// Where to connect.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ServerAddress {
    pub host: Host,
    pub port: u16,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Host {
    /// A DNS name, lower-cased, without a trailing dot.
    Name(String),
    Ip(IpAddr),
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Name(n) => f.write_str(n),
            Host::Ip(ip) => write!(f, "{ip}"),
        }
    }
}

impl fmt::Display for ServerAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.host {
            Host::Ip(IpAddr::V6(ip)) => write!(f, "[{ip}]:{}", self.port),
            ref h => write!(f, "{h}:{}", self.port),
        }
    }
}

/// Why a SERVER was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ServerError {
    /// Characters that could never be part of a server name and may be an
    /// injection attempt: reported as invalid input.
    #[error("server {0:?} contains a control character")]
    Control(String),
    /// Not a usable server: reported as an addressing error.
    #[error("server {0:?} is not a host name, IP address or host:port ({1})")]
    Malformed(String, &'static str),
}

impl ServerAddress {
    /// Parses SERVER; `port` (from `--port`) overrides a port in it.
    pub fn parse(input: &str, port: Option<u16>) -> Result<Self, ServerError> {
        Self::parse_with_default(input, port, DEFAULT_PORT)
    }

    /// As [`ServerAddress::parse`], with another default port (465 for
    /// implicit TLS).
    pub fn parse_with_default(
        input: &str,
        port: Option<u16>,
        default_port: u16,
    ) -> Result<Self, ServerError> {
        let bad = |why| ServerError::Malformed(input.to_owned(), why);
        if input.chars().any(char::is_control) {
            return Err(ServerError::Control(input.to_owned()));
        }
        if input.is_empty() {
            return Err(bad("it is empty"));
        }
        let (host, port_text) = if let Some(rest) = input.strip_prefix('[') {
            let (inside, after) = rest.split_once(']').ok_or_else(|| bad("no closing ']'"))?;
            let ip: Ipv6Addr = inside.parse().map_err(|_| bad("bad IPv6 address"))?;
            let port_text = match after {
                "" => None,
                p => Some(p.strip_prefix(':').ok_or_else(|| bad("junk after ']'"))?),
            };
            (Host::Ip(IpAddr::V6(ip)), port_text)
        } else if let Ok(ip) = input.parse::<Ipv6Addr>() {
            (Host::Ip(IpAddr::V6(ip)), None)
        } else {
            let (name, port_text) = match input.rsplit_once(':') {
                Some((n, p)) => (n, Some(p)),
                None => (input, None),
            };
            let host = match name.parse::<IpAddr>() {
                Ok(ip) => Host::Ip(ip),
                Err(_) => Host::Name(check_name(name).map_err(bad)?),
            };
            (host, port_text)
        };
        let parsed_port = match port_text {
            None => default_port,
            Some(p) => parse_port(p).ok_or_else(|| bad("the port must be 1-65535"))?,
        };
        Ok(ServerAddress {
            host,
            port: port.unwrap_or(parsed_port),
        })
    }
}

fn parse_port(p: &str) -> Option<u16> {
    if p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    p.parse().ok().filter(|&n| n != 0)
}

/// RFC 1123 host names (underscores tolerated, as resolvers do).
fn check_name(name: &str) -> Result<String, &'static str> {
    let name = name.strip_suffix('.').unwrap_or(name);
    if name.is_empty() || name.len() > 253 {
        return Err("bad host name length");
    }
    for label in name.split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err("empty or over-long label");
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err("a host name has only letters, digits, '-' and '.'");
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err("a label cannot start or end with '-'");
        }
    }
    Ok(name.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<ServerAddress, ServerError> {
        ServerAddress::parse(s, None)
    }

    #[test]
    fn forms() {
        assert_eq!(p("localhost").unwrap().to_string(), "localhost:25");
        assert_eq!(
            p("Mail.Example.COM.:587").unwrap().to_string(),
            "mail.example.com:587"
        );
        assert_eq!(p("127.0.0.1").unwrap().to_string(), "127.0.0.1:25");
        assert_eq!(p("127.0.0.1:2525").unwrap().to_string(), "127.0.0.1:2525");
        assert_eq!(p("::1").unwrap().to_string(), "[::1]:25");
        assert_eq!(p("[::1]:2525").unwrap().to_string(), "[::1]:2525");
        assert_eq!(p("[::1]").unwrap().port, 25);
        assert_eq!(
            p("no-such.invalid").unwrap().host,
            Host::Name("no-such.invalid".into())
        );
        assert_eq!(
            ServerAddress::parse("localhost:25", Some(2525))
                .unwrap()
                .port,
            2525
        );
    }

    #[test]
    fn malformed() {
        for s in [
            "",
            "host:",
            "host:0",
            "host:65536",
            "host:x",
            "[::1",
            "[::1]x",
            "[nope]:25",
            "a..b",
            "-a.b",
            "a b",
            "ho/st",
            "a:b:c",
        ] {
            assert!(matches!(p(s), Err(ServerError::Malformed(..))), "{s:?}");
        }
        for s in ["host\r\n", "host\0", "lo\ncalhost"] {
            assert!(matches!(p(s), Err(ServerError::Control(_))), "{s:?}");
        }
    }
}
