using System.CommandLine;
using System.Text.Json.Nodes;
using AssocConv.Csg;
using AssocConv.Distributed;
using AssocConv.Models;
using AssocConv.Training;

namespace AssocConv.Cli;

/// <summary><c>assocconv train</c>: trains a model, or resumes a run.</summary>
internal static class TrainCommand
{
    public static Command Create(Func<bool, Terminal> terminal)
    {
        var model = new ModelArguments(required: false);
        var data = new DataArguments(required: false);
        var recipe = new TrainingArguments();
        var output = new Option<string?>("--out") { Description = "Run folder: config, metrics, events, checkpoints " +
            "(required unless --resume)" };
        var resume = new Option<string?>("--resume") { Description = "Continue the run in this folder " +
            "where it stopped" };
        var generatorFrom = new Option<string?>("--generator-from") { Description = "Load and freeze the generator " +
            "of this checkpoint; only codes, batch-norm and the rest train" };
        var binary = new Option<bool>("--binary-generator") { Description = "Train with a fixed random binary " +
            "(+-0.5) generator" };
        var rankChange = new Option<bool>("--allow-rank-change") { Description = "With --resume: continue a run on " +
            "another number of MPI ranks than it was trained on (the same global batches; batch-norm sees other " +
            "shares, so it is no longer exactly the uninterrupted run)" };
        var json = CommonOptions.Json();
        var command = new Command("train",
            "Train a model with the reference recipe (SGD, momentum 0.9, weight decay 5e-4, lr 0.05, batch 128) " +
                "or --recipe fast");
        model.AddTo(command);
        data.AddTo(command);
        recipe.AddTo(command);
        foreach (var o in new Option[] { output, resume, rankChange, generatorFrom, binary, json })
            command.Options.Add(o);
        command.SetAction(result =>
        {
            var device = CommonOptions.ApplyRuntime(result);
            // under mpirun every rank trains its share of each batch; rank 0 alone prints and writes
            using var world = MpiWorld.IsLaunched ? MpiWorld.Start() : null;
            var term = world is { IsRoot: false } ? new Terminal(TextWriter.Null, TextWriter.Null, true)
                : terminal(result.GetValue(json));
            Trainer trainer;
            if (result.GetValue(resume) is { } runDir)
            {
                if (model.Given(result) || result.GetValue(output) is not null
                    || result.GetValue(generatorFrom) is not null)
                    throw new UsageException("--resume continues a run as it was configured: leave out --model, " +
                        "--out and --generator-from");
                if (recipe.GivenNames(result) is { Count: > 0 } changed)
                    throw new UsageException($"--resume continues a run as it was configured, so " +
                        $"{string.Join(", ", changed)} cannot change it " +
                        "(a longer run would also have another learning-rate schedule); start a new run with --out");
                var header = new RunFolder(runDir).ReadHeader();
                CommonOptions.RestoreThreads(result, new RunFolder(runDir).RecordedThreads(), term.Error);
                var spec = data.Spec(result) ?? AssocConv.Data.DatasetSpec.Parse((string)header["data"]!["spec"]!);
                using var dataset = DataArguments.Load(spec, term);
                trainer = Trainer.Resume(runDir, dataset, device, world, result.GetValue(rankChange));
                if (trainer.IsFinished)
                {
                    term.Error.WriteLine($"{runDir} has finished all {trainer.Options.Epochs} epochs; nothing to " +
                        "train (its summary follows)");
                    return Finish(trainer, trainer.ResultSoFar, term, result.GetValue(json));
                }
                return Finish(trainer, TrainingSession.Run(trainer, term), term, result.GetValue(json));
            }
            else
            {
                if (result.GetValue(rankChange)) throw new UsageException("--allow-rank-change goes with --resume");
                var outDir = result.GetValue(output) ?? throw new UsageException("--out RUN_DIR is required (or " +
                    "--resume RUN_DIR)");
                var (entry, options) = model.Read(result, TrainingRecipes.CodeInit(recipe.RecipeName(result)));
                if (result.GetValue(binary))
                {
                    if (options.Plain) throw new UsageException("--binary-generator: a plain model has no generator");
                    if (result.GetValue(model.InitOption) is not null) throw new UsageException("--binary-generator " +
                        "and --generator-init: give one");
                    options = options with { Generator = options.Generator! with { Init = GeneratorInit.Binary } };
                }
                var spec = data.Spec(result) ?? throw new UsageException("--data is required, e.g. --data cifar10 " +
                    "or --data sample");
                var training = recipe.Read(result);
                using var dataset = DataArguments.Load(spec, term);
                var modelSpec = new ModelSpec(entry.Name, options);
                trainer = Trainer.Start(outDir, modelSpec, dataset, training,
                    new JsonObject { ["command"] = string.Join(' ', Environment.GetCommandLineArgs().Skip(1)) },
                        device, world);
                if (result.GetValue(generatorFrom) is { } from)
                {
                    if (options.Plain) throw new UsageException("--generator-from: a plain model has no generator");
                    trainer.UseGeneratorFrom(from);
                }
                return Finish(trainer, TrainingSession.Run(trainer, term), term, result.GetValue(json));
            }
        });
        return command;
    }

    private static int Finish(Trainer trainer, TrainingResult result, Terminal term, bool json)
    {
        var summary = trainer.Summary(result);
        TrainingSession.RenderSummary(term.Results, summary);
        if (json) term.Out.WriteLine(summary.ToJsonString(new() { WriteIndented = true }));
        return result.Completed ? ExitCodes.Success : ExitCodes.Interrupted;
    }
}
