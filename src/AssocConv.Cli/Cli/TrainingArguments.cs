using System.CommandLine;
using System.Globalization;
using AssocConv.Tensors;
using AssocConv.Training;

namespace AssocConv.Cli;

/// <summary>
/// The recipe options of train, compare, demo and reproduce: --recipe picks the starting point (reference or fast),
/// and every other option given overrides that recipe's value. Names follow PyTorch's and torchvision's reference
/// scripts.
/// </summary>
internal sealed class TrainingArguments
{
    private readonly Option<string?> _recipe;
    private readonly int? _defaultEpochs;
    private readonly Option<int?> _epochs = new("--epochs") { Description = "Epochs to train " +
        "(reference: 200, fast: 40)" };
    private readonly Option<int?> _batch = new("--batch-size") { Description = "Images per batch (128)" };
    private readonly Option<double?> _lr = new("--lr") { Description = "Peak learning rate of SGD (reference: " +
        "0.05, fast: 0.1)" };
    private readonly Option<double?> _momentum = new("--momentum") { Description = "SGD momentum (0.9)" };
    private readonly Option<bool?> _nesterov = new("--nesterov") { Description = "Nesterov momentum (reference: " +
        "false, fast: true)" };
    private readonly Option<double?> _decay = new("--weight-decay") { Description = "L2 weight decay (5e-4)" };
    private readonly Option<double?> _normDecay = new("--norm-weight-decay") { Description = "Weight decay of " +
        "batch-norm weights and biases (reference: as --weight-decay, fast: 0)" };
    private readonly Option<double?> _biasDecay = new("--bias-weight-decay") { Description = "Weight decay of the " +
        "other biases (as --weight-decay)" };
    private readonly Option<double?> _generatorLr = new("--generator-lr") { Description = "Peak learning rate of the " +
        "generator (as --lr); follows the schedule" };
    private readonly Option<double?> _generatorDecay = new("--generator-weight-decay") { Description = "Weight decay " +
        "of the generator (as --weight-decay)" };
    private readonly Option<double?> _codeLr = new("--code-lr") { Description = "Peak learning rate of the codes (as " +
        "--lr); follows the schedule" };
    private readonly Option<double?> _codeDecay = new("--code-weight-decay") { Description = "Weight decay of the " +
        "codes (as --weight-decay)" };
    private readonly Option<string?> _schedule = new("--schedule")
    {
        Description = "reference (lr, lr/10, lr/100 over 1/2, 1/4, 1/4 of the epochs), multistep (/10 at " +
            "--milestones), " +
            "cosine or linear (to 0, every step; fast: linear)",
    };
    private readonly Option<string?> _milestones = new("--milestones") { Description = "Epochs where multistep " +
        "divides the rate by 10, e.g. 100,150" };
    private readonly Option<double?> _warmup = new("--lr-warmup-epochs") { Description = "Linear warm-up from 0 over " +
        "this many epochs, every step (reference: 0, fast: 2)" };
    private readonly Option<double?> _smoothing = new("--label-smoothing") { Description = "Label smoothing of the " +
        "cross-entropy (reference: 0, fast: 0.1)" };
    private readonly Option<double?> _ema = new("--model-ema-decay") { Description = "Keep an exponential moving " +
        "average of the weights with this decay (e.g. 0.999); evaluate and save it" };
    private readonly Option<bool?> _flip = new("--flip-test") { Description = "Also report test accuracy with flip " +
        "test-time augmentation (reference: false, fast: true)" };
    private readonly Option<int?> _val = new("--val-split") { Description = "Training images held out to choose the " +
        "best checkpoint (reference: 5000, fast: 0; 0: the best is the last)" };
    private readonly Option<bool> _noAugment = new("--no-augment") { Description = "No random crop and flip" };
    private readonly Option<int?> _cutout = new("--cutout") { Description = "Side of a square of each training " +
        "image set to the mean around a random centre (cutout; 16 in its paper for CIFAR-10); default 0: none" };
    private readonly Option<long> _seed = new("--seed") { Description = "Seed of initialisation, split, order " +
        "and augmentation", DefaultValueFactory = _ => 1 };
    private readonly Option<int?> _limit = new("--train-limit") { Description = "Train on the first N training " +
        "images only (quick runs)" };
    private readonly Option<int> _diagnostics = new("--diagnostics-every")
    {
        Description = "Write kernel scales, gradient norms and relative steps per parameter group and layer every N " +
            "steps to diagnostics.csv",
    };
    private readonly Option<bool> _checkReplicas = new("--check-replicas")
    {
        Description = "Under mpirun: compare every rank's parameters with rank 0's, bit for bit, after every step " +
            "(one broadcast of the parameters per step)",
    };
    private readonly Option<string> _format = CommonOptions.MemoryFormat();
    private readonly Option<string?> _precision = new("--precision")
    {
        Description = "Type convolutions compute in: float32 (default) or bf16 (bfloat16 inputs and kernels; " +
            "weights, batch-norm " +
            "and optimiser stay float32)",
    };

    /// <param name="defaultRecipe">The recipe when --recipe is not given.</param>
    /// <param name="defaultEpochs">Epochs when --epochs is not given; null: the recipe's.</param>
    public TrainingArguments(string defaultRecipe = TrainingRecipes.ReferenceName, int? defaultEpochs = null)
    {
        _defaultEpochs = defaultEpochs;
        _recipe = new Option<string?>("--recipe")
        {
            Description = $"Starting point of the options below: reference (the authors': 200 epochs, step " +
                "schedule) or fast " +
                $"(40 epochs, one cycle, Nesterov, label smoothing, fan-in codes; see README); default {defaultRecipe}",
        };
        DefaultRecipe = defaultRecipe;
    }

