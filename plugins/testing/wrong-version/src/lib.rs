//! Test module built against `mysql-operator:policy@0.2.0`; the host speaks 0.1.0 and must
//! refuse it at load time with a message naming both.

wit_bindgen::generate!({ world: "failover-candidate-policy", path: "wit" });

use exports::mysql_operator::policy::failover_candidate;
use exports::mysql_operator::policy::meta::{self, ModuleInfo};

struct Policy;

impl meta::Guest for Policy {
    fn describe() -> ModuleInfo {
        ModuleInfo { name: "wrong-version".into(), version: "0.2.0".into() }
    }

    fn validate_settings(_settings: String) -> Result<(), String> {
        Ok(())
    }
}

impl failover_candidate::Guest for Policy {
    fn choose(_request: String) -> Result<String, String> {
        Ok("abstain".into())
    }
}

export!(Policy);
