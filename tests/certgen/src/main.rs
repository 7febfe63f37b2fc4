//! `certgen DIR`: a throwaway CA and the server certificates the TLS tests
//! need, as PEM files in DIR. Test helper only; never shipped.
//!
//! - ca.pem                 the test CA (what `--cafile` is given)
//! - server.{pem,key}       localhost, 127.0.0.1, ::1, signed by the CA
//! - wrongname.{pem,key}    wrong.example only, signed by the CA
//! - expired.{pem,key}      localhost, 127.0.0.1, expired in 2021, signed by the CA
//! - selfsigned.{pem,key}   localhost, 127.0.0.1, signed by itself

use std::path::Path;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};
use time::{Duration, OffsetDateTime};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args().nth(1).ok_or("usage: certgen DIR")?;
    let dir = Path::new(&dir);
    std::fs::create_dir_all(dir)?;
    let now = OffsetDateTime::now_utc();

    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "smtp-send test CA");
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca_params.not_before = now - Duration::days(1);
    ca_params.not_after = now + Duration::days(30);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate()?)?;
    std::fs::write(dir.join("ca.pem"), ca.pem())?;

    let leaf = |names: &[&str], from: OffsetDateTime, until: OffsetDateTime| {
        let mut params =
            CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())?;
        params.distinguished_name.push(DnType::CommonName, names[0]);
        params.not_before = from;
        params.not_after = until;
        Ok::<_, rcgen::Error>(params)
    };
    let valid = (now - Duration::days(1), now + Duration::days(30));
    let issued = [
        (
            "server",
            leaf(&["localhost", "127.0.0.1", "::1"], valid.0, valid.1)?,
        ),
        ("wrongname", leaf(&["wrong.example"], valid.0, valid.1)?),
        (
            "expired",
            leaf(
                &["localhost", "127.0.0.1"],
                now - Duration::days(2000),
                now - Duration::days(1500),
            )?,
        ),
    ];
    for (name, params) in issued {
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &ca)?;
        std::fs::write(dir.join(format!("{name}.pem")), cert.pem())?;
        std::fs::write(dir.join(format!("{name}.key")), key.serialize_pem())?;
    }
    let key = KeyPair::generate()?;
    let cert = leaf(&["localhost", "127.0.0.1"], valid.0, valid.1)?.self_signed(&key)?;
    std::fs::write(dir.join("selfsigned.pem"), cert.pem())?;
    std::fs::write(dir.join("selfsigned.key"), key.serialize_pem())?;
    Ok(())
}
