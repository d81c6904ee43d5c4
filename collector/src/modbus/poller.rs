//! Polls one device on its wall-clock slots. Devices poll concurrently; devices behind one
//! address share that address's [`Link`] and take turns, a whole cycle at a time.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use readings::{Quality, Reading};
use tokio::sync::{mpsc, watch, Mutex};
use tracing::{debug, error, info, warn};

use super::decode::decode;
use super::read::read_registers;
use crate::line::error::ReadError;
use crate::line::link::Link;
use crate::stats::SkipReason;
use super::plan::{plan, ReadRequest, Target};
use crate::clock::{wait_for_slot, ClockTrust, SystemClock, WallClock, Waited};
pub use crate::poll::{PollerShared, SharedLink};
use crate::poll::backoff::{Backoff, Slot};
use super::device::Device;
use crate::journal::writer::Append;
use crate::normalise::{point_value, Identity};
use crate::schedule::{is_due, next_slot, now_ms};
use crate::stats::Stats;


/// The poller of one device.
pub struct DevicePoller {
    device: Device,
    link: Arc<Mutex<Link>>,
    link_answered_ms: Arc<AtomicI64>,
    identity: Identity,
    stats: Arc<Stats>,
    out: mpsc::Sender<Append>,
    /// Up while the journal takes nothing: slots are skipped, nothing is polled.
    journal_full: Arc<AtomicBool>,
    trust: Arc<ClockTrust>,
    live: Arc<crate::live::Live>,
    clock: Arc<dyn WallClock>,
    /// Values read alone because a merged read over them was refused with exception 02.
    isolated: HashSet<Target>,
    plans: HashMap<Vec<usize>, Vec<ReadRequest>>,
    backoff: Backoff,
    logged: HashSet<(u16, String)>,
}

impl DevicePoller {
    /// A poller sending each cycle's readings to `shared.out`.
    pub fn new(device: Device, link: SharedLink, shared: PollerShared) -> Self {
        Self::with_clock(device, link, shared, Arc::new(SystemClock))
    }

    /// A poller whose slots follow `clock` (a test's clock, or the system's).
    pub fn with_clock(device: Device, link: SharedLink, shared: PollerShared, clock: Arc<dyn WallClock>) -> Self {
        Self {
            device,
            link: link.link,
            link_answered_ms: link.answered_ms,
            identity: shared.identity,
            stats: shared.stats,
            out: shared.out,
            journal_full: shared.journal_full,
            trust: shared.trust,
            live: shared.live,
            clock,
            isolated: HashSet::new(),
            plans: HashMap::new(),
            backoff: Backoff::default(),
            logged: HashSet::new(),
        }
    }

