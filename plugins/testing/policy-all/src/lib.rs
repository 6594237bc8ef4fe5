//! Test module exporting all three hooks (world `policy`): tags the init script, leaves
//! out the `scratch` schema, and promotes the highest-ordinal safe replica.

wit_bindgen::generate!({ world: "policy", path: "../../../wit" });

use exports::mysql_operator::policy::backup_filter::{self, BackupFilterRequest, Exclusions};
use exports::mysql_operator::policy::failover_candidate::{self, Decision, FailoverRequest};
use exports::mysql_operator::policy::init_script::{self, InitScriptRequest};
use exports::mysql_operator::policy::meta::{self, ModuleInfo};

struct Policy;

impl meta::Guest for Policy {
    fn describe() -> ModuleInfo {
        ModuleInfo { name: "policy-all".into(), version: "2.0.0".into() }
    }

    fn validate_settings(_settings: String) -> Result<(), String> {
        Ok(())
    }
}

impl init_script::Guest for Policy {
    fn render(req: InitScriptRequest) -> Result<String, String> {
        Ok(format!("{}-- policy-all\n", req.default_script))
    }
}

impl backup_filter::Guest for Policy {
    fn filter(_req: BackupFilterRequest) -> Result<Exclusions, String> {
        Ok(Exclusions { tables: Vec::new(), schemas: vec!["scratch".into()] })
    }
}

impl failover_candidate::Guest for Policy {
    fn choose(req: FailoverRequest) -> Result<Decision, String> {
        Ok(req
            .candidates
            .iter()
            .filter(|c| c.healthy && c.errant_gtids.is_empty())
            .max_by_key(|c| c.ordinal)
            .map(|c| Decision::Promote(c.pod_name.clone()))
            .unwrap_or(Decision::Abstain))
    }
}

export!(Policy);
