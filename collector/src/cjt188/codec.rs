//! CJ/T 188 framing: meter types, addresses, data identifiers, request frames, the checks an
//! answer must pass, and how long an exchange occupies the line. Pure functions, no I/O.
//!
//! A frame on the wire:
//!
//! ```text
//! FE.. 68 T A0 A1 A2 A3 A4 A5 A6 C L DATA(L bytes) CS 16
//! ```
//!
//! `FE..` is 0 to 4 wake-up bytes, `T` the meter type, `A0..A6` the address low byte first, `C` the
//! control code, `L` the data length, `CS` the sum of the bytes from `68` through the last data
//! byte, mod 256. Reads carry `DI SER` as data: the 2-byte data identifier and a serial number the
//! meter echoes.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use super::data::{Status, TimeOrder, UnitPosition};
use crate::line::SerialLine;

/// The wake-up byte that may precede a frame.
pub const PREAMBLE_BYTE: u8 = 0xFE;
/// The start byte.
pub const START: u8 = 0x68;
/// The end byte.
pub const END: u8 = 0x16;
/// The most wake-up bytes a master sends ("0~4 个 FE" in vendors' CJ/T 188 manuals).
pub const MAX_PREAMBLE: u8 = 4;
/// Bytes of a frame besides its data and preamble: 68, T, 7 address bytes, C, L, CS, 16.
pub const OVERHEAD: usize = 13;
/// Bytes of `DI SER` at the head of every read request and answer.
pub const DI_SER_LEN: usize = 3;

/// Control codes (the C byte). D7 is the direction (1: the meter answers), D6 marks an abnormal
/// answer, D5 says more frames follow, D4..D0 are the function.
pub mod control {
    /// Read data (a `DI`), answered by 81H.
    pub const READ_DATA: u8 = 0x01;
    /// Read the address (DI 810AH), answered by 83H; used on a one-meter line with the wildcard.
    pub const READ_ADDRESS: u8 = 0x03;
    /// D7: the frame goes from the meter to the master.
    pub const ANSWER: u8 = 0x80;
    /// D6: the meter could not do what was asked (C1H for a read).
    pub const ABNORMAL: u8 = 0x40;
    /// D5: more frames follow (not used by the reads supported here).
    pub const FOLLOW_UP: u8 = 0x20;
}

/// The meter type byte T.
///
/// Codes 10H–13H, 20H, 21H, 30H and 40H are the table CJ/T 188-2004 examples reproduce (40H is
/// "电度表", electricity, there; one 2018 driver's table calls 40H–49H user-defined). 22H
/// (heat and cooling) is from that driver's CJ/T 188-2018 table. AAH is the wildcard type masters
/// send with the wildcard address to read the address of the only meter on a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MeterType {
    /// 10H cold water.
    ColdWater,
    /// 11H domestic hot water.
    HotWater,
    /// 12H drinking (direct-drinking) water.
    DrinkingWater,
    /// 13H reclaimed water (中水).
    ReclaimedWater,
    /// 20H heat meter counting heat.
    Heat,
    /// 21H heat meter counting cooling.
    Cooling,
    /// 22H heat meter counting heat and cooling (CJ/T 188-2018).
    HeatAndCooling,
    /// 30H gas.
    Gas,
    /// 40H electricity.
    Electricity,
    /// AAH: any type (requests only).
    Any,
}

