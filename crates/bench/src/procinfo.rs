//! What the kernel says about a process: resident memory and CPU time, read from /proc.

use std::time::Duration;

/// Resident set size in bytes.
pub fn rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// User plus system CPU time used so far.
pub fn cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may contain spaces.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Some(Duration::from_millis((utime + stime) * 1000 / ticks))
}

/// RSS that settles: memory allocators return pages lazily, so sample until two readings agree.
pub fn settled_rss(pid: u32) -> Option<u64> {
    let mut last = rss_bytes(pid)?;
    for _ in 0..10 {
        std::thread::sleep(Duration::from_millis(200));
        let now = rss_bytes(pid)?;
        if now.abs_diff(last) < 64 * 1024 {
            return Some(now);
        }
        last = now;
    }
    Some(last)
}
