//! Figures a run measures, printed as they are taken and as a table at the end.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;

/// One measured figure.
#[derive(Debug, Clone, PartialEq)]
pub struct Figure {
    pub scenario: u32,
    pub name: String,
    pub value: String,
}

/// The figures of a run.
pub struct Figures {
    list: Mutex<Vec<Figure>>,
    file: Option<PathBuf>,
}

impl Figures {
    pub fn new(file: Option<PathBuf>) -> Figures {
        Figures {
            list: Mutex::new(Vec::new()),
            file,
        }
    }

    /// Records and prints a figure (and appends it to `E2E_FIGURES_FILE`).
    pub fn add(&self, scenario: u32, name: &str, value: impl Into<String>) {
        let value = value.into();
        println!("  FIGURE [{scenario}] {name}: {value}");
        if let Some(path) = &self.file
            && let Ok(mut f) = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
        {
            let _ = writeln!(f, "{scenario}\t{name}\t{value}");
        }
        self.list.lock().expect("lock").push(Figure {
            scenario,
            name: name.to_string(),
            value,
        });
    }

    pub fn all(&self) -> Vec<Figure> {
        self.list.lock().expect("lock").clone()
    }

    /// The table printed at the end of a run.
    pub fn table(&self) -> String {
        let list = self.all();
        let width = list.iter().map(|f| f.name.len()).max().unwrap_or(0);
        let mut out = String::new();
        for f in &list {
            out.push_str(&format!(
                "  [{}] {:width$}  {}\n",
                f.scenario,
                f.name,
                f.value,
                width = width
            ));
        }
        out
    }
}

/// Seconds with two decimals.
pub fn secs(d: std::time::Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

/// Milliseconds as seconds with two decimals.
pub fn ms(ms: i64) -> String {
    format!("{:.2} s", ms as f64 / 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_aligns_names() {
        let f = Figures::new(None);
        f.add(3, "switchover write gap", "0.42 s");
        f.add(
            8,
            "leader takeover",
            secs(std::time::Duration::from_millis(1500)),
        );
        let t = f.table();
        assert!(t.contains("[3] switchover write gap  0.42 s"), "{t}");
        assert!(t.contains("[8] leader takeover       1.50 s"), "{t}");
        assert_eq!(ms(250), "0.25 s");
    }
}
