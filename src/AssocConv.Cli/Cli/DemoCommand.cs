using System.CommandLine;
using System.Text.Json.Nodes;
using AssocConv.Data;
using AssocConv.Models;
using AssocConv.Training;
using Spectre.Console;

namespace AssocConv.Cli;

/// <summary><c>assocconv demo</c>: the README's main command, an associative ResNet-20 trained on the embedded sample
/// in about two minutes.</summary>
internal static class DemoCommand
{
    public static Command Create(Func<bool, Terminal> terminal)
    {
        var output = new Option<string?>("--out") { Description = "Run folder (default: runs/demo-TIMESTAMP)" };
        var recipe = new TrainingArguments(TrainingRecipes.FastName, defaultEpochs: 12);
        var json = CommonOptions.Json();
        var command = new Command("demo",
            "Train an associative ResNet-20 on the embedded Fashion-MNIST sample with the fast recipe (about two " +
                "minutes) and show what it learnt");
        command.Options.Add(output);
        recipe.AddTo(command);
        command.Options.Add(json);
        command.SetAction(result =>
        {
            var device = CommonOptions.ApplyRuntime(result);
            var term = terminal(result.GetValue(json));
            var runDir = result.GetValue(output) ?? Path.Combine("runs", $"demo-{DateTime.Now:yyyyMMdd-HHmmss}");
            using var data = DataArguments.Load(new DatasetSpec(DatasetKind.Sample, null), term);
            var codeInit = TrainingRecipes.CodeInit(recipe.RecipeName(result));
            var spec = new ModelSpec("resnet20", new ModelOptions
            {
                Generator = codeInit is null ? null : CifarResNet.DefaultGenerator with { CodeInit = codeInit.Value },
            });
            var options = recipe.Read(result);
            var trainer = Trainer.Start(runDir, spec, data, options, new JsonObject { ["command"] = "demo" }, device);
            var run = TrainingSession.Run(trainer, term);
            var summary = trainer.Summary(run);
            TrainingSession.RenderSummary(term.Results, summary);
            term.Results.MarkupLine($"Next: [bold]assocconv eval --checkpoint " +
                $"{Markup.Escape(Path.Combine(runDir, RunFolder.BestCheckpointFile))}[/], " +
                "or train on CIFAR-10 with [bold]assocconv train --model resnet20 --slice 16x16 --code-size 72 " +
                    "--data cifar10 --recipe fast --out RUN_DIR[/].");
            if (result.GetValue(json)) term.Out.WriteLine(summary.ToJsonString(new() { WriteIndented = true }));
            return run.Completed ? ExitCodes.Success : ExitCodes.Interrupted;
        });
        return command;
    }
}
