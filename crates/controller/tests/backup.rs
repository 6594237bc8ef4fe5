//! Backups against the in-memory API server: the schedule creates presslabs-named
//! recurrent backups once per tick and prunes to the history limit; a backup gets one Job
//! (checked field by field) and mirrors its outcome; `remoteDeletePolicy: delete` deletes
//! the stored object before the finalizer is cleared (object store: an in-memory
//! `RemoteStore`; the S3 implementation lives in the operator, see docs/operations.md).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use api::{MysqlBackup, MysqlCluster};
use chrono::{TimeZone, Utc};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Secret;
use mysql_operator_controller::backup::schedule::scheduled_name;
use mysql_operator_controller::backup::{
    BackupOutcome, BackupReconciler, CronReconciler, ManualClock, NoRemote,
    REMOTE_DELETE_FINALIZER, RemoteStore,
};
use mysql_operator_controller::metrics::ClusterLabels;
use mysql_operator_controller::rbac;
use mysql_operator_controller::store::{Kind, MemoryStore, ObjectKey, Store};
use serde_json::{Value, json};

const NS: &str = "shop";
const CLUSTER: &str = "db";
const IMAGE: &str = "ghcr.io/mysql-operator/mysql-operator:test";

fn cluster(schedule: Option<&str>, extra: Value) -> Value {
    let mut c = json!({
        "apiVersion": "mysql.presslabs.org/v1alpha1",
        "kind": "MysqlCluster",
        "metadata": {"name": CLUSTER, "namespace": NS},
        "spec": {
            "secretName": "db-secret",
            "backupURL": "s3://backups/shop",
            "backupSecretName": "backup-creds",
        }
    });
    if let Some(s) = schedule {
        c["spec"]["backupSchedule"] = json!(s);
    }
    if let (Value::Object(spec), Value::Object(more)) = (&mut c["spec"], extra) {
        spec.extend(more);
    }
    c
}

fn store(c: Value) -> MemoryStore {
    let s = MemoryStore::new();
    s.seed(&Kind::of::<MysqlCluster>(), c, "kubectl")
        .expect("seed cluster");
    s
}

fn user_backup(s: &MemoryStore, name: &str, spec: Value) {
    let mut b = json!({
        "apiVersion": "mysql.presslabs.org/v1alpha1",
        "kind": "MysqlBackup",
        "metadata": {"name": name, "namespace": NS},
        "spec": {"clusterName": CLUSTER},
    });
    if let (Value::Object(s), Value::Object(more)) = (&mut b["spec"], spec) {
        s.extend(more);
    }
    s.seed(&Kind::of::<MysqlBackup>(), b, "kubectl")
        .expect("seed backup");
}

