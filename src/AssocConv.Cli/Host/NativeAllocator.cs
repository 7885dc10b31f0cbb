namespace AssocConv.Host;

/// <summary>
/// Which <c>malloc</c> serves libtorch's tensors in this process: <c>jemalloc</c> when it was preloaded (the
/// <c>assocconv</c> launcher does that when the system has <c>libjemalloc.so.2</c>), otherwise <c>system</c> (glibc's
/// on Linux). Benchmarks report it, since it changes both speed and resident memory.
/// </summary>
public static class NativeAllocator
{
    private static readonly Lazy<string> Current = new(() =>
    {
        try
        {
            return OperatingSystem.IsLinux() ? FromMaps(File.ReadAllText("/proc/self/maps")) : "system";
        }
        catch (IOException)
        {
            return "system";
        }
    });

    /// <summary><c>jemalloc</c> or <c>system</c>.</summary>
    public static string Name => Current.Value;

    /// <summary>The allocator a process's <c>/proc/PID/maps</c> text shows.</summary>
    internal static string FromMaps(string maps) =>
        maps.Split('\n').Any(line => line.TrimEnd().EndsWith(".so.2",
            StringComparison.Ordinal) && line.Contains("/libjemalloc", StringComparison.Ordinal))
            ? "jemalloc" : "system";
}
