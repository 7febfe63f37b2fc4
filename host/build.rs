//! Embeds the guest component in the host. The guest is built first, for
//! wasm32-wasip2, by `make` (`make guest`).

use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-env-changed=SMTP_GUEST_WASM");
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    println!("cargo:rerun-if-env-changed=CARGO_TARGET_DIR");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| manifest.join("../target"));
    let wasm = std::env::var_os("SMTP_GUEST_WASM")
        .map(PathBuf::from)
        .unwrap_or_else(|| target.join("wasm32-wasip2/release/smtp_guest.wasm"));
    if !wasm.exists() {
        panic!(
            "the guest component {} is missing: build it first with `make guest` \
             (cargo build --release -p smtp-guest --target wasm32-wasip2)",
            wasm.display()
        );
    }
    println!("cargo:rerun-if-changed={}", wasm.display());
    println!("cargo:rustc-env=SMTP_GUEST_WASM_PATH={}", wasm.display());
}
