//! MQTT: subscriptions, how their messages map to readings, and the source that receives them.

pub mod mapping;
pub mod reconnect;
pub mod source;
