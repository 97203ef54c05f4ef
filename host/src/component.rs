//! Component binaries: checking the bytes, reading their imports and exports
//! without compiling, and compiling them once with an on-disk cache.
//!
//! Garbage, core modules and oversize files are refused here with a sentence
//! that says what was found; nothing in this module panics on bad input.

use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use wasmparser::{Encoding, Parser, Payload};
use wasmtime::component::Component;
use wasmtime::Engine;

/// Largest component accepted unless the server is told otherwise
/// (`caxton serve --max-component-bytes`), in bytes: 64 MiB, over three times
/// the largest guest `just build-guests` makes (a CPython agent, ~18.5 MB).
pub const MAX_COMPONENT_BYTES: usize = 64 * 1024 * 1024;

/// Why a component cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ComponentError {
    /// The file could not be read.
    #[error("cannot read component `{path}`")]
    Read {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
    /// Larger than the limit ([`MAX_COMPONENT_BYTES`] unless configured).
    #[error("the component is {size} bytes, more than the limit of {limit} bytes")]
    TooLarge {
        /// Its size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// Not WebAssembly at all.
    #[error("not a WebAssembly binary: it does not start with the `\\0asm` magic number")]
    NotWasm,
    /// A core module where a component is required.
    #[error("expected a component, found a core WebAssembly module: build for `wasm32-wasip2` or wrap it with `wasm-tools component new`")]
    CoreModule,
    /// Malformed WebAssembly.
    #[error("invalid component: {0}")]
    Invalid(String),
}

/// The top-level imports and exports of a component, by name, and those of
/// the components nested in it (the parts of a composition).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ComponentInfo {
    /// Imported interface or function names, e.g. `caxton:agent/kv-store@0.1.0`.
    pub imports: Vec<String>,
    /// Exported names, e.g. `handle-message`.
    pub exports: Vec<String>,
    /// Components nested directly inside this one (empty unless composed).
    pub parts: Vec<Part>,
}

/// A component nested in another: one part of a composition.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Part {
    /// Its imports.
    pub imports: Vec<String>,
    /// Its exports.
    pub exports: Vec<String>,
}

impl Part {
    /// How to name the part to a person: by the interface it exports, or as the agent itself.
    pub fn describe(&self, index: usize) -> String {
        if self.exports.iter().any(|e| e.starts_with("caxton:agent/guest@")) {
            "the agent's own component".to_string()
        } else if let Some(interface) = self.exports.iter().find(|e| e.contains(':')) {
            format!("the inner component that exports `{interface}`")
        } else {
            format!("inner component #{index}")
        }
    }
}

impl ComponentInfo {
    /// The parts that import `import` (with their index).
    pub fn parts_importing<'a>(&'a self, import: &'a str) -> impl Iterator<Item = (usize, &'a Part)> + 'a {
        self.parts.iter().enumerate().filter(move |(_, p)| p.imports.iter().any(|i| i == import))
    }
}

