using static TorchSharp.torch;

namespace AssocConv.Tests;

internal static class TestSupport
{
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

    /// <summary>The repository root (the folder holding the solution).</summary>
    public static string RepositoryRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "AssocConv.slnx"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("repository root not found above " + AppContext.BaseDirectory);
    }

    /// <summary>Resident set size of this process in bytes, from /proc/self/status.</summary>
    public static long ResidentBytes()
    {
        foreach (var line in File.ReadLines("/proc/self/status"))
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) * 1024;
        throw new InvalidOperationException("VmRSS not found");
    }
}