fn backup_names(s: &MemoryStore) -> Vec<String> {
    s.objects_of(&Kind::of::<MysqlBackup>())
        .iter()
        .map(|b| {
            b["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect()
}

fn obj<K: kube::Resource<DynamicType = ()>>(s: &MemoryStore, name: &str) -> Option<Value> {
    s.object(&ObjectKey::of::<K>(NS, name))
}

fn complete(s: &MemoryStore, name: &str) {
    s.seed_status(
        &ObjectKey::of::<MysqlBackup>(NS, name),
        json!({"completed": true}),
    )
    .expect("backup exists");
}

/// Every API call the reconcilers made is allowed by the RBAC rules.
fn assert_rbac(s: &MemoryStore) {
    let uses = s.api_uses();
    assert!(!uses.is_empty(), "the reconcilers made API calls");
    let missing = rbac::uncovered(&uses);
    assert!(
        missing.is_empty(),
        "calls not covered by rbac::required_rules: {missing:?}"
    );
}

#[tokio::test]
async fn schedule_creates_one_presslabs_named_backup_per_tick() {
    let s = store(cluster(Some("0 */5 * * * *"), json!({})));
    let t0 = Utc.with_ymd_and_hms(2024, 5, 6, 7, 1, 0).unwrap();
    let clock = ManualClock::new(t0);
    let cron = CronReconciler::new(s.clone(), clock.clone());

    let out = cron.reconcile(NS, CLUSTER).await.expect("reconcile");
    assert_eq!(
        out.created, None,
        "no catch-up for ticks before the first look"
    );
    assert_eq!(out.next_in, Some(std::time::Duration::from_secs(240)));
    assert!(backup_names(&s).is_empty());

    clock.set(Utc.with_ymd_and_hms(2024, 5, 6, 7, 5, 0).unwrap());
    let out = cron.reconcile(NS, CLUSTER).await.expect("reconcile");
    let first = "db-auto-2024-05-06t07-05-00";
    assert_eq!(out.created.as_deref(), Some(first));
    assert_eq!(
        scheduled_name(CLUSTER, Utc.with_ymd_and_hms(2024, 5, 6, 7, 5, 0).unwrap()),
        first
    );
    let b = obj::<MysqlBackup>(&s, first).expect("backup created");
    assert_eq!(b["metadata"]["labels"]["recurrent"], "true");
    assert_eq!(b["metadata"]["labels"]["cluster"], CLUSTER);
    assert_eq!(b["spec"]["clusterName"], CLUSTER);
    assert_eq!(b["spec"]["remoteDeletePolicy"], "retain");
    assert_eq!(
        b["spec"]["backupURL"],
        "s3://backups/shop/db-auto-2024-05-06t07-05-00.xbackup.zst"
    );
    assert_eq!(b["spec"]["backupSecretName"], "backup-creds");
    assert!(
        b["metadata"].get("ownerReferences").is_none(),
        "no owner: deleting the cluster must not delete (remotely) its backups"
    );

    // The same tick, seen again or by a restarted operator, creates nothing.
    clock.set(Utc.with_ymd_and_hms(2024, 5, 6, 7, 5, 30).unwrap());
    assert_eq!(
        cron.reconcile(NS, CLUSTER).await.expect("again").created,
        None
    );
    let restarted = CronReconciler::new(s.clone(), clock.clone());
    assert_eq!(
        restarted
            .reconcile(NS, CLUSTER)
            .await
            .expect("restart")
            .created,
        None
    );
    assert_eq!(backup_names(&s), [first]);

    // Next tick while the first is still running: skipped, as presslabs did.
    clock.set(Utc.with_ymd_and_hms(2024, 5, 6, 7, 10, 0).unwrap());
    assert_eq!(
        cron.reconcile(NS, CLUSTER).await.expect("tick").created,
        None
    );
    assert_eq!(backup_names(&s), [first]);
    assert!(
        s.events()
            .iter()
            .any(|e| e.reason == "BackupSkipped" && e.message.contains(first)),
        "{:?}",
        s.events()
    );

    complete(&s, first);
    clock.set(Utc.with_ymd_and_hms(2024, 5, 6, 7, 15, 0).unwrap());
    let out = cron.reconcile(NS, CLUSTER).await.expect("tick");
    assert_eq!(out.created.as_deref(), Some("db-auto-2024-05-06t07-15-00"));
    assert_eq!(backup_names(&s).len(), 2);
    assert_rbac(&s);
}

#[tokio::test]
async fn history_limit_prunes_the_oldest_scheduled_backups_only() {
    let s = store(cluster(
        Some("0 0 * * * *"),
        json!({"backupScheduleJobsHistoryLimit": 2}),
    ));
    user_backup(&s, "manual", json!({}));
    complete(&s, "manual");
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2024, 1, 1, 0, 30, 0).unwrap());
    let cron = CronReconciler::new(s.clone(), clock.clone());
    cron.reconcile(NS, CLUSTER).await.expect("first look");
    let mut pruned = Vec::new();
    for hour in 1..=4 {
        clock.set(Utc.with_ymd_and_hms(2024, 1, 1, hour, 0, 0).unwrap());
        let out = cron.reconcile(NS, CLUSTER).await.expect("tick");
        let name = out.created.expect("a backup per tick");
        complete(&s, &name);
        pruned.extend(out.pruned);
    }
    assert_eq!(
        pruned,
        ["db-auto-2024-01-01t01-00-00", "db-auto-2024-01-01t02-00-00"]
    );
    let mut left = backup_names(&s);
    left.sort();
    assert_eq!(
        left,
        [
            "db-auto-2024-01-01t03-00-00",
            "db-auto-2024-01-01t04-00-00",
            "manual"
        ]
    );
    assert_rbac(&s);
}

#[tokio::test]
async fn backup_gets_one_job_checked_field_by_field() {
    let s = store(cluster(
        None,
        json!({
            "mysqlVersion": "10.11",
            "podSpec": {
                "serviceAccountName": "db-sa",
                "imagePullSecrets": [{"name": "regcred"}],
                "imagePullPolicy": "IfNotPresent",
                "backupNodeSelector": {"pool": "backup"},
                "backupPriorityClassName": "low",
                "backupTolerations": [{"key": "backup", "operator": "Exists", "effect": "NoSchedule"}],
            }
        }),
    ));
    user_backup(&s, "nightly", json!({}));
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2024, 5, 6, 7, 0, 0).unwrap());
    let r = BackupReconciler::new(s.clone(), clock, NoRemote, IMAGE);
    let out = r.reconcile(NS, "nightly").await.expect("reconcile");
    assert!(matches!(out, BackupOutcome::Waiting(_)), "{out:?}");

    let b = obj::<MysqlBackup>(&s, "nightly").expect("backup");
    let url = "s3://backups/shop/nightly.xbackup.zst";
    assert_eq!(
        b["spec"]["backupURL"], url,
        "the default URL is pinned in the spec"
    );
    assert_eq!(b["spec"]["backupSecretName"], "backup-creds");
    assert!(
        b["metadata"].get("finalizers").is_none(),
        "retain (the default) needs no finalizer"
    );

    let job = obj::<Job>(&s, "nightly-backup").expect("job created");
    let owner = &job["metadata"]["ownerReferences"][0];
    assert_eq!(owner["kind"], "MysqlBackup");
    assert_eq!(owner["name"], "nightly");
    assert_eq!(owner["uid"], b["metadata"]["uid"]);
    assert_eq!(owner["controller"], true);
    assert_eq!(job["metadata"]["labels"]["cluster"], CLUSTER);
    assert_eq!(
        job["metadata"]["labels"]["mysql.presslabs.org/backup"],
        "nightly"
    );
    assert_eq!(job["spec"]["backoffLimit"], 2);
    let pod = &job["spec"]["template"]["spec"];
    assert_eq!(pod["restartPolicy"], "Never");
    assert_eq!(pod["serviceAccountName"], "db-sa");
    assert_eq!(pod["imagePullSecrets"], json!([{"name": "regcred"}]));
    assert_eq!(pod["nodeSelector"], json!({"pool": "backup"}));
    assert_eq!(pod["priorityClassName"], "low");
    assert_eq!(
        pod["tolerations"],
        json!([{"key": "backup", "operator": "Exists", "effect": "NoSchedule"}])
    );
    let containers = pod["containers"].as_array().expect("containers");
    assert_eq!(containers.len(), 1);
    let c = &containers[0];
    assert_eq!(c["name"], "backup");
    assert_eq!(c["image"], IMAGE);
    assert_eq!(c["imagePullPolicy"], "IfNotPresent");
    assert_eq!(c["command"], json!(["mysql-operator"]));
    assert_eq!(
        c["args"],
        json!([
            "backup",
            "--cluster-name",
            CLUSTER,
            "--namespace",
            NS,
            "--flavor",
            "mariadb",
            "--destination",
            url,
            "--compression",
            "zstd",
            "--kind",
            "on-demand-backup"
        ])
    );
    assert_eq!(
        c["env"],
        json!([
            {"name": "BACKUP_USER", "valueFrom": {"secretKeyRef": {"name": "db-mysql-operated", "key": "BACKUP_USER", "optional": false}}},
            {"name": "BACKUP_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db-mysql-operated", "key": "BACKUP_PASSWORD", "optional": false}}},
        ])
    );
    assert_eq!(
        c["envFrom"],
        json!([{"secretRef": {"name": "backup-creds", "optional": false}}])
    );

    // A second look while the Job runs writes nothing.
    s.clear_writes();
    let out = r.reconcile(NS, "nightly").await.expect("again");
    assert!(matches!(out, BackupOutcome::Waiting(_)));
    assert_eq!(s.writes(), []);
    assert_rbac(&s);
}

