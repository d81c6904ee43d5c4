//! A raw-frame bus: Modbus RTU, DL/T 645-2007 and CJ/T 188 meters on one line, on a serial
//! device or behind a TCP listener (a serial server or DTU passing the bytes through).
//!
//! tokio-modbus's RTU server only knows Modbus frames, so a line that also carries DL/T 645 and
//! CJ/T 188 meters is read here: each request is told by its first bytes (FEH wake-up bytes
//! skipped; 68H with a second 68H at offset 7 is DL/T 645, 68H otherwise CJ/T 188, anything
//! else Modbus RTU) and answered by the meter it addresses; nobody answers for an address no
//! meter has, as on a real bus. Modbus requests go through the same [`Simulator`] (and faults)
//! as on the Modbus-only servers.

use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use collector::dlt645::codec::{parse_frame, DataId};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use tokio::net::TcpListener;
use tokio_modbus::prelude::{Request, Response, SlaveRequest};

use crate::cjt188::Cjt188Meter;
use crate::dlt645::Dlt645Meter;
use crate::server::Simulator;
use crate::spec::{Cjt188Spec, Dlt645Spec, Faults};

/// A pause this long inside a request ends it: what came is dropped, the next byte starts anew
/// (a request that never completes must not block the line).
const GAP: Duration = Duration::from_millis(500);

/// The meters of one line, of every protocol.
pub struct Bus {
    modbus: Arc<Simulator>,
    dlt645: Vec<(Dlt645Meter, Faults)>,
    cjt188: Vec<(Cjt188Meter, Faults)>,
    /// Share of answers sent with a bad checksum, and the accumulator that spreads them evenly.
    checksum_errors: f64,
    due: Mutex<f64>,
}

/// What the start of the received bytes is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Modbus,
    Dlt645,
    Cjt188,
}

