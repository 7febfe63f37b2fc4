//! The guest component, compiled once and kept on disk.
//!
//! Compiling the component takes ~150 ms; loading a precompiled artifact
//! takes well under a millisecond. Artifacts live in the user's cache
//! directory, named by the component's hash and the engine's compatibility
//! hash, so a new build or a new wasmtime never reuses a stale one. Beside
//! each artifact lies its checksum, verified before wasmtime sees the file:
//! a truncated or corrupt artifact is recompiled, never loaded. Both hashes
//! are XXH3-128 (the cache guards against accidents, not against someone
//! who can write to the user's own cache directory, who could as well
//! replace the binary).

use std::fs::File;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use wasmtime::component::Component;
use wasmtime::Engine;
use xxhash_rust::xxh3::xxh3_128;

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
    format!(
        "guest-{:032x}-{:016x}.cwasm",
        xxh3_128(wasm),
        engine_hash.finish()
    )
}

fn checksum_path(path: &Path) -> PathBuf {
    path.with_extension("cwasm.xxh3")
}

fn read(engine: &Engine, path: &Path) -> Option<Component> {
    let expected = std::fs::read_to_string(checksum_path(path)).ok()?;
    let file = File::open(path).ok()?;
    // SAFETY: a read-only map of a file we only ever replace by rename, so
    // its contents do not change under us.
    let map = unsafe { memmap2::Mmap::map(&file) }.ok()?;
    if format!("{:032x}", xxh3_128(&map)) != expected.trim() {
        return None;
    }
    drop(map);
    // SAFETY: the file is byte for byte what `precompile_component`
    // produced for this engine configuration and this component (the name
    // says which, the checksum that it is intact), and wasmtime checks its
    // own header and version on top.
    unsafe { Component::deserialize_file(engine, path) }.ok()
}

fn write(dir: &Path, path: &Path, artifact: &[u8]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    // Older artifacts (other builds, other wasmtime versions) go.
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let name = entry.file_name();
            if name.to_string_lossy().starts_with("guest-") {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
    // Artifact first, then its checksum, each written then renamed: a
    // reader sees either no checksum or a complete artifact.
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, artifact)?;
    std::fs::rename(&tmp, path)?;
    let sum_tmp = path.with_extension(format!("sumtmp{}", std::process::id()));
    std::fs::write(&sum_tmp, format!("{:032x}\n", xxh3_128(artifact)))?;
    std::fs::rename(&sum_tmp, checksum_path(path))
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
        // Flip one byte: the checksum catches it.
        let mut data = std::fs::read(&path).unwrap();
        let last = data.len() - 1;
        data[last] ^= 0xff;
        std::fs::write(&path, &data).unwrap();
        assert!(read(&engine, &path).is_none());
        load(&engine, &wasm, Some(&dir)).unwrap();
        assert!(read(&engine, &path).is_some(), "artifact was rewritten");
        std::fs::write(&path, b"short").unwrap();
        assert!(read(&engine, &path).is_none());
        std::fs::remove_file(checksum_path(&path)).unwrap();
        assert!(read(&engine, &path).is_none(), "no checksum, no load");
        // A stale artifact of another component is swept on the next write.
        std::fs::write(dir.join("guest-stale.cwasm"), b"old").unwrap();
        load(&engine, &wasm, Some(&dir)).unwrap();
        assert!(!dir.join("guest-stale.cwasm").exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
