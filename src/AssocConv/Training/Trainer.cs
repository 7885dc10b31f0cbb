using System.Diagnostics;
using System.Text.Json.Nodes;
using AssocConv.Csg;
using AssocConv.Data;
using AssocConv.Distributed;
using AssocConv.IO;
using AssocConv.Models;
using AssocConv.Native;
using AssocConv.Tensors;
using TorchSharp;
using static TorchSharp.torch;

namespace AssocConv.Training;

/// <summary>
/// Trains a zoo model on a dataset with a recipe (<see cref="TrainingOptions"/>, <see cref="TrainingRecipes"/>),
/// writing every file of its <see cref="RunFolder"/>. A run resumes exactly where it stopped: weights, optimiser
/// momentum, schedule, position in the epoch and the random streams (which derive from the seed and the epoch) are
/// all restored.
/// </summary>
public sealed class Trainer
{
    private readonly RunFolder _folder;
    private readonly MpiWorld? _world;
    private readonly GradientAverager? _averager;
    private ModelSpec _spec;
    private readonly Dataset _data;
    private readonly TrainingOptions _options;
    private readonly JsonObject _extra;
    private readonly Device _device;
    private readonly nn.Module<Tensor, Tensor> _model;
    private readonly TorchSharp.Modules.SGD _optimizer;
    private readonly double[] _peakRates;
    private readonly WeightAverage? _average;
    private readonly LabeledImages _train;
    private readonly LabeledImages? _validation;
    private readonly List<EpochMetrics> _history = [];
    private EpochProgress _progress = new();
    private long _replicaChecks;
    // each rank's contiguous part of an evaluated set, cut once
    private readonly Dictionary<LabeledImages, LabeledImages> _shards = [];
    private int _bestEpoch;
    private double _bestValidation = double.NegativeInfinity;

    /// <summary>Where the run's files are.</summary>
    public RunFolder Folder => _folder;

    /// <summary>The model being trained.</summary>
    public nn.Module<Tensor, Tensor> Model => _model;

    /// <summary>The model evaluated and saved as the checkpoints' model: the weight average when the recipe keeps one,
    /// else <see cref="Model"/>.</summary>
    public nn.Module<Tensor, Tensor> EvaluationModel => _average?.Model ?? _model;

    /// <summary>Whether every epoch has been trained (a resumed finished run has nothing left to do).</summary>
    public bool IsFinished => _progress.NextEpoch >= _options.Epochs;

    /// <summary>The run's result so far, without training.</summary>
    public TrainingResult ResultSoFar => new(_folder.Location, _history.ToList(), Completed: IsFinished, _bestEpoch);

    /// <summary>The learning rate of each of the optimiser's parameter groups, as the last step used it.</summary>
    public IReadOnlyList<double> CurrentLearningRates => _optimizer.ParamGroups.Select(g => g.LearningRate).ToArray();

    /// <summary>The optimiser's parameter groups' kinds, in order (one null entry when all parameters share one
    /// group).</summary>
    public IReadOnlyList<ParameterGroupKind?> GroupKinds { get; private set; } = [null];

    /// <summary>The weight average, when the recipe keeps one.</summary>
    public WeightAverage? Average => _average;

    /// <summary>The training recipe.</summary>
    public TrainingOptions Options => _options;

    /// <summary>What the model is (architecture and options, the data's channels and classes filled in).</summary>
    public ModelSpec Spec => _spec;

    // data parallel under mpirun: each rank trains on its share of every batch; rank 0 alone writes the run folder
    private bool Distributed => _world is { Size: > 1 };
    private bool Writes => _world is null || _world.IsRoot;

