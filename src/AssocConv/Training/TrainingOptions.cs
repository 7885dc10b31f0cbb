using System.Text.Json.Nodes;
using AssocConv.Data;
using AssocConv.Models;
using AssocConv.Tensors;

namespace AssocConv.Training;

/// <summary>How the learning rate changes over the epochs.</summary>
public enum LearningRateScheduleKind
{
    /// <summary>The reference recipe: lr, lr/10, lr/100 over 100/50/50 of every 200 epochs (a half, a quarter, a
    /// quarter).</summary>
    Reference,
    /// <summary>Divide by 10 at each of <see cref="TrainingOptions.Milestones"/> (epochs).</summary>
    MultiStep,
    /// <summary>After the warm-up, half a cosine from lr to 0, updated every step.</summary>
    Cosine,
    /// <summary>After the warm-up, a straight line from lr to 0, updated every step (with a warm-up: the one-cycle
    /// triangle).</summary>
    Linear,
}

/// <summary>The training recipe; defaults are the reference's (SGD, momentum 0.9, weight decay 5e-4, lr 0.05, batch
/// 128).</summary>
public sealed record TrainingOptions
{
    /// <summary>Epochs to train.</summary>
    public int Epochs { get; init; } = 200;

    /// <summary>Images per batch.</summary>
    public int BatchSize { get; init; } = 128;

    /// <summary>Initial (peak) learning rate.</summary>
    public double LearningRate { get; init; } = 0.05;

    /// <summary>SGD momentum.</summary>
    public double Momentum { get; init; } = 0.9;

    /// <summary>Nesterov momentum (PyTorch's <c>SGD(nesterov=True)</c>).</summary>
    public bool Nesterov { get; init; }

    /// <summary>L2 weight decay.</summary>
    public double WeightDecay { get; init; } = 5e-4;

    /// <summary>Weight decay of batch-norm weights and biases; null: <see cref="WeightDecay"/> (torchvision's
    /// <c>--norm-weight-decay</c>).</summary>
    public double? NormWeightDecay { get; init; }

    /// <summary>Weight decay of the other biases (classifier, convolutions); null: <see cref="WeightDecay"/>
    /// (torchvision's <c>--bias-weight-decay</c>).</summary>
    public double? BiasWeightDecay { get; init; }

    /// <summary>Peak learning rate of the generator's weight; null: <see cref="LearningRate"/>. Follows the same
    /// schedule.</summary>
    public double? GeneratorLearningRate { get; init; }

    /// <summary>Weight decay of the generator's weight; null: <see cref="WeightDecay"/>.</summary>
    public double? GeneratorWeightDecay { get; init; }

    /// <summary>Peak learning rate of the associative layers' codes; null: <see cref="LearningRate"/>. Follows the same
    /// schedule.</summary>
    public double? CodeLearningRate { get; init; }

    /// <summary>Weight decay of the codes; null: <see cref="WeightDecay"/>.</summary>
    public double? CodeWeightDecay { get; init; }

    /// <summary>Learning-rate schedule.</summary>
    public LearningRateScheduleKind Schedule { get; init; } = LearningRateScheduleKind.Reference;

    /// <summary>Epochs at which <see cref="LearningRateScheduleKind.MultiStep"/> divides the rate by 10.</summary>
    public IReadOnlyList<int> Milestones { get; init; } = [];

    /// <summary>
    /// Epochs (fractions allowed) over which the rate rises linearly from 0 to <see cref="LearningRate"/>, step by
    /// step,
    /// before the schedule starts; 0: none.
    /// </summary>
    public double WarmupEpochs { get; init; }

    /// <summary>Label smoothing of the cross-entropy (PyTorch's <c>CrossEntropyLoss(label_smoothing=...)</c>); 0:
    /// none.</summary>
    public double LabelSmoothing { get; init; }

    /// <summary>
    /// Decay of an exponential moving average of the weights (and batch-norm statistics), updated after every step;
    /// null: none. Evaluation and the checkpoints' model use the average when set.
    /// </summary>
    public double? EmaDecay { get; init; }

    /// <summary>Also measure test accuracy with horizontal-flip test-time augmentation (mean of both views'
    /// logits).</summary>
    public bool FlipTest { get; init; }

    /// <summary>Training images held out to choose the best checkpoint (0: none; the best is then the last).</summary>
    public int ValidationSplit { get; init; } = 5000;

    /// <summary>Random crop (4-pixel padding) and horizontal flip of training batches.</summary>
    public bool Augment { get; init; } = true;

    /// <summary>With <see cref="Augment"/>, the side of a square of each training image set to the mean around a
    /// random centre (DeVries and Taylor's cutout, 16 for CIFAR-10 in their paper); 0: none.</summary>
    public int Cutout { get; init; }

    /// <summary>Seed of the model's initialisation, the validation split, the order of images and the
    /// augmentation.</summary>
    public long Seed { get; init; } = 1;

    /// <summary>
    /// How batches are laid out in memory. Channels-last (the default) lets libtorch's oneDNN convolutions
    /// run without reordering; the numbers are the same up to float rounding.
    /// </summary>
    public MemoryFormat MemoryFormat { get; init; } = MemoryFormat.ChannelsLast;

