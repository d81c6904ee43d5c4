//! Every broken config under `tests/cases/config-errors/` (the collector's) and
//! `tests/cases/reference-errors/` (the analytics job's reference data) gives exactly the message
//! a user sees.

use std::path::Path;
use std::process::Command;

/// Runs `BIN ARGS` in each case folder under `cases/NAME` and compares stderr with `expected.txt`.
fn check_cases(name: &str, bin: &str, args: &[&str]) {
    let cases = Path::new(env!("CARGO_MANIFEST_DIR")).join("cases").join(name);
    let mut dirs: Vec<_> = std::fs::read_dir(&cases).unwrap().filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.is_dir()).collect();
    dirs.sort();
    assert!(!dirs.is_empty(), "no cases under {}", cases.display());
    let mut failures = Vec::new();
    for dir in &dirs {
        let expected = std::fs::read_to_string(dir.join("expected.txt")).unwrap();
        let out = Command::new(e2e::bin(bin)).args(args).current_dir(dir).output().unwrap();
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
fn each_broken_config_gives_its_exact_message() {
    check_cases("config-errors", "collector", &["check", "--config", "collector.toml"]);
}

#[test]
fn each_broken_reference_file_gives_its_exact_message() {
    check_cases("reference-errors", "analytics", &["check", "--config", "analytics.toml"]);
}

#[test]
fn the_example_configs_are_valid() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let checks = [
        ("collector", "config/collector.example.toml", "request(s)"),
        ("collector", "config/samples/small-plant.toml", "request(s)"),
        ("collector", "config/samples/larger-plant.toml", "line rs485-a (9600 baud)"),
        ("analytics", "config/analytics.example.toml", "is valid"),
    ];
    for (bin, file, says) in checks {
        // The larger plant's InfluxDB token comes from the environment, as in production.
        let out = Command::new(e2e::bin(bin)).args(["check", "--config"]).arg(root.join(file)).env("INFLUX_TOKEN", "a-token").output().unwrap();
        assert!(out.status.success(), "{file}: {}", String::from_utf8_lossy(&out.stderr));
        assert!(String::from_utf8_lossy(&out.stdout).contains(says), "{file}");
    }
}
