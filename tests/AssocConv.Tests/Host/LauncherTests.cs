using System.Diagnostics;

namespace AssocConv.Tests.Host;

/// <summary>./assocconv, started as a user starts it: what the command writes reaches the user.</summary>
public sealed class LauncherTests
{
    [Fact]
    public async Task The_launcher_passes_the_commands_errors_and_exit_code_through()
    {
        var info = new ProcessStartInfo("bash") { WorkingDirectory = TestSupport.RepositoryRoot(),
            RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { "assocconv", "train", "--model", "small-cnn", "--data", "cifar10:/nonexistent-folder",
            "--out", Path.Combine(Path.GetTempPath(), "assocconv-launcher-never-made") })
            info.ArgumentList.Add(a);
        using var p = Process.Start(info)!;
        var stderr = p.StandardError.ReadToEndAsync();
        var stdout = p.StandardOutput.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(5));   // a build first, at most
        await p.WaitForExitAsync(timeout.Token);
        Assert.Equal(2, p.ExitCode);
        Assert.Contains("/nonexistent-folder", await stderr);
        Assert.Equal("", await stdout);
    }
}
