//! Meter-side backfill for DL/T 645 meters: what the meter itself kept while the collector or
//! the line was down. At start and then every few hours the meter's clock is read (its drift
//! against the gateway's is counted), then its settlement (billing) day and, for each energy
//! counter of its profile, the totals at the last twelve settlements (DI0 = 01..0C). Each is
//! stored once, stamped with the settlement's time on the meter's clock and the quality
//! `meter_memory`, so the accounts can use it as the boundary value of a month the gateway
//! missed; `clock_unsynced` instead when the meter's clock is off by more than the tolerance.
//! A state file per meter remembers the latest settlement stored; it is written only after the
//! readings are durable in the journal, so a crash stores them again at worst, never loses them.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use readings::{Kind, Quality, Reading};
use tokio::sync::{oneshot, watch, Mutex};
use tracing::{info, warn};

use super::codec::{decode_answer, frame_len, DataId, Request};
use super::device::Device;
use super::master;
use super::value::{decode_date_week, decode_day_hour, decode_time};
use crate::journal::writer::Append;
use crate::line::error::ReadError;
use crate::line::link::Link;
use crate::poll::memory::{settlement, StoredUpTo};
use crate::poll::{PollerShared, SharedLink};

/// How often the meter's memory is read again.
const EVERY: Duration = Duration::from_secs(6 * 3600);
/// How soon a pass that failed (a garbled answer, a timeout) is tried again.
const RETRY: Duration = Duration::from_secs(300);
/// Settlement periods a DL/T 645-2007 meter keeps.
const KEPT: u8 = 12;

/// Reads the meter's memory at start and every [`EVERY`] until `shutdown`.
pub async fn run(device: Device, link: SharedLink, shared: PollerShared, state_dir: PathBuf, mut shutdown: watch::Receiver<bool>) {
    let state = StoredUpTo::new(&state_dir, "dlt645", device.meter.as_str());
    loop {
        let next = match backfill(&device, &link.link, &shared, &state).await {
            Ok(n) => {
                if n > 0 {
                    info!(device = %device.meter, readings = n, "stored settlement-day values from the meter's memory");
                }
                EVERY
            }
            Err(e) => {
                warn!(device = %device.meter, error = %e, retry_in = ?RETRY, "reading the meter's memory failed; trying again soon");
                RETRY
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(next) => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// One pass: returns how many readings were stored.
async fn backfill(device: &Device, link: &Arc<Mutex<Link>>, shared: &PollerShared, state: &StoredUpTo) -> Result<usize, ReadError> {
    let offset = device.utc_offset;
    let date = read(device, link, DataId::DATE_WEEK).await.and_then(|d| decode_date_week(&d).map_err(protocol))?.0;
    let time = read(device, link, DataId::TIME).await.and_then(|d| decode_time(&d).map_err(protocol))?;
    let meter_now = date.and_time(time);
    let gateway_now = Utc::now();
    let drift = offset.from_local_datetime(&meter_now).single().map(|t| t.with_timezone(&Utc) - gateway_now).unwrap_or_default();
    let drift_ms = drift.num_milliseconds();
    shared.stats.device(device.meter.as_str(), |c| c.clock_drift_ms = Some(drift_ms));
    let clock_off = drift.abs() > chrono::Duration::from_std(device.clock_tolerance.0).unwrap_or_default();
    if clock_off {
        warn!(device = %device.meter, drift_s = drift_ms / 1000, "the meter's clock is off; values it stamps are stored as clock_unsynced");
    }
    // The first monthly settlement day; meters that do not say settle at 1st 00:00 (the
    // standard's default).
    let (day, hour) = match read(device, link, DataId::SETTLEMENT_DAY_1).await {
        Ok(d) => decode_day_hour(&d).unwrap_or((1, 0)),
        Err(ReadError::Exception { .. }) => (1, 0),
        Err(e) => return Err(e),
    };
    let after = state.load();
    let mut readings = Vec::new();
    let mut newest = after;
    // Settlement totals are the 2007 edition's (DI0 = 01..0C).
    for item in device.items.iter().filter(|i| i.edition == super::codec::Edition::V2007 && i.kind == Kind::Counter && i.di >> 24 == 0 && i.di & 0xFF == 0) {
        for n in 1..=KEPT {
            let Some(at_local) = settlement(meter_now, day, hour, n) else { continue };
            let Some(at) = offset.from_local_datetime(&at_local).single().map(|t| t.with_timezone(&Utc)) else { continue };
            // A settlement cannot lie ahead of now: a meter clock far in the future (a dead RTC
            // battery) would otherwise stamp them there and the state would skip real ones.
            if after.is_some_and(|a| at <= a) || at > gateway_now {
                continue;
            }
            let Some(id) = DataId(item.di).at_settlement(n) else { continue };
            let value = match read(device, link, id).await {
                Ok(data) => item.format.decode(&data).map(|d| d.to_f64()).ok(),
                // A meter that keeps fewer periods refuses the older ones.
                Err(ReadError::Exception { .. }) => None,
                Err(e) => return Err(e),
            };
            let Some(v) = value else { continue };
            let v = item.unit.convert(v, item.quantity.canonical_unit()).map_err(|e| ReadError::Protocol(e.to_string()))?;
            newest = newest.max(Some(at));
            readings.push(Reading {
                time: at,
                enterprise: shared.identity.enterprise.clone(),
                site: shared.identity.site.clone(),
                meter: device.meter.clone(),
                medium: item.medium,
                quantity: item.quantity,
                kind: item.kind,
                unit: item.quantity.canonical_unit(),
                value: Some(v),
                quality: if clock_off { Quality::ClockUnsynced } else { Quality::MeterMemory },
            });
        }
    }
    let n = readings.len();
    if n == 0 {
        return Ok(0);
    }
    // The reads take a while on a slow line: if the meter settled meanwhile, "the last
    // settlement" changed under them and the values may belong to other months. Read again.
    let date = read(device, link, DataId::DATE_WEEK).await.and_then(|d| decode_date_week(&d).map_err(protocol))?.0;
    let time = read(device, link, DataId::TIME).await.and_then(|d| decode_time(&d).map_err(protocol))?;
    if settlement(date.and_time(time), day, hour, 1) != settlement(meter_now, day, hour, 1) {
        return Err(ReadError::Protocol("the meter settled while its memory was read; reading it again".into()));
    }
    let (ack, durable) = oneshot::channel();
    if shared.out.send(Append { readings, ack: Some(ack) }).await.is_err() || durable.await.is_err() {
        return Err(ReadError::Transport("the journal did not take the values; they are read again next time".into()));
    }
    if let Some(t) = newest {
        state.save(t);
    }
    Ok(n)
}

/// One item's data bytes, taking a turn on the line; a garbled answer is asked for once more
/// (line noise should not cost a whole pass).
async fn read(device: &Device, link: &Arc<Mutex<Link>>, id: DataId) -> Result<Vec<u8>, ReadError> {
    let request = Request::Read { address: device.address, id };
    let bytes = master::encode(&request, device.preamble);
    let mut attempt = 0;
    loop {
        let frame = link.lock().await.exchange(&bytes, frame_len, device.timeout.0).await;
        match frame.and_then(|f| decode_answer(&f, &request).map(|a| a.data).map_err(master::read_error)) {
            Err(ReadError::Crc(_)) if attempt < 2 => attempt += 1,
            other => return other,
        }
    }
}

fn protocol(e: super::value::ValueError) -> ReadError {
    ReadError::Protocol(e.to_string())
}
