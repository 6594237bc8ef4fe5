//! Shared pieces of the HA tests: a real MariaDB cluster with the engine running on it,
//! a write load that records every acknowledged write, and event waiting.
#![allow(dead_code)]

use mysql_async::prelude::*;
use mysql_operator_topology::{
    Config, Credentials, Engine, EngineHandle, Event, Heartbeat, NodeAddr,
};
use policy::{ClusterInfo, FailoverCandidate, Flavor};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use testkit::mariadb::{self, MariaDb, Options};
use tokio::sync::broadcast;

pub struct Cluster {
    pub db: MariaDb,
    pub engine: EngineHandle,
    pub events: broadcast::Receiver<Event>,
    pub addrs: Vec<NodeAddr>,
    _heartbeats: Vec<Heartbeat>,
}

pub fn creds() -> Credentials {
    Credentials {
        admin_user: "root".into(),
        admin_password: mariadb::ROOT_PASSWORD.into(),
        repl_user: mariadb::REPL_USER.into(),
        repl_password: mariadb::REPL_PASSWORD.into(),
    }
}

pub fn cluster_info(name: &str, replicas: u32) -> ClusterInfo {
    ClusterInfo {
        name: name.into(),
        namespace: "test".into(),
        flavor: Flavor::Mariadb,
        version: "10.11".into(),
        replicas,
        labels: Default::default(),
    }
}

/// Start `n` servers (read-only, as real pods start), the engine and heartbeat writers;
/// wait until one primary is elected and every replica replicates.
pub async fn start(name: &str, n: usize, hook: Arc<dyn FailoverCandidate>) -> Cluster {
    let db = MariaDb::start_with(Options {
        nodes: n,
        read_only: true,
        ..Options::default()
    });
    let addrs: Vec<NodeAddr> = db
        .nodes()
        .iter()
        .map(|nd| NodeAddr {
            name: format!("n{}", nd.index),
            ordinal: nd.index as u32,
            host: nd.host.to_string(),
            port: nd.port,
        })
        .collect();
    let engine = Engine::new(
        cluster_info(name, n as u32),
        flavor::Flavor::Mariadb,
        addrs.clone(),
        creds(),
        Config::default(),
        hook,
    )
    .spawn();
    let events = engine.subscribe();
    let heartbeats = db
        .nodes()
        .iter()
        .map(|nd| Heartbeat::spawn(nd.opts(), Duration::from_secs(1)))
        .collect();
    let mut c = Cluster {
        db,
        engine,
        events,
        addrs,
        _heartbeats: heartbeats,
    };
    c.wait_replicating(Duration::from_secs(30)).await;
    // the election's events are not what the scenarios wait for
    while c.events.try_recv().is_ok() {}
    let mut conn = c.root(&c.primary().await).await;
    conn.query_drop(
        "CREATE TABLE IF NOT EXISTS app.t (id BIGINT PRIMARY KEY, at DATETIME(6) NOT NULL)",
    )
    .await
    .unwrap();
    c
}

impl Cluster {
    pub fn index(&self, name: &str) -> usize {
        self.addrs.iter().position(|a| a.name == name).unwrap()
    }

    pub async fn root(&self, name: &str) -> mysql_async::Conn {
        mysql_async::Conn::new(self.db.node(self.index(name)).opts())
            .await
            .unwrap()
    }

