//! The HA loop for one cluster: observe (replicas first, primary last), decide (pure),
//! execute (idempotent), report events; plus planned switchover on request. Runs as a
//! tokio task controlled through an [`EngineHandle`].

use crate::decide::decide;
use crate::execute::{ExecError, Servers, execute};
use crate::failover::{FailoverInput, failover, observe_all, switchover};
use crate::model::{Action, Config, Credentials, Event, Memory, NodeAddr, NodeState};
use crate::observe::observe_node;
use flavor::Flavor;
use policy::{ClusterInfo, FailoverCandidate};
use std::sync::Arc;
use tokio::sync::{broadcast, mpsc, oneshot};
use tracing::Instrument;

/// One cluster's HA engine (not yet running; see [`Engine::spawn`]).
pub struct Engine {
    servers: Servers,
    cluster: ClusterInfo,
    hook: Arc<dyn FailoverCandidate>,
    settings: String,
    memory: Memory,
    events: broadcast::Sender<Event>,
}

enum Command {
    Switchover {
        target: Option<String>,
        reply: oneshot::Sender<Result<Vec<Event>, ExecError>>,
    },
    Memory {
        reply: oneshot::Sender<Memory>,
    },
    Stop,
}

/// Control a running engine: subscribe to events, ask for a switchover, stop it.
#[derive(Clone)]
pub struct EngineHandle {
    commands: mpsc::Sender<Command>,
    events: broadcast::Sender<Event>,
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
        let (events, _) = broadcast::channel(1024);
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
        for e in &events {
            tracing::info!(cluster = %self.cluster.name, "{e}");
            let _ = self.events.send(e.clone());
        }
        events
    }

    /// Run the loop in a tokio task.
    pub fn spawn(mut self) -> EngineHandle {
        let (tx, mut rx) = mpsc::channel(16);
        let handle = EngineHandle {
            commands: tx,
            events: self.events.clone(),
        };
        tokio::spawn(async move {
            loop {
                self.tick().await;
                let sleep = tokio::time::sleep(self.servers.config.probe_interval);
                tokio::pin!(sleep);
                loop {
                    tokio::select! {
                        _ = &mut sleep => break,
                        cmd = rx.recv() => match cmd {
                            None | Some(Command::Stop) => return,
                            Some(Command::Memory { reply }) => { let _ = reply.send(self.memory.clone()); }
                            Some(Command::Switchover { target, reply }) => {
                                let input = FailoverInput { cluster: &self.cluster, hook: self.hook.as_ref(), settings: &self.settings };
                                let span = tracing::info_span!("switchover", cluster = %self.cluster.name);
                                let r = switchover(&self.servers, &input, &mut self.memory, target.as_deref()).instrument(span).await;
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

    /// A copy of the engine's memory (current primary, errant nodes, blocked reason).
    pub async fn memory(&self) -> Option<Memory> {
        let (reply, rx) = oneshot::channel();
        self.commands.send(Command::Memory { reply }).await.ok()?;
        rx.await.ok()
    }

    /// Stop the loop (after the current tick).
    pub async fn stop(&self) {
        let _ = self.commands.send(Command::Stop).await;
    }
}
