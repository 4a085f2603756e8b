//! The standard `process_*` metrics Prometheus' client libraries expose (CPU time, memory,
//! file descriptors, start time), read from Linux's `/proc/self`. Elsewhere they are left
//! out rather than invented.

use std::fmt::Write;

/// Clock ticks per second of `/proc/<pid>/stat`'s times: the kernel's USER_HZ, fixed at 100
/// in Linux's ABI to user space.
const USER_HZ: f64 = 100.0;

/// The `process_*` lines, or nothing where `/proc/self` cannot be read.
pub fn render() -> String {
    let mut out = String::new();
    let Some(stat) = std::fs::read_to_string("/proc/self/stat").ok() else {
        return out;
    };
    // Fields after the command name (which may hold spaces) in parentheses.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    // Field n of proc(5) is fields[n - 3] here.
    let field = |n: usize| fields.get(n - 3).and_then(|v| v.parse::<f64>().ok());
    let mut metric = |name: &str, kind: &str, help: &str, value: Option<f64>| {
        if let Some(value) = value {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
            );
        }
    };
    let cpu = field(14)
        .zip(field(15))
        .map(|(user, system)| (user + system) / USER_HZ);
    metric(
        "process_cpu_seconds_total",
        "counter",
        "Total user and system CPU time spent in seconds.",
        cpu,
    );
    let page = 4096.0;
    metric(
        "process_virtual_memory_bytes",
        "gauge",
        "Virtual memory size in bytes.",
        field(23),
    );
    metric(
        "process_resident_memory_bytes",
        "gauge",
        "Resident memory size in bytes.",
        field(24).map(|pages| pages * page),
    );
    let boot = std::fs::read_to_string("/proc/stat").ok().and_then(|s| {
        s.lines()
            .find_map(|l| l.strip_prefix("btime "))
            .and_then(|v| v.trim().parse::<f64>().ok())
    });
    metric(
        "process_start_time_seconds",
        "gauge",
        "Start time of the process since the Unix epoch in seconds.",
        boot.zip(field(22))
            .map(|(boot, ticks)| boot + ticks / USER_HZ),
    );
    let open = std::fs::read_dir("/proc/self/fd")
        .ok()
        .map(|dir| dir.count() as f64);
    metric(
        "process_open_fds",
        "gauge",
        "Number of open file descriptors.",
        open,
    );
    let max = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| l.split_whitespace().nth(3))
                .and_then(|v| v.parse::<f64>().ok())
        });
    metric(
        "process_max_fds",
        "gauge",
        "Maximum number of open file descriptors.",
        max,
    );
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_process_metrics_of_this_process_are_read() {
        let text = super::render();
        if cfg!(target_os = "linux") {
            for name in [
                "process_cpu_seconds_total",
                "process_resident_memory_bytes",
                "process_start_time_seconds",
                "process_open_fds",
            ] {
                let value: f64 = text
                    .lines()
                    .find_map(|l| l.strip_prefix(&format!("{name} ")))
                    .unwrap_or_else(|| panic!("{name}: {text}"))
                    .parse()
                    .unwrap();
                assert!(value > 0.0 || name == "process_cpu_seconds_total", "{name}");
            }
        }
    }
}
