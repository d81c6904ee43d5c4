//! Why an exchange on a line failed, and what that means for the reading, the back-off and the
//! connection: one error type for every protocol on a line, so that each counts and recovers
//! from faults the same way.

use std::time::Duration;

use readings::Quality;

use super::port::ExchangeError;
use super::Endpoint;

/// Why an exchange on a line brought no usable answer, in any protocol on it. Exception codes are
/// the protocol's own (Modbus exception codes, the DL/T 645 error word, the CJ/T 188 control code).
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
    pub(crate) fn breaks_connection(&self, endpoint: &Endpoint) -> bool {
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
