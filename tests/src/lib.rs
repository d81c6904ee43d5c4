//! Helpers for the end-to-end tests: find the built binaries, start `meter-sim` on a free
//! loopback port, write collector configs, and run the collector.
//!
//! The binaries must be built first (`cargo build --workspace --bins`); `tests/run` does that.

pub mod cdp;

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
    /// `127.0.0.1:PORT` it listens on, or the serial device it serves.
    pub addr: String,
}

impl Sim {
    /// Starts `meter-sim` on a free loopback port with `args` (devices, faults, ...).
    pub fn start(args: &[&str]) -> Sim {
        let mut all = vec!["--listen", "127.0.0.1:0"];
        all.extend_from_slice(args);
        Sim::spawn(&all)
    }

    /// Starts `meter-sim` serving RTU on the serial device `tty` with `args`.
    pub fn start_serial(tty: &Path, args: &[&str]) -> Sim {
        let tty = tty.to_str().expect("a UTF-8 path");
        let mut all = vec!["--serial", tty];
        all.extend_from_slice(args);
        Sim::spawn(&all)
    }

    fn spawn(args: &[&str]) -> Sim {
        let mut child = Command::new(bin("meter-sim"))
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
        "[gateway]\nenterprise = \"91350100M000100Y43\"\nsite = \"plant-1\"\n\n# Test machines often run without NTP (the kernel calls their clock unsynchronised); its time is\n# right, and the tests compare good readings.\n[clock]\ntrusted = true\n\n[storage]\ndata_dir = \"data\"\n\n[sinks.parquet]\n{sink}\n\n{}",
        devices.join("\n")
    );
    let path = dir.join("collector.toml");
    std::fs::write(&path, text).expect("config written");
    path
}

/// Everything the collector stored under `dir` (its config's directory) in the Parquet store.
pub fn stored_readings(dir: &Path) -> Vec<readings::Reading> {
    let from = chrono::DateTime::from_timestamp(0, 0).expect("epoch");
    let to = chrono::Utc::now() + chrono::Duration::days(1);
    readings::store::read_range(&dir.join("data/readings"), from, to).expect("the store reads back")
}

/// Asserts that meter `name` kept every 1 s slot between its first and last (at least
/// `min_slots` of them) and that every stored reading is what `meter` serves at `frozen`.
pub fn assert_on_cadence_and_exact(stored: &[readings::Reading], name: &str, meter: &meter_sim::Meter, frozen: chrono::DateTime<chrono::Utc>, min_slots: usize) {
    let mine: Vec<&readings::Reading> = stored.iter().filter(|r| r.meter.as_str() == name).collect();
    let mut slots: Vec<i64> = mine.iter().map(|r| r.time.timestamp()).collect();
    slots.sort_unstable();
    slots.dedup();
    assert!(slots.len() >= min_slots, "{name}: {slots:?}");
    assert_eq!(slots[slots.len() - 1] - slots[0] + 1, slots.len() as i64, "{name} missed a slot: {slots:?}");
    for (p, point) in meter.profile.map.points.iter().enumerate() {
        let (value, quality) = meter.expected(p, frozen);
        for r in mine.iter().filter(|r| r.quantity == point.quantity) {
            assert_eq!((r.value, r.quality), (value, quality), "{name}.{}", point.name);
        }
    }
}

/// A `[[modbus.devices]]` entry on serial line `line`.
pub fn serial_device(name: &str, line: &str, unit: u8, profile: &str, interval: &str, extra: &str) -> String {
    format!("[[modbus.devices]]\nname = \"{name}\"\nline = \"{line}\"\nunit = {unit}\nprofile = \"{profile}\"\ninterval = \"{interval}\"\n{extra}\n")
}

/// A pair of connected pseudo-terminals made by socat: what one end writes, the other reads, as
/// on a serial cable. The collector opens one end, meter-sim the other.
pub struct SerialPair {
    child: Child,
    _dir: tempfile::TempDir,
    /// The collector's end.
    pub a: PathBuf,
    /// The meters' end.
    pub b: PathBuf,
}

