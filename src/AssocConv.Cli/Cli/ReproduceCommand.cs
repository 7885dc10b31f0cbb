using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using AssocConv.IO;
using AssocConv.Interop;
using AssocConv.Models;
using AssocConv.Training;
using Spectre.Console;

namespace AssocConv.Cli;

/// <summary>
/// <c>assocconv reproduce</c>: trains the paper's rows (plain and associative, the paper's slices and code sizes) with
/// one recipe, each row for its own budget of epochs unless --epochs gives one, and writes <c>results.md</c>,
/// <c>results.png</c> and <c>results.json</c>. Each row lives in its own folder; a finished row is read back, an
/// interrupted one resumed.
/// </summary>
internal static class ReproduceCommand
{
    public const string TableFile = "results.md", PlotFile = "results.png", ReportFile = "results.json";

    public static Command Create(Func<bool, Terminal> terminal)
    {
        var rowsOption = new Option<string?>("--rows")
        {
            Description = $"Rows to train, comma-separated (default: all): " +
                $"{string.Join(", ", PaperRows.All.Select(r => r.Name))}",
        };
        var data = new DataArguments(required: false, fallback: "cifar10");
        var recipe = new TrainingArguments(TrainingRecipes.FastName);
        var references = new Option<string?>("--reference-checkpoints")
        {
            Description = "Folder of the authors' checkpoints, whose recorded accuracy the table shows beside ours " +
                "(default: $ASSOCCONV_REFERENCE_CHECKPOINTS, else " +
                    "../shared/fixtures/reference-checkpoints when present)",
        };
        var output = new Option<string>("--out") { Description = "Folder for the rows' runs and the table; a second " +
            "call resumes it", Required = true };
        var json = CommonOptions.Json();
        var command = new Command("reproduce",
            "Train the paper's CIFAR-10 rows, plain and associative, and write the results table " +
                "(Markdown, PNG, JSON); without --epochs each row trains its budget (fast recipe: 40 epochs, the " +
                "ResNet-56 rows 30; reference: 200)");
        command.Options.Add(rowsOption);
        data.AddTo(command);
        recipe.AddTo(command);
        command.Options.Add(references);
        command.Options.Add(output);
        command.Options.Add(json);
        command.SetAction(result =>
        {
            var device = CommonOptions.ApplyRuntime(result);
            var term = terminal(result.GetValue(json));
            var rows = result.GetValue(rowsOption) is { } text
                ? text.Split(',',
                    StringSplitOptions.RemoveEmptyEntries).Select(PaperRows.Get).DistinctBy(r => r.Name).ToList()
                : PaperRows.All.ToList();
            if (rows.Count == 0) throw new UsageException("--rows: name at least one row");
            var recipeName = recipe.RecipeName(result);
            // each row's options read (and checked) before the data loads
            var trainings = rows.Select(r => recipe.Read(result, r.Epochs(recipeName))).ToList();
            var codeInit = TrainingRecipes.CodeInit(recipeName);
            var referenceFolder = result.GetValue(references)
                ?? Environment.GetEnvironmentVariable("ASSOCCONV_REFERENCE_CHECKPOINTS")
                ?? Path.Combine("..", "shared", "fixtures", "reference-checkpoints");
            var spec = data.Spec(result)!;
            // from here on a signal stops the rows' runs (saved), also between two of them
            using var stop = new StopSignals(term, severalRuns: true);
            using var dataset = DataArguments.Load(spec, term);
            var root = result.GetValue(output)!;
            var entries = new List<JsonObject>();
            foreach (var (row, training) in rows.Zip(trainings))
            {
                var generator = codeInit is null ? row.Generator : row.Generator with { CodeInit = codeInit.Value };
                term.Error.WriteLine($"row {row.Name}: {row.Model}, plain and associative ({generator.Describe()})");
                // rows of one model share the plain twin (resnet56 and resnet56-16x16-code128): trained once
                var twins = PaperRows.All.Where(r => r.Model == row.Model && r != row)
                    .ToDictionary(r => Path.GetFullPath(Path.Combine(root, r.Name, "plain")), r => r.Name);
                var runs = ComparisonRuns.Run(row.Model, new ModelOptions { Generator = generator }, training,
                    [training.Seed], Path.Combine(root, row.Name), dataset, device, term, stop, "reproduce",
                    _ => twins.Keys);
                if (runs is null) return ExitCodes.Interrupted;
                entries.Add(new JsonObject
                {
                    ["row"] = row.Name,
                    ["model"] = row.Model,
                    ["slice"] = row.Slice.ToString(),
                    ["code_size"] = row.CodeSize,
                    ["epochs"] = training.Epochs,
                    ["training"] = training.ToJson(),
                    ["plain"] = Brief(runs[0]),
                    ["associative"] = Brief(runs[1]),
                    // null, or the row whose plain run this row shares
                    ["plain_of_row"] = twins.GetValueOrDefault(Path.GetFullPath((string)runs[0]["run"]!)),
                    ["reference_checkpoint_accuracy"] = ReferenceAccuracy(referenceFolder, row),
                });
            }
            var report = new JsonObject
            {
                ["data"] = spec.ToString(),
                ["recipe"] = trainings[0].Recipe,
                ["seed"] = trainings[0].Seed,
                ["rows"] = new JsonArray(entries.Select(e => (JsonNode)e.DeepClone()).ToArray()),
            };
            var markdown = Markdown(report);
            AtomicFile.WriteText(Path.Combine(root, TableFile), markdown);
            AtomicFile.WriteText(Path.Combine(root, ReportFile), report.ToJsonString(new() { WriteIndented = true }));
            Plot(Path.Combine(root, PlotFile), report, term.Error);
            // Markdown unwrapped, to be pasted: on stdout, or on stderr when stdout carries the JSON
            if (result.GetValue(json))
            {
                term.Error.Write(markdown);
                term.Out.WriteLine(report.ToJsonString(new() { WriteIndented = true }));
            }
            else term.Out.Write(markdown);
            return ExitCodes.Success;
        });
        return command;
    }