    /// <summary>
    /// The type convolutions compute in (<see cref="MixedPrecision"/>); weights, gradients and the optimiser stay
    /// float32 either way.
    /// </summary>
    public ComputePrecision Precision { get; init; } = ComputePrecision.Float32;

    /// <summary>Use only the first N training images (after the validation split is taken), for quick runs; null:
    /// all.</summary>
    public int? TrainLimit { get; init; }

    /// <summary>Record kernel scales, gradient norms and relative steps every N optimiser steps in
    /// <c>diagnostics.csv</c>; 0: off.</summary>
    public int DiagnosticsEvery { get; init; }

    /// <summary>Under mpirun, compare every rank's parameters with rank 0's, bit for bit, after every step, and stop
    /// the run naming the step and the ranks that differ (one broadcast of the parameters per step).</summary>
    public bool CheckReplicas { get; init; }

    /// <summary>The recipe these options started from (<see cref="TrainingRecipes"/>), for the record.</summary>
    public string Recipe { get; init; } = TrainingRecipes.ReferenceName;

    /// <summary>Whether any parameter group has its own learning rate or weight decay.</summary>
    public bool HasGroupSettings => NormWeightDecay is not null || BiasWeightDecay is not null
        || GeneratorLearningRate is not null || GeneratorWeightDecay is not null
        || CodeLearningRate is not null || CodeWeightDecay is not null;

    /// <summary>Throws <see cref="ArgumentException"/> naming an impossible value.</summary>
    public TrainingOptions Validate()
    {
        static bool Rate(double v) => v > 0 && double.IsFinite(v);
        static bool Decay(double? v) => v is null || (v >= 0 && double.IsFinite(v.Value));
        if (Epochs < 1) throw new ArgumentException($"epochs must be at least 1, got {Epochs}");
        if (BatchSize < 1) throw new ArgumentException($"batch size must be at least 1, got {BatchSize}");
        if (!Rate(LearningRate)) throw new ArgumentException($"learning rate must be positive, got {LearningRate}");
        if (GeneratorLearningRate is { } g && !Rate(g)) throw new ArgumentException($"the generator's learning rate " +
            $"must be positive, got {g}");
        if (CodeLearningRate is { } c && !Rate(c)) throw new ArgumentException($"the codes' learning rate must be " +
            $"positive, got {c}");
        if (Momentum < 0 || Momentum >= 1) throw new ArgumentException($"momentum must be in [0, 1), got {Momentum}");
        if (Nesterov && Momentum == 0) throw new ArgumentException("Nesterov momentum needs a momentum above 0");
        if (!Decay(WeightDecay) || !Decay(NormWeightDecay) || !Decay(BiasWeightDecay) || !Decay(GeneratorWeightDecay)
            || !Decay(CodeWeightDecay))
            throw new ArgumentException("weight decays must be finite and not negative");
        if (!(WarmupEpochs >= 0) || WarmupEpochs >= Epochs)
            throw new ArgumentException($"the warm-up must last 0 or more epochs and fewer than the {Epochs} to " +
                $"train, got {WarmupEpochs}");
        if (!(LabelSmoothing >= 0 && LabelSmoothing < 1)) throw new ArgumentException($"label smoothing must be in " +
            $"[0, 1), got {LabelSmoothing}");
        if (EmaDecay is { } d && !(d > 0 && d < 1)) throw new ArgumentException($"the weight average's decay must be " +
            $"in (0, 1), got {d}");
        if (ValidationSplit < 0) throw new ArgumentException($"validation split must not be negative, got " +
            $"{ValidationSplit}");
        if (Cutout < 0 || Cutout > 1024) throw new ArgumentException($"cutout must be 0 to 1024 pixels, got {Cutout}");
        if (Cutout > 0 && !Augment) throw new ArgumentException("cutout is part of the augmentation: leave out " +
            "--no-augment or the cutout");
        if (TrainLimit is < 1) throw new ArgumentException($"the training limit must be at least 1, got {TrainLimit}");
        if (Milestones.Any(m => m < 1)) throw new ArgumentException("milestones are epochs, at least 1");
        if (DiagnosticsEvery < 0) throw new ArgumentException($"diagnostics interval must not be negative, got " +
            $"{DiagnosticsEvery}");
        return this;
    }

    /// <summary>As JSON.</summary>
    public JsonObject ToJson() => new()
    {
        ["recipe"] = Recipe,
        ["epochs"] = Epochs,
        ["batch_size"] = BatchSize,
        ["lr"] = LearningRate,
        ["momentum"] = Momentum,
        ["nesterov"] = Nesterov,
        ["weight_decay"] = WeightDecay,
        ["norm_weight_decay"] = NormWeightDecay,
        ["bias_weight_decay"] = BiasWeightDecay,
        ["generator_lr"] = GeneratorLearningRate,
        ["generator_weight_decay"] = GeneratorWeightDecay,
        ["code_lr"] = CodeLearningRate,
        ["code_weight_decay"] = CodeWeightDecay,
        ["schedule"] = Schedule.ToString(),
        ["milestones"] = new JsonArray(Milestones.Select(m => (JsonNode)m).ToArray()),
        ["warmup_epochs"] = WarmupEpochs,
        ["label_smoothing"] = LabelSmoothing,
        ["ema_decay"] = EmaDecay,
        ["flip_test"] = FlipTest,
        ["val_split"] = ValidationSplit,
        ["augment"] = Augment,
        ["cutout"] = Cutout,
        ["seed"] = Seed,
        ["train_limit"] = TrainLimit,
        ["memory_format"] = MemoryFormat.Name(),
        ["precision"] = Precision.Name(),
        ["diagnostics_every"] = DiagnosticsEvery,
        ["check_replicas"] = CheckReplicas,
    };

