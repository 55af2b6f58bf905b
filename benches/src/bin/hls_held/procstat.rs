//! CPU time and resident memory of a process, from /proc (Linux).

use std::time::Instant;

use anyhow::Context;

/// Clock ticks per second of /proc/<pid>/stat times (`getconf CLK_TCK`; 100 on Linux).
const TICKS_PER_S: f64 = 100.0;

/// utime + stime of `pid`, in seconds.
pub fn cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat (is the engine running?)"))?;
    // Fields after the command name (which may hold spaces) start at state = field 3.
    let after = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .context("malformed /proc/pid/stat")?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    // utime and stime are fields 14 and 15, i.e. index 11 and 12 after the state (field 3).
    let utime: f64 = fields.get(11).context("no utime")?.parse()?;
    let stime: f64 = fields.get(12).context("no stime")?.parse()?;
    Ok((utime + stime) / TICKS_PER_S)
}

/// VmRSS of `pid`, in MiB.
pub fn rss_mib(pid: u32) -> anyhow::Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .context("no VmRSS")?
        .parse()?;
    Ok(kb / 1024.0)
}

/// CPU use of a process over a window: start it, then read `percent()`.
pub struct CpuWindow {
    pid: u32,
    cpu0: f64,
    t0: Instant,
}

impl CpuWindow {
    pub fn start(pid: u32) -> anyhow::Result<Self> {
        Ok(Self {
            pid,
            cpu0: cpu_seconds(pid)?,
            t0: Instant::now(),
        })
    }

    /// CPU seconds used since `start`.
    pub fn seconds(&self) -> anyhow::Result<f64> {
        Ok(cpu_seconds(self.pid)? - self.cpu0)
    }

    /// Percent of one core used since `start` (200 = both cores of a 2-core machine).
    pub fn percent(&self) -> anyhow::Result<f64> {
        let wall = self.t0.elapsed().as_secs_f64().max(1e-3);
        Ok((cpu_seconds(self.pid)? - self.cpu0) / wall * 100.0)
    }
}

/// Soft limit on open files of this process.
pub fn nofile_soft_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// Raises this process's open-file limit to `want` with util-linux `prlimit` (no unsafe code).
pub fn raise_nofile(want: u64) -> anyhow::Result<()> {
    if nofile_soft_limit().is_some_and(|n| n >= want) {
        return Ok(());
    }
    let pid = std::process::id().to_string();
    let status = std::process::Command::new("prlimit")
        .args(["--pid", &pid, &format!("--nofile={want}:{want}")])
        .status();
    let now = nofile_soft_limit().unwrap_or(0);
    anyhow::ensure!(
        now >= want,
        "open-file limit {now} < {want} and prlimit could not raise it ({status:?}); run `ulimit -n {want}` first"
    );
    Ok(())
}
