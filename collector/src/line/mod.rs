//! A field line: a local serial port (an RS-485 bus or an RS-232 link) or a TCP address (a
//! meter, a gateway or a serial-to-Ethernet converter), with the character format and timing
//! every protocol on it shares. Devices on one line take turns on it.

pub mod error;
pub mod link;
pub mod port;

use std::path::PathBuf;

use serde::Deserialize;
use tokio_serial::{SerialPortBuilderExt as _, SerialStream};

/// How frames travel over a TCP connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Framing {
    /// Modbus TCP (MBAP header).
    #[default]
    Tcp,
    /// Raw RTU frames (with CRC) through a serial-to-Ethernet converter.
    RtuOverTcp,
}

/// Parity of a serial line. The Modbus serial-line specification makes even parity the default;
/// many meters ship with none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Parity {
    None,
    #[default]
    Even,
    Odd,
}

/// A validated serial line (RS-485 bus or RS-232 link) and its character format. RTU frames
/// always carry 8 data bits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SerialLine {
    pub name: String,
    pub path: PathBuf,
    pub baud: u32,
    pub parity: Parity,
    pub stop_bits: u8,
    /// The longest pause inside one answer before the frame is taken as ended.
    pub byte_timeout: std::time::Duration,
    /// The adapter hears its own requests (half-duplex RS-485 without echo suppression).
    pub echo: bool,
}

impl SerialLine {
    /// Bits on the wire per character: start, 8 data, parity, stop.
    pub fn bits_per_char(&self) -> u32 {
        1 + 8 + u32::from(self.parity != Parity::None) + u32::from(self.stop_bits)
    }

    /// Time one character takes on the wire.
    pub fn char_time(&self) -> std::time::Duration {
        std::time::Duration::from_nanos(u64::from(self.bits_per_char()) * 1_000_000_000 / u64::from(self.baud.max(1)))
    }

    /// The silence that must separate two frames: 3.5 character times, or 1.75 ms above
    /// 19200 baud, where the specification fixes it so that UARTs need not time it so finely.
    pub fn frame_silence(&self) -> std::time::Duration {
        if self.baud > 19_200 {
            std::time::Duration::from_micros(1750)
        } else {
            self.char_time() * 7 / 2
        }
    }
}

/// Where a device is reached, and the framing it speaks. Devices with the same endpoint
/// share one connection (or one serial port) and take turns on it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Endpoint {
    /// A TCP address: a meter, a gateway or a serial-to-Ethernet converter.
    Tcp { host: String, port: u16, framing: Framing },
    /// A local serial port.
    Serial(SerialLine),
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Endpoint::Tcp { host, port, framing } => {
                write!(f, "{host}:{port}")?;
                if *framing == Framing::RtuOverTcp {
                    f.write_str(" (RTU over TCP)")?;
                }
                Ok(())
            }
            Endpoint::Serial(line) => {
                let parity = match line.parity {
                    Parity::None => 'N',
                    Parity::Even => 'E',
                    Parity::Odd => 'O',
                };
                write!(f, "{} ({} {} 8{parity}{})", line.path.display(), line.name, line.baud, line.stop_bits)
            }
        }
    }
}

/// Opens a serial port raw with RTU's character format: 8 data bits, `parity`, `stop_bits` (1 or
/// 2), no flow control. Shared with meter-sim, which serves the other end.
pub fn open_port(path: &std::path::Path, baud: u32, parity: Parity, stop_bits: u8) -> tokio_serial::Result<SerialStream> {
    let parity = match parity {
        Parity::None => tokio_serial::Parity::None,
        Parity::Even => tokio_serial::Parity::Even,
        Parity::Odd => tokio_serial::Parity::Odd,
    };
    let stop_bits = if stop_bits == 2 { tokio_serial::StopBits::Two } else { tokio_serial::StopBits::One };
    tokio_serial::new(path.to_string_lossy(), baud)
        .data_bits(tokio_serial::DataBits::Eight)
        .parity(parity)
        .stop_bits(stop_bits)
        .flow_control(tokio_serial::FlowControl::None)
        .open_native_async()
}
