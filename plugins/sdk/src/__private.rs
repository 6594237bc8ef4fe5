//! The macros behind [`crate::export_policy!`]: they expand in the module's own crate,
//! next to the bindings `wit_bindgen::generate!` made there, and convert between those
//! generated types and this crate's types. Not a public API.

pub use crate::log::install as install_log;

/// Exports `Type` as the module: implements the generated `meta` and hook `Guest` traits
/// by converting the generated types to this crate's types and calling [`crate::Policy`]
/// and the hook traits, then calls the `export!` macro of the generated bindings.
///
/// Invoke it in the module (usually the crate root) where `wit_bindgen::generate!` ran,
/// listing exactly the hooks of the world generated there:
/// `export_policy!(MyPolicy: [init_script, backup_filter]);`
#[macro_export]
macro_rules! export_policy {
    ($ty:ident : [$($hook:ident),+ $(,)?]) => {
        impl exports::mysql_operator::policy::meta::Guest for $ty {
            fn describe() -> exports::mysql_operator::policy::meta::ModuleInfo {
                exports::mysql_operator::policy::meta::ModuleInfo {
                    name: <$ty as $crate::Policy>::NAME.to_string(),
                    version: <$ty as $crate::Policy>::VERSION.to_string(),
                }
            }
            fn validate_settings(settings: String) -> Result<(), String> {
                $crate::__sdk_install_log!();
                $crate::check_settings::<$ty>(&settings).map(|_| ())
            }
        }
        $( $crate::__sdk_hook!($ty, $hook); )+
        export!($ty);
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __sdk_install_log {
    () => {
        $crate::__private::install_log(|level, message| {
            use mysql_operator::policy::types::LogLevel as L;
            let level = match level {
                $crate::LogLevel::Trace => L::Trace,
                $crate::LogLevel::Debug => L::Debug,
                $crate::LogLevel::Info => L::Info,
                $crate::LogLevel::Warn => L::Warn,
                $crate::LogLevel::Error => L::Error,
            };
            mysql_operator::policy::log::log(level, message)
        })
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __sdk_cluster {
    ($c:expr) => {{
        use mysql_operator::policy::types as t;
        let c = $c;
        $crate::ClusterInfo {
            name: c.name,
            namespace: c.namespace,
            flavor: match c.flavor {
                t::Flavor::Mysql => $crate::Flavor::Mysql,
                t::Flavor::Percona => $crate::Flavor::Percona,
                t::Flavor::Mariadb => $crate::Flavor::Mariadb,
            },
            version: c.version,
            replicas: c.replicas,
            labels: c.labels.into_iter().collect(),
        }
    }};
}

#[doc(hidden)]
#[macro_export]
macro_rules! __sdk_hook {
    ($ty:ident, init_script) => {
        impl exports::mysql_operator::policy::init_script::Guest for $ty {
            fn render(
                r: exports::mysql_operator::policy::init_script::InitScriptRequest,
            ) -> Result<String, String> {
                use exports::mysql_operator::policy::init_script as w;
                use mysql_operator::policy::types as t;
                $crate::__sdk_install_log!();
                let request = $crate::InitScriptRequest {
                    cluster: $crate::__sdk_cluster!(r.cluster),
                    ordinal: r.ordinal,
                    pod_name: r.pod_name,
                    role: match r.role {
                        t::NodeRole::Primary => $crate::NodeRole::Primary,
                        t::NodeRole::Replica => $crate::NodeRole::Replica,
                        t::NodeRole::Unknown => $crate::NodeRole::Unknown,
                    },
                    data_dir_was_empty: r.data_dir_was_empty,
                    data_source: match r.data_source {
                        w::DataSource::PeerClone => $crate::DataSource::PeerClone,
                        w::DataSource::BucketRestore => $crate::DataSource::BucketRestore,
                        w::DataSource::Fresh => $crate::DataSource::Fresh,
                        w::DataSource::Existing => $crate::DataSource::Existing,
                    },
                    default_script: r.default_script,
                    settings: r.settings,
                };
                let settings = $crate::parse_settings(&request.settings)?;
                <$ty as $crate::InitScriptPolicy>::render(&request, &settings)
            }
        }
    };
    ($ty:ident, backup_filter) => {
        impl exports::mysql_operator::policy::backup_filter::Guest for $ty {
            fn filter(
                r: exports::mysql_operator::policy::backup_filter::BackupFilterRequest,
            ) -> Result<exports::mysql_operator::policy::backup_filter::Exclusions, String> {
                use exports::mysql_operator::policy::backup_filter as w;
                $crate::__sdk_install_log!();
                let request = $crate::BackupFilterRequest {
                    cluster: $crate::__sdk_cluster!(r.cluster),
                    kind: match r.kind {
                        w::BackupKind::ScheduledBackup => $crate::BackupKind::ScheduledBackup,
                        w::BackupKind::OnDemandBackup => $crate::BackupKind::OnDemandBackup,
                        w::BackupKind::PeerClone => $crate::BackupKind::PeerClone,
                    },
                    tables: r
                        .tables
                        .into_iter()
                        .map(|t| $crate::TableInfo {
                            schema: t.schema,
                            name: t.name,
                            engine: t.engine,
                            size_bytes: t.size_bytes,
                        })
                        .collect(),
                    settings: r.settings,
                };
                let settings = $crate::parse_settings(&request.settings)?;
                let ex =
                    <$ty as $crate::BackupFilterPolicy>::filter(&request, &settings)?.normalized();
                Ok(w::Exclusions {
                    tables: ex
                        .tables
                        .into_iter()
                        .map(|t| w::TableRef {
                            schema: t.schema,
                            name: t.name,
                        })
                        .collect(),
                    schemas: ex.schemas,
                })
            }
        }
    };
    ($ty:ident, failover_candidate) => {
        impl exports::mysql_operator::policy::failover_candidate::Guest for $ty {
            fn choose(
                r: exports::mysql_operator::policy::failover_candidate::FailoverRequest,
            ) -> Result<exports::mysql_operator::policy::failover_candidate::Decision, String> {
                use exports::mysql_operator::policy::failover_candidate as w;
                $crate::__sdk_install_log!();
                let thread = |s: w::ThreadState| match s {
                    w::ThreadState::Running => $crate::ThreadState::Running,
                    w::ThreadState::Connecting => $crate::ThreadState::Connecting,
                    w::ThreadState::Stopped => $crate::ThreadState::Stopped,
                    w::ThreadState::Error => $crate::ThreadState::Error,
                };
                let request = $crate::FailoverRequest {
                    cluster: $crate::__sdk_cluster!(r.cluster),
                    failed_primary: $crate::FailedPrimary {
                        pod_name: r.failed_primary.pod_name,
                        ordinal: r.failed_primary.ordinal,
                        zone: r.failed_primary.zone,
                        last_known_gtid_executed: r.failed_primary.last_known_gtid_executed,
                    },
                    reason: match r.reason {
                        w::FailoverReason::PrimaryLost => $crate::FailoverReason::PrimaryLost,
                        w::FailoverReason::PlannedSwitchover => {
                            $crate::FailoverReason::PlannedSwitchover
                        }
                        w::FailoverReason::PrimaryFenced => $crate::FailoverReason::PrimaryFenced,
                    },
                    candidates: r
                        .candidates
                        .into_iter()
                        .map(|c| $crate::Candidate {
                            pod_name: c.pod_name,
                            ordinal: c.ordinal,
                            zone: c.zone,
                            labels: c.labels.into_iter().collect(),
                            gtid_executed: c.gtid_executed,
                            gtid_retrieved: c.gtid_retrieved,
                            errant_gtids: c.errant_gtids,
                            lag_seconds: c.lag_seconds,
                            io_thread: thread(c.io_thread),
                            sql_thread: thread(c.sql_thread),
                            healthy: c.healthy,
                        })
                        .collect(),
                    settings: r.settings,
                };
                let settings = $crate::parse_settings(&request.settings)?;
                Ok(
                    match <$ty as $crate::FailoverPolicy>::choose(&request, &settings)? {
                        $crate::Decision::Promote(name) => w::Decision::Promote(name),
                        $crate::Decision::Abstain => w::Decision::Abstain,
                        $crate::Decision::Veto(reason) => w::Decision::Veto(reason),
                    },
                )
            }
        }
    };
}
