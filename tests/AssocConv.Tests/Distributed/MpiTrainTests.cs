using System.Globalization;
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
        var (stdout, stderr) = TwoRanks.Run([.. Recipe, "--out", distributed]);
        double two;
        using (var doc = JsonDocument.Parse(stdout))   // rank 0 alone prints
        {
            Assert.Equal(3, doc.RootElement.GetProperty("epochs_done").GetInt32());
            Assert.Equal(2, doc.RootElement.GetProperty("ranks").GetInt32());
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

    [SystemFact("/usr/bin/mpirun", "openmpi-bin")]
    public void Without_batch_norm_two_half_batches_follow_the_whole_batch_loss_curve_and_ranks_stay_bit_identical()
    {
        // 10 steps per epoch, 40 in all, at a learning rate the batch-norm-free network follows smoothly (at 0.05 it
        // wanders, and any float rounding grows)
        string[] recipe = ["train", "--model", "small-cnn", "--no-batch-norm", "--code-init", "fan-in", "--data",
            "sample", "--epochs", "4", "--train-limit", "500", "--val-split", "0", "--batch-size", "50", "--lr", "0.01",
            "--json"];
        var two = Path.Combine(_dir, "two-ranks");
        var (stdout, _) = TwoRanks.Run([.. recipe, "--check-replicas", "--out", two]);
        using (var doc = JsonDocument.Parse(stdout))
            Assert.Equal(40, doc.RootElement.GetProperty("replica_checks").GetInt64());   // after every step
        var one = Path.Combine(_dir, "one-rank");
        var (code, _, err) = RunCli([.. recipe, "--threads", "1", "--out", one]);
        Assert.True(code == 0, err);

        var curves = new[] { two, one }.Select(Losses).ToArray();
        Assert.Equal(4, curves[0].Length);
        for (int epoch = 0; epoch < 4; epoch++)
        {
            var (trainTwo, testTwo) = curves[0][epoch];
            var (trainOne, testOne) = curves[1][epoch];
            Assert.True(Math.Abs(trainTwo - trainOne) < 1e-5 && Math.Abs(testTwo - testOne) < 1e-5,
                $"epoch {epoch + 1}: train loss {trainTwo} on 2 ranks, {trainOne} on 1; test loss {testTwo}, " +
                    $"{testOne}");
        }
        Assert.True(curves[0][^1].Train < curves[0][0].Train - 0.05, "the model did not learn: a flat curve proves " +
            "nothing");
    }

    private static (double Train, double Test)[] Losses(string run) =>
        File.ReadAllLines(Path.Combine(run, "metrics.csv")).Skip(1).Select(l => l.Split(','))
            .Select(f => (double.Parse(f[2], CultureInfo.InvariantCulture),
                double.Parse(f[6], CultureInfo.InvariantCulture))).ToArray();
}