    private Trainer(string runDirectory, ModelSpec spec, Dataset data, TrainingOptions options, JsonObject extra,
        Device? device, MpiWorld? world)
    {
        _folder = new RunFolder(runDirectory);
        _world = world;
        _spec = spec;
        _data = data;
        _options = options.Validate();
        _extra = extra;
        _device = device ?? CPU;
        torch.manual_seed(options.Seed);
        _model = spec.Build();
        _model.to(_device);
        MixedPrecision.Apply(_model, options.Precision);
        ConvolutionGuard.Protect(_model);
        (_train, _validation) = Split(data.Train, options);
        (_optimizer, _peakRates, var kinds) = ParameterGroups.BuildOptimizer(_model, options);
        GroupKinds = kinds;
        if (options.EmaDecay is { } decay)
        {
            var average = spec.Build();
            average.to(_device);
            MixedPrecision.Apply(average, options.Precision);
            ConvolutionGuard.Protect(average);
            _average = new WeightAverage(_model, average, decay);
        }
        if (Distributed)
        {
            GradientAverager.BroadcastState(_world!, _model);   // every rank starts from rank 0's weights
            if (_average is not null) GradientAverager.BroadcastState(_world!, _average.Model);
            _averager = new GradientAverager(_world!, _model);
        }
    }

    /// <summary>
    /// Starts a run in <paramref name="runDirectory"/> (created; it must not hold a run already). The model's
    /// input channels and classes come from the data. <paramref name="extra"/> is recorded in <c>config.json</c>.
    /// </summary>
    /// <exception cref="ArgumentException">The folder already holds a run, or an option is impossible.</exception>
    public static Trainer Start(string runDirectory, ModelSpec spec, Dataset data, TrainingOptions options,
        JsonObject? extra = null, Device? device = null, MpiWorld? world = null)
    {
        if (new RunFolder(runDirectory).HoldsRun)
            throw new ArgumentException($"{runDirectory} already holds a run; resume it or choose another folder");
        spec = spec with
        {
            Options = spec.Options with { InputChannels = (int)data.Train.Channels, NumClasses = data.NumClasses },
        };
        var trainer = new Trainer(runDirectory, spec, data, options, extra ?? new JsonObject(), device, world);
        if (trainer.Writes) trainer._folder.WriteConfig(trainer.Config());
        return trainer;
    }

    /// <summary>Continues the run in <paramref name="runDirectory"/> from its last checkpoint, on <paramref
    /// name="data"/> (the same dataset).</summary>
    /// <param name="runDirectory">The run's folder.</param>
    /// <param name="data">The dataset it was trained on.</param>
    /// <param name="device">Where to compute; default the CPU.</param>
    /// <param name="world">The MPI ranks to train on (null: this process alone).</param>
    /// <param name="allowRankChange">Continue on another number of ranks than the run's: the global batches stay the
    /// same, batch-norm sees other shares, so the run is no longer what an uninterrupted one would have been.</param>
    /// <exception cref="ArgumentException">The run was trained on another number of ranks, and that was not
    /// allowed; or on another dataset than <paramref name="data"/>.</exception>
    public static Trainer Resume(string runDirectory, Dataset data, Device? device = null, MpiWorld? world = null,
        bool allowRankChange = false)
    {
        var folder = new RunFolder(runDirectory);
        if (world is null || world.IsRoot) folder.RemoveAbandoned();
        var (header, payload) = Checkpoint.Read(folder.LastCheckpoint);
        EnsureSameData(runDirectory, DataDescription.FromJson(header["data"], folder.LastCheckpoint), data);
        int ranks = (int?)header["ranks"] ?? 1, now = world?.Size ?? 1;
        // each rank's share of a batch, and so what batch-norm normalises over, depends on the number of ranks
        if (ranks != now && !allowRankChange)
        {
            string how = ranks == 1 ? "without mpirun" : $"mpirun -np {ranks}";
            throw new ArgumentException($"{runDirectory} was trained on {ranks} rank{(ranks == 1 ? "" : "s")}; " +
                $"resume it on as many ({how}), not {now}, to continue it exactly; --allow-rank-change continues on " +
                $"{now} (the same global batches, batch-norm over other shares)");
        }
        var spec = ModelSpec.FromJson(header["model"]!);
        var options = TrainingOptions.FromJson(header["training"]!);
        var extra = (JsonObject?)header["extra"]?.DeepClone() ?? new JsonObject();
        if (ranks != now)   // on the record, since the run is no longer what one number of ranks gives
        {
            if (extra["rank_changes"] is not JsonArray changes) extra["rank_changes"] = changes = [];
            changes.Add(new JsonObject
            {
                ["from"] = ranks, ["to"] = now, ["next_epoch"] = header["progress"]?["next_epoch"]?.DeepClone(),
                ["next_batch"] = header["progress"]?["next_batch"]?.DeepClone(),
            });
        }
        var trainer = new Trainer(runDirectory, spec, data, options, extra, device, world);
        if (trainer._average is { } average)
        {
            Checkpoint.LoadInto(payload, header, average.Model, trainer._optimizer, trainingWeights: trainer._model);
            average.Updates = (long?)header["progress"]!["average_updates"] ?? 0;
            average.Model.InvalidateKernels();
        }
        else Checkpoint.LoadInto(payload, header, trainer._model, trainer._optimizer);
        trainer._model.InvalidateKernels();
        trainer.RestoreProgress(header, folder.LastCheckpoint);
        return trainer;
    }

