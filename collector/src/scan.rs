//! `collector scan`: what answers on a line, and the config that reads it.
//!
//! Three probes, each through the line's [`Link`] so that the silence before a request, the end
//! of an answer and the draining of late answers are those of polling:
//!
//! - DL/T 645: read address (13H) to AAAAAAAAAAAA. Every meter on the line answers it, so it
//!   names a meter only on a line with one; several answering at once garble each other.
//! - CJ/T 188: read address (03H, DI 810AH) with type AAH and the wildcard address; the same
//!   caveat. The answer says the meter's type.
//! - Modbus: read holding register 0 (fc03, count 1) from each unit id in a range. Any answer,
//!   an exception included, proves a device is there (01H and 02H are the device saying it lacks
//!   the function or the register); silence means nobody.
//!
//! [`scan`] returns what was found; [`Scan::snippet`] renders it as config to paste, and the
//! `Display` of [`Scan`] as a summary for people.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::cjt188::codec as cjt188;
use crate::dlt645::codec as dlt645;
use crate::line::port::FrameLength;
use crate::line::{Endpoint, Parity};
use crate::line::error::ReadError;
use crate::line::link::Link;
use crate::modbus::read::read_registers;
use crate::modbus::plan::ReadRequest;
use crate::modbus::register::RegisterFunction;

/// The name the printed snippet gives the scanned serial line.
pub const LINE_NAME: &str = "rs485-1";
/// The longest pause inside one answer: the default `byte_timeout` of `[[modbus.serial_lines]]`,
/// so a scan ends frames as polling the same line will.
pub const BYTE_TIMEOUT: Duration = Duration::from_millis(100);
/// Modbus progress is reported after every this many unit ids.
pub const PROGRESS_EVERY: usize = 16;

/// A protocol the scan can probe for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Modbus,
    Dlt645,
    Cjt188,
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Protocol::Modbus => "Modbus",
            Protocol::Dlt645 => "DL/T 645",
            Protocol::Cjt188 => "CJ/T 188",
        })
    }
}

/// Why a scan could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScanError {
    #[error("unit ids {0:?}: write FIRST-LAST within 1-247 (e.g. 1-247 or 5-20), or one unit id")]
    Units(String),
    #[error("a probe's timeout must be positive")]
    ZeroTimeout,
    #[error("no protocol to probe for")]
    NoProtocols,
    #[error("the line failed during the {during} probe: {cause}")]
    Line { during: String, cause: ReadError },
    #[error("the {0} probe's request could not be framed: {1}")]
    Encode(Protocol, String),
}

/// Modbus unit ids to probe, `first..=last` within 1..=247 (0 is broadcast, 248..=255 reserved).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnitRange {
    pub first: u8,
    pub last: u8,
}

impl UnitRange {
    /// Every unit id a serial line allows.
    pub const ALL: UnitRange = UnitRange { first: 1, last: 247 };

    /// How many unit ids the range holds.
    pub fn len(self) -> usize {
        usize::from(self.last - self.first) + 1
    }

    /// Whether the range is empty (never: a range holds at least its first id).
    pub fn is_empty(self) -> bool {
        false
    }
}

impl FromStr for UnitRange {
    type Err = ScanError;
    fn from_str(s: &str) -> Result<UnitRange, ScanError> {
        let bad = || ScanError::Units(s.to_owned());
        let id = |t: &str| t.trim().parse::<u8>().ok().filter(|u| (1..=247).contains(u)).ok_or_else(bad);
        let (first, last) = match s.split_once('-') {
            Some((a, b)) => (id(a)?, id(b)?),
            None => (id(s)?, id(s)?),
        };
        if first > last {
            return Err(bad());
        }
        Ok(UnitRange { first, last })
    }
}

impl fmt::Display for UnitRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.first, self.last)
    }
}

/// What to scan and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// The line: a serial port, or a serial server passing raw frames (`Framing::RtuOverTcp`).
    pub endpoint: Endpoint,
    /// The protocols to probe for.
    pub protocols: Vec<Protocol>,
    /// The Modbus unit ids to probe.
    pub units: UnitRange,
    /// How long each probe waits for the first byte of an answer.
    pub timeout: Duration,
}

