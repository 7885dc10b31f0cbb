using System.CommandLine;
using System.Globalization;
using System.Text.Json.Nodes;
using AssocConv.IO;
using AssocConv.Models;
using AssocConv.Training;
using Spectre.Console;

namespace AssocConv.Cli;

/// <summary>
/// <c>assocconv compare</c>: trains the plain and the associative variant with the same recipe and budget, for one
/// seed or several, side by side; one table of final-epoch accuracies and learning curves of every run.
/// </summary>
internal static class CompareCommand
{
    public const string AccuracyPlot = "compare-accuracy.png", LossPlot = "compare-loss.png",
        ReportFile = "compare.json";

    public static Command Create(Func<bool, Terminal> terminal)
    {
        var model = new ModelArguments();
        var data = new DataArguments(required: true);
        var recipe = new TrainingArguments();
        var seeds = new Option<string?>("--seeds") { Description = "Several seeds, e.g. 1,2: both variants are " +
            "trained once per seed (folders seed-N/)" };
        var output = new Option<string>("--out") { Description = "Folder for the runs (plain/ and associative/); an " +
            "interrupted compare resumes from it", Required = true };
        var json = CommonOptions.Json();
        var command = new Command("compare",
            "Train the plain and the associative variant of a model with the same recipe, seed and budget; one table");
        model.AddTo(command);
        data.AddTo(command);
        recipe.AddTo(command);
        command.Options.Add(seeds);
        command.Options.Add(output);
        command.Options.Add(json);
        command.SetAction(result =>
        {
            var device = CommonOptions.ApplyRuntime(result);
            var term = terminal(result.GetValue(json));
            var (entry, options) = model.Read(result, TrainingRecipes.CodeInit(recipe.RecipeName(result)));
            if (options.Plain) throw new UsageException("compare trains the plain variant itself: leave out --plain");
            var training = recipe.Read(result);
            long[] seedList = [training.Seed];
            if (result.GetValue(seeds) is { } text)
            {
                try { seedList = text.Split(',',
                    StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(t => long.Parse(t,
                        CultureInfo.InvariantCulture)).Distinct().ToArray(); }
                catch (FormatException) { throw new UsageException($"--seeds: '{text}' is not a list of whole " +
                    "numbers like 1,2"); }
                if (seedList.Length == 0) throw new UsageException("--seeds: give at least one seed");
            }
            var spec = data.Spec(result)!;
            // from here on a signal stops the runs (saved), also between two of them
            using var stop = new StopSignals(term, severalRuns: true);
            using var dataset = DataArguments.Load(spec, term);
            var root = result.GetValue(output)!;
            var rows = ComparisonRuns.Run(entry.Name, options, training, seedList, root, dataset, device, term, stop,
                "compare");
            if (rows is null) return ExitCodes.Interrupted;
            var means = Means(rows);
            term.Results.Write(Table($"[bold]{Markup.Escape(entry.Name)}[/] on {Markup.Escape(spec.ToString())}, " +
                $"recipe {training.Recipe}, {training.Epochs} epochs", rows, means));
            WritePlots(root, entry.Name, rows, seedList.Length > 1, term.Error);
            var report = new JsonObject
            {
                ["model"] = entry.Name,
                ["data"] = spec.ToString(),
                ["recipe"] = training.Recipe,
                ["epochs"] = training.Epochs,
                ["seeds"] = new JsonArray(seedList.Select(s => (JsonNode)s).ToArray()),
                ["variants"] = new JsonArray(rows.Select(r => (JsonNode)r.DeepClone()).ToArray()),
                ["means"] = means,
            };
            AtomicFile.WriteText(Path.Combine(root, ReportFile), report.ToJsonString(new() { WriteIndented = true }));
            if (result.GetValue(json)) term.Out.WriteLine(report.ToJsonString(new() { WriteIndented = true }));
            return ExitCodes.Success;
        });
        return command;
    }

    /// <summary>Each variant's means over its seeds (final-epoch test accuracy, with flip TTA when every run measured
    /// it, training time, images/s) and the associative variant's gap to the plain one in points.</summary>
    public static JsonObject Means(IReadOnlyList<JsonObject> rows)
    {
        static double? Mean(List<JsonObject> runs, string key) =>
            runs.Count > 0 && runs.All(r => r[key] is not null) ? runs.Average(r => (double)r[key]!) : null;
        var means = new JsonObject();
        foreach (var variant in new[] { "plain", "associative" })
        {
            var runs = rows.Where(r => (string?)r["variant"] == variant).ToList();
            means[variant] = new JsonObject
            {
                ["seeds"] = runs.Count,
                ["last_test_accuracy"] = Mean(runs, "last_test_accuracy"),
                ["last_test_accuracy_flip"] = Mean(runs, "last_test_accuracy_flip"),
                ["train_seconds"] = Mean(runs, "train_seconds"),
                ["images_per_second"] = Mean(runs, "images_per_second"),
            };
        }
        double? Gap(string key) => (double?)means["associative"]![key] - (double?)means["plain"]![key];
        means["gap"] = new JsonObject
        {
            ["test_accuracy"] = Gap("last_test_accuracy"),
            ["test_accuracy_flip"] = Gap("last_test_accuracy_flip"),
        };
        return means;
    }

    /// <summary>One row per run: parameters, the final epoch's test accuracy (and with flip TTA when measured),
    /// time; with several seeds each variant's mean (<paramref name="means"/>, from <see cref="Means"/>) too; the
    /// associative variant's gap as the caption.</summary>
    public static Table Table(string title, IReadOnlyList<JsonObject> rows, JsonObject means)
    {
        var table = new Table().Title(title)
            .AddColumn("variant").AddColumn(new TableColumn("seed").RightAligned())
            .AddColumn(new TableColumn("trainable").RightAligned()).AddColumn(new TableColumn("ratio").RightAligned())
            .AddColumn(new TableColumn("test acc, final epoch").RightAligned())
            .AddColumn(new TableColumn("with flip TTA").RightAligned())
            .AddColumn(new TableColumn("train time").RightAligned())
            .AddColumn(new TableColumn("images/s").RightAligned());
        static string Percent(JsonNode? n) => n is null ? "-" : $"{(double)n:F2}%";
        // a run's row and a mean's row share the keys: the parameters from a run, the results from either
        void Add(string variant, string seed, JsonNode parameters, JsonNode results, bool bold)
        {
            string B(string text) => bold ? $"[bold]{text}[/]" : text;
            table.AddRow(B(variant), B(seed), $"{(long)parameters["trainable"]!:N0}",
                $"{(double)parameters["ratio"]!:F2}x", B(Percent(results["last_test_accuracy"])),
                B(Percent(results["last_test_accuracy_flip"])), $"{(double)results["train_seconds"]!:F0} s",
                $"{(double)results["images_per_second"]!:F0}");
        }
        foreach (var r in rows) Add((string)r["variant"]!, $"{(long)r["seed"]!}", r, r, bold: false);
        int seeds = rows.Select(r => (long)r["seed"]!).Distinct().Count();
        if (seeds > 1)
            foreach (var variant in new[] { "plain", "associative" })
                Add(variant, $"mean of {seeds}", rows.First(r => (string?)r["variant"] == variant), means[variant]!,
                    bold: true);
        if (means["gap"]!["test_accuracy"] is { } gap)
            table.Caption($"associative - plain{(seeds > 1 ? $", means of {seeds} seeds" : "")}: " +
                $"{(double)gap:+0.00;-0.00} points" + (means["gap"]!["test_accuracy_flip"] is { } flip
                    ? $" ({(double)flip:+0.00;-0.00} with flip TTA)" : ""));
        return table;
    }

    /// <summary>Test accuracy and training loss against epochs, one line per run.</summary>
    public static void WritePlots(string root, string model, IReadOnlyList<JsonObject> rows, bool nameSeeds,
        TextWriter warnings)
    {
        var curves = rows.Select(r => ((string)r["variant"]! + (nameSeeds ? $", seed {(long)r["seed"]!}" : ""),
            (IReadOnlyList<EpochMetrics>)r["history"]!.AsArray().Select(m =>
                EpochMetrics.FromJson(m!)).ToList())).ToList();
        var failures = new[]
        {
            RunPlots.WriteComparison(Path.Combine(root, AccuracyPlot), $"{model}: test accuracy", "test accuracy (%)",
                curves, m => m.TestAccuracy),
            RunPlots.WriteComparison(Path.Combine(root, LossPlot), $"{model}: training loss", "training loss", curves,
                m => m.TrainLoss),
        };
        foreach (var failure in failures.OfType<string>()) warnings.WriteLine($"assocconv: warning: {failure}");
    }
}
