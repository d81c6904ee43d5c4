//! Helpers for the end-to-end tests: find the built binaries, start `meter-sim` on a free
//! loopback port, write collector configs, and run the collector.
//!
//! The binaries must be built first (`cargo build --workspace --bins`); `tests/run` does that.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

/// Path of a workspace binary in the same target directory as the running test.
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test knows its own path");
    // target/<profile>/deps/<test> -> target/<profile>/<name>
    let dir = exe.parent().and_then(Path::parent).expect("tests run from target/<profile>/deps");
    let path = dir.join(name);
    assert!(path.exists(), "{} is not built: run `cargo build --workspace --bins` (tests/run does) before the end-to-end tests", path.display());
    path
}

/// A running `meter-sim`, killed when dropped.
pub struct Sim {
    child: Child,
    /// `127.0.0.1:PORT` it listens on.
    pub addr: String,
}

impl Sim {
    /// Starts `meter-sim` on a free loopback port with `args` (devices, faults, ...).
    pub fn start(args: &[&str]) -> Sim {
        let mut child = Command::new(bin("meter-sim"))
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("meter-sim starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).expect("meter-sim prints its address");
        let addr = line.trim().strip_prefix("listening on ").unwrap_or_else(|| panic!("unexpected first line {line:?}")).to_owned();
        Sim { child, addr }
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.addr.rsplit(':').next().and_then(|p| p.parse().ok()).expect("addr has a port")
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `[[modbus.devices]]` entry.
pub fn device(name: &str, port: u16, unit: u8, profile: &str, interval: &str, extra: &str) -> String {
    format!(
        "[[modbus.devices]]\nname = \"{name}\"\nhost = \"127.0.0.1\"\nport = {port}\nunit = {unit}\nprofile = \"{profile}\"\ninterval = \"{interval}\"\n{extra}\n"
    )
}

/// Writes a collector config with a data dir under `dir` and the given device entries.
pub fn write_config(dir: &Path, sink: &str, devices: &[String]) -> PathBuf {
    let text = format!(
        "[gateway]\nenterprise = \"91350100M000100Y43\"\nsite = \"plant-1\"\n\n[storage]\ndata_dir = \"data\"\n\n[sinks.parquet]\n{sink}\n\n{}",
        devices.join("\n")
    );
    let path = dir.join("collector.toml");
    std::fs::write(&path, text).expect("config written");
    path
}

/// Runs `collector run --config CONFIG --for DURATION` and returns its output.
pub fn run_collector(config: &Path, run_for: &str) -> Output {
    let out = Command::new(bin("collector"))
        .args(["run", "--config"])
        .arg(config)
        .args(["--for", run_for])
        .env("RUST_LOG", "info")
        .output()
        .expect("collector runs");
    eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    out
}

/// The summary row of `device` in the collector's closing summary, split into columns.
pub fn summary_row(stdout: &str, device: &str) -> Vec<String> {
    stdout
        .lines()
        .find(|l| l.split_whitespace().next() == Some(device))
        .unwrap_or_else(|| panic!("no summary row for {device} in:\n{stdout}"))
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

/// Waits a little for something that takes effect asynchronously.
pub fn settle() {
    std::thread::sleep(Duration::from_millis(200));
}
