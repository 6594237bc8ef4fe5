//! Test module for the init-script hook: on anything but the primary, drop the operator's
//! status table before the default script re-creates it (clones taken without that table
//! otherwise leave an orphan dictionary entry behind).

wit_bindgen::generate!({ world: "init-script-policy", path: "../../../wit" });

use exports::mysql_operator::policy::init_script::{self, InitScriptRequest};
use exports::mysql_operator::policy::meta::{self, ModuleInfo};
use mysql_operator::policy::log::log;
use mysql_operator::policy::types::{LogLevel, NodeRole};

struct Policy;

impl meta::Guest for Policy {
    fn describe() -> ModuleInfo {
        ModuleInfo { name: "init-status-table".into(), version: "1.0.0".into() }
    }

    fn validate_settings(_settings: String) -> Result<(), String> {
        Ok(())
    }
}

impl init_script::Guest for Policy {
    fn render(req: InitScriptRequest) -> Result<String, String> {
        if matches!(req.role, NodeRole::Primary) {
            return Ok(req.default_script);
        }
        log(LogLevel::Info, &format!("{}: dropping sys_operator.status before re-creating it", req.pod_name));
        Ok(format!("DROP TABLE IF EXISTS sys_operator.status;\n{}", req.default_script))
    }
}

export!(Policy);