    /// Polls until `shutdown` turns true, finishing the cycle under way.
    pub async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        let interval = self.device.interval.as_millis();
        let mut slot = next_slot(self.clock.now_ms(), interval);
        loop {
            let waited = tokio::select! {
                w = wait_for_slot(self.clock.as_ref(), slot) => Some(w),
                _ = shutdown.changed() => None,
            };
            if *shutdown.borrow() {
                break;
            }
            if let Some(Waited::Stepped { by_ms }) = waited {
                if self.stats.clock_step() {
                    warn!(step_ms = by_ms, "the wall clock was stepped; polling follows the new time");
                }
                self.backoff.clock_stepped(by_ms);
                slot = next_slot(self.clock.now_ms(), interval);
                continue;
            }
            if self.journal_full.load(Ordering::Relaxed) {
                self.stats.device(self.device.meter.as_str(), |c| c.skip(SkipReason::JournalFull, 1));
                slot = next_slot(self.clock.now_ms(), interval);
                continue;
            }
            let readings = self.cycle(slot).await;
            // From the slot's time to the last answer: how late in its slot a device's readings are.
            let took = (self.clock.now_ms() - slot).max(0) as u64;
            self.stats.device(self.device.meter.as_str(), |c| c.cycle_ms_max = c.cycle_ms_max.max(took));
            if !readings.is_empty() {
                self.live.record(&readings);
                let n = readings.len();
                // Waits while the journal is full (block policy): polling pauses until sinks
                // catch up, unless the collector is shutting down meanwhile.
                tokio::select! {
                    biased;
                    sent = self.out.send(Append { readings, ack: None }) => if sent.is_err() {
                        warn!(device = %self.device.meter, "the journal has stopped; polling ends");
                        break;
                    },
                    _ = shutdown.changed() => {
                        error!(device = %self.device.meter, readings = n, "shutting down while the journal is full: this cycle's readings are lost");
                        self.stats.journal(|j| j.dropped += n as u64);
                        break;
                    }
                }
            }
            let next = next_slot(self.clock.now_ms(), interval);
            let skipped = ((next - slot) / interval as i64 - 1).max(0) as u64;
            if skipped > 0 {
                warn!(device = %self.device.meter, skipped, "a cycle overran its interval; slots skipped");
                self.stats.device(self.device.meter.as_str(), |c| c.skip(SkipReason::Overrun, skipped));
            }
            slot = next;
        }
    }

    /// One poll cycle at `slot_ms`: the readings of every due point, each either a value or a
    /// reading-less row that says why.
    pub async fn cycle(&mut self, slot_ms: i64) -> Vec<Reading> {
        let time = DateTime::<Utc>::from_timestamp_millis(slot_ms).unwrap_or_default();
        let due: Vec<usize> = (0..self.device.map.points.len())
            .filter(|&i| is_due(slot_ms, self.device.point_interval_ms[i]))
            .collect();
        if due.is_empty() {
            return Vec::new();
        }
        let name = self.device.meter.as_str().to_owned();
        self.stats.device(&name, |c| c.cycles += 1);

        let slot = self.backoff.slot(slot_ms, self.link_answered_ms.load(Ordering::Relaxed));
        if slot == Slot::Skip {
            self.stats.device(&name, |c| {
                c.skip(SkipReason::Backoff, 1);
                c.readings_missing += due.len() as u64;
            });
            // Nothing was asked: the rows say so, rather than repeat the last failure's reason.
            return due.iter().map(|&i| self.missing(i, time, Quality::SkippedBackoff)).collect();
        }
        if slot == Slot::Probe {
            info!(device = %self.device.meter, "the link answers another device again; probing this one now");
        }

        let requests = self.plan_for(&due);
        // A device that failed its last cycle gets no retries until it answers again.
        let retries = if self.backoff.fail_streak > 0 { 0 } else { self.device.retries };
        let mut values: HashMap<Target, Result<f64, ReadError>> = HashMap::new();
        let mut all_failed = true;
        for (n, req) in requests.iter().enumerate() {
            if n > 0 && !self.device.pause_between_requests.0.is_zero() {
                tokio::time::sleep(self.device.pause_between_requests.0).await;
            }
            match self.read_with_retries(req, retries).await {
                Err(e) if e.is_illegal_address() && req.items.len() > 1 => {
                    all_failed = false;
                    self.split(req, &e, &mut values).await;
                }
                Err(e) if e.is_transient() => {
                    // Not answering: the rest of the cycle would only cost the link a timeout
                    // each, delaying every other device on it.
                    for r in &requests[n..] {
                        Self::fail_all(r, &e, &mut values);
                    }
                    break;
                }
                other => {
                    all_failed = false;
                    self.record(req, other, &mut values);
                }
            }
        }
        self.update_health(slot_ms, all_failed, &values);
        self.readings(&due, time, &values)
    }

    fn plan_for(&mut self, due: &[usize]) -> Vec<ReadRequest> {
        if let Some(p) = self.plans.get(due) {
            return p.clone();
        }
        let items = self.device.items(due.iter().copied());
        let requests = plan(&items, self.device.limits, &self.isolated);
        self.plans.insert(due.to_vec(), requests.clone());
        requests
    }

    /// Reads `req`, holding the shared link for one attempt at a time so that other devices on
    /// it go on between this device's retries.
    async fn read_with_retries(&mut self, req: &ReadRequest, retries: u32) -> Result<Vec<u16>, ReadError> {
        let name = self.device.meter.as_str();
        let mut attempt = 0;
        loop {
            let (result, ms) = {
                let mut link = self.link.lock().await;
                // Latency of the exchange itself, not of the wait for the shared link.
                let started = Instant::now();
                let result = read_registers(&mut link, self.device.unit, req, self.device.timeout.0, self.device.pause_after_connect.0).await;
                (result, started.elapsed().as_millis() as u64)
            };
            self.stats.device(name, |c| {
                c.requests += 1;
                c.record_latency(ms);
                if let Err(e) = &result {
                    c.request_failures += 1;
                    *c.failures.entry(e.reason()).or_default() += 1;
                }
            });
            match result {
                Ok(regs) => {
                    self.link_answered_ms.store(now_ms(), Ordering::Relaxed);
                    return Ok(regs);
                }
                Err(e) => {
                    debug!(device = name, request = %req, attempt, error = %e, "read failed");
                    if !e.is_retryable() || attempt >= retries {
                        return Err(e);
                    }
                    // A garbled frame is a moment's noise: ask again at once (the link keeps
                    // the line's silence). Anything else gets time to recover.
                    if !matches!(e, ReadError::Crc(_)) {
                        let base = self.device.retry_backoff.0.saturating_mul(1 << attempt.min(10));
                        let jitter = Duration::from_millis(fastrand::u64(0..=base.as_millis() as u64 / 2));
                        tokio::time::sleep(base + jitter).await;
                    }
                    attempt += 1;
                }
            }
        }
    }

    /// A merged read was refused with "illegal data address": some register in its span does not
    /// exist. Read its values one by one from now on, and now.
    async fn split(&mut self, req: &ReadRequest, error: &ReadError, values: &mut HashMap<Target, Result<f64, ReadError>>) {
        warn!(
            device = %self.device.meter,
            request = %req,
            error = %error,
            "the device refused a merged read; its {} values are read one by one from now on",
            req.items.len()
        );
        for item in &req.items {
            self.isolated.insert(item.target);
        }
        self.plans.clear();
        let singles = plan(&req.items, self.device.limits, &self.isolated);
        for single in &singles {
            let result = self.read_with_retries(single, self.device.retries).await;
            self.record(single, result, values);
        }
    }

    fn record(&mut self, req: &ReadRequest, result: Result<Vec<u16>, ReadError>, values: &mut HashMap<Target, Result<f64, ReadError>>) {
        match result {
            Ok(regs) => {
                for item in &req.items {
                    let words = req.slice(item, &regs);
                    let v = decode(words, item.location.data_type, item.location.order);
                    values.insert(item.target, Ok(v));
                    if let Target::Point(i) = item.target {
                        if let Some(p) = self.device.map.points.get(i) {
                            let raw = crate::live::Raw::Registers { words: words.to_vec(), data_type: p.location.data_type, order: p.location.order, scale: p.scale, offset: p.offset };
                            self.live.raw(self.device.meter.as_str(), &p.quantity.to_string(), raw);
                        }
                    }
                }
            }
            Err(e) => {
                if !e.is_transient() && self.logged.insert((req.start, e.reason())) {
                    warn!(device = %self.device.meter, request = %req, error = %e, "the device refused a read; its points are stored without values (logged once)");
                }
                Self::fail_all(req, &e, values);
            }
        }
    }

    fn fail_all(req: &ReadRequest, e: &ReadError, values: &mut HashMap<Target, Result<f64, ReadError>>) {
        for item in &req.items {
            values.insert(item.target, Err(e.clone()));
        }
    }

    fn update_health(&mut self, slot_ms: i64, all_failed: bool, values: &HashMap<Target, Result<f64, ReadError>>) {
        let name = self.device.meter.as_str();
        if !all_failed {
            if let Some(failed_cycles) = self.backoff.answered() {
                info!(device = name, failed_cycles, "device answers again");
            }
            self.stats.device(name, |c| c.fail_streak = 0);
            return;
        }
        let error = values.values().find_map(|v| v.as_ref().err().cloned());
        let link_down = error.as_ref().is_some_and(ReadError::is_link_down);
        let interval = self.device.interval.as_millis();
        let backed_off = self.backoff.failed(slot_ms, interval, link_down, self.link_answered_ms.load(Ordering::Relaxed), now_ms());
        let streak = self.backoff.fail_streak;
        self.stats.device(name, |c| c.fail_streak = streak);
        if streak == 1 {
            if let Some(e) = &error {
                warn!(device = name, endpoint = %self.device.endpoint, unit = self.device.unit, error = %e, "device not answering");
            }
        }
        if let Some(slots) = backed_off {
            warn!(device = name, failed_cycles = streak, skip_slots = slots, "device backed off; it will be re-probed with one request");
        }
    }

    fn missing(&self, point: usize, time: DateTime<Utc>, quality: Quality) -> Reading {
        self.identity.reading(&self.device.meter, &self.device.map.points[point], time, None, quality)
    }

    fn readings(&self, due: &[usize], time: DateTime<Utc>, values: &HashMap<Target, Result<f64, ReadError>>) -> Vec<Reading> {
        let map = &self.device.map;
        let (mut good, mut flagged, mut missing) = (0u64, 0u64, 0u64);
        let out: Vec<Reading> = due
            .iter()
            .map(|&i| {
                let point = &map.points[i];
                let scale = point.scale_from.map(|(s, _, _)| values.get(&Target::Scale(s)));
                let raw = values.get(&Target::Point(i));
                let (value, quality) = match (raw, scale) {
                    (Some(Ok(raw)), None) => point_value(point, *raw, None),
                    (Some(Ok(raw)), Some(Some(Ok(s)))) => point_value(point, *raw, Some(*s)),
                    (Some(Err(e)), _) | (_, Some(Some(Err(e)))) => (None, e.quality()),
                    _ => (None, Quality::CommError),
                };
                let quality = self.trust.stamp(quality);
                match (value, quality) {
                    (Some(_), Quality::Good) => good += 1,
                    (Some(_), _) => flagged += 1,
                    (None, _) => missing += 1,
                }
                self.identity.reading(&self.device.meter, point, time, value, quality)
            })
            .collect();
        self.stats.device(self.device.meter.as_str(), |c| {
            c.readings_good += good;
            c.readings_flagged += flagged;
            c.readings_missing += missing;
        });
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::poll::backoff::DEAD_AFTER;

    fn poller(port: u16) -> (DevicePoller, SharedLink) {
        let text = format!(
            "[gateway]\nenterprise = \"91350100M000100Y43\"\nsite = \"plant-1\"\n[storage]\ndata_dir = \"data\"\n\
             [[modbus.devices]]\nname = \"m\"\nhost = \"127.0.0.1\"\nport = {port}\nprofile = \"acrel_adw300\"\ninterval = \"1s\"\ntimeout = \"200ms\"\nretries = 0\n"
        );
        let config = Config::parse(std::path::Path::new("t.toml"), &text).unwrap();
        let device = config.devices.into_iter().next().unwrap();
        let link = SharedLink::new(Link::new(device.endpoint.clone()));
        let (out, _) = mpsc::channel(1);
        let shared = PollerShared {
            identity: Identity { enterprise: config.enterprise, site: config.site },
            stats: Arc::new(Stats::default()),
            out,
            journal_full: Arc::new(AtomicBool::new(false)),
            trust: Arc::new(ClockTrust::new(true)),
            live: Default::default(),
        };
        (DevicePoller::new(device, link.clone(), shared), link)
    }

    #[tokio::test]
    async fn a_backed_off_slot_says_so_and_the_link_answering_again_ends_the_back_off() {
        // Nothing listens on this port: every connect is refused.
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let (mut p, link) = poller(port);
        let slot = 1_800_000_000_000;
        for i in 0..DEAD_AFTER as i64 {
            let rows = p.cycle(slot + i * 1000).await;
            assert!(!rows.is_empty() && rows.iter().all(|r| r.quality == Quality::CommError), "{rows:?}");
        }
        assert!(p.backoff.until_ms > slot + 3000, "backed off after {DEAD_AFTER} failed cycles");
        // A long back-off, as after many failures.
        p.backoff.until_ms = slot + 60_000;
        let asked = |p: &DevicePoller| p.stats.snapshot().devices["m"].requests;
        let requests = asked(&p);
        let rows = p.cycle(slot + 3000).await;
        assert!(!rows.is_empty() && rows.iter().all(|r| r.quality == Quality::SkippedBackoff && r.value.is_none()), "nothing was asked: {rows:?}");
        // Other devices on the link answered all along: this one is dead, not the link.
        let was_down = p.backoff.link_was_down;
        assert!(was_down, "nothing answered on the link when it failed");
        p.backoff.link_was_down = false;
        link.answered_ms.store(now_ms() + 1, Ordering::Relaxed);
        let rows = p.cycle(slot + 4000).await;
        assert!(!rows.is_empty() && rows.iter().all(|r| r.quality == Quality::SkippedBackoff), "still backed off: {rows:?}");
        assert_eq!(asked(&p), requests);
        // The link was down and another unit behind it answered: the link is back, so this
        // device is asked at its next slot instead of at the end of its back-off.
        p.backoff.link_was_down = true;
        let rows = p.cycle(slot + 5000).await;
        assert!(!rows.is_empty() && rows.iter().all(|r| r.quality == Quality::CommError), "probed: {rows:?}");
        assert_eq!(asked(&p), requests + 1);
    }
}
