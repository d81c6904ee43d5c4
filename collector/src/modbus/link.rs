//! One TCP connection to a Modbus server (a meter or a gateway in front of several unit ids).
//! Its owner sends one request at a time; every call is bounded by a timeout, and any transport
//! trouble drops the connection so the next call starts on a fresh one (tokio-modbus has neither
//! timeouts nor reconnects of its own).

use std::time::Duration;

use readings::Quality;
use tokio::net::TcpStream;
use tokio_modbus::client::Context;
use tokio_modbus::prelude::*;

use super::plan::ReadRequest;
use super::register::RegisterFunction;
use crate::config::{Endpoint, Framing};

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
        }
    }

    /// The quality stored on the reading-less rows of the points this read should have returned.
    pub fn quality(&self) -> Quality {
        match self {
            ReadError::Timeout(_) => Quality::Timeout,
            ReadError::Exception { code: 0x0A | 0x0B, .. } => Quality::CommError,
            ReadError::Exception { .. } => Quality::DeviceException,
            ReadError::Connect { .. } | ReadError::Transport(_) | ReadError::Protocol(_) => Quality::CommError,
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

    /// Whether retrying within the cycle is worth it: after a dropped connection or a refused
    /// connect, a fresh connection often works at once. A timeout is not retried: on a shared
    /// link the retry would cost every other device on it another timeout, and the next slot
    /// tries again anyway.
    pub fn is_retryable(&self) -> bool {
        self.is_transient() && !matches!(self, ReadError::Timeout(_))
    }

    /// Whether the connection itself is suspect and must be rebuilt.
    fn breaks_connection(&self) -> bool {
        matches!(self, ReadError::Timeout(_) | ReadError::Transport(_) | ReadError::Protocol(_))
    }

    /// Whether this is the device saying the addresses do not exist.
    pub fn is_illegal_address(&self) -> bool {
        matches!(self, ReadError::Exception { code: 0x02, .. })
    }
}

/// A lazily (re)connected Modbus TCP client.
pub struct Link {
    endpoint: Endpoint,
    ctx: Option<Context>,
}

impl Link {
    /// A link that connects on its first read.
    pub fn new(endpoint: Endpoint) -> Self {
        Self { endpoint, ctx: None }
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
        if self.ctx.is_none() {
            self.connect(timeout).await?;
            if !pause_after_connect.is_zero() {
                tokio::time::sleep(pause_after_connect).await;
            }
        }
        let Some(ctx) = self.ctx.as_mut() else {
            return Err(ReadError::Transport("not connected".into()));
        };
        ctx.set_slave(Slave(unit));
        let call = async {
            match req.function {
                RegisterFunction::Holding => ctx.read_holding_registers(req.start, req.count).await,
                RegisterFunction::Input => ctx.read_input_registers(req.start, req.count).await,
            }
        };
        let result = match tokio::time::timeout(timeout, call).await {
            Err(_) => Err(ReadError::Timeout(timeout)),
            Ok(Err(tokio_modbus::Error::Transport(e))) => Err(ReadError::Transport(e.to_string())),
            Ok(Err(tokio_modbus::Error::Protocol(e))) => Err(ReadError::Protocol(e.to_string())),
            Ok(Ok(Err(code))) => Err(ReadError::Exception { code: u8::from(code), name: format!("{code:?}") }),
            Ok(Ok(Ok(regs))) if regs.len() != usize::from(req.count) => {
                Err(ReadError::Protocol(format!("asked for {} registers, got {}", req.count, regs.len())))
            }
            Ok(Ok(Ok(regs))) => Ok(regs),
        };
        if let Err(e) = &result {
            // After a timeout a late answer could still arrive and be taken for the next
            // request's; after a transport or framing error the stream is suspect. Start over.
            if e.breaks_connection() {
                self.ctx = None;
            }
        }
        result
    }

    async fn connect(&mut self, timeout: Duration) -> Result<(), ReadError> {
        let endpoint = self.endpoint.to_string();
        let fail = |message: String| ReadError::Connect { endpoint: endpoint.clone(), message };
        let stream = tokio::time::timeout(timeout, TcpStream::connect((self.endpoint.host.as_str(), self.endpoint.port)))
            .await
            .map_err(|_| fail(format!("no connection within {timeout:?}")))?
            .map_err(|e| fail(e.to_string()))?;
        // Meters answer small requests; Nagle's delay would only add latency.
        let _ = stream.set_nodelay(true);
        self.ctx = Some(match self.endpoint.framing {
            Framing::Tcp => tcp::attach_slave(stream, Slave(0)),
            // A serial converter passes RTU frames (address, PDU, CRC) through unchanged.
            Framing::RtuOverTcp => rtu::attach_slave(stream, Slave(0)),
        });
        Ok(())
    }
}
