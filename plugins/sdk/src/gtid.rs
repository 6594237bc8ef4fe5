//! GTID sets in both server formats, parsed and compared, so a policy can tell whether a
//! replica holds every transaction the failed primary acknowledged.
//!
//! MySQL/Percona: `uuid:1-5:7,uuid2[:tag]:1-3` (`gtid_executed`, whitespace and newlines
//! allowed). MariaDB: `domain-server-seqno,...` (`gtid_binlog_pos`, `gtid_slave_pos`,
//! `gtid_current_pos`); within a domain sequence numbers grow monotonically, so a
//! position holds every transaction of that domain up to its seqno, whichever server wrote
//! it.

use std::collections::BTreeMap;
use std::fmt;

/// A parsed GTID set. The empty set has no flavor and compares with both.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum GtidSet {
    /// No transactions (an empty string in either format).
    #[default]
    Empty,
    /// MySQL/Percona: per (source uuid, tag) the executed intervals, sorted and merged.
    Mysql(BTreeMap<(String, String), Vec<(u64, u64)>>),
    /// MariaDB: per replication domain, the highest sequence number (and who wrote it).
    Mariadb(BTreeMap<u32, (u32, u64)>),
}

/// Why a GTID set string could not be parsed; names the offending piece.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GtidError {
    /// The part of the input that is wrong.
    pub fragment: String,
    /// What was expected there.
    pub reason: &'static str,
}

impl fmt::Display for GtidError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid GTID set near {:?}: {}",
            self.fragment, self.reason
        )
    }
}

impl std::error::Error for GtidError {}

fn err(fragment: &str, reason: &'static str) -> GtidError {
    GtidError {
        fragment: fragment.to_string(),
        reason,
    }
}

fn is_uuid(s: &str) -> bool {
    let hex = s.bytes().filter(|b| b.is_ascii_hexdigit()).count();
    let dashes = s.bytes().filter(|&b| b == b'-').count();
    hex == 32 && hex + dashes == s.len()
}

fn parse_interval(s: &str) -> Result<(u64, u64), GtidError> {
    let (a, b) = match s.split_once('-') {
        Some((a, b)) => (a, b),
        None => (s, s),
    };
    let a: u64 = a
        .parse()
        .map_err(|_| err(s, "expected a transaction number or range N-M"))?;
    let b: u64 = b
        .parse()
        .map_err(|_| err(s, "expected a transaction number or range N-M"))?;
    if a == 0 || b < a {
        return Err(err(s, "a range must be N-M with 1 <= N <= M"));
    }
    Ok((a, b))
}

