//! Polls one DL/T 645 meter on its wall-clock slots: one read request per data item, through
//! the line's link, taking turns with every other device on the line (Modbus, CJ/T 188). A
//! dead meter costs its timeout and is backed off; the rest of the line keeps its cadence.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Utc};
use readings::{Quality, Reading};
use tokio::sync::{watch, Mutex};
use tracing::{info, warn};

use super::device::Device;
use super::master;
use super::profile::Item;
use crate::clock::{wait_for_slot, Waited};
use crate::journal::writer::Append;
use crate::modbus::link::{Link, ReadError};
use crate::poll::{PollerShared, SharedLink};
use crate::schedule::{next_slot, now_ms};

/// Failed cycles in a row after which a meter is backed off.
const DEAD_AFTER: u32 = 3;
/// Longest back-off of a dead meter.
const MAX_BACKOFF_MS: u64 = 300_000;

/// The poller of one DL/T 645 meter.
pub struct MeterPoller {
    device: Device,
    link: Arc<Mutex<Link>>,
    link_answered_ms: Arc<std::sync::atomic::AtomicI64>,
    shared: PollerShared,
    fail_streak: u32,
    backoff_until_ms: i64,
}

impl MeterPoller {
    /// A poller sending each cycle's readings to `shared.out`.
    pub fn new(device: Device, link: SharedLink, shared: PollerShared) -> Self {
        Self { device, link: link.link, link_answered_ms: link.answered_ms, shared, fail_streak: 0, backoff_until_ms: 0 }
    }

    /// Polls until `shutdown` turns true, finishing the cycle under way.
    pub async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        let clock = crate::clock::SystemClock;
        let interval = self.device.interval.as_millis();
        let mut slot = next_slot(now_ms(), interval);
        loop {
            let waited = tokio::select! {
                w = wait_for_slot(&clock, slot) => Some(w),
                _ = shutdown.changed() => None,
            };
            if *shutdown.borrow() {
                break;
            }
            if let Some(Waited::Stepped { by_ms }) = waited {
                if self.shared.stats.clock_step() {
                    warn!(step_ms = by_ms, "the wall clock was stepped; polling follows the new time");
                }
                slot = next_slot(now_ms(), interval);
                continue;
            }
            if self.shared.journal_full.load(Ordering::Relaxed) {
                self.shared.stats.device(self.device.meter.as_str(), |c| c.skipped_slots += 1);
                slot = next_slot(now_ms(), interval);
                continue;
            }
            let readings = self.cycle(slot).await;
            if !readings.is_empty() && self.shared.out.send(Append { readings, ack: None }).await.is_err() {
                break;
            }
            slot = next_slot(now_ms(), interval);
        }
    }

    /// One cycle at `slot_ms`: a reading for every item, with a value or the reason it has none.
    pub async fn cycle(&mut self, slot_ms: i64) -> Vec<Reading> {
        let time = DateTime::<Utc>::from_timestamp_millis(slot_ms).unwrap_or_default();
        let name = self.device.meter.as_str().to_owned();
        self.shared.stats.device(&name, |c| c.cycles += 1);
        if slot_ms < self.backoff_until_ms {
            self.shared.stats.device(&name, |c| {
                c.skipped_slots += 1;
                c.readings_missing += self.device.items.len() as u64;
            });
            return self.device.items.iter().map(|i| self.reading(i, time, None, Quality::SkippedBackoff)).collect();
        }
        let mut out = Vec::with_capacity(self.device.items.len());
        let mut answered = false;
        let items = self.device.items.clone();
        for (n, item) in items.iter().enumerate() {
            match self.read(item).await {
                Ok(v) => {
                    answered = true;
                    out.push(self.reading(item, time, Some(v), Quality::Good));
                }
                Err(e) => {
                    let silent = matches!(e, ReadError::Timeout(_) | ReadError::Connect { .. } | ReadError::Transport(_));
                    out.push(self.reading(item, time, None, e.quality()));
                    if silent && !answered {
                        // Not answering: asking for the other items would cost the line a
                        // timeout each.
                        for rest in &items[n + 1..] {
                            out.push(self.reading(rest, time, None, e.quality()));
                        }
                        break;
                    }
                }
            }
        }
        self.update_health(slot_ms, answered);
        let (good, missing) = out.iter().fold((0, 0), |(g, m), r| if r.value.is_some() { (g + 1, m) } else { (g, m + 1) });
        self.shared.stats.device(&name, |c| {
            c.readings_good += good;
            c.readings_missing += missing;
        });
        out
    }

    async fn read(&mut self, item: &Item) -> Result<f64, ReadError> {
        let request = master::request(&self.device.address, item.di, self.device.preamble);
        let bytes = master::encode(&request, self.device.preamble);
        let (result, ms) = {
            let mut link = self.link.lock().await;
            let started = Instant::now();
            let answer = link.exchange_raw(&bytes, master::frame_length, self.device.timeout.0).await;
            (answer, started.elapsed().as_millis() as u64)
        };
        let result = result.and_then(|frame| master::value(&frame, &request, item));
        let name = self.device.meter.as_str();
        self.shared.stats.device(name, |c| {
            c.requests += 1;
            c.record_latency(ms);
            if let Err(e) = &result {
                c.request_failures += 1;
                *c.failures.entry(e.reason()).or_default() += 1;
            }
        });
        if result.is_ok() {
            self.link_answered_ms.store(now_ms(), Ordering::Relaxed);
        }
        // The item's unit into the quantity's canonical unit.
        result.and_then(|v| item.unit.convert(v, item.quantity.canonical_unit()).map_err(|e| ReadError::Protocol(e.to_string())))
    }

    fn update_health(&mut self, slot_ms: i64, answered: bool) {
        let name = self.device.meter.as_str();
        if answered {
            if self.fail_streak > 0 {
                info!(device = name, failed_cycles = self.fail_streak, "meter answers again");
            }
            self.fail_streak = 0;
            self.backoff_until_ms = 0;
        } else {
            self.fail_streak += 1;
            if self.fail_streak == 1 {
                warn!(device = name, endpoint = %self.device.endpoint, address = %self.device.address, "DL/T 645 meter not answering");
            }
            if self.fail_streak >= DEAD_AFTER {
                let interval = self.device.interval.as_millis();
                let slots = (1u64 << (self.fail_streak - DEAD_AFTER).min(20)).min((MAX_BACKOFF_MS / interval).max(1));
                self.backoff_until_ms = slot_ms + ((slots + 1) * interval) as i64;
            }
        }
        let streak = self.fail_streak;
        self.shared.stats.device(name, |c| c.fail_streak = streak);
    }

    fn reading(&self, item: &Item, time: DateTime<Utc>, value: Option<f64>, quality: Quality) -> Reading {
        let quality = if value.is_some() { self.shared.trust.stamp(quality) } else { quality };
        Reading {
            time,
            enterprise: self.shared.identity.enterprise.clone(),
            site: self.shared.identity.site.clone(),
            meter: self.device.meter.clone(),
            medium: item.medium,
            quantity: item.quantity,
            kind: item.kind,
            unit: item.quantity.canonical_unit(),
            value,
            quality,
        }
    }
}