    /// The engine's current primary (waits up to 30 s for one).
    pub async fn primary(&self) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(p) = self.engine.memory().await.and_then(|m| m.primary) {
                return p;
            }
            assert!(Instant::now() < deadline, "no primary elected in 30 s");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Wait until the primary is writable and every other running node replicates from it.
    pub async fn wait_replicating(&self, limit: Duration) {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(p) = self.engine.memory().await.and_then(|m| m.primary) {
                let mut ok = true;
                for a in &self.addrs {
                    let Ok(Ok(mut c)) = tokio::time::timeout(
                        Duration::from_secs(1),
                        mysql_async::Conn::new(self.db.node(self.index(&a.name)).opts()),
                    )
                    .await
                    else {
                        continue;
                    };
                    let ro: i64 = c.query_first("SELECT @@read_only").await.unwrap().unwrap();
                    if a.name == p {
                        ok &= ro == 0;
                    } else {
                        let st: Option<mysql_async::Row> =
                            c.query_first("SHOW SLAVE STATUS").await.unwrap();
                        let running = st.is_some_and(|r| {
                            r.get::<String, _>("Slave_IO_Running").as_deref() == Some("Yes")
                                && r.get::<String, _>("Slave_SQL_Running").as_deref() == Some("Yes")
                        });
                        ok &= ro == 1 && running;
                    }
                }
                if ok {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "cluster did not converge in {limit:?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Wait for an event matching `pred`, failing after `limit`.
    pub async fn wait_event(
        &mut self,
        limit: Duration,
        what: &str,
        pred: impl Fn(&Event) -> bool,
    ) -> Event {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, self.events.recv()).await {
                Ok(Ok(e)) => {
                    eprintln!("event: {e}");
                    if pred(&e) {
                        return e;
                    }
                }
                Ok(Err(broadcast::error::RecvError::Lagged(_))) => {}
                Ok(Err(e)) => panic!("event stream closed: {e}"),
                Err(_) => panic!("no {what} event within {limit:?}"),
            }
        }
    }

    /// Ids present in `app.t` on `name`.
    pub async fn ids_on(&self, name: &str) -> Vec<u64> {
        let mut c = self.root(name).await;
        c.query("SELECT id FROM app.t ORDER BY id").await.unwrap()
    }

    /// Try one write as the application user; `Err` carries the server's message.
    pub async fn app_write(&self, name: &str, id: u64) -> Result<(), String> {
        let opts = self.db.node(self.index(name)).app_opts();
        let fut = async {
            let mut c = mysql_async::Conn::new(opts)
                .await
                .map_err(|e| e.to_string())?;
            c.exec_drop("INSERT INTO app.t VALUES (?, UTC_TIMESTAMP(6))", (id,))
                .await
                .map_err(|e| e.to_string())
        };
        tokio::time::timeout(Duration::from_secs(3), fut)
            .await
            .unwrap_or_else(|_| Err("timed out".into()))
    }
}

/// A client writing sequential ids to whichever node accepts them, remembering every
/// write the server acknowledged and when.
pub struct Load {
    pub acked: Arc<Mutex<Vec<(u64, Instant)>>>,
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Load {
    pub fn start(c: &Cluster, first_id: u64) -> Load {
        let targets: Vec<mysql_async::Opts> = c.db.nodes().iter().map(|n| n.app_opts()).collect();
        let acked = Arc::new(Mutex::new(Vec::new()));
        let (stop, rx) = tokio::sync::watch::channel(false);
        let acked2 = acked.clone();
        let task = tokio::spawn(async move {
            let mut id = first_id;
            let mut conn: Option<mysql_async::Conn> = None;
            while !*rx.borrow() {
                if conn.is_none() {
                    conn = find_writable(&targets).await;
                    if conn.is_none() {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        continue;
                    }
                }
                let Some(cn) = conn.as_mut() else { continue };
                id += 1;
                let r = tokio::time::timeout(
                    Duration::from_secs(2),
                    cn.exec_drop("INSERT INTO app.t VALUES (?, UTC_TIMESTAMP(6))", (id,)),
                )
                .await;
                match r {
                    Ok(Ok(())) => acked2.lock().unwrap().push((id, Instant::now())),
                    _ => conn = None,
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        });
        Load { acked, stop, task }
    }

    pub async fn stop(self) -> Vec<(u64, Instant)> {
        let _ = self.stop.send(true);
        let _ = self.task.await;
        self.acked.lock().unwrap().clone()
    }

    pub fn count(&self) -> usize {
        self.acked.lock().unwrap().len()
    }
}

async fn find_writable(targets: &[mysql_async::Opts]) -> Option<mysql_async::Conn> {
    for t in targets {
        let Ok(Ok(mut c)) = tokio::time::timeout(
            Duration::from_millis(300),
            mysql_async::Conn::new(t.clone()),
        )
        .await
        else {
            continue;
        };
        if let Ok(Ok(Some(0i64))) = tokio::time::timeout(
            Duration::from_millis(300),
            c.query_first("SELECT @@GLOBAL.read_only"),
        )
        .await
        {
            return Some(c);
        }
    }
    None
}

/// Every acknowledged id must be on `name`.
pub async fn assert_all_acked_present(c: &Cluster, name: &str, acked: &[(u64, Instant)]) {
    let present: std::collections::HashSet<u64> = c.ids_on(name).await.into_iter().collect();
    let missing: Vec<u64> = acked
        .iter()
        .map(|(i, _)| *i)
        .filter(|i| !present.contains(i))
        .collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged writes missing on {name}: {:?}",
        missing.len(),
        &missing[..missing.len().min(20)]
    );
    assert!(!acked.is_empty(), "the load acknowledged no write at all");
}
