//! CJ/T 188 frames.
//! CJ/T 188-2004 and -2018: the Chinese protocol of water, heat and gas meters (docs/cjt188.md).
//!
//! Pure encoding and decoding, no I/O: [`codec`] builds read requests and checks answers (frame,
//! checksum, end byte, type, address, control, DI) and knows how long an exchange takes;
//! [`data`] decodes the payload of DI 901FH (meter data) into exact decimals with their unit
//! codes.
//!
//! # What is supported
//!
//! - Requests: read data (control 01H) with any DI and SER; read address (03H, DI 810AH, type AAH,
//!   address AAAAAAAAAAAAAA) for a line with one meter. 0 to 4 FEH wake-up bytes.
//! - Answers: normal (81H, 83H), abnormal (D6 set, C1H for a read: SER and the 2-byte status),
//!   with typed errors for garbage before 68H, truncation, trailing bytes, a bad end byte, a bad
//!   checksum, an unknown or wrong meter type, a wrong address, control code or DI.
//! - DI 901FH payloads of water and gas meters (10H–13H, 30H: current and settlement-day volume,
//!   real time, status) and heat meters (20H, 21H, 22H: settlement-day and current heat, heat
//!   power, flow rate, cumulative volume, supply and return temperature, working hours, real
//!   time, status), with the 16 unit codes two independent sources agree on, and their mapping
//!   onto `readings::Unit`. 21H and 22H are read with the 20H layout (no public 22H example; an
//!   answer of another length is refused).
//! - Vendor differences found in public examples, per meter ([`codec::Dialect`]): the DI byte
//!   order in requests (answers are accepted in either), the byte order of the real time, and
//!   a unit code sent before its value instead of after.
//!
//! # What is not
//!
//! - Writes of any kind (control 04H: valve control A017H, time A015H, settlement day A011H,
//!   prices; 15H write address; 16H meter-reading synchronisation) and the key functions (09H):
//!   a collector only reads.
//! - Other read DIs' payloads (history D120H–D12BH, freeze data, 907FH, 8102H–8105H, the
//!   heat-and-cooling 911FH); a request for them can be built and its answer checked, and
//!   [`codec::Answer::payload`] carries the raw bytes.
//! - What CJ/T 188-2018 adds (data security with SM4, freeze records, its longer tables): not
//!   available in public sources here. As far as public implementations show, 2018 keeps the
//!   2004 frame; the 22H meter type is the one 2018 difference this codec knows of.
//! - Multi-frame answers (D5 set) and wireless/M-Bus link layers below the frame.
//! - Signed values: no public source shows a sign convention, so non-BCD bytes are refused.

pub mod codec;
pub mod data;

// The meter poller's modules (config, polling).
pub mod device;
pub mod poller;

#[cfg(test)]
mod tests;