impl Bus {
    /// The line of `modbus`'s meters (silent for unknown units, as on a bus) and the DL/T 645
    /// and CJ/T 188 meters of `dlt645` and `cjt188`; `checksum_errors` of the answers get a bad
    /// CRC or checksum.
    pub fn new(
        modbus: Simulator,
        dlt645: &[Dlt645Spec],
        cjt188: &[Cjt188Spec],
        seed: u64,
        profiles_dir: Option<&std::path::Path>,
        checksum_errors: f64,
    ) -> Result<Self, String> {
        let mut dlt = Vec::new();
        for spec in dlt645 {
            use collector::dlt645::profile::Profile;
            let profile = profiles_dir
                .and_then(|d| Profile::from_dir(d, &spec.profile))
                .or_else(|| Profile::builtin(&spec.profile))
                .ok_or_else(|| format!("DL/T 645 meter {}: no profile named {:?}", spec.address, spec.profile))?
                .map_err(|e| e.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n"))?;
            if dlt.iter().any(|(m, _): &(Dlt645Meter, Faults)| m.address == spec.address) {
                return Err(format!("DL/T 645 meter {} is given twice", spec.address));
            }
            dlt.push((Dlt645Meter::new(spec.address, profile, seed, spec.rated)?, spec.faults.clone()));
        }
        let mut cjt = Vec::new();
        for spec in cjt188 {
            if cjt.iter().any(|(m, _): &(Cjt188Meter, Faults)| m.address == spec.address) {
                return Err(format!("CJ/T 188 meter {} is given twice", spec.address));
            }
            cjt.push((Cjt188Meter::new(spec.meter_type, spec.address, seed, spec.rated)?, spec.faults.clone()));
        }
        Ok(Self { modbus: Arc::new(modbus.on_serial_bus()), dlt645: dlt, cjt188: cjt, checksum_errors, due: Mutex::new(0.0) })
    }

    /// The Modbus side, for its counts.
    pub fn modbus(&self) -> &Arc<Simulator> {
        &self.modbus
    }

    /// The DL/T 645 meter at nameplate `address`.
    pub fn dlt645_meter(&self, address: &str) -> Option<&Dlt645Meter> {
        self.dlt645.iter().map(|(m, _)| m).find(|m| m.address.to_string() == address)
    }

    /// The answer to one whole request, if one is due.
    async fn answer(&self, kind: Kind, request: &[u8]) -> Option<Vec<u8>> {
        let mut answer = match kind {
            Kind::Modbus => self.answer_modbus(request).await?,
            Kind::Dlt645 => {
                let frame = parse_frame(request).ok()?.frame;
                let [d0, d1, d2, d3] = frame.data[..] else { return None };
                // Read data (11H) only: a meter answers nothing else here.
                if frame.control.0 != 0x11 {
                    return None;
                }
                let (meter, faults) = self.dlt645.iter().find(|(m, _)| m.address.wire() == frame.address)?;
                let fault = self.fault(faults).await?;
                let now = self.modbus.now();
                self.modbus.count(!fault);
                meter.answer(DataId(u32::from_le_bytes([d0, d1, d2, d3])), now, fault)
            }
            Kind::Cjt188 => {
                let start = request.iter().position(|b| *b == 0x68)?;
                let frame = collector::cjt188::codec::decode_frame(&request[start..]).ok()?;
                let (meter, faults) = self.cjt188.iter().find(|(m, _)| m.address == frame.address)?;
                let fault = self.fault(faults).await?;
                self.modbus.count(!fault);
                meter.answer(&frame, self.modbus.now(), fault)?
            }
        };
        if self.checksum_errors > 0.0 {
            // Spread evenly, as the Modbus relay does; poisoned only if a holder panicked.
            let flip = self.due.lock().map(|mut due| {
                *due += self.checksum_errors;
                let flip = *due >= 1.0;
                if flip {
                    *due -= 1.0;
                }
                flip
            });
            if flip.unwrap_or(false) {
                // The CRC's last byte for Modbus, the checksum (before 16H) for the others.
                let at = if kind == Kind::Modbus { answer.len().checked_sub(1) } else { answer.len().checked_sub(2) };
                if let Some(b) = at.and_then(|i| answer.get_mut(i)) {
                    *b ^= 1 << fastrand::u8(0..8);
                }
            }
        }
        Some(answer)
    }

    /// Applies a meter's faults: `None` if it stays silent (dead), else whether it answers with
    /// an exception; slow answers wait here.
    async fn fault(&self, faults: &Faults) -> Option<bool> {
        if faults.dead {
            return None;
        }
        if let Some((delay, share)) = faults.slow {
            if fastrand::f64() < share {
                tokio::time::sleep(delay).await;
            }
        }
        Some(faults.exception_rate > 0.0 && fastrand::f64() < faults.exception_rate)
    }

    /// A Modbus RTU read (8 bytes with a good CRC) answered by the simulator.
    async fn answer_modbus(&self, request: &[u8]) -> Option<Vec<u8>> {
        let [unit, function, a0, a1, c0, c1, ..] = request[..] else { return None };
        if crc16(&request[..6]).to_le_bytes() != request[6..8] {
            return None;
        }
        let (start, count) = (u16::from_be_bytes([a0, a1]), u16::from_be_bytes([c0, c1]));
        let request = match function {
            0x03 => Request::ReadHoldingRegisters(start, count),
            0x04 => Request::ReadInputRegisters(start, count),
            // Anything else is refused by the simulator with "illegal function".
            _ => Request::ReadCoils(start, count),
        };
        let mut out = vec![unit];
        match Arc::clone(&self.modbus).answer(SlaveRequest { slave: unit, request }).await {
            Ok(None) => return None,
            Ok(Some(Response::ReadHoldingRegisters(regs) | Response::ReadInputRegisters(regs))) => {
                out.push(function);
                // At most 125 registers (checked by the simulator): 250 bytes.
                out.push((regs.len() * 2) as u8);
                out.extend(regs.iter().flat_map(|r| r.to_be_bytes()));
            }
            Ok(Some(_)) => return None,
            Err(code) => out.extend([function | 0x80, u8::from(code)]),
        }
        let crc = crc16(&out);
        out.extend(crc.to_le_bytes());
        Some(out)
    }
}

/// Modbus RTU's CRC-16 (polynomial A001H, initial FFFFH), sent low byte first.
fn crc16(bytes: &[u8]) -> u16 {
    bytes.iter().fold(0xFFFF_u16, |mut crc, &b| {
        crc ^= u16::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0xA001 } else { crc >> 1 };
        }
        crc
    })
}

