//! The `RuntimeDefault` seccomp profile: every system call allowed except
//! the dangerous ones Docker's and containerd's default profiles also keep
//! from containers (loading kernel modules, rebooting, changing the clock,
//! kernel keyrings, BPF, perf, new mount and namespace APIs, …), which fail
//! with `EPERM`. A capability that the container was given on purpose
//! (`SYS_ADMIN`, `SYS_TIME`, …) lifts the calls it guards, as in Docker.
//!
//! Unlike Docker's profile (an allow list of about 350 calls) this is a
//! deny list: calls the kernel adds later are allowed.

use oci_spec::runtime::{
    Arch, Capabilities, Capability, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompBuilder,
    LinuxSyscallBuilder,
};
use rkube_cri::CriError;

/// `EPERM`, the error every refused call returns.
const EPERM: u32 = 1;

/// Calls refused unless the container holds the capability named first.
const GUARDED: &[(Option<Capability>, &[&str])] = &[
    (
        Some(Capability::SysAdmin),
        &[
            "mount",
            "umount",
            "umount2",
            "pivot_root",
            "unshare",
            "setns",
            "fsopen",
            "fsconfig",
            "fsmount",
            "fspick",
            "move_mount",
            "open_tree",
            "mount_setattr",
            "quotactl",
            "lookup_dcookie",
            "name_to_handle_at",
            "fanotify_init",
        ],
    ),
    (
        Some(Capability::SysModule),
        &[
            "init_module",
            "finit_module",
            "delete_module",
            "create_module",
            "get_kernel_syms",
            "query_module",
        ],
    ),
    (
        Some(Capability::SysBoot),
        &["reboot", "kexec_load", "kexec_file_load"],
    ),
    (
        Some(Capability::SysTime),
        &[
            "settimeofday",
            "stime",
            "clock_settime",
            "clock_adjtime",
            "adjtimex",
        ],
    ),
    (Some(Capability::SysPacct), &["acct"]),
    (Some(Capability::SysRawio), &["iopl", "ioperm"]),
    (Some(Capability::Syslog), &["syslog"]),
    (
        Some(Capability::SysPtrace),
        &["kcmp", "process_vm_readv", "process_vm_writev", "ptrace"],
    ),
    (
        Some(Capability::SysNice),
        &["mbind", "set_mempolicy", "move_pages", "get_mempolicy"],
    ),
    (Some(Capability::DacReadSearch), &["open_by_handle_at"]),
    (Some(Capability::Bpf), &["bpf"]),
    (Some(Capability::Perfmon), &["perf_event_open"]),
    (
        None,
        &[
            "add_key",
            "request_key",
            "keyctl",
            "swapon",
            "swapoff",
            "uselib",
            "nfsservctl",
            "vm86",
            "vm86old",
            "_sysctl",
            "sysfs",
            "ustat",
            "userfaultfd",
            "io_uring_setup",
            "io_uring_enter",
            "io_uring_register",
        ],
    ),
];

/// The profile for a container holding `caps`.
pub(crate) fn runtime_default(caps: &Capabilities) -> Result<LinuxSeccomp, CriError> {
    let names: Vec<String> = GUARDED
        .iter()
        .filter(|(cap, _)| cap.is_none_or(|c| !caps.contains(&c)))
        .flat_map(|(_, calls)| calls.iter().map(|c| c.to_string()))
        .collect();
    let denied = LinuxSyscallBuilder::default()
        .names(names)
        .action(LinuxSeccompAction::ScmpActErrno)
        .errno_ret(EPERM)
        .build()
        .map_err(|e| CriError::Runtime(format!("seccomp profile: {e}")))?;
    LinuxSeccompBuilder::default()
        .default_action(LinuxSeccompAction::ScmpActAllow)
        .architectures(native_arches())
        .syscalls(vec![denied])
        .build()
        .map_err(|e| CriError::Runtime(format!("seccomp profile: {e}")))
}

/// The architectures a process on this machine may use (the native one
/// and its 32-bit forms), so a 32-bit call cannot go around the filter.
fn native_arches() -> Vec<Arch> {
    match std::env::consts::ARCH {
        "x86_64" => vec![Arch::ScmpArchX86_64, Arch::ScmpArchX86, Arch::ScmpArchX32],
        "aarch64" => vec![Arch::ScmpArchAarch64, Arch::ScmpArchArm],
        _ => vec![Arch::ScmpArchNative],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn denied(caps: &Capabilities) -> Vec<String> {
        let profile = runtime_default(caps).expect("test");
        profile.syscalls().as_ref().expect("test")[0]
            .names()
            .clone()
    }

    #[test]
    fn dangerous_calls_are_denied_unless_the_capability_is_held() {
        let none = denied(&Capabilities::new());
        assert!(none.contains(&"mount".to_string()));
        assert!(none.contains(&"kexec_load".to_string()));
        let admin = denied(&[Capability::SysAdmin].into_iter().collect());
        assert!(!admin.contains(&"mount".to_string()));
        assert!(admin.contains(&"keyctl".to_string()));
    }
}
