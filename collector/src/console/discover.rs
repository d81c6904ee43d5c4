//! Discovery from the console: `collector scan` on a line the collector does not poll yet (a
//! serial port, or a serial server passing raw frames), run as a background job whose progress
//! and result the page asks for, since a scan of every unit id takes over a minute. A line the
//! pollers use is refused: probing it would collide with them (the Try page reads single
//! registers on it, taking turns).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::line::{Endpoint, Framing, Parity, SerialLine};
use crate::scan::{self, Options, Progress, Protocol, UnitRange};
use crate::sources::Links;

/// The longest probe timeout the page accepts.
const MAX_TIMEOUT_MS: u64 = 5_000;

/// What the engineer asks to scan.
#[derive(Debug, Deserialize)]
pub struct ScanAsk {
    /// A serial port, e.g. `/dev/ttyUSB1` ...
    pub device: Option<String>,
    #[serde(default = "default_baud")]
    pub baud: u32,
    #[serde(default)]
    pub parity: Parity,
    /// ... or a serial server: host and port.
    pub host: Option<String>,
    pub port: Option<u16>,
    /// `FIRST-LAST` or one id.
    pub units: String,
    pub timeout_ms: u64,
    pub protocols: Vec<Protocol>,
}

fn default_baud() -> u32 {
    9600
}

/// A scan's state, as the page polls it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct JobView {
    pub done: bool,
    pub progress: Vec<String>,
    /// The summary for people and the config snippet, once done.
    pub summary: Option<String>,
    pub snippet: Option<String>,
    pub error: Option<String>,
}

/// The scans started from the console, by id.
#[derive(Debug, Default)]
pub struct Jobs {
    jobs: Mutex<BTreeMap<u64, JobView>>,
}

impl Jobs {
    fn update(&self, id: u64, f: impl FnOnce(&mut JobView)) {
        if let Some(job) = self.jobs.lock().unwrap_or_else(|p| p.into_inner()).get_mut(&id) {
            f(job);
        }
    }

    /// The state of job `id`.
    pub fn view(&self, id: u64) -> Option<JobView> {
        self.jobs.lock().unwrap_or_else(|p| p.into_inner()).get(&id).cloned()
    }

    /// Checks `ask` and starts its scan; the job's id, or why it cannot run.
    pub fn start(self: &std::sync::Arc<Self>, ask: &ScanAsk, links: &Links) -> Result<u64, String> {
        let options = options(ask)?;
        let busy = links.lock().unwrap_or_else(|p| p.into_inner()).keys().any(|e| same_line(e, &options.endpoint));
        if busy {
            return Err(format!("{} is polled by this collector: a scan would collide with its pollers; use Try a point to read registers on it", options.endpoint));
        }
        let id = {
            let mut jobs = self.jobs.lock().unwrap_or_else(|p| p.into_inner());
            if jobs.values().any(|j| !j.done) {
                return Err("a scan is already running; wait for it to finish".into());
            }
            let id = jobs.keys().next_back().map_or(1, |k| k + 1);
            jobs.insert(id, JobView::default());
            id
        };
        let jobs = std::sync::Arc::clone(self);
        tokio::spawn(async move {
            let mut progress = |p: Progress| jobs.update(id, |j| j.progress.push(p.to_string()));
            let result = scan::scan(&options, &mut progress).await;
            jobs.update(id, |j| {
                j.done = true;
                match result {
                    Ok(found) => {
                        j.summary = Some(found.to_string());
                        j.snippet = Some(found.snippet());
                    }
                    Err(e) => j.error = Some(e.to_string()),
                }
            });
        });
        Ok(id)
    }
}

/// The scan options of `ask`, checked.
fn options(ask: &ScanAsk) -> Result<Options, String> {
    let units: UnitRange = ask.units.parse().map_err(|e: scan::ScanError| e.to_string())?;
    if ask.timeout_ms == 0 || ask.timeout_ms > MAX_TIMEOUT_MS {
        return Err(format!("timeout {} ms: give 1 to {MAX_TIMEOUT_MS} ms", ask.timeout_ms));
    }
    if ask.protocols.is_empty() {
        return Err("choose at least one protocol".into());
    }
    let endpoint = match (ask.device.as_deref().map(str::trim).filter(|d| !d.is_empty()), ask.host.as_deref().map(str::trim).filter(|h| !h.is_empty()), ask.port) {
        (Some(device), None, _) => Endpoint::Serial(SerialLine { name: scan::LINE_NAME.into(), path: device.into(), baud: ask.baud, parity: ask.parity, stop_bits: 1, byte_timeout: scan::BYTE_TIMEOUT, echo: false }),
        (None, Some(host), Some(port)) => Endpoint::Tcp { host: host.to_owned(), port, framing: Framing::RtuOverTcp },
        _ => return Err("give a serial port, or a serial server's host and port".into()),
    };
    Ok(Options { endpoint, protocols: ask.protocols.clone(), units, timeout: Duration::from_millis(ask.timeout_ms) })
}

/// Whether two endpoints reach the same line (whatever their settings).
fn same_line(a: &Endpoint, b: &Endpoint) -> bool {
    match (a, b) {
        (Endpoint::Serial(x), Endpoint::Serial(y)) => x.path == y.path,
        (Endpoint::Tcp { host: h1, port: p1, .. }, Endpoint::Tcp { host: h2, port: p2, .. }) => h1 == h2 && p1 == p2,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ask(device: Option<&str>, host: Option<&str>, port: Option<u16>) -> ScanAsk {
        ScanAsk { device: device.map(Into::into), baud: 9600, parity: Parity::Even, host: host.map(Into::into), port, units: "1-5".into(), timeout_ms: 200, protocols: vec![Protocol::Modbus] }
    }

    #[test]
    fn a_line_is_a_port_or_a_server() {
        assert!(matches!(options(&ask(Some("/dev/ttyUSB1"), None, None)).unwrap().endpoint, Endpoint::Serial(_)));
        assert!(matches!(options(&ask(None, Some("10.0.0.7"), Some(8899))).unwrap().endpoint, Endpoint::Tcp { framing: Framing::RtuOverTcp, .. }));
        assert!(options(&ask(None, Some("10.0.0.7"), None)).is_err());
        assert!(options(&ask(Some("/dev/ttyUSB1"), Some("h"), Some(1))).is_err());
        let mut bad = ask(Some("/dev/ttyUSB1"), None, None);
        bad.units = "0-300".into();
        assert!(options(&bad).unwrap_err().contains("unit ids"));
    }

    #[test]
    fn lines_in_use_are_known_by_port_whatever_the_settings() {
        let a = options(&ask(Some("/dev/ttyUSB1"), None, None)).unwrap().endpoint;
        let mut other_baud = ask(Some("/dev/ttyUSB1"), None, None);
        other_baud.baud = 2400;
        assert!(same_line(&a, &options(&other_baud).unwrap().endpoint));
        assert!(!same_line(&a, &options(&ask(Some("/dev/ttyUSB2"), None, None)).unwrap().endpoint));
    }
}
