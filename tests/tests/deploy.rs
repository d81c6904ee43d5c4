//! Everything under deploy/, checked as far as this machine allows: the systemd unit verified by
//! systemd-analyze and its restart and time-sync settings read back, the compose file parsed (every
//! service hardened and health-checked, the InfluxDB admin token with nobody but the setup), the
//! Dockerfile's stages consistent, the Grafana dashboard's queries naming metrics the collector
//! really serves, and the shipped Mosquitto files started for real with the certificates and
//! passwords the shipped scripts make: TLS with the script's CA, a gateway refused outside its own
//! topics, packets over the collector's limit refused, the compose healthcheck answered. The
//! collector runs as the unit starts it with the shipped compose config, over TLS, against real
//! servers (Mosquitto, VictoriaMetrics for the InfluxDB v2 API, a simulated meter). The InfluxDB
//! token script runs against a stand-in `influx` CLI (there is no InfluxDB 2 to be had here).

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
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

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// A unit file as section -> key -> values (a key may repeat).
fn unit_sections(unit: &str) -> BTreeMap<String, BTreeMap<String, Vec<String>>> {
    let mut sections: BTreeMap<String, BTreeMap<String, Vec<String>>> = BTreeMap::new();
    let mut current = String::new();
    for line in unit.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with(';')) {
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            current = name.to_owned();
        } else if let Some((key, value)) = line.split_once('=') {
            sections.entry(current.clone()).or_default().entry(key.trim().to_owned()).or_default().push(value.trim().to_owned());
        }
    }
    sections
}

/// A systemd time span ("5s", "10min", "300", "1min 30s") in milliseconds.
fn timespan_ms(value: &str) -> u64 {
    let mut total = 0;
    for part in value.split_whitespace() {
        let split = part.find(|c: char| !c.is_ascii_digit()).unwrap_or(part.len());
        let (n, unit) = part.split_at(split);
        let n: u64 = n.parse().unwrap_or_else(|_| panic!("time span {value:?}"));
        total += n * match unit {
            "" | "s" | "sec" => 1000,
            "ms" | "msec" => 1,
            "m" | "min" => 60_000,
            "h" | "hr" => 3_600_000,
            other => panic!("time span unit {other:?} in {value:?}"),
        };
    }
    total
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
    for line in ["User=collector", "StateDirectory=collector", "ProtectSystem=strict", "NoNewPrivileges=true", "SystemCallErrorNumber=EPERM"] {
        assert!(unit.lines().any(|l| l == line), "{line} missing");
    }
    assert!(read("systemd/collector.sysusers.conf").contains("u collector"));

    let sections = unit_sections(&unit);
    let get = |section: &str, key: &str| -> Vec<String> { sections.get(section).and_then(|s| s.get(key)).cloned().unwrap_or_default() };
    let words = |section: &str, key: &str| -> BTreeSet<String> { get(section, key).iter().flat_map(|v| v.split_whitespace().map(str::to_owned)).collect() };
    let last = |section: &str, key: &str| -> Option<String> { get(section, key).last().cloned() };

    // It is restarted whenever it stops without being asked to (the collector exits non-zero when
    // one of its tasks dies), after a pause.
    let restart = last("Service", "Restart").expect("Restart= is set");
    assert!(restart == "always" || restart == "on-failure", "Restart={restart}");
    let restart_ms = timespan_ms(&last("Service", "RestartSec").expect("RestartSec= is set"));
    assert!(restart_ms >= 1000, "RestartSec below 1 s");

    // ... and never given up on: no start limit, or one the restart pause can never reach
    // (systemd refuses the start after StartLimitBurst starts within StartLimitIntervalSec, for
    // good, until someone runs `systemctl reset-failed`). Defaults: 10 s and 5.
    assert!(get("Service", "StartLimitIntervalSec").is_empty() && get("Service", "StartLimitBurst").is_empty(), "start limits belong in [Unit]");
    let interval_ms = last("Unit", "StartLimitIntervalSec").map_or(10_000, |v| if v == "infinity" { u64::MAX } else { timespan_ms(&v) });
    let burst: u64 = last("Unit", "StartLimitBurst").map_or(5, |v| v.parse().unwrap());
    assert!(
        interval_ms == 0 || burst * restart_ms > interval_ms,
        "systemd gives up after {burst} starts in {interval_ms} ms, which restarts {restart_ms} ms apart reach"
    );

    // It waits for the clock (time-sync.target), and pulls the target in.
    assert!(words("Unit", "After").contains("time-sync.target"), "After=time-sync.target");
    assert!(words("Unit", "Wants").contains("time-sync.target"), "Wants=time-sync.target");
    assert!(words("Unit", "After").contains("network-online.target"));
}

/// `./mosquitto/x` -> `x` for a compose volume `./mosquitto/x:/mosquitto/config/x:ro`.
fn volume_parts(volume: &serde_json::Value) -> (String, String, bool) {
    let v = volume.as_str().expect("short volume syntax");
    let mut parts = v.split(':');
    let host = parts.next().unwrap().to_owned();
    let container = parts.next().unwrap_or_else(|| panic!("{v}: no container path")).to_owned();
    let read_only = parts.next() == Some("ro");
    (host, container, read_only)
}

