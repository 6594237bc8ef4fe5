//! GTID sets for both server families, with the set algebra errant-GTID detection needs.
//!
//! MySQL sets are `uuid[:tag]:a-b:c,…` interval lists. MariaDB positions/states are
//! `domain-server-seq` lists; with `gtid_strict_mode` every `(domain, server)` pair's
//! sequence numbers only grow, so `0-1-100` is modelled as the interval `1..=100` under the
//! key `(0, 1)`. Both then share one interval algebra (contains, subtract, union).

use std::collections::BTreeMap;
use std::fmt;

/// Which textual GTID format a set uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum GtidFormat {
    /// `3E11FA47-71CA-11E1-9E33-C80AA9429562:1-5:7`
    Mysql,
    /// `0-1-100,1-2-5`
    Mariadb,
}

/// The source of a run of transactions: a MySQL server UUID (plus optional tag) or a
/// MariaDB `(domain_id, server_id)` pair.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum GtidSource {
    Uuid(String),
    Domain { domain: u32, server: u32 },
}

/// A bad GTID string, naming the offending part.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {format:?} GTID set {input:?}: {reason}")]
pub struct GtidParseError {
    pub format: GtidFormat,
    pub input: String,
    pub reason: String,
}

/// A set of transactions. Operations between sets of different formats treat the other
/// set as empty (they never meet in one cluster).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GtidSet {
    format: GtidFormat,
    /// Sorted, non-overlapping, non-adjacent inclusive intervals per source.
    runs: BTreeMap<GtidSource, Vec<(u64, u64)>>,
}

impl GtidSet {
    /// The empty set in a format.
    pub fn empty(format: GtidFormat) -> Self {
        GtidSet {
            format,
            runs: BTreeMap::new(),
        }
    }

    pub fn format(&self) -> GtidFormat {
        self.format
    }

    /// Parse a set as printed by the server (`gtid_executed`, `gtid_binlog_state`,
    /// `Gtid_IO_Pos`, ...). Whitespace and newlines are ignored; empty text is the empty set.
    pub fn parse(format: GtidFormat, text: &str) -> Result<Self, GtidParseError> {
        let err = |reason: String| GtidParseError {
            format,
            input: text.to_string(),
            reason,
        };
        let mut set = GtidSet::empty(format);
        let cleaned: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        for part in cleaned.split(',').filter(|p| !p.is_empty()) {
            match format {
                GtidFormat::Mysql => {
                    let mut fields = part.split(':');
                    let uuid = fields.next().unwrap_or_default().to_ascii_lowercase();
                    if uuid.len() != 36 || !uuid.chars().all(|c| c.is_ascii_hexdigit() || c == '-')
                    {
                        return Err(err(format!("{uuid:?} is not a server UUID")));
                    }
                    let mut key = uuid;
                    for f in fields {
                        if f.chars()
                            .next()
                            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                        {
                            // MySQL 8.4 tagged GTIDs: uuid:tag:1-5
                            key = format!("{key}:{}", f.to_ascii_lowercase());
                            continue;
                        }
                        let (a, b) = match f.split_once('-') {
                            Some((a, b)) => (a, b),
                            None => (f, f),
                        };
                        let a: u64 = a.parse().map_err(|_| err(format!("bad interval {f:?}")))?;
                        let b: u64 = b.parse().map_err(|_| err(format!("bad interval {f:?}")))?;
                        if a == 0 || b < a {
                            return Err(err(format!("bad interval {f:?}")));
                        }
                        set.insert(GtidSource::Uuid(key.clone()), a, b);
                    }
                }
                GtidFormat::Mariadb => {
                    let nums: Vec<&str> = part.split('-').collect();
                    if nums.len() != 3 {
                        return Err(err(format!("{part:?} is not domain-server-seq")));
                    }
                    let domain: u32 = nums[0]
                        .parse()
                        .map_err(|_| err(format!("bad domain in {part:?}")))?;
                    let server: u32 = nums[1]
                        .parse()
                        .map_err(|_| err(format!("bad server id in {part:?}")))?;
                    let seq: u64 = nums[2]
                        .parse()
                        .map_err(|_| err(format!("bad sequence in {part:?}")))?;
                    if seq > 0 {
                        set.insert(GtidSource::Domain { domain, server }, 1, seq);
                    }
                }
            }
        }
        Ok(set)
    }

