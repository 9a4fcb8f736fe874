//! Link-time layout of the `rbk` binary (release builds only).
//!
//! `link/order.txt` lists the functions a run, a check and start-up execute
//! (written by `bench/layout.sh` from callgrind profiles). Handed to lld as a
//! symbol ordering file, it puts them side by side at the start of `.text`,
//! so a short `rbk run` maps a few hundred KiB of code instead of pages
//! scattered over 13 MiB: fewer page faults at start-up and less resident
//! memory (docs/performance.md, "Round 5"). Names that no longer exist are
//! skipped by the linker; the order only moves code, it never changes it.
//!
//! Applied only where the linker is known to be lld: the x86_64 Linux target
//! with rustc ≥ 1.90 (rust-lld is its default linker) and no linker chosen in
//! the environment. `RBK_NO_LAYOUT=1` turns it off.

use std::env;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=link/order.txt");
    println!("cargo:rerun-if-env-changed=RBK_NO_LAYOUT");
    println!("cargo:rerun-if-env-changed=CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_LINKER");
    if env::var_os("RBK_NO_LAYOUT").is_some_and(|v| !v.is_empty() && v != "0") {
        return;
    }
    if env::var("PROFILE").as_deref() != Ok("release")
        || env::var("TARGET").as_deref() != Ok("x86_64-unknown-linux-gnu")
        || env::var_os("CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_LINKER").is_some()
        || env::var("CARGO_ENCODED_RUSTFLAGS").is_ok_and(|f| f.contains("link"))
        || !rustc_links_with_lld()
    {
        return;
    }
    let Some(dir) = env::var_os("CARGO_MANIFEST_DIR") else {
        return;
    };
    let order = std::path::Path::new(&dir).join("link").join("order.txt");
    if !order.is_file() {
        return;
    }
    println!(
        "cargo:rustc-link-arg-bin=rbk=-Wl,--symbol-ordering-file={}",
        order.display()
    );
    println!("cargo:rustc-link-arg-bin=rbk=-Wl,--no-warn-symbol-ordering");
}

/// rustc 1.90 made rust-lld the default linker of x86_64-unknown-linux-gnu.
fn rustc_links_with_lld() -> bool {
    let rustc = env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let Ok(out) = Command::new(rustc).arg("-V").output() else {
        return false;
    };
    let version = String::from_utf8_lossy(&out.stdout);
    // "rustc 1.95.0 (59807616e 2026-04-14)"
    let mut parts = version
        .split_whitespace()
        .nth(1)
        .unwrap_or("")
        .split(['.', '-'])
        .map(|p| p.parse::<u32>().ok());
    matches!((parts.next(), parts.next()), (Some(Some(1)), Some(Some(minor))) if minor >= 90)
}