#[test]
fn the_compose_stack_and_the_dockerfile_hold_together() {
    let compose = yaml("compose.yaml");
    let services = compose["services"].as_object().unwrap();
    let names: BTreeSet<&str> = services.keys().map(String::as_str).collect();
    assert_eq!(names, BTreeSet::from(["collector", "grafana", "influxdb", "influxdb-tokens", "mosquitto", "prometheus"]));

    // Every file the stack mounts is here, except what the scripts make, which git and the
    // image's build context never see.
    let gitignore = std::fs::read_to_string(deploy().join("../.gitignore")).unwrap();
    let dockerignore = std::fs::read_to_string(deploy().join("../.dockerignore")).unwrap();
    let generated = ["mosquitto/passwd", "mosquitto/certs/ca.crt", "mosquitto/certs/server.crt", "mosquitto/certs/server.key"];
    for (name, service) in services {
        for volume in service["volumes"].as_array().into_iter().flatten() {
            let (host, _, _) = volume_parts(volume);
            if let Some(rel) = host.strip_prefix("./") {
                if generated.contains(&rel) {
                    let ignored = |list: &str, prefix: &str| list.lines().any(|l| !l.is_empty() && (format!("{prefix}deploy/{rel}") == l || format!("{prefix}deploy/{rel}").starts_with(&format!("{}/", l.trim_end_matches('/')))));
                    assert!(ignored(&gitignore, "/"), "{rel} is made by a script and never committed (.gitignore)");
                    assert!(ignored(&dockerignore, ""), "{rel} stays out of the image's build context (.dockerignore)");
                } else {
                    assert!(deploy().join(rel).exists(), "{name} mounts deploy/{rel}, which is missing");
                }
            }
        }
    }
    assert!(dockerignore.lines().any(|l| l == "deploy/mosquitto/passwords"), "the gateways' plain passwords stay out of the build context");
    assert!(gitignore.lines().any(|l| l == "/deploy/mosquitto/passwords/"), "the gateways' plain passwords are never committed");

    // Hardened, restarted and health-checked: every long-running service.
    for (name, service) in services {
        assert_eq!(service["read_only"], true, "{name}: read-only root filesystem");
        assert_eq!(service["cap_drop"], serde_json::json!(["ALL"]), "{name}: drops every capability");
        assert!(service["cap_add"].is_null(), "{name}: adds no capability back");
        assert!(service["privileged"].is_null() || service["privileged"] == false, "{name}");
        let opts: Vec<&str> = service["security_opt"].as_array().map(|a| a.iter().filter_map(|o| o.as_str()).collect()).unwrap_or_default();
        assert!(opts.contains(&"no-new-privileges:true"), "{name}: no-new-privileges");
        if name == "influxdb-tokens" {
            assert_eq!(service["restart"], "no", "the token service runs once per `up`");
            continue;
        }
        assert_eq!(service["restart"], "unless-stopped", "{name}");
        let test = service["healthcheck"]["test"].as_array().unwrap_or_else(|| panic!("{name}: no healthcheck"));
        assert_eq!(test[0], "CMD", "{name}: healthcheck in exec form");
        for port in service["ports"].as_array().into_iter().flatten() {
            let port = port.as_str().unwrap();
            assert!(port.starts_with("127.0.0.1:") || (name == "mosquitto" && port == "8883:8883"), "{name} publishes {port} beyond loopback");
        }
    }
    // Mosquitto: TLS only from outside.
    assert_eq!(services["mosquitto"]["ports"], serde_json::json!(["8883:8883"]), "only the TLS port is published");

    // The collector's healthcheck asks /healthz on its health port, with a tool its image has.
    let check = services["collector"]["healthcheck"]["test"].to_string();
    assert!(check.contains("/healthz") && check.contains("127.0.0.1/9464") && check.contains("\"bash\""), "{check}");
    let depends = &services["collector"]["depends_on"];
    assert_eq!(depends["influxdb-tokens"]["condition"], "service_completed_successfully", "the collector starts once its token exists");
    assert_eq!(depends["mosquitto"]["condition"], "service_healthy");

    // The admin token: InfluxDB's first setup and the token service only.
    let admin = "INFLUX_ADMIN_TOKEN";
    for (name, service) in services {
        let uses = service.to_string().contains(admin);
        assert_eq!(uses, name == "influxdb" || name == "influxdb-tokens", "{name} {} the admin token", if uses { "sees" } else { "does not see" });
        if name != "influxdb" && name != "influxdb-tokens" {
            for (key, _) in service["environment"].as_object().into_iter().flatten() {
                assert!(!key.starts_with("INFLUX"), "{name} gets {key} from the environment");
            }
        }
    }
    assert_eq!(services["influxdb"]["environment"]["DOCKER_INFLUXDB_INIT_ADMIN_TOKEN"].as_str().map(|v| v.contains(admin)), Some(true));
    assert_eq!(services["influxdb-tokens"]["environment"]["INFLUX_TOKEN"].as_str().map(|v| v.contains(admin)), Some(true));
    assert!(!read("env.example").lines().any(|l| l.starts_with("INFLUX_TOKEN=")), "env.example names the admin token as such");

    // Each scoped token lives in its own volume: written by the token service, mounted read-only
    // into its one consumer, where that consumer's config reads it.
    let mounted_at = |service: &str, volume: &str| -> String {
        let mounts: Vec<(String, String, bool)> = services[service]["volumes"].as_array().unwrap().iter().map(volume_parts).collect();
        let (_, container, read_only) = mounts.iter().find(|(host, _, _)| host == volume).unwrap_or_else(|| panic!("{service} does not mount {volume}")).clone();
        assert!(read_only, "{service} mounts {volume} read-only");
        container
    };
    for (volume, consumer, who) in [("influxdb-token-collector", "collector", "collector"), ("influxdb-token-grafana", "grafana", "grafana")] {
        let users: BTreeSet<&str> = services
            .iter()
            .filter(|(_, s)| s["volumes"].as_array().into_iter().flatten().any(|v| volume_parts(v).0 == volume))
            .map(|(n, _)| n.as_str())
            .collect();
        assert_eq!(users, BTreeSet::from(["influxdb-tokens", consumer]), "who mounts {volume}");
        let written_at = services["influxdb-tokens"]["volumes"].as_array().unwrap().iter().map(volume_parts).find(|(h, _, _)| h == volume).unwrap().1;
        assert_eq!(written_at, format!("{}/{who}", services["influxdb-tokens"]["environment"]["TOKENS_DIR"].as_str().unwrap()));
        let file = format!("{}/token", mounted_at(consumer, volume));
        match consumer {
            "collector" => {
                let config = read("collector/collector.toml");
                assert!(config.contains(&format!("token_file = \"{file}\"")), "the collector reads {file}");
                assert!(!config.contains("token_env"), "no token from the environment");
            }
            _ => {
                let datasources = yaml("grafana/provisioning/datasources/datasources.yaml");
                let influx = datasources["datasources"].as_array().unwrap().iter().find(|d| d["type"] == "influxdb").unwrap();
                assert_eq!(influx["secureJsonData"]["token"], format!("$__file{{{file}}}"), "Grafana reads {file}");
            }
        }
    }
    // The collector trusts the CA that make-certs.sh made.
    let ca = mounted_at("collector", "./mosquitto/certs/ca.crt");
    assert!(read("collector/collector.toml").contains(&format!("ca_file = \"{ca}\"")));

    assert_eq!(services["collector"]["build"]["dockerfile"], "deploy/Dockerfile");
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
    // The healthcheck's bash comes with every Debian image; curl and wget do not.
    assert!(froms[1].starts_with("FROM debian:"), "the runtime image has bash for the healthcheck: {}", froms[1]);
    // The builder image is at least the workspace's rust-version.
    let manifest = std::fs::read_to_string(deploy().join("../Cargo.toml")).unwrap();
    let wanted = manifest.lines().find_map(|l| l.strip_prefix("rust-version = \"")).and_then(|v| v.strip_suffix('"')).unwrap();
    let image = froms[0].split(':').nth(1).and_then(|t| t.split('-').next()).unwrap();
    let version = |v: &str| v.split('.').map(|p| p.parse::<u32>().unwrap()).collect::<Vec<_>>();
    assert!(version(image) >= version(wanted), "rust:{image} is older than rust-version {wanted}");
    assert!(dockerignore.lines().any(|l| l == "target"), "the build context leaves out target/");
}

