//! Sizes in bytes, as people write them.

/// `64 MiB`, `1 GiB`, `512 bytes`: a byte count as people write it.
pub fn format_size(n: u64) -> String {
    const UNITS: [(u64, &str); 3] = [(1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")];
    for (size, unit) in UNITS {
        if n >= size && n.is_multiple_of(size) {
            return format!("{} {unit}", n / size);
        }
    }
    if n >= 1 << 20 {
        return format!("{:.1} MiB", n as f64 / (1u64 << 20) as f64);
    }
    format!("{n} bytes")
}

/// `64MiB`, `10MB`, `512KB`, `1GB`, `4096`: a size as written in a program
/// (`max_response = 1GB`) or on the command line. K, M and G are powers of
/// 1024, written `KB` or `KiB` alike (SERVE.md §7: one rule for every size).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("`{text}` is not a size such as 64MiB, 10MB or 4096"))?;
    let mul: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" | "kib" => 1 << 10,
        "mb" | "mib" => 1 << 20,
        "gb" | "gib" => 1 << 30,
        _ => {
            return Err(format!(
                "`{text}`: the unit is one of B, KB, KiB, MB, MiB, GB, GiB"
            ));
        }
    };
    n.checked_mul(mul)
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("`{text}` is not a size above 0 that fits in 64 bits"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_and_print() {
        assert_eq!(parse_size("64MiB"), Ok(64 << 20));
        assert_eq!(parse_size("10MB"), Ok(10 << 20));
        assert_eq!(parse_size("2kb"), Ok(2048));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("1 GB"), Ok(1 << 30));
        assert!(parse_size("0").is_err());
        assert!(parse_size("12XB").is_err());
        assert!(parse_size("99999999999999GiB").is_err());
        assert_eq!(format_size(64 << 20), "64 MiB");
        assert_eq!(format_size(1 << 30), "1 GiB");
        assert_eq!(format_size(1_000_000), "1000000 bytes");
        assert_eq!(format_size(17), "17 bytes");
    }
}
