//! What the collector counts: per device, polls and their failures by reason; per sink, what it
//! wrote. Printed as a summary at shutdown (and, later, served as metrics).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Mutex;

/// Counters of one device.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct DeviceCounters {
    pub cycles: u64,
    /// Slots skipped because the previous cycle overran, the device was backed off or the
    /// journal was full, by reason.
    pub skipped: BTreeMap<SkipReason, u64>,
    pub requests: u64,
    pub request_failures: u64,
    pub readings_good: u64,
    /// Readings stored with a flag (out of range).
    pub readings_flagged: u64,
    /// Reading-less rows stored for points a failed request did not return.
    pub readings_missing: u64,
    /// Failed requests by reason (`timeout`, `exception_02`, `connect`, ...).
    pub failures: BTreeMap<String, u64>,
    pub latency_ms_total: u64,
    pub latency_ms_max: u64,
    /// The longest time from a slot's start to the end of its cycle, ms.
    pub cycle_ms_max: u64,
    /// Cycles in a row in which the device answered nothing (0 once it answers).
    pub fail_streak: u32,
    /// The meter's clock minus the gateway's, ms, at the last look (meters that have one).
    pub clock_drift_ms: Option<i64>,
    /// Bytes before an answer's frame that were neither it nor its wake-up bytes (noise on the
    /// line, a late answer's tail): counted apart from checksum errors.
    pub garbage_bytes: u64,
    /// Requests per latency bucket: `latency_buckets[i]` counts those of at most
    /// `LATENCY_BUCKETS_MS[i]` ms and more than the bucket before; the last slot holds the rest.
    pub latency_buckets: [u64; LATENCY_BUCKETS_MS.len() + 1],
}

/// Why a poll slot was skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SkipReason {
    /// The device failed repeatedly and is backed off (its rows are `skipped_backoff`).
    Backoff,
    /// The journal took no readings, so polling paused.
    JournalFull,
    /// The cycle before ran into this slot.
    Overrun,
}

impl SkipReason {
    /// Every reason.
    pub const ALL: [SkipReason; 3] = [SkipReason::Backoff, SkipReason::JournalFull, SkipReason::Overrun];

    /// The reason as a metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::Backoff => "backoff",
            SkipReason::JournalFull => "journal_full",
            SkipReason::Overrun => "overrun",
        }
    }
}

/// Upper bounds of the request latency histogram, ms: a loopback meter answers in under 5, a
/// 9600-baud RS-485 line takes 50-250 per request, a timeout is typically 1000-5000.
pub const LATENCY_BUCKETS_MS: [u64; 10] = [5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000];

impl DeviceCounters {
    /// Counts `n` slots skipped for `reason`.
    pub fn skip(&mut self, reason: SkipReason, n: u64) {
        *self.skipped.entry(reason).or_default() += n;
    }

    /// Slots skipped for any reason.
    pub fn skipped_slots(&self) -> u64 {
        self.skipped.values().sum()
    }

    /// Counts one request's latency.
    pub fn record_latency(&mut self, ms: u64) {
        self.latency_ms_total += ms;
        self.latency_ms_max = self.latency_ms_max.max(ms);
        let i = LATENCY_BUCKETS_MS.iter().position(|b| ms <= *b).unwrap_or(LATENCY_BUCKETS_MS.len());
        self.latency_buckets[i] += 1;
    }
}

/// Counters of the whole collector, shared between tasks.
#[derive(Debug, Default)]
pub struct Stats {
    devices: Mutex<BTreeMap<String, DeviceCounters>>,
    sinks: Mutex<BTreeMap<String, SinkCounters>>,
    journal: Mutex<JournalCounters>,
    mqtt: Mutex<Option<crate::mqtt::source::MqttCounters>>,
    /// Wall-clock steps, and when the last was counted.
    clock_steps: Mutex<(u64, Option<std::time::Instant>)>,
}

/// Counters of the journal.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct JournalCounters {
    /// Readings found undelivered when the journal was opened.
    pub recovered: u64,
    /// Bytes and readings cut as corrupt or torn when it was opened.
    pub cut_bytes: u64,
    pub cut_readings: u64,
    /// Readings deleted undelivered by the drop-oldest policy.
    pub dropped: u64,
    /// Bytes on disk and readings not yet delivered by every sink, at the last look.
    pub bytes: u64,
    pub undelivered: u64,
    /// Failed appends by reason (`budget`, `disk_reserve`, `no_space`, `io`), each retried.
    pub append_failures: BTreeMap<String, u64>,
    /// Why appends are being held right now; `None` while they succeed.
    pub blocked: Option<String>,
}

/// Counters of one sink.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SinkCounters {
    pub batches: u64,
    pub readings: u64,
    /// Failed delivery attempts (each retried).
    pub failures: u64,
    /// Readings set aside as undeliverable (dead-lettered).
    pub dead_lettered: u64,
    /// Batches split because the server found them too large.
    pub splits: u64,
    /// Times the batch size was halved after a request timed out.
    pub shrinks: u64,
    /// Failed reads of the journal (retried; the position stays).
    pub read_failures: u64,
    /// Delivered batches whose cursor could not be recorded (delivered again after a restart).
    pub commit_failures: u64,
    /// When a batch was last delivered.
    pub last_delivery: Option<std::time::Instant>,
}