    /// Add the interval `a..=b` for `source`.
    pub fn insert(&mut self, source: GtidSource, a: u64, b: u64) {
        let runs = self.runs.entry(source).or_default();
        runs.push((a, b));
        normalize(runs);
    }

    pub fn is_empty(&self) -> bool {
        self.runs.values().all(|r| r.is_empty())
    }

    /// Does `self` hold every transaction of `other`?
    pub fn contains(&self, other: &GtidSet) -> bool {
        other.subtract(self).is_empty()
    }

    /// Transactions in `self` that are not in `other` (e.g. errant = replica − primary).
    pub fn subtract(&self, other: &GtidSet) -> GtidSet {
        let mut out = GtidSet::empty(self.format);
        for (src, runs) in &self.runs {
            let minus = if other.format == self.format {
                other.runs.get(src)
            } else {
                None
            };
            let mut rest = runs.clone();
            for &(c, d) in minus.map(|v| v.as_slice()).unwrap_or(&[]) {
                rest = rest
                    .into_iter()
                    .flat_map(|(a, b)| {
                        let mut v = Vec::new();
                        if d < a || c > b {
                            v.push((a, b));
                        } else {
                            if a < c {
                                v.push((a, c - 1));
                            }
                            if d < b {
                                v.push((d + 1, b));
                            }
                        }
                        v
                    })
                    .collect();
            }
            if !rest.is_empty() {
                out.runs.insert(src.clone(), rest);
            }
        }
        out
    }

    /// Every transaction in either set.
    pub fn union(&self, other: &GtidSet) -> GtidSet {
        let mut out = self.clone();
        if other.format == self.format {
            for (src, runs) in &other.runs {
                let mine = out.runs.entry(src.clone()).or_default();
                mine.extend(runs.iter().copied());
                normalize(mine);
            }
        }
        out
    }

    /// Number of transactions in the set (for "how far behind" comparisons).
    pub fn count(&self) -> u64 {
        self.runs.values().flatten().map(|(a, b)| b - a + 1).sum()
    }

    /// MariaDB only: the per-domain position (`domain-server-seq` with the highest seq of
    /// each domain) that `MASTER_GTID_WAIT` and `gtid_slave_pos` take. MySQL: the set itself.
    pub fn to_position(&self) -> String {
        match self.format {
            GtidFormat::Mysql => self.to_string(),
            GtidFormat::Mariadb => {
                let mut best: BTreeMap<u32, (u64, u32)> = BTreeMap::new();
                for (src, runs) in &self.runs {
                    if let (GtidSource::Domain { domain, server }, Some(&(_, hi))) =
                        (src, runs.last())
                    {
                        let e = best.entry(*domain).or_insert((hi, *server));
                        if hi > e.0 {
                            *e = (hi, *server);
                        }
                    }
                }
                best.iter()
                    .map(|(d, (seq, s))| format!("{d}-{s}-{seq}"))
                    .collect::<Vec<_>>()
                    .join(",")
            }
        }
    }
}