/// Where the first whole request in `buf` ends, and what it is; `None` until it has all come.
fn next_request(buf: &[u8]) -> Option<(Kind, usize)> {
    let skip = buf.iter().take_while(|b| **b == 0xFE).count();
    let b = &buf[skip..];
    let (kind, len) = match b.first()? {
        0x68 if *b.get(7)? == 0x68 => (Kind::Dlt645, 12 + usize::from(*b.get(9)?)),
        0x68 => (Kind::Cjt188, 13 + usize::from(*b.get(10)?)),
        // Reads (03H, 04H) are 8 bytes; so is every request this simulator answers.
        _ => (Kind::Modbus, 8),
    };
    (b.len() >= len).then_some((kind, skip + len))
}

/// Answers requests on `stream` until it ends; the connection is dropped instead of answering
/// with probability `drop_rate` per request.
async fn serve_stream(bus: Arc<Bus>, mut stream: impl AsyncRead + AsyncWrite + Unpin, drop_rate: f64) -> io::Result<()> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 512];
    loop {
        let n = if buf.is_empty() {
            stream.read(&mut chunk).await?
        } else {
            match tokio::time::timeout(GAP, stream.read(&mut chunk)).await {
                Ok(r) => r?,
                Err(_) => {
                    tracing::debug!(bytes = buf.len(), "an incomplete request timed out");
                    buf.clear();
                    continue;
                }
            }
        };
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
        while let Some((kind, end)) = next_request(&buf) {
            let request: Vec<u8> = buf.drain(..end).collect();
            if drop_rate > 0.0 && fastrand::f64() < drop_rate {
                return Ok(());
            }
            if let Some(answer) = bus.answer(kind, &request).await {
                stream.write_all(&answer).await?;
            }
        }
    }
}

/// Serves `bus` to every connection on `listener` (raw frames, as a serial server passes them)
/// until the task is dropped.
pub async fn serve_bus_tcp(listener: TcpListener, bus: Arc<Bus>, drop_rate: f64) -> io::Result<()> {
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        let bus = Arc::clone(&bus);
        tokio::spawn(async move {
            if let Err(e) = serve_stream(bus, stream, drop_rate).await {
                tracing::debug!(error = %e, "connection ended");
            }
        });
    }
}

/// Serves `bus` on a serial `port` until the port fails.
pub async fn serve_bus_serial(port: tokio_serial::SerialStream, bus: Arc<Bus>) -> io::Result<()> {
    serve_stream(bus, port, 0.0).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_told_apart_by_their_first_bytes() {
        let dlt = collector::dlt645::codec::Request::Read { address: "000012345678".parse().unwrap(), id: DataId::TIME }.encode(4).unwrap();
        assert_eq!(next_request(&dlt), Some((Kind::Dlt645, dlt.len())));
        assert_eq!(next_request(&dlt[..dlt.len() - 1]), None);
        let cjt = collector::cjt188::codec::Request::read_data(
            collector::cjt188::codec::MeterType::ColdWater,
            "00000000000001".parse().unwrap(),
            collector::cjt188::codec::Di::READ_DATA,
            0,
        )
        .encode(collector::cjt188::codec::Preamble::FULL, Default::default());
        assert_eq!(next_request(&cjt), Some((Kind::Cjt188, cjt.len())));
        let modbus = [0x01, 0x03, 0x00, 0x00, 0x00, 0x02, 0xC4, 0x0B];
        assert_eq!(next_request(&modbus), Some((Kind::Modbus, 8)));
        assert_eq!(crc16(&modbus[..6]).to_le_bytes(), [0xC4, 0x0B]);
    }
}