    // A run continues, or is read back as finished, only on the data it was trained on: on other data its numbers
    // would be reported under the other data's name. The folder may have moved since, so the kind of dataset, the
    // class names and the image shape are compared, not the path.
    private static void EnsureSameData(string runDirectory, DataDescription recorded, Dataset data)
    {
        var now = data.Description;
        DatasetKind? kind = null;
        try { kind = recorded.Spec is { } spec ? DatasetSpec.Parse(spec).Kind : null; }
        catch (FormatException) { }   // an unknown name: the comparison below says it differs
        if (kind == data.Spec.Kind && recorded.ClassNames.SequenceEqual(now.ClassNames)
            && (recorded.Channels, recorded.Height, recorded.Width) == (now.Channels, now.Height, now.Width))
            return;
        static string Describe(DataDescription d) =>
            $"{d.Spec ?? "unnamed data"}: {d.ClassNames.Count} classes, {d.Channels}x{d.Height}x{d.Width}";
        throw new ArgumentException($"{runDirectory} was trained on {Describe(recorded)}, not {Describe(now)}; " +
            "give the data it was trained on (--data)");
    }

    // Progress, best epoch and history, each checked: an edited or damaged header must not give negative or
    // repeated epochs.
    private void RestoreProgress(JsonObject header, string path)
    {
        try
        {
            _progress = EpochProgress.FromJson(header["progress"], _options.Epochs);
            _bestEpoch = (int)header["best"]!["epoch"]!;
            _bestValidation = (double?)header["best"]!["val_acc"] ?? double.NegativeInfinity;
            _history.AddRange(header["history"]!.AsArray().Select(m => EpochMetrics.FromJson(m!)));
        }
        catch (InvalidDataException e)
        {
            throw new InvalidDataException($"{path}: {e.Message}", e);
        }
        catch (Exception e) when (e is NullReferenceException or InvalidCastException or InvalidOperationException
            or FormatException)
        {
            throw new InvalidDataException($"{path}: its progress is incomplete or invalid ({e.Message})", e);
        }
        int done = _progress.NextEpoch;
        string? fault =
            _history.Count != done ? $"{_history.Count} epochs of history for {done} done"
            : _history.Select((m, i) => m.Epoch != i + 1).Any(wrong => wrong) ? "the history's epochs " +
                "are not 1, 2, 3..."
            : _bestEpoch < 0 || _bestEpoch > done ? $"best epoch {_bestEpoch} of {done}"
            : null;
        if (fault is not null) throw new InvalidDataException($"{path}: its progress is invalid: {fault}");
    }

    /// <summary>Copies the generator of another run's checkpoint into this model and freezes it, so only codes and the
    /// rest train.</summary>
    /// <exception cref="ArgumentException">This model is plain, or the generators' shapes differ.</exception>
    public void UseGeneratorFrom(string checkpointPath)
    {
        var (_, source) = Checkpoint.LoadModel(checkpointPath);
        using var _ = source;
        var from = source.modules().OfType<ConvolutionalSliceGenerator>().FirstOrDefault()
            ?? throw new ArgumentException($"{checkpointPath} holds a plain model: it has no generator");
        var to = _model.modules().OfType<ConvolutionalSliceGenerator>().FirstOrDefault()
            ?? throw new ArgumentException("a plain model has no generator to load");
        if (!from.Weight.shape.SequenceEqual(to.Weight.shape) || from.Layout != to.Layout)
            throw new ArgumentException(
                $"{checkpointPath} has a generator for slice {from.Slice}, code {from.CodeSize}, {from.Layout} " +
                    $"layout; this model's is slice {to.Slice}, code {to.CodeSize}, {to.Layout}");
        using (no_grad()) to.Weight.copy_(from.Weight);
        to.Freeze();
        to.InvalidateKernels();
        _average?.Restart();
        // recorded as frozen, so a resumed run rebuilds it frozen
        _spec = _spec with { Options = _spec.Options with { Generator = _spec.Generator! with { Frozen = true } } };
        // a frozen weight gets no gradient, so SGD neither updates nor decays it
        _extra["generator_from"] = Path.GetFullPath(checkpointPath);
        if (Writes) _folder.WriteConfig(Config());
    }

