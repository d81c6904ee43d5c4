//! Headless Chromium driven through the DevTools protocol (a WebSocket per page), for tests that
//! click, type and measure what a user sees: open a page, evaluate script in it, wait for a
//! condition, print it to PDF, and collect every console error and uncaught exception.

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

/// A headless Chromium (Debian's, installed by tests/run), killed when dropped.
pub struct Browser {
    child: Child,
    port: u16,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts Chromium with the DevTools protocol on a free port.
    pub fn launch() -> Browser {
        let profile = tempfile::tempdir().expect("a profile directory");
        let mut child = Command::new("chromium")
            .args(["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run", "--remote-debugging-port=0", "--window-size=1280,900"])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("chromium runs (tests/run installs Debian's chromium)");
        let mut lines = BufReader::new(child.stderr.take().expect("piped stderr")).lines();
        let port = loop {
            let line = lines.next().expect("chromium says where DevTools listen").expect("chromium's stderr reads");
            if let Some(rest) = line.split("DevTools listening on ws://127.0.0.1:").nth(1) {
                break rest.split('/').next().and_then(|p| p.parse().ok()).expect("a port in the DevTools line");
            }
        };
        // Keep draining its stderr so that it never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        Browser { child, port, _profile: profile }
    }

    /// The browser's first tab, with its console and exceptions recorded.
    pub fn page(&self) -> Page {
        let list: Value = serde_json::from_str(&crate::curl(&[&format!("http://127.0.0.1:{}/json/list", self.port)])).expect("DevTools lists targets");
        let url = list
            .as_array()
            .and_then(|targets| targets.iter().find(|t| t["type"] == "page"))
            .and_then(|t| t["webSocketDebuggerUrl"].as_str())
            .expect("a page target")
            .to_owned();
        let (ws, _) = tungstenite::connect(url.as_str()).expect("the page's DevTools socket");
        let mut page = Page { ws, next_id: 0, errors: Vec::new() };
        for domain in ["Runtime.enable", "Log.enable", "Page.enable"] {
            page.call(domain, json!({}));
        }
        page
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One tab.
pub struct Page {
    ws: WebSocket<MaybeTlsStream<TcpStream>>,
    next_id: u64,
    errors: Vec<String>,
}

impl Page {
    /// Sends `method` and returns its result; events met meanwhile are recorded.
    pub fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        self.ws.send(Message::text(json!({"id": id, "method": method, "params": params}).to_string())).expect("DevTools socket writes");
        loop {
            let message = self.ws.read().expect("DevTools socket reads");
            let Message::Text(text) = message else { continue };
            let v: Value = serde_json::from_str(text.as_str()).expect("DevTools sends JSON");
            if v["id"] == id {
                if let Some(e) = v.get("error") {
                    panic!("{method}: {e}");
                }
                return v["result"].clone();
            }
            self.event(&v);
        }
    }

    fn event(&mut self, v: &Value) {
        let p = &v["params"];
        match v["method"].as_str() {
            Some("Runtime.exceptionThrown") => self.errors.push(format!("exception: {}", p["exceptionDetails"])),
            Some("Runtime.consoleAPICalled") if p["type"] == "error" => self.errors.push(format!("console.error: {}", p["args"])),
            Some("Log.entryAdded") if p["entry"]["level"] == "error" => self.errors.push(format!("log: {} {}", p["entry"]["text"], p["entry"]["url"])),
            _ => {}
        }
    }

    /// Opens `url` and waits until its document has loaded.
    pub fn goto(&mut self, url: &str) {
        self.call("Page.navigate", json!({"url": url}));
        self.wait_for("document.readyState === 'complete' && location.href !== 'about:blank'", Duration::from_secs(10));
    }

    /// The value of `expression` in the page (promises awaited); an exception fails the test.
    pub fn eval(&mut self, expression: &str) -> Value {
        let r = self.call("Runtime.evaluate", json!({"expression": expression, "returnByValue": true, "awaitPromise": true}));
        if let Some(e) = r.get("exceptionDetails") {
            panic!("{expression}: {e}");
        }
        r["result"]["value"].clone()
    }

    /// Waits until `expression` is truthy and returns its value; fails after `timeout`.
    pub fn wait_for(&mut self, expression: &str, timeout: Duration) -> Value {
        let end = Instant::now() + timeout;
        loop {
            let v = self.eval(expression);
            let truthy = !matches!(v, Value::Null | Value::Bool(false)) && v != json!(0) && v != json!("");
            if truthy {
                return v;
            }
            assert!(Instant::now() < end, "not true within {timeout:?}: {expression}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Prints the page to PDF (A4, backgrounds on) and returns the file's bytes.
    pub fn pdf(&mut self) -> Vec<u8> {
        let r = self.call("Page.printToPDF", json!({"paperWidth": 8.27, "paperHeight": 11.69, "printBackground": true, "preferCSSPageSize": true}));
        base64(r["data"].as_str().expect("PDF data"))
    }

    /// A PNG of the page, `width` CSS pixels wide and as tall as its content (at most `max_height`).
    pub fn screenshot(&mut self, width: u32, max_height: u32) -> Vec<u8> {
        self.call("Emulation.setDeviceMetricsOverride", json!({"width": width, "height": 800, "deviceScaleFactor": 1, "mobile": false}));
        let height = self.eval("Math.ceil(document.documentElement.scrollHeight)").as_u64().unwrap_or(800).min(u64::from(max_height));
        let clip = json!({"x": 0, "y": 0, "width": width, "height": height, "scale": 1});
        let r = self.call("Page.captureScreenshot", json!({"format": "png", "clip": clip, "captureBeyondViewport": true}));
        self.call("Emulation.clearDeviceMetricsOverride", json!({}));
        base64(r["data"].as_str().expect("PNG data"))
    }

    /// Console errors and uncaught exceptions seen so far.
    pub fn errors(&mut self) -> Vec<String> {
        // A round trip first, so that events already sent are read.
        self.eval("1");
        self.errors.clone()
    }
}

/// Decodes standard base64 (what DevTools sends binary data as).
fn base64(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    };
    let digits: Vec<u8> = text.bytes().filter_map(value).collect();
    let mut out = Vec::with_capacity(digits.len() * 3 / 4);
    for chunk in digits.chunks(4) {
        let n = chunk.iter().enumerate().fold(0u32, |acc, (i, d)| acc | u32::from(*d) << (18 - 6 * i));
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&bytes[..chunk.len().saturating_sub(1)]);
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn base64_decodes() {
        assert_eq!(super::base64("aGVsbG8="), b"hello");
        assert_eq!(super::base64("JVBERi0="), b"%PDF-");
    }
}