/// What one wildcard probe (DL/T 645 or CJ/T 188 read address) brought.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe<T> {
    /// Not asked for.
    NotProbed,
    /// Nothing answered within the timeout.
    Silent,
    /// One meter answered, cleanly.
    Found(T),
    /// Bytes came that are not one clean answer (garbled, or a second answer after the first):
    /// several meters answering at once, or noise.
    Several(String),
    /// A clean frame that names no meter (an echo of the request, a refusal).
    Unusable(String),
}

/// A CJ/T 188 meter that answered the read-address probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cjt188Meter {
    pub meter_type: cjt188::MeterType,
    pub address: cjt188::Address,
}

/// How a Modbus unit id proved to be there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModbusAnswer {
    /// It returned holding register 0.
    Register(u16),
    /// It answered with an exception (it lacks fc03 or register 0, or is busy): still there.
    Exception { code: u8, name: String },
}

/// What the Modbus probe found.
#[derive(Debug, Clone, PartialEq)]
pub struct ModbusScan {
    pub units: UnitRange,
    /// Unit ids that answered, in order.
    pub found: Vec<(u8, ModbusAnswer)>,
    /// Unit ids whose answer was garbled twice (two devices with one id, noise), and how.
    pub garbled: Vec<(u8, String)>,
    /// The built-in profiles each found unit reads plausibly with ([`crate::identify`]).
    pub fits: std::collections::BTreeMap<u8, Vec<crate::identify::Fit>>,
}

/// What a scan found on a line.
#[derive(Debug, Clone, PartialEq)]
pub struct Scan {
    pub endpoint: Endpoint,
    pub timeout: Duration,
    pub dlt645: Probe<dlt645::MeterAddress>,
    pub cjt188: Probe<Cjt188Meter>,
    /// `None` when Modbus was not probed.
    pub modbus: Option<ModbusScan>,
}

/// What the scan is doing, for a progress display.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// A protocol's probe starts.
    Probing(Protocol),
    /// Modbus unit ids probed so far, of how many, and how many answered.
    Units { probed: usize, of: usize, found: usize },
    /// Reading a found unit at each built-in profile's registers.
    Identifying { unit: u8 },
}

impl fmt::Display for Progress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Progress::Probing(protocol) => write!(f, "probing for {protocol} devices..."),
            Progress::Units { probed, of, found } => write!(f, "{probed}/{of} unit ids probed, {found} answered"),
            Progress::Identifying { unit } => write!(f, "reading unit {unit} at each built-in profile's registers..."),
        }
    }
}

/// Probes the line of `options` for each protocol asked (DL/T 645, then CJ/T 188, then Modbus),
/// calling `progress` as it goes. Only the line failing (it cannot be opened, or closes) is an
/// error; what meters do, silence and garbled answers included, is in the result.
pub async fn scan(options: &Options, progress: &mut (dyn FnMut(Progress) + Send)) -> Result<Scan, ScanError> {
    if options.timeout.is_zero() {
        return Err(ScanError::ZeroTimeout);
    }
    if options.protocols.is_empty() {
        return Err(ScanError::NoProtocols);
    }
    let mut link = Link::new(options.endpoint.clone());
    let asked = |p| options.protocols.contains(&p);
    let mut result = Scan { endpoint: options.endpoint.clone(), timeout: options.timeout, dlt645: Probe::NotProbed, cjt188: Probe::NotProbed, modbus: None };
    if asked(Protocol::Dlt645) {
        progress(Progress::Probing(Protocol::Dlt645));
        result.dlt645 = probe_dlt645(&mut link, options.timeout).await?;
    }
    if asked(Protocol::Cjt188) {
        progress(Progress::Probing(Protocol::Cjt188));
        result.cjt188 = probe_cjt188(&mut link, options.timeout).await?;
    }
    if asked(Protocol::Modbus) {
        progress(Progress::Probing(Protocol::Modbus));
        result.modbus = Some(probe_modbus(&mut link, options.units, options.timeout, progress).await?);
    }
    Ok(result)
}

