"""Resident memory of processes, read from /proc (Linux only).

RSS counts every page a process maps, shared libraries included, so summing
it over many processes (Postfix's smtpd) counts shared pages many times; PSS
(/proc/PID/smaps_rollup) divides each shared page among its users and is the
fairer sum. For one process (mailyard-mx) the two differ little."""
import os


def _field_kb(path, name):
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(name + ":"):
                    return int(line.split()[1])
    except OSError:
        return 0
    return 0


def rss_kb(pid):
    return _field_kb("/proc/%d/status" % pid, "VmRSS")


def pss_kb(pid):
    return _field_kb("/proc/%d/smaps_rollup" % pid, "Pss")


def children(ppid, comm=None):
    """Pids whose parent is ppid (and whose command name is comm)."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                stat = f.read()
        except OSError:
            continue
        # pid (comm) state ppid ...; comm may hold spaces and parentheses
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        rest = stat[stat.rindex(")") + 2:].split()
        if int(rest[1]) == ppid and (comm is None or name == comm):
            out.append(int(d))
    return out


def total_kb(pids):
    """(sum of RSS, sum of PSS) of pids in KiB."""
    return sum(rss_kb(p) for p in pids), sum(pss_kb(p) for p in pids)
