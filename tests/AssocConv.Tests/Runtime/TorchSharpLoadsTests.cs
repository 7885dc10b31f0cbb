using System.Diagnostics;
using TorchSharp;
using static TorchSharp.torch;

namespace AssocConv.Tests.Runtime;

/// <summary>TorchSharp 0.107.0's native library loads on this machine with no manual step.</summary>
public class TorchSharpLoadsTests
{
    [Fact]
    public void Torchsharp_loads_and_computes()
    {
        using var a = torch.arange(6, dtype: float32).reshape(2, 3);
        using var product = a.matmul(a.t());
        Assert.Equal(new float[] { 5, 14, 14, 50 }, product.data<float>().ToArray());
    }

    private static string ReadElfVersions(string path)
    {
        var info = new ProcessStartInfo("readelf", $"-V \"{path}\"") { RedirectStandardOutput = true,
            UseShellExecute = false };
        using var p = Process.Start(info)!;
        string text = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        Assert.Equal(0, p.ExitCode);
        return text;
    }

    private static string GlibcxxLine(string versions) =>
        versions.Split('\n').Single(l => l.Contains("Name: GLIBCXX_3.4.32"));

    private static bool SystemHasTag()
    {
        var candidates = new[] { "/lib/x86_64-linux-gnu/libstdc++.so.6", "/usr/lib/x86_64-linux-gnu/libstdc++.so.6" };
        var lib = candidates.First(File.Exists);
        return System.Text.Encoding.ASCII.GetString(File.ReadAllBytes(lib)).Contains("GLIBCXX_3.4.32\0");
    }

    [LinuxX64Fact]
    public void Only_the_output_copy_of_the_native_library_is_patched_and_only_when_needed()
    {
        var output = Directory.EnumerateFiles(AppContext.BaseDirectory, "libLibTorchSharp.so",
            SearchOption.AllDirectories).Single();
        var packages = Environment.GetEnvironmentVariable("NUGET_PACKAGES")
            ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        var cached = Path.Combine(packages, "torchsharp", "0.107.0", "runtimes", "linux-x64", "native",
            "libLibTorchSharp.so");

        string outputLine = GlibcxxLine(ReadElfVersions(output));
        Assert.Equal(SystemHasTag() ? "none" : "WEAK", outputLine.Contains("Flags: WEAK") ? "WEAK" : "none");
        if (File.Exists(cached))
            Assert.Contains("Flags: none", GlibcxxLine(ReadElfVersions(cached)));
    }
}
