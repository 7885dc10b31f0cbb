using System.Text.Json.Nodes;
using AssocConv.Data;

namespace AssocConv.Training;

/// <summary>How the learning rate changes over the epochs.</summary>
public enum LearningRateScheduleKind
{
    /// <summary>The reference recipe: lr, lr/10, lr/100 over 100/50/50 of every 200 epochs (a half, a quarter, a quarter).</summary>
    Reference,
    /// <summary>Divide by 10 at each of <see cref="TrainingOptions.Milestones"/> (epochs).</summary>
    MultiStep,
    /// <summary>Half a cosine from lr to 0.</summary>
    Cosine,
}

/// <summary>The training recipe; defaults are the reference's (SGD, momentum 0.9, weight decay 5e-4, lr 0.05, batch 128).</summary>
public sealed record TrainingOptions
{
    /// <summary>Epochs to train.</summary>
    public int Epochs { get; init; } = 200;

    /// <summary>Images per batch.</summary>
    public int BatchSize { get; init; } = 128;

    /// <summary>Initial learning rate.</summary>
    public double LearningRate { get; init; } = 0.05;

    /// <summary>SGD momentum.</summary>
    public double Momentum { get; init; } = 0.9;

    /// <summary>L2 weight decay.</summary>
    public double WeightDecay { get; init; } = 5e-4;

    /// <summary>Learning-rate schedule.</summary>
    public LearningRateScheduleKind Schedule { get; init; } = LearningRateScheduleKind.Reference;

    /// <summary>Epochs at which <see cref="LearningRateScheduleKind.MultiStep"/> divides the rate by 10.</summary>
    public IReadOnlyList<int> Milestones { get; init; } = [];

    /// <summary>Training images held out to choose the best checkpoint (0: none; the best is then the last).</summary>
    public int ValidationSplit { get; init; } = 5000;

    /// <summary>Random crop (4-pixel padding) and horizontal flip of training batches.</summary>
    public bool Augment { get; init; } = true;

    /// <summary>Seed of the model's initialisation, the validation split, the order of images and the augmentation.</summary>
    public long Seed { get; init; } = 1;

    /// <summary>
    /// How batches are laid out in memory. Channels-last (the default) lets libtorch's oneDNN convolutions
    /// run without reordering; the numbers are the same up to float rounding.
    /// </summary>
    public MemoryFormat MemoryFormat { get; init; } = MemoryFormat.ChannelsLast;

    /// <summary>Use only the first N training images (after the validation split is taken), for quick runs; null: all.</summary>
    public int? TrainLimit { get; init; }

    /// <summary>Throws <see cref="ArgumentException"/> naming an impossible value.</summary>
    public TrainingOptions Validate()
    {
        if (Epochs < 1) throw new ArgumentException($"epochs must be at least 1, got {Epochs}");
        if (BatchSize < 1) throw new ArgumentException($"batch size must be at least 1, got {BatchSize}");
        if (!(LearningRate > 0) || double.IsInfinity(LearningRate)) throw new ArgumentException($"learning rate must be positive, got {LearningRate}");
        if (Momentum < 0 || Momentum >= 1) throw new ArgumentException($"momentum must be in [0, 1), got {Momentum}");
        if (WeightDecay < 0) throw new ArgumentException($"weight decay must not be negative, got {WeightDecay}");
        if (ValidationSplit < 0) throw new ArgumentException($"validation split must not be negative, got {ValidationSplit}");
        if (TrainLimit is < 1) throw new ArgumentException($"the training limit must be at least 1, got {TrainLimit}");
        if (Milestones.Any(m => m < 1)) throw new ArgumentException("milestones are epochs, at least 1");
        return this;
    }

    /// <summary>As JSON.</summary>
    public JsonObject ToJson() => new()
    {
        ["epochs"] = Epochs,
        ["batch_size"] = BatchSize,
        ["lr"] = LearningRate,
        ["momentum"] = Momentum,
        ["weight_decay"] = WeightDecay,
        ["schedule"] = Schedule.ToString(),
        ["milestones"] = new JsonArray(Milestones.Select(m => (JsonNode)m).ToArray()),
        ["val_split"] = ValidationSplit,
        ["augment"] = Augment,
        ["seed"] = Seed,
        ["train_limit"] = TrainLimit,
        ["memory_format"] = MemoryFormat.Name(),
    };

    /// <summary>From <see cref="ToJson"/>'s output.</summary>
    public static TrainingOptions FromJson(JsonNode json) => new()
    {
        Epochs = (int)json["epochs"]!,
        BatchSize = (int)json["batch_size"]!,
        LearningRate = (double)json["lr"]!,
        Momentum = (double)json["momentum"]!,
        WeightDecay = (double)json["weight_decay"]!,
        Schedule = Enum.Parse<LearningRateScheduleKind>((string)json["schedule"]!),
        Milestones = json["milestones"]!.AsArray().Select(m => (int)m!).ToArray(),
        ValidationSplit = (int)json["val_split"]!,
        Augment = (bool)json["augment"]!,
        Seed = (long)json["seed"]!,
        TrainLimit = (int?)json["train_limit"],
        // runs saved before the option existed were trained contiguous
        MemoryFormat = json["memory_format"] is { } format ? MemoryFormats.Parse((string)format!) : MemoryFormat.Contiguous,
    };

    /// <summary>The learning rate during epoch <paramref name="epoch"/> (0-based).</summary>
    public double LearningRateAt(int epoch) => Schedule switch
    {
        LearningRateScheduleKind.Reference =>
            LearningRate * (epoch < Epochs / 2.0 ? 1 : epoch < Epochs * 0.75 ? 0.1 : 0.01),
        LearningRateScheduleKind.MultiStep => LearningRate * Math.Pow(0.1,
            (Milestones.Count > 0 ? Milestones : [Epochs / 2, Epochs * 3 / 4]).Count(m => epoch >= m)),
        LearningRateScheduleKind.Cosine => LearningRate * 0.5 * (1 + Math.Cos(Math.PI * epoch / Epochs)),
        _ => throw new ArgumentOutOfRangeException(nameof(Schedule)),
    };
}
