//! What a front end prints on stdout: the seed program's result lines.

use crate::client::Receipt;
use crate::error::Error;

/// The seed program's line before the reasons of a failure.
pub const BANNER: &str = " *** Your message may not have been sent!";

/// `Message successfully sent to N recipient(s)`, then `Refused <addr>:
/// <code> <text>` for each refused recipient. A `label` (a file name) is
/// added in parentheses when several messages are reported.
pub fn success_lines(receipt: &Receipt, label: &str) -> Vec<String> {
    let of = if label.is_empty() {
        String::new()
    } else {
        format!(" ({label})")
    };
    let mut lines = vec![format!(
        "Message successfully sent to {} recipient(s){of}",
        receipt.accepted.len()
    )];
    for r in &receipt.refused {
        lines.push(format!("Refused {}: {}", r.address, r.reply));
    }
    lines
}

/// The banner and `<case>: <detail>` lines of a failure, and the exit status.
pub fn failure_lines(error: &Error) -> (Vec<String>, i32) {
    let mut lines = vec![BANNER.to_owned()];
    lines.extend(error.report_lines());
    (lines, error.exit_status())
}
