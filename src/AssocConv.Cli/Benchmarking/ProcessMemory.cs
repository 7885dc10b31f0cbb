namespace AssocConv.Benchmarking;

/// <summary>This process's resident memory, native allocations (libtorch) included.</summary>
public static class ProcessMemory
{
    /// <summary>Resident set size in bytes (from <c>/proc/self/status</c> on Linux, the working set
    /// elsewhere).</summary>
    public static long ResidentBytes() => StatusBytes("VmRSS:") ?? Environment.WorkingSet;

    /// <summary>Peak resident set size in bytes (<c>VmHWM</c>), or the current one where unknown.</summary>
    public static long PeakResidentBytes() => StatusBytes("VmHWM:") ?? ResidentBytes();

    /// <summary>A <c>/proc/self/status</c> line such as <c>VmRSS:  1234 kB</c>, in bytes; null without that file or
    /// line.</summary>
    private static long? StatusBytes(string key)
    {
        const string status = "/proc/self/status";
        if (!File.Exists(status)) return null;
        foreach (var line in File.ReadLines(status))
            if (line.StartsWith(key, StringComparison.Ordinal))
                return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) * 1024;
        return null;
    }

    /// <summary>
    /// Minor page faults of this process so far (<c>/proc/self/stat</c>; -1 where unknown): each is a page the
    /// kernel had to map, and zero, on first touch; memory reused from the heap causes none.
    /// </summary>
    public static long MinorPageFaults()
    {
        const string stat = "/proc/self/stat";
        if (!File.Exists(stat)) return -1;
        var text = File.ReadAllText(stat);
        // fields after the command name (which may hold spaces) in parentheses: state, ppid, ... minflt is the 8th
        var fields = text[(text.LastIndexOf(')') + 2)..].Split(' ');
        return long.Parse(fields[7], System.Globalization.CultureInfo.InvariantCulture);
    }
}
