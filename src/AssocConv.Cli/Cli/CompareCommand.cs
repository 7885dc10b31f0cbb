using System.CommandLine;
using System.Text.Json.Nodes;
using AssocConv.Models;
using AssocConv.Training;
using Spectre.Console;

namespace AssocConv.Cli;

/// <summary><c>assocconv compare</c>: trains the plain and the associative variant with the same seed and budget, side by side.</summary>
internal static class CompareCommand
{
    public static Command Create(Func<bool, Terminal> terminal)
    {
        var model = new ModelArguments();
        var data = new DataArguments(required: true);
        var recipe = new TrainingArguments();
        var output = new Option<string>("--out") { Description = "Folder for both runs (plain/ and associative/); an interrupted compare resumes from it", Required = true };
        var json = CommonOptions.Json();
        var command = new Command("compare", "Train the plain and the associative variant of a model with the same seed and budget; one table");
        model.AddTo(command);
        data.AddTo(command);
        recipe.AddTo(command);
        command.Options.Add(output);
        command.Options.Add(json);
        command.SetAction(result =>
        {
            var device = CommonOptions.ApplyRuntime(result);
            var term = terminal(result.GetValue(json));
            var (entry, options) = model.Read(result);
            if (options.Plain) throw new UsageException("compare trains the plain variant itself: leave out --plain");
            var training = recipe.Read(result);
            var spec = data.Spec(result)!;
            using var dataset = DataArguments.Load(spec, term);
            var root = result.GetValue(output)!;
            var rows = new List<JsonObject>();
            foreach (var (name, variant) in new[] { ("plain", options with { Plain = true, Generator = null }), ("associative", options) })
            {
                var runDir = Path.Combine(root, name);
                var modelSpec = new ModelSpec(entry.Name, variant);
                Trainer trainer = File.Exists(Path.Combine(runDir, Trainer.LastCheckpoint))
                    ? Trainer.Resume(runDir, dataset, device)
                    : Trainer.Start(runDir, modelSpec, dataset, training, new JsonObject { ["compare"] = name }, device);
                var run = TrainingSession.Run(trainer, term);
                var summary = TrainingSession.Summary(trainer, run, modelSpec.Describe());
                summary["variant"] = name;
                rows.Add(summary);
                if (!run.Completed) return ExitCodes.Interrupted;
            }
            var table = new Table().Title($"[bold]{Markup.Escape(entry.Name)}[/] on {Markup.Escape(spec.ToString())}, {training.Epochs} epochs, seed {training.Seed}")
                .AddColumn("variant").AddColumn(new TableColumn("trainable").RightAligned()).AddColumn(new TableColumn("ratio").RightAligned())
                .AddColumn(new TableColumn("test acc (best val epoch)").RightAligned()).AddColumn(new TableColumn("test acc (last)").RightAligned())
                .AddColumn(new TableColumn("train time").RightAligned());
            foreach (var r in rows)
                table.AddRow((string)r["variant"]!, $"{(long)r["trainable"]!:N0}", $"{(double)r["ratio"]!:F2}x",
                    $"{(double)r["best_test_accuracy"]!:F2}%", $"{(double)r["last_test_accuracy"]!:F2}%", $"{(double)r["train_seconds"]!:F0} s");
            term.Results.Write(table);
            var curves = rows.Select(r => ((string)r["variant"]!,
                (IReadOnlyList<EpochMetrics>)r["history"]!.AsArray().Select(m => EpochMetrics.FromJson(m!)).ToList())).ToList();
            RunPlots.WriteComparison(Path.Combine(root, "compare-accuracy.png"), $"{entry.Name}: test accuracy", "test accuracy (%)", curves, m => m.TestAccuracy);
            RunPlots.WriteComparison(Path.Combine(root, "compare-loss.png"), $"{entry.Name}: training loss", "training loss", curves, m => m.TrainLoss);
            var report = new JsonObject
            {
                ["model"] = entry.Name,
                ["data"] = spec.ToString(),
                ["epochs"] = training.Epochs,
                ["seed"] = training.Seed,
                ["variants"] = new JsonArray(rows.Select(r => (JsonNode)r.DeepClone()).ToArray()),
            };
            AtomicFile.WriteText(Path.Combine(root, "compare.json"), report.ToJsonString(new() { WriteIndented = true }));
            if (result.GetValue(json)) term.Out.WriteLine(report.ToJsonString(new() { WriteIndented = true }));
            return ExitCodes.Success;
        });
        return command;
    }
}
