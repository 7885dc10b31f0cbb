using System.CommandLine;
using AssocConv.Data;
using Spectre.Console;

namespace AssocConv.Cli;

/// <summary>The --data option: which dataset, read and checked.</summary>
internal sealed class DataArguments
{
    private readonly Option<string?> _data;

    public DataArguments(bool required, string? fallback = null)
    {
        _data = new Option<string?>("--data")
        {
            Description = "cifar10[:DIR], cifar100[:DIR], fashion-mnist[:DIR], mnist[:DIR], folder:DIR or sample " +
                "(a bare name looks in $ASSOCCONV_DATA, ~/.cache/assocconv/datasets, then Debian's dataset folder)",
            Required = required,
        };
        if (fallback is not null) _data.DefaultValueFactory = _ => fallback;
    }

    public void AddTo(Command command) => command.Options.Add(_data);

    /// <summary>The spec given, or null.</summary>
    public DatasetSpec? Spec(ParseResult result)
    {
        var text = result.GetValue(_data);
        if (text is null) return null;
        try { return DatasetSpec.Parse(text); }
        catch (FormatException e) { throw new UsageException($"--data: {e.Message}"); }
    }

    /// <summary>Reads the dataset, saying on the status console what is being read.</summary>
    public static Dataset Load(DatasetSpec spec, Terminal term)
    {
        var data = Dataset.Load(spec);
        term.Error.WriteLine($"data: {spec} from {data.Source}: " +
            $"{data.Train.Count:N0} training and {data.Test.Count:N0} test images, " +
                $"{data.Train.Channels}x{data.Train.Height}x{data.Train.Width}, {data.NumClasses} classes");
        // a file cut at a record boundary still reads: say so when the counts are not the official ones
        if (DatasetVerifier.OfficialCounts(spec.Kind) is { } official
            && (data.Train.Count != official.Train || data.Test.Count != official.Test))
            term.Error.WriteLine($"data: warning: the official {spec.Name} has {official.Train:N0} training and " +
                $"{official.Test:N0} test images; " +
                $"check the files with 'assocconv data verify {spec}'");
        if (data.Test.Count == 0) term.Error.WriteLine("data: warning: the test set is empty; test accuracy will be " +
            "reported as n/a");
        return data;
    }
}
