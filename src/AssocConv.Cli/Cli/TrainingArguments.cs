using System.CommandLine;
using System.Globalization;
using AssocConv.Training;

namespace AssocConv.Cli;

/// <summary>The recipe options of train and compare; defaults are the reference's.</summary>
internal sealed class TrainingArguments
{
    private readonly Option<int> _epochs = new("--epochs") { Description = "Epochs to train", DefaultValueFactory = _ => 200 };
    private readonly Option<int> _batch = new("--batch-size") { Description = "Images per batch", DefaultValueFactory = _ => 128 };
    private readonly Option<double> _lr = new("--lr") { Description = "Initial learning rate (SGD)", DefaultValueFactory = _ => 0.05 };
    private readonly Option<double> _momentum = new("--momentum") { Description = "SGD momentum", DefaultValueFactory = _ => 0.9 };
    private readonly Option<double> _decay = new("--weight-decay") { Description = "L2 weight decay", DefaultValueFactory = _ => 5e-4 };
    private readonly Option<string> _schedule = new("--schedule")
    {
        Description = "reference (lr, lr/10, lr/100 over 1/2, 1/4, 1/4 of the epochs), multistep (/10 at --milestones) or cosine",
        DefaultValueFactory = _ => "reference",
    };
    private readonly Option<string?> _milestones = new("--milestones") { Description = "Epochs where multistep divides the rate by 10, e.g. 100,150" };
    private readonly Option<int> _val = new("--val-split")
    {
        Description = "Training images held out to choose the best checkpoint (0: none, the best is the last)",
        DefaultValueFactory = _ => 5000,
    };
    private readonly Option<bool> _noAugment = new("--no-augment") { Description = "No random crop and flip" };
    private readonly Option<long> _seed = new("--seed") { Description = "Seed of initialisation, split, order and augmentation", DefaultValueFactory = _ => 1 };
    private readonly Option<int?> _limit = new("--train-limit") { Description = "Train on the first N training images only (quick runs)" };
    private readonly Option<string> _format = CommonOptions.MemoryFormat();

    public void AddTo(Command command)
    {
        foreach (var o in new Option[] { _epochs, _batch, _lr, _momentum, _decay, _schedule, _milestones, _val, _noAugment, _seed, _limit, _format })
            command.Options.Add(o);
    }

    public TrainingOptions Read(ParseResult result)
    {
        var schedule = result.GetValue(_schedule)!.Trim().ToLowerInvariant() switch
        {
            "reference" => LearningRateScheduleKind.Reference,
            "multistep" => LearningRateScheduleKind.MultiStep,
            "cosine" => LearningRateScheduleKind.Cosine,
            var s => throw new UsageException($"--schedule: '{s}' is not reference, multistep or cosine"),
        };
        int[] milestones = [];
        if (result.GetValue(_milestones) is { } text)
        {
            try { milestones = text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(m => int.Parse(m, CultureInfo.InvariantCulture)).ToArray(); }
            catch (FormatException) { throw new UsageException($"--milestones: '{text}' is not a list of epochs like 100,150"); }
        }
        var options = new TrainingOptions
        {
            Epochs = result.GetValue(_epochs),
            BatchSize = result.GetValue(_batch),
            LearningRate = result.GetValue(_lr),
            Momentum = result.GetValue(_momentum),
            WeightDecay = result.GetValue(_decay),
            Schedule = schedule,
            Milestones = milestones,
            ValidationSplit = result.GetValue(_val),
            Augment = !result.GetValue(_noAugment),
            Seed = result.GetValue(_seed),
            TrainLimit = result.GetValue(_limit),
            MemoryFormat = CommonOptions.ReadMemoryFormat(result, _format),
        };
        try { return options.Validate(); }
        catch (ArgumentException e) { throw new UsageException(e.Message); }
    }
}
