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

    /// <summary>Trains (or resumes, or reads back) every run; the summaries in order, or null when stopped (by
    /// <paramref name="stop"/>: during a run, saved; between two, before the next one begins). The line saying how to
    /// go on names <paramref name="verb"/>, whose same command resumes. <paramref name="plainElsewhere"/> names, per
    /// seed, other folders that may hold the same plain run (another comparison of the same model and recipe): one
    /// made with exactly this model and recipe is used (resumed if unfinished) instead of training the plain variant
    /// again.</summary>
    public static List<JsonObject>? Run(string model, ModelOptions associative, TrainingOptions training,
        IReadOnlyList<long> seeds, string root, Dataset dataset, torch.Device device, Terminal term, StopSignals stop,
        string verb, Func<long, IEnumerable<string>>? plainElsewhere = null)
    {
        var rows = new List<JsonObject>();
        int count = 2 * seeds.Count;
        foreach (long seed in seeds)
        {
            foreach (var (name, variant) in new[] { ("plain", associative with { Plain = true, Generator = null }),
                ("associative", associative) })
            {
                var runDir = RunDirectory(root, name, seed, seeds.Count);
                if (stop.Requested)
                {
                    term.Error.WriteLine($"stopped before run {rows.Count + 1} of {count}; " +
                        StopSignals.RerunAdvice(verb, resumes: null));
                    return null;
                }
                var modelSpec = new ModelSpec(model, variant);
                var options = training with { Seed = seed };
                Trainer? trainer = null;
                string? shared = null;
                if (new RunFolder(runDir).HoldsRun)
                {
                    trainer = Trainer.Resume(runDir, dataset, device);
                    if (Differences(trainer, modelSpec, options) is { Count: > 0 } differences)
                        throw new UsageException($"{runDir} holds a run made otherwise " +
                            $"({string.Join("; ", differences)}): give the options it was made with, or another --out");
                }
                else if (name == "plain" && plainElsewhere is not null)
                    foreach (var other in plainElsewhere(seed).Where(d => new RunFolder(d).HoldsRun))
                    {
                        Trainer candidate;
                        try { candidate = Trainer.Resume(other, dataset, device); }
                        catch (ArgumentException) { continue; }   // other data: not this row's twin
                        if (Differences(candidate, modelSpec, options).Count > 0) continue;
                        (trainer, shared) = (candidate, other);
                        break;
                    }
                trainer ??= Trainer.Start(runDir, modelSpec, dataset, options, new JsonObject { ["compare"] = name },
                    device);
                // a compare runs for hours: say where in it each run stands
                term.Error.WriteLine($"run {rows.Count + 1} of {count}: {name}, seed {seed} (" + (shared is null
                    ? $"{runDir})" : $"{shared}: the same model and recipe, trained once)"));
                // a finished run is read back, not run again
                var run = trainer.IsFinished ? trainer.ResultSoFar : TrainingSession.Run(trainer, term, stop, verb);
                var summary = trainer.Summary(run);
                summary["variant"] = name;
                summary["seed"] = seed;
                rows.Add(summary);
                if (!run.Completed) return null;
            }
        }
        return rows;
    }

    /// <summary>How the run <paramref name="trainer"/> continues differs from the model and recipe asked for (none:
    /// it is that run).</summary>
    private static List<string> Differences(Trainer trainer, ModelSpec asked, TrainingOptions options)
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
        return differences;
    }
}