impl Stats {
    /// Applies `f` to the counters of `device`.
    pub fn device(&self, device: &str, f: impl FnOnce(&mut DeviceCounters)) {
        let mut map = self.devices.lock().unwrap_or_else(|p| p.into_inner());
        counters_of(&mut map, device, f);
    }

    /// Forgets a device a reload removed: its counters leave the metrics and the health check.
    pub fn remove_device(&self, device: &str) {
        self.devices.lock().unwrap_or_else(|p| p.into_inner()).remove(device);
    }

    /// Applies `f` to the counters of sink `name`.
    pub fn sink(&self, name: &str, f: impl FnOnce(&mut SinkCounters)) {
        let mut map = self.sinks.lock().unwrap_or_else(|p| p.into_inner());
        counters_of(&mut map, name, f);
    }

    /// Applies `f` to the MQTT source's counters.
    pub fn mqtt(&self, f: impl FnOnce(&mut crate::mqtt::source::MqttCounters)) {
        f(self.mqtt.lock().unwrap_or_else(|p| p.into_inner()).get_or_insert_with(Default::default));
    }

    /// Applies `f` to the journal's counters.
    pub fn journal(&self, f: impl FnOnce(&mut JournalCounters)) {
        f(&mut self.journal.lock().unwrap_or_else(|p| p.into_inner()));
    }

    /// Counts a step of the wall clock; every poller sees the same step, so sightings within
    /// five seconds of a counted one are the same step. Returns whether this one was counted.
    pub fn clock_step(&self) -> bool {
        let mut steps = self.clock_steps.lock().unwrap_or_else(|p| p.into_inner());
        if steps.1.is_some_and(|t| t.elapsed() < std::time::Duration::from_secs(5)) {
            return false;
        }
        *steps = (steps.0 + 1, Some(std::time::Instant::now()));
        true
    }

    /// A copy of every counter.
    pub fn snapshot(&self) -> Summary {
        Summary {
            devices: self.devices.lock().unwrap_or_else(|p| p.into_inner()).clone(),
            sinks: self.sinks.lock().unwrap_or_else(|p| p.into_inner()).clone(),
            journal: self.journal.lock().unwrap_or_else(|p| p.into_inner()).clone(),
            mqtt: self.mqtt.lock().unwrap_or_else(|p| p.into_inner()).clone(),
            clock_steps: self.clock_steps.lock().unwrap_or_else(|p| p.into_inner()).0,
        }
    }
}

/// Applies `f` to the counters under `key`; allocates the key only the first time (this runs on
/// every Modbus request).
fn counters_of<C: Default>(map: &mut BTreeMap<String, C>, key: &str, f: impl FnOnce(&mut C)) {
    match map.get_mut(key) {
        Some(c) => f(c),
        None => f(map.entry(key.to_owned()).or_default()),
    }
}

/// A snapshot of the counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    pub devices: BTreeMap<String, DeviceCounters>,
    pub sinks: BTreeMap<String, SinkCounters>,
    pub journal: JournalCounters,
    pub mqtt: Option<crate::mqtt::source::MqttCounters>,
    /// Wall-clock steps the pollers saw.
    pub clock_steps: u64,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{:<20} {:>7} {:>8} {:>8} {:>9} {:>8} {:>8} {:>8}  failures", "device", "cycles", "skipped", "requests", "good", "flagged", "missing", "lat ms")?;
        for (name, c) in &self.devices {
            let avg = c.latency_ms_total.checked_div(c.requests).unwrap_or(0);
            let failures: Vec<String> = c.failures.iter().map(|(k, v)| format!("{k}={v}")).collect();
            writeln!(
                f,
                "{:<20} {:>7} {:>8} {:>8} {:>9} {:>8} {:>8} {:>8}  {}",
                name,
                c.cycles,
                c.skipped_slots(),
                c.requests,
                c.readings_good,
                c.readings_flagged,
                c.readings_missing,
                format!("{avg}/{}", c.latency_ms_max),
                if failures.is_empty() { "-".to_owned() } else { failures.join(" ") }
            )?;
        }
        write!(
            f,
            "journal: {} readings recovered at start, {} cut as corrupt ({} bytes), {} dropped when full, {} undelivered, {} bytes on disk",
            self.journal.recovered, self.journal.cut_readings, self.journal.cut_bytes, self.journal.dropped, self.journal.undelivered, self.journal.bytes
        )?;
        if let Some(m) = &self.mqtt {
            write!(
                f,
                "\nmqtt: {} messages, {} readings, {} dead-lettered, {} connection errors",
                m.messages, m.readings, m.dead_lettered, m.connection_errors
            )?;
        }
        for (name, s) in &self.sinks {
            write!(
                f,
                "\nsink {name}: {} readings in {} batches, {} failed attempts, {} readings dead-lettered",
                s.readings, s.batches, s.failures, s.dead_lettered
            )?;
        }
        Ok(())
    }
}
