//! Scenario 7: The status-table policy module, put in a ConfigMap by `mysql-operator plugin
//! configmap` and listed in `spec.plugins`, changes the init script of the running pods
//! (`/etc/mysql/init.sql`); a changed ConfigMap (same module plus a custom section, so a
//! new sha256) is picked up: the operator reports the swap and the pods roll onto it.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::Api;
use mysql_operator_e2e::Ctx;
use mysql_operator_e2e::cluster::{apply, cluster_pods, wait_healthy};
use mysql_operator_e2e::figures::secs;
use mysql_operator_e2e::wait::{Check, label, name, wait_until};

use super::{State, events_about, patch_cluster, sts_generation, wait_rolled};

const MODULE: &str = "status-table-policy";
/// A statement the module puts into the init script of a non-primary (its comment line
/// may be stripped: init-file takes statements only).
const MARKER: &str = "@status_table_fix_log_bin";

/// The module, as the README builds it (`cargo build --release --target wasm32-wasip2
/// --manifest-path plugins/Cargo.toml -p status-table-fix`): `E2E_STATUS_TABLE_WASM`, the
/// README's output path, or built now by the test kit into `$CARGO_TARGET_DIR/wasm-plugins`.
fn status_table_wasm(ctx: &Ctx) -> Result<PathBuf> {
    if let Ok(p) = std::env::var("E2E_STATUS_TABLE_WASM")
        && !p.is_empty()
    {
        return Ok(PathBuf::from(p));
    }
    let readme = ctx
        .s
        .repo_root
        .join("plugins/target/wasm32-wasip2/release/status_table_fix.wasm");
    if readme.is_file() {
        return Ok(readme);
    }
    println!("  building status-table-fix for wasm32-wasip2 (the README's step)");
    Ok(testkit::wasm::wasip2_component("status-table-fix")?)
}

/// The `mysql-operator` binary for `plugin configmap`: `E2E_MYSQL_OPERATOR_BIN`, PATH,
/// or the debug build in the target directory.
fn operator_binary(ctx: &Ctx) -> Result<PathBuf> {
    if let Ok(p) = std::env::var("E2E_MYSQL_OPERATOR_BIN")
        && !p.is_empty()
    {
        return Ok(PathBuf::from(p));
    }
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Some(path) = std::env::var_os("PATH") {
        candidates.extend(std::env::split_paths(&path).map(|d| d.join("mysql-operator")));
    }
    if let Some(t) = std::env::var_os("CARGO_TARGET_DIR") {
        candidates.push(PathBuf::from(t).join("debug/mysql-operator"));
    }
    if let Some(h) = std::env::var_os("HOME") {
        candidates.push(PathBuf::from(h).join(".cache/mysql-operator/target/debug/mysql-operator"));
    }
    candidates.push(ctx.s.repo_root.join("target/debug/mysql-operator"));
    candidates
        .into_iter()
        .find(|p| p.is_file())
        .context("no mysql-operator binary for `plugin configmap`: build it with `cargo build -p mysql-operator` or set E2E_MYSQL_OPERATOR_BIN")
}

/// Runs `mysql-operator plugin configmap <wasm> --name <MODULE>`: the ConfigMaps and the
/// `spec.plugins` entry its comments print.
async fn plugin_configmap(
    ctx: &Ctx,
    bin: &Path,
    wasm: &Path,
) -> Result<(Vec<ConfigMap>, serde_json::Value)> {
    let args = vec![
        "plugin".to_string(),
        "configmap".into(),
        wasm.display().to_string(),
        "--name".into(),
        MODULE.into(),
    ];
    let out = ctx
        .run(bin, &args, Duration::from_secs(120))
        .await?
        .ok("mysql-operator plugin configmap")?;
    mysql_operator_e2e::manifests::parse_plugin_configmap(&out)
}

/// `(pod, role, init.sql has the module's marker)` of every pod.
async fn init_scripts(ctx: &Ctx, cluster: &str) -> Result<Vec<(String, String, bool)>> {
    let mut out = Vec::new();
    for p in cluster_pods(ctx, cluster).await? {
        let pod = name(&p).to_string();
        let sql = ctx
            .exec(
                &pod,
                "mysql",
                &["cat".into(), "/etc/mysql/init.sql".into()],
                Duration::from_secs(30),
            )
            .await?
            .ok(&format!("reading /etc/mysql/init.sql in {pod}"))?;
        ensure!(
            sql.contains("sys_operator"),
            "{pod}: /etc/mysql/init.sql lacks the default script:\n{sql}"
        );
        out.push((
            pod,
            label(&p, "role").unwrap_or("-").to_string(),
            sql.contains(MARKER),
        ));
    }
    Ok(out)
}