fn normalize(runs: &mut Vec<(u64, u64)>) {
    runs.sort_unstable();
    let mut out: Vec<(u64, u64)> = Vec::with_capacity(runs.len());
    for &(a, b) in runs.iter() {
        match out.last_mut() {
            Some(last) if a <= last.1.saturating_add(1) => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    *runs = out;
}

impl fmt::Display for GtidSet {
    /// The server's own notation; a MariaDB set whose runs do not start at 1 (a
    /// difference) prints as `domain-server-first..last` so errant ranges stay readable.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for (src, runs) in &self.runs {
            if runs.is_empty() {
                continue;
            }
            if !first {
                f.write_str(",")?;
            }
            first = false;
            match src {
                GtidSource::Uuid(u) => {
                    f.write_str(u)?;
                    for (a, b) in runs {
                        if a == b {
                            write!(f, ":{a}")?;
                        } else {
                            write!(f, ":{a}-{b}")?;
                        }
                    }
                }
                GtidSource::Domain { domain, server } => {
                    let parts: Vec<String> = runs
                        .iter()
                        .map(|&(a, b)| {
                            if a == 1 {
                                format!("{domain}-{server}-{b}")
                            } else {
                                format!("{domain}-{server}-{a}..{b}")
                            }
                        })
                        .collect();
                    f.write_str(&parts.join(","))?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const U1: &str = "3e11fa47-71ca-11e1-9e33-c80aa9429562";
    const U2: &str = "8d3a3c2e-0000-11ee-8000-000000000002";

    fn my(s: &str) -> GtidSet {
        GtidSet::parse(GtidFormat::Mysql, s).unwrap()
    }
    fn ma(s: &str) -> GtidSet {
        GtidSet::parse(GtidFormat::Mariadb, s).unwrap()
    }

    #[test]
    fn mysql_parse_and_print_round_trip() {
        let s = my(&format!("{U1}:1-5:7,\n{U2}:3"));
        assert_eq!(s.to_string(), format!("{U1}:1-5:7,{U2}:3"));
        assert_eq!(s.count(), 7);
        assert_eq!(
            my(&format!("{U1}:1-3:4-6")).to_string(),
            format!("{U1}:1-6")
        );
        assert!(my("").is_empty());
        let tagged = my(&format!("{U1}:1-2:ops:1-3"));
        assert_eq!(tagged.count(), 5);
    }

    #[test]
    fn mysql_bad_input_names_the_part() {
        let e = GtidSet::parse(GtidFormat::Mysql, "nope:1-2").unwrap_err();
        assert!(e.reason.contains("nope"), "{e}");
        let e = GtidSet::parse(GtidFormat::Mysql, &format!("{U1}:5-2")).unwrap_err();
        assert!(e.reason.contains("5-2"), "{e}");
    }

    #[test]
    fn mysql_contains_subtract_union() {
        let primary = my(&format!("{U1}:1-100"));
        let replica = my(&format!("{U1}:1-90"));
        let errant = my(&format!("{U1}:1-100,{U2}:1-2"));
        assert!(primary.contains(&replica));
        assert!(!replica.contains(&primary));
        assert_eq!(
            primary.subtract(&replica).to_string(),
            format!("{U1}:91-100")
        );
        assert_eq!(errant.subtract(&primary).to_string(), format!("{U2}:1-2"));
        assert!(replica.subtract(&primary).is_empty());
        let u = replica.union(&my(&format!("{U1}:95-99,{U2}:1")));
        assert_eq!(u.to_string(), format!("{U1}:1-90:95-99,{U2}:1"));
        assert_eq!(
            my(&format!("{U1}:1-10"))
                .subtract(&my(&format!("{U1}:3-4")))
                .to_string(),
            format!("{U1}:1-2:5-10")
        );
    }

    #[test]
    fn mariadb_parse_print_and_position() {
        let s = ma("0-1-100,1-2-5");
        assert_eq!(s.to_string(), "0-1-100,1-2-5");
        let state = ma("0-1-100,0-2-150");
        assert_eq!(state.to_position(), "0-2-150");
        assert!(ma("").is_empty());
        assert!(GtidSet::parse(GtidFormat::Mariadb, "0-1").is_err());
        assert!(
            GtidSet::parse(GtidFormat::Mariadb, "x-1-2")
                .unwrap_err()
                .reason
                .contains("domain")
        );
    }

    #[test]
    fn mariadb_errant_write_on_replica_is_detected() {
        // primary is server 1; replica 2 took a local write at seq 101
        let primary = ma("0-1-100");
        let replica = ma("0-1-100,0-2-101");
        let errant = replica.subtract(&primary);
        assert_eq!(errant.to_string(), "0-2-101");
        assert!(!primary.contains(&replica));
        // after a legitimate failover to server 2 the new primary's state has both pairs
        let new_primary = ma("0-1-100,0-2-150");
        assert!(new_primary.contains(&replica));
        assert!(ma("0-1-100").subtract(&new_primary).is_empty());
    }

    #[test]
    fn mariadb_lagging_vs_ahead() {
        let a = ma("0-1-105");
        let b = ma("0-1-103");
        assert!(a.contains(&b));
        assert!(!b.contains(&a));
        assert_eq!(a.subtract(&b).to_string(), "0-1-104..105");
        assert_eq!(a.union(&b), a);
    }

    #[test]
    fn formats_do_not_mix() {
        let a = ma("0-1-5");
        let b = my(&format!("{U1}:1-5"));
        assert_eq!(a.subtract(&b), a);
        assert_eq!(a.union(&b), a);
    }
}