/// The collector's password in the tests (deploy/.env's MQTT_PASSWORD in the stack).
const COLLECTOR_PASSWORD: &str = "collector-secret";

/// The shipped Mosquitto, started with the shipped config and ACLs in a directory laid out like
/// deploy/mosquitto, with the certificates and password file the shipped scripts made there.
struct Broker {
    _child: Running,
    dir: PathBuf,
    /// The 127.0.0.1 plaintext listener (1883 in the container).
    local_port: u16,
    /// The TLS listener (8883).
    tls_port: u16,
}

impl Broker {
    fn ca(&self) -> PathBuf {
        self.dir.join("certs/ca.crt")
    }

    fn password(&self, user: &str) -> String {
        if user == "collector" {
            return COLLECTOR_PASSWORD.to_owned();
        }
        std::fs::read_to_string(self.dir.join("passwords").join(user)).unwrap_or_else(|e| panic!("make-passwd.sh made no password for {user}: {e}"))
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("mosquitto.log")).unwrap_or_default()
    }

    /// mosquitto_pub over TLS as `user` (QoS 1: it waits for the broker's acknowledgement).
    fn publish(&self, user: &str, topic: &str, payload: &[u8]) -> Output {
        let file = self.dir.join("payload");
        std::fs::write(&file, payload).unwrap();
        let out = Command::new("mosquitto_pub")
            .args(["-h", "localhost", "-p", &self.tls_port.to_string(), "--cafile"])
            .arg(self.ca())
            .args(["-u", user, "-P", &self.password(user), "-q", "1", "-t", topic, "-f"])
            .arg(&file)
            .output()
            .expect("mosquitto_pub runs");
        std::fs::remove_file(&file).unwrap();
        out
    }
}