    /// <summary>The recipe when --recipe is not given.</summary>
    public string DefaultRecipe { get; }

    /// <summary>The --seed option, for verbs that also take several seeds.</summary>
    public Option<long> SeedOption => _seed;

    public void AddTo(Command command)
    {
        foreach (var o in RunShaping.Append(_diagnostics).Append(_checkReplicas).Append(_format))
            command.Options.Add(o);
    }

    /// <summary>The training options given on the command line (none of them: empty).</summary>
    public IReadOnlyList<string> GivenNames(ParseResult result) =>
        [.. RunShaping.Where(o => result.GetResult(o) is { Implicit: false }).Select(o => o.Name)];

    // the options that decide what a run computes (a resumed run keeps them); diagnostics, the replicas' check and
    // memory format do not
    private Option[] RunShaping =>
    [
        _recipe, _epochs, _batch, _lr, _momentum, _nesterov, _decay, _normDecay, _biasDecay, _generatorLr,
        _generatorDecay, _codeLr, _codeDecay, _schedule, _milestones, _warmup, _smoothing, _ema, _flip, _val,
        _noAugment, _cutout, _seed, _limit, _precision,
    ];

    /// <summary>The recipe named by --recipe (or the default).</summary>
    public string RecipeName(ParseResult result) =>
        (result.GetValue(_recipe) ?? DefaultRecipe).Trim().ToLowerInvariant();

    public TrainingOptions Read(ParseResult result) => Read(result, epochsWhenNotGiven: null);

    /// <summary>The training options given, with <paramref name="epochsWhenNotGiven"/> epochs unless --epochs says
    /// otherwise (null: the verb's or the recipe's default).</summary>
    public TrainingOptions Read(ParseResult result, int? epochsWhenNotGiven)
    {
        TrainingOptions options;
        try
        {
            options = TrainingRecipes.Get(RecipeName(result),
                result.GetValue(_epochs) ?? epochsWhenNotGiven ?? _defaultEpochs);
        }
        catch (ArgumentException e) { throw new UsageException($"--recipe: {e.Message}"); }
        if (result.GetValue(_schedule) is { } scheduleText)
        {
            options = options with
            {
                Schedule = scheduleText.Trim().ToLowerInvariant() switch
                {
                    "reference" => LearningRateScheduleKind.Reference,
                    "multistep" => LearningRateScheduleKind.MultiStep,
                    "cosine" => LearningRateScheduleKind.Cosine,
                    "linear" => LearningRateScheduleKind.Linear,
                    var s => throw new UsageException($"--schedule: '{s}' is not reference, multistep, " +
                        "cosine or linear"),
                },
            };
        }
        if (result.GetValue(_milestones) is { } text)
        {
            try { options = options with { Milestones = text.Split(',',
                StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(m => int.Parse(m,
                    CultureInfo.InvariantCulture)).ToArray() }; }
            catch (FormatException) { throw new UsageException($"--milestones: '{text}' is not a list of " +
                "epochs like 100,150"); }
        }
        options = options with
        {
            BatchSize = result.GetValue(_batch) ?? options.BatchSize,
            LearningRate = result.GetValue(_lr) ?? options.LearningRate,
            Momentum = result.GetValue(_momentum) ?? options.Momentum,
            Nesterov = result.GetValue(_nesterov) ?? options.Nesterov,
            WeightDecay = result.GetValue(_decay) ?? options.WeightDecay,
            NormWeightDecay = result.GetValue(_normDecay) ?? options.NormWeightDecay,
            BiasWeightDecay = result.GetValue(_biasDecay) ?? options.BiasWeightDecay,
            GeneratorLearningRate = result.GetValue(_generatorLr) ?? options.GeneratorLearningRate,
            GeneratorWeightDecay = result.GetValue(_generatorDecay) ?? options.GeneratorWeightDecay,
            CodeLearningRate = result.GetValue(_codeLr) ?? options.CodeLearningRate,
            CodeWeightDecay = result.GetValue(_codeDecay) ?? options.CodeWeightDecay,
            WarmupEpochs = result.GetValue(_warmup) ?? options.WarmupEpochs,
            LabelSmoothing = result.GetValue(_smoothing) ?? options.LabelSmoothing,
            EmaDecay = result.GetValue(_ema) ?? options.EmaDecay,
            FlipTest = result.GetValue(_flip) ?? options.FlipTest,
            ValidationSplit = result.GetValue(_val) ?? options.ValidationSplit,
            Augment = !result.GetValue(_noAugment),
            Cutout = result.GetValue(_cutout) ?? options.Cutout,
            Seed = result.GetValue(_seed),
            TrainLimit = result.GetValue(_limit),
            DiagnosticsEvery = result.GetValue(_diagnostics),
            CheckReplicas = result.GetValue(_checkReplicas),
            MemoryFormat = CommonOptions.ReadMemoryFormat(result, _format),
        };
        if (result.GetValue(_precision) is { } precision)
        {
            try { options = options with { Precision = AssocConv.Models.MixedPrecision.Parse(precision) }; }
            catch (ArgumentException e) { throw new UsageException($"--precision: {e.Message}"); }
        }
        try { return options.Validate(); }
        catch (ArgumentException e) { throw new UsageException(e.Message); }
    }
}
