//! `smtp-bench`: measurements of the embeddable host that the peer kit
//! cannot take (it times whole processes). Used by `make bench`.
//!
//!     smtp-bench overhead [N]             fixed cost of one sandbox (µs)
//!     smtp-bench concurrent N SERVER      N sends at once from one process
//!
//! Prints `key=value` lines.

use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context};
use smtp_host::{Call, Grant, Mailer, Sandbox};
use smtp_proto::server::ServerAddress;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    match args.first().map(String::as_str) {
        Some("overhead") => {
            let n: u32 = args.get(1).map_or(Ok(20000), |s| s.parse())?;
            for (label, pool) in [("on-demand", 0), ("pooled", 16)] {
                let mailer = Mailer::builder()
                    .concurrency(pool)
                    .build()
                    .map_err(|e| anyhow::anyhow!("{e:?}"))?;
                let sandbox = Sandbox::default();
                rt.block_on(async {
                    for _ in 0..n / 10 {
                        mailer.instantiate_only(&sandbox).await?;
                    }
                    let t = Instant::now();
                    for _ in 0..n {
                        mailer.instantiate_only(&sandbox).await?;
                    }
                    let us = t.elapsed().as_secs_f64() * 1e6 / f64::from(n);
                    println!("sandbox_us_{label}={us:.1}");
                    Ok::<_, smtp_host::SendError>(())
                })?;
            }
        }
        Some("concurrent") => {
            let (Some(n), Some(server)) = (args.get(1), args.get(2)) else {
                bail!("usage: smtp-bench concurrent N SERVER");
            };
            let n: u32 = n.parse()?;
            concurrent(&rt, n, server)?;
        }
        _ => bail!("usage: smtp-bench overhead [N] | concurrent N SERVER"),
    }
    Ok(())
}

/// Peak and current resident memory of this process, in KiB.
fn rss_kib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    };
    (field("VmHWM:"), field("VmRSS:"))
}

fn concurrent(rt: &tokio::runtime::Runtime, n: u32, server: &str) -> anyhow::Result<()> {
    let mailer = Arc::new(
        Mailer::builder()
            .concurrency(n)
            .build()
            .map_err(|e| anyhow::anyhow!("{e:?}"))?,
    );
    let addr = ServerAddress::parse(server, None).context("server")?;
    let grant = Arc::new(Grant::server(&addr));
    let message = "Subject: concurrent\r\n\r\n".to_string() + &"x".repeat(78) + "\r\n";
    let (_, before) = rss_kib();
    let started = Instant::now();
    let failures = rt.block_on(async {
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..n {
            let mailer = mailer.clone();
            let mut call = Call::new(
                server,
                "bench@example.com",
                &[format!("rcpt{i}@example.com")],
                message.clone(),
            );
            call.sandbox.grant = grant.clone();
            tasks.spawn(async move { mailer.send(call).await.is_err() });
        }
        let mut failures = 0u32;
        while let Some(r) = tasks.join_next().await {
            failures += u32::from(r.unwrap_or(true));
        }
        failures
    });
    let secs = started.elapsed().as_secs_f64();
    let (peak, _) = rss_kib();
    println!("concurrent_sends={n}");
    println!("concurrent_failures={failures}");
    println!("concurrent_secs={secs:.3}");
    println!("peak_rss_kib={peak}");
    println!("rss_before_kib={before}");
    println!(
        "rss_per_send_kib={:.1}",
        (peak.saturating_sub(before)) as f64 / f64::from(n)
    );
    Ok(())
}
