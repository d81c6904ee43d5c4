//! The poller of a request-answer meter on a line (DL/T 645, CJ/T 188): on its wall-clock slots
//! it sends the requests its protocol makes for a cycle, each through the line's link in turn
//! with every other device on the line, and stores a reading for every output the protocol
//! names, with its value or the reason it has none. A dead meter costs its timeout, is backed
//! off and its skipped slots say so; the rest of the line keeps its cadence.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use readings::{Kind, Medium, MeterId, Quality, Quantity, Reading};
use tokio::sync::{oneshot, watch, Mutex};
use tracing::{info, warn};

use super::backoff::{Backoff, Slot};
use super::memory::StoredUpTo;
use super::{PollerShared, SharedLink};
use crate::clock::{wait_for_slot, SystemClock, Waited};
use crate::journal::writer::Append;
use crate::line::port::FrameLength;
use crate::line::Endpoint;
use crate::line::error::ReadError;
use crate::line::link::Link;
use crate::schedule::{next_slot, now_ms};
use crate::stats::SkipReason;

/// What one stored series of a meter is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Output {
    pub quantity: Quantity,
    pub medium: Medium,
    pub kind: Kind,
}

/// What one answer held.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Decoded {
    /// (index into `outputs`, value in the output quantity's canonical unit).
    pub values: Vec<(usize, f64)>,
    /// The meter's clock, if the answer carries it, as an instant.
    pub meter_time: Option<DateTime<Utc>>,
    /// Bytes before the frame that were neither it nor its wake-up bytes (line noise).
    pub garbage: usize,
    /// Values from the meter's memory (settlement-day totals), each with its own instant.
    pub memory: Vec<MemoryValue>,
}

/// A value the meter kept for an instant of its own (a settlement day's total).
#[derive(Debug, Clone, PartialEq)]
pub struct MemoryValue {
    /// Index into `outputs`.
    pub output: usize,
    pub at: DateTime<Utc>,
    /// In the output quantity's canonical unit.
    pub value: f64,
    /// `meter_memory`, or `clock_unsynced` when the meter's clock is off.
    pub quality: Quality,
}

impl Decoded {
    /// Values without a clock.
    pub fn values(values: Vec<(usize, f64)>) -> Self {
        Self { values, ..Self::default() }
    }
}

/// A request-answer meter protocol as the poller drives it.
pub trait MeterProtocol: Send + 'static {
    /// One request of a cycle.
    type Request: Send + Sync;
    /// The meter's id, where it is, and its schedule.
    fn meter(&self) -> &MeterId;
    fn endpoint(&self) -> &Endpoint;
    fn interval(&self) -> Duration;
    fn timeout(&self) -> Duration;
    /// Every series the meter's readings go to, in a fixed order.
    fn outputs(&self) -> &[Output];
    /// The requests of one cycle, each with its bytes on the wire.
    fn requests(&self) -> Vec<(Self::Request, Vec<u8>)>;
    /// How many bytes make a complete answer, given the bytes so far.
    fn frame_length(&self) -> FrameLength;
    /// The values in `frame`, the answer to `request`, and the meter's clock if it sent it.
    fn decode(&self, request: &Self::Request, frame: &[u8]) -> Result<Decoded, ReadError>;
    /// The outputs `request` asks for (they get its failure when it fails).
    fn outputs_of(&self, request: &Self::Request) -> Vec<usize>;
}

/// The poller of one meter.
pub struct MeterPoller<P: MeterProtocol> {
    protocol: P,
    link: Arc<Mutex<Link>>,
    link_answered_ms: Arc<AtomicI64>,
    shared: PollerShared,
    backoff: Backoff,
    /// How far values from the meter's memory are stored, and those waiting to be journalled.
    memory: Option<StoredUpTo>,
    stored_up_to: Option<DateTime<Utc>>,
    pending: Vec<Reading>,
}

