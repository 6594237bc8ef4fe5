//! `mysql-operator render -f FILE...`: print, as multi-document YAML, the objects the
//! operator would create for every MysqlCluster in the files (StatefulSet, Services,
//! ConfigMap with my.cnf, operated Secret with placeholder passwords, PDB). Other kinds
//! are passed over. Nothing is printed unless every cluster renders.

use std::io::{Read, Write};
use std::process::ExitCode;

use anyhow::Context;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Arguments of `mysql-operator render`; the image and namespace flags mirror the
/// controller's so the output is what that controller would apply.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Manifest files (multi-document YAML); `-` reads standard input.
    #[arg(short = 'f', long = "filename", required = true, num_args = 1..)]
    pub files: Vec<String>,
    /// Namespace for clusters whose manifest sets none.
    #[arg(short = 'n', long)]
    pub namespace: Option<String>,
    #[command(flatten)]
    pub images: super::images::ImageArgs,
}

impl Args {
    fn options(&self) -> anyhow::Result<render::RenderOptions> {
        self.images.options(self.namespace.clone())
    }
}

fn read_input(file: &str) -> std::io::Result<String> {
    if file == "-" {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s)?;
        Ok(s)
    } else {
        std::fs::read_to_string(file)
    }
}

fn yaml<T: Serialize>(out: &mut String, obj: &T) -> anyhow::Result<()> {
    out.push_str("---\n");
    out.push_str(&serde_yaml_ng::to_string(obj).context("serialising a rendered object")?);
    Ok(())
}

/// The rendered objects of one cluster as YAML documents, in apply order.
fn to_yaml(r: &render::Rendered, out: &mut String) -> anyhow::Result<()> {
    yaml(out, &r.config_map)?;
    yaml(out, &r.operated_secret)?;
    for s in &r.services {
        yaml(out, s)?;
    }
    yaml(out, &r.stateful_set)?;
    if let Some(p) = &r.pdb {
        yaml(out, p)?;
    }
    Ok(())
}

/// Renders the MysqlClusters of one file's text; errors are `file: doc N: message` lines.
fn render_text(
    shown: &str,
    text: &str,
    opts: &render::RenderOptions,
    out: &mut String,
    errors: &mut Vec<String>,
) -> usize {
    let mut rendered = 0;
    for (i, doc) in serde_yaml_ng::Deserializer::from_str(text).enumerate() {
        let n = i + 1;
        let value = match Value::deserialize(doc) {
            Ok(v) => v,
            Err(e) => {
                errors.push(format!(
                    "{shown}: doc {n}: malformed YAML: {e} (hint: fix the YAML syntax there)"
                ));
                return rendered;
            }
        };
        let is_cluster = value.get("kind").and_then(Value::as_str) == Some("MysqlCluster")
            && value
                .get("apiVersion")
                .and_then(Value::as_str)
                .is_some_and(|v| v.starts_with("mysql.presslabs.org/"));
        if !is_cluster {
            continue;
        }
        let cluster: api::MysqlCluster = match serde_json::from_value(value) {
            Ok(c) => c,
            Err(e) => {
                errors.push(format!(
                    "{shown}: doc {n}: not a valid MysqlCluster: {e} (hint: run `mysql-operator validate -f {shown}` for field paths)"
                ));
                continue;
            }
        };
        let name = cluster.metadata.name.clone().unwrap_or_default();
        let field_errors = api::validate::cluster(&cluster);
        if !field_errors.is_empty() {
            for fe in field_errors {
                errors.push(format!("{shown}: doc {n}: MysqlCluster {name}: {fe}"));
            }
            continue;
        }
        match render::render(&cluster, opts) {
            Ok(r) => match to_yaml(&r, out) {
                Ok(()) => rendered += 1,
                Err(e) => errors.push(format!("{shown}: doc {n}: MysqlCluster {name}: {e:#}")),
            },
            Err(e) => errors.push(format!("{shown}: doc {n}: MysqlCluster {name}: {e}")),
        }
    }
    rendered
}

/// Render every file; print the YAML only when every cluster rendered.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let opts = args.options()?;
    let mut out = String::new();
    let mut errors = Vec::new();
    let mut rendered = 0;
    for file in &args.files {
        let shown = if file == "-" {
            "<stdin>"
        } else {
            file.as_str()
        };
        match read_input(file) {
            Ok(text) => rendered += render_text(shown, &text, &opts, &mut out, &mut errors),
            Err(e) => errors.push(format!(
                "{shown}: cannot read: {e} (hint: check the path and permissions)"
            )),
        }
    }
    if rendered == 0 && errors.is_empty() {
        errors.push(format!(
            "no MysqlCluster (apiVersion mysql.presslabs.org/v1alpha1) in {} (hint: pass the file holding the cluster manifest)",
            args.files.join(", ")
        ));
    }
    if !errors.is_empty() {
        for e in &errors {
            eprintln!("{e}");
        }
        eprintln!("render failed: {} error(s); nothing printed", errors.len());
        return Ok(ExitCode::FAILURE);
    }
    std::io::stdout()
        .lock()
        .write_all(out.as_bytes())
        .context("writing to stdout")?;
    Ok(ExitCode::SUCCESS)
}
