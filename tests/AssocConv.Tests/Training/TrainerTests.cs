using AssocConv.Csg;
using AssocConv.Data;
using AssocConv.Models;
using AssocConv.Training;
using TorchSharp;
using static AssocConv.Tests.TestSupport;
using static TorchSharp.torch;

namespace AssocConv.Tests.Training;

public sealed class TrainerTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("assocconv-train-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private sealed class Recorder(Action<Recorder>? onBatch = null,
        Action<Recorder>? onEpoch = null) : ITrainingObserver
    {
        public double? FirstBatchLoss;
        public int Batches, Epochs;
        public void RunStarting(string runDirectory, string description, int firstEpoch, int epochs,
            long batchesPerEpoch) { }
        public void BatchDone(int epoch, long batch, long batches, double loss, double accuracy, double imagesPerSecond)
        {
            FirstBatchLoss ??= loss;
            Batches++;
            onBatch?.Invoke(this);
        }
        public void EpochDone(EpochMetrics metrics, bool isBest, IReadOnlyList<EpochMetrics> history)
        {
            Epochs++;
            onEpoch?.Invoke(this);
        }
        public readonly List<string> Warnings = [];
        public void Warning(string message) => Warnings.Add(message);
    }

    private static readonly TrainingOptions Tiny = new() { Epochs = 2, BatchSize = 50, TrainLimit = 400,
        ValidationSplit = 200, Seed = 11 };

    [SharedFact("datasets/cifar-10-batches-bin")]
    public void Five_epochs_on_5000_cifar10_images_learn_for_plain_and_associative_models()
    {
        using var data = Dataset.Load(DatasetSpec.Parse("cifar10:" + SharedPath("datasets/cifar-10-batches-bin")));
        foreach (bool plain in new[] { true, false })
        {
            var dir = Path.Combine(_dir, plain ? "plain" : "associative");
            var trainer = Trainer.Start(dir, new ModelSpec("small-cnn", new ModelOptions { Plain = plain }), data,
                new TrainingOptions { Epochs = 5, BatchSize = 32, TrainLimit = 5000, ValidationSplit = 1000, Seed = 3,
                    Augment = false });
            var recorder = new Recorder();
            var result = trainer.Run(recorder);
            var last = result.History[^1];
            Assert.True(last.TrainLoss < recorder.FirstBatchLoss!.Value * 2 / 3,
                $"{(plain ? "plain" : "associative")}: training loss {recorder.FirstBatchLoss:F3} -> " +
                    $"{last.TrainLoss:F3}");
            Assert.True(last.TestAccuracy > 25,
                $"{(plain ? "plain" : "associative")}: test accuracy {last.TestAccuracy:F1}%");
            Console.WriteLine($"{(plain ? "plain" : "associative")}: loss {recorder.FirstBatchLoss:F3} -> " +
                $"{last.TrainLoss:F3}, test {last.TestAccuracy:F1}%");
        }
    }

    [Fact]
    public void A_run_stopped_mid_epoch_and_resumed_ends_with_the_metrics_of_an_uninterrupted_one()
    {
        using var data = Dataset.LoadSample();
        var spec = new ModelSpec("small-cnn", new ModelOptions());
        var whole = Trainer.Start(Path.Combine(_dir, "whole"), spec, data, Tiny).Run();

        using var cancel = new CancellationTokenSource();
        var stopped = Trainer.Start(Path.Combine(_dir, "split"), spec, data, Tiny)
            .Run(new Recorder(onBatch: r => { if (r.Batches == 11) cancel.Cancel(); }), cancel.Token);
        Assert.False(stopped.Completed);
        Assert.Single(stopped.History);   // stopped in the second epoch, after its third batch
        var resumed = Trainer.Resume(Path.Combine(_dir, "split"), data).Run();

        Assert.True(resumed.Completed);
        Assert.Equal(2, resumed.History.Count);
        static object Numbers(EpochMetrics m) => (m.Epoch, m.LearningRate, m.TrainLoss, m.TrainAccuracy,
            m.ValidationLoss, m.ValidationAccuracy, m.TestLoss, m.TestAccuracy);
        Assert.Equal(whole.History.Select(Numbers), resumed.History.Select(Numbers));
        Assert.Equal(File.ReadAllLines(Path.Combine(_dir, "whole", "metrics.csv")).Length,
            File.ReadAllLines(Path.Combine(_dir, "split", "metrics.csv")).Length);
    }

    [Fact]
    public void A_run_trained_from_csharp_leaves_the_whole_run_folder_and_a_summary_even_when_stopped()
    {
        using var data = Dataset.LoadSample();
        using var cancel = new CancellationTokenSource();
        var folder = new RunFolder(Path.Combine(_dir, "run"));
        var trainer = Trainer.Start(folder.Location, new ModelSpec("small-cnn", new ModelOptions()), data, Tiny);
        Directory.CreateDirectory(folder.Combine(RunFolder.LossPlotFile));   // where the plot goes: like a full disk
        var observer = new Recorder(onBatch: r => { if (r.Batches == 11) cancel.Cancel(); });
        var stopped = trainer.Run(observer, cancel.Token);

        var summary = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(folder.Combine(RunFolder.SummaryFile)))!;
        Assert.False((bool)summary["completed"]!);
        Assert.Equal(1, (int)summary["epochs_done"]!);
        Assert.Equal(stopped.History[0].TestAccuracy, (double)summary["last_test_accuracy"]!, 9);
        Assert.Contains(observer.Warnings, w => w.Contains(RunFolder.LossPlotFile) && w.Contains("not written"));

        Directory.Delete(folder.Combine(RunFolder.LossPlotFile));
        var done = Trainer.Resume(folder.Location, data).Run();
        foreach (var file in new[] { RunFolder.ConfigFile, RunFolder.MetricsFile, RunFolder.SummaryFile,
            RunFolder.LastCheckpointFile, RunFolder.BestCheckpointFile, RunFolder.LossPlotFile,
                RunFolder.AccuracyPlotFile })
            Assert.True(File.Exists(folder.Combine(file)), file);
        Assert.NotEmpty(Directory.GetFiles(folder.Combine(RunFolder.EventsFolder)));
        summary = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(folder.Combine(RunFolder.SummaryFile)))!;
        Assert.True((bool)summary["completed"]!);
        Assert.Equal(2, summary["history"]!.AsArray().Count);
        Assert.Equal(done.History[^1].TestAccuracy, (double)summary["last_test_accuracy"]!, 9);
        Assert.Equal(ParameterReport.Of(trainer.Model).Trainable, (long)summary["trainable"]!);
    }

    [Fact]
    public void A_nan_loss_stops_the_run_and_keeps_the_last_good_checkpoint()
    {
        using var data = Dataset.LoadSample();
        using var cancel = new CancellationTokenSource();
        var trainer = Trainer.Start(_dir, new ModelSpec("small-cnn", new ModelOptions()), data, Tiny);
        trainer.Run(new Recorder(onEpoch: _ => cancel.Cancel()), cancel.Token);   // one good epoch
        var bn = trainer.Model.modules().OfType<TorchSharp.Modules.BatchNorm2d>().First();
        using (no_grad()) bn.weight!.fill_(double.NaN);

        var e = Assert.Throws<TrainingDivergedException>(() => trainer.Run());
        Assert.Contains("epoch 2", e.Message);
        Assert.Contains("checkpoints of epoch 1 are kept", e.Message);
        var (header, _) = Checkpoint.Read(Path.Combine(_dir, RunFolder.LastCheckpointFile));
        Assert.Single(header["history"]!.AsArray());
        var resumed = Trainer.Resume(_dir, data);
        Assert.All(resumed.Model.parameters(), p => Assert.False(p.isnan().any().item<bool>()));
    }

    [Fact]
    public void Checkpoints_refuse_truncated_or_altered_files_and_a_reused_generator_stays_frozen()
    {
        using var data = Dataset.LoadSample();
        var first = Path.Combine(_dir, "first");
        Trainer.Start(first, new ModelSpec("small-cnn", new ModelOptions()), data, Tiny with { Epochs = 1 }).Run();
        var best = Path.Combine(first, RunFolder.BestCheckpointFile);
        var bytes = File.ReadAllBytes(best);

        var truncated = Path.Combine(_dir, "truncated.ckpt");
        File.WriteAllBytes(truncated, bytes[..^100]);
        Assert.Contains("truncated", Assert.Throws<InvalidDataException>(() => Checkpoint.Read(truncated)).Message);
        var altered = Path.Combine(_dir, "altered.ckpt");
        bytes[^50] ^= 0x40;
        File.WriteAllBytes(altered, bytes);
        Assert.Contains("altered", Assert.Throws<InvalidDataException>(() => Checkpoint.Read(altered)).Message);
        File.WriteAllText(altered, "hello");
        Assert.Contains("not an AssocConv checkpoint",
            Assert.Throws<InvalidDataException>(() => Checkpoint.Read(altered)).Message);

        var trainer = Trainer.Start(Path.Combine(_dir, "second"), new ModelSpec("small-cnn", new ModelOptions()), data,
            Tiny);
        trainer.UseGeneratorFrom(best);
        var generator = trainer.Model.modules().OfType<ConvolutionalSliceGenerator>().Single();
        using var loaded = generator.Weight.detach().clone();
        using var cancel = new CancellationTokenSource();
        trainer.Run(new Recorder(onEpoch: _ => cancel.Cancel()), cancel.Token);
        Assert.True(generator.IsFrozen);
        Assert.Equal(0.0, MaxAbsDifference(loaded, generator.Weight));
        // resumed, the generator is rebuilt frozen and still untouched after the second epoch
        var resumed = Trainer.Resume(Path.Combine(_dir, "second"), data);
        resumed.Run();
        generator = resumed.Model.modules().OfType<ConvolutionalSliceGenerator>().Single();
        Assert.True(generator.IsFrozen);
        Assert.Equal(0.0, MaxAbsDifference(loaded, generator.Weight));
        var (header, payload) = Checkpoint.Read(best);
        using var source = ModelSpec.FromJson(header["model"]!).Build();
        Checkpoint.LoadInto(payload, header, source);
        Assert.Equal(0.0, MaxAbsDifference(source.get_parameter("CSG.weight")!, generator.Weight));
    }

    [Fact]
    public void Schedules_follow_the_recipe()
    {
        var reference = new TrainingOptions { Epochs = 200 };
        Assert.Equal(0.05, reference.LearningRateAt(0));
        Assert.Equal(0.05, reference.LearningRateAt(99));
        Assert.Equal(0.005, reference.LearningRateAt(100), 12);
        Assert.Equal(0.005, reference.LearningRateAt(149), 12);
        Assert.Equal(0.0005, reference.LearningRateAt(150), 12);
        var multi = new TrainingOptions { Epochs = 10, Schedule = LearningRateScheduleKind.MultiStep,
            Milestones = [3, 6] };
        Assert.Equal(new[] { 0.05, 0.05, 0.05, 0.005, 0.005, 0.005, 0.0005 },
            Enumerable.Range(0, 7).Select(e => Math.Round(multi.LearningRateAt(e), 10)));
        var cosine = new TrainingOptions { Epochs = 4, Schedule = LearningRateScheduleKind.Cosine };
        Assert.Equal(0.025, cosine.LearningRateAt(2), 12);
        Assert.Throws<ArgumentException>(() => new TrainingOptions { Epochs = 0 }.Validate());
    }
}
