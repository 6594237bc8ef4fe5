//! Fixtures shared by the plugin host's test suites: one host for the whole binary (so
//! each module compiles once), requests shaped like the operator's, a simple built-in
//! failover rule, and an event sink that records.

#![allow(dead_code)]

use plugin::{
    AttachmentSpec, BreakerConfig, EventSink, FailurePolicy, Host, HostConfig, Limits, ModuleBytes,
    ModuleSpec, PluginEvent, Registry,
};
use policy::*;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

pub fn host() -> Arc<Host> {
    static HOST: OnceLock<Arc<Host>> = OnceLock::new();
    HOST.get_or_init(|| Host::new(HostConfig::default()).expect("host"))
        .clone()
}

/// Bytes of a Rust test module (wasm32-unknown-unknown + wasm-tools component new).
pub fn module(package: &str) -> Vec<u8> {
    testkit::wasm::bytes(testkit::wasm::rust_component(package))
}

#[derive(Default)]
pub struct Events(pub Mutex<Vec<PluginEvent>>);

impl EventSink for Events {
    fn emit(&self, event: PluginEvent) {
        self.0.lock().unwrap().push(event);
    }
}

impl Events {
    pub fn take(&self) -> Vec<PluginEvent> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

pub fn registry(breaker: BreakerConfig) -> (Registry, Arc<Events>) {
    let events = Arc::new(Events::default());
    (Registry::new(host(), events.clone(), breaker), events)
}

pub fn spec(name: &str, bytes: Vec<u8>, settings: &str, policy: FailurePolicy) -> AttachmentSpec {
    AttachmentSpec {
        module: ModuleSpec {
            name: name.into(),
            bytes: ModuleBytes::Single(bytes),
            sha256: None,
            limits: Limits::default(),
        },
        hooks: Vec::new(),
        settings: settings.into(),
        failure_policy: policy,
    }
}

pub fn cluster() -> ClusterInfo {
    ClusterInfo {
        name: "shop".into(),
        namespace: "prod".into(),
        flavor: Flavor::Mariadb,
        version: "10.11.6".into(),
        replicas: 6,
        labels: BTreeMap::from([("team".into(), "payments".into())]),
    }
}

pub fn candidate(
    ordinal: u32,
    zone: &str,
    lag: Option<f64>,
    healthy: bool,
    errant: &str,
) -> Candidate {
    Candidate {
        pod_name: format!("shop-mysql-{ordinal}"),
        ordinal,
        zone: Some(zone.into()),
        labels: BTreeMap::from([("role".into(), "replica".into())]),
        gtid_executed: "0-1-100".into(),
        gtid_retrieved: "0-1-100".into(),
        errant_gtids: errant.into(),
        lag_seconds: lag,
        io_thread: ThreadState::Running,
        sql_thread: ThreadState::Running,
        healthy,
    }
}

/// Five candidates: zone a (1, 2), zone b (3 lagging, 4), zone c (5 with errant GTIDs).
pub fn failover_request(reason: FailoverReason) -> FailoverRequest {
    FailoverRequest {
        cluster: cluster(),
        failed_primary: FailedPrimary {
            pod_name: "shop-mysql-0".into(),
            ordinal: 0,
            zone: Some("a".into()),
            last_known_gtid_executed: "0-1-100".into(),
        },
        reason,
        candidates: vec![
            candidate(1, "a", Some(0.5), true, ""),
            candidate(2, "a", Some(0.0), true, ""),
            candidate(3, "b", Some(9.0), true, ""),
            candidate(4, "b", Some(1.0), true, ""),
            candidate(5, "c", Some(0.0), true, "0-9-3"),
        ],
        settings: "{}".into(),
    }
}

pub fn init_request(role: NodeRole) -> InitScriptRequest {
    InitScriptRequest {
        cluster: cluster(),
        ordinal: 2,
        pod_name: "shop-mysql-2".into(),
        role,
        data_dir_was_empty: true,
        data_source: DataSource::PeerClone,
        default_script: "CREATE TABLE IF NOT EXISTS sys_operator.status (k INT);\n".into(),
        settings: "{}".into(),
    }
}

pub fn backup_request() -> BackupFilterRequest {
    let t = |schema: &str, name: &str, engine: &str| TableInfo {
        schema: schema.into(),
        name: name.into(),
        engine: engine.into(),
        size_bytes: 4096,
    };
    BackupFilterRequest {
        cluster: cluster(),
        kind: BackupKind::PeerClone,
        tables: vec![
            t("shop", "orders", "InnoDB"),
            t("shop", "sessions", "MEMORY"),
            t("sys_operator", "status", "InnoDB"),
        ],
        settings: "{}".into(),
    }
}

/// Stand-in built-in rule: the lowest-ordinal safe candidate, else veto.
pub struct FirstSafe;

impl FailoverCandidate for FirstSafe {
    fn choose(&self, r: &FailoverRequest) -> Result<Decision, HookError> {
        Ok(r.candidates
            .iter()
            .filter(|c| c.healthy && c.errant_gtids.is_empty())
            .min_by_key(|c| c.ordinal)
            .map(|c| Decision::Promote(c.pod_name.clone()))
            .unwrap_or(Decision::Veto("no safe candidate".into())))
    }
}

pub fn builtin() -> Arc<dyn FailoverCandidate> {
    Arc::new(FirstSafe)
}

pub fn quick_breaker() -> BreakerConfig {
    BreakerConfig {
        threshold: 1000,
        base_backoff: Duration::from_millis(100),
        max_backoff: Duration::from_secs(1),
    }
}
