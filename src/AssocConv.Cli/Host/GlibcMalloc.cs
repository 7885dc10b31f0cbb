using System.Runtime.InteropServices;

namespace AssocConv.Host;

/// <summary>
/// Keeps glibc's malloc from handing training's large, short-lived tensors back to the kernel after every use.
/// </summary>
/// <remarks>
/// libtorch allocates each activation and gradient with <c>malloc</c> (megabytes each) and frees it within the
/// step. By default glibc serves blocks that large from fresh <c>mmap</c>s, or trims them off the heap, so every
/// step would touch new, zeroed pages (the page faults measured are in docs/benchmarks.md). Raising the mmap
/// threshold to its maximum (32 MiB) and never trimming keeps freed blocks for reuse; resident memory then stays
/// at the peak of a step instead of falling between steps, and does not grow.
/// Environment variables that set these knobs (<c>MALLOC_MMAP_THRESHOLD_</c>, <c>MALLOC_TRIM_THRESHOLD_</c>)
/// take precedence, and <c>ASSOCCONV_KEEP_FREED_MEMORY=0</c> turns this off: then nothing is changed. When jemalloc
/// serves the process (<see cref="NativeAllocator"/>), glibc's malloc holds no tensors and is left alone too.
/// </remarks>
public static class GlibcMalloc
{
    private const int TrimThreshold = -1;   // M_TRIM_THRESHOLD
    private const int MmapThreshold = -3;   // M_MMAP_THRESHOLD

    /// <summary>The largest mmap threshold glibc accepts on 64-bit systems (HEAP_MAX_SIZE / 2).</summary>
    public const int MaxMmapThreshold = 32 << 20;

    [DllImport("libc", EntryPoint = "mallopt")]
    private static extern int Mallopt(int parameter, int value);

    private static readonly object Gate = new();
    private static bool? _applied;

    /// <summary>
    /// Applies the settings once per process (later calls return the first answer). True when they are in effect;
    /// false on a system without glibc's <c>mallopt</c>, under jemalloc, when the environment already sets them, or
    /// when <c>ASSOCCONV_KEEP_FREED_MEMORY</c> is <c>0</c>.
    /// </summary>
    public static bool KeepFreedMemory()
    {
        lock (Gate)
        {
            _applied ??= Apply();
            return _applied.Value;
        }
    }

    private static bool Apply()
    {
        if (!OperatingSystem.IsLinux()
            || Environment.GetEnvironmentVariable("ASSOCCONV_KEEP_FREED_MEMORY") == "0") return false;
        if (NativeAllocator.Name == "jemalloc") return false;   // the launcher's MALLOC_CONF keeps its freed pages
        if (Environment.GetEnvironmentVariable("MALLOC_MMAP_THRESHOLD_") is not null
            || Environment.GetEnvironmentVariable("MALLOC_TRIM_THRESHOLD_") is not null)
            return false;
        try
        {
            // the mmap threshold first: setting either one fixes both, ending glibc's own adjustment
            return Mallopt(MmapThreshold, MaxMmapThreshold) == 1 && Mallopt(TrimThreshold, int.MaxValue) == 1;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return false;
        }
    }
}
