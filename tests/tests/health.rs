//! The collector's health endpoint: `/metrics` parses as Prometheus text and its counters move
//! as the simulator's faults happen; `/healthz` answers.

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::Duration;

use e2e::{bin, curl, device, free_port, healthy_within, write_config, Sim};

/// Parses the Prometheus text format strictly enough to catch a malformed exposition: every
/// sample's family declared by `# TYPE` before it, names and labels well formed, values numbers.
fn parse(text: &str) -> BTreeMap<String, f64> {
    let name_ok = |n: &str| !n.is_empty() && n.chars().enumerate().all(|(i, c)| c.is_ascii_alphabetic() || c == '_' || c == ':' || (i > 0 && c.is_ascii_digit()));
    let mut types: BTreeMap<String, String> = BTreeMap::new();
    let mut samples = BTreeMap::new();
    for line in text.lines().filter(|l| !l.is_empty()) {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("# TYPE name kind");
            assert!(name_ok(name) && ["counter", "gauge", "histogram"].contains(&kind), "{line}");
            types.insert(name.to_owned(), kind.to_owned());
            continue;
        }
        if line.starts_with("# HELP ") {
            continue;
        }
        assert!(!line.starts_with('#'), "unknown comment: {line}");
        let (series, value) = line.rsplit_once(' ').expect("series value");
        let value: f64 = value.parse().unwrap_or_else(|_| panic!("not a number: {line}"));
        let sample_name = series.split('{').next().unwrap();
        // A histogram's samples are its name with _bucket (labelled le), _sum or _count.
        let name = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|suffix| sample_name.strip_suffix(suffix).filter(|family| types.get(*family).is_some_and(|k| k == "histogram")))
            .unwrap_or(sample_name);
        assert!(name_ok(sample_name) && types.contains_key(name), "undeclared or bad name: {line}");
        assert!(types[name] != "histogram" || sample_name != name, "a histogram sample without a suffix: {line}");
        assert!(!sample_name.ends_with("_bucket") || series.contains("le=\""), "a bucket without le: {line}");
        if let Some(labels) = series.strip_prefix(sample_name).filter(|l| !l.is_empty()) {
            let inner = labels.strip_prefix('{').and_then(|l| l.strip_suffix('}')).unwrap_or_else(|| panic!("labels: {line}"));
            for pair in inner.split("\",") {
                let (k, v) = pair.split_once("=\"").unwrap_or_else(|| panic!("label: {line}"));
                assert!(name_ok(k) && !v.trim_end_matches('"').contains('"'), "label: {line}");
            }
        }
        if types[name] == "counter" || types[name] == "histogram" {
            assert!(value >= 0.0, "a counter below zero: {line}");
        }
        samples.insert(series.to_owned(), value);
    }
    samples
}

#[test]
fn metrics_parse_and_move_with_the_faults() {
    let sim = Sim::start(&["--device", "1=eastron_sdm630", "--device", "2=acrel_adw300:dead"]);
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let devices = [
        device("healthy", sim.port(), 1, "eastron_sdm630", "1s", "timeout = \"300ms\""),
        device("dead", sim.port(), 2, "acrel_adw300", "1s", "timeout = \"300ms\""),
        format!("[health]\nlisten = \"127.0.0.1:{port}\"\n"),
    ];
    let config = write_config(dir.path(), "max_age = \"1s\"", &devices);
    let mut child = Command::new(bin("collector"))
        .args(["run", "--config"])
        .arg(&config)
        .args(["--for", "7s"])
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let url = |path: &str| format!("http://127.0.0.1:{port}{path}");
    assert!(healthy_within(port, Duration::from_secs(5)), "the health endpoint did not answer");
    assert_eq!(curl(&[&url("/healthz")]), "ok\n");

    std::thread::sleep(Duration::from_millis(1500));
    let first = parse(&curl(&[&url("/metrics")]));
    std::thread::sleep(Duration::from_millis(2500));
    let second = parse(&curl(&[&url("/metrics")]));
    assert!(child.wait().unwrap().success());

    let get = |m: &BTreeMap<String, f64>, k: &str| *m.get(k).unwrap_or_else(|| panic!("{k} missing from {m:?}"));
    let healthy = "collector_device_requests_total{device=\"healthy\"}";
    assert!(get(&second, healthy) > get(&first, healthy), "the healthy meter's requests move");
    let good = "collector_device_readings_total{device=\"healthy\",quality=\"good\"}";
    assert!(get(&second, good) > get(&first, good));
    let timeouts = "collector_device_request_failures_total{device=\"dead\",reason=\"timeout\"}";
    assert!(get(&first, timeouts) >= 1.0, "the dead meter's timeouts are counted");
    // Backed off after three failed cycles, re-probed later: its slots are skipped meanwhile.
    let skipped = "collector_device_skipped_slots_total{device=\"dead\",reason=\"backoff\"}";
    assert!(get(&second, skipped) > get(&first, skipped) || get(&second, timeouts) > get(&first, timeouts));
    for reason in ["backoff", "journal_full", "overrun"] {
        let healthy = format!("collector_device_skipped_slots_total{{device=\"healthy\",reason=\"{reason}\"}}");
        assert!(first.contains_key(&healthy), "every reason is there from the start (at zero until it happens): {healthy}");
    }
    let delivered = "collector_sink_readings_total{sink=\"parquet\"}";
    assert!(get(&second, delivered) > 0.0);
    assert!(second.contains_key("collector_sink_lag_readings{sink=\"parquet\"}") && second.contains_key("collector_journal_bytes"));
    assert!(get(&second, "collector_uptime_seconds") > get(&first, "collector_uptime_seconds"));

    // The latency histogram: cumulative buckets, the count is the requests sent, and the dead
    // meter's 300 ms timeouts fall between the 0.25 s and 0.5 s bounds.
    let bucket = |device: &str, le: &str| get(&second, &format!("collector_device_request_duration_seconds_bucket{{device=\"{device}\",le=\"{le}\"}}"));
    for device in ["healthy", "dead"] {
        let count = get(&second, &format!("collector_device_request_duration_seconds_count{{device=\"{device}\"}}"));
        assert_eq!(count, get(&second, &format!("collector_device_requests_total{{device=\"{device}\"}}")), "{device}");
        assert_eq!(bucket(device, "+Inf"), count, "{device}");
        let les = ["0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "+Inf"];
        assert!(les.windows(2).all(|w| bucket(device, w[0]) <= bucket(device, w[1])), "{device}: buckets are cumulative");
    }
    assert!(bucket("dead", "0.5") > bucket("dead", "0.25"), "the timeouts are in the 0.5 s bucket");
    assert!(bucket("healthy", "0.25") > 0.0, "a loopback meter answers well within 0.25 s");
    // The Parquet sink delivers every second: nothing waits long in the journal.
    let age = get(&second, "collector_journal_oldest_undelivered_seconds");
    assert!((0.0..10.0).contains(&age), "oldest undelivered {age} s");
}

/// `--log-format json`: every line on stderr is one JSON object with a level and a message, and
/// the dead meter's failures arrive as structured fields.
#[test]
fn json_logs_are_one_object_per_line() {
    let sim = Sim::start(&["--device", "2=acrel_adw300:dead"]);
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "max_age = \"1s\"", &[device("dead", sim.port(), 2, "acrel_adw300", "1s", "timeout = \"200ms\"")]);
    let run = Command::new(bin("collector")).args(["--log-format", "json", "run", "--config"]).arg(&config).args(["--for", "3s"]).output().unwrap();
    assert!(run.status.success());
    let stderr = String::from_utf8_lossy(&run.stderr);
    let lines: Vec<serde_json::Value> = stderr.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"))).collect();
    assert!(lines.len() >= 3, "{stderr}");
    assert!(lines.iter().all(|l| l["level"].is_string() && l["fields"]["message"].is_string() && l["timestamp"].is_string()), "{stderr}");
    assert!(lines.iter().any(|l| l["fields"]["device"] == "dead" && l["level"] == "WARN"), "the dead meter is reported with its device as a field:\n{stderr}");
}

