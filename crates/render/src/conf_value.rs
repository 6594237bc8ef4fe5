//! One `mysqlConf` entry made safe for `my.cnf`: option names normalised for lookups, and
//! size-valued options given as Kubernetes quantities rewritten so `mysqld` reads the
//! intended number of bytes (see [`crate::quantity`]).

use crate::quantity::{QuantityError, parse_quantity};

/// Options whose value is a byte count (MySQL 5.7/8.x, Percona and MariaDB names, in the
/// normalised spelling of [`normalize_name`]). A value for one of these is read as a
/// Kubernetes quantity.
const SIZE_OPTIONS: &[&str] = &[
    "aria-log-file-size",
    "aria-pagecache-buffer-size",
    "aria-sort-buffer-size",
    "binlog-cache-size",
    "binlog-row-event-max-size",
    "binlog-space-limit",
    "binlog-stmt-cache-size",
    "bulk-insert-buffer-size",
    "group-concat-max-len",
    "innodb-buffer-pool-chunk-size",
    "innodb-buffer-pool-size",
    "innodb-ft-cache-size",
    "innodb-ft-total-cache-size",
    "innodb-log-buffer-size",
    "innodb-log-file-size",
    "innodb-log-write-ahead-size",
    "innodb-max-undo-log-size",
    "innodb-online-alter-log-max-size",
    "innodb-redo-log-capacity",
    "innodb-sort-buffer-size",
    "join-buffer-size",
    "key-buffer-size",
    "key-cache-block-size",
    "max-allowed-packet",
    "max-binlog-cache-size",
    "max-binlog-size",
    "max-binlog-stmt-cache-size",
    "max-binlog-total-size",
    "max-heap-table-size",
    "max-relay-log-size",
    "myisam-max-sort-file-size",
    "myisam-mmap-size",
    "myisam-sort-buffer-size",
    "net-buffer-length",
    "parser-max-mem-size",
    "preload-buffer-size",
    "query-alloc-block-size",
    "query-cache-limit",
    "query-cache-min-res-unit",
    "query-cache-size",
    "query-prealloc-size",
    "range-alloc-block-size",
    "read-buffer-size",
    "read-rnd-buffer-size",
    "relay-log-space-limit",
    "replica-max-allowed-packet",
    "slave-max-allowed-packet",
    "sort-buffer-size",
    "temptable-max-mmap",
    "temptable-max-ram",
    "thread-stack",
    "tmp-disk-table-size",
    "tmp-memory-table-size",
    "tmp-table-size",
    "transaction-alloc-block-size",
    "transaction-prealloc-size",
];

/// Lower-case, `_` → `-`, without a leading `loose-`: the spelling used to compare option
/// names, since `mysqld` treats `innodb_buffer_pool_size` and `innodb-buffer-pool-size`
/// (and their `loose-` forms) as the same option.
pub fn normalize_name(name: &str) -> String {
    let lower = name.trim().to_ascii_lowercase().replace('_', "-");
    match lower.strip_prefix("loose-") {
        Some(rest) => rest.to_string(),
        None => lower,
    }
}

/// Whether `name` (any spelling) takes a byte count.
pub fn is_size_option(name: &str) -> bool {
    SIZE_OPTIONS
        .binary_search(&normalize_name(name).as_str())
        .is_ok()
}

/// A Kubernetes binary-suffix quantity (`6Gi`, `1.5Ti`): no `mysqld` option accepts this
/// form, so it is converted whatever the option is called.
fn looks_binary_quantity(value: &str) -> bool {
    let v = value.trim();
    let Some(num) = ["Ki", "Mi", "Gi", "Ti", "Pi", "Ei"]
        .iter()
        .find_map(|s| v.strip_suffix(s))
    else {
        return false;
    };
    !num.is_empty()
        && num.chars().all(|c| c.is_ascii_digit() || c == '.')
        && num.chars().any(|c| c.is_ascii_digit())
}

