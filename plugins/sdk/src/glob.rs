//! Shell-style patterns (`*`, `?`, `\` escape) and `schema.table` patterns built from two of
//! them, so filters in settings read like `tmp_*.*` or `*.sessions`.

use std::fmt;

/// Why a pattern was refused; the message says how to write it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatternError {
    /// The pattern as given.
    pub pattern: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl fmt::Display for PatternError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid pattern {:?}: {}", self.pattern, self.reason)
    }
}

impl std::error::Error for PatternError {}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Lit(char),
    One,
    Any,
}

/// A compiled glob: `*` any run of characters, `?` one character, `\x` a literal `x`.
/// Matching is case-sensitive, like table names on Linux servers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob {
    source: String,
    toks: Vec<Tok>,
}

impl Glob {
    /// Compiles `pattern`; refuses empty patterns, a dangling `\` and control characters.
    pub fn new(pattern: &str) -> Result<Glob, PatternError> {
        let bad = |reason| PatternError {
            pattern: pattern.to_string(),
            reason,
        };
        if pattern.is_empty() {
            return Err(bad("it is empty; use `*` to match everything"));
        }
        let mut toks = Vec::new();
        let mut chars = pattern.chars();
        while let Some(c) = chars.next() {
            match c {
                '*' => {
                    if toks.last() != Some(&Tok::Any) {
                        toks.push(Tok::Any);
                    }
                }
                '?' => toks.push(Tok::One),
                '\\' => match chars.next() {
                    Some(n) => toks.push(Tok::Lit(n)),
                    None => {
                        return Err(bad(
                            "it ends with a lone `\\`; write `\\\\` for a backslash",
                        ));
                    }
                },
                c if c.is_control() => return Err(bad("it contains a control character")),
                c => toks.push(Tok::Lit(c)),
            }
        }
        Ok(Glob {
            source: pattern.to_string(),
            toks,
        })
    }

    /// Whether `text` matches the whole pattern.
    pub fn matches(&self, text: &str) -> bool {
        let t: Vec<char> = text.chars().collect();
        // Iterative wildcard matching with one backtrack point (linear in practice).
        let (mut p, mut i) = (0usize, 0usize);
        let mut star: Option<(usize, usize)> = None;
        while i < t.len() {
            match self.toks.get(p) {
                Some(Tok::Lit(c)) if *c == t[i] => {
                    p += 1;
                    i += 1;
                }
                Some(Tok::One) => {
                    p += 1;
                    i += 1;
                }
                Some(Tok::Any) => {
                    star = Some((p, i));
                    p += 1;
                }
                _ => match star {
                    Some((sp, si)) => {
                        p = sp + 1;
                        i = si + 1;
                        star = Some((sp, si + 1));
                    }
                    None => return false,
                },
            }
        }
        self.toks[p..].iter().all(|t| *t == Tok::Any)
    }

    /// The pattern text as given.
    pub fn as_str(&self) -> &str {
        &self.source
    }
}

/// A `schema.table` pattern: two globs split at the first unescaped `.`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TablePattern {
    /// Matches the schema (database) name.
    pub schema: Glob,
    /// Matches the table name.
    pub table: Glob,
}

impl TablePattern {
    /// Parses `schema.table`, e.g. `tmp_*.*`, `*.sessions`, `app.cache_?`.
    pub fn new(pattern: &str) -> Result<TablePattern, PatternError> {
        let bad = |reason| PatternError {
            pattern: pattern.to_string(),
            reason,
        };
        let mut split = None;
        let mut escaped = false;
        for (i, c) in pattern.char_indices() {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '.' => {
                    if split.is_some() {
                        return Err(bad(
                            "it has more than one `.`; write `schema.table` and escape a literal dot as `\\.`",
                        ));
                    }
                    split = Some(i);
                }
                _ => {}
            }
        }
        let Some(i) = split else {
            return Err(bad(
                "it has no `.`; write `schema.table`, e.g. `tmp_*.*` or `*.sessions`",
            ));
        };
        let (s, t) = (&pattern[..i], &pattern[i + 1..]);
        if s.is_empty() || t.is_empty() {
            return Err(bad(
                "the schema or table part is empty; use `*` to match any",
            ));
        }
        let wrap = |e: PatternError| PatternError {
            pattern: pattern.to_string(),
            reason: e.reason,
        };
        Ok(TablePattern {
            schema: Glob::new(s).map_err(wrap)?,
            table: Glob::new(t).map_err(wrap)?,
        })
    }

    /// Whether `schema.table` matches.
    pub fn matches(&self, schema: &str, table: &str) -> bool {
        self.schema.matches(schema) && self.table.matches(table)
    }

    /// True when the table part is `*`: the pattern names whole schemas, which a filter can
    /// exclude as schemas rather than table by table.
    pub fn is_whole_schema(&self) -> bool {
        self.table.toks == [Tok::Any]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        let g = Glob::new("tmp_*").unwrap();
        assert!(g.matches("tmp_") && g.matches("tmp_x") && !g.matches("tm") && !g.matches("xtmp_"));
        assert!(Glob::new("*").unwrap().matches(""));
        assert!(Glob::new("a?c").unwrap().matches("abc"));
        assert!(!Glob::new("a?c").unwrap().matches("ac"));
        assert!(Glob::new("*a*b*").unwrap().matches("xxaxxbxx"));
        assert!(!Glob::new("*a*b").unwrap().matches("xxaxxbxx"));
        assert!(Glob::new(r"a\*").unwrap().matches("a*"));
        assert!(!Glob::new(r"a\*").unwrap().matches("ab"));
        assert!(Glob::new("").is_err());
        assert!(Glob::new("a\\").is_err());
    }

    #[test]
    fn table_patterns() {
        let p = TablePattern::new("tmp_*.*").unwrap();
        assert!(p.matches("tmp_2024", "anything") && !p.matches("app", "tmp_x"));
        assert!(p.is_whole_schema());
        let s = TablePattern::new("*.sessions").unwrap();
        assert!(s.matches("app", "sessions") && !s.matches("app", "sessions2"));
        assert!(!s.is_whole_schema());
        let dotted = TablePattern::new(r"app.v1\.cache").unwrap();
        assert!(dotted.matches("app", "v1.cache"));
        for bad in ["nodot", "a.b.c", ".x", "x.", "a\\"] {
            let e = TablePattern::new(bad).unwrap_err();
            assert!(e.to_string().contains(bad.trim_end_matches('\\')), "{e}");
        }
    }
}