#[tokio::test]
async fn job_outcome_becomes_complete_or_failed_with_the_cause() {
    let s = store(cluster(None, json!({})));
    user_backup(&s, "ok", json!({}));
    user_backup(
        &s,
        "bad",
        json!({"backupURL": "s3://backups/shop/bad.xbackup.gz"}),
    );
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2024, 5, 6, 7, 0, 0).unwrap());
    let r = BackupReconciler::new(s.clone(), clock, NoRemote, IMAGE);
    r.reconcile(NS, "ok").await.expect("job ok");
    r.reconcile(NS, "bad").await.expect("job bad");
    assert_eq!(
        obj::<Job>(&s, "bad-backup").expect("job")["spec"]["template"]["spec"]["containers"][0]["args"]
            [10],
        "gzip",
        "the compression follows the URL's suffix"
    );

    s.seed_status(
        &ObjectKey::of::<Job>(NS, "ok-backup"),
        json!({
            "startTime": "2024-05-06T07:00:00Z",
            "completionTime": "2024-05-06T07:03:20Z",
            "succeeded": 1,
            "conditions": [{"type": "Complete", "status": "True"}],
        }),
    )
    .expect("job status");
    s.seed_status(
        &ObjectKey::of::<Job>(NS, "bad-backup"),
        json!({
            "failed": 3,
            "conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded",
                            "message": "Job has reached the specified backoff limit"}],
        }),
    )
    .expect("job status");

    assert_eq!(
        r.reconcile(NS, "ok").await.expect("ok"),
        BackupOutcome::Done
    );
    assert_eq!(
        r.reconcile(NS, "bad").await.expect("bad"),
        BackupOutcome::Done
    );
    let ok = obj::<MysqlBackup>(&s, "ok").expect("ok");
    assert_eq!(ok["status"]["completed"], true);
    assert_eq!(ok["status"]["conditions"][0]["type"], "Complete");
    assert_eq!(ok["status"]["conditions"][0]["status"], "True");
    assert_eq!(
        ok["status"]["conditions"][0]["lastTransitionTime"], "2024-05-06T07:00:00Z",
        "transition time from the injected clock"
    );
    let bad = obj::<MysqlBackup>(&s, "bad").expect("bad");
    assert_eq!(bad["status"]["completed"], true);
    let c = &bad["status"]["conditions"][0];
    assert_eq!(c["type"], "Failed");
    assert_eq!(c["status"], "True");
    assert_eq!(c["reason"], "BackoffLimitExceeded");
    let msg = c["message"].as_str().unwrap_or_default();
    assert!(
        msg.contains("Job has reached the specified backoff limit")
            && msg.contains("kubectl logs -n shop job/bad-backup"),
        "{msg}"
    );
    assert!(
        s.events()
            .iter()
            .any(|e| e.reason == "BackupFailed" && e.type_ == "Warning")
    );
    // Final: nothing more happens.
    s.clear_writes();
    assert_eq!(
        r.reconcile(NS, "bad").await.expect("bad"),
        BackupOutcome::Done
    );
    assert_eq!(s.writes(), []);

    // No URL anywhere: Failed at once with the fix named, and no Job.
    let s2 = store(cluster(None, json!({"backupURL": null})));
    user_backup(&s2, "nourl", json!({}));
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2024, 5, 6, 7, 0, 0).unwrap());
    let r2 = BackupReconciler::new(s2.clone(), clock, NoRemote, IMAGE);
    assert_eq!(
        r2.reconcile(NS, "nourl").await.expect("nourl"),
        BackupOutcome::Done
    );
    let b = obj::<MysqlBackup>(&s2, "nourl").expect("b");
    assert_eq!(b["status"]["conditions"][0]["type"], "Failed");
    assert_eq!(b["status"]["conditions"][0]["reason"], "InvalidBackupURL");
    assert!(
        b["status"]["conditions"][0]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("set spec.backupURL")
    );
    assert!(obj::<Job>(&s2, "nourl-backup").is_none());
    assert_rbac(&s);
}

