//! One line's connection: a TCP connection (to a meter, a gateway in front of several unit ids,
//! or a serial-to-Ethernet converter or DTU passing raw frames) or a local serial port. Its owner
//! sends one request at a time; every call is bounded by a timeout, and transport trouble drops
//! the connection so the next call starts on a fresh one (tokio-modbus has neither timeouts nor
//! reconnects of its own). Modbus TCP keeps its own framing (tokio-modbus); every other protocol
//! exchanges raw frames through the line's [`Port`].

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_modbus::client::Context;
use tokio_modbus::prelude::*;
use tokio_serial::SerialPort as _;

use super::error::ReadError;
use super::port::{FrameLength, Port};
use super::{open_port, Endpoint, Framing, SerialLine};

/// A byte stream a port can own: a serial port or a TCP connection.
pub trait ByteStream: AsyncRead + AsyncWrite + Unpin + Send {}

impl<T: AsyncRead + AsyncWrite + Unpin + Send> ByteStream for T {}

/// An open connection in the framing its endpoint speaks.
pub enum Conn {
    /// Modbus TCP (MBAP header), through tokio-modbus.
    ModbusTcp(Context),
    /// Raw frames, each protocol its own: a serial port, or a converter passing frames through.
    Frames(Port<Box<dyn ByteStream>>),
}

/// A lazily (re)connected line.
pub struct Link {
    endpoint: Endpoint,
    conn: Option<Conn>,
}

impl Link {
    /// A link that connects on its first exchange.
    pub fn new(endpoint: Endpoint) -> Self {
        Self { endpoint, conn: None }
    }

    /// Where the line goes.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// The open connection, connecting first if needed (and then pausing
    /// `pause_after_connect`: some gateways drop a request sent right after the connect).
    pub async fn connected(&mut self, timeout: Duration, pause_after_connect: Duration) -> Result<&mut Conn, ReadError> {
        if self.conn.is_none() {
            self.conn = Some(connect(&self.endpoint, timeout).await?);
            if !pause_after_connect.is_zero() {
                tokio::time::sleep(pause_after_connect).await;
            }
        }
        self.conn.as_mut().ok_or_else(|| ReadError::Transport("not connected".into()))
    }

    /// Records the outcome of an exchange: after a timeout a late answer could still arrive and
    /// be taken for the next request's, and after a transport or framing error the stream is
    /// suspect, so the connection starts over where the endpoint's kind calls for it.
    pub fn settle<T>(&mut self, result: Result<T, ReadError>) -> Result<T, ReadError> {
        if let Err(e) = &result {
            if e.breaks_connection(&self.endpoint) {
                self.conn = None;
            }
        }
        result
    }

    /// Exchanges one raw frame (Modbus RTU, DL/T 645, CJ/T 188): only a serial port or a
    /// converter passing raw frames can carry it.
    pub async fn exchange(&mut self, request: &[u8], frame_length: FrameLength, timeout: Duration) -> Result<Vec<u8>, ReadError> {
        let result = match self.connected(timeout, Duration::ZERO).await {
            Ok(Conn::Frames(port)) => port.exchange(request, frame_length, timeout).await.map_err(ReadError::from),
            Ok(Conn::ModbusTcp(_)) => Err(ReadError::Protocol(format!(
                "{} speaks Modbus TCP, which cannot carry raw frames; use a raw (rtu_over_tcp) converter",
                self.endpoint
            ))),
            Err(e) => Err(e),
        };
        self.settle(result)
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
        Endpoint::Serial(line) => return open_serial(line).map(Conn::Frames).map_err(fail),
        Endpoint::Tcp { host, port, framing } => (host, *port, *framing),
    };
    let stream = tokio::time::timeout(timeout, TcpStream::connect((host.as_str(), port)))
        .await
        .map_err(|_| fail(format!("no connection within {timeout:?}")))?
        .map_err(|e| fail(e.to_string()))?;
    // Meters answer small requests; Nagle's delay would only add latency.
    let _ = stream.set_nodelay(true);
    Ok(match framing {
        Framing::Tcp => Conn::ModbusTcp(tcp::attach_slave(stream, Slave(0))),
        // A serial converter passes RTU frames (address, PDU, CRC) through unchanged and
        // keeps the line's timing itself; a stalled frame is given the default byte timeout.
        Framing::RtuOverTcp => Conn::Frames(Port::new(Box::new(stream), Duration::ZERO, RTU_OVER_TCP_BYTE_TIMEOUT, false)),
    })
}

/// How long a raw answer over TCP may stall mid-frame; converters forward a frame in one piece,
/// but the network may split it.
const RTU_OVER_TCP_BYTE_TIMEOUT: Duration = Duration::from_millis(500);

/// Opens a serial line with its character format, raw, and drops whatever the port held.
fn open_serial(line: &SerialLine) -> Result<Port<Box<dyn ByteStream>>, String> {
    let port = open_port(&line.path, line.baud, line.parity, line.stop_bits).map_err(|e| format!("cannot open {}: {e}", line.path.display()))?;
    // Bytes from before this process opened the port are not answers to anything it will send.
    let _ = port.clear(tokio_serial::ClearBuffer::All);
    Ok(Port::new(Box::new(port), line.frame_silence(), line.byte_timeout, line.echo))
}