/// Who the broker reads its files as: run as root (CI), Mosquitto drops to its own user before
/// it reads them, as the container's broker runs as uid 1883, so the scripts hand the files to
/// that user (their --owner). Otherwise the broker runs as us.
fn broker_owner() -> String {
    let id = |args: &[&str]| String::from_utf8(Command::new("id").args(args).output().unwrap().stdout).unwrap().trim().to_owned();
    if id(&["-u"]) == "0" {
        format!("{}:{}", id(&["-u", "mosquitto"]), id(&["-g", "mosquitto"]))
    } else {
        format!("{}:{}", id(&["-u"]), id(&["-g"]))
    }
}

fn run_script(script: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(deploy().join(script));
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap_or_else(|e| panic!("deploy/{script}: {e}"))
}

fn shipped_mosquitto(dir: &Path, gateways: &[&str]) -> Broker {
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let owner = broker_owner();
    let dir_s = dir.display().to_string();
    let certs = run_script("mosquitto/make-certs.sh", &["-o", &format!("{dir_s}/certs"), "--owner", &owner, "broker.plant.example", "192.168.1.5"], &[]);
    assert!(certs.status.success(), "make-certs.sh: {}", text(&certs));
    let mut args = vec!["-o", dir_s.as_str(), "--owner", owner.as_str()];
    args.extend_from_slice(gateways);
    let passwd = run_script("mosquitto/make-passwd.sh", &args, &[("MQTT_PASSWORD", COLLECTOR_PASSWORD)]);
    assert!(passwd.status.success(), "make-passwd.sh: {}", text(&passwd));
    for file in ["acl", "healthcheck.acl"] {
        std::fs::copy(deploy().join("mosquitto").join(file), dir.join(file)).unwrap();
    }
    // Every file the container mounts under /mosquitto/config is in this directory under the
    // same name: shipped, or made by the scripts.
    let compose = yaml("compose.yaml");
    for volume in compose["services"]["mosquitto"]["volumes"].as_array().unwrap() {
        let (host, container, read_only) = volume_parts(volume);
        if let Some(rel) = container.strip_prefix("/mosquitto/config/") {
            assert!(read_only, "{host} is mounted read-only");
            assert_eq!(host, format!("./mosquitto/{rel}"), "mounted under its own name");
            if rel != "mosquitto.conf" {
                assert!(dir.join(rel).exists(), "deploy/mosquitto/{rel}: neither shipped nor made by the scripts");
            }
        }
    }
    std::fs::create_dir_all(dir.join("data")).unwrap();
    let chown = Command::new("chown").arg(&owner).arg(dir.join("data")).output().unwrap();
    assert!(chown.status.success(), "{}", text(&chown));

    let shipped = read("mosquitto/mosquitto.conf");
    // Every listener without a certificate is bound to loopback.
    let mut blocks: Vec<Vec<&str>> = Vec::new();
    for line in shipped.lines().filter(|l| !l.starts_with('#')) {
        if line.starts_with("listener ") {
            blocks.push(Vec::new());
        }
        if let Some(b) = blocks.last_mut() {
            b.push(line);
        }
    }
    assert_eq!(blocks.len(), 2, "a TLS listener and the container-local one");
    for block in &blocks {
        let tls = block.iter().any(|l| l.starts_with("certfile ")) && block.iter().any(|l| l.starts_with("keyfile "));
        let listener: Vec<&str> = block[0].split_whitespace().collect();
        assert!(tls || listener.get(2) == Some(&"127.0.0.1"), "{}: plaintext beyond loopback", block[0]);
        if tls {
            assert_eq!(listener, ["listener", "8883"]);
            assert!(block.contains(&"allow_anonymous false") && block.iter().any(|l| l.starts_with("password_file ")) && block.iter().any(|l| l.starts_with("acl_file ")));
        } else {
            assert!(block.iter().any(|l| l.starts_with("acl_file ")), "the local listener has an ACL");
        }
    }
    assert!(shipped.lines().any(|l| l == "per_listener_settings true"));
    assert!(shipped.lines().any(|l| l == "max_packet_size 262144"), "max_packet_size matches the collector's 256 KiB limit");

    let local_port = free_port();
    let tls_port = free_port();
    let conf = shipped
        .replace("listener 1883 127.0.0.1", &format!("listener {local_port} 127.0.0.1"))
        .replace("listener 8883", &format!("listener {tls_port} 127.0.0.1"))
        .replace("/mosquitto/config/", &format!("{dir_s}/"))
        .replace("/mosquitto/data/", &format!("{dir_s}/data/"));
    std::fs::write(dir.join("mosquitto.conf"), conf).unwrap();
    let log = std::fs::File::create(dir.join("mosquitto.log")).unwrap();
    let child = Running(
        Command::new("mosquitto").arg("-c").arg(dir.join("mosquitto.conf")).stdout(log.try_clone().unwrap()).stderr(log).spawn().expect("mosquitto starts (tests/run installs it)"),
    );
    let broker = Broker { _child: child, dir: dir.to_owned(), local_port, tls_port };
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", tls_port)).is_err() || std::net::TcpStream::connect(("127.0.0.1", local_port)).is_err() {
        assert!(std::time::Instant::now() < deadline, "mosquitto did not listen:\n{}", broker.log());
        std::thread::sleep(Duration::from_millis(50));
    }
    broker
}

