using System.CommandLine;
using AssocConv.Csg;
using AssocConv.Models;

namespace AssocConv.Cli;

/// <summary>The model-choosing options of a verb: --model, --plain, --slice, --code-size, --layout.</summary>
internal sealed class ModelArguments
{
    private readonly Option<string> _model = new("--model")
    {
        Description = "Model name (see 'assocconv models')",
        Required = true,
    };

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

    public void AddTo(Command command)
    {
        command.Options.Add(_model);
        command.Options.Add(_plain);
        command.Options.Add(_slice);
        command.Options.Add(_codeSize);
        command.Options.Add(_layout);
    }

    /// <summary>The chosen architecture and the options to build it with; a bad value is a <see cref="UsageException"/>.</summary>
    public (ModelEntry Entry, ModelOptions Options) Read(ParseResult result)
    {
        ModelEntry entry;
        try { entry = ModelZoo.Get(result.GetValue(_model)!); }
        catch (ArgumentException e) { throw new UsageException(e.Message); }

        bool plain = result.GetValue(_plain);
        string? slice = result.GetValue(_slice);
        int? codeSize = result.GetValue(_codeSize);
        SliceLayout? layout = result.GetValue(_layout);
        if (plain && (slice is not null || codeSize is not null || layout is not null))
            throw new UsageException("--plain has no generator: leave out --slice, --code-size and --layout");
        if (plain) return (entry, new ModelOptions { Plain = true });

        var generator = entry.DefaultGenerator;
        if (slice is not null)
        {
            try { generator = generator with { Slice = SliceShape.Parse(slice) }; }
            catch (FormatException e) { throw new UsageException($"--slice: {e.Message}"); }
        }
        if (codeSize is not null) generator = generator with { CodeSize = codeSize.Value };
        if (layout is not null) generator = generator with { Layout = layout.Value };
        try { generator.Validate(); }
        catch (ArgumentException e) { throw new UsageException(e.Message); }
        return (entry, new ModelOptions { Generator = generator });
    }
}
