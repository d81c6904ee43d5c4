//! The console against a running collector polling meter-sim, driven by headless Chromium over
//! the DevTools protocol as an engineer would use it: the overview lists the device with live
//! values that refresh without a reload; the device page shows raw registers and the other word
//! orders; a config with a mistake shows it at its line and changes nothing; a good config
//! applied adds a device without losing a journalled reading; the pages speak Chinese on request
//! and raise no console error. `CONSOLE_SCREENSHOTS=<dir>` also saves screenshots of the pages
//! there (docs/ holds them).

use std::process::{Command, Stdio};
use std::time::Duration;

use e2e::cdp::Browser;
use e2e::{bin, device, free_port, publish, stored_readings, write_config, Server, Sim};

fn config_text(sim: u16, http: u16, meters: &[(&str, u8)], extra: &str) -> String {
    let devices: Vec<String> = meters.iter().map(|(name, unit)| device(name, sim, *unit, "eastron_sdm630", "1s", "")).collect();
    format!(
        "[gateway]\nenterprise = \"91350100M000100Y43\"\nsite = \"plant-1\"\n\n[clock]\ntrusted = true\n\n[storage]\ndata_dir = \"data\"\n\n[sinks.parquet]\nmax_age = \"500ms\"\n\n[health]\nlisten = \"127.0.0.1:{http}\"\n\n[console]\n\n{}{extra}",
        devices.join("\n")
    )
}

