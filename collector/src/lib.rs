//! The edge collector: reads meters, normalises their values into stored readings and hands them
//! to the store. Data flows one way: source -> normalise -> journal -> sink.

pub mod cjt188;
pub mod clock;
pub mod config;
pub mod console;
pub mod dead_letter;
pub mod disk;
pub mod dlt645;
pub mod health;
pub mod identify;
pub mod journal;
pub mod line;
pub mod live;
pub mod modbus;
pub mod mqtt;
pub mod normalise;
pub mod poll;
pub mod reload;
pub mod run;
pub mod scan;
pub mod settings;
pub mod sources;
pub mod schedule;
pub mod sink;
pub mod stats;
pub mod supervise;
