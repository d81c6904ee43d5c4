//! Everything under deploy/, checked as far as this machine allows: the systemd unit verified by
//! systemd-analyze, the YAML parsed and its paths present, the Dockerfile's stages consistent,
//! the Grafana dashboard's queries naming metrics the collector really serves, and the shipped
//! Mosquitto and collector configs started for real: Mosquitto refuses anonymous clients, the
//! collector logs in with its password, polls a simulated meter and delivers to a server that
//! speaks the InfluxDB v2 write API (VictoriaMetrics).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use e2e::{bin, curl, free_port, Server, Sim};

fn deploy() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy")
}

fn read(path: &str) -> String {
    std::fs::read_to_string(deploy().join(path)).unwrap_or_else(|e| panic!("deploy/{path}: {e}"))
}

/// Parses YAML with Python's yaml module (tests/run installs python3-yaml) and returns it as JSON.
fn yaml(path: &str) -> serde_json::Value {
    let out = Command::new("python3")
        .args(["-c", "import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))"])
        .arg(deploy().join(path))
        .output()
        .expect("python3 runs");
    assert!(out.status.success(), "deploy/{path} is not valid YAML: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn the_systemd_unit_verifies_and_is_hardened() {
    let dir = tempfile::tempdir().unwrap();
    // verify checks that ExecStart's binary exists: point it at the one just built.
    let unit = read("systemd/collector.service").replace("/usr/local/bin/collector", &bin("collector").display().to_string());
    let path = dir.path().join("collector.service");
    std::fs::write(&path, unit).unwrap();
    let verify = Command::new("systemd-analyze").arg("verify").arg(&path).output().expect("systemd-analyze runs (tests/run installs systemd)");
    let stderr = String::from_utf8_lossy(&verify.stderr);
    assert!(verify.status.success() && stderr.trim().is_empty(), "systemd-analyze verify: {stderr}");

    let security = Command::new("systemd-analyze").args(["security", "--offline=yes", "--no-pager"]).arg(&path).output().unwrap();
    let text = String::from_utf8_lossy(&security.stdout);
    let level: f64 = text
        .lines()
        .find_map(|l| l.split("Overall exposure level for collector.service: ").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no exposure level in:\n{text}{}", String::from_utf8_lossy(&security.stderr)));
    assert!(level <= 2.0, "exposure {level} (systemd rates below 2.0 as OK):\n{text}");

    let unit = read("systemd/collector.service");
    for line in ["User=collector", "StateDirectory=collector", "ProtectSystem=strict", "Restart=on-failure", "NoNewPrivileges=true"] {
        assert!(unit.lines().any(|l| l == line), "{line} missing");
    }
    assert!(read("systemd/collector.sysusers.conf").contains("u collector"));
}

#[test]
fn the_compose_stack_and_the_dockerfile_hold_together() {
    let compose = yaml("compose.yaml");
    let services: BTreeSet<&str> = compose["services"].as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(services, BTreeSet::from(["collector", "grafana", "influxdb", "mosquitto", "prometheus"]));
    // Every file the stack mounts is here, except the password file the operator creates.
    let gitignore = std::fs::read_to_string(deploy().join("../.gitignore")).unwrap();
    for (name, service) in compose["services"].as_object().unwrap() {
        for volume in service["volumes"].as_array().into_iter().flatten() {
            let host = volume.as_str().unwrap().split(':').next().unwrap();
            if let Some(rel) = host.strip_prefix("./") {
                if rel == "mosquitto/passwd" {
                    assert!(gitignore.lines().any(|l| l == "/deploy/mosquitto/passwd"), "the password file is never committed");
                } else {
                    assert!(deploy().join(rel).exists(), "{name} mounts deploy/{rel}, which is missing");
                }
            }
        }
    }
    assert_eq!(compose["services"]["collector"]["build"]["dockerfile"], "deploy/Dockerfile");
    for path in ["prometheus/prometheus.yml", "grafana/provisioning/datasources/datasources.yaml", "grafana/provisioning/dashboards/dashboards.yaml"] {
        yaml(path);
    }
    let prometheus = yaml("prometheus/prometheus.yml");
    assert_eq!(prometheus["scrape_configs"][0]["static_configs"][0]["targets"][0], "collector:9464");

    let dockerfile = read("Dockerfile");
    let froms: Vec<&str> = dockerfile.lines().filter(|l| l.starts_with("FROM ")).collect();
    assert_eq!(froms.len(), 2, "a build stage and a runtime stage");
    assert!(froms[0].ends_with(" AS build") && dockerfile.contains("COPY --from=build /src/target/release/collector"));
    assert!(dockerfile.lines().any(|l| l == "USER collector"), "the image does not run as root");
    // The builder image is at least the workspace's rust-version.
    let manifest = std::fs::read_to_string(deploy().join("../Cargo.toml")).unwrap();
    let wanted = manifest.lines().find_map(|l| l.strip_prefix("rust-version = \"")).and_then(|v| v.strip_suffix('"')).unwrap();
    let image = froms[0].split(':').nth(1).and_then(|t| t.split('-').next()).unwrap();
    let version = |v: &str| v.split('.').map(|p| p.parse::<u32>().unwrap()).collect::<Vec<_>>();
    assert!(version(image) >= version(wanted), "rust:{image} is older than rust-version {wanted}");
    let ignore = std::fs::read_to_string(deploy().join("../.dockerignore")).unwrap();
    assert!(ignore.lines().any(|l| l == "target"), "the build context leaves out target/");
}

/// Starts Mosquitto with the shipped config (its listener moved to a loopback port, its files to a
/// temporary directory) and a password file with the collector's and the meters' users.
fn shipped_mosquitto(dir: &Path, port: u16) -> Running {
    for (user, password) in [("collector", "collector-secret"), ("meters", "meters-secret")] {
        let mut cmd = Command::new("mosquitto_passwd");
        if user == "collector" {
            cmd.arg("-c");
        }
        let out = cmd.arg("-b").arg(dir.join("passwd")).args([user, password]).output().expect("mosquitto_passwd runs");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    std::fs::copy(deploy().join("mosquitto/acl"), dir.join("acl")).unwrap();
    std::fs::create_dir_all(dir.join("data")).unwrap();
    let conf = read("mosquitto/mosquitto.conf")
        .replace("listener 1883", &format!("listener {port} 127.0.0.1"))
        .replace("/mosquitto/config/", &format!("{}/", dir.display()))
        .replace("/mosquitto/data/", &format!("{}/data/", dir.display()))
        .replace("log_dest stdout", "log_dest none");
    assert!(conf.contains("allow_anonymous false"));
    std::fs::write(dir.join("mosquitto.conf"), conf).unwrap();
    let child = Running(Command::new("mosquitto").arg("-c").arg(dir.join("mosquitto.conf")).stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("mosquitto starts"));
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(std::time::Instant::now() < deadline, "mosquitto did not listen");
        std::thread::sleep(Duration::from_millis(50));
    }
    child
}

/// A server process, killed and reaped when dropped (also when an assertion fails).
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn mosquitto_pub(port: u16, auth: Option<(&str, &str)>, topic: &str, payload: &str) -> std::process::Output {
    let mut cmd = Command::new("mosquitto_pub");
    cmd.args(["-h", "127.0.0.1", "-p", &port.to_string(), "-q", "1", "-t", topic, "-m", payload]);
    if let Some((u, p)) = auth {
        cmd.args(["-u", u, "-P", p]);
    }
    cmd.output().expect("mosquitto_pub runs")
}

#[test]
fn the_shipped_mosquitto_and_collector_configs_run_against_real_servers() {
    let dir = tempfile::tempdir().unwrap();
    let mqtt_port = free_port();
    let mosquitto = shipped_mosquitto(dir.path(), mqtt_port);
    let refused = mosquitto_pub(mqtt_port, None, "shellies/x/status", "{}");
    assert!(!refused.status.success(), "an anonymous client is refused");
    let wrong = mosquitto_pub(mqtt_port, Some(("meters", "wrong")), "shellies/x/status", "{}");
    assert!(!wrong.status.success(), "a wrong password is refused");

    let vm = Server::victoria_metrics(free_port());
    let sim = Sim::start(&["--device", "1=eastron_sdm630"]);
    let health_port = free_port();
    let data_dir = dir.path().join("collector-data");
    // The shipped config with its hosts moved to loopback, as the stack's DNS would resolve them.
    let config = read("collector/collector.toml")
        .replace("/var/lib/collector", &data_dir.display().to_string())
        .replace("http://influxdb:8086", &format!("http://127.0.0.1:{}", vm.port))
        .replace("host = \"mosquitto\"\nport = 1883", &format!("host = \"127.0.0.1\"\nport = {mqtt_port}"))
        .replace("host = \"192.168.1.10\"\nport = 502", &format!("host = \"127.0.0.1\"\nport = {}", sim.port()))
        .replace("interval = \"15s\"", "interval = \"1s\"")
        .replace("0.0.0.0:9464", &format!("127.0.0.1:{health_port}"))
        .replace("max_age = \"60s\"", "max_age = \"1s\"");
    assert!(!config.contains("mosquitto") && !config.contains("192.168") && !config.contains(":8086"), "every host was moved:\n{config}");
    let config_path = dir.path().join("collector.toml");
    std::fs::write(&config_path, config).unwrap();
    let check = Command::new(bin("collector")).args(["check", "--config"]).arg(&config_path).env("INFLUX_TOKEN", "t").env("MQTT_PASSWORD", "collector-secret").output().unwrap();
    assert!(check.status.success(), "{}", String::from_utf8_lossy(&check.stderr));

    // Started as the systemd unit starts it, with the config moved and a time limit.
    let unit = read("systemd/collector.service");
    let exec = unit.lines().find_map(|l| l.strip_prefix("ExecStart=")).unwrap();
    let args: Vec<String> = exec.split_whitespace().skip(1).map(|a| if a == "/etc/collector/collector.toml" { config_path.display().to_string() } else { a.to_owned() }).collect();
    let collector = Command::new(bin("collector"))
        .args(&args)
        .args(["--for", "6s"])
        .env("INFLUX_TOKEN", "a-token")
        .env("MQTT_PASSWORD", "collector-secret")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(2000));
    let now = chrono::Utc::now().timestamp();
    for i in 0..3 {
        let payload = format!("{{\"unixtime\": {}, \"aenergy\": {{\"total\": {}}}, \"apower\": 1500.0}}", now + i, 1000.0 + f64::from(i as u8));
        let out = mosquitto_pub(mqtt_port, Some(("meters", "meters-secret")), "shellies/plug-1/status", &payload);
        assert!(out.status.success(), "the meters' user may publish: {}", String::from_utf8_lossy(&out.stderr));
    }
    std::thread::sleep(Duration::from_millis(1500));
    let metrics = curl(&[&format!("http://127.0.0.1:{health_port}/metrics")]);
    let stderr = {
        let out = collector.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    drop(mosquitto);
    assert!(stderr.lines().all(|l| l.starts_with('{')), "the unit logs JSON:\n{stderr}");

    // Both sources reached VictoriaMetrics through the v2 write API.
    curl(&[&format!("http://127.0.0.1:{}/internal/force_flush", vm.port)]);
    let export = curl(&["-G", &format!("http://127.0.0.1:{}/api/v1/export", vm.port), "--data-urlencode", "match[]={__name__=\"reading_value\"}"]);
    let meters: BTreeSet<String> = export
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["metric"]["meter"].as_str().unwrap().to_owned())
        .collect();
    assert!(meters.contains("main-incomer") && meters.contains("shelly-plug-1"), "{meters:?}");

    // Every collector metric the dashboard queries is one the collector serves.
    let served: BTreeSet<&str> = metrics.lines().filter_map(|l| l.strip_prefix("# TYPE ")).filter_map(|l| l.split_whitespace().next()).collect();
    let dashboard: serde_json::Value = serde_json::from_str(&read("grafana/dashboards/plant.json")).unwrap();
    let datasources = yaml("grafana/provisioning/datasources/datasources.yaml");
    let uids: BTreeSet<&str> = datasources["datasources"].as_array().unwrap().iter().map(|d| d["uid"].as_str().unwrap()).collect();
    let mut queried = 0;
    for panel in dashboard["panels"].as_array().unwrap().iter().filter(|p| p["type"] != "row") {
        let uid = panel["datasource"]["uid"].as_str().unwrap();
        assert!(uids.contains(uid), "{}: unknown data source {uid}", panel["title"]);
        for target in panel["targets"].as_array().unwrap() {
            if let Some(expr) = target["expr"].as_str() {
                for word in expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).filter(|w| w.starts_with("collector_")) {
                    let family = ["_bucket", "_sum", "_count"].iter().find_map(|s| word.strip_suffix(s)).filter(|f| served.contains(f)).unwrap_or(word);
                    assert!(served.contains(family), "{}: {word} is not served by /metrics", panel["title"]);
                    queried += 1;
                }
            }
            if let Some(flux) = target["query"].as_str() {
                assert!(flux.contains("r._measurement == \"reading\""), "{}: the sink's measurement", panel["title"]);
            }
        }
    }
    assert!(queried >= 8, "the health panels query the collector's metrics");
}