impl MeterType {
    /// Every type, in code order.
    pub const ALL: &'static [MeterType] = &[
        MeterType::ColdWater,
        MeterType::HotWater,
        MeterType::DrinkingWater,
        MeterType::ReclaimedWater,
        MeterType::Heat,
        MeterType::Cooling,
        MeterType::HeatAndCooling,
        MeterType::Gas,
        MeterType::Electricity,
        MeterType::Any,
    ];

    /// The T byte.
    pub fn code(self) -> u8 {
        match self {
            MeterType::ColdWater => 0x10,
            MeterType::HotWater => 0x11,
            MeterType::DrinkingWater => 0x12,
            MeterType::ReclaimedWater => 0x13,
            MeterType::Heat => 0x20,
            MeterType::Cooling => 0x21,
            MeterType::HeatAndCooling => 0x22,
            MeterType::Gas => 0x30,
            MeterType::Electricity => 0x40,
            MeterType::Any => 0xAA,
        }
    }

    /// The type of a T byte, if it is one of the codes above.
    pub fn from_code(code: u8) -> Option<MeterType> {
        MeterType::ALL.iter().copied().find(|t| t.code() == code)
    }

    /// Whether DI 901FH answers with the water/gas layout (volumes).
    pub fn is_volume_meter(self) -> bool {
        matches!(self, MeterType::ColdWater | MeterType::HotWater | MeterType::DrinkingWater | MeterType::ReclaimedWater | MeterType::Gas)
    }

    /// Whether DI 901FH answers with the heat meter layout.
    pub fn is_heat_meter(self) -> bool {
        matches!(self, MeterType::Heat | MeterType::Cooling | MeterType::HeatAndCooling)
    }

    /// The medium the meter measures, where the type says it. Gas is `None`: town gas, natural
    /// gas and LPG meters all answer 30H, so the meter's config must say which.
    pub fn medium(self) -> Option<readings::Medium> {
        match self {
            MeterType::ColdWater | MeterType::HotWater | MeterType::DrinkingWater | MeterType::ReclaimedWater => Some(readings::Medium::Water),
            MeterType::Heat | MeterType::Cooling | MeterType::HeatAndCooling => Some(readings::Medium::Heat),
            MeterType::Electricity => Some(readings::Medium::Electricity),
            MeterType::Gas | MeterType::Any => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            MeterType::ColdWater => "cold water",
            MeterType::HotWater => "hot water",
            MeterType::DrinkingWater => "drinking water",
            MeterType::ReclaimedWater => "reclaimed water",
            MeterType::Heat => "heat",
            MeterType::Cooling => "cooling",
            MeterType::HeatAndCooling => "heat and cooling",
            MeterType::Gas => "gas",
            MeterType::Electricity => "electricity",
            MeterType::Any => "any type",
        }
    }
}

impl fmt::Display for MeterType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02X}H ({})", self.code(), self.name())
    }
}

/// Why a nameplate address was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    #[error("a CJ/T 188 address has 14 digits, {0:?} has {1}")]
    Length(String, usize),
    #[error("a CJ/T 188 address is written in hex digits (BCD digits as a rule, AA for the wildcard); {0:?} has {1:?}")]
    Digit(String, char),
}

/// The 7-byte address, kept in wire order (A0 first).
///
/// The nameplate writes it as 14 digits, most significant first (A6 .. A0); the wire sends A0
/// first. Addresses are BCD as a rule, but some vendors put non-BCD bytes in them (a 2018 driver's
/// example address is `00000000EE0001`), so any hex digits are taken. All AAH is the wildcard.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Address([u8; 7]);

impl Address {
    /// AAAAAAAAAAAAAA: every meter answers it, so it is only for a line with one meter.
    pub const WILDCARD: Address = Address([0xAA; 7]);

    /// The address whose wire bytes are `wire` (A0 first).
    pub fn from_wire(wire: [u8; 7]) -> Address {
        Address(wire)
    }

    /// The wire bytes, A0 first.
    pub fn wire(self) -> [u8; 7] {
        self.0
    }

    /// Parses a nameplate address: 14 hex digits, most significant first.
    pub fn from_nameplate(s: &str) -> Result<Address, AddressError> {
        let digits: Vec<char> = s.trim().chars().collect();
        if digits.len() != 14 {
            return Err(AddressError::Length(s.to_owned(), digits.len()));
        }
        let mut wire = [0u8; 7];
        for (i, pair) in digits.chunks_exact(2).enumerate() {
            let mut byte = 0u8;
            for &c in pair {
                let nibble = c.to_digit(16).ok_or_else(|| AddressError::Digit(s.to_owned(), c))?;
                byte = (byte << 4) | nibble as u8;
            }
            // The first pair is A6, the most significant byte, which goes last on the wire.
            wire[6 - i] = byte;
        }
        Ok(Address(wire))
    }

    /// Whether this is the wildcard address.
    pub fn is_wildcard(self) -> bool {
        self == Address::WILDCARD
    }
}

