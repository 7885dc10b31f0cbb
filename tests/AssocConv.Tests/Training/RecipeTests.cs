using System.Text.Json.Nodes;
using AssocConv.Csg;
using AssocConv.Data;
using AssocConv.Models;
using AssocConv.Tensors;
using AssocConv.Training;
using TorchSharp;
using TorchSharp.Modules;
using static AssocConv.Tests.TestSupport;
using static TorchSharp.torch;

namespace AssocConv.Tests.Training;

/// <summary>Every ingredient of the recipes is applied as its formula says, and the reference recipe is what it
/// was.</summary>
public sealed class RecipeTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("assocconv-recipe-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private sealed class Recorder(Action? onBatch = null, Action? onEpoch = null) : ITrainingObserver
    {
        public int Batches;
        public void RunStarting(string runDirectory, string description, int firstEpoch, int epochs,
            long batchesPerEpoch) { }
        public void BatchDone(int epoch, long batch, long batches, double loss, double accuracy, double imagesPerSecond)
        {
            Batches++;
            onBatch?.Invoke();
        }
        public void EpochDone(EpochMetrics metrics, bool isBest, IReadOnlyList<EpochMetrics> history) =>
            onEpoch?.Invoke();
    }

    /// <summary>The first <paramref name="train"/> training and <paramref name="test"/> test images of the embedded
    /// sample.</summary>
    private static Dataset Small(Dataset sample, int train, int test)
    {
        using var t = arange(train);
        using var v = arange(test);
        return sample with { Train = sample.Train.Select(t), Test = sample.Test.Select(v) };
    }

    [Fact]
    public void The_learning_rate_of_every_step_follows_the_warm_up_and_linear_formula_in_every_group()
    {
        using var sample = Dataset.LoadSample();
        using var data = Small(sample, 200, 50);
        var options = new TrainingOptions
        {
            Epochs = 3, BatchSize = 50, ValidationSplit = 0, LearningRate = 0.2, CodeLearningRate = 0.05,
            Schedule = LearningRateScheduleKind.Linear, WarmupEpochs = 1.5, Seed = 5,
        };
        var trainer =
            Trainer.Start(Path.Combine(_dir, "run"), new ModelSpec("small-cnn", new ModelOptions()), data, options);
        Assert.Contains(ParameterGroupKind.Codes, trainer.GroupKinds.Cast<ParameterGroupKind>());
        var seen = new List<IReadOnlyList<double>>();
        trainer.Run(new Recorder(onBatch: () => seen.Add(trainer.CurrentLearningRates)));

        const int perEpoch = 4, total = 12;
        Assert.Equal(total, seen.Count);
        int codes = trainer.GroupKinds.ToList().IndexOf(ParameterGroupKind.Codes);
        for (int step = 0; step < total; step++)
        {
            // warm-up: 6 steps rising to the peak; then a straight line reaching 0 at the end of epoch 3
            double t = (double)step / perEpoch;
            double factor = step < 6 ? (step + 1) / 6.0 : (3 - t) / 1.5;
            for (int g = 0; g < seen[step].Count; g++)
                Assert.Equal((g == codes ? 0.05 : 0.2) * factor, seen[step][g], 12);
        }
        var cosine = options with { Schedule = LearningRateScheduleKind.Cosine, WarmupEpochs = 0 };
        Assert.Equal(0.2 * 0.5 * (1 + Math.Cos(Math.PI * 1.25 / 3)), cosine.LearningRateAt(1, 1, perEpoch), 12);
    }

    [Fact]
    public void Label_smoothing_gives_the_loss_of_its_formula()
    {
        using var sample = Dataset.LoadSample();
        using var data = Small(sample, 64, 20);
        const double epsilon = 0.2;
        var options =
            new TrainingOptions { Epochs = 1, BatchSize = 64, ValidationSplit = 0, Augment = false,
            LabelSmoothing = epsilon, Seed = 2 };
        var trainer =
            Trainer.Start(Path.Combine(_dir, "run"), new ModelSpec("small-cnn", new ModelOptions()), data, options);
        // confident logits, so that smoothing makes a difference a test can see
        using (no_grad())
            foreach (var linear in trainer.Model.modules().OfType<Linear>()) linear.weight!.mul_(30);

        // the loss of the one training batch, by the formula: (1 - e) * CE + e * mean over classes of -log p
        double expected;
        using (no_grad())
        using (var scope = NewDisposeScope())
        {
            var batch = new BatchPipeline(data.Train, data.Normalization, 64, shuffle: false, augment: false, seed: 0,
                null, options.MemoryFormat).Epoch(0).Single();
            trainer.Model.train();
            var logp = nn.functional.log_softmax(trainer.Model.call(batch.Images), 1).to(float64);
            var nll = -logp.gather(1, batch.Labels.unsqueeze(1)).squeeze(1);
            var uniform = -logp.mean([1]);
            expected = ((1 - epsilon) * nll + epsilon * uniform).mean().item<double>();
            var plain = nll.mean().item<double>();
            Assert.True(Math.Abs(expected - plain) > 0.01, "smoothing should change this loss");
        }
        var result = trainer.Run();
        Assert.Equal(expected, result.History[0].TrainLoss, 4);
    }

    [Fact]
    public void The_weight_average_is_the_average_it_claims_and_is_what_checkpoints_hold()
    {
        using var sample = Dataset.LoadSample();
        using var data = Small(sample, 150, 30);
        const double decay = 0.6;
        var options =
            new TrainingOptions { Epochs = 2, BatchSize = 50, ValidationSplit = 0, EmaDecay = decay, Seed = 4 };
        var trainer =
            Trainer.Start(Path.Combine(_dir, "run"), new ModelSpec("small-cnn", new ModelOptions()), data, options);
        Dictionary<string, Tensor> Snapshot(nn.Module m) =>
            m.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.detach().to(float64).clone());
        var expected = Snapshot(trainer.Model);
        int t = 0;
        trainer.Run(new Recorder(onBatch: () =>
        {
            t++;
            double d = Math.Min(decay, (1.0 + t) / (10.0 + t));
            foreach (var (name, current) in Snapshot(trainer.Model))
            {
                var old = expected[name];
                expected[name] = current.is_floating_point() && !name.EndsWith("num_batches_tracked")
                    ? old * d + current * (1 - d) : current;
            }
        }));
        Assert.Equal(6, t);
        var average = trainer.Average!.Model.state_dict();
        foreach (var (name, value) in expected)
        {
            // float32 rounding grows with the entries (running variances)
            double scale = 1 + value.abs().max().item<double>();
            Assert.True(MaxAbsDifference(value, average[name]) < 1e-6 * scale, $"{name}: the average differs by " +
                $"{MaxAbsDifference(value, average[name])}");
        }
        // the raw weights moved away from the average (else the test proves nothing)
        Assert.Contains(trainer.Model.state_dict(), kv => kv.Value.is_floating_point()
            && MaxAbsDifference(kv.Value, average[kv.Key]) > 1e-3);

        foreach (var file in new[] { RunFolder.LastCheckpointFile, RunFolder.BestCheckpointFile })
        {
            var (_, loaded) = Checkpoint.LoadModel(Path.Combine(_dir, "run", file));
            using var _ = loaded;
            foreach (var (name, value) in loaded.state_dict())
                Assert.Equal(0.0, MaxAbsDifference(value, average[name]));
        }
    }

    [Fact]
    public void A_fast_recipe_run_stopped_mid_epoch_and_resumed_equals_an_uninterrupted_one()
    {
        using var sample = Dataset.LoadSample();
        using var data = Small(sample, 300, 60);
        var options =
            TrainingRecipes.Fast(3) with { BatchSize = 50, EmaDecay = 0.9, CodeLearningRate = 0.03, Seed = 9 };
        var spec =
            new ModelSpec("small-cnn",
            new ModelOptions { Generator = new GeneratorOptions { CodeInit = CodeInit.FanIn } });
        var whole = Trainer.Start(Path.Combine(_dir, "whole"), spec, data, options);
        var wholeResult = whole.Run();

        using var cancel = new CancellationTokenSource();
        int batches = 0;
        // in epoch 2, after 3 batches
        var recorder = new Recorder(onBatch: () => { if (++batches == 9) cancel.Cancel(); });
        var split = Trainer.Start(Path.Combine(_dir, "split"), spec, data, options);
        Assert.False(split.Run(recorder, cancel.Token).Completed);
        var resumed = Trainer.Resume(Path.Combine(_dir, "split"), data);
        var resumedResult = resumed.Run();

        static object Numbers(EpochMetrics m) =>
            (m.Epoch, m.LearningRate, m.TrainLoss, m.TrainAccuracy, m.TestLoss, m.TestAccuracy, m.TestAccuracyFlip);
        Assert.Equal(wholeResult.History.Select(Numbers), resumedResult.History.Select(Numbers));
        Assert.False(double.IsNaN(wholeResult.History[^1].TestAccuracyFlip));
        foreach (var (a, b) in new[] { (whole.Model, resumed.Model), (whole.EvaluationModel, resumed.EvaluationModel) })
        {
            var left = a.state_dict();
            foreach (var (name, value) in b.state_dict())
                Assert.Equal(0.0, MaxAbsDifference(left[name], value));
        }
    }

    [Fact]
    public void The_reference_recipe_is_unchanged()
    {
        var reference = TrainingRecipes.Reference();
        Assert.Equal(new TrainingOptions().ToJson().ToJsonString(), reference.ToJson().ToJsonString());
        Assert.Equal((200, 128, 0.05, 0.9, 5e-4, false, LearningRateScheduleKind.Reference, 0.0, 0.0, 5000, true),
            (reference.Epochs, reference.BatchSize, reference.LearningRate, reference.Momentum, reference.WeightDecay,
                reference.Nesterov,
                reference.Schedule, reference.WarmupEpochs, reference.LabelSmoothing, reference.ValidationSplit,
                    reference.Augment));
        Assert.Null(reference.EmaDecay);
        Assert.False(reference.HasGroupSettings);
        // constant within an epoch, /10 at half and three quarters
        foreach (var (epoch, rate) in new[] { (0, 0.05), (99, 0.05), (100, 0.005), (149, 0.005), (150, 0.0005),
            (199, 0.0005) })
            foreach (long batch in new long[] { 0, 200, 390 })
                Assert.Equal(rate, reference.LearningRateAt(epoch, batch, 391), 12);
        // one group over every parameter with the reference's settings
        using var model = new ModelSpec("resnet20", new ModelOptions()).Build();
        var (optimizer, rates, kinds) = ParameterGroups.BuildOptimizer(model, reference);
        var group = Assert.IsType<SGD.ParamGroup>(Assert.Single(optimizer.ParamGroups));
        var settings = group.Options;
        Assert.Equal((0.05, 0.9, 5e-4, false),
            (group.LearningRate, settings.momentum!.Value, settings.weight_decay!.Value, settings.nesterov!.Value));
        Assert.Equal(model.parameters().Count(), group.Parameters.Count());
        Assert.Equal([0.05], rates);
        Assert.Equal([null], kinds);
        // a run recorded before the new options existed reads as the reference recipe
        var old = JsonNode.Parse("""
            {"epochs":200,"batch_size":128,"lr":0.05,"momentum":0.9,"weight_decay":0.0005,"schedule":"Reference",
             "milestones":[],"val_split":5000,"augment":true,"seed":1,"train_limit":null,
             "memory_format":"channels-last"}
            """)!;
        Assert.Equal(reference.ToJson().ToJsonString(), TrainingOptions.FromJson(old).ToJson().ToJsonString());
        var back = TrainingOptions.FromJson(new TrainingOptions { CheckReplicas = true, Cutout = 16 }.ToJson());
        Assert.Equal((true, 16), (back.CheckReplicas, back.Cutout));
    }

    [Fact]
    public void Each_parameter_group_decays_by_its_own_weight_decay()
    {
        using var model =
            new ModelSpec("resnet20",
            new ModelOptions { Generator = GeneratorOptions.Default with { Slice = new SliceShape(16, 16) } }).Build();
        var kinds = ParameterGroups.Classify(model);
        Assert.Single(kinds, k => k.Kind == ParameterGroupKind.Generator);
        Assert.Equal(18, kinds.Count(k => k.Kind == ParameterGroupKind.Codes));
        Assert.Equal(2 * 19, kinds.Count(k => k.Kind == ParameterGroupKind.Norm));
        Assert.Equal(["classifier.bias"], kinds.Where(k => k.Kind == ParameterGroupKind.Bias).Select(k => k.Name));
        Assert.Equal(["conv_1_3x3.weight", "classifier.weight"],
            kinds.Where(k => k.Kind == ParameterGroupKind.Weights).Select(k => k.Name));

        var options =
            new TrainingOptions { LearningRate = 0.5, Momentum = 0, WeightDecay = 0.1, NormWeightDecay = 0,
            GeneratorWeightDecay = 0.2, CodeWeightDecay = 0.4 };
        var (optimizer, _, _) = ParameterGroups.BuildOptimizer(model, options);
        var before = kinds.ToDictionary(k => k.Name, k => k.Parameter.detach().clone());
        using (no_grad())
            foreach (var p in model.parameters())
            {
                // batch-norm biases start at 0: move them so decay would show
                using (var bump = p + 0.5) p.copy_(bump);
                p.grad = zeros_like(p);
            }
        foreach (var (name, _, _) in kinds) before[name] = model.get_parameter(name)!.detach().clone();
        optimizer.step();
        foreach (var (name, parameter, kind) in kinds)
        {
            double decay =
                kind switch { ParameterGroupKind.Norm => 0, ParameterGroupKind.Generator => 0.2,
                ParameterGroupKind.Codes => 0.4, _ => 0.1 };
            using var expected = before[name] * (1 - 0.5 * decay);
            Assert.True(MaxAbsDifference(expected, parameter) < 1e-6, $"{name} ({kind}) did not decay by {decay}");
        }
    }

    [Fact]
    public void Fan_in_codes_give_kernels_at_hes_scale_where_the_reference_codes_give_12_to_24_times_it()
    {
        double Ratio(CodeInit init, string layer)
        {
            torch.manual_seed(1);
            using var model = new ModelSpec("resnet20", new ModelOptions
            {
                Generator = GeneratorOptions.Default with { Slice = new SliceShape(16, 16), CodeInit = init },
            }).Build();
            var conv = model.named_modules().Single(m => m.name == layer).module as AssociativeConv2d;
            using var kernel = conv!.GenerateKernel();
            double rms = Math.Sqrt(kernel.square().mean().item<float>());
            return rms / Math.Sqrt(2.0 / (conv.InChannelsPerGroup * 9));
        }
        foreach (var layer in new[] { "stage_1.0.conv_a", "stage_2.1.conv_b", "stage_3.2.conv_b" })
            Assert.InRange(Ratio(CodeInit.FanIn, layer), 0.9, 1.1);
        Assert.InRange(Ratio(CodeInit.ReferenceResNet, "stage_1.0.conv_a"), 10, 14);
        Assert.InRange(Ratio(CodeInit.ReferenceResNet, "stage_3.2.conv_b"), 20, 28);
    }

    [Fact]
    public void Flip_test_accuracy_averages_the_logits_of_each_image_and_its_mirror()
    {
        using var sample = Dataset.LoadSample();
        using var data = Small(sample, 1000, 300);
        // a briefly trained model: an untrained one gives every image the same class, flipped or not
        var trainer =
            Trainer.Start(Path.Combine(_dir, "run"),
            new ModelSpec("small-cnn", new ModelOptions { Plain = true }), data,
            new TrainingOptions { Epochs = 4, BatchSize = 50, ValidationSplit = 0, Seed = 4 });
        trainer.Run();
        var model = trainer.Model;
        var result = Evaluator.Evaluate(model, data.Test, data.Normalization, batchSize: 128, flip: true);
        var plainResult = Evaluator.Evaluate(model, data.Test, data.Normalization, batchSize: 128);
        Assert.Equal(plainResult.Accuracy, result.Accuracy);
        Assert.True(double.IsNaN(plainResult.FlipAccuracy));

        long correct = 0;
        using (no_grad())
        {
            model.eval();
            foreach (var batch in new BatchPipeline(data.Test, data.Normalization, 300, shuffle: false,
                augment: false, seed: 0).Epoch(0))
            {
                using var _ = batch;
                using var images = batch.Images.contiguous();
                var mirrored = images.flip(3);
                var p = (model.call(images) + model.call(mirrored)).argmax(1);
                correct += p.eq(batch.Labels).sum().item<long>();
            }
        }
        Assert.Equal(100.0 * correct / 300, result.FlipAccuracy, 9);
        Assert.NotEqual(result.Accuracy, result.FlipAccuracy);
    }

    [Fact]
    public void Diagnostics_record_relative_steps_that_match_the_gradient_under_plain_sgd()
    {
        using var sample = Dataset.LoadSample();
        using var data = Small(sample, 200, 20);
        // no momentum, no decay, constant rate: a step is -lr * gradient, so relative step = lr * gradient RMS / RMS
        var options = new TrainingOptions
        {
            Epochs = 1, BatchSize = 50, ValidationSplit = 0, LearningRate = 0.03, Momentum = 0, WeightDecay = 0,
            Schedule = LearningRateScheduleKind.MultiStep, Milestones = [5], DiagnosticsEvery = 2, Seed = 6,
        };
        var run = Path.Combine(_dir, "run");
        Trainer.Start(run, new ModelSpec("small-cnn", new ModelOptions()), data, options).Run();
        var rows = File.ReadAllLines(Path.Combine(run, RunFolder.DiagnosticsFile));
        Assert.Equal(TrainingDiagnostics.CsvHeader, rows[0]);
        var parsed = rows.Skip(1).Select(r => r.Split(',')).ToList();
        Assert.Equal(new[] { "0", "2" }, parsed.Select(r => r[0]).Distinct());
        var groups = parsed.Where(r => r[2] == "group").ToList();
        Assert.Equal(new[] { "Weights", "Generator", "Codes", "Norm", "Bias" }.Order(),
            groups.Select(r => r[3]).Distinct().Order());
        double D(string s) => double.Parse(s, System.Globalization.CultureInfo.InvariantCulture);
        foreach (var r in groups.Where(r => r[7] != ""))
            Assert.InRange(D(r[7]) / (0.03 * D(r[5]) / D(r[4])), 0.999, 1.001);
        // one kernel row per convolution and step: small-cnn has 5, the first ordinary, the others generated
        var kernels = parsed.Where(r => r[2] == "kernel").ToList();
        Assert.Equal(2 * 5, kernels.Count);
        Assert.All(kernels, r => Assert.True(D(r[7]) > 0 && D(r[4]) > 0));
    }
}
