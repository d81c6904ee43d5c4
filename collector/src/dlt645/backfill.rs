//! Meter-side backfill for DL/T 645 meters: what the meter itself kept while the collector or
//! the line was down. At start and then every few hours the meter's clock is read (its drift
//! against the gateway's is counted), then its settlement (billing) day and, for each energy
//! counter of its profile, the totals at the last twelve settlements (DI0 = 01..0C). Each is
//! stored once, stamped with the settlement's time on the meter's clock and the quality
//! `meter_memory`, so the accounts can use it as the boundary value of a month the gateway
//! missed; `clock_unsynced` instead when the meter's clock is off by more than the tolerance.
//! Where the profile says the meter keeps daily freezes (05 06 ...), the totals frozen at each
//! day's freeze since the last one stored follow, stamped with the freeze's time on the meter's
//! clock; a freeze at a settlement instant already stored is not stored twice.
//! A state file per meter and kind remembers the latest stored; it is written only after the
//! readings are durable in the journal, so a crash stores them again at worst, never loses them.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, FixedOffset, NaiveDateTime, TimeZone, Utc};
use readings::{Kind, Quality, Reading};
use tokio::sync::{oneshot, watch, Mutex};
use tracing::{info, warn};

use super::codec::{decode_answer, frame_len, DataId, Edition, Request};
use super::device::Device;
use super::master;
use super::profile::Item;
use super::value::{decode_block, decode_date_time_minutes, decode_date_week, decode_day_hour, decode_time};
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
    let daily = StoredUpTo::new(&state_dir, "dlt645-daily", device.meter.as_str());
    loop {
        let next = match backfill(&device, &link.link, &shared, &state, &daily).await {
            Ok((settled, frozen)) => {
                if settled > 0 {
                    info!(device = %device.meter, readings = settled, "stored settlement-day values from the meter's memory");
                }
                if frozen > 0 {
                    info!(device = %device.meter, readings = frozen, "stored daily frozen values from the meter's memory");
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

/// One pass: returns how many settlement and daily frozen readings were stored.
async fn backfill(device: &Device, link: &Arc<Mutex<Link>>, shared: &PollerShared, state: &StoredUpTo, daily: &StoredUpTo) -> Result<(usize, usize), ReadError> {
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
    for item in device.items.iter().filter(|i| i.edition == Edition::V2007 && i.kind == Kind::Counter && i.di >> 24 == 0 && i.di & 0xFF == 0) {
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
            newest = newest.max(Some(at));
            readings.push(memory_reading(device, shared, item, at, v, clock_off)?);
        }
    }
    // Daily freezes at an instant whose settlement total is stored (now or before) would store
    // the same total twice.
    let mut settled: BTreeSet<DateTime<Utc>> = readings.iter().map(|r| r.time).collect();
    settled.extend(settlement_instants(meter_now, day, hour, offset).into_iter().filter(|t| after.is_some_and(|a| *t <= a)));
    let (frozen, newest_freeze, first_freeze) = daily_freezes(device, link, shared, daily.load(), &settled, gateway_now, clock_off).await?;
    let n = readings.len();
    let n_frozen = frozen.len();
    readings.extend(frozen);
    if readings.is_empty() {
        return Ok((0, 0));
    }
    // The reads take a while on a slow line: if the meter settled meanwhile, "the last
    // settlement" changed under them and the values may belong to other months. Read again.
    let date = read(device, link, DataId::DATE_WEEK).await.and_then(|d| decode_date_week(&d).map_err(protocol))?.0;
    let time = read(device, link, DataId::TIME).await.and_then(|d| decode_time(&d).map_err(protocol))?;
    if settlement(date.and_time(time), day, hour, 1) != settlement(meter_now, day, hour, 1) {
        return Err(ReadError::Protocol("the meter settled while its memory was read; reading it again".into()));
    }
    if first_freeze.is_some() && last_freeze_time(device, link).await? != first_freeze {
        return Err(ReadError::Protocol("the meter froze a day while its memory was read; reading it again".into()));
    }
    let (ack, durable) = oneshot::channel();
    if shared.out.send(Append { readings, ack: Some(ack) }).await.is_err() || durable.await.is_err() {
        return Err(ReadError::Transport("the journal did not take the values; they are read again next time".into()));
    }
    if let Some(t) = newest {
        state.save(t);
    }
    if let Some(t) = newest_freeze {
        daily.save(t);
    }
    Ok((n, n_frozen))
}

/// The meter's last twelve settlement instants, in UTC.
fn settlement_instants(meter_now: NaiveDateTime, day: u8, hour: u8, offset: FixedOffset) -> Vec<DateTime<Utc>> {
    (1..=KEPT).filter_map(|n| settlement(meter_now, day, hour, n)).filter_map(|t| offset.from_local_datetime(&t).single()).map(|t| t.with_timezone(&Utc)).collect()
}

/// The daily freezes newer than `after`, newest first, as readings of each energy total the
/// profile reads, skipping those at instants in `settled`; with the newest freeze's time and
/// the latest freeze's time on the meter (to tell whether it froze again during the pass).
async fn daily_freezes(
    device: &Device,
    link: &Arc<Mutex<Link>>,
    shared: &PollerShared,
    after: Option<DateTime<Utc>>,
    settled: &BTreeSet<DateTime<Utc>>,
    gateway_now: DateTime<Utc>,
    clock_off: bool,
) -> Result<(Vec<Reading>, Option<DateTime<Utc>>, Option<NaiveDateTime>), ReadError> {
    let items: Vec<&Item> = device.items.iter().filter(|i| i.edition == Edition::V2007 && i.kind == Kind::Counter && DataId(i.di).at_daily_freeze(1).is_some()).collect();
    let mut readings = Vec::new();
    let (mut newest, mut first) = (None, None);
    if items.is_empty() {
        return Ok((readings, newest, first));
    }
    for n in 1..=device.daily_freezes {
        let Some(id) = DataId::daily_freeze_time(n) else { break };
        let local = match read(device, link, id).await {
            Ok(data) => decode_date_time_minutes(&data).ok(),
            // A meter that keeps fewer freezes than its profile says refuses the older ones.
            Err(ReadError::Exception { .. }) => None,
            Err(e) => return Err(e),
        };
        // An empty record (no value) is where the meter's history ends.
        let Some(local) = local else { break };
        if n == 1 {
            first = Some(local);
        }
        let Some(at) = device.utc_offset.from_local_datetime(&local).single().map(|t| t.with_timezone(&Utc)) else { continue };
        // Newest first: once one is stored, so are all before it.
        if after.is_some_and(|a| at <= a) {
            break;
        }
        if at > gateway_now {
            continue;
        }
        newest = newest.max(Some(at));
        if settled.contains(&at) {
            continue;
        }
        for item in &items {
            let Some(frozen) = DataId(item.di).at_daily_freeze(n) else { continue };
            let data = match read(device, link, frozen).await {
                Ok(data) => data,
                Err(ReadError::Exception { .. }) => continue,
                Err(e) => return Err(e),
            };
            // The total comes first in the block; the tariffs follow.
            let Some(Ok(total)) = decode_block(item.format, &data).map_err(protocol)?.into_iter().next() else { continue };
            readings.push(memory_reading(device, shared, item, at, total.to_f64(), clock_off)?);
        }
    }
    Ok((readings, newest, first))
}

/// The time of the meter's latest daily freeze.
async fn last_freeze_time(device: &Device, link: &Arc<Mutex<Link>>) -> Result<Option<NaiveDateTime>, ReadError> {
    let Some(id) = DataId::daily_freeze_time(1) else { return Ok(None) };
    read(device, link, id).await.map(|data| decode_date_time_minutes(&data).ok())
}

/// A value of `item` from the meter's memory, at `at`.
fn memory_reading(device: &Device, shared: &PollerShared, item: &Item, at: DateTime<Utc>, value: f64, clock_off: bool) -> Result<Reading, ReadError> {
    let value = item.unit.convert(value, item.quantity.canonical_unit()).map_err(|e| ReadError::Protocol(e.to_string()))?;
    Ok(Reading {
        time: at,
        enterprise: shared.identity.enterprise.clone(),
        site: shared.identity.site.clone(),
        meter: device.meter.clone(),
        medium: item.medium,
        quantity: item.quantity,
        kind: item.kind,
        unit: item.quantity.canonical_unit(),
        value: Some(value),
        quality: if clock_off { Quality::ClockUnsynced } else { Quality::MeterMemory },
    })
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