/// Sends a wildcard probe and returns the answer's bytes: `Ok(None)` on silence, `Err(detail)`
/// when what came was cut short. Only the line failing is a `ScanError`.
async fn exchange(link: &mut Link, protocol: Protocol, request: &[u8], frame_length: FrameLength, timeout: Duration) -> Result<Result<Option<Vec<u8>>, String>, ScanError> {
    match link.exchange(request, frame_length, timeout).await {
        Ok(bytes) => Ok(Ok(Some(bytes))),
        Err(ReadError::Timeout(_)) => Ok(Ok(None)),
        Err(e @ (ReadError::Connect { .. } | ReadError::Transport(_))) => Err(ScanError::Line { during: protocol.to_string(), cause: e }),
        Err(other) => Ok(Err(other.to_string())),
    }
}

/// After one clean answer to a wildcard, listens for `timeout` more: a second meter with a
/// longer turnaround answers then. Sending nothing keeps the line's silence and draining rules.
async fn second_answer(link: &mut Link, protocol: Protocol, frame_length: FrameLength, timeout: Duration) -> Result<Option<String>, ScanError> {
    Ok(match exchange(link, protocol, &[], frame_length, timeout).await? {
        Ok(None) => None,
        Ok(Some(bytes)) => Some(format!("a second answer followed the first ({} bytes)", bytes.len())),
        Err(detail) => Some(format!("more bytes followed the first answer ({detail})")),
    })
}

/// The length of every frame that has begun in `bytes`, one after another, given `one`, the
/// length of a single frame. An answer read this way takes in a second answer (or noise) that
/// arrives right behind the first, which the line would otherwise drop as stray bytes.
fn frames_len(bytes: &[u8], one: FrameLength) -> Option<usize> {
    let mut at = 0;
    loop {
        let n = one(&bytes[at..])?;
        at += n.max(1);
        if bytes.len() <= at {
            return Some(at);
        }
    }
}

fn dlt645_frames_len(bytes: &[u8]) -> Option<usize> {
    frames_len(bytes, dlt645::frame_len)
}

fn cjt188_frames_len(bytes: &[u8]) -> Option<usize> {
    frames_len(bytes, cjt188::frame_length)
}

async fn probe_dlt645(link: &mut Link, timeout: Duration) -> Result<Probe<dlt645::MeterAddress>, ScanError> {
    let request = dlt645::Request::ReadAddress;
    // Four wake-up bytes, as polling sends by default: battery and infrared meters need them.
    let bytes = request.encode(dlt645::MAX_PREAMBLE).map_err(|e| ScanError::Encode(Protocol::Dlt645, e.to_string()))?;
    let probe = match exchange(link, Protocol::Dlt645, &bytes, dlt645_frames_len, timeout).await? {
        Ok(None) => return Ok(Probe::Silent),
        Ok(Some(answer)) => classify_dlt645(&answer),
        Err(detail) => Probe::Several(detail),
    };
    if let Probe::Found(_) = probe {
        if let Some(detail) = second_answer(link, Protocol::Dlt645, dlt645_frames_len, timeout).await? {
            return Ok(Probe::Several(detail));
        }
    }
    Ok(probe)
}

/// What the bytes answering a DL/T 645 read-address probe say.
fn classify_dlt645(bytes: &[u8]) -> Probe<dlt645::MeterAddress> {
    use dlt645::AnswerError;
    match dlt645::decode_answer(bytes, &dlt645::Request::ReadAddress) {
        Ok(a) if a.consumed < bytes.len() => Probe::Several(format!("meter {} answered and {} more bytes came with it", a.address, bytes.len() - a.consumed)),
        Ok(a) => Probe::Found(a.address),
        // A collision shows as a broken frame, or as an address that is no address or disagrees
        // with itself: two meters' bytes mixed.
        Err(e @ (AnswerError::Frame(_) | AnswerError::AnswerAddress(_) | AnswerError::AddressDisagrees { .. })) => Probe::Several(e.to_string()),
        Err(AnswerError::NotAnAnswer { .. }) => Probe::Unusable("the line echoed the request (a half-duplex adapter or an infrared head?); scan cannot read past an echo".into()),
        Err(AnswerError::Exception(word)) => Probe::Unusable(format!("a meter refused to give its address: {word}")),
        Err(e) => Probe::Unusable(e.to_string()),
    }
}

