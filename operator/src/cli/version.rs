//! `mysql-operator version`: what this binary is, for bug reports and compatibility checks.

use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print as JSON.
    #[arg(long)]
    pub json: bool,
}

/// The API group/version served, kept in one place for the CLI.
pub const API_VERSION: &str = "mysql.presslabs.org/v1alpha1";
/// The WIT package policy modules are built against.
pub const POLICY_ABI: &str = "mysql-operator:policy@0.1.0";

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let version = env!("CARGO_PKG_VERSION");
    if args.json {
        let value = serde_json::json!({
            "version": version,
            "apiVersion": API_VERSION,
            "policyAbi": POLICY_ABI,
        });
        println!("{value}");
    } else {
        println!("mysql-operator {version}");
        println!("api: {API_VERSION}");
        println!("policy abi: {POLICY_ABI}");
    }
    Ok(ExitCode::SUCCESS)
}