impl SerialPair {
    /// Starts socat and waits until both ends exist.
    pub fn start() -> SerialPair {
        let dir = tempfile::tempdir().expect("a temp dir");
        let (a, b) = (dir.path().join("ttyA"), dir.path().join("ttyB"));
        let child = Command::new("socat")
            .arg(format!("pty,raw,echo=0,link={}", a.display()))
            .arg(format!("pty,raw,echo=0,link={}", b.display()))
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("socat starts (tests/run installs it)");
        let pair = SerialPair { child, _dir: dir, a, b };
        for _ in 0..100 {
            if pair.a.exists() && pair.b.exists() {
                return pair;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("socat made no pseudo-terminals within 5 s");
    }
}

impl Drop for SerialPair {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
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

/// A free TCP port on loopback (bound and released; good enough for tests on one machine).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

/// Polls `http://127.0.0.1:PORT/healthz` until it answers ok (200), for at most `limit`;
/// whether it did.
pub fn healthy_within(port: u16, limit: Duration) -> bool {
    let until = std::time::Instant::now() + limit;
    loop {
        std::thread::sleep(Duration::from_millis(100));
        if Command::new("curl").args(["-sf", &format!("http://127.0.0.1:{port}/healthz")]).output().is_ok_and(|o| o.status.success()) {
            return true;
        }
        if std::time::Instant::now() >= until {
            return false;
        }
    }
}

/// Runs curl and returns its stdout (the tests' HTTP client for the servers' own APIs).
pub fn curl(args: &[&str]) -> String {
    let out = Command::new("curl").args(["-sS", "--fail-with-body"]).args(args).output().expect("curl runs");
    assert!(out.status.success(), "curl {args:?}: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A server process on loopback with its data in a temporary directory, killed when dropped.
pub struct Server {
    child: Option<Child>,
    pub port: u16,
    pub dir: tempfile::TempDir,
}

impl Server {
    /// Debian's InfluxDB 1.x (`influxd`), on `port`, with database `energy` created.
    pub fn influxdb(port: u16) -> Server {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut server = Server { child: None, port, dir };
        server.start_influxdb();
        server
    }

    fn start_influxdb(&mut self) {
        let d = self.dir.path().display().to_string();
        let backup = free_port();
        let config = format!(
            "reporting-enabled = false\nbind-address = \"127.0.0.1:{backup}\"\n[meta]\n  dir = \"{d}/meta\"\n[data]\n  dir = \"{d}/data\"\n  wal-dir = \"{d}/wal\"\n[monitor]\n  store-enabled = false\n[http]\n  bind-address = \"127.0.0.1:{}\"\n  log-enabled = false\n",
            self.port
        );
        let path = self.dir.path().join("influxdb.conf");
        std::fs::write(&path, config).expect("influxd config written");
        let child = Command::new("influxd")
            .args(["run", "-config"])
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("influxd starts: run ./tests/run, which installs Debian's influxdb");
        self.child = Some(child);
        self.wait_until(&format!("http://127.0.0.1:{}/ping", self.port));
        curl(&["-XPOST", &format!("http://127.0.0.1:{}/query", self.port), "--data-urlencode", "q=CREATE DATABASE energy"]);
    }

    /// Mosquitto on `port` (loopback, anonymous, persistent sessions kept in its data dir).
    pub fn mosquitto(port: u16) -> Server {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = format!(
            "listener {port} 127.0.0.1\nallow_anonymous true\npersistence true\npersistence_location {}/\nmax_queued_messages 100000\n",
            dir.path().display()
        );
        let path = dir.path().join("mosquitto.conf");
        std::fs::write(&path, config).expect("mosquitto config written");
        let child = Command::new("mosquitto")
            .arg("-c")
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mosquitto starts: run ./tests/run, which installs it");
        let mut server = Server { child: Some(child), port, dir };
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            server.assert_running("mosquitto");
            assert!(std::time::Instant::now() < deadline, "mosquitto did not listen on {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        server.assert_still_ours("mosquitto");
        server
    }

    /// Fails if the server process has exited (it could not bind its port, or its config is bad).
    fn assert_running(&mut self, name: &str) {
        if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
            panic!("{name} exited ({status}) before answering on port {}: the port taken by another process?", self.port);
        }
    }

    /// After the port answers, checks that it is this server that answers: another process that
    /// holds the port (a test suite running beside this one) answers too, while a server that
    /// could not bind exits at once.
    fn assert_still_ours(&mut self, name: &str) {
        std::thread::sleep(Duration::from_millis(300));
        self.assert_running(name);
    }

    /// VictoriaMetrics on `port`, de-duplicating points with the same series and timestamp.
    pub fn victoria_metrics(port: u16) -> Server {
        let dir = tempfile::tempdir().expect("temp dir");
        let child = Command::new("victoria-metrics")
            .arg(format!("-httpListenAddr=127.0.0.1:{port}"))
            .arg(format!("-storageDataPath={}", dir.path().display()))
            .arg("-dedup.minScrapeInterval=1ms")
            .arg("-loggerLevel=ERROR")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("victoria-metrics starts: run ./tests/run, which installs it");
        let mut server = Server { child: Some(child), port, dir };
        server.wait_until(&format!("http://127.0.0.1:{port}/health"));
        server
    }

    fn wait_until(&mut self, url: &str) {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let ok = Command::new("curl").args(["-sf", "-o", "/dev/null", url]).status().is_ok_and(|s| s.success());
            if ok {
                self.assert_still_ours(url);
                return;
            }
            self.assert_running(url);
            assert!(std::time::Instant::now() < deadline, "{url} did not answer within 30 s");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Stops the server (SIGKILL); its data stays.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts a stopped InfluxDB again on the same port and data.
    pub fn restart_influxdb(&mut self) {
        self.stop();
        self.start_influxdb();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// What the fault proxy does with the n-th write request (counting from 0).
pub type Plan = fn(usize) -> Option<(u16, &'static str)>;

/// An answer the fault proxy makes up instead of forwarding the request.
pub struct Injected {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
}

/// What the fault proxy does with the n-th request and its body: `None` forwards it.
pub type BodyPlan = Box<dyn Fn(usize, &[u8]) -> Option<Injected> + Send>;

/// An HTTP proxy in front of a server that answers some requests itself (with the status and
/// body `plan` gives) and forwards the rest: a server that fails for a while, or refuses a batch.
pub struct FaultProxy {
    pub port: u16,
    pub requests: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl FaultProxy {
    /// Listens on a free port and forwards to `upstream` on loopback; injected answers carry
    /// `Retry-After: 1`.
    pub fn start(upstream: u16, plan: Plan) -> FaultProxy {
        FaultProxy::start_with(
            upstream,
            Box::new(move |n, _| plan(n).map(|(status, body)| Injected { status, headers: vec![("Retry-After", "1".into())], body: body.into() })),
        )
    }

    /// Like [`FaultProxy::start`], with a plan that sees each request's body and sets headers.
    pub fn start_with(upstream: u16, plan: BodyPlan) -> FaultProxy {
        use std::io::{Read, Write};
        use std::sync::atomic::Ordering;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("proxy binds");
        let port = listener.local_addr().expect("address").port();
        let requests = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = std::sync::Arc::clone(&requests);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut client) = stream else { continue };
                // One request per connection: read the head, then the body by Content-Length.
                let mut raw = Vec::new();
                let mut buf = [0u8; 65536];
                let head_end = loop {
                    match client.read(&mut buf) {
                        Ok(0) | Err(_) => break None,
                        Ok(n) => raw.extend_from_slice(&buf[..n]),
                    }
                    if let Some(i) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
                        break Some(i + 4);
                    }
                };
                let Some(head_end) = head_end else { continue };
                let head = String::from_utf8_lossy(&raw[..head_end]).to_string();
                let length: usize = head
                    .lines()
                    .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse().unwrap_or(0)))
                    .unwrap_or(0);
                while raw.len() < head_end + length {
                    match client.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => raw.extend_from_slice(&buf[..n]),
                    }
                }
                let n = counter.fetch_add(1, Ordering::SeqCst);
                if let Some(answer) = plan(n, &raw[head_end..]) {
                    let headers: String = answer.headers.iter().map(|(k, v)| format!("{k}: {v}\r\n")).collect();
                    let reply = format!(
                        "HTTP/1.1 {} Injected\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{headers}Connection: close\r\n\r\n{}",
                        answer.status,
                        answer.body.len(),
                        answer.body
                    );
                    let _ = client.write_all(reply.as_bytes());
                    continue;
                }
                // Forward, asking the server to close so its answer ends at EOF.
                let request = String::from_utf8_lossy(&raw[..head_end])
                    .lines()
                    .filter(|l| !l.to_ascii_lowercase().starts_with("connection:") && !l.is_empty())
                    .map(|l| format!("{l}\r\n"))
                    .collect::<String>()
                    + "Connection: close\r\n\r\n";
                let Ok(mut server) = std::net::TcpStream::connect(("127.0.0.1", upstream)) else { continue };
                let _ = server.write_all(request.as_bytes());
                let _ = server.write_all(&raw[head_end..]);
                let mut answer = Vec::new();
                let _ = server.read_to_end(&mut answer);
                let _ = client.write_all(&answer);
            }
        });
        FaultProxy { port, requests }
    }
}

/// A `mosquitto_pub -l` on one connection: each line written to the returned stdin is a message
/// to `topic` with QoS 1; drop the stdin, then wait for the child, to end it.
pub fn line_publisher(port: u16, topic: &str) -> (std::process::Child, std::process::ChildStdin) {
    let mut child = Command::new("mosquitto_pub")
        .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-q", "1", "-t", topic, "-l"])
        .stdin(Stdio::piped())
        .spawn()
        .expect("mosquitto_pub runs");
    let stdin = child.stdin.take().expect("piped stdin");
    (child, stdin)
}

/// Publishes each of `messages` to `topic` with QoS 1 through `mosquitto_pub` (one process).
pub fn publish(port: u16, topic: &str, messages: &[&[u8]]) {
    for m in messages {
        // `-s` refuses an empty stdin; `-n` sends the empty message.
        let payload_from = if m.is_empty() { "-n" } else { "-s" };
        let mut child = Command::new("mosquitto_pub")
            .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-q", "1", "-t", topic, payload_from])
            .stdin(Stdio::piped())
            .spawn()
            .expect("mosquitto_pub runs");
        {
            use std::io::Write;
            let mut stdin = child.stdin.take().expect("piped stdin");
            stdin.write_all(m).expect("payload written");
        }
        assert!(child.wait().expect("mosquitto_pub ends").success());
    }
}

/// A CA, a server certificate for 127.0.0.1 and a client certificate, made with openssl.
pub fn make_certificates(dir: &std::path::Path) {
    let run = |args: &[&str]| {
        let out = Command::new("openssl").args(args).current_dir(dir).output().expect("openssl runs");
        assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    run(&["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=test-ca"]);
    for (name, cn, ext) in [("server", "127.0.0.1", "subjectAltName=IP:127.0.0.1"), ("client", "collector", "extendedKeyUsage=clientAuth")] {
        run(&["req", "-newkey", "rsa:2048", "-nodes", "-keyout", &format!("{name}.key"), "-out", &format!("{name}.csr"), "-subj", &format!("/CN={cn}")]);
        std::fs::write(dir.join(format!("{name}.ext")), ext).unwrap();
        run(&[
            "x509", "-req", "-in", &format!("{name}.csr"), "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", &format!("{name}.pem"), "-days", "2",
            "-extfile", &format!("{name}.ext"),
        ]);
    }
}
