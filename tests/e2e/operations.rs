//! Operator commands of the real binary: `chorus plugin inspect` and
//! `chorus connectors check`.

use crate::helpers::{built_artifacts, DemoFiles};

fn library(name: &str) -> String {
    built_artifacts()
        .join(format!(
            "{}{name}{}",
            std::env::consts::DLL_PREFIX,
            std::env::consts::DLL_SUFFIX
        ))
        .display()
        .to_string()
}

#[test]
fn plugin_inspect_prints_the_manifest_or_why_a_file_is_no_plugin() {
    let dir = tempfile::tempdir().unwrap();
    let demo = DemoFiles::new(dir.path(), None);
    let ok = demo.chorus(&["plugin", "inspect", &library("zendesk")]);
    let stdout = String::from_utf8_lossy(&ok.stdout);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(
        stdout.contains("ABI version: 1") && stdout.contains("name: zendesk"),
        "{stdout}"
    );
    assert!(
        stdout.contains("base_url"),
        "the settings schema is shown: {stdout}"
    );

    let not_a_plugin = demo.chorus(&["plugin", "inspect", demo.config.to_str().unwrap()]);
    assert!(!not_a_plugin.status.success());
    let stderr = String::from_utf8_lossy(&not_a_plugin.stderr);
    assert!(stderr.contains("cannot load plugin"), "{stderr}");
    let missing = demo.chorus(&["plugin", "inspect", "/nonexistent/libx.so"]);
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no such file"));
}

#[test]
fn connectors_check_opens_the_instance_and_calls_its_check() {
    let dir = tempfile::tempdir().unwrap();
    let demo = DemoFiles::new(dir.path(), None);
    let ok = demo.chorus(&["connectors", "check", "de-service"]);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(String::from_utf8_lossy(&ok.stdout).contains("instance de-service: ok"));
    let unknown = demo.chorus(&["connectors", "check", "nope"]);
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no connector instance \"nope\""));
}
