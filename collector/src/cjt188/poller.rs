//! A CJ/T 188 meter as the line's request-answer poller drives it ([`crate::poll::meter`]): one
//! read of DI 901FH a cycle, whose answer carries every value with its own unit code, each
//! converted to the canonical unit of its reading. Water and gas meters give their cumulative
//! volume; heat meters their cumulative heat, heat power, flow rate, cumulative volume, supply
//! and return temperatures and working hours.
//! The settlement-day value is a past value: it is stored once, at the last settlement instant
//! (`settlement_day`, 00:00 on the meter's clock), as `meter_memory`.

use std::time::Duration;

use chrono::TimeZone as _;
use readings::{Kind, Measure, MeterId, Quality, Quantity};

use super::codec::{frame_length, start_of_frame, DecodeError, Di, Request, START};
use super::data::{decode_meter_data, Amount, MeterData};
use super::device::Device;
use crate::line::port::FrameLength;
use crate::line::Endpoint;
use crate::line::error::ReadError;
use crate::poll::memory::settlement;
use crate::poll::meter::{Decoded, MemoryValue, MeterProtocol, Output};

/// The poller of one CJ/T 188 meter.
pub type MeterPoller = crate::poll::meter::MeterPoller<Cjt188Meter>;

/// A CJ/T 188 meter and the outputs of its type.
pub struct Cjt188Meter {
    device: Device,
    outputs: Vec<Output>,
}

impl Cjt188Meter {
    /// The protocol side of `device`.
    pub fn new(device: Device) -> Self {
        let o = |measure, kind| Output { quantity: Quantity::total(measure), medium: device.medium, kind };
        let outputs = if device.meter_type.is_heat_meter() {
            vec![
                o(Measure::HeatEnergy, Kind::Counter),
                o(Measure::HeatPower, Kind::Gauge),
                o(Measure::VolumeFlow, Kind::Gauge),
                o(Measure::Volume, Kind::Counter),
                o(Measure::SupplyTemperature, Kind::Gauge),
                o(Measure::ReturnTemperature, Kind::Gauge),
                o(Measure::OperatingTime, Kind::Counter),
            ]
        } else {
            vec![o(Measure::Volume, Kind::Counter)]
        };
        Self { device, outputs }
    }

    fn value(&self, i: usize, amount: Amount) -> Result<f64, ReadError> {
        let (decimal, unit) = amount.in_readings_unit().ok_or_else(|| ReadError::Protocol(format!("{amount} is out of range")))?;
        unit.convert(decimal.to_f64(), self.outputs[i].quantity.canonical_unit()).map_err(|e| ReadError::Protocol(e.to_string()))
    }
}

impl MeterProtocol for Cjt188Meter {
    type Request = Request;

    fn meter(&self) -> &MeterId {
        &self.device.meter
    }
    fn endpoint(&self) -> &Endpoint {
        &self.device.endpoint
    }
    fn interval(&self) -> Duration {
        self.device.interval.0
    }
    fn timeout(&self) -> Duration {
        self.device.timeout.0
    }
    fn outputs(&self) -> &[Output] {
        &self.outputs
    }

    fn requests(&self) -> Vec<(Request, Vec<u8>)> {
        let request = Request::read_data(self.device.meter_type, self.device.address, Di::READ_DATA, 0);
        let bytes = request.encode(self.device.dialect.preamble, self.device.dialect.di_order);
        vec![(request, bytes)]
    }

    fn frame_length(&self) -> FrameLength {
        frame_length
    }

    fn decode(&self, request: &Request, frame: &[u8]) -> Result<Decoded, ReadError> {
        // A garbled first byte after the bus turns round (FF FE...) is skipped: the frame after
        // it is checked whole.
        let (from, garbage) = match start_of_frame(frame) {
            Ok(_) => (0, 0),
            Err(DecodeError::Garbage { .. }) => {
                let start = frame.iter().position(|b| *b == START).unwrap_or(0);
                (start, frame[..start].iter().filter(|b| **b != super::codec::PREAMBLE_BYTE).count())
            }
            Err(e) => return Err(read_error(e)),
        };
        let answer = request.decode_answer(&frame[from..]).map_err(read_error)?;
        // The meter's clock is local time; a meter without one sends zeros (no time).
        let at = |t: Option<chrono::NaiveDateTime>| t.and_then(|t| self.device.utc_offset.from_local_datetime(&t).single()).map(|t| t.with_timezone(&chrono::Utc));
        let (values, meter_time, settled) = match decode_meter_data(&answer, &self.device.dialect).map_err(read_error)? {
            MeterData::Flow(f) => (vec![(0, self.value(0, f.current)?)], at(f.time), self.value(0, f.settlement)?),
            MeterData::Heat(h) => (
                vec![
                    (0, self.value(0, h.current_heat)?),
                    (1, self.value(1, h.heat_power)?),
                    (2, self.value(2, h.flow_rate)?),
                    (3, self.value(3, h.cumulative_flow)?),
                    // The frame carries temperatures in °C and hours without unit codes.
                    (4, h.supply_temperature.to_f64()),
                    (5, h.return_temperature.to_f64()),
                    (6, f64::from(h.working_hours)),
                ],
                at(h.time),
                self.value(0, h.settlement_heat)?,
            ),
        };
        Ok(Decoded { values, meter_time, garbage, memory: self.settlement(meter_time, settled).into_iter().collect() })
    }

    fn outputs_of(&self, _: &Request) -> Vec<usize> {
        (0..self.outputs.len()).collect()
    }
}

impl Cjt188Meter {
    /// The settlement-day total as a value of the meter's memory: at the last settlement on the
    /// meter's clock (the gateway's when the meter keeps none), flagged when that clock is off.
    fn settlement(&self, meter_time: Option<chrono::DateTime<chrono::Utc>>, value: f64) -> Option<MemoryValue> {
        let now = chrono::Utc::now();
        let clock_off = meter_time.is_some_and(|t| (t - now).abs() > chrono::Duration::from_std(self.device.clock_tolerance.0).unwrap_or_default());
        let local = meter_time.unwrap_or(now).with_timezone(&self.device.utc_offset).naive_local();
        let settled = settlement(local, self.device.settlement_day, 0, 1)?;
        let at = self.device.utc_offset.from_local_datetime(&settled).single()?.with_timezone(&chrono::Utc);
        Some(MemoryValue { output: 0, at, value, quality: if clock_off { Quality::ClockUnsynced } else { Quality::MeterMemory } })
    }

}

fn read_error(e: DecodeError) -> ReadError {
    match e {
        DecodeError::BadChecksum { .. } | DecodeError::BadEnd { .. } | DecodeError::Truncated { .. } | DecodeError::Trailing { .. } | DecodeError::Garbage { .. } => ReadError::Crc(e.to_string()),
        DecodeError::WrongAddress { .. } | DecodeError::WrongMeterType { .. } => ReadError::Address(e.to_string()),
        DecodeError::Abnormal { control, .. } => ReadError::Exception { code: control, name: e.to_string() },
        other => ReadError::Protocol(other.to_string()),
    }
}
