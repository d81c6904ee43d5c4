//! DL/T 645-2007 and -1997: the Chinese electricity meter protocol on RS-485 (docs/dlt645.md).
//!
//! [`codec`], [`value`] and [`items`] are pure functions from requests to bytes and from bytes
//! to answers and values, with no I/O; [`profile`] and [`device`] are the config; [`master`] and
//! [`poller`] drive a meter through the line's link ([`crate::poll::meter`]), which sends,
//! times and reads.
//!
//! Supported:
//! - addresses as printed on the nameplate (12 digits, most significant first) and their wire
//!   order (low byte first); leading wildcard digits (AAAA12345678, AAAAAAAAAAAA) and the
//!   broadcast address 999999999999 ([`codec::MeterAddress`]);
//! - requests: 2007 read data (11H), read follow-up (12H, with a frame sequence number), read
//!   address (13H, to AAAAAAAAAAAA), broadcast time (08H, built but not sent by default); 1997
//!   read data (01H) ([`codec::Request`]);
//! - answers: wake-up bytes and garbage before the frame counted apart, every framing fault a
//!   typed error ([`codec::FrameError`]), the checks that the answer is one (D7), from the meter
//!   asked, for the function and item asked, exception answers (D6) with the 2007 error word's
//!   bits named, the more-frames-follow flag (D5) ([`codec::decode_answer`]); how many bytes
//!   make a complete frame from what has arrived ([`codec::frame_len`]);
//! - values: BCD numbers in a [`value::Format`] (`XXXXXX.XX`, `XXX.X`, `XXX.XXX` signed, ...)
//!   as exact decimals (an i64 mantissa and its decimals) and as the nearest double; no-value
//!   (FFH) and non-BCD bytes as errors; block reads (total and tariffs) item by item; the date
//!   and time formats YYMMDDWW, hhmmss, YYMMDDhhmmss, YYMMDDhhmm and DDhh;
//! - the items with sourced layouts ([`items::item`]): energy totals now and at the last 12
//!   settlement days, voltages, currents, powers, power factors, frequency;
//! - wire time of an exchange at a baud rate (11 bits a character) and the standard's meter
//!   timing bounds ([`codec::exchange_time`], [`codec::MIN_TURNAROUND`]).
//!
//! Not supported: writes (14H), address writes, freezing, password and baud-rate changes,
//! clearing (the collector only reads); 1997 follow-up reads (02H) and 1997 error bit names
//! (not sourced independently); event, load-profile (DI3 = 06) and frozen-data records
//! (DI3 = 05) beyond their time stamp format, whose layouts were not sourced from a named
//! reference; tariff registers in [`items`]; Q/CSG and State Grid extensions.
//!
//! What the line owner must know:
//! - send up to four FEH wake-up bytes before a request (battery and infrared meters need them;
//!   they are not summed); meters answer with none to four of their own;
//! - a meter answers after 20 to 500 ms and may pause up to 500 ms between bytes (DL/T 645-2007
//!   5.3.3 as quoted in public implementations): wait at least 500 ms plus the wire time, and
//!   end a frame only after [`codec::frame_len`] bytes or a 500 ms gap;
//! - an infrared head or a half-duplex adapter may echo the request: the line drops it when
//!   set to (`echo`); otherwise it decodes as [`codec::AnswerError::NotAnAnswer`];
//! - read address (13H) only on a line with one meter; broadcast time has no answer;
//! - an answer flagged D5 continues in frames read with follow-up requests, `seq` 1, 2, ...
//!   until one comes without the flag; its data concatenate in order;
//! - exception "no data requested" means the meter lacks the item: retrying will not help.

pub mod codec;
pub mod items;
pub mod value;

// The meter poller's modules (config, profiles, polling), written alongside this codec.
pub mod backfill;
pub mod device;
pub mod master;
pub mod poller;
pub mod profile;