    private static (LabeledImages Train, LabeledImages? Validation) Split(LabeledImages all, TrainingOptions options)
    {
        if (options.ValidationSplit >= all.Count)
            throw new ArgumentException($"a validation split of {options.ValidationSplit:N0} leaves nothing of " +
                $"{all.Count:N0} training images");
        using var generator = new Generator(unchecked((ulong)(options.Seed ^ 0x5EED_5EED)));
        using var order = randperm(all.Count, generator: generator);
        LabeledImages? validation = null;
        if (options.ValidationSplit > 0)
        {
            using var v = order.narrow(0, 0, options.ValidationSplit);
            validation = all.Select(v);
        }
        long rest = all.Count - options.ValidationSplit;
        long count = Math.Min(rest, options.TrainLimit ?? rest);
        using var t = order.narrow(0, options.ValidationSplit, count);
        return (all.Select(t), validation);
    }

    private JsonObject Config()
    {
        var report = ParameterReport.Of(_model);
        return new JsonObject
        {
            ["format"] = "assocconv-run",
            ["version"] = 1,
            ["model"] = _spec.ToJson(),
            ["data"] = DataJson(),
            ["training"] = _options.ToJson(),
            ["parameters"] = new JsonObject
            {
                ["trainable"] = report.Trainable,
                ["frozen"] = report.Frozen,
                ["plain_trainable"] = report.PlainTrainable,
                ["ratio"] = Math.Round(report.Ratio, 4),
            },
            ["split"] = new JsonObject
            {
                ["train"] = _train.Count,
                ["validation"] = _validation?.Count ?? 0,
                ["test"] = _data.Test.Count,
            },
            ["threads"] = torch.get_num_threads(),
            // how waiting OpenMP threads behave decides the speed when another process shares the cores
            ["omp_wait_policy"] = Environment.GetEnvironmentVariable("OMP_WAIT_POLICY"),
            ["device"] = _device.ToString(),
            ["extra"] = _extra.DeepClone(),
        };
    }

    private JsonObject DataJson() => _data.ToJson();

    private JsonObject Progress()
    {
        var progress = _progress.ToJson();
        progress["average_updates"] = _average?.Updates;
        return progress;
    }

    private JsonObject Header(bool best = false) => new()
    {
        ["format"] = "assocconv-checkpoint",
        ["version"] = 1,
        ["model"] = _spec.ToJson(),
        ["data"] = DataJson(),
        ["training"] = _options.ToJson(),
        ["extra"] = _extra.DeepClone(),
        ["progress"] = Progress(),
        ["best"] = new JsonObject
        {
            ["epoch"] = _bestEpoch,
            ["val_acc"] = double.IsNegativeInfinity(_bestValidation) ? null : _bestValidation,
        },
        ["history"] = new JsonArray(_history.Select(m => (JsonNode)m.ToJson()).ToArray()),
        ["is_best_snapshot"] = best,
        ["ranks"] = _world?.Size ?? 1,
    };

