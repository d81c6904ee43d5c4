//! Modbus RTU frames, read one at a time through the line's port
//! ([`crate::line::port`]): a local serial port, or a TCP connection to a serial-to-Ethernet
//! converter that passes frames through.
//!
//! tokio-modbus's RTU client treats a frame with a bad CRC by dropping bytes and waiting for a
//! better one, so line noise costs the whole timeout and looks like silence. A gateway on an
//! RS-485 bus must tell the two apart (noise is a wiring or termination fault; silence is a dead
//! or misaddressed meter), so this module frames requests and checks answers itself: it knows
//! the exact length of the answer it waits for, ends a frame that stalls after `byte_timeout`,
//! and reports a CRC mismatch as such.

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};

use crate::line::error::ReadError;
use crate::line::port::Port;
use crate::line::SerialLine;
use super::plan::ReadRequest;
use super::register::RegisterFunction;

/// The Modbus CRC-16 (polynomial 0xA001 reflected, initial 0xFFFF) of `bytes`.
pub fn crc16(bytes: &[u8]) -> u16 {
    let mut crc: u16 = 0xFFFF;
    for &b in bytes {
        crc ^= u16::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0xA001 } else { crc >> 1 };
        }
    }
    crc
}

/// The request frame: address, function, start, count, CRC (low byte first, unlike the rest).
pub fn request_frame(unit: u8, req: &ReadRequest) -> [u8; 8] {
    let function = match req.function {
        RegisterFunction::Holding => 0x03,
        RegisterFunction::Input => 0x04,
    };
    let [sh, sl] = req.start.to_be_bytes();
    let [ch, cl] = req.count.to_be_bytes();
    let mut frame = [unit, function, sh, sl, ch, cl, 0, 0];
    let [lo, hi] = crc16(&frame[..6]).to_le_bytes();
    frame[6] = lo;
    frame[7] = hi;
    frame
}

/// Time a read of `count` registers occupies the line: the 8-byte request and the
/// `5 + 2 * count`-byte answer, each followed by the frame silence. The meter's own delay before
/// it answers comes on top.
pub fn exchange_time(line: &SerialLine, count: u16) -> Duration {
    line.char_time() * (13 + 2 * u32::from(count)) + line.frame_silence() * 2
}

/// How many bytes the answer to `frame` has, given its first `got` bytes: `None` until the
/// function byte (or, for a normal answer, the byte count) has arrived.
fn expected_len(got: &[u8]) -> Option<usize> {
    match got {
        [_, f, ..] if f & 0x80 != 0 => Some(5),
        [_, _, n, ..] => Some(5 + usize::from(*n)),
        _ => None,
    }
}

/// Checks a complete answer `frame` to `request` and returns its registers.
pub fn parse_answer(request: &[u8; 8], count: u16, frame: &[u8]) -> Result<Vec<u16>, ReadError> {
    let n = frame.len();
    if n < 5 {
        return Err(ReadError::Protocol(format!("a {n}-byte answer is too short for a frame")));
    }
    let (body, crc) = frame.split_at(n - 2);
    let got = u16::from_le_bytes([crc[0], crc[1]]);
    let want = crc16(body);
    if got != want {
        return Err(ReadError::Crc(format!("{n}-byte answer carries CRC {got:#06x}, its bytes give {want:#06x}")));
    }
    if frame[0] != request[0] {
        return Err(ReadError::Protocol(format!("answer from unit {} to a request for unit {}", frame[0], request[0])));
    }
    if frame[1] == request[1] | 0x80 {
        let code = frame[2];
        return Err(ReadError::Exception { code, name: exception_name(code).into() });
    }
    if frame[1] != request[1] {
        return Err(ReadError::Protocol(format!("answer with function {:#04x} to function {:#04x}", frame[1], request[1])));
    }
    let bytes = &body[3..];
    if frame[2] as usize != bytes.len() || bytes.len() != 2 * usize::from(count) {
        return Err(ReadError::Protocol(format!("asked for {count} registers, the answer holds {} bytes", bytes.len())));
    }
    Ok(bytes.chunks_exact(2).map(|w| u16::from_be_bytes([w[0], w[1]])).collect())
}

fn exception_name(code: u8) -> &'static str {
    match code {
        0x01 => "IllegalFunction",
        0x02 => "IllegalDataAddress",
        0x03 => "IllegalDataValue",
        0x04 => "ServerDeviceFailure",
        0x05 => "Acknowledge",
        0x06 => "ServerDeviceBusy",
        0x08 => "MemoryParityError",
        0x0A => "GatewayPathUnavailable",
        0x0B => "GatewayTargetDevice",
        _ => "Unknown",
    }
}

