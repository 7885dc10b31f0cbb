using System.Runtime.InteropServices;
using AssocConv.Cli;
using AssocConv.Data;
using AssocConv.Models;
using AssocConv.Training;

namespace AssocConv.Tests.Cli;

/// <summary>compare and reproduce stopped by a signal (here requested the moment a given line is written, so that
/// it lands exactly during a run or exactly between two): saved, a line saying how to go on, and the same command
/// goes on.</summary>
public sealed class CompareStopTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("assocconv-stop-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>stderr that requests the stop once <paramref name="trigger"/> has been written to it.</summary>
    private sealed class StopWhenWritten(string trigger) : StringWriter
    {
        public StopSignals? Stop { get; set; }

        public override void Write(char value) { base.Write(value); Check(); }

        public override void Write(string? value) { base.Write(value); Check(); }

        public override void WriteLine(string? value) { base.WriteLine(value); Check(); }

        private void Check()
        {
            if (Stop is { Requested: false } stop && ToString().Contains(trigger)) stop.Signal(PosixSignal.SIGINT);
        }
    }

    private static readonly TrainingOptions Tiny = new() { Epochs = 1, BatchSize = 64, TrainLimit = 512,
        ValidationSplit = 0, Seed = 1 };

    private (List<System.Text.Json.Nodes.JsonObject>? Runs, string Err) Compare(string root, string trigger)
    {
        using var data = Dataset.LoadSample();
        var error = new StopWhenWritten(trigger);
        var term = new Terminal(TextWriter.Null, error, json: false);
        using var stop = new StopSignals(term, severalRuns: true);
        error.Stop = stop;
        var runs = ComparisonRuns.Run(SmallCnn.Name, new ModelOptions(), Tiny, [1], root, data,
            TorchSharp.torch.CPU, term, stop, "compare");
        return (runs, error.ToString());
    }

    [Fact]
    public void A_stop_between_two_runs_keeps_the_finished_one_and_starts_no_other()
    {
        var root = Path.Combine(_dir, "between");
        // the plain run's last epoch line: its training is over, the associative one not begun
        var (runs, err) = Compare(root, "epoch 1/1");
        Assert.Null(runs);
        Assert.Contains("stopping: saving the run training now, if any, after this batch, and starting no other run " +
            "(Ctrl+C again to quit at once)", err);
        Assert.Contains("stopped before run 2 of 2; continue with the same assocconv compare command", err);
        Assert.Contains("\"completed\": true", File.ReadAllText(Path.Combine(root, "plain", "summary.json")));
        Assert.Equal(2, File.ReadAllLines(Path.Combine(root, "plain", "metrics.csv")).Length);
        Assert.False(Directory.Exists(Path.Combine(root, "associative")));
    }

    [Theory]
    [InlineData(false, "SIGTERM", "stopping on SIGTERM: saving the run after this batch\n")]
    [InlineData(false, "SIGINT", "stopping: saving the run after this batch (Ctrl+C again to quit at once)\n")]
    [InlineData(true, "SIGTERM",
        "stopping on SIGTERM: saving the run training now, if any, after this batch, and starting no other run\n")]
    public void A_signal_stops_and_says_what_it_saves(bool severalRuns, string signal,
        string said)
    {
        var error = new StringWriter { NewLine = "\n" };
        using var stop = new StopSignals(new Terminal(TextWriter.Null, error, json: false), severalRuns);
        Assert.False(stop.Requested);
        stop.Signal(Enum.Parse<PosixSignal>(signal));
        Assert.True(stop.Requested);
        Assert.True(stop.Token.IsCancellationRequested);
        Assert.Equal(said, error.ToString());
    }

    [Fact]
    public void A_stop_during_a_run_saves_it_mid_epoch_and_the_same_compare_goes_on_from_there()
    {
        var root = Path.Combine(_dir, "during");
        var (runs, err) = Compare(root, "run 1 of 2");
        Assert.Null(runs);
        var plain = Path.Combine(root, "plain");
        Assert.Contains($"stopped; continue with the same assocconv compare command: it resumes {plain}", err);
        Assert.DoesNotContain("train --resume", err);
        var (header, _) = Checkpoint.Read(Path.Combine(plain, RunFolder.LastCheckpointFile));
        Assert.Equal(0, (int)header["progress"]!["next_epoch"]!);
        Assert.Equal(1, (long)header["progress"]!["next_batch"]!);   // the batch it was in, then saved
        Assert.False(Directory.Exists(Path.Combine(root, "associative")));

        (runs, err) = Compare(root, "a line never written");
        Assert.NotNull(runs);
        Assert.Equal(["plain", "associative"], runs.Select(r => (string)r["variant"]!));
        Assert.All(runs, r => Assert.True((bool)r["completed"]!, err));
        // went on from the saved batch: the same epoch as a compare never stopped
        var whole = Path.Combine(_dir, "whole");
        Assert.NotNull(Compare(whole, "a line never written").Runs);
        foreach (var variant in new[] { "plain", "associative" })
            Assert.Equal(TestSupport.MetricsWithoutTimes(Path.Combine(whole, variant)),
                TestSupport.MetricsWithoutTimes(Path.Combine(root, variant)));
    }
}
