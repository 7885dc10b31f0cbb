using System.CommandLine;
using System.Text.Json.Nodes;
using AssocConv.Data;
using AssocConv.Models;
using AssocConv.Training;
using Spectre.Console;

namespace AssocConv.Cli;

/// <summary><c>assocconv demo</c>: the README's main command, an associative ResNet-20 trained on the embedded sample in about two minutes.</summary>
internal static class DemoCommand
{
    public static Command Create(Func<bool, Terminal> terminal)
    {
        var output = new Option<string?>("--out") { Description = "Run folder (default: runs/demo-TIMESTAMP)" };
        var epochs = new Option<int>("--epochs") { Description = "Epochs (about 10 s each on 2 cores)", DefaultValueFactory = _ => 12 };
        var json = CommonOptions.Json();
        var command = new Command("demo", "Train an associative ResNet-20 on the embedded Fashion-MNIST sample (about two minutes) and show what it learnt");
        command.Options.Add(output);
        command.Options.Add(epochs);
        command.Options.Add(json);
        command.SetAction(result =>
        {
            var device = CommonOptions.ApplyRuntime(result);
            var term = terminal(result.GetValue(json));
            var runDir = result.GetValue(output) ?? Path.Combine("runs", $"demo-{DateTime.Now:yyyyMMdd-HHmmss}");
            using var data = DataArguments.Load(new DatasetSpec(DatasetKind.Sample, null), term);
            var spec = new ModelSpec("resnet20", new ModelOptions());
            var options = new TrainingOptions { Epochs = result.GetValue(epochs), ValidationSplit = 1000 };
            try { options.Validate(); }
            catch (ArgumentException e) { throw new UsageException(e.Message); }
            var trainer = Trainer.Start(runDir, spec, data, options, new JsonObject { ["command"] = "demo" }, device);
            var run = TrainingSession.Run(trainer, term);
            var summary = TrainingSession.Summary(trainer, run, spec.Describe());
            TrainingSession.RenderSummary(term.Results, summary);
            term.Results.MarkupLine($"Next: [bold]assocconv eval --checkpoint {Markup.Escape(Path.Combine(runDir, Trainer.BestCheckpoint))}[/], " +
                "or train on CIFAR-10 with [bold]assocconv train --model resnet20 --data cifar10 --out RUN_DIR[/].");
            if (result.GetValue(json)) term.Out.WriteLine(summary.ToJsonString(new() { WriteIndented = true }));
            return run.Completed ? ExitCodes.Success : ExitCodes.Interrupted;
        });
        return command;
    }
}