/// Waits up to `limit` for `child` to exit, reading its stderr meanwhile; kills it after that.
/// Returns its exit status (None when it had to be killed) and its stderr.
fn wait_or_kill(child: &mut std::process::Child, limit: Duration) -> (Option<std::process::ExitStatus>, String) {
    let mut pipe = child.stderr.take().expect("stderr piped");
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(&mut pipe, &mut text);
        text
    });
    let deadline = std::time::Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    (status, reader.join().unwrap())
}

/// A server process, killed and reaped when dropped (also when an assertion fails).
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A payload that makes a QoS 1 PUBLISH on `topic` exactly `remaining` bytes long after its fixed
/// header (MQTT 3.1.1: topic length, topic, packet id, payload), the size both Mosquitto's
/// max_packet_size and the collector's limit are checked against.
fn payload_for_remaining_length(topic: &str, remaining: usize) -> Vec<u8> {
    vec![b'x'; remaining - 2 - topic.len() - 2]
}

#[test]
fn the_shipped_mosquitto_keeps_gateways_to_their_topics_over_tls() {
    let dir = tempfile::tempdir().unwrap();
    let broker = shipped_mosquitto(dir.path(), &["gw-a", "gw-b"]);
    let port = broker.tls_port.to_string();
    let local = broker.local_port.to_string();
    let tls = |extra: &[&str]| -> Output {
        Command::new("mosquitto_pub").args(["-h", "localhost", "-p", &port, "-q", "1", "-t", "plants/gw-a/x", "-m", "x"]).args(extra).output().unwrap()
    };

    // TLS with the script's CA: the server certificate names the compose service the collector
    // connects to, and a client checking it against another CA is refused.
    let ca = broker.ca().display().to_string();
    assert!(tls(&["--cafile", &ca, "-u", "gw-a", "-P", &broker.password("gw-a")]).status.success(), "TLS with the CA:\n{}", broker.log());
    let san = Command::new("openssl").args(["x509", "-noout", "-ext", "subjectAltName", "-in"]).arg(broker.dir.join("certs/server.crt")).output().unwrap();
    let san = String::from_utf8_lossy(&san.stdout).into_owned();
    let host = read("collector/collector.toml").lines().skip_while(|l| *l != "[mqtt]").find_map(|l| l.strip_prefix("host = \"")).and_then(|h| h.split('"').next()).unwrap().to_owned();
    for name in [format!("DNS:{host}"), "DNS:localhost".into(), "DNS:broker.plant.example".into(), "IP Address:192.168.1.5".into()] {
        assert!(san.contains(&name), "{name} not in the certificate: {san}");
    }
    let other = tempfile::tempdir().unwrap();
    let made = run_script("mosquitto/make-certs.sh", &["-o", &other.path().display().to_string(), "--owner", &broker_owner()], &[]);
    assert!(made.status.success(), "{}", text(&made));
    let other_ca = other.path().join("ca.crt").display().to_string();
    assert!(!tls(&["--cafile", &other_ca, "-u", "gw-a", "-P", &broker.password("gw-a")]).status.success(), "a certificate from another CA is refused");
    // Running make-certs.sh again keeps the CA: the gateways keep trusting the broker.
    let before = std::fs::read(broker.ca()).unwrap();
    let again = run_script("mosquitto/make-certs.sh", &["-o", &broker.dir.join("certs").display().to_string(), "--owner", &broker_owner()], &[]);
    assert!(again.status.success() && std::fs::read(broker.ca()).unwrap() == before, "{}", text(&again));
    // No plaintext, no anonymous client, no wrong password on the TLS port.
    assert!(!tls(&["-u", "gw-a", "-P", &broker.password("gw-a")]).status.success(), "plaintext MQTT on the TLS port");
    assert!(!tls(&["--cafile", &ca]).status.success(), "an anonymous client over TLS");
    assert!(!tls(&["--cafile", &ca, "-u", "gw-a", "-P", "wrong"]).status.success(), "a wrong password");
    assert!(!tls(&["--cafile", &ca, "-u", "gw-a", "-P", &broker.password("gw-b")]).status.success(), "gw-b's password for gw-a");

    // The collector's persistent QoS 1 subscription, as it subscribes: it queues what the broker
    // lets through while we publish.
    let reader = |extra: &[&str]| -> Output {
        Command::new("mosquitto_sub")
            .args(["-h", "localhost", "-p", &port, "--cafile", &ca, "-u", "collector", "-P", COLLECTOR_PASSWORD, "-i", "reader", "-c", "-q", "1", "-t", "plants/#"])
            .args(extra)
            .output()
            .unwrap()
    };
    let subscribed = reader(&["-E"]);
    assert!(subscribed.status.success(), "{}", text(&subscribed));

    // Refused (MQTT 3.1.1 brokers drop a publish the ACL refuses and still acknowledge it):
    // gw-a on gw-b's topics, the collector anywhere, anyone on the container-local listener.
    assert!(broker.publish("gw-a", "plants/gw-b/m1/status", b"forged by gw-a").status.success());
    assert!(broker.publish("gw-a", "plants/gw-a/m1/status", b"own").status.success());
    assert!(broker.publish("collector", "plants/gw-b/m1/status", b"from the collector").status.success());
    for auth in [&[][..], &["-u", "gw-b", "-P", "anything"][..]] {
        let out = Command::new("mosquitto_pub").args(["-h", "127.0.0.1", "-p", &local, "-q", "1", "-t", "plants/gw-b/m1/status", "-m", "local"]).args(auth).output().unwrap();
        assert!(out.status.success(), "{}", text(&out));
    }
    // A packet over the collector's limit (remaining length 262144 + 1) is refused by the broker
    // (it closes the connection), one byte under the limit is taken.
    let big = broker.publish("gw-a", "plants/gw-a/big", &payload_for_remaining_length("plants/gw-a/big", 262_145));
    assert!(!big.status.success(), "a packet over max_packet_size was taken:\n{}", broker.log());
    let edge = broker.publish("gw-a", "plants/gw-a/edge", &payload_for_remaining_length("plants/gw-a/edge", 262_143));
    assert!(edge.status.success(), "{}", text(&edge));
    assert!(broker.publish("gw-b", "plants/gw-b/end", b"end").status.success());

    // What reached the collector's session, in order: gw-a's own topic, the large one, gw-b's.
    // (The session's queue comes at once on connecting; -W ends the read 2 s later.)
    let received = reader(&["-v", "-W", "2"]);
    let out = String::from_utf8_lossy(&received.stdout);
    let topics: Vec<&str> = out.lines().map(|l| l.split_once(' ').map_or(l, |(t, _)| t)).collect();
    assert_eq!(topics, ["plants/gw-a/m1/status", "plants/gw-a/edge", "plants/gw-b/end"], "{}\n{}", String::from_utf8_lossy(&received.stderr), broker.log());

    // The compose healthcheck, as the container runs it (compose turns $$ into $).
    let compose = yaml("compose.yaml");
    let test: Vec<String> = compose["services"]["mosquitto"]["healthcheck"]["test"].as_array().unwrap().iter().skip(1).map(|a| a.as_str().unwrap().replace("$$", "$")).collect();
    let test: Vec<String> = test.into_iter().map(|a| if a == "1883" { local.clone() } else { a }).collect();
    let health = Command::new(&test[0]).args(&test[1..]).output().unwrap();
    assert!(health.status.success(), "{test:?}: {}", text(&health));

    // Gateway names that would reach into other topics or meter ids are refused.
    for bad in ["collector", "a/b", "a+", "a#", "a.b", ""] {
        let out = run_script("mosquitto/make-passwd.sh", &["-o", &other.path().display().to_string(), bad], &[("MQTT_PASSWORD", "x")]);
        assert!(!out.status.success(), "make-passwd.sh took gateway {bad:?}");
    }
    // Running make-passwd.sh again keeps the gateways' passwords.
    let before = broker.password("gw-a");
    let again = run_script("mosquitto/make-passwd.sh", &["-o", &broker.dir.display().to_string(), "--owner", &broker_owner(), "gw-a", "gw-b", "gw-c"], &[("MQTT_PASSWORD", COLLECTOR_PASSWORD)]);
    assert!(again.status.success() && broker.password("gw-a") == before, "{}", text(&again));
    let mode = std::fs::metadata(broker.dir.join("passwords/gw-c")).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "a gateway's plain password is for the operator only");
}

