//! What smtp-send prints on stdout: the seed program's result lines.

use smtp_proto::error::exit;

use crate::Outcome;

const BANNER: &str = " *** Your message may not have been sent!";

/// At most this many failures are listed for a load test.
const MAX_LISTED: usize = 5;

/// Prints the seed program's failure banner and the reasons; returns `status`.
pub fn failure(lines: &[String], status: i32) -> i32 {
    println!("{BANNER}");
    for line in lines {
        println!("{line}");
    }
    status
}

/// Prints the results of a run and returns its exit status: 0 when every
/// message went, else the first failure's.
pub fn print(results: &[Outcome], count: u64) -> i32 {
    if let [(_, result)] = results {
        return match result {
            Ok(receipt) => {
                success_lines(receipt, "");
                exit::OK
            }
            Err(e) => failure(&e.report_lines(), e.exit_status()),
        };
    }
    let failed: Vec<_> = results.iter().filter(|(_, r)| r.is_err()).collect();
    if count > 1 {
        // A load test: one summary line, and the first few failures.
        println!(
            "Messages successfully sent: {} of {}",
            results.len() - failed.len(),
            results.len()
        );
    } else {
        for (label, result) in results {
            if let Ok(receipt) = result {
                success_lines(receipt, label);
            }
        }
    }
    let Some((_, Err(first))) = failed.first() else {
        return exit::OK;
    };
    println!("{BANNER}");
    for (label, result) in failed.iter().take(MAX_LISTED) {
        if let Err(e) = result {
            for line in e.report_lines() {
                if label.is_empty() {
                    println!("{line}");
                } else {
                    println!("{label}: {line}");
                }
            }
        }
    }
    if failed.len() > MAX_LISTED {
        println!("... and {} more", failed.len() - MAX_LISTED);
    }
    first.exit_status()
}

fn success_lines(receipt: &smtp_host::Receipt, label: &str) {
    let of = if label.is_empty() {
        String::new()
    } else {
        format!(" ({label})")
    };
    println!(
        "Message successfully sent to {} recipient(s){of}",
        receipt.accepted.len()
    );
    for r in &receipt.refused {
        println!("Refused {}: {}", r.address, r.reply);
    }
}