    /// <summary>From <see cref="ToJson"/>'s output; fields that older runs lack take the reference's values.</summary>
    public static TrainingOptions FromJson(JsonNode json) => new()
    {
        Recipe = (string?)json["recipe"] ?? TrainingRecipes.ReferenceName,
        Epochs = (int)json["epochs"]!,
        BatchSize = (int)json["batch_size"]!,
        LearningRate = (double)json["lr"]!,
        Momentum = (double)json["momentum"]!,
        Nesterov = (bool?)json["nesterov"] ?? false,
        WeightDecay = (double)json["weight_decay"]!,
        NormWeightDecay = (double?)json["norm_weight_decay"],
        BiasWeightDecay = (double?)json["bias_weight_decay"],
        GeneratorLearningRate = (double?)json["generator_lr"],
        GeneratorWeightDecay = (double?)json["generator_weight_decay"],
        CodeLearningRate = (double?)json["code_lr"],
        CodeWeightDecay = (double?)json["code_weight_decay"],
        Schedule = Enum.Parse<LearningRateScheduleKind>((string)json["schedule"]!),
        Milestones = json["milestones"]!.AsArray().Select(m => (int)m!).ToArray(),
        WarmupEpochs = (double?)json["warmup_epochs"] ?? 0,
        LabelSmoothing = (double?)json["label_smoothing"] ?? 0,
        EmaDecay = (double?)json["ema_decay"],
        FlipTest = (bool?)json["flip_test"] ?? false,
        ValidationSplit = (int)json["val_split"]!,
        Augment = (bool)json["augment"]!,
        Cutout = (int?)json["cutout"] ?? 0,
        Seed = (long)json["seed"]!,
        TrainLimit = (int?)json["train_limit"],
        // runs saved before the option existed were trained contiguous
        MemoryFormat = json["memory_format"] is { } format ? MemoryFormats.Parse((string)format!)
            : MemoryFormat.Contiguous,
        DiagnosticsEvery = (int?)json["diagnostics_every"] ?? 0,
        CheckReplicas = (bool?)json["check_replicas"] ?? false,
        Precision = json["precision"] is { } precision ? MixedPrecision.Parse((string)precision!)
            : ComputePrecision.Float32,
    };

    /// <summary>The learning rate during epoch <paramref name="epoch"/> (0-based), at its first step.</summary>
    public double LearningRateAt(int epoch) => LearningRateAt(epoch, 0, 1);

    /// <summary>
    /// The peak-rate multiple during step <paramref name="batch"/> (0-based) of epoch <paramref name="epoch"/>
    /// (0-based),
    /// an epoch having <paramref name="batchesPerEpoch"/> steps: with t = epoch + batch / batchesPerEpoch and W the
    /// warm-up, (step + 1) / warm-up steps while t &lt; W; then reference and multistep change at epoch boundaries,
    /// cosine is (1 + cos(pi (t - W) / (E - W))) / 2 and linear is (E - t) / (E - W).
    /// </summary>
    public double LearningRateFactor(int epoch, long batch, long batchesPerEpoch)
    {
        double t = epoch + (double)batch / batchesPerEpoch;
        double warmupSteps = WarmupEpochs * batchesPerEpoch;
        long step = epoch * batchesPerEpoch + batch;
        if (step < warmupSteps) return (step + 1) / warmupSteps;
        double span = Epochs - WarmupEpochs;
        return Schedule switch
        {
            LearningRateScheduleKind.Reference => epoch < Epochs / 2.0 ? 1 : epoch < Epochs * 0.75 ? 0.1 : 0.01,
            LearningRateScheduleKind.MultiStep => Math.Pow(0.1,
                (Milestones.Count > 0 ? Milestones : [Epochs / 2, Epochs * 3 / 4]).Count(m => epoch >= m)),
            LearningRateScheduleKind.Cosine => 0.5 * (1 + Math.Cos(Math.PI * (t - WarmupEpochs) / span)),
            LearningRateScheduleKind.Linear => (Epochs - t) / span,
            _ => throw new ArgumentOutOfRangeException(nameof(Schedule)),
        };
    }

    /// <summary>The learning rate of the step <paramref name="batch"/> of <paramref name="epoch"/> (see <see
    /// cref="LearningRateFactor"/>).</summary>
    public double LearningRateAt(int epoch, long batch, long batchesPerEpoch) =>
        LearningRate * LearningRateFactor(epoch, batch, batchesPerEpoch);
}
