//! One request at a time over a byte stream (a local serial port, or a TCP connection to a
//! serial-to-Ethernet converter or DTU that passes frames through): the quiet time a line needs
//! before a request, an answer read until its protocol says it is complete, a stall inside an
//! answer ending it, and bytes that arrive while no answer is awaited (a slow meter's late
//! answer, noise) discarded and counted rather than taken for the next answer. Every protocol
//! on a line (Modbus RTU, DL/T 645, CJ/T 188) exchanges its frames through this.

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;

/// Why an exchange brought no complete frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExchangeError {
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("{0}")]
    Transport(String),
    /// Bytes came, then stopped before the frame was complete (noise ate some, or garbled a
    /// length): the line's fault as much as a bad checksum is.
    #[error("the answer stopped after {} bytes: {:02x?}", .0.len(), &.0[..(.0.len().min(8))])]
    Stalled(Vec<u8>),
}

/// How many bytes the frame being received needs in all, given the bytes so far; `None` while
/// that cannot be told yet.
pub type FrameLength = fn(&[u8]) -> Option<usize>;

/// A byte stream owned by one line: one exchange at a time.
pub struct Port<S> {
    stream: S,
    /// Quiet time required before a request (3.5 characters for Modbus RTU; none over TCP).
    silence: Duration,
    /// The longest pause inside an answer before it counts as ended.
    byte_timeout: Duration,
    last_traffic: Instant,
    /// Bytes that arrived while no answer was awaited (late answers, noise), for the logs.
    stray_bytes: u64,
    /// The last exchange timed out: a late answer may still be on its way.
    after_timeout: bool,
    /// The adapter hears its own request (a half-duplex RS-485 adapter without echo
    /// suppression): the request's bytes come back before the answer and are dropped.
    echo: bool,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Port<S> {
    /// A port on `stream`; with `echo`, each request's own bytes are expected back first.
    pub fn new(stream: S, silence: Duration, byte_timeout: Duration, echo: bool) -> Self {
        Self { stream, silence, byte_timeout, last_traffic: Instant::now(), stray_bytes: 0, after_timeout: false, echo }
    }

    /// Bytes discarded so far because they arrived while no answer was awaited.
    pub fn stray_bytes(&self) -> u64 {
        self.stray_bytes
    }

    /// Sends `request` and reads the answer until `frame_length` says it is complete. No answer
    /// at all within `timeout` is a timeout; bytes past the frame are counted as stray. Stream
    /// errors are transport errors, after which the stream should be reopened.
    pub async fn exchange(&mut self, request: &[u8], frame_length: FrameLength, timeout: Duration) -> Result<Vec<u8>, ExchangeError> {
        tokio::time::sleep_until(self.last_traffic + self.silence).await;
        self.discard_stray().await?;
        let transport = |e: std::io::Error| ExchangeError::Transport(e.to_string());
        self.stream.write_all(request).await.map_err(transport)?;
        self.stream.flush().await.map_err(transport)?;
        self.last_traffic = Instant::now();

        let deadline = Instant::now() + timeout;
        let mut frame: Vec<u8> = Vec::with_capacity(64);
        let mut buf = [0u8; 512];
        // Until the echo is through, the bytes are the request's, whose first bytes would make
        // the protocol's length rule end the "answer" early.
        let mut awaiting_echo = self.echo;
        loop {
            if awaiting_echo && frame.len() >= request.len() {
                awaiting_echo = false;
                if frame.starts_with(request) {
                    frame.drain(..request.len());
                } else {
                    tracing::debug!("no echo of the request on a line set to echo; the bytes are taken as the answer");
                }
            }
            if !awaiting_echo && frame_length(&frame).is_some_and(|w| frame.len() >= w) {
                break;
            }
            // Before the first byte the whole timeout applies; inside a frame, a stall longer
            // than byte_timeout ends it (noise may have eaten bytes or garbled the length).
            let until = if frame.is_empty() { deadline } else { deadline.min(Instant::now() + self.byte_timeout) };
            match tokio::time::timeout_at(until, self.stream.read(&mut buf)).await {
                Err(_) if frame.is_empty() => {
                    self.after_timeout = true;
                    return Err(ExchangeError::Timeout(timeout));
                }
                Err(_) => break,
                Ok(Ok(0)) => return Err(ExchangeError::Transport("the stream closed".into())),
                Ok(Ok(n)) => {
                    frame.extend_from_slice(&buf[..n]);
                    self.last_traffic = Instant::now();
                }
                Ok(Err(e)) => return Err(transport(e)),
            }
        }
        match frame_length(&frame) {
            Some(want) if frame.len() >= want && !awaiting_echo => {
                if frame.len() > want {
                    // More than one frame's worth: the tail is noise or a late answer.
                    self.stray_bytes += (frame.len() - want) as u64;
                    frame.truncate(want);
                }
                Ok(frame)
            }
            _ => Err(ExchangeError::Stalled(frame)),
        }
    }

    /// Drops bytes already waiting (a late answer to an earlier request, noise) so that they are
    /// not taken for the next answer. After a timeout it first waits for `byte_timeout` of
    /// silence (at most ten times over on a line that keeps chattering): a slow meter's late
    /// answer then lands here rather than in the next meter's.
    async fn discard_stray(&mut self) -> Result<(), ExchangeError> {
        let mut buf = [0u8; 256];
        let wait = if std::mem::take(&mut self.after_timeout) { self.byte_timeout } else { Duration::ZERO };
        let give_up = Instant::now() + wait * 10;
        loop {
            match tokio::time::timeout(wait, self.stream.read(&mut buf)).await {
                Ok(Ok(0)) => return Err(ExchangeError::Transport("the stream closed".into())),
                Ok(Ok(n)) => {
                    self.stray_bytes += n as u64;
                    tracing::debug!(bytes = n, total = self.stray_bytes, "discarded bytes that arrived while no answer was awaited");
                    if Instant::now() >= give_up {
                        return Ok(());
                    }
                }
                Ok(Err(e)) => return Err(ExchangeError::Transport(e.to_string())),
                Err(_) => return Ok(()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A frame of a made-up protocol: a length byte, then that many bytes.
    fn length_prefixed(got: &[u8]) -> Option<usize> {
        got.first().map(|n| 1 + usize::from(*n))
    }

    /// A half-duplex adapter hears the request before the answer; on a line set to echo the
    /// request's bytes are dropped, whether they come apart from the answer or with it.
    #[tokio::test]
    async fn an_echoing_adapter_hands_over_the_answer_alone() {
        let (ours, mut theirs) = tokio::io::duplex(256);
        let mut port = Port::new(ours, Duration::ZERO, Duration::from_millis(50), true);
        // The request's first byte would make a 3-byte "frame" of the echo itself.
        let request = [2, 0xAA, 0xBB, 0xCC];
        let device = tokio::spawn(async move {
            let mut buf = [0u8; 4];
            theirs.read_exact(&mut buf).await.unwrap();
            theirs.write_all(&buf).await.unwrap();
            tokio::time::sleep(Duration::from_millis(10)).await;
            theirs.write_all(&[1, 0x42]).await.unwrap();
            theirs.read_exact(&mut buf).await.unwrap();
            let mut both = buf.to_vec();
            both.extend_from_slice(&[1, 0x43]);
            theirs.write_all(&both).await.unwrap();
            // Only the echo: the meter is silent.
            theirs.read_exact(&mut buf).await.unwrap();
            theirs.write_all(&buf).await.unwrap();
            theirs
        });
        let timeout = Duration::from_millis(200);
        assert_eq!(port.exchange(&request, length_prefixed, timeout).await, Ok(vec![1, 0x42]));
        assert_eq!(port.exchange(&request, length_prefixed, timeout).await, Ok(vec![1, 0x43]));
        assert_eq!(port.exchange(&request, length_prefixed, timeout).await, Err(ExchangeError::Timeout(timeout)));
        assert_eq!(port.stray_bytes(), 0);
        device.await.unwrap();
    }

    /// A line set to echo whose adapter does not echo after all still reads the answer.
    #[tokio::test]
    async fn a_line_without_the_echo_still_reads_answers() {
        let (ours, mut theirs) = tokio::io::duplex(256);
        let mut port = Port::new(ours, Duration::ZERO, Duration::from_millis(50), true);
        let device = tokio::spawn(async move {
            let mut buf = [0u8; 4];
            theirs.read_exact(&mut buf).await.unwrap();
            theirs.write_all(&[4, 1, 2, 3, 4]).await.unwrap();
            theirs
        });
        let got = port.exchange(&[3, 9, 9, 9], length_prefixed, Duration::from_millis(200)).await;
        assert_eq!(got, Ok(vec![4, 1, 2, 3, 4]));
        device.await.unwrap();
    }
}