/// A stand-in for the influx CLI 2.7: answers what make-tokens.sh asks, printed as influx prints
/// it (tables padded with tabs, JSON indented with tabs), and keeps its tokens in a directory.
const FAKE_INFLUX: &str = r#"#!/bin/bash
set -eu
[ "${INFLUX_TOKEN:-}" = "admin-token" ] && [ -n "${INFLUX_HOST:-}" ] || { echo "Error: unauthorized" >&2; exit 1; }
db="$FAKE_INFLUX_DB"
mkdir -p "$db"
echo "$*" >> "$db.calls"
case "$1 $2" in
  "bucket list")
    [ "$*" = "bucket list --name energy --hide-headers" ] || { echo "unexpected: $*" >&2; exit 1; }
    printf '0a1b2c3d4e5f6071\t\tenergy\t\tinfinite\t168h0m0s\t\t9f8e7d6c5b4a3921\timplicit\n' ;;
  "auth list")
    printf '['
    sep=''
    for f in "$db"/*; do
      [ -e "$f" ] || continue
      printf '%s\n\t{\n\t\t"id": "%s",\n\t\t"description": "x",\n\t\t"token": "%s",\n\t\t"status": "active"\n\t}' "$sep" "$(basename "$f")" "$(cat "$f")"
      sep=','
    done
    printf '\n]\n' ;;
  "auth create")
    shift 2
    perm=''; bucket=''; json=0
    while [ $# -gt 0 ]; do
      case "$1" in
        --write-bucket|--read-bucket) [ -z "$perm" ] || { echo "two permissions" >&2; exit 1; }; perm="${1#--}"; bucket="$2"; shift 2 ;;
        --description) shift 2 ;;
        --json) json=1; shift ;;
        *) echo "unexpected flag $1" >&2; exit 1 ;;
      esac
    done
    [ "$json" = 1 ] && [ -n "$perm" ] || { echo "no --json or no permission" >&2; exit 1; }
    id="$(printf '%016x' "$(ls "$db" | wc -l)")$RANDOM"
    token="${perm}-${bucket}-${id}=="
    printf '%s' "$token" > "$db/$id"
    printf '{\n\t"id": "%s",\n\t"description": "x",\n\t"token": "%s",\n\t"status": "active",\n\t"userName": "admin",\n\t"userID": "0c1d2e3f4a5b6c7d",\n\t"permissions": [\n\t\t"%s:orgs/9f8e7d6c5b4a3921/buckets/%s"\n\t]\n}\n' "$id" "$token" "${perm%-bucket}" "$bucket" ;;
  *) echo "unexpected: $*" >&2; exit 1 ;;
esac
"#;

#[test]
fn the_influxdb_token_script_gives_the_collector_write_and_grafana_read_only() {
    let dir = tempfile::tempdir().unwrap();
    let bin_dir = dir.path().join("bin");
    std::fs::create_dir_all(&bin_dir).unwrap();
    std::fs::write(bin_dir.join("influx"), FAKE_INFLUX).unwrap();
    std::fs::set_permissions(bin_dir.join("influx"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let tokens = dir.path().join("tokens");
    for who in ["collector", "grafana"] {
        std::fs::create_dir_all(tokens.join(who)).unwrap(); // the volumes
    }
    let db = dir.path().join("influxdb");
    let compose = yaml("compose.yaml");
    let env = compose["services"]["influxdb-tokens"]["environment"].as_object().unwrap().clone();
    let run = || {
        let mut cmd = Command::new("bash");
        cmd.arg(deploy().join("influxdb/make-tokens.sh"));
        for (k, v) in &env {
            cmd.env(k, v.as_str().unwrap());
        }
        let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap());
        let out = cmd.env("PATH", path).env("INFLUX_TOKEN", "admin-token").env("TOKENS_DIR", &tokens).env("FAKE_INFLUX_DB", &db).output().unwrap();
        assert!(out.status.success(), "make-tokens.sh: {}", text(&out));
    };
    let token = |who: &str| std::fs::read_to_string(tokens.join(who).join("token")).unwrap();
    let creates = || std::fs::read_to_string(dir.path().join("influxdb.calls")).unwrap().lines().filter(|l| l.starts_with("auth create")).count();

    run();
    assert!(token("collector").starts_with("write-bucket-0a1b2c3d4e5f6071-"), "the collector's token writes the bucket, nothing else: {}", token("collector"));
    assert!(token("grafana").starts_with("read-bucket-0a1b2c3d4e5f6071-"), "Grafana's token reads the bucket, nothing else: {}", token("grafana"));
    for who in ["collector", "grafana"] {
        assert!(!token(who).contains("admin-token") && !token(who).ends_with('\n'));
        let mode = std::fs::metadata(tokens.join(who).join("token")).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o444, "{who}'s token: readable by the service's user, written by nobody");
    }
    assert_eq!(creates(), 2);

    // Run again (every `docker compose up`): the tokens InfluxDB knows are kept.
    let (collector, grafana) = (token("collector"), token("grafana"));
    run();
    assert_eq!((token("collector"), token("grafana"), creates()), (collector.clone(), grafana.clone(), 2));

    // InfluxDB's data volume recreated: its tokens are gone, so new ones are made.
    std::fs::remove_dir_all(&db).unwrap();
    run();
    assert_eq!(creates(), 4);
    assert!(token("collector") != collector && token("collector").starts_with("write-bucket-"));
    assert!(token("grafana") != grafana && token("grafana").starts_with("read-bucket-"));
}

#[test]
fn the_shipped_mosquitto_and_collector_configs_run_against_real_servers() {
    let dir = tempfile::tempdir().unwrap();
    let broker_dir = tempfile::tempdir().unwrap();
    let broker = shipped_mosquitto(broker_dir.path(), &["gw-a"]);

    let vm = Server::victoria_metrics(free_port());
    let sim = Sim::start(&["--device", "1=eastron_sdm630"]);
    let health_port = free_port();
    let data_dir = dir.path().join("collector-data");
    let token = dir.path().join("influx-token");
    std::fs::write(&token, "a-write-token").unwrap();
    // The shipped config with its hosts moved to loopback, as the stack's DNS would resolve them.
    let config = read("collector/collector.toml")
        .replace("/var/lib/collector", &data_dir.display().to_string())
        .replace("http://influxdb:8086", &format!("http://127.0.0.1:{}", vm.port))
        .replace("/run/secrets/influxdb/token", &token.display().to_string())
        .replace("host = \"mosquitto\"", "host = \"localhost\"")
        .replace("port = 8883", &format!("port = {}", broker.tls_port))
        .replace("/etc/collector/mqtt-ca.crt", &broker.ca().display().to_string())
        .replace("host = \"192.168.1.10\"\nport = 502", &format!("host = \"127.0.0.1\"\nport = {}", sim.port()))
        .replace("interval = \"15s\"", "interval = \"1s\"")
        .replace("0.0.0.0:9464", &format!("127.0.0.1:{health_port}"))
        .replace("max_age = \"60s\"", "max_age = \"1s\"");
    assert!(!config.contains("mosquitto\"") && !config.contains("192.168") && !config.contains(":8086") && !config.contains("/run/secrets/influxdb/token"), "every host was moved:\n{config}");
    let config_path = dir.path().join("collector.toml");
    std::fs::write(&config_path, config).unwrap();
    let check = Command::new(bin("collector")).args(["check", "--config"]).arg(&config_path).env("MQTT_PASSWORD", COLLECTOR_PASSWORD).output().unwrap();
    assert!(check.status.success(), "{}", text(&check));

    // Started as the systemd unit starts it, with the config moved and a time limit.
    let unit = read("systemd/collector.service");
    let exec = unit.lines().find_map(|l| l.strip_prefix("ExecStart=")).unwrap();
    let args: Vec<String> = exec.split_whitespace().skip(1).map(|a| if a == "/etc/collector/collector.toml" { config_path.display().to_string() } else { a.to_owned() }).collect();
    let mut collector = Running(
        Command::new(bin("collector")).args(&args).args(["--for", "6s"]).env("MQTT_PASSWORD", COLLECTOR_PASSWORD).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap(),
    );
    std::thread::sleep(Duration::from_millis(2000));
    let now = chrono::Utc::now().timestamp();
    for i in 0..3 {
        let payload = format!("{{\"unixtime\": {}, \"aenergy\": {{\"total\": {}}}, \"apower\": 1500.0}}", now + i, 1000.0 + f64::from(i as u8));
        let out = broker.publish("gw-a", "plants/gw-a/plug-1/status", payload.as_bytes());
        assert!(out.status.success(), "the gateway may publish its own topics over TLS: {}", text(&out));
    }
    std::thread::sleep(Duration::from_millis(1500));
    let metrics = curl(&[&format!("http://127.0.0.1:{health_port}/metrics")]);

    // The compose healthcheck, as the container runs it, against the running collector.
    let compose = yaml("compose.yaml");
    let test: Vec<String> = compose["services"]["collector"]["healthcheck"]["test"].as_array().unwrap().iter().skip(1).map(|a| a.as_str().unwrap().replace("/9464", &format!("/{health_port}"))).collect();
    let probe = || Command::new(&test[0]).args(&test[1..]).output().unwrap();
    let healthy = probe();
    assert!(healthy.status.success(), "{test:?} against the running collector: {}\n{}", text(&healthy), curl(&["-s", &format!("http://127.0.0.1:{health_port}/healthz")]));

    let (status, stderr) = wait_or_kill(&mut collector.0, Duration::from_secs(30));
    assert!(status.is_some_and(|s| s.success()), "the collector did not stop cleanly after --for 6s ({status:?}):\n{stderr}");
    assert!(!probe().status.success(), "the healthcheck fails once the collector is gone");
    let broker_log = broker.log();
    drop(broker);
    assert!(stderr.lines().all(|l| l.starts_with('{')), "the unit logs JSON:\n{stderr}");

    // Both sources reached VictoriaMetrics through the v2 write API.
    curl(&[&format!("http://127.0.0.1:{}/internal/force_flush", vm.port)]);
    let export = curl(&["-G", &format!("http://127.0.0.1:{}/api/v1/export", vm.port), "--data-urlencode", "match[]={__name__=\"reading_value\"}"]);
    let meters: BTreeSet<String> = export
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["metric"]["meter"].as_str().unwrap().to_owned())
        .collect();
    assert!(meters.contains("main-incomer") && meters.contains("gw-a.plug-1"), "{meters:?}\n{stderr}\n{broker_log}");

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