/// Reads `req` from `unit` over `port`; no answer at all within `timeout` is a timeout,
/// anything else that is not the expected answer says what it was. Stream errors are transport
/// errors, after which the stream should be reopened.
pub async fn read<S: AsyncRead + AsyncWrite + Unpin>(port: &mut Port<S>, unit: u8, req: &ReadRequest, timeout: Duration) -> Result<Vec<u16>, ReadError> {
    let request = request_frame(unit, req);
    let frame = port.exchange(&request, expected_len, timeout).await?;
    parse_answer(&request, req.count, &frame)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[test]
    fn request_frames_match_the_specification_example() {
        // Modbus over serial line V1.02 style example: unit 1, read holding 0x006B..+3.
        let f = request_frame(0x11, &ReadRequest::single(RegisterFunction::Holding, 0x006B, 3));
        assert_eq!(f, [0x11, 0x03, 0x00, 0x6B, 0x00, 0x03, 0x76, 0x87]);
        let f = request_frame(1, &ReadRequest::single(RegisterFunction::Input, 0, 2));
        assert_eq!(f, [0x01, 0x04, 0x00, 0x00, 0x00, 0x02, 0x71, 0xCB]);
    }

    fn answer(unit: u8, function: u8, regs: &[u16]) -> Vec<u8> {
        let mut f = vec![unit, function, (regs.len() * 2) as u8];
        for r in regs {
            f.extend_from_slice(&r.to_be_bytes());
        }
        let crc = crc16(&f).to_le_bytes();
        f.extend_from_slice(&crc);
        f
    }

    #[test]
    fn answers_are_checked() {
        let request = request_frame(7, &ReadRequest::single(RegisterFunction::Holding, 100, 2));
        assert_eq!(parse_answer(&request, 2, &answer(7, 3, &[0x1234, 0xABCD])), Ok(vec![0x1234, 0xABCD]));

        let mut noisy = answer(7, 3, &[0x1234, 0xABCD]);
        noisy[4] ^= 0x10;
        assert!(matches!(parse_answer(&request, 2, &noisy), Err(ReadError::Crc(_))));

        assert!(matches!(parse_answer(&request, 2, &answer(8, 3, &[1, 2])), Err(ReadError::Protocol(m)) if m.contains("unit 8")));
        assert!(matches!(parse_answer(&request, 2, &answer(7, 3, &[1])), Err(ReadError::Protocol(_))));

        let mut exception = vec![7, 0x83, 0x02];
        let crc = crc16(&exception).to_le_bytes();
        exception.extend_from_slice(&crc);
        assert_eq!(parse_answer(&request, 2, &exception), Err(ReadError::Exception { code: 2, name: "IllegalDataAddress".into() }));
    }

    #[test]
    fn exchange_times_follow_the_baud_rate() {
        let line = |baud| SerialLine { name: "l".into(), path: "/dev/null".into(), baud, parity: crate::line::Parity::Even, stop_bits: 1, byte_timeout: Duration::from_millis(100), echo: false };
        // 9600 8E1: 11 bits a character; 17 bytes and twice 3.5 characters of silence make 24
        // characters, 27.5 ms.
        let slow = exchange_time(&line(9600), 2);
        assert!(slow.abs_diff(Duration::from_micros(27_500)) < Duration::from_micros(1), "{slow:?}");
        // Above 19200 baud the silence is fixed at 1.75 ms.
        assert_eq!(line(115_200).frame_silence(), Duration::from_micros(1750));
        assert!(exchange_time(&line(115_200), 2) < slow / 5);
    }

    #[test]
    fn answer_lengths_follow_the_first_bytes() {
        assert_eq!(expected_len(&[1]), None);
        assert_eq!(expected_len(&[1, 0x83]), Some(5));
        assert_eq!(expected_len(&[1, 3]), None);
        assert_eq!(expected_len(&[1, 3, 4]), Some(9));
    }

    /// Over an in-memory duplex: a clean answer, a garbled one (CRC), silence (timeout), and a
    /// late answer that arrives before the next request and is discarded.
    #[tokio::test]
    async fn a_master_tells_noise_from_silence() {
        let (ours, mut theirs) = tokio::io::duplex(1024);
        let mut port = Port::new(ours, Duration::from_millis(2), Duration::from_millis(50), false);
        let r = ReadRequest::single(RegisterFunction::Holding, 0, 1);
        let device = tokio::spawn(async move {
            let mut buf = [0u8; 8];
            // 1: clean.
            theirs.read_exact(&mut buf).await.unwrap();
            theirs.write_all(&answer(1, 3, &[42])).await.unwrap();
            // 2: a bit flipped in the data.
            theirs.read_exact(&mut buf).await.unwrap();
            let mut a = answer(1, 3, &[42]);
            a[3] ^= 1;
            theirs.write_all(&a).await.unwrap();
            // 3: silence, then the late answer.
            theirs.read_exact(&mut buf).await.unwrap();
            tokio::time::sleep(Duration::from_millis(120)).await;
            theirs.write_all(&answer(1, 3, &[43])).await.unwrap();
            // 4: clean again.
            theirs.read_exact(&mut buf).await.unwrap();
            theirs.write_all(&answer(1, 3, &[44])).await.unwrap();
            theirs
        });
        assert_eq!(read(&mut port, 1, &r, Duration::from_millis(100)).await, Ok(vec![42]));
        assert!(matches!(read(&mut port, 1, &r, Duration::from_millis(100)).await, Err(ReadError::Crc(_))));
        assert_eq!(read(&mut port, 1, &r, Duration::from_millis(100)).await, Err(ReadError::Timeout(Duration::from_millis(100))));
        // The next read starts at once; the late answer (20 ms later) arrives during the 50 ms
        // of silence the master waits for, and is not taken for this read's answer.
        assert_eq!(read(&mut port, 1, &r, Duration::from_millis(100)).await, Ok(vec![44]));
        assert_eq!(port.stray_bytes(), 7);
        device.await.unwrap();
    }
}
