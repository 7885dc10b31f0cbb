using System.Diagnostics;
using System.Text.Json;
using AssocConv.Host;

namespace AssocConv.Tests.Host;

public class GlibcMallocTests
{
    [Fact]
    public void Keeping_freed_memory_removes_most_page_faults_of_a_training_step()
    {
        Assert.True(GlibcMalloc.KeepFreedMemory(), "glibc's mallopt is available on this Linux");
        // the same short bench in two fresh processes, with and without the setting: page faults per training step
        double tuned = FaultsPerStep(keep: true), untuned = FaultsPerStep(keep: false);
        // 8 steps per round amortise the first steps' fresh pages, which otherwise blur the difference
        Assert.True(untuned > 2_000,
            $"without the setting a ResNet-20 step at batch 128 maps fresh pages ({untuned:F0} faults)");
        Assert.True(tuned < untuned / 3,
            $"with it, most of those pages are reused: {tuned:F0} against {untuned:F0} faults per step");
    }

    private static double FaultsPerStep(bool keep)
    {
        var dll = Path.Combine(AppContext.BaseDirectory, "AssocConv.Cli.dll");
        var info = new ProcessStartInfo("dotnet");
        foreach (var a in new[] { dll, "bench", "--models", "resnet20", "--repetitions", "1", "--steps", "1",
            "--rounds", "1", "--round-steps", "8", "--json" })
            info.ArgumentList.Add(a);
        info.Environment["ASSOCCONV_KEEP_FREED_MEMORY"] = keep ? "1" : "0";
        var (stdout, _) = TestSupport.RunProcess(info, TimeSpan.FromMinutes(3));
        using var doc = JsonDocument.Parse(stdout);
        return doc.RootElement[0].GetProperty("page_faults_per_step").GetDouble();
    }
}
