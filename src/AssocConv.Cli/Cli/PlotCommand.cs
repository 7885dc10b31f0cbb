using System.CommandLine;
using System.Globalization;
using System.Text.Json.Nodes;
using AssocConv.Data;
using AssocConv.Training;
using Spectre.Console;

namespace AssocConv.Cli;

/// <summary>
/// <c>assocconv plot</c>: one column of several runs' <c>metrics.csv</c> against epochs, in one PNG. compare draws its
/// own runs; this draws any: ablation rows, runs trained on other machines or days, metrics files kept elsewhere.
/// </summary>
internal static class PlotCommand
{
    public static Command Create(Func<bool, Terminal> terminal)
    {
        var runs = new Argument<string[]>("RUN")
        {
            Description = "Run folders (of train), folders of runs (of compare, reproduce: each of their runs) or " +
                "metrics files; LABEL=PATH names the line (default: the path)",
            Arity = ArgumentArity.OneOrMore,
        };
        var metric = new Option<string>("--metric")
        {
            Description = "The column of metrics.csv to draw",
            DefaultValueFactory = _ => "test_acc",
        };
        metric.AcceptOnlyFromAmong(EpochMetrics.Columns.Select(c => c.Name).ToArray());
        var title = new Option<string?>("--title")
        {
            Description = "The plot's title, wrapped to fit (default: none; the y axis names the column)",
        };
        var output = new Option<string>("--out") { Description = "The PNG to write", Required = true };
        var json = CommonOptions.Json();
        var command = new Command("plot", "Draw one column of several runs' metrics against epochs in one PNG, " +
            "and print each run's final value");
        command.Arguments.Add(runs);
        command.Options.Add(metric);
        command.Options.Add(title);
        command.Options.Add(output);
        command.Options.Add(json);
        command.SetAction(result =>
        {
            var term = terminal(result.GetValue(json));
            var column = EpochMetrics.Columns.Single(c => c.Name == result.GetValue(metric));
            var curves = result.GetValue(runs)!.SelectMany(Read).ToList();
            if (curves.All(c => !c.History.Any(m => double.IsFinite(column.Value(m)))))
                throw new UsageException($"--metric {column.Name}: no run has a value in this column");
            var path = result.GetValue(output)!;
            Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
            if (RunPlots.WriteComparison(path, result.GetValue(title), column.Description,
                    curves.Select(c => (c.Label, c.History)), column.Value) is { } failure)
                throw new IOException(failure);
            var finals = curves.Select(c => (c.Label, c.Path, Epochs: c.History.Count,
                Final: c.History.Count == 0 ? double.NaN : column.Value(c.History[^1]))).ToList();
            if (result.GetValue(json))
            {
                static JsonNode? Number(double v) => double.IsFinite(v) ? v : null;
                term.Out.WriteLine(new JsonObject
                {
                    ["plot"] = path,
                    ["metric"] = column.Name,
                    ["runs"] = new JsonArray(finals.Select(f => (JsonNode)new JsonObject
                    {
                        ["label"] = f.Label, ["path"] = f.Path, ["epochs"] = f.Epochs, ["final"] = Number(f.Final),
                    }).ToArray()),
                }.ToJsonString(new() { WriteIndented = true }));
            }
            else
            {
                var table = new Table().AddColumn("run").AddColumn(new TableColumn("epochs").RightAligned())
                    .AddColumn(new TableColumn($"{column.Name}, final epoch").RightAligned());
                foreach (var f in finals)
                    table.AddRow(Markup.Escape(DisplayText.Printable(f.Label)), $"{f.Epochs}",
                        double.IsFinite(f.Final) ? f.Final.ToString("G6", CultureInfo.InvariantCulture) : "-");
                term.Results.Write(table);
            }
            term.Error.WriteLine($"wrote {DisplayText.Printable(path)}: {column.Name} of {curves.Count} run(s)");
            return ExitCodes.Success;
        });
        return command;
    }

    /// <summary>The runs of one argument: a run folder or a metrics file, the path alone or as LABEL=PATH (a path that
    /// exists is taken whole, '=' and all); a folder of runs (of compare or reproduce) gives each of its runs, labelled
    /// by where they lie in it.</summary>
    private static IEnumerable<(string Label, string Path, IReadOnlyList<EpochMetrics> History)> Read(string argument)
    {
        string path = argument, label = argument.TrimEnd('/', Path.DirectorySeparatorChar);
        if (!File.Exists(argument) && !Directory.Exists(argument) && argument.IndexOf('=') is > 0 and int equals)
            (label, path) = (argument[..equals], argument[(equals + 1)..]);
        else if (Path.GetFileName(label) == RunFolder.MetricsFile && Path.GetDirectoryName(label) is { Length: > 0 } d)
            label = d;
        if (path.Length == 0) throw new UsageException($"{argument}: give a path after '='");
        if (!File.Exists(path) && !Directory.Exists(path))
            throw new UsageException($"{path}: no such run folder or metrics file");
        if (!Directory.Exists(path)) return [(label, path, RunFolder.ReadMetrics(path))];
        var folder = new RunFolder(path);
        if (File.Exists(folder.Combine(RunFolder.MetricsFile))) return [(label, path, folder.ReadMetrics())];
        // compare's plain/, associative/, seed-N/...; reproduce's ROW/...: never deeper than three folders
        var found = Directory.EnumerateFiles(path, RunFolder.MetricsFile, new EnumerationOptions
            { RecurseSubdirectories = true, MaxRecursionDepth = 3 }).Order(StringComparer.Ordinal).ToList();
        if (found.Count == 0) return [(label, path, folder.ReadMetrics())];   // says what is missing
        return found.Select(file => (
            $"{label}/{Path.GetRelativePath(path, Path.GetDirectoryName(file)!).Replace('\\', '/')}", file,
            RunFolder.ReadMetrics(file)));
    }
}
