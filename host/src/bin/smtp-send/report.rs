//! What smtp-send prints on stdout: the seed program's result lines, or
//! with `--json` one JSON object and nothing else.

use serde_json::json;
use smtp_proto::error::exit;
use smtp_proto::report::{success_lines, BANNER};

use crate::{output, Outcome};

/// At most this many failures are listed for a load test.
const MAX_LISTED: usize = 5;

pub struct Reporter {
    pub json: bool,
}

impl Reporter {
    /// A failure before anything was sent (`<case>: <detail>`); returns `status`.
    pub fn refused(&self, line: &str, status: i32) -> i32 {
        if self.json {
            let (case, detail) = line.split_once(": ").unwrap_or(("error", line));
            let v = json!({"ok": false, "exit": status,
                           "error": {"case": case, "detail": detail, "exit": status}});
            println!("{v}");
        } else {
            println!("{BANNER}");
            println!("{line}");
        }
        status
    }

    /// Prints the results of a run and returns its exit status: 0 when every
    /// message went, else the first failure's.
    pub fn results(&self, results: &[Outcome], count: u64) -> i32 {
        let status = results
            .iter()
            .find_map(|(_, r)| r.as_ref().err().map(|e| e.exit_status()))
            .unwrap_or(exit::OK);
        if self.json {
            let mut v = match results {
                [(label, result)] => output::outcome(label, result),
                _ => json!({
                    "ok": status == exit::OK,
                    "messages": results.iter().map(|(l, r)| output::outcome(l, r)).collect::<Vec<_>>(),
                }),
            };
            v["exit"] = json!(status);
            println!("{v}");
            return status;
        }
        if let [(_, result)] = results {
            match result {
                Ok(receipt) => print_lines(&success_lines(receipt, "")),
                Err(e) => {
                    println!("{BANNER}");
                    print_lines(&e.report_lines());
                }
            }
            return status;
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
                    print_lines(&success_lines(receipt, label));
                }
            }
        }
        if failed.is_empty() {
            return status;
        }
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
        status
    }
}

fn print_lines(lines: &[String]) {
    for line in lines {
        println!("{line}");
    }
}
