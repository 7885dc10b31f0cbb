using System.Text.Json.Nodes;
using AssocConv.Distributed;
using AssocConv.Training;
using Spectre.Console;

namespace AssocConv.Cli;

/// <summary>Runs a <see cref="Trainer"/> for a verb: progress, a stop on a signal (saved), the final summary.</summary>
internal static class TrainingSession
{
    /// <summary>Trains with Ctrl+C and SIGTERM taken for this run alone (train, demo): until it starts, they end the
    /// process, with nothing to save yet.</summary>
    public static TrainingResult Run(Trainer trainer, Terminal term)
    {
        using var stop = new StopSignals(term);
        return Run(trainer, term, stop);
    }

    /// <summary>Trains until the end or until <paramref name="stop"/> is requested (then saved). The line saying how
    /// to go on names <paramref name="rerun"/>, the verb whose same command resumes it (compare, reproduce), or else
    /// <c>train --resume</c>.</summary>
    public static TrainingResult Run(Trainer trainer, Terminal term, StopSignals stop, string? rerun = null)
    {
        var observer = new ProgressObserver(term);
        var result = observer.Run(() => trainer.Run(observer, stop.Token));
        if (!result.Completed)
        {
            string launcher = MpiWorld.LaunchedSize is { } ranks ? $"mpirun -np {ranks} " : "";
            term.Error.WriteLine(rerun is null
                ? $"stopped; continue with: {launcher}assocconv train --resume {result.RunDirectory}"
                : "stopped; " + StopSignals.RerunAdvice(rerun, result.RunDirectory));
        }
        return result;
    }

    private static string Percent(JsonNode? value) => value is null ? "n/a" : $"{(double)value:F2}%";

    public static void RenderSummary(IAnsiConsole console, JsonObject s)
    {
        var table = new Table().Title($"[bold]{Markup.Escape((string)s["model"]!)}[/]")
            .AddColumn("").AddColumn(new TableColumn("").RightAligned());
        table.HideHeaders();
        table.AddRow("trainable parameters", $"{(long)s["trainable"]!:N0}");
        table.AddRow("plain counterpart", $"{(long)s["plain_trainable"]!:N0}");
        table.AddRow("ratio (plain / this)", $"{(double)s["ratio"]!:F2}x");
        table.AddRow("epochs", $"{(int)s["epochs_done"]!}");
        if (s["best_epoch"] is not null)
        {
            table.AddRow("best epoch (validation)", $"{(int)s["best_epoch"]!}");
            if (s["best_val_accuracy"] is { } v) table.AddRow("validation accuracy there", $"{(double)v:F2}%");
            table.AddRow("test accuracy there", Percent(s["best_test_accuracy"]));
            table.AddRow("test accuracy, last epoch", Percent(s["last_test_accuracy"]));
            if (s["last_test_accuracy_flip"] is { } flip) table.AddRow("  with flip test-time augmentation",
                $"{(double)flip:F2}%");
        }
        table.AddRow("training time", $"{(double)s["train_seconds"]!:F0} s");
        if ((int?)s["ranks"] is > 1 and var ranks) table.AddRow("ranks (mpirun)", $"{ranks}");
        if (s["replica_checks"] is { } checks)
            table.AddRow("steps with parameters identical on all ranks", $"{(long)checks:N0}");
        if (s["parameters"]?["groups"] is JsonObject groups)
            foreach (var (name, count) in groups)
                if ((long)count!["total"]! > 0)
                    table.AddRow($"  {name.Replace('_', ' ')} parameters", $"{(long)count["trainable"]!:N0} trainable" +
                        ((long)count["frozen"]! > 0 ? $", {(long)count["frozen"]!:N0} frozen" : ""));
        table.AddRow("run folder", Markup.Escape((string)s["run"]!));
        console.Write(table);
    }
}