    /// <summary>
    /// Trains until the last epoch or until <paramref name="cancel"/> fires; on cancellation it finishes the
    /// current batch, saves <c>last.ckpt</c> with its place in the epoch, and returns an incomplete result.
    /// </summary>
    /// <exception cref="TrainingDivergedException">The loss became NaN or infinite; the checkpoints of the last good
    /// epoch stay.</exception>
    public TrainingResult Run(ITrainingObserver? observer = null, CancellationToken cancel = default)
    {
        observer ??= new SilentObserver();
        var pipeline = new BatchPipeline(_train, _data.Normalization, _options.BatchSize, shuffle: true,
            augment: _options.Augment, seed: _options.Seed, _device, _options.MemoryFormat, _options.Cutout);
        observer.RunStarting(_folder.Location, _spec.Describe(), _progress.NextEpoch + 1, _options.Epochs,
            pipeline.BatchesPerEpoch);
        if (Writes) _folder.WriteMetrics(_history);
        using var events = Writes ? new TensorBoardLog(_folder.Combine(RunFolder.EventsFolder)) : null;
        var diagnostics = _options.DiagnosticsEvery > 0 && Writes
            ? new TrainingDiagnostics(_model, _folder.Combine(RunFolder.DiagnosticsFile),
                _options.DiagnosticsEvery) : null;
        var groups = _optimizer.ParamGroups.ToArray();
        long perEpoch = pipeline.BatchesPerEpoch;
        if (_progress.NextBatch > perEpoch)
            throw new InvalidDataException(
                $"{_folder.LastCheckpoint}: it resumes at batch {_progress.NextBatch + 1} of an epoch of {perEpoch}");
        while (_progress.NextEpoch < _options.Epochs)
        {
            int epoch = _progress.NextEpoch;
            double lr = _options.LearningRateAt(epoch, 0, perEpoch);
            _model.train();
            var watch = Stopwatch.StartNew();
            double secondsBefore = _progress.Seconds;
            foreach (var batch in pipeline.Epoch(epoch, _progress.NextBatch))
            {
                bool stop;
                using (batch)
                using (var scope = NewDisposeScope())
                {
                    double factor = _options.LearningRateFactor(epoch, _progress.NextBatch, perEpoch);
                    for (int g = 0; g < groups.Length; g++) groups[g].LearningRate = _peakRates[g] * factor;
                    _optimizer.zero_grad();
                    double value;
                    long correct;
                    bool anyRankStops = false;
                    if (Distributed) (value, correct, anyRankStops) = ShareStep(batch, cancel.IsCancellationRequested);
                    else (value, correct) = WholeStep(batch);
                    if (!double.IsFinite(value))
                        throw new TrainingDivergedException(
                            $"the loss became {value} in epoch {epoch + 1}, batch {_progress.NextBatch + 1}; " +
                                (File.Exists(_folder.Combine(RunFolder.LastCheckpointFile))
                                    ? $"the checkpoints of epoch {_history.Count} are kept in {_folder.Location}. "
                                    : "no checkpoint had been saved yet. ") +
                                "Try a lower --lr.");
                    diagnostics?.BeforeStep(epoch * perEpoch + _progress.NextBatch, epoch + 1);
                    _optimizer.step();
                    diagnostics?.AfterStep();
                    _average?.Update();
                    if (_options.CheckReplicas && Distributed) CheckReplicas(epoch * perEpoch + _progress.NextBatch);
                    _progress.BatchDone(value, correct, batch.Size);
                    stop = Distributed ? anyRankStops : cancel.IsCancellationRequested;
                }
                _progress.Seconds = secondsBefore + watch.Elapsed.TotalSeconds;
                observer.BatchDone(epoch + 1, _progress.NextBatch, pipeline.BatchesPerEpoch, _progress.Loss,
                    _progress.Accuracy, _progress.ImagesPerSecond);
                if (stop && _progress.NextBatch < pipeline.BatchesPerEpoch)
                {
                    SaveLast();
                    return Finish();
                }
            }
            var metrics = FinishEpoch(epoch, lr);
            bool isBest = double.IsNaN(metrics.ValidationAccuracy) || metrics.ValidationAccuracy > _bestValidation;
            if (isBest)
            {
                _bestEpoch = metrics.Epoch;
                if (!double.IsNaN(metrics.ValidationAccuracy)) _bestValidation = metrics.ValidationAccuracy;
                if (Writes) Checkpoint.Save(_folder.BestCheckpoint, Header(best: true), EvaluationModel);
            }
            SaveLast();
            if (Writes)
            {
                _folder.WriteMetrics(_history);
                foreach (var failure in _folder.WritePlots(_history)) observer.Warning(failure);
            }
            events?.Add(metrics);
            observer.EpochDone(metrics, isBest, _history);
            if (Agree(cancel.IsCancellationRequested) && _progress.NextEpoch < _options.Epochs) return Finish();
        }
        return Finish();
    }

