using System.Text.Json.Nodes;
using AssocConv.Data;
using AssocConv.Models;
using AssocConv.Training;
using TorchSharp;

namespace AssocConv.Cli;

/// <summary>
/// The plain and the associative variant of one model trained with the same recipe, once per seed, each in its own
/// run folder under a root; a finished run is read back, an interrupted one resumed. Shared by compare and reproduce.
/// </summary>
internal static class ComparisonRuns
{
    /// <summary>The run folder of one variant and seed: ROOT/VARIANT, or ROOT/seed-N/VARIANT when there are several
    /// seeds.</summary>
    public static string RunDirectory(string root, string variant, long seed, int seeds) =>
        seeds == 1 ? Path.Combine(root, variant) : Path.Combine(root, $"seed-{seed}", variant);

    /// <summary>Trains (or resumes, or reads back) every run; the summaries in order, or null when
    /// interrupted.</summary>
    public static List<JsonObject>? Run(string model, ModelOptions associative, TrainingOptions training,
        IReadOnlyList<long> seeds, string root, Dataset dataset, torch.Device device, Terminal term)
    {
        var rows = new List<JsonObject>();
        int count = 2 * seeds.Count;
        foreach (long seed in seeds)
        {
            foreach (var (name, variant) in new[] { ("plain", associative with { Plain = true, Generator = null }),
                ("associative", associative) })
            {
                var runDir = RunDirectory(root, name, seed, seeds.Count);
                // a compare runs for hours: say where in it each run stands
                term.Error.WriteLine($"run {rows.Count + 1} of {count}: {name}, seed {seed} ({runDir})");
                var modelSpec = new ModelSpec(model, variant);
                var options = training with { Seed = seed };
                Trainer trainer;
                if (new RunFolder(runDir).HoldsRun)
                {
                    trainer = Trainer.Resume(runDir, dataset, device);
                    EnsureSame(runDir, trainer, modelSpec, options);
                }
                else trainer = Trainer.Start(runDir, modelSpec, dataset, options, new JsonObject { ["compare"] = name },
                    device);
                // a finished run is read back, not run again
                var run = trainer.IsFinished ? trainer.ResultSoFar : TrainingSession.Run(trainer, term);
                var summary = trainer.Summary(run);
                summary["variant"] = name;
                summary["seed"] = seed;
                rows.Add(summary);
                if (!run.Completed) return null;
            }
        }
        return rows;
    }

    /// <summary>Refuses to continue (or read back) a run made with another model or recipe than the one asked
    /// for.</summary>
    private static void EnsureSame(string runDir, Trainer trainer, ModelSpec asked, TrainingOptions options)
    {
        static string Model(ModelSpec spec)
        {
            var json = spec.ToJson();
            json.Remove("classes");
            json.Remove("input_channels");
            return json.ToJsonString();
        }
        var differences = new List<string>();
        if (Model(trainer.Spec) != Model(asked)) differences.Add($"model {trainer.Spec.Describe()}, asked " +
            $"{asked.Describe()}");
        var had = trainer.Options.ToJson();
        var wants = options.ToJson();
        foreach (var (key, value) in wants)
            if (had[key]?.ToJsonString() != value?.ToJsonString())
                differences.Add($"{key} {had[key]?.ToJsonString() ?? "null"}, asked {value?.ToJsonString() ?? "null"}");
        if (differences.Count > 0)
            throw new UsageException($"{runDir} holds a run made otherwise ({string.Join("; ", differences)}): " +
                "give the options it was made with, or another --out");
    }
}
