//! One connection to a Modbus endpoint: a TCP connection (to a meter, a gateway in front of
//! several unit ids, or a serial converter) or a local serial port. Its owner sends one request
//! at a time; every call is bounded by a timeout, and transport trouble drops the connection so
//! the next call starts on a fresh one (tokio-modbus has neither timeouts nor reconnects of its
//! own). Modbus TCP goes through tokio-modbus; RTU frames through [`super::rtu`].

use std::time::Duration;

use readings::Quality;
use tokio::net::TcpStream;
use tokio_modbus::client::Context;
use tokio_modbus::prelude::*;
use tokio_serial::{SerialPort as _, SerialStream};

use super::plan::ReadRequest;
use super::register::RegisterFunction;
use super::rtu::RtuMaster;
use crate::line::port::{ExchangeError, FrameLength};
use crate::line::{open_port, Endpoint, Framing, SerialLine};

/// Why a read returned no registers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    #[error("cannot connect to {endpoint}: {message}")]
    Connect { endpoint: String, message: String },
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("transport error: {0}")]
    Transport(String),
    #[error("Modbus exception {code:#04x} ({name})")]
    Exception { code: u8, name: String },
    #[error("protocol error: {0}")]
    Protocol(String),
    #[error("garbled answer (CRC error): {0}")]
    Crc(String),
    /// An answer from another device than the one asked (two meters answering, an address
    /// set wrong).
    #[error("answer from the wrong device: {0}")]
    Address(String),
}

impl From<ExchangeError> for ReadError {
    fn from(e: ExchangeError) -> Self {
        match e {
            ExchangeError::Timeout(t) => ReadError::Timeout(t),
            ExchangeError::Transport(m) => ReadError::Transport(m),
            stalled @ ExchangeError::Stalled(_) => ReadError::Crc(stalled.to_string()),
        }
    }
}

impl ReadError {
    /// A short, stable reason used as a counter label.
    pub fn reason(&self) -> String {
        match self {
            ReadError::Connect { .. } => "connect".into(),
            ReadError::Timeout(_) => "timeout".into(),
            ReadError::Transport(_) => "transport".into(),
            ReadError::Exception { code, .. } => format!("exception_{code:02x}"),
            ReadError::Protocol(_) => "protocol".into(),
            ReadError::Crc(_) => "crc".into(),
            ReadError::Address(_) => "address".into(),
        }
    }

    /// The quality stored on the reading-less rows of the points this read should have returned.
    pub fn quality(&self) -> Quality {
        match self {
            ReadError::Timeout(_) => Quality::Timeout,
            ReadError::Exception { code: 0x0A | 0x0B, .. } => Quality::CommError,
            ReadError::Exception { .. } => Quality::DeviceException,
            ReadError::Connect { .. } | ReadError::Transport(_) | ReadError::Protocol(_) | ReadError::Crc(_) | ReadError::Address(_) => Quality::CommError,
        }
    }

    /// Whether trying again soon may succeed: transport trouble, or a device or gateway that says
    /// it is busy (0x06) or that the meter behind it does not answer (0x0A, 0x0B). Other
    /// exceptions are the device's final word on that request.
    pub fn is_transient(&self) -> bool {
        match self {
            ReadError::Exception { code, .. } => matches!(code, 0x06 | 0x0A | 0x0B),
            _ => true,
        }
    }

    /// Whether the connection to the endpoint failed (not one device behind it): once the link
    /// answers any device again, this device may answer too.
    pub fn is_link_down(&self) -> bool {
        matches!(self, ReadError::Connect { .. } | ReadError::Transport(_))
    }

    /// Whether retrying within the cycle is worth it: after a dropped connection or a refused
    /// connect, a fresh connection often works at once. A timeout is not retried: on a shared
    /// link the retry would cost every other device on it another timeout, and the next slot
    /// tries again anyway.
    pub fn is_retryable(&self) -> bool {
        self.is_transient() && !matches!(self, ReadError::Timeout(_))
    }

    /// Whether the connection itself is suspect and must be rebuilt. A serial port is reopened
    /// only when the port itself fails: a bus where one meter is silent or noisy is still fine.
    fn breaks_connection(&self, endpoint: &Endpoint) -> bool {
        match endpoint {
            Endpoint::Tcp { .. } => matches!(
                self,
                ReadError::Timeout(_) | ReadError::Transport(_) | ReadError::Protocol(_) | ReadError::Crc(_) | ReadError::Address(_)
            ),
            Endpoint::Serial(_) => matches!(self, ReadError::Transport(_)),
        }
    }

    /// Whether this is the device saying the addresses do not exist.
    pub fn is_illegal_address(&self) -> bool {
        matches!(self, ReadError::Exception { code: 0x02, .. })
    }
}

/// An open connection in the framing its endpoint speaks.
enum Conn {
    Tcp(Context),
    RtuOverTcp(RtuMaster<TcpStream>),
    Serial(RtuMaster<SerialStream>),
}

/// A lazily (re)connected Modbus client.
pub struct Link {
    endpoint: Endpoint,
    conn: Option<Conn>,
}

impl Link {
    /// A link that connects on its first read.
    pub fn new(endpoint: Endpoint) -> Self {
        Self { endpoint, conn: None }
    }

