using System.Diagnostics;
using System.Text.Json;
using AssocConv.Host;

namespace AssocConv.Tests.Host;

public class NativeAllocatorTests
{
    /// <summary>Where the launcher looks for jemalloc.</summary>
    private static readonly string[] Jemalloc = ["/usr/lib/x86_64-linux-gnu/libjemalloc.so.2",
        "/usr/lib/aarch64-linux-gnu/libjemalloc.so.2", "/usr/lib64/libjemalloc.so.2", "/usr/lib/libjemalloc.so.2"];

    [Fact]
    public void The_allocator_is_read_from_the_process_memory_map()
    {
        const string glibcOnly = "7f00-7f10 r-xp 00000000 08:01 1 /usr/lib/x86_64-linux-gnu/libc.so.6\n" +
                                 "7f20-7f30 r-xp 00000000 08:01 2 /opt/app/libtorch_cpu.so\n";
        Assert.Equal("system", NativeAllocator.FromMaps(glibcOnly));
        Assert.Equal("jemalloc",
            NativeAllocator.FromMaps(glibcOnly + "7f40-7f50 r-xp 00000000 08:01 3 " +
                "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2\n"));
    }

    [NoPreloadFact]
    public void A_process_started_without_a_preload_runs_on_the_system_allocator() =>
        Assert.Equal("system", NativeAllocator.Name);

    [Fact]
    public void The_launcher_preloads_jemalloc_when_the_system_has_it_and_not_when_told_not_to()
    {
        string expected = Jemalloc.Any(File.Exists) ? "jemalloc" : "system";
        Assert.Equal(expected, LauncherBench(optOut: false).GetProperty("allocator").GetString());
        Assert.Equal("system", LauncherBench(optOut: true).GetProperty("allocator").GetString());
    }

    [Fact]
    public void The_launcher_makes_openmp_threads_wait_passively_unless_told_otherwise()
    {
        Assert.Equal("PASSIVE", LauncherBench(optOut: false).GetProperty("omp_wait_policy").GetString());
        Assert.Equal("ACTIVE",
            LauncherBench(optOut: false, waitPolicy: "ACTIVE").GetProperty("omp_wait_policy").GetString());
    }

    /// <summary>What <c>./assocconv bench</c> reports for a tiny model, started as a user would.</summary>
    private static JsonElement LauncherBench(bool optOut, string? waitPolicy = null)
    {
        var info = new ProcessStartInfo("bash") { WorkingDirectory = TestSupport.RepositoryRoot() };
        foreach (var a in new[] { "assocconv", "bench", "--models", "small-cnn", "--batch-size", "16", "--repetitions",
            "1", "--steps", "1", "--rounds", "1", "--round-steps", "1", "--json" })
            info.ArgumentList.Add(a);
        info.Environment.Remove("LD_PRELOAD");
        info.Environment.Remove("MALLOC_CONF");
        if (optOut) info.Environment["ASSOCCONV_JEMALLOC"] = "0";
        else info.Environment.Remove("ASSOCCONV_JEMALLOC");
        if (waitPolicy is null) info.Environment.Remove("OMP_WAIT_POLICY");
        else info.Environment["OMP_WAIT_POLICY"] = waitPolicy;
        var (stdout, _) = TestSupport.RunProcess(info, TimeSpan.FromMinutes(5));
        using var doc = JsonDocument.Parse(stdout);
        return doc.RootElement[0].Clone();
    }
}
