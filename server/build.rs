//! Links DuckDB's shared library, unless the `bundled` feature compiles DuckDB instead.
//!
//! Refuses a library in deploy/duckdb/lib whose SHA-256 differs from deploy/duckdb/PINS (a
//! corrupted or foreign file is never linked), and records where the binaries find the library
//! at run time: next to an installed copy first (`bin/chorus` with `lib/libduckdb.so`), then
//! where it was built against, so neither `cargo run` nor the systemd unit needs
//! LD_LIBRARY_PATH.

use sha2::{Digest, Sha256};
use std::env;
use std::path::{Path, PathBuf};
use std::process::exit;

const HOW_TO_FIX: &str = "run `bash deploy/fetch-duckdb.sh` (DuckDB's official library, pinned), \
     or compile DuckDB from source with `cargo build --workspace --features chorus-server/bundled` \
     (about 30 minutes)";

fn main() {
    println!("cargo:rerun-if-env-changed=DUCKDB_LIB_DIR");
    if env::var_os("CARGO_FEATURE_BUNDLED").is_some() {
        return;
    }
    let repository = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"))
        .parent()
        .expect("server/ is inside the repository")
        .to_owned();
    let pins = repository.join("deploy/duckdb/PINS");
    let Some(dir) = env::var_os("DUCKDB_LIB_DIR").map(PathBuf::from) else {
        refuse(&format!(
            "DUCKDB_LIB_DIR is not set (.cargo/config.toml sets it): {HOW_TO_FIX}"
        ));
    };
    let os = env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let library = dir.join(match os.as_str() {
        "macos" => "libduckdb.dylib",
        "windows" => "duckdb.lib",
        _ => "libduckdb.so",
    });
    println!("cargo:rerun-if-changed={}", library.display());
    println!("cargo:rerun-if-changed={}", pins.display());
    let Ok(bytes) = std::fs::read(&library) else {
        refuse(&format!(
            "DuckDB's library {} is missing: {HOW_TO_FIX}",
            library.display()
        ));
    };
    if same_directory(&dir, &repository.join("deploy/duckdb/lib")) {
        check_pin(&library, &bytes, &pins, &os);
    }
    let beside_install = match os.as_str() {
        "windows" => return,
        "macos" => "@loader_path/../lib",
        _ => "$ORIGIN/../lib",
    };
    println!("cargo:rustc-link-arg=-Wl,-rpath,{beside_install}");
    println!("cargo:rustc-link-arg=-Wl,-rpath,{}", dir.display());
}

/// The library's SHA-256 must be the one pinned for the target platform.
fn check_pin(library: &Path, bytes: &[u8], pins: &Path, os: &str) {
    let arch = env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let platform = match (os, arch.as_str()) {
        ("linux", "x86_64") => "linux-x64",
        _ => refuse(&format!(
            "no DuckDB library is pinned for {os}/{arch}: {HOW_TO_FIX}"
        )),
    };
    let pinned = std::fs::read_to_string(pins).unwrap_or_default();
    let Some(expected) = pinned
        .lines()
        .map(|line| line.split_whitespace().collect::<Vec<_>>())
        .find(|fields| fields.len() == 3 && fields[0] == platform)
        .map(|fields| fields[2].to_owned())
    else {
        refuse(&format!(
            "{} has no pin for {platform}: {HOW_TO_FIX}",
            pins.display()
        ));
    };
    let actual: String = Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    if actual != expected {
        refuse(&format!(
            "refusing to link {}: its SHA-256 is {actual} but {} pins {expected}; the file is \
             corrupted or not the pinned release: delete it and {HOW_TO_FIX}",
            library.display(),
            pins.display()
        ));
    }
}

fn same_directory(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

fn refuse(message: &str) -> ! {
    eprintln!("error: {message}");
    exit(1);
}