async fn probe_cjt188(link: &mut Link, timeout: Duration) -> Result<Probe<Cjt188Meter>, ScanError> {
    // 810AH high byte first, as the published read-address exchanges send it (collector/src/
    // cjt188/tests.rs); answers are accepted in either order.
    let bytes = cjt188::Request::read_address(0).encode(cjt188::Preamble::FULL, cjt188::DiOrder::HighFirst);
    let probe = match exchange(link, Protocol::Cjt188, &bytes, cjt188_frames_len, timeout).await? {
        Ok(None) => return Ok(Probe::Silent),
        Ok(Some(answer)) => classify_cjt188(&answer),
        Err(detail) => Probe::Several(detail),
    };
    if let Probe::Found(_) = probe {
        if let Some(detail) = second_answer(link, Protocol::Cjt188, cjt188_frames_len, timeout).await? {
            return Ok(Probe::Several(detail));
        }
    }
    Ok(probe)
}

/// What the bytes answering a CJ/T 188 read-address probe say.
fn classify_cjt188(bytes: &[u8]) -> Probe<Cjt188Meter> {
    use cjt188::DecodeError;
    // A garbled byte as the bus turns round is skipped, as polling does; the frame after it must
    // still be whole.
    let from = match cjt188::start_of_frame(bytes) {
        Err(DecodeError::Garbage { .. }) => bytes.iter().position(|&b| b == cjt188::START).unwrap_or(0),
        _ => 0,
    };
    let request = cjt188::Request::read_address(0);
    match request.decode_answer(&bytes[from..]) {
        Ok(a) => Probe::Found(Cjt188Meter { meter_type: a.meter_type, address: a.address }),
        Err(e @ (DecodeError::Trailing { .. } | DecodeError::BadChecksum { .. } | DecodeError::BadEnd { .. } | DecodeError::Truncated { .. } | DecodeError::Garbage { .. } | DecodeError::UnknownMeterType(_))) => {
            Probe::Several(e.to_string())
        }
        Err(DecodeError::WrongControl { got, .. }) if got == cjt188::control::READ_ADDRESS => {
            Probe::Unusable("the line echoed the request (a half-duplex adapter?); scan cannot read past an echo".into())
        }
        Err(e) => Probe::Unusable(e.to_string()),
    }
}

async fn probe_modbus(link: &mut Link, units: UnitRange, timeout: Duration, progress: &mut (dyn FnMut(Progress) + Send)) -> Result<ModbusScan, ScanError> {
    let request = ReadRequest::single(RegisterFunction::Holding, 0, 1);
    let mut found = Vec::new();
    let mut garbled = Vec::new();
    for (i, unit) in (units.first..=units.last).enumerate() {
        let mut outcome = read_registers(link, unit, &request, timeout, Duration::ZERO).await;
        if matches!(outcome, Err(ReadError::Crc(_) | ReadError::Protocol(_) | ReadError::Address(_))) {
            // One garbled answer may be noise on the line: ask once more before calling it.
            outcome = read_registers(link, unit, &request, timeout, Duration::ZERO).await;
        }
        match outcome {
            Ok(registers) => found.push((unit, ModbusAnswer::Register(registers.first().copied().unwrap_or_default()))),
            // A gateway's "path unavailable" or "target did not answer" is it saying nobody is
            // there; any other exception comes from the device itself.
            Err(ReadError::Exception { code: 0x0A | 0x0B, .. }) => {}
            Err(ReadError::Exception { code, name }) => found.push((unit, ModbusAnswer::Exception { code, name })),
            Err(ReadError::Timeout(_)) => {}
            Err(e @ (ReadError::Connect { .. } | ReadError::Transport(_))) => return Err(ScanError::Line { during: format!("Modbus (unit {unit})"), cause: e }),
            Err(e) => garbled.push((unit, e.to_string())),
        }
        let probed = i + 1;
        if probed % PROGRESS_EVERY == 0 || probed == units.len() {
            progress(Progress::Units { probed, of: units.len(), found: found.len() });
        }
    }
    let mut fits = std::collections::BTreeMap::new();
    for (unit, _) in &found {
        progress(Progress::Identifying { unit: *unit });
        let fit = crate::identify::identify(link, *unit, timeout).await.map_err(|cause| ScanError::Line { during: format!("identifying Modbus unit {unit}"), cause })?;
        fits.insert(*unit, fit);
    }
    Ok(ModbusScan { units, found, garbled, fits })
}

