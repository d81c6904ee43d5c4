//! What every field poller (Modbus, DL/T 645, CJ/T 188) shares: the link of its line, taken in
//! turns, and the collector's journal sender, counters and clock trust.

pub mod backoff;
pub mod memory;
pub mod meter;

use std::sync::atomic::{AtomicBool, AtomicI64};
use std::sync::Arc;

use tokio::sync::{mpsc, Mutex};

use crate::clock::ClockTrust;
use crate::journal::writer::Append;
use crate::line::link::Link;
use crate::normalise::Identity;
use crate::stats::Stats;

/// A connection shared by the devices behind one address, and when it last answered any of them.
#[derive(Clone)]
pub struct SharedLink {
    pub link: Arc<Mutex<Link>>,
    /// Wall-clock ms of the link's last answer: a device backed off because the link was down
    /// is probed again as soon as the link answers for another unit.
    pub answered_ms: Arc<AtomicI64>,
}

impl SharedLink {
    /// A fresh link handle.
    pub fn new(link: Link) -> Self {
        Self { link: Arc::new(Mutex::new(link)), answered_ms: Arc::new(AtomicI64::new(0)) }
    }
}

/// What every poller of a collector shares.
#[derive(Clone)]
pub struct PollerShared {
    pub identity: Identity,
    pub stats: Arc<Stats>,
    pub out: mpsc::Sender<Append>,
    /// Up while the journal takes nothing: slots are skipped, nothing is polled.
    pub journal_full: Arc<AtomicBool>,
    /// Whether the clock that stamps the slots is synchronised.
    pub trust: Arc<ClockTrust>,
    /// The latest values and their raw bytes, for the console.
    pub live: Arc<crate::live::Live>,
}

