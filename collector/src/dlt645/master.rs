//! The collector's side of one DL/T 645 exchange: the read request for an item, when the answer
//! on the line is complete, and the item's value from it, every failure as a [`ReadError`]
//! counted by its reason (checksum, address, exception, ...) like Modbus's.

use super::codec::{decode_answer, frame_len, AnswerError, DataId, DataId1997, Edition, FrameError, MeterAddress, Request};
use super::profile::Item;
use super::value::ValueError;
use crate::line::error::ReadError;

/// The read request for `item` of the meter at `address`, in the item's edition.
pub fn request(address: &MeterAddress, item: &Item) -> Request {
    match item.edition {
        Edition::V2007 => Request::Read { address: *address, id: DataId(item.di) },
        Edition::V1997 => Request::Read1997 { address: *address, id: DataId1997(item.di as u16) },
    }
}

/// The bytes of `request` (the preamble is checked when the config is read, so this holds).
pub fn encode(request: &Request, preamble: u8) -> Vec<u8> {
    request.encode(preamble.min(super::codec::MAX_PREAMBLE)).unwrap_or_default()
}

/// How many bytes make the complete answer, given the bytes so far (garbage and wake-up bytes
/// before it included).
pub fn frame_length(bytes: &[u8]) -> Option<usize> {
    frame_len(bytes)
}

/// The value of `item` in `frame`, the answer to `request`, in the item's unit, and how many
/// bytes before the frame were neither the frame nor its wake-up bytes (line noise, counted
/// apart from checksum errors).
pub fn value(frame: &[u8], request: &Request, item: &Item) -> Result<(f64, usize), ReadError> {
    let answer = decode_answer(frame, request).map_err(read_error)?;
    let value = item.format.decode(&answer.data).map_err(|e| match e {
        ValueError::NoValue { .. } => ReadError::Exception { code: 0, name: e.to_string() },
        other => ReadError::Protocol(other.to_string()),
    })?;
    Ok((value.to_f64(), answer.garbage))
}

/// A DL/T 645 answer's fault as a read error, counted by its reason.
pub fn read_error(e: AnswerError) -> ReadError {
    match e {
        AnswerError::Frame(FrameError::Checksum { .. } | FrameError::End { .. } | FrameError::SecondStart { .. } | FrameError::Truncated { .. } | FrameError::TooShort { .. }) => {
            ReadError::Crc(e.to_string())
        }
        AnswerError::WrongAddress { .. } | AnswerError::AnswerAddress(_) => ReadError::Address(e.to_string()),
        AnswerError::Exception(word) => ReadError::Exception { code: word.byte, name: word.to_string() },
        other => ReadError::Protocol(other.to_string()),
    }
}
