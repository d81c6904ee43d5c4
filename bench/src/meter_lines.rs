//! DL/T 645 and CJ/T 188 on an RS-485 line: the wire time of one cycle of each built-in DL/T 645
//! profile and of each CJ/T 188 meter kind, at 2400 and 9600 baud (8E1, 11 bits a character),
//! with and without the meters' turnaround. DL/T 645 is read one request per item; the column
//! "block" is what reading the per-phase items as blocks (DI1 = FFH: three phases in one answer)
//! would take, the saving still to be had. Computed from the frames' lengths, not measured.

use std::collections::BTreeMap;
use std::time::Duration;

use collector::cjt188::codec::{self as cjt, Address, Di, MeterType, Preamble};
use collector::dlt645::codec::{self as dlt, DataId, MeterAddress, Request, MIN_TURNAROUND};
use collector::dlt645::profile::{Profile, BUILTIN};

const BAUDS: [u32; 2] = [2400, 9600];
/// A typical meter's answer delay (DL/T 645 allows 20 to 500 ms).
const TYPICAL_TURNAROUND: Duration = Duration::from_millis(50);

/// Prints the table.
pub fn run() -> anyhow::Result<()> {
    let address: MeterAddress = "000012345678".parse().map_err(|e| anyhow::anyhow!("{e}"))?;
    println!("{:<28} {:>6} {:>9} {:>11} {:>14} {:>9} {:>11}", "meter", "baud", "requests", "wire ms", "+50 ms each", "block req", "block wire");
    for (name, _) in BUILTIN {
        let profile = Profile::builtin(name).ok_or_else(|| anyhow::anyhow!("{name}"))?.map_err(|e| anyhow::anyhow!("{e:?}"))?;
        // One request per item, with four wake-up bytes, as the poller sends.
        let per_item: Vec<(usize, usize)> = profile
            .items
            .iter()
            .map(|i| {
                let r = Request::Read { address, id: DataId(i.di) };
                (r.encode(4).map(|b| b.len()).unwrap_or(0), r.answer_len(i.format.bytes()))
            })
            .collect();
        // Items that differ only in their phase byte (DI1 = 01..03) read as one block.
        let mut blocks: BTreeMap<u32, usize> = BTreeMap::new();
        for i in &profile.items {
            let [_, di1, _, _] = i.di.to_le_bytes();
            let key = if (1..=3).contains(&di1) { i.di | 0x0000_FF00 } else { i.di };
            *blocks.entry(key).or_default() += i.format.bytes();
        }
        let block: Vec<(usize, usize)> = blocks
            .iter()
            .map(|(di, bytes)| {
                let r = Request::Read { address, id: DataId(*di) };
                (r.encode(4).map(|b| b.len()).unwrap_or(0), r.answer_len(*bytes))
            })
            .collect();
        for baud in BAUDS {
            let wire = |x: &[(usize, usize)]| x.iter().map(|(q, a)| dlt::exchange_time(baud, *q, *a)).sum::<Duration>();
            let (w, b) = (wire(&per_item), wire(&block));
            println!(
                "{:<28} {baud:>6} {:>9} {:>11.0} {:>14.0} {:>9} {:>11.0}",
                name,
                per_item.len(),
                w.as_secs_f64() * 1e3,
                (w + TYPICAL_TURNAROUND * per_item.len() as u32).as_secs_f64() * 1e3,
                block.len(),
                b.as_secs_f64() * 1e3
            );
        }
    }
    let line = |baud| collector::line::SerialLine { name: "l".into(), path: "/dev/null".into(), baud, parity: collector::line::Parity::Even, stop_bits: 1, byte_timeout: Duration::from_millis(100), echo: false };
    for (label, meter_type) in [("cjt188 water (901FH)", MeterType::ColdWater), ("cjt188 heat (901FH)", MeterType::Heat)] {
        let r = cjt::Request::read_data(meter_type, Address::WILDCARD, Di::READ_DATA, 0);
        let (q, a) = (cjt::Request::encoded_len(Preamble::FULL), cjt::answer_len(&r, meter_type).unwrap_or(0));
        for baud in BAUDS {
            let w = cjt::exchange_time(&line(baud), q, a);
            println!("{:<28} {baud:>6} {:>9} {:>11.0} {:>14.0} {:>9} {:>11}", label, 1, w.as_secs_f64() * 1e3, (w + TYPICAL_TURNAROUND).as_secs_f64() * 1e3, "-", "-");
        }
    }
    println!("(wire time at 11 bits a character; the meters' own answer delay comes on top: DL/T 645 allows {} to 500 ms)", MIN_TURNAROUND.as_millis());
    Ok(())
}
