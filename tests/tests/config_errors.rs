//! Every broken config under `tests/cases/config-errors/` (the collector's) and
//! `tests/cases/reference-errors/` (the analytics job's reference data) gives exactly the message
//! a user sees.

use std::path::Path;
use std::process::Command;

use e2e::bin;

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

/// `collector init` writes a starter config that `collector check` accepts, will not overwrite a
/// file without --force, and refuses options that would make the config invalid.
#[test]
fn init_writes_a_starter_config_that_checks() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("collector.toml");
    let run = |args: &[&str]| Command::new(bin("collector")).arg("init").arg("--output").arg(&path).args(args).output().unwrap();
    let first = run(&["--enterprise", "91350100M000100Y43", "--site", "works-2", "--data-dir", "data"]);
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("enterprise = \"91350100M000100Y43\"") && text.contains("site = \"works-2\""));
    assert!(text.lines().filter(|l| l.starts_with('#')).count() > 40, "the starter explains itself in comments");
    let check = Command::new(bin("collector")).args(["check", "--config"]).arg(&path).output().unwrap();
    assert!(check.status.success(), "{}", String::from_utf8_lossy(&check.stderr));
    assert!(String::from_utf8_lossy(&check.stdout).contains("main-incomer"));

    let again = run(&[]);
    assert!(!again.status.success() && String::from_utf8_lossy(&again.stderr).contains("exists; give --force"));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), text, "the existing file is untouched");
    let bad = run(&["--force", "--enterprise", "91350100M000100Y44"]);
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(!bad.status.success() && stderr.contains("gateway.enterprise") && stderr.contains("check character"), "{stderr}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), text, "nothing written for bad options");
    assert!(run(&["--force"]).status.success());
}
