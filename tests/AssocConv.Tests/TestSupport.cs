using static TorchSharp.torch;

namespace AssocConv.Tests;

internal static class TestSupport
{
    /// <summary>The first listed (smallest) model of every family in the registry.</summary>
    public static IEnumerable<AssocConv.Models.ModelEntry> SmallestOfEachFamily() =>
        AssocConv.Models.ModelZoo.All.GroupBy(e => e.Family).Select(g => g.First());

    /// <summary>Theory rows from tuples (xunit 2's TheoryData has only Add).</summary>
    public static TheoryData<T1, T2> Theory<T1, T2>(IEnumerable<(T1, T2)> rows)
    {
        var data = new TheoryData<T1, T2>();
        foreach (var (a, b) in rows) data.Add(a, b);
        return data;
    }

    /// <summary>Theory rows from tuples (xunit 2's TheoryData has only Add).</summary>
    public static TheoryData<T1, T2, T3> Theory<T1, T2, T3>(IEnumerable<(T1, T2, T3)> rows)
    {
        var data = new TheoryData<T1, T2, T3>();
        foreach (var (a, b, c) in rows) data.Add(a, b, c);
        return data;
    }

    /// <summary>An input size a test can afford: the model's own, at most 64 (enough for ImageNet's five
    /// downsamplings).</summary>
    public static int TestInputSize(AssocConv.Models.ModelEntry entry) => Math.Min(entry.InputSize, 64);

    /// <summary>A tensor's values as float64, row-major.</summary>
    public static double[] Values(Tensor t)
    {
        using var d = t.detach().to(float64).contiguous().cpu();
        return d.data<double>().ToArray();
    }

    public static double MaxAbsDifference(Tensor a, Tensor b)
    {
        Assert.Equal(a.shape, b.shape);
        using var diff = (a.detach().to(float64) - b.detach().to(float64)).abs().max();
        return diff.item<double>();
    }

    /// <summary>Writes a PNG of <paramref name="width"/> x <paramref name="height"/> pixels, pixel (x, y) of colour
    /// <paramref name="color"/>(x, y), stored as <paramref name="type"/> (RGBA, opaque, unless given).</summary>
    public static void WritePng(string path, int width, int height, Func<int, int, SkiaSharp.SKColor> color,
        SkiaSharp.SKColorType type = SkiaSharp.SKColorType.Rgba8888,
        SkiaSharp.SKAlphaType alpha = SkiaSharp.SKAlphaType.Opaque)
    {
        using var bitmap = new SkiaSharp.SKBitmap(width, height, type, alpha);
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++) bitmap.SetPixel(x, y, color(x, y));
        using var file = File.Create(path);
        Assert.True(bitmap.Encode(file, SkiaSharp.SKEncodedImageFormat.Png, 100), $"{path}: PNG not encoded");
    }

    /// <summary>An image folder (<c>FOLDER/CLASS/N.png</c>): <paramref name="perClass"/> solid 8x8 images of each
    /// class's colour.</summary>
    public static void WriteImageFolder(string folder, int perClass,
        params (string Class, SkiaSharp.SKColor Color)[] classes)
    {
        foreach (var (name, color) in classes)
        {
            Directory.CreateDirectory(Path.Combine(folder, name));
            for (int i = 0; i < perClass; i++) WritePng(Path.Combine(folder, name, $"{i}.png"), 8, 8, (_, _) => color);
        }
    }

    /// <summary>The repository root (the folder holding the solution).</summary>
    public static string RepositoryRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "AssocConv.slnx"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("repository root " +
            "not found above " + AppContext.BaseDirectory);
    }

    /// <summary>The configuration these tests were built in (Release or Debug), for paths to the other projects'
    /// output.</summary>
    public static string BuildConfiguration =>
        AppContext.BaseDirectory.Contains("/Release/", StringComparison.Ordinal) ? "Release" : "Debug";

    /// <summary>A path inside <c>../shared</c>, the folder of data and fixtures beside the checkout.</summary>
    public static string SharedPath(string relative) =>
        Path.GetFullPath(Path.Combine(RepositoryRoot(), "..", "shared", relative));

    /// <summary>Runs a child process to its end within <paramref name="timeout"/>, asserting it succeeded; returns
    /// stdout and stderr.</summary>
    public static (string Out, string Err) RunProcess(System.Diagnostics.ProcessStartInfo info, TimeSpan timeout)
    {
        info.RedirectStandardOutput = true;
        info.RedirectStandardError = true;
        info.UseShellExecute = false;
        using var p = System.Diagnostics.Process.Start(info)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        Assert.True(p.WaitForExit(timeout),
            $"{info.FileName} {string.Join(' ', info.ArgumentList)} did not finish in {timeout}");
        Assert.True(p.ExitCode == 0, $"{info.FileName} exited with {p.ExitCode}: {stderr.Result}");
        return (stdout.Result, stderr.Result);
    }

    /// <summary>A run's metrics.csv rows without their time columns (seconds, images/s, and the flip accuracy after
    /// them): what an interrupted and an uninterrupted run must share exactly.</summary>
    public static string[] MetricsWithoutTimes(string run) =>
        File.ReadAllLines(Path.Combine(run, "metrics.csv")).Skip(1)
            .Select(l => string.Join(',', l.Split(',')[..8])).ToArray();

    /// <summary>Runs the command line in this process; returns the exit code, stdout and stderr.</summary>
    public static (int Code, string Out, string Err) RunCli(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        int code = AssocConv.Cli.CliApp.Run(args, output, error);
        return (code, output.ToString(), error.ToString());
    }
}

