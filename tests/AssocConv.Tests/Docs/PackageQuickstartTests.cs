using System.Diagnostics;
using System.Text.RegularExpressions;

namespace AssocConv.Tests.Docs;

/// <summary>
/// A newcomer's path, as the README gives it: pack the library, make a console project, add the package and
/// TorchSharp-cpu, paste the example as Program.cs, run it. Run in a temporary HOME, sharing only the NuGet cache.
/// </summary>
public sealed class PackageQuickstartTests : IDisposable
{
    private readonly string _home = Directory.CreateTempSubdirectory("assocconv-quickstart-").FullName;

    public void Dispose() => Directory.Delete(_home, recursive: true);

    private static string Section(string readme) =>
        readme[readme.IndexOf("## The library in C#", StringComparison.Ordinal)..];

    [Fact]
    public void The_readme_commands_build_and_run_the_example_against_the_packed_package()
    {
        var readme = File.ReadAllText(Path.Combine(TestSupport.RepositoryRoot(), "README.md")).Replace("\r\n", "\n");
        var section = Section(readme);
        var commands = Regex.Match(section, "```bash\n(.*?)```", RegexOptions.Singleline).Groups[1].Value;
        var program = Regex.Match(section, "```csharp\n(.*?)```", RegexOptions.Singleline).Groups[1].Value;
        Assert.StartsWith("dotnet pack src/AssocConv", commands);
        Assert.StartsWith("using ", program);

        var script = Path.Combine(_home, "quickstart.sh");
        string configuration = TestSupport.BuildConfiguration;
        File.WriteAllText(script, "set -e\n" + commands.Replace("-c Release", $"-c {configuration}") +
            "cat > Program.cs <<'CSHARP'\n" + program + "CSHARP\ndotnet run\n");
        var info = new ProcessStartInfo("bash", [script]) { WorkingDirectory = TestSupport.RepositoryRoot() };
        info.Environment["HOME"] = _home;
        // a fresh package folder, so this build's AssocConv 0.1.0 is the one extracted; the machine's cache as a
        // read-only fallback, so TorchSharp-cpu's libtorch is not downloaded again
        info.Environment["NUGET_PACKAGES"] = Path.Combine(_home, "packages");
        info.Environment["RestoreAdditionalProjectFallbackFolders"] =
            Environment.GetEnvironmentVariable("NUGET_PACKAGES")
            ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        info.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        info.Environment["DOTNET_NOLOGO"] = "1";
        info.Environment["MSBUILDDISABLENODEREUSE"] = "1";
        var watch = Stopwatch.StartNew();
        var (stdout, _) = TestSupport.RunProcess(info, TimeSpan.FromMinutes(8));
        Assert.Matches(@"\d[\d,]* trainable parameters, \d+\.\d\dx fewer than plain", stdout);
        var loss = Regex.Match(stdout, @"loss (\d+\.\d+) -> (\d+\.\d+)");
        Assert.True(loss.Success, stdout);
        Assert.True(double.Parse(loss.Groups[2].Value) < 0.5 * double.Parse(loss.Groups[1].Value), stdout);
        Assert.True(watch.Elapsed < TimeSpan.FromMinutes(8));
    }
}
