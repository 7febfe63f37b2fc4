//! Checks on what the user typed, before anything is sent.
//!
//! An address ends up inside a command line (`rcpt TO:<...>`): a CR or LF in
//! it would end that line and start a command of the attacker's choosing, and
//! a `>` would end the path early. These checks are the boundary against SMTP
//! command injection, so they are strict: anything that is not plainly one
//! mailbox is refused.

/// RFC 5321 §4.5.3.1.3: a path is at most 256 octets, brackets included.
pub const MAX_MAILBOX: usize = 254;

/// What is wrong with an input, in words for the user.
pub type Invalid = String;

/// Checks one mailbox (without the angle brackets). An empty sender is the
/// null reverse-path `<>`; an empty recipient is refused by the caller.
pub fn check_mailbox(addr: &str) -> Result<(), Invalid> {
    if let Some(c) = addr.chars().find(|&c| c.is_control()) {
        return Err(format!(
            "address {} contains the control character {}",
            quoted(addr),
            char_name(c)
        ));
    }
    if addr.contains(['<', '>']) {
        return Err(format!(
            "address {} contains '<' or '>': give the bare mailbox, e.g. user@example.com",
            quoted(addr)
        ));
    }
    if addr.len() > MAX_MAILBOX {
        return Err(format!(
            "address {} is {} octets long; SMTP allows at most {MAX_MAILBOX}",
            quoted(addr),
            addr.len()
        ));
    }
    // Whitespace is only legal inside a quoted local part ("john smith"@x).
    let mut in_quotes = false;
    let mut escaped = false;
    for c in addr.chars() {
        match c {
            _ if escaped => escaped = false,
            '\\' if in_quotes => escaped = true,
            '"' => in_quotes = !in_quotes,
            c if c.is_whitespace() && !in_quotes => {
                return Err(format!(
                    "address {} contains a space outside quotes",
                    quoted(addr)
                ));
            }
            _ => {}
        }
    }
    if in_quotes {
        return Err(format!("address {} has an unclosed quote", quoted(addr)));
    }
    Ok(())
}

/// Checks the name sent with EHLO/HELO: a domain or an address literal
/// (RFC 5321 §4.1.1.1), nothing that could end the command line.
pub fn check_client_name(name: &str) -> Result<(), Invalid> {
    if name.is_empty() {
        return Err("the EHLO name is empty".into());
    }
    if let Some(c) = name.chars().find(|&c| c.is_control()) {
        return Err(format!(
            "the EHLO name {} contains the control character {}",
            quoted(name),
            char_name(c)
        ));
    }
    let literal = name.starts_with('[') && name.ends_with(']') && name.len() > 2;
    let body = if literal {
        &name[1..name.len() - 1]
    } else {
        name
    };
    let allowed = |c: char| {
        c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') || (literal && c == ':')
    };
    if name.len() > 255 || !body.chars().all(allowed) {
        return Err(format!(
            "the EHLO name {} is not a domain name or address literal",
            quoted(name)
        ));
    }
    Ok(())
}

/// True when an address needs SMTPUTF8 (RFC 6531).
pub fn needs_smtputf8(addr: &str) -> bool {
    !addr.is_ascii()
}

/// The input shown back to the user, escaped so that a CR or NUL in it is
/// visible rather than acted on by the terminal.
pub fn quoted(s: &str) -> String {
    format!("{:?}", s)
}

fn char_name(c: char) -> String {
    match c {
        '\r' => "CR".into(),
        '\n' => "LF".into(),
        '\0' => "NUL".into(),
        c => format!("U+{:04X}", u32::from(c)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_mailboxes() {
        for a in [
            "user@example.com",
            "",
            "Postmaster",
            "\"john smith\"@example.com",
            "\"a\\\"b\"@x",
            "δοκιμή@παράδειγμα.δοκιμή",
            "a+tag@[127.0.0.1]",
        ] {
            assert_eq!(check_mailbox(a), Ok(()), "{a}");
        }
    }

    #[test]
    fn injection_is_refused() {
        for a in [
            "a@b\r\nRCPT TO:<evil@x>",
            "a@b\n",
            "a@b\r",
            "a\0@b",
            "a@b>",
            "<a@b>",
            "a@b> SIZE=1",
            "a b@c",
            "a@b\t",
            "\"open@x",
        ] {
            let err = check_mailbox(a).unwrap_err();
            assert!(err.contains("address"), "{err}");
        }
        assert!(check_mailbox("a@b\r\n").unwrap_err().contains("CR"));
        assert!(check_mailbox("a\0@b").unwrap_err().contains("NUL"));
        assert!(check_mailbox(&"x".repeat(255)).is_err());
    }

    #[test]
    fn client_names() {
        assert!(check_client_name("localhost").is_ok());
        assert!(check_client_name("mail.example.com").is_ok());
        assert!(check_client_name("[127.0.0.1]").is_ok());
        assert!(check_client_name("[IPv6:::1]").is_ok());
        assert!(check_client_name("").is_err());
        assert!(check_client_name("a b").is_err());
        assert!(check_client_name("host\r\nMAIL FROM:<x>").is_err());
        assert!(check_client_name("host\0").is_err());
        assert!(check_client_name("ho<st").is_err());
    }
}