impl FromStr for Address {
    type Err = AddressError;
    fn from_str(s: &str) -> Result<Address, AddressError> {
        Address::from_nameplate(s)
    }
}

impl fmt::Display for Address {
    /// The nameplate form: 14 digits, A6 first.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0.iter().rev() {
            write!(f, "{b:02X}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Address({self})")
    }
}

/// Which byte of a data identifier goes first on the wire.
///
/// Public sources disagree, within CJ/T 188-2004 already: one vendor's example and several
/// masters send 901FH as `1F 90`, other vendors' meters (and a meter firmware that copies a
/// big-endian word) take `90 1F`; one 2018 driver ties `90 1F` to 2004 and `1F 90` to 2018. The
/// same master may even send 810AH as `81 0A` and 901FH as `1F 90`. So the order of a request is
/// the meter's setting, and an answer is accepted in either order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum DiOrder {
    /// Low byte first: 901FH is sent `1F 90` (DI0 DI1).
    #[default]
    LowFirst,
    /// High byte first: 901FH is sent `90 1F`.
    HighFirst,
}

/// A data identifier, as written in the standard's tables (901FH).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Di(pub u16);

impl Di {
    /// 901FH: the meter data (cumulative values, time, status).
    pub const READ_DATA: Di = Di(0x901F);
    /// 810AH: the meter's address (with control 03H).
    pub const READ_ADDRESS: Di = Di(0x810A);

    /// The two wire bytes in `order`.
    pub fn to_wire(self, order: DiOrder) -> [u8; 2] {
        match order {
            DiOrder::LowFirst => self.0.to_le_bytes(),
            DiOrder::HighFirst => self.0.to_be_bytes(),
        }
    }

    /// The order in which `wire` carries this identifier, if it carries it at all.
    pub fn order_of(self, wire: [u8; 2]) -> Option<DiOrder> {
        if wire == self.to_wire(DiOrder::LowFirst) {
            Some(DiOrder::LowFirst)
        } else if wire == self.to_wire(DiOrder::HighFirst) {
            Some(DiOrder::HighFirst)
        } else {
            None
        }
    }
}

impl fmt::Display for Di {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04X}H", self.0)
    }
}

/// Why a frame could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    #[error("a CJ/T 188 preamble has at most {MAX_PREAMBLE} FEH bytes, not {0}")]
    Preamble(u8),
    #[error("a CJ/T 188 frame carries at most 255 data bytes, not {0}")]
    DataTooLong(usize),
}

/// The number of FEH wake-up bytes sent before a request, 0 to 4.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Preamble(u8);

impl Preamble {
    /// No wake-up bytes.
    pub const NONE: Preamble = Preamble(0);
    /// Four wake-up bytes: what battery meters are usually given.
    pub const FULL: Preamble = Preamble(MAX_PREAMBLE);

    /// `count` wake-up bytes, if that is 0 to 4.
    pub fn new(count: u8) -> Result<Preamble, EncodeError> {
        if count <= MAX_PREAMBLE {
            Ok(Preamble(count))
        } else {
            Err(EncodeError::Preamble(count))
        }
    }

    /// The number of bytes.
    pub fn len(self) -> usize {
        usize::from(self.0)
    }

    /// Whether no byte is sent.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
}

/// What a meter's firmware does where vendors differ; `STANDARD` is what most public examples
/// show. The poller keeps one per meter (model).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Dialect {
    /// Wake-up bytes before each request.
    pub preamble: Preamble,
    /// The byte order of the DI in requests (answers are accepted in either order).
    pub di_order: DiOrder,
    /// The byte order of the 7-byte real time in 901FH answers.
    pub time_order: TimeOrder,
    /// Whether the unit code follows or precedes each value in 901FH answers.
    pub unit_position: UnitPosition,
}

impl Dialect {
    /// Four FEH, DI low byte first, time seconds first, unit after the value.
    pub const STANDARD: Dialect = Dialect {
        preamble: Preamble::FULL,
        di_order: DiOrder::LowFirst,
        time_order: TimeOrder::LowFirst,
        unit_position: UnitPosition::AfterValue,
    };
}

impl Default for Dialect {
    fn default() -> Dialect {
        Dialect::STANDARD
    }
}