fn merge(intervals: &mut Vec<(u64, u64)>) {
    intervals.sort_unstable();
    let mut out: Vec<(u64, u64)> = Vec::with_capacity(intervals.len());
    for &(a, b) in intervals.iter() {
        match out.last_mut() {
            Some(last) if a <= last.1.saturating_add(1) => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    *intervals = out;
}

impl GtidSet {
    /// Parses either format; the format is recognised from the text.
    pub fn parse(text: &str) -> Result<GtidSet, GtidError> {
        let cleaned: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        let entries: Vec<&str> = cleaned.split(',').filter(|e| !e.is_empty()).collect();
        if entries.is_empty() {
            return Ok(GtidSet::Empty);
        }
        if entries[0].contains(':') {
            Self::parse_mysql(&entries)
        } else {
            Self::parse_mariadb(&entries)
        }
    }

    fn parse_mysql(entries: &[&str]) -> Result<GtidSet, GtidError> {
        let mut map: BTreeMap<(String, String), Vec<(u64, u64)>> = BTreeMap::new();
        for entry in entries {
            let mut parts = entry.split(':');
            let uuid = parts.next().unwrap_or_default();
            if !is_uuid(uuid) {
                return Err(err(
                    entry,
                    "expected uuid:N-M[:N-M...] (MySQL) or domain-server-seqno (MariaDB)",
                ));
            }
            let uuid = uuid.to_ascii_lowercase();
            let mut tag = String::new();
            let mut any = false;
            for part in parts {
                if part.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
                    if !part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                        || part.len() > 32
                    {
                        return Err(err(part, "a tag is up to 32 letters, digits or '_'"));
                    }
                    tag = part.to_ascii_lowercase();
                    continue;
                }
                map.entry((uuid.clone(), tag.clone()))
                    .or_default()
                    .push(parse_interval(part)?);
                any = true;
            }
            if !any {
                return Err(err(
                    entry,
                    "a source uuid needs at least one transaction range",
                ));
            }
        }
        for v in map.values_mut() {
            merge(v);
        }
        Ok(GtidSet::Mysql(map))
    }

    fn parse_mariadb(entries: &[&str]) -> Result<GtidSet, GtidError> {
        let mut map: BTreeMap<u32, (u32, u64)> = BTreeMap::new();
        for entry in entries {
            let nums: Vec<&str> = entry.split('-').collect();
            let [d, s, n] = nums.as_slice() else {
                return Err(err(
                    entry,
                    "expected domain-server-seqno (MariaDB) or uuid:N-M (MySQL)",
                ));
            };
            let d: u32 = d
                .parse()
                .map_err(|_| err(entry, "the domain id is a number"))?;
            let s: u32 = s
                .parse()
                .map_err(|_| err(entry, "the server id is a number"))?;
            let n: u64 = n
                .parse()
                .map_err(|_| err(entry, "the sequence number is a number"))?;
            let slot = map.entry(d).or_insert((s, n));
            if n > slot.1 {
                *slot = (s, n);
            }
        }
        Ok(GtidSet::Mariadb(map))
    }

    /// True when the set holds no transaction.
    pub fn is_empty(&self) -> bool {
        match self {
            GtidSet::Empty => true,
            GtidSet::Mysql(m) => m.is_empty(),
            GtidSet::Mariadb(m) => m.is_empty(),
        }
    }

    /// Whether every transaction of `other` is in `self` (`self ⊇ other`). Sets of different
    /// formats contain each other only when the contained one is empty.
    pub fn contains(&self, other: &GtidSet) -> bool {
        match (self, other) {
            (_, o) if o.is_empty() => true,
            (GtidSet::Mysql(a), GtidSet::Mysql(b)) => b.iter().all(|(key, need)| {
                let have = a.get(key).map(Vec::as_slice).unwrap_or(&[]);
                need.iter()
                    .all(|&(x, y)| have.iter().any(|&(p, q)| p <= x && y <= q))
            }),
            (GtidSet::Mariadb(a), GtidSet::Mariadb(b)) => b
                .iter()
                .all(|(d, (_, n))| a.get(d).is_some_and(|(_, m)| m >= n)),
            _ => false,
        }
    }

    /// The union of two sets of the same format (e.g. executed ∪ retrieved: what a replica
    /// will have once its relay log is applied). Mixed formats keep `self`.
    pub fn union(&self, other: &GtidSet) -> GtidSet {
        match (self, other) {
            (GtidSet::Empty, o) => o.clone(),
            (s, GtidSet::Empty) => s.clone(),
            (GtidSet::Mysql(a), GtidSet::Mysql(b)) => {
                let mut m = a.clone();
                for (k, v) in b {
                    m.entry(k.clone()).or_default().extend(v.iter().copied());
                }
                for v in m.values_mut() {
                    merge(v);
                }
                GtidSet::Mysql(m)
            }
            (GtidSet::Mariadb(a), GtidSet::Mariadb(b)) => {
                let mut m = a.clone();
                for (d, &(s, n)) in b {
                    let slot = m.entry(*d).or_insert((s, n));
                    if n > slot.1 {
                        *slot = (s, n);
                    }
                }
                GtidSet::Mariadb(m)
            }
            (s, _) => s.clone(),
        }
    }

    /// How many transactions `other` has that `self` lacks: for MySQL the count of missing
    /// transaction numbers, for MariaDB the sum of missing sequence numbers per domain. Used
    /// to rank candidates by how far behind they are when lag is unknown.
    pub fn missing_from(&self, other: &GtidSet) -> u64 {
        match (self, other) {
            (_, o) if o.is_empty() => 0,
            (GtidSet::Empty, o) => o.transaction_count(),
            (GtidSet::Mysql(a), GtidSet::Mysql(b)) => b
                .iter()
                .map(|(key, need)| {
                    let have = a.get(key).map(Vec::as_slice).unwrap_or(&[]);
                    need.iter()
                        .map(|&(x, y)| {
                            let covered: u64 = have
                                .iter()
                                .map(|&(p, q)| {
                                    let lo = p.max(x);
                                    let hi = q.min(y);
                                    if lo <= hi { hi - lo + 1 } else { 0 }
                                })
                                .sum();
                            (y - x + 1).saturating_sub(covered)
                        })
                        .sum::<u64>()
                })
                .sum(),
            (GtidSet::Mariadb(a), GtidSet::Mariadb(b)) => b
                .iter()
                .map(|(d, (_, n))| n.saturating_sub(a.get(d).map_or(0, |(_, m)| *m)))
                .sum(),
            (_, o) => o.transaction_count(),
        }
    }

    /// Number of transactions in a MySQL set; for MariaDB the sum of per-domain seqnos.
    pub fn transaction_count(&self) -> u64 {
        match self {
            GtidSet::Empty => 0,
            GtidSet::Mysql(m) => m.values().flatten().map(|(a, b)| b - a + 1).sum(),
            GtidSet::Mariadb(m) => m.values().map(|(_, n)| n).sum(),
        }
    }
}

impl fmt::Display for GtidSet {
    /// The canonical text form, as the server prints it (without newlines).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GtidSet::Empty => Ok(()),
            GtidSet::Mysql(m) => {
                let mut first = true;
                let mut last_uuid: Option<&str> = None;
                for ((uuid, tag), ranges) in m {
                    if last_uuid != Some(uuid.as_str()) {
                        if !first {
                            f.write_str(",")?;
                        }
                        f.write_str(uuid)?;
                        last_uuid = Some(uuid);
                    }
                    first = false;
                    if !tag.is_empty() {
                        write!(f, ":{tag}")?;
                    }
                    for (a, b) in ranges {
                        if a == b {
                            write!(f, ":{a}")?
                        } else {
                            write!(f, ":{a}-{b}")?
                        }
                    }
                }
                Ok(())
            }
            GtidSet::Mariadb(m) => {
                let parts: Vec<String> =
                    m.iter().map(|(d, (s, n))| format!("{d}-{s}-{n}")).collect();
                f.write_str(&parts.join(","))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "3e11fa47-71ca-11e1-9e33-c80aa9429562";
    const B: &str = "4E11FA47-71CA-11E1-9E33-C80AA9429562";

    #[test]
    fn mysql_parse_merge_display() {
        let s = GtidSet::parse(&format!("{A}:1-3:4-5:9,\n{B}:1")).unwrap();
        assert_eq!(
            s.to_string(),
            format!("{A}:1-5:9,{}:1", B.to_ascii_lowercase())
        );
        assert_eq!(s.transaction_count(), 7);
    }

    #[test]
    fn mysql_containment_and_missing() {
        let primary = GtidSet::parse(&format!("{A}:1-100")).unwrap();
        let behind = GtidSet::parse(&format!("{A}:1-90")).unwrap();
        let relay = GtidSet::parse(&format!("{A}:91-100")).unwrap();
        assert!(!behind.contains(&primary));
        assert_eq!(behind.missing_from(&primary), 10);
        assert!(behind.union(&relay).contains(&primary));
        assert!(primary.contains(&GtidSet::Empty));
        let gap = GtidSet::parse(&format!("{A}:1-50:52-100")).unwrap();
        assert!(!gap.contains(&primary));
        assert_eq!(gap.missing_from(&primary), 1);
    }

    #[test]
    fn mysql_tags() {
        let s = GtidSet::parse(&format!("{A}:1-3:blue:1-2")).unwrap();
        let t = GtidSet::parse(&format!("{A}:blue:2")).unwrap();
        assert!(s.contains(&t));
        assert!(!t.contains(&s));
        assert_eq!(s.to_string(), format!("{A}:1-3:blue:1-2"));
    }

    #[test]
    fn mariadb_positions() {
        let primary = GtidSet::parse("0-1-100,1-2-7").unwrap();
        let replica = GtidSet::parse("0-3-100, 1-2-6").unwrap();
        assert!(!replica.contains(&primary));
        assert_eq!(replica.missing_from(&primary), 1);
        let caught_up = GtidSet::parse("0-1-120,1-2-7").unwrap();
        assert!(caught_up.contains(&primary));
        assert_eq!(GtidSet::parse("0-1-5,0-2-9").unwrap().to_string(), "0-2-9");
    }

    #[test]
    fn mixed_and_bad() {
        let my = GtidSet::parse(&format!("{A}:1")).unwrap();
        let ma = GtidSet::parse("0-1-1").unwrap();
        assert!(!my.contains(&ma));
        assert!(GtidSet::parse("").unwrap().is_empty());
        for bad in [
            "0-1",
            "x-1-2",
            "abc:1-2",
            A,
            &format!("{A}:5-2"),
            &format!("{A}:0"),
        ] {
            assert!(GtidSet::parse(bad).is_err(), "{bad} should fail");
        }
        let e = GtidSet::parse("0-1").unwrap_err();
        assert!(e.to_string().contains("domain-server-seqno"), "{e}");
    }
}
