using System.Text.Json;
using static AssocConv.Tests.TestSupport;

namespace AssocConv.Tests.Distributed;

public sealed class MpiTrainTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("assocconv-mpi-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static readonly string[] Recipe = ["train", "--model", "small-cnn", "--data", "sample", "--epochs", "3",
        "--train-limit", "2000", "--val-split", "0", "--batch-size", "50", "--json"];

    [SystemFact("/usr/bin/mpirun", "openmpi-bin")]
    public void Two_ranks_train_to_the_single_process_accuracy_and_a_resume_on_one_rank_is_refused()
    {
        var distributed = Path.Combine(_dir, "two-ranks");
        var (stdout, stderr) = MpiBenchTests.RunOnTwoRanks([.. Recipe, "--out", distributed]);
        double two;
        using (var doc = JsonDocument.Parse(stdout))   // rank 0 alone prints
        {
            Assert.Equal(3, doc.RootElement.GetProperty("epochs_done").GetInt32());
            two = doc.RootElement.GetProperty("last_test_accuracy").GetDouble();
        }
        Assert.Equal(4, File.ReadAllLines(Path.Combine(distributed, "metrics.csv")).Length);   // written once

        var (code, single, err) = RunCli([.. Recipe, "--threads", "1", "--out", Path.Combine(_dir, "one-rank")]);
        Assert.True(code == 0, err);
        double one;
        using (var doc = JsonDocument.Parse(single))
            one = doc.RootElement.GetProperty("last_test_accuracy").GetDouble();
        // the same global batches and recipe; only batch-norm sees half batches, and float sums differ
        Assert.True(Math.Abs(two - one) < 5, $"2 ranks {two:F2}%, 1 rank {one:F2}%; {stderr}");

        (code, _, err) = RunCli("train", "--resume", distributed);
        Assert.Equal(2, code);
        Assert.Contains("was trained on 2 ranks; resume it on as many (mpirun -np 2)", err);
    }
}
