using System.Diagnostics;
using System.Text.RegularExpressions;
using AssocConv.Training;

namespace AssocConv.Tests.Distributed;

/// <summary>
/// A rank that dies and Ctrl+C on mpirun, against the same run on 2 ranks left alone: both stop within seconds, keep a
/// checkpoint that loads, and resume (on 2 ranks) to exactly the uninterrupted metrics.
/// </summary>
public sealed class MpiFaultTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("assocconv-mpi-fault-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    // 40 steps per epoch, about a second each on one core: the faults land well before the end
    private static readonly string[] Recipe = ["train", "--model", "small-cnn", "--data", "sample", "--epochs", "5",
        "--train-limit", "2000", "--val-split", "0", "--batch-size", "50"];

    private string[] Uninterrupted()
    {
        var whole = Path.Combine(_dir, "whole");
        TwoRanks.Run([.. Recipe, "--out", whole]);
        return TestSupport.MetricsWithoutTimes(whole);
    }

    private static void ResumeOnTwoRanks(string run) => TwoRanks.Run("train", "--resume", run);

    private static (int Code, string Output) Failing(params string[] args)
    {
        using var job = TwoRanks.Start(args);
        Assert.True(job.WaitForExit(TimeSpan.FromMinutes(2)), $"still running: {job.Output}");
        return (job.Process.ExitCode, job.Output);
    }

    [SystemFact("/usr/bin/mpirun", "openmpi-bin")]
    public void Errors_name_their_rank_and_a_diverged_run_is_reported_once_by_rank_0()
    {
        // an error each rank meets on its own: each reports it, naming itself
        var missing = Path.Combine(_dir, "no-such-run");
        var (code, output) = Failing("train", "--resume", missing);
        Assert.NotEqual(0, code);
        Assert.Contains("assocconv (rank 0 of 2): ", output);
        Assert.Contains("assocconv (rank 1 of 2): ", output);
        Assert.Contains(missing, output);

        // the loss is all-reduced, so every rank stops at the same batch; one says so
        (code, output) = Failing([.. Recipe, "--lr", "1e30", "--out", Path.Combine(_dir, "diverged")]);
        Assert.NotEqual(0, code);
        var said = Regex.Matches(output, @"assocconv \(rank (\d) of 2\): training stopped: the loss became NaN");
        Assert.True(said.Count == 1, output);
        Assert.Equal("0", said[0].Groups[1].Value);
        Assert.Contains("no checkpoint had been saved yet", output);
    }

    [SystemFact("/usr/bin/mpirun", "openmpi-bin")]
    public void A_killed_rank_ends_the_run_within_seconds_naming_it_and_the_resume_continues_exactly()
    {
        var run = Path.Combine(_dir, "killed");
        using (var job = TwoRanks.Start([.. Recipe, "--out", run]))
        {
            TwoRanks.WaitFor(Path.Combine(run, "last.ckpt"), job);
            int rank1 = TwoRanks.RankProcess(1, run) ?? throw new InvalidOperationException(
                $"rank 1 is not running: {job.Output}");
            Process.GetProcessById(rank1).Kill();   // SIGKILL: the rank cannot say anything
            var watch = Stopwatch.StartNew();
            Assert.True(job.WaitForExit(TimeSpan.FromSeconds(30)), "the other rank did not end");
            Assert.True(watch.Elapsed < TimeSpan.FromSeconds(15), $"it took {watch.Elapsed.TotalSeconds:F1} s");
            Assert.NotEqual(0, job.Process.ExitCode);
            Assert.Matches(@"process rank 1 .*exited on signal 9", job.Output);
        }
        Assert.Null(TwoRanks.RankProcess(0, run));
        Checkpoint.Read(Path.Combine(run, "last.ckpt"));   // intact
        ResumeOnTwoRanks(run);
        Assert.Equal(Uninterrupted(), TestSupport.MetricsWithoutTimes(run));
    }

    [SystemFact("/usr/bin/mpirun", "openmpi-bin")]
    public void Ctrl_c_on_mpirun_stops_every_rank_after_the_same_batch_saving_the_run_and_the_resume_is_exact()
    {
        var run = Path.Combine(_dir, "interrupted");
        using (var job = TwoRanks.Start([.. Recipe, "--out", run]))
        {
            TwoRanks.WaitFor(Path.Combine(run, "last.ckpt"), job);
            Assert.False(job.Process.HasExited, "the run ended before it could be interrupted");
            // mpirun passes it on as SIGTERM to every rank a second later (then SIGKILL after another)
            job.Signal("INT");
            Assert.True(job.WaitForExit(TimeSpan.FromSeconds(30)), "mpirun did not end");
            Assert.Contains("stopped; continue with: mpirun -np 2 assocconv train --resume", job.Output);
        }
        Assert.Null(TwoRanks.RankProcess(0, run));
        Assert.Null(TwoRanks.RankProcess(1, run));
        var (header, _) = Checkpoint.Read(Path.Combine(run, "last.ckpt"));
        var progress = header["progress"]!;
        int epoch = (int)progress["next_epoch"]!;
        long batch = (long)progress["next_batch"]!;
        Assert.True(epoch > 1 || (epoch == 1 && batch > 0),
            $"nothing was saved after the signal (epoch 1 ended before it): {progress.ToJsonString()}");
        var copy = Path.Combine(_dir, "interrupted-copy");
        CopyFolder(run, copy);
        ResumeOnTwoRanks(run);
        var whole = Uninterrupted();
        Assert.Equal(whole, TestSupport.MetricsWithoutTimes(run));

        // on one process it is refused, saying why and how, unless allowed
        var (code, _, err) = TestSupport.RunCli("train", "--resume", copy, "--threads", "1");
        Assert.Equal(2, code);
        Assert.Contains("--allow-rank-change", err);
        string stdout;
        (code, stdout, err) = TestSupport.RunCli("train", "--resume", copy, "--threads", "1", "--allow-rank-change",
            "--json");
        Assert.True(code == 0, err);
        var continued = TestSupport.MetricsWithoutTimes(copy);
        Assert.Equal(whole.Length, continued.Length);
        Assert.Equal(whole.Take(epoch), continued.Take(epoch));   // the epochs done before the stop
        using var doc = System.Text.Json.JsonDocument.Parse(stdout);
        var change = doc.RootElement.GetProperty("rank_changes")[0];
        Assert.Equal((2, 1), (change.GetProperty("from").GetInt32(), change.GetProperty("to").GetInt32()));
        Assert.Equal(1, (int)Checkpoint.Read(Path.Combine(copy, "last.ckpt")).Header["ranks"]!);
    }

    private static void CopyFolder(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var file in Directory.EnumerateFiles(from, "*", SearchOption.AllDirectories))
        {
            var target = Path.Combine(to, Path.GetRelativePath(from, file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target);
        }
    }
}