pub async fn run(ctx: &Ctx, st: &mut State) -> Result<()> {
    let cluster = st.cluster_name();
    let sts = format!("{cluster}-mysql");
    wait_healthy(ctx, &cluster, 3, ctx.s.timeout(600)).await?;
    let wasm = status_table_wasm(ctx)?;
    let bin = operator_binary(ctx)?;
    println!(
        "  module {} ({} bytes), `{} plugin configmap`",
        wasm.display(),
        std::fs::metadata(&wasm)?.len(),
        bin.display()
    );
    let (maps, mut entry) = plugin_configmap(ctx, &bin, &wasm).await?;
    // Attached without the sha256 pin the comments suggest, so the ConfigMap can change
    // under the same spec (with the pin, a changed module is refused by design).
    if let Some(o) = entry.as_object_mut() {
        o.remove("sha256");
    }
    println!("  spec.plugins entry: {entry}");
    let cms: Api<ConfigMap> = ctx.api();
    for cm in &maps {
        apply(&cms, cm).await?;
    }
    let generation = sts_generation(ctx, &sts).await?;
    let t = Instant::now();
    patch_cluster(ctx, &cluster, serde_json::json!({"plugins": [entry]})).await?;
    let loaded = wait_until(
        &format!("a PluginLoaded/PluginCompiled Event for {MODULE}"),
        ctx.s.timeout(180),
        Duration::from_secs(2),
        || async {
            let ev = events_about(ctx, &cluster).await?;
            if let Some((_, m)) = ev.iter().find(|(r, _)| r == "PluginFailed") {
                return Ok(Check::Pending(format!("PluginFailed: {m}")));
            }
            Ok(
                match ev.iter().find(|(r, m)| {
                    (r == "PluginLoaded" || r == "PluginCompiled") && m.contains(MODULE)
                }) {
                    Some((r, m)) => Check::Done(format!("{r}: {m}")),
                    None => Check::Pending(format!("{} events, none about the module", ev.len())),
                },
            )
        },
    )
    .await?;
    println!("  {loaded}");
    wait_rolled(ctx, &sts, generation, 3, ctx.s.timeout(900)).await?;
    wait_healthy(ctx, &cluster, 3, ctx.s.timeout(600)).await?;
    ctx.figures.add(
        7,
        "module attached -> pods rolled and healthy",
        secs(t.elapsed()),
    );
    let scripts = init_scripts(ctx, &cluster).await?;
    for (pod, role, marked) in &scripts {
        println!(
            "  {pod} (role {role}): /etc/mysql/init.sql {} the module's DROP",
            if *marked { "has" } else { "lacks" }
        );
    }
    ensure!(
        scripts.iter().any(|(_, _, m)| *m),
        "no pod's /etc/mysql/init.sql carries the status-table module's part ({MARKER:?}): the init-script hook did not run"
    );

    // The same module with a custom section: new bytes, new sha256, same behaviour.
    let bytes = std::fs::read(&wasm)?;
    let changed = mysql_operator_e2e::wasm::with_custom_section(
        &bytes,
        "mysql-operator-e2e",
        format!("changed in run {}", ctx.s.release).as_bytes(),
    )?;
    let dir = std::env::temp_dir().join(format!("mysql-operator-e2e-{}", ctx.s.release));
    std::fs::create_dir_all(&dir)?;
    let changed_path = dir.join("status_table_fix.wasm");
    std::fs::write(&changed_path, changed)?;
    let (maps2, entry2) = plugin_configmap(ctx, &bin, &changed_path).await?;
    let new_sha = entry2
        .get("sha256")
        .and_then(|s| s.as_str())
        .unwrap_or("")
        .to_string();
    let before = events_about(ctx, &cluster).await?.len();
    let generation = sts_generation(ctx, &sts).await?;
    let t = Instant::now();
    for cm in &maps2 {
        apply(&cms, cm).await?;
    }
    println!("  ConfigMap {MODULE} replaced (module sha256 now {new_sha})");
    let swapped = wait_until(
        "the operator to report the changed module",
        ctx.s.timeout(180),
        Duration::from_secs(1),
        || async {
            let ev = events_about(ctx, &cluster).await?;
            let fresh = &ev[before.min(ev.len())..];
            Ok(
                match fresh.iter().find(|(r, m)| {
                    (r == "PluginLoaded" || r == "PluginCompiled")
                        && (m.contains(&new_sha[..12.min(new_sha.len())]) || m.contains("swapped"))
                }) {
                    Some((r, m)) => Check::Done(format!("{r}: {m}")),
                    None => Check::Pending(format!("new events: {fresh:?}")),
                },
            )
        },
    )
    .await?;
    ctx.figures
        .add(7, "changed ConfigMap -> operator Event", secs(t.elapsed()));
    println!("  {swapped}");
    wait_rolled(ctx, &sts, generation, 3, ctx.s.timeout(900)).await?;
    wait_healthy(ctx, &cluster, 3, ctx.s.timeout(600)).await?;
    ctx.figures.add(
        7,
        "changed ConfigMap -> pods rolled and healthy",
        secs(t.elapsed()),
    );
    let scripts = init_scripts(ctx, &cluster).await?;
    ensure!(
        scripts.iter().any(|(_, _, m)| *m),
        "after the change no pod's init.sql carries the module's part"
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
