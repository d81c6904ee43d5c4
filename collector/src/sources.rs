//! The running sources (Modbus, DL/T 645 and CJ/T 188 pollers, meter backfills, the MQTT
//! source), each startable and stoppable on its own so that a reload replaces only what changed:
//! a device whose config is unchanged keeps its task, its schedule and its link. Devices of any
//! protocol on one line share that line's link.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::AbortHandle;
use tracing::{info, warn};

use crate::clock::ClockTrust;
use crate::config::Config;
use crate::dead_letter::DeadLetters;
use crate::journal::writer::Append;
use crate::line::link::Link;
use crate::line::Endpoint;
use crate::mqtt::source::{Credentials, MqttSpec};
use crate::normalise::Identity;
use crate::poll::{PollerShared, SharedLink};
use crate::stats::Stats;
use crate::supervise::Supervisor;

/// How long a stopped source may take to finish its cycle before it is aborted.
const STOP_GRACE: Duration = Duration::from_secs(30);

/// One source as configured.
#[derive(Debug, Clone, PartialEq)]
pub enum Spec {
    Modbus(crate::modbus::device::Device),
    Dlt645(crate::dlt645::device::Device),
    Cjt188(crate::cjt188::device::Device),
    Mqtt(Box<(MqttSpec, Credentials)>),
}

impl Spec {
    /// The line it polls over, if any.
    fn endpoint(&self) -> Option<&Endpoint> {
        match self {
            Spec::Modbus(d) => Some(&d.endpoint),
            Spec::Dlt645(d) => Some(&d.endpoint),
            Spec::Cjt188(d) => Some(&d.endpoint),
            Spec::Mqtt(_) => None,
        }
    }

    /// The device name its counters are kept under.
    fn device(&self) -> Option<&str> {
        match self {
            Spec::Modbus(d) => Some(d.meter.as_str()),
            Spec::Dlt645(d) => Some(d.meter.as_str()),
            Spec::Cjt188(d) => Some(d.meter.as_str()),
            Spec::Mqtt(_) => None,
        }
    }
}

/// Every source of `config`, by a key unique across protocols (`modbus:NAME`, `dlt645:NAME`,
/// `cjt188:NAME`, `mqtt`).
pub fn specs(config: &Config) -> BTreeMap<String, Spec> {
    let mut out = BTreeMap::new();
    for d in &config.devices {
        out.insert(format!("modbus:{}", d.meter), Spec::Modbus(d.clone()));
    }
    for d in &config.dlt645_devices {
        out.insert(format!("dlt645:{}", d.meter), Spec::Dlt645(d.clone()));
    }
    for d in &config.cjt188_devices {
        out.insert(format!("cjt188:{}", d.meter), Spec::Cjt188(d.clone()));
    }
    if let Some(mqtt) = &config.mqtt {
        out.insert("mqtt".into(), Spec::Mqtt(Box::new(mqtt.clone())));
    }
    out
}

/// What sources need from the rest of the collector.
#[derive(Clone)]
pub struct Env {
    pub shared: PollerShared,
    pub identity: Identity,
    pub out: mpsc::Sender<Append>,
    pub dead_letters: DeadLetters,
    pub stats: Arc<Stats>,
    pub trust: Arc<ClockTrust>,
    /// Where the meters' backfill state files live.
    pub backfill_dir: PathBuf,
}

/// A started source: how to stop it and know it has.
struct Running {
    spec: Spec,
    stop: watch::Sender<bool>,
    tasks: Vec<(AbortHandle, oneshot::Receiver<()>)>,
}

/// What a reload changed, by source key.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Changes {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub changed: Vec<String>,
    pub unchanged: usize,
}

impl std::fmt::Display for Changes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let list = |v: &[String]| if v.is_empty() { "none".to_owned() } else { v.join(", ") };
        write!(f, "added: {}; removed: {}; changed: {}; unchanged: {}", list(&self.added), list(&self.removed), list(&self.changed), self.unchanged)
    }
}

/// The open links by endpoint, shared with the console so that a read it makes on a line takes
/// its turn with the pollers there.
pub type Links = Arc<std::sync::Mutex<BTreeMap<Endpoint, SharedLink>>>;

/// The running sources.
pub struct Sources {
    env: Env,
    links: Links,
    running: BTreeMap<String, Running>,
}

impl Sources {
    /// No source running yet.
    pub fn new(env: Env) -> Self {
        Self { env, links: Links::default(), running: BTreeMap::new() }
    }

    /// The open links.
    pub fn links(&self) -> Links {
        Arc::clone(&self.links)
    }

