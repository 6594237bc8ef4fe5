//! The HA loop for one cluster: observe (replicas first, primary last), decide (pure),
//! execute (idempotent), report events; plus planned switchover on request. Runs as a
//! tokio task controlled through an [`EngineHandle`], which also reads the [`Snapshot`]
//! the loop publishes after every round (what it saw and what it remembers), so readers
//! (pod labels, status) never wait on a probe and never probe again.

use crate::decide::decide;
use crate::execute::{ExecError, Servers, execute};
use crate::failover::{FailoverInput, failover, observe_all, switchover};
use crate::model::{Action, Config, Credentials, Event, Memory, NodeAddr, NodeState};
use crate::observe::observe_node;
use flavor::Flavor;
use policy::{ClusterInfo, FailoverCandidate};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tracing::Instrument;

/// Events kept for slow subscribers (a subscriber further behind is told how many it
/// missed). Small: every cluster's engine preallocates it.
const EVENT_BUFFER: usize = 64;

/// One cluster's HA engine (not yet running; see [`Engine::spawn`]).
pub struct Engine {
    servers: Servers,
    cluster: ClusterInfo,
    hook: Arc<dyn FailoverCandidate>,
    settings: String,
    memory: Memory,
    events: broadcast::Sender<Event>,
    /// Where a spawned loop publishes each round's [`Snapshot`].
    snapshot: Option<watch::Sender<Option<Arc<Snapshot>>>>,
}

enum Command {
    Switchover {
        target: Option<String>,
        reply: oneshot::Sender<Result<Vec<Event>, ExecError>>,
    },
    Stop,
}

/// What one round of the loop saw and concluded; published after every round.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Every node as last observed (the round's observation, in observation order).
    pub nodes: Vec<NodeState>,
    /// The engine's memory after the round (current primary, errant nodes, blocked reason).
    pub memory: Memory,
}

/// Control a running engine: subscribe to events, read its snapshot, ask for a
/// switchover, stop it.
#[derive(Clone)]
pub struct EngineHandle {
    commands: mpsc::Sender<Command>,
    /// Set by [`EngineHandle::stop`]; the loop checks it before every round.
    stopping: Arc<AtomicBool>,
    events: broadcast::Sender<Event>,
    /// `None` until the first round; the sender lives in the loop's task, so this
    /// channel closing means the loop has ended.
    snapshot: watch::Receiver<Option<Arc<Snapshot>>>,
}

impl Engine {
    /// `hook` decides the failover candidate (pass `Arc::new(policy::BuiltinFailover)`
    /// when no policy module is attached).
    pub fn new(
        cluster: ClusterInfo,
        flavor: Flavor,
        nodes: Vec<NodeAddr>,
        creds: Credentials,
        config: Config,
        hook: Arc<dyn FailoverCandidate>,
    ) -> Engine {
        let (events, _) = broadcast::channel(EVENT_BUFFER);
        Engine {
            servers: Servers {
                flavor,
                nodes,
                creds,
                config,
            },
            cluster,
            hook,
            settings: "{}".into(),
            memory: Memory::default(),
            events,
            snapshot: None,
        }
    }

    /// The failover hook's settings (JSON text from the cluster spec).
    pub fn with_settings(mut self, settings: String) -> Engine {
        self.settings = settings;
        self
    }

    /// Observe in the safe order: every node but the believed primary concurrently,
    /// then the primary (so replicas can never look ahead of it by timing).
    pub async fn observe(&self) -> Vec<NodeState> {
        let s = &self.servers;
        let primary = self.memory.primary.as_deref();
        let mut nodes = observe_all(s, primary).await;
        if let Some(p) = primary.and_then(|p| s.nodes.iter().find(|n| n.name == p)) {
            nodes.push(observe_node(s.flavor, p, &s.nodes, &s.creds, s.config.probe_timeout).await);
        }
        nodes
    }

    /// One observe → decide → execute round; returns the events it produced.
    pub async fn tick(&mut self) -> Vec<Event> {
        let span = tracing::info_span!("tick", cluster = %self.cluster.name);
        self.tick_inner().instrument(span).await
    }

    /// Publish the round's snapshot (spawned loops only).
    fn publish(&self, nodes: Option<Vec<NodeState>>) {
        if let Some(tx) = &self.snapshot {
            let memory = self.memory.clone();
            tx.send_modify(|s| {
                let nodes = nodes
                    .unwrap_or_else(|| s.as_ref().map(|s| s.nodes.clone()).unwrap_or_default());
                *s = Some(Arc::new(Snapshot { nodes, memory }));
            });
        }
    }