impl<P: MeterProtocol> MeterPoller<P> {
    /// A poller sending each cycle's readings to `shared.out`.
    pub fn new(protocol: P, link: SharedLink, shared: PollerShared) -> Self {
        Self {
            protocol,
            link: link.link,
            link_answered_ms: link.answered_ms,
            shared,
            backoff: Backoff::default(),
            memory: None,
            stored_up_to: None,
            pending: Vec::new(),
        }
    }

    /// Stores the values the meter keeps in its memory once each, remembering in `state` how
    /// far it got.
    pub fn with_memory(mut self, state: StoredUpTo) -> Self {
        self.stored_up_to = state.load();
        self.memory = Some(state);
        self
    }

    /// Polls until `shutdown` turns true, finishing the cycle under way.
    pub async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        let clock = SystemClock;
        let interval = self.protocol.interval().as_millis() as u64;
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
                self.backoff.clock_stepped(by_ms);
                slot = next_slot(now_ms(), interval);
                continue;
            }
            if self.shared.journal_full.load(Ordering::Relaxed) {
                self.shared.stats.device(self.protocol.meter().as_str(), |c| c.skip(SkipReason::JournalFull, 1));
                slot = next_slot(now_ms(), interval);
                continue;
            }
            let readings = self.cycle(slot).await;
            self.shared.live.record(&readings);
            if !readings.is_empty() && self.shared.out.send(Append { readings, ack: None }).await.is_err() {
                break;
            }
            if !self.pending.is_empty() {
                // Recorded as stored only once durable: a crash before stores them again.
                let readings = std::mem::take(&mut self.pending);
                let newest = readings.iter().map(|r| r.time).max();
                let (ack, durable) = oneshot::channel();
                if self.shared.out.send(Append { readings, ack: Some(ack) }).await.is_err() {
                    break;
                }
                if durable.await.is_ok() {
                    if let (Some(state), Some(t)) = (&self.memory, newest) {
                        state.save(t);
                        self.stored_up_to = Some(t);
                    }
                }
            }
            slot = next_slot(now_ms(), interval);
        }
    }

    /// One cycle at `slot_ms`: a reading for every output, with a value or the reason it has
    /// none.
    pub async fn cycle(&mut self, slot_ms: i64) -> Vec<Reading> {
        let time = DateTime::<Utc>::from_timestamp_millis(slot_ms).unwrap_or_default();
        let name = self.protocol.meter().as_str().to_owned();
        let n = self.protocol.outputs().len();
        self.shared.stats.device(&name, |c| c.cycles += 1);
        let mut values: Vec<Result<f64, Quality>> = vec![Err(Quality::CommError); n];
        if self.backoff.slot(slot_ms, self.link_answered_ms.load(Ordering::Relaxed)) == Slot::Skip {
            self.shared.stats.device(&name, |c| {
                c.skip(SkipReason::Backoff, 1);
                c.readings_missing += n as u64;
            });
            return (0..n).map(|i| self.reading(i, time, Err(Quality::SkippedBackoff))).collect();
        }
        let mut answered = false;
        let mut link_down = false;
        let requests = self.protocol.requests();
        for (k, (request, bytes)) in requests.iter().enumerate() {
            match self.exchange(request, bytes).await {
                Ok(got) => {
                    answered = true;
                    if got.garbage > 0 {
                        self.shared.stats.device(&name, |c| c.garbage_bytes += got.garbage as u64);
                    }
                    if self.memory.is_some() {
                        let now = Utc::now();
                        for mv in &got.memory {
                            let new = self.stored_up_to.is_none_or(|s| mv.at > s) && mv.at <= now;
                            let queued = self.pending.iter().any(|r| r.time == mv.at && r.quantity == self.protocol.outputs()[mv.output].quantity);
                            if new && !queued {
                                let reading = self.reading(mv.output, mv.at, Ok(mv.value));
                                self.pending.push(Reading { quality: mv.quality, ..reading });
                            }
                        }
                    }
                    if let Some(t) = got.meter_time {
                        // The meter's clock against the gateway's, for /metrics.
                        let drift = (t - Utc::now()).num_milliseconds();
                        self.shared.stats.device(&name, |c| c.clock_drift_ms = Some(drift));
                    }
                    for (i, v) in got.values {
                        if let Some(slot) = values.get_mut(i) {
                            *slot = Ok(v);
                        }
                    }
                }
                Err(e) => {
                    link_down |= e.is_link_down();
                    let silent = matches!(e, ReadError::Timeout(_) | ReadError::Connect { .. } | ReadError::Transport(_));
                    let quality = e.quality();
                    let failed: Vec<usize> = if silent && !answered {
                        // Not answering: the rest of the cycle would cost the line a timeout each.
                        requests[k..].iter().flat_map(|(r, _)| self.protocol.outputs_of(r)).collect()
                    } else {
                        self.protocol.outputs_of(request)
                    };
                    for i in failed {
                        if let Some(slot) = values.get_mut(i) {
                            *slot = Err(quality);
                        }
                    }
                    if silent && !answered {
                        break;
                    }
                }
            }
        }
        self.update_health(slot_ms, answered, link_down);
        let good = values.iter().filter(|v| v.is_ok()).count() as u64;
        self.shared.stats.device(&name, |c| {
            c.readings_good += good;
            c.readings_missing += n as u64 - good;
        });
        values.into_iter().enumerate().map(|(i, v)| self.reading(i, time, v)).collect()
    }

    async fn exchange(&mut self, request: &P::Request, bytes: &[u8]) -> Result<Decoded, ReadError> {
        let (result, ms) = {
            let mut link = self.link.lock().await;
            let started = Instant::now();
            let answer = link.exchange(bytes, self.protocol.frame_length(), self.protocol.timeout()).await;
            (answer, started.elapsed().as_millis() as u64)
        };
        let result = result.and_then(|frame| {
            let decoded = self.protocol.decode(request, &frame);
            if decoded.is_ok() {
                for i in self.protocol.outputs_of(request) {
                    let quantity = self.protocol.outputs()[i].quantity.to_string();
                    self.shared.live.raw(self.protocol.meter().as_str(), &quantity, crate::live::Raw::Frame(frame.clone()));
                }
            }
            decoded
        });
        self.shared.stats.device(self.protocol.meter().as_str(), |c| {
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
        result
    }

    fn update_health(&mut self, slot_ms: i64, answered: bool, link_down: bool) {
        let name = self.protocol.meter().as_str().to_owned();
        if answered {
            if let Some(failed_cycles) = self.backoff.answered() {
                info!(device = %name, failed_cycles, "meter answers again");
            }
        } else {
            let interval = self.protocol.interval().as_millis() as u64;
            self.backoff.failed(slot_ms, interval, link_down, self.link_answered_ms.load(Ordering::Relaxed), now_ms());
            if self.backoff.fail_streak == 1 {
                warn!(device = %name, endpoint = %self.protocol.endpoint(), "meter not answering");
            }
        }
        let streak = self.backoff.fail_streak;
        self.shared.stats.device(&name, |c| c.fail_streak = streak);
    }

    fn reading(&self, i: usize, time: DateTime<Utc>, value: Result<f64, Quality>) -> Reading {
        let o = self.protocol.outputs()[i];
        let (value, quality) = match value {
            Ok(v) => (Some(v), self.shared.trust.stamp(Quality::Good)),
            Err(q) => (None, q),
        };
        Reading {
            time,
            enterprise: self.shared.identity.enterprise.clone(),
            site: self.shared.identity.site.clone(),
            meter: self.protocol.meter().clone(),
            medium: o.medium,
            quantity: o.quantity,
            kind: o.kind,
            unit: o.quantity.canonical_unit(),
            value,
            quality,
        }
    }
}
