using System.Runtime.InteropServices;
using System.Text.Json.Nodes;
using AssocConv.Distributed;
using AssocConv.Training;
using Spectre.Console;

namespace AssocConv.Cli;

/// <summary>Runs a <see cref="Trainer"/> for a verb: progress, Ctrl+C (save and stop), and the final summary.</summary>
internal static class TrainingSession
{
    public static TrainingResult Run(Trainer trainer, Terminal term)
    {
        using var cancel = new CancellationTokenSource();
        ConsoleCancelEventHandler handler = (_, e) =>
        {
            if (cancel.IsCancellationRequested) return;   // a second Ctrl+C ends the process at once
            e.Cancel = true;
            cancel.Cancel();
            term.Error.WriteLine("stopping: saving the run after this batch (Ctrl+C again to quit at once)");
        };
        Console.CancelKeyPress += handler;
        // A run in the background (nohup, a batch scheduler, systemd) is stopped with SIGTERM, and a shell starts
        // background jobs with SIGINT ignored: SIGTERM saves the run too.
        using var terminate = SaveOnSigterm(cancel, term);
        try
        {
            var observer = new ProgressObserver(term);
            var result = observer.Run(() => trainer.Run(observer, cancel.Token));
            if (!result.Completed)
            {
                string launcher = MpiWorld.LaunchedSize is { } ranks ? $"mpirun -np {ranks} " : "";
                term.Error.WriteLine(
                    $"stopped; continue with: {launcher}assocconv train --resume {result.RunDirectory}");
            }
            return result;
        }
        finally
        {
            Console.CancelKeyPress -= handler;
        }
    }

    private static PosixSignalRegistration? SaveOnSigterm(CancellationTokenSource cancel, Terminal term)
    {
        try
        {
            return PosixSignalRegistration.Create(PosixSignal.SIGTERM, context =>
            {
                if (cancel.IsCancellationRequested) return;   // a second SIGTERM ends the process at once
                context.Cancel = true;
                cancel.Cancel();
                // under mpirun a rank that died sends the others SIGTERM too; they cannot save without it
                term.Error.WriteLine(MpiWorld.LaunchedSize is > 1
                    ? "stopping on SIGTERM: saving the run after this batch if every rank reaches it (if one died, " +
                        "the last checkpoint stays whole)"
                    : "stopping on SIGTERM: saving the run after this batch");
            });
        }
        catch (PlatformNotSupportedException)
        {
            return null;
        }
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
