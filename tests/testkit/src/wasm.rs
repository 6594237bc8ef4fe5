//! Builds the Wasm policy modules under `plugins/` from source, once per test run, and
//! hands tests the path of the resulting component. Rust modules are built for
//! `wasm32-unknown-unknown` and wrapped with `wasm-tools component new` (no WASI imports),
//! or for `wasm32-wasip2` (a component importing WASI); `.wat` components are assembled with
//! `wasm-tools parse`. Cargo's own up-to-date check makes later runs cheap.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

/// Why a module could not be built; the message says how to fix the machine.
#[derive(Debug, thiserror::Error)]
pub enum WasmError {
    #[error(
        "`{tool}` is not runnable ({reason}); run `bash scripts/setup.sh` to install the Wasm tools and targets"
    )]
    ToolMissing { tool: String, reason: String },
    #[error(
        "building {what} failed (exit {status}); run `bash scripts/setup.sh` if a target is missing. Output:\n{output}"
    )]
    Build {
        what: String,
        status: String,
        output: String,
    },
    #[error("expected build output {path} is missing")]
    Missing { path: String },
}

/// The repository's `plugins/` workspace.
pub fn plugins_dir() -> PathBuf {
    crate::repo_root().join("plugins")
}

/// Where the plugin workspace builds: beside the main target dir, so repeated runs reuse it.
fn target_dir() -> PathBuf {
    let base = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| crate::repo_root().join("target"));
    base.join("wasm-plugins")
}

fn cache() -> &'static Mutex<HashMap<String, PathBuf>> {
    static CACHE: OnceLock<Mutex<HashMap<String, PathBuf>>> = OnceLock::new();
    CACHE.get_or_init(|| Mutex::new(HashMap::new()))
}

fn cached(
    key: String,
    build: impl FnOnce() -> Result<PathBuf, WasmError>,
) -> Result<PathBuf, WasmError> {
    let mut c = cache().lock().unwrap_or_else(|e| e.into_inner());
    if let Some(p) = c.get(&key) {
        return Ok(p.clone());
    }
    let p = build()?;
    c.insert(key, p.clone());
    Ok(p)
}

fn run(what: &str, cmd: &mut Command) -> Result<(), WasmError> {
    let tool = cmd.get_program().to_string_lossy().into_owned();
    let out = cmd.output().map_err(|e| WasmError::ToolMissing {
        tool,
        reason: e.to_string(),
    })?;
    if !out.status.success() {
        let mut output = String::from_utf8_lossy(&out.stderr).into_owned();
        output.push_str(&String::from_utf8_lossy(&out.stdout));
        return Err(WasmError::Build {
            what: what.to_string(),
            status: out.status.to_string(),
            output,
        });
    }
    Ok(())
}

fn cargo_build(package: &str, target: &str) -> Result<PathBuf, WasmError> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let dir = target_dir();
    run(
        &format!("plugin {package} for {target}"),
        Command::new(cargo)
            .current_dir(plugins_dir())
            .args([
                "build",
                "--quiet",
                "--release",
                "--target",
                target,
                "-p",
                package,
            ])
            .env("CARGO_TARGET_DIR", &dir)
            .env_remove("RUSTFLAGS")
            .env_remove("CARGO_ENCODED_RUSTFLAGS")
            .env_remove("CARGO_BUILD_TARGET"),
    )?;
    let path = dir
        .join(target)
        .join("release")
        .join(format!("{}.wasm", package.replace('-', "_")));
    if !path.exists() {
        return Err(WasmError::Missing {
            path: path.display().to_string(),
        });
    }
    Ok(path)
}

/// The component of Rust package `package` under `plugins/`, built for
/// `wasm32-unknown-unknown` and wrapped by `wasm-tools component new`: no WASI imports.
pub fn rust_component(package: &str) -> Result<PathBuf, WasmError> {
    cached(format!("rust:{package}"), || {
        let core = cargo_build(package, "wasm32-unknown-unknown")?;
        let out = core.with_file_name(format!("{package}.component.wasm"));
        run(
            &format!("component of {package}"),
            Command::new("wasm-tools")
                .arg("component")
                .arg("new")
                .arg(&core)
                .arg("-o")
                .arg(&out),
        )?;
        Ok(out)
    })
}

/// The component of Rust package `package` built for `wasm32-wasip2` (imports WASI).
pub fn wasip2_component(package: &str) -> Result<PathBuf, WasmError> {
    cached(format!("wasip2:{package}"), || {
        cargo_build(package, "wasm32-wasip2")
    })
}

/// A component assembled from a `.wat` file, `file` relative to `plugins/`.
pub fn wat_component(file: &str) -> Result<PathBuf, WasmError> {
    cached(format!("wat:{file}"), || {
        let src = plugins_dir().join(file);
        let dir = target_dir().join("wat");
        std::fs::create_dir_all(&dir).map_err(|e| WasmError::Build {
            what: file.into(),
            status: "mkdir".into(),
            output: e.to_string(),
        })?;
        let name = Path::new(file)
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "module".into());
        let out = dir.join(format!("{name}.wasm"));
        run(
            &format!("component {file}"),
            Command::new("wasm-tools")
                .arg("parse")
                .arg(&src)
                .arg("-o")
                .arg(&out),
        )?;
        Ok(out)
    })
}

/// Reads a built component's bytes; panics with the build error (tests only).
pub fn bytes(path: Result<PathBuf, WasmError>) -> Vec<u8> {
    let path = path.unwrap_or_else(|e| panic!("{e}"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}