    fn with_links<T>(&self, f: impl FnOnce(&mut BTreeMap<Endpoint, SharedLink>) -> T) -> T {
        f(&mut self.links.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Devices polled, and distinct links they use.
    pub fn counts(&self) -> (usize, usize) {
        (self.running.values().filter(|r| r.spec.device().is_some()).count(), self.with_links(|l| l.len()))
    }

    /// Starts every source of `specs`.
    pub fn start_all(&mut self, specs: BTreeMap<String, Spec>, tasks: &mut Supervisor) {
        for (key, spec) in specs {
            self.start(key, spec, tasks);
        }
    }

    /// Makes the running sources those of `specs`: stops removed and changed ones (each
    /// finishing its cycle), then starts changed and added ones. Unchanged ones are not touched.
    pub async fn apply(&mut self, specs: BTreeMap<String, Spec>, tasks: &mut Supervisor) -> Changes {
        let mut changes = Changes::default();
        for (key, running) in &self.running {
            match specs.get(key) {
                None => changes.removed.push(key.clone()),
                Some(spec) if *spec != running.spec => changes.changed.push(key.clone()),
                Some(_) => changes.unchanged += 1,
            }
        }
        changes.added = specs.keys().filter(|k| !self.running.contains_key(*k)).cloned().collect();
        for key in changes.removed.iter().chain(&changes.changed) {
            self.stop(key, tasks).await;
        }
        for key in &changes.removed {
            if let Some(device) = key.split_once(':').map(|(_, d)| d) {
                self.env.stats.remove_device(device);
                self.env.shared.live.remove(device);
            }
        }
        // A line whose settings changed is a new endpoint: the old link (and its port) closes
        // once no device uses it, before a device opens the new one.
        self.with_links(|links| links.retain(|endpoint, _| specs.values().any(|s| s.endpoint() == Some(endpoint))));
        for key in changes.changed.iter().chain(&changes.added) {
            if let Some(spec) = specs.get(key) {
                self.start(key.clone(), spec.clone(), tasks);
            }
        }
        changes
    }

    /// Tells shutdown to every source without waiting (the supervisor then joins them).
    pub fn signal_stop(&self) {
        for running in self.running.values() {
            let _ = running.stop.send(true);
        }
    }

    async fn stop(&mut self, key: &str, tasks: &mut Supervisor) {
        let Some(running) = self.running.remove(key) else { return };
        for (handle, _) in &running.tasks {
            tasks.retire(handle.id());
        }
        let _ = running.stop.send(true);
        for (handle, done) in running.tasks {
            if tokio::time::timeout(STOP_GRACE, done).await.is_err() {
                warn!(source = key, grace = ?STOP_GRACE, "a stopped source did not finish its cycle in time; aborting it");
                handle.abort();
            }
        }
    }

    fn start(&mut self, key: String, spec: Spec, tasks: &mut Supervisor) {
        let (stop, stop_rx) = watch::channel(false);
        let mut started = Vec::new();
        let mut spawn = |name: String, run: std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>| {
            let (done_tx, done_rx) = oneshot::channel();
            let handle = tasks.spawn(name, async move {
                run.await;
                let _ = done_tx.send(());
                Ok(())
            });
            started.push((handle, done_rx));
        };
        let link = spec.endpoint().map(|e| self.with_links(|links| links.entry(e.clone()).or_insert_with(|| SharedLink::new(Link::new(e.clone()))).clone()));
        let env = &self.env;
        match (&spec, link) {
            (Spec::Modbus(device), Some(link)) => {
                info!(device = %device.meter, endpoint = %device.endpoint, unit = device.unit, interval = %device.interval, points = device.map.points.len(), "polling");
                let poller = crate::modbus::poller::DevicePoller::new(device.clone(), link, env.shared.clone());
                spawn(format!("the poller of {}", device.meter), Box::pin(poller.run(stop_rx)));
            }
            (Spec::Dlt645(device), Some(link)) => {
                info!(device = %device.meter, endpoint = %device.endpoint, address = %device.address, interval = %device.interval, items = device.items.len(), "polling (DL/T 645)");
                // Settlement totals are the 2007 edition's: a 1997 meter keeps none under its items.
                if device.backfill && device.items.iter().any(|i| i.edition == crate::dlt645::codec::Edition::V2007) {
                    let backfill = crate::dlt645::backfill::run(device.clone(), link.clone(), env.shared.clone(), env.backfill_dir.clone(), stop_rx.clone());
                    spawn(format!("the backfill of {}", device.meter), Box::pin(backfill));
                }
                let poller = crate::dlt645::poller::MeterPoller::new(crate::dlt645::poller::Dlt645Meter::new(device.clone()), link, env.shared.clone());
                spawn(format!("the poller of {}", device.meter), Box::pin(poller.run(stop_rx)));
            }
            (Spec::Cjt188(device), Some(link)) => {
                info!(device = %device.meter, endpoint = %device.endpoint, address = %device.address, meter_type = %device.meter_type, interval = %device.interval, "polling (CJ/T 188)");
                let state = crate::poll::memory::StoredUpTo::new(&env.backfill_dir, "cjt188", device.meter.as_str());
                let poller = crate::cjt188::poller::MeterPoller::new(crate::cjt188::poller::Cjt188Meter::new(device.clone()), link, env.shared.clone()).with_memory(state);
                spawn(format!("the poller of {}", device.meter), Box::pin(poller.run(stop_rx)));
            }
            (Spec::Mqtt(mqtt), _) => {
                let (spec, credentials) = mqtt.as_ref();
                info!(broker = %format!("{}:{}", spec.host, spec.port), subscriptions = spec.subscriptions.len(), "MQTT source");
                let source = crate::mqtt::source::run(
                    spec.clone(),
                    credentials.clone(),
                    env.identity.clone(),
                    env.out.clone(),
                    env.dead_letters.clone(),
                    Arc::clone(&env.stats),
                    Arc::clone(&env.trust),
                    Arc::clone(&env.shared.live),
                    stop_rx,
                );
                spawn("the MQTT source".into(), Box::pin(source));
            }
            // Every device spec has an endpoint, so it has a link.
            (_, None) => {}
        }
        self.running.insert(key, Running { spec, stop, tasks: started });
    }
}
