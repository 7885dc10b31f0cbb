using System.CommandLine;
using AssocConv.Csg;
using AssocConv.Models;

namespace AssocConv.Cli;

/// <summary>
/// The model-choosing options of a verb: --model, --plain, --slice, --code-size, --layout,
/// --generator-init, --frozen-generator, --associative, --classes, --no-batch-norm.
/// </summary>
internal sealed class ModelArguments
{
    private readonly Option<string?> _model = new("--model")
    {
        Description = "Model name (see 'assocconv models')",
    };

    /// <param name="required">Whether --model must be given (not when a checkpoint describes the model).</param>
    public ModelArguments(bool required = true) => _model.Required = required;

    /// <summary>Whether --model was given.</summary>
    public bool Given(ParseResult result) => result.GetValue(_model) is not null;

    private readonly Option<bool> _plain = new("--plain")
    {
        Description = "The plain counterpart: every convolution ordinary, no generator",
    };

    private readonly Option<string?> _slice = new("--slice")
    {
        Description = "Slice shape OUTxIN (3x3 kernels) or OUTxINxKHxKW, e.g. 12x12 or 16x16x1x1",
    };

    private readonly Option<int?> _codeSize = new("--code-size")
    {
        Description = "Code vector length (the generator's input size)",
    };

    private readonly Option<SliceLayout?> _layout = new("--layout")
    {
        Description = "How slices fill a kernel: Reference (the authors' rule) or Blocked",
    };

    /// <summary>The --generator-init option, for verbs that offer a shorthand for it.</summary>
    public Option<string?> InitOption => _init;

    private readonly Option<string?> _init = new("--generator-init")
    {
        Description = "Generator initialisation: kaiming, linear (PyTorch's nn.Linear default) or binary (+-0.5, " +
            "frozen); default: the model's",
    };

    private readonly Option<string?> _codeInit = new("--code-init")
    {
        Description = "Code initialisation: reference (normal(0.001, 1), the CIFAR ResNet's), normal (standard " +
            "normal) or fan-in " +
            "(kernels at He's fan-in scale); default: the recipe's (fast: fan-in), else the model's",
    };

    private readonly Option<bool> _frozen = new("--frozen-generator")
    {
        Description = "Freeze the generator (only codes, batch-norm, classifier and ordinary convolutions train)",
    };

    private readonly Option<string?> _selection = new("--associative")
    {
        Description = "Which convolutions are associative: reference (the authors' choice, default), all-3x3 or all " +
            "(never the first)",
    };

    private readonly Option<int?> _classes = new("--classes")
    {
        Description = "Number of classes; default: the model's (10 for CIFAR models, 1000 for ImageNet ones)",
    };

    private readonly Option<bool> _noBatchNorm = new("--no-batch-norm")
    {
        Description = $"Leave out batch-norm ({SmallCnn.Name} only): data-parallel training then computes exactly " +
            "the single-process gradients",
    };

    public void AddTo(Command command)
    {
        command.Options.Add(_model);
        command.Options.Add(_plain);
        command.Options.Add(_slice);
        command.Options.Add(_codeSize);
        command.Options.Add(_layout);
        command.Options.Add(_init);
        command.Options.Add(_codeInit);
        command.Options.Add(_frozen);
        command.Options.Add(_selection);
        command.Options.Add(_classes);
        command.Options.Add(_noBatchNorm);
    }

    /// <summary>The chosen architecture and the options to build it with; a bad value is a <see
    /// cref="UsageException"/>.</summary>
    /// <param name="result">The parsed command line.</param>
    /// <param name="recipeCodeInit">The code initialisation the training recipe asks for when --code-init is not
    /// given.</param>
    public (ModelEntry Entry, ModelOptions Options) Read(ParseResult result, CodeInit? recipeCodeInit = null)
    {
        ModelEntry entry;
        var name = result.GetValue(_model) ?? throw new UsageException("--model is required");
        try { entry = ModelZoo.Get(name); }
        catch (ArgumentException e) { throw new UsageException(e.Message); }

        bool plain = result.GetValue(_plain);
        string? slice = result.GetValue(_slice);
        int? codeSize = result.GetValue(_codeSize);
        SliceLayout? layout = result.GetValue(_layout);
        string? init = result.GetValue(_init);
        string? codeInit = result.GetValue(_codeInit);
        bool frozen = result.GetValue(_frozen);
        string? selection = result.GetValue(_selection);
        int? classes = result.GetValue(_classes);
        if (classes is < 1) throw new UsageException($"--classes must be at least 1, got {classes}");
        bool batchNorm = !result.GetValue(_noBatchNorm);
        if (!batchNorm && entry.Name != SmallCnn.Name)
            throw new UsageException($"--no-batch-norm: only {SmallCnn.Name} can be built without batch-norm");
        if (plain
            && (slice is not null || codeSize is not null || layout is not null || init is not null
            || codeInit is not null || frozen || selection is not null))
            throw new UsageException(
                "--plain has no generator: leave out --slice, --code-size, --layout, --generator-init, --code-init, " +
                    "--frozen-generator and --associative");
        if (plain) return (entry, new ModelOptions { Plain = true, NumClasses = classes, BatchNorm = batchNorm });

        var generator = entry.DefaultGenerator;
        if (slice is not null)
        {
            try { generator = generator with { Slice = SliceShape.Parse(slice) }; }
            catch (FormatException e) { throw new UsageException($"--slice: {e.Message}"); }
        }
        if (codeSize is not null) generator = generator with { CodeSize = codeSize.Value };
        if (layout is not null) generator = generator with { Layout = layout.Value };
        if (init is not null) generator = generator with { Init = ParseInit(init) };
        if (codeInit is not null) generator = generator with { CodeInit = ParseCodeInit(codeInit) };
        else if (recipeCodeInit is not null) generator = generator with { CodeInit = recipeCodeInit.Value };
        if (frozen) generator = generator with { Frozen = true };
        var chosen = AssociativeSelection.Reference;
        if (selection is not null)
        {
            try { chosen = AssociativeSelectionNames.Parse(selection); }
            catch (FormatException e) { throw new UsageException($"--associative: {e.Message}"); }
        }
        try { generator.Validate(); }
        catch (ArgumentException e) { throw new UsageException(e.Message); }
        return (entry, new ModelOptions
        {
            Generator = generator, Selection = chosen, NumClasses = classes, BatchNorm = batchNorm,
        });
    }

    private static CodeInit ParseCodeInit(string text) => text.Trim().ToLowerInvariant() switch
    {
        "reference" => CodeInit.ReferenceResNet,
        "normal" => CodeInit.StandardNormal,
        "fan-in" or "fanin" => CodeInit.FanIn,
        _ => throw new UsageException($"--code-init: '{text}' is not reference, normal or fan-in"),
    };

    private static GeneratorInit ParseInit(string text) => text.Trim().ToLowerInvariant() switch
    {
        "kaiming" => GeneratorInit.KaimingNormal,
        "linear" => GeneratorInit.LinearDefault,
        "binary" => GeneratorInit.Binary,
        _ => throw new UsageException($"--generator-init: '{text}' is not kaiming, linear or binary"),
    };
}
