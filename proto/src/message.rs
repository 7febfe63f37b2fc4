//! The seed program's default test message.

/// The seed program's test message. A long `To:` is folded (RFC 5322
/// §2.2.3) so no line passes 78 characters where an address allows.
pub fn default_message(from: &str, to: &[String]) -> String {
    format!(
        "{}\nFrom: {from}\nSubject: Test Message from smtp-send\n\n\
         This is a test message sent to you from the program.\n",
        fold_list("To", to)
    )
}

pub fn fold_list(name: &str, items: &[String]) -> String {
    let mut out = format!("{name}:");
    let mut line = out.len();
    for (i, item) in items.iter().enumerate() {
        let piece = if i + 1 < items.len() {
            format!("{item},")
        } else {
            item.clone()
        };
        if i > 0 && line + 1 + piece.len() > 78 {
            out.push_str("\n ");
            line = 1;
        } else {
            out.push(' ');
            line += 1;
        }
        out.push_str(&piece);
        line += piece.len();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_message_is_the_seeds() {
        let to = vec!["a@example.com".to_string(), "b@example.com".to_string()];
        assert_eq!(
            default_message("me@example.com", &to),
            "To: a@example.com, b@example.com\nFrom: me@example.com\n\
             Subject: Test Message from smtp-send\n\n\
             This is a test message sent to you from the program.\n"
        );
    }

    #[test]
    fn long_to_headers_are_folded() {
        let to: Vec<String> = (0..100).map(|i| format!("user{i}@example.com")).collect();
        let msg = default_message("me@example.com", &to);
        let header: Vec<&str> = msg
            .lines()
            .take_while(|l| !l.starts_with("From:"))
            .collect();
        assert!(header.len() > 20);
        assert!(header.iter().all(|l| l.len() <= 78), "{header:?}");
        assert!(header[1..].iter().all(|l| l.starts_with(' ')));
        let unfolded = header.join("");
        assert_eq!(unfolded, format!("To: {}", to.join(", ")));
    }
}
