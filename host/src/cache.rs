//! The guest component, compiled once and kept on disk.
//!
//! Compiling the component takes ~150 ms; loading a precompiled artifact takes
//! well under a millisecond. Artifacts live in the user's cache directory,
//! named by the component's hash and the engine's compatibility hash, so a
//! new build or a new wasmtime never reuses a stale one. Each file carries a
//! SHA-256 of its payload, checked before wasmtime sees it: a truncated or
//! corrupt file is recompiled, never loaded.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::component::Component;
use wasmtime::Engine;

const MAGIC: &[u8; 8] = b"SMTPCW01";

/// Where artifacts go: `$SMTP_SEND_CACHE_DIR`, else `$XDG_CACHE_HOME/smtp-send`,
/// else `~/.cache/smtp-send`. `None` disables the cache.
pub fn default_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("SMTP_SEND_CACHE_DIR") {
        return (!dir.is_empty()).then(|| PathBuf::from(dir));
    }
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir).join("smtp-send"));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/smtp-send"))
}

/// Loads the component from the cache, compiling (and caching) it on a miss.
pub fn load(engine: &Engine, wasm: &[u8], dir: Option<&Path>) -> wasmtime::Result<Component> {
    let Some(dir) = dir else {
        return Component::new(engine, wasm);
    };
    let path = dir.join(artifact_name(engine, wasm));
    if let Some(component) = read(engine, &path) {
        return Ok(component);
    }
    let artifact = engine.precompile_component(wasm)?;
    // A cache we cannot write is no reason to fail the send.
    let _ = write(dir, &path, &artifact);
    // SAFETY: `artifact` was produced by this engine a moment ago.
    unsafe { Component::deserialize(engine, &artifact) }
}

fn artifact_name(engine: &Engine, wasm: &[u8]) -> String {
    let mut engine_hash = std::collections::hash_map::DefaultHasher::new();
    engine
        .precompile_compatibility_hash()
        .hash(&mut engine_hash);
    let wasm_hash = Sha256::digest(wasm);
    format!(
        "guest-{}-{:016x}.cwasm",
        hex(&wasm_hash[..12]),
        engine_hash.finish()
    )
}

fn read(engine: &Engine, path: &Path) -> Option<Component> {
    let file = std::fs::read(path).ok()?;
    let (header, payload) = file.split_at_checked(MAGIC.len() + 32)?;
    if &header[..MAGIC.len()] != MAGIC || header[MAGIC.len()..] != Sha256::digest(payload)[..] {
        return None;
    }
    // SAFETY: the payload is byte for byte what `precompile_component`
    // produced for this engine configuration and this component (the file
    // name says which, the checksum proves it is intact), and wasmtime checks
    // its own header and version on top.
    unsafe { Component::deserialize(engine, payload) }.ok()
}

fn write(dir: &Path, path: &Path, artifact: &[u8]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut data = Vec::with_capacity(MAGIC.len() + 32 + artifact.len());
    data.extend_from_slice(MAGIC);
    data.extend_from_slice(&Sha256::digest(artifact));
    data.extend_from_slice(artifact);
    // Write then rename: a reader never sees half a file.
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, &data)?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corrupt_or_stale_artifacts_are_recompiled() {
        let engine = Engine::default();
        // wasmtime reads the text format too.
        let wasm = b"(component)".to_vec();
        let dir = std::env::temp_dir().join(format!("smtp-send-cache-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        load(&engine, &wasm, Some(&dir)).unwrap();
        let path = dir.join(artifact_name(&engine, &wasm));
        assert!(read(&engine, &path).is_some(), "artifact was cached");
        // Flip one byte of the payload: the checksum catches it.
        let mut data = std::fs::read(&path).unwrap();
        let last = data.len() - 1;
        data[last] ^= 0xff;
        std::fs::write(&path, &data).unwrap();
        assert!(read(&engine, &path).is_none());
        load(&engine, &wasm, Some(&dir)).unwrap();
        assert!(read(&engine, &path).is_some(), "artifact was rewritten");
        std::fs::write(&path, b"short").unwrap();
        assert!(read(&engine, &path).is_none());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