    // summary.json says how the run stands whenever Run returns, finished or stopped
    private TrainingResult Finish()
    {
        var result = ResultSoFar;
        if (Writes) _folder.WriteSummary(Summary(result));
        return result;
    }

    // the step of a single process: mean loss over the batch, backward
    private (double Loss, long Correct) WholeStep(Batch batch)
    {
        var logits = _model.call(batch.Images);
        var loss = nn.functional.cross_entropy(logits, batch.Labels, label_smoothing: _options.LabelSmoothing);
        double value = loss.item<float>();
        if (double.IsFinite(value)) loss.backward();
        return (value, logits.argmax(1).eq(batch.Labels).sum().item<long>());
    }

    // This rank's share of the batch: its loss is summed and divided by the whole batch's size, so that the gradients
    // summed over the ranks are those of the whole batch's mean loss. Batch-norm normalises each share with its own
    // statistics, as PyTorch's DistributedDataParallel does by default. Whether a rank was asked to stop travels in
    // the same all-reduce, so that all stop after the same batch without an exchange of their own.
    private (double Loss, long Correct, bool AnyRankStops) ShareStep(Batch batch, bool stopAsked)
    {
        int size = _world!.Size;
        long share = (batch.Size + size - 1) / size, start = Math.Min(batch.Size, _world.Rank * share);
        long count = Math.Min(share, batch.Size - start);
        double[] totals = [0, 0, stopAsked ? 1 : 0];
        if (count > 0)
        {
            var images = batch.Images.narrow(0, start, count);
            var labels = batch.Labels.narrow(0, start, count);
            var logits = _model.call(images);
            var loss = nn.functional.cross_entropy(logits, labels, reduction: nn.Reduction.Sum,
                label_smoothing: _options.LabelSmoothing) / batch.Size;
            totals[0] = loss.item<float>();
            totals[1] = logits.argmax(1).eq(labels).sum().item<long>();
            if (double.IsFinite(totals[0])) loss.backward();
        }
        _world.SumInPlace(totals);
        if (double.IsFinite(totals[0])) _averager!.Sum();
        return (totals[0], (long)totals[1], totals[2] > 0);
    }

    // The exchange's own test, for a user who doubts it: all-reduced gradients and the same optimiser step must leave
    // every rank with the same bits.
    private void CheckReplicas(long step)
    {
        var differing = GradientAverager.RanksDiffering(_world!, _model);
        if (differing.Count > 0)
            throw new TrainingDivergedException($"after step {step + 1} the parameters of rank" +
                $"{(differing.Count == 1 ? "" : "s")} {string.Join(", ", differing)} differ from rank 0's; the " +
                "data-parallel exchange is broken (please report it with the command)");
        _replicaChecks++;
    }

    // a stop every rank agrees on: if one was asked to stop, all stop after the same batch
    private bool Agree(bool stop)
    {
        if (!Distributed) return stop;
        double[] flag = [stop ? 1 : 0];
        _world!.MaxInPlace(flag);
        return flag[0] > 0;
    }