// ------------------------------------------------------------------------------------------
// Output

/// The config name of a CJ/T 188 meter type (`[[cjt188.devices]] meter_type`); `None` for the
/// types the collector does not read.
pub fn cjt188_type_name(t: cjt188::MeterType) -> Option<&'static str> {
    use cjt188::MeterType as T;
    Some(match t {
        T::ColdWater => "cold_water",
        T::HotWater => "hot_water",
        T::DrinkingWater => "drinking_water",
        T::ReclaimedWater => "reclaimed_water",
        T::Heat => "heat",
        T::Cooling => "cooling",
        T::HeatAndCooling => "heat_and_cooling",
        T::Gas => "gas",
        T::Electricity | T::Any => return None,
    })
}

/// `s` as a TOML basic string.
fn quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The message for several meters answering one wildcard probe.
fn several(protocol: Protocol, detail: &str) -> String {
    format!("several {protocol} meters answered at once; give addresses by hand ({detail})")
}

impl Scan {
    /// How many devices answered, of every protocol.
    pub fn found(&self) -> usize {
        usize::from(matches!(self.dlt645, Probe::Found(_))) + usize::from(matches!(self.cjt188, Probe::Found(_))) + self.modbus.as_ref().map_or(0, |m| m.found.len())
    }

    /// Whether a device entry will be printed (a CJ/T 188 electricity meter gets none).
    fn configurable(&self) -> bool {
        matches!(self.dlt645, Probe::Found(_))
            || matches!(&self.cjt188, Probe::Found(m) if cjt188_type_name(m.meter_type).is_some())
            || self.modbus.as_ref().is_some_and(|m| !m.found.is_empty())
    }

    /// Where a device entry says it is reached: `line = ...`, or the serial server's host and
    /// port (plus `transport` for Modbus, whose default over TCP is Modbus TCP).
    fn place(&self, modbus: bool) -> String {
        match &self.endpoint {
            Endpoint::Serial(_) => format!("line = {}\n", quoted(LINE_NAME)),
            Endpoint::Tcp { host, port, .. } => {
                let transport = if modbus { "transport = \"rtu_over_tcp\"     # a serial server passing raw RTU frames\n" } else { "" };
                format!("host = {}\nport = {port}\n{transport}", quoted(host))
            }
        }
    }

