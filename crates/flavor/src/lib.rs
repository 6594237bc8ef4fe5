//! What differs between MySQL 8.x and MariaDB 10.6+: replication SQL ([`sql`]), GTID set
//! formats and their algebra ([`gtid`]), backup tool command lines ([`backup_tool`]), and
//! the operator's own schema and heartbeat statements ([`schema`]).
//! Everything here is pure (no I/O) so both families are unit-tested on any machine.

pub mod backup_tool;
pub mod gtid;
pub mod schema;
pub mod sql;

pub use backup_tool::{BackupConnection, CommandLine};
pub use gtid::{GtidFormat, GtidParseError, GtidSet, GtidSource};
pub use sql::{Flavor, ReplicaStatusColumns, SemiSync, SourceSpec, SqlValueError, quote};
