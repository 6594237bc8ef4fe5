//! Name resolution for connections to MySQL nodes: an in-process async stub resolver
//! (hickory) configured from the system's `resolv.conf` and hosts file, bounded by the
//! caller's timeout with a single attempt.
//!
//! Why not the system resolver: `getaddrinfo` runs on tokio's blocking pool, where a pod
//! name that does not resolve yet (its pod is not scheduled, or the DNS server does not
//! answer) holds a thread for 5 s × attempts × search domains — far past any probe
//! timeout. Across hundreds of clusters those threads fill the pool, stall everything
//! else that uses it and keep the process from exiting. Here a lookup costs at most the
//! timeout and holds no thread.
//!
//! Nothing is cached between calls (a restarted pod's new address is seen at once, as
//! with glibc); only the parsed configuration is read once per process.

use hickory_resolver::config::{ResolveHosts, ResolverConfig, ResolverOpts};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::{Hosts, Resolver};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

struct System {
    config: ResolverConfig,
    opts: ResolverOpts,
    hosts: Arc<Hosts>,
}

fn system() -> Option<&'static System> {
    static SYSTEM: OnceLock<Option<System>> = OnceLock::new();
    SYSTEM
        .get_or_init(|| match hickory_resolver::system_conf::read_system_conf() {
            Ok((config, opts)) => Some(System {
                config,
                opts,
                hosts: Arc::new(Hosts::from_system().unwrap_or_default()),
            }),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the system DNS configuration; node names go to the system resolver");
                None
            }
        })
        .as_ref()
}

/// The addresses of `host`, looked up within `timeout`. `Ok(None)`: leave it to the
/// system resolver (no readable DNS configuration on this machine).
pub async fn resolve(host: &str, timeout: Duration) -> Result<Option<Vec<IpAddr>>, String> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(Some(vec![ip]));
    }
    if host.eq_ignore_ascii_case("localhost") {
        return Ok(Some(vec![IpAddr::V4(Ipv4Addr::LOCALHOST)]));
    }
    let Some(sys) = system() else {
        return Ok(None);
    };
    let mut opts = sys.opts.clone();
    opts.timeout = timeout;
    opts.attempts = 1;
    opts.use_hosts_file = ResolveHosts::Never;
    let mut resolver =
        Resolver::builder_with_config(sys.config.clone(), TokioRuntimeProvider::default())
            .with_options(opts)
            .build()
            .map_err(|e| format!("resolve {host}: {e}"))?;
    resolver.set_hosts(sys.hosts.clone());
    match tokio::time::timeout(timeout, resolver.lookup_ip(host)).await {
        Ok(Ok(found)) => {
            let ips: Vec<IpAddr> = found.iter().collect();
            if ips.is_empty() {
                Err(format!("resolve {host}: no address"))
            } else {
                Ok(Some(ips))
            }
        }
        Ok(Err(e)) => Err(format!("resolve {host}: {e}")),
        Err(_) => Err(format!("resolve {host}: no answer within {timeout:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn literals_and_localhost_need_no_server() {
        let t = Duration::from_millis(200);
        assert_eq!(
            resolve("10.1.2.3", t).await.unwrap(),
            Some(vec!["10.1.2.3".parse().unwrap()])
        );
        assert_eq!(
            resolve("::1", t).await.unwrap(),
            Some(vec!["::1".parse().unwrap()])
        );
        assert_eq!(
            resolve("localhost", t).await.unwrap(),
            Some(vec![IpAddr::V4(Ipv4Addr::LOCALHOST)])
        );
    }

    #[tokio::test]
    async fn an_unresolvable_name_fails_within_the_timeout() {
        let t = Duration::from_millis(300);
        let start = std::time::Instant::now();
        let r = resolve("no-such-pod-0.mysql.nowhere.invalid", t).await;
        assert!(
            matches!(&r, Err(e) if e.contains("no-such-pod-0")) || r == Ok(None),
            "{r:?}"
        );
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "{:?}",
            start.elapsed()
        );
    }
}
