//! The service extensions a server lists in its EHLO reply (RFC 5321 §4.1.1.1).

use crate::reply::Reply;

/// What the server offered. A server that only answered HELO offers nothing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Extensions {
    /// RFC 1870 SIZE: `Some(0)` when offered without a limit.
    pub size: Option<u64>,
    /// RFC 2920.
    pub pipelining: bool,
    /// RFC 6152.
    pub eight_bit_mime: bool,
    /// RFC 6531.
    pub smtputf8: bool,
    /// RFC 3207.
    pub starttls: bool,
    /// RFC 3463 / RFC 2034.
    pub enhanced_status_codes: bool,
    /// RFC 4954: the mechanisms offered, upper-cased.
    pub auth: Vec<String>,
}

impl Extensions {
    /// Reads every line after the first (which greets) as `KEYWORD [params]`.
    pub fn from_ehlo(reply: &Reply) -> Self {
        let mut ext = Extensions::default();
        for line in reply.lines.iter().skip(1) {
            let mut words = line.split_ascii_whitespace();
            let Some(keyword) = words.next() else {
                continue;
            };
            let keyword = keyword.to_ascii_uppercase();
            // Some servers still send the pre-RFC `AUTH=MECH ...` form.
            let (keyword, first_param) = match keyword.split_once('=') {
                Some((k, p)) => (k.to_owned(), Some(p.to_owned())),
                None => (keyword, None),
            };
            let params = first_param
                .into_iter()
                .chain(words.map(str::to_owned))
                .collect::<Vec<_>>();
            match keyword.as_str() {
                "SIZE" => {
                    ext.size = Some(params.first().and_then(|p| p.parse().ok()).unwrap_or(0));
                }
                "PIPELINING" => ext.pipelining = true,
                "8BITMIME" => ext.eight_bit_mime = true,
                "SMTPUTF8" => ext.smtputf8 = true,
                "STARTTLS" => ext.starttls = true,
                "ENHANCEDSTATUSCODES" => ext.enhanced_status_codes = true,
                "AUTH" => {
                    for mech in params {
                        let mech = mech.to_ascii_uppercase();
                        if !ext.auth.contains(&mech) {
                            ext.auth.push(mech);
                        }
                    }
                }
                _ => {}
            }
        }
        ext
    }

    /// The SIZE limit, if the server set one.
    pub fn size_limit(&self) -> Option<u64> {
        self.size.filter(|&n| n > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postfix_style_ehlo() {
        let reply = Reply {
            code: 250,
            lines: [
                "mail.example.com",
                "PIPELINING",
                "SIZE 10240000",
                "VRFY",
                "ETRN",
                "STARTTLS",
                "AUTH PLAIN LOGIN",
                "AUTH=PLAIN LOGIN",
                "ENHANCEDSTATUSCODES",
                "8BITMIME",
                "DSN",
                "SMTPUTF8",
                "CHUNKING",
            ]
            .map(String::from)
            .to_vec(),
        };
        let ext = Extensions::from_ehlo(&reply);
        assert_eq!(ext.size, Some(10240000));
        assert_eq!(ext.size_limit(), Some(10240000));
        assert!(ext.pipelining && ext.starttls && ext.eight_bit_mime && ext.smtputf8);
        assert!(ext.enhanced_status_codes);
        assert_eq!(ext.auth, ["PLAIN", "LOGIN"]);
    }

    #[test]
    fn size_without_limit_and_case() {
        let reply = Reply {
            code: 250,
            lines: ["x", "size", "pipelining"].map(String::from).to_vec(),
        };
        let ext = Extensions::from_ehlo(&reply);
        assert_eq!(ext.size, Some(0));
        assert_eq!(ext.size_limit(), None);
        assert!(ext.pipelining);
        assert!(!ext.starttls);
    }

    #[test]
    fn greeting_line_is_not_a_keyword() {
        let reply = Reply::new(250, "PIPELINING");
        assert!(!Extensions::from_ehlo(&reply).pipelining);
    }
}
