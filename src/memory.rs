//! How the process keeps memory it frees, for commands that parse again and
//! again (`rbk lsp` re-checks on every keystroke) or parse large programs
//! (`rbk check`).
//!
//! Parsing a 50,000-line program makes pest's token queue grow to tens of
//! megabytes. glibc serves an allocation that large with its own `mmap`
//! and unmaps it when it is freed, so every parse pays the page faults of
//! that memory again (about a fifth of the time of a re-check, see
//! `docs/performance.md`). [`keep_freed_memory`] tells glibc to take all
//! memory from the heap and to keep up to 512 MiB of freed memory there,
//! so that the next parse reuses it. Elsewhere (other C libraries,
//! other systems) it does nothing.

/// Freed memory the process keeps for reuse before returning it to the
/// system, in bytes.
pub const KEEP_FREED_BYTES: i32 = 512 << 20;

/// Makes glibc's `malloc` keep freed memory for reuse (see the module
/// documentation). Returns whether both settings were taken. Called at the
/// start of `rbk check` and `rbk lsp`; safe to call more than once.
pub fn keep_freed_memory() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallopt only changes malloc's parameters; glibc takes
        // its arena lock for it, so it may run while other threads allocate.
        unsafe {
            // No allocation is served by its own mapping (glibc falls back
            // to one only when the heap cannot grow).
            let no_mmap = libc::mallopt(libc::M_MMAP_MAX, 0) == 1;
            // Free memory at the top of the heap is given back only above this.
            let trim = libc::mallopt(libc::M_TRIM_THRESHOLD, KEEP_FREED_BYTES) == 1;
            no_mmap && trim
        }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}

/// Makes glibc serve every thread from the main heap (one malloc arena)
/// instead of giving each new thread an arena of its own. For processes
/// that work on one thread at a time; call it before starting threads.
/// Returns whether glibc took the setting; elsewhere it does nothing.
pub fn share_one_heap() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallopt only changes malloc's parameters.
        unsafe { libc::mallopt(libc::M_ARENA_MAX, 1) == 1 }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}

#[cfg(test)]
mod tests {
    #[test]
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    fn glibc_takes_the_settings() {
        assert!(super::keep_freed_memory());
        // Again: the settings are idempotent.
        assert!(super::keep_freed_memory());
    }

    #[test]
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    fn glibc_takes_one_heap() {
        assert!(super::share_one_heap());
    }
}
