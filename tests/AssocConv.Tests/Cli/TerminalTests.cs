using System.Diagnostics;
using System.Text.Json;

namespace AssocConv.Tests.Cli;

/// <summary>The live progress display follows stderr: shown when stderr is a terminal, whatever stdout is.</summary>
public sealed class TerminalTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("assocconv-terminal-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [SystemFact("/usr/bin/script", "bsdutils")]
    public void The_progress_bar_shows_on_a_terminal_also_when_json_goes_to_a_file()
    {
        string configuration = TestSupport.BuildConfiguration;
        var cli = Path.Combine(TestSupport.RepositoryRoot(), "src/AssocConv.Cli/bin", configuration,
            "net10.0/AssocConv.Cli.dll");
        var json = Path.Combine(_dir, "summary.json");
        var typescript = Path.Combine(_dir, "terminal.txt");
        // script gives the command a terminal; its stdout is redirected to a file inside it, stderr stays on the
        // terminal
        var command = $"dotnet {cli} train --model small-cnn --data sample --epochs 1 --train-limit 3000 " +
            "--val-split 0 --threads 1 " +
            $"--out {Path.Combine(_dir, "run")} --json > {json}";
        var info = new ProcessStartInfo("script", ["-qefc", command, typescript]);
        info.Environment["TERM"] = "xterm-256color";
        TestSupport.RunProcess(info, TimeSpan.FromMinutes(2));
        var shown = File.ReadAllText(typescript);
        Assert.Contains("\u001b[", shown);                      // drawn with escape sequences
        Assert.Contains("img/s", shown);                        // the live task line
        using var summary = JsonDocument.Parse(File.ReadAllText(json));
        Assert.Equal(1, summary.RootElement.GetProperty("epochs_done").GetInt32());
    }
}
