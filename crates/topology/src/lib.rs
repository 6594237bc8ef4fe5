//! Replication and high availability without orchestrator: observe every server,
//! decide with a pure function, execute idempotent actions, fail over (fence, choose via
//! the `failover-candidate` hook, wait, promote, repoint) and switch over on request.
//!
//! Modules: [`model`] (vocabulary and knobs), [`dns`] (bounded name lookups), [`observe`], [`decide`] (pure),
//! [`execute`] (idempotent steps), [`failover`] (failover and switchover), [`heartbeat`]
//! (the lag writer), [`engine`] (the loop).

pub mod decide;
pub mod dns;
pub mod engine;
pub mod execute;
pub mod failover;
pub mod heartbeat;
pub mod model;
pub mod observe;

pub use decide::{Plan, decide};
pub use engine::{Engine, EngineHandle, Snapshot};
pub use execute::ExecError;
pub use heartbeat::Heartbeat;
pub use model::{
    Action, Config, Credentials, Event, Memory, NodeAddr, NodeState, ReplicaStatus, Seen,
};