/// <summary>A fact that needs a file or folder of <c>../shared</c>; skipped, saying so, on a clone without
/// it.</summary>
internal sealed class SharedFactAttribute : FactAttribute
{
    public SharedFactAttribute(string relativePath)
    {
        var path = TestSupport.SharedPath(relativePath);
        if (!File.Exists(path) && !Directory.Exists(path)) Skip = $"{path} is not here";
    }
}

/// <summary>A theory that needs a file or folder of <c>../shared</c>; skipped, saying so, on a clone without
/// it.</summary>
internal sealed class SharedTheoryAttribute : TheoryAttribute
{
    public SharedTheoryAttribute(string relativePath)
    {
        var path = TestSupport.SharedPath(relativePath);
        if (!File.Exists(path) && !Directory.Exists(path)) Skip = $"{path} is not here";
    }
}

/// <summary>A fact that needs a file or folder an optional Debian package installs; skipped, naming the package,
/// without it.</summary>
internal sealed class SystemFactAttribute : FactAttribute
{
    public SystemFactAttribute(string path, string package)
    {
        if (!File.Exists(path) && !Directory.Exists(path)) Skip = $"{path} is not here: install Debian's " +
            $"{package} (.ci/run does)";
    }
}

/// <summary>A fact about Linux on x86-64 (native paths and packages of that platform); skipped elsewhere, saying
/// so.</summary>
internal sealed class LinuxX64FactAttribute : FactAttribute
{
    public LinuxX64FactAttribute()
    {
        if (!OperatingSystem.IsLinux() || System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture !=
            System.Runtime.InteropServices.Architecture.X64)
            Skip = $"needs Linux on x86-64; this is " +
                $"{System.Runtime.InteropServices.RuntimeInformation.RuntimeIdentifier}";
    }
}

/// <summary>A fact about a test process started without <c>LD_PRELOAD</c>; skipped, saying so, when there is
/// one.</summary>
internal sealed class NoPreloadFactAttribute : FactAttribute
{
    public NoPreloadFactAttribute()
    {
        if (!string.IsNullOrEmpty(Environment.GetEnvironmentVariable("LD_PRELOAD")))
            Skip = "the tests run with LD_PRELOAD set; this fact is about a process started without it";
    }
}
