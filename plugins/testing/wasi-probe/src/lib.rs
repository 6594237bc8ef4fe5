//! Test module built for wasm32-wasip2, so it imports WASI like Python and JavaScript
//! components do. Its failover answer is a veto whose reason reports what the sandbox let
//! it do: read the filesystem, see environment variables, open a socket.

wit_bindgen::generate!({ world: "failover-candidate-policy", path: "../../../wit" });

use exports::mysql_operator::policy::failover_candidate::{self, Decision, FailoverRequest};
use exports::mysql_operator::policy::meta::{self, ModuleInfo};

struct Policy;

impl meta::Guest for Policy {
    fn describe() -> ModuleInfo {
        ModuleInfo { name: "wasi-probe".into(), version: "1.0.0".into() }
    }

    fn validate_settings(_settings: String) -> Result<(), String> {
        Ok(())
    }
}

impl failover_candidate::Guest for Policy {
    fn choose(req: FailoverRequest) -> Result<Decision, String> {
        println!("wasi-probe stdout: {} candidates", req.candidates.len());
        eprintln!("wasi-probe stderr line");
        let fs = std::fs::read_dir("/").is_ok() || std::fs::read_dir(".").is_ok();
        let env = std::env::vars().count();
        let args = std::env::args().count();
        let net = std::net::TcpStream::connect("127.0.0.1:9").is_ok();
        Ok(Decision::Veto(format!("fs={fs} env={env} args={args} net={net}")))
    }
}

export!(Policy);
