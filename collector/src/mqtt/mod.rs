//! MQTT: subscriptions and how their messages map to readings. The broker connection (rumqttc,
//! persistent session, acknowledgement after the journal) comes with the MQTT issue.

pub mod mapping;
