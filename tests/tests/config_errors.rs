//! Every broken config under `tests/cases/config-errors/` gives exactly the message a user sees.

use std::path::Path;
use std::process::Command;

#[test]
fn each_broken_config_gives_its_exact_message() {
    let cases = Path::new(env!("CARGO_MANIFEST_DIR")).join("cases/config-errors");
    let mut dirs: Vec<_> = std::fs::read_dir(&cases).unwrap().filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.is_dir()).collect();
    dirs.sort();
    assert!(dirs.len() >= 5, "at least five cases, found {}", dirs.len());
    let mut failures = Vec::new();
    for dir in &dirs {
        let expected = std::fs::read_to_string(dir.join("expected.txt")).unwrap();
        let out = Command::new(e2e::bin("collector")).args(["check", "--config", "collector.toml"]).current_dir(dir).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        if out.status.code() != Some(1) || stderr != expected {
            failures.push(format!(
                "{}: exit {:?}\n--- expected\n{expected}--- got\n{stderr}",
                dir.file_name().unwrap().to_string_lossy(),
                out.status.code()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_example_configs_are_valid() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    for file in ["config/collector.example.toml"] {
        let out = Command::new(e2e::bin("collector")).args(["check", "--config"]).arg(root.join(file)).output().unwrap();
        assert!(out.status.success(), "{file}: {}", String::from_utf8_lossy(&out.stderr));
        assert!(String::from_utf8_lossy(&out.stdout).contains("request(s)"));
    }
}