/// The checksum: the sum of `bytes` mod 256 (pass the bytes from 68H through the last data byte).
pub fn checksum(bytes: &[u8]) -> u8 {
    bytes.iter().fold(0u8, |sum, &b| sum.wrapping_add(b))
}

/// One frame, without its preamble, checksum and end byte.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The T byte, as received (it is checked against the request in [`Request::check_answer`]).
    pub meter_type: u8,
    /// The address field.
    pub address: Address,
    /// The C byte.
    pub control: u8,
    /// The data field.
    pub data: Vec<u8>,
}

impl Frame {
    /// The frame's bytes, after `preamble` wake-up bytes.
    pub fn encode(&self, preamble: Preamble) -> Result<Vec<u8>, EncodeError> {
        let len = u8::try_from(self.data.len()).map_err(|_| EncodeError::DataTooLong(self.data.len()))?;
        let mut out = Vec::with_capacity(preamble.len() + OVERHEAD + self.data.len());
        out.resize(preamble.len(), PREAMBLE_BYTE);
        let start = out.len();
        out.push(START);
        out.push(self.meter_type);
        out.extend_from_slice(&self.address.wire());
        out.push(self.control);
        out.push(len);
        out.extend_from_slice(&self.data);
        let cs = checksum(&out[start..]);
        out.push(cs);
        out.push(END);
        Ok(out)
    }
}

/// A read request: what is sent, and what its answer must match.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Request {
    /// The T byte sent; [`MeterType::Any`] accepts an answer of any known type.
    pub meter_type: MeterType,
    /// The address sent; the wildcard accepts an answer from any address.
    pub address: Address,
    /// The control code (function) sent.
    pub control: u8,
    /// The data identifier asked for.
    pub di: Di,
    /// The serial number; the meter echoes it.
    pub ser: u8,
}

impl Request {
    /// Read `di` (usually [`Di::READ_DATA`]) from the meter of `meter_type` at `address`.
    pub fn read_data(meter_type: MeterType, address: Address, di: Di, ser: u8) -> Request {
        Request { meter_type, address, control: control::READ_DATA, di, ser }
    }

    /// Read the address of the only meter on the line: type AAH, the wildcard address, control
    /// 03H, DI 810AH. Every meter on the line answers it, so on a bus the answers collide.
    pub fn read_address(ser: u8) -> Request {
        Request { meter_type: MeterType::Any, address: Address::WILDCARD, control: control::READ_ADDRESS, di: Di::READ_ADDRESS, ser }
    }

    /// The request's bytes: the preamble, then the frame carrying `DI SER`.
    pub fn encode(&self, preamble: Preamble, di_order: DiOrder) -> Vec<u8> {
        let [d0, d1] = self.di.to_wire(di_order);
        let mut out = Vec::with_capacity(Request::encoded_len(preamble));
        out.resize(preamble.len(), PREAMBLE_BYTE);
        let start = out.len();
        out.push(START);
        out.push(self.meter_type.code());
        out.extend_from_slice(&self.address.wire());
        // DI_SER_LEN as the length byte: a request always carries exactly DI and SER.
        out.extend_from_slice(&[self.control, DI_SER_LEN as u8, d0, d1, self.ser]);
        let cs = checksum(&out[start..]);
        out.push(cs);
        out.push(END);
        out
    }

    /// The length of a request with `preamble`.
    pub fn encoded_len(preamble: Preamble) -> usize {
        preamble.len() + OVERHEAD + DI_SER_LEN
    }

