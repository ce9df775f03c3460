//! What the host gives this process, probed once at startup: memory (the cgroup limit, else
//! the machine's RAM). Read by `config` for the jobs' default memory limit.
use std::path::PathBuf;

/// `64 KiB`, `512 MiB`, `1.5 GiB`: the way JOB_MEMORY_LIMIT is written.
pub fn human_bytes(b: u64) -> String {
    match b {
        b if b >= 1 << 30 => format!("{:.1} GiB", b as f64 / (1u64 << 30) as f64),
        b if b >= 1 << 20 => format!("{} MiB", b >> 20),
        b => format!("{} KiB", b >> 10),
    }
}

/// Memory the host gives this process: the cgroup limit (v2 `memory.max`, v1
/// `memory.limit_in_bytes`) when there is one, else the machine's RAM.
pub fn available_memory() -> u64 {
    cgroup_limit().unwrap_or_else(physical_memory)
}

fn cgroup_limit() -> Option<u64> {
    let cgroups = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    let mut candidates: Vec<PathBuf> = Vec::new();
    for line in cgroups.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        let path = path.trim_start_matches('/');
        if controllers.is_empty() {
            candidates.push(
                PathBuf::from("/sys/fs/cgroup")
                    .join(path)
                    .join("memory.max"),
            );
        } else if controllers.split(',').any(|c| c == "memory") {
            candidates.push(
                PathBuf::from("/sys/fs/cgroup/memory")
                    .join(path)
                    .join("memory.limit_in_bytes"),
            );
        }
    }
    candidates.push("/sys/fs/cgroup/memory.max".into());
    candidates.push("/sys/fs/cgroup/memory/memory.limit_in_bytes".into());
    candidates
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .find_map(|v| v.trim().parse::<u64>().ok())
        .filter(|&v| v < 1 << 60) // "max" or the v1 "no limit" value
}

fn physical_memory() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            let line = m.lines().find(|l| l.starts_with("MemTotal:"))?;
            let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
            Some(kb * 1024)
        })
        .unwrap_or(2 << 30)
}
