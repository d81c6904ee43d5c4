//! Wires a validated config into running tasks: one poller per device, one link per address, the
//! sink, and an orderly shutdown that flushes what was read.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

use anyhow::Context as _;
use readings::store::StoreWriter;
use tokio::sync::{mpsc, watch, Mutex};
use tracing::info;

use crate::config::Config;
use crate::modbus::link::Link;
use crate::modbus::poller::DevicePoller;
use crate::normalise::Identity;
use crate::sink;
use crate::stats::{Stats, Summary};

/// Polls every device of `config` into the store until `shutdown` completes, then writes what is
/// buffered and returns the counters (which `stats` shows live meanwhile).
pub async fn run(config: Config, stats: Arc<Stats>, shutdown: impl Future<Output = ()>) -> anyhow::Result<Summary> {
    let store_dir = config.store_dir();
    let store = StoreWriter::open(&store_dir).with_context(|| format!("opening the Parquet store at {}", store_dir.display()))?;
    let store = Arc::new(store);
    let identity = Identity { enterprise: config.enterprise.clone(), site: config.site.clone() };

    let (tx, rx) = mpsc::channel(1024);
    let sink_task = tokio::spawn(sink::parquet::run(Arc::clone(&store), config.parquet.clone(), Arc::clone(&stats), rx));

    let (stop_tx, stop_rx) = watch::channel(false);
    let mut links: BTreeMap<_, Arc<Mutex<Link>>> = BTreeMap::new();
    let mut pollers = Vec::new();
    for device in config.devices {
        let link = links.entry(device.endpoint.clone()).or_insert_with(|| Arc::new(Mutex::new(Link::new(device.endpoint.clone()))));
        info!(
            device = %device.meter,
            endpoint = %device.endpoint,
            unit = device.unit,
            interval = %device.interval,
            points = device.map.points.len(),
            "polling"
        );
        let poller = DevicePoller::new(device, Arc::clone(link), identity.clone(), Arc::clone(&stats), tx.clone());
        pollers.push(tokio::spawn(poller.run(stop_rx.clone())));
    }
    drop(tx);
    info!(devices = pollers.len(), connections = links.len(), store = %store_dir.display(), "collector running");

    shutdown.await;
    info!("shutting down: finishing cycles under way and writing buffered readings");
    let _ = stop_tx.send(true);
    for p in pollers {
        p.await.context("a device poller failed")?;
    }
    sink_task.await.context("the Parquet sink failed")?;
    Ok(stats.snapshot())
}