    /// <summary>
    /// What <c>summary.json</c> holds: the model and its parameter counts, the final and best epochs' accuracies,
    /// training time and images per second (the training steps alone), the recipe and every epoch's metrics.
    /// </summary>
    public JsonObject Summary(TrainingResult result)
    {
        var report = ParameterReport.Of(_model);
        var best = result.Best;
        var last = result.History.LastOrDefault();
        double seconds = result.History.Sum(m => m.Seconds);
        double images = result.History.Sum(m => m.ImagesPerSecond * m.Seconds);
        return new JsonObject
        {
            ["run"] = Path.GetFullPath(result.RunDirectory),
            ["model"] = _spec.Describe(),
            ["completed"] = result.Completed,
            ["epochs_done"] = result.History.Count,
            ["trainable"] = report.Trainable,
            ["frozen"] = report.Frozen,
            ["plain_trainable"] = report.PlainTrainable,
            ["ratio"] = Math.Round(report.Ratio, 4),
            ["best_epoch"] = best?.Epoch,
            ["best_val_accuracy"] = Finite(best?.ValidationAccuracy),
            ["best_test_accuracy"] = Finite(best?.TestAccuracy),   // none when the test set is empty
            ["last_test_accuracy"] = Finite(last?.TestAccuracy),
            ["last_test_accuracy_flip"] = Finite(last?.TestAccuracyFlip),
            ["train_seconds"] = seconds,
            ["images_per_second"] = seconds > 0 ? Math.Round(images / seconds, 1) : 0,
            ["recipe"] = _options.Recipe,
            ["ranks"] = _world?.Size ?? 1,
            ["rank_changes"] = _extra["rank_changes"]?.DeepClone(),
            // steps after which every rank's parameters were found identical to rank 0's (this process's)
            ["replica_checks"] = _options.CheckReplicas && Distributed ? _replicaChecks : null,
            // the effective generator, default or not
            ["parameters"] = ParameterReportJson.ToJson(_spec.Name, _spec.Options with { Generator = _spec.Generator },
                report),
            ["history"] = new JsonArray(result.History.Select(m => (JsonNode)m.ToJson()).ToArray()),
        };
    }

    // JSON has no NaN: a metric that could not be measured is null
    private static double? Finite(double? value) => value is { } v && double.IsFinite(v) ? v : null;

    private void SaveLast()
    {
        if (Writes)
            Checkpoint.Save(_folder.LastCheckpoint, Header(), EvaluationModel, _optimizer,
                trainingWeights: _average is null ? null : _model);
    }

    private EpochMetrics FinishEpoch(int epoch, double lr)
    {
        var validation = _validation is null ? default : Measure(_validation, flip: false);
        var test = Measure(_data.Test, _options.FlipTest);
        var metrics = new EpochMetrics(epoch + 1, lr, _progress.Loss, _progress.Accuracy,
            _validation is null ? double.NaN : validation.Loss, _validation is null ? double.NaN : validation.Accuracy,
            test.Loss, test.Accuracy, _progress.Seconds, _progress.ImagesPerSecond, test.FlipAccuracy);
        _history.Add(metrics);
        _progress.EpochDone();
        return metrics;
    }

    // Under mpirun each rank evaluates its part of the set with rank 0's batch-norm statistics (the ones saved) and
    // the sums are all-reduced, so every rank gets rank 0's measures in 1/N of the time.
    private (double Loss, double Accuracy, double FlipAccuracy) Measure(LabeledImages data, bool flip)
    {
        var model = EvaluationModel;
        if (!Distributed)
        {
            var whole = Evaluator.Evaluate(model, data, _data.Normalization, device: _device,
                format: _options.MemoryFormat, flip: flip);
            return (whole.Loss, whole.Accuracy, whole.FlipAccuracy);
        }
        GradientAverager.BroadcastState(_world!, model);
        if (!_shards.TryGetValue(data, out var shard))
        {
            long share = (data.Count + _world!.Size - 1) / _world.Size;
            long start = Math.Min(data.Count, _world.Rank * share), count = Math.Min(share, data.Count - start);
            using var indices = arange(start, start + count, dtype: int64);
            _shards[data] = shard = data.Select(indices);
        }
        var part = Evaluator.Evaluate(model, shard, _data.Normalization, device: _device,
            format: _options.MemoryFormat, flip: flip);
        long n = part.Samples, correct = 0;
        for (int c = 0; c < part.Confusion.GetLength(0); c++) correct += part.Confusion[c, c];
        double flipCorrect = flip && n > 0 ? Math.Round(part.FlipAccuracy * n / 100) : 0;
        double[] sums = [n == 0 ? 0 : part.Loss * n, correct, flipCorrect, n];
        _world!.SumInPlace(sums);
        if (sums[3] == 0) return (double.NaN, double.NaN, double.NaN);
        return (sums[0] / sums[3], 100 * sums[1] / sums[3], flip ? 100 * sums[2] / sums[3] : double.NaN);
    }
}
