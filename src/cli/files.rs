//! Output files: `--csv DIR` (and the app's Export CSV) write only inside DIR.
//!
//! Node names are restricted to a safe set when a scenario is checked (letters, digits, `_`,
//! `-`; see `scenario::names`), so `<node>.csv` is a plain file name. The writer does not rely
//! on that alone: it builds each file name with [`file_name`], which escapes anything outside
//! the set, and refuses a name that would still leave the folder.

use std::path::{Component, Path};

use crate::engine::Sim;

/// A file name for `name` (plus `.csv`) that cannot leave its folder: characters outside the
/// safe set are written as `%XX` (UTF-8 bytes in hex), so distinct names stay distinct.
pub fn file_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b == b'_' || b == b'-' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    if out.is_empty() {
        out.push_str("%00");
    }
    out.push_str(".csv");
    out
}

/// Writes one CSV per node with its time series into `dir` (created if missing).
pub fn write_csv(sim: &Sim, dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    for name in sim.node_names() {
        let file = file_name(&name);
        // `file_name` yields one normal component; checked anyway, as the last line of defence.
        let mut parts = Path::new(&file).components();
        anyhow::ensure!(
            matches!((parts.next(), parts.next()), (Some(Component::Normal(_)), None)),
            "node `{}` does not make a file name inside the folder; rename it",
            name.escape_debug()
        );
        // The fixed columns come from `Point` itself; the node's policy readings (a limit, its
        // memory, tokens…) follow as one column each, named by their labels. The csv crate
        // cannot flatten, so each serialized row is read back and extended.
        let mut fixed = csv::Writer::from_writer(Vec::new());
        for p in sim.series(&name) {
            fixed.serialize(p)?;
        }
        let fixed = fixed.into_inner().map_err(|e| anyhow::anyhow!("{e}"))?;
        let names = sim.reading_names(&name);
        let mut rows = csv::ReaderBuilder::new().has_headers(false).from_reader(fixed.as_slice());
        let mut w = csv::Writer::from_path(dir.join(&file))?;
        for (i, row) in rows.records().enumerate() {
            let mut row = row?;
            if i == 0 {
                names.iter().for_each(|(_, label)| row.push_field(label));
            } else if let Some(p) = sim.series(&name).get(i - 1) {
                for j in 0..names.len() {
                    row.push_field(&p.readings.get(j).map(|v| v.to_string()).unwrap_or_default());
                }
            }
            w.write_record(&row)?;
        }
        w.flush()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_stay_in_the_folder_and_distinct() {
        assert_eq!(file_name("api-1_b"), "api-1_b.csv");
        assert_eq!(file_name("/tmp/x"), "%2Ftmp%2Fx.csv");
        assert_eq!(file_name(".."), "%2E%2E.csv");
        assert_eq!(file_name(""), "%00.csv");
        assert_ne!(file_name("a/b"), file_name("a%2Fb"));
        for n in ["/tmp/x", "..", "a\\b", "s\nv", "é", "C:x"] {
            let f = file_name(n);
            let mut parts = Path::new(&f).components();
            assert!(matches!((parts.next(), parts.next()), (Some(Component::Normal(_)), None)), "{n:?} → {f}");
        }
    }
}