    /// Checks that `frame` answers this request and returns what it says.
    pub fn check_answer(&self, frame: &Frame) -> Result<Answer, DecodeError> {
        let meter_type = MeterType::from_code(frame.meter_type).ok_or(DecodeError::UnknownMeterType(frame.meter_type))?;
        if self.meter_type != MeterType::Any && meter_type != self.meter_type {
            return Err(DecodeError::WrongMeterType { expected: self.meter_type, got: meter_type });
        }
        if !self.address.is_wildcard() && frame.address != self.address {
            return Err(DecodeError::WrongAddress { expected: self.address, got: frame.address });
        }
        let normal = self.control | control::ANSWER;
        if frame.control == normal | control::ABNORMAL {
            // An abnormal answer carries SER and the 2-byte status ST (a meter firmware's error
            // answer is exactly that); anything else is reported without them.
            let (ser, status) = match frame.data[..] {
                [ser, s0, s1] => (Some(ser), Some(Status([s0, s1]))),
                _ => (None, None),
            };
            return Err(DecodeError::Abnormal { control: frame.control, ser, status });
        }
        if frame.control != normal {
            return Err(DecodeError::WrongControl { expected: normal, got: frame.control });
        }
        let [d0, d1, ser, ..] = frame.data[..] else {
            return Err(DecodeError::DataLength { what: "DI and SER", expected: DI_SER_LEN, got: frame.data.len() });
        };
        let di_order = self.di.order_of([d0, d1]).ok_or(DecodeError::WrongDi { expected: self.di, got: [d0, d1] })?;
        Ok(Answer { meter_type, address: frame.address, di: self.di, di_order, ser, payload: frame.data[DI_SER_LEN..].to_vec() })
    }

    /// Decodes `bytes` (one whole answer, preamble included) and checks it answers this request.
    pub fn decode_answer(&self, bytes: &[u8]) -> Result<Answer, DecodeError> {
        self.check_answer(&decode_frame(bytes)?)
    }
}

/// A normal answer to a read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The answering meter's type (with a wildcard request, the type the meter says it is).
    pub meter_type: MeterType,
    /// The answering meter's address (with the wildcard, the address that was read).
    pub address: Address,
    /// The identifier answered (the one requested).
    pub di: Di,
    /// The byte order the meter used for it.
    pub di_order: DiOrder,
    /// The serial number in the answer. Not checked: some meters answer 00 whatever was sent,
    /// so the poller decides what a mismatch means.
    pub ser: u8,
    /// The data after `DI SER`.
    pub payload: Vec<u8>,
}

