//! SMTP AUTH (RFC 4954): the mechanisms, how to pick one, and their
//! responses. Every line built here carries a secret, so the client reports
//! it to the transcript only in redacted form.

use std::fmt;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use md5::Md5;

/// A SASL mechanism we can use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mechanism {
    /// RFC 2195: the password never crosses the wire.
    CramMd5,
    /// RFC 4616.
    Plain,
    /// The de-facto LOGIN mechanism: username and password in two steps.
    Login,
    /// Google/Microsoft OAuth 2.0 bearer tokens: the secret is the token.
    XOAuth2,
}

/// Picked automatically, strongest first. XOAUTH2 needs a token rather than
/// a password, so it is only used when asked for by name.
pub const AUTOMATIC: [Mechanism; 3] = [Mechanism::CramMd5, Mechanism::Plain, Mechanism::Login];

impl Mechanism {
    pub fn name(self) -> &'static str {
        match self {
            Mechanism::CramMd5 => "CRAM-MD5",
            Mechanism::Plain => "PLAIN",
            Mechanism::Login => "LOGIN",
            Mechanism::XOAuth2 => "XOAUTH2",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        [
            Mechanism::CramMd5,
            Mechanism::Plain,
            Mechanism::Login,
            Mechanism::XOAuth2,
        ]
        .into_iter()
        .find(|m| m.name().eq_ignore_ascii_case(name))
    }
}

impl fmt::Display for Mechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Who to log in as. `Debug` never shows the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub user: String,
    /// A password, or the OAuth token for XOAUTH2.
    pub secret: String,
    /// Use this mechanism, or fail; `None`: the strongest offered.
    pub mechanism: Option<Mechanism>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("user", &self.user)
            .field("secret", &"<redacted>")
            .field("mechanism", &self.mechanism)
            .finish()
    }
}

/// The mechanism to use given what the server offers, or why there is none.
pub fn choose(offered: &[String], forced: Option<Mechanism>) -> Result<Mechanism, String> {
    let offers = |m: Mechanism| offered.iter().any(|o| o == m.name());
    let list = || {
        if offered.is_empty() {
            "none".to_owned()
        } else {
            offered.join(" ")
        }
    };
    match forced {
        Some(m) if offers(m) => Ok(m),
        Some(m) => Err(format!(
            "the server does not offer AUTH {m} (it offers: {})",
            list()
        )),
        None if offered.is_empty() => {
            Err("credentials were given but the server offers no AUTH".into())
        }
        None => AUTOMATIC.into_iter().find(|&m| offers(m)).ok_or_else(|| {
            format!(
                "the server offers AUTH {}, none of which this client uses (CRAM-MD5, PLAIN, LOGIN; XOAUTH2 with --auth XOAUTH2)",
                list()
            )
        }),
    }
}

pub fn base64(data: &[u8]) -> String {
    B64.encode(data)
}

/// RFC 4616 initial response: authzid (empty), authcid, password.
pub fn plain_response(c: &Credentials) -> String {
    base64(format!("\0{}\0{}", c.user, c.secret).as_bytes())
}

/// RFC 2195: `user hex(HMAC-MD5(secret, challenge))`, base64, from the
/// server's base64 challenge.
pub fn cram_md5_response(c: &Credentials, challenge_b64: &str) -> Option<String> {
    let challenge = B64.decode(challenge_b64.trim()).ok()?;
    let mut mac = Hmac::<Md5>::new_from_slice(c.secret.as_bytes()).ok()?;
    mac.update(&challenge);
    let digest: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Some(base64(format!("{} {digest}", c.user).as_bytes()))
}

/// The XOAUTH2 initial response.
pub fn xoauth2_response(c: &Credentials) -> String {
    base64(format!("user={}\x01auth=Bearer {}\x01\x01", c.user, c.secret).as_bytes())
}

/// A server's base64 text (a 334 challenge or an XOAUTH2 error), decoded
/// for a report.
pub fn decode_text(b64: &str) -> Option<String> {
    B64.decode(b64.trim())
        .ok()
        .map(|b| String::from_utf8_lossy(&b).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds(user: &str, secret: &str) -> Credentials {
        Credentials {
            user: user.into(),
            secret: secret.into(),
            mechanism: None,
        }
    }

    #[test]
    fn choosing() {
        let offered = |s: &str| s.split(' ').map(String::from).collect::<Vec<_>>();
        assert_eq!(
            choose(&offered("PLAIN LOGIN CRAM-MD5"), None),
            Ok(Mechanism::CramMd5)
        );
        assert_eq!(choose(&offered("LOGIN PLAIN"), None), Ok(Mechanism::Plain));
        assert_eq!(choose(&offered("LOGIN"), None), Ok(Mechanism::Login));
        assert!(choose(&offered("XOAUTH2 GSSAPI"), None).is_err());
        assert!(choose(&[], None).unwrap_err().contains("offers no AUTH"));
        assert_eq!(
            choose(&offered("PLAIN XOAUTH2"), Some(Mechanism::XOAuth2)),
            Ok(Mechanism::XOAuth2)
        );
        assert!(choose(&offered("PLAIN"), Some(Mechanism::Login))
            .unwrap_err()
            .contains("does not offer AUTH LOGIN"));
        assert_eq!(Mechanism::parse("cram-md5"), Some(Mechanism::CramMd5));
    }

    #[test]
    fn rfc_vectors() {
        // RFC 4616 §4 example: authcid "tim", password "tanstaaftanstaaf".
        assert_eq!(
            plain_response(&creds("tim", "tanstaaftanstaaf")),
            "AHRpbQB0YW5zdGFhZnRhbnN0YWFm"
        );
        // RFC 2195 §2 example.
        let challenge = base64(b"<1896.697170952@postoffice.reston.mci.net>");
        let response = cram_md5_response(&creds("tim", "tanstaaftanstaaf"), &challenge).unwrap();
        assert_eq!(
            decode_text(&response).unwrap(),
            "tim b913a602c7eda7a495b4e6e7334d3890"
        );
        assert_eq!(cram_md5_response(&creds("a", "b"), "not base64!"), None);
        assert_eq!(
            decode_text(&xoauth2_response(&creds("u@x", "tok"))).unwrap(),
            "user=u@x\x01auth=Bearer tok\x01\x01"
        );
    }

    #[test]
    fn debug_hides_the_secret() {
        let shown = format!("{:?}", creds("u", "hunter2"));
        assert!(!shown.contains("hunter2"), "{shown}");
    }
}