    /// The config for what was found, ready to paste into a collector config: the serial line
    /// first (when the scan was of one), then a device entry for each meter. What needs a
    /// person's choice is marked in comments; what could not be found is said in comments too.
    pub fn snippet(&self) -> String {
        let mut out = String::new();
        out.push_str(&format!("# collector scan of {}: {} device(s) answered\n", self.endpoint, self.found()));
        if let Endpoint::Serial(line) = &self.endpoint {
            if self.configurable() {
                let parity = match line.parity {
                    Parity::None => "none",
                    Parity::Even => "even",
                    Parity::Odd => "odd",
                };
                out.push_str(&format!(
                    "\n[[modbus.serial_lines]]\nname = {}\ndevice = {}\nbaud = {}\nparity = \"{parity}\"\nstop_bits = {}\n",
                    quoted(LINE_NAME),
                    quoted(&line.path.to_string_lossy()),
                    line.baud,
                    line.stop_bits
                ));
            }
        }
        match &self.dlt645 {
            Probe::Found(address) => out.push_str(&format!(
                "\n[[dlt645.devices]]\nname = \"meter-{address}\"\n{}address = \"{address}\"\nprofile = \"dlt645_generic_3phase\"  # check it: collector check lists the items it reads\n",
                self.place(false)
            )),
            Probe::Several(detail) => out.push_str(&format!("\n# DL/T 645: {}\n", several(Protocol::Dlt645, detail))),
            Probe::Unusable(detail) => out.push_str(&format!("\n# DL/T 645: {detail}\n")),
            Probe::NotProbed | Probe::Silent => {}
        }
        match &self.cjt188 {
            Probe::Found(m) => match cjt188_type_name(m.meter_type) {
                Some(name) => {
                    let medium = if m.meter_type == cjt188::MeterType::Gas {
                        // Town gas has no medium of its own in the reading model.
                        "medium = \"natural_gas\"  # or \"lpg\": check what the meter measures\n"
                    } else {
                        ""
                    };
                    out.push_str(&format!(
                        "\n[[cjt188.devices]]\nname = \"meter-{}\"\n{}meter_type = \"{name}\"\naddress = \"{}\"\n{medium}",
                        m.address,
                        self.place(false),
                        m.address
                    ));
                }
                None => out.push_str(&format!("\n# CJ/T 188: meter {} of type {} answered; the collector reads water, heat and gas meters only\n", m.address, m.meter_type)),
            },
            Probe::Several(detail) => out.push_str(&format!("\n# CJ/T 188: {}\n", several(Protocol::Cjt188, detail))),
            Probe::Unusable(detail) => out.push_str(&format!("\n# CJ/T 188: {detail}\n")),
            Probe::NotProbed | Probe::Silent => {}
        }
        if let Some(m) = &self.modbus {
            for (unit, answer) in &m.found {
                let how = match answer {
                    ModbusAnswer::Register(_) => String::new(),
                    ModbusAnswer::Exception { code, .. } => format!("  # answered exception {code:02X}H to holding register 0"),
                };
                let profile = match m.fits.get(unit).map(Vec::as_slice).unwrap_or_default() {
                    [one] => format!("profile = {}  # proposed: {} read plausibly at its registers; confirm with collector check", quoted(&one.profile), one.evidence_line()),
                    [] => "profile = \"?\"  # pick one: collector profiles (no built-in profile could be confirmed by its readings)".to_owned(),
                    several => format!("profile = \"?\"  # several read plausibly: {}", several.iter().map(|f| format!("{} ({})", f.profile, f.evidence_line())).collect::<Vec<_>>().join("; ")),
                };
                out.push_str(&format!(
                    "\n[[modbus.devices]]\nname = \"unit-{unit}\"{how}\n{}unit = {unit}\n{profile}\ninterval = \"1m\"\n",
                    self.place(true)
                ));
            }
            for (unit, detail) in &m.garbled {
                out.push_str(&format!("\n# Modbus unit {unit}: garbled answers ({detail}): two devices with that id, or noise; not listed\n"));
            }
        }
        out
    }
}

impl<T: fmt::Display> Probe<T> {
    fn describe(&self, protocol: Protocol, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Probe::NotProbed => Ok(()),
            Probe::Silent => writeln!(f, "  {protocol}: no answer to read address (none on the line, or a meter that does not support it: give its address by hand)"),
            Probe::Found(x) => writeln!(f, "  {protocol}: meter {x}"),
            Probe::Several(detail) => writeln!(f, "  {protocol}: {}", several(protocol, detail)),
            Probe::Unusable(detail) => writeln!(f, "  {protocol}: {detail}"),
        }
    }
}

impl fmt::Display for Cjt188Meter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}, type {}", self.address, self.meter_type)
    }
}