/// Why bytes are not the expected answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("byte {byte:#04x} at offset {index} before the 68H start byte (only FEH wake-up bytes may precede it)")]
    Garbage { index: usize, byte: u8 },
    #[error("the frame stopped after {got} bytes; it needs {need}")]
    Truncated { got: usize, need: usize },
    #[error("{extra} bytes follow the end of the frame")]
    Trailing { extra: usize },
    #[error("the frame ends with {got:#04x}, not 16H")]
    BadEnd { got: u8 },
    #[error("the frame carries checksum {carried:#04x}, its bytes sum to {computed:#04x}")]
    BadChecksum { carried: u8, computed: u8 },
    #[error("meter type {0:#04x} is not a CJ/T 188 type this codec knows")]
    UnknownMeterType(u8),
    #[error("answer from a {got} meter to a request for a {expected} meter")]
    WrongMeterType { expected: MeterType, got: MeterType },
    #[error("answer from address {got} to a request for {expected}")]
    WrongAddress { expected: Address, got: Address },
    #[error("answer with control code {got:#04x}, expected {expected:#04x}")]
    WrongControl { expected: u8, got: u8 },
    #[error("the meter answered abnormally (control {control:#04x}{}{})",
        ser.map(|s| format!(", SER {s:#04x}")).unwrap_or_default(),
        status.map(|s| format!(", status {s}")).unwrap_or_default())]
    Abnormal { control: u8, ser: Option<u8>, status: Option<Status> },
    #[error("answer carries DI {:02X} {:02X}, the request asked for {expected}", got[0], got[1])]
    WrongDi { expected: Di, got: [u8; 2] },
    #[error("{what}: expected {expected} data bytes, got {got}")]
    DataLength { what: &'static str, expected: usize, got: usize },
    #[error("{field}: unit code {code:#04x} is not one this codec knows")]
    UnknownUnit { field: &'static str, code: u8 },
    #[error("{field}: unit code {code:#04x} ({unit}) does not measure a {expected:?}")]
    UnitMismatch { field: &'static str, code: u8, unit: &'static str, expected: readings::Dimension },
    #[error("{field}: byte {byte:#04x} is not BCD")]
    BadBcd { field: &'static str, byte: u8 },
    #[error("no layout known for DI {di} from a {meter_type} meter")]
    UnsupportedLayout { meter_type: MeterType, di: Di },
}

/// Where the frame starts in `bytes`: `Ok(Some(i))` at the first 68H, `Ok(None)` while only FEH
/// has come, `Err(Garbage)` at any other byte before it.
pub fn start_of_frame(bytes: &[u8]) -> Result<Option<usize>, DecodeError> {
    for (index, &byte) in bytes.iter().enumerate() {
        match byte {
            START => return Ok(Some(index)),
            PREAMBLE_BYTE => {}
            _ => return Err(DecodeError::Garbage { index, byte }),
        }
    }
    Ok(None)
}

/// How many bytes the whole answer takes, preamble included, given its first bytes: `None` until
/// the length byte has arrived. For the line reader (it is a `crate::line::port::FrameLength`),
/// which reads until it has that many. Bytes before the first 68H are counted in, garbage or
/// not, so that the reader collects the whole frame; [`decode_frame`] then says what they were.
pub fn frame_length(got: &[u8]) -> Option<usize> {
    let start = got.iter().position(|&b| b == START)?;
    got.get(start + 10).map(|&len| start + OVERHEAD + usize::from(len))
}

/// Decodes one whole frame (preamble allowed, nothing after the end byte): checks its framing,
/// end byte and checksum, not its meaning.
pub fn decode_frame(bytes: &[u8]) -> Result<Frame, DecodeError> {
    let got = bytes.len();
    let Some(start) = start_of_frame(bytes)? else {
        return Err(DecodeError::Truncated { got, need: got + OVERHEAD });
    };
    let Some(total) = frame_length(bytes) else {
        return Err(DecodeError::Truncated { got, need: start + OVERHEAD });
    };
    if got < total {
        return Err(DecodeError::Truncated { got, need: total });
    }
    if got > total {
        return Err(DecodeError::Trailing { extra: got - total });
    }
    let frame = &bytes[start..];
    let [body @ .., carried, end] = frame else {
        return Err(DecodeError::Truncated { got, need: total });
    };
    if *end != END {
        return Err(DecodeError::BadEnd { got: *end });
    }
    let computed = checksum(body);
    if *carried != computed {
        return Err(DecodeError::BadChecksum { carried: *carried, computed });
    }
    // body = 68 T A0..A6 C L DATA; its length was checked through `total`.
    let mut wire = [0u8; 7];
    wire.copy_from_slice(&body[2..9]);
    Ok(Frame { meter_type: body[1], address: Address::from_wire(wire), control: body[9], data: body[11..].to_vec() })
}

/// The length of the normal answer to `request` from a `meter_type` meter, without the preamble
/// the meter may send (0 to 4 FEH; meters differ): `None` where the layout is not known.
pub fn answer_len(request: &Request, meter_type: MeterType) -> Option<usize> {
    let payload = match (request.control, request.di) {
        (control::READ_ADDRESS, Di::READ_ADDRESS) => 0,
        (control::READ_DATA, Di::READ_DATA) if meter_type.is_volume_meter() => super::data::FLOW_PAYLOAD_LEN,
        (control::READ_DATA, Di::READ_DATA) if meter_type.is_heat_meter() => super::data::HEAT_PAYLOAD_LEN,
        _ => return None,
    };
    Some(OVERHEAD + DI_SER_LEN + payload)
}

/// The time a request of `request_len` bytes and its answer of `answer_len` bytes occupy `line`
/// (11 bits a byte at 8E1). The meter's delay before it answers comes on top, and so does the
/// wake-up time of a battery meter.
pub fn exchange_time(line: &SerialLine, request_len: usize, answer_len: usize) -> Duration {
    let bytes = u32::try_from(request_len + answer_len).unwrap_or(u32::MAX);
    line.char_time() * bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_read_most_significant_first_and_go_out_low_byte_first() {
        let a = Address::from_nameplate("78330011223344").unwrap();
        assert_eq!(a.wire(), [0x44, 0x33, 0x22, 0x11, 0x00, 0x33, 0x78]);
        assert_eq!(a.to_string(), "78330011223344");
        assert_eq!("aaaaaaaaaaaaaa".parse::<Address>().unwrap(), Address::WILDCARD);
        assert!(Address::WILDCARD.is_wildcard());
        assert_eq!(Address::WILDCARD.to_string(), "AAAAAAAAAAAAAA");
        // Non-BCD bytes exist in the field (a driver's example address).
        assert_eq!(Address::from_nameplate("00000000EE0001").unwrap().wire(), [0x01, 0x00, 0xEE, 0, 0, 0, 0]);
        assert_eq!(Address::from_nameplate("1234"), Err(AddressError::Length("1234".into(), 4)));
        assert_eq!(Address::from_nameplate("0000000000001G"), Err(AddressError::Digit("0000000000001G".into(), 'G')));
    }

    #[test]
    fn meter_types_round_trip() {
        for t in MeterType::ALL {
            assert_eq!(MeterType::from_code(t.code()), Some(*t));
        }
        assert_eq!(MeterType::from_code(0x14), None);
        assert_eq!(MeterType::Heat.to_string(), "20H (heat)");
        assert_eq!(MeterType::ColdWater.medium(), Some(readings::Medium::Water));
        assert_eq!(MeterType::Gas.medium(), None);
    }

    #[test]
    fn data_identifiers_in_both_orders() {
        assert_eq!(Di::READ_DATA.to_wire(DiOrder::LowFirst), [0x1F, 0x90]);
        assert_eq!(Di::READ_DATA.to_wire(DiOrder::HighFirst), [0x90, 0x1F]);
        assert_eq!(Di::READ_DATA.order_of([0x90, 0x1F]), Some(DiOrder::HighFirst));
        assert_eq!(Di::READ_DATA.order_of([0x1F, 0x90]), Some(DiOrder::LowFirst));
        assert_eq!(Di::READ_DATA.order_of([0x81, 0x0A]), None);
    }

    #[test]
    fn preambles_are_zero_to_four_bytes() {
        assert_eq!(Preamble::new(4), Ok(Preamble::FULL));
        assert_eq!(Preamble::new(5), Err(EncodeError::Preamble(5)));
        let r = Request::read_data(MeterType::Gas, Address::from_wire([1, 0, 0, 0, 0, 0, 0]), Di::READ_DATA, 7);
        for n in 0..=4 {
            let p = Preamble::new(n).unwrap();
            let bytes = r.encode(p, DiOrder::LowFirst);
            assert_eq!(bytes.len(), Request::encoded_len(p));
            assert!(bytes[..p.len()].iter().all(|&b| b == PREAMBLE_BYTE));
            assert_eq!(bytes[p.len()], START);
        }
    }

    #[test]
    fn frames_encode_and_decode() {
        let f = Frame { meter_type: 0x30, address: Address::from_wire([9, 8, 7, 6, 5, 4, 3]), control: 0x81, data: vec![1, 2, 3, 4] };
        let bytes = f.encode(Preamble::new(2).unwrap()).unwrap();
        assert_eq!(decode_frame(&bytes), Ok(f.clone()));
        let long = Frame { data: vec![0; 256], ..f };
        assert_eq!(long.encode(Preamble::NONE), Err(EncodeError::DataTooLong(256)));
    }

    #[test]
    fn the_reader_learns_the_length_from_the_length_byte() {
        let f = Frame { meter_type: 0x10, address: Address::WILDCARD, control: 0x81, data: vec![0; 22] };
        let bytes = f.encode(Preamble::new(3).unwrap()).unwrap();
        assert_eq!(bytes.len(), 3 + 13 + 22);
        for n in 0..=13 {
            assert_eq!(frame_length(&bytes[..n]), None, "{n} bytes");
        }
        for n in 14..=bytes.len() {
            assert_eq!(frame_length(&bytes[..n]), Some(38), "{n} bytes");
        }
        // Garbage before the start byte is read with the frame; decoding then reports it.
        let mut noisy = vec![0xFF, 0x00];
        noisy.extend_from_slice(&bytes);
        assert_eq!(frame_length(&noisy[..17]), Some(40));
        assert_eq!(decode_frame(&noisy), Err(DecodeError::Garbage { index: 0, byte: 0xFF }));
        assert_eq!(start_of_frame(&[0xFE, 0x00, 0x68]), Err(DecodeError::Garbage { index: 1, byte: 0x00 }));
        // It is what the line's port takes.
        let _: crate::line::port::FrameLength = frame_length;
    }

    #[test]
    fn broken_frames_say_how() {
        let f = Frame { meter_type: 0x10, address: Address::WILDCARD, control: 0x81, data: vec![1, 2, 3] };
        let good = f.encode(Preamble::new(1).unwrap()).unwrap();
        let n = good.len();
        assert_eq!(decode_frame(&good[..n - 1]), Err(DecodeError::Truncated { got: n - 1, need: n }));
        assert_eq!(decode_frame(&good[..5]), Err(DecodeError::Truncated { got: 5, need: 14 }));
        assert_eq!(decode_frame(&[0xFE, 0xFE]), Err(DecodeError::Truncated { got: 2, need: 15 }));
        let mut longer = good.clone();
        longer.push(0xFE);
        assert_eq!(decode_frame(&longer), Err(DecodeError::Trailing { extra: 1 }));
        let mut bad_end = good.clone();
        bad_end[n - 1] = 0x17;
        assert_eq!(decode_frame(&bad_end), Err(DecodeError::BadEnd { got: 0x17 }));
        let mut noisy = good;
        noisy[13] ^= 0x01;
        assert!(matches!(decode_frame(&noisy), Err(DecodeError::BadChecksum { .. })));
    }

    #[test]
    fn answers_must_match_the_request() {
        let addr = Address::from_nameplate("00000000000012").unwrap();
        let req = Request::read_data(MeterType::ColdWater, addr, Di::READ_DATA, 5);
        let answer = |t: u8, a: Address, c: u8, data: Vec<u8>| Frame { meter_type: t, address: a, control: c, data };
        let ok = req.check_answer(&answer(0x10, addr, 0x81, vec![0x1F, 0x90, 5, 0xAB])).unwrap();
        assert_eq!((ok.di_order, ok.ser, ok.payload), (DiOrder::LowFirst, 5, vec![0xAB]));
        assert_eq!(req.check_answer(&answer(0x10, addr, 0x81, vec![0x1F, 0x91, 5])), Err(DecodeError::WrongDi { expected: Di::READ_DATA, got: [0x1F, 0x91] }));
        assert_eq!(req.check_answer(&answer(0x10, addr, 0x81, vec![0x1F])), Err(DecodeError::DataLength { what: "DI and SER", expected: 3, got: 1 }));
        assert_eq!(req.check_answer(&answer(0x10, addr, 0x84, vec![0x1F, 0x90, 5])), Err(DecodeError::WrongControl { expected: 0x81, got: 0x84 }));
        assert_eq!(req.check_answer(&answer(0x17, addr, 0x81, vec![0x1F, 0x90, 5])), Err(DecodeError::UnknownMeterType(0x17)));
        assert_eq!(
            req.check_answer(&answer(0x10, addr, 0xC1, vec![])),
            Err(DecodeError::Abnormal { control: 0xC1, ser: None, status: None })
        );
        // The wildcard request takes any meter's answer and says who answered.
        let any = Request::read_address(0);
        let a = any.check_answer(&answer(0x30, addr, 0x83, vec![0x81, 0x0A, 0])).unwrap();
        assert_eq!((a.meter_type, a.address, a.di_order), (MeterType::Gas, addr, DiOrder::HighFirst));
    }

    #[test]
    fn answer_lengths_follow_the_meter_type() {
        let r = Request::read_data(MeterType::Any, Address::WILDCARD, Di::READ_DATA, 0);
        assert_eq!(answer_len(&r, MeterType::ColdWater), Some(35));
        assert_eq!(answer_len(&r, MeterType::Gas), Some(35));
        assert_eq!(answer_len(&r, MeterType::Heat), Some(59));
        assert_eq!(answer_len(&r, MeterType::Electricity), None);
        assert_eq!(answer_len(&Request::read_address(0), MeterType::ColdWater), Some(16));
        assert_eq!(answer_len(&Request::read_data(MeterType::ColdWater, Address::WILDCARD, Di(0xD120), 0), MeterType::ColdWater), None);
    }
}
