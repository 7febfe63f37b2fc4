//! Command-line values that both builds of smtp-send (the native host and
//! the command component) must read the same way.

use std::time::Duration;

/// The longest timeout or deadline accepted: a day.
const MAX_SECONDS: f64 = 86_400.0;

/// `--timeout`/`--deadline`: seconds, fractions allowed, more than 0 and at
/// most a day (a zero or negative wait would fail every send; an endless
/// one would hang it).
pub fn seconds(s: &str) -> Result<Duration, String> {
    let secs: f64 = s
        .parse()
        .map_err(|_| format!("{s:?} is not a number of seconds"))?;
    if !(secs > 0.0 && secs <= MAX_SECONDS) {
        return Err("must be more than 0 and at most 86400".into());
    }
    Ok(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_accepts_fractions_and_refuses_what_cannot_be_waited() {
        assert_eq!(seconds("1.5"), Ok(Duration::from_millis(1500)));
        assert_eq!(seconds("86400"), Ok(Duration::from_secs(86_400)));
        for bad in ["0", "-1", "86401", "NaN", "inf", "soon", ""] {
            assert!(seconds(bad).is_err(), "{bad}");
        }
    }
}