fn s3_secret() -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "backup-creds", "namespace": NS},
        "stringData": {
            "AWS_ACCESS_KEY_ID": "key-id",
            "AWS_SECRET_ACCESS_KEY": "secret",
            "S3_ENDPOINT": "http://127.0.0.1:1",
        }
    })
}

/// An object store in memory: objects by URL, a switch to make it unreachable, and the
/// credentials each call received.
#[derive(Clone, Default)]
struct FakeRemote {
    objects: Arc<Mutex<BTreeMap<String, u64>>>,
    down: Arc<AtomicBool>,
    seen_keys: Arc<Mutex<Vec<String>>>,
}

impl FakeRemote {
    fn has(&self, url: &str) -> bool {
        self.objects.lock().unwrap().contains_key(url)
    }
    fn check(&self, vars: &BTreeMap<String, String>) -> Result<(), String> {
        self.seen_keys
            .lock()
            .unwrap()
            .push(vars.get("AWS_ACCESS_KEY_ID").cloned().unwrap_or_default());
        if self.down.load(Ordering::SeqCst) {
            return Err("connection refused".into());
        }
        Ok(())
    }
}

impl RemoteStore for FakeRemote {
    async fn delete(&self, url: &str, vars: &BTreeMap<String, String>) -> Result<(), String> {
        self.check(vars)?;
        self.objects.lock().unwrap().remove(url);
        Ok(())
    }
    async fn size(
        &self,
        url: &str,
        vars: &BTreeMap<String, String>,
    ) -> Result<Option<u64>, String> {
        self.check(vars)?;
        Ok(self.objects.lock().unwrap().get(url).copied())
    }
}