/// The summary for people: what each probe found.
impl fmt::Display for Scan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "scan of {}, timeout {:?} a probe: {} device(s) answered", self.endpoint, self.timeout, self.found())?;
        self.dlt645.describe(Protocol::Dlt645, f)?;
        self.cjt188.describe(Protocol::Cjt188, f)?;
        if let Some(m) = &self.modbus {
            let units: Vec<String> = m
                .found
                .iter()
                .map(|(unit, answer)| match answer {
                    ModbusAnswer::Register(v) => format!("{unit} (register 0 = {v})"),
                    ModbusAnswer::Exception { code, name } => format!("{unit} (exception {code:02X}H {name})"),
                })
                .collect();
            let listed = if units.is_empty() { "none".to_owned() } else { units.join(", ") };
            writeln!(f, "  Modbus: unit ids {} answering: {listed}", m.units)?;
            for (unit, detail) in &m.garbled {
                writeln!(f, "  Modbus: unit {unit} answered garbled twice ({detail}): two devices with that id, or noise")?;
            }
            for (unit, fits) in &m.fits {
                let names: Vec<String> = fits.iter().map(|fit| format!("{} ({})", fit.profile, fit.evidence_line())).collect();
                writeln!(f, "  Modbus: unit {unit} reads plausibly with: {}", if names.is_empty() { "no built-in profile".to_owned() } else { names.join("; ") })?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::line::SerialLine;

    fn hex(text: &str) -> Vec<u8> {
        text.split_whitespace().map(|b| u8::from_str_radix(b, 16).unwrap()).collect()
    }

    #[test]
    fn unit_ranges_parse() {
        assert_eq!("1-247".parse(), Ok(UnitRange::ALL));
        assert_eq!("5".parse(), Ok(UnitRange { first: 5, last: 5 }));
        assert_eq!(" 3 - 17 ".parse::<UnitRange>().map(UnitRange::len), Ok(15));
        for bad in ["0-5", "1-248", "9-3", "x", "", "1-", "-4"] {
            assert_eq!(bad.parse::<UnitRange>(), Err(ScanError::Units(bad.into())), "{bad}");
        }
    }

    #[test]
    fn frames_arriving_together_are_read_together() {
        let one = dlt645::encode_frame([0x78, 0x56, 0x34, 0x12, 0, 0], 0x93, &[0x78, 0x56, 0x34, 0x12, 0, 0], 2).unwrap();
        assert_eq!(dlt645_frames_len(&one[..5]), None);
        assert_eq!(dlt645_frames_len(&one), Some(one.len()));
        let mut two = one.clone();
        two.extend_from_slice(&[0xFE, 0xFE]);
        // A second answer's wake-up bytes: wait for the rest of it.
        assert_eq!(dlt645_frames_len(&two), None);
        two.extend_from_slice(&one[2..]);
        assert_eq!(dlt645_frames_len(&two), Some(2 * one.len()));
        assert!(matches!(classify_dlt645(&two), Probe::Several(m) if m.contains("meter 000012345678 answered and 20 more bytes")));
    }

    #[test]
    fn dlt645_answers_are_classified() {
        // Source: dwdcth/go645 dlt_test.go, the read-address answer of meter 000000000001.
        let good = hex("68 01 00 00 00 00 00 68 93 06 34 33 33 33 33 33 9D 16");
        assert_eq!(classify_dlt645(&good), Probe::Found("000000000001".parse().unwrap()));
        let mut garbled = good.clone();
        garbled[11] &= 0xF0;
        assert!(matches!(classify_dlt645(&garbled), Probe::Several(m) if m.contains("checksum")));
        let echo = dlt645::Request::ReadAddress.encode(4).unwrap();
        assert!(matches!(classify_dlt645(&echo), Probe::Unusable(m) if m.contains("echoed")));
    }

    #[test]
    fn cjt188_answers_are_classified() {
        // Source: the scribd "SHORT rs485 communication protocol" document (see cjt188/tests.rs).
        let good = hex("FE FE FE 68 10 12 00 00 00 00 00 00 83 03 81 0A 00 9B 16");
        let found = classify_cjt188(&good);
        assert_eq!(found, Probe::Found(Cjt188Meter { meter_type: cjt188::MeterType::ColdWater, address: "00000000000012".parse().unwrap() }));
        let mut two = good.clone();
        two.extend_from_slice(&good);
        assert_eq!(cjt188_frames_len(&two), Some(two.len()));
        assert!(matches!(classify_cjt188(&two), Probe::Several(m) if m.contains("follow")));
        let echo = cjt188::Request::read_address(0).encode(cjt188::Preamble::FULL, cjt188::DiOrder::HighFirst);
        assert!(matches!(classify_cjt188(&echo), Probe::Unusable(m) if m.contains("echoed")));
    }

    fn serial() -> Endpoint {
        Endpoint::Serial(SerialLine { name: LINE_NAME.into(), path: "/dev/ttyUSB0".into(), baud: 2400, parity: Parity::Even, stop_bits: 1, byte_timeout: BYTE_TIMEOUT, echo: false })
    }

    fn everything(endpoint: Endpoint) -> Scan {
        Scan {
            endpoint,
            timeout: Duration::from_millis(200),
            dlt645: Probe::Found("000012345678".parse().unwrap()),
            cjt188: Probe::Found(Cjt188Meter { meter_type: cjt188::MeterType::Gas, address: "00000000000001".parse().unwrap() }),
            modbus: Some(ModbusScan {
                units: UnitRange::ALL,
                found: vec![(3, ModbusAnswer::Register(7)), (17, ModbusAnswer::Exception { code: 2, name: "IllegalDataAddress".into() })],
                garbled: vec![(9, "garbled answer (CRC error): x".into())],
                fits: [(3, vec![crate::identify::Fit { profile: "eastron_sdm630".into(), evidence: vec![("frequency".into(), 50.01, "Hz")] }]), (17, Vec::new())].into_iter().collect(),
            }),
        }
    }

    /// The snippet, profiles picked, under a minimal config, is a valid config.
    fn check(snippet: &str) -> crate::config::Config {
        let text = format!(
            "[gateway]\nenterprise = \"91350100M000100Y43\"\nsite = \"plant-1\"\n\n[storage]\ndata_dir = \"data\"\n\n{}",
            snippet.replace("profile = \"?\"", "profile = \"acrel_adw300\"")
        );
        match crate::config::Config::parse(std::path::Path::new("/tmp/collector.toml"), &text) {
            Ok(c) => c,
            Err(e) => panic!("{e}\n{text}"),
        }
    }

    #[test]
    fn snippets_are_valid_config() {
        let s = everything(serial());
        let text = s.snippet();
        assert!(text.contains("medium = \"natural_gas\""), "{text}");
        assert!(text.contains("# Modbus unit 9: garbled"), "{text}");
        let c = check(&text);
        assert_eq!(c.dlt645_devices.len(), 1);
        assert_eq!(c.cjt188_devices.len(), 1);
        assert_eq!(c.devices.iter().map(|d| d.unit).collect::<Vec<_>>(), vec![3, 17]);
        assert!(c.devices.iter().all(|d| d.endpoint == serial()));

        let tcp = Endpoint::Tcp { host: "10.0.0.7".into(), port: 8899, framing: crate::line::Framing::RtuOverTcp };
        let c = check(&everything(tcp.clone()).snippet());
        assert!(c.devices.iter().all(|d| d.endpoint == tcp));
        assert_eq!(c.dlt645_devices[0].endpoint, tcp);
        assert_eq!(c.cjt188_devices[0].endpoint, tcp);
    }

    #[test]
    fn what_is_not_found_is_said() {
        let s = Scan {
            dlt645: Probe::Several("the frame carries checksum 55H, its bytes sum to 54H".into()),
            cjt188: Probe::Found(Cjt188Meter { meter_type: cjt188::MeterType::Electricity, address: "00000000000001".parse().unwrap() }),
            modbus: Some(ModbusScan { units: UnitRange::ALL, found: Vec::new(), garbled: Vec::new(), fits: Default::default() }),
            ..everything(serial())
        };
        let text = s.snippet();
        assert!(text.contains("# DL/T 645: several DL/T 645 meters answered at once; give addresses by hand"), "{text}");
        assert!(text.contains("water, heat and gas meters only"), "{text}");
        // Nothing to configure: no line entry either, and still valid TOML.
        assert!(!text.contains("serial_lines"), "{text}");
        check(&text);
        let summary = s.to_string();
        assert!(summary.contains("1 device(s) answered") && summary.contains("answering: none"), "{summary}");
    }
}