    async fn tick_inner(&mut self) -> Vec<Event> {
        let nodes = self.observe().await;
        let before = self.memory.clone();
        let plan = decide(&nodes, &self.memory, &self.servers.config);
        self.memory = plan.memory;
        let mut events = Vec::new();
        if self.memory.primary != before.primary && self.memory.primary.is_some() {
            events.push(Event::PrimaryElected {
                node: self.memory.primary.clone().unwrap_or_default(),
            });
        }
        if self.memory.primary_failures > 0
            && self.memory.primary_failures != before.primary_failures
        {
            events.push(Event::PrimaryUnreachable {
                node: self.memory.primary.clone().unwrap_or_default(),
                failures: self.memory.primary_failures,
            });
        }
        for action in &plan.actions {
            let out = match action {
                Action::Failover {
                    old_primary,
                    reason,
                } => {
                    let input = FailoverInput {
                        cluster: &self.cluster,
                        hook: self.hook.as_ref(),
                        settings: &self.settings,
                    };
                    failover(
                        &self.servers,
                        &input,
                        &mut self.memory,
                        old_primary.clone(),
                        reason,
                    )
                    .instrument(tracing::info_span!(
                        "failover",
                        cluster = %self.cluster.name,
                        old_primary = ?old_primary
                    ))
                    .await
                }
                other => execute(&self.servers, other, &mut self.memory).await,
            };
            events.extend(out);
        }
        // Readers woken by an event find the snapshot that event describes.
        self.publish(Some(nodes));
        for e in &events {
            tracing::info!(cluster = %self.cluster.name, "{e}");
            let _ = self.events.send(e.clone());
        }
        events
    }

    /// Run the loop in a tokio task.
    pub fn spawn(self) -> EngineHandle {
        self.spawn_after(std::future::ready(()))
    }

    /// Run the loop in a tokio task once `after` completes (commands wait until then):
    /// a restarted cluster's new engine starts only when the old one has stopped, so two
    /// engines never act on one cluster at once.
    pub fn spawn_after(
        mut self,
        after: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> EngineHandle {
        let (tx, mut rx) = mpsc::channel(16);
        let (snap_tx, snap_rx) = watch::channel(None);
        self.snapshot = Some(snap_tx);
        let stopping = Arc::new(AtomicBool::new(false));
        let handle = EngineHandle {
            commands: tx,
            stopping: stopping.clone(),
            events: self.events.clone(),
            snapshot: snap_rx,
        };
        tokio::spawn(async move {
            after.await;
            loop {
                if stopping.load(Ordering::Acquire) {
                    return;
                }
                self.tick().await;
                let sleep = tokio::time::sleep(self.servers.config.probe_interval);
                tokio::pin!(sleep);
                loop {
                    tokio::select! {
                        _ = &mut sleep => break,
                        cmd = rx.recv() => match cmd {
                            None | Some(Command::Stop) => return,
                            Some(Command::Switchover { target, reply }) => {
                                let input = FailoverInput { cluster: &self.cluster, hook: self.hook.as_ref(), settings: &self.settings };
                                let span = tracing::info_span!("switchover", cluster = %self.cluster.name);
                                let r = switchover(&self.servers, &input, &mut self.memory, target.as_deref()).instrument(span).await;
                                // The new primary is visible to readers before the reply.
                                self.publish(None);
                                if let Ok(ev) = &r {
                                    for e in ev {
                                        tracing::info!(cluster = %self.cluster.name, "{e}");
                                        let _ = self.events.send(e.clone());
                                    }
                                }
                                let _ = reply.send(r);
                            }
                        }
                    }
                }
            }
        });
        handle
    }
}

impl EngineHandle {
    /// Receive every event from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }

    /// Planned switchover to `target` (or the least-lagging replica).
    pub async fn switchover(&self, target: Option<String>) -> Result<Vec<Event>, ExecError> {
        let (reply, rx) = oneshot::channel();
        self.commands
            .send(Command::Switchover { target, reply })
            .await
            .map_err(|_| ExecError::Refused("engine stopped".into()))?;
        rx.await
            .map_err(|_| ExecError::Refused("engine stopped".into()))?
    }

    /// The engine's memory (current primary, errant nodes, blocked reason) after its
    /// latest round; waits for the first round. `None` once the engine has stopped.
    pub async fn memory(&self) -> Option<Memory> {
        let mut rx = self.snapshot.clone();
        let snap = rx.wait_for(Option::is_some).await.ok()?;
        snap.as_ref().map(|s| s.memory.clone())
    }

    /// The latest round's snapshot, without waiting (`None` before the first round).
    pub fn snapshot(&self) -> Option<Arc<Snapshot>> {
        self.snapshot.borrow().clone()
    }

    /// Ask the loop to stop after its current round (a failover in progress finishes);
    /// does not wait — see [`EngineHandle::stopped`].
    pub fn stop(&self) {
        self.stopping.store(true, Ordering::Release);
        // Only a wake-up: with the queue full the loop is busy anyway and sees the flag
        // before its next round.
        let _ = self.commands.try_send(Command::Stop);
    }

    /// Resolves once the loop's task has ended (at once if it already has).
    pub fn stopped(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut rx = self.snapshot.clone();
        async move { while rx.changed().await.is_ok() {} }
    }
}
