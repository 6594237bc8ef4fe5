//! The policy modules sites use (`plugins/status-table-fix`, `plugins/backup-filter`,
//! `plugins/zone-aware-failover`) and the author template, built from source and run
//! through the real host on the sample inputs in `plugins/examples/`.

mod polyglot_support;

use plugin::ModuleBytes;
use policy::*;
use polyglot_support::*;
use std::path::PathBuf;

fn module(package: &str) -> std::sync::Arc<plugin::Module> {
    let bytes = std::fs::read(component(Lang::Rust, package)).unwrap();
    load(&host(), package, ModuleBytes::Single(bytes)).0
}

fn example(file: &str) -> String {
    let p: PathBuf = repo().join("plugins/examples").join(file);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn example_as<T: serde::de::DeserializeOwned>(file: &str) -> T {
    serde_json::from_str(&example(file)).unwrap_or_else(|e| {
        panic!("plugins/examples/{file} does not match the hook's input shape: {e}")
    })
}

fn refused(m: &plugin::Module, settings: &str, needle: &str) {
    match m.validate_settings(settings) {
        Err(plugin::LoadError::SettingsRejected { message, .. }) => {
            assert!(
                message.contains(needle),
                "refusal of {settings} should mention {needle:?}: {message}"
            )
        }
        other => panic!("{settings} should be refused, got {other:?}"),
    }
}

#[test]
fn every_example_input_matches_its_hook_shape() {
    let mut seen = 0;
    for entry in std::fs::read_dir(repo().join("plugins/examples")).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        let text = example(&name);
        let ok = if name.ends_with(".settings.json") {
            serde_json::from_str::<serde_json::Value>(&text)
                .map(|v| v.is_object())
                .unwrap_or(false)
        } else if name.starts_with("failover-candidate") {
            serde_json::from_str::<FailoverRequest>(&text).is_ok()
        } else if name.starts_with("init-script") {
            serde_json::from_str::<InitScriptRequest>(&text).is_ok()
        } else if name.starts_with("backup-filter") {
            serde_json::from_str::<BackupFilterRequest>(&text).is_ok()
        } else {
            false
        };
        assert!(
            ok,
            "plugins/examples/{name}: not a valid input for its hook (name it <hook>[-variant].json or <module>.settings.json)"
        );
        seen += 1;
    }
    assert!(seen >= 6, "expected the sample inputs, found {seen}");
}