/// Read a component file of at most `limit` bytes, refusing a larger one
/// before reading it, and never reading more than `limit + 1` bytes of
/// anything (a device or a pipe has no size to check first).
pub fn read(path: &Path, limit: usize) -> Result<Vec<u8>, ComponentError> {
    use std::io::Read;
    let err = |source| ComponentError::Read { path: path.to_path_buf(), source };
    let too_large = |size: u64| ComponentError::TooLarge { size: usize::try_from(size).unwrap_or(usize::MAX), limit };
    let file = std::fs::File::open(path).map_err(err)?;
    let size = file.metadata().map_err(err)?.len();
    if size > limit as u64 {
        return Err(too_large(size));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    file.take((limit as u64).saturating_add(1)).read_to_end(&mut bytes).map_err(err)?;
    if bytes.len() > limit {
        return Err(too_large(bytes.len() as u64));
    }
    Ok(bytes)
}

/// Check size (at most `limit` bytes) and header: the bytes must be a
/// component, not a core module or anything else.
pub fn check(bytes: &[u8], limit: usize) -> Result<(), ComponentError> {
    if bytes.len() > limit {
        return Err(ComponentError::TooLarge { size: bytes.len(), limit });
    }
    if !bytes.starts_with(b"\0asm") {
        return Err(ComponentError::NotWasm);
    }
    match Parser::new(0).parse(bytes, true) {
        Ok(wasmparser::Chunk::Parsed { payload: Payload::Version { encoding: Encoding::Component, .. }, .. }) => Ok(()),
        Ok(wasmparser::Chunk::Parsed { payload: Payload::Version { encoding: Encoding::Module, .. }, .. }) => {
            Err(ComponentError::CoreModule)
        }
        Ok(_) => Err(ComponentError::Invalid("unrecognised WebAssembly header".into())),
        Err(e) => Err(ComponentError::Invalid(e.to_string())),
    }
}

/// The top-level imports and exports, and those of directly nested
/// components, read without compiling.
pub fn inspect(bytes: &[u8]) -> Result<ComponentInfo, ComponentError> {
    check(bytes, usize::MAX)?;
    let invalid = |e: wasmparser::BinaryReaderError| ComponentError::Invalid(e.to_string());
    let mut info = ComponentInfo::default();
    // one entry per open module/component: whether it is a component
    let mut open: Vec<bool> = Vec::new();
    for payload in Parser::new(0).parse_all(bytes) {
        let payload = payload.map_err(invalid)?;
        let depth = open.len();
        let (imports, exports) = match depth {
            0 => (&mut info.imports, &mut info.exports),
            1 if open.first() == Some(&true) => match info.parts.last_mut() {
                Some(part) => (&mut part.imports, &mut part.exports),
                None => continue,
            },
            _ => {
                if matches!(payload, Payload::End(_)) {
                    open.pop();
                } else if matches!(payload, Payload::ModuleSection { .. } | Payload::ComponentSection { .. }) {
                    open.push(matches!(payload, Payload::ComponentSection { .. }));
                }
                continue;
            }
        };
        match payload {
            Payload::ModuleSection { .. } => open.push(false),
            Payload::ComponentSection { .. } => {
                if depth == 0 {
                    info.parts.push(Part::default());
                }
                open.push(true);
            }
            Payload::End(_) => {
                open.pop();
            }
            Payload::ComponentImportSection(reader) => {
                for import in reader {
                    let import = import.map_err(invalid)?;
                    // Type imports (from a world's `use`) carry no capability.
                    if !matches!(import.ty, wasmparser::ComponentTypeRef::Type(_)) {
                        imports.push(import.name.name.to_string());
                    }
                }
            }
            Payload::ComponentExportSection(reader) => {
                for export in reader {
                    exports.push(export.map_err(invalid)?.name.name.to_string());
                }
            }
            _ => {}
        }
    }
    Ok(info)
}

/// Compiles components, keeping the native code in a cache directory keyed by
/// the component's SHA-256 and the engine's compatibility hash, so a restart
/// loads instead of recompiling.
///
/// Components compiled in this process are also kept in memory, so deploying
/// the same component under many names compiles it once.
#[derive(Clone)]
pub struct Compiler {
    engine: Engine,
    cache_dir: Option<PathBuf>,
    loaded: Arc<Mutex<HashMap<[u8; 32], Component>>>,
    compiled: Arc<std::sync::atomic::AtomicU64>,
}

impl Compiler {
    /// A compiler for `engine`; `cache_dir` `None` disables the on-disk cache.
    pub fn new(engine: Engine, cache_dir: Option<PathBuf>) -> Compiler {
        Compiler { engine, cache_dir, loaded: Arc::default(), compiled: Arc::default() }
    }

    /// How many components were compiled to machine code (not found in either cache).
    pub fn compiled(&self) -> u64 {
        self.compiled.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Where the compiled form of the component with this digest is cached.
    pub fn cache_path(&self, digest: &[u8; 32]) -> Option<PathBuf> {
        let dir = self.cache_dir.as_ref()?;
        let mut engine_hash = std::collections::hash_map::DefaultHasher::new();
        self.engine.precompile_compatibility_hash().hash(&mut engine_hash);
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        Some(dir.join(format!("{hex}-{:016x}.cwasm", engine_hash.finish())))
    }

    /// The content digest components are cached under.
    pub fn digest(bytes: &[u8]) -> [u8; 32] {
        Sha256::digest(bytes).into()
    }

    /// The component with this digest, if it was compiled or loaded in this
    /// process, or is in the cache directory (then it is loaded now, never compiled).
    pub fn loaded(&self, digest: &[u8; 32]) -> Option<Component> {
        if let Some(component) = self.loaded.lock().unwrap_or_else(|p| p.into_inner()).get(digest) {
            return Some(component.clone());
        }
        let path = self.cache_path(digest).filter(|p| p.exists())?;
        match self.load_cached(&path) {
            Ok(component) => {
                self.loaded.lock().unwrap_or_else(|p| p.into_inner()).insert(*digest, component.clone());
                Some(component)
            }
            Err(e) => {
                tracing::warn!(path = %path.display(), "recompiling: cached component unusable: {e:#}");
                None
            }
        }
    }

    /// Drop the compiled component with this digest from memory (the cache
    /// directory keeps it).
    pub fn forget(&self, digest: &[u8; 32]) {
        self.loaded.lock().unwrap_or_else(|p| p.into_inner()).remove(digest);
    }

    /// How many compiled components are held in memory.
    pub fn in_memory(&self) -> usize {
        self.loaded.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// [`Compiler::compile`] for bytes whose digest is known.
    pub fn compile_digested(&self, bytes: &[u8], digest: &[u8; 32]) -> Result<Component, ComponentError> {
        if let Some(component) = self.loaded(digest) {
            return Ok(component);
        }
        self.compiled.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let component = Component::new(&self.engine, bytes).map_err(|e| ComponentError::Invalid(format!("{e:#}")))?;
        if let Some(path) = self.cache_path(digest) {
            if let Err(e) = self.store_cached(&component, &path) {
                tracing::warn!(path = %path.display(), "cannot cache compiled component: {e:#}");
            }
        }
        self.loaded.lock().unwrap_or_else(|p| p.into_inner()).insert(*digest, component.clone());
        Ok(component)
    }

    #[allow(unsafe_code)]
    fn load_cached(&self, path: &Path) -> wasmtime::Result<Component> {
        // SAFETY: files in the cache directory are written only by `store_cached`
        // from `Component::serialize` of this host (atomically, by rename), and
        // the file name pins the engine's compatibility hash. Tenant-supplied
        // bytes are never deserialized: they always go through `Component::new`.
        unsafe { Component::deserialize_file(&self.engine, path) }
    }

    fn store_cached(&self, component: &Component, path: &Path) -> wasmtime::Result<()> {
        let dir = path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir)?;
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        std::fs::write(&tmp, component.serialize()?)?;
        std::fs::rename(&tmp, path)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_garbage_core_modules_and_oversize_input() {
        assert!(matches!(check(b"hello world", MAX_COMPONENT_BYTES), Err(ComponentError::NotWasm)));
        assert!(matches!(check(b"", MAX_COMPONENT_BYTES), Err(ComponentError::NotWasm)));
        let core = wat::parse_str("(module)").unwrap();
        assert!(matches!(check(&core, MAX_COMPONENT_BYTES), Err(ComponentError::CoreModule)));
        let mut truncated = wat::parse_str("(component)").unwrap();
        truncated.truncate(6);
        assert!(matches!(check(&truncated, MAX_COMPONENT_BYTES), Err(ComponentError::Invalid(_))));
        let big = vec![0u8; MAX_COMPONENT_BYTES + 1];
        assert!(matches!(check(&big, MAX_COMPONENT_BYTES), Err(ComponentError::TooLarge { .. })));
    }

    #[test]
    fn a_file_without_a_size_is_read_no_further_than_the_limit() {
        let err = read(Path::new("/dev/zero"), 4096).unwrap_err();
        assert!(matches!(err, ComponentError::TooLarge { limit: 4096, .. }), "{err}");
    }

    #[test]
    fn lists_top_level_imports_and_exports_only() {
        let bytes = wat::parse_str(
            r#"(component
                (import "caxton:agent/kv-store@0.1.0" (instance))
                (core module $m (import "inner" "f" (func)))
                (component $c (import "nested:pkg/iface" (instance)))
                (core module $n (func (export "g")))
                (core instance $i (instantiate $n))
                (core func $g (alias core export $i "g"))
                (func $f (canon lift (core func $g)))
                (export "shutdown" (func $f))
            )"#,
        )
        .unwrap();
        let info = inspect(&bytes).unwrap();
        assert_eq!(info.imports, vec!["caxton:agent/kv-store@0.1.0"]);
        assert_eq!(info.exports, vec!["shutdown"]);
    }
}