    /// The server's address.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// Reads the registers of `req` from unit `unit`, connecting first if needed.
    pub async fn read(
        &mut self,
        unit: u8,
        req: &ReadRequest,
        timeout: Duration,
        pause_after_connect: Duration,
    ) -> Result<Vec<u16>, ReadError> {
        if self.conn.is_none() {
            self.conn = Some(connect(&self.endpoint, timeout).await?);
            if !pause_after_connect.is_zero() {
                tokio::time::sleep(pause_after_connect).await;
            }
        }
        let Some(conn) = self.conn.as_mut() else {
            return Err(ReadError::Transport("not connected".into()));
        };
        let result = match conn {
            Conn::Tcp(ctx) => read_tcp(ctx, unit, req, timeout).await,
            Conn::RtuOverTcp(master) => master.read(unit, req, timeout).await,
            Conn::Serial(master) => master.read(unit, req, timeout).await,
        };
        if let Err(e) = &result {
            // After a timeout a late answer could still arrive and be taken for the next
            // request's; after a transport or framing error the stream is suspect. Start over.
            if e.breaks_connection(&self.endpoint) {
                self.conn = None;
            }
        }
        result
    }
}

impl Link {
    /// Exchanges a frame of another protocol on this line (DL/T 645, CJ/T 188), between the Modbus
    /// devices' requests: only a serial port or a converter passing raw frames can carry it.
    pub async fn exchange_raw(&mut self, request: &[u8], frame_length: FrameLength, timeout: Duration) -> Result<Vec<u8>, ReadError> {
        if self.conn.is_none() {
            self.conn = Some(connect(&self.endpoint, timeout).await?);
        }
        let result = match self.conn.as_mut() {
            Some(Conn::RtuOverTcp(master)) => master.port().exchange(request, frame_length, timeout).await.map_err(ReadError::from),
            Some(Conn::Serial(master)) => master.port().exchange(request, frame_length, timeout).await.map_err(ReadError::from),
            Some(Conn::Tcp(_)) => Err(ReadError::Protocol(format!("{} speaks Modbus TCP, which cannot carry other protocols' frames; use a raw (rtu_over_tcp) converter", self.endpoint))),
            None => Err(ReadError::Transport("not connected".into())),
        };
        if let Err(e) = &result {
            if e.breaks_connection(&self.endpoint) {
                self.conn = None;
            }
        }
        result
    }
}

/// A fresh connection to `endpoint` (held apart from the link: a link is not `Sync`).
async fn connect(endpoint: &Endpoint, timeout: Duration) -> Result<Conn, ReadError> {
    let name = endpoint.to_string();
    let fail = |message: String| ReadError::Connect {
        endpoint: name.clone(),
        message,
    };
    let (host, port, framing) = match endpoint {
        Endpoint::Serial(line) => return open_serial(line).map(Conn::Serial).map_err(fail),
        Endpoint::Tcp { host, port, framing } => (host, *port, *framing),
    };
    let stream = tokio::time::timeout(timeout, TcpStream::connect((host.as_str(), port)))
        .await
        .map_err(|_| fail(format!("no connection within {timeout:?}")))?
        .map_err(|e| fail(e.to_string()))?;
    // Meters answer small requests; Nagle's delay would only add latency.
    let _ = stream.set_nodelay(true);
    Ok(match framing {
        Framing::Tcp => Conn::Tcp(tcp::attach_slave(stream, Slave(0))),
        // A serial converter passes RTU frames (address, PDU, CRC) through unchanged and
        // keeps the line's timing itself; a stalled frame is given the default byte timeout.
        Framing::RtuOverTcp => Conn::RtuOverTcp(RtuMaster::new(stream, Duration::ZERO, RTU_OVER_TCP_BYTE_TIMEOUT)),
    })
}

/// How long an RTU-over-TCP answer may stall mid-frame; converters forward a frame in one piece,
/// but the network may split it.
const RTU_OVER_TCP_BYTE_TIMEOUT: Duration = Duration::from_millis(500);

/// Opens a serial line with its character format, raw, and drops whatever the port held.
fn open_serial(line: &SerialLine) -> Result<RtuMaster<SerialStream>, String> {
    let port = open_port(&line.path, line.baud, line.parity, line.stop_bits).map_err(|e| format!("cannot open {}: {e}", line.path.display()))?;
    // Bytes from before this process opened the port are not answers to anything it will send.
    let _ = port.clear(tokio_serial::ClearBuffer::All);
    Ok(RtuMaster::new(port, line.frame_silence(), line.byte_timeout))
}

async fn read_tcp(ctx: &mut Context, unit: u8, req: &ReadRequest, timeout: Duration) -> Result<Vec<u16>, ReadError> {
    ctx.set_slave(Slave(unit));
    let call = async {
        match req.function {
            RegisterFunction::Holding => ctx.read_holding_registers(req.start, req.count).await,
            RegisterFunction::Input => ctx.read_input_registers(req.start, req.count).await,
        }
    };
    match tokio::time::timeout(timeout, call).await {
        Err(_) => Err(ReadError::Timeout(timeout)),
        Ok(Err(tokio_modbus::Error::Transport(e))) => Err(ReadError::Transport(e.to_string())),
        Ok(Err(tokio_modbus::Error::Protocol(e))) => Err(ReadError::Protocol(e.to_string())),
        Ok(Ok(Err(code))) => Err(ReadError::Exception {
            code: u8::from(code),
            name: format!("{code:?}"),
        }),
        Ok(Ok(Ok(regs))) if regs.len() != usize::from(req.count) => Err(ReadError::Protocol(format!(
            "asked for {} registers, got {}",
            req.count,
            regs.len()
        ))),
        Ok(Ok(Ok(regs))) => Ok(regs),
    }
}