#[test]
fn zone_aware_failover_picks_the_expected_candidate_and_vetoes_a_lossy_failover() {
    let m = module("zone-aware-failover");
    let settings = example("zone-aware-failover.settings.json");
    m.validate_settings(&settings).unwrap();
    let r: FailoverRequest = example_as("failover-candidate.json");
    // 2 is in the failed primary's zone and holds every GTID once its relay log is applied;
    // 3 is in that zone too but has errant GTIDs; 1 is elsewhere.
    assert_eq!(
        m.failover(&r, &settings).unwrap(),
        Decision::Promote("shop-mysql-2".into())
    );
    let lossy: FailoverRequest = example_as("failover-candidate-lossy.json");
    match m.failover(&lossy, &settings).unwrap() {
        Decision::Veto(reason) => assert!(reason.contains("GTID"), "{reason}"),
        other => panic!("a lossy failover must be vetoed, got {other:?}"),
    }
    assert_eq!(m.info().name, "zone-aware-failover");
    refused(&m, r#"{"maxLagSeconds": -3}"#, "maxLagSeconds");
}

#[test]
fn status_table_fix_drops_the_table_on_non_primaries_only() {
    let m = module("status-table-fix");
    let hooks: Vec<_> = m.hooks().iter().copied().collect();
    assert_eq!(hooks, vec![HookName::InitScript, HookName::BackupFilter]);
    let replica: InitScriptRequest = example_as("init-script-replica.json");
    let script = m.init_script(&replica, "{}").unwrap();
    let drop = script
        .find("DROP TABLE IF EXISTS `sys_operator`.`status`;")
        .expect("drop statement");
    let create = script
        .find("CREATE TABLE IF NOT EXISTS sys_operator.status")
        .expect("default script kept");
    assert!(
        drop < create,
        "the drop must run before the default script re-creates the table:\n{script}"
    );
    assert!(
        script.ends_with(&replica.default_script),
        "default script kept verbatim at the end:\n{script}"
    );
    assert!(
        script.contains("SET SESSION sql_log_bin = 0;"),
        "the drop must stay out of the binary log:\n{script}"
    );

    let primary: InitScriptRequest = example_as("init-script-primary.json");
    assert_eq!(
        m.init_script(&primary, "{}").unwrap(),
        primary.default_script,
        "primary: default script unchanged"
    );

    let mut unknown = replica.clone();
    unknown.role = NodeRole::Unknown;
    assert!(
        m.init_script(&unknown, "{}")
            .unwrap()
            .contains("DROP TABLE"),
        "unknown role after a peer clone is a replica"
    );
    unknown.data_source = DataSource::Fresh;
    assert_eq!(
        m.init_script(&unknown, "{}").unwrap(),
        unknown.default_script,
        "a fresh first pod is left alone"
    );

    let two = r#"{"tables": ["sys_operator.status", "app.heartbeat"]}"#;
    m.validate_settings(two).unwrap();
    assert!(
        m.init_script(&replica, two)
            .unwrap()
            .contains("DROP TABLE IF EXISTS `app`.`heartbeat`;")
    );

    let backup: BackupFilterRequest = example_as("backup-filter.json");
    let ex = m.backup_filter(&backup, "{}").unwrap();
    assert_eq!(
        ex.tables,
        vec![TableRef {
            schema: "sys_operator".into(),
            name: "status".into()
        }]
    );
    assert!(ex.schemas.is_empty());

    refused(&m, r#"{"tables": ["status"]}"#, "schema.table");
    refused(
        &m,
        r#"{"tables": ["a.b`; DROP DATABASE x; --"]}"#,
        "schema.table",
    );
    refused(&m, r#"{"table": ["a.b"]}"#, "unknown field");
}

#[test]
fn backup_filter_excludes_by_pattern_and_engine_and_refuses_bad_patterns() {
    let m = module("backup-filter");
    let settings = example("backup-filter.settings.json");
    m.validate_settings(&settings).unwrap();
    let r: BackupFilterRequest = example_as("backup-filter.json");
    let ex = m.backup_filter(&r, &settings).unwrap();
    assert_eq!(
        ex.schemas,
        vec!["tmp_import".to_string()],
        "tmp_*.* names whole schemas"
    );
    let t = |s: &str, n: &str| TableRef {
        schema: s.into(),
        name: n.into(),
    };
    assert_eq!(
        ex.tables,
        vec![t("shop", "rate_limits"), t("shop", "sessions")],
        "MEMORY engine and *.sessions"
    );

    // No settings: nothing excluded. A kind filter: only for the named streams.
    assert_eq!(m.backup_filter(&r, "{}").unwrap(), Exclusions::default());
    let only_backups = r#"{"exclude": ["*.*"], "kinds": ["scheduled-backup"]}"#;
    assert_eq!(
        m.backup_filter(&r, only_backups).unwrap(),
        Exclusions::default(),
        "peer clones untouched"
    );
    let mut sched = r.clone();
    sched.kind = BackupKind::ScheduledBackup;
    assert_eq!(
        m.backup_filter(&sched, only_backups).unwrap().schemas,
        vec!["shop", "sys_operator", "tmp_import"]
    );

    refused(&m, r#"{"exclude": ["sessions"]}"#, "schema.table");
    refused(&m, r#"{"exclude": ["a.b.c"]}"#, "more than one");
    refused(&m, r#"{"exclude": ["app."]}"#, "empty");
    refused(&m, r#"{"engines": ["MEM ORY"]}"#, "engines");
    refused(&m, r#"{"kinds": ["weekly"]}"#, "kinds");
    refused(&m, r#"{"exclud": ["*.x"]}"#, "unknown field");
}

#[test]
fn template_builds_and_decides() {
    let m = module("policy-template");
    let mut r: FailoverRequest = example_as("failover-candidate.json");
    assert_eq!(
        m.failover(&r, "{}").unwrap(),
        Decision::Abstain,
        "no candidate carries the label"
    );
    r.candidates[0]
        .labels
        .insert("failover-preferred".into(), "true".into());
    assert_eq!(
        m.failover(&r, "{}").unwrap(),
        Decision::Promote("shop-mysql-1".into())
    );
    let lossy: FailoverRequest = example_as("failover-candidate-lossy.json");
    assert!(matches!(
        m.failover(&lossy, "{}").unwrap(),
        Decision::Veto(_)
    ));
    refused(&m, r#"{"label": ""}"#, "label");
}