#[test]
fn an_engineer_commissions_a_meter_from_the_browser() {
    let sim = Sim::start(&["--seed", "5", "--device", "1=eastron_sdm630", "--device", "2=eastron_sdm630"]);
    let broker = Server::mosquitto(free_port());
    let http = free_port();
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(dir.path(), "", &[]);
    let mqtt = format!(
        "\n[mqtt]\nhost = \"127.0.0.1\"\nport = {}\nclient_id = \"console-test\"\n\n[[mqtt.subscriptions]]\ntopic = \"water/+/volume\"\nmeter = \"water-{{1}}\"\nformat = \"number\"\n[[mqtt.subscriptions.fields]]\nquantity = \"volume\"\nmedium = \"water\"\nkind = \"counter\"\nunit = \"m3\"\n",
        broker.port
    );
    std::fs::write(&path, config_text(sim.port(), http, &[("m1", 1)], &mqtt)).unwrap();
    let mut collector = Command::new(bin("collector")).args(["run", "--config"]).arg(&path).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let base = format!("http://127.0.0.1:{http}");

    let browser = Browser::launch();
    let mut page = browser.page();
    let screenshots = std::env::var_os("CONSOLE_SCREENSHOTS").map(std::path::PathBuf::from);
    let shot = |page: &mut e2e::cdp::Page, name: &str| {
        if let Some(dir) = &screenshots {
            std::fs::write(dir.join(name), page.screenshot(1280, 900)).unwrap();
        }
    };
    // Wait for the listener.
    std::thread::sleep(Duration::from_millis(800));
    page.goto(&format!("{base}/"));
    page.eval("window.marker = 'loaded once'");
    page.wait_for("document.querySelector('tr[data-source=\"m1\"] [data-k=\"state\"]').textContent === 'answering'", Duration::from_secs(10));
    let good = |page: &mut e2e::cdp::Page| page.eval("Number(document.querySelector('tr[data-source=\"m1\"] [data-k=\"good\"]').textContent)").as_f64().unwrap();
    let before = good(&mut page);
    // The counts grow by events, not by reloading: the marker set above is still there.
    page.wait_for(&format!("Number(document.querySelector('tr[data-source=\"m1\"] [data-k=\"good\"]').textContent) > {before}"), Duration::from_secs(6));
    assert_eq!(page.eval("window.marker"), "loaded once");
    assert!(page.eval("document.querySelector('tr[data-source=\"m1\"] [data-k=\"last_reading\"]').textContent").as_str().unwrap().starts_with("20"));
    // An MQTT meter appears with its value as it publishes, the subscription beside it.
    std::thread::sleep(Duration::from_millis(500));
    publish(broker.port, "water/main/volume", &[b"1234.5"]);
    let row = page.wait_for("document.querySelector('#mqtt_meters tr[data-mqtt=\"water-main\"]') && document.querySelector('#mqtt_meters tr[data-mqtt=\"water-main\"]').textContent", Duration::from_secs(6));
    assert!(row.as_str().unwrap().contains("volume = 1234.5 m3"), "{row}");
    assert!(page.eval("document.getElementById('subscriptions').textContent").as_str().unwrap().contains("water/+/volume"));
    shot(&mut page, "console-overview.png");

    // The device page: live values beside their raw registers and the four word orders.
    page.goto(&format!("{base}/device/m1"));
    page.wait_for("document.querySelectorAll('#points tbody tr').length >= 10", Duration::from_secs(5));
    let raw = page.eval("document.querySelector('tr[data-point=\"active_energy_import\"] [data-k=\"raw\"]').textContent");
    let raw = raw.as_str().unwrap();
    assert!(raw.split(' ').count() == 2 && raw.split(' ').all(|w| w.len() == 4 && u16::from_str_radix(w, 16).is_ok()), "two raw words: {raw:?}");
    let orders = page.eval("document.querySelector('tr[data-point=\"active_energy_import\"] [data-k=\"orders\"]').innerText");
    let orders = orders.as_str().unwrap();
    for o in ["ABCD: ", "CDAB: ", "BADC: ", "DCBA: "] {
        assert!(orders.contains(o), "{orders}");
    }
    assert!(page.eval("document.querySelectorAll('#requests li').length").as_u64().unwrap() >= 1);
    shot(&mut page, "console-device.png");

    // A config with a mistake: the problem is shown at its line, and nothing changes.
    page.goto(&format!("{base}/config"));
    let bad = config_text(sim.port(), http, &[("m1", 1), ("m2", 2)], "").replace("unit = 2", "unit = 2\ntimeout = \"soon\"");
    let bad_line = bad.lines().position(|l| l.starts_with("timeout = \"soon\"")).unwrap() + 1;
    page.eval(&format!("document.getElementById('text').value = {}", serde_json::Value::from(bad.as_str())));
    page.eval("document.getElementById('check').click()");
    let shown = page.wait_for("document.querySelector('#problems li') && document.querySelector('#problems li').dataset.line", Duration::from_secs(5));
    assert_eq!(shown, serde_json::Value::from(bad_line.to_string()), "the problem's line");
    assert!(page.eval(&format!("document.querySelector('#gutter [data-line=\"{bad_line}\"]').classList.contains('bad')")).as_bool().unwrap());
    shot(&mut page, "console-config.png");
    page.eval("document.getElementById('apply').click()");
    page.wait_for("document.querySelectorAll('#problems li').length > 0", Duration::from_secs(5));
    assert!(!std::fs::read_to_string(&path).unwrap().contains("m2"), "a refused config is not written");

    // The good one: applied, m2 polled from then on, m1 untouched.
    let good_text = config_text(sim.port(), http, &[("m1", 1), ("m2", 2)], "");
    page.eval(&format!("document.getElementById('text').value = {}", serde_json::Value::from(good_text.as_str())));
    let applied_at = chrono::Utc::now();
    page.eval("document.getElementById('apply').click()");
    let outcome = page.wait_for("document.getElementById('outcome').textContent", Duration::from_secs(10));
    assert!(outcome.as_str().unwrap().contains("added: modbus:m2"), "{outcome}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), good_text, "the applied config is the file now");
    page.goto(&format!("{base}/"));
    page.wait_for("document.querySelector('tr[data-source=\"m2\"] [data-k=\"state\"]') && document.querySelector('tr[data-source=\"m2\"] [data-k=\"state\"]').textContent === 'answering'", Duration::from_secs(10));

    // Try a point on the line the collector polls: SDM630 frequency, input register 0x46, f32.
    page.goto(&format!("{base}/try"));
    let endpoint = page.eval("document.querySelector('#endpoints option').value");
    page.eval(&format!(
        "{{const f=document.getElementById('try');f.endpoint.value={endpoint};f.unit.value='1';f.function.value='input';f.address.value='70';f.type.value='f32';document.getElementById('read').click()}}"
    ));
    page.wait_for("document.querySelectorAll('#values tr[data-order]').length === 4", Duration::from_secs(5));
    let abcd = page.eval("Number(document.querySelector('#values tr[data-order=\"ABCD\"] td.n').textContent)").as_f64().unwrap();
    assert!((49.0..51.0).contains(&abcd), "frequency in ABCD order: {abcd}");
    let cdab = page.eval("Number(document.querySelector('#values tr[data-order=\"CDAB\"] td.n').textContent)").as_f64().unwrap();
    assert!(!(49.0..51.0).contains(&cdab), "swapped words must not look right: {cdab}");
    assert_eq!(page.eval("document.getElementById('words').textContent.split(' ').length"), 2);
    shot(&mut page, "console-try.png");

    // Discovery: a line the collector polls is refused; a new serial server is scanned, and the
    // config it prints proposes the meter's profile.
    let new_line = Sim::start(&["--rtu-over-tcp", "--seed", "9", "--device", "2=eastron_sdm630"]);
    page.goto(&format!("{base}/discover"));
    let scan = |page: &mut e2e::cdp::Page, port: u16| {
        page.eval(&format!(
            "{{const f=document.getElementById('scan');f.host.value='127.0.0.1';f.port.value='{port}';f.units.value='1-3';f.timeout_ms.value='200';\
             for(const c of f.querySelectorAll('[name=protocols]'))c.checked=c.value==='modbus';document.getElementById('start').click()}}"
        ));
    };
    scan(&mut page, sim.port());
    let refused = page.wait_for("document.getElementById('error').textContent", Duration::from_secs(5));
    assert!(refused.as_str().unwrap().contains("is polled by this collector"), "{refused}");
    scan(&mut page, new_line.port());
    let snippet = page.wait_for("document.getElementById('snippet').value", Duration::from_secs(15));
    let snippet = snippet.as_str().unwrap();
    assert!(snippet.contains("unit = 2\nprofile = \"eastron_sdm630\"  # proposed: frequency = "), "{snippet}");
    assert!(page.eval("document.getElementById('progress').textContent").as_str().unwrap().contains("3/3 unit ids probed, 1 answered"));

    // Chinese, by the switch.
    page.goto(&format!("{base}/?lang=zh"));
    assert_eq!(page.eval("document.documentElement.lang"), "zh");
    assert!(page.eval("document.querySelector('h1').textContent").as_str().unwrap().contains("网关控制台"));
    page.wait_for("document.querySelector('tr[data-source=\"m1\"] [data-k=\"state\"]').textContent === '在线'", Duration::from_secs(5));
    let errors = page.errors();
    assert!(errors.is_empty(), "console errors: {errors:?}");
    drop(page);
    drop(browser);

    assert!(Command::new("kill").args(["-TERM", &collector.id().to_string()]).status().unwrap().success());
    assert!(collector.wait().unwrap().success());
    // Every slot of m1 through the apply, and m2 from it on.
    let stored = stored_readings(dir.path());
    let slots = |meter: &str| {
        let mut t: Vec<chrono::DateTime<chrono::Utc>> = stored.iter().filter(|r| r.meter.as_str() == meter && r.quantity.to_string() == "active_energy_import").map(|r| r.time).collect();
        t.sort();
        t
    };
    let m1 = slots("m1");
    assert!(m1.len() >= 3, "{m1:?}");
    assert!(m1.windows(2).all(|w| (w[1] - w[0]).num_milliseconds() == 1000), "m1 lost or doubled a slot: {m1:?}");
    let m2 = slots("m2");
    assert!(!m2.is_empty() && m2[0] > applied_at - chrono::Duration::seconds(1), "{m2:?} applied at {applied_at}");
}

/// With a certificate the listener speaks HTTPS only (health probes included), and with a token
/// the pages need it: without one a browser is sent to sign in, a script may send it as a bearer
/// token, and signing in sets the cookie.
#[test]
fn https_and_a_token_guard_the_console() {
    let sim = Sim::start(&["--seed", "5", "--device", "1=eastron_sdm630"]);
    let http = free_port();
    let dir = tempfile::tempdir().unwrap();
    e2e::make_certificates(dir.path());
    std::fs::write(dir.path().join("token"), "s3cret-token\n").unwrap();
    let path = write_config(dir.path(), "", &[]);
    let text = config_text(sim.port(), http, &[("m1", 1)], "").replace("[console]\n", "[console]\ntoken_file = \"token\"\ncert_file = \"server.pem\"\nkey_file = \"server.key\"\n");
    std::fs::write(&path, text).unwrap();
    let mut collector = Command::new(bin("collector")).args(["run", "--config"]).arg(&path).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let ca = dir.path().join("ca.pem");
    let ca = ca.to_str().unwrap();
    let curl = |args: &[&str]| -> (String, String) {
        let out = Command::new("curl").args(["-sS", "--max-time", "5", "--cacert", ca]).args(args).output().unwrap();
        (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let url = |p: &str| format!("https://127.0.0.1:{http}{p}");
    assert_eq!(curl(&[&url("/healthz")]).0, "ok\n");
    // Plain HTTP gets no answer.
    let (body, err) = curl(&[&format!("http://127.0.0.1:{http}/healthz")]);
    assert!(body.is_empty() && !err.is_empty(), "{body}{err}");
    // No token: sent to sign in; a wrong one too.
    assert_eq!(curl(&["-o", "/dev/null", "-w", "%{http_code} %{redirect_url}", &url("/")]).0, format!("303 {}", url("/login")));
    assert_eq!(curl(&["-o", "/dev/null", "-w", "%{http_code}", "-H", "Authorization: Bearer wrong", &url("/")]).0, "303");
    assert_eq!(curl(&["-o", "/dev/null", "-w", "%{http_code}", "-X", "POST", "-H", "X-Console: 1", &url("/api/check")]).0, "401");
    // The bearer token opens the pages; signing in sets the cookie that does.
    assert!(curl(&["-H", "Authorization: Bearer s3cret-token", &url("/")]).0.contains("Gateway console"));
    let (headers, _) = curl(&["-D", "-", "-o", "/dev/null", "--data", "token=s3cret-token", &url("/login")]);
    let cookie = headers.lines().find_map(|l| l.strip_prefix("set-cookie: ")).unwrap_or_else(|| panic!("{headers}"));
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "{cookie}");
    let pair = cookie.split(';').next().unwrap();
    assert!(curl(&["-H", &format!("Cookie: {pair}"), &url("/device/m1")]).0.contains("active_energy_import"));
    // A changing request without X-Console is refused even with the token.
    assert_eq!(curl(&["-o", "/dev/null", "-w", "%{http_code}", "-X", "POST", "-H", "Authorization: Bearer s3cret-token", "-H", "Content-Type: application/json", "--data", "{\"text\":\"\"}", &url("/api/check")]).0, "403");
    assert!(Command::new("kill").args(["-TERM", &collector.id().to_string()]).status().unwrap().success());
    assert!(collector.wait().unwrap().success());
}

/// The console needs a token off loopback: a config that opens it to the network without one is
/// refused at `check`, and with one, a request from another address without it is sent to sign
/// in (GET) or refused (POST).
#[test]
fn off_loopback_the_console_needs_its_token() {
    let sim = Sim::start(&["--seed", "5", "--device", "1=eastron_sdm630"]);
    let http = free_port();
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(dir.path(), "", &[]);
    let open = config_text(sim.port(), http, &[("m1", 1)], "").replace(&format!("listen = \"127.0.0.1:{http}\""), &format!("listen = \"0.0.0.0:{http}\"\nallow_remote = true"));
    std::fs::write(&path, &open).unwrap();
    let check = Command::new(bin("collector")).args(["check", "--config"]).arg(&path).output().unwrap();
    let stderr = String::from_utf8_lossy(&check.stderr);
    assert!(!check.status.success() && stderr.contains(": console: health.listen 0.0.0.0:") && stderr.contains("needs token_env or token_file"), "{stderr}");

    std::fs::write(dir.path().join("token"), "t0ken\n").unwrap();
    std::fs::write(&path, open.replace("[console]\n", "[console]\ntoken_file = \"token\"\n")).unwrap();
    let mut collector = Command::new(bin("collector")).args(["run", "--config"]).arg(&path).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    // This machine's own non-loopback address: the request comes from the network side.
    let hostnames = Command::new("hostname").arg("-I").output().unwrap();
    let address = String::from_utf8_lossy(&hostnames.stdout).split_whitespace().find(|a| a.parse::<std::net::Ipv4Addr>().is_ok_and(|ip| !ip.is_loopback())).map(str::to_owned);
    let Some(address) = address else {
        eprintln!("skipped the remote request: this machine has no non-loopback IPv4 address");
        let _ = collector.kill();
        return;
    };
    let status = |args: &[&str]| -> String {
        let out = Command::new("curl").args(["-sS", "--max-time", "5", "-o", "/dev/null", "-w", "%{http_code}"]).args(args).output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let url = |p: &str| format!("http://{address}:{http}{p}");
    assert_eq!(status(&[&url("/")]), "303");
    assert_eq!(status(&["-X", "POST", "-H", "X-Console: 1", "-H", "Content-Type: application/json", "--data", "{\"text\":\"\"}", &url("/api/apply")]), "401");
    assert_eq!(status(&["-H", "Authorization: Bearer t0ken", &url("/")]), "200");
    // Probes stay open: /healthz needs no token.
    assert_eq!(status(&[&url("/healthz")]), "200");
    assert!(Command::new("kill").args(["-TERM", &collector.id().to_string()]).status().unwrap().success());
    assert!(collector.wait().unwrap().success());
}
