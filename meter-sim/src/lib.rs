//! `meter-sim`: simulated meters that serve the collector's built-in profiles over Modbus (TCP,
//! RTU over TCP, RTU on a serial line), and DL/T 645-2007 and CJ/T 188 meters on the same raw-frame
//! lines (serial, or TCP as a serial server passes them),
//! with realistic values (daily and weekly load shape, noise, counters that only grow, optional
//! rollover) and injectable faults, and simulated MQTT meters publishing JSON. Tests, the demo and the benchmarks use it.

pub mod bus;
pub mod cjt188;
pub mod dlt645;
pub mod encode;
pub mod fleet;
pub mod history;
pub mod model;
pub mod mqtt;
pub mod server;
pub mod spec;

pub use model::Meter;
pub use server::{serve, serve_rtu_over_tcp, serve_serial, Simulator};
pub use spec::{Cjt188Spec, DeviceSpec, Dlt645Spec, Faults};