/// The value to write into `my.cnf` for option `name`.
///
/// Size options are parsed as Kubernetes quantities (`1G` is 10^9 bytes, `6Gi` is 6 GiB)
/// and written with an exact 1024-based suffix or in bytes. Any other option keeps its
/// value, except a binary-suffix quantity, which is converted the same way.
pub fn mysqld_value(name: &str, value: &str) -> Result<String, QuantityError> {
    // presslabs handed values such as `1G` or `32M` to mysqld unchanged, where the suffix is
    // 1024-based; keep that meaning so adopted clusters get byte-identical settings.
    if is_mysqld_native_size(value) {
        return Ok(value.trim().to_string());
    }
    if is_size_option(name) || looks_binary_quantity(value) {
        return parse_quantity(value).map(|b| b.to_mysqld());
    }
    Ok(value.to_string())
}

/// An integer with one `K`/`M`/`G`/`T` suffix (any case): mysqld's own size syntax.
fn is_mysqld_native_size(value: &str) -> bool {
    let v = value.trim();
    match v.char_indices().last() {
        Some((i, c)) if matches!(c.to_ascii_uppercase(), 'K' | 'M' | 'G' | 'T') => {
            i > 0 && v[..i].bytes().all(|b| b.is_ascii_digit())
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_option_list_is_sorted_and_normalised() {
        let mut sorted = SIZE_OPTIONS.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(
            sorted, SIZE_OPTIONS,
            "SIZE_OPTIONS must stay sorted and unique for binary_search"
        );
        for name in SIZE_OPTIONS {
            assert_eq!(&normalize_name(name), name);
        }
    }

    #[test]
    fn names_compare_in_any_spelling() {
        assert_eq!(
            normalize_name("innodb_buffer_pool_size"),
            "innodb-buffer-pool-size"
        );
        assert_eq!(
            normalize_name("loose_innodb_buffer_pool_size"),
            "innodb-buffer-pool-size"
        );
        assert_eq!(normalize_name(" Max_Allowed_Packet "), "max-allowed-packet");
        assert!(is_size_option("innodb_buffer_pool_size"));
        assert!(is_size_option("loose-max-binlog-size"));
        assert!(!is_size_option("max-connections"));
    }

    #[test]
    fn quantities_on_size_options_become_mysqld_sizes() {
        assert_eq!(
            mysqld_value("innodb-buffer-pool-size", "6Gi").unwrap(),
            "6G"
        );
        assert_eq!(
            mysqld_value("innodb_log_file_size", "512Mi").unwrap(),
            "512M"
        );
        // mysqld's own syntax keeps mysqld's (1024-based) meaning, as with presslabs.
        assert_eq!(mysqld_value("max-binlog-size", "1G").unwrap(), "1G");
        assert_eq!(mysqld_value("sort-buffer-size", "100k").unwrap(), "100k");
        assert_eq!(mysqld_value("tmp-table-size", "33554432").unwrap(), "32M");
        assert_eq!(mysqld_value("key-buffer-size", "1.5Gi").unwrap(), "1536M");
    }

    #[test]
    fn other_options_are_left_alone_unless_binary_quantity() {
        assert_eq!(mysqld_value("max-connections", "500").unwrap(), "500");
        assert_eq!(
            mysqld_value("sql-mode", "STRICT_TRANS_TABLES").unwrap(),
            "STRICT_TRANS_TABLES"
        );
        assert_eq!(
            mysqld_value("character-set-server", "utf8mb4").unwrap(),
            "utf8mb4"
        );
        assert_eq!(mysqld_value("some-future-size", "2Gi").unwrap(), "2G");
        assert_eq!(
            mysqld_value("log-bin", "/var/lib/mysql/mysql-bin").unwrap(),
            "/var/lib/mysql/mysql-bin"
        );
    }

    #[test]
    fn a_bad_size_is_an_error() {
        assert!(mysqld_value("innodb-buffer-pool-size", "lots").is_err());
        assert!(mysqld_value("innodb-buffer-pool-size", "-1Gi").is_err());
    }
}
