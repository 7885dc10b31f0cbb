using System.Text.Json;
using AssocConv.Training;
using TorchSharp;

namespace AssocConv.Tests.Cli;

/// <summary><c>plot</c> and the metrics files it reads: the final values it reports against a run's own summary,
/// and damaged files refused by line.</summary>
public sealed class PlotCliTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("assocconv-plot-").FullName;
    private readonly int _threads = torch.get_num_threads();

    public void Dispose()
    {
        torch.set_num_threads(_threads);
        Directory.Delete(_dir, recursive: true);
    }

    /// <summary>Two epochs of known values (the second without flip accuracy); RunPlotsTests draws them.</summary>
    internal static readonly EpochMetrics[] Known =
    [
        new(1, 0.1, 2.0, 30.5, double.NaN, double.NaN, 1.5, 41.25, 10, 800, 42.5),
        new(2, 0.05, 1.2, 55.0, double.NaN, double.NaN, 1.0, 63.75, 11, 790, double.NaN),
    ];

    private string KnownFile(string name = "known.csv")
    {
        var folder = Path.Combine(_dir, "known");
        new RunFolder(folder).WriteMetrics(Known);
        var path = Path.Combine(_dir, name);
        File.Move(Path.Combine(folder, RunFolder.MetricsFile), path, overwrite: true);
        return path;
    }

    [Fact]
    public void Plot_draws_runs_and_reports_the_final_epoch_each_recorded()
    {
        var run = Path.Combine(_dir, "run");
        var (code, _, err) = TestSupport.RunCli("train", "--model", "small-cnn", "--out", run, "--data", "sample",
            "--epochs", "2", "--train-limit", "300", "--val-split", "0", "--threads", "1");
        Assert.True(code == 0, err);
        var png = Path.Combine(_dir, "figures", "curves.png");   // its folder is made
        (code, var stdout, err) = TestSupport.RunCli("plot", run, $"made up={KnownFile()}", "--out", png, "--json");
        Assert.True(code == 0, err);
        using var report = JsonDocument.Parse(stdout);
        var runs = report.RootElement.GetProperty("runs");
        using var summary = JsonDocument.Parse(File.ReadAllText(Path.Combine(run, RunFolder.SummaryFile)));
        Assert.Equal(run, runs[0].GetProperty("label").GetString());
        Assert.Equal(2, runs[0].GetProperty("epochs").GetInt32());
        Assert.Equal(summary.RootElement.GetProperty("last_test_accuracy").GetDouble(),
            runs[0].GetProperty("final").GetDouble());
        Assert.Equal("made up", runs[1].GetProperty("label").GetString());
        Assert.Equal(63.75, runs[1].GetProperty("final").GetDouble());
        Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G'], File.ReadAllBytes(png)[..4]);

        // another column, as a table; a run whose last epoch has no value in it reads as none
        (code, stdout, err) = TestSupport.RunCli("plot", $"{run}/metrics.csv", KnownFile(), "--metric",
            "test_acc_flip", "--out", png);
        Assert.True(code == 0, err);
        Assert.Contains("test_acc_flip, final epoch", stdout);
        var knownRow = stdout.Split('\n').Single(l => l.Contains("known.csv"));
        Assert.EndsWith("-", knownRow.TrimEnd().TrimEnd('│', '|').TrimEnd());
        Assert.Contains(stdout.Split('\n'), l => l.Contains($"{run} "));   // a metrics file's folder names its line
        Assert.Contains($"wrote {png}: test_acc_flip of 2 run(s)", err);
    }

    [Fact]
    public void A_folder_of_runs_gives_each_of_its_runs()
    {
        var compared = Path.Combine(_dir, "compare");
        var (code, _, err) = TestSupport.RunCli("compare", "--model", "small-cnn", "--data", "sample", "--epochs", "1",
            "--train-limit", "64", "--threads", "1", "--out", compared);
        Assert.True(code == 0, err);
        (code, var stdout, err) = TestSupport.RunCli("plot", $"cmp={compared}", "--out", Path.Combine(_dir, "p.png"),
            "--json");
        Assert.True(code == 0, err);
        using var report = JsonDocument.Parse(stdout);
        var runs = report.RootElement.GetProperty("runs").EnumerateArray().ToList();
        Assert.Equal(["cmp/associative", "cmp/plain"], runs.Select(r => r.GetProperty("label").GetString()));
        foreach (var (run, variant) in runs.Zip(new[] { "associative", "plain" }))
        {
            using var summary = JsonDocument.Parse(File.ReadAllText(Path.Combine(compared, variant,
                RunFolder.SummaryFile)));
            Assert.Equal(summary.RootElement.GetProperty("last_test_accuracy").GetDouble(),
                run.GetProperty("final").GetDouble());
        }
    }

    [Fact]
    public void Metrics_files_read_back_as_written_and_damaged_ones_are_refused_by_line()
    {
        Assert.Equal(Known, RunFolder.ReadMetrics(KnownFile()).ToArray());
        var lines = File.ReadAllLines(KnownFile());
        string Damaged(string name, params string[] content)
        {
            var path = Path.Combine(_dir, name);
            File.WriteAllLines(path, content);
            return path;
        }
        var cases = new (string Path, string Message)[]
        {
            (Damaged("header.csv", ["epoch,acc", .. lines[1..]]), "not a metrics file (its first line must be"),
            (Damaged("text.csv", lines[0], lines[1], lines[2].Replace("63.75", "63,75")), "line 3: 12 fields, not 11"),
            (Damaged("nan.csv", lines[0], lines[1].Replace("41.25", "x")), "line 2: field 8 is not a number"),
            (Damaged("order.csv", lines[0], lines[2], lines[1]), "line 3: epoch 1 after epoch 2"),
            (Damaged("epoch.csv", lines[0], "-" + lines[1]), "line 2: the epoch is not a whole number from 1 up"),
            (Damaged("blank.csv", lines[0], "", lines[1]), "line 2: an empty line"),
            (Path.Combine(_dir, "nowhere"), "nowhere: no such run folder or metrics file"),
            (_dir, Path.Combine(_dir, "metrics.csv") + ": not found (every run"),
        };
        foreach (var (path, message) in cases)
        {
            var (code, stdout, err) = TestSupport.RunCli("plot", path, "--out", Path.Combine(_dir, "p.png"));
            Assert.True(code == 2, $"{path}: {code} {err}");
            Assert.Contains(message, err);
            Assert.Single(err.Trim().Split('\n'));
            Assert.Equal("", stdout);
        }
        var huge = Path.Combine(_dir, "huge.csv");
        using (var f = File.Create(huge)) f.SetLength((16L << 20) + 1);
        Assert.Contains("more than a metrics file can hold",
            Assert.Throws<InvalidDataException>(() => RunFolder.ReadMetrics(huge)).Message);
    }

    [Fact]
    public void Labels_reach_the_terminal_escaped_and_an_empty_column_or_unknown_one_is_refused()
    {
        var known = KnownFile();
        var (code, stdout, err) = TestSupport.RunCli("plot", $"\u001b[2Jcleared={known}", "--out",
            Path.Combine(_dir, "p.png"));
        Assert.True(code == 0, err);
        Assert.Contains("\\u001B[2Jcleared", stdout);
        Assert.DoesNotContain('\u001b', stdout);

        var png = Path.Combine(_dir, "p.png");
        (code, _, err) = TestSupport.RunCli("plot", known, "--metric", "val_acc", "--out", png);
        Assert.Equal(2, code);
        Assert.Contains("--metric val_acc: no run has a value in this column", err);
        (code, _, err) = TestSupport.RunCli("plot", known, "--metric", "accuracy", "--out", png);
        Assert.Equal(2, code);
        Assert.Contains("test_acc", err);
        (code, _, err) = TestSupport.RunCli("plot", $"name={known}");
        Assert.Equal(2, code);
        Assert.Contains("--out", err);
    }
}
