//! The Modbus servers that answer for the simulated meters, one unit id each: Modbus TCP, RTU
//! over TCP, and RTU on a serial line.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use chrono::{DateTime, Utc};
use collector::modbus::profile::Profile;
use collector::modbus::register::RegisterFunction;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio_modbus::prelude::*;
use tokio_modbus::server::tcp::Server;

use crate::model::Meter;
use crate::spec::{DeviceSpec, Faults};

/// The simulated meters behind one address, and their clock.
pub struct Simulator {
    meters: HashMap<u8, (Meter, Faults)>,
    frozen: Option<DateTime<Utc>>,
    served: AtomicU64,
    refused: AtomicU64,
    /// On a serial bus nobody answers for a unit id that is not there; a TCP gateway says so.
    silent_for_unknown_units: bool,
}

impl Simulator {
    /// Builds the meters of `specs`. Values follow the wall clock, or stay at `frozen` if given.
    pub fn new(specs: &[DeviceSpec], seed: u64, frozen: Option<DateTime<Utc>>, profiles_dir: Option<&Path>) -> Result<Self, String> {
        let start = frozen.unwrap_or_else(Utc::now);
        let mut meters = HashMap::new();
        for spec in specs {
            let profile = profiles_dir
                .and_then(|d| Profile::from_dir(d, &spec.profile))
                .or_else(|| Profile::builtin(&spec.profile))
                .ok_or_else(|| format!("unit {}: no profile named {:?}", spec.unit, spec.profile))?
                .map_err(|e| e.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n"))?;
            let meter = Meter::new(spec.unit, profile, seed, start, spec.rated, spec.rollover, spec.holes);
            if meters.insert(spec.unit, (meter, spec.faults.clone())).is_some() {
                return Err(format!("unit {} is given twice", spec.unit));
            }
        }
        Ok(Self { meters, frozen, served: AtomicU64::new(0), refused: AtomicU64::new(0), silent_for_unknown_units: false })
    }

    /// Makes requests for unit ids no meter has go unanswered, as on a serial bus.
    pub fn on_serial_bus(mut self) -> Self {
        self.silent_for_unknown_units = true;
        self
    }

    /// The simulated time now.
    pub fn now(&self) -> DateTime<Utc> {
        self.frozen.unwrap_or_else(Utc::now)
    }

    /// The meter at `unit`.
    pub fn meter(&self, unit: u8) -> Option<&Meter> {
        self.meters.get(&unit).map(|(m, _)| m)
    }

    /// Counts a request of another protocol as answered (`true`) or refused.
    pub(crate) fn count(&self, answered: bool) {
        let counter = if answered { &self.served } else { &self.refused };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Whether any Modbus meter is simulated.
    pub fn has_meters(&self) -> bool {
        !self.meters.is_empty()
    }

    /// Requests answered with registers, and with an exception.
    pub fn counts(&self) -> (u64, u64) {
        (self.served.load(Ordering::Relaxed), self.refused.load(Ordering::Relaxed))
    }

    pub(crate) async fn answer(self: Arc<Self>, req: SlaveRequest<'static>) -> Result<Option<Response>, ExceptionCode> {
        let Some((meter, faults)) = self.meters.get(&req.slave) else {
            if self.silent_for_unknown_units {
                return Ok(None);
            }
            // What a TCP gateway says for a unit id nobody answers to.
            self.refused.fetch_add(1, Ordering::Relaxed);
            return Err(ExceptionCode::GatewayTargetDevice);
        };
        if faults.dead {
            return Ok(None);
        }
        if let Some((delay, share)) = faults.slow {
            if fastrand::f64() < share {
                tokio::time::sleep(delay).await;
            }
        }
        if faults.exception_rate > 0.0 && fastrand::f64() < faults.exception_rate {
            self.refused.fetch_add(1, Ordering::Relaxed);
            return Err(ExceptionCode::ServerDeviceFailure);
        }
        let (function, start, count) = match req.request {
            Request::ReadHoldingRegisters(a, c) => (RegisterFunction::Holding, a, c),
            Request::ReadInputRegisters(a, c) => (RegisterFunction::Input, a, c),
            _ => {
                self.refused.fetch_add(1, Ordering::Relaxed);
                return Err(ExceptionCode::IllegalFunction);
            }
        };
        if count == 0 || count > 125 || u32::from(start) + u32::from(count) > 0x1_0000 {
            self.refused.fetch_add(1, Ordering::Relaxed);
            return Err(ExceptionCode::IllegalDataValue);
        }
        match meter.registers(function, start, count, self.now()) {
            Ok(regs) => {
                self.served.fetch_add(1, Ordering::Relaxed);
                Ok(Some(match function {
                    RegisterFunction::Holding => Response::ReadHoldingRegisters(regs),
                    RegisterFunction::Input => Response::ReadInputRegisters(regs),
                }))
            }
            Err(_) => {
                self.refused.fetch_add(1, Ordering::Relaxed);
                Err(ExceptionCode::IllegalDataAddress)
            }
        }
    }
}

struct SimService(Arc<Simulator>);

impl tokio_modbus::server::Service for SimService {
    type Request = SlaveRequest<'static>;
    type Response = Option<Response>;
    type Exception = ExceptionCode;
    type Future = Pin<Box<dyn Future<Output = Result<Option<Response>, ExceptionCode>> + Send>>;

    fn call(&self, req: Self::Request) -> Self::Future {
        Box::pin(Arc::clone(&self.0).answer(req))
    }
}

/// A TCP stream that, with probability `drop_rate` per incoming read, behaves as if the peer had
/// closed the connection: the server then drops it, as a flaky serial-to-Ethernet gateway does.
struct FlakyStream {
    inner: TcpStream,
    drop_rate: f64,
    dropped: bool,
}

impl AsyncRead for FlakyStream {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        if self.dropped {
            return Poll::Ready(Ok(()));
        }
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before && self.drop_rate > 0.0 && fastrand::f64() < self.drop_rate {
            buf.set_filled(before);
            self.dropped = true;
        }
        polled
    }
}

impl AsyncWrite for FlakyStream {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, data)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// The service and transport of one accepted connection, for either framing.
fn accept(sim: &Arc<Simulator>, stream: TcpStream, drop_rate: f64) -> io::Result<Option<(SimService, FlakyStream)>> {
    let _ = stream.set_nodelay(true);
    Ok(Some((SimService(Arc::clone(sim)), FlakyStream { inner: stream, drop_rate, dropped: false })))
}

/// Serves `sim` as RTU frames over TCP (a serial-to-Ethernet converter in front of RS-485 meters)
/// until the task is dropped.
pub async fn serve_rtu_over_tcp(listener: TcpListener, sim: Arc<Simulator>, drop_rate: f64) -> io::Result<()> {
    let server = tokio_modbus::server::rtu_over_tcp::Server::new(listener);
    let on_connected = |stream: TcpStream, _addr: SocketAddr| std::future::ready(accept(&sim, stream, drop_rate));
    server.serve(&on_connected, |err| tracing::debug!(error = %err, "connection ended")).await
}

/// Serves `sim` on `listener` until the task is dropped; each connection is dropped with
/// probability `drop_rate` per request.
pub async fn serve(listener: TcpListener, sim: Arc<Simulator>, drop_rate: f64) -> io::Result<()> {
    let server = Server::new(listener);
    let on_connected = |stream: TcpStream, _addr: SocketAddr| std::future::ready(accept(&sim, stream, drop_rate));
    server.serve(&on_connected, |err| tracing::debug!(error = %err, "connection ended")).await
}

/// Serves `sim` as RTU on `port` until the task is dropped or the port fails.
///
/// tokio-modbus's RTU server answers on an internal pseudo-terminal pair; a relay between it and
/// the real port passes requests through and flips a bit in the last byte of a share
/// `crc_error_rate` of the answers (their CRC when an answer comes in one piece), so the master
/// sees a frame of the right length with a bad checksum.
pub async fn serve_serial(port: tokio_serial::SerialStream, sim: Arc<Simulator>, crc_error_rate: f64) -> io::Result<()> {
    let (relay_end, server_end) = tokio_serial::SerialStream::pair()?;
    let server = tokio_modbus::server::rtu::Server::new(server_end);
    let serving = server.serve_forever(SimService(sim));

    let (port_rx, port_tx) = tokio::io::split(port);
    let (relay_rx, relay_tx) = tokio::io::split(relay_end);
    let requests = relay(port_rx, relay_tx, 0.0);
    let answers = relay(relay_rx, port_tx, crc_error_rate);
    tokio::select! {
        r = serving => r,
        r = requests => r,
        r = answers => r,
    }
}

/// Copies bytes from `from` to `to` until `from` ends, flipping one bit of the last byte of a
/// share `flip_rate` of the chunks. The flips are spread evenly (every 1/rate-th chunk, by an
/// accumulator), not drawn at random: a test asking for 30 % noise over a few dozen answers gets
/// it, rather than a run of luck that shows none.
async fn relay(mut from: impl AsyncRead + Unpin, mut to: impl AsyncWrite + Unpin, flip_rate: f64) -> io::Result<()> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut buf = [0u8; 512];
    let mut due = 0.0;
    loop {
        let n = from.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        due += flip_rate;
        if due >= 1.0 {
            due -= 1.0;
            buf[n - 1] ^= 1 << fastrand::u8(0..8);
        }
        to.write_all(&buf[..n]).await?;
    }
}
