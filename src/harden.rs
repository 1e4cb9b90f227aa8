//! What `main` does before anything else so the hotkey secrets stay in this process only:
//! no core dump and no `/proc/<pid>/environ` reader (another process of the same user, such as
//! a task's benchmark) can see them, and the copy the kernel put in the initial environment
//! block is overwritten.

use std::ffi::CStr;

/// Turn off core dumps and ptrace/`/proc` access by processes of the same user.
///
/// Linux: `PR_SET_DUMPABLE=0` makes `/proc/<pid>/{environ,mem,maps}` of this process readable
/// by root only and writes no core file (Ctrl-\\ with `ulimit -c unlimited` would otherwise drop
/// the unlocked mnemonic into the work tree). Children are not affected: `execve` resets the
/// flag. Elsewhere `RLIMIT_CORE=0` stops the core file (children inherit that limit there).
pub fn no_dumps() {
    #[cfg(target_os = "linux")]
    {
        let _ = rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable);
    }
    #[cfg(not(target_os = "linux"))]
    {
        let core = rustix::process::Resource::Core;
        let limit = rustix::process::getrlimit(core);
        let _ = rustix::process::setrlimit(core, rustix::process::Rlimit { current: Some(0), ..limit });
    }
}

extern "C" {
    /// The C library's environment array (POSIX `environ`).
    static mut environ: *mut *mut libc::c_char;
}

/// Overwrite, in place, the value bytes of every environment entry whose name is in `names`
/// (`NAME=value` becomes `NAME=` followed by zero bytes). The strings `environ` points at
/// when `main` starts are the kernel's initial environment block, the very bytes
/// `/proc/<pid>/environ` shows; removing a variable only drops the pointer, so without this
/// the value would stay readable there for the life of the process.
///
/// Call it before any thread exists and before the variables are removed.
pub fn scrub_env_values(names: &[&str]) {
    // SAFETY: runs first thing in `main`, when no other thread exists that could read or
    // change the environment concurrently (callers guarantee it). `environ` is the C library's
    // NULL-terminated array of pointers to NUL-terminated `NAME=value` strings; we only walk it
    // to its NULL terminator and write zero bytes inside each matching string's existing
    // length (never past its NUL), so every pointer stays valid and every string stays
    // NUL-terminated.
    unsafe {
        let mut entry = environ;
        while !entry.is_null() && !(*entry).is_null() {
            let text = CStr::from_ptr(*entry);
            let len = text.to_bytes().len();
            let bytes = std::slice::from_raw_parts_mut((*entry).cast::<u8>(), len);
            if let Some(eq) = bytes.iter().position(|b| *b == b'=') {
                if names.iter().any(|name| name.as_bytes() == &bytes[..eq]) {
                    bytes[eq + 1..].fill(0);
                }
            }
            entry = entry.add(1);
        }
    }
}

#[cfg(test)]
mod tests {
    #[cfg(target_os = "linux")]
    #[test]
    fn the_process_is_not_dumpable_afterwards() {
        super::no_dumps();
        let now = rustix::process::dumpable_behavior().unwrap();
        assert_eq!(now, rustix::process::DumpableBehavior::NotDumpable);
    }
}