#[tokio::test]
async fn remote_delete_policy_delete_removes_the_object_before_the_finalizer_goes() {
    let s = store(cluster(None, json!({})));
    s.seed(&Kind::of::<Secret>(), s3_secret(), "kubectl")
        .expect("secret");
    let remote = FakeRemote::default();
    user_backup(&s, "gone", json!({"remoteDeletePolicy": "delete"}));
    user_backup(&s, "kept", json!({"remoteDeletePolicy": "retain"}));
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2024, 5, 6, 7, 0, 0).unwrap());
    let r = BackupReconciler::new(s.clone(), clock, remote.clone(), IMAGE);
    r.reconcile(NS, "gone").await.expect("gone");
    r.reconcile(NS, "kept").await.expect("kept");
    let gone = obj::<MysqlBackup>(&s, "gone").expect("gone");
    assert_eq!(
        gone["metadata"]["finalizers"],
        json!([REMOTE_DELETE_FINALIZER])
    );
    let gone_url = "s3://backups/shop/gone.xbackup.zst";
    let kept_url = "s3://backups/shop/kept.xbackup.zst";
    assert_eq!(gone["spec"]["backupURL"], gone_url);
    remote
        .objects
        .lock()
        .unwrap()
        .insert(gone_url.into(), 300 * 1024);
    remote.objects.lock().unwrap().insert(kept_url.into(), 1024);

    // The Job completes: the size is read from the store for the metrics.
    s.seed_status(
        &ObjectKey::of::<Job>(NS, "gone-backup"),
        json!({"startTime": "2024-05-06T07:00:00Z", "completionTime": "2024-05-06T07:00:40Z",
               "conditions": [{"type": "Complete", "status": "True"}]}),
    )
    .expect("job status");
    assert_eq!(
        r.reconcile(NS, "gone").await.expect("done"),
        BackupOutcome::Done
    );
    let labels = ClusterLabels {
        cluster: format!("{NS}/{CLUSTER}"),
    };
    assert_eq!(
        r.metrics.backup_bytes.get_or_create(&labels).get(),
        300 * 1024
    );

    // Deleting holds the object; with the object store down the finalizer stays.
    s.delete(&ObjectKey::of::<MysqlBackup>(NS, "gone"))
        .await
        .expect("delete");
    remote.down.store(true, Ordering::SeqCst);
    let err = r.reconcile(NS, "gone").await.expect_err("store down");
    assert!(err.to_string().contains("connection refused"), "{err}");
    let held = obj::<MysqlBackup>(&s, "gone").expect("still held by the finalizer");
    assert!(held["metadata"]["deletionTimestamp"].is_string());
    assert_eq!(
        held["metadata"]["finalizers"],
        json!([REMOTE_DELETE_FINALIZER])
    );
    assert!(remote.has(gone_url), "not deleted while the store was down");
    assert!(
        s.events()
            .iter()
            .any(|e| e.reason == "RemoteDeleteFailed" && e.type_ == "Warning")
    );

    remote.down.store(false, Ordering::SeqCst);
    assert_eq!(
        r.reconcile(NS, "gone").await.expect("delete"),
        BackupOutcome::Gone
    );
    assert!(!remote.has(gone_url), "remote object deleted");
    assert!(
        obj::<MysqlBackup>(&s, "gone").is_none(),
        "finalizer cleared"
    );
    assert!(
        obj::<Job>(&s, "gone-backup").is_none(),
        "the Job goes with its backup"
    );
    assert!(
        remote
            .seen_keys
            .lock()
            .unwrap()
            .iter()
            .all(|k| k == "key-id"),
        "the backup Secret's credentials were used"
    );

    // retain: no finalizer, the object stays.
    s.delete(&ObjectKey::of::<MysqlBackup>(NS, "kept"))
        .await
        .expect("delete");
    assert!(obj::<MysqlBackup>(&s, "kept").is_none());
    assert_eq!(
        r.reconcile(NS, "kept").await.expect("kept"),
        BackupOutcome::Gone
    );
    assert!(remote.has(kept_url), "retain keeps the stored backup");
    assert_rbac(&s);
}
