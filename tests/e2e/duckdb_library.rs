//! DuckDB's shared library: deploy/fetch-duckdb.sh installs only the pinned file, and a built
//! `chorus` copied into an install layout (`bin/chorus`, `lib/libduckdb.so`, as the systemd
//! unit has it) finds the library beside it without LD_LIBRARY_PATH.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::helpers::{built_artifacts, repo_root};

/// The pinned npm package as deploy/duckdb/PINS names it: (version, sha256).
fn pinned_linux_x64() -> (String, String) {
    let pins = std::fs::read_to_string(repo_root().join("deploy/duckdb/PINS")).unwrap();
    let line = pins
        .lines()
        .find(|line| line.starts_with("linux-x64 "))
        .expect("a linux-x64 pin");
    let fields: Vec<&str> = line.split_whitespace().collect();
    (fields[1].to_owned(), fields[2].to_owned())
}

/// A copy of the script and its pins in `dir/deploy`, as in a fresh clone.
fn script_copy(dir: &Path) -> PathBuf {
    std::fs::create_dir_all(dir.join("deploy/duckdb")).unwrap();
    let script = dir.join("deploy/fetch-duckdb.sh");
    std::fs::copy(repo_root().join("deploy/fetch-duckdb.sh"), &script).unwrap();
    std::fs::copy(
        repo_root().join("deploy/duckdb/PINS"),
        dir.join("deploy/duckdb/PINS"),
    )
    .unwrap();
    script
}

fn run_script(script: &Path, registry: &str) -> Output {
    Command::new("bash")
        .arg(script)
        .env("npm_config_registry", registry)
        .output()
        .unwrap()
}

/// An npm registry on a random port serving one package tarball holding `library` as
/// package/libduckdb.so; returns its URL and the paths it was asked for.
fn registry_serving(library: &[u8]) -> (String, std::sync::mpsc::Receiver<String>) {
    let staging = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(staging.path().join("package")).unwrap();
    std::fs::write(staging.path().join("package/libduckdb.so"), library).unwrap();
    std::fs::write(staging.path().join("package/LICENSE"), "MIT").unwrap();
    let tarball = staging.path().join("package.tgz");
    let tar = Command::new("tar")
        .arg("-czf")
        .arg(&tarball)
        .arg("-C")
        .arg(staging.path())
        .arg("package")
        .status()
        .unwrap();
    assert!(tar.success());
    let body = std::fs::read(&tarball).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (asked, paths) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let mut stream = stream.unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            reader.read_line(&mut request_line).unwrap();
            let mut header = String::new();
            while reader.read_line(&mut header).unwrap() > 2 {
                header.clear();
            }
            let path = request_line.split(' ').nth(1).unwrap_or("").to_owned();
            let _ = asked.send(path);
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n\
                 Content-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(&body);
        }
    });
    (url, paths)
}

#[test]
fn the_fetch_script_installs_the_pinned_library_from_the_registry() {
    let (version, _) = pinned_linux_x64();
    let official = std::fs::read(repo_root().join("deploy/duckdb/lib/libduckdb.so"))
        .expect("deploy/fetch-duckdb.sh ran before the build (README's commands call it)");
    let (registry, asked) = registry_serving(&official);
    let clone = tempfile::tempdir().unwrap();
    let script = script_copy(clone.path());

    let out = run_script(&script, &registry);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        asked.recv().unwrap(),
        format!("/@duckdb/node-bindings-linux-x64/-/node-bindings-linux-x64-{version}.tgz")
    );
    let installed = clone.path().join("deploy/duckdb/lib/libduckdb.so");
    assert!(std::fs::read(&installed).unwrap() == official);
    assert!(clone.path().join("deploy/duckdb/lib/LICENSE").exists());

    // Once there, the script asks nothing more.
    let again = run_script(&script, &registry);
    assert!(again.status.success());
    assert!(asked.try_recv().is_err(), "a second run fetched again");
}

#[test]
fn the_fetch_script_refuses_a_download_that_is_not_the_pinned_library() {
    let (_, pinned) = pinned_linux_x64();
    let (registry, _asked) = registry_serving(b"\x7fELF but not DuckDB");
    let clone = tempfile::tempdir().unwrap();
    let script = script_copy(clone.path());

    let out = run_script(&script, &registry);
    let said = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(
        said.contains("refusing the downloaded libduckdb.so") && said.contains(&pinned),
        "{said}"
    );
    assert!(
        !clone.path().join("deploy/duckdb/lib/libduckdb.so").exists(),
        "a refused library was installed"
    );
}

#[test]
fn the_fetch_script_refuses_a_corrupted_library_in_place() {
    let (_, pinned) = pinned_linux_x64();
    let clone = tempfile::tempdir().unwrap();
    let script = script_copy(clone.path());
    let in_place = clone.path().join("deploy/duckdb/lib/libduckdb.so");
    std::fs::create_dir_all(in_place.parent().unwrap()).unwrap();
    let mut corrupted = std::fs::read(repo_root().join("deploy/duckdb/lib/libduckdb.so")).unwrap();
    let middle = corrupted.len() / 2;
    corrupted[middle] ^= 1;
    std::fs::write(&in_place, &corrupted).unwrap();

    // No registry at all: a file in place is judged, never replaced behind the user's back.
    let out = run_script(&script, "http://127.0.0.1:9");
    let said = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(
        said.contains("refusing") && said.contains("corrupted") && said.contains(&pinned),
        "{said}"
    );
    assert!(std::fs::read(&in_place).unwrap() == corrupted);
}

#[test]
fn an_installed_chorus_finds_duckdb_in_the_lib_folder_beside_its_own() {
    let install = tempfile::tempdir().unwrap();
    let bin = install.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let chorus = bin.join("chorus");
    std::fs::copy(built_artifacts().join("chorus"), &chorus).unwrap();
    let linked = ldd(&chorus);
    if linked.contains("libduckdb") {
        // Built against the shared library: install it as deploy/systemd/chorus.service says.
        let lib = install.path().join("lib");
        std::fs::create_dir_all(&lib).unwrap();
        std::fs::copy(
            repo_root().join("deploy/duckdb/lib/libduckdb.so"),
            lib.join("libduckdb.so"),
        )
        .unwrap();
        let resolved = ldd(&chorus);
        let line = resolved
            .lines()
            .find(|line| line.contains("libduckdb"))
            .unwrap();
        assert!(
            line.contains(&format!("{}/../lib/libduckdb.so", bin.display())),
            "the installed copy does not use the library beside it: {line}"
        );
    }
    // Either way (shared or `--features bundled`) the copy opens, migrates and verifies a
    // warehouse with nothing in its environment pointing at DuckDB.
    let out = Command::new(&chorus)
        .arg("verify")
        .current_dir(repo_root())
        .env_remove("LD_LIBRARY_PATH")
        .env(
            "CHORUS_WAREHOUSE__PATH",
            install.path().join("chorus.duckdb"),
        )
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn ldd(binary: &Path) -> String {
    let out = Command::new("ldd")
        .arg(binary)
        .env_remove("LD_LIBRARY_PATH")
        .output()
        .expect("ldd (libc-bin) is installed");
    String::from_utf8_lossy(&out.stdout).into_owned()
}