/// Out of file descriptors (EMFILE), the endpoint backs off instead of spinning on `accept`,
/// counts the failures, and answers again once descriptors are free. The limit is lowered on the
/// running process with util-linux's `prlimit` to a few above what it holds.
#[test]
fn out_of_descriptors_the_endpoint_backs_off_and_recovers() {
    let sim = Sim::start(&["--device", "1=eastron_sdm630"]);
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let devices = [device("m1", sim.port(), 1, "eastron_sdm630", "1s", ""), format!("[health]\nlisten = \"127.0.0.1:{port}\"\n")];
    let config = write_config(dir.path(), "max_age = \"1s\"", &devices);
    let child = Command::new(bin("collector"))
        .args(["run", "--config"])
        .arg(&config)
        .args(["--for", "25s"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let url = |path: &str| format!("http://127.0.0.1:{port}{path}");
    assert!(healthy_within(port, Duration::from_secs(5)), "the health endpoint did not answer");
    let pid = child.id().to_string();
    let open = std::fs::read_dir(format!("/proc/{pid}/fd")).unwrap().count();
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let soft: usize = limits.lines().find(|l| l.starts_with("Max open files")).and_then(|l| l.split_whitespace().nth(3)).and_then(|n| n.parse().ok()).unwrap();
    // The soft limit only: lowering the hard one could not be undone without privileges.
    let limit = |n: usize| {
        let ok = Command::new("prlimit").args(["--pid", &pid, &format!("--nofile={n}:")]).status().unwrap();
        assert!(ok.success(), "prlimit --pid {pid} --nofile={n}:");
    };
    limit(open + 3);
    // More connections than descriptors left (and fewer than the connection cap, which would
    // close the extra ones itself): the kernel queues them, accept fails with EMFILE.
    let idle: Vec<_> = (0..10).map(|_| std::net::TcpStream::connect(("127.0.0.1", port)).unwrap()).collect();
    std::thread::sleep(Duration::from_secs(3));
    drop(idle);
    limit(soft);
    // Without descriptors the Parquet sink could not open its files either (it retries every
    // 5 s), and a meter may have missed slots: healthy again once they have caught up.
    assert!(healthy_within(port, Duration::from_secs(15)), "answers ok again once descriptors are free: {}", Command::new("curl").args(["-s", &url("/healthz")]).output().map(|o| String::from_utf8_lossy(&o.stdout).into_owned()).unwrap_or_default());
    let metrics = parse(&curl(&[&url("/metrics")]));
    let errors = metrics["collector_health_accept_errors_total"];
    // A loop accepting again at once would count thousands in three seconds; backing off from
    // 10 ms to 1 s makes about ten.
    assert!((1.0..=30.0).contains(&errors), "accept errors in 3 s: {errors}");
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("health endpoint: accept failed"), "{stderr}");
}