    private static JsonObject Brief(JsonObject run) => new()
    {
        ["trainable"] = run["trainable"]!.DeepClone(),
        ["test_accuracy"] = run["last_test_accuracy"]?.DeepClone(),
        ["test_accuracy_flip"] = run["last_test_accuracy_flip"]?.DeepClone(),
        ["train_seconds"] = run["train_seconds"]!.DeepClone(),
        ["images_per_second"] = run["images_per_second"]!.DeepClone(),
        ["run"] = run["run"]!.DeepClone(),
    };

    /// <summary>The accuracy the authors' checkpoint of this row records, or null when there is none to read.</summary>
    private static double? ReferenceAccuracy(string folder, PaperRow row)
    {
        if (row.ReferenceCheckpoint is null) return null;
        var path = Path.Combine(folder, row.ReferenceCheckpoint);
        if (!File.Exists(path)) return null;
        using var file = TorchFile.Read(path);
        return file.Extras.TryGetValue("acc", out var acc) && acc is IConvertible c
            ? c.ToDouble(CultureInfo.InvariantCulture) : null;
    }

    /// <summary>The results as a Markdown table: parameters, final-epoch accuracies, the reference checkpoint's, wall
    /// time.</summary>
    public static string Markdown(JsonObject report)
    {
        static string Acc(JsonNode? n) => n is null ? "-" : $"{(double)n:F2}%";
        static string Time(JsonNode? n) => n is null ? "-" : $"{(double)n / 60:F1} min";
        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture,
            $"{report["data"]}, recipe {report["recipe"]}, {Epochs(report)}, seed {report["seed"]}; ");
        text.Append("test accuracy of the final epoch (with flip test-time augmentation in brackets).\n\n");
        text.Append("| row | slice, code | epochs | plain params | plain acc | assoc. params | ratio | assoc. acc | " +
            "gap | reference checkpoint | train time (plain + assoc.) |\n");
        text.Append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
        foreach (var row in report["rows"]!.AsArray())
        {
            var p = row!["plain"]!;
            var a = row["associative"]!;
            long pt = (long)p["trainable"]!, at = (long)a["trainable"]!;
            string gap = p["test_accuracy"] is { } x && a["test_accuracy"] is { } y
                ? $"{(double)y - (double)x:+0.00;-0.00}" : "-";
            text.Append(CultureInfo.InvariantCulture,
                $"| {row["row"]} | {row["slice"]}, {row["code_size"]} | {row["epochs"]} | {pt:N0} | " +
                    $"{Acc(p["test_accuracy"])} " +
                    $"({Acc(p["test_accuracy_flip"])}) | " +
                $"{at:N0} | {(double)pt / at:F2}x | {Acc(a["test_accuracy"])} " +
                    $"({Acc(a["test_accuracy_flip"])}) | {gap} | " +
                $"{Acc(row["reference_checkpoint_accuracy"])} | " +
                    $"{Time((double)p["train_seconds"]! + (double)a["train_seconds"]!)} |\n");
        }
        foreach (var row in report["rows"]!.AsArray().Where(r => r!["plain_of_row"] is not null))
            text.Append($"\n{row!["row"]}: the plain run is {row["plain_of_row"]}'s (the same model and recipe, " +
                "trained once).\n");
        return text.ToString();
    }

    /// <summary>"40 epochs" when every row trained as long, else the range ("30-40 epochs").</summary>
    private static string Epochs(JsonObject report)
    {
        var epochs = report["rows"]!.AsArray().Select(r => (int)r!["epochs"]!).ToList();
        int fewest = epochs.Min(), most = epochs.Max();   // reproduce refuses to run without rows
        return fewest == most ? $"{fewest} epochs" : $"{fewest}-{most} epochs";
    }

    /// <summary>Accuracy against trainable parameters, plain and associative, one labelled point per row.</summary>
    private static void Plot(string path, JsonObject report, TextWriter warnings)
    {
        var plot = new ScottPlot.Plot();
        foreach (var variant in new[] { "plain", "associative" })
        {
            var points = report["rows"]!.AsArray()
                .Where(r => r![variant]!["test_accuracy"] is not null)
                .Select(r => ((string)r!["row"]!, (double)(long)r[variant]!["trainable"]! / 1000,
                    (double)r[variant]!["test_accuracy"]!)).ToList();
            if (points.Count == 0) continue;
            var scatter = plot.Add.ScatterPoints(points.Select(p => p.Item2).ToArray(),
                points.Select(p => p.Item3).ToArray());
            scatter.LegendText = variant;
            scatter.MarkerSize = 10;
            foreach (var (name, x, y) in points) plot.Add.Text(name, x, y);
        }
        plot.Title($"CIFAR-10, recipe {report["recipe"]}, {Epochs(report)}: final-epoch test accuracy");
        plot.XLabel("trainable parameters (thousands)");
        plot.YLabel("test accuracy (%)");
        plot.ShowLegend(ScottPlot.Edge.Right);   // beside the points, never over them
        if (RunPlots.Save(plot, path) is { } failure) warnings.WriteLine($"assocconv: warning: {failure}");
    }
}
